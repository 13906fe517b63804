/* vj_case.c - the case model: validation of case updates, kind inference, the
 * authority rules, and the deterministic fold of a case's events into its
 * state (the rules in words: docs/cases.md).
 *
 * Invariants:
 * - The fold is a pure function of the set of events: it sorts a copy of the
 *   entry pointers by (lamport, origin, msg_id), byte-wise, and every later
 *   decision depends only on that order and on the events' contents.  The
 *   state is built with pointers borrowed from the entries, then packed and
 *   unpacked, so the caller gets one self-contained message that protobuf-c
 *   frees, and two folds of the same set pack to the same bytes.
 * - One rule decides authority (s_authorize), used by the fold and by
 *   vj_case_check(), so a local submission is refused for exactly the reason
 *   the fold would reject it.
 * - Diagnostics and rejection reasons name fields, kinds, post names and case
 *   ids (all validated character sets), never a field's content.
 * - Pure logic: no I/O, no cryptography, no allocation that outlives a call
 *   except what is handed to the caller.
 */
#include "vj_case.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_REASON_MAX 384

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

static int s_has(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static const char *s_or_empty(const char *s)
{
    return s != NULL ? s : "";
}

static const char *s_kind_name(Valija__UpdateKind k)
{
    switch (k) {
    case VALIJA__UPDATE_KIND__KIND_OPENED:
        return "opened";
    case VALIJA__UPDATE_KIND__KIND_STATUS:
        return "status";
    case VALIJA__UPDATE_KIND__KIND_LOCATION:
        return "location";
    case VALIJA__UPDATE_KIND__KIND_VISIT:
        return "visit";
    case VALIJA__UPDATE_KIND__KIND_REPRESENTATION:
        return "representation";
    case VALIJA__UPDATE_KIND__KIND_NOTE:
        return "note";
    case VALIJA__UPDATE_KIND__KIND_LINK:
        return "link";
    case VALIJA__UPDATE_KIND__KIND_SHARE:
        return "share";
    case VALIJA__UPDATE_KIND__KIND_CLOSED:
        return "closed";
    default:
        return "unspecified";
    }
}

static int s_kind_is_known(int k)
{
    return k >= VALIJA__UPDATE_KIND__KIND_OPENED && k <= VALIJA__UPDATE_KIND__KIND_CLOSED;
}

static int s_visit_is_set(const Valija__Visit *v)
{
    return v != NULL && (s_has(v->visitor) || v->at_ms != 0);
}

static int s_has_sharing(const Valija__CaseUpdate *u)
{
    return u->n_share > 0 || u->n_co_owners > 0;
}

/* ------------------------------------------------------------------ */
/* validation                                                           */

/* A short field: at most VJ_FIELD_MAX bytes of UTF-8 on one line. */
static int s_check_short(const char *field, const char *s, vj_diag *diag)
{
    if (s == NULL)
        return VJ_OK;
    size_t len = strlen(s);
    if (len > VJ_FIELD_MAX) {
        vj_diag_set(diag, "%s: too long (at most %d bytes)", field, VJ_FIELD_MAX);
        return VJ_E_PARSE;
    }
    if (!vj_text_is_valid(s, len) || memchr(s, '\n', len) != NULL || memchr(s, '\t', len) != NULL) {
        vj_diag_set(diag,
                    "%s: not valid UTF-8 on one line (control characters, tabs and line "
                    "breaks are not allowed)",
                    field);
        return VJ_E_PARSE;
    }
    return VJ_OK;
}

static int s_digits(const char *s, size_t n, int *value)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *value = v;
    return 1;
}

/* YYYY-MM-DD, a real calendar date between 1900-01-01 and 2100-12-31. */
static int s_date_is_valid(const char *s)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    if (!s_digits(s, 4, &y) || !s_digits(s + 5, 2, &m) || !s_digits(s + 8, 2, &d))
        return 0;
    if (y < 1900 || y > 2100 || m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int max = days[m - 1] + (m == 2 && leap ? 1 : 0);
    return d <= max;
}

static int s_nationality_is_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 3)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return 0;
    return 1;
}

static int s_check_posts(const char *field, char *const *names, size_t n, vj_diag *diag)
{
    if (n > 0 && names == NULL) {
        vj_diag_set(diag, "%s: missing list", field);
        return VJ_E_PARSE;
    }
    if (n > VJ_MAX_RECIPIENTS) {
        vj_diag_set(diag, "%s: too many posts (at most %d)", field, VJ_MAX_RECIPIENTS);
        return VJ_E_PARSE;
    }
    for (size_t i = 0; i < n; i++) {
        if (!vj_post_name_is_valid(names[i])) {
            vj_diag_set(diag,
                        "%s: entry %zu is not a valid post name (1-%d of a-z 0-9 -, not starting "
                        "or ending with -)",
                        field, i + 1, VJ_POST_NAME_MAX);
            return VJ_E_PARSE;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(names[i], names[j]) == 0) {
                vj_diag_set(diag, "%s: post %s is listed twice", field, names[i]);
                return VJ_E_PARSE;
            }
        }
    }
    return VJ_OK;
}

