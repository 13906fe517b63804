/* vj_identity.h - a post's identity: its name and three key pairs, each with
 * one job (Ed25519 signing, X25519 envelope encryption, CURVE transport).
 *
 * A vj_identity owns its secret keys in sodium_malloc'ed, mlock'ed memory that
 * is read-only after load and wiped when destroyed.  Secret key files are
 * created 0600 with O_EXCL|O_NOFOLLOW and refused on load when group or others
 * can read them.  File format: docs/protocol.md, "Secret key file".
 */
#ifndef VJ_IDENTITY_H
#define VJ_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "vj_error.h"

#define VJ_SIGN_PK_LEN 32
#define VJ_SIGN_SK_LEN 64
#define VJ_SIG_LEN 64
#define VJ_BOX_PK_LEN 32
#define VJ_BOX_SK_LEN 32
#define VJ_CURVE_KEY_LEN 32

typedef struct vj_identity vj_identity;

/* Initializes libsodium; call once before anything else in keys/.  Returns
 * VJ_E_CRYPTO if libsodium cannot start. */
int vj_keys_init(void) VJ_MUST_CHECK;

/* Makes a new identity for a valid post name.  *out is owned by the caller. */
int vj_identity_generate(const char *post, vj_identity **out) VJ_MUST_CHECK;

/* Builds an identity from given secrets (32-byte Ed25519 seed, X25519 and
 * CURVE secret keys; copied).  For test vectors and tools that derive keys;
 * vj_identity_generate is what posts use.  VJ_E_INVAL for a bad post name. */
int vj_identity_from_secrets(const char *post, const uint8_t sign_seed[32],
                             const uint8_t box_sk[VJ_BOX_SK_LEN],
                             const uint8_t curve_sk[VJ_CURVE_KEY_LEN],
                             vj_identity **out) VJ_MUST_CHECK;

/* Writes the secret key file at path, mode 0600, refusing to replace an
 * existing file unless force is set.  VJ_E_EXISTS, VJ_E_IO; diag says which. */
int vj_identity_save(const vj_identity *id, const char *path, int force,
                     vj_diag *diag) VJ_MUST_CHECK;

/* Loads a secret key file.  Refuses (VJ_E_PERM) a file that group or others
 * can access or that is not a regular file, and (VJ_E_PARSE) a damaged one:
 * bad header, bad encoding, wrong lengths, checksum mismatch, keys that do not
 * match each other.  *out is owned by the caller. */
int vj_identity_load(const char *path, vj_identity **out, vj_diag *diag) VJ_MUST_CHECK;

/* Parses secret key file text already read into memory (no mode check);
 * used by vj_identity_load and by the fuzzer. */
int vj_identity_parse(const char *text, size_t len, vj_identity **out, vj_diag *diag) VJ_MUST_CHECK;

/* Wipes and frees; NULL or *id == NULL is fine; sets *id to NULL. */
void vj_identity_destroy(vj_identity **id);

/* The post name; owned by id. */
const char *vj_identity_post(const vj_identity *id);

/* Public keys (owned by id, VJ_*_PK_LEN bytes each). */
const uint8_t *vj_identity_sign_pk(const vj_identity *id);
const uint8_t *vj_identity_box_pk(const vj_identity *id);
const uint8_t *vj_identity_curve_pk(const vj_identity *id);

/* The CURVE transport secret key (32 bytes, owned by id, read-only, secret):
 * only for handing to ZMQ_CURVE_SECRETKEY.  Never log it. */
const uint8_t *vj_identity_curve_sk(const vj_identity *id);

#endif
