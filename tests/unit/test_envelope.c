/* test_envelope.c - sealing and opening envelopes.  What posts rely on: every
 * recipient, and only a recipient, reads the update; nothing altered on the
 * way (a bit, a length, a recipient, a signature, a ciphertext from another
 * envelope) is ever accepted; envelopes from posts without a pinned card are
 * refused; and an envelope built from docs/protocol.md alone, with libsodium
 * and protobuf-c, is accepted - so the specification is the implementation.
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

#include "vj_envelope.h"

#define MAXLEN VJ_ENVELOPE_MAX_DEFAULT

typedef struct {
    char post[VJ_POST_NAME_MAX + 1];
    uint8_t seed[32], box_sk[32], curve_sk[32];
    vj_identity *id;
    vj_card card;
    vj_keyring *kr;
} post_t;

static void s_post_new(post_t *p, const char *name)
{
    memset(p, 0, sizeof *p);
    snprintf(p->post, sizeof p->post, "%s", name);
    randombytes_buf(p->seed, 32);
    randombytes_buf(p->box_sk, 32);
    randombytes_buf(p->curve_sk, 32);
    assert_int_equal(vj_identity_from_secrets(name, p->seed, p->box_sk, p->curve_sk, &p->id),
                     VJ_OK);
    assert_int_equal(vj_card_from_identity(p->id, &p->card), VJ_OK);
    assert_int_equal(vj_keyring_new(p->id, &p->kr), VJ_OK);
}

static void s_post_free(post_t *p)
{
    vj_keyring_destroy(&p->kr);
    vj_identity_destroy(&p->id);
}

static void s_pin(post_t *a, const post_t *b)
{
    assert_int_equal(vj_keyring_add(a->kr, &b->card), VJ_OK);
}

typedef struct {
    post_t alpha, bravo, charlie, delta;
} world;

static int setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    s_post_new(&w->alpha, "mx-washington");
    s_post_new(&w->bravo, "sv-washington");
    s_post_new(&w->charlie, "gt-houston");
    s_post_new(&w->delta, "hn-dallas");
    s_pin(&w->alpha, &w->bravo);
    s_pin(&w->alpha, &w->charlie);
    s_pin(&w->bravo, &w->alpha);
    s_pin(&w->bravo, &w->charlie);
    s_pin(&w->charlie, &w->alpha);
    s_pin(&w->charlie, &w->bravo);
    s_pin(&w->delta, &w->bravo); /* bravo does not know delta */
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    s_post_free(&w->alpha);
    s_post_free(&w->bravo);
    s_post_free(&w->charlie);
    s_post_free(&w->delta);
    free(w);
    return 0;
}

static const uint8_t s_update[] = "\x08\x01\x12\x0eMX-2018-000123\x18\x02";

static void s_seal(const post_t *from, const char *const *to, size_t n, const uint8_t *pt,
                   size_t len, uint8_t **env, size_t *env_len, uint8_t msg_id[16])
{
    vj_seal_params p = {.origin_seq = 7,
                        .created_ms = 1528000000000,
                        .payload = VALIJA__PAYLOAD_TYPE__PAYLOAD_CASE_UPDATE};
    vj_diag d = {""};
    int r = vj_envelope_seal(from->kr, to, n, &p, pt, len, msg_id, env, env_len, &d);
    if (r != VJ_OK)
        print_error("seal: %s\n", d.text);
    assert_int_equal(r, VJ_OK);
}

/* Opens and, on success, checks the plaintext is `expect`; returns the error. */
static int s_open(const post_t *at, const uint8_t *env, size_t len, const uint8_t *expect,
                  size_t expect_len, vj_envelope_info *info)
{
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    vj_diag d;
    vj_envelope_info tmp;
    int r = vj_envelope_open(at->kr, env, len, MAXLEN, info ? info : &tmp, &pt, &pt_len, &d);
    if (r == VJ_OK) {
        assert_int_equal(pt_len, expect_len);
        assert_memory_equal(pt, expect, expect_len);
    } else {
        assert_null(pt);
    }
    vj_envelope_plaintext_free(pt, pt_len);
    return r;
}

/* ---- the pieces of a sealed envelope, for tampering -------------------- */

typedef struct {
    uint32_t format;
    uint8_t hb[2 * VJ_HEADER_MAX];
    size_t hb_len;
    uint8_t *ct;
    size_t ct_len;
    uint8_t sig[64];
    size_t sig_len;
} parts_t;

static void s_split(const uint8_t *env, size_t len, parts_t *p)
{
    Valija__Envelope *e = valija__envelope__unpack(NULL, len, env);
    assert_non_null(e);
    p->format = e->format;
    assert_true(e->header.len <= sizeof p->hb);
    memcpy(p->hb, e->header.data, e->header.len);
    p->hb_len = e->header.len;
    p->ct = malloc(e->ciphertext.len);
    memcpy(p->ct, e->ciphertext.data, e->ciphertext.len);
    p->ct_len = e->ciphertext.len;
    memcpy(p->sig, e->signature.data, 64);
    p->sig_len = e->signature.len;
    valija__envelope__free_unpacked(e, NULL);
}

