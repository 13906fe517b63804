/* valijad.c - the post's daemon: configuration, sockets and the main loop.
 *
 * One thread.  Each turn of the loop polls the ZAP handler, the peer ROUTER
 * (envelopes from peers), one DEALER per peer (receipts from peers), the
 * client ROUTER (requests from valija and libvalija), the socket monitors
 * and a signalfd; does the turn's writes in one store transaction (group
 * commit, each request or envelope in its own savepoint); and only after the
 * commit sends what acknowledges them: signed receipts to peers, replies to
 * clients, events to watchers.  Then it sends what the outbox has due.
 *
 * Invariant: nothing is acknowledged to a peer or a client before the
 * transaction holding it has committed; nothing this post wrote is sent to a
 * peer before it is committed here.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "vj_api.h"
#include "vj_card.h"
#include "vj_config.h"
#include "vj_keyring.h"
#include "vj_log.h"
#include "vj_peer_msg.h"
#include "vj_post.h"
#include "vj_receipt.h"
#include "vj_store.h"
#include "vj_zap.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

#define VALIJAD_VERSION "0.1.0"
#define WINDOW 1024               /* envelopes in flight per peer, unreceipted */
#define TURN_BUDGET 64            /* frames read per socket per turn */
/* Updates (received or submitted) per turn before it commits: small enough
 * that receipts flow back while the sender still has its window open, so
 * the two posts overlap instead of taking turns (the window is 4 times
 * this). */
#define TURN_UPDATES 256
#define ROUTING_ID_MAX 256
#define ACK_TIMEOUT_MS 2000       /* first retry of an unreceipted envelope */
#define CLIENT_HWM 10000

typedef struct {
    char name[VJ_POST_NAME_MAX + 1];
    char endpoint[300];
    char fingerprint[VJ_FINGERPRINT_STRLEN];
    void *dealer;
    void *monitor;
    int connected;
    int failure_logged;           /* a failed handshake was logged since the last success */
    int64_t last_seen_ms;
    size_t in_flight;
    int64_t last_progress_ms;     /* monotonic: last receipt, or first send into an empty window */
    unsigned timeouts;
    Valija__PeerMessage *hello;   /* the peer's Hello, kept until our link to it is up */
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
    Valija__ClientRequest *req;   /* owned; NULL for a ready error */
    uint8_t *ids;                 /* submit: message ids, owned */
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
    size_t turn_updates;          /* received or submitted in this turn */
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

static double s_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void s_stats_tick(daemon_t *d)
{
    int64_t now = vj_mono_ms();
    if (d->stats.since_ms == 0)
        d->stats.since_ms = now;
    if (now - d->stats.since_ms < 1000)
        return;
    if (d->stats.received + d->stats.submitted + d->stats.sent > 0)
        vj_log_debug("last %.1fs: %lu turns, %lu commits, %lu received, %lu submitted, %lu sent; "
                     "seconds in poll %.2f, peers %.2f, clients %.2f, commit %.2f, "
                     "replies %.2f, outbox %.2f",
                     (double)(now - d->stats.since_ms) / 1000.0, d->stats.turns, d->stats.commits,
                     d->stats.received, d->stats.submitted, d->stats.sent, d->stats.t_poll,
                     d->stats.t_router, d->stats.t_client, d->stats.t_commit, d->stats.t_after,
                     d->stats.t_outbox);
    memset(&d->stats, 0, sizeof d->stats);
    d->stats.since_ms = now;
}

/* ---------- small helpers ---------- */

static int s_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return VJ_OK;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *n = realloc(*arr, ncap * elem);
    if (n == NULL)
        return VJ_E_NOMEM;
    *arr = n;
    *cap = ncap;
    return VJ_OK;
}

static link_t *s_link_by_name(daemon_t *d, const char *name)
{
    for (size_t i = 0; i < d->n_links; i++)
        if (strcmp(d->links[i].name, name) == 0)
            return &d->links[i];
    return NULL;
}

static const char *s_zap_lookup(void *arg, const uint8_t curve_pk[32])
{
    daemon_t *d = arg;
    const char *post = vj_keyring_find_by_curve(d->kr, curve_pk);
    /* Only configured peers, never this post itself. */
    if (post == NULL || strcmp(post, d->cfg->post) == 0 || s_link_by_name(d, post) == NULL)
        return NULL;
    return post;
}

static int s_tx(daemon_t *d)
{
    if (d->in_tx)
        return VJ_OK;
    int rc = vj_store_begin(d->st);
    if (rc == VJ_OK)
        d->in_tx = 1;
    return rc;
}

static int s_set_int(void *sock, int opt, int value)
{
    return zmq_setsockopt(sock, opt, &value, sizeof value);
}

static int64_t s_backoff_ms(const daemon_t *d, unsigned timeouts)
{
    int64_t delay = ACK_TIMEOUT_MS;
    for (unsigned i = 0; i < timeouts && delay < d->cfg->retry_max_ms; i++)
        delay *= 2;
    if (delay > d->cfg->retry_max_ms)
        delay = d->cfg->retry_max_ms;
    if (delay < d->cfg->retry_min_ms)
        delay = d->cfg->retry_min_ms;
    /* jitter: up to a quarter more, so that posts do not retry in step */
    return delay + (int64_t)(random() % (delay / 4 + 1));
}

/* ---------- sockets ---------- */

static int s_peer_socket_options(daemon_t *d, void *sock)
{
    int64_t maxmsg = d->cfg->max_message_bytes + VJ_PEER_FRAME_OVERHEAD;
    if (zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        s_set_int(sock, ZMQ_LINGER, 0) != 0 || s_set_int(sock, ZMQ_SNDHWM, 1000) != 0 ||
        s_set_int(sock, ZMQ_RCVHWM, 1000) != 0 || s_set_int(sock, ZMQ_HEARTBEAT_IVL, 1000) != 0 ||
        s_set_int(sock, ZMQ_HEARTBEAT_TIMEOUT, 3000) != 0 ||
        s_set_int(sock, ZMQ_HEARTBEAT_TTL, 3000) != 0 ||
        s_set_int(sock, ZMQ_HANDSHAKE_IVL, 5000) != 0)
        return VJ_E_IO;
    return VJ_OK;
}

static void s_link_close(link_t *l)
{
    vj_codec_free((ProtobufCMessage *)l->hello);
    l->hello = NULL;
    if (l->dealer != NULL)
        zmq_close(l->dealer);
    if (l->monitor != NULL)
        zmq_close(l->monitor);
    l->dealer = l->monitor = NULL;
    l->connected = 0;
}

