/* fuzz_client_request.c - libFuzzer harness: hostile bytes as a client
 * request, decoded and checked as valijad does (vj_api_decode), and every
 * update of a submit checked by the case rules (vj_case_update_validate,
 * vj_case_infer_kind).
 */
#include <stdint.h>
#include <stdlib.h>

#include "vj_api.h"
#include "vj_case.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Valija__ClientRequest *req = NULL;
    vj_diag d;
    if (vj_api_decode(data, size, &req, &d) != VJ_OK) {
        if (req != NULL)
            abort();
        return 0;
    }
    if (req->body_case == VALIJA__CLIENT_REQUEST__BODY_SUBMIT) {
        for (size_t i = 0; i < req->submit->n_updates; i++) {
            Valija__CaseUpdate *u = req->submit->updates[i];
            if (u->kind == VALIJA__UPDATE_KIND__KIND_UNSPECIFIED)
                u->kind = vj_case_infer_kind(u, (int)(i & 1));
            if (vj_case_update_validate(u, &d) == VJ_OK && !vj_case_id_is_valid(u->case_id))
                abort(); /* nothing with a bad case id may pass */
        }
    }
    vj_codec_free((ProtobufCMessage *)req);
    return 0;
}
