/* test_client.c - libvalija against a fake valijad: what each call puts on
 * the wire, how replies become results, and that every broken, hostile or
 * missing answer ends in a clean error with a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_client_fake.h"
#include "valija.h"

static const uint8_t ID1[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe};
static const uint8_t ID2[16] = {0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88,
                                0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00};

typedef struct {
    fake *f;
    valija *conn;
} fixture;

static int s_setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    setenv("VALIJA_TIMEOUT_MS", "3000", 1);
    fx->f = fake_start();
    assert_int_equal(valija_open(fake_endpoint(fx->f), &fx->conn), VALIJA_OK);
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fixture *fx = *state;
    valija_close(&fx->conn);
    assert_null(fx->conn);
    fake_stop(&fx->f);
    free(fx);
    return 0;
}

static void s_push_submit_reply(fake *f, size_t n)
{
    ProtobufCBinaryData *ids = calloc(n, sizeof *ids);
    uint8_t(*raw)[16] = calloc(n, 16);
    assert_true(ids != NULL && raw != NULL);
    for (size_t i = 0; i < n; i++) {
        memcpy(raw[i], ID1, 16);
        raw[i][15] = (uint8_t)i;
        raw[i][14] = (uint8_t)(i >> 8);
        ids[i].data = raw[i];
        ids[i].len = 16;
    }
    Valija__SubmitReply sr = VALIJA__SUBMIT_REPLY__INIT;
    sr.n_msg_ids = n;
    sr.msg_ids = ids;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_SUBMIT;
    r.submit = &sr;
    fake_push_reply(f, &r, false);
    free(ids);
    free(raw);
}

/* ---- open ------------------------------------------------------------------- */

static void test_open_refuses_bad_endpoints(void **state)
{
    (void)state;
    valija *c = (valija *)1;
    assert_int_equal(valija_open("http://x", &c), VALIJA_INVALID);
    assert_null(c);
    assert_int_equal(valija_open("ipc://", &c), VALIJA_INVALID);
    assert_int_equal(valija_open("ipc://@abstract", &c), VALIJA_INVALID);
    assert_int_equal(valija_open("tcp://", &c), VALIJA_INVALID);
    assert_int_equal(valija_open("/run/valija/valijad.sock", &c), VALIJA_INVALID);
    char longpath[200] = "ipc:///";
    memset(longpath + 7, 'a', 120);
    longpath[127] = '\0';
    assert_int_equal(valija_open(longpath, &c), VALIJA_INVALID);
    assert_int_equal(valija_open("tcp://127.0.0.1:1\n", &c), VALIJA_INVALID);
    assert_null(c);
    assert_int_equal(valija_open(NULL, NULL), VALIJA_INVALID);
}

static void test_open_default_and_env(void **state)
{
    (void)state;
    valija *c = NULL;
    unsetenv("VALIJA_SOCKET");
    assert_int_equal(valija_open(NULL, &c), VALIJA_OK);
    assert_string_equal(valija_endpoint(c), VALIJA_DEFAULT_SOCKET);
    valija_close(&c);
    setenv("VALIJA_SOCKET", "tcp://127.0.0.1:7999", 1);
    assert_int_equal(valija_open(NULL, &c), VALIJA_OK);
    assert_string_equal(valija_endpoint(c), "tcp://127.0.0.1:7999");
    valija_close(&c);
    unsetenv("VALIJA_SOCKET");
    valija_close(&c); /* NULL is fine */
    valija_close(NULL);
}