static int s_link_open(daemon_t *d, link_t *l, const vj_peer_config *pc)
{
    const vj_card *card = vj_keyring_find(d->kr, pc->name);
    if (card == NULL)
        return VJ_E_NOTFOUND;
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", pc->name);
    snprintf(l->endpoint, sizeof l->endpoint, "%s", pc->endpoint);
    vj_card_fingerprint(card, l->fingerprint);
    l->dealer = zmq_socket(d->zctx, ZMQ_DEALER);
    if (l->dealer == NULL)
        return VJ_E_IO;
    const vj_identity *self = d->id;
    if (s_peer_socket_options(d, l->dealer) != VJ_OK ||
        zmq_setsockopt(l->dealer, ZMQ_CURVE_SERVERKEY, card->curve_pk, 32) != 0 ||
        zmq_setsockopt(l->dealer, ZMQ_CURVE_PUBLICKEY, vj_identity_curve_pk(self), 32) != 0 ||
        zmq_setsockopt(l->dealer, ZMQ_CURVE_SECRETKEY, vj_identity_curve_sk(self), 32) != 0 ||
        s_set_int(l->dealer, ZMQ_IMMEDIATE, 1) != 0 ||
        s_set_int(l->dealer, ZMQ_RECONNECT_IVL, 100) != 0 ||
        s_set_int(l->dealer, ZMQ_RECONNECT_IVL_MAX, 5000) != 0)
        return VJ_E_IO;
    char mon[128];
    snprintf(mon, sizeof mon, "inproc://valijad-monitor-%u-%s", d->link_generation, l->name);
    if (zmq_socket_monitor(l->dealer, mon,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0)
        return VJ_E_IO;
    l->monitor = zmq_socket(d->zctx, ZMQ_PAIR);
    if (l->monitor == NULL || s_set_int(l->monitor, ZMQ_LINGER, 0) != 0 ||
        zmq_connect(l->monitor, mon) != 0)
        return VJ_E_IO;
    if (zmq_connect(l->dealer, l->endpoint) != 0)
        return VJ_E_IO;
    return VJ_OK;
}

static void s_links_close(daemon_t *d)
{
    for (size_t i = 0; i < d->n_links; i++)
        s_link_close(&d->links[i]);
    free(d->links);
    d->links = NULL;
    d->n_links = 0;
}

static int s_links_open(daemon_t *d)
{
    d->link_generation++;
    d->links = calloc(d->cfg->n_peers ? d->cfg->n_peers : 1, sizeof *d->links);
    if (d->links == NULL)
        return VJ_E_NOMEM;
    for (size_t i = 0; i < d->cfg->n_peers; i++) {
        int rc = s_link_open(d, &d->links[i], &d->cfg->peers[i]);
        d->n_links = i + 1;
        if (rc != VJ_OK) {
            vj_log_error("cannot set up the link to %s at %s: %s", d->cfg->peers[i].name,
                         d->cfg->peers[i].endpoint, zmq_strerror(errno));
            return rc;
        }
    }
    return VJ_OK;
}

static int s_bind_peer_router(daemon_t *d)
{
    d->router = zmq_socket(d->zctx, ZMQ_ROUTER);
    if (d->router == NULL)
        return VJ_E_IO;
    if (s_peer_socket_options(d, d->router) != VJ_OK ||
        s_set_int(d->router, ZMQ_CURVE_SERVER, 1) != 0 ||
        zmq_setsockopt(d->router, ZMQ_CURVE_SECRETKEY, vj_identity_curve_sk(d->id), 32) != 0 ||
        zmq_setsockopt(d->router, ZMQ_ZAP_DOMAIN, VJ_ZAP_DOMAIN, strlen(VJ_ZAP_DOMAIN)) != 0 ||
        s_set_int(d->router, ZMQ_ZAP_ENFORCE_DOMAIN, 1) != 0 ||
        s_set_int(d->router, ZMQ_ROUTER_MANDATORY, 1) != 0)
        return VJ_E_IO;
    if (zmq_bind(d->router, d->cfg->listen) != 0) {
        vj_log_error("cannot listen for peers on %s: %s", d->cfg->listen, zmq_strerror(errno));
        return VJ_E_IO;
    }
    return VJ_OK;
}

/* The client socket lives in a directory that only the daemon's user and
 * group can enter; a live socket of another daemon is never taken over. */
static int s_bind_client(daemon_t *d)
{
    const char *path = d->cfg->client_path;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir) {
        vj_log_error("client socket %s must be inside a directory of its own", path);
        return VJ_E_CONFIG;
    }
    *slash = '\0';
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        if (errno != ENOENT || mkdir(dir, 0750) != 0) {
            vj_log_warn_errno("cannot create the client socket directory %s", dir);
            return VJ_E_IO;
        }
        if (stat(dir, &sb) != 0)
            return VJ_E_IO;
    }
    if (!S_ISDIR(sb.st_mode) || (sb.st_mode & 0007) != 0) {
        vj_log_error("client socket directory %s can be entered by others (mode %04o); run "
                     "chmod 750 %s",
                     dir, (unsigned)(sb.st_mode & 07777), dir);
        return VJ_E_PERM;
    }
    if (lstat(path, &sb) == 0) {
        if (!S_ISSOCK(sb.st_mode)) {
            vj_log_error("%s exists and is not a socket; remove it or choose another path", path);
            return VJ_E_EXISTS;
        }
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        int live = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (fd >= 0)
            close(fd);
        if (live) {
            vj_log_error("another valijad already serves clients at %s", path);
            return VJ_E_EXISTS;
        }
        unlink(path);   /* stale socket of a daemon that is gone */
    }
    d->client = zmq_socket(d->zctx, ZMQ_ROUTER);
    int64_t maxmsg = VJ_CLIENT_MAX_REQUEST;
    if (d->client == NULL || s_set_int(d->client, ZMQ_LINGER, 0) != 0 ||
        s_set_int(d->client, ZMQ_ROUTER_MANDATORY, 1) != 0 ||
        s_set_int(d->client, ZMQ_SNDHWM, CLIENT_HWM) != 0 ||
        zmq_setsockopt(d->client, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0)
        return VJ_E_IO;
    if (zmq_bind(d->client, d->cfg->client) != 0) {
        vj_log_error("cannot serve clients at %s: %s", d->cfg->client, zmq_strerror(errno));
        return VJ_E_IO;
    }
    if (chmod(path, 0660) != 0)
        vj_log_warn_errno("cannot set the mode of %s", path);
    return VJ_OK;
}

/* ---------- sending ---------- */

