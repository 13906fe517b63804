/* vj_envelope.c - sealing a payload for recipient posts, and inspecting and
 * opening sealed envelopes (docs/protocol.md, "Envelope").
 *
 * Invariants: the header travels as the exact bytes HB that were signed and
 * used as AEAD associated data, never re-encoded; the signature over
 * "VALIJA-ENVELOPE-V1" || u64be(|HB|) || HB || u64be(|CT|) || CT is checked
 * against the origin's pinned card before any header field is reported or
 * any key is unwrapped; the content key (on the stack) and the plaintext
 * are wiped on every path.  Every unpacked
 * message is freed here, on every path.
 */
#include "vj_envelope.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "vj_identity_priv.h"
#include "vj_keyring_priv.h"

#define S_ENV_TAG "VALIJA-ENVELOPE-V1"
#define S_KEY_LEN crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define S_NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define S_TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define S_WRAP_NONCE_LEN crypto_box_NONCEBYTES
#define S_WRAPPED_LEN (S_KEY_LEN + crypto_box_MACBYTES)

static void s_put_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

/* M = tag || u64be(|HB|) || HB || u64be(|CT|) || CT, malloc'ed. */
static int s_signed_bytes(const uint8_t *hb, size_t hb_len, const uint8_t *ct, size_t ct_len,
                          uint8_t **m, size_t *m_len)
{
    size_t tag = sizeof S_ENV_TAG - 1;
    *m = NULL;
    *m_len = 0;
    if (ct_len > SIZE_MAX - tag - 16 - hb_len)
        return VJ_E_TOOBIG;
    size_t n = tag + 8 + hb_len + 8 + ct_len;
    uint8_t *b = malloc(n);
    if (b == NULL)
        return VJ_E_NOMEM;
    memcpy(b, S_ENV_TAG, tag);
    s_put_u64be(b + tag, hb_len);
    memcpy(b + tag + 8, hb, hb_len);
    s_put_u64be(b + tag + 8 + hb_len, ct_len);
    memcpy(b + tag + 16 + hb_len, ct, ct_len);
    *m = b;
    *m_len = n;
    return VJ_OK;
}

