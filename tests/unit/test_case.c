/* test_case.c - the case model: validation of updates, kind inference, the
 * authority rules, last-writer-wins per field, conflicts, and the property
 * that the state is a function of the set of events (any arrival order folds
 * to the same packed bytes).
 *
 * Events are built from templates with borrowed strings, then packed and
 * unpacked into self-contained HistoryEntry messages, as the store hands
 * them to the fold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vj_case.h"

#define CASE "MX-2018-000123"
#define MX "mx-washington"
#define SV "sv-washington"
#define GT "gt-washington"
#define HN "hn-washington"

/* ------------------------------------------------------------------ */
/* building updates and entries                                         */

typedef struct {
    Valija__CaseUpdate u;
    Valija__Person p;
    Valija__Representation r;
    Valija__Visit v;
    char *share[VJ_MAX_RECIPIENTS + 2];
    char *co[VJ_MAX_RECIPIENTS + 2];
    Valija__CaseLink links[VJ_CASE_LINKS_MAX + 2];
    Valija__CaseLink *link_ptrs[VJ_CASE_LINKS_MAX + 2];
    Valija__CaseClock seen[VJ_CASE_SEEN_MAX + 2];
    Valija__CaseClock *seen_ptrs[VJ_CASE_SEEN_MAX + 2];
} upd;

static void upd_init(upd *x, Valija__UpdateKind kind)
{
    Valija__CaseUpdate u = VALIJA__CASE_UPDATE__INIT;
    Valija__Person p = VALIJA__PERSON__INIT;
    Valija__Representation r = VALIJA__REPRESENTATION__INIT;
    Valija__Visit v = VALIJA__VISIT__INIT;
    memset(x, 0, sizeof *x);
    x->u = u;
    x->p = p;
    x->r = r;
    x->v = v;
    x->u.version = VJ_CASE_UPDATE_VERSION;
    x->u.case_id = (char *)CASE;
    x->u.kind = kind;
    x->u.share = x->share;
    x->u.co_owners = x->co;
    x->u.links = x->link_ptrs;
    x->u.seen = x->seen_ptrs;
}

static void add_share(upd *x, const char *post)
{
    x->share[x->u.n_share++] = (char *)post;
}

static void add_co(upd *x, const char *post)
{
    x->co[x->u.n_co_owners++] = (char *)post;
}

static void add_link(upd *x, Valija__LinkRelation rel, const char *case_id)
{
    Valija__CaseLink l = VALIJA__CASE_LINK__INIT;
    size_t i = x->u.n_links++;
    x->links[i] = l;
    x->links[i].relation = rel;
    x->links[i].case_id = (char *)case_id;
    x->link_ptrs[i] = &x->links[i];
}

static void add_seen(upd *x, const char *origin, uint64_t seq)
{
    Valija__CaseClock c = VALIJA__CASE_CLOCK__INIT;
    size_t i = x->u.n_seen++;
    x->seen[i] = c;
    x->seen[i].origin = (char *)origin;
    x->seen[i].seq = seq;
    x->seen_ptrs[i] = &x->seen[i];
}

static Valija__Person *person(upd *x)
{
    x->u.person = &x->p;
    return &x->p;
}

static Valija__Representation *repr(upd *x)
{
    x->u.representation = &x->r;
    return &x->r;
}

static Valija__Visit *visit(upd *x)
{
    x->u.visit = &x->v;
    return &x->v;
}

/* A message id that depends on (origin, seq) only. */
static void msg_id_for(const char *origin, uint64_t seq, uint8_t id[VJ_MSG_ID_LEN])
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *c = origin; *c; c++)
        h = (h ^ (uint8_t)*c) * 1099511628211ULL;
    h ^= seq * 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < VJ_MSG_ID_LEN; i++) {
        h ^= h >> 29;
        h *= 0xbf58476d1ce4e5b9ULL;
        id[i] = (uint8_t)(h >> 56);
    }
}

/* A new, self-contained entry (free with vj_codec_free). */
static Valija__HistoryEntry *mk_entry(upd *x, const char *origin, uint64_t seq, uint64_t lamport,
                                      int64_t created_ms)
{
    Valija__HistoryEntry e = VALIJA__HISTORY_ENTRY__INIT;
    uint8_t id[VJ_MSG_ID_LEN];
    uint8_t *buf = NULL;
    size_t len = 0;
    ProtobufCMessage *m = NULL;
    msg_id_for(origin, seq, id);
    x->u.lamport = lamport;
    e.msg_id.data = id;
    e.msg_id.len = sizeof id;
    e.origin = (char *)origin;
    e.seq = seq;
    e.kind = x->u.kind;
    e.created_ms = created_ms;
    e.lamport = lamport;
    e.verified = 1;
    e.update = &x->u;
    assert_int_equal(vj_codec_pack(&e.base, &buf, &len), VJ_OK);
    assert_int_equal(vj_codec_unpack(&valija__history_entry__descriptor, buf, len, SIZE_MAX, &m),
                     VJ_OK);
    free(buf);
    return (Valija__HistoryEntry *)m;
}

typedef struct {
    Valija__HistoryEntry *e[512];
    size_t n;
} events;

static Valija__HistoryEntry *push(events *ev, upd *x, const char *origin, uint64_t seq,
                                  uint64_t lamport)
{
    Valija__HistoryEntry *e = mk_entry(x, origin, seq, lamport, 1000 * (int64_t)lamport);
    ev->e[ev->n++] = e;
    return e;
}

static void events_free(events *ev)
{
    for (size_t i = 0; i < ev->n; i++)
        vj_codec_free(&ev->e[i]->base);
    ev->n = 0;
}

static Valija__CaseState *fold_ok(events *ev)
{
    Valija__CaseState *st = NULL;
    assert_int_equal(vj_case_fold(CASE, ev->e, ev->n, &st), VJ_OK);
    assert_non_null(st);
    return st;
}

static void assert_rejected(const Valija__HistoryEntry *e, const char *reason_part)
{
    assert_false(e->applied);
    assert_non_null(e->rejected_reason);
    if (strstr(e->rejected_reason, reason_part) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", e->rejected_reason, reason_part);
}

static void assert_applied(const Valija__HistoryEntry *e)
{
    if (!e->applied)
        fail_msg("rejected: %s", e->rejected_reason);
    assert_string_equal(e->rejected_reason, "");
}

/* The standard opening: MX opens, shared with SV (and GT when wide). */
static void open_case(events *ev, int wide)
{
    upd x;
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_OPENED);
    add_share(&x, SV);
    if (wide)
        add_share(&x, GT);
    x.u.status = (char *)"detained";
    push(ev, &x, MX, 1, 1);
}

/* ------------------------------------------------------------------ */
/* validation                                                           */

static void expect_invalid(const upd *x, const char *field)
{
    vj_diag d;
    assert_int_equal(vj_case_update_validate(&x->u, &d), VJ_E_PARSE);
    if (strstr(d.text, field) == NULL)
        fail_msg("diag \"%s\" does not name \"%s\"", d.text, field);
}

static void expect_valid(const upd *x)
{
    vj_diag d;
    int rc = vj_case_update_validate(&x->u, &d);
    if (rc != VJ_OK)
        fail_msg("refused: %s", d.text);
}

