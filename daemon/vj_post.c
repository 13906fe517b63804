/* vj_post.c - submit and receive, apart from sockets.
 *
 * Invariants: an envelope is verified (origin's signature against its pinned
 * card) before anything of it is stored; a local update is sealed only for
 * the posts its case is shared with (and this post, so that its own evidence
 * opens like any other) - a share update, which carries nothing but its
 * lists, also for the posts the case was shared with before; the state of a
 * case is always re-derived from its stored events by the case fold
 * (vj_case), never patched in place.
 */
#include "vj_post.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vj_case.h"

/* 2^48 updates: more than a federation will ever write. */
#define VJ_POST_LAMPORT_MAX (UINT64_C(1) << 48)

struct vj_post {
    vj_store *st;
    const vj_keyring *kr;
    size_t max_message_bytes;
    vj_post_event *events;
    size_t n_events;
    size_t cap_events;
    int capture; /* keep each noted event whole, for the watchers */
};

int vj_post_new(vj_store *st, const vj_keyring *kr, size_t max_message_bytes, vj_post **out)
{
    *out = NULL;
    vj_post *p = calloc(1, sizeof *p);
    if (p == NULL)
        return VJ_E_NOMEM;
    p->st = st;
    p->kr = kr;
    p->max_message_bytes = max_message_bytes;
    *out = p;
    return VJ_OK;
}

void vj_post_destroy(vj_post **p)
{
    if (p == NULL || *p == NULL)
        return;
    vj_post_events_truncate(*p, 0);
    free((*p)->events);
    free(*p);
    *p = NULL;
}

void vj_post_set_keyring(vj_post *p, const vj_keyring *kr)
{
    p->kr = kr;
}

static const char *s_self(const vj_post *p)
{
    return vj_identity_post(vj_keyring_self(p->kr));
}

/* Notes a stored event for the watchers; with capture on, also the event
 * itself as a packed HistoryEntry, so that watchers need no second read. */
static int s_note_event(vj_post *p, const char *case_id, const uint8_t msg_id[VJ_MSG_ID_LEN],
                        const Valija__HistoryEntry *entry)
{
    if (p->n_events == p->cap_events) {
        size_t cap = p->cap_events ? p->cap_events * 2 : 64;
        vj_post_event *ev = realloc(p->events, cap * sizeof *ev);
        if (ev == NULL)
            return VJ_E_NOMEM;
        p->events = ev;
        p->cap_events = cap;
    }
    vj_post_event *e = &p->events[p->n_events];
    memset(e, 0, sizeof *e);
    strncpy(e->case_id, case_id, VJ_CASE_ID_MAX);
    memcpy(e->msg_id, msg_id, VJ_MSG_ID_LEN);
    if (p->capture && entry != NULL) {
        int ret = vj_codec_pack(&entry->base, &e->entry, &e->entry_len);
        if (ret != VJ_OK)
            return ret;
    }
    p->n_events++;
    return VJ_OK;
}

void vj_post_set_capture(vj_post *p, int on)
{
    p->capture = on;
}

void vj_post_events_take(vj_post *p, vj_post_event **out, size_t *n)
{
    *out = p->events;
    *n = p->n_events;
    p->events = NULL;
    p->n_events = 0;
    p->cap_events = 0;
}

void vj_post_events_free(vj_post_event *events, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(events[i].entry);
    free(events);
}

void vj_post_events_truncate(vj_post *p, size_t n)
{
    for (size_t i = n; i < p->n_events; i++) {
        free(p->events[i].entry);
        p->events[i].entry = NULL;
    }
    if (n < p->n_events)
        p->n_events = n;
}

size_t vj_post_events_count(const vj_post *p)
{
    return p->n_events;
}

