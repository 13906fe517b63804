/* test_store.c - the store: private files, settings in force, migrations,
 * envelopes and replays, transactions, counters, outbox, delivery reports,
 * case events and history, case state and list filters, and that committed
 * data survives a process that dies without closing.
 *
 * Every test works in its own mkdtemp directory, removed afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vj_store.h"

typedef struct {
    char dir[PATH_MAX - 64];
    char db[PATH_MAX];
    vj_store *st;
} fixture;

/* ---------------------------------------------------------------- helpers */

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/vj-store-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof f->db, "%s/post.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    vj_store_close(&f->st);
    DIR *d = opendir(f->dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[PATH_MAX + 256];
            snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void open_store(fixture *f)
{
    vj_diag diag = {{0}};
    int rc = vj_store_open(f->db, &f->st, &diag);
    if (rc != VJ_OK)
        fail_msg("vj_store_open: %s (%s)", vj_strerror(rc), diag.text);
}

static void reopen_store(fixture *f)
{
    vj_store_close(&f->st);
    assert_null(f->st);
    open_store(f);
}

static void make_id(uint8_t id[VJ_MSG_ID_LEN], unsigned n)
{
    for (int i = 0; i < VJ_MSG_ID_LEN; i++)
        id[i] = (uint8_t)(0xa5 ^ (n * 31u + (unsigned)i * 7u));
    id[0] = (uint8_t)(n >> 8);
    id[1] = (uint8_t)n;
}

static vj_envelope_info make_info(const char *origin, uint64_t seq, unsigned id, const char *r1,
                                  const char *r2)
{
    vj_envelope_info info;
    memset(&info, 0, sizeof info);
    make_id(info.msg_id, id);
    snprintf(info.origin, sizeof info.origin, "%s", origin);
    info.origin_seq = seq;
    info.created_ms = 1700000000000 + (int64_t)seq;
    info.payload = 1;
    if (r1 != NULL)
        snprintf(info.recipients[info.n_recipients++], VJ_POST_NAME_MAX + 1, "%s", r1);
    if (r2 != NULL)
        snprintf(info.recipients[info.n_recipients++], VJ_POST_NAME_MAX + 1, "%s", r2);
    return info;
}

/* Envelope bytes that differ per id, so a mix-up shows. */
static void make_env(uint8_t *buf, size_t len, unsigned id)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(id * 13u + i);
}

static void put_env(vj_store *st, const vj_envelope_info *info, unsigned id)
{
    uint8_t env[100];
    make_env(env, sizeof env, id);
    assert_int_equal(vj_store_put_envelope(st, info, env, sizeof env, "gt-washington", 1000),
                     VJ_OK);
}

static int held(vj_store *st, unsigned id)
{
    uint8_t m[VJ_MSG_ID_LEN];
    int h = -1;
    make_id(m, id);
    assert_int_equal(vj_store_has_envelope(st, m, &h), VJ_OK);
    return h;
}

static mode_t file_mode(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        fail_msg("stat %s: %s", path, strerror(errno));
    return sb.st_mode & 0777;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* Runs one SQL statement on a separate raw connection; returns the first
 * column of the first row as an integer (or -1). */
static int64_t raw_int(const char *db, const char *sql)
{
    sqlite3 *c = NULL;
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    assert_int_equal(sqlite3_open_v2(db, &c, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(c, sql, -1, &s, NULL), SQLITE_OK);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    else
        assert_int_equal(rc, SQLITE_DONE);
    sqlite3_finalize(s);
    sqlite3_close(c);
    return v;
}

static void raw_exec(const char *db, const char *sql)
{
    sqlite3 *c = NULL;
    assert_int_equal(sqlite3_open_v2(db, &c, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(c, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(c);
}

/* A CaseUpdate, serialized. */
static uint8_t *make_update(const char *case_id, uint64_t lamport, const char *note, size_t *len)
{
    Valija__CaseUpdate u = VALIJA__CASE_UPDATE__INIT;
    u.version = 1;
    u.case_id = (char *)case_id;
    u.kind = VALIJA__UPDATE_KIND__KIND_NOTE;
    u.lamport = lamport;
    u.note = (char *)note;
    uint8_t *buf = NULL;
    assert_int_equal(vj_codec_pack(&u.base, &buf, len), VJ_OK);
    return buf;
}

/* ----------------------------------------------------- files and settings */

static void test_files_are_private(void **state)
{
    fixture *f = *state;
    mode_t old = umask(0); /* the store must not rely on the caller's umask */
    open_store(f);
    umask(old);
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    vj_envelope_info info = make_info("gt-washington", 1, 1, "mx-washington", NULL);
    put_env(f->st, &info, 1);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);

    char side[PATH_MAX + 8];
    assert_int_equal(file_mode(f->db), 0600);
    snprintf(side, sizeof side, "%s-wal", f->db);
    assert_int_equal(file_mode(side), 0600);
    snprintf(side, sizeof side, "%s-shm", f->db);
    assert_int_equal(file_mode(side), 0600);
}

static void test_loose_db_refused(void **state)
{
    fixture *f = *state;
    static const mode_t loose[] = {0644, 0640, 0604, 0660, 0602};
    open_store(f);
    vj_store_close(&f->st);
    for (size_t i = 0; i < sizeof loose / sizeof loose[0]; i++) {
        assert_int_equal(chmod(f->db, loose[i]), 0);
        vj_diag diag = {{0}};
        vj_store *st = (vj_store *)&diag; /* must be reset to NULL on failure */
        assert_int_equal(vj_store_open(f->db, &st, &diag), VJ_E_PERM);
        assert_null(st);
        assert_non_null(strstr(diag.text, "chmod 600"));
        /* refused, not "fixed": the mode is left as the operator set it */
        assert_int_equal(file_mode(f->db), loose[i]);
    }
    assert_int_equal(chmod(f->db, 0600), 0);
    open_store(f);
}

static void test_loose_wal_refused(void **state)
{
    fixture *f = *state;
    open_store(f);
    vj_store_close(&f->st);
    char wal[PATH_MAX + 8];
    snprintf(wal, sizeof wal, "%s-wal", f->db);
    write_file(wal, "", 0, 0644);
    vj_diag diag = {{0}};
    vj_store *st = NULL;
    assert_int_equal(vj_store_open(f->db, &st, &diag), VJ_E_PERM);
    assert_null(st);
    assert_non_null(strstr(diag.text, "-wal"));
}

static void test_symlink_refused(void **state)
{
    fixture *f = *state;
    char target[PATH_MAX + 16];
    snprintf(target, sizeof target, "%s/elsewhere", f->dir);
    write_file(target, "keep me", 7, 0600);
    assert_int_equal(symlink(target, f->db), 0);
    vj_diag diag = {{0}};
    vj_store *st = NULL;
    assert_int_equal(vj_store_open(f->db, &st, &diag), VJ_E_PERM);
    assert_null(st);
    assert_int_equal(file_mode(target), 0600);
    char buf[16] = {0};
    int fd = open(target, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, buf, sizeof buf), 7);
    close(fd);
    assert_string_equal(buf, "keep me");
}

static void test_garbage_file_refused_untouched(void **state)
{
    fixture *f = *state;
    uint8_t junk[8192];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 151u + 7u);
    write_file(f->db, junk, sizeof junk, 0600);
    vj_diag diag = {{0}};
    vj_store *st = NULL;
    assert_int_equal(vj_store_open(f->db, &st, &diag), VJ_E_STORE);
    assert_null(st);
    assert_true(strlen(diag.text) > 0);
    uint8_t back[sizeof junk + 1];
    int fd = open(f->db, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, back, sizeof back), (ssize_t)sizeof junk);
    close(fd);
    assert_memory_equal(back, junk, sizeof junk);
}

static void test_foreign_sqlite_db_refused(void **state)
{
    fixture *f = *state;
    write_file(f->db, "", 0, 0600);
    raw_exec(f->db, "CREATE TABLE payroll (name TEXT); INSERT INTO payroll VALUES ('x');");
    vj_diag diag = {{0}};
    vj_store *st = NULL;
    assert_int_equal(vj_store_open(f->db, &st, &diag), VJ_E_VERSION);
    assert_null(st);
    assert_non_null(strstr(diag.text, "not a valija store"));
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM payroll"), 1);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_schema"), 1);
}

static void test_open_bad_arguments(void **state)
{
    fixture *f = *state;
    vj_diag diag = {{0}};
    vj_store *st = NULL;
    assert_int_equal(vj_store_open(NULL, &st, &diag), VJ_E_INVAL);
    assert_int_equal(vj_store_open("", &st, &diag), VJ_E_INVAL);
    assert_int_equal(vj_store_open(f->db, NULL, &diag), VJ_E_INVAL);
    char missing[PATH_MAX + 32];
    snprintf(missing, sizeof missing, "%s/no-such-dir/post.db", f->dir);
    assert_int_equal(vj_store_open(missing, &st, &diag), VJ_E_IO);
    assert_null(st);
    assert_non_null(strstr(diag.text, "no-such-dir"));
    /* a NULL diag is allowed */
    assert_int_equal(vj_store_open(missing, &st, NULL), VJ_E_IO);
    vj_store_close(NULL);
    vj_store_close(&st);
}