static void test_validate_accepts_each_kind(void **state)
{
    (void)state;
    upd x;
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_OPENED);
    add_share(&x, SV);
    add_co(&x, GT);
    person(&x)->name = (char *)"José Ñúñez Pérez";
    x.p.date_of_birth = (char *)"2016-02-29";
    x.p.nationality = (char *)"GTM";
    x.p.minor = VALIJA__MINOR__MINOR_YES;
    x.u.note = (char *)"first line\n\tsecond line";
    expect_valid(&x);

    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS);
    x.u.status = (char *)"detained";
    x.u.facility = (char *)"Port Isabel";
    expect_valid(&x);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LOCATION);
    x.u.facility = (char *)"Dilley";
    expect_valid(&x);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_VISIT);
    visit(&x)->visitor = (char *)"consul";
    expect_valid(&x);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_REPRESENTATION);
    repr(&x)->name = (char *)"A. Lawyer";
    expect_valid(&x);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_NOTE);
    x.u.note = (char *)"called the family";
    expect_valid(&x);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LINK);
    add_link(&x, VALIJA__LINK_RELATION__LINK_PARENT, "MX-2018-000124");
    expect_valid(&x);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_SHARE);
    add_co(&x, SV);
    expect_valid(&x);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    expect_valid(&x);
}

static void test_validate_boundaries_accepted(void **state)
{
    (void)state;
    char status[VJ_FIELD_MAX + 1];
    memset(status, 'a', VJ_FIELD_MAX);
    status[VJ_FIELD_MAX] = '\0';
    char *note = malloc(VJ_TEXT_MAX + 1);
    assert_non_null(note);
    memset(note, 'n', VJ_TEXT_MAX);
    note[VJ_TEXT_MAX] = '\0';
    char id[VJ_CASE_ID_MAX + 1];
    memset(id, 'C', VJ_CASE_ID_MAX);
    id[VJ_CASE_ID_MAX] = '\0';

    upd x;
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS);
    x.u.status = status;
    x.u.note = note;
    x.u.case_id = id;
    for (int i = 0; i < VJ_CASE_LINKS_MAX; i++)
        add_link(&x, VALIJA__LINK_RELATION__LINK_SIBLING, (i % 2) ? "A" : "B");
    expect_invalid(&x, "links: entry 3 repeats entry 1"); /* distinctness still checked */
    x.u.n_links = 0;
    static char names[VJ_CASE_LINKS_MAX][16];
    for (int i = 0; i < VJ_CASE_LINKS_MAX; i++) {
        snprintf(names[i], sizeof names[i], "L%d", i);
        add_link(&x, VALIJA__LINK_RELATION__LINK_SIBLING, names[i]);
    }
    expect_valid(&x);
    free(note);
}

static void test_validate_rejects_envelope_fields(void **state)
{
    (void)state;
    vj_diag d;
    assert_int_equal(vj_case_update_validate(NULL, &d), VJ_E_PARSE);

    upd x;
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    x.u.version = 0;
    expect_invalid(&x, "version");
    x.u.version = 2;
    expect_invalid(&x, "version");

    const char *bad_ids[] = {
        "",        "MX 2018",
        "MX/2018", "MX-2018\n",
        "Méx-1",   "12345678901234567890123456789012345678901234567890123456789012345"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
        upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
        x.u.case_id = (char *)bad_ids[i];
        expect_invalid(&x, "case");
    }

    upd_init(&x, VALIJA__UPDATE_KIND__KIND_UNSPECIFIED);
    expect_invalid(&x, "kind");
    upd_init(&x, (Valija__UpdateKind)42);
    expect_invalid(&x, "kind");
    upd_init(&x, (Valija__UpdateKind)-1);
    expect_invalid(&x, "kind");

    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    x.u.at_ms = -1;
    expect_invalid(&x, "at_ms");
}

static void test_validate_rejects_bad_text(void **state)
{
    (void)state;
    char long_field[VJ_FIELD_MAX + 2];
    memset(long_field, 'a', VJ_FIELD_MAX + 1);
    long_field[VJ_FIELD_MAX + 1] = '\0';
    const char *bad[] = {
        long_field,         "line\nbreak", "tab\there", "bell\a",
        "esc\x1b[31m",      "del\x7f",     "\xff\xfe",  "\xc0\xaf", /* overlong '/' */
        "\xed\xa0\x80",                                             /* surrogate */
        "\xf4\x90\x80\x80",                                         /* past U+10FFFF */
        "trunc\xc3",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        upd x;
        upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS);
        x.u.status = (char *)bad[i];
        expect_invalid(&x, "status");

        upd_init(&x, VALIJA__UPDATE_KIND__KIND_LOCATION);
        x.u.facility = (char *)bad[i];
        expect_invalid(&x, "facility");

        upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
        person(&x)->name = (char *)bad[i];
        expect_invalid(&x, "person.name");
        upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
        person(&x)->document = (char *)bad[i];
        expect_invalid(&x, "person.document");
        upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
        person(&x)->alien_number = (char *)bad[i];
        expect_invalid(&x, "person.alien_number");

        upd_init(&x, VALIJA__UPDATE_KIND__KIND_REPRESENTATION);
        repr(&x)->name = (char *)bad[i];
        expect_invalid(&x, "representation.name");
        upd_init(&x, VALIJA__UPDATE_KIND__KIND_REPRESENTATION);
        repr(&x)->organization = (char *)bad[i];
        expect_invalid(&x, "representation.organization");
        upd_init(&x, VALIJA__UPDATE_KIND__KIND_REPRESENTATION);
        repr(&x)->contact = (char *)bad[i];
        expect_invalid(&x, "representation.contact");

        upd_init(&x, VALIJA__UPDATE_KIND__KIND_VISIT);
        visit(&x)->visitor = (char *)bad[i];
        expect_invalid(&x, "visit.visitor");
    }
}

static void test_validate_rejects_bad_note(void **state)
{
    (void)state;
    char *note = malloc(VJ_TEXT_MAX + 2);
    assert_non_null(note);
    memset(note, 'n', VJ_TEXT_MAX + 1);
    note[VJ_TEXT_MAX + 1] = '\0';
    const char *bad[] = {note, "bell\a", "nul-ish\x01", "\xff", "\xe2\x82", "cr\r"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        upd x;
        upd_init(&x, VALIJA__UPDATE_KIND__KIND_NOTE);
        x.u.note = (char *)bad[i];
        expect_invalid(&x, "note");
    }
    free(note);
}

static void test_validate_diag_never_echoes_content(void **state)
{
    (void)state;
    upd x;
    vj_diag d;
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS);
    x.u.status = (char *)"Maria Lopez, 7 years old\x01";
    assert_int_equal(vj_case_update_validate(&x.u, &d), VJ_E_PARSE);
    assert_null(strstr(d.text, "Maria"));
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    person(&x)->date_of_birth = (char *)"2011-99-99";
    assert_int_equal(vj_case_update_validate(&x.u, &d), VJ_E_PARSE);
    assert_null(strstr(d.text, "2011"));
}

static void test_validate_rejects_bad_person(void **state)
{
    (void)state;
    const char *bad_dates[] = {"2018-13-01", "2018-00-10",  "2018-02-30", "2019-02-29",
                               "1900-02-29", "2018-04-31",  "2018-01-00", "18-01-01",
                               "2018/01/01", "2018-1-01",   "abcd-ef-gh", "1899-12-31",
                               "2101-01-01", "2018-01-011", " 2018-01-01"};
    for (size_t i = 0; i < sizeof bad_dates / sizeof *bad_dates; i++) {
        upd x;
        upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
        person(&x)->date_of_birth = (char *)bad_dates[i];
        expect_invalid(&x, "person.date_of_birth");
    }
    const char *good_dates[] = {"2000-02-29", "1900-01-01", "2018-12-31", "2100-12-31"};
    for (size_t i = 0; i < sizeof good_dates / sizeof *good_dates; i++) {
        upd x;
        upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
        person(&x)->date_of_birth = (char *)good_dates[i];
        expect_valid(&x);
    }
    const char *bad_nat[] = {"mx", "M", "MEXI", "M1", "M X", "Mx", "ÑA"};
    for (size_t i = 0; i < sizeof bad_nat / sizeof *bad_nat; i++) {
        upd x;
        upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
        person(&x)->nationality = (char *)bad_nat[i];
        expect_invalid(&x, "person.nationality");
    }
    upd x;
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    person(&x)->minor = (Valija__Minor)3;
    expect_invalid(&x, "person.minor");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    person(&x)->minor = (Valija__Minor)-1;
    expect_invalid(&x, "person.minor");
}

