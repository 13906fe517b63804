/* test_receipt.c - delivery receipts.  A sender relies on a receipt that
 * verifies being proof that the named post stored exactly these message ids
 * from it: receipts from another post, for another sender, altered in any
 * byte, or made from a signature of another kind are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vj_receipt.h"

typedef struct {
    uint8_t seed[32];
    vj_identity *id;
    vj_card card;
    vj_keyring *kr;
} post_t;

typedef struct {
    post_t alpha, bravo, charlie;
    uint8_t ids[3 * 16];
} world;

static void s_post_new(post_t *p, const char *name)
{
    uint8_t box[32], curve[32];
    randombytes_buf(p->seed, 32);
    randombytes_buf(box, 32);
    randombytes_buf(curve, 32);
    assert_int_equal(vj_identity_from_secrets(name, p->seed, box, curve, &p->id), VJ_OK);
    assert_int_equal(vj_card_from_identity(p->id, &p->card), VJ_OK);
    assert_int_equal(vj_keyring_new(p->id, &p->kr), VJ_OK);
}

static int setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    s_post_new(&w->alpha, "mx-washington");
    s_post_new(&w->bravo, "sv-washington");
    s_post_new(&w->charlie, "gt-houston");
    post_t *all[] = {&w->alpha, &w->bravo, &w->charlie};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (i != j)
                assert_int_equal(vj_keyring_add(all[i]->kr, &all[j]->card), VJ_OK);
    randombytes_buf(w->ids, sizeof w->ids);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    post_t *all[] = {&w->alpha, &w->bravo, &w->charlie};
    for (int i = 0; i < 3; i++) {
        vj_keyring_destroy(&all[i]->kr);
        vj_identity_destroy(&all[i]->id);
    }
    free(w);
    return 0;
}

/* bravo received w->ids from alpha and signs a receipt */
static void s_bravo_signs(world *w, uint8_t **body, size_t *len, uint8_t sig[64])
{
    assert_int_equal(
        vj_receipt_sign(w->bravo.kr, "mx-washington", 1528000001234, w->ids, 3, body, len, sig),
        VJ_OK);
}

static int s_verify(const post_t *at, const char *receiver, const uint8_t *body, size_t len,
                    const uint8_t *sig, size_t sig_len)
{
    Valija__ReceiptBody *rb = NULL;
    int r = vj_receipt_verify(at->kr, receiver, body, len, sig, sig_len, &rb);
    if (r != VJ_OK)
        assert_null(rb);
    vj_codec_free((ProtobufCMessage *)rb);
    return r;
}

/* Signs tag || body with the post's own seed (for crafted bodies). */
static void s_sign_raw(const post_t *p, const char *tag, const uint8_t *body, size_t len,
                       uint8_t sig[64])
{
    uint8_t pk[32], sk[64];
    size_t tl = strlen(tag);
    uint8_t *m = malloc(tl + len + 1);
    memcpy(m, tag, tl);
    memcpy(m + tl, body, len);
    crypto_sign_seed_keypair(pk, sk, p->seed);
    crypto_sign_detached(sig, NULL, m, tl + len, sk);
    sodium_memzero(sk, sizeof sk);
    free(m);
}

static void test_round_trip(void **state)
{
    world *w = *state;
    uint8_t *body = NULL, sig[64];
    size_t len = 0;
    s_bravo_signs(w, &body, &len, sig);
    Valija__ReceiptBody *rb = NULL;
    assert_int_equal(vj_receipt_verify(w->alpha.kr, "sv-washington", body, len, sig, 64, &rb),
                     VJ_OK);
    assert_int_equal(rb->version, 1);
    assert_string_equal(rb->receiver, "sv-washington");
    assert_string_equal(rb->sender, "mx-washington");
    assert_int_equal(rb->stored_ms, 1528000001234);
    assert_int_equal(rb->n_msg_ids, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rb->msg_ids[i].len, 16);
        assert_memory_equal(rb->msg_ids[i].data, w->ids + 16 * i, 16);
    }
    vj_codec_free((ProtobufCMessage *)rb);
    /* the signature is over the specified bytes */
    uint8_t *m = malloc(17 + len);
    memcpy(m, "VALIJA-RECEIPT-V1", 17);
    memcpy(m + 17, body, len);
    assert_int_equal(crypto_sign_verify_detached(sig, m, 17 + len, w->bravo.card.sign_pk), 0);
    free(m);
    free(body);
}