static void test_settings_in_force(void **state)
{
    fixture *f = *state;
    open_store(f);
    vj_store_settings s;
    assert_int_equal(vj_store_get_settings(f->st, &s), VJ_OK);
    assert_string_equal(s.journal_mode, "wal");
    assert_int_equal(s.synchronous, 2); /* FULL */
    assert_int_equal(s.secure_delete, 1);
    assert_int_equal(s.foreign_keys, 1);
    assert_int_equal(s.user_version, vj_store_schema_version());
    /* the database itself says WAL, for every later connection too */
    assert_int_equal(raw_int(f->db, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
    /* foreign keys really are enforced: an outbox item for no message */
    uint8_t m[VJ_MSG_ID_LEN];
    make_id(m, 99);
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(vj_store_outbox_add(f->st, m, "sv-washington", 0), VJ_E_NOTFOUND);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    uint64_t backlog = 9;
    assert_int_equal(vj_store_outbox_backlog(f->st, "sv-washington", &backlog), VJ_OK);
    assert_int_equal(backlog, 0);
}

/* -------------------------------------------------------------- migrations */

static void test_migrates_empty_v0(void **state)
{
    fixture *f = *state;
    /* an SQLite database at version 0 with nothing in it */
    write_file(f->db, "", 0, 0600);
    raw_exec(f->db, "PRAGMA user_version = 0; VACUUM;");
    open_store(f);
    vj_store_close(&f->st);
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), vj_store_schema_version());
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_schema WHERE name IN"
                                    " ('meta', 'envelopes', 'outbox', 'events', 'cases')"),
                     5);
    /* an empty (zero-byte) file is version 0 too */
    unlink(f->db);
    write_file(f->db, "", 0, 0600);
    open_store(f);
    vj_store_close(&f->st);
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), vj_store_schema_version());
}

static void test_reopen_is_noop(void **state)
{
    fixture *f = *state;
    open_store(f);
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    vj_envelope_info info = make_info("gt-washington", 1, 1, "mx-washington", NULL);
    put_env(f->st, &info, 1);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    vj_store_close(&f->st);
    int64_t objects = raw_int(f->db, "SELECT count(*) FROM sqlite_schema");
    int64_t schema_cookie = raw_int(f->db, "PRAGMA schema_version");

    open_store(f);
    assert_int_equal(held(f->st, 1), 1);
    vj_store_close(&f->st);
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), vj_store_schema_version());
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_schema"), objects);
    /* no DDL ran: the schema cookie did not move */
    assert_int_equal(raw_int(f->db, "PRAGMA schema_version"), schema_cookie);
}

static void test_newer_version_refused(void **state)
{
    fixture *f = *state;
    open_store(f);
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    vj_envelope_info info = make_info("gt-washington", 1, 1, "mx-washington", NULL);
    put_env(f->st, &info, 1);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    vj_store_close(&f->st);

    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", vj_store_schema_version() + 1);
    raw_exec(f->db, sql);
    vj_diag diag = {{0}};
    vj_store *st = NULL;
    assert_int_equal(vj_store_open(f->db, &st, &diag), VJ_E_VERSION);
    assert_null(st);
    assert_non_null(strstr(diag.text, "newer than this build"));
    /* nothing re-created, nothing lost */
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), vj_store_schema_version() + 1);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM envelopes"), 1);
}

static void test_wrong_application_id_refused(void **state)
{
    fixture *f = *state;
    open_store(f);
    vj_store_close(&f->st);
    raw_exec(f->db, "PRAGMA application_id = 12345");
    vj_diag diag = {{0}};
    vj_store *st = NULL;
    assert_int_equal(vj_store_open(f->db, &st, &diag), VJ_E_VERSION);
    assert_null(st);
    assert_non_null(strstr(diag.text, "not a valija store"));
}

/* --------------------------------------------------------------- envelopes */

static void test_envelope_round_trip(void **state)
{
    fixture *f = *state;
    open_store(f);
    uint8_t env[3000];
    make_env(env, sizeof env, 7);
    vj_envelope_info info = make_info("gt-washington", 1, 7, "mx-washington", "sv-washington");
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(vj_store_put_envelope(f->st, &info, env, sizeof env, "gt-washington", 5),
                     VJ_OK);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    reopen_store(f);

    assert_int_equal(held(f->st, 7), 1);
    assert_int_equal(held(f->st, 8), 0);
    uint8_t *back = NULL;
    size_t back_len = 0;
    assert_int_equal(vj_store_get_envelope(f->st, info.msg_id, &back, &back_len), VJ_OK);
    assert_int_equal(back_len, sizeof env);
    assert_memory_equal(back, env, sizeof env);
    free(back);

    uint8_t other[VJ_MSG_ID_LEN];
    make_id(other, 8);
    back = (uint8_t *)env;
    assert_int_equal(vj_store_get_envelope(f->st, other, &back, &back_len), VJ_E_NOTFOUND);
    assert_null(back);
    assert_int_equal(back_len, 0);
}

static void test_replays_refused_nothing_changes(void **state)
{
    fixture *f = *state;
    open_store(f);
    vj_envelope_info a = make_info("gt-washington", 1, 1, "mx-washington", NULL);
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    put_env(f->st, &a, 1);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);

    uint8_t env[100];
    make_env(env, sizeof env, 2);
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    /* same msg_id, new (origin, seq) */
    vj_envelope_info dup_id = make_info("gt-washington", 2, 1, "mx-washington", NULL);
    assert_int_equal(vj_store_put_envelope(f->st, &dup_id, env, sizeof env, "gt-washington", 1),
                     VJ_E_REPLAY);
    /* same msg_id, other origin */
    vj_envelope_info dup_id2 = make_info("hn-washington", 1, 1, "mx-washington", NULL);
    assert_int_equal(vj_store_put_envelope(f->st, &dup_id2, env, sizeof env, "gt-washington", 1),
                     VJ_E_REPLAY);
    /* same (origin, seq), new msg_id */
    vj_envelope_info dup_seq = make_info("gt-washington", 1, 2, "sv-washington", NULL);
    assert_int_equal(vj_store_put_envelope(f->st, &dup_seq, env, sizeof env, "gt-washington", 1),
                     VJ_E_REPLAY);
    /* the transaction is still good for other writes */
    vj_envelope_info c = make_info("gt-washington", 2, 3, "mx-washington", NULL);
    put_env(f->st, &c, 3);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    reopen_store(f);

    assert_int_equal(held(f->st, 1), 1);
    assert_int_equal(held(f->st, 2), 0);
    assert_int_equal(held(f->st, 3), 1);
    uint8_t *back = NULL;
    size_t len = 0;
    assert_int_equal(vj_store_get_envelope(f->st, a.msg_id, &back, &len), VJ_OK);
    make_env(env, sizeof env, 1);
    assert_int_equal(len, sizeof env);
    assert_memory_equal(back, env, sizeof env);
    free(back);
    /* hn-washington never got a mark, sv-washington no catch-up entry */
    vj_origin_mark *marks = NULL;
    size_t n = 0;
    assert_int_equal(vj_store_origin_marks(f->st, &marks, &n), VJ_OK);
    assert_int_equal(n, 1);
    assert_string_equal(marks[0].origin, "gt-washington");
    assert_int_equal(marks[0].seq, 2);
    free(marks);
    uint8_t ids[4 * VJ_MSG_ID_LEN];
    assert_int_equal(vj_store_catch_up(f->st, "sv-washington", "gt-washington", 0, 4, ids, &n),
                     VJ_OK);
    assert_int_equal(n, 0);
}