static int s_send_routed(void *sock, const uint8_t *rid, size_t rid_len, const uint8_t *data,
                         size_t len)
{
    if (zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return VJ_E_UNAVAILABLE;
    if (zmq_send(sock, data, len, ZMQ_DONTWAIT) < 0)
        return VJ_E_UNAVAILABLE;
    return VJ_OK;
}

static void s_send_hello(daemon_t *d, link_t *l)
{
    vj_origin_mark *marks = NULL;
    size_t n = 0;
    uint8_t *frame = NULL;
    size_t len = 0;
    if (vj_store_origin_marks(d->st, &marks, &n) != VJ_OK)
        n = 0;
    if (n > VJ_PEER_MAX_HOLDINGS)
        n = VJ_PEER_MAX_HOLDINGS;
    const char **origins = calloc(n ? n : 1, sizeof *origins);
    uint64_t *seqs = calloc(n ? n : 1, sizeof *seqs);
    if (origins != NULL && seqs != NULL) {
        for (size_t i = 0; i < n; i++) {
            origins[i] = marks[i].origin;
            seqs[i] = marks[i].seq;
        }
        if (vj_peer_msg_hello(origins, seqs, n, &frame, &len) == VJ_OK)
            zmq_send(l->dealer, frame, len, ZMQ_DONTWAIT);
    }
    free(frame);
    free(origins);
    free(seqs);
    free(marks);
}

/* ---------- peers: monitor events ---------- */

static void s_relay_catch_up(daemon_t *d, link_t *l, Valija__OriginMark **holdings,
                             size_t n_hold);

static void s_handle_monitor(daemon_t *d, link_t *l)
{
    zmq_msg_t ev, addr;
    zmq_msg_init(&ev);
    zmq_msg_init(&addr);
    if (zmq_msg_recv(&ev, l->monitor, ZMQ_DONTWAIT) < 0)
        goto out;
    if (!zmq_msg_more(&ev) || zmq_msg_recv(&addr, l->monitor, 0) < 0 || zmq_msg_size(&ev) < 6)
        goto out;
    uint16_t event;
    memcpy(&event, zmq_msg_data(&ev), sizeof event);
    switch (event) {
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        l->connected = 1;
        l->failure_logged = 0;
        l->last_seen_ms = vj_now_ms();
        l->in_flight = 0;
        l->timeouts = 0;
        vj_log_info("link to %s is up (%s)", l->name, l->endpoint);
        s_send_hello(d, l);
        if (l->hello != NULL) {
            Valija__PeerMessage *h = l->hello;
            l->hello = NULL;
            if (h->body_case == VALIJA__PEER_MESSAGE__BODY_HELLO)
                s_relay_catch_up(d, l, h->hello->holdings, h->hello->n_holdings);
            else
                s_relay_catch_up(d, l, h->catch_up->after, h->catch_up->n_after);
            vj_codec_free((ProtobufCMessage *)h);
        }
        /* Everything still waiting for this peer is due now. */
        if (s_tx(d) != VJ_OK || vj_store_outbox_reset_due(d->st, l->name, vj_now_ms()) != VJ_OK)
            vj_log_warn("cannot reschedule the backlog of %s", l->name);
        break;
    case ZMQ_EVENT_DISCONNECTED:
        if (l->connected)
            vj_log_info("link to %s is down", l->name);
        l->connected = 0;
        l->in_flight = 0;
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        /* libzmq retries fast: say it once until a handshake succeeds. */
        if (!l->failure_logged++)
            vj_log_warn("%s at %s refused this post's transport key (is this post in its peers, "
                        "with the current card?)",
                        l->name, l->endpoint);
        break;
    default:
        if (!l->failure_logged++)
            vj_log_warn("handshake with %s at %s failed (wrong server key pinned, or not a "
                        "valijad?)",
                        l->name, l->endpoint);
        break;
    }
out:
    while (zmq_msg_more(&addr)) {
        zmq_msg_close(&addr);
        zmq_msg_init(&addr);
        if (zmq_msg_recv(&addr, l->monitor, 0) < 0)
            break;
    }
    zmq_msg_close(&ev);
    zmq_msg_close(&addr);
}

/* ---------- peers: frames in ---------- */

static int s_ack(daemon_t *d, const uint8_t *rid, size_t rid_len, const char *peer,
                 const uint8_t id[VJ_MSG_ID_LEN])
{
    ack_group_t *g = NULL;
    for (size_t i = 0; i < d->n_acks; i++)
        if (d->acks[i].rid_len == rid_len && memcmp(d->acks[i].rid, rid, rid_len) == 0)
            g = &d->acks[i];
    if (g == NULL) {
        if (s_grow((void **)&d->acks, &d->cap_acks, d->n_acks + 1, sizeof *d->acks) != VJ_OK)
            return VJ_E_NOMEM;
        g = &d->acks[d->n_acks++];
        memset(g, 0, sizeof *g);
        memcpy(g->rid, rid, rid_len);
        g->rid_len = rid_len;
        snprintf(g->peer, sizeof g->peer, "%s", peer);
    }
    if (s_grow((void **)&g->ids, &g->cap, (g->n + 1) * VJ_MSG_ID_LEN, 1) != VJ_OK)
        return VJ_E_NOMEM;
    memcpy(g->ids + g->n * VJ_MSG_ID_LEN, id, VJ_MSG_ID_LEN);
    g->n++;
    return VJ_OK;
}

static void s_send_reject(daemon_t *d, const uint8_t *rid, size_t rid_len, Valija__RejectCode code,
                          const uint8_t *msg_id)
{
    uint8_t *frame = NULL;
    size_t len = 0;
    if (vj_peer_msg_reject(code, msg_id, &frame, &len) == VJ_OK)
        s_send_routed(d->router, rid, rid_len, frame, len);
    free(frame);
}

static void s_receive_envelopes(daemon_t *d, const uint8_t *rid, size_t rid_len, const char *peer,
                                const Valija__EnvelopeBatch *batch)
{
    char idbuf[13];
    if (s_tx(d) != VJ_OK) {
        vj_log_error("cannot begin a store transaction; envelopes from %s wait for a retry", peer);
        return;
    }
    size_t stored = 0, dups = 0;
    for (size_t i = 0; i < batch->n_envelopes; i++) {
        vj_envelope_info info;
        vj_diag diag = {{0}};
        size_t events_before = vj_post_events_count(d->post);
        if (vj_store_savepoint(d->st) != VJ_OK) {
            vj_log_error("cannot make a savepoint; envelopes from %s wait for a retry", peer);
            return;
        }
        int rc = vj_post_receive(d->post, peer, batch->envelopes[i].data, batch->envelopes[i].len,
                                 vj_now_ms(), &info, &diag);
        if (rc == VJ_OK || rc == VJ_E_REPLAY) {
            if (vj_store_release(d->st) != VJ_OK) {
                vj_store_rollback_to(d->st);
                vj_post_events_truncate(d->post, events_before);
                continue;
            }
            if (rc == VJ_OK)
                stored++;
            else
                dups++;
            d->stats.received++;
            d->turn_updates++;
            s_ack(d, rid, rid_len, peer, info.msg_id);
        } else {
            vj_store_rollback_to(d->st);
            vj_post_events_truncate(d->post, events_before);
            /* Say which envelope and why here; tell the peer only that it was refused. */
            int has_id = info.origin[0] != '\0';
            vj_log_warn("refused an envelope from %s%s%s: %s%s%s", peer,
                        has_id ? ", message " : "", has_id ? vj_log_msgid(info.msg_id, idbuf) : "",
                        vj_strerror(rc), diag.text[0] ? ": " : "", diag.text);
            s_send_reject(d, rid, rid_len, VALIJA__REJECT_CODE__REJECT_ENVELOPE,
                          has_id ? info.msg_id : NULL);
        }
    }
    if (stored > 0 || dups > 0)
        vj_log_debug("received %zu new and %zu duplicate envelopes from %s", stored, dups, peer);
}

/* Catch-up by relay: a peer that comes back says, per origin, the highest
 * sequence it holds; envelopes of other origins that this post holds,
 * addressed to that peer and newer than its mark, are sent on at once, so
 * the peer need not wait for their origin to be on line.  Signatures are the
 * origins', so nothing is trusted to this post; receipts for them are simply
 * not in this post's outbox.  Completeness still rests on each origin's
 * outbox. */
#define RELAY_MAX 4096
static void s_relay_catch_up(daemon_t *d, link_t *l, Valija__OriginMark **holdings, size_t n_hold)
{
    vj_origin_mark *marks = NULL;
    size_t n_marks = 0;
    size_t relayed = 0;
    if (!l->connected || vj_store_origin_marks(d->st, &marks, &n_marks) != VJ_OK)
        return;
    for (size_t m = 0; m < n_marks && relayed < RELAY_MAX; m++) {
        const char *origin = marks[m].origin;
        /* Ours go by the outbox.  The peer's own updates are relayed back
         * to it too when it holds fewer than we do: its store was restored
         * from a backup and lost them. */
        if (strcmp(origin, d->cfg->post) == 0)
            continue;
        uint64_t after = 0;
        for (size_t h = 0; h < n_hold; h++)
            if (strcmp(holdings[h]->origin, origin) == 0)
                after = holdings[h]->seq;
        if (after >= marks[m].seq)
            continue;
        uint8_t ids[VJ_PEER_MAX_BATCH * VJ_MSG_ID_LEN];
        size_t n = 0;
        while (relayed < RELAY_MAX &&
               vj_store_catch_up(d->st, l->name, origin, after, VJ_PEER_MAX_BATCH, ids, &n) ==
                   VJ_OK &&
               n > 0) {
            uint8_t *envs[VJ_PEER_MAX_BATCH];
            size_t lens[VJ_PEER_MAX_BATCH];
            size_t count = 0, total = 0;
            for (size_t i = 0; i < n; i++) {
                if (vj_store_get_envelope(d->st, ids + i * VJ_MSG_ID_LEN, &envs[count],
                                          &lens[count]) != VJ_OK)
                    continue;
                if (count > 0 && total + lens[count] > (size_t)d->cfg->max_message_bytes) {
                    free(envs[count]);
                    n = i;   /* the rest in the next batch */
                    break;
                }
                total += lens[count++];
            }
            uint8_t *frame = NULL;
            size_t flen = 0;
            int sent = count > 0 &&
                       vj_peer_msg_envelopes(envs, lens, count, &frame, &flen) == VJ_OK &&
                       zmq_send(l->dealer, frame, flen, ZMQ_DONTWAIT) >= 0;
            free(frame);
            for (size_t i = 0; i < count; i++)
                free(envs[i]);
            if (!sent || n == 0)
                break;
            relayed += count;
            /* continue after the last id relayed: catch_up orders by seq */
            vj_envelope_info info;
            uint8_t *last = NULL;
            size_t last_len = 0;
            vj_diag diag;
            int ok = vj_store_get_envelope(d->st, ids + (n - 1) * VJ_MSG_ID_LEN, &last,
                                           &last_len) == VJ_OK &&
                     vj_envelope_inspect(d->kr, last, last_len, SIZE_MAX, &info, &diag) == VJ_OK;
            free(last);
            if (!ok || info.origin_seq <= after)
                break;
            after = info.origin_seq;
        }
    }
    if (relayed > 0)
        vj_log_info("relayed %zu envelopes of other origins to %s, which was missing them",
                    relayed, l->name);
    free(marks);
}

static void s_handle_router(daemon_t *d)
{
    for (int turn = 0; turn < TURN_BUDGET && d->turn_updates < TURN_UPDATES; turn++) {
        zmq_msg_t rid, body;
        zmq_msg_init(&rid);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&rid, d->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&rid);
            zmq_msg_close(&body);
            return;
        }
        int ok = zmq_msg_more(&rid) && zmq_msg_recv(&body, d->router, 0) >= 0;
        int extra = ok && zmq_msg_more(&body);
        while (ok && zmq_msg_more(&body)) {   /* drop extra parts */
            zmq_msg_t junk;
            zmq_msg_init(&junk);
            int more = zmq_msg_recv(&junk, d->router, 0) >= 0 && zmq_msg_more(&junk);
            zmq_msg_close(&junk);
            if (!more)
                break;
        }
        /* The sender is the post the transport authenticated, never a name
         * that the frame claims. */
        const char *user = ok ? zmq_msg_gets(&body, "User-Id") : NULL;
        link_t *l = user != NULL ? s_link_by_name(d, user) : NULL;
        if (!ok || l == NULL || extra || zmq_msg_size(&rid) > ROUTING_ID_MAX) {
            if (ok && l == NULL)
                vj_log_warn("dropped a frame from an unauthenticated or removed peer");
            else if (ok)
                vj_log_warn("dropped a malformed frame from %s", l->name);
            zmq_msg_close(&rid);
            zmq_msg_close(&body);
            continue;
        }
        l->last_seen_ms = vj_now_ms();
        Valija__PeerMessage *m = NULL;
        vj_diag diag = {{0}};
        int rc = vj_peer_msg_decode(zmq_msg_data(&body), zmq_msg_size(&body),
                                    (size_t)d->cfg->max_message_bytes, &m, &diag);
        const uint8_t *rid_data = zmq_msg_data(&rid);
        size_t rid_len = zmq_msg_size(&rid);
        if (rc != VJ_OK) {
            vj_log_warn("refused a frame from %s: %s", l->name, diag.text);
            s_send_reject(d, rid_data, rid_len,
                          rc == VJ_E_VERSION  ? VALIJA__REJECT_CODE__REJECT_VERSION
                          : rc == VJ_E_TOOBIG ? VALIJA__REJECT_CODE__REJECT_TOO_BIG
                                              : VALIJA__REJECT_CODE__REJECT_MALFORMED,
                          NULL);
        } else if (m->body_case == VALIJA__PEER_MESSAGE__BODY_ENVELOPES) {
            s_receive_envelopes(d, rid_data, rid_len, l->name, m->envelopes);
        } else if (m->body_case == VALIJA__PEER_MESSAGE__BODY_HELLO ||
                   m->body_case == VALIJA__PEER_MESSAGE__BODY_CATCH_UP) {
            int speaks = m->body_case == VALIJA__PEER_MESSAGE__BODY_CATCH_UP;
            for (size_t i = 0; !speaks && i < m->hello->n_versions; i++)
                speaks = m->hello->versions[i] == VJ_PEER_PROTOCOL_VERSION;
            if (!speaks) {
                vj_log_warn("%s speaks no peer protocol version of ours", l->name);
                s_send_reject(d, rid_data, rid_len, VALIJA__REJECT_CODE__REJECT_VERSION, NULL);
            } else {
                /* The peer is (back) on line: send it whatever still waits. */
                vj_log_debug("%s asked for its backlog", l->name);
                if (s_tx(d) != VJ_OK ||
                    vj_store_outbox_reset_due(d->st, l->name, vj_now_ms()) != VJ_OK)
                    vj_log_warn("cannot reschedule the backlog of %s", l->name);
                /* A peer holding our own updates numbered beyond our
                 * counter means our store went back in time (restored from
                 * a backup): go on numbering above what it holds. */
                Valija__OriginMark **marks = m->body_case == VALIJA__PEER_MESSAGE__BODY_HELLO
                                                 ? m->hello->holdings
                                                 : m->catch_up->after;
                size_t n_marks = m->body_case == VALIJA__PEER_MESSAGE__BODY_HELLO
                                     ? m->hello->n_holdings
                                     : m->catch_up->n_after;
                for (size_t k = 0; k < n_marks; k++) {
                    if (strcmp(marks[k]->origin, d->cfg->post) != 0)
                        continue;
                    uint64_t own = 0, lamport = 0;
                    if (vj_store_counters(d->st, &own, &lamport) == VJ_OK &&
                        marks[k]->seq > own && s_tx(d) == VJ_OK &&
                        vj_store_origin_seq_observe(d->st, marks[k]->seq) == VJ_OK)
                        vj_log_warn("%s holds our update number %llu, beyond our counter %llu "
                                    "(store restored from a backup?): numbering goes on above "
                                    "it",
                                    l->name, (unsigned long long)marks[k]->seq,
                                    (unsigned long long)own);
                }
                if (!l->connected) {
                    /* relay once our own link to it is up */
                    vj_codec_free((ProtobufCMessage *)l->hello);
                    l->hello = m;
                    m = NULL;
                } else if (m->body_case == VALIJA__PEER_MESSAGE__BODY_HELLO) {
                    s_relay_catch_up(d, l, m->hello->holdings, m->hello->n_holdings);
                } else {
                    s_relay_catch_up(d, l, m->catch_up->after, m->catch_up->n_after);
                }
            }
        } else {
            vj_log_warn("%s sent a frame that belongs on the other link direction", l->name);
            s_send_reject(d, rid_data, rid_len, VALIJA__REJECT_CODE__REJECT_MALFORMED, NULL);
        }
        vj_codec_free((ProtobufCMessage *)m);
        zmq_msg_close(&rid);
        zmq_msg_close(&body);
    }
}

