/* fuzz_secret_key.c - libFuzzer harness: hostile bytes as a secret key file
 * (vj_identity_parse).  Whatever parses must yield an identity whose card
 * verifies.
 */
#include <stdint.h>
#include <stdlib.h>

#include "vj_card.h"
#include "vj_identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (vj_keys_init() != VJ_OK)
            abort();
        ready = 1;
    }
    vj_identity *id = NULL;
    vj_diag d;
    int r = vj_identity_parse((const char *)data, size, &id, &d);
    if ((r == VJ_OK) != (id != NULL))
        abort();
    if (id != NULL) {
        vj_card c;
        if (vj_card_from_identity(id, &c) != VJ_OK || vj_card_verify(&c) != VJ_OK)
            abort();
    }
    vj_identity_destroy(&id);
    return 0;
}