static void test_missing_socket_is_unreachable(void **state)
{
    (void)state;
    char dir[] = "/tmp/vjclient-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char ep[128];
    snprintf(ep, sizeof ep, "ipc://%s/nothing.sock", dir);
    valija *c = NULL;
    assert_int_equal(valija_open(ep, &c), VALIJA_OK);
    valija_peer_list *p = NULL;
    assert_int_equal(valija_peers(c, &p), VALIJA_UNREACHABLE);
    assert_null(p);
    char want[200];
    snprintf(want, sizeof want,
             "no valijad at %s/nothing.sock (is it running? set --socket or VALIJA_SOCKET)", dir);
    assert_string_equal(valija_last_error(c), want);

    /* a regular file where the socket should be */
    char file[128];
    snprintf(file, sizeof file, "%s/nothing.sock", dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(valija_peers(c, &p), VALIJA_UNREACHABLE);
    assert_non_null(strstr(valija_last_error(c), "no valijad at"));
    valija_close(&c);
    unlink(file);
    rmdir(dir);
}

/* ---- submit ----------------------------------------------------------------- */

static void test_submit_encodes_update(void **state)
{
    fixture *fx = *state;
    const char *share[] = {"mx-washington", "sv-washington"};
    const char *co[] = {"sv-washington"};
    valija_person person = {.name = "Ana",
                            .date_of_birth = "2015-03-02",
                            .nationality = "SV",
                            .document = "P123",
                            .alien_number = "A-1",
                            .minor = VALIJA_MINOR_YES};
    valija_representation repr = {.name = "Lic. Ruiz", .organization = "Aid", .contact = "+1"};
    valija_visit visit = {.visitor = "consul", .at_ms = 1700000000123};
    valija_link links[] = {{VALIJA_LINK_PARENT, "SV-2018-1"}};
    valija_update u = {.case_id = "MX-2018-000123",
                       .kind = VALIJA_KIND_OPENED,
                       .status = "detained",
                       .facility = "Dilley",
                       .note = "first",
                       .share = share,
                       .n_share = 2,
                       .co_owners = co,
                       .n_co_owners = 1,
                       .person = &person,
                       .representation = &repr,
                       .visit = &visit,
                       .links = links,
                       .n_links = 1};
    s_push_submit_reply(fx->f, 1);
    uint8_t ids[1][16];
    size_t done = 99;
    assert_int_equal(valija_submit(fx->conn, &u, 1, ids, &done), VALIJA_OK);
    assert_int_equal(done, 1);
    assert_memory_equal(ids[0], ID1, 14);
    assert_string_equal(valija_last_error(fx->conn), "");

    Valija__ClientRequest *req = fake_request(fx->f, 0);
    assert_int_equal(req->version, 1);
    assert_int_equal(req->body_case, VALIJA__CLIENT_REQUEST__BODY_SUBMIT);
    assert_int_equal(req->submit->n_updates, 1);
    const Valija__CaseUpdate *p = req->submit->updates[0];
    assert_int_equal(p->version, 1);
    assert_int_equal(p->lamport, 0);
    assert_int_equal(p->n_seen, 0);
    assert_string_equal(p->case_id, "MX-2018-000123");
    assert_int_equal(p->kind, VALIJA__UPDATE_KIND__KIND_OPENED);
    assert_string_equal(p->status, "detained");
    assert_string_equal(p->facility, "Dilley");
    assert_string_equal(p->note, "first");
    assert_int_equal(p->n_share, 2);
    assert_string_equal(p->share[1], "sv-washington");
    assert_int_equal(p->n_co_owners, 1);
    assert_non_null(p->person);
    assert_string_equal(p->person->name, "Ana");
    assert_string_equal(p->person->date_of_birth, "2015-03-02");
    assert_int_equal(p->person->minor, VALIJA__MINOR__MINOR_YES);
    assert_string_equal(p->representation->organization, "Aid");
    assert_string_equal(p->visit->visitor, "consul");
    assert_int_equal(p->visit->at_ms, 1700000000123);
    assert_int_equal(p->n_links, 1);
    assert_int_equal(p->links[0]->relation, VALIJA__LINK_RELATION__LINK_PARENT);
    assert_string_equal(p->links[0]->case_id, "SV-2018-1");
    vj_codec_free(&req->base);
}

static void test_submit_minimal_leaves_rest_unset(void **state)
{
    fixture *fx = *state;
    valija_update u = {.case_id = "C1", .note = "x"};
    s_push_submit_reply(fx->f, 1);
    uint8_t ids[1][16];
    assert_int_equal(valija_submit(fx->conn, &u, 1, ids, NULL), VALIJA_OK);
    Valija__ClientRequest *req = fake_request(fx->f, 0);
    const Valija__CaseUpdate *p = req->submit->updates[0];
    assert_int_equal(p->kind, VALIJA__UPDATE_KIND__KIND_UNSPECIFIED);
    assert_null(p->person);
    assert_null(p->representation);
    assert_null(p->visit);
    assert_int_equal(p->n_share, 0);
    assert_string_equal(p->status, "");
    vj_codec_free(&req->base);
}

static void test_submit_chunks_of_256(void **state)
{
    fixture *fx = *state;
    size_t n = 600;
    valija_update *ups = calloc(n, sizeof *ups);
    uint8_t(*ids)[16] = calloc(n, 16);
    assert_true(ups != NULL && ids != NULL);
    for (size_t i = 0; i < n; i++) {
        ups[i].case_id = "C1";
        ups[i].status = i == 599 ? "last" : "s";
    }
    s_push_submit_reply(fx->f, 256);
    s_push_submit_reply(fx->f, 256);
    s_push_submit_reply(fx->f, 88);
    size_t done = 0;
    assert_int_equal(valija_submit(fx->conn, ups, n, ids, &done), VALIJA_OK);
    assert_int_equal(done, 600);
    assert_int_equal(fake_count(fx->f), 3);
    size_t want[] = {256, 256, 88};
    for (size_t i = 0; i < 3; i++) {
        Valija__ClientRequest *req = fake_request(fx->f, i);
        assert_int_equal(req->submit->n_updates, want[i]);
        if (i == 2)
            assert_string_equal(req->submit->updates[87]->status, "last");
        vj_codec_free(&req->base);
    }
    /* ids land in order: the third chunk's 88th id ends in 87 */
    assert_int_equal(ids[599][15], 87);
    assert_int_equal(ids[256][15], 0);
    free(ups);
    free(ids);
}

static void test_submit_partial_failure_counts_done(void **state)
{
    fixture *fx = *state;
    size_t n = 300;
    valija_update *ups = calloc(n, sizeof *ups);
    uint8_t(*ids)[16] = calloc(n, 16);
    for (size_t i = 0; i < n; i++)
        ups[i].case_id = "C1";
    s_push_submit_reply(fx->f, 256);
    fake_push_status(fx->f, VALIJA__REPLY_STATUS__REPLY_INTERNAL, "store full");
    size_t done = 0;
    assert_int_equal(valija_submit(fx->conn, ups, n, ids, &done), VALIJA_INTERNAL);
    assert_int_equal(done, 256);
    assert_string_equal(valija_last_error(fx->conn), "store full");
    free(ups);
    free(ids);
}

static void test_submit_invalid_sends_nothing(void **state)
{
    fixture *fx = *state;
    uint8_t ids[2][16];
    const char *bad_share[] = {"MX-Washington"};
    const char *dup_share[] = {"mx-a", "mx-a"};
    valija_person bad_dob = {.date_of_birth = "2015-02-30"};
    valija_person bad_nat = {.nationality = "mex"};
    valija_link self_link[] = {{VALIJA_LINK_CHILD, "C1"}};
    valija_link no_rel[] = {{VALIJA_LINK_UNSPECIFIED, "C2"}};
    char long_status[300];
    memset(long_status, 'a', sizeof long_status - 1);
    long_status[299] = '\0';
    valija_update cases[] = {
        {.case_id = NULL},
        {.case_id = ""},
        {.case_id = "bad id"},
        {.case_id = "C1", .share = bad_share, .n_share = 1},
        {.case_id = "C1", .share = dup_share, .n_share = 2},
        {.case_id = "C1", .person = &bad_dob},
        {.case_id = "C1", .person = &bad_nat},
        {.case_id = "C1", .links = self_link, .n_links = 1},
        {.case_id = "C1", .links = no_rel, .n_links = 1},
        {.case_id = "C1", .status = long_status},
        {.case_id = "C1", .note = "bell\a"},
        {.case_id = "C1", .facility = "\xc3\x28"},
        {.case_id = "C1", .kind = (valija_kind)42},
        {.case_id = "C1", .n_share = 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        valija_update two[2] = {{.case_id = "OK-1"}, cases[i]};
        assert_int_equal(valija_submit(fx->conn, two, 2, ids, NULL), VALIJA_INVALID);
        assert_non_null(strstr(valija_last_error(fx->conn), "update 2: "));
    }
    assert_int_equal(valija_submit(fx->conn, NULL, 0, ids, NULL), VALIJA_INVALID);
    assert_int_equal(fake_count(fx->f), 0);
}

static void test_update_check_names_the_field(void **state)
{
    (void)state;
    char why[200];
    const char *bad_share[] = {"MX"};
    valija_update u = {.case_id = "C1", .share = bad_share, .n_share = 1};
    assert_int_equal(valija_update_check(&u, why, sizeof why), VALIJA_INVALID);
    assert_non_null(strstr(why, "'share'"));
    assert_non_null(strstr(why, "'MX'"));
    valija_update ok = {.case_id = "C1"};
    assert_int_equal(valija_update_check(&ok, why, sizeof why), VALIJA_OK);
    assert_string_equal(why, "");
}

static void test_submit_wrong_id_count_is_internal(void **state)
{
    fixture *fx = *state;
    valija_update u[2] = {{.case_id = "C1"}, {.case_id = "C2"}};
    uint8_t ids[2][16];
    s_push_submit_reply(fx->f, 1);
    assert_int_equal(valija_submit(fx->conn, u, 2, ids, NULL), VALIJA_INTERNAL);
    assert_non_null(strstr(valija_last_error(fx->conn), "1 message ids for 2 updates"));

    /* an id that is not 16 bytes */
    uint8_t short_id[5] = {1, 2, 3, 4, 5};
    ProtobufCBinaryData bid = {5, short_id};
    Valija__SubmitReply sr = VALIJA__SUBMIT_REPLY__INIT;
    sr.n_msg_ids = 1;
    sr.msg_ids = &bid;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_SUBMIT;
    r.submit = &sr;
    fake_push_reply(fx->f, &r, false);
    assert_int_equal(valija_submit(fx->conn, u, 1, ids, NULL), VALIJA_INTERNAL);
}

/* ---- statuses and broken replies ---------------------------------------------- */

static void test_every_status_maps(void **state)
{
    fixture *fx = *state;
    struct {
        Valija__ReplyStatus st;
        valija_err err;
    } map[] = {
        {VALIJA__REPLY_STATUS__REPLY_NOT_FOUND, VALIJA_NOT_FOUND},
        {VALIJA__REPLY_STATUS__REPLY_BAD_REQUEST, VALIJA_BAD_REQUEST},
        {VALIJA__REPLY_STATUS__REPLY_REFUSED, VALIJA_REFUSED},
        {VALIJA__REPLY_STATUS__REPLY_INTERNAL, VALIJA_INTERNAL},
        {VALIJA__REPLY_STATUS__REPLY_VERSION, VALIJA_VERSION},
        {(Valija__ReplyStatus)77, VALIJA_INTERNAL},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "daemon says %zu", i);
        fake_push_status(fx->f, map[i].st, text);
        valija_case_result *res = (valija_case_result *)1;
        assert_int_equal(valija_case(fx->conn, "C1", false, &res), map[i].err);
        assert_null(res);
        if (i < 5)
            assert_string_equal(valija_last_error(fx->conn), text);
        else
            assert_non_null(strstr(valija_last_error(fx->conn), "unknown reply status"));
    }
    /* no text from the daemon: a default message, never an empty one */
    fake_push_status(fx->f, VALIJA__REPLY_STATUS__REPLY_NOT_FOUND, "");
    valija_case_result *res = NULL;
    assert_int_equal(valija_case(fx->conn, "C1", false, &res), VALIJA_NOT_FOUND);
    assert_true(strlen(valija_last_error(fx->conn)) > 0);
    /* hostile text is not passed on */
    fake_push_status(fx->f, VALIJA__REPLY_STATUS__REPLY_REFUSED, "\x1b[2Jgotcha");
    assert_int_equal(valija_case(fx->conn, "C1", false, &res), VALIJA_REFUSED);
    assert_null(strchr(valija_last_error(fx->conn), '\x1b'));
}

static void test_malformed_reply(void **state)
{
    fixture *fx = *state;
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12};
    fake_push(fx->f, FAKE_REPLY, junk, sizeof junk);
    valija_peer_list *p = NULL;
    assert_int_equal(valija_peers(fx->conn, &p), VALIJA_INTERNAL);
    assert_null(p);
    assert_non_null(strstr(valija_last_error(fx->conn), "malformed reply"));
    /* a truncated but otherwise valid reply */
    Valija__PeersReply pr = VALIJA__PEERS_REPLY__INIT;
    pr.post = "mx-washington";
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_PEERS;
    r.peers = &pr;
    uint8_t *buf;
    size_t len;
    assert_int_equal(vj_codec_pack(&r.base, &buf, &len), VJ_OK);
    fake_push(fx->f, FAKE_REPLY, buf, len - 3);
    assert_int_equal(valija_peers(fx->conn, &p), VALIJA_INTERNAL);
    free(buf);
}

