/* vj_keyring.h - this post's identity together with the pinned cards of the
 * posts it knows, and the crypto_box keys precomputed for each of them.
 *
 * The keyring borrows the identity (which must outlive it) and copies cards.
 * Precomputed shared keys live in sodium_malloc'ed memory, wiped on destroy.
 */
#ifndef VJ_KEYRING_H
#define VJ_KEYRING_H

#include "vj_card.h"
#include "vj_identity.h"

typedef struct vj_keyring vj_keyring;

/* A keyring for self; self's own card is added to it. */
int vj_keyring_new(const vj_identity *self, vj_keyring **out) VJ_MUST_CHECK;

/* Pins a verified card (VJ_E_AUTH if its signature fails, VJ_E_EXISTS if a
 * different card is pinned for the same post). */
int vj_keyring_add(vj_keyring *kr, const vj_card *card) VJ_MUST_CHECK;

/* The pinned card of post, or NULL. */
const vj_card *vj_keyring_find(const vj_keyring *kr, const char *post);

/* The post whose CURVE transport key is curve_pk, or NULL. */
const char *vj_keyring_find_by_curve(const vj_keyring *kr,
                                     const uint8_t curve_pk[VJ_CURVE_KEY_LEN]);

const vj_identity *vj_keyring_self(const vj_keyring *kr);

void vj_keyring_destroy(vj_keyring **kr);

#endif