static void test_validate_rejects_bad_visit(void **state)
{
    (void)state;
    upd x;
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_VISIT);
    visit(&x)->visitor = (char *)"consul";
    x.v.at_ms = -5;
    expect_invalid(&x, "visit.at_ms");
}

static void test_validate_rejects_bad_links(void **state)
{
    (void)state;
    upd x;
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LINK);
    add_link(&x, VALIJA__LINK_RELATION__LINK_UNSPECIFIED, "MX-1");
    expect_invalid(&x, "relation");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LINK);
    add_link(&x, (Valija__LinkRelation)9, "MX-1");
    expect_invalid(&x, "relation");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LINK);
    add_link(&x, VALIJA__LINK_RELATION__LINK_CHILD, "MX 1");
    expect_invalid(&x, "case id");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LINK);
    add_link(&x, VALIJA__LINK_RELATION__LINK_CHILD, "");
    expect_invalid(&x, "case id");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LINK);
    add_link(&x, VALIJA__LINK_RELATION__LINK_CHILD, CASE);
    expect_invalid(&x, "itself");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LINK);
    add_link(&x, VALIJA__LINK_RELATION__LINK_CHILD, "MX-1");
    add_link(&x, VALIJA__LINK_RELATION__LINK_CHILD, "MX-1");
    expect_invalid(&x, "repeats");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LINK);
    static char names[VJ_CASE_LINKS_MAX + 1][16];
    for (int i = 0; i <= VJ_CASE_LINKS_MAX; i++) {
        snprintf(names[i], sizeof names[i], "L%d", i);
        add_link(&x, VALIJA__LINK_RELATION__LINK_SIBLING, names[i]);
    }
    expect_invalid(&x, "too many");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LINK);
    add_link(&x, VALIJA__LINK_RELATION__LINK_CHILD, "MX-1");
    x.link_ptrs[0] = NULL;
    expect_invalid(&x, "links");
}

static void test_validate_rejects_bad_sharing(void **state)
{
    (void)state;
    const char *bad_posts[] = {"MX-washington",
                               "-mx",
                               "mx-",
                               "mx washington",
                               "mx_washington",
                               "",
                               "mx-washington-mx-washington-mx-washington-mx-washington-mx-washin"};
    for (size_t i = 0; i < sizeof bad_posts / sizeof *bad_posts; i++) {
        upd x;
        upd_init(&x, VALIJA__UPDATE_KIND__KIND_SHARE);
        add_share(&x, SV);
        add_share(&x, bad_posts[i]);
        expect_invalid(&x, "share: entry 2");
        upd_init(&x, VALIJA__UPDATE_KIND__KIND_SHARE);
        add_co(&x, bad_posts[i]);
        expect_invalid(&x, "co_owners: entry 1");
    }
    upd x;
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_SHARE);
    add_share(&x, SV);
    add_share(&x, GT);
    add_share(&x, SV);
    expect_invalid(&x, "twice");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_SHARE);
    add_co(&x, GT);
    add_co(&x, GT);
    expect_invalid(&x, "co_owners");

    static char posts[VJ_MAX_RECIPIENTS + 1][24];
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_SHARE);
    for (int i = 0; i <= VJ_MAX_RECIPIENTS; i++) {
        snprintf(posts[i], sizeof posts[i], "post-%d", i);
        add_share(&x, posts[i]);
    }
    expect_invalid(&x, "too many");
    x.u.n_share = VJ_MAX_RECIPIENTS;
    expect_valid(&x);

    /* sharing rides only on OPENED and SHARE */
    Valija__UpdateKind others[] = {VALIJA__UPDATE_KIND__KIND_STATUS, VALIJA__UPDATE_KIND__KIND_NOTE,
                                   VALIJA__UPDATE_KIND__KIND_CLOSED};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        upd_init(&x, others[i]);
        x.u.status = (char *)"s";
        x.u.note = (char *)"n";
        add_share(&x, SV);
        expect_invalid(&x, "share");
        upd_init(&x, others[i]);
        x.u.status = (char *)"s";
        x.u.note = (char *)"n";
        add_co(&x, SV);
        expect_invalid(&x, "share");
    }
}

static void test_validate_rejects_bad_seen(void **state)
{
    (void)state;
    upd x;
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    add_seen(&x, "Not A Post", 3);
    expect_invalid(&x, "seen");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    add_seen(&x, MX, 3);
    add_seen(&x, MX, 4);
    expect_invalid(&x, "twice");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    add_seen(&x, MX, 0);
    expect_invalid(&x, "seen");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    add_seen(&x, MX, 1);
    x.seen_ptrs[0] = NULL;
    expect_invalid(&x, "seen");
    static char posts[VJ_CASE_SEEN_MAX + 1][24];
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    for (int i = 0; i <= VJ_CASE_SEEN_MAX; i++) {
        snprintf(posts[i], sizeof posts[i], "post-%d", i);
        add_seen(&x, posts[i], 1);
    }
    expect_invalid(&x, "too many");
}

static void test_validate_kind_must_fit_fields(void **state)
{
    (void)state;
    upd x;
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_OPENED);
    x.u.status = (char *)"detained";
    expect_invalid(&x, "share");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_SHARE);
    expect_invalid(&x, "share or co_owners");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS);
    x.u.facility = (char *)"Dilley";
    expect_invalid(&x, "status");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LOCATION);
    x.u.status = (char *)"detained";
    expect_invalid(&x, "facility");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_VISIT);
    expect_invalid(&x, "visit");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_VISIT);
    visit(&x); /* present but empty */
    expect_invalid(&x, "visit");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_REPRESENTATION);
    expect_invalid(&x, "representation");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_NOTE);
    expect_invalid(&x, "note");
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LINK);
    expect_invalid(&x, "links");
}

/* ------------------------------------------------------------------ */
/* kind inference                                                       */

static void test_infer_kind_table(void **state)
{
    (void)state;
    upd x;
    assert_int_equal(vj_case_infer_kind(NULL, 1), VALIJA__UPDATE_KIND__KIND_UNSPECIFIED);

    upd_init(&x, VALIJA__UPDATE_KIND__KIND_UNSPECIFIED);
    x.u.status = (char *)"detained";
    assert_int_equal(vj_case_infer_kind(&x.u, 0), VALIJA__UPDATE_KIND__KIND_OPENED);
    assert_int_equal(vj_case_infer_kind(&x.u, 1), VALIJA__UPDATE_KIND__KIND_STATUS);

    /* first match wins: share beats status beats facility ... beats note */
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_UNSPECIFIED);
    x.u.note = (char *)"n";
    assert_int_equal(vj_case_infer_kind(&x.u, 1), VALIJA__UPDATE_KIND__KIND_NOTE);
    add_link(&x, VALIJA__LINK_RELATION__LINK_CHILD, "MX-2");
    assert_int_equal(vj_case_infer_kind(&x.u, 1), VALIJA__UPDATE_KIND__KIND_LINK);
    visit(&x)->visitor = (char *)"consul";
    assert_int_equal(vj_case_infer_kind(&x.u, 1), VALIJA__UPDATE_KIND__KIND_VISIT);
    repr(&x)->name = (char *)"lawyer";
    assert_int_equal(vj_case_infer_kind(&x.u, 1), VALIJA__UPDATE_KIND__KIND_REPRESENTATION);
    x.u.facility = (char *)"Dilley";
    assert_int_equal(vj_case_infer_kind(&x.u, 1), VALIJA__UPDATE_KIND__KIND_LOCATION);
    x.u.status = (char *)"released";
    assert_int_equal(vj_case_infer_kind(&x.u, 1), VALIJA__UPDATE_KIND__KIND_STATUS);
    add_co(&x, SV);
    assert_int_equal(vj_case_infer_kind(&x.u, 1), VALIJA__UPDATE_KIND__KIND_SHARE);
    x.u.n_co_owners = 0;
    add_share(&x, SV);
    assert_int_equal(vj_case_infer_kind(&x.u, 1), VALIJA__UPDATE_KIND__KIND_SHARE);
    assert_int_equal(vj_case_infer_kind(&x.u, 0), VALIJA__UPDATE_KIND__KIND_OPENED);

    /* an empty visit does not make a visit; person details alone name no kind */
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_UNSPECIFIED);
    visit(&x);
    assert_int_equal(vj_case_infer_kind(&x.u, 1), VALIJA__UPDATE_KIND__KIND_UNSPECIFIED);
    person(&x)->name = (char *)"n";
    assert_int_equal(vj_case_infer_kind(&x.u, 1), VALIJA__UPDATE_KIND__KIND_UNSPECIFIED);

    /* a given kind is kept */
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    x.u.status = (char *)"repatriated";
    assert_int_equal(vj_case_infer_kind(&x.u, 1), VALIJA__UPDATE_KIND__KIND_CLOSED);
}

