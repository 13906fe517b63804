/* fuzz_peer_frame.c - libFuzzer harness: hostile bytes as a peer protocol
 * frame, decoded as valijad decodes what a peer sends; envelopes in a batch
 * are inspected and receipts verified with the vector keys (vec-bravo
 * receiving, vec-alpha and vec-charlie pinned).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vec_keys.h"
#include "vj_envelope.h"
#include "vj_peer_msg.h"
#include "vj_receipt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vj_keyring *s_kr;

static void s_init(void)
{
    static vj_identity *self;
    vj_card c;
    vj_diag d;
    if (vj_keys_init() != VJ_OK ||
        vj_identity_parse(vec_key_bravo, strlen(vec_key_bravo), &self, &d) != VJ_OK ||
        vj_keyring_new(self, &s_kr) != VJ_OK)
        abort();
    if (vj_card_parse(vec_card_alpha, strlen(vec_card_alpha), &c, &d) != VJ_OK ||
        vj_keyring_add(s_kr, &c) != VJ_OK)
        abort();
    if (vj_card_parse(vec_card_charlie, strlen(vec_card_charlie), &c, &d) != VJ_OK ||
        vj_keyring_add(s_kr, &c) != VJ_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (s_kr == NULL)
        s_init();
    Valija__PeerMessage *m = NULL;
    vj_diag d;
    if (vj_peer_msg_decode(data, size, VJ_ENVELOPE_MAX_DEFAULT, &m, &d) != VJ_OK) {
        if (m != NULL)
            abort(); /* no message may leak out of a failed decode */
        return 0;
    }
    if (m->body_case == VALIJA__PEER_MESSAGE__BODY_ENVELOPES) {
        for (size_t i = 0; i < m->envelopes->n_envelopes; i++) {
            vj_envelope_info info;
            int r = vj_envelope_inspect(s_kr, m->envelopes->envelopes[i].data,
                                        m->envelopes->envelopes[i].len, VJ_ENVELOPE_MAX_DEFAULT,
                                        &info, &d);
            if (r == VJ_OK && info.n_recipients == 0)
                abort(); /* a verified header always names its recipients */
        }
    } else if (m->body_case == VALIJA__PEER_MESSAGE__BODY_RECEIPT) {
        Valija__ReceiptBody *body = NULL;
        if (vj_receipt_verify(s_kr, "vec-alpha", m->receipt->body.data, m->receipt->body.len,
                              m->receipt->signature.data, m->receipt->signature.len,
                              &body) == VJ_OK)
            vj_codec_free((ProtobufCMessage *)body);
    }
    vj_codec_free((ProtobufCMessage *)m);
    return 0;
}