int vj_envelope_seal(const vj_keyring *kr, const char *const *recipients, size_t n,
                     const vj_seal_params *params, const uint8_t *plaintext, size_t len,
                     uint8_t msg_id[VJ_MSG_ID_LEN], uint8_t **env, size_t *env_len, vj_diag *diag)
{
    int ret = VJ_E_INVAL;
    const vj_identity *self = vj_keyring_self(kr);
    /* The content key is a short-lived secret: on the stack, wiped on every
     * path (sodium_malloc per message costs more than the cryptography). */
    uint8_t key_buf[S_KEY_LEN];
    uint8_t *key = NULL;
    uint8_t nonce[S_NONCE_LEN];
    uint8_t id[VJ_MSG_ID_LEN];
    uint8_t(*wrap_nonces)[S_WRAP_NONCE_LEN] = NULL;
    uint8_t(*wrapped)[S_WRAPPED_LEN] = NULL;
    Valija__Recipient *rs = NULL;
    Valija__Recipient **rps = NULL;
    uint8_t *hb = NULL, *ct = NULL, *m = NULL;
    size_t hb_len = 0, m_len = 0, ct_len = 0;
    uint8_t sig[VJ_SIG_LEN];
    vj_diag_clear(diag);
    if (env == NULL || env_len == NULL) {
        vj_diag_set(diag, "no output buffer");
        goto out;
    }
    *env = NULL;
    *env_len = 0;
    if (self == NULL || recipients == NULL || params == NULL || msg_id == NULL ||
        (plaintext == NULL && len > 0)) {
        vj_diag_set(diag, "missing argument");
        goto out;
    }
    if (n < 1 || n > VJ_MAX_RECIPIENTS) {
        vj_diag_set(diag, "%zu recipients: an envelope has 1 to %d", n, VJ_MAX_RECIPIENTS);
        goto out;
    }
    if (params->origin_seq < 1) {
        vj_diag_set(diag, "origin sequence numbers start at 1");
        goto out;
    }
    if (params->payload != VALIJA__PAYLOAD_TYPE__PAYLOAD_CASE_UPDATE) {
        vj_diag_set(diag, "unsupported payload type %u", (unsigned)params->payload);
        goto out;
    }
    if (len > SIZE_MAX - S_TAG_LEN || len > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX) {
        ret = VJ_E_TOOBIG;
        vj_diag_set(diag, "plaintext too large");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (recipients[i] == NULL || !vj_post_name_is_valid(recipients[i])) {
            vj_diag_set(diag, "recipient %zu: invalid post name", i + 1);
            goto out;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(recipients[i], recipients[j]) == 0) {
                vj_diag_set(diag, "recipient %s listed twice", recipients[i]);
                goto out;
            }
        }
        if (vj_keyring_shared_key(kr, recipients[i]) == NULL) {
            ret = VJ_E_NOTFOUND;
            vj_diag_set(diag, "no pinned card for recipient %s", recipients[i]);
            goto out;
        }
    }

    ret = VJ_E_NOMEM;
    key = key_buf;
    wrap_nonces = calloc(n, sizeof *wrap_nonces);
    wrapped = calloc(n, sizeof *wrapped);
    rs = calloc(n, sizeof *rs);
    rps = calloc(n, sizeof *rps);
    if (key == NULL || wrap_nonces == NULL || wrapped == NULL || rs == NULL || rps == NULL)
        goto out;

    /* 1. content key, AEAD nonce, message id */
    crypto_aead_xchacha20poly1305_ietf_keygen(key);
    randombytes_buf(nonce, sizeof nonce);
    if (params->msg_id != NULL) {
        memcpy(id, params->msg_id, sizeof id);
    } else {
        /* 48-bit big-endian creation time in ms, then 80 random bits: ids
         * of one post grow with time, so a store's index of them takes
         * inserts at one end instead of on random pages (the header carries
         * the same time in the clear: the id reveals nothing new). */
        uint64_t t = (uint64_t)(params->created_ms > 0 ? params->created_ms : 0);
        for (int i = 0; i < 6; i++)
            id[i] = (uint8_t)(t >> (8 * (5 - i)));
        randombytes_buf(id + 6, sizeof id - 6);
    }

    /* 2. the content key wrapped for each recipient */
    for (size_t i = 0; i < n; i++) {
        randombytes_buf(wrap_nonces[i], S_WRAP_NONCE_LEN);
        if (crypto_box_easy_afternm(wrapped[i], key, S_KEY_LEN, wrap_nonces[i],
                                    vj_keyring_shared_key(kr, recipients[i])) != 0) {
            ret = VJ_E_CRYPTO;
            goto out;
        }
        Valija__Recipient r = VALIJA__RECIPIENT__INIT;
        r.post = (char *)recipients[i];
        r.wrap_nonce.data = wrap_nonces[i];
        r.wrap_nonce.len = S_WRAP_NONCE_LEN;
        r.wrapped_key.data = wrapped[i];
        r.wrapped_key.len = S_WRAPPED_LEN;
        rs[i] = r;
        rps[i] = &rs[i];
    }

    /* 3. the header, serialized once: these bytes are what is carried */
    Valija__EnvelopeHeader h = VALIJA__ENVELOPE_HEADER__INIT;
    h.version = VJ_HEADER_VERSION;
    h.msg_id.data = id;
    h.msg_id.len = sizeof id;
    h.origin = (char *)vj_identity_post(self);
    h.origin_seq = params->origin_seq;
    h.created_ms = params->created_ms;
    h.n_recipients = n;
    h.recipients = rps;
    h.nonce.data = nonce;
    h.nonce.len = sizeof nonce;
    h.payload = VALIJA__PAYLOAD_TYPE__PAYLOAD_CASE_UPDATE;
    ret = vj_codec_pack(&h.base, &hb, &hb_len);
    if (ret != VJ_OK)
        goto out;
    if (hb_len > VJ_HEADER_MAX) {
        ret = VJ_E_TOOBIG;
        vj_diag_set(diag, "header of %zu bytes exceeds %d: too many or too long recipient names",
                    hb_len, VJ_HEADER_MAX);
        goto out;
    }

    /* 4. the payload, with the header bytes as associated data */
    ct_len = len + S_TAG_LEN;
    ct = malloc(ct_len);
    if (ct == NULL) {
        ret = VJ_E_NOMEM;
        goto out;
    }
    unsigned long long clen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &clen, plaintext, len, hb, hb_len, NULL,
                                                   nonce, key) != 0 ||
        clen != ct_len) {
        ret = VJ_E_CRYPTO;
        goto out;
    }

    /* 5. the origin's signature over tag, header and ciphertext */
    ret = s_signed_bytes(hb, hb_len, ct, ct_len, &m, &m_len);
    if (ret != VJ_OK)
        goto out;
    if (crypto_sign_detached(sig, NULL, m, m_len, vj_identity_sign_sk(self)) != 0) {
        ret = VJ_E_CRYPTO;
        goto out;
    }

    /* 6. the envelope */
    Valija__Envelope e = VALIJA__ENVELOPE__INIT;
    e.format = VJ_ENVELOPE_FORMAT;
    e.header.data = hb;
    e.header.len = hb_len;
    e.ciphertext.data = ct;
    e.ciphertext.len = ct_len;
    e.signature.data = sig;
    e.signature.len = sizeof sig;
    ret = vj_codec_pack(&e.base, env, env_len);
    if (ret != VJ_OK)
        goto out;
    memcpy(msg_id, id, sizeof id);
    ret = VJ_OK;
