/* vj_keyring_priv.h - private to keys/: the precomputed crypto_box keys. */
#ifndef VJ_KEYRING_PRIV_H
#define VJ_KEYRING_PRIV_H

#include <sodium.h>

#include "vj_keyring.h"

/* crypto_box_beforenm(post's box pk, own box sk): crypto_box_BEFORENMBYTES
 * secret bytes owned by kr, or NULL when post has no pinned card. */
const uint8_t *vj_keyring_shared_key(const vj_keyring *kr, const char *post);

#endif
