/* vj_api.c - client requests in, replies out.  Requests are capped and
 * checked before use; replies say what was wrong and what to do.  History
 * is re-folded on read so that each entry says whether the case rules
 * applied it, as every post would decide. */
#include "vj_api.h"

#include <stdlib.h>
#include <string.h>

#include "vj_case.h"

int vj_api_decode(const uint8_t *data, size_t len, Valija__ClientRequest **out, vj_diag *diag)
{
    Valija__ClientRequest *req = NULL;
    *out = NULL;
    int ret = vj_codec_unpack(&valija__client_request__descriptor, data, len, VJ_CLIENT_MAX_REQUEST,
                              (ProtobufCMessage **)&req);
    if (ret != VJ_OK) {
        vj_diag_set(diag, ret == VJ_E_TOOBIG ? "request too large" : "request does not decode");
        return ret;
    }
    ret = VJ_E_PARSE;
    if (req->version == 0) {
        vj_diag_set(diag, "request carries no protocol version (empty or not a ClientRequest)");
        goto out;
    }
    if (req->version != VJ_CLIENT_PROTOCOL_VERSION) {
        vj_diag_set(diag, "client protocol version %u is not spoken by this valijad (it speaks %d)",
                    req->version, VJ_CLIENT_PROTOCOL_VERSION);
        ret = VJ_E_VERSION;
        goto out;
    }
    switch (req->body_case) {
    case VALIJA__CLIENT_REQUEST__BODY_SUBMIT:
        if (req->submit->n_updates == 0 || req->submit->n_updates > VJ_CLIENT_MAX_SUBMIT) {
            vj_diag_set(diag, "a submit request carries 1 to %d updates", VJ_CLIENT_MAX_SUBMIT);
            goto out;
        }
        for (size_t i = 0; i < req->submit->n_updates; i++) {
            if (req->submit->updates[i] == NULL) {
                vj_diag_set(diag, "update %zu is empty", i + 1);
                goto out;
            }
        }
        break;
    case VALIJA__CLIENT_REQUEST__BODY_GET_CASE:
        if (!vj_case_id_is_valid(req->get_case->case_id)) {
            vj_diag_set(diag, "not a valid case id");
            goto out;
        }
        break;
    case VALIJA__CLIENT_REQUEST__BODY_HISTORY:
        if (!vj_case_id_is_valid(req->history->case_id)) {
            vj_diag_set(diag, "not a valid case id");
            goto out;
        }
        break;
    case VALIJA__CLIENT_REQUEST__BODY_STATUS:
        if (req->status->msg_id.len != VJ_MSG_ID_LEN) {
            vj_diag_set(diag, "a message id is 16 bytes (32 hex characters)");
            goto out;
        }
        break;
    case VALIJA__CLIENT_REQUEST__BODY_LIST: {
        Valija__ListRequest *l = req->list;
        if (strlen(l->status) > VJ_FIELD_MAX || strlen(l->facility) > VJ_FIELD_MAX ||
            (l->shared_with[0] != '\0' && !vj_post_name_is_valid(l->shared_with))) {
            vj_diag_set(diag, "a list filter is too long or names no valid post");
            goto out;
        }
        break;
    }
    case VALIJA__CLIENT_REQUEST__BODY_PEERS:
        break;
    case VALIJA__CLIENT_REQUEST__BODY_WATCH:
        if (req->watch->case_id[0] != '\0' && !vj_case_id_is_valid(req->watch->case_id)) {
            vj_diag_set(diag, "not a valid case id");
            goto out;
        }
        break;
    default:
        vj_diag_set(diag, "request has no verb this valijad understands");
        goto out;
    }
    *out = req;
    req = NULL;
    ret = VJ_OK;
out:
    vj_codec_free((ProtobufCMessage *)req);
    return ret;
}

static int s_pack_reply(Valija__ClientReply *r, uint8_t **out, size_t *out_len)
{
    r->version = VJ_CLIENT_PROTOCOL_VERSION;
    return vj_codec_pack(&r->base, out, out_len);
}

int vj_api_reply_error(Valija__ReplyStatus status, const char *error, uint8_t **out,
                       size_t *out_len)
{
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.status = status;
    r.error = (char *)(error != NULL ? error : "");
    return s_pack_reply(&r, out, out_len);
}

