/* make_vectors.c - writes the known-answer vectors of tests/vectors/: three
 * test posts' secret key files and cards, envelopes from vec-alpha with
 * their plaintexts and headers, and vec_keys.h for the fuzz harnesses.
 *
 * Everything is deterministic: the secret keys are derived from fixed seeds
 * and every random byte an envelope needs comes from a fixed ChaCha20 stream
 * installed as libsodium's random source, so running this again writes the
 * same bytes.  It is built, not run, by the test suite: the committed files
 * are the vectors; if the format changes, test_vectors fails against them.
 * These keys are public test keys: never use them for anything else.
 *
 * usage: make_vectors OUTDIR
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vj_card.h"
#include "vj_envelope.h"

static uint8_t s_rng_key[32];
static uint64_t s_rng_ctr;

static void s_rng_buf(void *buf, size_t n)
{
    uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
    for (int i = 0; i < 8; i++)
        nonce[i] = (uint8_t)(s_rng_ctr >> (8 * i));
    s_rng_ctr++;
    crypto_stream_chacha20_ietf(buf, n, nonce, s_rng_key);
}

static uint32_t s_rng_random(void)
{
    uint32_t v;
    s_rng_buf(&v, sizeof v);
    return v;
}

static const char *s_rng_name(void)
{
    return "valija-test-vectors";
}

static struct randombytes_implementation s_rng = {
    .implementation_name = s_rng_name,
    .random = s_rng_random,
    .buf = s_rng_buf,
};

static const char *s_dir;

static FILE *s_open(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "make_vectors: %s: %s\n", path, strerror(errno));
        exit(74);
    }
    return f;
}

static void s_write(const char *name, const void *data, size_t len)
{
    FILE *f = s_open(name);
    if (fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "make_vectors: cannot write %s\n", name);
        exit(74);
    }
}

static void s_die(const char *what, int err, const vj_diag *d)
{
    fprintf(stderr, "make_vectors: %s: %s %s\n", what, vj_strerror(err), d != NULL ? d->text : "");
    exit(70);
}

/* secret = BLAKE2b-256("valija test vector " || post || " " || role) */
static void s_derive(const char *post, const char *role, uint8_t out[32])
{
    char label[128];
    snprintf(label, sizeof label, "valija test vector %s %s", post, role);
    crypto_generichash(out, 32, (const uint8_t *)label, strlen(label), NULL, 0);
}

static const char *const s_posts[] = {"vec-alpha", "vec-bravo", "vec-charlie"};

static void s_c_string(FILE *f, const char *name, const char *text)
{
    fprintf(f, "static const char %s[] =\n", name);
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        fprintf(f, "    \"%.*s\\n\"\n", (int)n, p);
        p += n + (p[n] == '\n');
    }
    fprintf(f, "    ;\n");
}

typedef struct {
    const char *name;
    const char *to[3];
    size_t n;
    uint64_t seq;
    int64_t created_ms;
    Valija__UpdateKind kind;
    const char *status;
    const char *note;
} s_env_spec;

