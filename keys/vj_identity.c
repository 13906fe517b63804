/* vj_identity.c - a post's identity: creation, the secret key file (save,
 * load, parse), and access to the public halves.
 *
 * Invariants: every secret byte (the three secret keys, the expanded Ed25519
 * key, and the text of a key file while it is parsed) lives in one
 * sodium_malloc'ed block that is read-only once the identity is built and
 * wiped by sodium_free; public keys are always derived from the secrets,
 * never read from a file, so they cannot disagree with them.  A key file is
 * created 0600 with O_EXCL|O_NOFOLLOW and refused on load when group or
 * others have any access to it.
 */
#include "vj_identity.h"
#include "vj_identity_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vj_codec.h"
#include "vj_encoding.h"
#include "vj_fileio.h"

#define S_SEED_LEN 32
#define S_CHECK_LEN 16
#define S_CHECK_TAG "VALIJA-SECRET-V1"

typedef struct {
    uint8_t seed[S_SEED_LEN];
    uint8_t sign_sk[VJ_SIGN_SK_LEN];
    uint8_t box_sk[VJ_BOX_SK_LEN];
    uint8_t curve_sk[VJ_CURVE_KEY_LEN];
} s_secrets;

struct vj_identity {
    char post[VJ_POST_NAME_MAX + 1];
    uint8_t sign_pk[VJ_SIGN_PK_LEN];
    uint8_t box_pk[VJ_BOX_PK_LEN];
    uint8_t curve_pk[VJ_CURVE_KEY_LEN];
    s_secrets *sec; /* sodium_malloc'ed, read-only after construction */
};

int vj_keys_init(void)
{
    if (sodium_init() < 0)
        return VJ_E_CRYPTO;
    return VJ_OK;
}

/* The key file's check value over the post name and the three secrets. */
static void s_check(const char *post, const s_secrets *sec, uint8_t out[S_CHECK_LEN])
{
    crypto_generichash_state st;
    uint8_t n = (uint8_t)strlen(post);
    crypto_generichash_init(&st, NULL, 0, S_CHECK_LEN);
    crypto_generichash_update(&st, (const uint8_t *)S_CHECK_TAG, sizeof S_CHECK_TAG - 1);
    crypto_generichash_update(&st, &n, 1);
    crypto_generichash_update(&st, (const uint8_t *)post, n);
    crypto_generichash_update(&st, sec->seed, sizeof sec->seed);
    crypto_generichash_update(&st, sec->box_sk, sizeof sec->box_sk);
    crypto_generichash_update(&st, sec->curve_sk, sizeof sec->curve_sk);
    crypto_generichash_final(&st, out, S_CHECK_LEN);
    sodium_memzero(&st, sizeof st);
}

/* Builds an identity around *sec (taking ownership of it and nulling it):
 * derives the expanded signing key and every public key, then seals the
 * secrets read-only. */
static int s_build(const char *post, s_secrets **sec, vj_identity **out)
{
    int ret = VJ_E_CRYPTO;
    vj_identity *id = NULL;
    uint8_t sign_pk[VJ_SIGN_PK_LEN];
    *out = NULL;
    if (!vj_post_name_is_valid(post)) {
        ret = VJ_E_INVAL;
        goto out;
    }
    id = calloc(1, sizeof *id);
    if (id == NULL) {
        ret = VJ_E_NOMEM;
        goto out;
    }
    memcpy(id->post, post, strlen(post) + 1);
    id->sec = *sec;
    *sec = NULL;
    if (crypto_sign_seed_keypair(sign_pk, id->sec->sign_sk, id->sec->seed) != 0 ||
        crypto_scalarmult_base(id->box_pk, id->sec->box_sk) != 0 ||
        crypto_scalarmult_base(id->curve_pk, id->sec->curve_sk) != 0) {
        ret = VJ_E_CRYPTO;
        goto out;
    }
    memcpy(id->sign_pk, sign_pk, sizeof sign_pk);
    sodium_mprotect_readonly(id->sec);
    *out = id;
    id = NULL;
    ret = VJ_OK;
out:
    vj_identity_destroy(&id);
    return ret;
}

static s_secrets *s_secrets_new(void)
{
    s_secrets *sec = sodium_malloc(sizeof *sec);
    if (sec != NULL)
        sodium_memzero(sec, sizeof *sec);
    return sec;
}