static void s_handle_receipt(daemon_t *d, link_t *l, const Valija__Receipt *r)
{
    Valija__ReceiptBody *body = NULL;
    int rc = vj_receipt_verify(d->kr, l->name, r->body.data, r->body.len, r->signature.data,
                               r->signature.len, &body);
    if (rc != VJ_OK) {
        vj_log_warn("refused a receipt from %s: %s", l->name, vj_strerror(rc));
        return;
    }
    if (s_tx(d) != VJ_OK) {
        vj_codec_free((ProtobufCMessage *)body);
        return;
    }
    for (size_t i = 0; i < body->n_msg_ids; i++) {
        if (vj_store_outbox_delivered(d->st, body->msg_ids[i].data, l->name, r->body.data,
                                      r->body.len, r->signature.data, r->signature.len,
                                      body->stored_ms) != VJ_OK)
            vj_log_warn("cannot record a receipt from %s", l->name);
    }
    l->in_flight = l->in_flight > body->n_msg_ids ? l->in_flight - body->n_msg_ids : 0;
    l->timeouts = 0;
    l->last_progress_ms = vj_mono_ms();
    vj_codec_free((ProtobufCMessage *)body);
}

static void s_handle_dealer(daemon_t *d, link_t *l)
{
    char idbuf[13];
    for (int turn = 0; turn < TURN_BUDGET; turn++) {
        zmq_msg_t body;
        zmq_msg_init(&body);
        if (zmq_msg_recv(&body, l->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&body);
            return;
        }
        l->last_seen_ms = vj_now_ms();
        Valija__PeerMessage *m = NULL;
        vj_diag diag = {{0}};
        int multipart = zmq_msg_more(&body);
        int rc = multipart ? VJ_E_PARSE
                           : vj_peer_msg_decode(zmq_msg_data(&body), zmq_msg_size(&body),
                                                (size_t)d->cfg->max_message_bytes, &m, &diag);
        while (zmq_msg_more(&body)) {
            zmq_msg_close(&body);
            zmq_msg_init(&body);
            if (zmq_msg_recv(&body, l->dealer, 0) < 0)
                break;
        }
        if (rc != VJ_OK) {
            vj_log_warn("refused a frame from %s: %s", l->name,
                        multipart ? "unexpected multipart message" : diag.text);
        } else if (m->body_case == VALIJA__PEER_MESSAGE__BODY_RECEIPT) {
            s_handle_receipt(d, l, m->receipt);
        } else if (m->body_case == VALIJA__PEER_MESSAGE__BODY_REJECT) {
            const Valija__Reject *rj = m->reject;
            vj_log_warn("%s refused %s%s (code %d); it stays in the outbox",
                        l->name, rj->msg_id.len ? "message " : "a frame",
                        rj->msg_id.len ? vj_log_msgid(rj->msg_id.data, idbuf) : "", rj->code);
        } else {
            vj_log_warn("%s sent an unexpected frame on our link to it", l->name);
        }
        vj_codec_free((ProtobufCMessage *)m);
        zmq_msg_close(&body);
    }
}