static void test_invalid_envelopes_refused(void **state)
{
    fixture *f = *state;
    open_store(f);
    uint8_t env[10] = {1};
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    vj_envelope_info good = make_info("gt-washington", 1, 1, "mx-washington", NULL);
    vj_envelope_info bad;

    bad = good;
    snprintf(bad.origin, sizeof bad.origin, "GT Washington");
    assert_int_equal(vj_store_put_envelope(f->st, &bad, env, sizeof env, "gt-washington", 1),
                     VJ_E_INVAL);
    bad = good;
    memset(bad.origin, 'a', sizeof bad.origin); /* no terminating NUL */
    assert_int_equal(vj_store_put_envelope(f->st, &bad, env, sizeof env, "gt-washington", 1),
                     VJ_E_INVAL);
    bad = good;
    bad.origin_seq = 0;
    assert_int_equal(vj_store_put_envelope(f->st, &bad, env, sizeof env, "gt-washington", 1),
                     VJ_E_INVAL);
    bad = good;
    bad.origin_seq = (uint64_t)INT64_MAX + 1;
    assert_int_equal(vj_store_put_envelope(f->st, &bad, env, sizeof env, "gt-washington", 1),
                     VJ_E_INVAL);
    bad = good;
    bad.n_recipients = VJ_MAX_RECIPIENTS + 1;
    assert_int_equal(vj_store_put_envelope(f->st, &bad, env, sizeof env, "gt-washington", 1),
                     VJ_E_INVAL);
    bad = good;
    snprintf(bad.recipients[0], sizeof bad.recipients[0], "-bad");
    assert_int_equal(vj_store_put_envelope(f->st, &bad, env, sizeof env, "gt-washington", 1),
                     VJ_E_INVAL);
    bad = make_info("gt-washington", 1, 1, "mx-washington", "mx-washington");
    assert_int_equal(vj_store_put_envelope(f->st, &bad, env, sizeof env, "gt-washington", 1),
                     VJ_E_INVAL);
    assert_int_equal(vj_store_put_envelope(f->st, &good, NULL, 10, "gt-washington", 1), VJ_E_INVAL);
    assert_int_equal(vj_store_put_envelope(f->st, &good, env, 0, "gt-washington", 1), VJ_E_INVAL);
    assert_int_equal(vj_store_put_envelope(f->st, NULL, env, sizeof env, "gt-washington", 1),
                     VJ_E_INVAL);
    assert_int_equal(vj_store_put_envelope(f->st, &good, env, sizeof env, "evil/peer", 1),
                     VJ_E_INVAL);
    assert_int_equal(vj_store_put_envelope(f->st, &good, env, sizeof env, NULL, 1), VJ_E_INVAL);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    assert_int_equal(held(f->st, 1), 0);
    int h = 0;
    assert_int_equal(vj_store_has_envelope(f->st, NULL, &h), VJ_E_INVAL);
    assert_int_equal(vj_store_has_envelope(NULL, good.msg_id, &h), VJ_E_INVAL);
}

/* ------------------------------------------------------------ transactions */

static void test_writes_outside_transaction_refused(void **state)
{
    fixture *f = *state;
    open_store(f);
    vj_store *st = f->st;
    uint8_t env[10] = {1};
    uint64_t v = 0;
    vj_envelope_info info = make_info("gt-washington", 1, 1, "mx-washington", NULL);
    assert_int_equal(vj_store_put_envelope(st, &info, env, sizeof env, "gt-washington", 1),
                     VJ_E_INVAL);
    assert_non_null(strstr(vj_store_last_error(st), "outside a transaction"));
    assert_int_equal(vj_store_next_origin_seq(st, &v), VJ_E_INVAL);
    assert_int_equal(vj_store_lamport_tick(st, &v), VJ_E_INVAL);
    assert_int_equal(vj_store_lamport_observe(st, 5), VJ_E_INVAL);
    assert_int_equal(vj_store_outbox_add(st, info.msg_id, "sv-washington", 0), VJ_E_INVAL);
    assert_int_equal(vj_store_outbox_attempted(st, info.msg_id, "sv-washington", 0), VJ_E_INVAL);
    assert_int_equal(vj_store_outbox_reset_due(st, "sv-washington", 0), VJ_E_INVAL);
    assert_int_equal(
        vj_store_outbox_delivered(st, info.msg_id, "sv-washington", NULL, 0, NULL, 0, 0),
        VJ_E_INVAL);
    vj_store_event ev = {.info = &info,
                         .case_id = "MX-1",
                         .lamport = 1,
                         .update = env,
                         .update_len = 1,
                         .verified = 1,
                         .applied = 1};
    assert_int_equal(vj_store_put_event(st, &ev), VJ_E_INVAL);
    Valija__CaseState cs = VALIJA__CASE_STATE__INIT;
    cs.case_id = "MX-1";
    assert_int_equal(vj_store_put_case(st, &cs), VJ_E_INVAL);
    assert_int_equal(vj_store_commit(st), VJ_E_INVAL);
    vj_store_rollback(st); /* harmless */
    vj_store_rollback(NULL);

    assert_int_equal(vj_store_begin(st), VJ_OK);
    assert_int_equal(vj_store_begin(st), VJ_E_INVAL);
    assert_int_equal(vj_store_commit(st), VJ_OK);
    /* after commit, writes are refused again */
    assert_int_equal(vj_store_next_origin_seq(st, &v), VJ_E_INVAL);
    assert_int_equal(held(st, 1), 0);
    uint64_t seq = 9, lamport = 9;
    assert_int_equal(vj_store_counters(st, &seq, &lamport), VJ_OK);
    assert_int_equal(seq, 0);
    assert_int_equal(lamport, 0);
}

static void test_rollback_leaves_nothing(void **state)
{
    fixture *f = *state;
    open_store(f);
    uint64_t v = 0;
    vj_envelope_info info = make_info("mx-washington", 1, 1, "sv-washington", NULL);
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(vj_store_next_origin_seq(f->st, &v), VJ_OK);
    assert_int_equal(vj_store_lamport_tick(f->st, &v), VJ_OK);
    put_env(f->st, &info, 1);
    assert_int_equal(vj_store_outbox_add(f->st, info.msg_id, "sv-washington", 0), VJ_OK);
    Valija__CaseState cs = VALIJA__CASE_STATE__INIT;
    cs.case_id = "MX-1";
    assert_int_equal(vj_store_put_case(f->st, &cs), VJ_OK);
    vj_store_rollback(f->st);
    reopen_store(f);

    assert_int_equal(held(f->st, 1), 0);
    uint64_t backlog = 9, seq = 9, lamport = 9;
    assert_int_equal(vj_store_outbox_backlog(f->st, "sv-washington", &backlog), VJ_OK);
    assert_int_equal(backlog, 0);
    Valija__CaseState *got = NULL;
    assert_int_equal(vj_store_get_case(f->st, "MX-1", &got), VJ_E_NOTFOUND);
    assert_null(got);
    assert_int_equal(vj_store_counters(f->st, &seq, &lamport), VJ_OK);
    assert_int_equal(seq, 0);
    assert_int_equal(lamport, 0);
    vj_origin_mark *marks = NULL;
    size_t n = 9;
    assert_int_equal(vj_store_origin_marks(f->st, &marks, &n), VJ_OK);
    assert_int_equal(n, 0);
    free(marks);
}

/* --------------------------------------------------------------- counters */

static void test_counters_persist_and_increase(void **state)
{
    fixture *f = *state;
    open_store(f);
    uint64_t v = 0;
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    for (uint64_t want = 1; want <= 3; want++) {
        assert_int_equal(vj_store_next_origin_seq(f->st, &v), VJ_OK);
        assert_int_equal(v, want);
    }
    assert_int_equal(vj_store_lamport_tick(f->st, &v), VJ_OK);
    assert_int_equal(v, 1);
    assert_int_equal(vj_store_lamport_observe(f->st, 100), VJ_OK);
    assert_int_equal(vj_store_lamport_observe(f->st, 50), VJ_OK); /* never lowers */
    assert_int_equal(vj_store_lamport_tick(f->st, &v), VJ_OK);
    assert_int_equal(v, 101);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    reopen_store(f);

    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(vj_store_next_origin_seq(f->st, &v), VJ_OK);
    assert_int_equal(v, 4);
    assert_int_equal(vj_store_lamport_tick(f->st, &v), VJ_OK);
    assert_int_equal(v, 102);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
}

