/* test_vectors.c - the known-answer vectors of tests/vectors/ (written once
 * by make_vectors and committed).  They pin the formats: if the secret key
 * file, the card, the fingerprint or the envelope ever change shape, these
 * committed bytes stop loading or opening and this test fails.  Each envelope
 * must open to exactly its committed plaintext for each recipient, report
 * the committed header, and be refused by a post it is not addressed to.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vj_envelope.h"

static char s_dir[4096];

static uint8_t *s_slurp(const char *name, size_t *len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        print_error("cannot open %s\n", path);
    assert_non_null(f);
    uint8_t *buf = malloc(1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

typedef struct {
    vj_identity *id[4]; /* alpha, bravo, charlie, and delta (not in the vectors) */
    vj_keyring *kr[4];
    vj_card card[3];
} world;

static const char *const s_posts[] = {"vec-alpha", "vec-bravo", "vec-charlie"};

static int setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    vj_diag d;
    for (int i = 0; i < 3; i++) {
        char name[64];
        size_t len;
        snprintf(name, sizeof name, "%s.key", s_posts[i]);
        char *text = (char *)s_slurp(name, &len);
        if (vj_identity_parse(text, len, &w->id[i], &d) != VJ_OK) {
            print_error("%s: %s\n", name, d.text);
            return -1;
        }
        free(text);
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.card", s_dir, s_posts[i]);
        if (vj_card_load(path, &w->card[i], &d) != VJ_OK) {
            print_error("%s\n", d.text);
            return -1;
        }
    }
    if (vj_identity_generate("vec-delta", &w->id[3]) != VJ_OK)
        return -1;
    for (int i = 0; i < 4; i++) {
        if (vj_keyring_new(w->id[i], &w->kr[i]) != VJ_OK)
            return -1;
        for (int j = 0; j < 3; j++)
            if (j != i && vj_keyring_add(w->kr[i], &w->card[j]) != VJ_OK)
                return -1;
    }
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    for (int i = 0; i < 4; i++) {
        vj_keyring_destroy(&w->kr[i]);
        vj_identity_destroy(&w->id[i]);
    }
    free(w);
    return 0;
}

static void test_keys_match_cards(void **state)
{
    world *w = *state;
    for (int i = 0; i < 3; i++) {
        vj_card c;
        char *text = NULL, name[64];
        size_t len;
        assert_int_equal(vj_card_from_identity(w->id[i], &c), VJ_OK);
        assert_memory_equal(&c, &w->card[i], sizeof c);
        /* the text form is stable too */
        assert_int_equal(vj_card_format(&c, &text), VJ_OK);
        snprintf(name, sizeof name, "%s.card", s_posts[i]);
        char *committed = (char *)s_slurp(name, &len);
        assert_string_equal(text, committed);
        free(text);
        free(committed);
    }
}

static void test_fingerprints_known(void **state)
{
    world *w = *state;
    char fp[VJ_FINGERPRINT_STRLEN];
    vj_card_fingerprint(&w->card[0], fp);
    assert_string_equal(fp, "G74C FRDX MFZW CXJE BPB5 7WIZ MANL 4I4C");
    assert_string_equal(w->card[0].post, "vec-alpha");
}

