/* vj_envelope.h - seal a payload for N recipient posts, and open or inspect
 * sealed envelopes (docs/protocol.md, "Envelope").
 *
 * Open and inspect verify the origin's signature against its pinned card
 * before anything else is trusted; open decrypts only after that.
 */
#ifndef VJ_ENVELOPE_H
#define VJ_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "vj_codec.h"
#include "vj_keyring.h"

typedef struct {
    uint64_t origin_seq; /* the origin's counter for this update, >= 1 */
    int64_t created_ms;  /* Unix time, milliseconds */
    uint32_t payload;    /* Valija__PayloadType */
    /* NULL: a new random message id.  Else this id: only for re-sealing one
     * of this post's own updates for a post added to its case later, which
     * keeps the update's identity (docs/protocol.md, "Re-sealing"). */
    const uint8_t *msg_id;
} vj_seal_params;

/* What a verified header says.  All strings are owned by the struct. */
typedef struct {
    uint8_t msg_id[VJ_MSG_ID_LEN];
    char origin[VJ_POST_NAME_MAX + 1];
    uint64_t origin_seq;
    int64_t created_ms;
    uint32_t payload;
    size_t n_recipients;
    char recipients[VJ_MAX_RECIPIENTS][VJ_POST_NAME_MAX + 1];
} vj_envelope_info;

/* Seals plaintext from the keyring's own post to n distinct recipients, each
 * of which must have a pinned card.  On VJ_OK *env (malloc'ed, caller frees)
 * holds the serialized Envelope and msg_id the new message id. */
int vj_envelope_seal(const vj_keyring *kr, const char *const *recipients, size_t n,
                     const vj_seal_params *params, const uint8_t *plaintext, size_t len,
                     uint8_t msg_id[VJ_MSG_ID_LEN], uint8_t **env, size_t *env_len,
                     vj_diag *diag) VJ_MUST_CHECK;

/* Checks format, sizes and the origin's signature, and fills *info; does not
 * decrypt (a relay or an auditor can do this).  Errors: VJ_E_TOOBIG (over
 * max_len), VJ_E_PARSE, VJ_E_VERSION, VJ_E_UNKNOWN_ORIGIN, VJ_E_AUTH. */
int vj_envelope_inspect(const vj_keyring *kr, const uint8_t *env, size_t len, size_t max_len,
                        vj_envelope_info *info, vj_diag *diag) VJ_MUST_CHECK;

/* Inspects, then, if the keyring's own post is a recipient (else
 * VJ_E_NOTRECIPIENT), unwraps the content key and decrypts.  On VJ_OK
 * *plaintext is malloc'ed: release it with vj_envelope_plaintext_free,
 * which wipes it. */
int vj_envelope_open(const vj_keyring *kr, const uint8_t *env, size_t len, size_t max_len,
                     vj_envelope_info *info, uint8_t **plaintext, size_t *plaintext_len,
                     vj_diag *diag) VJ_MUST_CHECK;

/* Wipes and frees a plaintext from vj_envelope_open; NULL is fine. */
void vj_envelope_plaintext_free(uint8_t *plaintext, size_t len);

#endif