int vj_identity_generate(const char *post, vj_identity **out)
{
    int ret = VJ_E_NOMEM;
    uint8_t pk[crypto_box_PUBLICKEYBYTES];
    s_secrets *sec = NULL;
    *out = NULL;
    if (!vj_post_name_is_valid(post)) {
        ret = VJ_E_INVAL;
        goto out;
    }
    sec = s_secrets_new();
    if (sec == NULL)
        goto out;
    randombytes_buf(sec->seed, sizeof sec->seed);
    if (crypto_box_keypair(pk, sec->box_sk) != 0 || crypto_box_keypair(pk, sec->curve_sk) != 0) {
        ret = VJ_E_CRYPTO;
        goto out;
    }
    ret = s_build(post, &sec, out);
out:
    if (sec != NULL)
        sodium_free(sec);
    return ret;
}

int vj_identity_from_secrets(const char *post, const uint8_t sign_seed[32],
                             const uint8_t box_sk[VJ_BOX_SK_LEN],
                             const uint8_t curve_sk[VJ_CURVE_KEY_LEN], vj_identity **out)
{
    int ret = VJ_E_NOMEM;
    s_secrets *sec = NULL;
    *out = NULL;
    if (!vj_post_name_is_valid(post) || sign_seed == NULL || box_sk == NULL || curve_sk == NULL) {
        ret = VJ_E_INVAL;
        goto out;
    }
    sec = s_secrets_new();
    if (sec == NULL)
        goto out;
    memcpy(sec->seed, sign_seed, sizeof sec->seed);
    memcpy(sec->box_sk, box_sk, sizeof sec->box_sk);
    memcpy(sec->curve_sk, curve_sk, sizeof sec->curve_sk);
    ret = s_build(post, &sec, out);
out:
    if (sec != NULL)
        sodium_free(sec);
    return ret;
}

/* ---- the secret key file ---------------------------------------------- */

enum {
    S_F_VERSION = 1,
    S_F_POST = 2,
    S_F_SEED = 4,
    S_F_BOX = 8,
    S_F_CURVE = 16,
    S_F_CHECK = 32,
    S_F_ALL = 63
};

static const struct {
    const char *key;
    unsigned flag;
} s_fields[] = {
    {"valija-secret-key", S_F_VERSION},
    {"post", S_F_POST},
    {"sign-seed", S_F_SEED},
    {"box-secret", S_F_BOX},
    {"curve-secret", S_F_CURVE},
    {"check", S_F_CHECK},
};

/* The text of a key file, in secret memory; *out is sodium_malloc'ed with
 * *len bytes of text and a NUL. */
static int s_format(const vj_identity *id, char **out, size_t *len)
{
    int ret = VJ_E_NOMEM;
    const size_t cap = 1024;
    char *buf = sodium_malloc(cap);
    char *b64 = sodium_malloc(3 * (VJ_B64_LEN(32) + 1));
    uint8_t check[S_CHECK_LEN];
    char check64[VJ_B64_LEN(S_CHECK_LEN) + 1];
    *out = NULL;
    *len = 0;
    if (buf == NULL || b64 == NULL)
        goto out;
    char *seed64 = b64, *box64 = b64 + VJ_B64_LEN(32) + 1, *curve64 = box64 + VJ_B64_LEN(32) + 1;
    vj_b64_encode(seed64, VJ_B64_LEN(32) + 1, id->sec->seed, 32);
    vj_b64_encode(box64, VJ_B64_LEN(32) + 1, id->sec->box_sk, 32);
    vj_b64_encode(curve64, VJ_B64_LEN(32) + 1, id->sec->curve_sk, 32);
    s_check(id->post, id->sec, check);
    vj_b64_encode(check64, sizeof check64, check, sizeof check);
    int n = snprintf(buf, cap,
                     "# valija secret key of post %s: keep it private, never send it\n"
                     "valija-secret-key: 1\n"
                     "post: %s\n"
                     "sign-seed: %s\n"
                     "box-secret: %s\n"
                     "curve-secret: %s\n"
                     "check: %s\n",
                     id->post, id->post, seed64, box64, curve64, check64);
    if (n < 0 || (size_t)n >= cap) {
        ret = VJ_E_INVAL;
        goto out;
    }
    *out = buf;
    *len = (size_t)n;
    buf = NULL;
    ret = VJ_OK;
out:
    if (buf != NULL)
        sodium_free(buf);
    if (b64 != NULL)
        sodium_free(b64);
    sodium_memzero(check, sizeof check);
    return ret;
}