/* ------------------------------------------------------------------ */
/* the fold                                                             */

static void test_fold_open_update_close(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    open_case(&ev, 0);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LOCATION);
    x.u.facility = (char *)"Port Isabel";
    add_seen(&x, MX, 1);
    push(&ev, &x, SV, 1, 2);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    x.u.status = (char *)"reunited";
    add_seen(&x, MX, 1);
    add_seen(&x, SV, 1);
    push(&ev, &x, MX, 2, 3);

    Valija__CaseState *st = fold_ok(&ev);
    for (size_t i = 0; i < ev.n; i++)
        assert_applied(ev.e[i]);
    assert_string_equal(st->case_id, CASE);
    assert_string_equal(st->owner, MX);
    assert_string_equal(st->status, "reunited");
    assert_string_equal(st->facility, "Port Isabel");
    assert_true(st->closed);
    assert_int_equal(st->events, 3);
    assert_int_equal(st->updated_ms, 3000);
    assert_int_equal(st->n_shared_with, 2);
    assert_string_equal(st->shared_with[0], MX);
    assert_string_equal(st->shared_with[1], SV);
    assert_int_equal(st->n_co_owners, 0);
    assert_int_equal(st->n_conflicts, 0);
    vj_codec_free(&st->base);
    events_free(&ev);
}

static void test_fold_no_opened_is_notfound(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS);
    x.u.status = (char *)"detained";
    push(&ev, &x, MX, 1, 1);
    Valija__CaseState *st = (Valija__CaseState *)(uintptr_t)1;
    assert_int_equal(vj_case_fold(CASE, ev.e, ev.n, &st), VJ_E_NOTFOUND);
    assert_null(st);
    assert_rejected(ev.e[0], "case not opened yet");
    assert_int_equal(vj_case_fold(CASE, ev.e, 0, &st), VJ_E_NOTFOUND);
    events_free(&ev);
}

static void test_fold_rejects_bad_arguments(void **state)
{
    (void)state;
    Valija__CaseState *st = NULL;
    Valija__HistoryEntry *none[1] = {NULL};
    assert_int_equal(vj_case_fold(CASE, NULL, 1, &st), VJ_E_INVAL);
    assert_int_equal(vj_case_fold(CASE, none, 1, &st), VJ_E_INVAL);
    assert_int_equal(vj_case_fold("bad id", none, 0, &st), VJ_E_INVAL);
    assert_int_equal(vj_case_fold(NULL, none, 0, &st), VJ_E_INVAL);
    assert_int_equal(vj_case_fold(CASE, none, 0, NULL), VJ_E_INVAL);
    assert_null(st);
}

static void test_fold_rejects_malformed_entries(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    open_case(&ev, 0);

    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS); /* invalid update inside */
    x.u.status = (char *)"bad\x01";
    Valija__HistoryEntry *invalid = push(&ev, &x, MX, 2, 2);

    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS); /* another case's update */
    x.u.status = (char *)"released";
    x.u.case_id = (char *)"MX-2018-999999";
    Valija__HistoryEntry *other = push(&ev, &x, MX, 3, 3);

    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS);
    x.u.status = (char *)"released";
    Valija__HistoryEntry *short_id = push(&ev, &x, MX, 4, 4);
    short_id->msg_id.len = 8;
    Valija__HistoryEntry *no_seq = push(&ev, &x, MX, 5, 5);
    no_seq->seq = 0;
    Valija__HistoryEntry *bad_origin = push(&ev, &x, MX, 6, 6);
    free(bad_origin->origin);
    bad_origin->origin = malloc(8);
    memcpy(bad_origin->origin, "Bad Org", 8);
    Valija__HistoryEntry *no_update = push(&ev, &x, MX, 7, 7);
    vj_codec_free(&no_update->update->base);
    no_update->update = NULL;

    Valija__CaseState *st = fold_ok(&ev);
    assert_applied(ev.e[0]);
    assert_rejected(invalid, "invalid update: status");
    assert_rejected(other, "belongs to case MX-2018-999999");
    assert_rejected(short_id, "message id");
    assert_rejected(no_seq, "sequence");
    assert_rejected(bad_origin, "origin");
    assert_rejected(no_update, "no update");
    assert_string_equal(st->status, "detained");
    assert_int_equal(st->events, 1);
    vj_codec_free(&st->base);
    events_free(&ev);
}

static void test_fold_duplicate_msg_id_rejected(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    open_case(&ev, 0);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_NOTE);
    x.u.note = (char *)"once";
    push(&ev, &x, MX, 2, 2);
    push(&ev, &x, MX, 2, 2);
    Valija__CaseState *st = fold_ok(&ev);
    assert_int_equal(st->n_notes, 1);
    assert_int_equal(ev.e[1]->applied + ev.e[2]->applied, 1);
    vj_codec_free(&st->base);
    events_free(&ev);
}

static void test_fold_last_writer_wins_per_field(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    open_case(&ev, 0);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS);
    x.u.status = (char *)"transferred";
    person(&x)->name = (char *)"First Name";
    x.p.date_of_birth = (char *)"2012-05-01";
    x.p.minor = VALIJA__MINOR__MINOR_YES;
    repr(&x)->name = (char *)"Lawyer One";
    x.r.organization = (char *)"Legal Aid";
    add_seen(&x, MX, 1);
    push(&ev, &x, SV, 1, 2);

    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LOCATION);
    x.u.facility = (char *)"Dilley";
    person(&x)->nationality = (char *)"SLV";
    x.p.name = (char *)"Corrected Name";
    x.p.minor = VALIJA__MINOR__MINOR_UNKNOWN; /* unknown changes nothing */
    repr(&x)->name = (char *)"Lawyer Two";    /* as a whole: organization goes */
    visit(&x)->visitor = (char *)"vice consul";
    x.v.at_ms = 777;
    add_seen(&x, MX, 1);
    add_seen(&x, SV, 1);
    push(&ev, &x, MX, 2, 3);

    Valija__CaseState *st = fold_ok(&ev);
    assert_string_equal(st->status, "transferred");
    assert_string_equal(st->facility, "Dilley");
    assert_non_null(st->person);
    assert_string_equal(st->person->name, "Corrected Name");
    assert_string_equal(st->person->date_of_birth, "2012-05-01");
    assert_string_equal(st->person->nationality, "SLV");
    assert_int_equal(st->person->minor, VALIJA__MINOR__MINOR_YES);
    assert_non_null(st->representation);
    assert_string_equal(st->representation->name, "Lawyer Two");
    assert_string_equal(st->representation->organization, "");
    assert_non_null(st->last_visit);
    assert_string_equal(st->last_visit->visitor, "vice consul");
    assert_int_equal(st->last_visit->at_ms, 777);
    assert_int_equal(st->n_conflicts, 0);
    vj_codec_free(&st->base);
    events_free(&ev);
}