out:
    sodium_memzero(key_buf, sizeof key_buf);
    sodium_memzero(nonce, sizeof nonce);
    if (wrapped != NULL)
        sodium_memzero(wrapped, n * sizeof *wrapped);
    free(wrap_nonces);
    free(wrapped);
    free(rs);
    free(rps);
    free(hb);
    free(ct);
    free(m);
    return ret;
}

/* Checks 1-4 of docs/protocol.md.  On VJ_OK *e and *h are the unpacked
 * envelope and header (caller frees both with vj_codec_free) and the
 * signature has verified against the origin's pinned card. */
static int s_check(const vj_keyring *kr, const uint8_t *env, size_t len, size_t max_len,
                   Valija__Envelope **e_out, Valija__EnvelopeHeader **h_out, vj_diag *diag)
{
    int ret = VJ_E_INVAL;
    ProtobufCMessage *msg = NULL;
    Valija__Envelope *e = NULL;
    Valija__EnvelopeHeader *h = NULL;
    uint8_t *m = NULL;
    size_t m_len = 0;
    *e_out = NULL;
    *h_out = NULL;
    if (kr == NULL || (env == NULL && len > 0))
        goto out;

    /* 1. size */
    if (len > max_len) {
        ret = VJ_E_TOOBIG;
        vj_diag_set(diag, "envelope of %zu bytes exceeds the limit of %zu", len, max_len);
        goto out;
    }

    /* 2. the outer message */
    ret = vj_codec_unpack(&valija__envelope__descriptor, env, len, max_len, &msg);
    if (ret != VJ_OK) {
        vj_diag_set(diag, "envelope: not a valid protobuf Envelope");
        goto out;
    }
    e = (Valija__Envelope *)msg;
    msg = NULL;
    ret = VJ_E_PARSE;
    if (e->base.n_unknown_fields != 0) {
        vj_diag_set(diag, "envelope: unknown fields");
        goto out;
    }
    if (e->format != VJ_ENVELOPE_FORMAT) {
        ret = VJ_E_VERSION;
        vj_diag_set(diag, "envelope: format %u, only %d is known", e->format, VJ_ENVELOPE_FORMAT);
        goto out;
    }
    if (e->header.len < 1 || e->header.len > VJ_HEADER_MAX) {
        vj_diag_set(diag, "envelope: header of %zu bytes, want 1 to %d", e->header.len,
                    VJ_HEADER_MAX);
        goto out;
    }
    if (e->signature.len != VJ_SIG_LEN) {
        vj_diag_set(diag, "envelope: signature of %zu bytes, want %d", e->signature.len,
                    VJ_SIG_LEN);
        goto out;
    }
    if (e->ciphertext.len < S_TAG_LEN) {
        vj_diag_set(diag, "envelope: ciphertext shorter than its tag");
        goto out;
    }

    /* 3. the header's shape */
    ret = vj_codec_unpack(&valija__envelope_header__descriptor, e->header.data, e->header.len,
                          VJ_HEADER_MAX, &msg);
    if (ret != VJ_OK) {
        ret = VJ_E_PARSE;
        vj_diag_set(diag, "envelope: header is not a valid protobuf EnvelopeHeader");
        goto out;
    }
    h = (Valija__EnvelopeHeader *)msg;
    msg = NULL;
    ret = VJ_E_PARSE;
    if (h->base.n_unknown_fields != 0) {
        vj_diag_set(diag, "envelope: unknown header fields");
        goto out;
    }
    if (h->version != VJ_HEADER_VERSION) {
        ret = VJ_E_VERSION;
        vj_diag_set(diag, "envelope: header version %u, only %d is known", h->version,
                    VJ_HEADER_VERSION);
        goto out;
    }
    if (h->msg_id.len != VJ_MSG_ID_LEN) {
        vj_diag_set(diag, "envelope: msg_id of %zu bytes, want %d", h->msg_id.len, VJ_MSG_ID_LEN);
        goto out;
    }
    if (!vj_post_name_is_valid(h->origin)) {
        vj_diag_set(diag, "envelope: invalid origin post name");
        goto out;
    }
    if (h->origin_seq < 1) {
        vj_diag_set(diag, "envelope: origin_seq 0");
        goto out;
    }
    if (h->nonce.len != S_NONCE_LEN) {
        vj_diag_set(diag, "envelope: nonce of %zu bytes, want %d", h->nonce.len, S_NONCE_LEN);
        goto out;
    }
    if (h->n_recipients < 1 || h->n_recipients > VJ_MAX_RECIPIENTS) {
        vj_diag_set(diag, "envelope: %zu recipients, want 1 to %d", h->n_recipients,
                    VJ_MAX_RECIPIENTS);
        goto out;
    }
    for (size_t i = 0; i < h->n_recipients; i++) {
        const Valija__Recipient *r = h->recipients[i];
        if (r->base.n_unknown_fields != 0 || !vj_post_name_is_valid(r->post) ||
            r->wrap_nonce.len != S_WRAP_NONCE_LEN || r->wrapped_key.len != S_WRAPPED_LEN) {
            vj_diag_set(diag, "envelope: recipient %zu is malformed", i + 1);
            goto out;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(r->post, h->recipients[j]->post) == 0) {
                vj_diag_set(diag, "envelope: recipient %s listed twice", r->post);
                goto out;
            }
        }
    }
    if (h->payload != VALIJA__PAYLOAD_TYPE__PAYLOAD_CASE_UPDATE) {
        ret = VJ_E_VERSION;
        vj_diag_set(diag, "envelope: unknown payload type %d", (int)h->payload);
        goto out;
    }

    /* 4. the origin's signature, against its pinned card */
    const vj_card *card = vj_keyring_find(kr, h->origin);
    if (card == NULL) {
        ret = VJ_E_UNKNOWN_ORIGIN;
        vj_diag_set(diag, "envelope: origin %s has no pinned card", h->origin);
        goto out;
    }
    ret = s_signed_bytes(e->header.data, e->header.len, e->ciphertext.data, e->ciphertext.len, &m,
                         &m_len);
    if (ret != VJ_OK)
        goto out;
    if (crypto_sign_verify_detached(e->signature.data, m, m_len, card->sign_pk) != 0) {
        ret = VJ_E_AUTH;
        vj_diag_set(diag, "envelope: signature of %s does not verify", h->origin);
        goto out;
    }
    *e_out = e;
    *h_out = h;
    e = NULL;
    h = NULL;
    ret = VJ_OK;
