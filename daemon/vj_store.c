/* vj_store.c - the post's durable store: one SQLite database per post.
 *
 * Job: keep, durably and privately, everything a post must not lose - the
 * envelopes as received (the evidence), the outbox with per-recipient
 * delivery state and signed receipts, the decrypted case events and the
 * materialized state of every case - and answer the daemon's queries fast.
 *
 * Invariants:
 *  - The database, -wal and -shm files are private (0600): the db file is
 *    created by us with mode 0600 before SQLite sees it, under umask 077, and
 *    an existing one readable or writable by group or others is refused.
 *    SQLite gives -wal and -shm the db file's own mode.
 *  - journal_mode=WAL and synchronous=FULL are checked to be in force, so a
 *    committed transaction survives a crash or a power loss; secure_delete
 *    and foreign_keys are on.
 *  - Every write happens inside vj_store_begin()/vj_store_commit(); a write
 *    outside is refused (VJ_E_INVAL).  If a write fails half-way, the
 *    transaction is marked failed and vj_store_commit() rolls it back
 *    instead of committing a partial write.
 *  - The schema is created and changed only by the numbered migrations
 *    below, one transaction each, recorded in PRAGMA user_version; a
 *    database from a newer build, or one that is not ours, is refused.
 *  - Integers are SQLite's signed 64-bit: counters, sequence numbers and
 *    Lamport times above INT64_MAX are refused rather than wrapped.
 *  - No message, diagnostic or error text ever holds case contents: only
 *    SQLite's own messages (which name tables and columns, not values).
 *
 * Schema (version 1).  Only one index is keyed by a random id (envelopes.msg_id,
 * needed for lookups and replay detection); the other keys grow
 * monotonically or follow case ids, which keeps group commits cheap.
 *  meta(id = 1, origin_seq, lamport)
 *      this post's own origin sequence counter and Lamport clock.
 *  envelopes(id, origin, origin_seq, msg_id, created_ms, received_ms,
 *            from_peer, bytes)
 *      every envelope held, exact bytes.  Keyed by (origin, origin_seq), a
 *      monotonic key (UNIQUE); UNIQUE index on msg_id.  A violation of either
 *      is a replay.  A rowid table rather than WITHOUT ROWID: kilobyte rows
 *      in a WITHOUT ROWID b-tree spill into overflow pages (twice the size).
 *  envelope_recipients(post, origin, origin_seq)
 *      who each envelope is addressed to, keyed for catch-up: "envelopes of
 *      origin O after seq S addressed to P".
 *  origins(origin, max_seq)
 *      the highest origin_seq held per origin (the Hello holdings), kept up
 *      to date on every insert so that it never needs a full scan.
 *  receipts(id, body, sig)
 *      signed receipts exactly as received, each stored once: one receipt
 *      covers a whole batch.
 *  outbox(id, env_id -> envelopes, msg_id, recipient, delivered, attempts,
 *         next_ms, receipt_id -> receipts, receipt_ms)
 *      one row per (message, recipient), UNIQUE (env_id, recipient); id is
 *      the queue order.  The partial index outbox_due (recipient, next_ms)
 *      WHERE delivered = 0 serves "due items of a recipient", the backlog and
 *      the next due time, and shrinks as items are delivered.
 *  events(case_id, lamport, origin, msg_id, env_id -> envelopes, origin_seq,
 *         kind, created_ms, received_ms, verified, applied, reason,
 *         update_bytes)
 *      the decrypted events; UNIQUE index (case_id, lamport, origin, msg_id)
 *      is the fold order of a case.  origin, origin_seq and created_ms are
 *      copied from the envelope held, never taken from the caller.
 *  cases(case_id PRIMARY KEY, owner, status, facility, closed, updated_ms,
 *        conflicts, state)
 *      the materialized state: filterable columns beside the whole
 *      serialized Valija__CaseState.  Indexes (status | facility, updated_ms
 *      DESC, case_id), (updated_ms DESC, case_id) and a partial one for
 *      cases with conflicts serve the list filters in list order.
 *  case_shares(case_id -> cases, post)
 *      the shared_with list of each case, filterable by post.
 *
 * Schema version 2 adds:
 *  case_links(case_id -> cases, linked_case_id, relation)
 *      the links of each case as its state holds them (written with the
 *      state), keyed by case_id, and indexed by linked_case_id so that a link
 *      is found from either end: families (docs/cases.md "Families") are
 *      computed from this table and cases.  linked_case_id may name a case
 *      this post does not hold.  Filled from the stored states when a
 *      version 1 store is migrated.
 */
#include "vj_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "Vja1": marks a database as a valija store (PRAGMA application_id). */
#define S_APPLICATION_ID 0x566a6131
#define S_BUSY_TIMEOUT_MS 5000
/* A materialized case state holds every note: allow it to grow well past one
 * envelope, but never unpack an unbounded blob. */
#define S_STATE_MAX (64 * 1024 * 1024)
#define S_LIST_DEFAULT 1000
#define S_LIST_MAX 10000

/* ---------------------------------------------------------------- schema */

static const char *const s_migrations[] = {
    /* 1: the first schema. */
    "CREATE TABLE meta ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  origin_seq INTEGER NOT NULL DEFAULT 0 CHECK (origin_seq >= 0),"
    "  lamport INTEGER NOT NULL DEFAULT 0 CHECK (lamport >= 0));"
    "INSERT INTO meta (id) VALUES (1);"
    "CREATE TABLE envelopes ("
    "  id INTEGER PRIMARY KEY,"
    "  origin TEXT NOT NULL,"
    "  origin_seq INTEGER NOT NULL CHECK (origin_seq >= 1),"
    "  msg_id BLOB NOT NULL CHECK (length(msg_id) = 16),"
    "  created_ms INTEGER NOT NULL,"
    "  received_ms INTEGER NOT NULL,"
    "  from_peer TEXT NOT NULL,"
    "  bytes BLOB NOT NULL,"
    "  UNIQUE (origin, origin_seq));"
    "CREATE UNIQUE INDEX envelopes_msg_id ON envelopes (msg_id);"
    "CREATE TABLE envelope_recipients ("
    "  post TEXT NOT NULL,"
    "  origin TEXT NOT NULL,"
    "  origin_seq INTEGER NOT NULL,"
    "  PRIMARY KEY (post, origin, origin_seq)) WITHOUT ROWID;"
    "CREATE TABLE origins ("
    "  origin TEXT PRIMARY KEY,"
    "  max_seq INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE receipts ("
    "  id INTEGER PRIMARY KEY,"
    "  body BLOB NOT NULL,"
    "  sig BLOB NOT NULL);"
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  env_id INTEGER NOT NULL REFERENCES envelopes (id),"
    "  msg_id BLOB NOT NULL,"
    "  recipient TEXT NOT NULL,"
    "  delivered INTEGER NOT NULL DEFAULT 0 CHECK (delivered IN (0, 1)),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_ms INTEGER NOT NULL,"
    "  receipt_id INTEGER REFERENCES receipts (id),"
    "  receipt_ms INTEGER,"
    "  UNIQUE (env_id, recipient));"
    "CREATE INDEX outbox_due ON outbox (recipient, next_ms) WHERE delivered = 0;"
    "CREATE TABLE events ("
    "  case_id TEXT NOT NULL,"
    "  lamport INTEGER NOT NULL,"
    "  origin TEXT NOT NULL,"
    "  msg_id BLOB NOT NULL,"
    "  env_id INTEGER NOT NULL REFERENCES envelopes (id),"
    "  origin_seq INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  received_ms INTEGER NOT NULL,"
    "  verified INTEGER NOT NULL CHECK (verified IN (0, 1)),"
    "  applied INTEGER NOT NULL CHECK (applied IN (0, 1)),"
    "  reason TEXT,"
    "  update_bytes BLOB NOT NULL);"
    "CREATE UNIQUE INDEX events_order ON events (case_id, lamport, origin, msg_id);"
    "CREATE TABLE cases ("
    "  case_id TEXT PRIMARY KEY,"
    "  owner TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  facility TEXT NOT NULL,"
    "  closed INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  conflicts INTEGER NOT NULL,"
    "  state BLOB NOT NULL);"
    "CREATE INDEX cases_updated ON cases (updated_ms DESC, case_id);"
    "CREATE INDEX cases_status ON cases (status, updated_ms DESC, case_id);"
    "CREATE INDEX cases_facility ON cases (facility, updated_ms DESC, case_id);"
    "CREATE INDEX cases_conflicts ON cases (updated_ms DESC, case_id) WHERE conflicts > 0;"
    "CREATE TABLE case_shares ("
    "  case_id TEXT NOT NULL REFERENCES cases (case_id),"
    "  post TEXT NOT NULL,"
    "  PRIMARY KEY (case_id, post)) WITHOUT ROWID;"
    "CREATE INDEX case_shares_post ON case_shares (post, case_id);",
    /* 2: the links between cases, found from either end (families).  The
     * rows of the cases already held are filled in by s_links_backfill(). */
    "CREATE TABLE case_links ("
    "  case_id TEXT NOT NULL REFERENCES cases (case_id),"
    "  linked_case_id TEXT NOT NULL,"
    "  relation INTEGER NOT NULL CHECK (relation BETWEEN 1 AND 3),"
    "  PRIMARY KEY (case_id, linked_case_id, relation)) WITHOUT ROWID;"
    "CREATE INDEX case_links_linked ON case_links (linked_case_id, case_id, relation);",
};

/* The migration that creates case_links (and must fill it). */
#define S_MIGRATION_LINKS 2

#define S_SCHEMA_VERSION ((int)(sizeof s_migrations / sizeof s_migrations[0]))

/* ------------------------------------------------------------ statements */

enum {
    S_META_NEXT_SEQ,
    S_META_OBSERVE,
    S_META_TICK,
    S_ENV_INSERT,
    S_ENV_RCPT,
    S_MARK_UPSERT,
    S_ENV_HAS,
    S_ENV_GET,
    S_ENV_ORIGIN,
    S_MARKS,
    S_CATCH_UP,
    S_OUT_ADD,
    S_OUT_DUE,
    S_OUT_ATTEMPTED,
    S_OUT_EXISTS,
    S_OUT_RESET,
    S_OUT_PENDING,
    S_OUT_DELIVERED,
    S_RECEIPT_INSERT,
    S_OUT_BACKLOG,
    S_OUT_NEXT,
    S_OUT_FOR_MSG,
    S_EVENT_INSERT,
    S_HISTORY,
    S_CASE_UPSERT,
    S_SHARES_DELETE,
    S_SHARES_INSERT,
    S_CASE_GET,
    S_ENV_IS_FOR,
    S_SEQ_OBSERVE,
    S_META_NEXT_BOTH,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,
    S_COUNT
};

/* The envelope row of msg_id ?1 (a lookup in the msg_id index). */
#define S_ENV_ID "(SELECT id FROM envelopes WHERE msg_id = ?1)"