static int s_check_links(const Valija__CaseUpdate *u, vj_diag *diag)
{
    if (u->n_links > 0 && u->links == NULL) {
        vj_diag_set(diag, "links: missing list");
        return VJ_E_PARSE;
    }
    if (u->n_links > VJ_CASE_LINKS_MAX) {
        vj_diag_set(diag, "links: too many (at most %d)", VJ_CASE_LINKS_MAX);
        return VJ_E_PARSE;
    }
    for (size_t i = 0; i < u->n_links; i++) {
        const Valija__CaseLink *l = u->links[i];
        if (l == NULL) {
            vj_diag_set(diag, "links: entry %zu is missing", i + 1);
            return VJ_E_PARSE;
        }
        if (l->relation != VALIJA__LINK_RELATION__LINK_PARENT &&
            l->relation != VALIJA__LINK_RELATION__LINK_CHILD &&
            l->relation != VALIJA__LINK_RELATION__LINK_SIBLING) {
            vj_diag_set(diag, "links: entry %zu has no known relation (parent, child, sibling)",
                        i + 1);
            return VJ_E_PARSE;
        }
        if (!vj_case_id_is_valid(l->case_id)) {
            vj_diag_set(diag, "links: entry %zu is not a valid case id (1-%d of A-Z a-z 0-9 . _ -)",
                        i + 1, VJ_CASE_ID_MAX);
            return VJ_E_PARSE;
        }
        if (strcmp(l->case_id, u->case_id) == 0) {
            vj_diag_set(diag, "links: entry %zu links the case to itself", i + 1);
            return VJ_E_PARSE;
        }
        for (size_t j = 0; j < i; j++) {
            if (u->links[j]->relation == l->relation &&
                strcmp(u->links[j]->case_id, l->case_id) == 0) {
                vj_diag_set(diag, "links: entry %zu repeats entry %zu", i + 1, j + 1);
                return VJ_E_PARSE;
            }
        }
    }
    return VJ_OK;
}

static int s_check_seen(const Valija__CaseUpdate *u, vj_diag *diag)
{
    if (u->n_seen > 0 && u->seen == NULL) {
        vj_diag_set(diag, "seen: missing list");
        return VJ_E_PARSE;
    }
    if (u->n_seen > VJ_CASE_SEEN_MAX) {
        vj_diag_set(diag, "seen: too many origins (at most %d)", VJ_CASE_SEEN_MAX);
        return VJ_E_PARSE;
    }
    for (size_t i = 0; i < u->n_seen; i++) {
        const Valija__CaseClock *c = u->seen[i];
        if (c == NULL || !vj_post_name_is_valid(c->origin)) {
            vj_diag_set(diag, "seen: entry %zu is not a valid post name", i + 1);
            return VJ_E_PARSE;
        }
        if (c->seq == 0) {
            vj_diag_set(diag, "seen: entry %zu has sequence number 0", i + 1);
            return VJ_E_PARSE;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(u->seen[j]->origin, c->origin) == 0) {
                vj_diag_set(diag, "seen: origin %s is listed twice", c->origin);
                return VJ_E_PARSE;
            }
        }
    }
    return VJ_OK;
}

static int s_check_person(const Valija__Person *p, vj_diag *diag)
{
    int ret = VJ_E_PARSE;
    if (p == NULL)
        return VJ_OK;
    if ((ret = s_check_short("person.name", p->name, diag)) != VJ_OK ||
        (ret = s_check_short("person.date_of_birth", p->date_of_birth, diag)) != VJ_OK ||
        (ret = s_check_short("person.nationality", p->nationality, diag)) != VJ_OK ||
        (ret = s_check_short("person.document", p->document, diag)) != VJ_OK ||
        (ret = s_check_short("person.alien_number", p->alien_number, diag)) != VJ_OK)
        return ret;
    if (s_has(p->date_of_birth) && !s_date_is_valid(p->date_of_birth)) {
        vj_diag_set(diag, "person.date_of_birth: not a date as YYYY-MM-DD (1900-2100)");
        return VJ_E_PARSE;
    }
    if (s_has(p->nationality) && !s_nationality_is_valid(p->nationality)) {
        vj_diag_set(diag, "person.nationality: not an ISO 3166 country code (2 or 3 uppercase "
                          "letters, e.g. MX or GTM)");
        return VJ_E_PARSE;
    }
    if (p->minor != VALIJA__MINOR__MINOR_UNKNOWN && p->minor != VALIJA__MINOR__MINOR_YES &&
        p->minor != VALIJA__MINOR__MINOR_NO) {
        vj_diag_set(diag, "person.minor: unknown value (yes, no or unknown)");
        return VJ_E_PARSE;
    }
    return VJ_OK;
}

/* The field that a kind must carry, or NULL when it carries what it needs. */
static const char *s_kind_misses(const Valija__CaseUpdate *u)
{
    switch (u->kind) {
    case VALIJA__UPDATE_KIND__KIND_OPENED:
        return u->n_share > 0 ? NULL : "share (an opened update names the posts to share with)";
    case VALIJA__UPDATE_KIND__KIND_SHARE:
        return s_has_sharing(u) ? NULL : "share or co_owners (a share update carries a new list)";
    case VALIJA__UPDATE_KIND__KIND_STATUS:
        return s_has(u->status) ? NULL : "status (a status update carries a status)";
    case VALIJA__UPDATE_KIND__KIND_LOCATION:
        return s_has(u->facility) ? NULL : "facility (a location update carries a facility)";
    case VALIJA__UPDATE_KIND__KIND_VISIT:
        return s_visit_is_set(u->visit) ? NULL : "visit (a visit update carries a visit)";
    case VALIJA__UPDATE_KIND__KIND_REPRESENTATION:
        return u->representation != NULL
                   ? NULL
                   : "representation (a representation update carries a representation)";
    case VALIJA__UPDATE_KIND__KIND_NOTE:
        return s_has(u->note) ? NULL : "note (a note update carries a note)";
    case VALIJA__UPDATE_KIND__KIND_LINK:
        return u->n_links > 0 ? NULL : "links (a link update carries links)";
    default:
        return NULL;
    }
}

