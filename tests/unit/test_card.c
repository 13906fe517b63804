/* test_card.c - public cards and fingerprints: officers rely on a card that
 * verifies being exactly the one its post signed (any changed field fails),
 * on the text surviving e-mail and editors (CRLF, comments, spacing), and on
 * the fingerprint being a stable, well-formed digest of the card.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vj_card.h"
#include "vj_identity.h"

typedef struct {
    vj_identity *id;
    vj_card card;
    char *text;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (vj_identity_generate("gt-houston", &f->id) != VJ_OK ||
        vj_card_from_identity(f->id, &f->card) != VJ_OK ||
        vj_card_format(&f->card, &f->text) != VJ_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    vj_identity_destroy(&f->id);
    free(f->text);
    free(f);
    return 0;
}

static char *s_set_value(const char *text, const char *key, const char *value)
{
    char *out = calloc(1, strlen(text) + strlen(value) + 2);
    char pat[64];
    snprintf(pat, sizeof pat, "\n%s: ", key);
    const char *at = strstr(text, pat);
    assert_non_null(at);
    at += strlen(pat);
    const char *eol = strchr(at, '\n');
    memcpy(out, text, (size_t)(at - text));
    strcat(out, value);
    strcat(out, eol);
    return out;
}

static int s_parse(const char *text, vj_card *c)
{
    vj_diag d;
    return vj_card_parse(text, strlen(text), c, &d);
}

static void test_format_parse_round_trip(void **state)
{
    fixture *f = *state;
    vj_card c;
    assert_int_equal(vj_card_verify(&f->card), VJ_OK);
    assert_int_equal(s_parse(f->text, &c), VJ_OK);
    assert_memory_equal(&c, &f->card, sizeof c);
    assert_int_equal(vj_card_verify(&c), VJ_OK);
    assert_string_equal(c.post, "gt-houston");
    assert_memory_equal(c.sign_pk, vj_identity_sign_pk(f->id), 32);
    assert_memory_equal(c.box_pk, vj_identity_box_pk(f->id), 32);
    assert_memory_equal(c.curve_pk, vj_identity_curve_pk(f->id), 32);
    assert_non_null(strstr(f->text, "valija-card: 1\n"));
    assert_non_null(strstr(f->text, "# fingerprint: "));
}

static void test_every_changed_byte_fails_verify(void **state)
{
    fixture *f = *state;
    uint8_t *fields[] = {f->card.sign_pk, f->card.box_pk, f->card.curve_pk, f->card.signature};
    size_t lens[] = {32, 32, 32, 64};
    for (size_t k = 0; k < 4; k++) {
        for (size_t i = 0; i < lens[k]; i++) {
            vj_card c = f->card;
            uint8_t *p = (uint8_t *)&c + (fields[k] - (uint8_t *)&f->card) + i;
            *p ^= 0x01;
            assert_int_equal(vj_card_verify(&c), VJ_E_AUTH);
        }
    }
    for (size_t i = 0; i < strlen(f->card.post); i++) {
        vj_card c = f->card;
        c.post[i] = c.post[i] == 'a' ? 'b' : (c.post[i] == '-' ? 'x' : 'a');
        assert_int_equal(vj_card_verify(&c), VJ_E_AUTH);
    }
}

static void test_changed_text_fails_verify(void **state)
{
    fixture *f = *state;
    /* the same edits through the text form: a swapped key is caught */
    vj_identity *other = NULL;
    vj_card oc, c;
    assert_int_equal(vj_identity_generate("gt-houston", &other), VJ_OK);
    assert_int_equal(vj_card_from_identity(other, &oc), VJ_OK);
    char *otext = NULL;
    assert_int_equal(vj_card_format(&oc, &otext), VJ_OK);
    static const char *keys[] = {"sign", "box", "curve", "signature"};
    for (size_t k = 0; k < 4; k++) {
        char pat[32];
        snprintf(pat, sizeof pat, "\n%s: ", keys[k]);
        const char *v = strstr(otext, pat) + strlen(pat);
        char val[128];
        size_t n = strcspn(v, "\n");
        memcpy(val, v, n);
        val[n] = '\0';
        char *t = s_set_value(f->text, keys[k], val);
        assert_int_equal(s_parse(t, &c), VJ_OK);
        assert_int_equal(vj_card_verify(&c), VJ_E_AUTH);
        free(t);
    }
    char *t = s_set_value(f->text, "post", "gt-houstom");
    assert_int_equal(s_parse(t, &c), VJ_OK);
    assert_int_equal(vj_card_verify(&c), VJ_E_AUTH);
    free(t);
    free(otext);
    vj_identity_destroy(&other);
}

