/* bench_family.c - how fast the store answers families with 100,000 cases.
 *
 * Builds stores of N cases (default 100000) in a temporary directory, in
 * families of a mother and two children (each child links the mother as its
 * parent, the second child links the first as its sibling; every tenth
 * mother also links a case this post does not hold), and times, in each:
 *   - vj_store_separated_families with the default limit (1000) and 10000;
 *   - vj_store_family of 1000 cases spread over the store.
 * Three mixes: a third of the families separated; one family in a hundred
 * separated (the rest reunited); no family separated (every case's only
 * other member is not held here), the slowest scan.
 *
 * Figures only, no pass or fail: `bench_family [N]`; with VJ_BENCH_KEEP set
 * in the environment the stores are kept (and their folders printed).
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vj_store.h"

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int s_put(vj_store *st, const char *id, const char *status, int64_t updated,
                 Valija__CaseLink **links, size_t n_links)
{
    Valija__CaseState cs = VALIJA__CASE_STATE__INIT;
    Valija__Person p = VALIJA__PERSON__INIT;
    char *shares[2] = {"mx-a", "sv-b"};
    cs.case_id = (char *)id;
    cs.owner = "mx-a";
    cs.status = (char *)status;
    cs.facility = "Port Isabel Service Processing Center";
    cs.updated_ms = updated;
    cs.shared_with = shares;
    cs.n_shared_with = 2;
    p.name = "Nombre Apellido";
    cs.person = &p;
    cs.links = links;
    cs.n_links = n_links;
    return vj_store_put_case(st, &cs);
}

enum { MIX_THIRD, MIX_HUNDREDTH, MIX_NONE };

static int s_fill(vj_store *st, long n, int mix)
{
    long families = n / 3;
    for (long f = 0; f < families; f++) {
        if (f % 1000 == 0 && vj_store_begin(st) != VJ_OK)
            return -1;
        char m[32], c1[32], c2[32], far[32];
        snprintf(m, sizeof m, "MX-%07ld", f);
        snprintf(c1, sizeof c1, "SV-%07ld-1", f);
        snprintf(c2, sizeof c2, "SV-%07ld-2", f);
        snprintf(far, sizeof far, "GT-%07ld", f);
        int sep = mix == MIX_THIRD ? f % 3 == 0 : mix == MIX_HUNDREDTH ? f % 100 == 0 : 0;
        const char *status = sep || mix == MIX_NONE ? "detained" : "reunited";
        Valija__CaseLink lm = VALIJA__CASE_LINK__INIT, lp = VALIJA__CASE_LINK__INIT,
                         ls = VALIJA__CASE_LINK__INIT;
        lm.relation = VALIJA__LINK_RELATION__LINK_SIBLING;
        lm.case_id = far;
        lp.relation = VALIJA__LINK_RELATION__LINK_PARENT;
        lp.case_id = m;
        ls.relation = VALIJA__LINK_RELATION__LINK_SIBLING;
        ls.case_id = c1;
        Valija__CaseLink *mother[1] = {&lm}, *first[1] = {&lp}, *second[2] = {&lp, &ls};
        int64_t t = 1700000000000 + f * 3;
        if (mix == MIX_NONE) {
            /* three unrelated cases, each linked only to a case held elsewhere */
            Valija__CaseLink l1 = lm, l2 = lm, l3 = lm;
            char f1[40], f2[40], f3[40];
            snprintf(f1, sizeof f1, "GT-%07ld-a", f);
            snprintf(f2, sizeof f2, "GT-%07ld-b", f);
            snprintf(f3, sizeof f3, "GT-%07ld-c", f);
            l1.case_id = f1;
            l2.case_id = f2;
            l3.case_id = f3;
            Valija__CaseLink *a[1] = {&l1}, *b[1] = {&l2}, *c[1] = {&l3};
            if (s_put(st, m, status, t, a, 1) != VJ_OK ||
                s_put(st, c1, status, t + 1, b, 1) != VJ_OK ||
                s_put(st, c2, status, t + 2, c, 1) != VJ_OK)
                return -1;
        } else if (s_put(st, m, status, t, mother, f % 10 == 0 ? 1 : 0) != VJ_OK ||
                   s_put(st, c1, status, t + 1, first, 1) != VJ_OK ||
                   s_put(st, c2, sep ? "in custody" : status, t + 2, second, 2) != VJ_OK) {
            return -1;
        }
        if ((f % 1000 == 999 || f == families - 1) && vj_store_commit(st) != VJ_OK)
            return -1;
    }
    return 0;
}

static void s_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[PATH_MAX + 256];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int s_run(long n, int mix, const char *name)
{
    int ret = 1;
    char dir[PATH_MAX - 64], db[PATH_MAX];
    vj_store *st = NULL;
    vj_diag diag = {{0}};
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/vj-bench-family-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(db, sizeof db, "%s/post.db", dir);
    if (vj_store_open(db, &st, &diag) != VJ_OK) {
        fprintf(stderr, "open: %s\n", diag.text);
        goto out;
    }
    double t0 = s_now();
    if (s_fill(st, n, mix) != 0) {
        fprintf(stderr, "fill: %s\n", vj_store_last_error(st));
        goto out;
    }
    printf("%s: %ld cases stored in %.1f s\n", name, n / 3 * 3, s_now() - t0);

    uint32_t limits[2] = {0, 10000};
    for (int k = 0; k < 2; k++) {
        Valija__Family **fams = NULL;
        size_t nf = 0;
        t0 = s_now();
        if (vj_store_separated_families(st, limits[k], &fams, &nf) != VJ_OK) {
            fprintf(stderr, "separated: %s\n", vj_store_last_error(st));
            goto out;
        }
        printf("  separated families, limit %-5u: %5zu families in %7.1f ms\n",
               limits[k] ? limits[k] : 1000, nf, (s_now() - t0) * 1e3);
        vj_store_families_free(fams, nf);
    }
    long families = n / 3;
    size_t members = 0;
    t0 = s_now();
    for (int i = 0; i < 1000; i++) {
        char id[32];
        long f = (long)i * families / 1000;
        snprintf(id, sizeof id, i % 2 ? "SV-%07ld-2" : "MX-%07ld", f);
        Valija__Family *fam = NULL;
        if (vj_store_family(st, id, &fam) != VJ_OK) {
            fprintf(stderr, "family: %s\n", vj_store_last_error(st));
            goto out;
        }
        members += fam->n_members;
        vj_codec_free(&fam->base);
    }
    printf("  family lookup: %.3f ms each (1000 lookups, %.1f members on average)\n",
           (s_now() - t0), (double)members / 1000);
    ret = 0;
out:
    vj_store_close(&st);
    if (getenv("VJ_BENCH_KEEP") != NULL)
        printf("  store kept in %s\n", dir);
    else
        s_remove_dir(dir);
    return ret;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
    if (n < 3) {
        fprintf(stderr, "usage: bench_family [CASES]\n");
        return 64;
    }
    if (s_run(n, MIX_THIRD, "a third of the families separated") != 0 ||
        s_run(n, MIX_HUNDREDTH, "one family in a hundred separated") != 0 ||
        s_run(n, MIX_NONE, "no family separated (each case linked to one held elsewhere)") != 0)
        return 1;
    return 0;
}