int vj_api_reply_submit(const uint8_t *ids, size_t n, uint8_t **out, size_t *out_len)
{
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    Valija__SubmitReply s = VALIJA__SUBMIT_REPLY__INIT;
    ProtobufCBinaryData *items = calloc(n ? n : 1, sizeof *items);
    if (items == NULL)
        return VJ_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        items[i].data = (uint8_t *)ids + i * VJ_MSG_ID_LEN;
        items[i].len = VJ_MSG_ID_LEN;
    }
    s.msg_ids = items;
    s.n_msg_ids = n;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_SUBMIT;
    r.submit = &s;
    int ret = s_pack_reply(&r, out, out_len);
    free(items);
    return ret;
}

int vj_api_reply_peers(const Valija__PeersReply *peers, uint8_t **out, size_t *out_len)
{
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_PEERS;
    r.peers = (Valija__PeersReply *)peers;
    return s_pack_reply(&r, out, out_len);
}

/* History of a case with applied flags from the fold. */
static int s_history(vj_store *st, const char *case_id, Valija__HistoryEntry ***entries, size_t *n)
{
    int ret = vj_store_history(st, case_id, entries, n);
    if (ret != VJ_OK)
        return ret;
    Valija__CaseState *state = NULL;
    ret = vj_case_fold(case_id, *entries, *n, &state);
    vj_codec_free((ProtobufCMessage *)state);
    if (ret == VJ_E_NOTFOUND)
        ret = VJ_OK; /* no event applies yet: the flags say so */
    return ret;
}

static int s_answer_case(vj_store *st, const Valija__CaseRequest *req, uint8_t **out,
                         size_t *out_len)
{
    Valija__CaseState *state = NULL;
    Valija__CaseState **family = NULL;
    size_t n_family = 0;
    Valija__Family *members = NULL;
    Valija__HistoryEntry **entries = NULL;
    size_t n_entries = 0;
    /* The whole truth of a case is the fold of its events, notes included
     * (the materialized state leaves notes out). */
    int ret = vj_store_history(st, req->case_id, &entries, &n_entries);
    if (ret == VJ_OK)
        ret = vj_case_fold(req->case_id, entries, n_entries, &state);
    vj_store_history_free(entries, n_entries);
    if (ret == VJ_E_NOTFOUND)
        return vj_api_reply_error(VALIJA__REPLY_STATUS__REPLY_NOT_FOUND,
                                  "no such case at this post (check the id, or whether the case "
                                  "is shared with this post)",
                                  out, out_len);
    if (ret != VJ_OK)
        return ret;
    if (req->family) {
        /* every member, linked in either direction (docs/cases.md
         * "Families"), the case first; members not held are named only */
        ret = vj_store_family(st, req->case_id, &members);
        if (ret != VJ_OK)
            goto out;
        /* and the held ones other than the case, whole, in CaseReply.family */
        family = calloc(members->n_members + 1, sizeof *family);
        if (family == NULL) {
            ret = VJ_E_NOMEM;
            goto out;
        }
        for (size_t i = 1; i < members->n_members; i++) {
            if (!members->members[i]->held)
                continue;
            Valija__CaseState *member = NULL;
            int rc = vj_store_get_case(st, members->members[i]->case_id, &member);
            if (rc == VJ_OK)
                family[n_family++] = member;
            else if (rc != VJ_E_NOTFOUND) {
                ret = rc;
                goto out;
            }
        }
    }
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    Valija__CaseReply c = VALIJA__CASE_REPLY__INIT;
    c.state = state;
    c.family = family;
    c.n_family = n_family;
    c.family_members = members;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_GET_CASE;
    r.get_case = &c;
    ret = s_pack_reply(&r, out, out_len);
out:
    for (size_t i = 0; i < n_family; i++)
        vj_codec_free((ProtobufCMessage *)family[i]);
    free(family);
    vj_codec_free((ProtobufCMessage *)members);
    vj_codec_free((ProtobufCMessage *)state);
    return ret;
}

static int s_answer_history(vj_store *st, const Valija__HistoryRequest *req, uint8_t **out,
                            size_t *out_len)
{
    Valija__HistoryEntry **entries = NULL;
    size_t n = 0;
    int ret = s_history(st, req->case_id, &entries, &n);
    if (ret != VJ_OK)
        goto out;
    if (n == 0) {
        ret = vj_api_reply_error(VALIJA__REPLY_STATUS__REPLY_NOT_FOUND,
                                 "no updates of this case at this post", out, out_len);
        goto out;
    }
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    Valija__HistoryReply h = VALIJA__HISTORY_REPLY__INIT;
    h.entries = entries;
    h.n_entries = n;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_HISTORY;
    r.history = &h;
    ret = s_pack_reply(&r, out, out_len);
out:
    vj_store_history_free(entries, n);
    return ret;
}