static int s_is_in(char **list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

/* Queues this post's own updates of a case for each post that the new state
 * shares it with and the old did not. */
static int s_queue_history_for_newcomers(vj_post *p, const Valija__CaseState *old,
                                         const Valija__CaseState *now,
                                         Valija__HistoryEntry **entries, size_t n)
{
    const char *self = s_self(p);
    /* A case new here has no earlier updates of ours to send anyone. */
    if (old == NULL)
        return VJ_OK;
    for (size_t k = 0; k < now->n_shared_with; k++) {
        const char *post = now->shared_with[k];
        if (strcmp(post, self) == 0 || s_is_in(old->shared_with, old->n_shared_with, post))
            continue;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(entries[i]->origin, self) != 0 || entries[i]->msg_id.len != VJ_MSG_ID_LEN)
                continue;
            int rc = vj_store_outbox_add(p->st, entries[i]->msg_id.data, post, 0);
            if (rc != VJ_OK && rc != VJ_E_EXISTS)
                return rc;
        }
    }
    return VJ_OK;
}

/* Folds entries (every event of the case), queues earlier updates for posts
 * the fold added to the share list (old: the state before), and stores the
 * new state. */
static int s_refold(vj_post *p, const char *case_id, Valija__HistoryEntry **entries, size_t n,
                    const Valija__CaseState *old)
{
    Valija__CaseState *state = NULL;
    int ret = vj_case_fold(case_id, entries, n, &state);
    if (ret == VJ_E_NOTFOUND) {
        /* No event applies (not opened yet here): nothing to show yet. */
        ret = VJ_OK;
        goto out;
    }
    if (ret != VJ_OK)
        goto out;
    ret = s_queue_history_for_newcomers(p, old, state, entries, n);
    if (ret != VJ_OK)
        goto out;
    /* The materialized state serves lists and filters; notes grow without
     * bound, so they are left out of it and read by folding the events
     * (vj_api answers `case` that way). */
    for (size_t i = 0; i < state->n_notes; i++)
        vj_codec_free((ProtobufCMessage *)state->notes[i]);
    free(state->notes);
    state->notes = NULL;
    state->n_notes = 0;
    ret = vj_store_put_case_from(p->st, state, old);
out:
    vj_codec_free((ProtobufCMessage *)state);
    return ret;
}

/* Refolds a case from the store; when msg_id is given, notes that event
 * (with the verdict the fold gave it) for the watchers. */
static int s_refold_noting(vj_post *p, const char *case_id, const uint8_t *msg_id)
{
    Valija__HistoryEntry **entries = NULL;
    size_t n = 0;
    Valija__CaseState *old = NULL;
    int ret = vj_store_get_case(p->st, case_id, &old);
    if (ret != VJ_OK && ret != VJ_E_NOTFOUND)
        goto out;
    ret = vj_store_history(p->st, case_id, &entries, &n);
    if (ret != VJ_OK)
        goto out;
    ret = s_refold(p, case_id, entries, n, old);
    if (ret != VJ_OK || msg_id == NULL)
        goto out;
    const Valija__HistoryEntry *mine = NULL;
    for (size_t i = 0; i < n && mine == NULL; i++)
        if (entries[i]->msg_id.len == VJ_MSG_ID_LEN &&
            memcmp(entries[i]->msg_id.data, msg_id, VJ_MSG_ID_LEN) == 0)
            mine = entries[i];
    ret = s_note_event(p, case_id, msg_id, mine);
out:
    vj_codec_free((ProtobufCMessage *)old);
    vj_store_history_free(entries, n);
    return ret;
}

int vj_post_refold(vj_post *p, const char *case_id)
{
    return s_refold_noting(p, case_id, NULL);
}