static const char *const s_sql[S_COUNT] = {
    [S_META_NEXT_SEQ] = "UPDATE meta SET origin_seq = origin_seq + 1"
                        " WHERE id = 1 AND origin_seq < 9223372036854775807 RETURNING origin_seq",
    [S_META_OBSERVE] = "UPDATE meta SET lamport = ?1 WHERE id = 1 AND lamport < ?1",
    [S_SEQ_OBSERVE] = "UPDATE meta SET origin_seq = ?1 WHERE id = 1 AND origin_seq < ?1",
    [S_META_NEXT_BOTH] = "UPDATE meta SET origin_seq = origin_seq + 1, lamport = lamport + 1"
                         " WHERE id = 1 AND origin_seq < 9223372036854775807"
                         " AND lamport < 9223372036854775807 RETURNING origin_seq, lamport",
    [S_META_TICK] = "UPDATE meta SET lamport = lamport + 1"
                    " WHERE id = 1 AND lamport < 9223372036854775807 RETURNING lamport",
    [S_ENV_INSERT] = "INSERT INTO envelopes (origin, origin_seq, msg_id, created_ms, received_ms,"
                     " from_peer, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_ENV_RCPT] = "INSERT INTO envelope_recipients (post, origin, origin_seq) VALUES (?1, ?2, ?3)",
    [S_MARK_UPSERT] = "INSERT INTO origins (origin, max_seq) VALUES (?1, ?2) ON CONFLICT (origin)"
                      " DO UPDATE SET max_seq = max(max_seq, excluded.max_seq)",
    [S_ENV_HAS] = "SELECT 1 FROM envelopes WHERE msg_id = ?1",
    [S_ENV_GET] = "SELECT bytes FROM envelopes WHERE msg_id = ?1",
    [S_ENV_ORIGIN] = "SELECT origin FROM envelopes WHERE msg_id = ?1",
    [S_MARKS] = "SELECT origin, max_seq FROM origins ORDER BY origin",
    [S_CATCH_UP] = "SELECT e.msg_id FROM envelope_recipients r JOIN envelopes e"
                   " ON e.origin = r.origin AND e.origin_seq = r.origin_seq"
                   " WHERE r.post = ?1 AND r.origin = ?2 AND r.origin_seq > ?3"
                   " ORDER BY r.origin_seq LIMIT ?4",
    [S_OUT_ADD] = "INSERT INTO outbox (env_id, msg_id, recipient, next_ms)"
                  " SELECT id, msg_id, ?2, ?3 FROM envelopes WHERE msg_id = ?1",
    [S_OUT_DUE] = "SELECT msg_id FROM outbox WHERE recipient = ?1 AND delivered = 0"
                  " AND next_ms <= ?2 ORDER BY next_ms, id LIMIT ?3",
    [S_OUT_ATTEMPTED] = "UPDATE outbox SET attempts = min(attempts + 1, 4294967295), next_ms = ?3"
                        " WHERE env_id = " S_ENV_ID " AND recipient = ?2 AND delivered = 0",
    [S_OUT_EXISTS] = "SELECT 1 FROM outbox WHERE env_id = " S_ENV_ID " AND recipient = ?2",
    [S_OUT_RESET] = "UPDATE outbox SET next_ms = ?2"
                    " WHERE recipient = ?1 AND delivered = 0 AND next_ms > ?2",
    [S_OUT_PENDING] = "SELECT id FROM outbox"
                      " WHERE env_id = " S_ENV_ID " AND recipient = ?2 AND delivered = 0",
    [S_OUT_DELIVERED] = "UPDATE outbox SET delivered = 1, receipt_id = ?2, receipt_ms = ?3"
                        " WHERE id = ?1",
    [S_RECEIPT_INSERT] = "INSERT INTO receipts (body, sig) VALUES (?1, ?2)",
    [S_OUT_BACKLOG] = "SELECT count(*) FROM outbox WHERE recipient = ?1 AND delivered = 0",
    [S_OUT_NEXT] = "SELECT min(next_ms) FROM outbox WHERE recipient = ?1 AND delivered = 0",
    [S_OUT_FOR_MSG] = "SELECT o.recipient, o.delivered, o.receipt_ms, o.attempts, r.body, r.sig"
                      " FROM outbox o LEFT JOIN receipts r ON r.id = o.receipt_id"
                      " WHERE o.env_id = " S_ENV_ID " ORDER BY o.recipient",
    /* origin, origin_seq and created_ms come from the envelope held */
    [S_EVENT_INSERT] = "INSERT INTO events (case_id, lamport, origin, msg_id, env_id, origin_seq,"
                       " kind, created_ms, received_ms, verified, applied, reason, update_bytes)"
                       " SELECT ?1, ?2, origin, msg_id, id, origin_seq, ?6, created_ms, ?8, ?9,"
                       " ?10, ?11, ?12 FROM envelopes WHERE msg_id = ?4",
    [S_HISTORY] = "SELECT msg_id, origin, origin_seq, kind, created_ms, received_ms, lamport,"
                  " verified, applied, reason, update_bytes FROM events WHERE case_id = ?1"
                  " ORDER BY lamport, origin, msg_id",
    [S_CASE_UPSERT] = "INSERT INTO cases (case_id, owner, status, facility, closed, updated_ms,"
                      " conflicts, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                      " ON CONFLICT (case_id) DO UPDATE SET owner = excluded.owner,"
                      " status = excluded.status, facility = excluded.facility,"
                      " closed = excluded.closed, updated_ms = excluded.updated_ms,"
                      " conflicts = excluded.conflicts, state = excluded.state",
    [S_SHARES_DELETE] = "DELETE FROM case_shares WHERE case_id = ?1",
    [S_SHARES_INSERT] = "INSERT OR IGNORE INTO case_shares (case_id, post) VALUES (?1, ?2)",
    [S_CASE_GET] = "SELECT state FROM cases WHERE case_id = ?1",
    [S_ENV_IS_FOR] = "SELECT 1 FROM envelopes e JOIN envelope_recipients r"
                     " ON r.origin = e.origin AND r.origin_seq = e.origin_seq"
                     " WHERE e.msg_id = ?1 AND r.post = ?2",
    /* prepared once: the daemon takes a savepoint per envelope and request */
    [S_SAVEPOINT] = "SAVEPOINT vj_item",
    [S_RELEASE] = "RELEASE vj_item",
    [S_ROLLBACK_TO] = "ROLLBACK TO vj_item",
};

/* List filters: one cached statement per combination of these bits. */
enum {
    S_F_STATUS = 1,
    S_F_FACILITY = 2,
    S_F_SHARED = 4,
    S_F_SINCE = 8,
    S_F_CONFLICTS = 16,
    S_F_COMBOS = 32
};

/* Families: the case_links table and the walks over it. */
enum {
    S_FAM_LINKS_DELETE,
    S_FAM_LINKS_INSERT,
    S_FAM_LINKS_FROM,
    S_FAM_LINKS_TO,
    S_FAM_HELD,
    S_FAM_SEEDS,
    S_FAM_COUNT
};

static const char *const s_fam_sql[S_FAM_COUNT] = {
    [S_FAM_LINKS_DELETE] = "DELETE FROM case_links WHERE case_id = ?1",
    [S_FAM_LINKS_INSERT] = "INSERT OR IGNORE INTO case_links (case_id, linked_case_id, relation)"
                           " VALUES (?1, ?2, ?3)",
    /* a case's own links, and the links of other cases to it, each in the
     * order of its index (no sorting) */
    [S_FAM_LINKS_FROM] = "SELECT linked_case_id, relation, EXISTS (SELECT 1 FROM cases c"
                         " WHERE c.case_id = linked_case_id) FROM case_links WHERE case_id = ?1"
                         " ORDER BY linked_case_id, relation",
    /* a case that links is held (case_links.case_id refers to cases) */
    [S_FAM_LINKS_TO] = "SELECT case_id, relation, 1 FROM case_links WHERE linked_case_id = ?1"
                       " ORDER BY case_id, relation",
    [S_FAM_HELD] = "SELECT 1 FROM cases WHERE case_id = ?1",
    /* held cases that are not reunited and have a link in either
     * direction, most recently updated first: each may start a separated
     * family */
    [S_FAM_SEEDS] = "SELECT case_id FROM cases WHERE lower(status) <> 'reunited' AND"
                    " (EXISTS (SELECT 1 FROM case_links l WHERE l.case_id = cases.case_id) OR"
                    " EXISTS (SELECT 1 FROM case_links l WHERE l.linked_case_id = cases.case_id))"
                    " ORDER BY updated_ms DESC, case_id",
};

struct vj_store {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    sqlite3_stmt *list_stmt[S_F_COMBOS];
    sqlite3_stmt *fam_stmt[S_FAM_COUNT];
    int in_tx;        /* between begin and commit/rollback */
    int tx_failed;    /* a write failed half-way: the transaction must not commit */
    int in_savepoint; /* between vj_store_savepoint and release/rollback_to */
    int sp_tx_failed; /* tx_failed when the savepoint was taken */
    pid_t pid;        /* the process that opened it: a connection never crosses fork() */
    /* the receipt stored last in this transaction (rc_id 0: none) */
    uint8_t *rc_body, *rc_sig;
    size_t rc_body_len, rc_sig_len;
    int64_t rc_id;
    char err[256]; /* the last error, for a person; never case contents */
};

/* --------------------------------------------------------------- helpers */

static void s_receipt_forget(vj_store *st);
/* families (at the end of this file) */
static int s_links_backfill(sqlite3 *db, vj_diag *diag);
static int s_links_are_valid(const Valija__CaseState *state);
static int s_links_put(vj_store *st, const Valija__CaseState *state);

static void s_set_err(vj_store *st, const char *what)
{
    snprintf(st->err, sizeof st->err, "%s: %s", what, sqlite3_errmsg(st->db));
}

/* Maps a failed SQLite step to a vj_err and records the message. */
static int s_fail(vj_store *st, int rc, const char *what)
{
    s_set_err(st, what);
    switch (rc) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
        return VJ_E_REPLAY;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return VJ_E_NOTFOUND;
    case SQLITE_NOMEM:
        return VJ_E_NOMEM;
    case SQLITE_TOOBIG:
        return VJ_E_TOOBIG;
    default:
        return VJ_E_STORE;
    }
}

static sqlite3_stmt *s_stmt_reset(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

static sqlite3_stmt *s_stmt(vj_store *st, int which)
{
    return s_stmt_reset(st->stmt[which]);
}

static void s_done(sqlite3_stmt *s)
{
    if (s != NULL) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

/* A write is allowed only inside a transaction that has not failed. */
static int s_writable(vj_store *st)
{
    if (st == NULL)
        return VJ_E_INVAL;
    if (!st->in_tx) {
        snprintf(st->err, sizeof st->err, "write outside a transaction");
        return VJ_E_INVAL;
    }
    if (st->tx_failed) {
        snprintf(st->err, sizeof st->err, "the transaction failed earlier; roll it back");
        return VJ_E_INVAL;
    }
    return VJ_OK;
}

/* True if the fixed-size, NUL-terminated name field holds a valid post name. */
static int s_name_field_is_valid(const char *field, size_t size)
{
    return memchr(field, '\0', size) != NULL && vj_post_name_is_valid(field);
}

static int s_u64_fits(uint64_t v)
{
    return v <= (uint64_t)INT64_MAX;
}

static const char *s_str(const char *s)
{
    return s != NULL ? s : "";
}

static int s_exec(sqlite3 *db, const char *sql, vj_diag *diag, const char *what)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        vj_diag_set(diag, "%s: %s", what, msg != NULL ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return VJ_E_STORE;
    }
    return VJ_OK;
}

/* Runs a one-row, one-integer query (PRAGMA reads). */
static int s_query_int(sqlite3 *db, const char *sql, int64_t *v, vj_diag *diag)
{
    int ret = VJ_E_STORE;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        vj_diag_set(diag, "%s: %s", sql, sqlite3_errmsg(db));
        goto out;
    }
    if (sqlite3_step(s) != SQLITE_ROW) {
        vj_diag_set(diag, "%s: %s", sql, sqlite3_errmsg(db));
        goto out;
    }
    *v = sqlite3_column_int64(s, 0);
    ret = VJ_OK;
out:
    sqlite3_finalize(s);
    return ret;
}

static int s_query_text(sqlite3 *db, const char *sql, char *buf, size_t size, vj_diag *diag)
{
    int ret = VJ_E_STORE;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
        vj_diag_set(diag, "%s: %s", sql, sqlite3_errmsg(db));
        goto out;
    }
    const unsigned char *t = sqlite3_column_text(s, 0);
    snprintf(buf, size, "%s", t != NULL ? (const char *)t : "");
    ret = VJ_OK;
out:
    sqlite3_finalize(s);
    return ret;
}

/* ------------------------------------------------------------ open/close */

/* Refuses a file that is not a private regular file of ours. */
static int s_check_private(const struct stat *sb, const char *path, vj_diag *diag)
{
    if (!S_ISREG(sb->st_mode)) {
        vj_diag_set(diag, "%s: not a regular file", path);
        return VJ_E_PERM;
    }
    if ((sb->st_mode & 077) != 0) {
        vj_diag_set(diag, "%s: mode %03o lets group or others access the store; chmod 600 it", path,
                    (unsigned)(sb->st_mode & 0777));
        return VJ_E_PERM;
    }
    if (sb->st_uid != geteuid()) {
        vj_diag_set(diag, "%s: owned by another user", path);
        return VJ_E_PERM;
    }
    return VJ_OK;
}

