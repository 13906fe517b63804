/* vj_codec.h - bounded protobuf decoding and the limits of the wire formats.
 *
 * protobuf-c has no size or depth limit of its own: every unpack of untrusted
 * bytes goes through vj_codec_unpack(), which refuses input over a cap before
 * the library sees it.  Schemas are non-recursive, so depth is bounded by them.
 */
#ifndef VJ_CODEC_H
#define VJ_CODEC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "vj_error.h"
#include "envelope.pb-c.h"
#include "case.pb-c.h"
#include "peer.pb-c.h"
#include "client.pb-c.h"

/* Limits of the wire formats (docs/protocol.md, "Limits"). */
#define VJ_POST_NAME_MAX 64 /* bytes of a post name */
#define VJ_CASE_ID_MAX 64   /* bytes of a case id */
#define VJ_MSG_ID_LEN 16
#define VJ_MAX_RECIPIENTS 64
#define VJ_HEADER_MAX 8192 /* bytes of a serialized EnvelopeHeader */
#define VJ_ENVELOPE_MAX_DEFAULT (1024 * 1024)
#define VJ_TEXT_MAX 16384 /* bytes of a note or other free text */
#define VJ_FIELD_MAX 256  /* bytes of a short text field */

#define VJ_ENVELOPE_FORMAT 1
#define VJ_HEADER_VERSION 1
#define VJ_CASE_UPDATE_VERSION 1
#define VJ_PEER_PROTOCOL_VERSION 1
#define VJ_CLIENT_PROTOCOL_VERSION 1

/* Unpacks len bytes as a message of type desc, refusing more than max_len bytes.
 * On VJ_OK *out is owned by the caller: free it with vj_codec_free(). */
int vj_codec_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                    size_t max_len, ProtobufCMessage **out) VJ_MUST_CHECK;

/* Packs msg into a new malloc'ed buffer (*out, *out_len); caller frees. */
int vj_codec_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len) VJ_MUST_CHECK;

/* Frees an unpacked message; NULL is fine. */
void vj_codec_free(ProtobufCMessage *msg);

/* True if name is a valid post name: 1..VJ_POST_NAME_MAX bytes of [a-z0-9-],
 * not starting or ending with '-'. */
int vj_post_name_is_valid(const char *name);

/* True if id is a valid case id: 1..VJ_CASE_ID_MAX bytes of [A-Za-z0-9._-]. */
int vj_case_id_is_valid(const char *id);

/* True if s (len bytes) is valid UTF-8 without NUL or C0 controls other than
 * tab and newline. */
int vj_text_is_valid(const char *s, size_t len);

#endif
