/* vj_probe.c - a hostile peer and a hostile client, for the integration
 * tests.  It speaks to one valijad on loopback and prints one line per step
 * with what came back, so that a test can assert on it.
 *
 *   vj_probe connect KEYFILE SERVERCARD ENDPOINT
 *       try a CURVE handshake with the identity in KEYFILE; prints
 *       "admitted" or "refused"
 *   vj_probe hostile KEYFILE FORGERKEY SERVERCARD ENDPOINT CASEPREFIX
 *       as a configured peer: a valid envelope, the same again (replay), a
 *       tampered copy, one forged with another key in the peer's name, and
 *       malformed frames; prints "STEP: receipt|reject|nothing"
 *   vj_probe client ENDPOINT
 *       malformed client requests; prints "STEP: status N: error text"
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "vj_card.h"
#include "vj_envelope.h"
#include "vj_identity.h"
#include "vj_keyring.h"

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *s_dealer(void *ctx, const vj_identity *id, const vj_card *server, const char *ep,
                      void **monitor)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, timeout = 3000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server->curve_pk, 32);
    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, vj_identity_curve_pk(id), 32);
    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, vj_identity_curve_sk(id), 32);
    zmq_socket_monitor(s, "inproc://probe-monitor",
                       ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_DISCONNECTED);
    *monitor = zmq_socket(ctx, ZMQ_PAIR);
    zmq_setsockopt(*monitor, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect(*monitor, "inproc://probe-monitor");
    zmq_connect(s, ep);
    return s;
}

/* 1 if the handshake succeeded within 5 s, 0 if it failed or timed out. */
static int s_wait_handshake(void *monitor)
{
    int timeout = 5000;
    zmq_setsockopt(monitor, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    for (;;) {
        uint8_t ev[6];
        char addr[256];
        if (zmq_recv(monitor, ev, sizeof ev, 0) < 0)
            return 0;
        zmq_recv(monitor, addr, sizeof addr, 0);
        uint16_t event;
        memcpy(&event, ev, 2);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            return 1;
        if (event != ZMQ_EVENT_DISCONNECTED)
            return 0;
    }
}

static int s_load(const char *key, const char *card_path, vj_identity **id, vj_card *card)
{
    vj_diag diag = {{0}};
    if (vj_identity_load(key, id, &diag) != VJ_OK) {
        fprintf(stderr, "vj_probe: %s\n", diag.text);
        return -1;
    }
    if (vj_card_load(card_path, card, &diag) != VJ_OK) {
        fprintf(stderr, "vj_probe: %s\n", diag.text);
        return -1;
    }
    return 0;
}

/* Seals a one-update OPENED case for the server's post. */
static int s_seal(const vj_identity *id, const vj_card *server, const char *case_id, uint64_t seq,
                  uint8_t **env, size_t *len)
{
    vj_keyring *kr = NULL;
    if (vj_keyring_new(id, &kr) != VJ_OK || vj_keyring_add(kr, server) != VJ_OK)
        return -1;
    Valija__CaseUpdate u = VALIJA__CASE_UPDATE__INIT;
    char *share[2] = {(char *)vj_identity_post(id), (char *)server->post};
    u.version = 1;
    u.case_id = (char *)case_id;
    u.kind = VALIJA__UPDATE_KIND__KIND_OPENED;
    u.lamport = 1;
    u.at_ms = s_now_ms();
    u.status = "detained";
    u.share = share;
    u.n_share = 2;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    if (vj_codec_pack(&u.base, &plain, &plain_len) != VJ_OK)
        return -1;
    const char *to[1] = {server->post};
    vj_seal_params params = {.origin_seq = seq,
                             .created_ms = s_now_ms(),
                             .payload = VALIJA__PAYLOAD_TYPE__PAYLOAD_CASE_UPDATE};
    uint8_t msg_id[VJ_MSG_ID_LEN];
    vj_diag diag = {{0}};
    int rc = vj_envelope_seal(kr, to, 1, &params, plain, plain_len, msg_id, env, len, &diag);
    free(plain);
    vj_keyring_destroy(&kr);
    return rc == VJ_OK ? 0 : -1;
}

static int s_send_batch(void *s, const uint8_t *env, size_t len)
{
    Valija__PeerMessage m = VALIJA__PEER_MESSAGE__INIT;
    Valija__EnvelopeBatch b = VALIJA__ENVELOPE_BATCH__INIT;
    ProtobufCBinaryData item = {len, (uint8_t *)env};
    b.envelopes = &item;
    b.n_envelopes = 1;
    m.version = 1;
    m.body_case = VALIJA__PEER_MESSAGE__BODY_ENVELOPES;
    m.envelopes = &b;
    uint8_t *frame = NULL;
    size_t flen = 0;
    if (vj_codec_pack(&m.base, &frame, &flen) != VJ_OK)
        return -1;
    int rc = zmq_send(s, frame, flen, 0);
    free(frame);
    return rc < 0 ? -1 : 0;
}

static const char *s_answer(void *s)
{
    uint8_t buf[1 << 16];
    int n = zmq_recv(s, buf, sizeof buf, 0);
    if (n < 0)
        return "nothing";
    Valija__PeerMessage *m = NULL;
    if (vj_codec_unpack(&valija__peer_message__descriptor, buf, (size_t)n, sizeof buf,
                        (ProtobufCMessage **)&m) != VJ_OK)
        return "garbage";
    const char *what = m->body_case == VALIJA__PEER_MESSAGE__BODY_RECEIPT  ? "receipt"
                       : m->body_case == VALIJA__PEER_MESSAGE__BODY_REJECT ? "reject"
                                                                           : "other";
    vj_codec_free((ProtobufCMessage *)m);
    return what;
}

static int s_connect_mode(int argc, char **argv)
{
    if (argc != 5)
        return 64;
    vj_identity *id = NULL;
    vj_card server;
    if (s_load(argv[2], argv[3], &id, &server) != 0)
        return 65;
    void *ctx = zmq_ctx_new();
    void *monitor = NULL;
    void *s = s_dealer(ctx, id, &server, argv[4], &monitor);
    printf("%s\n", s_wait_handshake(monitor) ? "admitted" : "refused");
    zmq_close(s);
    zmq_close(monitor);
    zmq_ctx_term(ctx);
    vj_identity_destroy(&id);
    return 0;
}

static int s_hostile_mode(int argc, char **argv)
{
    if (argc != 7)
        return 64;
    vj_identity *id = NULL, *forger = NULL;
    vj_card server, unused;
    if (s_load(argv[2], argv[4], &id, &server) != 0 ||
        s_load(argv[3], argv[4], &forger, &unused) != 0)
        return 65;
    const char *prefix = argv[6];
    char case_id[80];
    void *ctx = zmq_ctx_new();
    void *monitor = NULL;
    void *s = s_dealer(ctx, id, &server, argv[5], &monitor);
    if (!s_wait_handshake(monitor)) {
        printf("handshake: refused\n");
        return 1;
    }
    uint64_t seq = (uint64_t)s_now_ms(); /* far above anything the real post used */
    uint8_t *env = NULL;
    size_t len = 0;

    snprintf(case_id, sizeof case_id, "%s-VALID", prefix);
    s_seal(id, &server, case_id, seq++, &env, &len);
    s_send_batch(s, env, len);
    printf("valid: %s\n", s_answer(s));
    s_send_batch(s, env, len);
    printf("replay: %s\n", s_answer(s));
    free(env);

    snprintf(case_id, sizeof case_id, "%s-TAMPERED", prefix);
    s_seal(id, &server, case_id, seq++, &env, &len);
    env[len - 70] ^= 0x01; /* inside the ciphertext, before the signature */
    s_send_batch(s, env, len);
    printf("tampered: %s\n", s_answer(s));
    free(env);

    snprintf(case_id, sizeof case_id, "%s-FORGED", prefix);
    s_seal(forger, &server, case_id, seq++, &env, &len);
    s_send_batch(s, env, len);
    printf("forged: %s\n", s_answer(s));
    free(env);

    snprintf(case_id, sizeof case_id, "%s-TRUNCATED", prefix);
    s_seal(id, &server, case_id, seq++, &env, &len);
    s_send_batch(s, env, len / 2);
    printf("truncated: %s\n", s_answer(s));
    free(env);

    /* A Hello claiming to hold the victim's own updates up to the largest
     * number: an unsigned claim that must not move the victim's counter. */
    Valija__PeerMessage hm = VALIJA__PEER_MESSAGE__INIT;
    Valija__Hello hello = VALIJA__HELLO__INIT;
    Valija__OriginMark mark = VALIJA__ORIGIN_MARK__INIT, mark2 = VALIJA__ORIGIN_MARK__INIT;
    Valija__OriginMark *marks[2] = {&mark, &mark2};
    uint32_t versions[1] = {1};
    mark.origin = server.post;
    mark.seq = INT64_MAX;
    hello.versions = versions;
    hello.n_versions = 1;
    hello.holdings = marks;
    hello.n_holdings = 1;
    hm.version = 1;
    hm.body_case = VALIJA__PEER_MESSAGE__BODY_HELLO;
    hm.hello = &hello;
    uint8_t *hf = NULL;
    size_t hf_len = 0;
    if (vj_codec_pack(&hm.base, &hf, &hf_len) == VJ_OK)
        zmq_send(s, hf, hf_len, 0);
    free(hf);
    printf("hello-exhaust: %s\n", s_answer(s));
    mark2.origin = server.post;
    mark2.seq = 1;
    hello.n_holdings = 2;
    if (vj_codec_pack(&hm.base, &hf, &hf_len) == VJ_OK)
        zmq_send(s, hf, hf_len, 0);
    free(hf);
    printf("hello-duplicate-marks: %s\n", s_answer(s));

    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x00};
    zmq_send(s, garbage, sizeof garbage, 0);
    printf("garbage: %s\n", s_answer(s));

    Valija__PeerMessage m = VALIJA__PEER_MESSAGE__INIT;
    m.version = 99;
    uint8_t *frame = NULL;
    size_t flen = 0;
    if (vj_codec_pack(&m.base, &frame, &flen) == VJ_OK)
        zmq_send(s, frame, flen, 0);
    free(frame);
    printf("version: %s\n", s_answer(s));

    /* A flood of garbage: each is refused; the log must not grow with it. */
    int rejects = 0;
    for (int i = 0; i < 50; i++) {
        zmq_send(s, garbage, sizeof garbage, 0);
        rejects += strcmp(s_answer(s), "reject") == 0;
    }
    printf("flood: %d of 50 rejected\n", rejects);

    zmq_close(s);
    zmq_close(monitor);
    zmq_ctx_term(ctx);
    vj_identity_destroy(&id);
    vj_identity_destroy(&forger);
    return 0;
}