int vj_post_envelope_for(vj_post *p, const uint8_t msg_id[VJ_MSG_ID_LEN], const char *recipient,
                         uint8_t **env, size_t *env_len, vj_diag *diag)
{
    uint8_t *stored = NULL, *plain = NULL;
    size_t stored_len = 0, plain_len = 0;
    vj_envelope_info info;
    *env = NULL;
    *env_len = 0;
    int addressed = 0;
    int ret = vj_store_envelope_is_for(p->st, msg_id, recipient, &addressed);
    if (ret == VJ_OK)
        ret = vj_store_get_envelope(p->st, msg_id, &stored, &stored_len);
    if (ret != VJ_OK)
        goto out;
    if (addressed) {
        *env = stored;
        *env_len = stored_len;
        stored = NULL;
        goto out;
    }
    /* One of ours, from before the case was shared with recipient: the same
     * update, signed again by us, for recipient alone. */
    ret = vj_envelope_open(p->kr, stored, stored_len, SIZE_MAX, &info, &plain, &plain_len, diag);
    if (ret != VJ_OK)
        goto out;
    if (strcmp(info.origin, s_self(p)) != 0) {
        vj_diag_set(diag, "another post's update, not addressed to %s", recipient);
        ret = VJ_E_REFUSED;
        goto out;
    }
    vj_seal_params params = {.origin_seq = info.origin_seq,
                             .created_ms = info.created_ms,
                             .payload = info.payload,
                             .msg_id = msg_id};
    uint8_t id[VJ_MSG_ID_LEN];
    const char *to[1] = {recipient};
    ret = vj_envelope_seal(p->kr, to, 1, &params, plain, plain_len, id, env, env_len, diag);
out:
    vj_envelope_plaintext_free(plain, plain_len);
    free(stored);
    return ret;
}

/* The share list that follows u: its own list for OPENED and SHARE (with the
 * owner always in it), else the case's current list.  Returned pointers are
 * borrowed from u or state; *self_needed tells whether this post must be
 * added. */
static int s_recipients(const vj_post *p, const Valija__CaseState *state,
                        const Valija__CaseUpdate *u, Valija__HistoryEntry **entries,
                        size_t n_entries, const char **out, size_t *n, vj_diag *diag)
{
    const char *self = s_self(p);
    size_t count = 0;
    const char *owner = state != NULL ? state->owner : self;
    /* OPENED and SHARE carry full lists; an absent list is unchanged.
     * Co-owners always receive the case (docs/cases.md). */
    int sets_lists =
        u->kind == VALIJA__UPDATE_KIND__KIND_OPENED || u->kind == VALIJA__UPDATE_KIND__KIND_SHARE;
    char **lists[2] = {NULL, NULL};
    size_t lens[2] = {0, 0};
    if (sets_lists && u->n_share > 0) {
        lists[0] = u->share;
        lens[0] = u->n_share;
    } else if (state != NULL) {
        lists[0] = state->shared_with;
        lens[0] = state->n_shared_with;
    }
    if (sets_lists && u->n_co_owners > 0) {
        lists[1] = u->co_owners;
        lens[1] = u->n_co_owners;
    } else if (state != NULL) {
        lists[1] = state->co_owners;
        lens[1] = state->n_co_owners;
    }
    out[count++] = self;
    if (strcmp(owner, self) != 0)
        out[count++] = owner;
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < lens[l]; i++) {
            int dup = 0;
            for (size_t k = 0; k < count; k++)
                if (strcmp(out[k], lists[l][i]) == 0)
                    dup = 1;
            if (dup)
                continue;
            if (count == VJ_MAX_RECIPIENTS) {
                vj_diag_set(diag, "a case can be shared with at most %d posts", VJ_MAX_RECIPIENTS);
                return VJ_E_REFUSED;
            }
            out[count++] = lists[l][i];
        }
    }
    for (size_t i = 0; i < count; i++) {
        if (vj_keyring_find(p->kr, out[i]) == NULL) {
            vj_diag_set(diag,
                        "the case is shared with %s, but this post has no card for %s: "
                        "add it to the peers in the configuration first",
                        out[i], out[i]);
            return VJ_E_REFUSED;
        }
    }
    /* A change of sharing also goes to every post the case was ever shared
     * with: a post removed earlier must learn of a post added later, because
     * only it can re-seal its own earlier updates for the newcomer.  A share
     * update carries nothing else (vj_post_submit checks). */
    if (u->kind == VALIJA__UPDATE_KIND__KIND_SHARE) {
        for (size_t e = 0; e < n_entries; e++) {
            const Valija__CaseUpdate *past = entries[e]->update;
            if (past == NULL || (past->kind != VALIJA__UPDATE_KIND__KIND_OPENED &&
                                 past->kind != VALIJA__UPDATE_KIND__KIND_SHARE))
                continue;
            char *const *pl[3] = {past->share, past->co_owners, &entries[e]->origin};
            size_t pn[3] = {past->n_share, past->n_co_owners, 1};
            for (int l = 0; l < 3; l++) {
                for (size_t i = 0; i < pn[l]; i++) {
                    int dup = 0;
                    for (size_t k = 0; k < count && !dup; k++)
                        dup = strcmp(out[k], pl[l][i]) == 0;
                    /* a former post whose card was since removed cannot be
                     * reached: it is skipped, not an error */
                    if (dup || vj_keyring_find(p->kr, pl[l][i]) == NULL)
                        continue;
                    if (count == VJ_MAX_RECIPIENTS) {
                        vj_diag_set(diag,
                                    "this share update would go to more than %d posts "
                                    "(every post the case was ever shared with)",
                                    VJ_MAX_RECIPIENTS);
                        return VJ_E_REFUSED;
                    }
                    out[count++] = pl[l][i];
                }
            }
        }
    }
    *n = count;
    return VJ_OK;
}

