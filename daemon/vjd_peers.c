/* vjd_peers.c - valijad's links to its peer posts: the CURVE ROUTER that
 * peers connect to, one DEALER per peer with its monitor, the frames each
 * way (envelopes and Hello in; receipts and rejects back), catch-up by
 * relay, and sending what the outbox has due within a window of unreceipted
 * envelopes.
 *
 * Frames are attributed to the post that the transport authenticated (the
 * ZAP User-Id on the ROUTER; the pinned server key on a DEALER), never to a
 * name a frame claims.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "vj_log.h"
#include "vj_receipt.h"
#include "vjd.h"

link_t *vjd_link_by_name(daemon_t *d, const char *name)
{
    for (size_t i = 0; i < d->n_links; i++)
        if (strcmp(d->links[i].name, name) == 0)
            return &d->links[i];
    return NULL;
}

const char *vjd_zap_lookup(void *arg, const uint8_t curve_pk[32])
{
    daemon_t *d = arg;
    const char *post = vj_keyring_find_by_curve(d->kr, curve_pk);
    /* Only configured peers, never this post itself. */
    if (post == NULL || strcmp(post, d->cfg->post) == 0 || vjd_link_by_name(d, post) == NULL)
        return NULL;
    return post;
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

static int s_peer_socket_options(daemon_t *d, void *sock)
{
    int64_t maxmsg = d->cfg->max_message_bytes + VJ_PEER_FRAME_OVERHEAD;
    if (zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        vjd_set_int(sock, ZMQ_LINGER, 0) != 0 || vjd_set_int(sock, ZMQ_SNDHWM, 1000) != 0 ||
        vjd_set_int(sock, ZMQ_RCVHWM, 1000) != 0 ||
        vjd_set_int(sock, ZMQ_HEARTBEAT_IVL, 1000) != 0 ||
        vjd_set_int(sock, ZMQ_HEARTBEAT_TIMEOUT, 3000) != 0 ||
        vjd_set_int(sock, ZMQ_HEARTBEAT_TTL, 3000) != 0 ||
        vjd_set_int(sock, ZMQ_HANDSHAKE_IVL, 5000) != 0)
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
        vjd_set_int(l->dealer, ZMQ_IMMEDIATE, 1) != 0 ||
        vjd_set_int(l->dealer, ZMQ_RECONNECT_IVL, 100) != 0 ||
        vjd_set_int(l->dealer, ZMQ_RECONNECT_IVL_MAX, 5000) != 0)
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
    if (l->monitor == NULL || vjd_set_int(l->monitor, ZMQ_LINGER, 0) != 0 ||
        zmq_connect(l->monitor, mon) != 0)
        return VJ_E_IO;
    if (zmq_connect(l->dealer, l->endpoint) != 0)
        return VJ_E_IO;
    return VJ_OK;
}

void vjd_links_close(daemon_t *d)
{
    for (size_t i = 0; i < d->n_links; i++)
        s_link_close(&d->links[i]);
    free(d->links);
    d->links = NULL;
    d->n_links = 0;
}

int vjd_links_open(daemon_t *d)
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