/* ---------- clients ---------- */

static pending_reply_t *s_pending(daemon_t *d, const uint8_t *rid, size_t rid_len)
{
    if (s_grow((void **)&d->replies, &d->cap_replies, d->n_replies + 1, sizeof *d->replies) !=
        VJ_OK)
        return NULL;
    pending_reply_t *p = &d->replies[d->n_replies++];
    memset(p, 0, sizeof *p);
    memcpy(p->rid, rid, rid_len);
    p->rid_len = rid_len;
    return p;
}

static Valija__ReplyStatus s_reply_status(int rc)
{
    switch (rc) {
    case VJ_E_PARSE:
    case VJ_E_TOOBIG:
    case VJ_E_INVAL:
        return VALIJA__REPLY_STATUS__REPLY_BAD_REQUEST;
    case VJ_E_REFUSED:
        return VALIJA__REPLY_STATUS__REPLY_REFUSED;
    case VJ_E_NOTFOUND:
        return VALIJA__REPLY_STATUS__REPLY_NOT_FOUND;
    case VJ_E_VERSION:
        return VALIJA__REPLY_STATUS__REPLY_VERSION;
    default:
        return VALIJA__REPLY_STATUS__REPLY_INTERNAL;
    }
}

static void s_submit(daemon_t *d, pending_reply_t *p)
{
    Valija__SubmitRequest *sr = p->req->submit;
    p->ids = calloc(sr->n_updates, VJ_MSG_ID_LEN);
    if (p->ids == NULL || s_tx(d) != VJ_OK || vj_store_savepoint(d->st) != VJ_OK) {
        p->status = VALIJA__REPLY_STATUS__REPLY_INTERNAL;
        snprintf(p->error, sizeof p->error, "the store could not start a transaction; try again");
        return;
    }
    size_t events_before = vj_post_events_count(d->post);
    int64_t now = vj_now_ms();
    for (size_t i = 0; i < sr->n_updates; i++) {
        vj_diag diag = {{0}};
        int rc = vj_post_submit(d->post, sr->updates[i], now, p->ids + i * VJ_MSG_ID_LEN, &diag);
        if (rc != VJ_OK) {
            vj_store_rollback_to(d->st);
            vj_post_events_truncate(d->post, events_before);
            p->status = s_reply_status(rc);
            if (sr->n_updates > 1)
                snprintf(p->error, sizeof p->error, "update %zu of %zu: %s; nothing was submitted",
                         i + 1, sr->n_updates, diag.text[0] ? diag.text : vj_strerror(rc));
            else
                snprintf(p->error, sizeof p->error, "%s", diag.text[0] ? diag.text : vj_strerror(rc));
            if (p->status == VALIJA__REPLY_STATUS__REPLY_INTERNAL)
                vj_log_error("a submission failed: %s", vj_strerror(rc));
            return;
        }
    }
    if (vj_store_release(d->st) != VJ_OK) {
        vj_store_rollback_to(d->st);
        vj_post_events_truncate(d->post, events_before);
        p->status = VALIJA__REPLY_STATUS__REPLY_INTERNAL;
        snprintf(p->error, sizeof p->error, "the store failed; nothing was submitted");
        return;
    }
    p->n_ids = sr->n_updates;
    d->stats.submitted += sr->n_updates;
    d->turn_updates += sr->n_updates;
}

static void s_handle_client(daemon_t *d)
{
    for (int turn = 0; turn < TURN_BUDGET && d->turn_updates < TURN_UPDATES; turn++) {
        zmq_msg_t rid, body;
        zmq_msg_init(&rid);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&rid, d->client, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&rid);
            zmq_msg_close(&body);
            return;
        }
        int ok = zmq_msg_more(&rid) && zmq_msg_recv(&body, d->client, 0) >= 0 &&
                 zmq_msg_size(&rid) <= ROUTING_ID_MAX;
        int extra = ok && zmq_msg_more(&body);
        while (ok && zmq_msg_more(&body)) {
            zmq_msg_t junk;
            zmq_msg_init(&junk);
            int more = zmq_msg_recv(&junk, d->client, 0) >= 0 && zmq_msg_more(&junk);
            zmq_msg_close(&junk);
            if (!more)
                break;
        }
        pending_reply_t *p = ok ? s_pending(d, zmq_msg_data(&rid), zmq_msg_size(&rid)) : NULL;
        if (p != NULL) {
            vj_diag diag = {{0}};
            int rc = extra ? VJ_E_PARSE
                           : vj_api_decode(zmq_msg_data(&body), zmq_msg_size(&body), &p->req,
                                           &diag);
            if (rc != VJ_OK) {
                p->status = s_reply_status(rc);
                snprintf(p->error, sizeof p->error, "bad request: %s",
                         extra ? "one frame per request" : diag.text);
                vj_log_info("refused a malformed client request: %s",
                            extra ? "multipart" : diag.text);
            } else if (p->req->body_case == VALIJA__CLIENT_REQUEST__BODY_SUBMIT) {
                s_submit(d, p);
            }
        }
        zmq_msg_close(&rid);
        zmq_msg_close(&body);
    }
}

static int s_peers_reply(daemon_t *d, uint8_t **out, size_t *out_len)
{
    Valija__PeersReply pr = VALIJA__PEERS_REPLY__INIT;
    Valija__PeerStatus *items = calloc(d->n_links ? d->n_links : 1, sizeof *items);
    Valija__PeerStatus **ptrs = calloc(d->n_links ? d->n_links : 1, sizeof *ptrs);
    int ret = VJ_E_NOMEM;
    if (items == NULL || ptrs == NULL)
        goto out;
    for (size_t i = 0; i < d->n_links; i++) {
        link_t *l = &d->links[i];
        valija__peer_status__init(&items[i]);
        items[i].post = l->name;
        items[i].connected = l->connected;
        items[i].last_seen_ms = l->last_seen_ms;
        items[i].endpoint = l->endpoint;
        items[i].fingerprint = l->fingerprint;
        ret = vj_store_outbox_backlog(d->st, l->name, &items[i].backlog);
        if (ret != VJ_OK)
            goto out;
        ptrs[i] = &items[i];
    }
    pr.post = d->cfg->post;
    pr.peers = ptrs;
    pr.n_peers = d->n_links;
    ret = vj_api_reply_peers(&pr, out, out_len);
out:
    free(items);
    free(ptrs);
    return ret;
}

#define WATCHERS_MAX 256

static void s_watch(daemon_t *d, const pending_reply_t *p)
{
    /* A watcher that left is only noticed at the next event for it: on a
     * quiet post, make room by dropping the oldest. */
    if (d->n_watchers == WATCHERS_MAX) {
        memmove(&d->watchers[0], &d->watchers[1], (d->n_watchers - 1) * sizeof *d->watchers);
        d->n_watchers--;
    }
    if (s_grow((void **)&d->watchers, &d->cap_watchers, d->n_watchers + 1, sizeof *d->watchers) !=
        VJ_OK)
        return;
    watcher_t *w = &d->watchers[d->n_watchers++];
    memset(w, 0, sizeof *w);
    memcpy(w->rid, p->rid, p->rid_len);
    w->rid_len = p->rid_len;
    snprintf(w->case_id, sizeof w->case_id, "%s", p->req->watch->case_id);
}

