/* vjd_clients.c - valijad's local client socket: binding it safely (a
 * private directory, never taking over a live socket), requests (a submit
 * runs in its own savepoint of the turn's transaction; everything else is
 * answered after the commit), replies, and watchers.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#include "vj_log.h"
#include "vjd.h"

#define WATCHERS_MAX 256

/* The client socket lives in a directory that only the daemon's user and
 * group can enter; a live socket of another daemon is never taken over. */
int vjd_bind_client(daemon_t *d)
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
    if (sb.st_uid != geteuid()) {
        vj_log_error("client socket directory %s belongs to another user (uid %u); it must "
                     "belong to the user valijad runs as",
                     dir, (unsigned)sb.st_uid);
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
        unlink(path); /* stale socket of a daemon that is gone */
    }
    d->client = zmq_socket(d->zctx, ZMQ_ROUTER);
    int64_t maxmsg = VJ_CLIENT_MAX_REQUEST;
    if (d->client == NULL || vjd_set_int(d->client, ZMQ_LINGER, 0) != 0 ||
        vjd_set_int(d->client, ZMQ_ROUTER_MANDATORY, 1) != 0 ||
        vjd_set_int(d->client, ZMQ_SNDHWM, CLIENT_HWM) != 0 ||
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

static pending_reply_t *s_pending(daemon_t *d, const uint8_t *rid, size_t rid_len)
{
    if (vjd_grow((void **)&d->replies, &d->cap_replies, d->n_replies + 1, sizeof *d->replies) !=
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
    if (p->ids == NULL || vjd_tx(d) != VJ_OK || vj_store_savepoint(d->st) != VJ_OK) {
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
                snprintf(p->error, sizeof p->error, "%s",
                         diag.text[0] ? diag.text : vj_strerror(rc));
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

void vjd_handle_client(daemon_t *d)
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
            int rc = extra
                         ? VJ_E_PARSE
                         : vj_api_decode(zmq_msg_data(&body), zmq_msg_size(&body), &p->req, &diag);
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

static void s_watch(daemon_t *d, const pending_reply_t *p)
{
    /* The same client asking again changes what it watches, once. */
    for (size_t i = 0; i < d->n_watchers; i++) {
        watcher_t *w = &d->watchers[i];
        if (w->rid_len == p->rid_len && memcmp(w->rid, p->rid, p->rid_len) == 0) {
            snprintf(w->case_id, sizeof w->case_id, "%s", p->req->watch->case_id);
            return;
        }
    }
    /* A watcher that left is only noticed at the next event for it: on a
     * quiet post, make room by dropping the oldest. */
    if (d->n_watchers == WATCHERS_MAX) {
        memmove(&d->watchers[0], &d->watchers[1], (d->n_watchers - 1) * sizeof *d->watchers);
        d->n_watchers--;
    }
    if (vjd_grow((void **)&d->watchers, &d->cap_watchers, d->n_watchers + 1, sizeof *d->watchers) !=
        VJ_OK)
        return;
    watcher_t *w = &d->watchers[d->n_watchers++];
    memset(w, 0, sizeof *w);
    memcpy(w->rid, p->rid, p->rid_len);
    w->rid_len = p->rid_len;
    snprintf(w->case_id, sizeof w->case_id, "%s", p->req->watch->case_id);
}

void vjd_answer_clients(daemon_t *d, int committed)
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
        if (rc == VJ_OK && vjd_send_routed(d->client, p->rid, p->rid_len, frame, len) != VJ_OK)
            vj_log_info("a client left before its reply");
        free(frame);
        vj_codec_free((ProtobufCMessage *)p->req);
        free(p->ids);
    }
    d->n_replies = 0;
}

void vjd_notify_watchers(daemon_t *d)
{
    vj_post_event *events = NULL;
    size_t n = 0;
    vj_post_events_take(d->post, &events, &n);
    for (size_t e = 0; e < n && d->n_watchers > 0; e++) {
        uint8_t *frame = NULL;
        size_t len = 0;
        int rc = events[e].entry != NULL
                     ? vj_api_reply_entry(events[e].entry, events[e].entry_len, &frame, &len)
                     : vj_api_reply_event(d->st, events[e].case_id, events[e].msg_id, &frame,
                                          &len);
        if (rc != VJ_OK)
            continue;
        for (size_t w = 0; w < d->n_watchers;) {
            watcher_t *wt = &d->watchers[w];
            if (wt->case_id[0] != '\0' && strcmp(wt->case_id, events[e].case_id) != 0) {
                w++;
                continue;
            }
            if (vjd_send_routed(d->client, wt->rid, wt->rid_len, frame, len) != VJ_OK) {
                /* gone, or too slow to keep up: drop it */
                d->watchers[w] = d->watchers[--d->n_watchers];
                continue;
            }
            w++;
        }
        free(frame);
    }
    vj_post_events_free(events, n);
    /* Keep events whole from now on only while someone watches. */
    vj_post_set_capture(d->post, d->n_watchers > 0);
}