static void test_wrong_version(void **state)
{
    fixture *fx = *state;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 2;
    r.status = VALIJA__REPLY_STATUS__REPLY_OK;
    fake_push_reply(fx->f, &r, false);
    valija_peer_list *p = NULL;
    assert_int_equal(valija_peers(fx->conn, &p), VALIJA_VERSION);
    assert_non_null(strstr(valija_last_error(fx->conn), "version 2"));
    r.version = 0;
    fake_push_reply(fx->f, &r, false);
    assert_int_equal(valija_peers(fx->conn, &p), VALIJA_VERSION);
    assert_null(p);
}

static void test_wrong_oneof(void **state)
{
    fixture *fx = *state;
    /* a history body in answer to peers, then no body at all */
    Valija__HistoryReply hr = VALIJA__HISTORY_REPLY__INIT;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_HISTORY;
    r.history = &hr;
    fake_push_reply(fx->f, &r, false);
    valija_peer_list *p = NULL;
    assert_int_equal(valija_peers(fx->conn, &p), VALIJA_INTERNAL);
    assert_non_null(strstr(valija_last_error(fx->conn), "unexpected kind of reply"));
    fake_push_status(fx->f, VALIJA__REPLY_STATUS__REPLY_OK, "");
    assert_int_equal(valija_peers(fx->conn, &p), VALIJA_INTERNAL);
    assert_null(p);
    /* a case reply without its state */
    Valija__CaseReply cr = VALIJA__CASE_REPLY__INIT;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_GET_CASE;
    r.get_case = &cr;
    fake_push_reply(fx->f, &r, false);
    valija_case_result *res = NULL;
    assert_int_equal(valija_case(fx->conn, "C1", false, &res), VALIJA_INTERNAL);
    assert_null(res);
}

static void test_multipart_reply_refused(void **state)
{
    fixture *fx = *state;
    Valija__PeersReply pr = VALIJA__PEERS_REPLY__INIT;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_PEERS;
    r.peers = &pr;
    uint8_t *buf;
    size_t len;
    assert_int_equal(vj_codec_pack(&r.base, &buf, &len), VJ_OK);
    fake_push(fx->f, FAKE_MULTI, buf, len);
    free(buf);
    valija_peer_list *p = NULL;
    assert_int_equal(valija_peers(fx->conn, &p), VALIJA_INTERNAL);
    assert_non_null(strstr(valija_last_error(fx->conn), "several frames"));
}

static void test_oversized_reply(void **state)
{
    fixture *fx = *state;
    size_t len = ((size_t)64 << 20) + 1;
    uint8_t *big = calloc(1, len);
    assert_non_null(big);
    fake_push(fx->f, FAKE_REPLY, big, len);
    free(big);
    valija_peer_list *p = NULL;
    assert_int_equal(valija_peers(fx->conn, &p), VALIJA_UNREACHABLE);
    assert_null(p);
    /* libzmq drops the connection on a message over ZMQ_MAXMSGSIZE */
    assert_non_null(strstr(valija_last_error(fx->conn), "closed the connection"));
}

static void test_silent_daemon_times_out(void **state)
{
    fixture *fx = *state;
    assert_int_equal(valija_set_timeout(fx->conn, 200), VALIJA_OK);
    assert_int_equal(valija_set_timeout(fx->conn, 0), VALIJA_INVALID);
    fake_push(fx->f, FAKE_SILENT, NULL, 0);
    valija_history_list *h = NULL;
    assert_int_equal(valija_history(fx->conn, "C1", &h), VALIJA_UNREACHABLE);
    assert_null(h);
    assert_non_null(strstr(valija_last_error(fx->conn), "did not answer within 200 ms"));
    assert_int_equal(fake_count(fx->f), 1);
    /* the handle still works after a timeout, and answers stay paired */
    s_push_submit_reply(fx->f, 1);
    fake_push_status(fx->f, VALIJA__REPLY_STATUS__REPLY_NOT_FOUND, "no such case");
    uint8_t ids[1][16];
    valija_update u = {.case_id = "C1"};
    assert_int_equal(valija_submit(fx->conn, &u, 1, ids, NULL), VALIJA_OK);
    assert_int_equal(valija_history(fx->conn, "C1", &h), VALIJA_NOT_FOUND);
}

