/* test_client_fake.c - a fake valijad for the client tests.
 *
 * One thread owns the ROUTER socket.  For each request it records the bytes
 * and works through the script: FAKE_MORE items are sent and the next item
 * follows at once; FAKE_REPLY, FAKE_MULTI and FAKE_SILENT complete the
 * answer; FAKE_CLOSE closes the socket and ends the thread.  An empty script
 * answers nothing.  Everything lives in a mkdtemp directory removed at stop.
 */
#include "test_client_fake.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

typedef struct item {
    struct item *next;
    fake_action action;
    size_t len;
    unsigned char data[];
} item;

typedef struct {
    unsigned char *data;
    size_t len;
} recorded;

struct fake {
    char dir[64];
    char path[128];
    char endpoint[160];
    void *ctx;
    void *router;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    item *head, *tail;
    recorded *reqs;
    size_t n_reqs;
    int stop;
};

static void s_send_frame(fake *f, zmq_msg_t *ident, const item *it)
{
    zmq_msg_t id;
    zmq_msg_init(&id);
    zmq_msg_copy(&id, ident);
    zmq_msg_send(&id, f->router, ZMQ_SNDMORE);
    if (it->action == FAKE_MULTI) {
        size_t half = it->len / 2;
        zmq_send(f->router, it->data, half, ZMQ_SNDMORE);
        zmq_send(f->router, it->data + half, it->len - half, 0);
    } else {
        zmq_send(f->router, it->data, it->len, 0);
    }
}

static void *s_run(void *arg)
{
    fake *f = arg;
    for (;;) {
        pthread_mutex_lock(&f->lock);
        int stop = f->stop;
        pthread_mutex_unlock(&f->lock);
        if (stop)
            break;
        zmq_pollitem_t pi = {f->router, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&pi, 1, 20) <= 0)
            continue;
        zmq_msg_t ident, body;
        zmq_msg_init(&ident);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&ident, f->router, 0) < 0 || !zmq_msg_more(&ident) ||
            zmq_msg_recv(&body, f->router, 0) < 0) {
            zmq_msg_close(&ident);
            zmq_msg_close(&body);
            continue;
        }
        pthread_mutex_lock(&f->lock);
        recorded *grown = realloc(f->reqs, (f->n_reqs + 1) * sizeof *grown);
        assert_non_null(grown);
        f->reqs = grown;
        f->reqs[f->n_reqs].len = zmq_msg_size(&body);
        f->reqs[f->n_reqs].data = malloc(zmq_msg_size(&body) + 1);
        assert_non_null(f->reqs[f->n_reqs].data);
        memcpy(f->reqs[f->n_reqs].data, zmq_msg_data(&body), zmq_msg_size(&body));
        f->n_reqs++;
        pthread_cond_broadcast(&f->cond);
        int closing = 0;
        for (;;) {
            item *it = f->head;
            if (it == NULL)
                break;
            f->head = it->next;
            if (f->head == NULL)
                f->tail = NULL;
            fake_action a = it->action;
            if (a == FAKE_REPLY || a == FAKE_MORE || a == FAKE_MULTI)
                s_send_frame(f, &ident, it);
            free(it);
            if (a == FAKE_CLOSE) {
                closing = 1;
                break;
            }
            if (a != FAKE_MORE)
                break;
        }
        pthread_mutex_unlock(&f->lock);
        zmq_msg_close(&ident);
        zmq_msg_close(&body);
        if (closing) {
            /* linger lets frames already queued reach the client first */
            int linger = 2000;
            zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof linger);
            zmq_close(f->router);
            f->router = NULL;
            break;
        }
    }
    return NULL;
}

fake *fake_start(void)
{
    fake *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/vjclient-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/valijad.sock", f->dir);
    snprintf(f->endpoint, sizeof f->endpoint, "ipc://%s", f->path);
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    f->ctx = zmq_ctx_new();
    assert_non_null(f->ctx);
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    assert_non_null(f->router);
    int linger = 0;
    zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_bind(f->router, f->endpoint), 0);
    assert_int_equal(pthread_create(&f->thread, NULL, s_run, f), 0);
    return f;
}

void fake_stop(fake **fp)
{
    if (fp == NULL || *fp == NULL)
        return;
    fake *f = *fp;
    pthread_mutex_lock(&f->lock);
    f->stop = 1;
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    if (f->router != NULL)
        zmq_close(f->router);
    zmq_ctx_term(f->ctx);
    while (f->head != NULL) {
        item *next = f->head->next;
        free(f->head);
        f->head = next;
    }
    for (size_t i = 0; i < f->n_reqs; i++)
        free(f->reqs[i].data);
    free(f->reqs);
    unlink(f->path);
    rmdir(f->dir);
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->cond);
    free(f);
    *fp = NULL;
}

const char *fake_endpoint(const fake *f)
{
    return f->endpoint;
}

const char *fake_dir(const fake *f)
{
    return f->dir;
}

void fake_push(fake *f, fake_action action, const void *data, size_t len)
{
    item *it = malloc(sizeof *it + len + 1);
    assert_non_null(it);
    it->next = NULL;
    it->action = action;
    it->len = len;
    if (len > 0)
        memcpy(it->data, data, len);
    pthread_mutex_lock(&f->lock);
    if (f->tail != NULL)
        f->tail->next = it;
    else
        f->head = it;
    f->tail = it;
    pthread_mutex_unlock(&f->lock);
}

void fake_push_reply(fake *f, const Valija__ClientReply *reply, bool more)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(vj_codec_pack(&reply->base, &buf, &len), VJ_OK);
    fake_push(f, more ? FAKE_MORE : FAKE_REPLY, buf, len);
    free(buf);
}

void fake_push_status(fake *f, Valija__ReplyStatus status, const char *error)
{
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.status = status;
    r.error = (char *)(error != NULL ? error : "");
    fake_push_reply(f, &r, false);
}

size_t fake_count(fake *f)
{
    pthread_mutex_lock(&f->lock);
    size_t n = f->n_reqs;
    pthread_mutex_unlock(&f->lock);
    return n;
}

size_t fake_wait_count(fake *f, size_t n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    pthread_mutex_lock(&f->lock);
    while (f->n_reqs < n) {
        if (pthread_cond_timedwait(&f->cond, &f->lock, &until) == ETIMEDOUT)
            break;
    }
    size_t got = f->n_reqs;
    pthread_mutex_unlock(&f->lock);
    return got;
}

Valija__ClientRequest *fake_request(fake *f, size_t i)
{
    ProtobufCMessage *m = NULL;
    pthread_mutex_lock(&f->lock);
    assert_true(i < f->n_reqs);
    int rc = vj_codec_unpack(&valija__client_request__descriptor, f->reqs[i].data, f->reqs[i].len,
                             (size_t)64 << 20, &m);
    pthread_mutex_unlock(&f->lock);
    assert_int_equal(rc, VJ_OK);
    return (Valija__ClientRequest *)m;
}
