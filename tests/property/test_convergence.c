/* test_convergence.c - property test: three posts that update the same cases
 * concurrently, over a network that delays, duplicates, reorders and drops
 * messages, and that restart (cleanly or by crashing mid-turn), end with the
 * same case at every post the case is shared with.
 *
 * An in-process simulation, no sockets and no daemons: each post is its own
 * identity, keyring (the other two cards pinned), SQLite store in a mkdtemp
 * directory and vj_post, driven the way valijad drives them (daemon/valijad.c,
 * vjd_peers.c, vjd_clients.c): a turn
 * is one store transaction in which each submission and each received
 * envelope has its own savepoint (rolled back when refused), receipts are
 * signed and sent only after the commit, and the outbox is sent after the
 * commit (vj_store_outbox_due -> vj_post_envelope_for -> frame, attempts
 * recorded with a backoff).  Duplicates (VJ_E_REPLAY) are receipted too.  A
 * "reconnect" makes every undelivered item of a link due again, as the
 * daemon does on a handshake or a Hello.  The frames are the real peer
 * protocol frames (vj_peer_msg_*), receipts real signed receipts.
 *
 * After a random run the network is healed (everything delivered, retried
 * until every outbox is empty) and, for every case:
 *   - the union of the events held anywhere is folded (the "truth"); every
 *     copy of one event is the same (origin, seq, lamport, time, bytes);
 *   - at every post the truth shares the case with, the case as `valija case`
 *     computes it (vj_store_history + vj_case_fold, as vj_api.c does) packs to
 *     the same bytes as the truth (digest compared; on a difference the first
 *     differing field is named), and the materialized state (what `list`
 *     reads, notes left out) matches as well;
 *   - every update accepted at submission (committed) is held by every post
 *     the truth shares the case with;
 *   - a post that no update of the case ever named holds none of its events;
 *   - no envelope between these honest posts was ever refused.
 * The verdict does not depend on libsodium's randomness (keys, nonces,
 * message ids): only the test's own PRNG (splitmix64) chooses what happens.
 *
 * Modes:
 *   test_convergence                      CI: a fixed set of seeds
 *   test_convergence --seeds N [--base B] [--ops K]
 *                                         N seeds from B (default: random),
 *                                         K submissions each (default 300),
 *                                         progress on stdout
 *   test_convergence --seed S [--ops K] [--quiet]
 *                                         replays one seed, printing every step
 *   test_convergence --seed S --expect-divergence [--quiet]
 *                                         passes only if the seed still shows
 *                                         a known gap (a post lacks an applied
 *                                         update or shows another case) and
 *                                         fails in no other way
 * A failure prints the seed, the case, what differs, and the replay command;
 * the exit status is 1.  TMPDIR is honoured for the stores.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "vj_card.h"
#include "vj_case.h"
#include "vj_codec.h"
#include "vj_identity.h"
#include "vj_keyring.h"
#include "vj_peer_msg.h"
#include "vj_post.h"
#include "vj_receipt.h"
#include "vj_store.h"

#define N_POSTS 3
#define N_CASES 5
#define MAX_MSG VJ_ENVELOPE_MAX_DEFAULT
#define BATCH_MAX 8
#define RETRY_MAX_MS 60000
#define HEAL_ROUNDS 200
#define RECEIPT_IDS 4096 /* ids per receipt (the daemon's chunk) */

static const char *const k_posts[N_POSTS] = {"mx-a", "sv-b", "gt-c"};
static const char *const k_cases[N_CASES] = {"C-0", "C-1", "C-2", "C-3", "C-4"};
static const char *const k_status[] = {"detained", "released", "transferred", "reunited",
                                       "repatriated"};
static const char *const k_facility[] = {"Dilley", "Karnes", "Otay Mesa", "Adelanto"};
static const char *const k_names[] = {"Ana", "Ana Maria", "Jose", "Luis"};
static const char *const k_dobs[] = {"2012-03-04", "2015-11-30", "2009-07-15"};
static const char *const k_nat[] = {"MX", "SLV", "GT", "HND"};
static const char *const k_reps[] = {"R. Garcia", "L. Flores", ""};
static const char *const k_orgs[] = {"Legal Aid", "Kids in Need", ""};
static const char *const k_visitors[] = {"consul", "vice-consul", "social worker"};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ the PRNG */

static uint64_t g_rng;