static void test_timeout_from_env(void **state)
{
    (void)state;
    fake *f = fake_start();
    setenv("VALIJA_TIMEOUT_MS", "150", 1);
    valija *c = NULL;
    assert_int_equal(valija_open(fake_endpoint(f), &c), VALIJA_OK);
    setenv("VALIJA_TIMEOUT_MS", "3000", 1);
    valija_peer_list *p = NULL;
    assert_int_equal(valija_peers(c, &p), VALIJA_UNREACHABLE);
    assert_non_null(strstr(valija_last_error(c), "within 150 ms"));
    valija_close(&c);
    fake_stop(&f);
}

static void test_invalid_text_in_reply(void **state)
{
    fixture *fx = *state;
    Valija__PeerStatus ps = VALIJA__PEER_STATUS__INIT;
    ps.post = "sv-washington";
    ps.endpoint = "tcp://x\x1b]0;pwned\x07";
    Valija__PeerStatus *pp = &ps;
    Valija__PeersReply pr = VALIJA__PEERS_REPLY__INIT;
    pr.n_peers = 1;
    pr.peers = &pp;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_PEERS;
    r.peers = &pr;
    fake_push_reply(fx->f, &r, false);
    valija_peer_list *p = NULL;
    assert_int_equal(valija_peers(fx->conn, &p), VALIJA_INTERNAL);
    assert_null(p);
    assert_non_null(strstr(valija_last_error(fx->conn), "peers.endpoint"));
    ps.endpoint = "tcp://ok";
    ps.fingerprint = "\xff\xfe";
    fake_push_reply(fx->f, &r, false);
    assert_int_equal(valija_peers(fx->conn, &p), VALIJA_INTERNAL);
}

/* ---- queries ----------------------------------------------------------------- */

static void test_case_decodes_state_and_family(void **state)
{
    fixture *fx = *state;
    Valija__Person person = VALIJA__PERSON__INIT;
    person.name = "Ana";
    person.minor = VALIJA__MINOR__MINOR_YES;
    Valija__ConflictValue cv1 = VALIJA__CONFLICT_VALUE__INIT, cv2 = VALIJA__CONFLICT_VALUE__INIT;
    cv1.value = "Dilley";
    cv1.origin = "mx-washington";
    cv1.at_ms = 5;
    cv1.msg_id.data = (uint8_t *)ID1;
    cv1.msg_id.len = 16;
    cv2.value = "Karnes";
    cv2.origin = "sv-washington";
    Valija__ConflictValue *cvs[] = {&cv1, &cv2};
    Valija__Conflict conf = VALIJA__CONFLICT__INIT;
    conf.field = "facility";
    conf.n_values = 2;
    conf.values = cvs;
    Valija__Conflict *confs[] = {&conf};
    Valija__Note note = VALIJA__NOTE__INIT;
    note.origin = "mx-washington";
    note.text = "seen by consul";
    note.at_ms = 7;
    Valija__Note *notes[] = {&note};
    Valija__CaseLink link = VALIJA__CASE_LINK__INIT;
    link.relation = VALIJA__LINK_RELATION__LINK_CHILD;
    link.case_id = "C2";
    Valija__CaseLink *links[] = {&link};
    char *shared[] = {"mx-washington", "sv-washington"};
    Valija__CaseState st = VALIJA__CASE_STATE__INIT;
    st.case_id = "C1";
    st.owner = "mx-washington";
    st.status = "detained";
    st.facility = "Dilley";
    st.person = &person;
    st.n_notes = 1;
    st.notes = notes;
    st.n_links = 1;
    st.links = links;
    st.n_shared_with = 2;
    st.shared_with = shared;
    st.n_conflicts = 1;
    st.conflicts = confs;
    st.closed = 1;
    st.updated_ms = 1700000000000;
    st.events = 9;
    Valija__CaseState fam = VALIJA__CASE_STATE__INIT;
    fam.case_id = "C2";
    fam.status = "released";
    Valija__CaseState *fams[] = {&fam};
    Valija__CaseReply cr = VALIJA__CASE_REPLY__INIT;
    cr.state = &st;
    cr.n_family = 1;
    cr.family = fams;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_GET_CASE;
    r.get_case = &cr;
    fake_push_reply(fx->f, &r, false);

    valija_case_result *res = NULL;
    assert_int_equal(valija_case(fx->conn, "C1", true, &res), VALIJA_OK);
    Valija__ClientRequest *req = fake_request(fx->f, 0);
    assert_int_equal(req->body_case, VALIJA__CLIENT_REQUEST__BODY_GET_CASE);
    assert_string_equal(req->get_case->case_id, "C1");
    assert_true(req->get_case->family);
    vj_codec_free(&req->base);

    const valija_case_state *s = &res->state;
    assert_string_equal(s->case_id, "C1");
    assert_string_equal(s->owner, "mx-washington");
    assert_string_equal(s->facility, "Dilley");
    assert_non_null(s->person);
    assert_int_equal(s->person->minor, VALIJA_MINOR_YES);
    assert_string_equal(s->person->document, "");
    assert_null(s->representation);
    assert_null(s->last_visit);
    assert_int_equal(s->n_shared_with, 2);
    assert_string_equal(s->shared_with[1], "sv-washington");
    assert_int_equal(s->n_conflicts, 1);
    assert_string_equal(s->conflicts[0].field, "facility");
    assert_int_equal(s->conflicts[0].n_values, 2);
    assert_string_equal(s->conflicts[0].values[1].value, "Karnes");
    assert_memory_equal(s->conflicts[0].values[0].msg_id, ID1, 16);
    assert_int_equal(s->n_notes, 1);
    assert_string_equal(s->notes[0].text, "seen by consul");
    assert_int_equal(s->links[0].relation, VALIJA_LINK_CHILD);
    assert_true(s->closed);
    assert_int_equal(s->events, 9);
    assert_int_equal(res->n_family, 1);
    assert_string_equal(res->family[0].status, "released");
    valija_case_free(&res);
    assert_null(res);
    valija_case_free(&res);

    /* a conflict value whose msg_id is neither absent nor 16 bytes */
    cv2.msg_id.data = (uint8_t *)ID2;
    cv2.msg_id.len = 3;
    fake_push_reply(fx->f, &r, false);
    assert_int_equal(valija_case(fx->conn, "C1", true, &res), VALIJA_INTERNAL);
    assert_null(res);
    /* a bad case id is refused before sending */
    assert_int_equal(valija_case(fx->conn, "../etc", false, &res), VALIJA_INVALID);
    assert_int_equal(fake_count(fx->f), 2);
}