static void s_join(const parts_t *p, uint8_t **env, size_t *len)
{
    Valija__Envelope e = VALIJA__ENVELOPE__INIT;
    e.format = p->format;
    e.header.data = (uint8_t *)p->hb;
    e.header.len = p->hb_len;
    e.ciphertext.data = p->ct;
    e.ciphertext.len = p->ct_len;
    e.signature.data = (uint8_t *)p->sig;
    e.signature.len = p->sig_len;
    *len = valija__envelope__get_packed_size(&e);
    *env = malloc(*len);
    assert_int_equal(valija__envelope__pack(&e, *env), *len);
}

/* Ed25519 over the specification's M, with the post's seed. */
static void s_sign_m(const post_t *signer, const uint8_t *hb, size_t hb_len, const uint8_t *ct,
                     size_t ct_len, uint8_t sig[64])
{
    uint8_t pk[32], sk[64];
    size_t n = 18 + 8 + hb_len + 8 + ct_len;
    uint8_t *m = malloc(n), *q = m;
    memcpy(q, "VALIJA-ENVELOPE-V1", 18);
    q += 18;
    for (int i = 7; i >= 0; i--)
        *q++ = (uint8_t)((uint64_t)hb_len >> (8 * i));
    memcpy(q, hb, hb_len);
    q += hb_len;
    for (int i = 7; i >= 0; i--)
        *q++ = (uint8_t)((uint64_t)ct_len >> (8 * i));
    memcpy(q, ct, ct_len);
    crypto_sign_seed_keypair(pk, sk, signer->seed);
    crypto_sign_detached(sig, NULL, m, n, sk);
    sodium_memzero(sk, sizeof sk);
    free(m);
}

/* ---- an envelope built from the specification alone ------------------- */

#define CRAFT_MAX 80

typedef struct {
    Valija__EnvelopeHeader h;
    Valija__Recipient r[CRAFT_MAX];
    Valija__Recipient *rp[CRAFT_MAX];
    char names[CRAFT_MAX][128];
    uint8_t msg_id[32], nonce[32], wn[CRAFT_MAX][32], wk[CRAFT_MAX][64];
    uint8_t key[32];
    uint8_t ad_extra;   /* nonzero: encrypt under a different AD */
    uint8_t hb_tail[8]; /* raw bytes appended to the serialized header */
    size_t hb_tail_len;
} craft_t;

static void s_craft_init(craft_t *c, const post_t *origin, const post_t *const *to, size_t n)
{
    memset(c, 0, sizeof *c);
    Valija__EnvelopeHeader h = VALIJA__ENVELOPE_HEADER__INIT;
    c->h = h;
    randombytes_buf(c->key, 32);
    randombytes_buf(c->msg_id, 16);
    randombytes_buf(c->nonce, 24);
    c->h.version = 1;
    c->h.msg_id.data = c->msg_id;
    c->h.msg_id.len = 16;
    c->h.origin = (char *)origin->post;
    c->h.origin_seq = 42;
    c->h.created_ms = 1530000000000;
    c->h.nonce.data = c->nonce;
    c->h.nonce.len = 24;
    c->h.payload = VALIJA__PAYLOAD_TYPE__PAYLOAD_CASE_UPDATE;
    for (size_t i = 0; i < n; i++) {
        Valija__Recipient r = VALIJA__RECIPIENT__INIT;
        c->r[i] = r;
        snprintf(c->names[i], sizeof c->names[i], "%s", to[i]->post);
        randombytes_buf(c->wn[i], 24);
        assert_int_equal(
            crypto_box_easy(c->wk[i], c->key, 32, c->wn[i], to[i]->card.box_pk, origin->box_sk), 0);
        c->r[i].post = c->names[i];
        c->r[i].wrap_nonce.data = c->wn[i];
        c->r[i].wrap_nonce.len = 24;
        c->r[i].wrapped_key.data = c->wk[i];
        c->r[i].wrapped_key.len = 48;
        c->rp[i] = &c->r[i];
    }
    c->h.n_recipients = n;
    c->h.recipients = c->rp;
}

static void s_craft_finish(craft_t *c, const post_t *signer, const uint8_t *pt, size_t len,
                           uint8_t **env, size_t *env_len)
{
    parts_t p;
    memset(&p, 0, sizeof p);
    p.format = 1;
    p.hb_len = valija__envelope_header__get_packed_size(&c->h);
    assert_true(p.hb_len <= sizeof p.hb);
    valija__envelope_header__pack(&c->h, p.hb);
    memcpy(p.hb + p.hb_len, c->hb_tail, c->hb_tail_len);
    p.hb_len += c->hb_tail_len;
    p.ct_len = len + 16;
    p.ct = malloc(p.ct_len);
    unsigned long long clen;
    uint8_t ad[2 * VJ_HEADER_MAX];
    memcpy(ad, p.hb, p.hb_len);
    ad[0] ^= c->ad_extra;
    crypto_aead_xchacha20poly1305_ietf_encrypt(p.ct, &clen, pt, len, ad, p.hb_len, NULL, c->nonce,
                                               c->key);
    s_sign_m(signer, p.hb, p.hb_len, p.ct, p.ct_len, p.sig);
    p.sig_len = 64;
    s_join(&p, env, env_len);
    free(p.ct);
}