/* Creates the db file 0600 when missing and checks it; *dev, *ino name it. */
static int s_prepare_file(const char *path, dev_t *dev, ino_t *ino, vj_diag *diag)
{
    int ret = VJ_E_IO;
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        vj_diag_set(diag, "%s: %s", path, strerror(e));
        ret = (e == ELOOP || e == EACCES || e == EPERM) ? VJ_E_PERM : VJ_E_IO;
        goto out;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        vj_diag_set(diag, "%s: %s", path, strerror(errno));
        goto out;
    }
    ret = s_check_private(&sb, path, diag);
    if (ret != VJ_OK)
        goto out;
    *dev = sb.st_dev;
    *ino = sb.st_ino;

    /* Leftover -wal and -shm files must be just as private. */
    static const char *const suffixes[] = {"-wal", "-shm"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char side[PATH_MAX];
        int n = snprintf(side, sizeof side, "%s%s", path, suffixes[i]);
        if (n < 0 || (size_t)n >= sizeof side) {
            vj_diag_set(diag, "%s: path too long", path);
            ret = VJ_E_INVAL;
            goto out;
        }
        struct stat ss;
        if (lstat(side, &ss) != 0) {
            if (errno == ENOENT)
                continue;
            vj_diag_set(diag, "%s: %s", side, strerror(errno));
            ret = VJ_E_IO;
            goto out;
        }
        ret = s_check_private(&ss, side, diag);
        if (ret != VJ_OK)
            goto out;
    }
    ret = VJ_OK;
out:
    /* Closed before SQLite opens the file: closing a second descriptor of a
     * file would drop SQLite's POSIX locks on it. */
    if (fd >= 0)
        close(fd);
    return ret;
}

static int s_set_pragmas(sqlite3 *db, vj_diag *diag)
{
    int ret = VJ_E_STORE;
    char mode[16];
    int64_t v = 0;

    if (sqlite3_busy_timeout(db, S_BUSY_TIMEOUT_MS) != SQLITE_OK) {
        vj_diag_set(diag, "busy_timeout: %s", sqlite3_errmsg(db));
        goto out;
    }
    ret = s_query_text(db, "PRAGMA journal_mode = WAL", mode, sizeof mode, diag);
    if (ret != VJ_OK)
        goto out;
    if (strcmp(mode, "wal") != 0) {
        vj_diag_set(diag, "the store cannot use WAL mode here (journal_mode is %s)", mode);
        ret = VJ_E_STORE;
        goto out;
    }
    static const struct {
        const char *set;
        const char *get;
        int64_t want;
    } checks[] = {
        {"PRAGMA synchronous = FULL", "PRAGMA synchronous", 2},
        {"PRAGMA secure_delete = ON", "PRAGMA secure_delete", 1},
        {"PRAGMA foreign_keys = ON", "PRAGMA foreign_keys", 1},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        ret = s_exec(db, checks[i].set, diag, checks[i].set);
        if (ret != VJ_OK)
            goto out;
        ret = s_query_int(db, checks[i].get, &v, diag);
        if (ret != VJ_OK)
            goto out;
        if (v != checks[i].want) {
            vj_diag_set(diag, "%s did not take effect", checks[i].set);
            ret = VJ_E_STORE;
            goto out;
        }
    }
    /* A page cache large enough that a group commit of a few hundred
     * updates never spills pages to the WAL before it commits. */
    ret = s_exec(db, "PRAGMA cache_size = -32768", diag, "cache_size");
    if (ret != VJ_OK)
        goto out;
    /* The savepoint taken per envelope keeps the pages it changes in a
     * sub-journal: in memory, not in a temporary file written per page. */
    ret = s_exec(db, "PRAGMA temp_store = MEMORY", diag, "temp_store");
    if (ret != VJ_OK)
        goto out;
    ret = VJ_OK;
out:
    return ret;
}

/* Brings the schema to S_SCHEMA_VERSION, one transaction per step. */
static int s_migrate(sqlite3 *db, vj_diag *diag)
{
    int ret = VJ_E_STORE;
    int in_tx = 0;
    int64_t version = 0, app_id = 0, objects = 0;

    for (;;) {
        ret = s_exec(db, "BEGIN IMMEDIATE", diag, "begin migration");
        if (ret != VJ_OK)
            goto out;
        in_tx = 1;
        /* Read inside the transaction: another process may have migrated. */
        ret = s_query_int(db, "PRAGMA user_version", &version, diag);
        if (ret != VJ_OK)
            goto out;
        ret = s_query_int(db, "PRAGMA application_id", &app_id, diag);
        if (ret != VJ_OK)
            goto out;
        if (version > S_SCHEMA_VERSION) {
            vj_diag_set(diag,
                        "the store has schema version %lld, newer than this build (%d): "
                        "run a newer valijad, or restore a backup made by this version",
                        (long long)version, S_SCHEMA_VERSION);
            ret = VJ_E_VERSION;
            goto out;
        }
        if (version < 0) {
            vj_diag_set(diag, "the store has an invalid schema version %lld", (long long)version);
            ret = VJ_E_VERSION;
            goto out;
        }
        if (version == 0) {
            ret = s_query_int(db, "SELECT count(*) FROM sqlite_schema", &objects, diag);
            if (ret != VJ_OK)
                goto out;
            if (objects != 0 || app_id != 0) {
                vj_diag_set(diag, "the file is an SQLite database but not a valija store; "
                                  "refusing to change it");
                ret = VJ_E_VERSION;
                goto out;
            }
        } else if (app_id != S_APPLICATION_ID) {
            vj_diag_set(diag, "the file is an SQLite database but not a valija store");
            ret = VJ_E_VERSION;
            goto out;
        }
        if (version == S_SCHEMA_VERSION)
            break;

        char tail[96];
        snprintf(tail, sizeof tail, "PRAGMA user_version = %lld; PRAGMA application_id = %d",
                 (long long)version + 1, S_APPLICATION_ID);
        char what[64];
        snprintf(what, sizeof what, "schema migration %lld", (long long)version + 1);
        ret = s_exec(db, s_migrations[version], diag, what);
        if (ret == VJ_OK && version + 1 == S_MIGRATION_LINKS)
            ret = s_links_backfill(db, diag);
        if (ret != VJ_OK)
            goto out;
        ret = s_exec(db, tail, diag, what);
        if (ret != VJ_OK)
            goto out;
        ret = s_exec(db, "COMMIT", diag, what);
        if (ret != VJ_OK)
            goto out;
        in_tx = 0;
    }
    ret = s_exec(db, "COMMIT", diag, "end migration");
    if (ret != VJ_OK)
        goto out;
    in_tx = 0;
    ret = VJ_OK;
out:
    if (in_tx)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return ret;
}

int vj_store_schema_version(void)
{
    return S_SCHEMA_VERSION;
}

const char *vj_store_last_error(const vj_store *st)
{
    return st != NULL ? st->err : "";
}

int vj_store_open(const char *path, vj_store **out, vj_diag *diag)
{
    int ret = VJ_E_INVAL;
    vj_store *st = NULL;
    mode_t old_umask = 0;
    int umask_set = 0;

    if (out != NULL)
        *out = NULL;
    if (path == NULL || out == NULL || path[0] == '\0') {
        vj_diag_set(diag, "no store path given");
        goto out;
    }
    if (strlen(path) >= PATH_MAX - 8) {
        vj_diag_set(diag, "store path too long");
        goto out;
    }
    st = calloc(1, sizeof *st);
    if (st == NULL) {
        ret = VJ_E_NOMEM;
        goto out;
    }
    st->pid = getpid();

    /* Everything SQLite creates while we set up (-wal, -shm) is private. */
    old_umask = umask(077);
    umask_set = 1;

    dev_t dev = 0;
    ino_t ino = 0;
    ret = s_prepare_file(path, &dev, &ino, diag);
    if (ret != VJ_OK)
        goto out;

    int rc = sqlite3_open_v2(path, &st->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX |
                                 SQLITE_OPEN_PRIVATECACHE,
                             NULL);
    if (rc != SQLITE_OK) {
        vj_diag_set(diag, "%s: %s", path,
                    st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        ret = rc == SQLITE_NOMEM ? VJ_E_NOMEM : VJ_E_STORE;
        goto out;
    }
    sqlite3_extended_result_codes(st->db, 1);

    /* The file SQLite opened is the one we checked. */
    struct stat sb;
    if (stat(path, &sb) != 0 || sb.st_dev != dev || sb.st_ino != ino) {
        vj_diag_set(diag, "%s: the file changed while it was being opened", path);
        ret = VJ_E_PERM;
        goto out;
    }
    int on = 1;
    sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, &on);
    sqlite3_db_config(st->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, &on);

    ret = s_set_pragmas(st->db, diag);
    if (ret != VJ_OK) {
        if (sqlite3_errcode(st->db) == SQLITE_NOTADB)
            vj_diag_set(diag, "%s: not a database file", path);
        goto out;
    }
    ret = s_migrate(st->db, diag);
    if (ret != VJ_OK)
        goto out;

    for (int i = 0; i < S_COUNT; i++) {
        if (sqlite3_prepare_v3(st->db, s_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                               NULL) != SQLITE_OK) {
            vj_diag_set(diag, "preparing statement %d: %s", i, sqlite3_errmsg(st->db));
            ret = VJ_E_STORE;
            goto out;
        }
    }
    for (int i = 0; i < S_FAM_COUNT; i++) {
        if (sqlite3_prepare_v3(st->db, s_fam_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &st->fam_stmt[i], NULL) != SQLITE_OK) {
            vj_diag_set(diag, "preparing family statement %d: %s", i, sqlite3_errmsg(st->db));
            ret = VJ_E_STORE;
            goto out;
        }
    }
    *out = st;
    st = NULL;
    ret = VJ_OK;
out:
    if (umask_set)
        umask(old_umask);
    vj_store_close(&st);
    return ret;
}

void vj_store_close(vj_store **stp)
{
    if (stp == NULL || *stp == NULL)
        return;
    vj_store *st = *stp;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    for (int i = 0; i < S_F_COMBOS; i++)
        sqlite3_finalize(st->list_stmt[i]);
    for (int i = 0; i < S_FAM_COUNT; i++)
        sqlite3_finalize(st->fam_stmt[i]);
    if (st->db != NULL) {
        if (st->in_tx)
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(st->db);
    }
    s_receipt_forget(st);
    free(st);
    *stp = NULL;
}

/* ---------------------------------------------------------- transactions */

int vj_store_begin(vj_store *st)
{
    if (st == NULL)
        return VJ_E_INVAL;
    if (st->in_tx) {
        snprintf(st->err, sizeof st->err, "a transaction is already open");
        return VJ_E_INVAL;
    }
    if (getpid() != st->pid) {
        snprintf(st->err, sizeof st->err, "the store was opened by another process");
        return VJ_E_INVAL;
    }
    /* IMMEDIATE takes the write lock now, so that the transaction never has
     * to upgrade a read lock (which can fail with SQLITE_BUSY mid-way). */
    int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return s_fail(st, rc, "begin");
    st->in_tx = 1;
    st->tx_failed = 0;
    return VJ_OK;
}

int vj_store_commit(vj_store *st)
{
    if (st == NULL)
        return VJ_E_INVAL;
    if (!st->in_tx) {
        snprintf(st->err, sizeof st->err, "commit without a transaction");
        return VJ_E_INVAL;
    }
    if (st->tx_failed) {
        vj_store_rollback(st);
        snprintf(st->err, sizeof st->err, "a write of this transaction failed; it was rolled back");
        return VJ_E_STORE;
    }
    int rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        int ret = s_fail(st, rc, "commit");
        /* Nothing of this transaction is durable: say so by ending it. */
        s_receipt_forget(st);
        if (!sqlite3_get_autocommit(st->db))
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        st->in_tx = 0;
        st->tx_failed = 0;
        st->in_savepoint = 0;
        return ret == VJ_E_REPLAY ? VJ_E_STORE : ret;
    }
    st->in_tx = 0;
    st->in_savepoint = 0;
    return VJ_OK;
}

void vj_store_rollback(vj_store *st)
{
    if (st == NULL || !st->in_tx)
        return;
    s_receipt_forget(st);
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    st->in_tx = 0;
    st->tx_failed = 0;
    st->in_savepoint = 0;
}

/* A savepoint lets the daemon undo one request or one envelope, including
 * a write that failed half-way, and still commit the rest of the group. */
int vj_store_savepoint(vj_store *st)
{
    if (st == NULL || !st->in_tx || st->in_savepoint) {
        if (st != NULL)
            snprintf(st->err, sizeof st->err, "savepoint outside a transaction or nested");
        return VJ_E_INVAL;
    }
    sqlite3_stmt *s = s_stmt(st, S_SAVEPOINT);
    int rc = sqlite3_step(s);
    s_done(s);
    if (rc != SQLITE_DONE)
        return s_fail(st, rc, "savepoint");
    st->in_savepoint = 1;
    st->sp_tx_failed = st->tx_failed;
    return VJ_OK;
}