static void test_history_decodes_entries(void **state)
{
    fixture *fx = *state;
    Valija__CaseUpdate up = VALIJA__CASE_UPDATE__INIT;
    up.version = 1;
    up.case_id = "C1";
    up.kind = VALIJA__UPDATE_KIND__KIND_STATUS;
    up.status = "released";
    Valija__HistoryEntry e1 = VALIJA__HISTORY_ENTRY__INIT, e2 = VALIJA__HISTORY_ENTRY__INIT;
    e1.msg_id.data = (uint8_t *)ID1;
    e1.msg_id.len = 16;
    e1.origin = "mx-washington";
    e1.seq = 3;
    e1.kind = VALIJA__UPDATE_KIND__KIND_STATUS;
    e1.verified = 1;
    e1.applied = 1;
    e1.lamport = 12;
    e1.update = &up;
    e2.msg_id.data = (uint8_t *)ID2;
    e2.msg_id.len = 16;
    e2.origin = "sv-washington";
    e2.kind = VALIJA__UPDATE_KIND__KIND_CLOSED;
    e2.rejected_reason = "not an owner";
    Valija__HistoryEntry *es[] = {&e1, &e2};
    Valija__HistoryReply hr = VALIJA__HISTORY_REPLY__INIT;
    hr.n_entries = 2;
    hr.entries = es;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_HISTORY;
    r.history = &hr;
    fake_push_reply(fx->f, &r, false);
    valija_history_list *h = NULL;
    assert_int_equal(valija_history(fx->conn, "C1", &h), VALIJA_OK);
    Valija__ClientRequest *req = fake_request(fx->f, 0);
    assert_int_equal(req->body_case, VALIJA__CLIENT_REQUEST__BODY_HISTORY);
    assert_string_equal(req->history->case_id, "C1");
    vj_codec_free(&req->base);
    assert_int_equal(h->n_entries, 2);
    assert_memory_equal(h->entries[0].msg_id, ID1, 16);
    assert_int_equal(h->entries[0].seq, 3);
    assert_true(h->entries[0].verified);
    assert_int_equal(h->entries[0].kind, VALIJA_KIND_STATUS);
    assert_non_null(h->entries[0].update);
    assert_string_equal(h->entries[0].update->status, "released");
    assert_false(h->entries[1].applied);
    assert_string_equal(h->entries[1].rejected_reason, "not an owner");
    assert_null(h->entries[1].update);
    valija_history_free(&h);

    /* an entry without a message id, and one of an unknown kind */
    e2.msg_id.len = 0;
    fake_push_reply(fx->f, &r, false);
    assert_int_equal(valija_history(fx->conn, "C1", &h), VALIJA_INTERNAL);
    e2.msg_id.len = 16;
    e2.kind = (Valija__UpdateKind)40;
    fake_push_reply(fx->f, &r, false);
    assert_int_equal(valija_history(fx->conn, "C1", &h), VALIJA_INTERNAL);
    e2.kind = VALIJA__UPDATE_KIND__KIND_CLOSED;
    up.kind = (Valija__UpdateKind)40;
    fake_push_reply(fx->f, &r, false);
    assert_int_equal(valija_history(fx->conn, "C1", &h), VALIJA_INTERNAL);
    assert_null(h);
}

static void test_list_encodes_filter(void **state)
{
    fixture *fx = *state;
    Valija__CaseState st = VALIJA__CASE_STATE__INIT;
    st.case_id = "C9";
    Valija__CaseState *sts[] = {&st};
    Valija__ListReply lr = VALIJA__LIST_REPLY__INIT;
    lr.n_cases = 1;
    lr.cases = sts;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_LIST;
    r.list = &lr;
    fake_push_reply(fx->f, &r, false);
    valija_list_filter f = {.status = "detained",
                            .facility = "Dilley",
                            .shared_with = "sv-washington",
                            .updated_since_ms = 1000,
                            .conflicts_only = true,
                            .separated_only = true,
                            .limit = 5};
    valija_case_list *l = NULL;
    assert_int_equal(valija_list(fx->conn, &f, &l), VALIJA_OK);
    assert_int_equal(l->n_cases, 1);
    assert_string_equal(l->cases[0].case_id, "C9");
    valija_case_list_free(&l);
    Valija__ClientRequest *req = fake_request(fx->f, 0);
    assert_int_equal(req->body_case, VALIJA__CLIENT_REQUEST__BODY_LIST);
    assert_string_equal(req->list->status, "detained");
    assert_string_equal(req->list->facility, "Dilley");
    assert_string_equal(req->list->shared_with, "sv-washington");
    assert_int_equal(req->list->updated_since_ms, 1000);
    assert_true(req->list->conflicts_only);
    assert_true(req->list->separated_only);
    assert_int_equal(req->list->limit, 5);
    vj_codec_free(&req->base);

    /* no filter at all */
    fake_push_reply(fx->f, &r, false);
    assert_int_equal(valija_list(fx->conn, NULL, &l), VALIJA_OK);
    valija_case_list_free(&l);
    /* a bad post name is refused before sending */
    valija_list_filter bad = {.shared_with = "Not A Post"};
    assert_int_equal(valija_list(fx->conn, &bad, &l), VALIJA_INVALID);
    assert_int_equal(fake_count(fx->f), 2);
}

static void test_status_and_peers(void **state)
{
    fixture *fx = *state;
    Valija__RecipientStatus rs = VALIJA__RECIPIENT_STATUS__INIT;
    rs.post = "sv-washington";
    rs.delivered = 1;
    rs.receipt_ms = 1700000000999;
    rs.attempts = 2;
    Valija__RecipientStatus *rss[] = {&rs};
    Valija__DeliveryReply dr = VALIJA__DELIVERY_REPLY__INIT;
    dr.msg_id.data = (uint8_t *)ID1;
    dr.msg_id.len = 16;
    dr.origin = "mx-washington";
    dr.n_recipients = 1;
    dr.recipients = rss;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_DELIVERY;
    r.delivery = &dr;
    fake_push_reply(fx->f, &r, false);
    valija_delivery *d = NULL;
    assert_int_equal(valija_status(fx->conn, ID1, &d), VALIJA_OK);
    assert_memory_equal(d->msg_id, ID1, 16);
    assert_int_equal(d->n_recipients, 1);
    assert_true(d->recipients[0].delivered);
    assert_int_equal(d->recipients[0].attempts, 2);
    assert_null(d->recipients[0].receipt);
    valija_delivery_free(&d);
    Valija__ClientRequest *req = fake_request(fx->f, 0);
    assert_int_equal(req->body_case, VALIJA__CLIENT_REQUEST__BODY_STATUS);
    assert_int_equal(req->status->msg_id.len, 16);
    assert_memory_equal(req->status->msg_id.data, ID1, 16);
    vj_codec_free(&req->base);

    /* The signed receipt comes through as the daemon holds it. */
    static uint8_t body[40], sig[64];
    memset(body, 0x5a, sizeof body);
    memset(sig, 0xa5, sizeof sig);
    rs.receipt_body.data = body;
    rs.receipt_body.len = sizeof body;
    rs.receipt_signature.data = sig;
    rs.receipt_signature.len = sizeof sig;
    fake_push_reply(fx->f, &r, false);
    assert_int_equal(valija_status(fx->conn, ID1, &d), VALIJA_OK);
    assert_int_equal(d->recipients[0].receipt_len, sizeof body);
    assert_memory_equal(d->recipients[0].receipt, body, sizeof body);
    assert_int_equal(d->recipients[0].receipt_signature_len, 64);
    assert_memory_equal(d->recipients[0].receipt_signature, sig, 64);
    valija_delivery_free(&d);
    /* A signature of the wrong size, or a body without one, is refused. */
    rs.receipt_signature.len = 63;
    fake_push_reply(fx->f, &r, false);
    assert_int_equal(valija_status(fx->conn, ID1, &d), VALIJA_INTERNAL);
    assert_null(d);
    rs.receipt_signature.len = 0;
    fake_push_reply(fx->f, &r, false);
    assert_int_equal(valija_status(fx->conn, ID1, &d), VALIJA_INTERNAL);
    rs.receipt_body.len = 0;
    rs.receipt_signature.len = 0;
    for (int i = 1; i <= 3; i++)
        vj_codec_free(&fake_request(fx->f, (size_t)i)->base);

    Valija__PeerStatus ps = VALIJA__PEER_STATUS__INIT;
    ps.post = "gt-washington";
    ps.connected = 1;
    ps.backlog = 4;
    ps.fingerprint = "ABCD EFGH";
    Valija__PeerStatus *pss[] = {&ps};
    Valija__PeersReply pr = VALIJA__PEERS_REPLY__INIT;
    pr.post = "mx-washington";
    pr.n_peers = 1;
    pr.peers = pss;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_PEERS;
    r.peers = &pr;
    fake_push_reply(fx->f, &r, false);
    valija_peer_list *p = NULL;
    assert_int_equal(valija_peers(fx->conn, &p), VALIJA_OK);
    assert_string_equal(p->post, "mx-washington");
    assert_int_equal(p->n_peers, 1);
    assert_int_equal(p->peers[0].backlog, 4);
    assert_string_equal(p->peers[0].endpoint, "");
    valija_peer_list_free(&p);
    req = fake_request(fx->f, 4);
    assert_int_equal(req->body_case, VALIJA__CLIENT_REQUEST__BODY_PEERS);
    vj_codec_free(&req->base);
}

