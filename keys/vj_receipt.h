/* vj_receipt.h - delivery receipts: a receiving post signs the ids of the
 * envelopes it has durably stored (docs/protocol.md, "Receipt").
 */
#ifndef VJ_RECEIPT_H
#define VJ_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "vj_codec.h"
#include "vj_keyring.h"

/* Builds and signs a ReceiptBody from the keyring's own post for ids
 * (n * VJ_MSG_ID_LEN bytes) received from sender.  *body is malloc'ed
 * (caller frees); sig receives VJ_SIG_LEN bytes. */
int vj_receipt_sign(const vj_keyring *kr, const char *sender, int64_t stored_ms, const uint8_t *ids,
                    size_t n, uint8_t **body, size_t *body_len,
                    uint8_t sig[VJ_SIG_LEN]) VJ_MUST_CHECK;

/* Verifies a receipt that claims to come from expected_receiver and to be
 * addressed to the keyring's own post.  On VJ_OK *out is the unpacked body
 * (free with vj_codec_free).  VJ_E_PARSE, VJ_E_VERSION, VJ_E_AUTH. */
int vj_receipt_verify(const vj_keyring *kr, const char *expected_receiver, const uint8_t *body,
                      size_t body_len, const uint8_t *sig, size_t sig_len,
                      Valija__ReceiptBody **out) VJ_MUST_CHECK;

#endif