/* ---- round trips -------------------------------------------------------- */

static void test_round_trip_one_recipient(void **state)
{
    world *w = *state;
    const char *to[] = {"sv-washington"};
    uint8_t *env = NULL, id[16];
    size_t len = 0;
    s_seal(&w->alpha, to, 1, s_update, sizeof s_update, &env, &len, id);
    vj_envelope_info info;
    assert_int_equal(s_open(&w->bravo, env, len, s_update, sizeof s_update, &info), VJ_OK);
    assert_memory_equal(info.msg_id, id, 16);
    assert_string_equal(info.origin, "mx-washington");
    assert_int_equal(info.origin_seq, 7);
    assert_int_equal(info.created_ms, 1528000000000);
    assert_int_equal(info.payload, VALIJA__PAYLOAD_TYPE__PAYLOAD_CASE_UPDATE);
    assert_int_equal(info.n_recipients, 1);
    assert_string_equal(info.recipients[0], "sv-washington");
    /* the origin is not a recipient: it cannot open its own envelope */
    assert_int_equal(s_open(&w->alpha, env, len, NULL, 0, NULL), VJ_E_NOTRECIPIENT);
    /* a relay that knows the origin can inspect it, not read it */
    vj_diag d;
    assert_int_equal(vj_envelope_inspect(w->charlie.kr, env, len, MAXLEN, &info, &d), VJ_OK);
    assert_string_equal(info.origin, "mx-washington");
    assert_int_equal(s_open(&w->charlie, env, len, NULL, 0, NULL), VJ_E_NOTRECIPIENT);
    /* two seals of the same update differ (fresh key, nonces, id) */
    uint8_t *env2 = NULL, id2[16];
    size_t len2 = 0;
    s_seal(&w->alpha, to, 1, s_update, sizeof s_update, &env2, &len2, id2);
    assert_memory_not_equal(id, id2, 16);
    assert_true(len != len2 || memcmp(env, env2, len) != 0);
    free(env);
    free(env2);
}

static void test_round_trip_64_recipients(void **state)
{
    world *w = *state;
    post_t *posts = calloc(64, sizeof *posts);
    const char *to[64];
    char names[64][16];
    for (int i = 0; i < 64; i++) {
        snprintf(names[i], sizeof names[i], "consulate-%02d", i);
        s_post_new(&posts[i], names[i]);
        s_pin(&posts[i], &w->alpha);
        s_pin(&w->alpha, &posts[i]);
        to[i] = posts[i].post;
    }
    uint8_t *env = NULL, id[16];
    size_t len = 0;
    uint8_t big[3000];
    randombytes_buf(big, sizeof big);
    s_seal(&w->alpha, to, 64, big, sizeof big, &env, &len, id);
    for (int i = 0; i < 64; i++) {
        vj_envelope_info info;
        assert_int_equal(s_open(&posts[i], env, len, big, sizeof big, &info), VJ_OK);
        assert_int_equal(info.n_recipients, 64);
        assert_string_equal(info.recipients[i], names[i]);
    }
    assert_int_equal(s_open(&w->bravo, env, len, NULL, 0, NULL), VJ_E_NOTRECIPIENT);
    free(env);
    for (int i = 0; i < 64; i++)
        s_post_free(&posts[i]);
    free(posts);
}

static void test_origin_as_recipient(void **state)
{
    world *w = *state;
    const char *to[] = {"sv-washington", "mx-washington", "gt-houston"};
    uint8_t *env = NULL, id[16];
    size_t len = 0;
    s_seal(&w->alpha, to, 3, s_update, sizeof s_update, &env, &len, id);
    assert_int_equal(s_open(&w->alpha, env, len, s_update, sizeof s_update, NULL), VJ_OK);
    assert_int_equal(s_open(&w->bravo, env, len, s_update, sizeof s_update, NULL), VJ_OK);
    assert_int_equal(s_open(&w->charlie, env, len, s_update, sizeof s_update, NULL), VJ_OK);
    free(env);
}

static void test_empty_plaintext(void **state)
{
    world *w = *state;
    const char *to[] = {"sv-washington"};
    uint8_t *env = NULL, id[16];
    size_t len = 0;
    s_seal(&w->alpha, to, 1, NULL, 0, &env, &len, id);
    assert_int_equal(s_open(&w->bravo, env, len, (const uint8_t *)"", 0, NULL), VJ_OK);
    free(env);
}

/* ---- tampering ---------------------------------------------------------- */

