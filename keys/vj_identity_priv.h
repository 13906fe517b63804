/* vj_identity_priv.h - private to keys/: the secret halves of an identity,
 * for the modules that sign, wrap and unwrap.  Never include outside keys/.
 */
#ifndef VJ_IDENTITY_PRIV_H
#define VJ_IDENTITY_PRIV_H

#include "vj_identity.h"

/* Ed25519 secret key in libsodium's 64-byte form (read-only, secret). */
const uint8_t *vj_identity_sign_sk(const vj_identity *id);

/* X25519 envelope secret key (read-only, secret). */
const uint8_t *vj_identity_box_sk(const vj_identity *id);

#endif