/* True if a share update carries anything but its lists. */
static int s_share_carries_content(const Valija__CaseUpdate *u)
{
    return (u->status != NULL && u->status[0] != '\0') ||
           (u->facility != NULL && u->facility[0] != '\0') ||
           (u->note != NULL && u->note[0] != '\0') || u->person != NULL ||
           u->representation != NULL || u->visit != NULL || u->n_links > 0;
}

static void s_free_seen(Valija__CaseUpdate *u)
{
    for (size_t i = 0; i < u->n_seen; i++)
        vj_codec_free((ProtobufCMessage *)u->seen[i]);
    free(u->seen);
    u->seen = NULL;
    u->n_seen = 0;
}

int vj_post_submit(vj_post *p, Valija__CaseUpdate *u, int64_t now_ms, uint8_t msg_id[VJ_MSG_ID_LEN],
                   vj_diag *diag)
{
    int ret = VJ_E_PARSE;
    Valija__CaseState *state = NULL;
    Valija__HistoryEntry **entries = NULL;
    size_t n_entries = 0;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    uint8_t *env = NULL;
    size_t env_len = 0;
    const char *self = s_self(p);

    if (u->case_id == NULL || !vj_case_id_is_valid(u->case_id)) {
        vj_diag_set(diag, "case id must be 1 to %d characters of A-Z a-z 0-9 . _ -",
                    VJ_CASE_ID_MAX);
        goto out;
    }
    ret = vj_store_get_case(p->st, u->case_id, &state);
    if (ret == VJ_E_NOTFOUND)
        state = NULL;
    else if (ret != VJ_OK)
        goto out;

    if (u->version == 0)
        u->version = VJ_CASE_UPDATE_VERSION;
    if (u->kind == VALIJA__UPDATE_KIND__KIND_UNSPECIFIED)
        u->kind = vj_case_infer_kind(u, state != NULL);
    if (u->at_ms == 0)
        u->at_ms = now_ms;
    ret = vj_case_update_validate(u, diag);
    if (ret != VJ_OK)
        goto out;
    ret = vj_case_check(state, self, u, diag);
    if (ret != VJ_OK)
        goto out;

    const char *recipients[VJ_MAX_RECIPIENTS];
    size_t n_recipients = 0;
    if (u->kind == VALIJA__UPDATE_KIND__KIND_SHARE && s_share_carries_content(u)) {
        vj_diag_set(diag, "a share update carries only the share and co-owner lists (it also "
                          "goes to posts the case was shared with before); send other changes "
                          "in an update of their own");
        ret = VJ_E_PARSE;
        goto out;
    }
    /* The case's events: who it was ever shared with, and what this post
     * had seen of it when it wrote (for conflicts). */
    ret = vj_store_history(p->st, u->case_id, &entries, &n_entries);
    if (ret != VJ_OK)
        goto out;
    ret = s_recipients(p, state, u, entries, n_entries, recipients, &n_recipients, diag);
    if (ret != VJ_OK)
        goto out;
    s_free_seen(u);
    ret = vj_case_seen(entries, n_entries, &u->seen, &u->n_seen);
    if (ret != VJ_OK)
        goto out;
    vj_seal_params params = {.created_ms = now_ms,
                             .payload = VALIJA__PAYLOAD_TYPE__PAYLOAD_CASE_UPDATE};
    ret = vj_store_next_counters(p->st, &params.origin_seq, &u->lamport);
    if (ret != VJ_OK)
        goto out;
    ret = vj_codec_pack(&u->base, &plain, &plain_len);
    if (ret != VJ_OK)
        goto out;
    ret = vj_envelope_seal(p->kr, recipients, n_recipients, &params, plain, plain_len, msg_id, &env,
                           &env_len, diag);
    if (ret != VJ_OK)
        goto out;
    if (env_len > p->max_message_bytes) {
        vj_diag_set(diag, "the sealed update is %zu bytes, over the limit of %zu", env_len,
                    p->max_message_bytes);
        ret = VJ_E_TOOBIG;
        goto out;
    }
    vj_envelope_info info;
    memset(&info, 0, sizeof info);
    memcpy(info.msg_id, msg_id, VJ_MSG_ID_LEN);
    snprintf(info.origin, sizeof info.origin, "%s", self);
    info.origin_seq = params.origin_seq;
    info.created_ms = params.created_ms;
    info.payload = params.payload;
    info.n_recipients = n_recipients;
    for (size_t i = 0; i < n_recipients; i++)
        snprintf(info.recipients[i], sizeof info.recipients[i], "%s", recipients[i]);

    ret = vj_store_put_envelope(p->st, &info, env, env_len, self, now_ms);
    if (ret != VJ_OK)
        goto out;
    vj_store_event ev = {.info = &info,
                         .case_id = u->case_id,
                         .lamport = u->lamport,
                         .kind = (uint32_t)u->kind,
                         .update = plain,
                         .update_len = plain_len,
                         .received_ms = now_ms,
                         .verified = 1,
                         .applied = 1,
                         .reason = NULL};
    ret = vj_store_put_event(p->st, &ev);
    if (ret != VJ_OK)
        goto out;
    for (size_t i = 0; i < n_recipients; i++) {
        if (strcmp(recipients[i], self) == 0)
            continue;
        ret = vj_store_outbox_add(p->st, msg_id, recipients[i], 0);
        if (ret != VJ_OK)
            goto out;
    }
    /* The case's events as read above plus this one: no second read. */
    Valija__HistoryEntry mine = VALIJA__HISTORY_ENTRY__INIT;
    mine.msg_id.data = msg_id;
    mine.msg_id.len = VJ_MSG_ID_LEN;
    mine.origin = (char *)self;
    mine.seq = params.origin_seq;
    mine.kind = u->kind;
    mine.created_ms = now_ms;
    mine.received_ms = now_ms;
    mine.lamport = u->lamport;
    mine.verified = 1;
    mine.update = u;
    Valija__HistoryEntry **all = malloc((n_entries + 1) * sizeof *all);
    if (all == NULL) {
        ret = VJ_E_NOMEM;
        goto out;
    }
    if (n_entries > 0)
        memcpy(all, entries, n_entries * sizeof *all);
    all[n_entries] = &mine;
    ret = s_refold(p, u->case_id, all, n_entries + 1, state);
    free(all);
    if (ret == VJ_OK)
        ret = s_note_event(p, u->case_id, msg_id, &mine);
    if (mine.rejected_reason != NULL && mine.rejected_reason != protobuf_c_empty_string)
        free(mine.rejected_reason);
out:
    vj_store_history_free(entries, n_entries);
    vj_codec_free((ProtobufCMessage *)state);
    if (plain != NULL) {
        memset(plain, 0, plain_len);
        free(plain);
    }
    free(env);
    return ret;
}