int vj_case_update_validate(const Valija__CaseUpdate *u, vj_diag *diag)
{
    int ret = VJ_E_PARSE;
    vj_diag_clear(diag);
    if (u == NULL) {
        vj_diag_set(diag, "update: missing");
        goto out;
    }
    if (u->version != VJ_CASE_UPDATE_VERSION) {
        vj_diag_set(diag, "version: unknown case update version %u (this build reads %d)",
                    (unsigned)u->version, VJ_CASE_UPDATE_VERSION);
        ret = VJ_E_PARSE;
        goto out;
    }
    if (!vj_case_id_is_valid(u->case_id)) {
        vj_diag_set(diag, "case: not a valid case id (1-%d of A-Z a-z 0-9 . _ -)", VJ_CASE_ID_MAX);
        goto out;
    }
    if (u->kind == VALIJA__UPDATE_KIND__KIND_UNSPECIFIED) {
        vj_diag_set(diag, "kind: not given, and the update carries nothing that names its kind");
        goto out;
    }
    if (!s_kind_is_known((int)u->kind)) {
        vj_diag_set(diag, "kind: unknown kind %d", (int)u->kind);
        goto out;
    }
    if (u->at_ms < 0) {
        vj_diag_set(diag, "at_ms: negative time");
        goto out;
    }
    if ((ret = s_check_short("status", u->status, diag)) != VJ_OK ||
        (ret = s_check_short("facility", u->facility, diag)) != VJ_OK ||
        (ret = s_check_person(u->person, diag)) != VJ_OK)
        goto out;
    ret = VJ_E_PARSE;
    if (u->representation != NULL) {
        if ((ret = s_check_short("representation.name", u->representation->name, diag)) != VJ_OK ||
            (ret = s_check_short("representation.organization", u->representation->organization,
                                 diag)) != VJ_OK ||
            (ret = s_check_short("representation.contact", u->representation->contact, diag)) !=
                VJ_OK)
            goto out;
    }
    if (u->visit != NULL) {
        if ((ret = s_check_short("visit.visitor", u->visit->visitor, diag)) != VJ_OK)
            goto out;
        ret = VJ_E_PARSE;
        if (u->visit->at_ms < 0) {
            vj_diag_set(diag, "visit.at_ms: negative time");
            goto out;
        }
    }
    if (u->note != NULL) {
        size_t len = strlen(u->note);
        if (len > VJ_TEXT_MAX) {
            vj_diag_set(diag, "note: too long (at most %d bytes)", VJ_TEXT_MAX);
            goto out;
        }
        if (!vj_text_is_valid(u->note, len)) {
            vj_diag_set(diag, "note: not valid UTF-8 or holds control characters");
            goto out;
        }
    }
    if ((ret = s_check_links(u, diag)) != VJ_OK ||
        (ret = s_check_posts("share", u->share, u->n_share, diag)) != VJ_OK ||
        (ret = s_check_posts("co_owners", u->co_owners, u->n_co_owners, diag)) != VJ_OK ||
        (ret = s_check_seen(u, diag)) != VJ_OK)
        goto out;
    ret = VJ_E_PARSE;
    if (s_has_sharing(u) && u->kind != VALIJA__UPDATE_KIND__KIND_OPENED &&
        u->kind != VALIJA__UPDATE_KIND__KIND_SHARE) {
        vj_diag_set(diag,
                    "share: only an opened or share update may change who the case is "
                    "shared with (this one is %s)",
                    s_kind_name(u->kind));
        goto out;
    }
    const char *missing = s_kind_misses(u);
    if (missing != NULL) {
        vj_diag_set(diag, "%s: missing for kind %s", missing, s_kind_name(u->kind));
        goto out;
    }
    ret = VJ_OK;
out:
    return ret;
}

Valija__UpdateKind vj_case_infer_kind(const Valija__CaseUpdate *u, int case_exists)
{
    if (u == NULL)
        return VALIJA__UPDATE_KIND__KIND_UNSPECIFIED;
    if (u->kind != VALIJA__UPDATE_KIND__KIND_UNSPECIFIED)
        return u->kind;
    if (!case_exists)
        return VALIJA__UPDATE_KIND__KIND_OPENED;
    if (s_has_sharing(u))
        return VALIJA__UPDATE_KIND__KIND_SHARE;
    if (s_has(u->status))
        return VALIJA__UPDATE_KIND__KIND_STATUS;
    if (s_has(u->facility))
        return VALIJA__UPDATE_KIND__KIND_LOCATION;
    if (u->representation != NULL)
        return VALIJA__UPDATE_KIND__KIND_REPRESENTATION;
    if (s_visit_is_set(u->visit))
        return VALIJA__UPDATE_KIND__KIND_VISIT;
    if (u->n_links > 0)
        return VALIJA__UPDATE_KIND__KIND_LINK;
    if (s_has(u->note))
        return VALIJA__UPDATE_KIND__KIND_NOTE;
    return VALIJA__UPDATE_KIND__KIND_UNSPECIFIED;
}

/* ------------------------------------------------------------------ */
/* authority: one rule for the fold and for vj_case_check()             */

typedef struct {
    int opened;
    int closed;
    const char *owner;
    const char *closed_by; /* NULL when not known */
    const char *const *shared;
    size_t n_shared;
    const char *const *co;
    size_t n_co;
} s_auth;

static int s_in(const char *name, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(set[i], name) == 0)
            return 1;
    return 0;
}

/* VJ_OK if origin may make an update of this kind, else VJ_E_REFUSED and the
 * reason in why. */