out:
    vj_codec_free(msg);
    vj_codec_free((ProtobufCMessage *)e);
    vj_codec_free((ProtobufCMessage *)h);
    free(m);
    return ret;
}

static void s_fill_info(const Valija__EnvelopeHeader *h, vj_envelope_info *info)
{
    memset(info, 0, sizeof *info);
    memcpy(info->msg_id, h->msg_id.data, VJ_MSG_ID_LEN);
    memcpy(info->origin, h->origin, strlen(h->origin) + 1);
    info->origin_seq = h->origin_seq;
    info->created_ms = h->created_ms;
    info->payload = (uint32_t)h->payload;
    info->n_recipients = h->n_recipients;
    for (size_t i = 0; i < h->n_recipients; i++)
        memcpy(info->recipients[i], h->recipients[i]->post, strlen(h->recipients[i]->post) + 1);
}

int vj_envelope_inspect(const vj_keyring *kr, const uint8_t *env, size_t len, size_t max_len,
                        vj_envelope_info *info, vj_diag *diag)
{
    Valija__Envelope *e = NULL;
    Valija__EnvelopeHeader *h = NULL;
    vj_diag_clear(diag);
    if (info != NULL)
        memset(info, 0, sizeof *info);
    int ret = s_check(kr, env, len, max_len, &e, &h, diag);
    if (ret == VJ_OK && info != NULL)
        s_fill_info(h, info);
    vj_codec_free((ProtobufCMessage *)e);
    vj_codec_free((ProtobufCMessage *)h);
    return ret;
}

