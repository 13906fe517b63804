/* vj_receipt.c - delivery receipts: the receiving post signs the ids of the
 * envelopes it has durably stored; the sender verifies and keeps the receipt.
 *
 * Invariants: the signature covers "VALIJA-RECEIPT-V1" || body, the exact
 * body bytes carried (never a re-encoding); a receipt is accepted only when
 * it is signed by the pinned card of the post expected to have sent it and
 * is addressed to this post.
 */
#include "vj_receipt.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "vj_identity_priv.h"

#define S_RECEIPT_TAG "VALIJA-RECEIPT-V1"
#define S_BODY_MAX (128 * 1024)
#define S_MAX_IDS 4096

static int s_signed_bytes(const uint8_t *body, size_t len, uint8_t **m, size_t *m_len)
{
    size_t tag = sizeof S_RECEIPT_TAG - 1;
    uint8_t *b = malloc(tag + len);
    *m = NULL;
    *m_len = 0;
    if (b == NULL)
        return VJ_E_NOMEM;
    memcpy(b, S_RECEIPT_TAG, tag);
    if (len > 0)
        memcpy(b + tag, body, len);
    *m = b;
    *m_len = tag + len;
    return VJ_OK;
}

int vj_receipt_sign(const vj_keyring *kr, const char *sender, int64_t stored_ms, const uint8_t *ids,
                    size_t n, uint8_t **body, size_t *body_len, uint8_t sig[VJ_SIG_LEN])
{
    int ret = VJ_E_INVAL;
    const vj_identity *self = vj_keyring_self(kr);
    ProtobufCBinaryData *bins = NULL;
    uint8_t *b = NULL, *m = NULL;
    size_t b_len = 0, m_len = 0;
    if (body == NULL || body_len == NULL || sig == NULL)
        goto out;
    *body = NULL;
    *body_len = 0;
    if (self == NULL || ids == NULL || n < 1 || n > S_MAX_IDS || !vj_post_name_is_valid(sender))
        goto out;
    bins = calloc(n, sizeof *bins);
    if (bins == NULL) {
        ret = VJ_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        bins[i].data = (uint8_t *)ids + i * VJ_MSG_ID_LEN;
        bins[i].len = VJ_MSG_ID_LEN;
    }
    Valija__ReceiptBody rb = VALIJA__RECEIPT_BODY__INIT;
    rb.version = 1;
    rb.receiver = (char *)vj_identity_post(self);
    rb.sender = (char *)sender;
    rb.stored_ms = stored_ms;
    rb.n_msg_ids = n;
    rb.msg_ids = bins;
    ret = vj_codec_pack(&rb.base, &b, &b_len);
    if (ret != VJ_OK)
        goto out;
    ret = s_signed_bytes(b, b_len, &m, &m_len);
    if (ret != VJ_OK)
        goto out;
    if (crypto_sign_detached(sig, NULL, m, m_len, vj_identity_sign_sk(self)) != 0) {
        ret = VJ_E_CRYPTO;
        goto out;
    }
    *body = b;
    *body_len = b_len;
    b = NULL;
    ret = VJ_OK;
out:
    free(bins);
    free(b);
    free(m);
    return ret;
}

int vj_receipt_verify(const vj_keyring *kr, const char *expected_receiver, const uint8_t *body,
                      size_t body_len, const uint8_t *sig, size_t sig_len,
                      Valija__ReceiptBody **out)
{
    int ret = VJ_E_INVAL;
    ProtobufCMessage *msg = NULL;
    Valija__ReceiptBody *rb = NULL;
    uint8_t *m = NULL;
    size_t m_len = 0;
    if (out == NULL)
        goto out;
    *out = NULL;
    if (kr == NULL || expected_receiver == NULL || (body == NULL && body_len > 0) ||
        (sig == NULL && sig_len > 0))
        goto out;
    if (body_len > S_BODY_MAX) {
        ret = VJ_E_TOOBIG;
        goto out;
    }
    ret = vj_codec_unpack(&valija__receipt_body__descriptor, body, body_len, S_BODY_MAX, &msg);
    if (ret != VJ_OK)
        goto out;
    rb = (Valija__ReceiptBody *)msg;
    msg = NULL;
    ret = VJ_E_VERSION;
    if (rb->version != 1)
        goto out;
    ret = VJ_E_PARSE;
    if (rb->n_msg_ids < 1 || rb->n_msg_ids > S_MAX_IDS || sig_len != VJ_SIG_LEN)
        goto out;
    for (size_t i = 0; i < rb->n_msg_ids; i++)
        if (rb->msg_ids[i].len != VJ_MSG_ID_LEN)
            goto out;
    ret = VJ_E_AUTH;
    const vj_card *card = vj_keyring_find(kr, expected_receiver);
    if (strcmp(rb->receiver, expected_receiver) != 0 || card == NULL)
        goto out;
    if (strcmp(rb->sender, vj_identity_post(vj_keyring_self(kr))) != 0)
        goto out;
    ret = s_signed_bytes(body, body_len, &m, &m_len);
    if (ret != VJ_OK)
        goto out;
    ret = VJ_E_AUTH;
    if (crypto_sign_verify_detached(sig, m, m_len, card->sign_pk) != 0)
        goto out;
    *out = rb;
    rb = NULL;
    ret = VJ_OK;
out:
    vj_codec_free(msg);
    vj_codec_free((ProtobufCMessage *)rb);
    free(m);
    return ret;
}