static int s_write_new(const char *path, const char *text, size_t len, vj_diag *diag)
{
    int ret = VJ_E_IO;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) {
            ret = VJ_E_EXISTS;
            vj_diag_set(diag, "%s: already exists; refusing to overwrite a secret key", path);
        } else {
            vj_diag_set(diag, "%s: cannot create: %s", path, strerror(errno));
        }
        goto out;
    }
    if (vj_fileio_write_all(fd, text, len) != VJ_OK || fsync(fd) != 0) {
        vj_diag_set(diag, "%s: cannot write: %s", path, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        vj_diag_set(diag, "%s: cannot write: %s", path, strerror(errno));
        goto out;
    }
    fd = -1;
    ret = VJ_OK;
out:
    if (fd >= 0)
        close(fd);
    if (ret != VJ_OK && ret != VJ_E_EXISTS)
        (void)unlink(path);
    return ret;
}

int vj_identity_save(const vj_identity *id, const char *path, int force, vj_diag *diag)
{
    int ret = VJ_E_INVAL;
    char *text = NULL;
    size_t len = 0;
    char *tmp = NULL;
    vj_diag_clear(diag);
    if (id == NULL || path == NULL || path[0] == '\0') {
        vj_diag_set(diag, "no identity or no path");
        goto out;
    }
    ret = s_format(id, &text, &len);
    if (ret != VJ_OK) {
        vj_diag_set(diag, "cannot format the key file");
        goto out;
    }
    if (!force) {
        ret = s_write_new(path, text, len, diag);
        goto out;
    }
    /* With force: a new file beside the target, then an atomic rename. */
    size_t tlen = strlen(path) + 64;
    tmp = malloc(tlen);
    if (tmp == NULL) {
        ret = VJ_E_NOMEM;
        goto out;
    }
    snprintf(tmp, tlen, "%s.tmp-%ld-%08x", path, (long)getpid(), randombytes_random());
    ret = s_write_new(tmp, text, len, diag);
    if (ret != VJ_OK)
        goto out;
    if (rename(tmp, path) != 0) {
        vj_diag_set(diag, "%s: cannot replace: %s", path, strerror(errno));
        (void)unlink(tmp);
        ret = VJ_E_IO;
        goto out;
    }
    ret = VJ_OK;
out:
    if (text != NULL)
        sodium_free(text);
    free(tmp);
    return ret;
}

/* Copies the key of kv into a printable form for a diagnostic. */
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

static int s_parse(const char *text, size_t len, const char *where, vj_identity **out,
                   vj_diag *diag)
{
    int ret = VJ_E_PARSE;
    s_secrets *sec = NULL;
    char post[VJ_POST_NAME_MAX + 1] = "";
    uint8_t check[S_CHECK_LEN], expect[S_CHECK_LEN];
    unsigned seen = 0;
    vj_lines lines;
    vj_kv kv;
    *out = NULL;
    vj_diag_clear(diag);
    if (text == NULL && len > 0) {
        ret = VJ_E_INVAL;
        goto out;
    }
    if (len > VJ_TEXT_FILE_MAX) {
        vj_diag_set(diag, "%s: larger than %d bytes", where, VJ_TEXT_FILE_MAX);
        ret = VJ_E_TOOBIG;
        goto out;
    }
    sec = s_secrets_new();
    if (sec == NULL) {
        ret = VJ_E_NOMEM;
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
        if (flag == 0) {
            char k[48];
            s_printable_key(&kv, k);
            vj_diag_set(diag, "%s: line %u: unknown key \"%s\"", where, kv.lineno, k);
            goto out;
        }
        if (seen & flag) {
            char k[48];
            s_printable_key(&kv, k);
            vj_diag_set(diag, "%s: line %u: \"%s\" appears twice", where, kv.lineno, k);
            goto out;
        }
        seen |= flag;
        int bad = 0;
        switch (flag) {
        case S_F_VERSION:
            if (kv.val_len == 1 && kv.val[0] == '1')
                break;
            vj_diag_set(diag, "%s: line %u: unsupported secret key format (want 1)", where,
                        kv.lineno);
            ret = s_is_number(kv.val, kv.val_len) ? VJ_E_VERSION : VJ_E_PARSE;
            goto out;
        case S_F_POST:
            if (kv.val_len == 0 || kv.val_len > VJ_POST_NAME_MAX) {
                bad = 1;
                break;
            }
            memcpy(post, kv.val, kv.val_len);
            post[kv.val_len] = '\0';
            bad = !vj_post_name_is_valid(post);
            break;
        case S_F_SEED:
            bad = vj_b64_decode_exact(sec->seed, sizeof sec->seed, kv.val, kv.val_len) != 0;
            break;
        case S_F_BOX:
            bad = vj_b64_decode_exact(sec->box_sk, sizeof sec->box_sk, kv.val, kv.val_len) != 0;
            break;
        case S_F_CURVE:
            bad = vj_b64_decode_exact(sec->curve_sk, sizeof sec->curve_sk, kv.val, kv.val_len) != 0;
            break;
        case S_F_CHECK:
            bad = vj_b64_decode_exact(check, sizeof check, kv.val, kv.val_len) != 0;
            break;
        }
        if (bad) {
            if (flag == S_F_POST)
                vj_diag_set(diag,
                            "%s: line %u: invalid post name (1-%d of a-z, 0-9 and '-', "
                            "not starting or ending with '-')",
                            where, kv.lineno, VJ_POST_NAME_MAX);
            else
                vj_diag_set(diag, "%s: line %u: \"%s\" is not base64 of %d bytes", where, kv.lineno,
                            flag == S_F_CHECK  ? "check"
                            : flag == S_F_SEED ? "sign-seed"
                            : flag == S_F_BOX  ? "box-secret"
                                               : "curve-secret",
                            flag == S_F_CHECK ? S_CHECK_LEN : 32);
            goto out;
        }
    }
    if (seen != S_F_ALL) {
        for (size_t i = 0; i < sizeof s_fields / sizeof s_fields[0]; i++) {
            if (!(seen & s_fields[i].flag)) {
                vj_diag_set(diag, "%s: missing \"%s\" (truncated or not a valija secret key?)",
                            where, s_fields[i].key);
                break;
            }
        }
        goto out;
    }
    s_check(post, sec, expect);
    if (sodium_memcmp(expect, check, sizeof check) != 0) {
        vj_diag_set(diag, "%s: check value does not match: the key file is damaged", where);
        goto out;
    }
    ret = s_build(post, &sec, out);
    if (ret != VJ_OK)
        vj_diag_set(diag, "%s: cannot derive the public keys", where);
out:
    if (sec != NULL)
        sodium_free(sec);
    sodium_memzero(check, sizeof check);
    sodium_memzero(expect, sizeof expect);
    return ret;
}

