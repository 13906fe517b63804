/* valija_conn.c - the transport half of libvalija: one request, one reply
 * (or, for watch, a stream of replies) over ZeroMQ to valijad.
 *
 * Each request uses a fresh DEALER socket, closed after the answer: a late
 * reply to a request that timed out can never be taken for the answer to
 * the next one.  Every socket has ZMQ_LINGER 0 and ZMQ_MAXMSGSIZE 64 MiB and
 * is watched by a socket monitor, so that a daemon that goes away (or drops
 * us for an oversized message) ends the wait at once as "unreachable".
 * A reply is unpacked under the same cap, and its version, status and body
 * case are checked (vj_client_reply_decode) before any of it is used.
 * Nothing here prints.
 */
#include "valija_private.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>
#include <zmq.h>

#define S_IPC_PATH_MAX 107 /* sun_path holds 108 bytes with the NUL */
#define S_WATCH_TICK_MS 1000
#define S_HEARTBEAT_IVL_MS 2000
#define S_HEARTBEAT_TIMEOUT_MS 6000

struct valija {
    void *ctx;
    char *endpoint;
    const char *ipc_path; /* into endpoint, or NULL for tcp:// */
    int timeout_ms;
    unsigned monitor_seq;
    char err[1024];
};

/* One open request: the DEALER and its monitor. */
typedef struct {
    void *sock;
    void *mon;
    int gone; /* the monitor saw the connection drop */
} s_link;

static valija_err s_fail(valija *conn, valija_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static valija_err s_fail(valija *conn, valija_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(conn->err, sizeof conn->err, fmt, ap);
    va_end(ap);
    return err;
}

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A positive int from the environment, or fallback. */
static int s_env_ms(const char *name, int fallback)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return fallback;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0 || v > INT_MAX)
        return fallback;
    return (int)v;
}

valija_err valija_open(const char *endpoint, valija **out)
{
    valija_err ret = VALIJA_INVALID;
    valija *conn = NULL;
    if (out == NULL)
        goto out;
    *out = NULL;
    if (endpoint == NULL || *endpoint == '\0') {
        endpoint = getenv("VALIJA_SOCKET");
        if (endpoint == NULL || *endpoint == '\0')
            endpoint = VALIJA_DEFAULT_SOCKET;
    }
    const char *ipc_path = NULL;
    size_t n = strlen(endpoint);
    if (strncmp(endpoint, "ipc://", 6) == 0) {
        ipc_path = endpoint + 6;
        if (*ipc_path == '\0' || *ipc_path == '@' || strlen(ipc_path) > S_IPC_PATH_MAX)
            goto out;
    } else if (strncmp(endpoint, "tcp://", 6) != 0 || n == 6) {
        goto out;
    }
    if (n > 1024 || !vj_text_is_valid(endpoint, n) || strchr(endpoint, '\n') != NULL)
        goto out;

    ret = VALIJA_NOMEM;
    conn = calloc(1, sizeof *conn);
    if (conn == NULL || (conn->endpoint = strdup(endpoint)) == NULL)
        goto out;
    if (ipc_path != NULL)
        conn->ipc_path = conn->endpoint + 6;
    conn->timeout_ms = s_env_ms("VALIJA_TIMEOUT_MS", VALIJA_DEFAULT_TIMEOUT_MS);
    ret = VALIJA_INTERNAL;
    conn->ctx = zmq_ctx_new();
    if (conn->ctx == NULL)
        goto out;
    *out = conn;
    conn = NULL;
    ret = VALIJA_OK;
out:
    valija_close(&conn);
    return ret;
}

void valija_close(valija **conn)
{
    if (conn == NULL || *conn == NULL)
        return;
    valija *c = *conn;
    if (c->ctx != NULL)
        zmq_ctx_term(c->ctx);
    free(c->endpoint);
    free(c);
    *conn = NULL;
}

const char *valija_endpoint(const valija *conn)
{
    return conn != NULL ? conn->endpoint : "";
}

valija_err valija_set_timeout(valija *conn, int timeout_ms)
{
    if (conn == NULL || timeout_ms <= 0)
        return VALIJA_INVALID;
    conn->timeout_ms = timeout_ms;
    return VALIJA_OK;
}