/* A new update takes both counters in one write; seq_observe only raises. */
static void test_next_counters_and_seq_observe(void **state)
{
    fixture *f = *state;
    open_store(f);
    uint64_t seq = 0, lamport = 0;
    assert_int_equal(vj_store_next_counters(f->st, &seq, &lamport), VJ_E_INVAL); /* no tx */
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(vj_store_next_counters(f->st, &seq, &lamport), VJ_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(lamport, 1);
    assert_int_equal(vj_store_lamport_observe(f->st, 40), VJ_OK);
    assert_int_equal(vj_store_origin_seq_observe(f->st, 9), VJ_OK);
    assert_int_equal(vj_store_origin_seq_observe(f->st, 3), VJ_OK); /* never lowers */
    assert_int_equal(vj_store_next_counters(f->st, &seq, &lamport), VJ_OK);
    assert_int_equal(seq, 10);
    assert_int_equal(lamport, 41);
    assert_int_equal(vj_store_origin_seq_observe(f->st, (uint64_t)INT64_MAX + 1), VJ_E_INVAL);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    reopen_store(f);
    assert_int_equal(vj_store_counters(f->st, &seq, &lamport), VJ_OK);
    assert_int_equal(seq, 10);
    assert_int_equal(lamport, 41);
}

static void test_lamport_out_of_range(void **state)
{
    fixture *f = *state;
    open_store(f);
    uint64_t v = 0;
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(vj_store_lamport_observe(f->st, (uint64_t)INT64_MAX + 1), VJ_E_INVAL);
    assert_int_equal(vj_store_lamport_observe(f->st, UINT64_MAX), VJ_E_INVAL);
    assert_int_equal(vj_store_lamport_observe(f->st, (uint64_t)INT64_MAX), VJ_OK);
    /* the clock cannot wrap: exhausted, not negative */
    assert_int_equal(vj_store_lamport_tick(f->st, &v), VJ_E_TOOBIG);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    uint64_t seq = 0, lamport = 0;
    assert_int_equal(vj_store_counters(f->st, &seq, &lamport), VJ_OK);
    assert_int_equal(lamport, (uint64_t)INT64_MAX);
    assert_int_equal(vj_store_next_origin_seq(f->st, NULL), VJ_E_INVAL);
}

static void test_origin_marks(void **state)
{
    fixture *f = *state;
    open_store(f);
    static const struct {
        const char *origin;
        uint64_t seq;
    } in[] = {{"sv-washington", 3}, {"gt-washington", 5}, {"sv-washington", 1},
              {"gt-washington", 2}, {"sv-washington", 7}, {"hn-washington", 1}};
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    for (unsigned i = 0; i < sizeof in / sizeof in[0]; i++) {
        vj_envelope_info info = make_info(in[i].origin, in[i].seq, i + 1, "mx-washington", NULL);
        put_env(f->st, &info, i + 1);
    }
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    reopen_store(f);
    vj_origin_mark *m = NULL;
    size_t n = 0;
    assert_int_equal(vj_store_origin_marks(f->st, &m, &n), VJ_OK);
    assert_int_equal(n, 3);
    assert_string_equal(m[0].origin, "gt-washington");
    assert_int_equal(m[0].seq, 5);
    assert_string_equal(m[1].origin, "hn-washington");
    assert_int_equal(m[1].seq, 1);
    assert_string_equal(m[2].origin, "sv-washington");
    assert_int_equal(m[2].seq, 7);
    free(m);
}

static void test_catch_up(void **state)
{
    fixture *f = *state;
    open_store(f);
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    /* gt-washington 1..6: odd ones to sv and mx, even ones to mx only;
     * inserted out of order */
    static const unsigned order[] = {4, 1, 6, 3, 2, 5};
    for (unsigned i = 0; i < 6; i++) {
        unsigned s = order[i];
        vj_envelope_info info =
            make_info("gt-washington", s, s, "mx-washington", (s % 2) ? "sv-washington" : NULL);
        put_env(f->st, &info, s);
    }
    assert_int_equal(vj_store_commit(f->st), VJ_OK);

    uint8_t ids[8 * VJ_MSG_ID_LEN], want[VJ_MSG_ID_LEN];
    size_t n = 0;
    assert_int_equal(vj_store_catch_up(f->st, "sv-washington", "gt-washington", 1, 8, ids, &n),
                     VJ_OK);
    assert_int_equal(n, 2);
    make_id(want, 3);
    assert_memory_equal(ids, want, VJ_MSG_ID_LEN);
    make_id(want, 5);
    assert_memory_equal(ids + VJ_MSG_ID_LEN, want, VJ_MSG_ID_LEN);
    /* max is respected, in origin_seq order */
    assert_int_equal(vj_store_catch_up(f->st, "mx-washington", "gt-washington", 2, 2, ids, &n),
                     VJ_OK);
    assert_int_equal(n, 2);
    make_id(want, 3);
    assert_memory_equal(ids, want, VJ_MSG_ID_LEN);
    make_id(want, 4);
    assert_memory_equal(ids + VJ_MSG_ID_LEN, want, VJ_MSG_ID_LEN);
    assert_int_equal(vj_store_catch_up(f->st, "hn-washington", "gt-washington", 0, 8, ids, &n),
                     VJ_OK);
    assert_int_equal(n, 0);
    assert_int_equal(vj_store_catch_up(f->st, "Bad Name", "gt-washington", 0, 8, ids, &n),
                     VJ_E_INVAL);
    assert_int_equal(
        vj_store_catch_up(f->st, "sv-washington", "gt-washington", UINT64_MAX, 8, ids, &n),
        VJ_E_INVAL);
}

/* ------------------------------------------------------------------ outbox */

/* Three own messages (ids 1..3) queued for sv-washington at due 100, 300,
 * 200, and id 1 for hn-washington too. */
static void fill_outbox(fixture *f)
{
    static const int64_t due[] = {100, 300, 200};
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    for (unsigned i = 1; i <= 3; i++) {
        vj_envelope_info info =
            make_info("mx-washington", i, i, "sv-washington", i == 1 ? "hn-washington" : NULL);
        put_env(f->st, &info, i);
        assert_int_equal(vj_store_outbox_add(f->st, info.msg_id, "sv-washington", due[i - 1]),
                         VJ_OK);
        if (i == 1)
            assert_int_equal(vj_store_outbox_add(f->st, info.msg_id, "hn-washington", 100), VJ_OK);
    }
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
}

static void expect_ids(const uint8_t *ids, size_t n, const unsigned *want, size_t nwant)
{
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++) {
        uint8_t w[VJ_MSG_ID_LEN];
        make_id(w, want[i]);
        assert_memory_equal(ids + i * VJ_MSG_ID_LEN, w, VJ_MSG_ID_LEN);
    }
}

static void test_outbox_due_order_and_max(void **state)
{
    fixture *f = *state;
    open_store(f);
    fill_outbox(f);
    reopen_store(f);
    uint8_t ids[8 * VJ_MSG_ID_LEN];
    size_t n = 9;

    assert_int_equal(vj_store_outbox_due(f->st, "sv-washington", 99, 8, ids, &n), VJ_OK);
    assert_int_equal(n, 0);
    assert_int_equal(vj_store_outbox_due(f->st, "sv-washington", 250, 8, ids, &n), VJ_OK);
    expect_ids(ids, n, (const unsigned[]){1, 3}, 2);
    assert_int_equal(vj_store_outbox_due(f->st, "sv-washington", 1000, 8, ids, &n), VJ_OK);
    expect_ids(ids, n, (const unsigned[]){1, 3, 2}, 3);
    assert_int_equal(vj_store_outbox_due(f->st, "sv-washington", 1000, 2, ids, &n), VJ_OK);
    expect_ids(ids, n, (const unsigned[]){1, 3}, 2);
    assert_int_equal(vj_store_outbox_due(f->st, "sv-washington", 1000, 0, ids, &n), VJ_OK);
    assert_int_equal(n, 0);
    assert_int_equal(vj_store_outbox_due(f->st, "hn-washington", 1000, 8, ids, &n), VJ_OK);
    expect_ids(ids, n, (const unsigned[]){1}, 1);
    assert_int_equal(vj_store_outbox_due(f->st, "gt-washington", 1000, 8, ids, &n), VJ_OK);
    assert_int_equal(n, 0);
    assert_int_equal(vj_store_outbox_due(f->st, "not valid!", 1000, 8, ids, &n), VJ_E_INVAL);
    assert_int_equal(vj_store_outbox_due(f->st, "sv-washington", 1000, 8, NULL, &n), VJ_E_INVAL);
}

static void test_outbox_attempts_and_reset(void **state)
{
    fixture *f = *state;
    open_store(f);
    fill_outbox(f);
    uint8_t ids[8 * VJ_MSG_ID_LEN], m1[VJ_MSG_ID_LEN], m9[VJ_MSG_ID_LEN];
    size_t n = 0;
    int64_t next = 0;
    make_id(m1, 1);
    make_id(m9, 9);

    assert_int_equal(vj_store_outbox_next_due(f->st, "sv-washington", &next), VJ_OK);
    assert_int_equal(next, 100);
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(vj_store_outbox_attempted(f->st, m1, "sv-washington", 5000), VJ_OK);
    assert_int_equal(vj_store_outbox_attempted(f->st, m9, "sv-washington", 5000), VJ_E_NOTFOUND);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    assert_int_equal(vj_store_outbox_next_due(f->st, "sv-washington", &next), VJ_OK);
    assert_int_equal(next, 200);
    assert_int_equal(vj_store_outbox_due(f->st, "sv-washington", 1000, 8, ids, &n), VJ_OK);
    expect_ids(ids, n, (const unsigned[]){3, 2}, 2);
    /* the other recipient's copy is independent */
    assert_int_equal(vj_store_outbox_due(f->st, "hn-washington", 1000, 8, ids, &n), VJ_OK);
    expect_ids(ids, n, (const unsigned[]){1}, 1);

    /* on reconnect every undelivered item is due now, in queue order */
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(vj_store_outbox_reset_due(f->st, "sv-washington", 150), VJ_OK);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    assert_int_equal(vj_store_outbox_due(f->st, "sv-washington", 150, 8, ids, &n), VJ_OK);
    expect_ids(ids, n, (const unsigned[]){1, 2, 3}, 3);
    assert_int_equal(vj_store_outbox_next_due(f->st, "sv-washington", &next), VJ_OK);
    assert_int_equal(next, 150);

    Valija__DeliveryReply *d = NULL;
    assert_int_equal(vj_store_delivery(f->st, m1, &d), VJ_OK);
    assert_int_equal(d->n_recipients, 2);
    assert_string_equal(d->recipients[1]->post, "sv-washington");
    assert_int_equal(d->recipients[1]->attempts, 1);
    assert_int_equal(d->recipients[0]->attempts, 0);
    vj_codec_free(&d->base);
}