int vj_store_release(vj_store *st)
{
    if (st == NULL || !st->in_savepoint)
        return VJ_E_INVAL;
    if (st->tx_failed && !st->sp_tx_failed) {
        snprintf(st->err, sizeof st->err, "a write since the savepoint failed");
        return VJ_E_STORE;
    }
    sqlite3_stmt *s = s_stmt(st, S_RELEASE);
    int rc = sqlite3_step(s);
    s_done(s);
    if (rc != SQLITE_DONE)
        return s_fail(st, rc, "release savepoint");
    st->in_savepoint = 0;
    return VJ_OK;
}

void vj_store_rollback_to(vj_store *st)
{
    if (st == NULL || !st->in_savepoint)
        return;
    /* a receipt stored since the savepoint is gone */
    s_receipt_forget(st);
    sqlite3_stmt *rb = s_stmt(st, S_ROLLBACK_TO);
    int rc = sqlite3_step(rb);
    s_done(rb);
    sqlite3_stmt *rel = s_stmt(st, S_RELEASE);
    int rc2 = rc == SQLITE_DONE ? sqlite3_step(rel) : rc;
    s_done(rel);
    if (rc == SQLITE_DONE && rc2 == SQLITE_DONE)
        st->tx_failed = st->sp_tx_failed;
    else
        st->tx_failed = 1;
    st->in_savepoint = 0;
}

int vj_store_get_settings(vj_store *st, vj_store_settings *out)
{
    int ret = VJ_E_INVAL;
    vj_diag d;
    int64_t v[4] = {0, 0, 0, 0};
    static const char *const q[4] = {"PRAGMA synchronous", "PRAGMA secure_delete",
                                     "PRAGMA foreign_keys", "PRAGMA user_version"};
    if (st == NULL || out == NULL)
        goto out;
    memset(out, 0, sizeof *out);
    ret = s_query_text(st->db, "PRAGMA journal_mode", out->journal_mode, sizeof out->journal_mode,
                       &d);
    for (int i = 0; i < 4 && ret == VJ_OK; i++)
        ret = s_query_int(st->db, q[i], &v[i], &d);
    if (ret != VJ_OK) {
        s_set_err(st, "reading settings");
        goto out;
    }
    out->synchronous = (int)v[0];
    out->secure_delete = (int)v[1];
    out->foreign_keys = (int)v[2];
    out->user_version = (int)v[3];
out:
    return ret;
}

/* --------------------------------------------------------------- counters */

static int s_counter_step(vj_store *st, int which, uint64_t *v, const char *what)
{
    int ret = s_writable(st);
    sqlite3_stmt *s = NULL;
    if (ret != VJ_OK || v == NULL)
        return ret != VJ_OK ? ret : VJ_E_INVAL;
    s = s_stmt(st, which);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        snprintf(st->err, sizeof st->err, "%s: the counter is exhausted", what);
        ret = VJ_E_TOOBIG;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        ret = s_fail(st, rc, what);
        st->tx_failed = 1;
        goto out;
    }
    *v = (uint64_t)sqlite3_column_int64(s, 0);
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, what);
        st->tx_failed = 1;
        goto out;
    }
    ret = VJ_OK;
out:
    s_done(s);
    return ret;
}

int vj_store_next_origin_seq(vj_store *st, uint64_t *seq)
{
    return s_counter_step(st, S_META_NEXT_SEQ, seq, "origin sequence");
}

int vj_store_next_counters(vj_store *st, uint64_t *seq, uint64_t *lamport)
{
    int ret = s_writable(st);
    if (ret != VJ_OK || seq == NULL || lamport == NULL)
        return ret != VJ_OK ? ret : VJ_E_INVAL;
    sqlite3_stmt *s = s_stmt(st, S_META_NEXT_BOTH);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        snprintf(st->err, sizeof st->err, "the origin sequence or the lamport clock is exhausted");
        ret = VJ_E_TOOBIG;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        ret = s_fail(st, rc, "counters");
        st->tx_failed = 1;
        goto out;
    }
    *seq = (uint64_t)sqlite3_column_int64(s, 0);
    *lamport = (uint64_t)sqlite3_column_int64(s, 1);
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "counters");
        st->tx_failed = 1;
        goto out;
    }
    ret = VJ_OK;
out:
    s_done(s);
    return ret;
}

int vj_store_lamport_tick(vj_store *st, uint64_t *t)
{
    return s_counter_step(st, S_META_TICK, t, "lamport clock");
}

int vj_store_lamport_observe(vj_store *st, uint64_t t)
{
    int ret = s_writable(st);
    if (ret != VJ_OK)
        return ret;
    if (!s_u64_fits(t)) {
        snprintf(st->err, sizeof st->err, "lamport time out of range");
        return VJ_E_INVAL;
    }
    sqlite3_stmt *s = s_stmt(st, S_META_OBSERVE);
    sqlite3_bind_int64(s, 1, (int64_t)t);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "lamport observe");
        st->tx_failed = 1;
    }
    s_done(s);
    return ret;
}

int vj_store_origin_seq_observe(vj_store *st, uint64_t seq)
{
    int ret = s_writable(st);
    if (ret != VJ_OK)
        return ret;
    if (!s_u64_fits(seq)) {
        snprintf(st->err, sizeof st->err, "sequence out of range");
        return VJ_E_INVAL;
    }
    sqlite3_stmt *s = s_stmt(st, S_SEQ_OBSERVE);
    sqlite3_bind_int64(s, 1, (int64_t)seq);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "sequence observe");
        st->tx_failed = 1;
    }
    s_done(s);
    return ret;
}

/* Reads (own counters) without a transaction: for status displays and tests. */
int vj_store_counters(vj_store *st, uint64_t *origin_seq, uint64_t *lamport)
{
    if (st == NULL || origin_seq == NULL || lamport == NULL)
        return VJ_E_INVAL;
    int64_t a = 0, b = 0;
    vj_diag d;
    if (s_query_int(st->db, "SELECT origin_seq FROM meta WHERE id = 1", &a, &d) != VJ_OK ||
        s_query_int(st->db, "SELECT lamport FROM meta WHERE id = 1", &b, &d) != VJ_OK) {
        s_set_err(st, "counters");
        return VJ_E_STORE;
    }
    *origin_seq = (uint64_t)a;
    *lamport = (uint64_t)b;
    return VJ_OK;
}

/* -------------------------------------------------------------- envelopes */

static int s_info_is_valid(vj_store *st, const vj_envelope_info *info)
{
    if (!s_name_field_is_valid(info->origin, sizeof info->origin)) {
        snprintf(st->err, sizeof st->err, "invalid origin post name");
        return 0;
    }
    if (info->origin_seq == 0 || !s_u64_fits(info->origin_seq)) {
        snprintf(st->err, sizeof st->err, "origin sequence out of range");
        return 0;
    }
    if (info->n_recipients > VJ_MAX_RECIPIENTS) {
        snprintf(st->err, sizeof st->err, "too many recipients");
        return 0;
    }
    for (size_t i = 0; i < info->n_recipients; i++) {
        if (!s_name_field_is_valid(info->recipients[i], sizeof info->recipients[i])) {
            snprintf(st->err, sizeof st->err, "invalid recipient post name");
            return 0;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(info->recipients[i], info->recipients[j]) == 0) {
                snprintf(st->err, sizeof st->err, "duplicate recipient");
                return 0;
            }
        }
    }
    return 1;
}

int vj_store_put_envelope(vj_store *st, const vj_envelope_info *info, const uint8_t *env,
                          size_t env_len, const char *from_peer, int64_t received_ms)
{
    int ret = s_writable(st);
    sqlite3_stmt *s = NULL;
    int rc;
    if (ret != VJ_OK)
        return ret;
    ret = VJ_E_INVAL;
    if (info == NULL || env == NULL || env_len == 0 || env_len > INT_MAX) {
        snprintf(st->err, sizeof st->err, "no envelope given");
        return VJ_E_INVAL;
    }
    if (!vj_post_name_is_valid(from_peer)) {
        snprintf(st->err, sizeof st->err, "invalid peer name");
        return VJ_E_INVAL;
    }
    if (!s_info_is_valid(st, info))
        return VJ_E_INVAL;

    /* First statement: a replay fails here and changes nothing. */
    s = s_stmt(st, S_ENV_INSERT);
    sqlite3_bind_text(s, 1, info->origin, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)info->origin_seq);
    sqlite3_bind_blob(s, 3, info->msg_id, VJ_MSG_ID_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, info->created_ms);
    sqlite3_bind_int64(s, 5, received_ms);
    sqlite3_bind_text(s, 6, from_peer, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 7, env, (int)env_len, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "storing envelope");
        if (ret != VJ_E_REPLAY)
            st->tx_failed = 1;
        goto out;
    }
    s_done(s);

    /* From here on a failure leaves a partial write: fail the transaction. */
    s = s_stmt(st, S_ENV_RCPT);
    for (size_t i = 0; i < info->n_recipients; i++) {
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, info->recipients[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, info->origin, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, (int64_t)info->origin_seq);
        rc = sqlite3_step(s);
        if (rc != SQLITE_DONE) {
            ret = s_fail(st, rc, "storing envelope recipients");
            ret = ret == VJ_E_REPLAY ? VJ_E_STORE : ret;
            st->tx_failed = 1;
            goto out;
        }
    }
    s_done(s);

    s = s_stmt(st, S_MARK_UPSERT);
    sqlite3_bind_text(s, 1, info->origin, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)info->origin_seq);
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "storing origin mark");
        ret = ret == VJ_E_REPLAY ? VJ_E_STORE : ret;
        st->tx_failed = 1;
        goto out;
    }
    ret = VJ_OK;
out:
    s_done(s);
    return ret;
}

int vj_store_has_envelope(vj_store *st, const uint8_t msg_id[VJ_MSG_ID_LEN], int *held)
{
    int ret = VJ_E_INVAL;
    sqlite3_stmt *s = NULL;
    if (st == NULL || msg_id == NULL || held == NULL)
        goto out;
    *held = 0;
    s = s_stmt(st, S_ENV_HAS);
    sqlite3_bind_blob(s, 1, msg_id, VJ_MSG_ID_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *held = 1;
    } else if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "looking up envelope");
        goto out;
    }
    ret = VJ_OK;
out:
    s_done(s);
    return ret;
}

int vj_store_envelope_is_for(vj_store *st, const uint8_t msg_id[VJ_MSG_ID_LEN], const char *post,
                             int *yes)
{
    int ret = VJ_E_INVAL;
    sqlite3_stmt *s = NULL;
    if (st == NULL || msg_id == NULL || post == NULL || yes == NULL)
        goto out;
    *yes = 0;
    s = s_stmt(st, S_ENV_IS_FOR);
    sqlite3_bind_blob(s, 1, msg_id, VJ_MSG_ID_LEN, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, post, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *yes = 1;
    } else if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "looking up envelope recipients");
        goto out;
    }
    ret = VJ_OK;
out:
    s_done(s);
    return ret;
}

int vj_store_get_envelope(vj_store *st, const uint8_t msg_id[VJ_MSG_ID_LEN], uint8_t **env,
                          size_t *env_len)
{
    int ret = VJ_E_INVAL;
    sqlite3_stmt *s = NULL;
    if (env != NULL)
        *env = NULL;
    if (env_len != NULL)
        *env_len = 0;
    if (st == NULL || msg_id == NULL || env == NULL || env_len == NULL)
        goto out;
    s = s_stmt(st, S_ENV_GET);
    sqlite3_bind_blob(s, 1, msg_id, VJ_MSG_ID_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        ret = VJ_E_NOTFOUND;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        ret = s_fail(st, rc, "reading envelope");
        goto out;
    }
    const void *b = sqlite3_column_blob(s, 0);
    int n = sqlite3_column_bytes(s, 0);
    uint8_t *copy = malloc(n > 0 ? (size_t)n : 1);
    if (copy == NULL) {
        ret = VJ_E_NOMEM;
        goto out;
    }
    if (n > 0)
        memcpy(copy, b, (size_t)n);
    *env = copy;
    *env_len = (size_t)n;
    ret = VJ_OK;
out:
    s_done(s);
    return ret;
}

int vj_store_origin_marks(vj_store *st, vj_origin_mark **marks, size_t *n)
{
    int ret = VJ_E_INVAL;
    sqlite3_stmt *s = NULL;
    vj_origin_mark *arr = NULL;
    size_t len = 0, cap = 0;
    if (marks != NULL)
        *marks = NULL;
    if (n != NULL)
        *n = 0;
    if (st == NULL || marks == NULL || n == NULL)
        goto out;
    s = s_stmt(st, S_MARKS);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            vj_origin_mark *p = realloc(arr, ncap * sizeof *p);
            if (p == NULL) {
                ret = VJ_E_NOMEM;
                goto out;
            }
            arr = p;
            cap = ncap;
        }
        const unsigned char *o = sqlite3_column_text(s, 0);
        memset(&arr[len], 0, sizeof arr[len]);
        snprintf(arr[len].origin, sizeof arr[len].origin, "%s", o != NULL ? (const char *)o : "");
        arr[len].seq = (uint64_t)sqlite3_column_int64(s, 1);
        len++;
    }
    if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "reading origin marks");
        goto out;
    }
    *marks = arr;
    *n = len;
    arr = NULL;
    ret = VJ_OK;