/* ---- watch ------------------------------------------------------------------- */

typedef struct {
    int events;
    int ticks;
    int stop_after;
    char last_origin[64];
} s_watch_seen;

static int s_watch_cb(const valija_history_entry *e, void *arg)
{
    s_watch_seen *w = arg;
    if (e == NULL) {
        w->ticks++;
        return 0;
    }
    w->events++;
    snprintf(w->last_origin, sizeof w->last_origin, "%s", e->origin);
    return w->events >= w->stop_after;
}

static void s_push_event(fake *f, const char *origin, bool more)
{
    Valija__HistoryEntry e = VALIJA__HISTORY_ENTRY__INIT;
    e.msg_id.data = (uint8_t *)ID2;
    e.msg_id.len = 16;
    e.origin = (char *)origin;
    e.kind = VALIJA__UPDATE_KIND__KIND_NOTE;
    Valija__WatchEvent ev = VALIJA__WATCH_EVENT__INIT;
    ev.entry = &e;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_EVENT;
    r.event = &ev;
    fake_push_reply(f, &r, more);
}

static void s_push_watch_ok(fake *f)
{
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    fake_push_reply(f, &r, true);
}

static void test_watch_delivers_until_stopped(void **state)
{
    fixture *fx = *state;
    s_push_watch_ok(fx->f);
    s_push_event(fx->f, "mx-washington", true);
    s_push_event(fx->f, "sv-washington", false);
    s_watch_seen w = {.stop_after = 2};
    assert_int_equal(valija_watch(fx->conn, "C1", s_watch_cb, &w), VALIJA_OK);
    assert_int_equal(w.events, 2);
    assert_string_equal(w.last_origin, "sv-washington");
    Valija__ClientRequest *req = fake_request(fx->f, 0);
    assert_int_equal(req->body_case, VALIJA__CLIENT_REQUEST__BODY_WATCH);
    assert_string_equal(req->watch->case_id, "C1");
    vj_codec_free(&req->base);
}

static void test_watch_daemon_goes_away(void **state)
{
    fixture *fx = *state;
    s_push_watch_ok(fx->f);
    s_push_event(fx->f, "mx-washington", true);
    fake_push(fx->f, FAKE_CLOSE, NULL, 0);
    s_watch_seen w = {.stop_after = 100};
    assert_int_equal(valija_watch(fx->conn, NULL, s_watch_cb, &w), VALIJA_UNREACHABLE);
    assert_true(w.events <= 1);
    assert_non_null(strstr(valija_last_error(fx->conn), "closed the connection"));
    Valija__ClientRequest *req = fake_request(fx->f, 0);
    assert_string_equal(req->watch->case_id, "");
    vj_codec_free(&req->base);
}

static void test_watch_refused_and_broken(void **state)
{
    fixture *fx = *state;
    s_watch_seen w = {.stop_after = 1};
    fake_push_status(fx->f, VALIJA__REPLY_STATUS__REPLY_NOT_FOUND, "no case C1");
    assert_int_equal(valija_watch(fx->conn, "C1", s_watch_cb, &w), VALIJA_NOT_FOUND);
    assert_string_equal(valija_last_error(fx->conn), "no case C1");
    /* an event before the confirmation */
    s_push_event(fx->f, "mx-washington", false);
    assert_int_equal(valija_watch(fx->conn, "C1", s_watch_cb, &w), VALIJA_INTERNAL);
    /* a confirmation, then junk */
    s_push_watch_ok(fx->f);
    const uint8_t junk[] = {0x0a, 0xff};
    fake_push(fx->f, FAKE_REPLY, junk, sizeof junk);
    assert_int_equal(valija_watch(fx->conn, "C1", s_watch_cb, &w), VALIJA_INTERNAL);
    /* a silent daemon */
    assert_int_equal(valija_set_timeout(fx->conn, 200), VALIJA_OK);
    fake_push(fx->f, FAKE_SILENT, NULL, 0);
    assert_int_equal(valija_watch(fx->conn, "C1", s_watch_cb, &w), VALIJA_UNREACHABLE);
    assert_int_equal(w.events, 0);
    /* bad arguments */
    assert_int_equal(valija_watch(fx->conn, "C 1", s_watch_cb, &w), VALIJA_INVALID);
    assert_int_equal(valija_watch(fx->conn, "C1", NULL, &w), VALIJA_INVALID);
}

/* ---- text forms -------------------------------------------------------------- */

static void test_msgid_hex(void **state)
{
    (void)state;
    char hex[33];
    valija_msgid_to_hex(ID1, hex);
    assert_string_equal(hex, "0123456789abcdef1032547698badcfe");
    uint8_t back[16];
    assert_int_equal(valija_msgid_from_hex(hex, back), VALIJA_OK);
    assert_memory_equal(back, ID1, 16);
    assert_int_equal(valija_msgid_from_hex("0123456789ABCDEF1032547698BADCFE", back), VALIJA_OK);
    assert_memory_equal(back, ID1, 16);
    memset(back, 0x5a, 16);
    assert_int_equal(valija_msgid_from_hex("0123456789abcdef1032547698badcf", back),
                     VALIJA_INVALID);
    assert_int_equal(valija_msgid_from_hex("0123456789abcdef1032547698badcfe0", back),
                     VALIJA_INVALID);
    assert_int_equal(valija_msgid_from_hex("0123456789abcdef1032547698badcfg", back),
                     VALIJA_INVALID);
    assert_int_equal(valija_msgid_from_hex("", back), VALIJA_INVALID);
    assert_int_equal(valija_msgid_from_hex(NULL, back), VALIJA_INVALID);
    assert_int_equal(back[0], 0x5a); /* untouched on failure */
}