static void test_outbox_delivered_keeps_receipt(void **state)
{
    fixture *f = *state;
    open_store(f);
    fill_outbox(f);
    uint8_t m1[VJ_MSG_ID_LEN], m9[VJ_MSG_ID_LEN], ids[8 * VJ_MSG_ID_LEN];
    make_id(m1, 1);
    make_id(m9, 9);
    const uint8_t body[] = "receipt body bytes", sig[64] = {0x5a, 0x01};
    const uint8_t body2[] = "a later receipt";
    uint64_t backlog = 0;
    size_t n = 0;

    assert_int_equal(vj_store_outbox_backlog(f->st, "sv-washington", &backlog), VJ_OK);
    assert_int_equal(backlog, 3);
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(vj_store_outbox_delivered(f->st, m1, "sv-washington", body, sizeof body, sig,
                                               sizeof sig, 4242),
                     VJ_OK);
    /* a second receipt does not replace the first (the evidence) */
    assert_int_equal(vj_store_outbox_delivered(f->st, m1, "sv-washington", body2, sizeof body2, sig,
                                               sizeof sig, 9999),
                     VJ_OK);
    /* unknown pairs are ignored */
    assert_int_equal(vj_store_outbox_delivered(f->st, m9, "sv-washington", body, sizeof body, sig,
                                               sizeof sig, 1),
                     VJ_OK);
    assert_int_equal(vj_store_outbox_delivered(f->st, m1, "gt-washington", body, sizeof body, sig,
                                               sizeof sig, 1),
                     VJ_OK);
    /* an attempt recorded after delivery changes nothing */
    assert_int_equal(vj_store_outbox_attempted(f->st, m1, "sv-washington", 1), VJ_OK);
    assert_int_equal(
        vj_store_outbox_delivered(f->st, m1, "sv-washington", NULL, 5, sig, sizeof sig, 1),
        VJ_E_INVAL);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    reopen_store(f);

    assert_int_equal(vj_store_outbox_backlog(f->st, "sv-washington", &backlog), VJ_OK);
    assert_int_equal(backlog, 2);
    assert_int_equal(vj_store_outbox_backlog(f->st, "hn-washington", &backlog), VJ_OK);
    assert_int_equal(backlog, 1);
    assert_int_equal(vj_store_outbox_due(f->st, "sv-washington", 1000, 8, ids, &n), VJ_OK);
    expect_ids(ids, n, (const unsigned[]){3, 2}, 2);

    uint8_t *rb = NULL, *rs = NULL;
    size_t rbl = 0, rsl = 0;
    int64_t rms = 0;
    assert_int_equal(
        vj_store_outbox_receipt(f->st, m1, "sv-washington", &rb, &rbl, &rs, &rsl, &rms), VJ_OK);
    assert_int_equal(rbl, sizeof body);
    assert_memory_equal(rb, body, sizeof body);
    assert_int_equal(rsl, sizeof sig);
    assert_memory_equal(rs, sig, sizeof sig);
    assert_int_equal(rms, 4242);
    free(rb);
    free(rs);
    assert_int_equal(
        vj_store_outbox_receipt(f->st, m1, "hn-washington", &rb, &rbl, &rs, &rsl, &rms),
        VJ_E_NOTFOUND);
    assert_null(rb);

    /* everything delivered: nothing due, next due is "never" */
    uint8_t m2[VJ_MSG_ID_LEN], m3[VJ_MSG_ID_LEN];
    make_id(m2, 2);
    make_id(m3, 3);
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(vj_store_outbox_delivered(f->st, m2, "sv-washington", body, sizeof body, sig,
                                               sizeof sig, 1),
                     VJ_OK);
    assert_int_equal(vj_store_outbox_delivered(f->st, m3, "sv-washington", NULL, 0, NULL, 0, 1),
                     VJ_OK);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    int64_t next = 0;
    assert_int_equal(vj_store_outbox_next_due(f->st, "sv-washington", &next), VJ_OK);
    assert_int_equal(next, INT64_MAX);
    assert_int_equal(vj_store_outbox_backlog(f->st, "sv-washington", &backlog), VJ_OK);
    assert_int_equal(backlog, 0);
}

/* One receipt covers a batch and is stored once; a rolled-back receipt is
 * never referred to afterwards. */
static void test_outbox_batch_receipt_and_rollback(void **state)
{
    fixture *f = *state;
    open_store(f);
    fill_outbox(f);
    uint8_t m1[VJ_MSG_ID_LEN], m2[VJ_MSG_ID_LEN], m3[VJ_MSG_ID_LEN];
    make_id(m1, 1);
    make_id(m2, 2);
    make_id(m3, 3);
    const uint8_t body[] = "one receipt for messages 1, 2 and 3", sig[64] = {0x77};
    const uint8_t other[] = "another receipt", osig[64] = {0x78};

    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(vj_store_outbox_delivered(f->st, m1, "sv-washington", body, sizeof body, sig,
                                               sizeof sig, 10),
                     VJ_OK);
    vj_store_rollback(f->st);
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    for (unsigned i = 0; i < 3; i++) {
        const uint8_t *m = i == 0 ? m2 : i == 1 ? m3 : m1;
        assert_int_equal(vj_store_outbox_delivered(f->st, m, "sv-washington", body, sizeof body,
                                                   sig, sizeof sig, 20),
                         VJ_OK);
    }
    assert_int_equal(vj_store_outbox_delivered(f->st, m1, "hn-washington", other, sizeof other,
                                               osig, sizeof osig, 30),
                     VJ_OK);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    reopen_store(f);

    const uint8_t *ms[3] = {m1, m2, m3};
    for (unsigned i = 0; i < 3; i++) {
        uint8_t *rb = NULL, *rs = NULL;
        size_t rbl = 0, rsl = 0;
        int64_t rms = 0;
        assert_int_equal(
            vj_store_outbox_receipt(f->st, ms[i], "sv-washington", &rb, &rbl, &rs, &rsl, &rms),
            VJ_OK);
        assert_int_equal(rbl, sizeof body);
        assert_memory_equal(rb, body, sizeof body);
        assert_memory_equal(rs, sig, sizeof sig);
        assert_int_equal(rms, 20);
        free(rb);
        free(rs);
    }
    uint8_t *rb = NULL, *rs = NULL;
    size_t rbl = 0, rsl = 0;
    int64_t rms = 0;
    assert_int_equal(
        vj_store_outbox_receipt(f->st, m1, "hn-washington", &rb, &rbl, &rs, &rsl, &rms), VJ_OK);
    assert_memory_equal(rb, other, sizeof other);
    assert_memory_equal(rs, osig, sizeof osig);
    free(rb);
    free(rs);
    vj_store_close(&f->st);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM receipts"), 2);
}

static void test_savepoints(void **state)
{
    fixture *f = *state;
    open_store(f);
    fill_outbox(f);
    uint8_t m1[VJ_MSG_ID_LEN], m2[VJ_MSG_ID_LEN];
    make_id(m1, 1);
    make_id(m2, 2);
    const uint8_t body[] = "receipt", sig[64] = {9};

    assert_int_equal(vj_store_savepoint(f->st), VJ_E_INVAL); /* outside a transaction */
    assert_int_equal(vj_store_release(f->st), VJ_E_INVAL);
    vj_store_rollback_to(f->st); /* harmless */

    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    /* item 1: kept */
    assert_int_equal(vj_store_savepoint(f->st), VJ_OK);
    assert_int_equal(vj_store_savepoint(f->st), VJ_E_INVAL); /* one level only */
    vj_envelope_info a = make_info("gt-washington", 1, 10, "mx-washington", NULL);
    put_env(f->st, &a, 10);
    assert_int_equal(vj_store_release(f->st), VJ_OK);
    /* item 2: undone, with a receipt stored inside it */
    assert_int_equal(vj_store_savepoint(f->st), VJ_OK);
    vj_envelope_info b = make_info("gt-washington", 2, 11, "mx-washington", NULL);
    put_env(f->st, &b, 11);
    assert_int_equal(vj_store_outbox_delivered(f->st, m1, "sv-washington", body, sizeof body, sig,
                                               sizeof sig, 5),
                     VJ_OK);
    vj_store_rollback_to(f->st);
    /* item 3: the same receipt again must be stored anew, not referred to */
    assert_int_equal(vj_store_savepoint(f->st), VJ_OK);
    assert_int_equal(vj_store_outbox_delivered(f->st, m2, "sv-washington", body, sizeof body, sig,
                                               sizeof sig, 6),
                     VJ_OK);
    assert_int_equal(vj_store_release(f->st), VJ_OK);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    reopen_store(f);

    assert_int_equal(held(f->st, 10), 1);
    assert_int_equal(held(f->st, 11), 0);
    uint8_t *rb = NULL, *rs = NULL;
    size_t rbl = 0, rsl = 0;
    int64_t rms = 0;
    assert_int_equal(
        vj_store_outbox_receipt(f->st, m1, "sv-washington", &rb, &rbl, &rs, &rsl, &rms),
        VJ_E_NOTFOUND);
    assert_int_equal(
        vj_store_outbox_receipt(f->st, m2, "sv-washington", &rb, &rbl, &rs, &rsl, &rms), VJ_OK);
    assert_memory_equal(rb, body, sizeof body);
    assert_int_equal(rms, 6);
    free(rb);
    free(rs);
    vj_origin_mark *marks = NULL;
    size_t n = 0;
    assert_int_equal(vj_store_origin_marks(f->st, &marks, &n), VJ_OK);
    assert_int_equal(n, 2);
    assert_string_equal(marks[0].origin, "gt-washington");
    assert_int_equal(marks[0].seq, 1);
    free(marks);

    /* a savepoint left open is part of the transaction: rollback ends both */
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(vj_store_savepoint(f->st), VJ_OK);
    put_env(f->st, &b, 11);
    vj_store_rollback(f->st);
    assert_int_equal(vj_store_release(f->st), VJ_E_INVAL);
    assert_int_equal(held(f->st, 11), 0);
}

