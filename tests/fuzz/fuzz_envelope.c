/* fuzz_envelope.c - libFuzzer harness: hostile bytes as an envelope, opened
 * and inspected by vec-bravo (tests/vectors) with vec-alpha and vec-charlie
 * pinned.  Finds crashes, leaks and undefined behaviour in checks 1-5; and
 * asserts that whatever opens is consistent (a plaintext only on VJ_OK).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vec_keys.h"
#include "vj_envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vj_keyring *s_kr;

static void s_init(void)
{
    static vj_identity *self;
    vj_card c;
    vj_diag d;
    if (vj_keys_init() != VJ_OK ||
        vj_identity_parse(vec_key_bravo, strlen(vec_key_bravo), &self, &d) != VJ_OK ||
        vj_keyring_new(self, &s_kr) != VJ_OK)
        abort();
    if (vj_card_parse(vec_card_alpha, strlen(vec_card_alpha), &c, &d) != VJ_OK ||
        vj_keyring_add(s_kr, &c) != VJ_OK)
        abort();
    if (vj_card_parse(vec_card_charlie, strlen(vec_card_charlie), &c, &d) != VJ_OK ||
        vj_keyring_add(s_kr, &c) != VJ_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (s_kr == NULL)
        s_init();
    vj_envelope_info info;
    vj_diag d;
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    int r = vj_envelope_open(s_kr, data, size, VJ_ENVELOPE_MAX_DEFAULT, &info, &pt, &pt_len, &d);
    if ((r == VJ_OK) != (pt != NULL))
        abort();
    vj_envelope_plaintext_free(pt, pt_len);
    int ri = vj_envelope_inspect(s_kr, data, size, VJ_ENVELOPE_MAX_DEFAULT, &info, &d);
    /* open succeeds only where inspect does */
    if (r == VJ_OK && ri != VJ_OK)
        abort();
    return 0;
}
