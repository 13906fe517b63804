/* test_identity.c - post identities and secret key files: what an operator
 * relies on is that a key file is created private, is never silently
 * replaced, is refused when others can read it, and that any damage to it is
 * reported as such instead of yielding a different key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vj_card.h"
#include "vj_identity.h"

typedef struct {
    char dir[256];
    char key[300];
    vj_identity *id;
    char *text; /* the saved key file */
    size_t len;
} fixture;

static void s_write(const char *path, const char *text, size_t len, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static char *s_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 70000);
    assert_non_null(buf);
    *len = fread(buf, 1, 69999, f);
    fclose(f);
    return buf;
}

static void s_rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char p[600];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/vj-identity-XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->key, sizeof f->key, "%s/mx-washington.key", f->dir);
    if (vj_identity_generate("mx-washington", &f->id) != VJ_OK)
        return -1;
    vj_diag d;
    if (vj_identity_save(f->id, f->key, 0, &d) != VJ_OK)
        return -1;
    f->text = s_read(f->key, &f->len);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    vj_identity_destroy(&f->id);
    free(f->text);
    s_rm_dir(f->dir);
    free(f);
    return 0;
}

/* Parses text and returns the error; destroys any identity it yields. */
static int s_parse(const char *text, size_t len, vj_diag *d)
{
    vj_identity *id = NULL;
    int r = vj_identity_parse(text, len, &id, d);
    if (r != VJ_OK)
        assert_null(id);
    vj_identity_destroy(&id);
    return r;
}

static void s_assert_same_card(const vj_identity *a, const vj_identity *b)
{
    vj_card ca, cb;
    assert_int_equal(vj_card_from_identity(a, &ca), VJ_OK);
    assert_int_equal(vj_card_from_identity(b, &cb), VJ_OK);
    assert_memory_equal(&ca, &cb, sizeof ca);
}

/* The text with line `skip` (0-based, counting every line) removed, or
 * with line `dup` written twice; returns a malloc'ed copy. */
static char *s_edit_lines(const char *text, int skip, int dup, size_t *out_len)
{
    char *out = calloc(1, strlen(text) * 2 + 2);
    const char *p = text;
    int i = 0;
    size_t o = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);
        if (i != skip) {
            memcpy(out + o, p, n);
            o += n;
        }
        if (i == dup) {
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
        i++;
    }
    *out_len = o;
    return out;
}

/* Replaces the value of "key: " in text; returns a malloc'ed copy. */
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

static void test_save_load_round_trip(void **state)
{
    fixture *f = *state;
    vj_identity *back = NULL;
    vj_diag d;
    assert_int_equal(vj_identity_load(f->key, &back, &d), VJ_OK);
    assert_string_equal(vj_identity_post(back), "mx-washington");
    s_assert_same_card(f->id, back);
    assert_memory_equal(vj_identity_curve_sk(f->id), vj_identity_curve_sk(back), 32);
    vj_identity_destroy(&back);
    assert_null(back);
    vj_identity_destroy(&back); /* NULL is fine */
    vj_identity_destroy(NULL);
}

