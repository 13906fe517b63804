/* vj_store.h - the post's durable store: one SQLite database per post.
 *
 * WAL mode, synchronous=FULL, secure_delete=ON, files created 0600.  The store
 * keeps (1) every envelope as received, signature included (the evidence),
 * (2) the outbox: per recipient delivery state and the signed receipts,
 * (3) the decrypted case events and (4) the current state of every case,
 * materialized for queries.  Schema changes are numbered migrations.
 *
 * Durability: the caller groups writes in vj_store_begin()/vj_store_commit();
 * nothing may be acknowledged to anyone before vj_store_commit() returned
 * VJ_OK.  A vj_store is used from one thread only.
 */
#ifndef VJ_STORE_H
#define VJ_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "vj_codec.h"
#include "vj_envelope.h"

typedef struct vj_store vj_store;

/* Opens (creating when missing, 0600) and migrates the database at path. */
int vj_store_open(const char *path, vj_store **out, vj_diag *diag) VJ_MUST_CHECK;
void vj_store_close(vj_store **st);

/* The schema version this build writes (and the highest it can open). */
int vj_store_schema_version(void);

/* Transactions.  Writes outside a transaction are refused (VJ_E_INVAL). */
int vj_store_begin(vj_store *st) VJ_MUST_CHECK;
int vj_store_commit(vj_store *st) VJ_MUST_CHECK;
void vj_store_rollback(vj_store *st);

/* One level of savepoint inside a transaction, so that one request or one
 * envelope can be undone without losing the rest of a group commit. */
int vj_store_savepoint(vj_store *st) VJ_MUST_CHECK;
int vj_store_release(vj_store *st) VJ_MUST_CHECK;
void vj_store_rollback_to(vj_store *st);

/* This post's own counters, persisted in the same transaction. */
int vj_store_next_origin_seq(vj_store *st, uint64_t *seq) VJ_MUST_CHECK;
/* Lamport clock: observe(t) raises the clock to at least t; tick() returns
 * clock+1 and stores it. */
int vj_store_lamport_observe(vj_store *st, uint64_t t) VJ_MUST_CHECK;
int vj_store_lamport_tick(vj_store *st, uint64_t *t) VJ_MUST_CHECK;
/* Both at once, for a new update of this post: the next origin sequence and
 * the next Lamport time, in one write. */
int vj_store_next_counters(vj_store *st, uint64_t *seq, uint64_t *lamport) VJ_MUST_CHECK;
/* Raises this post's own origin sequence to at least seq: one of this
 * post's own signed updates, numbered seq, came back from a peer after the
 * store was restored from a backup; numbering goes on above it. */
int vj_store_origin_seq_observe(vj_store *st, uint64_t seq) VJ_MUST_CHECK;

/* --- envelopes (evidence) --- */

/* Keeps a verified envelope exactly as received.  from_peer is the
 * authenticated post it came from (our own name for local submissions).
 * VJ_E_REPLAY if the msg_id, or the (origin, origin_seq), is already held. */
int vj_store_put_envelope(vj_store *st, const vj_envelope_info *info, const uint8_t *env,
                          size_t env_len, const char *from_peer, int64_t received_ms) VJ_MUST_CHECK;

/* 1 if held, 0 if not. */
int vj_store_has_envelope(vj_store *st, const uint8_t msg_id[VJ_MSG_ID_LEN],
                          int *held) VJ_MUST_CHECK;

/* *yes = 1 if the held envelope msg_id is addressed to post, else 0. */
int vj_store_envelope_is_for(vj_store *st, const uint8_t msg_id[VJ_MSG_ID_LEN], const char *post,
                             int *yes) VJ_MUST_CHECK;

/* The envelope bytes (malloc'ed, caller frees).  VJ_E_NOTFOUND. */
int vj_store_get_envelope(vj_store *st, const uint8_t msg_id[VJ_MSG_ID_LEN], uint8_t **env,
                          size_t *env_len) VJ_MUST_CHECK;

/* For each origin, the highest origin_seq held (for Hello).  *marks is
 * malloc'ed (caller frees), each origin NUL-terminated in the struct. */