out:
    free(arr);
    s_done(s);
    return ret;
}

int vj_store_catch_up(vj_store *st, const char *recipient, const char *origin, uint64_t after_seq,
                      size_t max, uint8_t *ids, size_t *n)
{
    int ret = VJ_E_INVAL;
    sqlite3_stmt *s = NULL;
    if (n != NULL)
        *n = 0;
    if (st == NULL || ids == NULL || n == NULL || !vj_post_name_is_valid(recipient) ||
        !vj_post_name_is_valid(origin))
        goto out;
    if (!s_u64_fits(after_seq) || max > INT64_MAX)
        goto out;
    s = s_stmt(st, S_CATCH_UP);
    sqlite3_bind_text(s, 1, recipient, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, origin, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (int64_t)after_seq);
    sqlite3_bind_int64(s, 4, (int64_t)max);
    int rc;
    size_t k = 0;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(s, 0) != VJ_MSG_ID_LEN) {
            snprintf(st->err, sizeof st->err, "a stored message id has the wrong length");
            ret = VJ_E_STORE;
            goto out;
        }
        memcpy(ids + k * VJ_MSG_ID_LEN, sqlite3_column_blob(s, 0), VJ_MSG_ID_LEN);
        k++;
    }
    if (k < max && rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "catch-up query");
        goto out;
    }
    *n = k;
    ret = VJ_OK;
out:
    s_done(s);
    return ret;
}

/* ----------------------------------------------------------------- outbox */

int vj_store_outbox_add(vj_store *st, const uint8_t msg_id[VJ_MSG_ID_LEN], const char *recipient,
                        int64_t due_ms)
{
    int ret = s_writable(st);
    if (ret != VJ_OK)
        return ret;
    if (msg_id == NULL || !vj_post_name_is_valid(recipient)) {
        snprintf(st->err, sizeof st->err, "invalid outbox item");
        return VJ_E_INVAL;
    }
    sqlite3_stmt *s = s_stmt(st, S_OUT_ADD);
    sqlite3_bind_blob(s, 1, msg_id, VJ_MSG_ID_LEN, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, recipient, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, due_ms);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        /* One statement: a constraint failure leaves the transaction intact.
         * Already queued: VJ_E_EXISTS. */
        ret = s_fail(st, rc, "queueing outbox item");
        if (ret == VJ_E_REPLAY)
            ret = VJ_E_EXISTS;
        else
            st->tx_failed = 1;
    } else if (sqlite3_changes(st->db) == 0) {
        snprintf(st->err, sizeof st->err, "queueing outbox item: message not held");
        ret = VJ_E_NOTFOUND;
    }
    s_done(s);
    return ret;
}

int vj_store_outbox_due(vj_store *st, const char *recipient, int64_t now_ms, size_t max,
                        uint8_t *ids, size_t *n)
{
    int ret = VJ_E_INVAL;
    sqlite3_stmt *s = NULL;
    if (n != NULL)
        *n = 0;
    if (st == NULL || n == NULL || (ids == NULL && max > 0) || !vj_post_name_is_valid(recipient))
        goto out;
    if (max == 0) {
        ret = VJ_OK;
        goto out;
    }
    s = s_stmt(st, S_OUT_DUE);
    sqlite3_bind_text(s, 1, recipient, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now_ms);
    sqlite3_bind_int64(s, 3, max > INT64_MAX ? INT64_MAX : (int64_t)max);
    int rc = SQLITE_DONE;
    size_t k = 0;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(s, 0) != VJ_MSG_ID_LEN) {
            snprintf(st->err, sizeof st->err, "a stored message id has the wrong length");
            ret = VJ_E_STORE;
            goto out;
        }
        memcpy(ids + k * VJ_MSG_ID_LEN, sqlite3_column_blob(s, 0), VJ_MSG_ID_LEN);
        k++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        ret = s_fail(st, rc, "reading outbox");
        goto out;
    }
    *n = k;
    ret = VJ_OK;
out:
    s_done(s);
    return ret;
}

int vj_store_outbox_attempted(vj_store *st, const uint8_t msg_id[VJ_MSG_ID_LEN],
                              const char *recipient, int64_t next_ms)
{
    int ret = s_writable(st);
    sqlite3_stmt *s = NULL;
    if (ret != VJ_OK)
        return ret;
    if (msg_id == NULL || !vj_post_name_is_valid(recipient)) {
        snprintf(st->err, sizeof st->err, "invalid outbox item");
        return VJ_E_INVAL;
    }
    s = s_stmt(st, S_OUT_ATTEMPTED);
    sqlite3_bind_blob(s, 1, msg_id, VJ_MSG_ID_LEN, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, recipient, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, next_ms);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "recording attempt");
        st->tx_failed = 1;
        goto out;
    }
    if (sqlite3_changes(st->db) > 0) {
        ret = VJ_OK;
        goto out;
    }
    /* Nothing undelivered matched: delivered already (fine) or unknown. */
    s_done(s);
    s = s_stmt(st, S_OUT_EXISTS);
    sqlite3_bind_blob(s, 1, msg_id, VJ_MSG_ID_LEN, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, recipient, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        ret = VJ_OK;
    } else if (rc == SQLITE_DONE) {
        snprintf(st->err, sizeof st->err, "no such outbox item");
        ret = VJ_E_NOTFOUND;
    } else {
        ret = s_fail(st, rc, "recording attempt");
    }
out:
    s_done(s);
    return ret;
}

int vj_store_outbox_reset_due(vj_store *st, const char *recipient, int64_t now_ms)
{
    int ret = s_writable(st);
    if (ret != VJ_OK)
        return ret;
    if (!vj_post_name_is_valid(recipient)) {
        snprintf(st->err, sizeof st->err, "invalid recipient");
        return VJ_E_INVAL;
    }
    sqlite3_stmt *s = s_stmt(st, S_OUT_RESET);
    sqlite3_bind_text(s, 1, recipient, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now_ms);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "resetting outbox");
        st->tx_failed = 1;
    }
    s_done(s);
    return ret;
}

/* Forgets the cached receipt (its row may have been rolled back). */
static void s_receipt_forget(vj_store *st)
{
    free(st->rc_body);
    free(st->rc_sig);
    st->rc_body = st->rc_sig = NULL;
    st->rc_body_len = st->rc_sig_len = 0;
    st->rc_id = 0;
}

/* The row id of this receipt: one receipt covers a whole batch, so it is
 * stored once and the outbox rows of the batch refer to it. */
static int s_receipt_id(vj_store *st, const uint8_t *body, size_t body_len, const uint8_t *sig,
                        size_t sig_len, int64_t *id)
{
    int ret = VJ_E_STORE;
    sqlite3_stmt *s = NULL;
    if (st->rc_id != 0 && st->rc_body_len == body_len && st->rc_sig_len == sig_len &&
        memcmp(st->rc_body, body, body_len) == 0 && memcmp(st->rc_sig, sig, sig_len) == 0) {
        *id = st->rc_id;
        return VJ_OK;
    }
    s_receipt_forget(st);
    s = s_stmt(st, S_RECEIPT_INSERT);
    sqlite3_bind_blob(s, 1, body, (int)body_len, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, sig, (int)sig_len, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "storing receipt");
        ret = ret == VJ_E_REPLAY ? VJ_E_STORE : ret;
        goto out;
    }
    *id = sqlite3_last_insert_rowid(st->db);
    /* Remember it for the next item of the batch (best effort). */
    st->rc_body = malloc(body_len);
    st->rc_sig = malloc(sig_len);
    if (st->rc_body != NULL && st->rc_sig != NULL) {
        memcpy(st->rc_body, body, body_len);
        memcpy(st->rc_sig, sig, sig_len);
        st->rc_body_len = body_len;
        st->rc_sig_len = sig_len;
        st->rc_id = *id;
    } else {
        s_receipt_forget(st);
    }
    ret = VJ_OK;
out:
    s_done(s);
    return ret;
}

int vj_store_outbox_delivered(vj_store *st, const uint8_t msg_id[VJ_MSG_ID_LEN],
                              const char *recipient, const uint8_t *receipt_body, size_t body_len,
                              const uint8_t *receipt_sig, size_t sig_len, int64_t receipt_ms)
{
    int ret = s_writable(st);
    sqlite3_stmt *s = NULL;
    if (ret != VJ_OK)
        return ret;
    if (msg_id == NULL || !vj_post_name_is_valid(recipient) ||
        (receipt_body == NULL && body_len > 0) || (receipt_sig == NULL && sig_len > 0) ||
        body_len > INT_MAX || sig_len > INT_MAX) {
        snprintf(st->err, sizeof st->err, "invalid delivery record");
        return VJ_E_INVAL;
    }
    /* Only an undelivered item takes a receipt: the first receipt stays. */
    s = s_stmt(st, S_OUT_PENDING);
    sqlite3_bind_blob(s, 1, msg_id, VJ_MSG_ID_LEN, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, recipient, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        ret = VJ_OK; /* unknown or delivered already: ignored */
        goto out;
    }
    if (rc != SQLITE_ROW) {
        ret = s_fail(st, rc, "recording delivery");
        goto out;
    }
    int64_t item = sqlite3_column_int64(s, 0);
    s_done(s);
    s = NULL;

    int64_t receipt = 0;
    if (body_len > 0 || sig_len > 0) {
        ret = s_receipt_id(st, body_len > 0 ? receipt_body : (const uint8_t *)"", body_len,
                           sig_len > 0 ? receipt_sig : (const uint8_t *)"", sig_len, &receipt);
        if (ret != VJ_OK) {
            st->tx_failed = 1;
            goto out;
        }
    }
    s = s_stmt(st, S_OUT_DELIVERED);
    sqlite3_bind_int64(s, 1, item);
    if (receipt != 0)
        sqlite3_bind_int64(s, 2, receipt);
    sqlite3_bind_int64(s, 3, receipt_ms);
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "recording delivery");
        st->tx_failed = 1;
        goto out;
    }
    ret = VJ_OK;
out:
    s_done(s);
    return ret;
}

/* The receipt kept for (msg_id, recipient): *body and *sig malloc'ed (caller
 * frees).  VJ_E_NOTFOUND if the item is unknown or not delivered. */
int vj_store_outbox_receipt(vj_store *st, const uint8_t msg_id[VJ_MSG_ID_LEN],
                            const char *recipient, uint8_t **body, size_t *body_len, uint8_t **sig,
                            size_t *sig_len, int64_t *receipt_ms)
{
    int ret = VJ_E_INVAL;
    sqlite3_stmt *s = NULL;
    uint8_t *b = NULL, *g = NULL;
    if (body == NULL || body_len == NULL || sig == NULL || sig_len == NULL || receipt_ms == NULL)
        return VJ_E_INVAL;
    *body = *sig = NULL;
    *body_len = *sig_len = 0;
    *receipt_ms = 0;
    if (st == NULL || msg_id == NULL || !vj_post_name_is_valid(recipient))
        goto out;
    int rc = sqlite3_prepare_v2(st->db,
                                "SELECT r.body, r.sig, o.receipt_ms FROM outbox o"
                                " LEFT JOIN receipts r ON r.id = o.receipt_id"
                                " WHERE o.env_id = " S_ENV_ID " AND o.recipient = ?2"
                                " AND o.delivered = 1",
                                -1, &s, NULL);
    if (rc != SQLITE_OK) {
        ret = s_fail(st, rc, "reading receipt");
        goto out;
    }
    sqlite3_bind_blob(s, 1, msg_id, VJ_MSG_ID_LEN, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, recipient, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        ret = VJ_E_NOTFOUND;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        ret = s_fail(st, rc, "reading receipt");
        goto out;
    }
    int bn = sqlite3_column_bytes(s, 0);
    int gn = sqlite3_column_bytes(s, 1);
    b = malloc(bn > 0 ? (size_t)bn : 1);
    g = malloc(gn > 0 ? (size_t)gn : 1);
    if (b == NULL || g == NULL) {
        ret = VJ_E_NOMEM;
        goto out;
    }
    if (bn > 0)
        memcpy(b, sqlite3_column_blob(s, 0), (size_t)bn);
    if (gn > 0)
        memcpy(g, sqlite3_column_blob(s, 1), (size_t)gn);
    *body = b;
    *sig = g;
    *body_len = (size_t)bn;
    *sig_len = (size_t)gn;
    *receipt_ms = sqlite3_column_int64(s, 2);
    b = g = NULL;
    ret = VJ_OK;
out:
    free(b);
    free(g);
    sqlite3_finalize(s);
    return ret;
}