int vj_post_receive(vj_post *p, const char *from, const uint8_t *env, size_t len, int64_t now_ms,
                    vj_envelope_info *info, vj_diag *diag)
{
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    Valija__CaseUpdate *u = NULL;
    int ret;

    memset(info, 0, sizeof *info);
    /* Verify before anything: vj_envelope_open checks the signature against
     * the origin's pinned card before it decrypts. */
    ret = vj_envelope_open(p->kr, env, len, p->max_message_bytes, info, &plain, &plain_len, diag);
    if (ret != VJ_OK)
        goto out;
    /* Idempotent on msg_id: an update held already is receipted again,
     * whatever today's checks would say of it. */
    int held = 0;
    ret = vj_store_has_envelope(p->st, info->msg_id, &held);
    if (ret != VJ_OK)
        goto out;
    if (held) {
        ret = VJ_E_REPLAY;
        goto out;
    }
    ret = vj_codec_unpack(&valija__case_update__descriptor, plain, plain_len, p->max_message_bytes,
                          (ProtobufCMessage **)&u);
    if (ret != VJ_OK) {
        vj_diag_set(diag, "the update inside does not decode");
        goto out;
    }
    if (u->kind == VALIJA__UPDATE_KIND__KIND_UNSPECIFIED || u->version != VJ_CASE_UPDATE_VERSION) {
        vj_diag_set(diag, "the update has no kind or an unknown version");
        ret = VJ_E_PARSE;
        goto out;
    }
    ret = vj_case_update_validate(u, diag);
    if (ret != VJ_OK)
        goto out;
    /* A Lamport time grows by one per update: a huge one can only come from
     * a broken or hostile origin, and would stop this post's clock. */
    if (u->lamport == 0 || u->lamport > VJ_POST_LAMPORT_MAX) {
        vj_diag_set(diag, "Lamport time %llu is out of range", (unsigned long long)u->lamport);
        ret = VJ_E_PARSE;
        goto out;
    }
    ret = vj_store_lamport_observe(p->st, u->lamport);
    if (ret != VJ_OK)
        goto out;
    ret = vj_store_put_envelope(p->st, info, env, len, from, now_ms);
    if (ret == VJ_E_REPLAY) {
        /* Not a duplicate (looked up above): the same origin and sequence
         * under another message id, two different updates signed with one
         * number. */
        vj_diag_set(diag, "origin %s reused sequence %llu", info->origin,
                    (unsigned long long)info->origin_seq);
        ret = VJ_E_AUTH;
        goto out;
    }
    if (ret != VJ_OK)
        goto out;
    if (strcmp(info->origin, s_self(p)) == 0) {
        /* One of our own updates that our store lost (restored from a
         * backup), handed back by a peer: our signature proves it ours.
         * Numbering goes on above it. */
        ret = vj_store_origin_seq_observe(p->st, info->origin_seq);
        if (ret != VJ_OK)
            goto out;
    }
    vj_store_event ev = {.info = info,
                         .case_id = u->case_id,
                         .lamport = u->lamport,
                         .kind = (uint32_t)u->kind,
                         .update = plain,
                         .update_len = plain_len,
                         .received_ms = now_ms,
                         .verified = 1,
                         .applied = 1,
                         .reason = NULL};
    ret = vj_store_put_event(p->st, &ev);
    if (ret != VJ_OK)
        goto out;
    ret = s_refold_noting(p, u->case_id, info->msg_id);
out:
    vj_codec_free((ProtobufCMessage *)u);
    vj_envelope_plaintext_free(plain, plain_len);
    return ret;
}