int vjd_bind_peer_router(daemon_t *d)
{
    d->router = zmq_socket(d->zctx, ZMQ_ROUTER);
    if (d->router == NULL)
        return VJ_E_IO;
    if (s_peer_socket_options(d, d->router) != VJ_OK ||
        vjd_set_int(d->router, ZMQ_CURVE_SERVER, 1) != 0 ||
        zmq_setsockopt(d->router, ZMQ_CURVE_SECRETKEY, vj_identity_curve_sk(d->id), 32) != 0 ||
        zmq_setsockopt(d->router, ZMQ_ZAP_DOMAIN, VJ_ZAP_DOMAIN, strlen(VJ_ZAP_DOMAIN)) != 0 ||
        vjd_set_int(d->router, ZMQ_ZAP_ENFORCE_DOMAIN, 1) != 0 ||
        vjd_set_int(d->router, ZMQ_ROUTER_MANDATORY, 1) != 0)
        return VJ_E_IO;
    if (zmq_bind(d->router, d->cfg->listen) != 0) {
        vj_log_error("cannot listen for peers on %s: %s", d->cfg->listen, zmq_strerror(errno));
        return VJ_E_IO;
    }
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

static void s_relay_catch_up(daemon_t *d, link_t *l, Valija__OriginMark **holdings, size_t n_hold);

void vjd_handle_monitor(daemon_t *d, link_t *l)
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
        /* Everything still waiting for this peer is due now. */
        if (vjd_tx(d) != VJ_OK || vj_store_outbox_reset_due(d->st, l->name, vj_now_ms()) != VJ_OK)
            vj_log_warn("cannot reschedule the backlog of %s (%s)", l->name,
                        vj_store_last_error(d->st));
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

/* A hostile or broken peer must not flood the log: at most 20 refusal lines
 * per peer and minute, then one line saying how many were left out. */
#define REFUSALS_PER_MINUTE 20
static int s_may_log_refusal(link_t *l)
{
    if (l == NULL)
        return 1;
    int64_t now = vj_mono_ms();
    if (now - l->refusal_window_ms >= 60000) {
        if (l->refusals_unlogged > 0)
            vj_log_warn("%u more refusals of frames or envelopes from %s were not logged in the "
                        "last minute",
                        l->refusals_unlogged, l->name);
        l->refusal_window_ms = now;
        l->refusals_logged = 0;
        l->refusals_unlogged = 0;
    }
    if (l->refusals_logged < REFUSALS_PER_MINUTE) {
        l->refusals_logged++;
        return 1;
    }
    l->refusals_unlogged++;
    return 0;
}

static int s_ack(daemon_t *d, const uint8_t *rid, size_t rid_len, const char *peer,
                 const uint8_t id[VJ_MSG_ID_LEN])
{
    ack_group_t *g = NULL;
    for (size_t i = 0; i < d->n_acks; i++)
        if (d->acks[i].rid_len == rid_len && memcmp(d->acks[i].rid, rid, rid_len) == 0)
            g = &d->acks[i];
    if (g == NULL) {
        if (vjd_grow((void **)&d->acks, &d->cap_acks, d->n_acks + 1, sizeof *d->acks) != VJ_OK)
            return VJ_E_NOMEM;
        g = &d->acks[d->n_acks++];
        memset(g, 0, sizeof *g);
        memcpy(g->rid, rid, rid_len);
        g->rid_len = rid_len;
        snprintf(g->peer, sizeof g->peer, "%s", peer);
    }
    if (vjd_grow((void **)&g->ids, &g->cap, (g->n + 1) * VJ_MSG_ID_LEN, 1) != VJ_OK)
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
        vjd_send_routed(d->router, rid, rid_len, frame, len);
    free(frame);
}

static void s_receive_envelopes(daemon_t *d, const uint8_t *rid, size_t rid_len, const char *peer,
                                const Valija__EnvelopeBatch *batch)
{
    char idbuf[13];
    if (vjd_tx(d) != VJ_OK) {
        vj_log_error("cannot begin a store transaction (%s); envelopes from %s wait for a retry",
                     vj_store_last_error(d->st), peer);
        return;
    }
    size_t stored = 0, dups = 0;
    for (size_t i = 0; i < batch->n_envelopes; i++) {
        vj_envelope_info info;
        vj_diag diag = {{0}};
        size_t events_before = vj_post_events_count(d->post);
        if (vj_store_savepoint(d->st) != VJ_OK) {
            vj_log_error("cannot make a savepoint (%s); envelopes from %s wait for a retry",
                         vj_store_last_error(d->st), peer);
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
            if (s_may_log_refusal(vjd_link_by_name(d, peer)))
                vj_log_warn("refused an envelope from %s%s%s: %s%s%s", peer,
                            has_id ? ", message " : "",
                            has_id ? vj_log_msgid(info.msg_id, idbuf) : "", vj_strerror(rc),
                            diag.text[0] ? ": " : "", diag.text);
            s_send_reject(d, rid, rid_len, VALIJA__REJECT_CODE__REJECT_ENVELOPE,
                          has_id ? info.msg_id : NULL);
        }
    }
    if (stored > 0 || dups > 0)
        vj_log_debug("received %zu new and %zu duplicate envelopes from %s", stored, dups, peer);
}

/* Sends envs as one EnvelopeBatch on l's DEALER without blocking, and frees
 * them.  1 if it went into libzmq's queue (which is not delivery). */
static int s_send_batch(link_t *l, uint8_t **envs, const size_t *lens, size_t count)
{
    uint8_t *frame = NULL;
    size_t flen = 0;
    int sent = count > 0 && vj_peer_msg_envelopes(envs, lens, count, &frame, &flen) == VJ_OK &&
               zmq_send(l->dealer, frame, flen, ZMQ_DONTWAIT) >= 0;
    free(frame);
    for (size_t i = 0; i < count; i++)
        free(envs[i]);
    return sent;
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
                    n = i; /* the rest in the next batch */
                    break;
                }
                total += lens[count++];
            }
            int sent = s_send_batch(l, envs, lens, count);
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
        vj_log_info("relayed %zu envelopes of other origins to %s, which was missing them", relayed,
                    l->name);
    free(marks);
}