int vj_identity_parse(const char *text, size_t len, vj_identity **out, vj_diag *diag)
{
    return s_parse(text, len, "secret key", out, diag);
}

int vj_identity_load(const char *path, vj_identity **out, vj_diag *diag)
{
    int ret = VJ_E_INVAL;
    int fd = -1;
    unsigned mode = 0;
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    vj_diag_clear(diag);
    if (path == NULL)
        goto out;
    ret = vj_fileio_open_regular(path, 1, &fd, &mode, diag);
    if (ret != VJ_OK)
        goto out;
    if ((mode & 077) != 0) {
        vj_diag_set(diag, "%s: readable by group or others (mode %04o); run chmod 600 %s", path,
                    mode & 07777, path);
        ret = VJ_E_PERM;
        goto out;
    }
    ret = vj_fileio_read_fd(fd, VJ_TEXT_FILE_MAX, 1, &text, &len);
    if (ret == VJ_E_TOOBIG) {
        vj_diag_set(diag, "%s: larger than %d bytes; not a valija secret key", path,
                    VJ_TEXT_FILE_MAX);
        goto out;
    }
    if (ret != VJ_OK) {
        vj_diag_set(diag, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    ret = s_parse(text, len, path, out, diag);
out:
    if (fd >= 0)
        close(fd);
    vj_fileio_free(text, len, 1);
    return ret;
}

void vj_identity_destroy(vj_identity **id)
{
    if (id == NULL || *id == NULL)
        return;
    if ((*id)->sec != NULL)
        sodium_free((*id)->sec);
    sodium_memzero(*id, sizeof **id);
    free(*id);
    *id = NULL;
}

const char *vj_identity_post(const vj_identity *id)
{
    return id->post;
}

const uint8_t *vj_identity_sign_pk(const vj_identity *id)
{
    return id->sign_pk;
}

const uint8_t *vj_identity_box_pk(const vj_identity *id)
{
    return id->box_pk;
}

const uint8_t *vj_identity_curve_pk(const vj_identity *id)
{
    return id->curve_pk;
}

const uint8_t *vj_identity_curve_sk(const vj_identity *id)
{
    return id->sec->curve_sk;
}

const uint8_t *vj_identity_sign_sk(const vj_identity *id)
{
    return id->sec->sign_sk;
}

const uint8_t *vj_identity_box_sk(const vj_identity *id)
{
    return id->sec->box_sk;
}