static void test_time_text(void **state)
{
    (void)state;
    char t[VALIJA_TIME_TEXT_LEN];
    valija_time_format(1795828468123, t);
    assert_string_equal(t, "2026-11-28T01:14:28.123Z");
    valija_time_format(0, t);
    assert_string_equal(t, "");
    valija_time_format(-5, t);
    assert_string_equal(t, "");
    int64_t ms = 0;
    assert_int_equal(valija_time_parse("2026-11-28T01:14:28.123Z", &ms), VALIJA_OK);
    assert_int_equal(ms, 1795828468123);
    assert_int_equal(valija_time_parse("2026-11-28T01:14:28Z", &ms), VALIJA_OK);
    assert_int_equal(ms, 1795828468000);
    assert_int_equal(valija_time_parse("2026-11-28", &ms), VALIJA_OK);
    assert_int_equal(ms, 1795824000000);
    const char *bad[] = {"",
                         "2026-11-28T01:14:28",
                         "2026-13-01",
                         "2026-02-29",
                         "2026-11-31",
                         "2026-11-28T24:00:00Z",
                         "2026-11-28T01:14:28.12Z",
                         "26-11-28",
                         "2026-11-28 01:14:28Z",
                         "2026-11-28T01:14:28Z junk",
                         "1969-12-31",
                         "2026-11-28T01:14:28+01:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(valija_time_parse(bad[i], &ms), VALIJA_INVALID);
    assert_int_equal(valija_time_parse("2024-02-29", &ms), VALIJA_OK);
}

static void test_names(void **state)
{
    (void)state;
    const char *kinds[] = {"opened", "status", "location", "visit", "representation",
                           "note",   "link",   "share",    "closed"};
    for (size_t i = 0; i < 9; i++) {
        valija_kind k;
        assert_int_equal(valija_kind_from_name(kinds[i], &k), VALIJA_OK);
        assert_int_equal(k, (valija_kind)(i + 1));
        assert_string_equal(valija_kind_name(k), kinds[i]);
    }
    valija_kind k;
    assert_int_equal(valija_kind_from_name("unspecified", &k), VALIJA_INVALID);
    assert_int_equal(valija_kind_from_name("Opened", &k), VALIJA_INVALID);
    assert_string_equal(valija_kind_name((valija_kind)99), "unknown");
    valija_relation r;
    assert_int_equal(valija_relation_from_name("sibling", &r), VALIJA_OK);
    assert_int_equal(r, VALIJA_LINK_SIBLING);
    assert_int_equal(valija_relation_from_name("cousin", &r), VALIJA_INVALID);
    assert_string_equal(valija_relation_name(VALIJA_LINK_PARENT), "parent");
    assert_true(valija_case_id_is_valid("MX-2018-000123"));
    assert_false(valija_case_id_is_valid("MX 2018"));
    assert_true(valija_post_name_is_valid("mx-washington"));
    assert_false(valija_post_name_is_valid("-mx"));
    assert_string_equal(valija_strerror(VALIJA_UNREACHABLE), "valijad unreachable");
}

/* ---- families ---------------------------------------------------------------- */

static void s_member(Valija__FamilyMember *m, const char *id, Valija__FamilyRelation rel, bool held,
                     const char *status, const char *facility, const char *name)
{
    valija__family_member__init(m);
    m->case_id = (char *)id;
    m->relation = rel;
    m->held = held;
    m->status = (char *)status;
    m->facility = (char *)facility;
    m->owner = held ? "sv-washington" : "";
    m->name = (char *)name;
    m->updated_ms = held ? 42 : 0;
}

static void s_push_case_with_family(fake *f, Valija__Family *fam)
{
    Valija__CaseState st = VALIJA__CASE_STATE__INIT;
    st.case_id = "C1";
    st.status = "detained";
    Valija__CaseReply cr = VALIJA__CASE_REPLY__INIT;
    cr.state = &st;
    cr.family_members = fam;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_GET_CASE;
    r.get_case = &cr;
    fake_push_reply(f, &r, false);
}

static void test_case_family_members(void **state)
{
    fixture *fx = *state;
    Valija__FamilyMember m[3];
    Valija__FamilyMember *mp[3] = {&m[0], &m[1], &m[2]};
    s_member(&m[0], "C1", VALIJA__FAMILY_RELATION__FAMILY_SELF, true, "detained", "Dilley", "Ana");
    s_member(&m[1], "C2", VALIJA__FAMILY_RELATION__FAMILY_CHILD, true, "released", "", "");
    /* a member not held, for which a daemon sent more than its id */
    s_member(&m[2], "GT-9", VALIJA__FAMILY_RELATION__FAMILY_SIBLING, false, "guessed", "Karnes",
             "Guess");
    Valija__Family fam = VALIJA__FAMILY__INIT;
    fam.n_members = 3;
    fam.members = mp;
    fam.truncated = 1;
    s_push_case_with_family(fx->f, &fam);
    valija_case_result *res = NULL;
    assert_int_equal(valija_case(fx->conn, "C1", true, &res), VALIJA_OK);
    vj_codec_free(&fake_request(fx->f, 0)->base);
    const valija_family *fm = res->family_members;
    assert_non_null(fm);
    assert_int_equal(fm->n_members, 3);
    assert_true(fm->truncated);
    assert_int_equal(fm->members[0].relation, VALIJA_FAMILY_SELF);
    assert_string_equal(fm->members[0].name, "Ana");
    assert_int_equal(fm->members[1].relation, VALIJA_FAMILY_CHILD);
    assert_true(fm->members[1].held);
    assert_string_equal(fm->members[1].status, "released");
    assert_string_equal(fm->members[1].owner, "sv-washington");
    assert_int_equal(fm->members[1].updated_ms, 42);
    const valija_family_member *x = &fm->members[2];
    assert_false(x->held);
    assert_int_equal(x->relation, VALIJA_FAMILY_SIBLING);
    assert_string_equal(x->case_id, "GT-9");
    assert_string_equal(x->status, "");
    assert_string_equal(x->facility, "");
    assert_string_equal(x->name, "");
    valija_case_free(&res);

    /* without family, none */
    s_push_case_with_family(fx->f, NULL);
    assert_int_equal(valija_case(fx->conn, "C1", false, &res), VALIJA_OK);
    vj_codec_free(&fake_request(fx->f, 1)->base);
    assert_null(res->family_members);
    valija_case_free(&res);

    assert_string_equal(valija_family_relation_name(VALIJA_FAMILY_RELATED), "family");
    assert_string_equal(valija_family_relation_name(VALIJA_FAMILY_SELF), "self");
    assert_string_equal(valija_family_relation_name(VALIJA_FAMILY_SIBLING), "sibling");
    assert_string_equal(valija_family_relation_name((valija_family_relation)99), "unknown");
}

static void test_case_family_hostile(void **state)
{
    fixture *fx = *state;
    Valija__FamilyMember m[65];
    Valija__FamilyMember *mp[65];
    for (int i = 0; i < 65; i++) {
        char *id = malloc(16);
        assert_non_null(id);
        snprintf(id, 16, i == 0 ? "C1" : "M-%d", i);
        s_member(&m[i], id,
                 i == 0 ? VALIJA__FAMILY_RELATION__FAMILY_SELF
                        : VALIJA__FAMILY_RELATION__FAMILY_RELATED,
                 true, "detained", "", "");
        mp[i] = &m[i];
    }
    Valija__Family fam = VALIJA__FAMILY__INIT;
    fam.members = mp;
    valija_case_result *res = NULL;
    unsigned sent = 0;
    /* each breaks the family in one way; each must be refused */
    for (int k = 0; k < 8; k++) {
        fam.n_members = 3;
        m[0].relation = VALIJA__FAMILY_RELATION__FAMILY_SELF;
        m[1].relation = VALIJA__FAMILY_RELATION__FAMILY_RELATED;
        m[2].relation = VALIJA__FAMILY_RELATION__FAMILY_RELATED;
        char *keep_id = m[1].case_id, *keep_name = m[1].name, *keep0 = m[0].case_id;
        switch (k) {
        case 0:
            fam.n_members = 0;
            break;
        case 1:
            fam.n_members = 65;
            break;
        case 2:
            m[1].relation = (Valija__FamilyRelation)9;
            break;
        case 3:
            m[0].relation = VALIJA__FAMILY_RELATION__FAMILY_CHILD;
            break;
        case 4:
            m[2].relation = VALIJA__FAMILY_RELATION__FAMILY_SELF;
            break;
        case 5:
            m[1].case_id = "not a case";
            break;
        case 6:
            m[1].name = "\x01\x02";
            break; /* control characters in a held member */
        case 7:
            m[0].case_id = "C9";
            break; /* the family of another case */
        }
        s_push_case_with_family(fx->f, &fam);
        assert_int_equal(valija_case(fx->conn, "C1", true, &res), VALIJA_INTERNAL);
        assert_null(res);
        assert_true(strlen(valija_last_error(fx->conn)) > 0);
        vj_codec_free(&fake_request(fx->f, sent++)->base);
        m[1].case_id = keep_id;
        m[1].name = keep_name;
        m[0].case_id = keep0;
    }
    /* the largest family allowed is fine */
    fam.n_members = 64;
    s_push_case_with_family(fx->f, &fam);
    assert_int_equal(valija_case(fx->conn, "C1", true, &res), VALIJA_OK);
    assert_int_equal(res->family_members->n_members, 64);
    valija_case_free(&res);
    vj_codec_free(&fake_request(fx->f, sent++)->base);
    for (int i = 0; i < 65; i++)
        free(m[i].case_id);
}

static void test_list_separated_families(void **state)
{
    fixture *fx = *state;
    Valija__FamilyMember a[2], b[3];
    Valija__FamilyMember *ap[2] = {&a[0], &a[1]}, *bp[3] = {&b[0], &b[1], &b[2]};
    s_member(&a[0], "SV-C2", VALIJA__FAMILY_RELATION__FAMILY_SELF, true, "in custody", "Karnes",
             "Eva");
    s_member(&a[1], "MX-M", VALIJA__FAMILY_RELATION__FAMILY_PARENT, true, "detained", "Port Isabel",
             "Ana");
    s_member(&b[0], "K-2", VALIJA__FAMILY_RELATION__FAMILY_SELF, true, "repatriated", "", "");
    s_member(&b[1], "K-1", VALIJA__FAMILY_RELATION__FAMILY_SIBLING, true, "reunited", "", "");
    s_member(&b[2], "GT-1", VALIJA__FAMILY_RELATION__FAMILY_RELATED, false, "", "", "");
    Valija__Family fa = VALIJA__FAMILY__INIT, fb = VALIJA__FAMILY__INIT;
    fa.n_members = 2;
    fa.members = ap;
    fb.n_members = 3;
    fb.members = bp;
    Valija__Family *fams[2] = {&fa, &fb};
    Valija__ListReply lr = VALIJA__LIST_REPLY__INIT;
    lr.n_families = 2;
    lr.families = fams;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_LIST;
    r.list = &lr;
    fake_push_reply(fx->f, &r, false);
    valija_list_filter filter = {.separated_only = true, .limit = 7};
    valija_case_list *l = NULL;
    assert_int_equal(valija_list(fx->conn, &filter, &l), VALIJA_OK);
    Valija__ClientRequest *req = fake_request(fx->f, 0);
    assert_true(req->list->separated_only);
    assert_int_equal(req->list->limit, 7);
    vj_codec_free(&req->base);
    assert_int_equal(l->n_cases, 0);
    assert_int_equal(l->n_families, 2);
    assert_string_equal(l->families[0].members[1].facility, "Port Isabel");
    assert_int_equal(l->families[0].members[1].relation, VALIJA_FAMILY_PARENT);
    assert_int_equal(l->families[1].n_members, 3);
    assert_false(l->families[1].members[2].held);
    valija_case_list_free(&l);

    /* one broken family spoils the reply */
    b[2].case_id = "";
    fake_push_reply(fx->f, &r, false);
    assert_int_equal(valija_list(fx->conn, &filter, &l), VALIJA_INTERNAL);
    assert_null(l);
    vj_codec_free(&fake_request(fx->f, 1)->base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_refuses_bad_endpoints),
        cmocka_unit_test(test_open_default_and_env),
        cmocka_unit_test(test_missing_socket_is_unreachable),
        cmocka_unit_test_setup_teardown(test_submit_encodes_update, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_submit_minimal_leaves_rest_unset, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_submit_chunks_of_256, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_submit_partial_failure_counts_done, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_submit_invalid_sends_nothing, s_setup, s_teardown),
        cmocka_unit_test(test_update_check_names_the_field),
        cmocka_unit_test_setup_teardown(test_submit_wrong_id_count_is_internal, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_every_status_maps, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_reply, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_version, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_oneof, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_multipart_reply_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_oversized_reply, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_silent_daemon_times_out, s_setup, s_teardown),
        cmocka_unit_test(test_timeout_from_env),
        cmocka_unit_test_setup_teardown(test_invalid_text_in_reply, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_case_decodes_state_and_family, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_case_family_members, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_case_family_hostile, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_list_separated_families, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_history_decodes_entries, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_list_encodes_filter, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_status_and_peers, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_watch_delivers_until_stopped, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_watch_daemon_goes_away, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_watch_refused_and_broken, s_setup, s_teardown),
        cmocka_unit_test(test_msgid_hex),
        cmocka_unit_test(test_time_text),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