const char *valija_last_error(const valija *conn)
{
    return conn != NULL ? conn->err : "no connection";
}

/* ---- sockets -------------------------------------------------------------- */

static void s_link_close(s_link *l)
{
    if (l->mon != NULL)
        zmq_close(l->mon);
    if (l->sock != NULL) {
        zmq_socket_monitor(l->sock, NULL, 0);
        zmq_close(l->sock);
    }
    l->sock = NULL;
    l->mon = NULL;
}

static valija_err s_link_open(valija *conn, s_link *l)
{
    valija_err ret = VALIJA_UNREACHABLE;
    memset(l, 0, sizeof *l);
    if (conn->ipc_path != NULL) {
        struct stat st;
        int err = stat(conn->ipc_path, &st) != 0 ? errno : 0;
        if (err == EACCES ||
            (err == 0 && S_ISSOCK(st.st_mode) && access(conn->ipc_path, W_OK) != 0)) {
            s_fail(conn, ret,
                   "permission denied on %s (only valijad's user and group may use it: are you in "
                   "its group?)",
                   conn->ipc_path);
            goto out;
        }
        if (err != 0 || !S_ISSOCK(st.st_mode)) {
            s_fail(conn, ret, "no valijad at %s (is it running? set --socket or VALIJA_SOCKET)",
                   conn->ipc_path);
            goto out;
        }
    }
    ret = VALIJA_INTERNAL;
    l->sock = zmq_socket(conn->ctx, ZMQ_DEALER);
    if (l->sock == NULL) {
        s_fail(conn, ret, "cannot create a socket: %s", zmq_strerror(zmq_errno()));
        goto out;
    }
    int linger = 0;
    int64_t maxmsg = (int64_t)VJ_CLIENT_REPLY_MAX;
    int hb_ivl = S_HEARTBEAT_IVL_MS, hb_timeout = S_HEARTBEAT_TIMEOUT_MS;
    if (zmq_setsockopt(l->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(l->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_setsockopt(l->sock, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof hb_ivl) != 0 ||
        zmq_setsockopt(l->sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof hb_timeout) != 0) {
        s_fail(conn, ret, "cannot set socket options: %s", zmq_strerror(zmq_errno()));
        goto out;
    }
    char mon_ep[64];
    snprintf(mon_ep, sizeof mon_ep, "inproc://valija-monitor-%u", conn->monitor_seq++);
    if (zmq_socket_monitor(l->sock, mon_ep, ZMQ_EVENT_DISCONNECTED) != 0 ||
        (l->mon = zmq_socket(conn->ctx, ZMQ_PAIR)) == NULL ||
        zmq_setsockopt(l->mon, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(l->mon, mon_ep) != 0) {
        s_fail(conn, ret, "cannot monitor the socket: %s", zmq_strerror(zmq_errno()));
        goto out;
    }
    ret = VALIJA_UNREACHABLE;
    if (zmq_connect(l->sock, conn->endpoint) != 0) {
        s_fail(conn, ret, "cannot connect to %s: %s", conn->endpoint, zmq_strerror(zmq_errno()));
        goto out;
    }
    ret = VALIJA_OK;
out:
    if (ret != VALIJA_OK)
        s_link_close(l);
    return ret;
}

/* Reads one monitor event; sets l->gone on a disconnect. */
static void s_read_monitor(s_link *l)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, l->mon, ZMQ_DONTWAIT) >= 0) {
        if (zmq_msg_size(&m) >= 2) {
            uint16_t ev;
            memcpy(&ev, zmq_msg_data(&m), sizeof ev);
            if (ev == ZMQ_EVENT_DISCONNECTED)
                l->gone = 1;
        }
        while (zmq_msg_more(&m)) {
            zmq_msg_close(&m);
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, l->mon, 0) < 0)
                break;
        }
    }
    zmq_msg_close(&m);
}

/* Receives one single-frame message into *msg (initialised by the caller)
 * before deadline (s_now_ms() time; < 0: no limit).  Returns 1 with a
 * message, 0 after tick_ms without one or on a signal (only when tick_ms > 0),
 * or a negated valija_err. */