static int s_answer_list(vj_store *st, const Valija__ListRequest *req, uint8_t **out,
                         size_t *out_len)
{
    Valija__CaseState **cases = NULL;
    size_t n = 0;
    Valija__Family **families = NULL;
    size_t n_families = 0;
    int ret;
    if (req->separated_only) {
        /* families, not cases (docs/cases.md "Families") */
        if (req->status[0] != '\0' || req->facility[0] != '\0' || req->shared_with[0] != '\0' ||
            req->updated_since_ms != 0 || req->conflicts_only)
            return vj_api_reply_error(VALIJA__REPLY_STATUS__REPLY_BAD_REQUEST,
                                      "separated families are listed whole: ask for them with "
                                      "no other filter than a limit",
                                      out, out_len);
        ret = vj_store_separated_families(st, req->limit, &families, &n_families);
    } else {
        ret = vj_store_list_cases(st, req, &cases, &n);
        if (ret == VJ_E_INVAL)
            return vj_api_reply_error(VALIJA__REPLY_STATUS__REPLY_BAD_REQUEST,
                                      "this filter is not supported by this valijad", out, out_len);
    }
    if (ret != VJ_OK)
        return ret;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    Valija__ListReply l = VALIJA__LIST_REPLY__INIT;
    l.cases = cases;
    l.n_cases = n;
    l.families = families;
    l.n_families = n_families;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_LIST;
    r.list = &l;
    ret = s_pack_reply(&r, out, out_len);
    vj_store_cases_free(cases, n);
    vj_store_families_free(families, n_families);
    return ret;
}

static int s_answer_status(vj_store *st, const Valija__StatusRequest *req, uint8_t **out,
                           size_t *out_len)
{
    Valija__DeliveryReply *d = NULL;
    int ret = vj_store_delivery(st, req->msg_id.data, &d);
    if (ret == VJ_E_NOTFOUND)
        return vj_api_reply_error(VALIJA__REPLY_STATUS__REPLY_NOT_FOUND,
                                  "no such message at this post", out, out_len);
    if (ret != VJ_OK)
        return ret;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_DELIVERY;
    r.delivery = d;
    ret = s_pack_reply(&r, out, out_len);
    vj_codec_free((ProtobufCMessage *)d);
    return ret;
}

int vj_api_answer(vj_store *st, const Valija__ClientRequest *req, uint8_t **out, size_t *out_len)
{
    switch (req->body_case) {
    case VALIJA__CLIENT_REQUEST__BODY_GET_CASE:
        return s_answer_case(st, req->get_case, out, out_len);
    case VALIJA__CLIENT_REQUEST__BODY_HISTORY:
        return s_answer_history(st, req->history, out, out_len);
    case VALIJA__CLIENT_REQUEST__BODY_LIST:
        return s_answer_list(st, req->list, out, out_len);
    case VALIJA__CLIENT_REQUEST__BODY_STATUS:
        return s_answer_status(st, req->status, out, out_len);
    default:
        return VJ_E_INVAL;
    }
}

int vj_api_reply_entry(const uint8_t *entry, size_t entry_len, uint8_t **out, size_t *out_len)
{
    Valija__HistoryEntry *e = NULL;
    int ret = vj_codec_unpack(&valija__history_entry__descriptor, entry, entry_len,
                              VJ_CLIENT_MAX_REQUEST, (ProtobufCMessage **)&e);
    if (ret != VJ_OK)
        return ret;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    Valija__WatchEvent w = VALIJA__WATCH_EVENT__INIT;
    w.entry = e;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_EVENT;
    r.event = &w;
    ret = s_pack_reply(&r, out, out_len);
    vj_codec_free((ProtobufCMessage *)e);
    return ret;
}

int vj_api_reply_event(vj_store *st, const char *case_id, const uint8_t msg_id[VJ_MSG_ID_LEN],
                       uint8_t **out, size_t *out_len)
{
    Valija__HistoryEntry **entries = NULL;
    size_t n = 0;
    int ret = s_history(st, case_id, &entries, &n);
    if (ret != VJ_OK)
        goto out;
    ret = VJ_E_NOTFOUND;
    for (size_t i = 0; i < n; i++) {
        if (entries[i]->msg_id.len == VJ_MSG_ID_LEN &&
            memcmp(entries[i]->msg_id.data, msg_id, VJ_MSG_ID_LEN) == 0) {
            Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
            Valija__WatchEvent e = VALIJA__WATCH_EVENT__INIT;
            e.entry = entries[i];
            r.body_case = VALIJA__CLIENT_REPLY__BODY_EVENT;
            r.event = &e;
            ret = s_pack_reply(&r, out, out_len);
            break;
        }
    }
out:
    vj_store_history_free(entries, n);
    return ret;
}