static void test_crlf_and_recommented_card_verifies(void **state)
{
    fixture *f = *state;
    size_t n = strlen(f->text);
    char *t = calloc(1, n * 4 + 200);
    strcpy(t, "From an e-mail, forwarded twice:\n");
    t[0] = '#';
    size_t o = strlen(t);
    /* reverse the order of lines, CRLF, indent, add comments and blank lines */
    const char *lines[16];
    size_t lens[16], nl = 0;
    for (const char *p = f->text; *p;) {
        size_t l = strcspn(p, "\n");
        lines[nl] = p;
        lens[nl++] = l;
        p += l + (p[l] == '\n');
    }
    for (size_t i = nl; i-- > 0;) {
        o += (size_t)sprintf(t + o, "   %.*s \t\r\n\r\n# --\r\n", (int)lens[i], lines[i]);
    }
    vj_card c;
    assert_int_equal(s_parse(t, &c), VJ_OK);
    assert_int_equal(vj_card_verify(&c), VJ_OK);
    assert_memory_equal(&c, &f->card, sizeof c);
    free(t);
}

static void test_fingerprint_format_and_stability(void **state)
{
    fixture *f = *state;
    char fp1[VJ_FINGERPRINT_STRLEN], fp2[VJ_FINGERPRINT_STRLEN];
    vj_card_fingerprint(&f->card, fp1);
    assert_int_equal(strlen(fp1), 39);
    for (size_t i = 0; i < 39; i++) {
        if (i % 5 == 4)
            assert_int_equal(fp1[i], ' ');
        else
            assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", fp1[i]));
    }
    vj_card c;
    assert_int_equal(s_parse(f->text, &c), VJ_OK);
    vj_card_fingerprint(&c, fp2);
    assert_string_equal(fp1, fp2);
    char line[80];
    snprintf(line, sizeof line, "# fingerprint: %s\n", fp1);
    assert_non_null(strstr(f->text, line));
    /* the signature is not part of it */
    c.signature[0] ^= 1;
    vj_card_fingerprint(&c, fp2);
    assert_string_equal(fp1, fp2);
    /* but every key is */
    c = f->card;
    c.curve_pk[31] ^= 1;
    vj_card_fingerprint(&c, fp2);
    assert_string_not_equal(fp1, fp2);
}

/* The fingerprint recomputed from the specification: BLAKE2b-160 over C,
 * base32 in groups of four. */
static void test_fingerprint_matches_specification(void **state)
{
    fixture *f = *state;
    uint8_t canon[14 + 1 + 64 + 96];
    size_t n = 0, plen = strlen(f->card.post);
    memcpy(canon, "VALIJA-CARD-V1", 14);
    n = 14;
    canon[n++] = (uint8_t)plen;
    memcpy(canon + n, f->card.post, plen);
    n += plen;
    memcpy(canon + n, f->card.sign_pk, 32);
    memcpy(canon + n + 32, f->card.box_pk, 32);
    memcpy(canon + n + 64, f->card.curve_pk, 32);
    n += 96;
    assert_int_equal(crypto_sign_verify_detached(f->card.signature, canon, n, f->card.sign_pk), 0);
    uint8_t h[20];
    crypto_generichash(h, sizeof h, canon, n, NULL, 0);
    char expect[40];
    size_t o = 0;
    for (int i = 0; i < 32; i++) {
        int bit = i * 5, byte = bit / 8, off = bit % 8;
        unsigned v = ((unsigned)h[byte] << 8) | (byte + 1 < 20 ? h[byte + 1] : 0);
        unsigned sym = (v >> (11 - off)) & 31;
        if (i > 0 && i % 4 == 0)
            expect[o++] = ' ';
        expect[o++] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[sym];
    }
    expect[o] = '\0';
    char fp[VJ_FINGERPRINT_STRLEN];
    vj_card_fingerprint(&f->card, fp);
    assert_string_equal(fp, expect);
}