static int s_authorize(const s_auth *a, const char *origin, Valija__UpdateKind kind, char *why,
                       size_t why_len)
{
    if (!a->opened) {
        if (kind == VALIJA__UPDATE_KIND__KIND_OPENED)
            return VJ_OK;
        snprintf(why, why_len, "case not opened yet");
        return VJ_E_REFUSED;
    }
    if (kind == VALIJA__UPDATE_KIND__KIND_OPENED) {
        snprintf(why, why_len, "already opened by %s", a->owner);
        return VJ_E_REFUSED;
    }
    int privileged = strcmp(origin, a->owner) == 0 || s_in(origin, a->co, a->n_co);
    if (!privileged && !s_in(origin, a->shared, a->n_shared)) {
        snprintf(why, why_len, "%s is not shared on this case", origin);
        return VJ_E_REFUSED;
    }
    if (kind == VALIJA__UPDATE_KIND__KIND_SHARE && !privileged) {
        snprintf(why, why_len, "only the owner %s or a co-owner may change sharing", a->owner);
        return VJ_E_REFUSED;
    }
    if (kind == VALIJA__UPDATE_KIND__KIND_CLOSED && !privileged) {
        snprintf(why, why_len, "only the owner %s or a co-owner may close the case", a->owner);
        return VJ_E_REFUSED;
    }
    if (a->closed && !privileged) {
        if (a->closed_by != NULL)
            snprintf(why, why_len, "closed by %s; only the owner %s or a co-owner may write",
                     a->closed_by, a->owner);
        else
            snprintf(why, why_len, "the case is closed; only the owner %s or a co-owner may write",
                     a->owner);
        return VJ_E_REFUSED;
    }
    return VJ_OK;
}

int vj_case_check(const Valija__CaseState *state, const char *origin, const Valija__CaseUpdate *u,
                  vj_diag *why)
{
    int ret = VJ_E_INVAL;
    char reason[S_REASON_MAX];
    vj_diag_clear(why);
    if (origin == NULL || u == NULL) {
        vj_diag_set(why, "no origin or no update");
        goto out;
    }
    s_auth a = {0};
    if (state != NULL) {
        if (state->n_shared_with > 0 && state->shared_with == NULL) {
            vj_diag_set(why, "case state without its share list");
            goto out;
        }
        if (state->n_co_owners > 0 && state->co_owners == NULL) {
            vj_diag_set(why, "case state without its co-owner list");
            goto out;
        }
        a.opened = 1;
        a.closed = state->closed;
        a.owner = s_or_empty(state->owner);
        a.shared = (const char *const *)state->shared_with;
        a.n_shared = state->n_shared_with;
        a.co = (const char *const *)state->co_owners;
        a.n_co = state->n_co_owners;
    }
    ret = s_authorize(&a, origin, u->kind, reason, sizeof reason);
    if (ret != VJ_OK)
        vj_diag_set(why, "%s", reason);
out:
    return ret;
}

/* ------------------------------------------------------------------ */
/* growable arrays of borrowed pointers                                 */

typedef struct {
    const char **v;
    size_t n, cap;
} s_names;

typedef struct {
    const Valija__HistoryEntry **v;
    size_t n, cap;
} s_entries;

typedef struct {
    const Valija__CaseLink **v;
    size_t n, cap;
} s_links;

static int s_grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return VJ_OK;
    size_t c = *cap > 0 ? *cap * 2 : 8;
    while (c < need)
        c *= 2;
    if (c > SIZE_MAX / size)
        return VJ_E_NOMEM;
    void *p = realloc(*v, c * size);
    if (p == NULL)
        return VJ_E_NOMEM;
    *v = p;
    *cap = c;
    return VJ_OK;
}

static int s_names_push(s_names *a, const char *s)
{
    void *v = (void *)a->v;
    int ret = s_grow(&v, &a->cap, a->n + 1, sizeof *a->v);
    a->v = v;
    if (ret == VJ_OK)
        a->v[a->n++] = s;
    return ret;
}

static int s_entries_push(s_entries *a, const Valija__HistoryEntry *e)
{
    void *v = (void *)a->v;
    int ret = s_grow(&v, &a->cap, a->n + 1, sizeof *a->v);
    a->v = v;
    if (ret == VJ_OK)
        a->v[a->n++] = e;
    return ret;
}

static int s_links_push(s_links *a, const Valija__CaseLink *l)
{
    void *v = (void *)a->v;
    int ret = s_grow(&v, &a->cap, a->n + 1, sizeof *a->v);
    a->v = v;
    if (ret == VJ_OK)
        a->v[a->n++] = l;
    return ret;
}

static int s_cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts and removes duplicates. */
static void s_names_normalize(s_names *a)
{
    if (a->n == 0)
        return;
    qsort(a->v, a->n, sizeof *a->v, s_cmp_name);
    size_t k = 1;
    for (size_t i = 1; i < a->n; i++)
        if (strcmp(a->v[i], a->v[k - 1]) != 0)
            a->v[k++] = a->v[i];
    a->n = k;
}

static int s_cmp_link(const void *a, const void *b)
{
    const Valija__CaseLink *x = *(const Valija__CaseLink *const *)a;
    const Valija__CaseLink *y = *(const Valija__CaseLink *const *)b;
    if (x->relation != y->relation)
        return (int)x->relation < (int)y->relation ? -1 : 1;
    return strcmp(x->case_id, y->case_id);
}

/* ------------------------------------------------------------------ */
/* the fold                                                             */

/* The fields that are last-writer-wins with conflict tracking. */
enum {
    F_STATUS,
    F_FACILITY,
    F_NAME,
    F_DOB,
    F_NATIONALITY,
    F_DOCUMENT,
    F_ALIEN_NUMBER,
    F_MINOR,
    F_REPRESENTATION,
    F_COUNT
};