static void test_outbox_bad_input(void **state)
{
    fixture *f = *state;
    open_store(f);
    fill_outbox(f);
    uint8_t m1[VJ_MSG_ID_LEN], m9[VJ_MSG_ID_LEN];
    make_id(m1, 1);
    make_id(m9, 9);
    uint64_t backlog = 0;
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(vj_store_outbox_add(f->st, m1, "sv-washington", 0), VJ_E_EXISTS);
    assert_int_equal(vj_store_outbox_add(f->st, m9, "sv-washington", 0), VJ_E_NOTFOUND);
    assert_int_equal(vj_store_outbox_add(f->st, m1, "", 0), VJ_E_INVAL);
    assert_int_equal(vj_store_outbox_add(f->st, m1, "../etc", 0), VJ_E_INVAL);
    assert_int_equal(vj_store_outbox_add(f->st, NULL, "sv-washington", 0), VJ_E_INVAL);
    assert_int_equal(vj_store_outbox_reset_due(f->st, NULL, 0), VJ_E_INVAL);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    assert_int_equal(vj_store_outbox_backlog(f->st, "sv-washington", &backlog), VJ_OK);
    assert_int_equal(backlog, 3);
    assert_int_equal(vj_store_outbox_backlog(f->st, "x y", &backlog), VJ_E_INVAL);
    int64_t next = 0;
    assert_int_equal(vj_store_outbox_next_due(f->st, "", &next), VJ_E_INVAL);
    assert_int_equal(vj_store_outbox_next_due(f->st, "gt-washington", &next), VJ_OK);
    assert_int_equal(next, INT64_MAX);
}

static void test_delivery_report(void **state)
{
    fixture *f = *state;
    open_store(f);
    fill_outbox(f);
    uint8_t m1[VJ_MSG_ID_LEN], m2[VJ_MSG_ID_LEN], m9[VJ_MSG_ID_LEN];
    make_id(m1, 1);
    make_id(m2, 2);
    make_id(m9, 9);
    const uint8_t body[] = "b", sig[64] = {1};
    vj_envelope_info theirs = make_info("gt-washington", 1, 20, "mx-washington", NULL);
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(vj_store_outbox_delivered(f->st, m1, "hn-washington", body, sizeof body, sig,
                                               sizeof sig, 777),
                     VJ_OK);
    put_env(f->st, &theirs, 20);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);

    Valija__DeliveryReply *d = NULL;
    assert_int_equal(vj_store_delivery(f->st, m1, &d), VJ_OK);
    assert_int_equal(d->msg_id.len, VJ_MSG_ID_LEN);
    assert_memory_equal(d->msg_id.data, m1, VJ_MSG_ID_LEN);
    assert_string_equal(d->origin, "mx-washington");
    assert_int_equal(d->n_recipients, 2);
    assert_string_equal(d->recipients[0]->post, "hn-washington");
    assert_true(d->recipients[0]->delivered);
    assert_int_equal(d->recipients[0]->receipt_ms, 777);
    assert_string_equal(d->recipients[1]->post, "sv-washington");
    assert_false(d->recipients[1]->delivered);
    assert_int_equal(d->recipients[1]->receipt_ms, 0);
    vj_codec_free(&d->base);

    assert_int_equal(vj_store_delivery(f->st, m2, &d), VJ_OK);
    assert_int_equal(d->n_recipients, 1);
    vj_codec_free(&d->base);

    /* a message we received: its origin, no recipients of ours */
    assert_int_equal(vj_store_delivery(f->st, theirs.msg_id, &d), VJ_OK);
    assert_string_equal(d->origin, "gt-washington");
    assert_int_equal(d->n_recipients, 0);
    vj_codec_free(&d->base);

    d = (Valija__DeliveryReply *)m9;
    assert_int_equal(vj_store_delivery(f->st, m9, &d), VJ_E_NOTFOUND);
    assert_null(d);
    assert_int_equal(vj_store_delivery(f->st, NULL, &d), VJ_E_INVAL);
}

/* ------------------------------------------------------------------ events */

static void put_event(fixture *f, const char *case_id, const char *origin, uint64_t seq,
                      unsigned id, uint64_t lamport, int applied)
{
    vj_envelope_info info = make_info(origin, seq, id, "mx-washington", NULL);
    put_env(f->st, &info, id);
    char note[32];
    snprintf(note, sizeof note, "note %u", id);
    size_t len = 0;
    uint8_t *u = make_update(case_id, lamport, note, &len);
    vj_store_event ev = {.info = &info,
                         .case_id = case_id,
                         .lamport = lamport,
                         .kind = VALIJA__UPDATE_KIND__KIND_NOTE,
                         .update = u,
                         .update_len = len,
                         .received_ms = 5000 + id,
                         .verified = 1,
                         .applied = applied,
                         .reason = applied ? NULL : "not shared with this post"};
    assert_int_equal(vj_store_put_event(f->st, &ev), VJ_OK);
    free(u);
}

static void test_history_order(void **state)
{
    fixture *f = *state;
    open_store(f);
    /* inserted in an order unrelated to (lamport, origin, msg_id) */
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    put_event(f, "MX-2018-000123", "sv-washington", 1, 0x30, 7, 1);
    put_event(f, "MX-2018-000123", "mx-washington", 1, 0x40, 3, 1);
    put_event(f, "MX-2018-000123", "gt-washington", 1, 0x21, 7, 1);
    put_event(f, "MX-2018-000123", "gt-washington", 2, 0x20, 7, 0);
    put_event(f, "MX-2018-000999", "mx-washington", 2, 0x50, 1, 1);
    put_event(f, "MX-2018-000123", "mx-washington", 3, 0x10, 9, 1);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    reopen_store(f);

    Valija__HistoryEntry **h = NULL;
    size_t n = 0;
    assert_int_equal(vj_store_history(f->st, "MX-2018-000123", &h, &n), VJ_OK);
    assert_int_equal(n, 5);
    static const unsigned want_id[] = {0x40, 0x20, 0x21, 0x30, 0x10};
    static const uint64_t want_lamport[] = {3, 7, 7, 7, 9};
    for (size_t i = 0; i < n; i++) {
        uint8_t w[VJ_MSG_ID_LEN];
        make_id(w, want_id[i]);
        assert_int_equal(h[i]->msg_id.len, VJ_MSG_ID_LEN);
        assert_memory_equal(h[i]->msg_id.data, w, VJ_MSG_ID_LEN);
        assert_int_equal(h[i]->lamport, want_lamport[i]);
        assert_non_null(h[i]->update);
        assert_string_equal(h[i]->update->case_id, "MX-2018-000123");
        char note[32];
        snprintf(note, sizeof note, "note %u", want_id[i]);
        assert_string_equal(h[i]->update->note, note);
        assert_true(h[i]->verified);
        assert_int_equal(h[i]->kind, VALIJA__UPDATE_KIND__KIND_NOTE);
        assert_int_equal(h[i]->received_ms, 5000 + want_id[i]);
    }
    /* the two gt-washington events at lamport 7 are ordered by msg_id */
    assert_string_equal(h[1]->origin, "gt-washington");
    assert_int_equal(h[1]->seq, 2);
    assert_int_equal(h[1]->created_ms, 1700000000000 + 2);
    assert_false(h[1]->applied);
    assert_string_equal(h[1]->rejected_reason, "not shared with this post");
    assert_true(h[2]->applied);
    assert_string_equal(h[2]->rejected_reason, "");
    assert_string_equal(h[3]->origin, "sv-washington");
    vj_store_history_free(h, n);

    assert_int_equal(vj_store_history(f->st, "MX-2018-000999", &h, &n), VJ_OK);
    assert_int_equal(n, 1);
    vj_store_history_free(h, n);
    assert_int_equal(vj_store_history(f->st, "MX-0000-000000", &h, &n), VJ_OK);
    assert_int_equal(n, 0);
    vj_store_history_free(h, n);
    vj_store_history_free(NULL, 0);
    assert_int_equal(vj_store_history(f->st, "bad id;--", &h, &n), VJ_E_INVAL);
    assert_null(h);
}

