/* vj_card.c - public cards: building and signing them from an identity,
 * their text form, parsing, verification and fingerprints.
 *
 * Invariant: the signature and the fingerprint cover the canonical bytes
 * C = "VALIJA-CARD-V1" || u8 len(post) || post || sign || box || curve,
 * rebuilt from the parsed fields; the text around them (comments, spacing,
 * line ends) carries no meaning and is never signed.
 */
#include "vj_card.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vj_encoding.h"
#include "vj_fileio.h"
#include "vj_identity_priv.h"

#define S_CARD_TAG "VALIJA-CARD-V1"
#define S_FP_LEN 20
#define S_CANON_MAX (sizeof S_CARD_TAG - 1 + 1 + VJ_POST_NAME_MAX + 3 * 32)

/* Writes C into out (S_CANON_MAX bytes); returns its length. */
static size_t s_canonical(const vj_card *card, uint8_t out[S_CANON_MAX])
{
    size_t plen = strnlen(card->post, VJ_POST_NAME_MAX);
    size_t n = 0;
    memcpy(out, S_CARD_TAG, sizeof S_CARD_TAG - 1);
    n += sizeof S_CARD_TAG - 1;
    out[n++] = (uint8_t)plen;
    memcpy(out + n, card->post, plen);
    n += plen;
    memcpy(out + n, card->sign_pk, VJ_SIGN_PK_LEN);
    n += VJ_SIGN_PK_LEN;
    memcpy(out + n, card->box_pk, VJ_BOX_PK_LEN);
    n += VJ_BOX_PK_LEN;
    memcpy(out + n, card->curve_pk, VJ_CURVE_KEY_LEN);
    n += VJ_CURVE_KEY_LEN;
    return n;
}

int vj_card_from_identity(const vj_identity *id, vj_card *card)
{
    int ret = VJ_E_INVAL;
    uint8_t canon[S_CANON_MAX];
    if (id == NULL || card == NULL)
        goto out;
    memset(card, 0, sizeof *card);
    memcpy(card->post, vj_identity_post(id), strlen(vj_identity_post(id)) + 1);
    memcpy(card->sign_pk, vj_identity_sign_pk(id), VJ_SIGN_PK_LEN);
    memcpy(card->box_pk, vj_identity_box_pk(id), VJ_BOX_PK_LEN);
    memcpy(card->curve_pk, vj_identity_curve_pk(id), VJ_CURVE_KEY_LEN);
    size_t n = s_canonical(card, canon);
    if (crypto_sign_detached(card->signature, NULL, canon, n, vj_identity_sign_sk(id)) != 0) {
        ret = VJ_E_CRYPTO;
        goto out;
    }
    ret = VJ_OK;
out:
    return ret;
}

int vj_card_verify(const vj_card *card)
{
    uint8_t canon[S_CANON_MAX];
    if (card == NULL)
        return VJ_E_INVAL;
    if (!vj_post_name_is_valid(card->post))
        return VJ_E_PARSE;
    size_t n = s_canonical(card, canon);
    if (crypto_sign_verify_detached(card->signature, canon, n, card->sign_pk) != 0)
        return VJ_E_AUTH;
    return VJ_OK;
}

void vj_card_fingerprint(const vj_card *card, char out[VJ_FINGERPRINT_STRLEN])
{
    uint8_t canon[S_CANON_MAX];
    uint8_t h[S_FP_LEN];
    char b32[33];
    size_t n = s_canonical(card, canon);
    crypto_generichash(h, sizeof h, canon, n, NULL, 0);
    vj_b32_encode(b32, h, sizeof h);
    size_t o = 0;
    for (size_t i = 0; i < 32; i++) {
        if (i > 0 && i % 4 == 0)
            out[o++] = ' ';
        out[o++] = b32[i];
    }
    out[o] = '\0';
}

