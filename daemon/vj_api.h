/* vj_api.h - the client protocol on the daemon's side: decoding requests
 * and building replies (proto/client.proto, docs/protocol.md "Client
 * protocol").  Read-only verbs are answered here from the store; submit and
 * watch need the main loop (transactions, watchers) and use the packers.
 */
#ifndef VJ_API_H
#define VJ_API_H

#include <stddef.h>
#include <stdint.h>

#include "vj_codec.h"
#include "vj_store.h"

#define VJ_CLIENT_MAX_REQUEST (64 * 1024 * 1024)
#define VJ_CLIENT_MAX_SUBMIT 1024 /* updates in one submit request */

/* Decodes and checks a request: size, version, one known body, submit
 * count.  VJ_OK with *out (vj_codec_free), or an error with diag. */
int vj_api_decode(const uint8_t *data, size_t len, Valija__ClientRequest **out,
                  vj_diag *diag) VJ_MUST_CHECK;

/* Answers case, history, list and status requests from the store.  *out is
 * a packed ClientReply (malloc'ed). */
int vj_api_answer(vj_store *st, const Valija__ClientRequest *req, uint8_t **out,
                  size_t *out_len) VJ_MUST_CHECK;

/* Packed replies. */
int vj_api_reply_error(Valija__ReplyStatus status, const char *error, uint8_t **out,
                       size_t *out_len) VJ_MUST_CHECK;
int vj_api_reply_submit(const uint8_t *ids, size_t n, uint8_t **out, size_t *out_len) VJ_MUST_CHECK;
int vj_api_reply_peers(const Valija__PeersReply *peers, uint8_t **out,
                       size_t *out_len) VJ_MUST_CHECK;
/* The watch event for a packed HistoryEntry (from vj_post's capture). */
int vj_api_reply_entry(const uint8_t *entry, size_t entry_len, uint8_t **out,
                       size_t *out_len) VJ_MUST_CHECK;
/* The watch event for msg_id of case_id (looked up in the store). */
int vj_api_reply_event(vj_store *st, const char *case_id, const uint8_t msg_id[VJ_MSG_ID_LEN],
                       uint8_t **out, size_t *out_len) VJ_MUST_CHECK;

#endif