static int s_recv(valija *conn, s_link *l, zmq_msg_t *msg, int64_t deadline, int tick_ms)
{
    for (;;) {
        if (zmq_msg_recv(msg, l->sock, ZMQ_DONTWAIT) >= 0) {
            if (zmq_msg_more(msg)) {
                /* not our protocol: drain the rest and refuse it */
                while (zmq_msg_more(msg) && zmq_msg_recv(msg, l->sock, 0) >= 0)
                    ;
                return -s_fail(conn, VALIJA_INTERNAL,
                               "valijad sent a reply of several frames; expected one");
            }
            return 1;
        }
        if (l->gone)
            return -s_fail(conn, VALIJA_UNREACHABLE,
                           "valijad at %s closed the connection (did it stop, or was a reply "
                           "larger than %zu MiB?)",
                           conn->endpoint, VJ_CLIENT_REPLY_MAX >> 20);
        long left = -1;
        if (deadline >= 0) {
            left = (long)(deadline - s_now_ms());
            if (left <= 0)
                return -s_fail(conn, VALIJA_UNREACHABLE,
                               "valijad at %s did not answer within %d ms (is it running?)",
                               conn->endpoint, conn->timeout_ms);
        }
        if (tick_ms > 0 && (left < 0 || left > tick_ms))
            left = tick_ms;
        zmq_pollitem_t items[] = {{l->sock, 0, ZMQ_POLLIN, 0}, {l->mon, 0, ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, 2, left);
        if (rc < 0 && zmq_errno() == EINTR) {
            if (tick_ms > 0)
                return 0;
            continue;
        }
        if (rc < 0)
            return -s_fail(conn, VALIJA_INTERNAL, "waiting for valijad failed: %s",
                           zmq_strerror(zmq_errno()));
        if (items[1].revents & ZMQ_POLLIN)
            s_read_monitor(l);
        if (rc == 0 && tick_ms > 0 && (deadline < 0 || s_now_ms() < deadline))
            return 0;
    }
}

static valija_err s_send(valija *conn, s_link *l, const Valija__ClientRequest *req)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    valija_err ret = VALIJA_NOMEM;
    if (vj_codec_pack(&req->base, &buf, &len) != VJ_OK) {
        s_fail(conn, ret, "cannot encode the request");
        goto out;
    }
    ret = VALIJA_INVALID;
    if (len > VJ_CLIENT_REPLY_MAX) {
        s_fail(conn, ret, "the request is larger than %zu MiB; send fewer updates at once",
               VJ_CLIENT_REPLY_MAX >> 20);
        goto out;
    }
    ret = VALIJA_UNREACHABLE;
    if (zmq_send(l->sock, buf, len, ZMQ_DONTWAIT) < 0 &&
        (zmq_errno() != EAGAIN || zmq_send(l->sock, buf, len, 0) < 0)) {
        s_fail(conn, ret, "cannot send to valijad at %s: %s", conn->endpoint,
               zmq_strerror(zmq_errno()));
        goto out;
    }
    ret = VALIJA_OK;
out:
    free(buf);
    return ret;
}

/* Unpacks and checks one reply (vj_client_reply_decode); on failure the
 * handle's message says why.  On VALIJA_OK *out is the caller's. */
static valija_err s_unpack(valija *conn, zmq_msg_t *msg, Valija__ClientReply__BodyCase want,
                           Valija__ClientReply **out)
{
    char why[sizeof conn->err];
    valija_err ret =
        vj_client_reply_decode(zmq_msg_data(msg), zmq_msg_size(msg), want, out, why, sizeof why);
    if (ret != VALIJA_OK)
        s_fail(conn, ret, "%s", why);
    return ret;
}

/* Sends req and waits for the one reply with body case want. */
static valija_err s_call(valija *conn, const Valija__ClientRequest *req,
                         Valija__ClientReply__BodyCase want, Valija__ClientReply **out)
{
    s_link l;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    valija_err ret = s_link_open(conn, &l);
    if (ret != VALIJA_OK)
        goto out;
    if ((ret = s_send(conn, &l, req)) != VALIJA_OK)
        goto out;
    int rc = s_recv(conn, &l, &msg, s_now_ms() + conn->timeout_ms, 0);
    if (rc < 0) {
        ret = (valija_err)-rc;
        goto out;
    }
    ret = s_unpack(conn, &msg, want, out);
out:
    zmq_msg_close(&msg);
    s_link_close(&l);
    return ret;
}

