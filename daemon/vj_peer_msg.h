/* vj_peer_msg.h - decoding and checking of peer protocol frames
 * (proto/peer.proto, docs/protocol.md "Peer protocol").
 *
 * Every frame from a peer is hostile until vj_peer_msg_decode() accepted it:
 * size capped before unpacking, version checked, exactly one body, and every
 * repeated field and byte string within its limit.
 */
#ifndef VJ_PEER_MSG_H
#define VJ_PEER_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "vj_codec.h"

#define VJ_PEER_MAX_BATCH 256     /* envelopes in one EnvelopeBatch */
#define VJ_PEER_MAX_HOLDINGS 1024 /* origin marks in Hello / CatchUpRequest */
#define VJ_PEER_MAX_VERSIONS 16
#define VJ_RECEIPT_MAX_BODY (128 * 1024)
#define VJ_PEER_FRAME_OVERHEAD (64 * 1024) /* frame bytes beyond the envelopes' own */

/* Decodes a frame of at most max_envelope + VJ_PEER_FRAME_OVERHEAD bytes,
 * each envelope at most max_envelope bytes.  On VJ_OK *out is owned by the
 * caller (vj_codec_free).  VJ_E_TOOBIG, VJ_E_PARSE, VJ_E_VERSION; diag says
 * what was wrong. */
int vj_peer_msg_decode(const uint8_t *frame, size_t len, size_t max_envelope,
                       Valija__PeerMessage **out, vj_diag *diag) VJ_MUST_CHECK;

/* Packers for the frames valijad sends; *out malloc'ed, caller frees. */
int vj_peer_msg_hello(const char *const *origins, const uint64_t *seqs, size_t n, uint8_t **out,
                      size_t *out_len) VJ_MUST_CHECK;
int vj_peer_msg_envelopes(uint8_t *const *envs, const size_t *lens, size_t n, uint8_t **out,
                          size_t *out_len) VJ_MUST_CHECK;
int vj_peer_msg_receipt(const uint8_t *body, size_t body_len, const uint8_t *sig, size_t sig_len,
                        uint8_t **out, size_t *out_len) VJ_MUST_CHECK;
int vj_peer_msg_reject(Valija__RejectCode code, const uint8_t *msg_id, uint8_t **out,
                       size_t *out_len) VJ_MUST_CHECK;

#endif
