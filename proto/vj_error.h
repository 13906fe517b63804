/* vj_error.h - the one error enum of valija, and diagnostics for people.
 *
 * Every function that can fail returns an int: VJ_OK (0) or a negative vj_err.
 * Library code never prints: where a person needs detail (which line, which
 * field), the caller passes a vj_diag that the callee fills.
 */
#ifndef VJ_ERROR_H
#define VJ_ERROR_H

#include <stddef.h>

#define VJ_MUST_CHECK __attribute__((warn_unused_result))

typedef enum {
    VJ_OK = 0,
    VJ_E_NOMEM = -1,  /* out of memory */
    VJ_E_IO = -2,     /* a file or socket operation failed */
    VJ_E_PARSE = -3,  /* malformed input */
    VJ_E_AUTH = -4,   /* a signature or MAC did not verify */
    VJ_E_REPLAY = -5, /* already seen */
    VJ_E_CONFIG = -6, /* configuration is wrong */
    VJ_E_NOTFOUND = -7,
    VJ_E_PERM = -8,            /* unsafe permissions or not allowed */
    VJ_E_TOOBIG = -9,          /* a size limit was exceeded */
    VJ_E_VERSION = -10,        /* unknown format or protocol version */
    VJ_E_NOTRECIPIENT = -11,   /* an envelope not addressed to us */
    VJ_E_UNKNOWN_ORIGIN = -12, /* signed by a post we have no card for */
    VJ_E_EXISTS = -13,         /* would overwrite something that exists */
    VJ_E_INVAL = -14,          /* an argument is invalid */
    VJ_E_UNAVAILABLE = -15,    /* the other side cannot be reached */
    VJ_E_CRYPTO = -16,         /* libsodium failed (init, lock, rng) */
    VJ_E_STORE = -17,          /* the store failed */
    VJ_E_REFUSED = -18,        /* well-formed, but the rules forbid it */
} vj_err;

/* A short, static English description of an error code. */
const char *vj_strerror(int err);

/* Detail for a person: filled by a callee that fails, read by the caller. */
typedef struct {
    char text[512];
} vj_diag;

/* Sets diag->text (when diag is not NULL), printf-style.  Returns nothing: the
 * error code is returned separately by the failing function. */
void vj_diag_set(vj_diag *diag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears diag->text (when diag is not NULL). */
void vj_diag_clear(vj_diag *diag);

#endif
