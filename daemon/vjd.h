/* vjd.h - valijad's own state, shared by the files of the daemon program
 * (valijad.c: the loop, vjd_peers.c: peer links, vjd_clients.c: clients).
 * Not part of daemon_lib: the library modules (store, post, case, api,
 * config, zap, peer_msg) know nothing of it.
 *
 * One thread owns a daemon_t.  Every vjd_ function runs inside a turn of
 * the loop (valijad.c): writes go into the turn's transaction (vjd_tx), and
 * what acknowledges them is sent only after the commit.
 */
#ifndef VJD_H
#define VJD_H

#include <stddef.h>
#include <stdint.h>

#include "vj_api.h"
#include "vj_card.h"
#include "vj_config.h"
#include "vj_keyring.h"
#include "vj_peer_msg.h"
#include "vj_post.h"
#include "vj_store.h"
#include "vj_zap.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

#define VALIJAD_VERSION "0.1.0"
#define WINDOW 1024    /* envelopes in flight per peer, unreceipted */
#define TURN_BUDGET 64 /* frames read per socket per turn */
/* Updates (received or submitted) per turn before it commits: small enough
 * that receipts flow back while the sender still has its window open, so
 * the two posts overlap instead of taking turns (the window is 4 times
 * this). */
#define TURN_UPDATES 256
#define ROUTING_ID_MAX 256
#define ACK_TIMEOUT_MS 2000 /* first retry of an unreceipted envelope */
#define CLIENT_HWM 10000

typedef struct {
    char name[VJ_POST_NAME_MAX + 1];
    char endpoint[300];
    char fingerprint[VJ_FINGERPRINT_STRLEN];
    void *dealer;
    void *monitor;
    int connected;
    int failure_logged; /* a failed handshake was logged since the last success */
    int64_t last_seen_ms;
    size_t in_flight;
    int64_t last_progress_ms; /* monotonic: last receipt, or first send into an empty window */
    unsigned timeouts;
    Valija__PeerMessage *hello; /* the peer's Hello, kept until our link to it is up */
    /* refusals logged in the current minute, and those left out of the log */
    int64_t refusal_window_ms;
    unsigned refusals_logged, refusals_unlogged;
} link_t;

typedef struct {
    uint8_t rid[ROUTING_ID_MAX];
    size_t rid_len;
    char peer[VJ_POST_NAME_MAX + 1];
    uint8_t *ids;
    size_t n, cap;
} ack_group_t;

typedef struct {
    uint8_t rid[ROUTING_ID_MAX];
    size_t rid_len;
    Valija__ClientRequest *req; /* owned; NULL for a ready error */
    uint8_t *ids;               /* submit: message ids, owned */
    size_t n_ids;
    Valija__ReplyStatus status;
    char error[600];
} pending_reply_t;

typedef struct {
    uint8_t rid[ROUTING_ID_MAX];
    size_t rid_len;
    char case_id[VJ_CASE_ID_MAX + 1];
} watcher_t;

typedef struct {
    uint8_t id[VJ_MSG_ID_LEN];
    char peer[VJ_POST_NAME_MAX + 1];
    int64_t next_ms;
} attempt_t;

typedef struct {
    vj_config *cfg;
    vj_identity *id;
    vj_keyring *kr;
    vj_store *st;
    vj_post *post;
    void *zctx;
    vj_zap *zap;
    void *router;
    void *client;
    link_t *links;
    size_t n_links;
    unsigned link_generation;
    int sigfd;
    int lock_fd;
    int in_tx;
    int stop;
    int reload;
    size_t turn_updates; /* received or submitted in this turn */
    ack_group_t *acks;
    size_t n_acks, cap_acks;
    pending_reply_t *replies;
    size_t n_replies, cap_replies;
    watcher_t *watchers;
    size_t n_watchers, cap_watchers;
    attempt_t *attempts;
    size_t n_attempts, cap_attempts;
    /* For the periodic debug line: where the loop's time goes. */
    struct {
        int64_t since_ms;
        unsigned long turns, commits, received, submitted, sent;
        double t_poll, t_router, t_client, t_commit, t_after, t_outbox;
    } stats;
} daemon_t;

/* ---- valijad.c: helpers for the whole daemon ---- */

/* Grows *arr (of *cap elements of elem bytes) to hold need. */
int vjd_grow(void **arr, size_t *cap, size_t need, size_t elem);
/* Opens the turn's store transaction if it is not open yet. */
int vjd_tx(daemon_t *d);
int vjd_set_int(void *sock, int opt, int value);
/* Sends [rid][data] on a ROUTER without blocking. */
int vjd_send_routed(void *sock, const uint8_t *rid, size_t rid_len, const uint8_t *data,
                    size_t len);

/* ---- vjd_peers.c: links to the peer posts ---- */

link_t *vjd_link_by_name(daemon_t *d, const char *name);
/* The ZAP lookup: a configured peer's name for a CURVE key, or NULL. */
const char *vjd_zap_lookup(void *arg, const uint8_t curve_pk[32]);
int vjd_bind_peer_router(daemon_t *d);
int vjd_links_open(daemon_t *d);
void vjd_links_close(daemon_t *d);
void vjd_handle_monitor(daemon_t *d, link_t *l);
/* Frames from peers on the ROUTER: envelopes, Hello, CatchUpRequest. */
void vjd_handle_router(daemon_t *d);
/* After the commit: catch-up by relay for peers whose Hello came in. */
void vjd_relay_pending(daemon_t *d);
/* Frames from a peer on our DEALER to it: receipts, rejects. */
void vjd_handle_dealer(daemon_t *d, link_t *l);
/* After the commit: signed receipts for what it stored. */
void vjd_send_receipts(daemon_t *d);
/* Writes the delivery attempts of the last sends into the transaction. */
void vjd_apply_attempts(daemon_t *d);
/* Sends what the outbox has due to every link that is up. */
void vjd_send_outbox(daemon_t *d);
/* Milliseconds until the outbox has something due for a link that is up. */
long vjd_poll_timeout(daemon_t *d);

/* ---- vjd_clients.c: valija and libvalija on the local socket ---- */

int vjd_bind_client(daemon_t *d);
/* Requests: submits go into the transaction, the rest wait for the commit. */
void vjd_handle_client(daemon_t *d);
/* After the commit (or its failure): every reply of the turn. */
void vjd_answer_clients(daemon_t *d, int committed);
/* After the commit: the turn's new events to the watchers. */
void vjd_notify_watchers(daemon_t *d);

#endif