typedef struct {
    char origin[VJ_POST_NAME_MAX + 1];
    uint64_t seq;
} vj_origin_mark;
int vj_store_origin_marks(vj_store *st, vj_origin_mark **marks, size_t *n) VJ_MUST_CHECK;

/* --- outbox --- */

/* Queues msg_id for recipient, first attempt due at due_ms. */
int vj_store_outbox_add(vj_store *st, const uint8_t msg_id[VJ_MSG_ID_LEN], const char *recipient,
                        int64_t due_ms) VJ_MUST_CHECK;

/* Up to max undelivered msg_ids for recipient whose next attempt is due at or
 * before now_ms, oldest first, into ids (max * VJ_MSG_ID_LEN bytes). */
int vj_store_outbox_due(vj_store *st, const char *recipient, int64_t now_ms, size_t max,
                        uint8_t *ids, size_t *n) VJ_MUST_CHECK;

/* Records an attempt: attempts += 1, next attempt at next_ms. */
int vj_store_outbox_attempted(vj_store *st, const uint8_t msg_id[VJ_MSG_ID_LEN],
                              const char *recipient, int64_t next_ms) VJ_MUST_CHECK;

/* Makes every undelivered item of recipient due now (on reconnect). */
int vj_store_outbox_reset_due(vj_store *st, const char *recipient, int64_t now_ms) VJ_MUST_CHECK;

/* Marks delivered and keeps the signed receipt (body and signature as
 * received).  Unknown (msg_id, recipient) pairs are ignored (VJ_OK). */
int vj_store_outbox_delivered(vj_store *st, const uint8_t msg_id[VJ_MSG_ID_LEN],
                              const char *recipient, const uint8_t *receipt_body, size_t body_len,
                              const uint8_t *receipt_sig, size_t sig_len,
                              int64_t receipt_ms) VJ_MUST_CHECK;

/* Undelivered items for recipient. */
int vj_store_outbox_backlog(vj_store *st, const char *recipient, uint64_t *n) VJ_MUST_CHECK;

/* The earliest next-attempt time of any undelivered item of recipient, or
 * INT64_MAX when there is none. */
int vj_store_outbox_next_due(vj_store *st, const char *recipient, int64_t *due_ms) VJ_MUST_CHECK;

/* Delivery state of one message: origin and one entry per outbox recipient.
 * VJ_E_NOTFOUND if the message is not held.  *out: free with vj_codec_free. */
int vj_store_delivery(vj_store *st, const uint8_t msg_id[VJ_MSG_ID_LEN],
                      Valija__DeliveryReply **out) VJ_MUST_CHECK;

/* --- case events and case state --- */

/* Records a decrypted event of a case.  update is the exact plaintext bytes
 * (a serialized CaseUpdate).  applied = 0 records an event refused by the
 * case rules, with the reason (shown by history). */
typedef struct {
    const vj_envelope_info *info;
    const char *case_id;
    uint64_t lamport;
    uint32_t kind;
    const uint8_t *update;
    size_t update_len;
    int64_t received_ms;
    int verified;
    int applied;
    const char *reason; /* NULL when applied */
} vj_store_event;
int vj_store_put_event(vj_store *st, const vj_store_event *ev) VJ_MUST_CHECK;

/* Every event of a case, ordered by (lamport, origin, msg_id), as
 * HistoryEntry messages with their update unpacked.  *out is malloc'ed,
 * each entry freed with vj_codec_free; use vj_store_history_free. */
int vj_store_history(vj_store *st, const char *case_id, Valija__HistoryEntry ***out,
                     size_t *n) VJ_MUST_CHECK;
void vj_store_history_free(Valija__HistoryEntry **entries, size_t n);

/* Replaces the materialized state of state->case_id. */
int vj_store_put_case(vj_store *st, const Valija__CaseState *state) VJ_MUST_CHECK;
/* The same, knowing the state it replaces (as stored: NULL if none), so
 * that unchanged share and link rows are not rewritten. */
