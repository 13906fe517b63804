/* fuzz_client_reply.c - libFuzzer harness: hostile bytes as a reply from
 * valijad, decoded as libvalija does (vj_client_reply_decode) and converted
 * to the public result structs.  The first byte chooses the body case the
 * client expects; the rest is the reply.
 *
 * Asserts: decode succeeds only with the expected body case; a converted
 * result holds only valid text (the CLI prints it and emits it as JSON).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "valija_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_text(const char *s)
{
    if (s == NULL || !vj_text_is_valid(s, strlen(s)))
        abort();
}

static void s_check_state(const valija_case_state *s)
{
    s_text(s->case_id);
    s_text(s->status);
    s_text(s->facility);
    for (size_t i = 0; i < s->n_shared_with; i++)
        s_text(s->shared_with[i]);
    for (size_t i = 0; i < s->n_notes; i++)
        s_text(s->notes[i].text);
    for (size_t i = 0; i < s->n_conflicts; i++)
        for (size_t k = 0; k < s->conflicts[i].n_values; k++)
            s_text(s->conflicts[i].values[k].value);
    if (s->person != NULL)
        s_text(s->person->name);
}

/* A converted family: 1 to 64 members, valid case ids and text, SELF first
 * and only there, nothing shown for a member not held. */
static void s_check_family(const valija_family *f)
{
    if (f->n_members == 0 || f->n_members > 64)
        abort();
    for (size_t i = 0; i < f->n_members; i++) {
        const valija_family_member *m = &f->members[i];
        if (!vj_case_id_is_valid(m->case_id) || (unsigned)m->relation > VALIJA_FAMILY_SIBLING ||
            (m->relation == VALIJA_FAMILY_SELF) != (i == 0))
            abort();
        s_text(m->status);
        s_text(m->facility);
        s_text(m->owner);
        s_text(m->name);
        if (!m->held && (m->status[0] != '\0' || m->facility[0] != '\0' || m->owner[0] != '\0' ||
                         m->name[0] != '\0'))
            abort();
    }
}

static void s_check_entry(const valija_history_entry *e)
{
    s_text(e->origin);
    s_text(e->rejected_reason);
    if (e->update != NULL) {
        s_text(e->update->case_id);
        s_text(e->update->note);
        for (size_t i = 0; i < e->update->n_share; i++)
            s_text(e->update->share[i]);
        for (size_t i = 0; i < e->update->n_links; i++)
            s_text(e->update->links[i].case_id);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const Valija__ClientReply__BodyCase cases[] = {
        VALIJA__CLIENT_REPLY__BODY__NOT_SET, VALIJA__CLIENT_REPLY__BODY_SUBMIT,
        VALIJA__CLIENT_REPLY__BODY_GET_CASE, VALIJA__CLIENT_REPLY__BODY_HISTORY,
        VALIJA__CLIENT_REPLY__BODY_LIST,     VALIJA__CLIENT_REPLY__BODY_DELIVERY,
        VALIJA__CLIENT_REPLY__BODY_PEERS,    VALIJA__CLIENT_REPLY__BODY_EVENT,
    };
    if (size < 1)
        return 0;
    Valija__ClientReply__BodyCase want = cases[data[0] % (sizeof cases / sizeof cases[0])];
    Valija__ClientReply *r = NULL;
    char why[256];
    vj_arena *arena = NULL;
    valija_err err = vj_client_reply_decode(data + 1, size - 1, want, &r, why, sizeof why);
    if (err != VALIJA_OK) {
        if (r != NULL || why[0] == '\0')
            abort();
        return 0;
    }
    if (r == NULL || r->body_case != want || r->version != 1 ||
        r->status != VALIJA__REPLY_STATUS__REPLY_OK)
        abort();
    switch (want) {
    case VALIJA__CLIENT_REPLY__BODY_GET_CASE: {
        valija_case_state s;
        if (vj_client_state_from_pb(r->get_case->state, &s, &arena, why, sizeof why) == VALIJA_OK)
            s_check_state(&s);
        for (size_t i = 0; i < r->get_case->n_family; i++)
            if (vj_client_state_from_pb(r->get_case->family[i], &s, &arena, why, sizeof why) ==
                VALIJA_OK)
                s_check_state(&s);
        valija_family f;
        if (r->get_case->family_members != NULL &&
            vj_client_family_from_pb(r->get_case->family_members, &f, &arena, why, sizeof why) ==
                VALIJA_OK)
            s_check_family(&f);
        break;
    }
    case VALIJA__CLIENT_REPLY__BODY_LIST: {
        valija_case_state s;
        for (size_t i = 0; i < r->list->n_cases; i++)
            if (vj_client_state_from_pb(r->list->cases[i], &s, &arena, why, sizeof why) ==
                VALIJA_OK)
                s_check_state(&s);
        valija_family f;
        for (size_t i = 0; i < r->list->n_families; i++)
            if (vj_client_family_from_pb(r->list->families[i], &f, &arena, why, sizeof why) ==
                VALIJA_OK)
                s_check_family(&f);
        break;
    }
    case VALIJA__CLIENT_REPLY__BODY_HISTORY: {
        valija_history_entry e;
        for (size_t i = 0; i < r->history->n_entries; i++)
            if (vj_client_entry_from_pb(r->history->entries[i], &e, &arena, why, sizeof why) ==
                VALIJA_OK)
                s_check_entry(&e);
        break;
    }
    case VALIJA__CLIENT_REPLY__BODY_EVENT: {
        valija_history_entry e;
        if (vj_client_entry_from_pb(r->event->entry, &e, &arena, why, sizeof why) == VALIJA_OK)
            s_check_entry(&e);
        break;
    }
    case VALIJA__CLIENT_REPLY__BODY_DELIVERY: {
        valija_delivery d;
        if (vj_client_delivery_from_pb(r->delivery, &d, &arena, why, sizeof why) == VALIJA_OK) {
            s_text(d.origin);
            for (size_t i = 0; i < d.n_recipients; i++)
                s_text(d.recipients[i].post);
        }
        break;
    }
    case VALIJA__CLIENT_REPLY__BODY_PEERS: {
        valija_peer_list p;
        if (vj_client_peers_from_pb(r->peers, &p, &arena, why, sizeof why) == VALIJA_OK) {
            s_text(p.post);
            for (size_t i = 0; i < p.n_peers; i++) {
                s_text(p.peers[i].endpoint);
                s_text(p.peers[i].fingerprint);
            }
        }
        break;
    }
    default:
        break;
    }
    vj_arena_free(&arena);
    vj_codec_free(&r->base);
    return 0;
}