int vj_card_format(const vj_card *card, char **out)
{
    int ret = VJ_E_INVAL;
    char fp[VJ_FINGERPRINT_STRLEN];
    char sign64[VJ_B64_LEN(VJ_SIGN_PK_LEN) + 1], box64[VJ_B64_LEN(VJ_BOX_PK_LEN) + 1];
    char curve64[VJ_B64_LEN(VJ_CURVE_KEY_LEN) + 1], sig64[VJ_B64_LEN(VJ_SIG_LEN) + 1];
    char *buf = NULL;
    const size_t cap = 1024;
    if (out == NULL)
        goto out;
    *out = NULL;
    if (card == NULL || !vj_post_name_is_valid(card->post))
        goto out;
    vj_card_fingerprint(card, fp);
    vj_b64_encode(sign64, sizeof sign64, card->sign_pk, VJ_SIGN_PK_LEN);
    vj_b64_encode(box64, sizeof box64, card->box_pk, VJ_BOX_PK_LEN);
    vj_b64_encode(curve64, sizeof curve64, card->curve_pk, VJ_CURVE_KEY_LEN);
    vj_b64_encode(sig64, sizeof sig64, card->signature, VJ_SIG_LEN);
    buf = malloc(cap);
    if (buf == NULL) {
        ret = VJ_E_NOMEM;
        goto out;
    }
    int n = snprintf(buf, cap,
                     "# valija public card of post %s\n"
                     "# fingerprint: %s\n"
                     "valija-card: 1\n"
                     "post: %s\n"
                     "sign: %s\n"
                     "box: %s\n"
                     "curve: %s\n"
                     "signature: %s\n",
                     card->post, fp, card->post, sign64, box64, curve64, sig64);
    if (n < 0 || (size_t)n >= cap)
        goto out;
    *out = buf;
    buf = NULL;
    ret = VJ_OK;
out:
    free(buf);
    return ret;
}

enum {
    S_F_VERSION = 1,
    S_F_POST = 2,
    S_F_SIGN = 4,
    S_F_BOX = 8,
    S_F_CURVE = 16,
    S_F_SIG = 32,
    S_F_ALL = 63
};

static const struct {
    const char *key;
    unsigned flag;
} s_fields[] = {
    {"valija-card", S_F_VERSION}, {"post", S_F_POST},     {"sign", S_F_SIGN}, {"box", S_F_BOX},
    {"curve", S_F_CURVE},         {"signature", S_F_SIG},
};

static void s_printable_key(const vj_kv *kv, char out[48])
{
    size_t n = kv->key_len < 40 ? kv->key_len : 40;
    for (size_t i = 0; i < n; i++)
        out[i] = (kv->key[i] >= 0x21 && kv->key[i] <= 0x7e) ? kv->key[i] : '?';
    out[n] = '\0';
}