static uint64_t s_next(void)
{
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned s_below(unsigned n)
{
    return (unsigned)(s_next() % n);
}

static int s_chance(unsigned percent)
{
    return s_below(100) < percent;
}

/* ------------------------------------------------------------ reporting */

static int g_verbose;
static uint64_t g_seed;
static int g_failed;   /* this seed: every failure */
static int g_diverged; /* this seed: a post shows another case, or lacks an applied update */
static int g_ops = 300;

static void s_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void s_log(const char *fmt, ...)
{
    if (!g_verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static void s_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void s_fail(const char *fmt, ...)
{
    va_list ap;
    if (!g_failed)
        printf("FAIL seed %" PRIu64 " (replay: test_convergence --seed %" PRIu64 " --ops %d)\n",
               g_seed, g_seed, g_ops);
    g_failed++;
    printf("  ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static const char *s_hex(const uint8_t id[VJ_MSG_ID_LEN], char buf[33])
{
    for (int i = 0; i < VJ_MSG_ID_LEN; i++)
        snprintf(buf + 2 * i, 3, "%02x", id[i]);
    return buf;
}

/* ------------------------------------------------------------ the world */

typedef struct {
    int case_ix;
    uint8_t msg_id[VJ_MSG_ID_LEN];
    int origin;
    unsigned named; /* bitmask of posts this update names (lists, origin) */
} accepted_t;

typedef struct {
    accepted_t *v;
    size_t n, cap;
} accepted_list;

typedef struct {
    uint8_t *ids;
    size_t n, cap;
} id_list;

typedef struct {
    vj_identity *id;
    vj_keyring *kr;
    vj_store *st;
    vj_post *post;
    char db[PATH_MAX];
    int in_tx;
    id_list acks[N_POSTS]; /* to receipt after the commit, per sender */
    accepted_list pending; /* submitted in the open transaction */
} post_t;

enum { M_ENVELOPES, M_RECEIPT };

typedef struct {
    int kind;
    int from, to;
    int sticky; /* delivered only rarely: a long delay */
    uint8_t *frame;
    size_t len;
} msg_t;

typedef struct {
    char dir[PATH_MAX - 64];
    post_t posts[N_POSTS];
    msg_t *net;
    size_t n_net, cap_net;
    accepted_list accepted; /* committed submissions */
    unsigned ever[N_CASES]; /* posts named by any committed update of the case */
    int opened[N_CASES];    /* some post committed an OPENED */
    int64_t now;
    unsigned long refused, submitted_ok, submitted_refused, delivered, dropped, duplicated,
        restarts, crashes, rejected_unheld;
} world_t;

static void *s_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return q;
}

static void s_ids_push(id_list *l, const uint8_t id[VJ_MSG_ID_LEN])
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->ids = s_xrealloc(l->ids, l->cap * VJ_MSG_ID_LEN);
    }
    memcpy(l->ids + l->n * VJ_MSG_ID_LEN, id, VJ_MSG_ID_LEN);
    l->n++;
}

static void s_accepted_push(accepted_list *l, const accepted_t *a)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = s_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = *a;
}

static int s_post_ix(const char *name)
{
    for (int i = 0; i < N_POSTS; i++)
        if (strcmp(name, k_posts[i]) == 0)
            return i;
    return -1;
}

static void s_net_push(world_t *w, int kind, int from, int to, uint8_t *frame, size_t len)
{
    if (w->n_net == w->cap_net) {
        w->cap_net = w->cap_net ? w->cap_net * 2 : 64;
        w->net = s_xrealloc(w->net, w->cap_net * sizeof *w->net);
    }
    msg_t *m = &w->net[w->n_net++];
    m->kind = kind;
    m->from = from;
    m->to = to;
    m->sticky = s_chance(8);
    m->frame = frame;
    m->len = len;
}

static void s_net_remove(world_t *w, size_t i)
{
    free(w->net[i].frame);
    w->net[i] = w->net[--w->n_net];
}

/* A fatal problem of the harness or of the store (not a divergence). */
static int s_check(int rc, const char *what, const post_t *p)
{
    if (rc != VJ_OK)
        s_fail("%s failed: %s (%s)", what, vj_strerror(rc),
               p != NULL && p->st != NULL ? vj_store_last_error(p->st) : "");
    return rc == VJ_OK;
}

static int s_tx(post_t *p)
{
    if (p->in_tx)
        return 1;
    if (!s_check(vj_store_begin(p->st), "begin", p))
        return 0;
    p->in_tx = 1;
    return 1;
}

/* ------------------------------------------------------------ posts */

static int s_post_open(world_t *w, int i)
{
    post_t *p = &w->posts[i];
    vj_diag diag = {{0}};
    int rc = vj_store_open(p->db, &p->st, &diag);
    if (rc != VJ_OK) {
        s_fail("opening the store of %s: %s %s", k_posts[i], vj_strerror(rc), diag.text);
        return 0;
    }
    return s_check(vj_post_new(p->st, p->kr, MAX_MSG, &p->post), "vj_post_new", p);
}

static int s_world_new(world_t *w)
{
    memset(w, 0, sizeof *w);
    w->now = 1700000000000LL;
    const char *tmp = getenv("TMPDIR");
    snprintf(w->dir, sizeof w->dir, "%s/vj-conv-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(w->dir) == NULL) {
        s_fail("mkdtemp %s: %s", w->dir, strerror(errno));
        return 0;
    }
    vj_card cards[N_POSTS];
    for (int i = 0; i < N_POSTS; i++) {
        post_t *p = &w->posts[i];
        snprintf(p->db, sizeof p->db, "%s/%s.db", w->dir, k_posts[i]);
        if (!s_check(vj_identity_generate(k_posts[i], &p->id), "vj_identity_generate", NULL) ||
            !s_check(vj_card_from_identity(p->id, &cards[i]), "vj_card_from_identity", NULL) ||
            !s_check(vj_keyring_new(p->id, &p->kr), "vj_keyring_new", NULL))
            return 0;
    }
    for (int i = 0; i < N_POSTS; i++) {
        for (int j = 0; j < N_POSTS; j++)
            if (i != j &&
                !s_check(vj_keyring_add(w->posts[i].kr, &cards[j]), "vj_keyring_add", NULL))
                return 0;
        if (!s_post_open(w, i))
            return 0;
    }
    return 1;
}

static void s_post_forget_turn(post_t *p)
{
    for (int j = 0; j < N_POSTS; j++)
        p->acks[j].n = 0;
    p->pending.n = 0;
}

static void s_world_free(world_t *w)
{
    for (int i = 0; i < N_POSTS; i++) {
        post_t *p = &w->posts[i];
        vj_post_destroy(&p->post);
        vj_store_close(&p->st);
        vj_keyring_destroy(&p->kr);
        vj_identity_destroy(&p->id);
        for (int j = 0; j < N_POSTS; j++)
            free(p->acks[j].ids);
        free(p->pending.v);
    }
    while (w->n_net > 0)
        s_net_remove(w, w->n_net - 1);
    free(w->net);
    free(w->accepted.v);
    DIR *d = opendir(w->dir);
    if (d != NULL) {
        struct dirent *e;
        char path[PATH_MAX + 256];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", w->dir, e->d_name);
            unlink(path);
        }
        closedir(d);
        rmdir(w->dir);
    }
}

/* The outbox of p, as s_send_outbox does it: what is due, fetched (or
 * re-sealed) by vj_post_envelope_for, framed, sent, and the attempt recorded
 * with a backoff.  Called outside the turn's transaction. */
static int s_send_outbox(world_t *w, int i)
{
    post_t *p = &w->posts[i];
    for (int j = 0; j < N_POSTS; j++) {
        if (j == i)
            continue;
        for (int round = 0; round < 64; round++) {
            uint8_t ids[BATCH_MAX * VJ_MSG_ID_LEN];
            size_t n = 0;
            size_t want = 1 + s_below(BATCH_MAX);
            if (!s_check(vj_store_outbox_due(p->st, k_posts[j], w->now, want, ids, &n),
                         "vj_store_outbox_due", p))
                return 0;
            if (n == 0)
                break;
            uint8_t *envs[BATCH_MAX];
            size_t lens[BATCH_MAX];
            size_t count = 0;
            if (!s_tx(p))
                return 0;
            int64_t next = w->now + 500 + s_below(1500);
            for (size_t k = 0; k < n; k++) {
                uint8_t *env = NULL;
                size_t len = 0;
                vj_diag diag = {{0}};
                char hb[33];
                int rc = vj_post_envelope_for(p->post, ids + k * VJ_MSG_ID_LEN, k_posts[j], &env,
                                              &len, &diag);
                if (rc != VJ_OK) {
                    s_fail("%s cannot send %s to %s: %s %s", k_posts[i],
                           s_hex(ids + k * VJ_MSG_ID_LEN, hb), k_posts[j], vj_strerror(rc),
                           diag.text);
                    if (!s_check(vj_store_outbox_attempted(p->st, ids + k * VJ_MSG_ID_LEN,
                                                           k_posts[j], w->now + RETRY_MAX_MS),
                                 "vj_store_outbox_attempted", p))
                        return 0;
                    continue;
                }
                envs[count] = env;
                lens[count] = len;
                count++;
                if (!s_check(
                        vj_store_outbox_attempted(p->st, ids + k * VJ_MSG_ID_LEN, k_posts[j], next),
                        "vj_store_outbox_attempted", p))
                    return 0;
            }
            if (count > 0) {
                uint8_t *frame = NULL;
                size_t flen = 0;
                int rc = vj_peer_msg_envelopes(envs, lens, count, &frame, &flen);
                for (size_t k = 0; k < count; k++)
                    free(envs[k]);
                if (!s_check(rc, "vj_peer_msg_envelopes", NULL))
                    return 0;
                s_net_push(w, M_ENVELOPES, i, j, frame, flen);
                s_log("  %s -> %s: %zu envelopes", k_posts[i], k_posts[j], count);
            }
            p->in_tx = 0;
            if (!s_check(vj_store_commit(p->st), "commit (outbox attempts)", p))
                return 0;
        }
    }
    return 1;
}