static const char *const s_field_names[F_COUNT] = {
    "status",
    "facility",
    "person.name",
    "person.date_of_birth",
    "person.nationality",
    "person.document",
    "person.alien_number",
    "person.minor",
    "representation",
};

/* The string value u gives field f (not for F_REPRESENTATION), or NULL when
 * u does not write f. */
static const char *s_field_str(const Valija__CaseUpdate *u, int f)
{
    const Valija__Person *p = u->person;
    const char *s = NULL;
    switch (f) {
    case F_STATUS:
        s = u->status;
        break;
    case F_FACILITY:
        s = u->facility;
        break;
    case F_NAME:
        s = p != NULL ? p->name : NULL;
        break;
    case F_DOB:
        s = p != NULL ? p->date_of_birth : NULL;
        break;
    case F_NATIONALITY:
        s = p != NULL ? p->nationality : NULL;
        break;
    case F_DOCUMENT:
        s = p != NULL ? p->document : NULL;
        break;
    case F_ALIEN_NUMBER:
        s = p != NULL ? p->alien_number : NULL;
        break;
    case F_MINOR:
        if (p != NULL && p->minor == VALIJA__MINOR__MINOR_YES)
            s = "yes";
        else if (p != NULL && p->minor == VALIJA__MINOR__MINOR_NO)
            s = "no";
        break;
    default:
        break;
    }
    return s_has(s) ? s : NULL;
}

static int s_writes(const Valija__CaseUpdate *u, int f)
{
    if (f == F_REPRESENTATION)
        return u->representation != NULL;
    return s_field_str(u, f) != NULL;
}

static int s_same_value(const Valija__CaseUpdate *a, const Valija__CaseUpdate *b, int f)
{
    if (f == F_REPRESENTATION) {
        const Valija__Representation *x = a->representation, *y = b->representation;
        return strcmp(s_or_empty(x->name), s_or_empty(y->name)) == 0 &&
               strcmp(s_or_empty(x->organization), s_or_empty(y->organization)) == 0 &&
               strcmp(s_or_empty(x->contact), s_or_empty(y->contact)) == 0;
    }
    return strcmp(s_field_str(a, f), s_field_str(b, f)) == 0;
}

/* b happened after a: the same origin wrote b later, or b's writer had seen a. */
static int s_happened_after(const Valija__HistoryEntry *b, const Valija__HistoryEntry *a)
{
    if (strcmp(b->origin, a->origin) == 0)
        return b->seq > a->seq;
    const Valija__CaseUpdate *u = b->update;
    for (size_t i = 0; i < u->n_seen; i++)
        if (strcmp(u->seen[i]->origin, a->origin) == 0)
            return u->seen[i]->seq >= a->seq;
    return 0;
}

static int s_concurrent(const Valija__HistoryEntry *a, const Valija__HistoryEntry *b)
{
    return !s_happened_after(a, b) && !s_happened_after(b, a);
}

typedef struct {
    int opened;
    int closed;
    const char *owner;
    const char *closed_by;
    s_names base;   /* the last share list */
    s_names co;     /* co-owners, sorted */
    s_names shared; /* base + owner + co-owners, sorted */
    s_entries writers[F_COUNT];
    const Valija__HistoryEntry *last_visit;
    s_entries notes;
    s_links links;
    int64_t updated_ms;
    uint64_t events;
} s_fold;

static void s_fold_release(s_fold *f)
{
    free(f->base.v);
    free(f->co.v);
    free(f->shared.v);
    for (int i = 0; i < F_COUNT; i++)
        free(f->writers[i].v);
    free(f->notes.v);
    free(f->links.v);
    memset(f, 0, sizeof *f);
}

static int s_recompute_shared(s_fold *f)
{
    int ret = VJ_OK;
    f->shared.n = 0;
    for (size_t i = 0; i < f->base.n && ret == VJ_OK; i++)
        ret = s_names_push(&f->shared, f->base.v[i]);
    for (size_t i = 0; i < f->co.n && ret == VJ_OK; i++)
        ret = s_names_push(&f->shared, f->co.v[i]);
    if (ret == VJ_OK)
        ret = s_names_push(&f->shared, f->owner);
    if (ret == VJ_OK)
        s_names_normalize(&f->shared);
    return ret;
}

static int s_set_names(s_names *dst, char *const *names, size_t n, const char *except)
{
    int ret = VJ_OK;
    dst->n = 0;
    for (size_t i = 0; i < n && ret == VJ_OK; i++)
        if (except == NULL || strcmp(names[i], except) != 0)
            ret = s_names_push(dst, names[i]);
    if (ret == VJ_OK)
        s_names_normalize(dst);
    return ret;
}

static void s_clear_reason(Valija__HistoryEntry *e)
{
    if (e->rejected_reason != NULL && e->rejected_reason != protobuf_c_empty_string)
        free(e->rejected_reason);
    e->rejected_reason = (char *)protobuf_c_empty_string;
}