int vj_envelope_open(const vj_keyring *kr, const uint8_t *env, size_t len, size_t max_len,
                     vj_envelope_info *info, uint8_t **plaintext, size_t *plaintext_len,
                     vj_diag *diag)
{
    int ret = VJ_E_INVAL;
    Valija__Envelope *e = NULL;
    Valija__EnvelopeHeader *h = NULL;
    /* The content key is a short-lived secret: on the stack, wiped on every
     * path (sodium_malloc per message costs more than the cryptography). */
    uint8_t key_buf[S_KEY_LEN];
    uint8_t *key = NULL;
    uint8_t *pt = NULL;
    size_t pt_cap = 0;
    vj_diag_clear(diag);
    if (info != NULL)
        memset(info, 0, sizeof *info);
    if (plaintext == NULL || plaintext_len == NULL)
        goto out;
    *plaintext = NULL;
    *plaintext_len = 0;
    ret = s_check(kr, env, len, max_len, &e, &h, diag);
    if (ret != VJ_OK)
        goto out;

    /* 5. addressed to us?  unwrap, decrypt */
    const char *self = vj_identity_post(vj_keyring_self(kr));
    const Valija__Recipient *mine = NULL;
    for (size_t i = 0; i < h->n_recipients; i++)
        if (strcmp(h->recipients[i]->post, self) == 0)
            mine = h->recipients[i];
    if (mine == NULL) {
        ret = VJ_E_NOTRECIPIENT;
        vj_diag_set(diag, "envelope: not addressed to %s", self);
        goto out;
    }
    const uint8_t *shared = vj_keyring_shared_key(kr, h->origin);
    key = key_buf;
    pt_cap = e->ciphertext.len - S_TAG_LEN;
    pt = malloc(pt_cap > 0 ? pt_cap : 1);
    if (key == NULL || pt == NULL || shared == NULL) {
        ret = shared == NULL ? VJ_E_UNKNOWN_ORIGIN : VJ_E_NOMEM;
        goto out;
    }
    if (crypto_box_open_easy_afternm(key, mine->wrapped_key.data, mine->wrapped_key.len,
                                     mine->wrap_nonce.data, shared) != 0) {
        ret = VJ_E_AUTH;
        vj_diag_set(diag, "envelope: the content key for %s does not unwrap", self);
        goto out;
    }
    unsigned long long plen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &plen, NULL, e->ciphertext.data,
                                                   e->ciphertext.len, e->header.data, e->header.len,
                                                   h->nonce.data, key) != 0 ||
        plen != pt_cap) {
        ret = VJ_E_AUTH;
        vj_diag_set(diag, "envelope: the payload does not decrypt");
        goto out;
    }
    if (info != NULL)
        s_fill_info(h, info);
    *plaintext = pt;
    *plaintext_len = pt_cap;
    pt = NULL;
    ret = VJ_OK;
out:
    sodium_memzero(key_buf, sizeof key_buf);
    vj_envelope_plaintext_free(pt, pt_cap);
    vj_codec_free((ProtobufCMessage *)e);
    vj_codec_free((ProtobufCMessage *)h);
    return ret;
}

void vj_envelope_plaintext_free(uint8_t *plaintext, size_t len)
{
    if (plaintext == NULL)
        return;
    sodium_memzero(plaintext, len);
    free(plaintext);
}