static void test_fold_notes_append_in_order(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    open_case(&ev, 0);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_NOTE);
    x.u.note = (char *)"second";
    x.u.at_ms = 5555;
    add_seen(&x, MX, 1);
    Valija__HistoryEntry *b = push(&ev, &x, SV, 1, 3);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_NOTE);
    x.u.note = (char *)"first";
    add_seen(&x, MX, 1);
    Valija__HistoryEntry *a = push(&ev, &x, MX, 2, 2);

    Valija__CaseState *st = fold_ok(&ev);
    assert_int_equal(st->n_notes, 2);
    assert_string_equal(st->notes[0]->text, "first");
    assert_string_equal(st->notes[0]->origin, MX);
    assert_int_equal(st->notes[0]->at_ms, a->created_ms); /* no at_ms: creation time */
    assert_memory_equal(st->notes[0]->msg_id.data, a->msg_id.data, VJ_MSG_ID_LEN);
    assert_string_equal(st->notes[1]->text, "second");
    assert_string_equal(st->notes[1]->origin, SV);
    assert_int_equal(st->notes[1]->at_ms, 5555);
    assert_memory_equal(st->notes[1]->msg_id.data, b->msg_id.data, VJ_MSG_ID_LEN);
    vj_codec_free(&st->base);
    events_free(&ev);
}

static void test_fold_links_union_sorted(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    open_case(&ev, 0);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LINK);
    add_link(&x, VALIJA__LINK_RELATION__LINK_SIBLING, "MX-9");
    add_link(&x, VALIJA__LINK_RELATION__LINK_PARENT, "MX-5");
    push(&ev, &x, MX, 2, 2);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LINK);
    add_link(&x, VALIJA__LINK_RELATION__LINK_PARENT, "MX-5");
    add_link(&x, VALIJA__LINK_RELATION__LINK_PARENT, "MX-3");
    add_link(&x, VALIJA__LINK_RELATION__LINK_CHILD, "MX-5");
    push(&ev, &x, SV, 1, 3);

    Valija__CaseState *st = fold_ok(&ev);
    assert_int_equal(st->n_links, 4);
    assert_int_equal(st->links[0]->relation, VALIJA__LINK_RELATION__LINK_PARENT);
    assert_string_equal(st->links[0]->case_id, "MX-3");
    assert_int_equal(st->links[1]->relation, VALIJA__LINK_RELATION__LINK_PARENT);
    assert_string_equal(st->links[1]->case_id, "MX-5");
    assert_int_equal(st->links[2]->relation, VALIJA__LINK_RELATION__LINK_CHILD);
    assert_string_equal(st->links[2]->case_id, "MX-5");
    assert_int_equal(st->links[3]->relation, VALIJA__LINK_RELATION__LINK_SIBLING);
    assert_string_equal(st->links[3]->case_id, "MX-9");
    vj_codec_free(&st->base);
    events_free(&ev);
}

static void test_fold_second_opened_rejected(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    open_case(&ev, 0);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_OPENED);
    add_share(&x, GT);
    x.u.status = (char *)"hijacked";
    Valija__HistoryEntry *second = push(&ev, &x, SV, 1, 2);
    Valija__CaseState *st = fold_ok(&ev);
    assert_rejected(second, "already opened by " MX);
    assert_string_equal(st->owner, MX);
    assert_string_equal(st->status, "detained");
    assert_int_equal(st->n_shared_with, 2);
    vj_codec_free(&st->base);
    events_free(&ev);
}

static void test_fold_event_before_opened_rejected(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS);
    x.u.status = (char *)"early";
    Valija__HistoryEntry *early = push(&ev, &x, MX, 1, 1);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_OPENED);
    add_share(&x, SV);
    push(&ev, &x, MX, 2, 2);
    Valija__CaseState *st = fold_ok(&ev);
    assert_rejected(early, "case not opened yet");
    assert_string_equal(st->status, "");
    assert_int_equal(st->events, 1);
    vj_codec_free(&st->base);
    events_free(&ev);
}

static void test_fold_not_shared_origin_rejected(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    open_case(&ev, 0);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_NOTE);
    x.u.note = (char *)"from outside";
    Valija__HistoryEntry *out = push(&ev, &x, HN, 1, 2);
    Valija__CaseState *st = fold_ok(&ev);
    assert_rejected(out, HN " is not shared on this case");
    assert_int_equal(st->n_notes, 0);
    vj_codec_free(&st->base);
    events_free(&ev);
}

static void test_fold_share_and_close_need_owner(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    open_case(&ev, 0);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_SHARE);
    add_share(&x, SV);
    add_share(&x, HN);
    Valija__HistoryEntry *share = push(&ev, &x, SV, 1, 2);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    Valija__HistoryEntry *close = push(&ev, &x, SV, 2, 3);
    Valija__CaseState *st = fold_ok(&ev);
    assert_rejected(share, "only the owner " MX " or a co-owner may change sharing");
    assert_rejected(close, "only the owner " MX " or a co-owner may close");
    assert_false(st->closed);
    assert_int_equal(st->n_shared_with, 2);
    vj_codec_free(&st->base);
    events_free(&ev);
}

static void test_fold_closed_refuses_others_owner_reopens(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    open_case(&ev, 0);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    push(&ev, &x, MX, 2, 2);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_NOTE);
    x.u.note = (char *)"late";
    Valija__HistoryEntry *late = push(&ev, &x, SV, 1, 3);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_NOTE);
    x.u.note = (char *)"owner note while closed";
    Valija__HistoryEntry *owner_note = push(&ev, &x, MX, 3, 4);

    Valija__CaseState *st = fold_ok(&ev);
    assert_rejected(late, "closed by " MX);
    assert_applied(owner_note);
    assert_true(st->closed);
    vj_codec_free(&st->base);

    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS);
    x.u.status = (char *)"detained again";
    push(&ev, &x, MX, 4, 5);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_NOTE);
    x.u.note = (char *)"after reopening";
    Valija__HistoryEntry *after = push(&ev, &x, SV, 2, 6);
    st = fold_ok(&ev);
    assert_false(st->closed);
    assert_rejected(late, "closed by " MX); /* a refold gives the same verdicts */
    assert_applied(after);
    assert_string_equal(st->status, "detained again");
    assert_int_equal(st->n_notes, 2);
    vj_codec_free(&st->base);
    events_free(&ev);
}

