/* vj_fileio.c - bounded reads and complete writes for the small text files of
 * keys/.  A read never grows past its cap, so a hostile file cannot exhaust
 * memory; secret buffers live in sodium_malloc'ed memory and are wiped.
 */
#include "vj_fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void *s_alloc(size_t n, int secret)
{
    return secret ? sodium_malloc(n) : malloc(n);
}

void vj_fileio_free(char *buf, size_t len, int secret)
{
    (void)len;
    if (buf == NULL)
        return;
    if (secret) {
        sodium_free(buf); /* wipes */
    } else {
        free(buf);
    }
}

int vj_fileio_read_fd(int fd, size_t cap, int secret, char **buf, size_t *len)
{
    int ret = VJ_E_IO;
    /* One allocation of cap + 2 bytes: one to detect "more than cap", one for NUL. */
    char *b = s_alloc(cap + 2, secret);
    size_t n = 0;
    *buf = NULL;
    *len = 0;
    if (b == NULL) {
        ret = VJ_E_NOMEM;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, b + n, cap + 1 - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            ret = VJ_E_IO;
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > cap) {
            ret = VJ_E_TOOBIG;
            goto out;
        }
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    b = NULL;
    ret = VJ_OK;
out:
    if (b != NULL) {
        sodium_memzero(b, cap + 2);
        vj_fileio_free(b, cap + 2, secret);
    }
    return ret;
}

int vj_fileio_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return VJ_E_IO;
        }
        p += w;
        len -= (size_t)w;
    }
    return VJ_OK;
}

int vj_fileio_open_regular(const char *path, int nofollow, int *fd, unsigned *mode, vj_diag *diag)
{
    int ret = VJ_E_IO;
    struct stat st;
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (nofollow ? O_NOFOLLOW : 0));
    *fd = -1;
    *mode = 0;
    if (f < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR) {
            ret = VJ_E_NOTFOUND;
            vj_diag_set(diag, "%s: no such file", path);
        } else if (e == ELOOP) {
            ret = VJ_E_PERM;
            vj_diag_set(diag, "%s: is a symbolic link; refusing to follow it", path);
        } else if (e == EACCES || e == EPERM) {
            ret = VJ_E_PERM;
            vj_diag_set(diag, "%s: %s", path, strerror(e));
        } else {
            ret = VJ_E_IO;
            vj_diag_set(diag, "%s: %s", path, strerror(e));
        }
        goto out;
    }
    if (fstat(f, &st) != 0) {
        vj_diag_set(diag, "%s: %s", path, strerror(errno));
        ret = VJ_E_IO;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        vj_diag_set(diag, "%s: not a regular file", path);
        ret = VJ_E_PERM;
        goto out;
    }
    *fd = f;
    *mode = (unsigned)st.st_mode;
    f = -1;
    ret = VJ_OK;
out:
    if (f >= 0)
        close(f);
    return ret;
}