/* The end of a turn: commit; then, and only then, receipts for what was
 * stored and the submissions count as accepted; then the outbox. */
static int s_end_turn(world_t *w, int i)
{
    post_t *p = &w->posts[i];
    if (p->in_tx) {
        p->in_tx = 0;
        if (!s_check(vj_store_commit(p->st), "commit", p))
            return 0;
    }
    for (size_t k = 0; k < p->pending.n; k++) {
        const accepted_t *a = &p->pending.v[k];
        s_accepted_push(&w->accepted, a);
        w->ever[a->case_ix] |= a->named;
    }
    vj_post_event *events = NULL;
    size_t n_events = 0;
    vj_post_events_take(p->post, &events, &n_events);
    vj_post_events_free(events, n_events);
    for (int j = 0; j < N_POSTS; j++) {
        id_list *l = &p->acks[j];
        /* One receipt covers at most RECEIPT_IDS ids, as in the daemon. */
        for (size_t off = 0; off < l->n; off += RECEIPT_IDS) {
            size_t n = l->n - off < RECEIPT_IDS ? l->n - off : RECEIPT_IDS;
            uint8_t *body = NULL, *frame = NULL;
            size_t body_len = 0, flen = 0;
            uint8_t sig[VJ_SIG_LEN];
            int rc = vj_receipt_sign(p->kr, k_posts[j], w->now, l->ids + off * VJ_MSG_ID_LEN, n,
                                     &body, &body_len, sig);
            if (rc == VJ_OK)
                rc = vj_peer_msg_receipt(body, body_len, sig, sizeof sig, &frame, &flen);
            free(body);
            if (!s_check(rc, "signing a receipt", NULL)) {
                free(frame);
                return 0;
            }
            s_net_push(w, M_RECEIPT, i, j, frame, flen);
            s_log("  %s -> %s: receipt for %zu", k_posts[i], k_posts[j], n);
        }
    }
    s_post_forget_turn(p);
    return s_send_outbox(w, i);
}

/* A link comes up (handshake, or the peer's Hello): everything waiting for
 * peer j at post i is due now. */
static int s_reconnect(world_t *w, int i, int j)
{
    post_t *p = &w->posts[i];
    return s_tx(p) && s_check(vj_store_outbox_reset_due(p->st, k_posts[j], w->now),
                              "vj_store_outbox_reset_due", p);
}

/* Restart: the in-memory state is lost, the store kept.  A crash loses the
 * open transaction (nothing of it was acknowledged); a clean stop commits it
 * first (its receipts are never sent: the senders retry). */
static int s_restart(world_t *w, int i, int crash)
{
    post_t *p = &w->posts[i];
    if (p->in_tx && !crash) {
        p->in_tx = 0;
        if (!s_check(vj_store_commit(p->st), "commit (stopping)", p))
            return 0;
        for (size_t k = 0; k < p->pending.n; k++) {
            s_accepted_push(&w->accepted, &p->pending.v[k]);
            w->ever[p->pending.v[k].case_ix] |= p->pending.v[k].named;
        }
    }
    p->in_tx = 0;
    s_post_forget_turn(p);
    vj_post_destroy(&p->post);
    vj_store_close(&p->st);
    if (crash)
        w->crashes++;
    else
        w->restarts++;
    s_log("%s %s", k_posts[i], crash ? "crashes and restarts" : "restarts");
    if (!s_post_open(w, i))
        return 0;
    for (int j = 0; j < N_POSTS; j++)
        if (j != i && (!s_reconnect(w, i, j) || !s_reconnect(w, j, i)))
            return 0;
    return 1;
}

/* ------------------------------------------------------------ receiving */

static int s_receive_envelopes(world_t *w, const msg_t *m, const Valija__EnvelopeBatch *batch)
{
    post_t *p = &w->posts[m->to];
    if (!s_tx(p))
        return 0;
    for (size_t k = 0; k < batch->n_envelopes; k++) {
        vj_envelope_info info;
        vj_diag diag = {{0}};
        size_t events_before = vj_post_events_count(p->post);
        if (!s_check(vj_store_savepoint(p->st), "savepoint", p))
            return 0;
        int rc = vj_post_receive(p->post, k_posts[m->from], batch->envelopes[k].data,
                                 batch->envelopes[k].len, w->now, &info, &diag);
        char hb[33];
        if (rc == VJ_OK || rc == VJ_E_REPLAY) {
            if (!s_check(vj_store_release(p->st), "release", p)) {
                vj_store_rollback_to(p->st);
                vj_post_events_truncate(p->post, events_before);
                continue;
            }
            s_ids_push(&p->acks[m->from], info.msg_id);
            s_log("  %s <- %s: %s %s", k_posts[m->to], k_posts[m->from], s_hex(info.msg_id, hb),
                  rc == VJ_OK ? "stored" : "duplicate");
        } else {
            vj_store_rollback_to(p->st);
            vj_post_events_truncate(p->post, events_before);
            w->refused++;
            /* Honest posts on a benign network: a refusal stays in the
             * sender's outbox for ever, so the case cannot converge. */
            s_fail("%s refused an envelope from %s: %s %s", k_posts[m->to], k_posts[m->from],
                   vj_strerror(rc), diag.text);
        }
    }
    return 1;
}

static int s_receive_receipt(world_t *w, const msg_t *m, const Valija__Receipt *r)
{
    post_t *p = &w->posts[m->to];
    Valija__ReceiptBody *body = NULL;
    int rc = vj_receipt_verify(p->kr, k_posts[m->from], r->body.data, r->body.len,
                               r->signature.data, r->signature.len, &body);
    if (!s_check(rc, "vj_receipt_verify", NULL))
        return 0;
    int ok = s_tx(p);
    for (size_t k = 0; ok && k < body->n_msg_ids; k++)
        ok = s_check(vj_store_outbox_delivered(p->st, body->msg_ids[k].data, k_posts[m->from],
                                               r->body.data, r->body.len, r->signature.data,
                                               r->signature.len, body->stored_ms),
                     "vj_store_outbox_delivered", p);
    s_log("  %s <- %s: receipt for %zu", k_posts[m->to], k_posts[m->from], body->n_msg_ids);
    vj_codec_free((ProtobufCMessage *)body);
    return ok;
}