static int s_is_number(const char *s, size_t n)
{
    if (n == 0 || n > 9)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int s_parse(const char *text, size_t len, const char *where, vj_card *card, vj_diag *diag)
{
    int ret = VJ_E_PARSE;
    vj_card c;
    unsigned seen = 0;
    vj_lines lines;
    vj_kv kv;
    memset(&c, 0, sizeof c);
    vj_diag_clear(diag);
    if (card == NULL || (text == NULL && len > 0)) {
        ret = VJ_E_INVAL;
        goto out;
    }
    memset(card, 0, sizeof *card);
    if (len > VJ_TEXT_FILE_MAX) {
        vj_diag_set(diag, "%s: larger than %d bytes", where, VJ_TEXT_FILE_MAX);
        ret = VJ_E_TOOBIG;
        goto out;
    }
    vj_lines_init(&lines, text, len);
    for (;;) {
        int r = vj_lines_next(&lines, &kv, where, diag);
        if (r < 0) {
            ret = r;
            goto out;
        }
        if (r == 0)
            break;
        unsigned flag = 0;
        for (size_t i = 0; i < sizeof s_fields / sizeof s_fields[0]; i++)
            if (vj_kv_key_is(&kv, s_fields[i].key))
                flag = s_fields[i].flag;
        char k[48];
        s_printable_key(&kv, k);
        if (flag == 0) {
            vj_diag_set(diag, "%s: line %u: unknown key \"%s\"", where, kv.lineno, k);
            goto out;
        }
        if (seen & flag) {
            vj_diag_set(diag, "%s: line %u: \"%s\" appears twice", where, kv.lineno, k);
            goto out;
        }
        seen |= flag;
        int bad = 0;
        size_t want = 32;
        switch (flag) {
        case S_F_VERSION:
            if (kv.val_len == 1 && kv.val[0] == '1')
                break;
            vj_diag_set(diag, "%s: line %u: unsupported card format (want 1)", where, kv.lineno);
            ret = s_is_number(kv.val, kv.val_len) ? VJ_E_VERSION : VJ_E_PARSE;
            goto out;
        case S_F_POST:
            if (kv.val_len == 0 || kv.val_len > VJ_POST_NAME_MAX) {
                bad = 1;
                break;
            }
            memcpy(c.post, kv.val, kv.val_len);
            c.post[kv.val_len] = '\0';
            bad = !vj_post_name_is_valid(c.post);
            break;
        case S_F_SIGN:
            bad = vj_b64_decode_exact(c.sign_pk, sizeof c.sign_pk, kv.val, kv.val_len) != 0;
            break;
        case S_F_BOX:
            bad = vj_b64_decode_exact(c.box_pk, sizeof c.box_pk, kv.val, kv.val_len) != 0;
            break;
        case S_F_CURVE:
            bad = vj_b64_decode_exact(c.curve_pk, sizeof c.curve_pk, kv.val, kv.val_len) != 0;
            break;
        case S_F_SIG:
            want = VJ_SIG_LEN;
            bad = vj_b64_decode_exact(c.signature, sizeof c.signature, kv.val, kv.val_len) != 0;
            break;
        }
        if (bad) {
            if (flag == S_F_POST)
                vj_diag_set(diag,
                            "%s: line %u: invalid post name (1-%d of a-z, 0-9 and '-', "
                            "not starting or ending with '-')",
                            where, kv.lineno, VJ_POST_NAME_MAX);
            else
                vj_diag_set(diag, "%s: line %u: \"%s\" is not base64 of %zu bytes", where,
                            kv.lineno, k, want);
            goto out;
        }
    }
    if (seen != S_F_ALL) {
        for (size_t i = 0; i < sizeof s_fields / sizeof s_fields[0]; i++) {
            if (!(seen & s_fields[i].flag)) {
                vj_diag_set(diag, "%s: missing \"%s\" (truncated or not a valija card?)", where,
                            s_fields[i].key);
                break;
            }
        }
        goto out;
    }
    *card = c;
    ret = VJ_OK;
out:
    return ret;
}

int vj_card_parse(const char *text, size_t len, vj_card *card, vj_diag *diag)
{
    return s_parse(text, len, "card", card, diag);
}

int vj_card_load(const char *path, vj_card *card, vj_diag *diag)
{
    int ret = VJ_E_INVAL;
    int fd = -1;
    unsigned mode = 0;
    char *text = NULL;
    size_t len = 0;
    vj_diag_clear(diag);
    if (path == NULL || card == NULL)
        goto out;
    memset(card, 0, sizeof *card);
    ret = vj_fileio_open_regular(path, 0, &fd, &mode, diag);
    if (ret != VJ_OK)
        goto out;
    ret = vj_fileio_read_fd(fd, VJ_TEXT_FILE_MAX, 0, &text, &len);
    if (ret == VJ_E_TOOBIG) {
        vj_diag_set(diag, "%s: larger than %d bytes; not a valija card", path, VJ_TEXT_FILE_MAX);
        goto out;
    }
    if (ret != VJ_OK) {
        vj_diag_set(diag, "%s: cannot read", path);
        goto out;
    }
    ret = s_parse(text, len, path, card, diag);
    if (ret != VJ_OK)
        goto out;
    ret = vj_card_verify(card);
    if (ret != VJ_OK) {
        vj_diag_set(diag, "%s: the card's signature does not verify: it was altered or damaged",
                    path);
        memset(card, 0, sizeof *card);
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    vj_fileio_free(text, len, 0);
    return ret;
}
