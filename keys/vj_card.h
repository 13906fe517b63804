/* vj_card.h - public cards: a post's name and three public keys, signed by
 * the post's signing key, and their fingerprints.
 *
 * A card is a plain value (no secrets).  Its text form survives copy, paste
 * and e-mail: the signature covers a canonical binary encoding rebuilt from
 * the parsed fields, not the text (docs/protocol.md, "Public card").
 */
#ifndef VJ_CARD_H
#define VJ_CARD_H

#include <stddef.h>
#include <stdint.h>

#include "vj_codec.h"
#include "vj_error.h"
#include "vj_identity.h"

/* "ABCD EFGH ..." : 32 base32 characters in 8 groups of 4, plus NUL. */
#define VJ_FINGERPRINT_STRLEN 40

typedef struct {
    char post[VJ_POST_NAME_MAX + 1];
    uint8_t sign_pk[VJ_SIGN_PK_LEN];
    uint8_t box_pk[VJ_BOX_PK_LEN];
    uint8_t curve_pk[VJ_CURVE_KEY_LEN];
    uint8_t signature[VJ_SIG_LEN];
} vj_card;

/* Fills *card with id's public keys and signs it. */
int vj_card_from_identity(const vj_identity *id, vj_card *card) VJ_MUST_CHECK;

/* VJ_OK if the self-signature verifies, else VJ_E_AUTH. */
int vj_card_verify(const vj_card *card) VJ_MUST_CHECK;

/* Text form in a new malloc'ed NUL-terminated string; caller frees. */
int vj_card_format(const vj_card *card, char **out) VJ_MUST_CHECK;

/* Parses the text form (does not verify the signature).  VJ_E_PARSE, with
 * the offending line in diag. */
int vj_card_parse(const char *text, size_t len, vj_card *card, vj_diag *diag) VJ_MUST_CHECK;

/* Reads, parses and verifies a card file (at most 64 KiB). */
int vj_card_load(const char *path, vj_card *card, vj_diag *diag) VJ_MUST_CHECK;

/* The fingerprint officers compare out of band. */
void vj_card_fingerprint(const vj_card *card, char out[VJ_FINGERPRINT_STRLEN]);

#endif