static void test_event_bad_input(void **state)
{
    fixture *f = *state;
    open_store(f);
    vj_envelope_info info = make_info("gt-washington", 1, 1, "mx-washington", NULL);
    vj_envelope_info unknown = make_info("gt-washington", 2, 2, "mx-washington", NULL);
    uint8_t u[4] = {0x08, 0x01, 0x12, 0x00};
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    put_env(f->st, &info, 1);
    vj_store_event ev = {.info = &info,
                         .case_id = "MX-1",
                         .lamport = 1,
                         .update = u,
                         .update_len = sizeof u,
                         .verified = 1,
                         .applied = 1};
    assert_int_equal(vj_store_put_event(f->st, &ev), VJ_OK);
    assert_int_equal(vj_store_put_event(f->st, &ev), VJ_E_REPLAY);
    vj_store_event bad = ev;
    bad.info = &unknown; /* no such envelope held */
    assert_int_equal(vj_store_put_event(f->st, &bad), VJ_E_NOTFOUND);
    bad = ev;
    bad.case_id = "MX 1";
    assert_int_equal(vj_store_put_event(f->st, &bad), VJ_E_INVAL);
    bad.case_id = NULL;
    assert_int_equal(vj_store_put_event(f->st, &bad), VJ_E_INVAL);
    bad = ev;
    bad.lamport = UINT64_MAX;
    assert_int_equal(vj_store_put_event(f->st, &bad), VJ_E_INVAL);
    bad = ev;
    bad.update = NULL;
    assert_int_equal(vj_store_put_event(f->st, &bad), VJ_E_INVAL);
    bad = ev;
    bad.update_len = (size_t)VJ_ENVELOPE_MAX_DEFAULT + 1;
    assert_int_equal(vj_store_put_event(f->st, &bad), VJ_E_INVAL);
    /* the caller cannot rewrite who wrote the event: origin, seq and
     * creation time come from the envelope held */
    vj_envelope_info lying = info;
    snprintf(lying.origin, sizeof lying.origin, "hn-washington");
    lying.origin_seq = 77;
    lying.created_ms = 5;
    bad = ev;
    bad.info = &lying;
    bad.lamport = 2;
    assert_int_equal(vj_store_put_event(f->st, &bad), VJ_OK);
    bad = ev;
    bad.info = NULL;
    assert_int_equal(vj_store_put_event(f->st, &bad), VJ_E_INVAL);
    assert_int_equal(vj_store_put_event(f->st, NULL), VJ_E_INVAL);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    Valija__HistoryEntry **h = NULL;
    size_t n = 0;
    assert_int_equal(vj_store_history(f->st, "MX-1", &h, &n), VJ_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(h[i]->origin, "gt-washington");
        assert_int_equal(h[i]->seq, 1);
        assert_int_equal(h[i]->created_ms, info.created_ms);
    }
    vj_store_history_free(h, n);
}

static void test_history_update_not_parsing(void **state)
{
    fixture *f = *state;
    open_store(f);
    vj_envelope_info info = make_info("gt-washington", 1, 1, "mx-washington", NULL);
    uint8_t junk[3] = {0xff, 0xff, 0xff};
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    put_env(f->st, &info, 1);
    vj_store_event ev = {.info = &info,
                         .case_id = "MX-1",
                         .lamport = 1,
                         .update = junk,
                         .update_len = sizeof junk,
                         .verified = 1,
                         .applied = 0,
                         .reason = "malformed update"};
    assert_int_equal(vj_store_put_event(f->st, &ev), VJ_OK);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    Valija__HistoryEntry **h = NULL;
    size_t n = 0;
    assert_int_equal(vj_store_history(f->st, "MX-1", &h, &n), VJ_OK);
    assert_int_equal(n, 1);
    assert_null(h[0]->update); /* shown, without content */
    assert_string_equal(h[0]->rejected_reason, "malformed update");
    vj_store_history_free(h, n);
}

/* ------------------------------------------------------------------- cases */

static void put_case(fixture *f, const char *id, const char *status, const char *facility,
                     int64_t updated_ms, int conflicts, const char *share1, const char *share2)
{
    Valija__CaseState cs = VALIJA__CASE_STATE__INIT;
    char *shares[2];
    size_t ns = 0;
    if (share1 != NULL)
        shares[ns++] = (char *)share1;
    if (share2 != NULL)
        shares[ns++] = (char *)share2;
    Valija__ConflictValue v1 = VALIJA__CONFLICT_VALUE__INIT, v2 = VALIJA__CONFLICT_VALUE__INIT;
    v1.value = "A";
    v1.origin = "mx-washington";
    v2.value = "B";
    v2.origin = "sv-washington";
    Valija__ConflictValue *vals[2] = {&v1, &v2};
    Valija__Conflict c = VALIJA__CONFLICT__INIT;
    c.field = "facility";
    c.n_values = 2;
    c.values = vals;
    Valija__Conflict *cp[1] = {&c};
    cs.case_id = (char *)id;
    cs.owner = "mx-washington";
    cs.status = (char *)status;
    cs.facility = (char *)facility;
    cs.updated_ms = updated_ms;
    cs.n_shared_with = ns;
    cs.shared_with = shares;
    if (conflicts) {
        cs.n_conflicts = 1;
        cs.conflicts = cp;
    }
    assert_int_equal(vj_store_put_case(f->st, &cs), VJ_OK);
}

static void test_case_round_trip(void **state)
{
    fixture *f = *state;
    open_store(f);
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    put_case(f, "MX-2018-000123", "detained", "Port Isabel", 1000, 1, "sv-washington",
             "gt-washington");
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    reopen_store(f);

    Valija__CaseState *c = NULL;
    assert_int_equal(vj_store_get_case(f->st, "MX-2018-000123", &c), VJ_OK);
    assert_string_equal(c->case_id, "MX-2018-000123");
    assert_string_equal(c->owner, "mx-washington");
    assert_string_equal(c->status, "detained");
    assert_string_equal(c->facility, "Port Isabel");
    assert_int_equal(c->updated_ms, 1000);
    assert_int_equal(c->n_shared_with, 2);
    assert_string_equal(c->shared_with[1], "gt-washington");
    assert_int_equal(c->n_conflicts, 1);
    assert_string_equal(c->conflicts[0]->values[1]->origin, "sv-washington");
    vj_codec_free(&c->base);

    /* replaced, not appended */
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    put_case(f, "MX-2018-000123", "released", "", 2000, 0, NULL, NULL);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    assert_int_equal(vj_store_get_case(f->st, "MX-2018-000123", &c), VJ_OK);
    assert_string_equal(c->status, "released");
    assert_int_equal(c->n_shared_with, 0);
    assert_int_equal(c->n_conflicts, 0);
    vj_codec_free(&c->base);

    c = (Valija__CaseState *)f;
    assert_int_equal(vj_store_get_case(f->st, "MX-2018-000124", &c), VJ_E_NOTFOUND);
    assert_null(c);
    assert_int_equal(vj_store_get_case(f->st, "' OR 1=1 --", &c), VJ_E_INVAL);
}

static void test_case_bad_input(void **state)
{
    fixture *f = *state;
    open_store(f);
    Valija__CaseState cs = VALIJA__CASE_STATE__INIT;
    char *bad_share[1] = {"Not A Post"};
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(vj_store_put_case(f->st, &cs), VJ_E_INVAL); /* empty case id */
    cs.case_id = "MX-1";
    cs.owner = "no such owner";
    assert_int_equal(vj_store_put_case(f->st, &cs), VJ_E_INVAL);
    cs.owner = "mx-washington";
    cs.n_shared_with = 1;
    cs.shared_with = bad_share;
    assert_int_equal(vj_store_put_case(f->st, &cs), VJ_E_INVAL);
    cs.shared_with = NULL;
    assert_int_equal(vj_store_put_case(f->st, &cs), VJ_E_INVAL);
    assert_int_equal(vj_store_put_case(f->st, NULL), VJ_E_INVAL);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    Valija__CaseState *c = NULL;
    assert_int_equal(vj_store_get_case(f->st, "MX-1", &c), VJ_E_NOTFOUND);
}

static void expect_list(fixture *f, const Valija__ListRequest *req, const char *const *want,
                        size_t nwant)
{
    Valija__CaseState **cases = NULL;
    size_t n = 0;
    int rc = vj_store_list_cases(f->st, req, &cases, &n);
    assert_int_equal(rc, VJ_OK);
    if (n != nwant) {
        for (size_t i = 0; i < n; i++)
            print_message("got %s\n", cases[i]->case_id);
        fail_msg("expected %zu cases, got %zu", nwant, n);
    }
    for (size_t i = 0; i < n; i++)
        assert_string_equal(cases[i]->case_id, want[i]);
    vj_store_cases_free(cases, n);
}

/* Given the state it replaces, put_case_from keeps unchanged share rows
 * and rewrites changed ones; either way the share filter is right. */