/* ---- results -------------------------------------------------------------- */

/* What every result holds besides its public part. */
typedef struct {
    vj_arena *arena;
    Valija__ClientReply *reply;
} s_hold;

#define S_BOX(type)                                                                                \
    struct s_box_##type {                                                                          \
        s_hold hold;                                                                               \
        type pub;                                                                                  \
    }

S_BOX(valija_case_result);
S_BOX(valija_history_list);
S_BOX(valija_case_list);
S_BOX(valija_delivery);
S_BOX(valija_peer_list);

#define S_BOX_OF(type, p)                                                                          \
    ((struct s_box_##type *)(void *)((char *)(p)-offsetof(struct s_box_##type, pub)))

static void s_hold_release(s_hold *h)
{
    vj_arena_free(&h->arena);
    vj_codec_free(h->reply != NULL ? &h->reply->base : NULL);
    h->reply = NULL;
}

#define S_FREE_FN(fname, type)                                                                     \
    void fname(type **res)                                                                         \
    {                                                                                              \
        if (res == NULL || *res == NULL)                                                           \
            return;                                                                                \
        struct s_box_##type *box = S_BOX_OF(type, *res);                                           \
        s_hold_release(&box->hold);                                                                \
        free(box);                                                                                 \
        *res = NULL;                                                                               \
    }

S_FREE_FN(valija_case_free, valija_case_result)
S_FREE_FN(valija_history_free, valija_history_list)
S_FREE_FN(valija_case_list_free, valija_case_list)
S_FREE_FN(valija_delivery_free, valija_delivery)
S_FREE_FN(valija_peer_list_free, valija_peer_list)

static valija_err s_check_conn(valija *conn)
{
    if (conn == NULL)
        return VALIJA_INVALID;
    conn->err[0] = '\0';
    return VALIJA_OK;
}

static valija_err s_bad_reply(valija *conn, valija_err err, const char *why)
{
    if (err == VALIJA_NOMEM)
        return s_fail(conn, err, "out of memory reading the reply");
    return s_fail(conn, err, "%s", why[0] != '\0' ? why : "valijad sent a malformed reply");
}

/* ---- requests ------------------------------------------------------------- */

valija_err valija_submit(valija *conn, const valija_update *updates, size_t n,
                         uint8_t (*msg_ids)[VALIJA_MSGID_LEN], size_t *n_done)
{
    valija_err ret = VALIJA_INVALID;
    vj_arena *arena = NULL;
    Valija__ClientReply *reply = NULL;
    char why[256];
    if (n_done != NULL)
        *n_done = 0;
    if (s_check_conn(conn) != VALIJA_OK)
        return VALIJA_INVALID;
    if (n == 0 || updates == NULL || msg_ids == NULL) {
        s_fail(conn, ret, "nothing to submit");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (valija_update_check(&updates[i], why, sizeof why) != VALIJA_OK) {
            s_fail(conn, ret, "update %zu: %s", i + 1, why);
            goto out;
        }
    }
    for (size_t start = 0; start < n; start += VALIJA_SUBMIT_CHUNK) {
        size_t count = n - start < VALIJA_SUBMIT_CHUNK ? n - start : VALIJA_SUBMIT_CHUNK;
        ret = VALIJA_NOMEM;
        Valija__CaseUpdate *items = vj_arena_alloc(&arena, count * sizeof *items);
        Valija__CaseUpdate **ptrs = vj_arena_alloc(&arena, count * sizeof *ptrs);
        if (items == NULL || ptrs == NULL) {
            s_fail(conn, ret, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < count; i++) {
            valija__case_update__init(&items[i]);
            if ((ret = vj_client_update_to_pb(&updates[start + i], &items[i], &arena)) !=
                VALIJA_OK) {
                s_fail(conn, ret, "out of memory");
                goto out;
            }
            ptrs[i] = &items[i];
        }
        Valija__SubmitRequest sub = VALIJA__SUBMIT_REQUEST__INIT;
        sub.n_updates = count;
        sub.updates = ptrs;
        Valija__ClientRequest req = VALIJA__CLIENT_REQUEST__INIT;
        req.version = VJ_CLIENT_PROTOCOL_VERSION;
        req.body_case = VALIJA__CLIENT_REQUEST__BODY_SUBMIT;
        req.submit = &sub;
        if ((ret = s_call(conn, &req, VALIJA__CLIENT_REPLY__BODY_SUBMIT, &reply)) != VALIJA_OK)
            goto out;
        ret = VALIJA_INTERNAL;
        if (reply->submit->n_msg_ids != count) {
            s_fail(conn, ret,
                   "valijad returned %zu message ids for %zu updates; check 'valija "
                   "history' before submitting again",
                   reply->submit->n_msg_ids, count);
            goto out;
        }
        for (size_t i = 0; i < count; i++) {
            if (reply->submit->msg_ids[i].len != VALIJA_MSGID_LEN) {
                s_fail(conn, ret, "valijad returned a malformed message id");
                goto out;
            }
        }
        for (size_t i = 0; i < count; i++)
            memcpy(msg_ids[start + i], reply->submit->msg_ids[i].data, VALIJA_MSGID_LEN);
        if (n_done != NULL)
            *n_done = start + count;
        vj_codec_free(&reply->base);
        reply = NULL;
        vj_arena_free(&arena);
    }
    ret = VALIJA_OK;
out:
    vj_codec_free(reply != NULL ? &reply->base : NULL);
    vj_arena_free(&arena);
    return ret;
}

static valija_err s_check_case_id(valija *conn, const char *case_id)
{
    if (!vj_case_id_is_valid(case_id))
        return s_fail(conn, VALIJA_INVALID, "a case id is 1-64 of A-Z, a-z, 0-9, '.', '_' and '-'");
    return VALIJA_OK;
}

valija_err valija_case(valija *conn, const char *case_id, bool family, valija_case_result **out)
{
    valija_err ret = VALIJA_INVALID;
    struct s_box_valija_case_result *box = NULL;
    char why[256] = "";
    if (out == NULL || s_check_conn(conn) != VALIJA_OK)
        return VALIJA_INVALID;
    *out = NULL;
    if ((ret = s_check_case_id(conn, case_id)) != VALIJA_OK)
        goto out;
    ret = VALIJA_NOMEM;
    if ((box = calloc(1, sizeof *box)) == NULL)
        goto out;
    Valija__CaseRequest cr = VALIJA__CASE_REQUEST__INIT;
    cr.case_id = (char *)case_id;
    cr.family = family;
    Valija__ClientRequest req = VALIJA__CLIENT_REQUEST__INIT;
    req.version = VJ_CLIENT_PROTOCOL_VERSION;
    req.body_case = VALIJA__CLIENT_REQUEST__BODY_GET_CASE;
    req.get_case = &cr;
    if ((ret = s_call(conn, &req, VALIJA__CLIENT_REPLY__BODY_GET_CASE, &box->hold.reply)) !=
        VALIJA_OK)
        goto out;
    const Valija__CaseReply *r = box->hold.reply->get_case;
    if ((ret = vj_client_state_from_pb(r->state, &box->pub.state, &box->hold.arena, why,
                                       sizeof why)) != VALIJA_OK) {
        s_bad_reply(conn, ret, why);
        goto out;
    }
    ret = VALIJA_NOMEM;
    valija_case_state *fam = vj_arena_alloc(&box->hold.arena, r->n_family * sizeof *fam + 1);
    if (fam == NULL)
        goto out;
    for (size_t i = 0; i < r->n_family; i++) {
        if ((ret = vj_client_state_from_pb(r->family[i], &fam[i], &box->hold.arena, why,
                                           sizeof why)) != VALIJA_OK) {
            s_bad_reply(conn, ret, why);
            goto out;
        }
    }
    box->pub.family = fam;
    box->pub.n_family = r->n_family;
    if (family && r->family_members != NULL) {
        ret = VALIJA_NOMEM;
        valija_family *members = vj_arena_alloc(&box->hold.arena, sizeof *members);
        if (members == NULL)
            goto out;
        if ((ret = vj_client_family_from_pb(r->family_members, members, &box->hold.arena, why,
                                            sizeof why)) != VALIJA_OK) {
            s_bad_reply(conn, ret, why);
            goto out;
        }
        if (strcmp(members->members[0].case_id, box->pub.state.case_id) != 0) {
            ret = s_fail(conn, VALIJA_INTERNAL, "valijad sent the family of another case");
            goto out;
        }
        box->pub.family_members = members;
    }
    *out = &box->pub;
    box = NULL;
    ret = VALIJA_OK;
out:
    if (box != NULL) {
        s_hold_release(&box->hold);
        free(box);
    }
    return ret;
}

valija_err valija_history(valija *conn, const char *case_id, valija_history_list **out)
{
    valija_err ret = VALIJA_INVALID;
    struct s_box_valija_history_list *box = NULL;
    char why[256] = "";
    if (out == NULL || s_check_conn(conn) != VALIJA_OK)
        return VALIJA_INVALID;
    *out = NULL;
    if ((ret = s_check_case_id(conn, case_id)) != VALIJA_OK)
        goto out;
    ret = VALIJA_NOMEM;
    if ((box = calloc(1, sizeof *box)) == NULL)
        goto out;
    Valija__HistoryRequest hr = VALIJA__HISTORY_REQUEST__INIT;
    hr.case_id = (char *)case_id;
    Valija__ClientRequest req = VALIJA__CLIENT_REQUEST__INIT;
    req.version = VJ_CLIENT_PROTOCOL_VERSION;
    req.body_case = VALIJA__CLIENT_REQUEST__BODY_HISTORY;
    req.history = &hr;
    if ((ret = s_call(conn, &req, VALIJA__CLIENT_REPLY__BODY_HISTORY, &box->hold.reply)) !=
        VALIJA_OK)
        goto out;
    const Valija__HistoryReply *r = box->hold.reply->history;
    ret = VALIJA_NOMEM;
    valija_history_entry *e = vj_arena_alloc(&box->hold.arena, r->n_entries * sizeof *e + 1);
    if (e == NULL)
        goto out;
    for (size_t i = 0; i < r->n_entries; i++) {
        if ((ret = vj_client_entry_from_pb(r->entries[i], &e[i], &box->hold.arena, why,
                                           sizeof why)) != VALIJA_OK) {
            s_bad_reply(conn, ret, why);
            goto out;
        }
    }
    box->pub.entries = e;
    box->pub.n_entries = r->n_entries;
    *out = &box->pub;
    box = NULL;
    ret = VALIJA_OK;
out:
    if (box != NULL) {
        s_hold_release(&box->hold);
        free(box);
    }
    return ret;
}

static int s_filter_text_ok(const char *s)
{
    return s == NULL || (strlen(s) <= VJ_FIELD_MAX && vj_text_is_valid(s, strlen(s)));
}

valija_err valija_list(valija *conn, const valija_list_filter *filter, valija_case_list **out)
{
    valija_err ret = VALIJA_INVALID;
    struct s_box_valija_case_list *box = NULL;
    char why[256] = "";
    valija_list_filter none = {0};
    if (out == NULL || s_check_conn(conn) != VALIJA_OK)
        return VALIJA_INVALID;
    *out = NULL;
    if (filter == NULL)
        filter = &none;
    if (!s_filter_text_ok(filter->status) || !s_filter_text_ok(filter->facility) ||
        filter->updated_since_ms < 0) {
        s_fail(conn, ret, "the filter holds an invalid status, facility or time");
        goto out;
    }
    if (filter->shared_with != NULL && *filter->shared_with != '\0' &&
        !vj_post_name_is_valid(filter->shared_with)) {
        s_fail(conn, ret, "'shared with' must be a post name (a-z, 0-9 and '-')");
        goto out;
    }
    ret = VALIJA_NOMEM;
    if ((box = calloc(1, sizeof *box)) == NULL)
        goto out;
    Valija__ListRequest lr = VALIJA__LIST_REQUEST__INIT;
    lr.status = (char *)(filter->status != NULL ? filter->status : "");
    lr.facility = (char *)(filter->facility != NULL ? filter->facility : "");
    lr.shared_with = (char *)(filter->shared_with != NULL ? filter->shared_with : "");
    lr.updated_since_ms = filter->updated_since_ms;
    lr.conflicts_only = filter->conflicts_only;
    lr.separated_only = filter->separated_only;
    lr.limit = filter->limit;
    Valija__ClientRequest req = VALIJA__CLIENT_REQUEST__INIT;
    req.version = VJ_CLIENT_PROTOCOL_VERSION;
    req.body_case = VALIJA__CLIENT_REQUEST__BODY_LIST;
    req.list = &lr;
    if ((ret = s_call(conn, &req, VALIJA__CLIENT_REPLY__BODY_LIST, &box->hold.reply)) != VALIJA_OK)
        goto out;
    const Valija__ListReply *r = box->hold.reply->list;
    ret = VALIJA_NOMEM;
    valija_case_state *cases = vj_arena_alloc(&box->hold.arena, r->n_cases * sizeof *cases + 1);
    if (cases == NULL)
        goto out;
    for (size_t i = 0; i < r->n_cases; i++) {
        if ((ret = vj_client_state_from_pb(r->cases[i], &cases[i], &box->hold.arena, why,
                                           sizeof why)) != VALIJA_OK) {
            s_bad_reply(conn, ret, why);
            goto out;
        }
    }
    box->pub.cases = cases;
    box->pub.n_cases = r->n_cases;
    ret = VALIJA_NOMEM;
    valija_family *fams = vj_arena_alloc(&box->hold.arena, r->n_families * sizeof *fams + 1);
    if (fams == NULL)
        goto out;
    for (size_t i = 0; i < r->n_families; i++) {
        if ((ret = vj_client_family_from_pb(r->families[i], &fams[i], &box->hold.arena, why,
                                            sizeof why)) != VALIJA_OK) {
            s_bad_reply(conn, ret, why);
            goto out;
        }
    }
    box->pub.families = fams;
    box->pub.n_families = r->n_families;
    *out = &box->pub;
    box = NULL;
    ret = VALIJA_OK;
out:
    if (box != NULL) {
        s_hold_release(&box->hold);
        free(box);
    }
    return ret;
}

valija_err valija_status(valija *conn, const uint8_t msg_id[VALIJA_MSGID_LEN],
                         valija_delivery **out)
{
    valija_err ret = VALIJA_INVALID;
    struct s_box_valija_delivery *box = NULL;
    char why[256] = "";
    if (out == NULL || s_check_conn(conn) != VALIJA_OK)
        return VALIJA_INVALID;
    *out = NULL;
    if (msg_id == NULL) {
        s_fail(conn, ret, "no message id");
        goto out;
    }
    ret = VALIJA_NOMEM;
    if ((box = calloc(1, sizeof *box)) == NULL)
        goto out;
    Valija__StatusRequest sr = VALIJA__STATUS_REQUEST__INIT;
    sr.msg_id.data = (uint8_t *)msg_id;
    sr.msg_id.len = VALIJA_MSGID_LEN;
    Valija__ClientRequest req = VALIJA__CLIENT_REQUEST__INIT;
    req.version = VJ_CLIENT_PROTOCOL_VERSION;
    req.body_case = VALIJA__CLIENT_REQUEST__BODY_STATUS;
    req.status = &sr;
    if ((ret = s_call(conn, &req, VALIJA__CLIENT_REPLY__BODY_DELIVERY, &box->hold.reply)) !=
        VALIJA_OK)
        goto out;
    if ((ret = vj_client_delivery_from_pb(box->hold.reply->delivery, &box->pub, &box->hold.arena,
                                          why, sizeof why)) != VALIJA_OK) {
        s_bad_reply(conn, ret, why);
        goto out;
    }
    *out = &box->pub;
    box = NULL;
    ret = VALIJA_OK;
out:
    if (box != NULL) {
        s_hold_release(&box->hold);
        free(box);
    }
    return ret;
}

valija_err valija_peers(valija *conn, valija_peer_list **out)
{
    valija_err ret = VALIJA_INVALID;
    struct s_box_valija_peer_list *box = NULL;
    char why[256] = "";
    if (out == NULL || s_check_conn(conn) != VALIJA_OK)
        return VALIJA_INVALID;
    *out = NULL;
    ret = VALIJA_NOMEM;
    if ((box = calloc(1, sizeof *box)) == NULL)
        goto out;
    Valija__PeersRequest pr = VALIJA__PEERS_REQUEST__INIT;
    Valija__ClientRequest req = VALIJA__CLIENT_REQUEST__INIT;
    req.version = VJ_CLIENT_PROTOCOL_VERSION;
    req.body_case = VALIJA__CLIENT_REQUEST__BODY_PEERS;
    req.peers = &pr;
    if ((ret = s_call(conn, &req, VALIJA__CLIENT_REPLY__BODY_PEERS, &box->hold.reply)) != VALIJA_OK)
        goto out;
    if ((ret = vj_client_peers_from_pb(box->hold.reply->peers, &box->pub, &box->hold.arena, why,
                                       sizeof why)) != VALIJA_OK) {
        s_bad_reply(conn, ret, why);
        goto out;
    }
    *out = &box->pub;
    box = NULL;
    ret = VALIJA_OK;
out:
    if (box != NULL) {
        s_hold_release(&box->hold);
        free(box);
    }
    return ret;
}

/* One event of the watch stream: checked, converted, handed to fn.
 * Sets *stop when fn asks to stop. */
static valija_err s_watch_event(valija *conn, zmq_msg_t *msg, valija_watch_fn fn, void *arg,
                                int *stop)
{
    Valija__ClientReply *reply = NULL;
    vj_arena *arena = NULL;
    char why[256] = "";
    valija_history_entry entry;
    valija_err ret = s_unpack(conn, msg, VALIJA__CLIENT_REPLY__BODY_EVENT, &reply);
    if (ret != VALIJA_OK)
        goto out;
    if ((ret = vj_client_entry_from_pb(reply->event->entry, &entry, &arena, why, sizeof why)) !=
        VALIJA_OK) {
        s_bad_reply(conn, ret, why);
        goto out;
    }
    *stop = fn(&entry, arg) != 0;
out:
    vj_arena_free(&arena);
    vj_codec_free(reply != NULL ? &reply->base : NULL);
    return ret;
}

valija_err valija_watch(valija *conn, const char *case_id, valija_watch_fn fn, void *arg)
{
    s_link l = {0};
    Valija__ClientReply *first = NULL;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    valija_err ret = VALIJA_INVALID;
    if (s_check_conn(conn) != VALIJA_OK)
        return VALIJA_INVALID;
    if (fn == NULL) {
        s_fail(conn, ret, "no callback");
        goto out;
    }
    if (case_id != NULL && *case_id != '\0' && (ret = s_check_case_id(conn, case_id)) != VALIJA_OK)
        goto out;
    Valija__WatchRequest wr = VALIJA__WATCH_REQUEST__INIT;
    wr.case_id = (char *)(case_id != NULL ? case_id : "");
    Valija__ClientRequest req = VALIJA__CLIENT_REQUEST__INIT;
    req.version = VJ_CLIENT_PROTOCOL_VERSION;
    req.body_case = VALIJA__CLIENT_REQUEST__BODY_WATCH;
    req.watch = &wr;
    if ((ret = s_link_open(conn, &l)) != VALIJA_OK || (ret = s_send(conn, &l, &req)) != VALIJA_OK)
        goto out;
    /* the daemon first confirms, with no body */
    int stop = 0;
    int64_t deadline = s_now_ms() + conn->timeout_ms;
    for (;;) {
        int rc = s_recv(conn, &l, &msg, deadline, S_WATCH_TICK_MS);
        if (rc < 0) {
            ret = (valija_err)-rc;
            goto out;
        }
        if (rc == 1)
            break;
        if (fn(NULL, arg) != 0) {
            ret = VALIJA_OK;
            goto out;
        }
    }
    if ((ret = s_unpack(conn, &msg, VALIJA__CLIENT_REPLY__BODY__NOT_SET, &first)) != VALIJA_OK)
        goto out;
    while (!stop) {
        int rc = s_recv(conn, &l, &msg, -1, S_WATCH_TICK_MS);
        if (rc < 0) {
            ret = (valija_err)-rc;
            goto out;
        }
        if (rc == 0) {
            stop = fn(NULL, arg) != 0;
            continue;
        }
        if ((ret = s_watch_event(conn, &msg, fn, arg, &stop)) != VALIJA_OK)
            goto out;
    }
    ret = VALIJA_OK;
out:
    vj_codec_free(first != NULL ? &first->base : NULL);
    zmq_msg_close(&msg);
    s_link_close(&l);
    return ret;
}
