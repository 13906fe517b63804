/* test_zap.c - the ZAP handler admits only configured peers' CURVE keys,
 * names the connection after the peer, and a CURVE server configured as
 * valijad configures it fails closed when no handler is running. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>
#include <zmq.h>

#include "vj_zap.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

static uint8_t s_server_pk[32], s_server_sk[32], s_client_pk[32], s_client_sk[32];
static int s_known; /* does the lookup know the client's key? */

static const char *s_lookup(void *arg, const uint8_t key[32])
{
    (void)arg;
    return s_known && memcmp(key, s_client_pk, 32) == 0 ? "sv-b" : NULL;
}

typedef struct {
    void *ctx, *router, *dealer, *monitor;
    vj_zap *zap;
    char endpoint[128];
} rig;

static void s_rig(rig *r, int with_zap, const char *domain)
{
    int zero = 0, one = 1;
    memset(r, 0, sizeof *r);
    r->ctx = zmq_ctx_new();
    if (with_zap)
        assert_int_equal(vj_zap_new(r->ctx, s_lookup, NULL, &r->zap), VJ_OK);
    r->router = zmq_socket(r->ctx, ZMQ_ROUTER);
    zmq_setsockopt(r->router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(r->router, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(r->router, ZMQ_CURVE_SECRETKEY, s_server_sk, 32);
    zmq_setsockopt(r->router, ZMQ_ZAP_DOMAIN, domain, strlen(domain));
    zmq_setsockopt(r->router, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one);
    assert_int_equal(zmq_bind(r->router, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof r->endpoint;
    zmq_getsockopt(r->router, ZMQ_LAST_ENDPOINT, r->endpoint, &len);

    r->dealer = zmq_socket(r->ctx, ZMQ_DEALER);
    zmq_setsockopt(r->dealer, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(r->dealer, ZMQ_CURVE_SERVERKEY, s_server_pk, 32);
    zmq_setsockopt(r->dealer, ZMQ_CURVE_PUBLICKEY, s_client_pk, 32);
    zmq_setsockopt(r->dealer, ZMQ_CURVE_SECRETKEY, s_client_sk, 32);
    zmq_socket_monitor(r->dealer, "inproc://test-zap-monitor",
                       ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL);
    r->monitor = zmq_socket(r->ctx, ZMQ_PAIR);
    zmq_setsockopt(r->monitor, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect(r->monitor, "inproc://test-zap-monitor");
    zmq_connect(r->dealer, r->endpoint);
}

static void s_unrig(rig *r)
{
    zmq_close(r->dealer);
    zmq_close(r->monitor);
    zmq_close(r->router);
    vj_zap_destroy(&r->zap);
    zmq_ctx_term(r->ctx);
}

/* Serves ZAP while waiting for the client's handshake outcome: 1 admitted,
 * 0 refused or failed, -1 nothing within 2 s. */
static int s_outcome(rig *r, vj_zap_decision *last)
{
    memset(last, 0, sizeof *last);
    for (int i = 0; i < 40; i++) {
        zmq_pollitem_t items[2] = {{r->monitor, 0, ZMQ_POLLIN, 0},
                                   {r->zap ? vj_zap_socket(r->zap) : NULL, 0, ZMQ_POLLIN, 0}};
        zmq_poll(items, r->zap ? 2 : 1, 50);
        if (r->zap && (items[1].revents & ZMQ_POLLIN))
            assert_int_equal(vj_zap_handle(r->zap, last), VJ_OK);
        if (items[0].revents & ZMQ_POLLIN) {
            uint8_t ev[6];
            char addr[256];
            zmq_recv(r->monitor, ev, sizeof ev, 0);
            zmq_recv(r->monitor, addr, sizeof addr, 0);
            uint16_t event;
            memcpy(&event, ev, 2);
            return event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED ? 1 : 0;
        }
    }
    return -1;
}

static void test_known_key_is_admitted_and_named(void **state)
{
    (void)state;
    rig r;
    vj_zap_decision dec;
    s_known = 1;
    s_rig(&r, 1, VJ_ZAP_DOMAIN);
    assert_int_equal(s_outcome(&r, &dec), 1);
    assert_true(dec.admitted);
    assert_string_equal(dec.post, "sv-b");
    /* Frames carry the authenticated name as User-Id. */
    assert_int_equal(zmq_send(r.dealer, "hi", 2, 0), 2);
    zmq_msg_t rid, body;
    zmq_msg_init(&rid);
    zmq_msg_init(&body);
    assert_true(zmq_msg_recv(&rid, r.router, 0) >= 0);
    assert_true(zmq_msg_recv(&body, r.router, 0) >= 0);
    const char *user = zmq_msg_gets(&body, "User-Id");
    assert_non_null(user);
    assert_string_equal(user, "sv-b");
    zmq_msg_close(&rid);
    zmq_msg_close(&body);
    s_unrig(&r);
}

static void test_unknown_key_is_refused(void **state)
{
    (void)state;
    rig r;
    vj_zap_decision dec;
    s_known = 0;
    s_rig(&r, 1, VJ_ZAP_DOMAIN);
    assert_int_equal(s_outcome(&r, &dec), 0);
    assert_false(dec.admitted);
    assert_string_equal(dec.reason, "transport key of no configured peer");
    s_unrig(&r);
}

static void test_wrong_domain_is_refused(void **state)
{
    (void)state;
    rig r;
    vj_zap_decision dec;
    s_known = 1;
    s_rig(&r, 1, "some-other-domain");
    assert_int_equal(s_outcome(&r, &dec), 0);
    assert_false(dec.admitted);
    assert_string_equal(dec.reason, "wrong ZAP domain");
    s_unrig(&r);
}

/* libzmq admits any CURVE client when no ZAP handler is bound, unless the
 * domain is enforced as valijad does: then the handshake must fail. */
static void test_no_handler_fails_closed(void **state)
{
    (void)state;
    rig r;
    vj_zap_decision dec;
    s_known = 1;
    s_rig(&r, 0, VJ_ZAP_DOMAIN);
    assert_int_not_equal(s_outcome(&r, &dec), 1);
    zmq_send(r.dealer, "hi", 2, ZMQ_DONTWAIT); /* may or may not queue; must not arrive */
    zmq_pollitem_t item = {r.router, 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&item, 1, 300), 0); /* nothing gets through */
    s_unrig(&r);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    crypto_box_keypair(s_server_pk, s_server_sk);
    crypto_box_keypair(s_client_pk, s_client_sk);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_key_is_admitted_and_named),
        cmocka_unit_test(test_unknown_key_is_refused),
        cmocka_unit_test(test_wrong_domain_is_refused),
        cmocka_unit_test(test_no_handler_fails_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