static int s_reject(Valija__HistoryEntry *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int s_reject(Valija__HistoryEntry *e, const char *fmt, ...)
{
    char buf[S_REASON_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    size_t len = strlen(buf);
    char *s = malloc(len + 1);
    if (s == NULL)
        return VJ_E_NOMEM;
    memcpy(s, buf, len + 1);
    s_clear_reason(e);
    e->rejected_reason = s;
    e->applied = 0;
    return VJ_OK;
}

static int s_msg_id_cmp(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    if (n > 0) {
        int c = memcmp(a->data, b->data, n);
        if (c != 0)
            return c;
    }
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return 0;
}

/* Fold order: (lamport, origin, msg_id), byte-wise. */
static int s_cmp_entry(const void *pa, const void *pb)
{
    const Valija__HistoryEntry *a = *(const Valija__HistoryEntry *const *)pa;
    const Valija__HistoryEntry *b = *(const Valija__HistoryEntry *const *)pb;
    if (a->lamport != b->lamport)
        return a->lamport < b->lamport ? -1 : 1;
    int c = strcmp(s_or_empty(a->origin), s_or_empty(b->origin));
    if (c != 0)
        return c;
    return s_msg_id_cmp(&a->msg_id, &b->msg_id);
}

/* B writes field fi: the writers become B plus the earlier writers that are
 * concurrent with B. */
static int s_write_field(s_fold *f, int fi, const Valija__HistoryEntry *b)
{
    s_entries *w = &f->writers[fi];
    size_t k = 0;
    for (size_t i = 0; i < w->n; i++)
        if (s_concurrent(w->v[i], b))
            w->v[k++] = w->v[i];
    w->n = k;
    return s_entries_push(w, b);
}

static int s_apply(s_fold *f, const char *case_id, Valija__HistoryEntry *e,
                   const Valija__HistoryEntry *prev)
{
    int ret = VJ_E_NOMEM;
    vj_diag d;
    char why[S_REASON_MAX];
    const Valija__CaseUpdate *u = e->update;

    if (!vj_post_name_is_valid(e->origin))
        return s_reject(e, "the origin is not a valid post name");
    if (e->msg_id.len != VJ_MSG_ID_LEN || e->msg_id.data == NULL)
        return s_reject(e, "the message id is not %d bytes", VJ_MSG_ID_LEN);
    if (e->seq == 0)
        return s_reject(e, "no origin sequence number");
    if (prev != NULL && s_msg_id_cmp(&prev->msg_id, &e->msg_id) == 0)
        return s_reject(e, "duplicate of an earlier event with the same message id");
    if (u == NULL)
        return s_reject(e, "no update");
    if (vj_case_update_validate(u, &d) != VJ_OK)
        return s_reject(e, "invalid update: %s", d.text);
    if (strcmp(u->case_id, case_id) != 0)
        return s_reject(e, "belongs to case %s, not %s", u->case_id, case_id);

    s_auth a = {
        .opened = f->opened,
        .closed = f->closed,
        .owner = f->owner,
        .closed_by = f->closed_by,
        .shared = f->shared.v,
        .n_shared = f->shared.n,
        .co = f->co.v,
        .n_co = f->co.n,
    };
    if (s_authorize(&a, e->origin, u->kind, why, sizeof why) != VJ_OK)
        return s_reject(e, "%s", why);

    switch (u->kind) {
    case VALIJA__UPDATE_KIND__KIND_OPENED:
        f->opened = 1;
        f->owner = e->origin;
        if ((ret = s_set_names(&f->base, u->share, u->n_share, NULL)) != VJ_OK ||
            (ret = s_set_names(&f->co, u->co_owners, u->n_co_owners, f->owner)) != VJ_OK ||
            (ret = s_recompute_shared(f)) != VJ_OK)
            goto out;
        break;
    case VALIJA__UPDATE_KIND__KIND_SHARE:
        if (u->n_share > 0 && (ret = s_set_names(&f->base, u->share, u->n_share, NULL)) != VJ_OK)
            goto out;
        if (u->n_co_owners > 0 &&
            (ret = s_set_names(&f->co, u->co_owners, u->n_co_owners, f->owner)) != VJ_OK)
            goto out;
        if ((ret = s_recompute_shared(f)) != VJ_OK)
            goto out;
        break;
    case VALIJA__UPDATE_KIND__KIND_CLOSED:
        f->closed = 1;
        f->closed_by = e->origin;
        break;
    case VALIJA__UPDATE_KIND__KIND_STATUS:
        f->closed = 0; /* s_authorize let only the owner or a co-owner through */
        f->closed_by = NULL;
        break;
    default:
        break;
    }

    for (int fi = 0; fi < F_COUNT; fi++)
        if (s_writes(u, fi) && (ret = s_write_field(f, fi, e)) != VJ_OK)
            goto out;
    if (s_visit_is_set(u->visit))
        f->last_visit = e;
    if (s_has(u->note) && (ret = s_entries_push(&f->notes, e)) != VJ_OK)
        goto out;
    for (size_t i = 0; i < u->n_links; i++)
        if ((ret = s_links_push(&f->links, u->links[i])) != VJ_OK)
            goto out;
    if (e->created_ms > f->updated_ms)
        f->updated_ms = e->created_ms;
    f->events++;
    s_clear_reason(e);
    e->applied = 1;
    ret = VJ_OK;
out:
    return ret;
}

static int64_t s_at(const Valija__HistoryEntry *e)
{
    return e->update->at_ms != 0 ? e->update->at_ms : e->created_ms;
}

/* "name / organization / contact", the non-empty parts; malloc'ed. */
static char *s_representation_text(const Valija__Representation *r)
{
    const char *parts[3] = {s_or_empty(r->name), s_or_empty(r->organization),
                            s_or_empty(r->contact)};
    size_t len = 0;
    for (int i = 0; i < 3; i++)
        len += strlen(parts[i]) + 3;
    char *s = malloc(len + 1);
    if (s == NULL)
        return NULL;
    s[0] = '\0';
    for (int i = 0; i < 3; i++) {
        if (parts[i][0] == '\0')
            continue;
        if (s[0] != '\0')
            strcat(s, " / ");
        strcat(s, parts[i]);
    }
    return s;
}

static int s_has_conflict(const s_fold *f, int fi)
{
    const s_entries *w = &f->writers[fi];
    for (size_t i = 1; i < w->n; i++)
        if (!s_same_value(w->v[0]->update, w->v[i]->update, fi))
            return 1;
    return 0;
}

/* Builds the state from borrowed pointers, then packs and unpacks it into
 * one message that the caller owns. */
static int s_emit(const s_fold *f, const char *case_id, Valija__CaseState **out)
{
    int ret = VJ_E_NOMEM;
    Valija__CaseState st = VALIJA__CASE_STATE__INIT;
    Valija__Person person = VALIJA__PERSON__INIT;
    Valija__Representation repr = VALIJA__REPRESENTATION__INIT;
    Valija__Note *notes = NULL;
    Valija__Note **note_ptrs = NULL;
    const Valija__CaseLink **links = NULL;
    Valija__Conflict conflicts[F_COUNT];
    Valija__Conflict *conflict_ptrs[F_COUNT];
    Valija__ConflictValue *values = NULL;
    Valija__ConflictValue **value_ptrs = NULL;
    char **texts = NULL; /* representation texts of the conflict values */
    size_t n_texts = 0;
    uint8_t *buf = NULL;
    size_t buf_len = 0;
    ProtobufCMessage *msg = NULL;

    st.case_id = (char *)case_id;
    st.owner = (char *)f->owner;
    st.closed = f->closed;
    st.updated_ms = f->updated_ms;
    st.events = f->events;
    st.shared_with = (char **)f->shared.v;
    st.n_shared_with = f->shared.n;
    st.co_owners = (char **)f->co.v;
    st.n_co_owners = f->co.n;

    /* the shown value of each field: its last writer's */
    const char *shown[F_COUNT] = {0};
    for (int fi = 0; fi < F_REPRESENTATION; fi++)
        if (f->writers[fi].n > 0)
            shown[fi] = s_field_str(f->writers[fi].v[f->writers[fi].n - 1]->update, fi);
    if (shown[F_STATUS] != NULL)
        st.status = (char *)shown[F_STATUS];
    if (shown[F_FACILITY] != NULL)
        st.facility = (char *)shown[F_FACILITY];
    int any_person = 0;
    for (int fi = F_NAME; fi <= F_MINOR; fi++)
        any_person |= shown[fi] != NULL;
    if (any_person) {
        if (shown[F_NAME] != NULL)
            person.name = (char *)shown[F_NAME];
        if (shown[F_DOB] != NULL)
            person.date_of_birth = (char *)shown[F_DOB];
        if (shown[F_NATIONALITY] != NULL)
            person.nationality = (char *)shown[F_NATIONALITY];
        if (shown[F_DOCUMENT] != NULL)
            person.document = (char *)shown[F_DOCUMENT];
        if (shown[F_ALIEN_NUMBER] != NULL)
            person.alien_number = (char *)shown[F_ALIEN_NUMBER];
        if (shown[F_MINOR] != NULL)
            person.minor = strcmp(shown[F_MINOR], "yes") == 0 ? VALIJA__MINOR__MINOR_YES
                                                              : VALIJA__MINOR__MINOR_NO;
        st.person = &person;
    }
    const s_entries *rw = &f->writers[F_REPRESENTATION];
    if (rw->n > 0) {
        const Valija__Representation *r = rw->v[rw->n - 1]->update->representation;
        if (s_has(r->name) || s_has(r->organization) || s_has(r->contact)) {
            repr.name = (char *)s_or_empty(r->name);
            repr.organization = (char *)s_or_empty(r->organization);
            repr.contact = (char *)s_or_empty(r->contact);
            st.representation = &repr;
        }
    }
    if (f->last_visit != NULL)
        st.last_visit = f->last_visit->update->visit;

    /* notes, in fold order */
    if (f->notes.n > 0) {
        notes = calloc(f->notes.n, sizeof *notes);
        note_ptrs = calloc(f->notes.n, sizeof *note_ptrs);
        if (notes == NULL || note_ptrs == NULL)
            goto out;
        for (size_t i = 0; i < f->notes.n; i++) {
            const Valija__HistoryEntry *e = f->notes.v[i];
            Valija__Note init = VALIJA__NOTE__INIT;
            notes[i] = init;
            notes[i].origin = e->origin;
            notes[i].at_ms = s_at(e);
            notes[i].text = e->update->note;
            notes[i].msg_id = e->msg_id;
            note_ptrs[i] = &notes[i];
        }
        st.notes = note_ptrs;
        st.n_notes = f->notes.n;
    }

    /* links: a set, sorted by relation then case id */
    if (f->links.n > 0) {
        links = malloc(f->links.n * sizeof *links);
        if (links == NULL)
            goto out;
        memcpy(links, f->links.v, f->links.n * sizeof *links);
        qsort(links, f->links.n, sizeof *links, s_cmp_link);
        size_t k = 1;
        for (size_t i = 1; i < f->links.n; i++)
            if (s_cmp_link(&links[i], &links[k - 1]) != 0)
                links[k++] = links[i];
        st.links = (Valija__CaseLink **)links;
        st.n_links = k;
    }

    /* conflicts, in field order; values in fold order */
    size_t n_values = 0;
    for (int fi = 0; fi < F_COUNT; fi++)
        n_values += f->writers[fi].n;
    values = calloc(n_values > 0 ? n_values : 1, sizeof *values);
    value_ptrs = calloc(n_values > 0 ? n_values : 1, sizeof *value_ptrs);
    texts = calloc(rw->n > 0 ? rw->n : 1, sizeof *texts);
    if (values == NULL || value_ptrs == NULL || texts == NULL)
        goto out;
    size_t nc = 0, nv = 0;
    for (int fi = 0; fi < F_COUNT; fi++) {
        const s_entries *w = &f->writers[fi];
        if (w->n < 2 || !s_has_conflict(f, fi))
            continue;
        Valija__Conflict cinit = VALIJA__CONFLICT__INIT;
        conflicts[nc] = cinit;
        conflicts[nc].field = (char *)s_field_names[fi];
        conflicts[nc].values = &value_ptrs[nv];
        conflicts[nc].n_values = w->n;
        for (size_t i = 0; i < w->n; i++) {
            const Valija__HistoryEntry *e = w->v[i];
            Valija__ConflictValue vinit = VALIJA__CONFLICT_VALUE__INIT;
            Valija__ConflictValue *v = &values[nv];
            *v = vinit;
            if (fi == F_REPRESENTATION) {
                texts[n_texts] = s_representation_text(e->update->representation);
                if (texts[n_texts] == NULL)
                    goto out;
                v->value = texts[n_texts++];
            } else {
                v->value = (char *)s_field_str(e->update, fi);
            }
            v->origin = e->origin;
            v->at_ms = s_at(e);
            v->msg_id = e->msg_id;
            value_ptrs[nv++] = v;
        }
        conflict_ptrs[nc] = &conflicts[nc];
        nc++;
    }
    if (nc > 0) {
        st.conflicts = conflict_ptrs;
        st.n_conflicts = nc;
    }

    if ((ret = vj_codec_pack(&st.base, &buf, &buf_len)) != VJ_OK)
        goto out;
    if ((ret = vj_codec_unpack(&valija__case_state__descriptor, buf, buf_len, SIZE_MAX, &msg)) !=
        VJ_OK)
        goto out;
    *out = (Valija__CaseState *)msg;
    ret = VJ_OK;
out:
    free(buf);
    for (size_t i = 0; i < n_texts; i++)
        free(texts[i]);
    free(texts);
    free(values);
    free(value_ptrs);
    free(links);
    free(notes);
    free(note_ptrs);
    return ret;
}

int vj_case_fold(const char *case_id, Valija__HistoryEntry **entries, size_t n,
                 Valija__CaseState **out)
{
    int ret = VJ_E_INVAL;
    s_fold f;
    Valija__HistoryEntry **order = NULL;

    memset(&f, 0, sizeof f);
    if (out == NULL)
        return VJ_E_INVAL;
    *out = NULL;
    if (!vj_case_id_is_valid(case_id) || (entries == NULL && n > 0))
        goto out;
    for (size_t i = 0; i < n; i++)
        if (entries[i] == NULL)
            goto out;

    ret = VJ_E_NOMEM;
    if (n > SIZE_MAX / sizeof *order)
        goto out;
    order = malloc((n > 0 ? n : 1) * sizeof *order);
    if (order == NULL)
        goto out;
    if (n > 0) {
        memcpy(order, entries, n * sizeof *order);
        qsort(order, n, sizeof *order, s_cmp_entry);
    }
    for (size_t i = 0; i < n; i++)
        if ((ret = s_apply(&f, case_id, order[i], i > 0 ? order[i - 1] : NULL)) != VJ_OK)
            goto out;
    if (!f.opened || f.events == 0) {
        ret = VJ_E_NOTFOUND;
        goto out;
    }
    ret = s_emit(&f, case_id, out);
out:
    s_fold_release(&f);
    free(order);
    return ret;
}

/* ------------------------------------------------------------------ */
/* the seen clock                                                       */

static int s_cmp_clock(const void *a, const void *b)
{
    const Valija__CaseClock *x = *(Valija__CaseClock *const *)a;
    const Valija__CaseClock *y = *(Valija__CaseClock *const *)b;
    return strcmp(x->origin, y->origin);
}

int vj_case_seen(Valija__HistoryEntry **entries, size_t n, Valija__CaseClock ***out, size_t *n_out)
{
    int ret = VJ_E_INVAL;
    Valija__CaseClock **clocks = NULL;
    size_t k = 0;

    if (out == NULL || n_out == NULL)
        return VJ_E_INVAL;
    *out = NULL;
    *n_out = 0;
    if (entries == NULL && n > 0)
        goto out;
    ret = VJ_E_NOMEM;
    if (n > SIZE_MAX / sizeof *clocks)
        goto out;
    clocks = calloc(n > 0 ? n : 1, sizeof *clocks);
    if (clocks == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const Valija__HistoryEntry *e = entries[i];
        if (e == NULL || !vj_post_name_is_valid(e->origin) || e->seq == 0)
            continue;
        size_t j = 0;
        while (j < k && strcmp(clocks[j]->origin, e->origin) != 0)
            j++;
        if (j < k) {
            if (e->seq > clocks[j]->seq)
                clocks[j]->seq = e->seq;
            continue;
        }
        Valija__CaseClock *c = malloc(sizeof *c);
        if (c == NULL)
            goto out;
        valija__case_clock__init(c);
        size_t len = strlen(e->origin);
        c->origin = malloc(len + 1);
        if (c->origin == NULL) {
            free(c);
            goto out;
        }
        memcpy(c->origin, e->origin, len + 1);
        c->seq = e->seq;
        clocks[k++] = c;
    }
    if (k > 0)
        qsort(clocks, k, sizeof *clocks, s_cmp_clock);
    if (k == 0) {
        free(clocks);
        clocks = NULL;
    }
    *out = clocks;
    *n_out = k;
    clocks = NULL;
    k = 0;
    ret = VJ_OK;
out:
    for (size_t i = 0; i < k; i++)
        vj_codec_free(&clocks[i]->base);
    free(clocks);
    return ret;
}
