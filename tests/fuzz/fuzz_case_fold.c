/* fuzz_case_fold.c - libFuzzer harness: hostile bytes as a set of case
 * events (a HistoryReply), folded by the case model as a post folds what its
 * peers sent.  Checks that the fold never crashes and is deterministic: the
 * same events in reverse order give the same packed state.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vj_case.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int s_fold_packed(Valija__HistoryEntry **entries, size_t n, uint8_t **out, size_t *len)
{
    Valija__CaseState *state = NULL;
    *out = NULL;
    *len = 0;
    int rc = vj_case_fold("FUZZ-1", entries, n, &state);
    if (rc == VJ_OK) {
        if (vj_codec_pack(&state->base, out, len) != VJ_OK)
            abort();
        vj_codec_free((ProtobufCMessage *)state);
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Valija__HistoryReply *h = NULL;
    if (vj_codec_unpack(&valija__history_reply__descriptor, data, size, 1 << 20,
                        (ProtobufCMessage **)&h) != VJ_OK)
        return 0;
    if (h->n_entries > 64) {
        vj_codec_free((ProtobufCMessage *)h);
        return 0;
    }
    /* Duplicates are the caller's to remove (as the store does). */
    for (size_t i = 0; i < h->n_entries; i++)
        for (size_t k = 0; k < i; k++)
            if (h->entries[i]->msg_id.len == h->entries[k]->msg_id.len &&
                (h->entries[i]->msg_id.len == 0 ||
                 memcmp(h->entries[i]->msg_id.data, h->entries[k]->msg_id.data,
                        h->entries[i]->msg_id.len) == 0)) {
                vj_codec_free((ProtobufCMessage *)h);
                return 0;
            }
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    int ra = s_fold_packed(h->entries, h->n_entries, &a, &alen);
    for (size_t i = 0; i < h->n_entries / 2; i++) {
        Valija__HistoryEntry *t = h->entries[i];
        h->entries[i] = h->entries[h->n_entries - 1 - i];
        h->entries[h->n_entries - 1 - i] = t;
    }
    int rb = s_fold_packed(h->entries, h->n_entries, &b, &blen);
    if (ra != rb || alen != blen || (alen > 0 && memcmp(a, b, alen) != 0))
        abort(); /* the order of arrival changed the state */
    free(a);
    free(b);
    vj_codec_free((ProtobufCMessage *)h);
    return 0;
}