static void s_answer_clients(daemon_t *d, int committed)
{
    for (size_t i = 0; i < d->n_replies; i++) {
        pending_reply_t *p = &d->replies[i];
        uint8_t *frame = NULL;
        size_t len = 0;
        int rc = VJ_OK;
        if (p->req == NULL || p->status != VALIJA__REPLY_STATUS__REPLY_OK) {
            rc = vj_api_reply_error(p->status, p->error, &frame, &len);
        } else if (!committed && p->req->body_case == VALIJA__CLIENT_REQUEST__BODY_SUBMIT) {
            rc = vj_api_reply_error(VALIJA__REPLY_STATUS__REPLY_INTERNAL,
                                    "the store could not commit; nothing was submitted, try again",
                                    &frame, &len);
        } else {
            switch (p->req->body_case) {
            case VALIJA__CLIENT_REQUEST__BODY_SUBMIT:
                rc = vj_api_reply_submit(p->ids, p->n_ids, &frame, &len);
                break;
            case VALIJA__CLIENT_REQUEST__BODY_PEERS:
                rc = s_peers_reply(d, &frame, &len);
                break;
            case VALIJA__CLIENT_REQUEST__BODY_WATCH:
                s_watch(d, p);
                rc = vj_api_reply_error(VALIJA__REPLY_STATUS__REPLY_OK, "", &frame, &len);
                break;
            default:
                rc = vj_api_answer(d->st, p->req, &frame, &len);
                break;
            }
        }
        if (rc != VJ_OK) {
            free(frame);
            frame = NULL;
            vj_log_error("cannot answer a client request: %s", vj_strerror(rc));
            rc = vj_api_reply_error(s_reply_status(rc), "the daemon failed to answer; see its log",
                                    &frame, &len);
        }
        if (rc == VJ_OK && s_send_routed(d->client, p->rid, p->rid_len, frame, len) != VJ_OK)
            vj_log_info("a client left before its reply");
        free(frame);
        vj_codec_free((ProtobufCMessage *)p->req);
        free(p->ids);
    }
    d->n_replies = 0;
}

static void s_notify_watchers(daemon_t *d)
{
    vj_post_event *events = NULL;
    size_t n = 0;
    vj_post_events_take(d->post, &events, &n);
    for (size_t e = 0; e < n && d->n_watchers > 0; e++) {
        uint8_t *frame = NULL;
        size_t len = 0;
        if (vj_api_reply_event(d->st, events[e].case_id, events[e].msg_id, &frame, &len) != VJ_OK)
            continue;
        for (size_t w = 0; w < d->n_watchers;) {
            watcher_t *wt = &d->watchers[w];
            if (wt->case_id[0] != '\0' && strcmp(wt->case_id, events[e].case_id) != 0) {
                w++;
                continue;
            }
            if (s_send_routed(d->client, wt->rid, wt->rid_len, frame, len) != VJ_OK) {
                /* gone, or too slow to keep up: drop it */
                d->watchers[w] = d->watchers[--d->n_watchers];
                continue;
            }
            w++;
        }
        free(frame);
    }
    free(events);
}

/* ---------- the turn's end: commit, then acknowledge ---------- */

static void s_send_receipts(daemon_t *d)
{
    for (size_t i = 0; i < d->n_acks; i++) {
        ack_group_t *g = &d->acks[i];
        for (size_t off = 0; off < g->n; off += 4096) {
            size_t n = g->n - off < 4096 ? g->n - off : 4096;
            uint8_t *body = NULL, *frame = NULL;
            size_t body_len = 0, len = 0;
            uint8_t sig[VJ_SIG_LEN];
            if (vj_receipt_sign(d->kr, g->peer, vj_now_ms(), g->ids + off * VJ_MSG_ID_LEN, n,
                                &body, &body_len, sig) == VJ_OK &&
                vj_peer_msg_receipt(body, body_len, sig, sizeof sig, &frame, &len) == VJ_OK)
                s_send_routed(d->router, g->rid, g->rid_len, frame, len);
            free(body);
            free(frame);
        }
        free(g->ids);
    }
    d->n_acks = 0;
}

static void s_end_turn(daemon_t *d)
{
    int committed = 1;
    if (d->in_tx) {
        d->in_tx = 0;
        double t0 = s_secs();
        int rc = vj_store_commit(d->st);
        d->stats.t_commit += s_secs() - t0;
        d->stats.commits++;
        if (rc != VJ_OK) {
            vj_log_error("the store could not commit; this turn's updates are not acknowledged");
            vj_store_rollback(d->st);
            committed = 0;
            vj_post_event *ev = NULL;
            size_t n = 0;
            vj_post_events_take(d->post, &ev, &n);
            free(ev);
        }
    }
    if (committed)
        s_send_receipts(d);
    else {
        for (size_t i = 0; i < d->n_acks; i++)
            free(d->acks[i].ids);
        d->n_acks = 0;
    }
    s_answer_clients(d, committed);
    s_notify_watchers(d);
}

/* ---------- the outbox ---------- */

static void s_apply_attempts(daemon_t *d)
{
    if (d->n_attempts == 0)
        return;
    if (s_tx(d) != VJ_OK)
        return;
    for (size_t i = 0; i < d->n_attempts; i++)
        if (vj_store_outbox_attempted(d->st, d->attempts[i].id, d->attempts[i].peer,
                                      d->attempts[i].next_ms) != VJ_OK)
            vj_log_warn("cannot record a delivery attempt to %s", d->attempts[i].peer);
    d->n_attempts = 0;
}

static void s_send_outbox(daemon_t *d)
{
    int64_t now = vj_now_ms();
    int64_t mono = vj_mono_ms();
    for (size_t li = 0; li < d->n_links; li++) {
        link_t *l = &d->links[li];
        if (!l->connected)
            continue;
        if (l->in_flight > 0 && mono - l->last_progress_ms > ACK_TIMEOUT_MS) {
            /* No receipt for a while: give up on what is in flight (it is
             * retried when due) and back off. */
            l->in_flight = 0;
            l->timeouts++;
        }
        while (l->in_flight < WINDOW) {
            size_t want = WINDOW - l->in_flight;
            if (want > VJ_PEER_MAX_BATCH)
                want = VJ_PEER_MAX_BATCH;
            uint8_t ids[VJ_PEER_MAX_BATCH * VJ_MSG_ID_LEN];
            size_t n = 0;
            if (vj_store_outbox_due(d->st, l->name, now, want, ids, &n) != VJ_OK || n == 0)
                break;
            uint8_t *envs[VJ_PEER_MAX_BATCH];
            size_t lens[VJ_PEER_MAX_BATCH];
            size_t which[VJ_PEER_MAX_BATCH];   /* index in ids of envs[k] */
            size_t count = 0, total = 0;
            for (size_t i = 0; i < n; i++) {
                uint8_t *env = NULL;
                size_t len = 0;
                vj_diag diag = {{0}};
                int rc = vj_post_envelope_for(d->post, ids + i * VJ_MSG_ID_LEN, l->name, &env,
                                              &len, &diag);
                if (rc != VJ_OK) {
                    /* Leave it for later (an operator can see it in the log
                     * and in `valija status`) without blocking the rest. */
                    char idbuf[13];
                    vj_log_error("cannot send message %s to %s: %s %s",
                                 vj_log_msgid(ids + i * VJ_MSG_ID_LEN, idbuf), l->name,
                                 vj_strerror(rc), diag.text);
                    if (s_grow((void **)&d->attempts, &d->cap_attempts, d->n_attempts + 1,
                               sizeof *d->attempts) == VJ_OK) {
                        attempt_t *a = &d->attempts[d->n_attempts++];
                        memcpy(a->id, ids + i * VJ_MSG_ID_LEN, VJ_MSG_ID_LEN);
                        snprintf(a->peer, sizeof a->peer, "%s", l->name);
                        a->next_ms = now + d->cfg->retry_max_ms;
                    }
                    continue;
                }
                if (count > 0 && total + len > (size_t)d->cfg->max_message_bytes) {
                    free(env);
                    break;
                }
                envs[count] = env;
                lens[count] = len;
                which[count] = i;
                total += len;
                count++;
            }
            uint8_t *frame = NULL;
            size_t flen = 0;
            int sent = count > 0 &&
                       vj_peer_msg_envelopes(envs, lens, count, &frame, &flen) == VJ_OK &&
                       zmq_send(l->dealer, frame, flen, ZMQ_DONTWAIT) >= 0;
            free(frame);
            for (size_t i = 0; i < count; i++)
                free(envs[i]);
            if (!sent)
                break;
            if (l->in_flight == 0)
                l->last_progress_ms = mono;
            l->in_flight += count;
            d->stats.sent += count;
            int64_t next = now + s_backoff_ms(d, l->timeouts);
            if (s_grow((void **)&d->attempts, &d->cap_attempts, d->n_attempts + count,
                       sizeof *d->attempts) != VJ_OK)
                break;
            for (size_t i = 0; i < count; i++) {
                attempt_t *a = &d->attempts[d->n_attempts++];
                memcpy(a->id, ids + which[i] * VJ_MSG_ID_LEN, VJ_MSG_ID_LEN);
                snprintf(a->peer, sizeof a->peer, "%s", l->name);
                a->next_ms = next;
            }
            /* Record the attempts now, so the next query skips them; they
             * commit with the next turn's work (losing them in a crash only
             * means sending again, which receivers take as a duplicate). */
            s_apply_attempts(d);
            if (count < n)
                break;
        }
    }
}