static void test_wrong_receiver_or_sender_rejected(void **state)
{
    world *w = *state;
    uint8_t *body = NULL, sig[64];
    size_t len = 0;
    s_bravo_signs(w, &body, &len, sig);
    /* alpha expected the receipt from charlie */
    assert_int_equal(s_verify(&w->alpha, "gt-houston", body, len, sig, 64), VJ_E_AUTH);
    /* a receipt to alpha shown to charlie (charlie is not its sender) */
    assert_int_equal(s_verify(&w->charlie, "sv-washington", body, len, sig, 64), VJ_E_AUTH);
    /* an unpinned receiver */
    assert_int_equal(s_verify(&w->alpha, "hn-dallas", body, len, sig, 64), VJ_E_AUTH);
    /* charlie signs a body that claims to be bravo's */
    s_sign_raw(&w->charlie, "VALIJA-RECEIPT-V1", body, len, sig);
    assert_int_equal(s_verify(&w->alpha, "sv-washington", body, len, sig, 64), VJ_E_AUTH);
    free(body);
}

static void test_every_flipped_byte_rejected(void **state)
{
    world *w = *state;
    uint8_t *body = NULL, sig[64];
    size_t len = 0;
    s_bravo_signs(w, &body, &len, sig);
    for (size_t i = 0; i < len; i++) {
        body[i] ^= 0x20;
        assert_int_not_equal(s_verify(&w->alpha, "sv-washington", body, len, sig, 64), VJ_OK);
        body[i] ^= 0x20;
    }
    for (size_t i = 0; i < 64; i++) {
        sig[i] ^= 0x01;
        assert_int_equal(s_verify(&w->alpha, "sv-washington", body, len, sig, 64), VJ_E_AUTH);
        sig[i] ^= 0x01;
    }
    for (size_t n = 0; n < len; n++)
        assert_int_not_equal(s_verify(&w->alpha, "sv-washington", body, n, sig, 64), VJ_OK);
    assert_int_equal(s_verify(&w->alpha, "sv-washington", body, len, sig, 63), VJ_E_PARSE);
    assert_int_equal(s_verify(&w->alpha, "sv-washington", body, len, sig, 64), VJ_OK);
    free(body);
}

static void test_signatures_of_other_kinds_rejected(void **state)
{
    world *w = *state;
    uint8_t *body = NULL, sig[64];
    size_t len = 0;
    s_bravo_signs(w, &body, &len, sig);
    /* the same body signed without the tag, or under the card's or the
     * envelope's tag, is no receipt */
    uint8_t other[64];
    s_sign_raw(&w->bravo, "", body, len, other);
    assert_int_equal(s_verify(&w->alpha, "sv-washington", body, len, other, 64), VJ_E_AUTH);
    s_sign_raw(&w->bravo, "VALIJA-CARD-V1", body, len, other);
    assert_int_equal(s_verify(&w->alpha, "sv-washington", body, len, other, 64), VJ_E_AUTH);
    s_sign_raw(&w->bravo, "VALIJA-ENVELOPE-V1", body, len, other);
    assert_int_equal(s_verify(&w->alpha, "sv-washington", body, len, other, 64), VJ_E_AUTH);
    /* bravo's card signature, presented as a receipt over the card's bytes */
    uint8_t canon[256];
    size_t n = 0, pl = strlen(w->bravo.card.post);
    canon[n++] = (uint8_t)pl;
    memcpy(canon + n, w->bravo.card.post, pl);
    n += pl;
    memcpy(canon + n, w->bravo.card.sign_pk, 96);
    n += 96;
    assert_int_not_equal(
        s_verify(&w->alpha, "sv-washington", canon, n, w->bravo.card.signature, 64), VJ_OK);
    assert_int_not_equal(
        s_verify(&w->alpha, "sv-washington", body, len, w->bravo.card.signature, 64), VJ_OK);
    free(body);
}