static int s_outbox_scalar(vj_store *st, int which, const char *recipient, int64_t *v, int *is_null,
                           const char *what)
{
    int ret = VJ_E_INVAL;
    sqlite3_stmt *s = NULL;
    if (st == NULL || !vj_post_name_is_valid(recipient))
        goto out;
    s = s_stmt(st, which);
    sqlite3_bind_text(s, 1, recipient, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        ret = s_fail(st, rc, what);
        goto out;
    }
    *is_null = sqlite3_column_type(s, 0) == SQLITE_NULL;
    *v = sqlite3_column_int64(s, 0);
    ret = VJ_OK;
out:
    s_done(s);
    return ret;
}

int vj_store_outbox_backlog(vj_store *st, const char *recipient, uint64_t *n)
{
    if (n == NULL)
        return VJ_E_INVAL;
    *n = 0;
    int64_t v = 0;
    int is_null = 0;
    int ret = s_outbox_scalar(st, S_OUT_BACKLOG, recipient, &v, &is_null, "outbox backlog");
    if (ret == VJ_OK)
        *n = (uint64_t)v;
    return ret;
}

int vj_store_outbox_next_due(vj_store *st, const char *recipient, int64_t *due_ms)
{
    if (due_ms == NULL)
        return VJ_E_INVAL;
    *due_ms = INT64_MAX;
    int64_t v = 0;
    int is_null = 0;
    int ret = s_outbox_scalar(st, S_OUT_NEXT, recipient, &v, &is_null, "outbox next due");
    if (ret == VJ_OK && !is_null)
        *due_ms = v;
    return ret;
}

/* Packs msg and unpacks the bytes again, so that protobuf-c owns every
 * allocation of *out and vj_codec_free() releases it exactly. */
static int s_own_copy(const ProtobufCMessage *msg, size_t cap, ProtobufCMessage **out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int ret = vj_codec_pack(msg, &buf, &len);
    if (ret == VJ_OK)
        ret = vj_codec_unpack(msg->descriptor, buf, len, cap, out);
    free(buf);
    return ret;
}

int vj_store_delivery(vj_store *st, const uint8_t msg_id[VJ_MSG_ID_LEN],
                      Valija__DeliveryReply **out)
{
    int ret = VJ_E_INVAL;
    sqlite3_stmt *s = NULL;
    char origin[VJ_POST_NAME_MAX + 1] = "";
    Valija__RecipientStatus *rs = NULL;
    Valija__RecipientStatus **rps = NULL;
    char(*posts)[VJ_POST_NAME_MAX + 1] = NULL;
    size_t len = 0, cap = 0;
    if (out != NULL)
        *out = NULL;
    if (st == NULL || msg_id == NULL || out == NULL)
        goto out;

    s = s_stmt(st, S_ENV_ORIGIN);
    sqlite3_bind_blob(s, 1, msg_id, VJ_MSG_ID_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        ret = VJ_E_NOTFOUND;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        ret = s_fail(st, rc, "delivery report");
        goto out;
    }
    snprintf(origin, sizeof origin, "%s", (const char *)sqlite3_column_text(s, 0));
    s_done(s);

    s = s_stmt(st, S_OUT_FOR_MSG);
    sqlite3_bind_blob(s, 1, msg_id, VJ_MSG_ID_LEN, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            Valija__RecipientStatus *p = realloc(rs, ncap * sizeof *p);
            if (p == NULL) {
                ret = VJ_E_NOMEM;
                goto out;
            }
            rs = p;
            char(*q)[VJ_POST_NAME_MAX + 1] = realloc(posts, ncap * sizeof *q);
            if (q == NULL) {
                ret = VJ_E_NOMEM;
                goto out;
            }
            posts = q;
            cap = ncap;
        }
        valija__recipient_status__init(&rs[len]);
        snprintf(posts[len], sizeof posts[len], "%s", (const char *)sqlite3_column_text(s, 0));
        rs[len].delivered = sqlite3_column_int(s, 1) != 0;
        rs[len].receipt_ms = sqlite3_column_int64(s, 2);
        int64_t attempts = sqlite3_column_int64(s, 3);
        rs[len].attempts = attempts > UINT32_MAX ? UINT32_MAX : (uint32_t)attempts;
        /* The signed receipt, kept as proof: copied, the row goes away. */
        for (int k = 0; k < 2; k++) {
            const void *blob = sqlite3_column_blob(s, 4 + k);
            int n = sqlite3_column_bytes(s, 4 + k);
            ProtobufCBinaryData *dst = k == 0 ? &rs[len].receipt_body : &rs[len].receipt_signature;
            if (blob != NULL && n > 0) {
                dst->data = malloc((size_t)n);
                if (dst->data == NULL) {
                    len++;
                    ret = VJ_E_NOMEM;
                    goto out;
                }
                memcpy(dst->data, blob, (size_t)n);
                dst->len = (size_t)n;
            }
        }
        len++;
    }
    if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "delivery report");
        goto out;
    }
    if (len > 0) {
        rps = calloc(len, sizeof *rps);
        if (rps == NULL) {
            ret = VJ_E_NOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < len; i++) {
        rs[i].post = posts[i];
        rps[i] = &rs[i];
    }
    Valija__DeliveryReply reply = VALIJA__DELIVERY_REPLY__INIT;
    reply.msg_id.data = (uint8_t *)msg_id;
    reply.msg_id.len = VJ_MSG_ID_LEN;
    reply.origin = origin;
    reply.n_recipients = len;
    reply.recipients = rps;
    ProtobufCMessage *copy = NULL;
    ret = s_own_copy(&reply.base, SIZE_MAX, &copy);
    if (ret != VJ_OK)
        goto out;
    *out = (Valija__DeliveryReply *)copy;
out:
    s_done(s);
    for (size_t i = 0; i < len; i++) {
        free(rs[i].receipt_body.data);
        free(rs[i].receipt_signature.data);
    }
    free(rs);
    free(rps);
    free(posts);
    return ret;
}

/* ------------------------------------------------------------------ events */

int vj_store_put_event(vj_store *st, const vj_store_event *ev)
{
    int ret = s_writable(st);
    if (ret != VJ_OK)
        return ret;
    if (ev == NULL || ev->info == NULL || !vj_case_id_is_valid(ev->case_id) ||
        !s_name_field_is_valid(ev->info->origin, sizeof ev->info->origin) ||
        !s_u64_fits(ev->lamport) || !s_u64_fits(ev->info->origin_seq) ||
        (ev->update == NULL && ev->update_len > 0) || ev->update_len > VJ_ENVELOPE_MAX_DEFAULT ||
        (ev->reason != NULL && strlen(ev->reason) > VJ_TEXT_MAX)) {
        snprintf(st->err, sizeof st->err, "invalid event");
        return VJ_E_INVAL;
    }
    sqlite3_stmt *s = s_stmt(st, S_EVENT_INSERT);
    sqlite3_bind_text(s, 1, ev->case_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)ev->lamport);
    sqlite3_bind_blob(s, 4, ev->info->msg_id, VJ_MSG_ID_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, ev->kind);
    sqlite3_bind_int64(s, 8, ev->received_ms);
    sqlite3_bind_int(s, 9, ev->verified != 0);
    sqlite3_bind_int(s, 10, ev->applied != 0);
    if (ev->reason != NULL)
        sqlite3_bind_text(s, 11, ev->reason, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 12, ev->update_len > 0 ? (const void *)ev->update : "",
                      (int)ev->update_len, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        /* One statement: a duplicate (VJ_E_REPLAY) leaves the transaction
         * intact. */
        ret = s_fail(st, rc, "storing event");
        if (ret != VJ_E_REPLAY)
            st->tx_failed = 1;
    } else if (sqlite3_changes(st->db) == 0) {
        snprintf(st->err, sizeof st->err, "storing event: message not held");
        ret = VJ_E_NOTFOUND;
    }
    s_done(s);
    return ret;
}

static int s_history_entry(sqlite3_stmt *s, Valija__HistoryEntry **out)
{
    int ret = VJ_E_STORE;
    ProtobufCMessage *update = NULL;
    ProtobufCMessage *copy = NULL;
    Valija__HistoryEntry e = VALIJA__HISTORY_ENTRY__INIT;

    e.msg_id.data = (uint8_t *)sqlite3_column_blob(s, 0);
    e.msg_id.len = (size_t)sqlite3_column_bytes(s, 0);
    const unsigned char *origin = sqlite3_column_text(s, 1);
    e.origin = (char *)(origin != NULL ? (const char *)origin : "");
    e.seq = (uint64_t)sqlite3_column_int64(s, 2);
    e.kind = (Valija__UpdateKind)sqlite3_column_int(s, 3);
    e.created_ms = sqlite3_column_int64(s, 4);
    e.received_ms = sqlite3_column_int64(s, 5);
    e.lamport = (uint64_t)sqlite3_column_int64(s, 6);
    e.verified = sqlite3_column_int(s, 7) != 0;
    e.applied = sqlite3_column_int(s, 8) != 0;
    const unsigned char *reason = sqlite3_column_text(s, 9);
    e.rejected_reason = (char *)(reason != NULL ? (const char *)reason : "");
    const uint8_t *ub = sqlite3_column_blob(s, 10);
    int un = sqlite3_column_bytes(s, 10);
    /* An update that does not parse is shown without its content. */
    if (vj_codec_unpack(&valija__case_update__descriptor, ub, (size_t)un, VJ_ENVELOPE_MAX_DEFAULT,
                        &update) == VJ_OK)
        e.update = (Valija__CaseUpdate *)update;
    ret = s_own_copy(&e.base, SIZE_MAX, &copy);
    if (ret != VJ_OK)
        goto out;
    *out = (Valija__HistoryEntry *)copy;
out:
    vj_codec_free(update);
    return ret;
}

int vj_store_history(vj_store *st, const char *case_id, Valija__HistoryEntry ***out, size_t *n)
{
    int ret = VJ_E_INVAL;
    sqlite3_stmt *s = NULL;
    Valija__HistoryEntry **arr = NULL;
    size_t len = 0, cap = 0;
    if (out != NULL)
        *out = NULL;
    if (n != NULL)
        *n = 0;
    if (st == NULL || out == NULL || n == NULL || !vj_case_id_is_valid(case_id))
        goto out;
    s = s_stmt(st, S_HISTORY);
    sqlite3_bind_text(s, 1, case_id, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            Valija__HistoryEntry **p = realloc(arr, ncap * sizeof *p);
            if (p == NULL) {
                ret = VJ_E_NOMEM;
                goto out;
            }
            arr = p;
            cap = ncap;
        }
        ret = s_history_entry(s, &arr[len]);
        if (ret != VJ_OK)
            goto out;
        len++;
    }
    if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "reading history");
        goto out;
    }
    *out = arr;
    *n = len;
    arr = NULL;
    len = 0;
    ret = VJ_OK;
out:
    s_done(s);
    vj_store_history_free(arr, len);
    return ret;
}