/* Milliseconds until the outbox has something due for a connected peer. */
static long s_poll_timeout(daemon_t *d)
{
    int64_t now = vj_now_ms();
    long timeout = 1000;
    for (size_t i = 0; i < d->n_links; i++) {
        link_t *l = &d->links[i];
        if (!l->connected || l->in_flight >= WINDOW)
            continue;
        int64_t due = INT64_MAX;
        if (vj_store_outbox_next_due(d->st, l->name, &due) != VJ_OK || due == INT64_MAX)
            continue;
        int64_t wait = due - now;
        if (wait < timeout)
            timeout = wait < 0 ? 0 : (long)wait;
    }
    return timeout;
}

/* ---------- signals and reload ---------- */

static void s_handle_signals(daemon_t *d)
{
    struct signalfd_siginfo si;
    while (read(d->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP)
            d->reload = 1;
        else
            d->stop = 1;
    }
}

static void s_print_problems(const vj_problems *p)
{
    for (size_t i = 0; i < p->n; i++)
        fprintf(stderr, "%s\n", p->items[i]);
}

static int s_build_keyring(const vj_config *cfg, const vj_identity *id, vj_keyring **out)
{
    vj_keyring *kr = NULL;
    int rc = vj_keyring_new(id, &kr);
    for (size_t i = 0; rc == VJ_OK && i < cfg->n_peers; i++) {
        vj_card card;
        vj_diag diag = {{0}};
        rc = vj_card_load(cfg->peers[i].card_path, &card, &diag);
        if (rc == VJ_OK && strcmp(card.post, cfg->peers[i].name) != 0)
            rc = VJ_E_CONFIG;
        if (rc == VJ_OK)
            rc = vj_keyring_add(kr, &card);
        if (rc != VJ_OK)
            vj_log_error("card of peer %s (%s): %s %s", cfg->peers[i].name,
                         cfg->peers[i].card_path, vj_strerror(rc), diag.text);
    }
    if (rc != VJ_OK)
        vj_keyring_destroy(&kr);
    *out = kr;
    return rc;
}

static void s_reload(daemon_t *d)
{
    d->reload = 0;
    vj_config *cfg = NULL;
    vj_problems problems = {0};
    vj_keyring *kr = NULL;
    vj_log_info("re-reading the peers from %s", d->cfg->path);
    if (vj_config_load(d->cfg->path, &cfg, &problems) != VJ_OK ||
        vj_config_check_keys(cfg, &problems) != VJ_OK) {
        for (size_t i = 0; i < problems.n; i++)
            vj_log_error("%s", problems.items[i]);
        vj_log_error("configuration not reloaded; still running with the previous peers");
        goto out;
    }
    if (strcmp(cfg->post, d->cfg->post) != 0 || strcmp(cfg->listen, d->cfg->listen) != 0 ||
        strcmp(cfg->client, d->cfg->client) != 0 || strcmp(cfg->store_path, d->cfg->store_path) != 0 ||
        strcmp(cfg->secret_key_path, d->cfg->secret_key_path) != 0 ||
        cfg->max_message_bytes != d->cfg->max_message_bytes)
        vj_log_warn("post, keys, listen, client, store and max_message_bytes change only on "
                    "restart; the new peers and retry limits apply now");
    if (s_build_keyring(cfg, d->id, &kr) != VJ_OK) {
        vj_log_error("configuration not reloaded; still running with the previous peers");
        goto out;
    }
    /* Swap: the peers (and limits) of the new file, the rest unchanged. */
    s_links_close(d);
    vj_keyring *old_kr = d->kr;
    d->kr = kr;
    kr = NULL;
    vj_post_set_keyring(d->post, d->kr);
    vj_peer_config *peers = d->cfg->peers;
    size_t n_peers = d->cfg->n_peers;
    d->cfg->peers = cfg->peers;
    d->cfg->n_peers = cfg->n_peers;
    cfg->peers = peers;
    cfg->n_peers = n_peers;
    d->cfg->retry_max_ms = cfg->retry_max_ms;
    d->cfg->retry_min_ms = cfg->retry_min_ms;
    vj_keyring_destroy(&old_kr);
    if (s_links_open(d) != VJ_OK)
        vj_log_error("some peer links could not be set up");
    vj_log_info("now %zu peers", d->n_links);
out:
    vj_keyring_destroy(&kr);
    vj_config_destroy(&cfg);
    vj_problems_clear(&problems);
}

/* ---------- the loop ---------- */

static void s_run(daemon_t *d)
{
    while (!d->stop) {
        size_t n_items = 4 + 2 * d->n_links;
        zmq_pollitem_t items[4 + 2 * (d->n_links ? d->n_links : 1)];
        memset(items, 0, sizeof items);
        items[0].socket = vj_zap_socket(d->zap);
        items[1].socket = d->router;
        items[2].socket = d->client;
        items[3].fd = d->sigfd;
        for (size_t i = 0; i < 4; i++)
            items[i].events = ZMQ_POLLIN;
        for (size_t i = 0; i < d->n_links; i++) {
            items[4 + 2 * i].socket = d->links[i].dealer;
            items[4 + 2 * i].events = ZMQ_POLLIN;
            items[5 + 2 * i].socket = d->links[i].monitor;
            items[5 + 2 * i].events = ZMQ_POLLIN;
        }
        long timeout = d->n_attempts > 0 ? 0 : s_poll_timeout(d);
        double t0 = s_secs();
        if (zmq_poll(items, (int)n_items, timeout) < 0 && errno != EINTR) {
            vj_log_error("poll failed: %s", zmq_strerror(errno));
            break;
        }
        double t1 = s_secs();
        d->stats.t_poll += t1 - t0;
        d->stats.turns++;
        d->turn_updates = 0;
        if (items[0].revents & ZMQ_POLLIN) {
            vj_zap_decision dec;
            while (vj_zap_handle(d->zap, &dec) == VJ_OK) {
                if (dec.admitted)
                    vj_log_debug("admitted %s from %s", dec.post, dec.address);
                else
                    vj_log_warn("refused a connection from %s: %s", dec.address, dec.reason);
            }
        }
        if (items[3].revents & ZMQ_POLLIN)
            s_handle_signals(d);
        s_apply_attempts(d);
        for (size_t i = 0; i < d->n_links; i++) {
            if (items[5 + 2 * i].revents & ZMQ_POLLIN)
                s_handle_monitor(d, &d->links[i]);
            if (items[4 + 2 * i].revents & ZMQ_POLLIN)
                s_handle_dealer(d, &d->links[i]);
        }
        double t2 = s_secs();
        if (items[1].revents & ZMQ_POLLIN)
            s_handle_router(d);
        double t3 = s_secs();
        if (items[2].revents & ZMQ_POLLIN)
            s_handle_client(d);
        double t4 = s_secs();
        s_end_turn(d);
        double t5 = s_secs();
        s_send_outbox(d);
        double t6 = s_secs();
        d->stats.t_router += t3 - t2 + (t2 - t1);
        d->stats.t_client += t4 - t3;
        d->stats.t_after += t5 - t4;
        d->stats.t_outbox += t6 - t5;
        s_stats_tick(d);
        if (d->reload && !d->stop)
            s_reload(d);
    }
}

