/* vj_peer_msg.c - peer protocol frames: a bounded, checked decoder and the
 * packers for what valijad sends.  No I/O, no cryptography: receipts and
 * envelopes are checked further by keys/. */
#include "vj_peer_msg.h"

#include <string.h>

static int s_marks_ok(Valija__OriginMark **marks, size_t n, vj_diag *diag)
{
    if (n > VJ_PEER_MAX_HOLDINGS) {
        vj_diag_set(diag, "too many origin marks (%zu)", n);
        return VJ_E_TOOBIG;
    }
    for (size_t i = 0; i < n; i++) {
        if (marks[i] == NULL || !vj_post_name_is_valid(marks[i]->origin)) {
            vj_diag_set(diag, "origin mark %zu names no valid post", i);
            return VJ_E_PARSE;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(marks[k]->origin, marks[i]->origin) == 0) {
                vj_diag_set(diag, "origin mark %zu repeats an origin", i);
                return VJ_E_PARSE;
            }
        }
    }
    return VJ_OK;
}

int vj_peer_msg_decode(const uint8_t *frame, size_t len, size_t max_envelope,
                       Valija__PeerMessage **out, vj_diag *diag)
{
    Valija__PeerMessage *m = NULL;
    *out = NULL;
    int ret = vj_codec_unpack(&valija__peer_message__descriptor, frame, len,
                              max_envelope + VJ_PEER_FRAME_OVERHEAD, (ProtobufCMessage **)&m);
    if (ret == VJ_E_TOOBIG) {
        vj_diag_set(diag, "frame of %zu bytes is over the limit", len);
        return ret;
    }
    if (ret != VJ_OK) {
        vj_diag_set(diag, "frame does not decode as a PeerMessage");
        return ret;
    }
    ret = VJ_E_PARSE;
    if (m->version == 0) {
        vj_diag_set(diag, "frame carries no protocol version");
        goto out;
    }
    if (m->version != VJ_PEER_PROTOCOL_VERSION) {
        vj_diag_set(diag, "peer protocol version %u is not spoken here", m->version);
        ret = VJ_E_VERSION;
        goto out;
    }
    switch (m->body_case) {
    case VALIJA__PEER_MESSAGE__BODY_HELLO:
        if (m->hello->n_versions > VJ_PEER_MAX_VERSIONS) {
            vj_diag_set(diag, "hello lists too many versions");
            goto out;
        }
        ret = s_marks_ok(m->hello->holdings, m->hello->n_holdings, diag);
        if (ret != VJ_OK)
            goto out;
        break;
    case VALIJA__PEER_MESSAGE__BODY_ENVELOPES:
        if (m->envelopes->n_envelopes == 0 || m->envelopes->n_envelopes > VJ_PEER_MAX_BATCH) {
            vj_diag_set(diag, "a batch must hold 1 to %d envelopes", VJ_PEER_MAX_BATCH);
            goto out;
        }
        for (size_t i = 0; i < m->envelopes->n_envelopes; i++) {
            if (m->envelopes->envelopes[i].len == 0 ||
                m->envelopes->envelopes[i].len > max_envelope) {
                vj_diag_set(diag, "envelope %zu of the batch is empty or over the limit", i);
                ret = VJ_E_TOOBIG;
                goto out;
            }
        }
        break;
    case VALIJA__PEER_MESSAGE__BODY_RECEIPT:
        if (m->receipt->body.len == 0 || m->receipt->body.len > VJ_RECEIPT_MAX_BODY ||
            m->receipt->signature.len != 64) {
            vj_diag_set(diag, "receipt body or signature has the wrong size");
            goto out;
        }
        break;
    case VALIJA__PEER_MESSAGE__BODY_CATCH_UP:
        ret = s_marks_ok(m->catch_up->after, m->catch_up->n_after, diag);
        if (ret != VJ_OK)
            goto out;
        break;
    case VALIJA__PEER_MESSAGE__BODY_REJECT:
        if (m->reject->msg_id.len != 0 && m->reject->msg_id.len != VJ_MSG_ID_LEN) {
            vj_diag_set(diag, "reject names a message id of the wrong size");
            goto out;
        }
        break;
    default:
        vj_diag_set(diag, "frame has no body this version understands");
        goto out;
    }
    *out = m;
    m = NULL;
    ret = VJ_OK;
out:
    vj_codec_free((ProtobufCMessage *)m);
    return ret;
}