int main(int argc, char **argv)
{
    vj_identity *ids[3] = {NULL, NULL, NULL};
    vj_keyring *kr = NULL;
    vj_diag d = {""};
    int err;
    if (argc != 2) {
        fprintf(stderr, "usage: make_vectors OUTDIR\n");
        return 64;
    }
    s_dir = argv[1];
    crypto_generichash(s_rng_key, sizeof s_rng_key, (const uint8_t *)"valija test vectors rng", 23,
                       NULL, 0);
    if (randombytes_set_implementation(&s_rng) != 0 || vj_keys_init() != VJ_OK)
        s_die("libsodium", VJ_E_CRYPTO, NULL);

    FILE *h = s_open("vec_keys.h");
    fprintf(h, "/* vec_keys.h - written by make_vectors: the secret key files and cards of\n"
               " * the test posts, for the fuzz harnesses.  TEST KEYS ONLY: public, never\n"
               " * use them for anything but tests. */\n"
               "#ifndef VEC_KEYS_H\n#define VEC_KEYS_H\n\n");
    for (int i = 0; i < 3; i++) {
        uint8_t seed[32], box[32], curve[32];
        char file[64], sym[64];
        s_derive(s_posts[i], "sign", seed);
        s_derive(s_posts[i], "box", box);
        s_derive(s_posts[i], "curve", curve);
        err = vj_identity_from_secrets(s_posts[i], seed, box, curve, &ids[i]);
        if (err != VJ_OK)
            s_die(s_posts[i], err, NULL);
        snprintf(file, sizeof file, "%s/%s.key", s_dir, s_posts[i]);
        err = vj_identity_save(ids[i], file, 1, &d);
        if (err != VJ_OK)
            s_die(file, err, &d);
        vj_card card;
        char *text = NULL;
        if (vj_card_from_identity(ids[i], &card) != VJ_OK || vj_card_format(&card, &text) != VJ_OK)
            s_die("card", VJ_E_CRYPTO, NULL);
        snprintf(file, sizeof file, "%s.card", s_posts[i]);
        s_write(file, text, strlen(text));
        snprintf(sym, sizeof sym, "vec_card_%s", s_posts[i] + 4);
        s_c_string(h, sym, text);
        free(text);
        /* the key file text, read back and marked as a test key */
        snprintf(file, sizeof file, "%s/%s.key", s_dir, s_posts[i]);
        FILE *kf = fopen(file, "rb");
        static const char mark[] = "# TEST KEY ONLY: published with valija's test vectors; "
                                   "never use it for a real post\n";
        char buf[2048];
        memcpy(buf, mark, sizeof mark - 1);
        size_t n = sizeof mark - 1;
        n += kf != NULL ? fread(buf + n, 1, sizeof buf - 1 - n, kf) : 0;
        if (kf != NULL)
            fclose(kf);
        buf[n] = '\0';
        snprintf(file, sizeof file, "%s.key", s_posts[i]);
        s_write(file, buf, n);
        snprintf(sym, sizeof sym, "vec_key_%s", s_posts[i] + 4);
        s_c_string(h, sym, buf);
        sodium_memzero(buf, sizeof buf);
    }
    fprintf(h, "\n#endif\n");
    fclose(h);

    err = vj_keyring_new(ids[0], &kr);
    for (int i = 1; i < 3 && err == VJ_OK; i++) {
        vj_card card;
        err = vj_card_from_identity(ids[i], &card);
        if (err == VJ_OK)
            err = vj_keyring_add(kr, &card);
    }
    if (err != VJ_OK)
        s_die("keyring", err, NULL);

    static const s_env_spec envs[] = {
        {"env-1",
         {"vec-bravo", "vec-charlie"},
         2,
         1,
         1700000000000,
         VALIJA__UPDATE_KIND__KIND_OPENED,
         "detained",
         "test vector 1: fictional case, no real person"},
        {"env-2",
         {"vec-charlie", "vec-bravo"},
         2,
         2,
         1700000060000,
         VALIJA__UPDATE_KIND__KIND_STATUS,
         "released",
         "test vector 2: fictional"},
        {"env-3",
         {"vec-charlie"},
         1,
         3,
         1700000120000,
         VALIJA__UPDATE_KIND__KIND_NOTE,
         "",
         "test vector 3: for vec-charlie only"},
    };
    for (size_t e = 0; e < sizeof envs / sizeof envs[0]; e++) {
        const s_env_spec *s = &envs[e];
        Valija__CaseUpdate u = VALIJA__CASE_UPDATE__INIT;
        Valija__Person person = VALIJA__PERSON__INIT;
        char *share[] = {(char *)"vec-alpha", (char *)"vec-bravo", (char *)"vec-charlie"};
        u.version = 1;
        u.case_id = (char *)"VEC-2023-000001";
        u.kind = s->kind;
        u.lamport = s->seq;
        u.at_ms = s->created_ms - 1000;
        u.status = (char *)s->status;
        u.note = (char *)s->note;
        if (s->kind == VALIJA__UPDATE_KIND__KIND_OPENED) {
            u.facility = (char *)"Example Detention Facility (fictional)";
            person.name = (char *)"Test Person (fictional)";
            person.minor = VALIJA__MINOR__MINOR_YES;
            u.person = &person;
            u.n_share = 3;
            u.share = share;
        }
        uint8_t *pt = NULL, *env = NULL, id[16];
        size_t pt_len = 0, env_len = 0;
        if (vj_codec_pack(&u.base, &pt, &pt_len) != VJ_OK)
            s_die("pack", VJ_E_NOMEM, NULL);
        vj_seal_params p = {.origin_seq = s->seq,
                            .created_ms = s->created_ms,
                            .payload = VALIJA__PAYLOAD_TYPE__PAYLOAD_CASE_UPDATE};
        err = vj_envelope_seal(kr, s->to, s->n, &p, pt, pt_len, id, &env, &env_len, &d);
        if (err != VJ_OK)
            s_die(s->name, err, &d);
        char file[64];
        snprintf(file, sizeof file, "%s.env", s->name);
        s_write(file, env, env_len);
        snprintf(file, sizeof file, "%s.plain", s->name);
        s_write(file, pt, pt_len);
        snprintf(file, sizeof file, "%s.info", s->name);
        FILE *f = s_open(file);
        fprintf(f, "# %s.env: what its verified header says (written by make_vectors)\n", s->name);
        fprintf(f, "msg_id: ");
        for (int i = 0; i < 16; i++)
            fprintf(f, "%02x", id[i]);
        fprintf(f, "\norigin: vec-alpha\norigin_seq: %llu\ncreated_ms: %lld\nrecipients:",
                (unsigned long long)s->seq, (long long)s->created_ms);
        for (size_t i = 0; i < s->n; i++)
            fprintf(f, " %s", s->to[i]);
        fprintf(f, "\nplaintext_len: %zu\nenvelope_len: %zu\n", pt_len, env_len);
        fclose(f);
        free(pt);
        free(env);
    }
    vj_keyring_destroy(&kr);
    for (int i = 0; i < 3; i++)
        vj_identity_destroy(&ids[i]);
    return 0;
}