/* The value of "key: " in an .info file. */
static const char *s_info(const char *info, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\n%s: ", key);
    const char *p = strstr(info, pat);
    assert_non_null(p);
    p += strlen(pat);
    size_t n = strcspn(p, "\n");
    assert_true(n < cap);
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

static void s_check_envelope(world *w, const char *name, const int *opens, size_t n_opens,
                             const int *refuses, size_t n_refuses)
{
    char file[64], v[512];
    size_t env_len, pt_len, info_len;
    snprintf(file, sizeof file, "%s.env", name);
    uint8_t *env = s_slurp(file, &env_len);
    snprintf(file, sizeof file, "%s.plain", name);
    uint8_t *plain = s_slurp(file, &pt_len);
    snprintf(file, sizeof file, "%s.info", name);
    char *info = (char *)s_slurp(file, &info_len);
    assert_int_equal(env_len, strtoull(s_info(info, "envelope_len", v, sizeof v), NULL, 10));
    assert_int_equal(pt_len, strtoull(s_info(info, "plaintext_len", v, sizeof v), NULL, 10));

    for (size_t k = 0; k < n_opens; k++) {
        int i = opens[k];
        uint8_t *pt = NULL;
        size_t len = 0;
        vj_envelope_info ei;
        vj_diag d;
        int r =
            vj_envelope_open(w->kr[i], env, env_len, VJ_ENVELOPE_MAX_DEFAULT, &ei, &pt, &len, &d);
        if (r != VJ_OK)
            print_error("%s at %s: %s\n", name, s_posts[i], d.text);
        assert_int_equal(r, VJ_OK);
        assert_int_equal(len, pt_len);
        assert_memory_equal(pt, plain, pt_len);
        vj_envelope_plaintext_free(pt, len);
        char hex[33];
        for (int b = 0; b < 16; b++)
            snprintf(hex + 2 * b, 3, "%02x", ei.msg_id[b]);
        assert_string_equal(hex, s_info(info, "msg_id", v, sizeof v));
        assert_string_equal(ei.origin, s_info(info, "origin", v, sizeof v));
        assert_int_equal(ei.origin_seq,
                         strtoull(s_info(info, "origin_seq", v, sizeof v), NULL, 10));
        assert_int_equal(ei.created_ms, strtoll(s_info(info, "created_ms", v, sizeof v), NULL, 10));
        char list[512] = "";
        for (size_t j = 0; j < ei.n_recipients; j++) {
            strcat(list, j ? " " : "");
            strcat(list, ei.recipients[j]);
        }
        assert_string_equal(list, s_info(info, "recipients", v, sizeof v));
        /* the plaintext is a case update of the fictional test case */
        Valija__CaseUpdate *u = valija__case_update__unpack(NULL, pt_len, plain);
        assert_non_null(u);
        assert_string_equal(u->case_id, "VEC-2023-000001");
        valija__case_update__free_unpacked(u, NULL);
    }
    for (size_t k = 0; k < n_refuses; k++) {
        uint8_t *pt = NULL;
        size_t len = 0;
        vj_envelope_info ei;
        vj_diag d;
        assert_int_equal(vj_envelope_open(w->kr[refuses[k]], env, env_len, VJ_ENVELOPE_MAX_DEFAULT,
                                          &ei, &pt, &len, &d),
                         VJ_E_NOTRECIPIENT);
        assert_null(pt);
        /* but it can check the origin's signature */
        assert_int_equal(
            vj_envelope_inspect(w->kr[refuses[k]], env, env_len, VJ_ENVELOPE_MAX_DEFAULT, &ei, &d),
            VJ_OK);
    }
    free(env);
    free(plain);
    free(info);
}

static void test_envelope_1(void **state)
{
    static const int opens[] = {1, 2}, refuses[] = {0, 3};
    s_check_envelope(*state, "env-1", opens, 2, refuses, 2);
}

static void test_envelope_2(void **state)
{
    static const int opens[] = {2, 1}, refuses[] = {0, 3};
    s_check_envelope(*state, "env-2", opens, 2, refuses, 2);
}

static void test_envelope_3(void **state)
{
    static const int opens[] = {2}, refuses[] = {0, 1, 3};
    s_check_envelope(*state, "env-3", opens, 1, refuses, 3);
}

int main(void)
{
    const char *root = getenv("VJ_SOURCE_ROOT");
    snprintf(s_dir, sizeof s_dir, "%s/tests/vectors", root != NULL ? root : ".");
    if (vj_keys_init() != VJ_OK)
        return 1;
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_keys_match_cards), T(test_fingerprints_known), T(test_envelope_1),
        T(test_envelope_2),       T(test_envelope_3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