static void test_saved_file_is_private(void **state)
{
    fixture *f = *state;
    struct stat st;
    assert_int_equal(stat(f->key, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_non_null(strstr(f->text, "valija-secret-key: 1\n"));
    assert_non_null(strstr(f->text, "post: mx-washington\n"));
}

static void test_save_refuses_overwrite_without_force(void **state)
{
    fixture *f = *state;
    vj_identity *other = NULL;
    vj_diag d;
    size_t len;
    assert_int_equal(vj_identity_generate("mx-washington", &other), VJ_OK);
    assert_int_equal(vj_identity_save(other, f->key, 0, &d), VJ_E_EXISTS);
    assert_non_null(strstr(d.text, "already exists"));
    char *now = s_read(f->key, &len);
    assert_int_equal(len, f->len);
    assert_memory_equal(now, f->text, len); /* the old key is intact */
    free(now);

    assert_int_equal(vj_identity_save(other, f->key, 1, &d), VJ_OK);
    struct stat st;
    assert_int_equal(stat(f->key, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    vj_identity *back = NULL;
    assert_int_equal(vj_identity_load(f->key, &back, &d), VJ_OK);
    s_assert_same_card(other, back);
    vj_identity_destroy(&back);
    vj_identity_destroy(&other);

    /* no temporary file is left behind */
    DIR *dir = opendir(f->dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(dir)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(dir);
    assert_int_equal(n, 1);
}

static void test_save_into_missing_dir_fails(void **state)
{
    fixture *f = *state;
    char p[400];
    vj_diag d;
    snprintf(p, sizeof p, "%s/no-such-dir/x.key", f->dir);
    assert_int_equal(vj_identity_save(f->id, p, 0, &d), VJ_E_IO);
    assert_int_equal(vj_identity_save(f->id, p, 1, &d), VJ_E_IO);
}

static void test_loose_modes_refused(void **state)
{
    fixture *f = *state;
    static const mode_t modes[] = {0644, 0640, 0604, 0660, 0601, 0610, 0666};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        vj_identity *id = NULL;
        vj_diag d = {""};
        assert_int_equal(chmod(f->key, modes[i]), 0);
        assert_int_equal(vj_identity_load(f->key, &id, &d), VJ_E_PERM);
        assert_null(id);
        assert_non_null(strstr(d.text, "readable by group or others"));
        assert_non_null(strstr(d.text, "chmod 600"));
        assert_non_null(strstr(d.text, f->key));
    }
    assert_int_equal(chmod(f->key, 0400), 0);
    vj_identity *id = NULL;
    vj_diag d;
    assert_int_equal(vj_identity_load(f->key, &id, &d), VJ_OK);
    vj_identity_destroy(&id);
}

static void test_symlink_and_non_files_refused(void **state)
{
    fixture *f = *state;
    char link[400];
    vj_identity *id = NULL;
    vj_diag d;
    snprintf(link, sizeof link, "%s/link.key", f->dir);
    assert_int_equal(symlink(f->key, link), 0);
    assert_int_equal(vj_identity_load(link, &id, &d), VJ_E_PERM);
    assert_null(id);
    assert_int_equal(vj_identity_load(f->dir, &id, &d), VJ_E_PERM);
    char missing[400];
    snprintf(missing, sizeof missing, "%s/missing.key", f->dir);
    assert_int_equal(vj_identity_load(missing, &id, &d), VJ_E_NOTFOUND);
    /* save does not write through a symlink either */
    assert_int_equal(vj_identity_save(f->id, link, 0, &d), VJ_E_EXISTS);
    unlink(link);
}

static void test_truncated_at_every_byte(void **state)
{
    fixture *f = *state;
    /* every prefix short of the final newline is damaged */
    for (size_t n = 0; n + 1 < f->len; n++) {
        vj_diag d = {""};
        assert_int_equal(s_parse(f->text, n, &d), VJ_E_PARSE);
        assert_true(d.text[0] != '\0');
    }
    vj_diag d;
    assert_int_equal(s_parse(f->text, f->len - 1, &d), VJ_OK);
    assert_int_equal(s_parse(f->text, f->len, &d), VJ_OK);
}

static void test_truncated_file_on_disk(void **state)
{
    fixture *f = *state;
    /* cut after each line: a file cut short on disk is refused, naming the file */
    size_t n = 0;
    for (;;) {
        const char *nl = memchr(f->text + n, '\n', f->len - n);
        if (nl == NULL)
            break;
        n = (size_t)(nl - f->text) + 1;
        if (n == f->len)
            break;
        s_write(f->key, f->text, n, 0600);
        vj_identity *id = NULL;
        vj_diag d;
        assert_int_equal(vj_identity_load(f->key, &id, &d), VJ_E_PARSE);
        assert_non_null(strstr(d.text, f->key));
        assert_non_null(strstr(d.text, "missing"));
    }
}

static void test_missing_and_duplicate_lines(void **state)
{
    fixture *f = *state;
    /* lines 1..6 are the keys (line 0 is the comment) */
    for (int i = 1; i <= 6; i++) {
        size_t len;
        vj_diag d = {""};
        char *t = s_edit_lines(f->text, i, -1, &len);
        assert_int_equal(s_parse(t, len, &d), VJ_E_PARSE);
        assert_non_null(strstr(d.text, "missing"));
        free(t);
        t = s_edit_lines(f->text, -1, i, &len);
        assert_int_equal(s_parse(t, len, &d), VJ_E_PARSE);
        assert_non_null(strstr(d.text, "twice"));
        assert_non_null(strstr(d.text, "line"));
        free(t);
    }
    size_t len;
    vj_diag d;
    char *t = s_edit_lines(f->text, 0, -1, &len); /* the comment is optional */
    assert_int_equal(s_parse(t, len, &d), VJ_OK);
    free(t);
}

static void test_unknown_key_and_garbage_lines(void **state)
{
    fixture *f = *state;
    static const char *extra[] = {"pubkey: AAAA\n", "no colon here\n", ": empty key\n",
                                  "Post: mx-washington\n", "sign-seed : x\n"};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        char *t = calloc(1, f->len + 64);
        memcpy(t, f->text, f->len);
        strcat(t, extra[i]);
        vj_diag d = {""};
        assert_int_equal(s_parse(t, strlen(t), &d), VJ_E_PARSE);
        assert_non_null(strstr(d.text, "line 8"));
        free(t);
    }
}

static void test_bad_base64_and_wrong_lengths(void **state)
{
    fixture *f = *state;
    static const char *keys[] = {"sign-seed", "box-secret", "curve-secret", "check"};
    static const char *bad[] = {
        "",
        "AAAA",
        "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!=",
        /* 31 and 33 bytes */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
        /* 32 bytes, unpadded; URL-safe alphabet; non-canonical final bits */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "_-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=",
        "AAAA AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            char *t = s_set_value(f->text, keys[k], bad[b]);
            vj_diag d = {""};
            assert_int_equal(s_parse(t, strlen(t), &d), VJ_E_PARSE);
            assert_non_null(strstr(d.text, "line"));
            free(t);
        }
    }
}

static void test_wrong_check_refused(void **state)
{
    fixture *f = *state;
    /* a valid-looking value that is not the right one: any secret or the
     * post name changed, or the check itself changed */
    static const char *keys[] = {"sign-seed", "box-secret", "curve-secret", "check"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        char pat[64];
        snprintf(pat, sizeof pat, "\n%s: ", keys[k]);
        char *t = strdup(f->text);
        char *v = strstr(t, pat) + strlen(pat);
        v[0] = v[0] == 'A' ? 'B' : 'A';
        vj_diag d = {""};
        assert_int_equal(s_parse(t, strlen(t), &d), VJ_E_PARSE);
        assert_non_null(strstr(d.text, "check"));
        free(t);
    }
    char *t = s_set_value(f->text, "post", "mx-washingtom");
    vj_diag d;
    assert_int_equal(s_parse(t, strlen(t), &d), VJ_E_PARSE);
    free(t);
}

static void test_invalid_post_names_refused(void **state)
{
    fixture *f = *state;
    static const char *names[] = {
        "",
        "MX-washington",
        "-mx",
        "mx-",
        "mx washington",
        "mx_wash",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *t = s_set_value(f->text, "post", names[i]);
        vj_diag d = {""};
        assert_int_equal(s_parse(t, strlen(t), &d), VJ_E_PARSE);
        free(t);
    }
    vj_identity *id = NULL;
    assert_int_equal(vj_identity_generate("Bad Name", &id), VJ_E_INVAL);
    assert_null(id);
}

static void test_other_versions_refused(void **state)
{
    fixture *f = *state;
    vj_diag d;
    char *t = s_set_value(f->text, "valija-secret-key", "2");
    assert_int_equal(s_parse(t, strlen(t), &d), VJ_E_VERSION);
    free(t);
    t = s_set_value(f->text, "valija-secret-key", "one");
    assert_int_equal(s_parse(t, strlen(t), &d), VJ_E_PARSE);
    free(t);
}

static void test_crlf_comments_and_spaces_accepted(void **state)
{
    fixture *f = *state;
    char *t = calloc(1, f->len * 3 + 64);
    size_t o = 0;
    o += (size_t)sprintf(t, "# moved here by an operator\r\n\r\n");
    for (size_t i = 0; i < f->len; i++) {
        if (f->text[i] == '\n') {
            memcpy(t + o, "  \r\n   \n#\n", 10);
            o += 10;
        } else if (f->text[i] == ':') {
            memcpy(t + o, " :\t", 3);
            o += 3;
        } else {
            t[o++] = f->text[i];
        }
    }
    vj_identity *id = NULL;
    vj_diag d;
    assert_int_equal(vj_identity_parse(t, o, &id, &d), VJ_OK);
    s_assert_same_card(f->id, id);
    vj_identity_destroy(&id);
    free(t);
}

static void test_nul_and_oversize_refused(void **state)
{
    fixture *f = *state;
    vj_diag d;
    char *t = malloc(f->len);
    memcpy(t, f->text, f->len);
    t[3] = '\0';
    assert_int_equal(s_parse(t, f->len, &d), VJ_E_PARSE);
    free(t);
    size_t big = 64 * 1024 + 1;
    t = malloc(big);
    memset(t, '\n', big);
    memcpy(t, f->text, f->len);
    assert_int_equal(s_parse(t, big, &d), VJ_E_TOOBIG);
    s_write(f->key, t, big, 0600);
    vj_identity *id = NULL;
    assert_int_equal(vj_identity_load(f->key, &id, &d), VJ_E_TOOBIG);
    free(t);
}

static void test_from_secrets_derives_standard_keys(void **state)
{
    (void)state;
    uint8_t seed[32], box_sk[32], curve_sk[32], pk[32], sk[64], bpk[32], cpk[32];
    for (int i = 0; i < 32; i++) {
        seed[i] = (uint8_t)i;
        box_sk[i] = (uint8_t)(0x40 + i);
        curve_sk[i] = (uint8_t)(0x80 + i);
    }
    crypto_sign_seed_keypair(pk, sk, seed);
    crypto_scalarmult_base(bpk, box_sk);
    crypto_scalarmult_base(cpk, curve_sk);
    vj_identity *id = NULL;
    assert_int_equal(vj_identity_from_secrets("vec-x", seed, box_sk, curve_sk, &id), VJ_OK);
    assert_memory_equal(vj_identity_sign_pk(id), pk, 32);
    assert_memory_equal(vj_identity_box_pk(id), bpk, 32);
    assert_memory_equal(vj_identity_curve_pk(id), cpk, 32);
    assert_memory_equal(vj_identity_curve_sk(id), curve_sk, 32);
    vj_identity_destroy(&id);
    assert_int_equal(vj_identity_from_secrets("Vec", seed, box_sk, curve_sk, &id), VJ_E_INVAL);
    assert_null(id);
}

static void test_generated_identities_differ(void **state)
{
    (void)state;
    vj_identity *a = NULL, *b = NULL;
    assert_int_equal(vj_identity_generate("sv-washington", &a), VJ_OK);
    assert_int_equal(vj_identity_generate("sv-washington", &b), VJ_OK);
    assert_memory_not_equal(vj_identity_sign_pk(a), vj_identity_sign_pk(b), 32);
    assert_memory_not_equal(vj_identity_box_pk(a), vj_identity_box_pk(b), 32);
    assert_memory_not_equal(vj_identity_curve_pk(a), vj_identity_curve_pk(b), 32);
    /* three keys, three jobs: no key doubles as another */
    assert_memory_not_equal(vj_identity_box_pk(a), vj_identity_curve_pk(a), 32);
    vj_identity_destroy(&a);
    vj_identity_destroy(&b);
}

int main(void)
{
    if (vj_keys_init() != VJ_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_save_load_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_saved_file_is_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_refuses_overwrite_without_force, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_into_missing_dir_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loose_modes_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_and_non_files_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_at_every_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_file_on_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_duplicate_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key_and_garbage_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_base64_and_wrong_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_check_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_post_names_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_versions_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crlf_comments_and_spaces_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_and_oversize_refused, setup, teardown),
        cmocka_unit_test(test_from_secrets_derives_standard_keys),
        cmocka_unit_test(test_generated_identities_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
