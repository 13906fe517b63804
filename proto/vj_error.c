/* vj_error.c - error strings and diagnostics.  No allocation, no I/O. */
#include "vj_error.h"

#include <stdarg.h>
#include <stdio.h>

const char *vj_strerror(int err)
{
    switch (err) {
    case VJ_OK:
        return "success";
    case VJ_E_NOMEM:
        return "out of memory";
    case VJ_E_IO:
        return "input/output error";
    case VJ_E_PARSE:
        return "malformed input";
    case VJ_E_AUTH:
        return "authentication failed";
    case VJ_E_REPLAY:
        return "already seen";
    case VJ_E_CONFIG:
        return "configuration error";
    case VJ_E_NOTFOUND:
        return "not found";
    case VJ_E_PERM:
        return "permission problem";
    case VJ_E_TOOBIG:
        return "too large";
    case VJ_E_VERSION:
        return "unsupported version";
    case VJ_E_NOTRECIPIENT:
        return "not addressed to this post";
    case VJ_E_UNKNOWN_ORIGIN:
        return "unknown origin post";
    case VJ_E_EXISTS:
        return "already exists";
    case VJ_E_INVAL:
        return "invalid argument";
    case VJ_E_UNAVAILABLE:
        return "unavailable";
    case VJ_E_CRYPTO:
        return "cryptographic library failure";
    case VJ_E_STORE:
        return "store failure";
    case VJ_E_REFUSED:
        return "refused";
    }
    return "unknown error";
}

void vj_diag_set(vj_diag *diag, const char *fmt, ...)
{
    if (diag == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(diag->text, sizeof diag->text, fmt, ap);
    va_end(ap);
}

void vj_diag_clear(vj_diag *diag)
{
    if (diag != NULL)
        diag->text[0] = '\0';
}