static void s_client_step(void *s, const char *step, const uint8_t *data, size_t len, int more)
{
    if (more)
        zmq_send(s, data, len, ZMQ_SNDMORE);
    zmq_send(s, data, len, 0);
    uint8_t buf[1 << 16];
    int n = zmq_recv(s, buf, sizeof buf, 0);
    if (n < 0) {
        printf("%s: nothing\n", step);
        return;
    }
    Valija__ClientReply *r = NULL;
    if (vj_codec_unpack(&valija__client_reply__descriptor, buf, (size_t)n, sizeof buf,
                        (ProtobufCMessage **)&r) != VJ_OK) {
        printf("%s: garbage\n", step);
        return;
    }
    printf("%s: status %d: %s\n", step, r->status, r->error);
    vj_codec_free((ProtobufCMessage *)r);
}

static int s_client_mode(int argc, char **argv)
{
    if (argc != 3)
        return 64;
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, timeout = 5000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_connect(s, argv[2]);

    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x00};
    s_client_step(s, "garbage", garbage, sizeof garbage, 0);
    s_client_step(s, "empty", (const uint8_t *)"", 0, 0);

    uint8_t *frame = NULL;
    size_t flen = 0;
    Valija__ClientRequest req = VALIJA__CLIENT_REQUEST__INIT;
    req.version = 7;
    if (vj_codec_pack(&req.base, &frame, &flen) == VJ_OK)
        s_client_step(s, "version", frame, flen, 0);
    free(frame);

    req.version = 1;
    Valija__SubmitRequest sub = VALIJA__SUBMIT_REQUEST__INIT;
    Valija__CaseUpdate u = VALIJA__CASE_UPDATE__INIT;
    Valija__CaseUpdate *ups[1] = {&u};
    u.case_id = "../../etc/passwd";
    u.status = "detained";
    sub.updates = ups;
    sub.n_updates = 1;
    req.body_case = VALIJA__CLIENT_REQUEST__BODY_SUBMIT;
    req.submit = &sub;
    if (vj_codec_pack(&req.base, &frame, &flen) == VJ_OK)
        s_client_step(s, "bad-case-id", frame, flen, 0);
    free(frame);

    u.case_id = "PROBE-CLIENT-1";
    u.note = "bad\x01control";
    if (vj_codec_pack(&req.base, &frame, &flen) == VJ_OK)
        s_client_step(s, "control-chars", frame, flen, 0);
    free(frame);

    u.note = "";
    u.kind = VALIJA__UPDATE_KIND__KIND_CLOSED;
    if (vj_codec_pack(&req.base, &frame, &flen) == VJ_OK)
        s_client_step(s, "close-unknown-case", frame, flen, 0);
    free(frame);

    req.body_case = VALIJA__CLIENT_REQUEST__BODY__NOT_SET;
    if (vj_codec_pack(&req.base, &frame, &flen) == VJ_OK)
        s_client_step(s, "no-verb", frame, flen, 0);
    free(frame);

    s_client_step(s, "multipart", garbage, sizeof garbage, 1);

    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    if (vj_keys_init() != VJ_OK)
        return 70;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "connect") == 0)
        return s_connect_mode(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "hostile") == 0)
        return s_hostile_mode(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "client") == 0)
        return s_client_mode(argc, argv);
    fprintf(stderr, "usage: vj_probe connect|hostile|client ...\n");
    return 64;
}
