/* vj_zap.c - ZAP handler: admits a CURVE client only when its public key is
 * the transport key of a configured peer and the request is for our domain.
 * Everything else (other mechanisms, other domains, malformed requests) is
 * refused.  Requests are read whole and bounded before they are looked at.
 */
#include "vj_zap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ZAP_MAX_FRAMES 16
#define ZAP_MAX_FRAME 512

struct vj_zap {
    void *sock;
    vj_zap_lookup_fn lookup;
    void *arg;
};

int vj_zap_new(void *zctx, vj_zap_lookup_fn lookup, void *arg, vj_zap **out)
{
    int ret = VJ_E_IO;
    *out = NULL;
    vj_zap *zap = calloc(1, sizeof *zap);
    if (zap == NULL)
        return VJ_E_NOMEM;
    zap->lookup = lookup;
    zap->arg = arg;
    zap->sock = zmq_socket(zctx, ZMQ_REP);
    if (zap->sock == NULL)
        goto out;
    int linger = 0;
    if (zmq_setsockopt(zap->sock, ZMQ_LINGER, &linger, sizeof linger) != 0)
        goto out;
    if (zmq_bind(zap->sock, VJ_ZAP_ENDPOINT) != 0)
        goto out;
    *out = zap;
    zap = NULL;
    ret = VJ_OK;
out:
    vj_zap_destroy(&zap);
    return ret;
}

void *vj_zap_socket(vj_zap *zap)
{
    return zap->sock;
}

static void s_copy_frame(char *dst, size_t dst_len, const char *src, size_t len)
{
    size_t n = len < dst_len - 1 ? len : dst_len - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int s_frame_is(const char *frame, size_t len, const char *text)
{
    return len == strlen(text) && memcmp(frame, text, len) == 0;
}

static int s_send_reply(void *sock, const char *req_id, size_t req_id_len, const char *code,
                        const char *text, const char *user_id)
{
    if (zmq_send(sock, "1.0", 3, ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, req_id, req_id_len, ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, code, strlen(code), ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, text, strlen(text), ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, user_id, strlen(user_id), ZMQ_SNDMORE) < 0 || zmq_send(sock, "", 0, 0) < 0)
        return VJ_E_IO;
    return VJ_OK;
}

int vj_zap_handle(vj_zap *zap, vj_zap_decision *decision)
{
    char frames[ZAP_MAX_FRAMES][ZAP_MAX_FRAME];
    size_t lens[ZAP_MAX_FRAMES];
    size_t n = 0;
    int truncated = 0;
    memset(decision, 0, sizeof *decision);

    /* Read every part of the request, keeping at most ZAP_MAX_FRAMES. */
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, zap->sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&part);
            return n == 0 ? VJ_E_UNAVAILABLE : VJ_E_IO;
        }
        size_t len = zmq_msg_size(&part);
        if (n < ZAP_MAX_FRAMES) {
            if (len > ZAP_MAX_FRAME)
                truncated = 1;
            lens[n] = len > ZAP_MAX_FRAME ? ZAP_MAX_FRAME : len;
            memcpy(frames[n], zmq_msg_data(&part), lens[n]);
        } else {
            truncated = 1;
        }
        n++;
        int more = zmq_msg_more(&part);
        zmq_msg_close(&part);
        if (!more)
            break;
    }

    /* A REP socket must answer; a request too short to carry an id gets an
     * empty id. */
    const char *req_id = n >= 2 ? frames[1] : "";
    size_t req_id_len = n >= 2 ? lens[1] : 0;
    if (n >= 4)
        s_copy_frame(decision->address, sizeof decision->address, frames[3], lens[3]);

    const char *why = NULL;
    if (truncated || n < 6 || !s_frame_is(frames[0], lens[0], "1.0"))
        why = "malformed ZAP request";
    else if (!s_frame_is(frames[2], lens[2], VJ_ZAP_DOMAIN))
        why = "wrong ZAP domain";
    else if (!s_frame_is(frames[5], lens[5], "CURVE") || n != 7 || lens[6] != 32)
        why = "not a CURVE client";
    const char *post = NULL;
    if (why == NULL) {
        post = zap->lookup(zap->arg, (const uint8_t *)frames[6]);
        if (post == NULL)
            why = "transport key of no configured peer";
    }
    if (why != NULL) {
        snprintf(decision->reason, sizeof decision->reason, "%s", why);
        return s_send_reply(zap->sock, req_id, req_id_len, "400", "refused", "");
    }
    decision->admitted = 1;
    snprintf(decision->post, sizeof decision->post, "%s", post);
    return s_send_reply(zap->sock, req_id, req_id_len, "200", "OK", decision->post);
}

void vj_zap_destroy(vj_zap **zap)
{
    if (zap == NULL || *zap == NULL)
        return;
    if ((*zap)->sock != NULL)
        zmq_close((*zap)->sock);
    free(*zap);
    *zap = NULL;
}
