/* vj_fileio.h - private to keys/: bounded reads and complete writes of small
 * files (key files, cards), for secret and public text alike.
 */
#ifndef VJ_FILEIO_H
#define VJ_FILEIO_H

#include <stddef.h>

#include "vj_error.h"

/* Largest key file or card accepted. */
#define VJ_TEXT_FILE_MAX (64 * 1024)

/* Reads fd to its end, refusing more than cap bytes (VJ_E_TOOBIG).  With
 * secret set the buffer is sodium_malloc'ed (release with vj_fileio_free(...,
 * 1)), else malloc'ed.  The buffer is NUL-terminated after *len bytes. */
int vj_fileio_read_fd(int fd, size_t cap, int secret, char **buf, size_t *len) VJ_MUST_CHECK;

/* Frees a buffer from vj_fileio_read_fd, wiping it first; NULL is fine. */
void vj_fileio_free(char *buf, size_t len, int secret);

/* Writes all of buf to fd, retrying on EINTR; VJ_E_IO with errno kept. */
int vj_fileio_write_all(int fd, const void *buf, size_t len) VJ_MUST_CHECK;

/* Opens path read-only (O_NOFOLLOW when nofollow) and checks it is a regular
 * file.  On VJ_OK *fd is open; *mode holds st_mode.  VJ_E_NOTFOUND, VJ_E_PERM
 * (symlink, not a regular file, EACCES), VJ_E_IO; diag names path. */
int vj_fileio_open_regular(const char *path, int nofollow, int *fd, unsigned *mode,
                           vj_diag *diag) VJ_MUST_CHECK;

#endif