int vj_store_put_case_from(vj_store *st, const Valija__CaseState *state,
                           const Valija__CaseState *old) VJ_MUST_CHECK;

/* The materialized state of a case; VJ_E_NOTFOUND.  Free with vj_codec_free. */
int vj_store_get_case(vj_store *st, const char *case_id, Valija__CaseState **out) VJ_MUST_CHECK;

/* Cases matching the filter (see ListRequest), most recently updated first.
 * *out is malloc'ed; free with vj_store_cases_free. */
int vj_store_list_cases(vj_store *st, const Valija__ListRequest *filter, Valija__CaseState ***out,
                        size_t *n) VJ_MUST_CHECK;
void vj_store_cases_free(Valija__CaseState **cases, size_t n);

/* --- additions (declared after the original interface; nothing above changed) --- */

/* The last error of st for a person (SQLite's message or ours; never case
 * contents); "" when none.  Valid until the next call on st. */
const char *vj_store_last_error(const vj_store *st);

/* This post's own counters as committed (or as written in the open
 * transaction), without changing them. */
int vj_store_counters(vj_store *st, uint64_t *origin_seq, uint64_t *lamport) VJ_MUST_CHECK;

/* Catch-up: up to max msg_ids of envelopes of origin addressed to recipient
 * with origin_seq > after_seq, in origin_seq order, into ids
 * (max * VJ_MSG_ID_LEN bytes).  Fetch each with vj_store_get_envelope. */
int vj_store_catch_up(vj_store *st, const char *recipient, const char *origin, uint64_t after_seq,
                      size_t max, uint8_t *ids, size_t *n) VJ_MUST_CHECK;

/* The signed receipt kept for a delivered (msg_id, recipient): body and
 * signature malloc'ed (caller frees both).  VJ_E_NOTFOUND if unknown or not
 * yet delivered. */
int vj_store_outbox_receipt(vj_store *st, const uint8_t msg_id[VJ_MSG_ID_LEN],
                            const char *recipient, uint8_t **body, size_t *body_len, uint8_t **sig,
                            size_t *sig_len, int64_t *receipt_ms) VJ_MUST_CHECK;

/* The connection settings in force, read back from SQLite (for checks,
 * `valijad -n` and tests). */
typedef struct {
    char journal_mode[16]; /* "wal" */
    int synchronous;       /* 2: FULL */
    int secure_delete;     /* 1 */
    int foreign_keys;      /* 1 */
    int user_version;      /* vj_store_schema_version() */
} vj_store_settings;
int vj_store_get_settings(vj_store *st, vj_store_settings *out) VJ_MUST_CHECK;

/* --- families (docs/cases.md "Families") --- */

/* A family lists at most this many members. */
#define VJ_FAMILY_MAX 64

/* The family of case_id: the cases connected to it by links recorded in
 * either direction (vj_store_put_case keeps them), reached breadth first:
 * case_id itself first (FAMILY_SELF), then nearest first (from each case,
 * the cases it links, then the cases linking it, each by case id), at most
 * VJ_FAMILY_MAX (truncated set when there are more).  Each
 * member linked directly to case_id has its relation to it (case_id's own
 * link first, else the inverse of the member's link); others are
 * FAMILY_RELATED.  A member this post does not hold has held = 0 and only
 * its case id.  case_id need not be held itself.  *out: vj_codec_free. */
int vj_store_family(vj_store *st, const char *case_id, Valija__Family **out) VJ_MUST_CHECK;

/* The separated families: those with at least two members this post holds,
 * not all of them with status "reunited" (ASCII case ignored).  Each family
 * once, at most limit of them (0: 1000; at most 10000), ordered by their
 * most recently updated member that is not reunited, which comes first in
 * the family (FAMILY_SELF) and is the one the relations are to.  *out is
 * malloc'ed: vj_store_families_free. */
int vj_store_separated_families(vj_store *st, uint32_t limit, Valija__Family ***out,
                                size_t *n) VJ_MUST_CHECK;
void vj_store_families_free(Valija__Family **families, size_t n);

#endif
