/* fuzz_card.c - libFuzzer harness: hostile bytes as a public card
 * (vj_card_parse, vj_card_verify).  A card that parses must format and
 * parse back to the same card, with the same fingerprint and verdict.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vj_card.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (vj_keys_init() != VJ_OK)
            abort();
        ready = 1;
    }
    vj_card c, back;
    vj_diag d;
    if (vj_card_parse((const char *)data, size, &c, &d) != VJ_OK)
        return 0;
    int verdict = vj_card_verify(&c);
    char *text = NULL;
    if (vj_card_format(&c, &text) != VJ_OK)
        abort();
    if (vj_card_parse(text, strlen(text), &back, &d) != VJ_OK || memcmp(&c, &back, sizeof c) != 0 ||
        vj_card_verify(&back) != verdict)
        abort();
    char f1[VJ_FINGERPRINT_STRLEN], f2[VJ_FINGERPRINT_STRLEN];
    vj_card_fingerprint(&c, f1);
    vj_card_fingerprint(&back, f2);
    if (strcmp(f1, f2) != 0 || strlen(f1) != 39)
        abort();
    free(text);
    return 0;
}
