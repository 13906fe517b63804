/* vj_encoding.h - private to keys/: base64 and base32 as the text formats use
 * them, and a reader for "key: value" lines (docs/protocol.md, "Encodings").
 */
#ifndef VJ_ENCODING_H
#define VJ_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#include "vj_error.h"

/* Characters of the base64 (RFC 4648, padded) form of n bytes, without NUL. */
#define VJ_B64_LEN(n) ((((n) + 2) / 3) * 4)

/* Encodes n bytes as padded standard base64 into out (VJ_B64_LEN(n) + 1 bytes,
 * NUL-terminated). */
void vj_b64_encode(char *out, size_t out_size, const uint8_t *in, size_t n);

/* Decodes exactly out_len bytes from b64 (b64_len characters, canonical padded
 * standard base64, nothing else).  0 on success, -1 otherwise (out is wiped). */
int vj_b64_decode_exact(uint8_t *out, size_t out_len, const char *b64,
                        size_t b64_len) VJ_MUST_CHECK;

/* RFC 4648 base32, uppercase, no padding; out holds (n * 8 + 4) / 5 + 1 bytes. */
void vj_b32_encode(char *out, const uint8_t *in, size_t n);

/* A cursor over text made of lines (LF or CRLF). */
typedef struct {
    const char *p;
    const char *end;
    unsigned lineno;
} vj_lines;

/* One "key: value" line, both trimmed of spaces and tabs; pointers into the text. */
typedef struct {
    const char *key;
    size_t key_len;
    const char *val;
    size_t val_len;
    unsigned lineno;
} vj_kv;

void vj_lines_init(vj_lines *l, const char *text, size_t len);

/* Next "key: value" line, skipping blank lines and '#' comments.  Returns 1
 * with *kv filled, 0 at the end, VJ_E_PARSE (diag: "WHERE: line N: ...") for a
 * line without ':' or with an empty key or a NUL byte.  where names the input. */
int vj_lines_next(vj_lines *l, vj_kv *kv, const char *where, vj_diag *diag) VJ_MUST_CHECK;

/* True if kv's key is exactly name. */
int vj_kv_key_is(const vj_kv *kv, const char *name);

#endif