static int s_deliver(world_t *w, const msg_t *m)
{
    Valija__PeerMessage *pm = NULL;
    vj_diag diag = {{0}};
    w->delivered++;
    int rc = vj_peer_msg_decode(m->frame, m->len, MAX_MSG, &pm, &diag);
    if (!s_check(rc, "vj_peer_msg_decode", NULL))
        return 0;
    int ok = 0;
    if (m->kind == M_ENVELOPES && pm->body_case == VALIJA__PEER_MESSAGE__BODY_ENVELOPES)
        ok = s_receive_envelopes(w, m, pm->envelopes);
    else if (m->kind == M_RECEIPT && pm->body_case == VALIJA__PEER_MESSAGE__BODY_RECEIPT)
        ok = s_receive_receipt(w, m, pm->receipt);
    else
        s_fail("a frame decoded to the wrong body");
    vj_codec_free((ProtobufCMessage *)pm);
    return ok;
}

/* ------------------------------------------------------------ submitting */

/* One random update of case c, written at post i, given what i holds of it
 * (state NULL: nothing).  Built on the stack, then packed and unpacked so the
 * update handed to vj_post_submit is heap-owned as a client's would be. */
static int s_make_update(world_t *w, int i, int c, const Valija__CaseState *state,
                         Valija__CaseUpdate **out, const char **what)
{
    Valija__CaseUpdate u = VALIJA__CASE_UPDATE__INIT;
    Valija__Person person = VALIJA__PERSON__INIT;
    Valija__Representation rep = VALIJA__REPRESENTATION__INIT;
    Valija__Visit visit = VALIJA__VISIT__INIT;
    Valija__CaseLink link = VALIJA__CASE_LINK__INIT;
    Valija__CaseLink *links[1] = {&link};
    char *share[N_POSTS], *co[N_POSTS];
    char note[64];
    size_t n_share = 0, n_co = 0;
    u.case_id = (char *)k_cases[c];
    int kind_explicit = s_chance(70);
    unsigned pick = s_below(100);

    if (state == NULL && (!w->opened[c] || s_chance(10)) && pick < 85) {
        /* Open it: shared with one or two others, sometimes a co-owner. */
        *what = "open";
        u.kind = VALIJA__UPDATE_KIND__KIND_OPENED;
        if (s_chance(50))
            share[n_share++] = (char *)k_posts[i];
        for (int j = 0; j < N_POSTS; j++)
            if (j != i && s_chance(60))
                share[n_share++] = (char *)k_posts[j];
        if (n_share == 0 || (n_share == 1 && share[0] == k_posts[i]))
            share[n_share++] = (char *)k_posts[(i + 1 + s_below(2)) % N_POSTS];
        if (s_chance(25))
            co[n_co++] = (char *)k_posts[(i + 1 + s_below(2)) % N_POSTS];
        u.status = (char *)k_status[0];
        if (s_chance(60))
            u.facility = (char *)k_facility[s_below(NELEM(k_facility))];
        if (s_chance(50)) {
            person.name = (char *)k_names[s_below(NELEM(k_names))];
            person.minor = VALIJA__MINOR__MINOR_YES;
            u.person = &person;
        }
    } else if (pick < 22) {
        *what = "status";
        u.kind = VALIJA__UPDATE_KIND__KIND_STATUS;
        u.status = (char *)k_status[s_below(NELEM(k_status))];
        if (s_chance(20))
            u.facility = (char *)k_facility[s_below(NELEM(k_facility))];
    } else if (pick < 40) {
        *what = "location";
        u.kind = VALIJA__UPDATE_KIND__KIND_LOCATION;
        u.facility = (char *)k_facility[s_below(NELEM(k_facility))];
    } else if (pick < 50) {
        *what = "note";
        u.kind = VALIJA__UPDATE_KIND__KIND_NOTE;
        snprintf(note, sizeof note, "note %u from %s", s_below(1000), k_posts[i]);
        u.note = note;
        if (s_chance(30)) {
            /* person details ride along */
            if (s_chance(50))
                person.name = (char *)k_names[s_below(NELEM(k_names))];
            if (s_chance(50))
                person.date_of_birth = (char *)k_dobs[s_below(NELEM(k_dobs))];
            if (s_chance(50))
                person.nationality = (char *)k_nat[s_below(NELEM(k_nat))];
            person.minor = (Valija__Minor)s_below(3);
            u.person = &person;
        }
    } else if (pick < 56) {
        *what = "representation";
        u.kind = VALIJA__UPDATE_KIND__KIND_REPRESENTATION;
        unsigned r = s_below(NELEM(k_reps));
        rep.name = (char *)k_reps[r];
        rep.organization = (char *)k_orgs[r];
        u.representation = &rep;
    } else if (pick < 61) {
        *what = "visit";
        u.kind = VALIJA__UPDATE_KIND__KIND_VISIT;
        visit.visitor = (char *)k_visitors[s_below(NELEM(k_visitors))];
        visit.at_ms = w->now - (int64_t)s_below(100000);
        u.visit = &visit;
    } else if (pick < 66) {
        *what = "link";
        u.kind = VALIJA__UPDATE_KIND__KIND_LINK;
        link.relation = (Valija__LinkRelation)(1 + s_below(3));
        link.case_id = (char *)k_cases[(c + 1 + s_below(N_CASES - 1)) % N_CASES];
        u.links = links;
        u.n_links = 1;
    } else if (pick < 80) {
        /* Widen or narrow: a full list (the owner is always kept). */
        *what = "share";
        u.kind = VALIJA__UPDATE_KIND__KIND_SHARE;
        int lists = 1 + s_below(3); /* 1 share, 2 co-owners, 3 both */
        if (lists & 1) {
            for (int j = 0; j < N_POSTS; j++)
                if (s_chance(55))
                    share[n_share++] = (char *)k_posts[j];
            if (n_share == 0)
                share[n_share++] = (char *)(state != NULL ? state->owner : k_posts[i]);
        }
        if (lists & 2) {
            for (int j = 0; j < N_POSTS; j++)
                if (s_chance(30))
                    co[n_co++] = (char *)k_posts[j];
            if (n_co == 0)
                co[n_co++] = (char *)(state != NULL ? state->owner : k_posts[i]);
        }
    } else if (pick < 88) {
        *what = "close";
        u.kind = VALIJA__UPDATE_KIND__KIND_CLOSED;
        if (s_chance(30))
            u.status = (char *)k_status[s_below(NELEM(k_status))];
    } else if (pick < 94) {
        /* After a close: a status from the owner or a co-owner reopens. */
        *what = "reopen";
        u.kind = VALIJA__UPDATE_KIND__KIND_STATUS;
        u.status = (char *)k_status[0];
    } else {
        /* Refused by validation at submission: a bad date, or a share list
         * where none belongs. */
        *what = "invalid";
        u.kind = VALIJA__UPDATE_KIND__KIND_STATUS;
        u.status = (char *)k_status[1];
        if (s_chance(50)) {
            person.date_of_birth = "2015-02-30";
            u.person = &person;
        } else {
            share[n_share++] = (char *)k_posts[i];
        }
        kind_explicit = 1;
    }
    if (n_share > 0) {
        u.share = share;
        u.n_share = n_share;
    }
    if (n_co > 0) {
        u.co_owners = co;
        u.n_co_owners = n_co;
    }
    if (!kind_explicit)
        u.kind = VALIJA__UPDATE_KIND__KIND_UNSPECIFIED; /* inferred */
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = vj_codec_pack(&u.base, &bytes, &len);
    if (rc == VJ_OK)
        rc = vj_codec_unpack(&valija__case_update__descriptor, bytes, len, MAX_MSG,
                             (ProtobufCMessage **)out);
    free(bytes);
    return s_check(rc, "packing an update", NULL);
}

