/* vj_encoding.c - base64 and base32 for the text formats, and the reader of
 * "key: value" lines shared by secret key files and public cards.
 *
 * Invariants: decoding accepts exactly one spelling of each byte string
 * (canonical padded base64 of the expected length), so a text form cannot be
 * varied without changing its bytes; the line reader never copies, it only
 * points into the caller's buffer, so secret text stays in secret memory.
 */
#include "vj_encoding.h"

#include <sodium.h>
#include <string.h>

void vj_b64_encode(char *out, size_t out_size, const uint8_t *in, size_t n)
{
    sodium_bin2base64(out, out_size, in, n, sodium_base64_VARIANT_ORIGINAL);
}

int vj_b64_decode_exact(uint8_t *out, size_t out_len, const char *b64, size_t b64_len)
{
    size_t bin_len = 0;
    const char *end = NULL;
    if (b64_len != VJ_B64_LEN(out_len))
        return -1;
    if (sodium_base642bin(out, out_len, b64, b64_len, NULL, &bin_len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        bin_len != out_len || end != b64 + b64_len) {
        sodium_memzero(out, out_len);
        return -1;
    }
    return 0;
}

void vj_b32_encode(char *out, const uint8_t *in, size_t n)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = alphabet[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
}

void vj_lines_init(vj_lines *l, const char *text, size_t len)
{
    l->p = text;
    l->end = text + len;
    l->lineno = 0;
}

static int s_is_space(char c)
{
    return c == ' ' || c == '\t';
}

int vj_lines_next(vj_lines *l, vj_kv *kv, const char *where, vj_diag *diag)
{
    while (l->p < l->end) {
        const char *line = l->p;
        const char *nl = memchr(line, '\n', (size_t)(l->end - line));
        size_t n = (size_t)((nl != NULL ? nl : l->end) - line);
        l->p = nl != NULL ? nl + 1 : l->end;
        l->lineno++;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n > 0 && memchr(line, '\0', n) != NULL) {
            vj_diag_set(diag, "%s: line %u: NUL byte", where, l->lineno);
            return VJ_E_PARSE;
        }
        const char *stop = line + n;
        while (line < stop && s_is_space(*line))
            line++;
        while (stop > line && s_is_space(stop[-1]))
            stop--;
        if (line == stop || *line == '#')
            continue;
        const char *colon = memchr(line, ':', (size_t)(stop - line));
        if (colon == NULL) {
            vj_diag_set(diag, "%s: line %u: expected \"key: value\"", where, l->lineno);
            return VJ_E_PARSE;
        }
        const char *kend = colon;
        while (kend > line && s_is_space(kend[-1]))
            kend--;
        if (kend == line) {
            vj_diag_set(diag, "%s: line %u: empty key before ':'", where, l->lineno);
            return VJ_E_PARSE;
        }
        const char *v = colon + 1;
        while (v < stop && s_is_space(*v))
            v++;
        kv->key = line;
        kv->key_len = (size_t)(kend - line);
        kv->val = v;
        kv->val_len = (size_t)(stop - v);
        kv->lineno = l->lineno;
        return 1;
    }
    return 0;
}

int vj_kv_key_is(const vj_kv *kv, const char *name)
{
    size_t n = strlen(name);
    return kv->key_len == n && memcmp(kv->key, name, n) == 0;
}