static void test_every_bit_flip_rejected(void **state)
{
    world *w = *state;
    const char *to[] = {"sv-washington"};
    uint8_t *env = NULL, id[16];
    size_t len = 0;
    s_seal(&w->alpha, to, 1, (const uint8_t *)"update", 6, &env, &len, id);
    assert_true(len < 400);
    for (size_t bit = 0; bit < len * 8; bit++) {
        env[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int r = s_open(&w->bravo, env, len, NULL, 0, NULL);
        if (r == VJ_OK)
            print_error("bit %zu accepted\n", bit);
        assert_int_not_equal(r, VJ_OK);
        vj_diag d;
        vj_envelope_info info;
        assert_int_not_equal(vj_envelope_inspect(w->bravo.kr, env, len, MAXLEN, &info, &d), VJ_OK);
        env[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(s_open(&w->bravo, env, len, (const uint8_t *)"update", 6, NULL), VJ_OK);
    free(env);
}

static void test_truncated_at_every_length_rejected(void **state)
{
    world *w = *state;
    const char *to[] = {"sv-washington"};
    uint8_t *env = NULL, id[16];
    size_t len = 0;
    s_seal(&w->alpha, to, 1, s_update, sizeof s_update, &env, &len, id);
    for (size_t n = 0; n < len; n++) {
        uint8_t *cut = malloc(n > 0 ? n : 1);
        memcpy(cut, env, n);
        assert_int_not_equal(s_open(&w->bravo, cut, n, NULL, 0, NULL), VJ_OK);
        free(cut);
    }
    free(env);
}

static void test_resigned_by_another_post_rejected(void **state)
{
    world *w = *state;
    const char *to[] = {"sv-washington"};
    uint8_t *env = NULL, *forged = NULL, id[16];
    size_t len = 0, flen = 0;
    s_seal(&w->alpha, to, 1, s_update, sizeof s_update, &env, &len, id);
    parts_t p;
    s_split(env, len, &p);

    /* charlie signs alpha's header and ciphertext: not alpha's signature */
    s_sign_m(&w->charlie, p.hb, p.hb_len, p.ct, p.ct_len, p.sig);
    s_join(&p, &forged, &flen);
    assert_int_equal(s_open(&w->bravo, forged, flen, NULL, 0, NULL), VJ_E_AUTH);
    free(forged);

    /* charlie claims the envelope as its own: origin changed, re-signed */
    Valija__EnvelopeHeader *h = valija__envelope_header__unpack(NULL, p.hb_len, p.hb);
    assert_non_null(h);
    char *old = h->origin;
    h->origin = (char *)"gt-houston";
    p.hb_len = valija__envelope_header__get_packed_size(h);
    valija__envelope_header__pack(h, p.hb);
    h->origin = old;
    valija__envelope_header__free_unpacked(h, NULL);
    s_sign_m(&w->charlie, p.hb, p.hb_len, p.ct, p.ct_len, p.sig);
    s_join(&p, &forged, &flen);
    vj_envelope_info info;
    vj_diag d;
    /* the signature is charlie's and valid, but the content key was not
     * wrapped by charlie and the header is not the AEAD's associated data */
    assert_int_equal(vj_envelope_inspect(w->bravo.kr, forged, flen, MAXLEN, &info, &d), VJ_OK);
    assert_int_equal(s_open(&w->bravo, forged, flen, NULL, 0, NULL), VJ_E_AUTH);
    free(forged);
    free(p.ct);
    free(env);
}

static void test_readdressed_rejected(void **state)
{
    world *w = *state;
    const char *to[] = {"sv-washington", "gt-houston"};
    uint8_t *env = NULL, id[16];
    size_t len = 0;
    s_seal(&w->alpha, to, 2, s_update, sizeof s_update, &env, &len, id);
    for (int variant = 0; variant < 4; variant++) {
        parts_t p;
        s_split(env, len, &p);
        Valija__EnvelopeHeader *h = valija__envelope_header__unpack(NULL, p.hb_len, p.hb);
        assert_non_null(h);
        char *saved = h->recipients[1]->post;
        size_t saved_n = h->n_recipients;
        Valija__Recipient *saved0 = h->recipients[0];
        if (variant == 0)
            h->recipients[1]->post = (char *)"hn-dallas"; /* renamed */
        else if (variant == 1)
            h->n_recipients = 1; /* dropped */
        else if (variant == 2)
            h->recipients[0] = h->recipients[1]; /* swapped key */
        else
            h->origin_seq = 8; /* any field */
        if (variant == 2)
            h->recipients[1] = saved0;
        p.hb_len = valija__envelope_header__get_packed_size(h);
        valija__envelope_header__pack(h, p.hb);
        if (variant == 2) {
            h->recipients[1] = h->recipients[0];
            h->recipients[0] = saved0;
        }
        h->recipients[1]->post = saved;
        h->n_recipients = saved_n;
        valija__envelope_header__free_unpacked(h, NULL);
        uint8_t *forged = NULL;
        size_t flen = 0;
        s_join(&p, &forged, &flen); /* the original signature kept */
        assert_int_equal(s_open(&w->bravo, forged, flen, NULL, 0, NULL), VJ_E_AUTH);
        assert_int_equal(s_open(&w->charlie, forged, flen, NULL, 0, NULL), VJ_E_AUTH);
        free(forged);
        free(p.ct);
    }
    free(env);
}

static void test_ciphertext_swap_rejected(void **state)
{
    world *w = *state;
    const char *to[] = {"sv-washington"};
    uint8_t *e1 = NULL, *e2 = NULL, id[16];
    size_t l1 = 0, l2 = 0;
    static const uint8_t other[] = "\x08\x01\x12\x0eMX-2018-000124\x18\x09";
    s_seal(&w->alpha, to, 1, s_update, sizeof s_update, &e1, &l1, id);
    s_seal(&w->alpha, to, 1, other, sizeof other, &e2, &l2, id);
    parts_t p1, p2;
    s_split(e1, l1, &p1);
    s_split(e2, l2, &p2);
    uint8_t *ct = p1.ct;
    size_t ct_len = p1.ct_len;
    p1.ct = p2.ct;
    p1.ct_len = p2.ct_len;
    p2.ct = ct;
    p2.ct_len = ct_len;
    uint8_t *f1 = NULL, *f2 = NULL;
    size_t fl1 = 0, fl2 = 0;
    s_join(&p1, &f1, &fl1);
    s_join(&p2, &f2, &fl2);
    assert_int_equal(s_open(&w->bravo, f1, fl1, NULL, 0, NULL), VJ_E_AUTH);
    assert_int_equal(s_open(&w->bravo, f2, fl2, NULL, 0, NULL), VJ_E_AUTH);
    /* even if the origin itself signed the mix, the AEAD binds the header */
    s_sign_m(&w->alpha, p1.hb, p1.hb_len, p1.ct, p1.ct_len, p1.sig);
    free(f1);
    s_join(&p1, &f1, &fl1);
    assert_int_equal(s_open(&w->bravo, f1, fl1, NULL, 0, NULL), VJ_E_AUTH);
    free(f1);
    free(f2);
    free(p1.ct);
    free(p2.ct);
    free(e1);
    free(e2);
}

static void test_not_recipient_and_unknown_origin(void **state)
{
    world *w = *state;
    const char *to[] = {"sv-washington"};
    uint8_t *env = NULL, id[16];
    size_t len = 0;
    s_seal(&w->delta, to, 1, s_update, sizeof s_update, &env, &len, id);
    vj_envelope_info info;
    vj_diag d;
    assert_int_equal(s_open(&w->bravo, env, len, NULL, 0, &info), VJ_E_UNKNOWN_ORIGIN);
    assert_int_equal(info.origin[0], '\0'); /* nothing reported before the signature */
    assert_int_equal(vj_envelope_inspect(w->bravo.kr, env, len, MAXLEN, &info, &d),
                     VJ_E_UNKNOWN_ORIGIN);
    assert_non_null(strstr(d.text, "hn-dallas"));
    free(env);

    s_seal(&w->alpha, to, 1, s_update, sizeof s_update, &env, &len, id);
    assert_int_equal(s_open(&w->charlie, env, len, NULL, 0, NULL), VJ_E_NOTRECIPIENT);
    free(env);
}

static void test_other_versions_rejected(void **state)
{
    world *w = *state;
    const char *to[] = {"sv-washington"};
    uint8_t *env = NULL, *forged = NULL, id[16];
    size_t len = 0, flen = 0;
    s_seal(&w->alpha, to, 1, s_update, sizeof s_update, &env, &len, id);
    parts_t p;
    s_split(env, len, &p);
    static const uint32_t formats[] = {0, 2, 0xffffffffu};
    for (size_t i = 0; i < 3; i++) {
        p.format = formats[i];
        s_join(&p, &forged, &flen);
        assert_int_equal(s_open(&w->bravo, forged, flen, NULL, 0, NULL), VJ_E_VERSION);
        free(forged);
    }
    free(p.ct);
    free(env);

    /* header version and payload type, properly signed */
    const post_t *rcpt[] = {&w->bravo};
    static const uint32_t versions[] = {0, 2};
    for (size_t i = 0; i < 2; i++) {
        craft_t *c = malloc(sizeof *c);
        s_craft_init(c, &w->alpha, rcpt, 1);
        c->h.version = versions[i];
        s_craft_finish(c, &w->alpha, s_update, sizeof s_update, &forged, &flen);
        assert_int_equal(s_open(&w->bravo, forged, flen, NULL, 0, NULL), VJ_E_VERSION);
        free(forged);
        s_craft_init(c, &w->alpha, rcpt, 1);
        c->h.payload = (Valija__PayloadType)(i == 0 ? 0 : 2);
        s_craft_finish(c, &w->alpha, s_update, sizeof s_update, &forged, &flen);
        assert_int_equal(s_open(&w->bravo, forged, flen, NULL, 0, NULL), VJ_E_VERSION);
        free(forged);
        free(c);
    }
}

static void test_oversize_rejected(void **state)
{
    world *w = *state;
    const char *to[] = {"sv-washington"};
    uint8_t *env = NULL, id[16], *pt = NULL;
    size_t len = 0, pt_len = 0;
    vj_diag d;
    s_seal(&w->alpha, to, 1, s_update, sizeof s_update, &env, &len, id);
    assert_int_equal(vj_envelope_open(w->bravo.kr, env, len, len - 1, NULL, &pt, &pt_len, &d),
                     VJ_E_TOOBIG);
    assert_int_equal(vj_envelope_open(w->bravo.kr, env, len, len, NULL, &pt, &pt_len, &d), VJ_OK);
    vj_envelope_plaintext_free(pt, pt_len);
    free(env);
    size_t big = MAXLEN + 1;
    uint8_t *huge = calloc(1, big);
    s_seal(&w->alpha, to, 1, huge, big, &env, &len, id);
    assert_int_equal(s_open(&w->bravo, env, len, NULL, 0, NULL), VJ_E_TOOBIG);
    free(env);
    free(huge);
}

/* ---- envelopes built from the specification ----------------------------- */

static void test_envelope_built_from_spec_opens(void **state)
{
    world *w = *state;
    const post_t *rcpt[] = {&w->charlie, &w->bravo};
    craft_t *c = malloc(sizeof *c);
    uint8_t *env = NULL;
    size_t len = 0;
    s_craft_init(c, &w->alpha, rcpt, 2);
    s_craft_finish(c, &w->alpha, s_update, sizeof s_update, &env, &len);
    vj_envelope_info info;
    assert_int_equal(s_open(&w->bravo, env, len, s_update, sizeof s_update, &info), VJ_OK);
    assert_memory_equal(info.msg_id, c->msg_id, 16);
    assert_int_equal(info.origin_seq, 42);
    assert_int_equal(info.created_ms, 1530000000000);
    assert_string_equal(info.recipients[0], "gt-houston");
    assert_string_equal(info.recipients[1], "sv-washington");
    assert_int_equal(s_open(&w->charlie, env, len, s_update, sizeof s_update, NULL), VJ_OK);
    free(env);

    /* signed correctly, but the key was wrapped for someone else */
    s_craft_init(c, &w->alpha, rcpt, 2);
    memcpy(c->wk[1], c->wk[0], 48);
    memcpy(c->wn[1], c->wn[0], 24);
    s_craft_finish(c, &w->alpha, s_update, sizeof s_update, &env, &len);
    assert_int_equal(s_open(&w->bravo, env, len, NULL, 0, NULL), VJ_E_AUTH);
    assert_int_equal(s_open(&w->charlie, env, len, s_update, sizeof s_update, NULL), VJ_OK);
    free(env);

    /* signed correctly, but encrypted under other associated data */
    s_craft_init(c, &w->alpha, rcpt, 2);
    c->ad_extra = 1;
    s_craft_finish(c, &w->alpha, s_update, sizeof s_update, &env, &len);
    assert_int_equal(s_open(&w->bravo, env, len, NULL, 0, NULL), VJ_E_AUTH);
    free(env);
    free(c);
}

typedef void (*mutator)(craft_t *c);
static void m_msg_id_15(craft_t *c)
{
    c->h.msg_id.len = 15;
}
static void m_msg_id_17(craft_t *c)
{
    c->h.msg_id.len = 17;
}
static void m_msg_id_0(craft_t *c)
{
    c->h.msg_id.len = 0;
}
static void m_nonce_23(craft_t *c)
{
    c->h.nonce.len = 23;
}
static void m_nonce_25(craft_t *c)
{
    c->h.nonce.len = 25;
}
static void m_seq_0(craft_t *c)
{
    c->h.origin_seq = 0;
}
static void m_origin_upper(craft_t *c)
{
    c->h.origin = (char *)"MX-washington";
}
static void m_origin_empty(craft_t *c)
{
    c->h.origin = (char *)"";
}
static void m_no_recipients(craft_t *c)
{
    c->h.n_recipients = 0;
}
static void m_wrap_nonce_23(craft_t *c)
{
    c->r[0].wrap_nonce.len = 23;
}
static void m_wrapped_47(craft_t *c)
{
    c->r[0].wrapped_key.len = 47;
}
static void m_wrapped_49(craft_t *c)
{
    c->r[0].wrapped_key.len = 49;
}
static void m_name_dup(craft_t *c)
{
    strcpy(c->names[1], c->names[0]);
}
static void m_name_65(craft_t *c)
{
    memset(c->names[1], 'a', 65);
    c->names[1][65] = '\0';
}
static void m_name_empty(craft_t *c)
{
    c->names[1][0] = '\0';
}
static void m_name_upper(craft_t *c)
{
    strcpy(c->names[1], "GT-Houston");
}
static void m_name_dash(craft_t *c)
{
    strcpy(c->names[1], "-gt-houston");
}
static void m_name_space(craft_t *c)
{
    strcpy(c->names[1], "gt houston");
}
static void m_name_utf8(craft_t *c)
{
    strcpy(c->names[1], "gt-hou\xc3\xa9ston");
}
static void m_unknown_field(craft_t *c)
{
    memcpy(c->hb_tail, "\x48\x01", 2);
    c->hb_tail_len = 2;
}
static void m_unknown_field_high(craft_t *c)
{
    memcpy(c->hb_tail, "\x80\x02\x01", 3);
    c->hb_tail_len = 3;
}
static void m_trailing_garbage(craft_t *c)
{
    memcpy(c->hb_tail, "\x3a\x05", 2);
    c->hb_tail_len = 2;
}

static void test_malformed_headers_rejected(void **state)
{
    world *w = *state;
    const post_t *rcpt[] = {&w->bravo, &w->charlie};
    static const mutator ms[] = {
        m_msg_id_15,        m_msg_id_17,     m_msg_id_0,
        m_nonce_23,         m_nonce_25,      m_seq_0,
        m_origin_upper,     m_origin_empty,  m_no_recipients,
        m_wrap_nonce_23,    m_wrapped_47,    m_wrapped_49,
        m_name_dup,         m_name_65,       m_name_empty,
        m_name_upper,       m_name_dash,     m_name_space,
        m_name_utf8,        m_unknown_field, m_unknown_field_high,
        m_trailing_garbage,
    };
    craft_t *c = malloc(sizeof *c);
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        uint8_t *env = NULL;
        size_t len = 0;
        s_craft_init(c, &w->alpha, rcpt, 2);
        ms[i](c);
        s_craft_finish(c, &w->alpha, s_update, sizeof s_update, &env, &len);
        int r = s_open(&w->bravo, env, len, NULL, 0, NULL);
        if (r != VJ_E_PARSE)
            print_error("mutation %zu: %d\n", i, r);
        assert_int_equal(r, VJ_E_PARSE);
        free(env);
    }
    free(c);
}

static void test_too_many_recipients_rejected(void **state)
{
    world *w = *state;
    /* 65 recipients with short names, so the header itself is within size */
    const post_t *rcpt[65];
    for (int i = 0; i < 65; i++)
        rcpt[i] = &w->bravo;
    craft_t *c = malloc(sizeof *c);
    s_craft_init(c, &w->alpha, rcpt, 65);
    for (int i = 0; i < 65; i++)
        snprintf(c->names[i], sizeof c->names[i], "p%d", i);
    strcpy(c->names[3], "sv-washington");
    uint8_t *env = NULL;
    size_t len = 0;
    s_craft_finish(c, &w->alpha, s_update, sizeof s_update, &env, &len);
    assert_int_equal(s_open(&w->bravo, env, len, NULL, 0, NULL), VJ_E_PARSE);
    free(env);
    /* 64 is fine */
    s_craft_init(c, &w->alpha, rcpt, 64);
    for (int i = 0; i < 64; i++)
        snprintf(c->names[i], sizeof c->names[i], "p%d", i);
    strcpy(c->names[3], "sv-washington");
    s_craft_finish(c, &w->alpha, s_update, sizeof s_update, &env, &len);
    assert_int_equal(s_open(&w->bravo, env, len, s_update, sizeof s_update, NULL), VJ_OK);
    free(env);
    /* a header over VJ_HEADER_MAX: 64 recipients with 64-byte names */
    s_craft_init(c, &w->alpha, rcpt, 64);
    for (int i = 0; i < 64; i++)
        snprintf(c->names[i], sizeof c->names[i], "p%02d-%059d", i, 0);
    strcpy(c->names[3], "sv-washington");
    s_craft_finish(c, &w->alpha, s_update, sizeof s_update, &env, &len);
    assert_int_equal(s_open(&w->bravo, env, len, NULL, 0, NULL), VJ_E_PARSE);
    free(env);
    free(c);
}

static void test_malformed_outer_rejected(void **state)
{
    world *w = *state;
    const char *to[] = {"sv-washington"};
    uint8_t *env = NULL, *forged = NULL, id[16];
    size_t len = 0, flen = 0;
    s_seal(&w->alpha, to, 1, s_update, sizeof s_update, &env, &len, id);
    parts_t p;
    s_split(env, len, &p);
    parts_t q = p;
    q.sig_len = 63;
    s_join(&q, &forged, &flen);
    assert_int_equal(s_open(&w->bravo, forged, flen, NULL, 0, NULL), VJ_E_PARSE);
    free(forged);
    q = p;
    q.sig_len = 0;
    s_join(&q, &forged, &flen);
    assert_int_equal(s_open(&w->bravo, forged, flen, NULL, 0, NULL), VJ_E_PARSE);
    free(forged);
    q = p;
    q.ct_len = 15;
    s_join(&q, &forged, &flen);
    assert_int_equal(s_open(&w->bravo, forged, flen, NULL, 0, NULL), VJ_E_PARSE);
    free(forged);
    q = p;
    q.hb_len = 0;
    s_join(&q, &forged, &flen);
    assert_int_equal(s_open(&w->bravo, forged, flen, NULL, 0, NULL), VJ_E_PARSE);
    free(forged);
    /* an unsigned extra field appended by a relay */
    uint8_t *extra = malloc(len + 2);
    memcpy(extra, env, len);
    extra[len] = 0x28; /* field 5, varint */
    extra[len + 1] = 0x01;
    assert_int_equal(s_open(&w->bravo, extra, len + 2, NULL, 0, NULL), VJ_E_PARSE);
    free(extra);
    /* garbage and nothing */
    uint8_t junk[64];
    memset(junk, 0xff, sizeof junk);
    assert_int_equal(s_open(&w->bravo, junk, sizeof junk, NULL, 0, NULL), VJ_E_PARSE);
    assert_int_not_equal(s_open(&w->bravo, NULL, 0, NULL, 0, NULL), VJ_OK);
    free(p.ct);
    free(env);
}

static void test_seal_rejects_bad_arguments(void **state)
{
    world *w = *state;
    vj_seal_params p = {
        .origin_seq = 1, .created_ms = 0, .payload = VALIJA__PAYLOAD_TYPE__PAYLOAD_CASE_UPDATE};
    uint8_t *env = NULL, id[16];
    size_t len = 0;
    vj_diag d;
    const char *ok[] = {"sv-washington"};
    const char *dup[] = {"sv-washington", "sv-washington"};
    const char *unknown[] = {"hn-dallas"};
    const char *bad[] = {"SV"};
    const char *many[65];
    for (int i = 0; i < 65; i++)
        many[i] = "sv-washington";
    assert_int_equal(vj_envelope_seal(w->alpha.kr, ok, 0, &p, s_update, 4, id, &env, &len, &d),
                     VJ_E_INVAL);
    assert_int_equal(vj_envelope_seal(w->alpha.kr, many, 65, &p, s_update, 4, id, &env, &len, &d),
                     VJ_E_INVAL);
    assert_int_equal(vj_envelope_seal(w->alpha.kr, dup, 2, &p, s_update, 4, id, &env, &len, &d),
                     VJ_E_INVAL);
    assert_int_equal(vj_envelope_seal(w->alpha.kr, bad, 1, &p, s_update, 4, id, &env, &len, &d),
                     VJ_E_INVAL);
    assert_int_equal(vj_envelope_seal(w->alpha.kr, unknown, 1, &p, s_update, 4, id, &env, &len, &d),
                     VJ_E_NOTFOUND);
    assert_non_null(strstr(d.text, "hn-dallas"));
    p.origin_seq = 0;
    assert_int_equal(vj_envelope_seal(w->alpha.kr, ok, 1, &p, s_update, 4, id, &env, &len, &d),
                     VJ_E_INVAL);
    p.origin_seq = 1;
    p.payload = 0;
    assert_int_equal(vj_envelope_seal(w->alpha.kr, ok, 1, &p, s_update, 4, id, &env, &len, &d),
                     VJ_E_INVAL);
    assert_null(env);
    vj_envelope_plaintext_free(NULL, 0);
}

static void test_keyring_pins(void **state)
{
    world *w = *state;
    /* a second, different card for a pinned post is refused; the same is fine */
    post_t imp;
    s_post_new(&imp, "sv-washington");
    assert_int_equal(vj_keyring_add(w->alpha.kr, &imp.card), VJ_E_EXISTS);
    assert_int_equal(vj_keyring_add(w->alpha.kr, &w->bravo.card), VJ_OK);
    vj_card bad = w->delta.card;
    bad.signature[0] ^= 1;
    assert_int_equal(vj_keyring_add(w->alpha.kr, &bad), VJ_E_AUTH);
    assert_null(vj_keyring_find(w->alpha.kr, "hn-dallas"));
    assert_non_null(vj_keyring_find(w->alpha.kr, "gt-houston"));
    assert_string_equal(vj_keyring_find_by_curve(w->alpha.kr, w->charlie.card.curve_pk),
                        "gt-houston");
    assert_null(vj_keyring_find_by_curve(w->alpha.kr, w->delta.card.curve_pk));
    assert_ptr_equal(vj_keyring_self(w->alpha.kr), w->alpha.id);
    s_post_free(&imp);
    vj_keyring *none = NULL;
    vj_keyring_destroy(&none);
    vj_keyring_destroy(NULL);
}

int main(void)
{
    if (vj_keys_init() != VJ_OK)
        return 1;
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_round_trip_one_recipient),
        T(test_round_trip_64_recipients),
        T(test_origin_as_recipient),
        T(test_empty_plaintext),
        T(test_every_bit_flip_rejected),
        T(test_truncated_at_every_length_rejected),
        T(test_resigned_by_another_post_rejected),
        T(test_readdressed_rejected),
        T(test_ciphertext_swap_rejected),
        T(test_not_recipient_and_unknown_origin),
        T(test_other_versions_rejected),
        T(test_oversize_rejected),
        T(test_envelope_built_from_spec_opens),
        T(test_malformed_headers_rejected),
        T(test_too_many_recipients_rejected),
        T(test_malformed_outer_rejected),
        T(test_seal_rejects_bad_arguments),
        T(test_keyring_pins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