static void test_fold_co_owner_may_share_and_close(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_OPENED);
    add_share(&x, SV);
    add_co(&x, GT);
    add_co(&x, MX); /* the owner is no co-owner of itself */
    push(&ev, &x, MX, 1, 1);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_SHARE);
    add_share(&x, HN); /* MX is not listed: the owner stays anyway */
    Valija__HistoryEntry *share = push(&ev, &x, GT, 1, 2);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_NOTE);
    x.u.note = (char *)"removed post writes";
    Valija__HistoryEntry *removed = push(&ev, &x, SV, 1, 3);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    Valija__HistoryEntry *close = push(&ev, &x, GT, 2, 4);

    Valija__CaseState *st = fold_ok(&ev);
    assert_applied(share);
    assert_applied(close);
    assert_rejected(removed, SV " is not shared on this case");
    assert_true(st->closed);
    assert_int_equal(st->n_co_owners, 1);
    assert_string_equal(st->co_owners[0], GT);
    /* owner, co-owner and the share list, sorted */
    assert_int_equal(st->n_shared_with, 3);
    assert_string_equal(st->shared_with[0], GT);
    assert_string_equal(st->shared_with[1], HN);
    assert_string_equal(st->shared_with[2], MX);
    vj_codec_free(&st->base);

    /* listing the owner alone clears the co-owners */
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_SHARE);
    add_co(&x, MX);
    push(&ev, &x, MX, 2, 5);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_NOTE);
    x.u.note = (char *)"former co-owner";
    Valija__HistoryEntry *former = push(&ev, &x, GT, 3, 6);
    st = fold_ok(&ev);
    assert_int_equal(st->n_co_owners, 0);
    assert_rejected(former, GT " is not shared on this case");
    assert_int_equal(st->n_shared_with, 2);
    vj_codec_free(&st->base);
    events_free(&ev);
}

/* ------------------------------------------------------------------ */
/* conflicts                                                            */

static void test_conflict_concurrent_same_field(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    open_case(&ev, 0);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LOCATION);
    x.u.facility = (char *)"Dilley";
    add_seen(&x, MX, 1);
    Valija__HistoryEntry *a = push(&ev, &x, MX, 2, 2);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LOCATION);
    x.u.facility = (char *)"Karnes";
    x.u.at_ms = 4242;
    add_seen(&x, MX, 1); /* had not seen MX's second event */
    Valija__HistoryEntry *b = push(&ev, &x, SV, 1, 2);

    Valija__CaseState *st = fold_ok(&ev);
    assert_int_equal(st->n_conflicts, 1);
    Valija__Conflict *c = st->conflicts[0];
    assert_string_equal(c->field, "facility");
    assert_int_equal(c->n_values, 2);
    /* fold order at equal lamport: by origin, mx before sv */
    assert_string_equal(c->values[0]->value, "Dilley");
    assert_string_equal(c->values[0]->origin, MX);
    assert_memory_equal(c->values[0]->msg_id.data, a->msg_id.data, VJ_MSG_ID_LEN);
    assert_string_equal(c->values[1]->value, "Karnes");
    assert_string_equal(c->values[1]->origin, SV);
    assert_int_equal(c->values[1]->at_ms, 4242);
    assert_memory_equal(c->values[1]->msg_id.data, b->msg_id.data, VJ_MSG_ID_LEN);
    assert_string_equal(st->facility, "Karnes"); /* shown: the last in order */
    vj_codec_free(&st->base);

    /* a later update that saw both settles it */
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LOCATION);
    x.u.facility = (char *)"Dilley";
    add_seen(&x, MX, 2);
    add_seen(&x, SV, 1);
    push(&ev, &x, SV, 2, 3);
    st = fold_ok(&ev);
    assert_int_equal(st->n_conflicts, 0);
    assert_string_equal(st->facility, "Dilley");
    vj_codec_free(&st->base);
    events_free(&ev);
}

static void test_conflict_partial_settle(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    open_case(&ev, 1);
    const char *who[3] = {GT, MX, SV};
    const char *val[3] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS);
        x.u.status = (char *)val[i];
        add_seen(&x, MX, 1);
        push(&ev, &x, who[i], strcmp(who[i], MX) == 0 ? 2 : 1, 2);
    }
    Valija__CaseState *st = fold_ok(&ev);
    assert_int_equal(st->n_conflicts, 1);
    assert_int_equal(st->conflicts[0]->n_values, 3);
    vj_codec_free(&st->base);

    /* GT writes again having seen only SV's: GT's own first write is
     * superseded, MX's remains concurrent */
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS);
    x.u.status = (char *)"d";
    add_seen(&x, MX, 1);
    add_seen(&x, SV, 1);
    add_seen(&x, GT, 1);
    push(&ev, &x, GT, 2, 3);
    st = fold_ok(&ev);
    assert_int_equal(st->n_conflicts, 1);
    Valija__Conflict *c = st->conflicts[0];
    assert_int_equal(c->n_values, 2);
    assert_string_equal(c->values[0]->value, "b");
    assert_string_equal(c->values[0]->origin, MX);
    assert_string_equal(c->values[1]->value, "d");
    assert_string_equal(st->status, "d");
    vj_codec_free(&st->base);
    events_free(&ev);
}

static void test_no_conflict_different_fields(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    open_case(&ev, 0);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_LOCATION);
    x.u.facility = (char *)"Dilley";
    person(&x)->name = (char *)"Name A";
    add_seen(&x, MX, 1);
    push(&ev, &x, MX, 2, 2);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS);
    x.u.status = (char *)"released";
    person(&x)->document = (char *)"P1234";
    add_seen(&x, MX, 1);
    push(&ev, &x, SV, 1, 2);
    Valija__CaseState *st = fold_ok(&ev);
    assert_int_equal(st->n_conflicts, 0);
    assert_string_equal(st->facility, "Dilley");
    assert_string_equal(st->status, "released");
    assert_string_equal(st->person->name, "Name A");
    assert_string_equal(st->person->document, "P1234");
    vj_codec_free(&st->base);
    events_free(&ev);
}

static void test_no_conflict_causally_ordered(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    open_case(&ev, 0);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS); /* overwrites MX's status, having seen it */
    x.u.status = (char *)"transferred";
    add_seen(&x, MX, 1);
    push(&ev, &x, SV, 1, 2);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS); /* same origin, later seq: ordered */
    x.u.status = (char *)"released";
    push(&ev, &x, SV, 2, 3);
    Valija__CaseState *st = fold_ok(&ev);
    assert_int_equal(st->n_conflicts, 0);
    assert_string_equal(st->status, "released");
    vj_codec_free(&st->base);
    events_free(&ev);
}

static void test_conflict_on_person_and_representation(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    open_case(&ev, 0);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_REPRESENTATION);
    repr(&x)->name = (char *)"Lawyer A";
    x.r.organization = (char *)"Org A";
    person(&x)->minor = VALIJA__MINOR__MINOR_YES;
    push(&ev, &x, MX, 2, 2);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_REPRESENTATION);
    repr(&x)->name = (char *)"Lawyer B";
    person(&x)->minor = VALIJA__MINOR__MINOR_NO;
    push(&ev, &x, SV, 1, 2);
    Valija__CaseState *st = fold_ok(&ev);
    assert_int_equal(st->n_conflicts, 2);
    assert_string_equal(st->conflicts[0]->field, "person.minor");
    assert_string_equal(st->conflicts[0]->values[0]->value, "yes");
    assert_string_equal(st->conflicts[0]->values[1]->value, "no");
    assert_string_equal(st->conflicts[1]->field, "representation");
    assert_string_equal(st->conflicts[1]->values[0]->value, "Lawyer A / Org A");
    assert_string_equal(st->conflicts[1]->values[1]->value, "Lawyer B");
    vj_codec_free(&st->base);
    events_free(&ev);
}

static void test_no_conflict_when_concurrent_values_agree(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    open_case(&ev, 0);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS);
    x.u.status = (char *)"released";
    push(&ev, &x, MX, 2, 2);
    push(&ev, &x, SV, 1, 2);
    Valija__CaseState *st = fold_ok(&ev);
    assert_int_equal(st->n_conflicts, 0);
    assert_string_equal(st->status, "released");
    vj_codec_free(&st->base);
    events_free(&ev);
}

static void test_rejected_writer_causes_no_conflict(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    open_case(&ev, 0);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS);
    x.u.status = (char *)"released";
    push(&ev, &x, MX, 2, 2);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS);
    x.u.status = (char *)"deported";
    push(&ev, &x, HN, 1, 2); /* not shared: rejected, changes nothing */
    Valija__CaseState *st = fold_ok(&ev);
    assert_int_equal(st->n_conflicts, 0);
    assert_string_equal(st->status, "released");
    vj_codec_free(&st->base);
    events_free(&ev);
}