static unsigned s_named(const Valija__CaseUpdate *u, int origin)
{
    unsigned m = 1u << origin;
    for (size_t k = 0; k < u->n_share; k++)
        if (s_post_ix(u->share[k]) >= 0)
            m |= 1u << s_post_ix(u->share[k]);
    for (size_t k = 0; k < u->n_co_owners; k++)
        if (s_post_ix(u->co_owners[k]) >= 0)
            m |= 1u << s_post_ix(u->co_owners[k]);
    return m;
}

/* One client request of one to three updates at post i, as s_submit does
 * it: one savepoint, all or nothing. */
static int s_submit(world_t *w, int i)
{
    post_t *p = &w->posts[i];
    int n = s_chance(85) ? 1 : 2 + (int)s_below(2);
    Valija__CaseUpdate *u[3] = {NULL, NULL, NULL};
    const char *what[3] = {"", "", ""};
    int cases[3];
    int ok = 0;
    if (!s_tx(p) || !s_check(vj_store_savepoint(p->st), "savepoint", p))
        return 0;
    size_t events_before = vj_post_events_count(p->post);
    size_t pending_before = p->pending.n;
    int rc = VJ_OK;
    vj_diag diag = {{0}};
    int k;
    for (k = 0; k < n; k++) {
        /* What this post holds of the case now (inside the open
         * transaction, so earlier updates of this request count). */
        cases[k] = (int)s_below(N_CASES);
        Valija__CaseState *state = NULL;
        int grc = vj_store_get_case(p->st, k_cases[cases[k]], &state);
        if (grc != VJ_OK && grc != VJ_E_NOTFOUND) {
            s_check(grc, "vj_store_get_case", p);
            goto out;
        }
        int made = s_make_update(w, i, cases[k], state, &u[k], &what[k]);
        vj_codec_free((ProtobufCMessage *)state);
        if (!made)
            goto out;
        accepted_t a = {.case_ix = cases[k], .origin = i, .named = s_named(u[k], i)};
        rc = vj_post_submit(p->post, u[k], w->now, a.msg_id, &diag);
        char hb[33];
        s_log("%s submits %s %s%s: %s%s%s", k_posts[i], k_cases[cases[k]], what[k],
              n > 1 ? " (batch)" : "", rc == VJ_OK ? s_hex(a.msg_id, hb) : vj_strerror(rc),
              rc == VJ_OK ? "" : ": ", rc == VJ_OK ? "" : diag.text);
        if (rc != VJ_OK)
            break;
        s_accepted_push(&p->pending, &a);
        if (u[k]->kind == VALIJA__UPDATE_KIND__KIND_OPENED)
            w->opened[cases[k]] = 1;
    }
    if (rc == VJ_OK && s_check(vj_store_release(p->st), "release", p)) {
        w->submitted_ok += (unsigned long)n;
    } else {
        if (rc != VJ_OK && rc != VJ_E_PARSE && rc != VJ_E_REFUSED)
            s_fail("a submission failed with %s: %s", vj_strerror(rc), diag.text);
        vj_store_rollback_to(p->st);
        vj_post_events_truncate(p->post, events_before);
        p->pending.n = pending_before;
        w->submitted_refused++;
    }
    ok = 1;
out:
    for (k = 0; k < 3; k++)
        vj_codec_free((ProtobufCMessage *)u[k]);
    return ok;
}

/* ------------------------------------------------------------ the run */

static int s_step(world_t *w, int *submissions)
{
    w->now += (int64_t)s_below(60);
    unsigned r = s_below(1000);
    int i = (int)s_below(N_POSTS);
    if (r < 300) {
        (*submissions)++;
        return s_submit(w, i);
    }
    if (r < 640) {
        if (w->n_net == 0)
            return 1;
        size_t k = s_below((unsigned)w->n_net);
        if (w->net[k].sticky && !s_chance(5))
            return 1; /* held back: a long delay */
        msg_t m = w->net[k];
        int dup = s_chance(10);
        if (dup) {
            /* delivered now and again later */
            w->duplicated++;
            m.frame = malloc(m.len);
            if (m.frame == NULL)
                return 0;
            memcpy(m.frame, w->net[k].frame, m.len);
        } else {
            w->net[k].frame = NULL;
            w->net[k] = w->net[--w->n_net];
        }
        int ok = s_deliver(w, &m);
        free(m.frame);
        return ok;
    }
    if (r < 900)
        return s_end_turn(w, i);
    if (r < 940) {
        if (w->n_net > 0) {
            size_t k = s_below((unsigned)w->n_net);
            w->dropped++;
            s_log("a message from %s to %s is lost", k_posts[w->net[k].from],
                  k_posts[w->net[k].to]);
            s_net_remove(w, k);
        }
        return 1;
    }
    if (r < 975) {
        int j = (i + 1 + (int)s_below(N_POSTS - 1)) % N_POSTS;
        s_log("the link %s -> %s comes back up", k_posts[i], k_posts[j]);
        return s_reconnect(w, i, j);
    }
    if (r < 990)
        return s_restart(w, i, s_chance(50));
    w->now += 5000; /* a quiet while: retries fall due */
    return 1;
}