/* ---------- start and stop ---------- */

static void s_usage(FILE *f)
{
    fprintf(f, "usage: valijad [-n] [-v] -c FILE\n"
               "  -c, --config FILE  the post's configuration (libconfig)\n"
               "  -n, --check        check the configuration and keys, print "
               "\"configuration OK\" and exit\n"
               "  -v, --verbose      log debug lines too\n"
               "  -h, --help         this help\n"
               "  -V, --version      print the version\n"
               "Signals: SIGTERM or SIGINT stop it cleanly; SIGHUP re-reads the peers.\n"
               "Exit codes: 0 ok, 64 usage, 66 configuration file unreadable, 71 system\n"
               "(libsodium, memory), 74 I/O, 75 another valijad has the store or socket,\n"
               "77 permission, 78 configuration.\n");
}

static int s_lock_store(daemon_t *d)
{
    char path[PATH_MAX];
    /* The store's directory is private to the daemon; make it on first run. */
    snprintf(path, sizeof path, "%s", d->cfg->store_path);
    char *slash = strrchr(path, '/');
    if (slash != NULL && slash != path) {
        *slash = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            vj_log_warn_errno("cannot create the store directory %s", path);
            return VJ_E_IO;
        }
    }
    snprintf(path, sizeof path, "%s.lock", d->cfg->store_path);
    d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (d->lock_fd < 0) {
        vj_log_warn_errno("cannot open the lock file %s", path);
        return VJ_E_IO;
    }
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        vj_log_error("another valijad is already running with the store %s", d->cfg->store_path);
        return VJ_E_EXISTS;
    }
    return VJ_OK;
}

static int s_exit_code(int rc)
{
    switch (rc) {
    case VJ_E_PERM:
        return EX_NOPERM;
    case VJ_E_CONFIG:
    case VJ_E_VERSION:
        return EX_CONFIG;
    case VJ_E_EXISTS:
        return EX_TEMPFAIL;
    case VJ_E_CRYPTO:
    case VJ_E_NOMEM:
        return EX_OSERR;
    default:
        return EX_IOERR;
    }
}

static void s_teardown(daemon_t *d)
{
    if (d->in_tx) {
        if (vj_store_commit(d->st) != VJ_OK)
            vj_store_rollback(d->st);
        d->in_tx = 0;
    }
    for (size_t i = 0; i < d->n_replies; i++) {
        vj_codec_free((ProtobufCMessage *)d->replies[i].req);
        free(d->replies[i].ids);
    }
    for (size_t i = 0; i < d->n_acks; i++)
        free(d->acks[i].ids);
    free(d->replies);
    free(d->acks);
    free(d->watchers);
    free(d->attempts);
    s_links_close(d);
    if (d->router != NULL)
        zmq_close(d->router);
    if (d->client != NULL) {
        zmq_close(d->client);
        unlink(d->cfg->client_path);
    }
    vj_zap_destroy(&d->zap);
    if (d->zctx != NULL)
        zmq_ctx_term(d->zctx);
    vj_post_destroy(&d->post);
    vj_store_close(&d->st);
    vj_keyring_destroy(&d->kr);
    vj_identity_destroy(&d->id);
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    if (d->sigfd >= 0)
        close(d->sigfd);
    vj_config_destroy(&d->cfg);
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    int check_only = 0, verbose = 0;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check", no_argument, NULL, 'n'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:nvhV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'n': check_only = 1; break;
        case 'v': verbose = 1; break;
        case 'h': s_usage(stdout); return 0;
        case 'V': printf("valijad %s\n", VALIJAD_VERSION); return 0;
        default: s_usage(stderr); return EX_USAGE;
        }
    }
    if (config_path == NULL || optind != argc) {
        fprintf(stderr, "valijad: %s\n", config_path == NULL ? "-c FILE is required"
                                                             : "unexpected argument");
        s_usage(stderr);
        return EX_USAGE;
    }

    /* No core files: they would hold secret keys and case contents. */
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    umask(077);

    if (vj_keys_init() != VJ_OK) {
        fprintf(stderr, "valijad: libsodium could not start\n");
        return EX_OSERR;
    }
    daemon_t d;
    memset(&d, 0, sizeof d);
    d.sigfd = -1;
    d.lock_fd = -1;
    vj_problems problems = {0};
    int rc = vj_config_load(config_path, &d.cfg, &problems);
    if (rc == VJ_OK)
        rc = vj_config_check_keys(d.cfg, &problems);
    if (rc != VJ_OK) {
        s_print_problems(&problems);
        if (problems.n == 0)
            fprintf(stderr, "%s: %s\n", config_path, vj_strerror(rc));
        vj_problems_clear(&problems);
        vj_config_destroy(&d.cfg);
        return rc == VJ_E_IO && problems.n == 0 ? EX_NOINPUT : EX_CONFIG;
    }
    vj_problems_clear(&problems);
    if (check_only) {
        printf("configuration OK\n");
        vj_config_destroy(&d.cfg);
        return 0;
    }

    vj_log_init(d.cfg->post, verbose ? VJ_LOG_DEBUG : VJ_LOG_INFO);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    d.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    srandom((unsigned)(vj_now_ms() ^ getpid()));

    vj_diag diag = {{0}};
    rc = vj_identity_load(d.cfg->secret_key_path, &d.id, &diag);
    if (rc != VJ_OK) {
        vj_log_error("%s", diag.text);
        goto out;
    }
    rc = s_build_keyring(d.cfg, d.id, &d.kr);
    if (rc != VJ_OK)
        goto out;
    rc = s_lock_store(&d);
    if (rc != VJ_OK)
        goto out;
    rc = vj_store_open(d.cfg->store_path, &d.st, &diag);
    if (rc != VJ_OK) {
        vj_log_error("store %s: %s", d.cfg->store_path, diag.text[0] ? diag.text : vj_strerror(rc));
        goto out;
    }
    rc = vj_post_new(d.st, d.kr, (size_t)d.cfg->max_message_bytes, &d.post);
    if (rc != VJ_OK)
        goto out;
    d.zctx = zmq_ctx_new();
    rc = VJ_E_IO;
    if (d.zctx == NULL)
        goto out;
    /* The ZAP handler first: a CURVE server without one admits anybody. */
    rc = vj_zap_new(d.zctx, s_zap_lookup, &d, &d.zap);
    if (rc != VJ_OK) {
        vj_log_error("cannot start the ZAP handler: %s", zmq_strerror(errno));
        goto out;
    }
    rc = s_bind_peer_router(&d);
    if (rc != VJ_OK)
        goto out;
    rc = s_bind_client(&d);
    if (rc != VJ_OK)
        goto out;
    rc = s_links_open(&d);
    if (rc != VJ_OK)
        goto out;
    char fp[VJ_FINGERPRINT_STRLEN];
    vj_card self_card;
    if (vj_card_from_identity(d.id, &self_card) == VJ_OK) {
        vj_card_fingerprint(&self_card, fp);
        vj_log_info("post %s (fingerprint %s) listening for peers on %s, clients on %s, %zu peers",
                    d.cfg->post, fp, d.cfg->listen, d.cfg->client, d.n_links);
    }
    s_run(&d);
    vj_log_info("stopping");
    rc = VJ_OK;
out:
    s_teardown(&d);
    if (rc == VJ_OK)
        vj_log_info("stopped cleanly");
    return rc == VJ_OK ? 0 : s_exit_code(rc);
}