void vj_store_history_free(Valija__HistoryEntry **entries, size_t n)
{
    if (entries == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        vj_codec_free(&entries[i]->base);
    free(entries);
}

/* ------------------------------------------------------------------- cases */

/* Same share list and same links: their rows need no rewriting. */
static int s_same_shares_and_links(const Valija__CaseState *a, const Valija__CaseState *b)
{
    if (a->n_shared_with != b->n_shared_with || a->n_links != b->n_links)
        return 0;
    for (size_t i = 0; i < a->n_shared_with; i++)
        if (strcmp(a->shared_with[i], b->shared_with[i]) != 0)
            return 0;
    for (size_t i = 0; i < a->n_links; i++)
        if (a->links[i]->relation != b->links[i]->relation ||
            strcmp(s_str(a->links[i]->case_id), s_str(b->links[i]->case_id)) != 0)
            return 0;
    return 1;
}

int vj_store_put_case(vj_store *st, const Valija__CaseState *state)
{
    return vj_store_put_case_from(st, state, NULL);
}

int vj_store_put_case_from(vj_store *st, const Valija__CaseState *state,
                           const Valija__CaseState *old)
{
    int ret = s_writable(st);
    sqlite3_stmt *s = NULL;
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    if (ret != VJ_OK)
        return ret;
    if (state == NULL || !vj_case_id_is_valid(state->case_id) ||
        (s_str(state->owner)[0] != '\0' && !vj_post_name_is_valid(state->owner)) ||
        (state->n_shared_with > 0 && state->shared_with == NULL)) {
        snprintf(st->err, sizeof st->err, "invalid case state");
        return VJ_E_INVAL;
    }
    for (size_t i = 0; i < state->n_shared_with; i++) {
        if (!vj_post_name_is_valid(state->shared_with[i])) {
            snprintf(st->err, sizeof st->err, "invalid post name in shared_with");
            return VJ_E_INVAL;
        }
    }
    if (!s_links_are_valid(state)) {
        snprintf(st->err, sizeof st->err, "invalid link in case state");
        return VJ_E_INVAL;
    }
    ret = vj_codec_pack(&state->base, &blob, &blob_len);
    if (ret != VJ_OK)
        return ret;
    if (blob_len > S_STATE_MAX) {
        snprintf(st->err, sizeof st->err, "case state too large");
        ret = VJ_E_TOOBIG;
        goto out;
    }

    s = s_stmt(st, S_CASE_UPSERT);
    sqlite3_bind_text(s, 1, state->case_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, s_str(state->owner), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, s_str(state->status), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, s_str(state->facility), -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 5, state->closed != 0);
    sqlite3_bind_int64(s, 6, state->updated_ms);
    sqlite3_bind_int64(s, 7, (int64_t)state->n_conflicts);
    sqlite3_bind_blob(s, 8, blob_len > 0 ? (const void *)blob : "", (int)blob_len, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "storing case");
        ret = ret == VJ_E_REPLAY ? VJ_E_STORE : ret;
        st->tx_failed = 1;
        goto out;
    }
    s_done(s);
    if (old != NULL && s_same_shares_and_links(old, state)) {
        ret = VJ_OK;
        goto out;
    }

    s = s_stmt(st, S_SHARES_DELETE);
    sqlite3_bind_text(s, 1, state->case_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "storing case shares");
        st->tx_failed = 1;
        goto out;
    }
    s_done(s);

    s = s_stmt(st, S_SHARES_INSERT);
    for (size_t i = 0; i < state->n_shared_with; i++) {
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, state->case_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, state->shared_with[i], -1, SQLITE_STATIC);
        rc = sqlite3_step(s);
        if (rc != SQLITE_DONE) {
            ret = s_fail(st, rc, "storing case shares");
            ret = ret == VJ_E_REPLAY ? VJ_E_STORE : ret;
            st->tx_failed = 1;
            goto out;
        }
    }
    ret = s_links_put(st, state);
out:
    s_done(s);
    free(blob);
    return ret;
}

static int s_unpack_state(vj_store *st, sqlite3_stmt *s, int col, Valija__CaseState **out)
{
    ProtobufCMessage *m = NULL;
    const uint8_t *b = sqlite3_column_blob(s, col);
    int n = sqlite3_column_bytes(s, col);
    int ret = vj_codec_unpack(&valija__case_state__descriptor, b, (size_t)n, S_STATE_MAX, &m);
    if (ret != VJ_OK) {
        snprintf(st->err, sizeof st->err, "a stored case state does not parse");
        return VJ_E_STORE;
    }
    *out = (Valija__CaseState *)m;
    return VJ_OK;
}

int vj_store_get_case(vj_store *st, const char *case_id, Valija__CaseState **out)
{
    int ret = VJ_E_INVAL;
    sqlite3_stmt *s = NULL;
    if (out != NULL)
        *out = NULL;
    if (st == NULL || out == NULL || !vj_case_id_is_valid(case_id))
        goto out;
    s = s_stmt(st, S_CASE_GET);
    sqlite3_bind_text(s, 1, case_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        ret = VJ_E_NOTFOUND;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        ret = s_fail(st, rc, "reading case");
        goto out;
    }
    ret = s_unpack_state(st, s, 0, out);
out:
    s_done(s);
    return ret;
}

/* The cached statement for one combination of list filters.  Parameters:
 * ?1 status, ?2 facility, ?3 shared_with, ?4 updated_since_ms, ?5 limit. */
static int s_list_stmt(vj_store *st, unsigned combo, sqlite3_stmt **out)
{
    if (st->list_stmt[combo] != NULL) {
        *out = s_stmt_reset(st->list_stmt[combo]);
        return VJ_OK;
    }
    char sql[512];
    size_t off = 0;
    const char *sep = " WHERE ";
    off += (size_t)snprintf(sql + off, sizeof sql - off, "SELECT state FROM cases");
    if (combo & S_F_STATUS) {
        off += (size_t)snprintf(sql + off, sizeof sql - off, "%sstatus = ?1", sep);
        sep = " AND ";
    }
    if (combo & S_F_FACILITY) {
        off += (size_t)snprintf(sql + off, sizeof sql - off, "%sfacility = ?2", sep);
        sep = " AND ";
    }
    if (combo & S_F_SHARED) {
        off += (size_t)snprintf(sql + off, sizeof sql - off,
                                "%sEXISTS (SELECT 1 FROM case_shares s WHERE s.case_id ="
                                " cases.case_id AND s.post = ?3)",
                                sep);
        sep = " AND ";
    }
    if (combo & S_F_SINCE) {
        off += (size_t)snprintf(sql + off, sizeof sql - off, "%supdated_ms >= ?4", sep);
        sep = " AND ";
    }
    if (combo & S_F_CONFLICTS)
        off += (size_t)snprintf(sql + off, sizeof sql - off, "%sconflicts > 0", sep);
    snprintf(sql + off, sizeof sql - off, " ORDER BY updated_ms DESC, case_id LIMIT ?5");
    int rc =
        sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->list_stmt[combo], NULL);
    if (rc != SQLITE_OK)
        return s_fail(st, rc, "preparing list query");
    *out = st->list_stmt[combo];
    return VJ_OK;
}

int vj_store_list_cases(vj_store *st, const Valija__ListRequest *filter, Valija__CaseState ***out,
                        size_t *n)
{
    int ret = VJ_E_INVAL;
    sqlite3_stmt *s = NULL;
    Valija__CaseState **arr = NULL;
    size_t len = 0, cap = 0;
    unsigned combo = 0;
    if (out != NULL)
        *out = NULL;
    if (n != NULL)
        *n = 0;
    if (st == NULL || filter == NULL || out == NULL || n == NULL)
        goto out;
    if (filter->separated_only) {
        /* families, not cases: vj_store_separated_families() */
        snprintf(st->err, sizeof st->err, "separated families are listed by a query of their own");
        goto out;
    }
    const char *status = s_str(filter->status);
    const char *facility = s_str(filter->facility);
    const char *shared = s_str(filter->shared_with);
    if (status[0] != '\0')
        combo |= S_F_STATUS;
    if (facility[0] != '\0')
        combo |= S_F_FACILITY;
    if (shared[0] != '\0') {
        if (!vj_post_name_is_valid(shared)) {
            snprintf(st->err, sizeof st->err, "invalid post name in shared_with filter");
            goto out;
        }
        combo |= S_F_SHARED;
    }
    if (filter->updated_since_ms != 0)
        combo |= S_F_SINCE;
    if (filter->conflicts_only)
        combo |= S_F_CONFLICTS;
    uint32_t limit = filter->limit == 0 ? S_LIST_DEFAULT : filter->limit;
    if (limit > S_LIST_MAX)
        limit = S_LIST_MAX;

    ret = s_list_stmt(st, combo, &s);
    if (ret != VJ_OK)
        goto out;
    if (combo & S_F_STATUS)
        sqlite3_bind_text(s, 1, status, -1, SQLITE_STATIC);
    if (combo & S_F_FACILITY)
        sqlite3_bind_text(s, 2, facility, -1, SQLITE_STATIC);
    if (combo & S_F_SHARED)
        sqlite3_bind_text(s, 3, shared, -1, SQLITE_STATIC);
    if (combo & S_F_SINCE)
        sqlite3_bind_int64(s, 4, filter->updated_since_ms);
    sqlite3_bind_int64(s, 5, limit);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            Valija__CaseState **p = realloc(arr, ncap * sizeof *p);
            if (p == NULL) {
                ret = VJ_E_NOMEM;
                goto out;
            }
            arr = p;
            cap = ncap;
        }
        ret = s_unpack_state(st, s, 0, &arr[len]);
        if (ret != VJ_OK)
            goto out;
        len++;
    }
    if (rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "listing cases");
        goto out;
    }
    *out = arr;
    *n = len;
    arr = NULL;
    len = 0;
    ret = VJ_OK;
out:
    s_done(s);
    vj_store_cases_free(arr, len);
    return ret;
}

void vj_store_cases_free(Valija__CaseState **cases, size_t n)
{
    if (cases == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        vj_codec_free(&cases[i]->base);
    free(cases);
}

/* ---------------------------------------------------------------- families
 *
 * A family is a connected part of the graph whose nodes are case ids and
 * whose edges are the rows of case_links, each taken in both directions.
 * Nothing here trusts the graph to be small or free of cycles: a walk reaches
 * each case once (a set of the ids seen), a family lists at most
 * VJ_FAMILY_MAX members, and a walk past that holds nothing but case ids.
 */

static int s_links_are_valid(const Valija__CaseState *state)
{
    if (state->n_links > 0 && state->links == NULL)
        return 0;
    for (size_t i = 0; i < state->n_links; i++) {
        const Valija__CaseLink *l = state->links[i];
        if (l == NULL || (int)l->relation < VALIJA__LINK_RELATION__LINK_PARENT ||
            (int)l->relation > VALIJA__LINK_RELATION__LINK_SIBLING ||
            !vj_case_id_is_valid(l->case_id) || strcmp(l->case_id, state->case_id) == 0)
            return 0;
    }
    return 1;
}

/* Replaces the case_links rows of state->case_id with its links (checked by
 * s_links_are_valid).  SQLITE_DONE, or the code of the step that failed. */
static int s_links_write(sqlite3_stmt *del, sqlite3_stmt *ins, const Valija__CaseState *state)
{
    s_stmt_reset(del);
    sqlite3_bind_text(del, 1, state->case_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(del);
    s_done(del);
    for (size_t i = 0; rc == SQLITE_DONE && i < state->n_links; i++) {
        s_stmt_reset(ins);
        sqlite3_bind_text(ins, 1, state->case_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, state->links[i]->case_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 3, (int)state->links[i]->relation);
        rc = sqlite3_step(ins);
    }
    s_done(ins);
    return rc;
}

static int s_links_put(vj_store *st, const Valija__CaseState *state)
{
    int rc =
        s_links_write(st->fam_stmt[S_FAM_LINKS_DELETE], st->fam_stmt[S_FAM_LINKS_INSERT], state);
    if (rc == SQLITE_DONE)
        return VJ_OK;
    int ret = s_fail(st, rc, "storing case links");
    st->tx_failed = 1;
    return ret == VJ_E_REPLAY ? VJ_E_STORE : ret;
}

/* Migration S_MIGRATION_LINKS: the links of every case already held, from
 * its stored state.  A state that does not parse, or holds a link that
 * vj_store_put_case would refuse, stops the migration (nothing changes). */
static int s_links_backfill(sqlite3 *db, vj_diag *diag)
{
    int ret = VJ_E_STORE;
    sqlite3_stmt *sel = NULL, *del = NULL, *ins = NULL;
    ProtobufCMessage *m = NULL;
    if (sqlite3_prepare_v2(db, "SELECT case_id, state FROM cases", -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, s_fam_sql[S_FAM_LINKS_DELETE], -1, &del, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, s_fam_sql[S_FAM_LINKS_INSERT], -1, &ins, NULL) != SQLITE_OK) {
        vj_diag_set(diag, "filling case links: %s", sqlite3_errmsg(db));
        goto out;
    }
    int rc;
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        const unsigned char *id = sqlite3_column_text(sel, 0);
        const uint8_t *b = sqlite3_column_blob(sel, 1);
        int n = sqlite3_column_bytes(sel, 1);
        if (vj_codec_unpack(&valija__case_state__descriptor, b, (size_t)n, S_STATE_MAX, &m) !=
            VJ_OK) {
            vj_diag_set(diag, "filling case links: a stored case state does not parse");
            goto out;
        }
        const Valija__CaseState *cs = (const Valija__CaseState *)m;
        if (id == NULL || !vj_case_id_is_valid(cs->case_id) ||
            strcmp((const char *)id, cs->case_id) != 0 || !s_links_are_valid(cs)) {
            vj_diag_set(diag, "filling case links: a stored case state is inconsistent");
            goto out;
        }
        rc = s_links_write(del, ins, cs);
        if (rc != SQLITE_DONE) {
            vj_diag_set(diag, "filling case links: %s", sqlite3_errmsg(db));
            goto out;
        }
        vj_codec_free(m);
        m = NULL;
    }
    if (rc != SQLITE_DONE) {
        vj_diag_set(diag, "filling case links: %s", sqlite3_errmsg(db));
        goto out;
    }
    ret = VJ_OK;
out:
    vj_codec_free(m);
    sqlite3_finalize(sel);
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    return ret;
}

/* A set of case ids (open addressing, copies owned by the set). */
typedef struct {
    char **slot;
    size_t cap; /* 0 or a power of two */
    size_t n;
} s_idset;

static size_t s_id_hash(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211u;
    }
    return (size_t)h;
}