/* Everything delivered, retried until every outbox is empty. */
static int s_heal(world_t *w)
{
    s_log("healing the network");
    for (int round = 0; round < HEAL_ROUNDS; round++) {
        w->now += RETRY_MAX_MS;
        for (int i = 0; i < N_POSTS; i++) {
            for (int j = 0; j < N_POSTS; j++)
                if (j != i && !s_reconnect(w, i, j))
                    return 0;
            if (!s_end_turn(w, i))
                return 0;
        }
        if (w->n_net == 0) {
            uint64_t backlog = 0;
            for (int i = 0; i < N_POSTS; i++)
                for (int j = 0; j < N_POSTS; j++) {
                    uint64_t b = 0;
                    if (j != i && !s_check(vj_store_outbox_backlog(w->posts[i].st, k_posts[j], &b),
                                           "vj_store_outbox_backlog", &w->posts[i]))
                        return 0;
                    if (b > 0)
                        s_fail("%s still has %" PRIu64 " undelivered for %s with nothing in flight",
                               k_posts[i], b, k_posts[j]);
                    backlog += b;
                }
            return backlog == 0;
        }
        while (w->n_net > 0) {
            size_t k = s_below((unsigned)w->n_net);
            msg_t m = w->net[k];
            w->net[k] = w->net[--w->n_net];
            int ok = s_deliver(w, &m);
            free(m.frame);
            if (!ok)
                return 0;
        }
    }
    s_fail("the network did not quiesce in %d rounds", HEAL_ROUNDS);
    return 0;
}

/* ------------------------------------------------------------ checking */

/* Names the first field where a and b differ (generic over the descriptors,
 * so a field added to CaseState later is compared too). */
static int s_diff(const ProtobufCMessage *a, const ProtobufCMessage *b, const char *path, char *out,
                  size_t out_len);

static int s_diff_value(const ProtobufCFieldDescriptor *f, const void *va, const void *vb,
                        const char *path, char *out, size_t out_len)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *x = *(char *const *)va, *y = *(char *const *)vb;
        if (strcmp(x ? x : "", y ? y : "") != 0) {
            snprintf(out, out_len, "%s: \"%s\" vs \"%s\"", path, x ? x : "", y ? y : "");
            return 1;
        }
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *x = va, *y = vb;
        if (x->len != y->len || (x->len > 0 && memcmp(x->data, y->data, x->len) != 0)) {
            snprintf(out, out_len, "%s: bytes differ", path);
            return 1;
        }
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *x = *(ProtobufCMessage *const *)va;
        const ProtobufCMessage *y = *(ProtobufCMessage *const *)vb;
        if (x == NULL || y == NULL) {
            if (x != y) {
                snprintf(out, out_len, "%s: %s vs %s", path, x ? "set" : "absent",
                         y ? "set" : "absent");
                return 1;
            }
            return 0;
        }
        return s_diff(x, y, path, out, out_len);
    }
    case PROTOBUF_C_TYPE_BOOL:
    case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        if (memcmp(va, vb, 4) != 0) {
            snprintf(out, out_len, "%s: %" PRId32 " vs %" PRId32, path, *(const int32_t *)va,
                     *(const int32_t *)vb);
            return 1;
        }
        return 0;
    default:
        if (memcmp(va, vb, 8) != 0) {
            snprintf(out, out_len, "%s: %" PRId64 " vs %" PRId64, path, *(const int64_t *)va,
                     *(const int64_t *)vb);
            return 1;
        }
        return 0;
    }
}

static size_t s_value_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    default:
        return 4;
    }
}

static int s_diff(const ProtobufCMessage *a, const ProtobufCMessage *b, const char *path, char *out,
                  size_t out_len)
{
    const ProtobufCMessageDescriptor *d = a->descriptor;
    for (unsigned k = 0; k < d->n_fields; k++) {
        const ProtobufCFieldDescriptor *f = &d->fields[k];
        char sub[256];
        snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", f->name);
        const char *pa = (const char *)a + f->offset, *pb = (const char *)b + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t na = *(const size_t *)((const char *)a + f->quantifier_offset);
            size_t nb = *(const size_t *)((const char *)b + f->quantifier_offset);
            const char *arr_a = *(char *const *)pa, *arr_b = *(char *const *)pb;
            size_t sz = s_value_size(f);
            for (size_t e = 0; e < na && e < nb; e++) {
                char el[300];
                snprintf(el, sizeof el, "%s[%zu]", sub, e);
                if (s_diff_value(f, arr_a + e * sz, arr_b + e * sz, el, out, out_len))
                    return 1;
            }
            if (na != nb) {
                snprintf(out, out_len, "%s: %zu vs %zu entries", sub, na, nb);
                return 1;
            }
            continue;
        }
        if (s_diff_value(f, pa, pb, sub, out, out_len))
            return 1;
    }
    return 0;
}

static int s_digest(const Valija__CaseState *s, uint8_t out[32])
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = vj_codec_pack(&s->base, &bytes, &len);
    if (rc == VJ_OK)
        crypto_generichash(out, 32, bytes, len, NULL, 0);
    free(bytes);
    return rc;
}

/* The case as `valija case` shows it at post i (vj_api.c s_answer_case). */
static int s_case_at(world_t *w, int i, int c, Valija__CaseState **out)
{
    Valija__HistoryEntry **entries = NULL;
    size_t n = 0;
    *out = NULL;
    int rc = vj_store_history(w->posts[i].st, k_cases[c], &entries, &n);
    if (rc == VJ_OK)
        rc = vj_case_fold(k_cases[c], entries, n, out);
    vj_store_history_free(entries, n);
    return rc;
}

static int s_same_entry(const Valija__HistoryEntry *a, const Valija__HistoryEntry *b)
{
    uint8_t *pa = NULL, *pb = NULL;
    size_t la = 0, lb = 0;
    int same = strcmp(a->origin, b->origin) == 0 && a->seq == b->seq && a->lamport == b->lamport &&
               a->created_ms == b->created_ms && a->kind == b->kind && a->update != NULL &&
               b->update != NULL && vj_codec_pack(&a->update->base, &pa, &la) == VJ_OK &&
               vj_codec_pack(&b->update->base, &pb, &lb) == VJ_OK && la == lb &&
               memcmp(pa, pb, la) == 0;
    free(pa);
    free(pb);
    return same;
}

static int s_holds(Valija__HistoryEntry **entries, size_t n, const uint8_t id[VJ_MSG_ID_LEN])
{
    for (size_t k = 0; k < n; k++)
        if (entries[k]->msg_id.len == VJ_MSG_ID_LEN &&
            memcmp(entries[k]->msg_id.data, id, VJ_MSG_ID_LEN) == 0)
            return 1;
    return 0;
}

static void s_strip_notes(Valija__CaseState *s)
{
    for (size_t k = 0; k < s->n_notes; k++)
        vj_codec_free((ProtobufCMessage *)s->notes[k]);
    free(s->notes);
    s->notes = NULL;
    s->n_notes = 0;
}

static const char *s_kind(int k)
{
    static const char *const names[] = {"?",    "opened", "status", "location", "visit",
                                        "repr", "note",   "link",   "share",    "closed"};
    return k >= 0 && k < (int)NELEM(names) ? names[k] : "?";
}

/* The union history of a case in fold order, with who holds each event:
 * for a person reading a failure. */