/* ------------------------------------------------------------------ */
/* vj_case_check: the same rules, on a state                            */

static void test_check_matches_fold_rules(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    vj_diag why;
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_STATUS);
    x.u.status = (char *)"s";
    assert_int_equal(vj_case_check(NULL, MX, &x.u, &why), VJ_E_REFUSED);
    assert_non_null(strstr(why.text, "not opened"));
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_OPENED);
    add_share(&x, SV);
    assert_int_equal(vj_case_check(NULL, MX, &x.u, &why), VJ_OK);
    assert_int_equal(vj_case_check(NULL, NULL, &x.u, &why), VJ_E_INVAL);
    assert_int_equal(vj_case_check(NULL, MX, NULL, &why), VJ_E_INVAL);

    upd_init(&x, VALIJA__UPDATE_KIND__KIND_OPENED);
    add_share(&x, SV);
    add_co(&x, GT);
    push(&ev, &x, MX, 1, 1);
    Valija__CaseState *st = fold_ok(&ev);

    upd_init(&x, VALIJA__UPDATE_KIND__KIND_OPENED);
    add_share(&x, SV);
    assert_int_equal(vj_case_check(st, SV, &x.u, &why), VJ_E_REFUSED);
    assert_non_null(strstr(why.text, "already opened by " MX));
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_NOTE);
    x.u.note = (char *)"n";
    assert_int_equal(vj_case_check(st, HN, &x.u, &why), VJ_E_REFUSED);
    assert_non_null(strstr(why.text, HN " is not shared"));
    assert_int_equal(vj_case_check(st, SV, &x.u, &why), VJ_OK);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_SHARE);
    add_share(&x, HN);
    assert_int_equal(vj_case_check(st, SV, &x.u, &why), VJ_E_REFUSED);
    assert_non_null(strstr(why.text, "change sharing"));
    assert_int_equal(vj_case_check(st, GT, &x.u, &why), VJ_OK);
    assert_int_equal(vj_case_check(st, MX, &x.u, &why), VJ_OK);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    assert_int_equal(vj_case_check(st, SV, &x.u, &why), VJ_E_REFUSED);
    assert_non_null(strstr(why.text, "close"));
    assert_int_equal(vj_case_check(st, GT, &x.u, &why), VJ_OK);
    vj_codec_free(&st->base);

    push(&ev, &x, GT, 1, 2);
    st = fold_ok(&ev);
    assert_true(st->closed);
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_NOTE);
    x.u.note = (char *)"n";
    assert_int_equal(vj_case_check(st, SV, &x.u, &why), VJ_E_REFUSED);
    assert_non_null(strstr(why.text, "closed"));
    assert_int_equal(vj_case_check(st, MX, &x.u, &why), VJ_OK);
    vj_codec_free(&st->base);
    events_free(&ev);
}

/* ------------------------------------------------------------------ */
/* the seen clock                                                       */

static void test_seen_highest_per_origin(void **state)
{
    (void)state;
    events ev = {0};
    upd x;
    upd_init(&x, VALIJA__UPDATE_KIND__KIND_CLOSED);
    push(&ev, &x, SV, 3, 1);
    push(&ev, &x, MX, 1, 1);
    push(&ev, &x, SV, 7, 1);
    push(&ev, &x, MX, 2, 1);
    push(&ev, &x, SV, 5, 1);
    Valija__HistoryEntry *bad = push(&ev, &x, GT, 9, 1);
    free(bad->origin);
    bad->origin = malloc(4);
    memcpy(bad->origin, "B D", 4);

    Valija__CaseClock **clk = NULL;
    size_t n = 0;
    assert_int_equal(vj_case_seen(ev.e, ev.n, &clk, &n), VJ_OK);
    assert_int_equal(n, 2);
    assert_string_equal(clk[0]->origin, MX);
    assert_int_equal(clk[0]->seq, 2);
    assert_string_equal(clk[1]->origin, SV);
    assert_int_equal(clk[1]->seq, 7);
    for (size_t i = 0; i < n; i++)
        vj_codec_free(&clk[i]->base);
    free(clk);

    assert_int_equal(vj_case_seen(ev.e, 0, &clk, &n), VJ_OK);
    assert_int_equal(n, 0);
    assert_null(clk);
    assert_int_equal(vj_case_seen(NULL, 3, &clk, &n), VJ_E_INVAL);
    assert_int_equal(vj_case_seen(ev.e, 1, NULL, &n), VJ_E_INVAL);
    events_free(&ev);
}

/* ------------------------------------------------------------------ */
/* convergence: the state is a function of the set of events            */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t rng_below(uint64_t *s, size_t n)
{
    return (size_t)(rng_next(s) % n);
}

#define SIM_POSTS 4 /* three that work the case, one that should not write */

static const char *const sim_post[SIM_POSTS] = {MX, SV, GT, HN};
static const char *const sim_status[] = {"detained", "released", "transferred"};
static const char *const sim_facility[] = {"Dilley", "Karnes", "Port Isabel"};
static const char *const sim_name[] = {"Name A", "Name B"};
static const char *const sim_links[] = {"MX-1", "MX-2", "SV-7"};
/* what posts write, about as often as they write it */
#define SIM_KINDS 16
static const Valija__UpdateKind sim_kinds[SIM_KINDS] = {
    VALIJA__UPDATE_KIND__KIND_STATUS,         VALIJA__UPDATE_KIND__KIND_STATUS,
    VALIJA__UPDATE_KIND__KIND_STATUS,         VALIJA__UPDATE_KIND__KIND_LOCATION,
    VALIJA__UPDATE_KIND__KIND_LOCATION,       VALIJA__UPDATE_KIND__KIND_LOCATION,
    VALIJA__UPDATE_KIND__KIND_NOTE,           VALIJA__UPDATE_KIND__KIND_NOTE,
    VALIJA__UPDATE_KIND__KIND_VISIT,          VALIJA__UPDATE_KIND__KIND_REPRESENTATION,
    VALIJA__UPDATE_KIND__KIND_REPRESENTATION, VALIJA__UPDATE_KIND__KIND_LINK,
    VALIJA__UPDATE_KIND__KIND_SHARE,          VALIJA__UPDATE_KIND__KIND_SHARE,
    VALIJA__UPDATE_KIND__KIND_CLOSED,         VALIJA__UPDATE_KIND__KIND_OPENED,
};

/* Simulates posts that write, learn each other's events by gossip, and
 * carry Lamport times and seen clocks as the daemon does. */