static int s_pack(Valija__PeerMessage *m, uint8_t **out, size_t *out_len)
{
    m->version = VJ_PEER_PROTOCOL_VERSION;
    return vj_codec_pack(&m->base, out, out_len);
}

int vj_peer_msg_hello(const char *const *origins, const uint64_t *seqs, size_t n, uint8_t **out,
                      size_t *out_len)
{
    Valija__PeerMessage m = VALIJA__PEER_MESSAGE__INIT;
    Valija__Hello hello = VALIJA__HELLO__INIT;
    uint32_t versions[] = {VJ_PEER_PROTOCOL_VERSION};
    Valija__OriginMark marks[VJ_PEER_MAX_HOLDINGS];
    Valija__OriginMark *mark_ptrs[VJ_PEER_MAX_HOLDINGS];
    if (n > VJ_PEER_MAX_HOLDINGS)
        n = VJ_PEER_MAX_HOLDINGS;
    for (size_t i = 0; i < n; i++) {
        valija__origin_mark__init(&marks[i]);
        marks[i].origin = (char *)origins[i];
        marks[i].seq = seqs[i];
        mark_ptrs[i] = &marks[i];
    }
    hello.versions = versions;
    hello.n_versions = 1;
    hello.holdings = mark_ptrs;
    hello.n_holdings = n;
    m.body_case = VALIJA__PEER_MESSAGE__BODY_HELLO;
    m.hello = &hello;
    return s_pack(&m, out, out_len);
}

int vj_peer_msg_envelopes(uint8_t *const *envs, const size_t *lens, size_t n, uint8_t **out,
                          size_t *out_len)
{
    Valija__PeerMessage m = VALIJA__PEER_MESSAGE__INIT;
    Valija__EnvelopeBatch batch = VALIJA__ENVELOPE_BATCH__INIT;
    ProtobufCBinaryData items[VJ_PEER_MAX_BATCH];
    if (n == 0 || n > VJ_PEER_MAX_BATCH)
        return VJ_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        items[i].data = envs[i];
        items[i].len = lens[i];
    }
    batch.envelopes = items;
    batch.n_envelopes = n;
    m.body_case = VALIJA__PEER_MESSAGE__BODY_ENVELOPES;
    m.envelopes = &batch;
    return s_pack(&m, out, out_len);
}

int vj_peer_msg_receipt(const uint8_t *body, size_t body_len, const uint8_t *sig, size_t sig_len,
                        uint8_t **out, size_t *out_len)
{
    Valija__PeerMessage m = VALIJA__PEER_MESSAGE__INIT;
    Valija__Receipt r = VALIJA__RECEIPT__INIT;
    r.body.data = (uint8_t *)body;
    r.body.len = body_len;
    r.signature.data = (uint8_t *)sig;
    r.signature.len = sig_len;
    m.body_case = VALIJA__PEER_MESSAGE__BODY_RECEIPT;
    m.receipt = &r;
    return s_pack(&m, out, out_len);
}

int vj_peer_msg_reject(Valija__RejectCode code, const uint8_t *msg_id, uint8_t **out,
                       size_t *out_len)
{
    Valija__PeerMessage m = VALIJA__PEER_MESSAGE__INIT;
    Valija__Reject r = VALIJA__REJECT__INIT;
    r.code = code;
    if (msg_id != NULL) {
        r.msg_id.data = (uint8_t *)msg_id;
        r.msg_id.len = VJ_MSG_ID_LEN;
    }
    m.body_case = VALIJA__PEER_MESSAGE__BODY_REJECT;
    m.reject = &r;
    return s_pack(&m, out, out_len);
}