void vjd_relay_pending(daemon_t *d)
{
    for (size_t i = 0; i < d->n_links; i++) {
        link_t *l = &d->links[i];
        if (l->hello == NULL || !l->connected)
            continue;
        Valija__PeerMessage *h = l->hello;
        l->hello = NULL;
        int hello = h->body_case == VALIJA__PEER_MESSAGE__BODY_HELLO;
        Valija__OriginMark **marks = hello ? h->hello->holdings : h->catch_up->after;
        size_t n_marks = hello ? h->hello->n_holdings : h->catch_up->n_after;
        /* A peer that holds more of our own updates than we do: our store
         * went back in time (restored from a backup).  Its word is only a
         * hint; the updates themselves, handed back with our signature,
         * raise our counter (vj_post_receive). */
        uint64_t own = 0, lamport = 0;
        for (size_t k = 0; k < n_marks; k++) {
            if (strcmp(marks[k]->origin, d->cfg->post) == 0 &&
                vj_store_counters(d->st, &own, &lamport) == VJ_OK && marks[k]->seq > own)
                vj_log_warn("%s holds our updates up to number %llu, beyond our counter %llu "
                            "(store restored from a backup?); it hands them back: submit nothing "
                            "here until they are in",
                            l->name, (unsigned long long)marks[k]->seq, (unsigned long long)own);
        }
        s_relay_catch_up(d, l, marks, n_marks);
        vj_codec_free((ProtobufCMessage *)h);
    }
}

void vjd_handle_router(daemon_t *d)
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
        while (ok && zmq_msg_more(&body)) { /* drop extra parts */
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
        link_t *l = user != NULL ? vjd_link_by_name(d, user) : NULL;
        if (!ok || l == NULL || extra || zmq_msg_size(&rid) > ROUTING_ID_MAX) {
            if (ok && l == NULL)
                vj_log_warn("dropped a frame from an unauthenticated or removed peer");
            else if (ok && s_may_log_refusal(l))
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
            if (s_may_log_refusal(l))
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
                if (s_may_log_refusal(l))
                    vj_log_warn("%s speaks no peer protocol version of ours", l->name);
                s_send_reject(d, rid_data, rid_len, VALIJA__REJECT_CODE__REJECT_VERSION, NULL);
            } else {
                /* The peer is (back) on line: send it whatever still waits. */
                vj_log_debug("%s asked for its backlog", l->name);
                if (vjd_tx(d) != VJ_OK ||
                    vj_store_outbox_reset_due(d->st, l->name, vj_now_ms()) != VJ_OK)
                    vj_log_warn("cannot reschedule the backlog of %s (%s)", l->name,
                                vj_store_last_error(d->st));
                /* Relayed after this turn's commit (vjd_relay_pending),
                 * once our own link to the peer is up. */
                vj_codec_free((ProtobufCMessage *)l->hello);
                l->hello = m;
                m = NULL;
            }
        } else {
            if (s_may_log_refusal(l))
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
        if (s_may_log_refusal(l))
            vj_log_warn("refused a receipt from %s: %s", l->name, vj_strerror(rc));
        return;
    }
    if (vjd_tx(d) != VJ_OK) {
        vj_codec_free((ProtobufCMessage *)body);
        return;
    }
    for (size_t i = 0; i < body->n_msg_ids; i++) {
        if (vj_store_outbox_delivered(d->st, body->msg_ids[i].data, l->name, r->body.data,
                                      r->body.len, r->signature.data, r->signature.len,
                                      body->stored_ms) != VJ_OK)
            vj_log_warn("cannot record a receipt from %s (%s)", l->name,
                        vj_store_last_error(d->st));
    }
    l->in_flight = l->in_flight > body->n_msg_ids ? l->in_flight - body->n_msg_ids : 0;
    l->timeouts = 0;
    l->last_progress_ms = vj_mono_ms();
    vj_codec_free((ProtobufCMessage *)body);
}

void vjd_handle_dealer(daemon_t *d, link_t *l)
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
            if (s_may_log_refusal(l))
                vj_log_warn("refused a frame from %s: %s", l->name,
                            multipart ? "unexpected multipart message" : diag.text);
        } else if (m->body_case == VALIJA__PEER_MESSAGE__BODY_RECEIPT) {
            s_handle_receipt(d, l, m->receipt);
        } else if (m->body_case == VALIJA__PEER_MESSAGE__BODY_REJECT) {
            const Valija__Reject *rj = m->reject;
            if (s_may_log_refusal(l))
                vj_log_warn("%s refused %s%s (code %d); it stays in the outbox", l->name,
                            rj->msg_id.len ? "message " : "a frame",
                            rj->msg_id.len ? vj_log_msgid(rj->msg_id.data, idbuf) : "", rj->code);
        } else if (s_may_log_refusal(l)) {
            vj_log_warn("%s sent an unexpected frame on our link to it", l->name);
        }
        vj_codec_free((ProtobufCMessage *)m);
        zmq_msg_close(&body);
    }
}