static void s_craft(world *w, uint32_t version, size_t n_ids, size_t id_len, uint8_t **body,
                    size_t *len, uint8_t sig[64])
{
    ProtobufCBinaryData *bins = calloc(n_ids + 1, sizeof *bins);
    uint8_t *idbuf = calloc(n_ids + 1, 32);
    for (size_t i = 0; i < n_ids; i++) {
        bins[i].data = idbuf + 32 * i;
        bins[i].len = id_len;
    }
    Valija__ReceiptBody rb = VALIJA__RECEIPT_BODY__INIT;
    rb.version = version;
    rb.receiver = (char *)"sv-washington";
    rb.sender = (char *)"mx-washington";
    rb.stored_ms = 1;
    rb.n_msg_ids = n_ids;
    rb.msg_ids = bins;
    assert_int_equal(vj_codec_pack(&rb.base, body, len), VJ_OK);
    s_sign_raw(&w->bravo, "VALIJA-RECEIPT-V1", *body, *len, sig);
    free(bins);
    free(idbuf);
}

static void test_malformed_bodies_rejected(void **state)
{
    world *w = *state;
    uint8_t *body = NULL, sig[64];
    size_t len = 0;
    s_craft(w, 1, 2, 16, &body, &len, sig);
    assert_int_equal(s_verify(&w->alpha, "sv-washington", body, len, sig, 64), VJ_OK);
    free(body);
    s_craft(w, 2, 2, 16, &body, &len, sig);
    assert_int_equal(s_verify(&w->alpha, "sv-washington", body, len, sig, 64), VJ_E_VERSION);
    free(body);
    s_craft(w, 0, 2, 16, &body, &len, sig);
    assert_int_equal(s_verify(&w->alpha, "sv-washington", body, len, sig, 64), VJ_E_VERSION);
    free(body);
    s_craft(w, 1, 2, 15, &body, &len, sig);
    assert_int_equal(s_verify(&w->alpha, "sv-washington", body, len, sig, 64), VJ_E_PARSE);
    free(body);
    s_craft(w, 1, 2, 17, &body, &len, sig);
    assert_int_equal(s_verify(&w->alpha, "sv-washington", body, len, sig, 64), VJ_E_PARSE);
    free(body);
    s_craft(w, 1, 0, 16, &body, &len, sig);
    assert_int_equal(s_verify(&w->alpha, "sv-washington", body, len, sig, 64), VJ_E_PARSE);
    free(body);
    s_craft(w, 1, 4096, 16, &body, &len, sig);
    assert_int_equal(s_verify(&w->alpha, "sv-washington", body, len, sig, 64), VJ_OK);
    free(body);
    s_craft(w, 1, 4097, 16, &body, &len, sig);
    assert_int_equal(s_verify(&w->alpha, "sv-washington", body, len, sig, 64), VJ_E_PARSE);
    free(body);
    uint8_t *big = calloc(1, 128 * 1024 + 1);
    assert_int_equal(s_verify(&w->alpha, "sv-washington", big, 128 * 1024 + 1, sig, 64),
                     VJ_E_TOOBIG);
    memset(big, 0xff, 64);
    assert_int_equal(s_verify(&w->alpha, "sv-washington", big, 64, sig, 64), VJ_E_PARSE);
    free(big);
}

static void test_sign_rejects_bad_arguments(void **state)
{
    world *w = *state;
    uint8_t *body = NULL, sig[64];
    size_t len = 0;
    assert_int_equal(vj_receipt_sign(w->bravo.kr, "mx-washington", 1, w->ids, 0, &body, &len, sig),
                     VJ_E_INVAL);
    assert_int_equal(vj_receipt_sign(w->bravo.kr, "MX", 1, w->ids, 1, &body, &len, sig),
                     VJ_E_INVAL);
    assert_int_equal(vj_receipt_sign(w->bravo.kr, "mx-washington", 1, NULL, 1, &body, &len, sig),
                     VJ_E_INVAL);
    assert_null(body);
}

int main(void)
{
    if (vj_keys_init() != VJ_OK)
        return 1;
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_round_trip),
        T(test_wrong_receiver_or_sender_rejected),
        T(test_every_flipped_byte_rejected),
        T(test_signatures_of_other_kinds_rejected),
        T(test_malformed_bodies_rejected),
        T(test_sign_rejects_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