static void simulate(uint64_t seed, events *ev)
{
    uint64_t rng = seed;
    uint64_t know[SIM_POSTS][SIM_POSTS] = {{0}};
    uint64_t lamport[SIM_POSTS] = {0};
    uint64_t lamport_of[SIM_POSTS][64] = {{0}};
    size_t count = 20 + rng_below(&rng, 41);
    for (size_t k = 0; k < count; k++) {
        size_t o = k == 0 ? 0 : rng_below(&rng, k < 3 ? 3 : SIM_POSTS);
        if (k > 0 && rng_below(&rng, 2) == 0) { /* learn what another post knows */
            size_t q = rng_below(&rng, SIM_POSTS);
            for (size_t p = 0; p < SIM_POSTS; p++) {
                if (know[q][p] > know[o][p])
                    know[o][p] = know[q][p];
                for (uint64_t s = 1; s <= know[o][p]; s++)
                    if (lamport_of[p][s] > lamport[o])
                        lamport[o] = lamport_of[p][s];
            }
        }
        uint64_t seq = know[o][o] + 1;
        uint64_t lam = lamport[o] + 1;
        upd x;
        Valija__UpdateKind kind =
            k == 0 ? VALIJA__UPDATE_KIND__KIND_OPENED : sim_kinds[rng_below(&rng, SIM_KINDS)];
        upd_init(&x, kind);
        switch (kind) {
        case VALIJA__UPDATE_KIND__KIND_OPENED:
        case VALIJA__UPDATE_KIND__KIND_SHARE:
            for (size_t p = 0; p < SIM_POSTS; p++)
                if (p != o && rng_below(&rng, 3) != 0)
                    add_share(&x, sim_post[p]);
            if (x.u.n_share == 0)
                add_share(&x, sim_post[(o + 1) % SIM_POSTS]);
            if (rng_below(&rng, 3) == 0)
                add_co(&x, sim_post[rng_below(&rng, 3)]);
            break;
        case VALIJA__UPDATE_KIND__KIND_STATUS:
            x.u.status = (char *)sim_status[rng_below(&rng, 3)];
            break;
        case VALIJA__UPDATE_KIND__KIND_LOCATION:
            x.u.facility = (char *)sim_facility[rng_below(&rng, 3)];
            break;
        case VALIJA__UPDATE_KIND__KIND_VISIT:
            visit(&x)->visitor = (char *)sim_name[rng_below(&rng, 2)];
            x.v.at_ms = (int64_t)rng_below(&rng, 1000);
            break;
        case VALIJA__UPDATE_KIND__KIND_REPRESENTATION:
            repr(&x)->name = (char *)sim_name[rng_below(&rng, 2)];
            break;
        case VALIJA__UPDATE_KIND__KIND_NOTE:
            x.u.note = (char *)sim_name[rng_below(&rng, 2)];
            break;
        case VALIJA__UPDATE_KIND__KIND_LINK:
            add_link(&x, (Valija__LinkRelation)(1 + rng_below(&rng, 3)),
                     sim_links[rng_below(&rng, 3)]);
            break;
        default:
            break;
        }
        if (kind != VALIJA__UPDATE_KIND__KIND_OPENED && rng_below(&rng, 3) == 0)
            x.u.status = (char *)sim_status[rng_below(&rng, 3)];
        if (rng_below(&rng, 3) == 0)
            person(&x)->name = (char *)sim_name[rng_below(&rng, 2)];
        if (rng_below(&rng, 4) == 0)
            person(&x)->minor = (Valija__Minor)rng_below(&rng, 3);
        for (size_t p = 0; p < SIM_POSTS; p++)
            if (know[o][p] > 0)
                add_seen(&x, sim_post[p], know[o][p]);
        push(ev, &x, sim_post[o], seq, lam);
        know[o][o] = seq;
        lamport[o] = lam;
        lamport_of[o][seq] = lam;
    }
}

typedef struct {
    size_t conflicts;
    size_t rejected;
    size_t applied;
} sim_totals;

static void check_convergence(uint64_t seed, sim_totals *tot)
{
    events ev = {0};
    simulate(seed, &ev);
    Valija__CaseState *st = NULL;
    assert_int_equal(vj_case_fold(CASE, ev.e, ev.n, &st), VJ_OK);
    uint8_t *ref = NULL;
    size_t ref_len = 0;
    assert_int_equal(vj_codec_pack(&st->base, &ref, &ref_len), VJ_OK);
    tot->conflicts += st->n_conflicts;
    vj_codec_free(&st->base);
    int applied[512];
    char *reason[512];
    for (size_t i = 0; i < ev.n; i++) {
        applied[i] = ev.e[i]->applied;
        reason[i] = strdup(ev.e[i]->rejected_reason);
        /* the simulation writes well-formed updates: only the case rules reject */
        assert_null(strstr(reason[i], "invalid update"));
        tot->applied += (size_t)applied[i];
        tot->rejected += (size_t)!applied[i];
    }

    uint64_t rng = seed ^ 0x5eedULL;
    Valija__HistoryEntry *perm[512];
    memcpy(perm, ev.e, ev.n * sizeof *perm);
    for (int round = 0; round < 50; round++) {
        for (size_t i = ev.n - 1; i > 0; i--) {
            size_t j = rng_below(&rng, i + 1);
            Valija__HistoryEntry *t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        assert_int_equal(vj_case_fold(CASE, perm, ev.n, &st), VJ_OK);
        uint8_t *got = NULL;
        size_t got_len = 0;
        assert_int_equal(vj_codec_pack(&st->base, &got, &got_len), VJ_OK);
        assert_int_equal(got_len, ref_len);
        assert_memory_equal(got, ref, ref_len);
        free(got);
        vj_codec_free(&st->base);
        for (size_t i = 0; i < ev.n; i++) {
            assert_int_equal(ev.e[i]->applied, applied[i]);
            assert_string_equal(ev.e[i]->rejected_reason, reason[i]);
        }
    }
    for (size_t i = 0; i < ev.n; i++)
        free(reason[i]);
    free(ref);
    events_free(&ev);
}

static void test_convergence_any_order(void **state)
{
    (void)state;
    sim_totals tot = {0};
    for (uint64_t seed = 1; seed <= 8; seed++)
        check_convergence(seed, &tot);
    /* the simulation exercises the interesting paths, not only the easy ones */
    assert_true(tot.conflicts > 0);
    assert_true(tot.rejected > 0);
    assert_true(tot.applied > tot.rejected);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_accepts_each_kind),
        cmocka_unit_test(test_validate_boundaries_accepted),
        cmocka_unit_test(test_validate_rejects_envelope_fields),
        cmocka_unit_test(test_validate_rejects_bad_text),
        cmocka_unit_test(test_validate_rejects_bad_note),
        cmocka_unit_test(test_validate_diag_never_echoes_content),
        cmocka_unit_test(test_validate_rejects_bad_person),
        cmocka_unit_test(test_validate_rejects_bad_visit),
        cmocka_unit_test(test_validate_rejects_bad_links),
        cmocka_unit_test(test_validate_rejects_bad_sharing),
        cmocka_unit_test(test_validate_rejects_bad_seen),
        cmocka_unit_test(test_validate_kind_must_fit_fields),
        cmocka_unit_test(test_infer_kind_table),
        cmocka_unit_test(test_fold_open_update_close),
        cmocka_unit_test(test_fold_no_opened_is_notfound),
        cmocka_unit_test(test_fold_rejects_bad_arguments),
        cmocka_unit_test(test_fold_rejects_malformed_entries),
        cmocka_unit_test(test_fold_duplicate_msg_id_rejected),
        cmocka_unit_test(test_fold_last_writer_wins_per_field),
        cmocka_unit_test(test_fold_notes_append_in_order),
        cmocka_unit_test(test_fold_links_union_sorted),
        cmocka_unit_test(test_fold_second_opened_rejected),
        cmocka_unit_test(test_fold_event_before_opened_rejected),
        cmocka_unit_test(test_fold_not_shared_origin_rejected),
        cmocka_unit_test(test_fold_share_and_close_need_owner),
        cmocka_unit_test(test_fold_closed_refuses_others_owner_reopens),
        cmocka_unit_test(test_fold_co_owner_may_share_and_close),
        cmocka_unit_test(test_conflict_concurrent_same_field),
        cmocka_unit_test(test_conflict_partial_settle),
        cmocka_unit_test(test_no_conflict_different_fields),
        cmocka_unit_test(test_no_conflict_causally_ordered),
        cmocka_unit_test(test_conflict_on_person_and_representation),
        cmocka_unit_test(test_no_conflict_when_concurrent_values_agree),
        cmocka_unit_test(test_rejected_writer_causes_no_conflict),
        cmocka_unit_test(test_check_matches_fold_rules),
        cmocka_unit_test(test_seen_highest_per_origin),
        cmocka_unit_test(test_convergence_any_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