static void s_dump_union(int c, Valija__HistoryEntry **all, size_t n_all,
                         Valija__HistoryEntry **hist[N_POSTS], const size_t n_hist[N_POSTS])
{
    Valija__HistoryEntry **sorted = s_xrealloc(NULL, (n_all + 1) * sizeof *sorted);
    memcpy(sorted, all, n_all * sizeof *sorted);
    for (size_t a = 1; a < n_all; a++) /* (lamport, origin, msg_id), as the fold */
        for (size_t b = a; b > 0; b--) {
            const Valija__HistoryEntry *x = sorted[b - 1], *y = sorted[b];
            int cmp = x->lamport != y->lamport ? (x->lamport < y->lamport ? -1 : 1)
                                               : strcmp(x->origin, y->origin);
            if (cmp == 0)
                cmp = memcmp(x->msg_id.data, y->msg_id.data, VJ_MSG_ID_LEN);
            if (cmp <= 0)
                break;
            sorted[b - 1] = sorted[b];
            sorted[b] = (Valija__HistoryEntry *)x;
        }
    printf("  history of %s (union, in fold order):\n", k_cases[c]);
    for (size_t k = 0; k < n_all; k++) {
        const Valija__HistoryEntry *e = sorted[k];
        const Valija__CaseUpdate *u = e->update;
        char hb[33], lists[160] = "";
        size_t off = 0;
        for (size_t m = 0; u != NULL && m < u->n_share && off < sizeof lists; m++)
            off += (size_t)snprintf(lists + off, sizeof lists - off, "%s%s",
                                    m ? "," : " share=", u->share[m]);
        for (size_t m = 0; u != NULL && m < u->n_co_owners && off < sizeof lists; m++)
            off += (size_t)snprintf(lists + off, sizeof lists - off, "%s%s",
                                    m ? "," : " co=", u->co_owners[m]);
        printf("    L%-4" PRIu64 " %-5s #%-3" PRIu64 " %s %-8s%s held by", e->lamport, e->origin,
               e->seq, s_hex(e->msg_id.data, hb), s_kind(e->kind), lists);
        for (int i = 0; i < N_POSTS; i++)
            if (s_holds(hist[i], n_hist[i], e->msg_id.data))
                printf(" %s", k_posts[i]);
        printf("%s%s\n", e->applied ? "" : "  REJECTED: ", e->applied ? "" : e->rejected_reason);
    }
    free(sorted);
}

static void s_check_case(world_t *w, int c)
{
    Valija__HistoryEntry **hist[N_POSTS] = {NULL};
    size_t n_hist[N_POSTS] = {0};
    Valija__HistoryEntry **all = NULL;
    size_t n_all = 0;
    Valija__CaseState *truth = NULL;
    char hb[33];
    int failed_before = g_failed;

    for (int i = 0; i < N_POSTS; i++) {
        if (!s_check(vj_store_history(w->posts[i].st, k_cases[c], &hist[i], &n_hist[i]),
                     "vj_store_history", &w->posts[i]))
            goto out;
        /* A post that no update of the case ever named holds nothing of it. */
        if (n_hist[i] > 0 && !(w->ever[c] & (1u << i)))
            s_fail("case %s: %s holds %zu events of a case it was never shared with", k_cases[c],
                   k_posts[i], n_hist[i]);
    }
    /* The union of the events held anywhere, each copy the same. */
    all = s_xrealloc(NULL, (n_hist[0] + n_hist[1] + n_hist[2] + 1) * sizeof *all);
    for (int i = 0; i < N_POSTS; i++) {
        for (size_t k = 0; k < n_hist[i]; k++) {
            const Valija__HistoryEntry *e = hist[i][k];
            size_t m;
            for (m = 0; m < n_all; m++)
                if (all[m]->msg_id.len == e->msg_id.len &&
                    memcmp(all[m]->msg_id.data, e->msg_id.data, e->msg_id.len) == 0)
                    break;
            if (m < n_all) {
                if (!s_same_entry(all[m], e))
                    s_fail("case %s: %s holds message %s differently from another post", k_cases[c],
                           k_posts[i], s_hex(e->msg_id.data, hb));
                continue;
            }
            all[n_all++] = hist[i][k];
        }
    }
    int have_accepted = 0;
    for (size_t k = 0; k < w->accepted.n; k++)
        have_accepted |= w->accepted.v[k].case_ix == c;
    if (n_all == 0) {
        if (have_accepted)
            s_fail("case %s: accepted updates, but no post holds any event", k_cases[c]);
        goto out;
    }
    int rc = vj_case_fold(k_cases[c], all, n_all, &truth);
    if (rc == VJ_E_NOTFOUND) {
        /* Nothing applies anywhere: every post must agree on that. */
        for (int i = 0; i < N_POSTS; i++) {
            Valija__CaseState *s = NULL;
            if (s_case_at(w, i, c, &s) != VJ_E_NOTFOUND)
                s_fail("case %s: %s shows a case that the union of events does not open",
                       k_cases[c], k_posts[i]);
            vj_codec_free((ProtobufCMessage *)s);
        }
        goto out;
    }
    if (!s_check(rc, "vj_case_fold (union)", NULL))
        goto out;
    uint8_t want[32];
    if (!s_check(s_digest(truth, want), "digest", NULL))
        goto out;
    s_log("case %s: %zu events, owner %s, shared with %zu posts, %zu conflicts%s", k_cases[c],
          n_all, truth->owner, truth->n_shared_with, truth->n_conflicts,
          truth->closed ? ", closed" : "");

    for (size_t s = 0; s < truth->n_shared_with; s++) {
        int i = s_post_ix(truth->shared_with[s]);
        if (i < 0) {
            s_fail("case %s: shared with unknown post %s", k_cases[c], truth->shared_with[s]);
            continue;
        }
        /* Every accepted update that the case rules apply is held by every
         * post the case is shared with.  An update the rules reject changes
         * nothing; its author sealed it for the posts it believed shared
         * (its view was stale: removed, or a colliding open), so it need not
         * reach the others: counted, not failed. */
        for (size_t k = 0; k < w->accepted.n; k++) {
            const accepted_t *a = &w->accepted.v[k];
            if (a->case_ix != c || s_holds(hist[i], n_hist[i], a->msg_id))
                continue;
            int applied = 0;
            for (size_t m = 0; m < n_all; m++)
                if (memcmp(all[m]->msg_id.data, a->msg_id, VJ_MSG_ID_LEN) == 0)
                    applied = all[m]->applied;
            if (applied) {
                g_diverged++;
                s_fail("case %s: %s lacks %s's update %s, which the case rules apply", k_cases[c],
                       k_posts[i], k_posts[a->origin], s_hex(a->msg_id, hb));
            } else
                w->rejected_unheld++;
        }
        /* The case as `valija case` shows it there. */
        Valija__CaseState *got = NULL;
        rc = s_case_at(w, i, c, &got);
        if (rc != VJ_OK) {
            s_fail("case %s: %s cannot show the case: %s", k_cases[c], k_posts[i], vj_strerror(rc));
            continue;
        }
        uint8_t have[32];
        char what[600] = "";
        if (s_check(s_digest(got, have), "digest", NULL) && sodium_memcmp(have, want, 32) != 0) {
            if (!s_diff(&truth->base, &got->base, "", what, sizeof what))
                snprintf(what, sizeof what, "the packed bytes differ");
            g_diverged++;
            s_fail("case %s: %s differs from the fold of all events: %s (union vs %s)", k_cases[c],
                   k_posts[i], what, k_posts[i]);
        }
        vj_codec_free((ProtobufCMessage *)got);
        /* And the materialized state (`list`), which leaves notes out. */
        Valija__CaseState *mat = NULL;
        rc = vj_store_get_case(w->posts[i].st, k_cases[c], &mat);
        if (rc != VJ_OK) {
            s_fail("case %s: %s has no materialized state: %s", k_cases[c], k_posts[i],
                   vj_strerror(rc));
            continue;
        }
        Valija__CaseState *bare = NULL;
        rc = s_case_at(w, i, c, &bare);
        if (rc == VJ_OK) {
            s_strip_notes(bare);
            if (s_diff(&bare->base, &mat->base, "", what, sizeof what))
                s_fail("case %s: %s's materialized state is stale: %s (fold vs stored)", k_cases[c],
                       k_posts[i], what);
        }
        vj_codec_free((ProtobufCMessage *)bare);
        vj_codec_free((ProtobufCMessage *)mat);
    }
out:
    if (truth != NULL && (g_verbose || g_failed > failed_before))
        s_dump_union(c, all, n_all, hist, n_hist);
    vj_codec_free((ProtobufCMessage *)truth);
    free(all);
    for (int i = 0; i < N_POSTS; i++)
        vj_store_history_free(hist[i], n_hist[i]);
}