void vjd_send_receipts(daemon_t *d)
{
    for (size_t i = 0; i < d->n_acks; i++) {
        ack_group_t *g = &d->acks[i];
        for (size_t off = 0; off < g->n; off += 4096) {
            size_t n = g->n - off < 4096 ? g->n - off : 4096;
            uint8_t *body = NULL, *frame = NULL;
            size_t body_len = 0, len = 0;
            uint8_t sig[VJ_SIG_LEN];
            if (vj_receipt_sign(d->kr, g->peer, vj_now_ms(), g->ids + off * VJ_MSG_ID_LEN, n, &body,
                                &body_len, sig) == VJ_OK &&
                vj_peer_msg_receipt(body, body_len, sig, sizeof sig, &frame, &len) == VJ_OK)
                vjd_send_routed(d->router, g->rid, g->rid_len, frame, len);
            free(body);
            free(frame);
        }
        free(g->ids);
    }
    d->n_acks = 0;
}

void vjd_apply_attempts(daemon_t *d)
{
    if (d->n_attempts == 0)
        return;
    if (vjd_tx(d) != VJ_OK)
        return;
    for (size_t i = 0; i < d->n_attempts; i++)
        if (vj_store_outbox_attempted(d->st, d->attempts[i].id, d->attempts[i].peer,
                                      d->attempts[i].next_ms) != VJ_OK)
            vj_log_warn("cannot record a delivery attempt to %s (%s)", d->attempts[i].peer,
                        vj_store_last_error(d->st));
    d->n_attempts = 0;
}

void vjd_send_outbox(daemon_t *d)
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
            size_t which[VJ_PEER_MAX_BATCH]; /* index in ids of envs[k] */
            size_t count = 0, total = 0;
            for (size_t i = 0; i < n; i++) {
                uint8_t *env = NULL;
                size_t len = 0;
                vj_diag diag = {{0}};
                int rc = vj_post_envelope_for(d->post, ids + i * VJ_MSG_ID_LEN, l->name, &env, &len,
                                              &diag);
                if (rc != VJ_OK) {
                    /* Leave it for later (an operator can see it in the log
                     * and in `valija status`) without blocking the rest. */
                    char idbuf[13];
                    vj_log_error("cannot send message %s to %s: %s %s",
                                 vj_log_msgid(ids + i * VJ_MSG_ID_LEN, idbuf), l->name,
                                 vj_strerror(rc), diag.text);
                    if (vjd_grow((void **)&d->attempts, &d->cap_attempts, d->n_attempts + 1,
                                 sizeof *d->attempts) == VJ_OK) {
                        attempt_t *a = &d->attempts[d->n_attempts++];
                        memcpy(a->id, ids + i * VJ_MSG_ID_LEN, VJ_MSG_ID_LEN);
                        snprintf(a->peer, sizeof a->peer, "%s", l->name);
                        a->next_ms = now + d->cfg->retry_max_ms;
                    }
                    continue;
                }
                if (len > (size_t)d->cfg->max_message_bytes) {
                    /* Stored under a larger limit than today's: the peer
                     * would drop the link on it.  It waits, and says so. */
                    char idbuf[13];
                    vj_log_error("message %s (%zu bytes) is over max_message_bytes; it stays "
                                 "in the outbox for %s until the limit is raised",
                                 vj_log_msgid(ids + i * VJ_MSG_ID_LEN, idbuf), len, l->name);
                    free(env);
                    if (vjd_grow((void **)&d->attempts, &d->cap_attempts, d->n_attempts + 1,
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
            int sent = s_send_batch(l, envs, lens, count);
            if (!sent)
                break;
            if (l->in_flight == 0)
                l->last_progress_ms = mono;
            l->in_flight += count;
            d->stats.sent += count;
            int64_t next = now + s_backoff_ms(d, l->timeouts);
            if (vjd_grow((void **)&d->attempts, &d->cap_attempts, d->n_attempts + count,
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
            vjd_apply_attempts(d);
            if (count < n)
                break;
        }
    }
}

/* Milliseconds until the outbox has something due for a connected peer. */
long vjd_poll_timeout(daemon_t *d)
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