static void s_idset_free(s_idset *set)
{
    for (size_t i = 0; i < set->cap; i++)
        free(set->slot[i]);
    free(set->slot);
    memset(set, 0, sizeof *set);
}

static int s_idset_has(const s_idset *set, const char *id)
{
    if (set->cap == 0)
        return 0;
    for (size_t i = s_id_hash(id) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
        if (set->slot[i] == NULL)
            return 0;
        if (strcmp(set->slot[i], id) == 0)
            return 1;
    }
}

static void s_idset_place(char **slot, size_t cap, char *id)
{
    size_t i = s_id_hash(id) & (cap - 1);
    while (slot[i] != NULL)
        i = (i + 1) & (cap - 1);
    slot[i] = id;
}

/* Adds a copy of id: 1 when added, 0 when it was there, VJ_E_NOMEM. */
static int s_idset_add(s_idset *set, const char *id)
{
    if (s_idset_has(set, id))
        return 0;
    if ((set->n + 1) * 2 > set->cap) {
        size_t ncap = set->cap != 0 ? set->cap * 2 : 64;
        char **ns = calloc(ncap, sizeof *ns);
        if (ns == NULL)
            return VJ_E_NOMEM;
        for (size_t i = 0; i < set->cap; i++)
            if (set->slot[i] != NULL)
                s_idset_place(ns, ncap, set->slot[i]);
        free(set->slot);
        set->slot = ns;
        set->cap = ncap;
    }
    char *copy = strdup(id);
    if (copy == NULL)
        return VJ_E_NOMEM;
    s_idset_place(set->slot, set->cap, copy);
    set->n++;
    return 1;
}

/* The cases one walk reached, in order; the first VJ_FAMILY_MAX are the
 * members. */
typedef struct {
    struct {
        char id[VJ_CASE_ID_MAX + 1];
        Valija__FamilyRelation relation;
        int held; /* this post holds the case */
    } * v;
    size_t n, cap;
    int truncated; /* reached more than VJ_FAMILY_MAX */
} s_fam_walk;

static int s_walk_push(s_fam_walk *w, const char *id, Valija__FamilyRelation rel, int held)
{
    if (w->n == w->cap) {
        size_t ncap = w->cap != 0 ? w->cap * 2 : 16;
        void *p = realloc(w->v, ncap * sizeof *w->v);
        if (p == NULL)
            return VJ_E_NOMEM;
        w->v = p;
        w->cap = ncap;
    }
    snprintf(w->v[w->n].id, sizeof w->v[w->n].id, "%s", id);
    w->v[w->n].relation = rel;
    w->v[w->n].held = held;
    w->n++;
    return VJ_OK;
}

/* The relation to the anchor of a case linked to it directly: reverse is 0
 * for the anchor's own link (relation says what the case is to the anchor),
 * 1 for the case's link to the anchor (what the anchor is to the case). */
static Valija__FamilyRelation s_relation_to_anchor(int relation, int reverse)
{
    switch (relation) {
    case VALIJA__LINK_RELATION__LINK_PARENT:
        return reverse ? VALIJA__FAMILY_RELATION__FAMILY_CHILD
                       : VALIJA__FAMILY_RELATION__FAMILY_PARENT;
    case VALIJA__LINK_RELATION__LINK_CHILD:
        return reverse ? VALIJA__FAMILY_RELATION__FAMILY_PARENT
                       : VALIJA__FAMILY_RELATION__FAMILY_CHILD;
    case VALIJA__LINK_RELATION__LINK_SIBLING:
        return VALIJA__FAMILY_RELATION__FAMILY_SIBLING;
    default:
        return VALIJA__FAMILY_RELATION__FAMILY_RELATED;
    }
}

/* Walks the family of anchor breadth first into w, anchor first; from each
 * case, first the cases it links (by case id), then the cases that link it
 * (by case id).  seen holds the cases reached by this walk and by earlier
 * ones given the same set.  With whole, the walk goes on past VJ_FAMILY_MAX
 * members so that the whole family ends up in seen; without, it stops at the
 * first case past. */
static int s_family_walk(vj_store *st, const char *anchor, int anchor_held, s_idset *seen,
                         int whole, s_fam_walk *w)
{
    sqlite3_stmt *s = NULL;
    int ret = s_idset_add(seen, anchor);
    if (ret < 0)
        goto out;
    ret = s_walk_push(w, anchor, VALIJA__FAMILY_RELATION__FAMILY_SELF, anchor_held);
    if (ret != VJ_OK)
        goto out;
    for (size_t i = 0; i < w->n; i++) {
        /* the anchor's own links come first, so they decide the relation
         * when both cases linked each other; a case not held has none */
        for (int reverse = w->v[i].held ? 0 : 1; reverse <= 1; reverse++) {
            s = s_stmt_reset(st->fam_stmt[reverse ? S_FAM_LINKS_TO : S_FAM_LINKS_FROM]);
            /* copied: pushing may move w->v */
            sqlite3_bind_text(s, 1, w->v[i].id, -1, SQLITE_TRANSIENT);
            int rc;
            while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                const char *id = (const char *)sqlite3_column_text(s, 0);
                if (id == NULL || !vj_case_id_is_valid(id))
                    continue;
                ret = s_idset_add(seen, id);
                if (ret < 0)
                    goto out;
                if (ret == 0)
                    continue;
                if (w->n >= VJ_FAMILY_MAX) {
                    w->truncated = 1;
                    if (!whole) {
                        ret = VJ_OK;
                        goto out;
                    }
                }
                Valija__FamilyRelation rel =
                    i == 0 ? s_relation_to_anchor(sqlite3_column_int(s, 1), reverse)
                           : VALIJA__FAMILY_RELATION__FAMILY_RELATED;
                ret = s_walk_push(w, id, rel, sqlite3_column_int(s, 2) != 0);
                if (ret != VJ_OK)
                    goto out;
            }
            if (rc != SQLITE_DONE) {
                ret = s_fail(st, rc, "reading case links");
                goto out;
            }
            s_done(s);
            s = NULL;
        }
    }
    ret = VJ_OK;
out:
    s_done(s);
    return ret;
}

/* How many of the cases w reached this post holds. */
static size_t s_walk_held(const s_fam_walk *w)
{
    size_t held = 0;
    for (size_t i = 0; i < w->n; i++)
        held += w->v[i].held != 0;
    return held;
}

/* 1 if this post holds case_id, 0 if not, or an error. */
static int s_case_is_held(vj_store *st, const char *case_id)
{
    sqlite3_stmt *s = s_stmt_reset(st->fam_stmt[S_FAM_HELD]);
    sqlite3_bind_text(s, 1, case_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : s_fail(st, rc, "reading cases");
    s_done(s);
    return ret;
}

/* The Family message of the members of w, each held one described from its
 * materialized state.  *out: vj_codec_free. */
static int s_family_build(vj_store *st, const s_fam_walk *w, Valija__Family **out)
{
    int ret = VJ_E_NOMEM;
    size_t n = w->n < VJ_FAMILY_MAX ? w->n : VJ_FAMILY_MAX;
    Valija__FamilyMember *m = calloc(n + 1, sizeof *m);
    Valija__FamilyMember **mp = calloc(n + 1, sizeof *mp);
    Valija__CaseState **states = calloc(n + 1, sizeof *states);
    ProtobufCMessage *copy = NULL;
    *out = NULL;
    if (m == NULL || mp == NULL || states == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        valija__family_member__init(&m[i]);
        mp[i] = &m[i];
        m[i].case_id = w->v[i].id;
        m[i].relation = w->v[i].relation;
        ret = vj_store_get_case(st, w->v[i].id, &states[i]);
        if (ret == VJ_E_NOTFOUND)
            continue;
        if (ret != VJ_OK)
            goto out;
        const Valija__CaseState *c = states[i];
        m[i].held = 1;
        m[i].owner = c->owner;
        m[i].status = c->status;
        m[i].facility = c->facility;
        if (c->person != NULL)
            m[i].name = c->person->name;
        m[i].closed = c->closed;
        m[i].updated_ms = c->updated_ms;
    }
    Valija__Family f = VALIJA__FAMILY__INIT;
    f.members = mp;
    f.n_members = n;
    f.truncated = w->truncated != 0;
    ret = s_own_copy(&f.base, SIZE_MAX, &copy);
    if (ret != VJ_OK)
        goto out;
    *out = (Valija__Family *)copy;
out:
    for (size_t i = 0; states != NULL && i < n; i++)
        vj_codec_free(states[i] != NULL ? &states[i]->base : NULL);
    free(states);
    free(mp);
    free(m);
    return ret;
}

int vj_store_family(vj_store *st, const char *case_id, Valija__Family **out)
{
    int ret = VJ_E_INVAL;
    s_idset seen = {0};
    s_fam_walk w = {0};
    if (out != NULL)
        *out = NULL;
    if (st == NULL || out == NULL || !vj_case_id_is_valid(case_id))
        goto out;
    ret = s_case_is_held(st, case_id);
    if (ret < 0)
        goto out;
    ret = s_family_walk(st, case_id, ret, &seen, 0, &w);
    if (ret == VJ_OK)
        ret = s_family_build(st, &w, out);
out:
    s_idset_free(&seen);
    free(w.v);
    return ret;
}

int vj_store_separated_families(vj_store *st, uint32_t limit, Valija__Family ***out, size_t *n)
{
    int ret = VJ_E_INVAL;
    sqlite3_stmt *s = NULL;
    s_idset seen = {0};
    s_fam_walk w = {0};
    Valija__Family **arr = NULL;
    size_t len = 0, cap = 0;
    if (out != NULL)
        *out = NULL;
    if (n != NULL)
        *n = 0;
    if (st == NULL || out == NULL || n == NULL)
        goto out;
    if (limit == 0)
        limit = S_LIST_DEFAULT;
    if (limit > S_LIST_MAX)
        limit = S_LIST_MAX;
    s = s_stmt_reset(st->fam_stmt[S_FAM_SEEDS]);
    int rc;
    while (len < limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        char seed[VJ_CASE_ID_MAX + 1];
        const char *t = (const char *)sqlite3_column_text(s, 0);
        /* a seed reached from an earlier one belongs to a family listed or
         * found not separated already */
        if (t == NULL || !vj_case_id_is_valid(t) || s_idset_has(&seen, t))
            continue;
        snprintf(seed, sizeof seed, "%s", t);
        w.n = 0;
        w.truncated = 0;
        ret = s_family_walk(st, seed, 1, &seen, 1, &w);
        if (ret != VJ_OK)
            goto out;
        if (s_walk_held(&w) < 2)
            continue; /* the seed alone: nobody to be separated from */
        if (len == cap) {
            size_t ncap = cap != 0 ? cap * 2 : 16;
            Valija__Family **p = realloc(arr, ncap * sizeof *p);
            if (p == NULL) {
                ret = VJ_E_NOMEM;
                goto out;
            }
            arr = p;
            cap = ncap;
        }
        ret = s_family_build(st, &w, &arr[len]);
        if (ret != VJ_OK)
            goto out;
        len++;
    }
    if (len < limit && rc != SQLITE_DONE) {
        ret = s_fail(st, rc, "listing families");
        goto out;
    }
    *out = arr;
    *n = len;
    arr = NULL;
    len = 0;
    ret = VJ_OK;
out:
    s_done(s);
    s_idset_free(&seen);
    free(w.v);
    vj_store_families_free(arr, len);
    return ret;
}

void vj_store_families_free(Valija__Family **families, size_t n)
{
    if (families == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        vj_codec_free(families[i] != NULL ? &families[i]->base : NULL);
    free(families);
}
