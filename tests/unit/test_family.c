/* test_family.c - families in the store: the case_links table written with
 * each case state, families found from links recorded in either direction,
 * cases not held shown as such, the 64-member cap on graphs with cycles,
 * separated families (who counts, each family once, order, limit), hostile
 * links refused, and the migration that fills case_links for a store of
 * schema version 1.
 *
 * Every test works in its own mkdtemp directory, removed afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vj_store.h"

typedef struct {
    char dir[PATH_MAX - 64];
    char db[PATH_MAX];
    vj_store *st;
} fixture;

#define REL_SELF VALIJA__FAMILY_RELATION__FAMILY_SELF
#define REL_PARENT VALIJA__FAMILY_RELATION__FAMILY_PARENT
#define REL_CHILD VALIJA__FAMILY_RELATION__FAMILY_CHILD
#define REL_SIBLING VALIJA__FAMILY_RELATION__FAMILY_SIBLING
#define REL_RELATED VALIJA__FAMILY_RELATION__FAMILY_RELATED

/* ---------------------------------------------------------------- helpers */

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/vj-family-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof f->db, "%s/post.db", f->dir);
    vj_diag diag = {{0}};
    if (vj_store_open(f->db, &f->st, &diag) != VJ_OK) {
        rmdir(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    vj_store_close(&f->st);
    DIR *d = opendir(f->dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[PATH_MAX + 256];
            snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static int64_t raw_int(const char *db, const char *sql)
{
    sqlite3 *c = NULL;
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    assert_int_equal(sqlite3_open_v2(db, &c, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(c, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(c);
    return v;
}

static void raw_exec(const char *db, const char *sql)
{
    sqlite3 *c = NULL;
    assert_int_equal(sqlite3_open_v2(db, &c, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(c, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(c);
}

/* A link given as "p:ID" (parent), "c:ID" (child) or "s:ID" (sibling). */
static void parse_link(const char *spec, Valija__CaseLink *l)
{
    valija__case_link__init(l);
    l->relation = spec[0] == 'p'   ? VALIJA__LINK_RELATION__LINK_PARENT
                  : spec[0] == 'c' ? VALIJA__LINK_RELATION__LINK_CHILD
                  : spec[0] == 's' ? VALIJA__LINK_RELATION__LINK_SIBLING
                                   : VALIJA__LINK_RELATION__LINK_UNSPECIFIED;
    l->case_id = (char *)spec + 2;
}

/* Stores a case (inside the caller's transaction) with a person's name
 * (NULL: none) and links given as NULL-terminated "r:ID" strings. */
static int put(fixture *f, const char *id, const char *status, const char *facility,
               int64_t updated, const char *name, const char *const *links)
{
    Valija__CaseState cs = VALIJA__CASE_STATE__INIT;
    Valija__Person p = VALIJA__PERSON__INIT;
    Valija__CaseLink l[80];
    Valija__CaseLink *lp[80];
    size_t n = 0;
    for (; links != NULL && links[n] != NULL; n++) {
        parse_link(links[n], &l[n]);
        lp[n] = &l[n];
    }
    cs.case_id = (char *)id;
    cs.owner = id[0] == 'S' ? "sv-b" : "mx-a";
    cs.status = (char *)status;
    cs.facility = (char *)facility;
    cs.updated_ms = updated;
    if (name != NULL) {
        p.name = (char *)name;
        cs.person = &p;
    }
    cs.links = lp;
    cs.n_links = n;
    return vj_store_put_case(f->st, &cs);
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static Valija__Family *family(fixture *f, const char *id)
{
    Valija__Family *fam = NULL;
    int rc = vj_store_family(f->st, id, &fam);
    if (rc != VJ_OK)
        fail_msg("vj_store_family %s: %s (%s)", id, vj_strerror(rc), vj_store_last_error(f->st));
    assert_non_null(fam);
    return fam;
}

static const Valija__FamilyMember *member(const Valija__Family *fam, const char *id)
{
    for (size_t i = 0; i < fam->n_members; i++)
        if (strcmp(fam->members[i]->case_id, id) == 0)
            return fam->members[i];
    fail_msg("%s is not in the family", id);
    return NULL;
}

/* The members' case ids joined with spaces, in order. */
static void ids_of(const Valija__Family *fam, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; i < fam->n_members; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", i ? " " : "", fam->members[i]->case_id);
    }
}

static void expect_ids(const Valija__Family *fam, const char *want)
{
    char got[4096];
    ids_of(fam, got, sizeof got);
    assert_string_equal(got, want);
}

static void separated(fixture *f, uint32_t limit, Valija__Family ***out, size_t *n)
{
    int rc = vj_store_separated_families(f->st, limit, out, n);
    if (rc != VJ_OK)
        fail_msg("separated: %s (%s)", vj_strerror(rc), vj_store_last_error(f->st));
}

/* The mother's case (no links of its own), her two children's cases: each
 * child links the mother as parent, the second child links the first as
 * sibling. */
static void mother_and_children(fixture *f)
{
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(put(f, "MX-M", "detained", "Port Isabel", 100, "Ana", NULL), VJ_OK);
    assert_int_equal(put(f, "SV-C1", "in custody", "Dilley", 200, NULL, L("p:MX-M")), VJ_OK);
    assert_int_equal(put(f, "SV-C2", "in custody", "Karnes", 300, "Eva", L("p:MX-M", "s:SV-C1")),
                     VJ_OK);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
}

/* ------------------------------------------------------------------ family */

static void test_family_from_links_in_either_direction(void **state)
{
    fixture *f = *state;
    mother_and_children(f);

    /* the mother never linked anyone: her children's links join them */
    Valija__Family *fam = family(f, "MX-M");
    expect_ids(fam, "MX-M SV-C1 SV-C2");
    assert_false(fam->truncated);
    assert_int_equal(fam->members[0]->relation, REL_SELF);
    assert_int_equal(member(fam, "SV-C1")->relation, REL_CHILD);
    assert_int_equal(member(fam, "SV-C2")->relation, REL_CHILD);
    const Valija__FamilyMember *m = member(fam, "MX-M");
    assert_true(m->held);
    assert_string_equal(m->status, "detained");
    assert_string_equal(m->facility, "Port Isabel");
    assert_string_equal(m->owner, "mx-a");
    assert_string_equal(m->name, "Ana");
    assert_int_equal(m->updated_ms, 100);
    m = member(fam, "SV-C1");
    assert_true(m->held);
    assert_string_equal(m->facility, "Dilley");
    assert_string_equal(m->owner, "sv-b");
    assert_string_equal(m->name, ""); /* no name given: none shown */
    vj_codec_free(&fam->base);

    /* from the first child: the second child's sibling link, reversed */
    fam = family(f, "SV-C1");
    expect_ids(fam, "SV-C1 MX-M SV-C2");
    assert_int_equal(member(fam, "MX-M")->relation, REL_PARENT);
    assert_int_equal(member(fam, "SV-C2")->relation, REL_SIBLING);
    vj_codec_free(&fam->base);

    fam = family(f, "SV-C2");
    expect_ids(fam, "SV-C2 MX-M SV-C1");
    assert_int_equal(member(fam, "MX-M")->relation, REL_PARENT);
    assert_int_equal(member(fam, "SV-C1")->relation, REL_SIBLING);
    assert_string_equal(member(fam, "SV-C2")->name, "Eva");
    vj_codec_free(&fam->base);
}

static void test_family_relation_not_direct_is_related(void **state)
{
    fixture *f = *state;
    /* G -> P (parent) -> C (child of P): from C, G is family, not a parent */
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(put(f, "G", "free", "", 1, NULL, NULL), VJ_OK);
    assert_int_equal(put(f, "P", "detained", "", 2, NULL, L("p:G", "c:C")), VJ_OK);
    assert_int_equal(put(f, "C", "detained", "", 3, NULL, NULL), VJ_OK);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    Valija__Family *fam = family(f, "C");
    expect_ids(fam, "C P G");
    assert_int_equal(member(fam, "P")->relation, REL_PARENT); /* P said C is its child */
    assert_int_equal(member(fam, "G")->relation, REL_RELATED);
    vj_codec_free(&fam->base);
    fam = family(f, "G");
    assert_int_equal(member(fam, "P")->relation, REL_CHILD); /* P said G is its parent */
    assert_int_equal(member(fam, "C")->relation, REL_RELATED);
    vj_codec_free(&fam->base);
}

static void test_family_own_link_decides_contradictions(void **state)
{
    fixture *f = *state;
    /* A says B is its parent; B says A is its parent */
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(put(f, "A", "detained", "", 1, NULL, L("p:B")), VJ_OK);
    assert_int_equal(put(f, "B", "detained", "", 2, NULL, L("p:A")), VJ_OK);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    Valija__Family *fam = family(f, "A");
    expect_ids(fam, "A B");
    assert_int_equal(member(fam, "B")->relation, REL_PARENT);
    vj_codec_free(&fam->base);
    fam = family(f, "B");
    assert_int_equal(member(fam, "A")->relation, REL_PARENT);
    vj_codec_free(&fam->base);
}

static void test_family_members_not_held(void **state)
{
    fixture *f = *state;
    mother_and_children(f);
    /* the first child also links a case this post does not hold */
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(put(f, "SV-C1", "in custody", "Dilley", 400, NULL, L("p:MX-M", "s:GT-X")),
                     VJ_OK);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    Valija__Family *fam = family(f, "SV-C1");
    expect_ids(fam, "SV-C1 GT-X MX-M SV-C2");
    const Valija__FamilyMember *x = member(fam, "GT-X");
    assert_false(x->held);
    assert_int_equal(x->relation, REL_SIBLING);
    /* nothing is guessed about it */
    assert_string_equal(x->status, "");
    assert_string_equal(x->facility, "");
    assert_string_equal(x->owner, "");
    assert_string_equal(x->name, "");
    assert_int_equal(x->updated_ms, 0);
    vj_codec_free(&fam->base);

    /* a case not held is a family of its own links (found in reverse) */
    fam = family(f, "GT-X");
    expect_ids(fam, "GT-X SV-C1 MX-M SV-C2");
    assert_false(fam->members[0]->held);
    assert_int_equal(member(fam, "SV-C1")->relation, REL_SIBLING);
    vj_codec_free(&fam->base);

    /* and one nothing links: itself alone, not held */
    fam = family(f, "NOBODY");
    expect_ids(fam, "NOBODY");
    assert_false(fam->members[0]->held);
    vj_codec_free(&fam->base);
}

static void test_links_replaced_with_the_state(void **state)
{
    fixture *f = *state;
    mother_and_children(f);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM case_links"), 3);
    /* a later state without the sibling link (states only grow links, but
     * the table follows whatever state is stored) */
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(put(f, "SV-C2", "in custody", "Karnes", 500, "Eva", NULL), VJ_OK);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM case_links"), 1);
    Valija__Family *fam = family(f, "SV-C2");
    expect_ids(fam, "SV-C2");
    vj_codec_free(&fam->base);

    /* a rolled-back state leaves the links as they were */
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(put(f, "SV-C2", "in custody", "Karnes", 600, "Eva", L("p:MX-M")), VJ_OK);
    vj_store_rollback(f->st);
    fam = family(f, "SV-C2");
    expect_ids(fam, "SV-C2");
    vj_codec_free(&fam->base);
}

static void test_family_cycles_and_cap(void **state)
{
    fixture *f = *state;
    /* a ring of 100 cases, each linking the next as sibling, the last the first */
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    for (int i = 0; i < 100; i++) {
        char id[16], link[20];
        snprintf(id, sizeof id, "R-%03d", i);
        snprintf(link, sizeof link, "s:R-%03d", (i + 1) % 100);
        assert_int_equal(put(f, id, "detained", "", i, NULL, L(link)), VJ_OK);
    }
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    Valija__Family *fam = family(f, "R-000");
    assert_int_equal(fam->n_members, VJ_FAMILY_MAX);
    assert_true(fam->truncated);
    /* nearest first: both neighbours, then the next two, ... */
    assert_string_equal(fam->members[0]->case_id, "R-000");
    assert_string_equal(fam->members[1]->case_id, "R-001");
    assert_string_equal(fam->members[2]->case_id, "R-099");
    assert_string_equal(fam->members[3]->case_id, "R-002");
    for (size_t i = 0; i < fam->n_members; i++)
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(fam->members[i]->case_id, fam->members[k]->case_id);
    vj_codec_free(&fam->base);

    /* a small cycle is not truncated */
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(put(f, "T-1", "detained", "", 1, NULL, L("s:T-2")), VJ_OK);
    assert_int_equal(put(f, "T-2", "detained", "", 1, NULL, L("s:T-3")), VJ_OK);
    assert_int_equal(put(f, "T-3", "detained", "", 1, NULL, L("s:T-1")), VJ_OK);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    fam = family(f, "T-2");
    expect_ids(fam, "T-2 T-3 T-1"); /* the case it links, then the one linking it */
    assert_false(fam->truncated);
    vj_codec_free(&fam->base);

    /* the ring is one separated family, listed once */
    Valija__Family **fams = NULL;
    size_t n = 0;
    separated(f, 0, &fams, &n);
    assert_int_equal(n, 2);
    assert_string_equal(fams[0]->members[0]->case_id, "R-099"); /* most recently updated */
    assert_true(fams[0]->truncated);
    assert_false(fams[1]->truncated);
    vj_store_families_free(fams, n);
}

static void test_family_bad_input(void **state)
{
    fixture *f = *state;
    Valija__Family *fam = (Valija__Family *)f;
    assert_int_equal(vj_store_family(f->st, "' OR 1=1 --", &fam), VJ_E_INVAL);
    assert_null(fam);
    assert_int_equal(vj_store_family(f->st, "", &fam), VJ_E_INVAL);
    assert_int_equal(vj_store_family(f->st, NULL, &fam), VJ_E_INVAL);
    assert_int_equal(vj_store_family(f->st, "MX-1", NULL), VJ_E_INVAL);
    assert_int_equal(vj_store_family(NULL, "MX-1", &fam), VJ_E_INVAL);
    Valija__Family **fams = (Valija__Family **)f;
    size_t n = 9;
    assert_int_equal(vj_store_separated_families(NULL, 0, &fams, &n), VJ_E_INVAL);
    assert_null(fams);
    assert_int_equal(n, 0);
    assert_int_equal(vj_store_separated_families(f->st, 0, NULL, &n), VJ_E_INVAL);
    assert_int_equal(vj_store_separated_families(f->st, 0, &fams, NULL), VJ_E_INVAL);
    vj_store_families_free(NULL, 0);
}

static void test_hostile_links_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    assert_int_equal(put(f, "MX-1", "detained", "", 1, NULL, L("x:MX-2")), VJ_E_INVAL);
    assert_int_equal(put(f, "MX-1", "detained", "", 1, NULL, L("p:MX 2")), VJ_E_INVAL);
    assert_int_equal(put(f, "MX-1", "detained", "", 1, NULL, L("p:")), VJ_E_INVAL);
    assert_int_equal(put(f, "MX-1", "detained", "", 1, NULL, L("p:MX-1")), VJ_E_INVAL);
    assert_int_equal(put(f, "MX-1", "detained", "", 1, NULL, L("p:MX-2", "c:x' OR '1'='1")),
                     VJ_E_INVAL);
    Valija__CaseState cs = VALIJA__CASE_STATE__INIT;
    Valija__CaseLink *none[1] = {NULL};
    cs.case_id = "MX-1";
    cs.n_links = 1;
    cs.links = none;
    assert_int_equal(vj_store_put_case(f->st, &cs), VJ_E_INVAL);
    cs.links = NULL;
    assert_int_equal(vj_store_put_case(f->st, &cs), VJ_E_INVAL);
    Valija__CaseLink big;
    Valija__CaseLink *bigp[1] = {&big};
    parse_link("p:MX-2", &big);
    big.relation = (Valija__LinkRelation)4;
    cs.links = bigp;
    assert_int_equal(vj_store_put_case(f->st, &cs), VJ_E_INVAL);
    /* the transaction is still good, and nothing was stored */
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM cases"), 0);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM case_links"), 0);
    /* outside a transaction */
    assert_int_equal(put(f, "MX-1", "detained", "", 1, NULL, L("p:MX-2")), VJ_E_INVAL);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM case_links"), 0);
}

/* --------------------------------------------------------------- separated */

static void test_separated_who_counts(void **state)
{
    fixture *f = *state;
    Valija__Family **fams = NULL;
    size_t n = 0;
    mother_and_children(f);
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    /* all reunited (any ASCII case): not separated */
    assert_int_equal(put(f, "R-1", "reunited", "", 10, NULL, L("c:R-2")), VJ_OK);
    assert_int_equal(put(f, "R-2", "Reunited", "", 11, NULL, NULL), VJ_OK);
    /* one held member and one not held: nobody to be separated from here */
    assert_int_equal(put(f, "H-1", "detained", "", 900, NULL, L("c:GT-ELSEWHERE")), VJ_OK);
    /* a case with no links at all */
    assert_int_equal(put(f, "LONE", "detained", "", 950, NULL, NULL), VJ_OK);
    /* closed cases count by their status */
    assert_int_equal(put(f, "K-1", "reunited", "", 20, NULL, L("s:K-2")), VJ_OK);
    assert_int_equal(put(f, "K-2", "repatriated", "", 21, NULL, NULL), VJ_OK);
    assert_int_equal(vj_store_commit(f->st), VJ_OK);

    separated(f, 0, &fams, &n);
    assert_int_equal(n, 2);
    /* ordered by the most recently updated member that is not reunited,
     * which comes first and is what the relations are to */
    expect_ids(fams[0], "SV-C2 MX-M SV-C1");
    assert_int_equal(fams[0]->members[0]->relation, REL_SELF);
    assert_int_equal(member(fams[0], "MX-M")->relation, REL_PARENT);
    assert_int_equal(member(fams[0], "SV-C1")->relation, REL_SIBLING);
    assert_string_equal(member(fams[0], "SV-C1")->facility, "Dilley");
    expect_ids(fams[1], "K-2 K-1");
    assert_int_equal(member(fams[1], "K-1")->relation, REL_SIBLING);
    vj_store_families_free(fams, n);

    /* as members are reunited, the family stays until all of them are */
    const char *ids[3] = {"MX-M", "SV-C1", "SV-C2"};
    const char *links[3][3] = {{NULL}, {"p:MX-M", NULL}, {"p:MX-M", "s:SV-C1", NULL}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(vj_store_begin(f->st), VJ_OK);
        assert_int_equal(put(f, ids[i], "reunited", "Houston", 1000 + i, NULL, links[i]), VJ_OK);
        assert_int_equal(vj_store_commit(f->st), VJ_OK);
        separated(f, 0, &fams, &n);
        assert_int_equal(n, i < 2 ? 2 : 1);
        if (i < 2) /* the second child, the most recent not reunited, leads */
            assert_string_equal(fams[0]->members[0]->case_id, "SV-C2");
        vj_store_families_free(fams, n);
    }
    /* the last one left: only K */
    separated(f, 0, &fams, &n);
    assert_int_equal(n, 1);
    expect_ids(fams[0], "K-2 K-1");
    vj_store_families_free(fams, n);
}

static void test_separated_limit_and_order(void **state)
{
    fixture *f = *state;
    assert_int_equal(vj_store_begin(f->st), VJ_OK);
    for (int i = 0; i < 30; i++) {
        char a[16], b[16], link[20];
        snprintf(a, sizeof a, "A-%02d", i);
        snprintf(b, sizeof b, "B-%02d", i);
        snprintf(link, sizeof link, "c:%s", a);
        assert_int_equal(put(f, a, "detained", "", 100 + i, NULL, NULL), VJ_OK);
        assert_int_equal(put(f, b, "detained", "", 200 + i, NULL, L(link)), VJ_OK);
    }
    assert_int_equal(vj_store_commit(f->st), VJ_OK);
    Valija__Family **fams = NULL;
    size_t n = 0;
    separated(f, 5, &fams, &n);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "B-%02zu A-%02zu", 29 - i, 29 - i);
        expect_ids(fams[i], want);
        assert_int_equal(fams[i]->members[1]->relation, REL_CHILD);
    }
    vj_store_families_free(fams, n);
    separated(f, 0, &fams, &n);
    assert_int_equal(n, 30);
    vj_store_families_free(fams, n);
}

/* --------------------------------------------------------------- migration */

static void test_migration_fills_links(void **state)
{
    fixture *f = *state;
    mother_and_children(f);
    vj_store_close(&f->st);
    /* back to a version 1 store: no case_links table */
    raw_exec(f->db, "DROP TABLE case_links; PRAGMA user_version = 1;");
    vj_diag diag = {{0}};
    assert_int_equal(vj_store_open(f->db, &f->st, &diag), VJ_OK);
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), vj_store_schema_version());
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM case_links"), 3);
    Valija__Family *fam = family(f, "MX-M");
    expect_ids(fam, "MX-M SV-C1 SV-C2");
    vj_codec_free(&fam->base);
}

static void test_migration_refuses_broken_state(void **state)
{
    fixture *f = *state;
    mother_and_children(f);
    vj_store_close(&f->st);
    raw_exec(f->db, "DROP TABLE case_links; PRAGMA user_version = 1;"
                    "UPDATE cases SET state = x'ffffffff' WHERE case_id = 'SV-C1';");
    vj_diag diag = {{0}};
    assert_int_equal(vj_store_open(f->db, &f->st, &diag), VJ_E_STORE);
    assert_null(f->st);
    assert_non_null(strstr(diag.text, "does not parse"));
    /* nothing changed: still version 1, every case still there */
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 1);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_schema WHERE name = 'case_links'"),
                     0);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM cases"), 3);
}

static void test_migration_refuses_state_under_another_id(void **state)
{
    fixture *f = *state;
    mother_and_children(f);
    vj_store_close(&f->st);
    raw_exec(f->db, "DROP TABLE case_links; PRAGMA user_version = 1;"
                    "UPDATE cases SET state = (SELECT state FROM cases WHERE case_id = 'MX-M')"
                    " WHERE case_id = 'SV-C1';");
    vj_diag diag = {{0}};
    assert_int_equal(vj_store_open(f->db, &f->st, &diag), VJ_E_STORE);
    assert_non_null(strstr(diag.text, "inconsistent"));
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_family_from_links_in_either_direction),
        T(test_family_relation_not_direct_is_related),
        T(test_family_own_link_decides_contradictions),
        T(test_family_members_not_held),
        T(test_links_replaced_with_the_state),
        T(test_family_cycles_and_cap),
        T(test_family_bad_input),
        T(test_hostile_links_refused),
        T(test_separated_who_counts),
        T(test_separated_limit_and_order),
        T(test_migration_fills_links),
        T(test_migration_refuses_broken_state),
        T(test_migration_refuses_state_under_another_id),
#undef T
    };
    return cmocka_run_group_tests_name("family", tests, NULL, NULL);
}