static void test_put_case_from(void **state)
{
    fixture *f = *state;
    open_store(f);
    char *two[] = {"gt-washington", "sv-washington"}, *one[] = {"sv-washington"};
    Valija__CaseState a = VALIJA__CASE_STATE__INIT, b = VALIJA__CASE_STATE__INIT;
    a.case_id = b.case_id = "MX-2026-000077";
    a.owner = b.owner = "mx-washington";
    a.status = "detained";
    b.status = "released";
    a.shared_with = b.shared_with = two;
    a.n_shared_with = b.n_shared_with = 2;
    a.updated_ms = 1;
    b.updated_ms = 2;
    Valija__ListRequest req = VALIJA__LIST_REQUEST__INIT;
    req.shared_with = "gt-washington";
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(vj_store_put_case_from(f->st, &a, NULL), VJ_OK);
    assert_int_equal(vj_store_put_case_from(f->st, &b, &a), VJ_OK); /* same shares */
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    expect_list(f, &req, (const char *const[]){"MX-2026-000077"}, 1);
    Valija__CaseState *c = NULL;
    assert_int_equal(vj_store_get_case(f->st, "MX-2026-000077", &c), VJ_OK);
    assert_string_equal(c->status, "released");
    vj_codec_free(&c->base);
    /* narrowed: the old rows go */
    a.shared_with = one;
    a.n_shared_with = 1;
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(vj_store_put_case_from(f->st, &a, &b), VJ_OK);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    expect_list(f, &req, NULL, 0);
    req.shared_with = "sv-washington";
    expect_list(f, &req, (const char *const[]){"MX-2026-000077"}, 1);
}

static void fill_cases(fixture *f)
{
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    put_case(f, "C-1", "detained", "Port Isabel", 100, 0, "sv-washington", NULL);
    put_case(f, "C-2", "detained", "Dilley", 300, 1, "gt-washington", NULL);
    put_case(f, "C-3", "released", "Dilley", 200, 0, "sv-washington", "gt-washington");
    put_case(f, "C-4", "detained", "Dilley", 300, 0, NULL, NULL);
    put_case(f, "C-5", "reunited", "Port Isabel", 50, 1, "hn-washington", NULL);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
}

static void test_list_filters(void **state)
{
    fixture *f = *state;
    open_store(f);
    fill_cases(f);
    Valija__ListRequest req = VALIJA__LIST_REQUEST__INIT;

    /* no filter: updated_ms desc, then case_id */
    expect_list(f, &req, (const char *const[]){"C-2", "C-4", "C-3", "C-1", "C-5"}, 5);
    req.status = "detained";
    expect_list(f, &req, (const char *const[]){"C-2", "C-4", "C-1"}, 3);
    req.status = "Detained"; /* exact match */
    expect_list(f, &req, NULL, 0);
    req.status = "";
    req.facility = "Dilley";
    expect_list(f, &req, (const char *const[]){"C-2", "C-4", "C-3"}, 3);
    req.facility = "Dil"; /* exact, not a prefix or a pattern */
    expect_list(f, &req, NULL, 0);
    req.facility = "%";
    expect_list(f, &req, NULL, 0);
    req.facility = "";
    req.shared_with = "gt-washington";
    expect_list(f, &req, (const char *const[]){"C-2", "C-3"}, 2);
    req.shared_with = "sv-washington";
    expect_list(f, &req, (const char *const[]){"C-3", "C-1"}, 2);
    req.shared_with = "";
    req.updated_since_ms = 200;
    expect_list(f, &req, (const char *const[]){"C-2", "C-4", "C-3"}, 3);
    req.updated_since_ms = 0;
    req.conflicts_only = 1;
    expect_list(f, &req, (const char *const[]){"C-2", "C-5"}, 2);
    /* filters combine */
    req.status = "detained";
    req.facility = "Dilley";
    req.shared_with = "gt-washington";
    req.updated_since_ms = 300;
    expect_list(f, &req, (const char *const[]){"C-2"}, 1);
    req.conflicts_only = 0;
    req.shared_with = "";
    expect_list(f, &req, (const char *const[]){"C-2", "C-4"}, 2);
    /* limit */
    Valija__ListRequest lim = VALIJA__LIST_REQUEST__INIT;
    lim.limit = 2;
    expect_list(f, &lim, (const char *const[]){"C-2", "C-4"}, 2);

    /* a case's share list is replaced with the case */
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    put_case(f, "C-3", "released", "Dilley", 400, 0, "hn-washington", NULL);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    Valija__ListRequest sh = VALIJA__LIST_REQUEST__INIT;
    sh.shared_with = "gt-washington";
    expect_list(f, &sh, (const char *const[]){"C-2"}, 1);
    sh.shared_with = "hn-washington";
    expect_list(f, &sh, (const char *const[]){"C-3", "C-5"}, 2);
}

static void test_list_bad_filters(void **state)
{
    fixture *f = *state;
    open_store(f);
    fill_cases(f);
    Valija__CaseState **cases = NULL;
    size_t n = 7;
    Valija__ListRequest req = VALIJA__LIST_REQUEST__INIT;
    req.separated_only = 1;
    assert_int_equal(vj_store_list_cases(f->st, &req, &cases, &n), VJ_E_INVAL);
    assert_null(cases);
    assert_int_equal(n, 0);
    req.separated_only = 0;
    req.shared_with = "x' OR '1'='1";
    assert_int_equal(vj_store_list_cases(f->st, &req, &cases, &n), VJ_E_INVAL);
    assert_int_equal(vj_store_list_cases(f->st, NULL, &cases, &n), VJ_E_INVAL);
    req.shared_with = "";
    req.status = "x' OR '1'='1"; /* bound, never spliced into SQL */
    assert_int_equal(vj_store_list_cases(f->st, &req, &cases, &n), VJ_OK);
    assert_int_equal(n, 0);
    vj_store_cases_free(cases, n);
    vj_store_cases_free(NULL, 0);
}

/* ------------------------------------------------------------------- crash */

#define CRASH_N 300

static void test_committed_data_survives_crash(void **state)
{
    fixture *f = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* child: its own connection; commit, start more, die without closing */
        vj_store *st = NULL;
        if (vj_store_open(f->db, &st, NULL) != VJ_OK)
            _exit(2);
        for (unsigned batch = 0; batch < CRASH_N / 100; batch++) {
            if (vj_store_begin(st) != VJ_OK)
                _exit(3);
            for (unsigned i = 1; i <= 100; i++) {
                unsigned id = batch * 100 + i;
                vj_envelope_info info = make_info("gt-washington", id, id, "mx-washington", NULL);
                uint8_t env[64];
                make_env(env, sizeof env, id);
                if (vj_store_put_envelope(st, &info, env, sizeof env, "gt-washington", 1) != VJ_OK)
                    _exit(4);
            }
            if (vj_store_commit(st) != VJ_OK)
                _exit(5);
        }
        /* an open, uncommitted transaction at the moment of death */
        if (vj_store_begin(st) != VJ_OK)
            _exit(6);
        vj_envelope_info extra =
            make_info("gt-washington", CRASH_N + 1, CRASH_N + 1, "mx-washington", NULL);
        uint8_t env[64] = {0};
        if (vj_store_put_envelope(st, &extra, env, sizeof env, "gt-washington", 1) != VJ_OK)
            _exit(7);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    open_store(f);
    for (unsigned id = 1; id <= CRASH_N; id++) {
        if (held(f->st, id) != 1)
            fail_msg("envelope %u lost", id);
    }
    assert_int_equal(held(f->st, CRASH_N + 1), 0);
    uint8_t m[VJ_MSG_ID_LEN], *back = NULL, want[64];
    size_t len = 0;
    make_id(m, CRASH_N);
    assert_int_equal(vj_store_get_envelope(f->st, m, &back, &len), VJ_OK);
    make_env(want, sizeof want, CRASH_N);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(back, want, sizeof want);
    free(back);
    /* and the store still takes writes */
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    vj_envelope_info next =
        make_info("gt-washington", CRASH_N + 1, CRASH_N + 1, "mx-washington", NULL);
    put_env(f->st, &next, CRASH_N + 1);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_files_are_private),
        T(test_loose_db_refused),
        T(test_loose_wal_refused),
        T(test_symlink_refused),
        T(test_garbage_file_refused_untouched),
        T(test_foreign_sqlite_db_refused),
        T(test_open_bad_arguments),
        T(test_settings_in_force),
        T(test_migrates_empty_v0),
        T(test_reopen_is_noop),
        T(test_newer_version_refused),
        T(test_wrong_application_id_refused),
        T(test_envelope_round_trip),
        T(test_replays_refused_nothing_changes),
        T(test_invalid_envelopes_refused),
        T(test_writes_outside_transaction_refused),
        T(test_rollback_leaves_nothing),
        T(test_savepoints),
        T(test_counters_persist_and_increase),
        T(test_next_counters_and_seq_observe),
        T(test_put_case_from),
        T(test_lamport_out_of_range),
        T(test_origin_marks),
        T(test_catch_up),
        T(test_outbox_due_order_and_max),
        T(test_outbox_attempts_and_reset),
        T(test_outbox_delivered_keeps_receipt),
        T(test_outbox_batch_receipt_and_rollback),
        T(test_outbox_bad_input),
        T(test_delivery_report),
        T(test_history_order),
        T(test_event_bad_input),
        T(test_history_update_not_parsing),
        T(test_case_round_trip),
        T(test_case_bad_input),
        T(test_list_filters),
        T(test_list_bad_filters),
        T(test_committed_data_survives_crash),
#undef T
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