static void test_missing_duplicate_unknown_keys(void **state)
{
    fixture *f = *state;
    static const char *keys[] = {"valija-card", "post", "sign", "box", "curve", "signature"};
    vj_card c;
    for (size_t k = 0; k < 6; k++) {
        char pat[32];
        snprintf(pat, sizeof pat, "\n%s: ", keys[k]);
        const char *at = strstr(f->text, pat) + 1;
        size_t l = strcspn(at, "\n") + 1;
        /* missing */
        char *t = calloc(1, strlen(f->text) + 200);
        memcpy(t, f->text, (size_t)(at - f->text));
        strcat(t, at + l);
        vj_diag d = {""};
        assert_int_equal(vj_card_parse(t, strlen(t), &c, &d), VJ_E_PARSE);
        assert_non_null(strstr(d.text, "missing"));
        /* duplicate */
        strcpy(t, f->text);
        strncat(t, at, l);
        assert_int_equal(vj_card_parse(t, strlen(t), &c, &d), VJ_E_PARSE);
        assert_non_null(strstr(d.text, "twice"));
        free(t);
    }
    char *t = calloc(1, strlen(f->text) + 64);
    strcpy(t, f->text);
    strcat(t, "fingerprint: ABCD\n");
    assert_int_equal(s_parse(t, &c), VJ_E_PARSE);
    free(t);
}

static void test_bad_values_refused(void **state)
{
    fixture *f = *state;
    vj_card c;
    static const char *keys[] = {"sign", "box", "curve", "signature"};
    static const char *bad[] = {"", "AAAA", "@@@@", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="};
    for (size_t k = 0; k < 4; k++) {
        for (size_t b = 0; b < 4; b++) {
            char *t = s_set_value(f->text, keys[k], bad[b]);
            assert_int_equal(s_parse(t, &c), VJ_E_PARSE);
            free(t);
        }
    }
    char *t = s_set_value(f->text, "post", "GT-Houston");
    assert_int_equal(s_parse(t, &c), VJ_E_PARSE);
    free(t);
    t = s_set_value(f->text, "valija-card", "2");
    assert_int_equal(s_parse(t, &c), VJ_E_VERSION);
    free(t);
    assert_int_equal(s_parse("", &c), VJ_E_PARSE);
    assert_int_equal(s_parse("garbage\n", &c), VJ_E_PARSE);
    assert_int_equal(s_parse(f->text + 10, &c), VJ_E_PARSE);
    /* a secret key file is not a card */
    assert_int_equal(s_parse("valija-secret-key: 1\npost: gt-houston\n", &c), VJ_E_PARSE);
}

static void test_truncated_card_refused(void **state)
{
    fixture *f = *state;
    size_t n = strlen(f->text);
    for (size_t i = 0; i + 1 < n; i++) {
        vj_card c;
        vj_diag d;
        int r = vj_card_parse(f->text, i, &c, &d);
        /* a cut inside the comments leaves nothing; anywhere later, a field is
         * missing or damaged */
        assert_int_equal(r, VJ_E_PARSE);
    }
}

static void test_load_verifies(void **state)
{
    fixture *f = *state;
    char dir[] = "/tmp/vj-card-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/c.card", dir);
    vj_card c;
    vj_diag d;
    assert_int_equal(vj_card_load(path, &c, &d), VJ_E_NOTFOUND);
    FILE *fp = fopen(path, "w");
    fputs(f->text, fp);
    fclose(fp);
    assert_int_equal(vj_card_load(path, &c, &d), VJ_OK);
    assert_memory_equal(&c, &f->card, sizeof c);
    char *t = strdup(f->text);
    char *sig = strstr(t, "\nsignature: ") + 12;
    sig[5] = sig[5] == 'A' ? 'B' : 'A';
    fp = fopen(path, "w");
    fputs(t, fp);
    fclose(fp);
    assert_int_equal(vj_card_load(path, &c, &d), VJ_E_AUTH);
    assert_non_null(strstr(d.text, path));
    assert_non_null(strstr(d.text, "does not verify"));
    free(t);
    assert_int_equal(vj_card_load(dir, &c, &d), VJ_E_PERM);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    if (vj_keys_init() != VJ_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_format_parse_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_changed_byte_fails_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_text_fails_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crlf_and_recommented_card_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fingerprint_format_and_stability, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fingerprint_matches_specification, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_duplicate_unknown_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_values_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_card_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_verifies, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