/* One seed: 1 if the posts converged, 0 if not. */
static int s_run_seed(uint64_t seed, int ops)
{
    world_t w;
    g_rng = seed;
    g_seed = seed;
    g_failed = 0;
    g_diverged = 0;
    int ok = s_world_new(&w);
    int submissions = 0;
    long steps = 0;
    while (ok && submissions < ops && steps < 100L * ops) {
        ok = s_step(&w, &submissions);
        steps++;
    }
    if (ok)
        ok = s_heal(&w);
    if (ok)
        for (int c = 0; c < N_CASES; c++)
            s_check_case(&w, c);
    if (g_verbose || g_failed)
        printf("seed %" PRIu64 ": %ld steps, %lu updates accepted, %lu requests refused, "
               "%lu frames delivered, %lu duplicated, %lu lost, %lu restarts, %lu crashes; "
               "%lu rejected updates not at every sharer: %s\n",
               seed, steps, w.submitted_ok, w.submitted_refused, w.delivered, w.duplicated,
               w.dropped, w.restarts, w.crashes, w.rejected_unheld,
               ok && !g_failed ? "converged" : "FAILED");
    s_world_free(&w);
    return ok && !g_failed;
}

static void s_usage(FILE *f)
{
    fprintf(f, "usage: test_convergence                  (CI: fixed seeds)\n"
               "       test_convergence --seeds N [--base B] [--ops K]\n"
               "       test_convergence --seed S [--ops K] [--quiet] [--expect-divergence]\n");
}

static int s_parse_u64(const char *s, uint64_t *v)
{
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
        return 0;
    *v = x;
    return 1;
}

int main(int argc, char **argv)
{
    /* CI: fixed seeds; each one converged when it was added.  Seeds 2 and
     * 1010 once showed a post removed from a case missing a later widening
     * (fixed: share updates also go to every post ever shared on the case). */
    static const uint64_t ci_seeds[] = {2, 3, 4, 6, 7, 777, 1010, 0xfeedfaceULL};
    uint64_t seed = 0, n_seeds = 0, base = 0, ops = 300;
    int have_seed = 0, have_seeds = 0, have_base = 0, quiet = 0, expect = 0;
    for (int a = 1; a < argc; a++) {
        const char *o = argv[a];
        uint64_t *dst = NULL;
        if (strcmp(o, "--seed") == 0) {
            dst = &seed;
            have_seed = 1;
        } else if (strcmp(o, "--seeds") == 0) {
            dst = &n_seeds;
            have_seeds = 1;
        } else if (strcmp(o, "--base") == 0) {
            dst = &base;
            have_base = 1;
        } else if (strcmp(o, "--ops") == 0) {
            dst = &ops;
        } else if (strcmp(o, "--quiet") == 0) {
            quiet = 1;
            continue;
        } else if (strcmp(o, "--expect-divergence") == 0) {
            expect = 1;
            continue;
        } else if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            s_usage(stdout);
            return 0;
        }
        if (dst == NULL || a + 1 >= argc || !s_parse_u64(argv[++a], dst) ||
            (dst == &ops && (ops == 0 || ops > 1000000))) {
            s_usage(stderr);
            return 64;
        }
    }
    if ((have_seed && have_seeds) || (have_base && !have_seeds) || (expect && !have_seed)) {
        s_usage(stderr);
        return 64;
    }
    if (vj_keys_init() != VJ_OK) {
        fprintf(stderr, "libsodium could not start\n");
        return 2;
    }
    g_ops = (int)ops;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (have_seed && expect) {
        /* A known gap, kept visible: the seed must still diverge, and fail
         * in no other way. */
        g_verbose = !quiet;
        int converged = s_run_seed(seed, (int)ops);
        if (converged) {
            printf("seed %" PRIu64 " converged: the gap it showed is closed; put it into the CI "
                   "seeds and drop its expected-divergence test\n",
                   seed);
            return 1;
        }
        if (g_failed != g_diverged) {
            printf("seed %" PRIu64 " failed in another way than the known divergence\n", seed);
            return 1;
        }
        printf("seed %" PRIu64 ": diverged as expected (the known gap)\n", seed);
        return 0;
    }
    if (have_seed) {
        g_verbose = !quiet;
        return s_run_seed(seed, (int)ops) ? 0 : 1;
    }
    int failures = 0;
    if (have_seeds) {
        if (!have_base)
            base = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ randombytes_random();
        printf("%" PRIu64 " seeds from %" PRIu64 ", %" PRIu64 " submissions each\n", n_seeds, base,
               ops);
        for (uint64_t k = 0; k < n_seeds; k++) {
            if (!s_run_seed(base + k, (int)ops))
                failures++;
            if ((k + 1) % 10 == 0 || k + 1 == n_seeds)
                printf("%" PRIu64 "/%" PRIu64 " seeds, %d failed\n", k + 1, n_seeds, failures);
        }
    } else {
        for (size_t k = 0; k < NELEM(ci_seeds); k++) {
            int ok = s_run_seed(ci_seeds[k], (int)ops);
            printf("seed %" PRIu64 ": %s\n", ci_seeds[k], ok ? "converged" : "FAILED");
            if (!ok)
                failures++;
        }
    }
    printf("%d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
