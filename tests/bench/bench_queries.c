/* bench_queries.c - how fast the common queries answer at the CLI over a
 * large store: figures, never a pass/fail on speed.
 *
 * In a temporary directory, three identities: the post "bench-q" and its two
 * peers "bench-p1" and "bench-p2" (cards pinned).  The store of bench-q is
 * written in this process with the daemon's own code (vj_store, vj_post:
 * vj_post_submit for every update, a savepoint per update, a commit every 256
 * updates, as valijad does), so that it holds exactly what valijad would have
 * written: N cases (default 100,000), each opened and shared with one or both
 * peers (some with a co-owner), then K-1 further updates each (default 10 in
 * all: 1,000,000 updates) - status, location, notes of a few hundred bytes,
 * visits, representation, links within families of a parent and two children,
 * some closed.  The updates are dated over the past year, in time order.  The
 * peers are never started, so their outbox rows pile up, as at a post whose
 * peers are down.
 *
 * Then valijad is started on that store and each common query is run as an
 * operator would, `valija --socket S --json VERB ...` (fork/exec, wall clock
 * from fork to exit, one warm-up, median and max of 5 runs), with the number
 * of results.  Last the store's size on disk, per update.  The machine's load
 * average is printed alongside, as other work skews the figures.
 *
 * usage: bench_queries VALIJAD VALIJA [--cases N] [--updates-per-case K]
 * With VJ_BENCH_KEEP set in the environment the directory is kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "valija.h"
#include "vj_card.h"
#include "vj_identity.h"
#include "vj_keyring.h"
#include "vj_post.h"
#include "vj_store.h"

#define TX_UPDATES 256 /* updates per store transaction, as valijad's turns */
#define RUNS 5         /* timed runs per query, after one warm-up */
#define SPAN_MS (365LL * 86400 * 1000)
#define N_FACILITIES 50

static const char *s_valijad, *s_valija;
static char s_root[256];
static pid_t s_daemon = 0;

static const char *const s_post = "bench-q";
static const char *const s_peer[2] = {"bench-p1", "bench-p2"};

/* ---------- small helpers ---------- */

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t s_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_die(const char *what)
{
    fprintf(stderr, "bench_queries: %s\n", what);
    if (s_daemon > 0)
        kill(s_daemon, SIGKILL);
    exit(1);
}

static void s_load(const char *when)
{
    char buf[128] = "";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fgets(buf, sizeof buf, f) == NULL)
            buf[0] = '\0';
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = '\0';
    printf("load average %s: %s\n", when, buf[0] ? buf : "unknown");
}

static int s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        s_die("no free port");
    close(fd);
    return ntohs(sa.sin_port);
}

static void s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        s_die("cannot write a file");
}

static long long s_disk_bytes(const char *store)
{
    long long total = 0;
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char path[700];
        struct stat sb;
        snprintf(path, sizeof path, "%s%s", store, suffix[i]);
        if (stat(path, &sb) == 0)
            total += sb.st_size;
    }
    return total;
}

static int s_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

/* splitmix64: a fixed sequence, so every run writes the same cases. */
static uint64_t s_mix(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* A number in [0, n) that depends only on (a, b, salt). */
static uint32_t s_pick(uint64_t a, uint64_t b, uint64_t salt, uint32_t n)
{
    return (uint32_t)(s_mix(s_mix(a * 1000003 + b) ^ (salt * UINT64_C(0x2545f4914f6cdd1d))) % n);
}

/* ---------- identities and configuration ---------- */

typedef struct {
    char dir[400];
    char config[500];
    char socket[500];
    char store[500];
    char log[500];
} post_paths;

static post_paths s_q;

static void s_card_file(const vj_identity *id, const char *path)
{
    vj_card card;
    char *text = NULL;
    if (vj_card_from_identity(id, &card) != VJ_OK || vj_card_format(&card, &text) != VJ_OK)
        s_die("cannot make a card");
    s_write(path, text);
    free(text);
}

/* Writes bench-q's key, its peers' cards and its configuration; the peers'
 * endpoints are free ports on 127.0.0.1 where nothing will listen. */
static void s_make_post(vj_identity *self, vj_identity *const peers[2])
{
    char path[700], text[2048];
    snprintf(s_q.dir, sizeof s_q.dir, "%s/%s", s_root, s_post);
    snprintf(s_q.config, sizeof s_q.config, "%s/valijad.conf", s_q.dir);
    snprintf(s_q.socket, sizeof s_q.socket, "ipc://%s/run/valijad.sock", s_q.dir);
    snprintf(s_q.store, sizeof s_q.store, "%s/data/%s.db", s_q.dir, s_post);
    snprintf(s_q.log, sizeof s_q.log, "%s/valijad.log", s_q.dir);
    const char *dirs[] = {"", "/peers", "/data", "/run"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s%s", s_q.dir, dirs[i]);
        if (mkdir(path, 0700) != 0)
            s_die("cannot make a directory");
    }
    vj_diag diag = {{0}};
    snprintf(path, sizeof path, "%s/%s.key", s_q.dir, s_post);
    if (vj_identity_save(self, path, 0, &diag) != VJ_OK)
        s_die("cannot save the key");
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/peers/%s.card", s_q.dir, s_peer[i]);
        s_card_file(peers[i], path);
    }
    snprintf(text, sizeof text,
             "post = \"%s\";\nsecret_key = \"%s.key\";\nlisten = \"tcp://127.0.0.1:%d\";\n"
             "client = \"ipc://run/valijad.sock\";\nstore = \"data/%s.db\";\n"
             "peers = (\n"
             "  { name = \"%s\"; endpoint = \"tcp://127.0.0.1:%d\"; card = \"peers/%s.card\"; },\n"
             "  { name = \"%s\"; endpoint = \"tcp://127.0.0.1:%d\"; card = \"peers/%s.card\"; }\n"
             ");\n"
             "limits = { max_message_bytes = 1048576; retry_max_seconds = 10; };\n",
             s_post, s_post, s_free_port(), s_post, s_peer[0], s_free_port(), s_peer[0], s_peer[1],
             s_free_port(), s_peer[1]);
    s_write(s_q.config, text);
}

/* ---------- what the cases say ---------- */

static const char *const s_first[] = {
    "Maria",    "Jose",      "Ana",     "Juan",   "Rosa",    "Luis",    "Carmen",  "Carlos",
    "Elena",    "Miguel",    "Lucia",   "Jorge",  "Sofia",   "Pedro",   "Isabel",  "Manuel",
    "Gabriela", "Francisco", "Daniela", "Oscar",  "Valeria", "Ricardo", "Paola",   "Fernando",
    "Ximena",   "Mario",     "Andrea",  "Hector", "Camila",  "Rafael",  "Yesenia", "Edgar"};
static const char *const s_last[] = {
    "Garcia",  "Hernandez", "Lopez",   "Martinez", "Gonzalez", "Rodriguez", "Perez",   "Sanchez",
    "Ramirez", "Flores",    "Cruz",    "Morales",  "Reyes",    "Gutierrez", "Ortiz",   "Castillo",
    "Chavez",  "Ramos",     "Mendoza", "Ruiz",     "Alvarez",  "Jimenez",   "Vasquez", "Aguilar",
    "Castro",  "Romero",    "Herrera", "Medina",   "Rivera",   "Vargas",    "Mejia",   "Orellana"};
static const char *const s_nat[] = {"MX", "GT", "HN", "SV", "NI", "CO", "VE", "EC", "CU", "HT"};
static const char *const s_place[] = {
    "Port Isabel", "El Paso",      "Otero",     "Eloy",    "La Palma",  "Adelanto", "Stewart",
    "Krome",       "Pine Prairie", "Jena",      "Dilley",  "Karnes",    "Laredo",   "Pearsall",
    "Conroe",      "Houston",      "Tacoma",    "Aurora",  "Elizabeth", "Batavia",  "Florence",
    "Calexico",    "Imperial",     "San Diego", "Torrance"};
static const char *const s_kind[] = {"Service Processing Center", "Detention Facility"};
static const char *const s_org[] = {"Catholic Legal Services", "RAICES",
                                    "Florence Project",        "Al Otro Lado",
                                    "Kids in Need of Defense", "Pro bono counsel"};
static const char *const s_words[] = {
    "consular", "interview",  "held",      "hearing",   "scheduled", "relatives",   "contacted",
    "phone",    "call",       "documents", "requested", "birth",     "certificate", "passport",
    "issued",   "travel",     "medical",   "attention", "provided",  "family",      "located",
    "shelter",  "transfer",   "pending",   "bond",      "hearing",   "judge",       "asylum",
    "claim",    "credible",   "fear",      "interview", "officer",   "visited",     "detainee",
    "reports",  "conditions", "adequate",  "request",   "follow",    "up",          "next",
    "week",     "with",       "the",       "and",       "of",        "to",          "a",
    "in"};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static char s_facility[N_FACILITIES][80];

/* Bigger facilities hold more cases: index 0 the most. */
static uint32_t s_facility_of(uint64_t c, uint64_t j)
{
    uint32_t r = s_pick(c, j, 11, 10000);
    return (uint32_t)((uint64_t)r * r * N_FACILITIES / (10000ULL * 10000ULL));
}

/* Families: blocks of three consecutive cases, every fourth block: a parent
 * (role 1) and two children (roles 2, 3). */
static int s_role(uint64_t c, uint64_t n_cases)
{
    uint64_t block = c / 3;
    if (block % 4 != 0 || block * 3 + 2 >= n_cases)
        return 0;
    return (int)(c % 3) + 1;
}

static void s_case_id(uint64_t c, char *buf, size_t len)
{
    snprintf(buf, len, "QB-%07llu", (unsigned long long)c);
}

static const char *const s_statuses[] = {"detained", "transferred", "released", "repatriated",
                                         "reunited"};
static const unsigned s_status_weight[] = {30, 20, 20, 15, 15};

static const char *s_status_pick(uint64_t c, uint64_t j)
{
    uint32_t r = s_pick(c, j, 3, 100);
    for (size_t i = 0; i < N_OF(s_statuses); i++) {
        if (r < s_status_weight[i])
            return s_statuses[i];
        r -= s_status_weight[i];
    }
    return s_statuses[0];
}

/* A note of 200 to 600 bytes of plain words. */
static void s_note(char *buf, size_t len, uint64_t c, uint64_t j)
{
    size_t want = 200 + s_pick(c, j, 5, 400), off = 0;
    if (want >= len)
        want = len - 1;
    for (uint64_t w = 0; off < want; w++) {
        const char *word = s_words[s_pick(c, j * 1000 + w, 6, N_OF(s_words))];
        int n = snprintf(buf + off, len - off, "%s%s", off ? " " : "", word);
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
    buf[want] = '\0';
}

/* Everything one update points to lives here until it is submitted. */
typedef struct {
    Valija__CaseUpdate u;
    Valija__Person person;
    Valija__Visit visit;
    Valija__Representation rep;
    Valija__CaseLink link[2];
    Valija__CaseLink *links[2];
    char *share[2];
    char *co_owners[1];
    char case_id[32], name[80], dob[40], doc[24], anum[24], visitor[80], rep_name[80], contact[40];
    char linked[2][32];
    char note[700];
} update_buf;

/* The j-th update of case c (j = 0 opens it), written at t_ms. */
static void s_make_update(update_buf *b, uint64_t c, uint64_t j, uint64_t k, uint64_t n_cases,
                          int64_t t_ms)
{
    memset(b, 0, sizeof *b);
    Valija__CaseUpdate *u = &b->u;
    valija__case_update__init(u);
    s_case_id(c, b->case_id, sizeof b->case_id);
    u->case_id = b->case_id;
    int role = s_role(c, n_cases);
    uint64_t family = c / 3;
    if (j == 0) {
        u->kind = VALIJA__UPDATE_KIND__KIND_OPENED;
        u->status = "detained";
        u->facility = s_facility[s_facility_of(c, 0)];
        /* Share: 60% the first peer, 25% the second, 15% both; a family
         * with both, so each member is seen at both posts. */
        uint32_t r = role ? 99 : s_pick(c, 0, 1, 100);
        if (r < 60) {
            b->share[u->n_share++] = (char *)s_peer[0];
        } else if (r < 85) {
            b->share[u->n_share++] = (char *)s_peer[1];
        } else {
            b->share[u->n_share++] = (char *)s_peer[0];
            b->share[u->n_share++] = (char *)s_peer[1];
        }
        u->share = b->share;
        /* One case in twenty is worked together with the first peer. */
        if (s_pick(c, 0, 2, 20) == 0) {
            b->co_owners[0] = (char *)s_peer[0];
            u->co_owners = b->co_owners;
            u->n_co_owners = 1;
            if (u->n_share == 1 && strcmp(b->share[0], s_peer[0]) != 0)
                b->share[u->n_share++] = (char *)s_peer[0];
        }
        valija__person__init(&b->person);
        /* The family's surname is the parent's. */
        uint64_t who = role ? family * 3 : c;
        snprintf(b->name, sizeof b->name, "%s %s %s", s_first[s_pick(c, 0, 7, N_OF(s_first))],
                 s_last[s_pick(who, 0, 8, N_OF(s_last))], s_last[s_pick(who, 0, 9, N_OF(s_last))]);
        int minor = role == 2 || role == 3 || (role == 0 && s_pick(c, 0, 10, 20) == 0);
        int year = minor ? 2008 + (int)s_pick(c, 0, 12, 17) : 1960 + (int)s_pick(c, 0, 12, 46);
        snprintf(b->dob, sizeof b->dob, "%04d-%02u-%02u", year, 1 + s_pick(c, 0, 13, 12),
                 1 + s_pick(c, 0, 14, 28));
        snprintf(b->doc, sizeof b->doc, "P%08u", s_pick(c, 0, 15, 100000000));
        snprintf(b->anum, sizeof b->anum, "A%09u", s_pick(c, 0, 16, 1000000000));
        b->person.name = b->name;
        b->person.date_of_birth = b->dob;
        b->person.nationality = (char *)s_nat[s_pick(role ? family : c, 0, 17, N_OF(s_nat))];
        b->person.document = b->doc;
        b->person.alien_number = b->anum;
        b->person.minor = minor ? VALIJA__MINOR__MINOR_YES : VALIJA__MINOR__MINOR_NO;
        u->person = &b->person;
        /* Children are linked to their parent (and the second child to
         * the first) when the case is opened. */
        if (role == 2 || role == 3) {
            valija__case_link__init(&b->link[0]);
            s_case_id(family * 3, b->linked[0], sizeof b->linked[0]);
            b->link[0].relation = VALIJA__LINK_RELATION__LINK_PARENT;
            b->link[0].case_id = b->linked[0];
            b->links[u->n_links++] = &b->link[0];
            if (role == 3) {
                valija__case_link__init(&b->link[1]);
                s_case_id(family * 3 + 1, b->linked[1], sizeof b->linked[1]);
                b->link[1].relation = VALIJA__LINK_RELATION__LINK_SIBLING;
                b->link[1].case_id = b->linked[1];
                b->links[u->n_links++] = &b->link[1];
            }
            u->links = b->links;
        }
        return;
    }
    /* Half the parents link their children back in their first update. */
    if (role == 1 && j == 1 && s_pick(family, 0, 20, 2) == 0) {
        u->kind = VALIJA__UPDATE_KIND__KIND_LINK;
        for (int i = 0; i < 2; i++) {
            valija__case_link__init(&b->link[i]);
            s_case_id(c + 1 + (uint64_t)i, b->linked[i], sizeof b->linked[i]);
            b->link[i].relation = VALIJA__LINK_RELATION__LINK_CHILD;
            b->link[i].case_id = b->linked[i];
            b->links[i] = &b->link[i];
        }
        u->links = b->links;
        u->n_links = 2;
        return;
    }
    /* The last update: two families in five are reunited; 3% of the other
     * cases are closed. */
    if (j == k - 1 && role != 0 && s_pick(family, 0, 21, 5) < 2) {
        u->kind = VALIJA__UPDATE_KIND__KIND_STATUS;
        u->status = "reunited";
        return;
    }
    if (j == k - 1 && role == 0 && s_pick(c, 0, 22, 100) < 3) {
        u->kind = VALIJA__UPDATE_KIND__KIND_CLOSED;
        s_note(b->note, sizeof b->note, c, j);
        u->note = b->note;
        return;
    }
    uint32_t r = s_pick(c, j, 4, 100);
    if (r < 30) {
        u->kind = VALIJA__UPDATE_KIND__KIND_STATUS;
        u->status = (char *)s_status_pick(c, j);
        /* Families are not reunited one member at a time here. */
        if (strcmp(u->status, "reunited") == 0 && role != 0)
            u->status = "released";
        if (strcmp(u->status, "transferred") == 0)
            u->facility = s_facility[s_facility_of(c, j)];
    } else if (r < 45) {
        u->kind = VALIJA__UPDATE_KIND__KIND_LOCATION;
        u->facility = s_facility[s_facility_of(c, j)];
    } else if (r < 75) {
        u->kind = VALIJA__UPDATE_KIND__KIND_NOTE;
        s_note(b->note, sizeof b->note, c, j);
        u->note = b->note;
    } else if (r < 90) {
        u->kind = VALIJA__UPDATE_KIND__KIND_VISIT;
        valija__visit__init(&b->visit);
        snprintf(b->visitor, sizeof b->visitor, "Consul %s",
                 s_last[s_pick(c, j, 23, N_OF(s_last))]);
        b->visit.visitor = b->visitor;
        b->visit.at_ms = t_ms - 3600000;
        u->visit = &b->visit;
    } else {
        u->kind = VALIJA__UPDATE_KIND__KIND_REPRESENTATION;
        valija__representation__init(&b->rep);
        snprintf(b->rep_name, sizeof b->rep_name, "%s %s", s_first[s_pick(c, j, 24, N_OF(s_first))],
                 s_last[s_pick(c, j, 25, N_OF(s_last))]);
        snprintf(b->contact, sizeof b->contact, "+1 555 01%02u", s_pick(c, j, 26, 100));
        b->rep.name = b->rep_name;
        b->rep.organization = (char *)s_org[s_pick(c, j, 27, N_OF(s_org))];
        b->rep.contact = b->contact;
        u->representation = &b->rep;
    }
}

/* ---------- the store, written as valijad writes it ---------- */

typedef struct {
    int64_t t_ms;
    uint32_t c;
    uint16_t j;
} event_t;

static int s_cmp_event(const void *a, const void *b)
{
    const event_t *x = a, *y = b;
    if (x->t_ms != y->t_ms)
        return x->t_ms < y->t_ms ? -1 : 1;
    if (x->c != y->c)
        return x->c < y->c ? -1 : 1;
    return (x->j > y->j) - (x->j < y->j);
}

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* When each update is written: the cases open one after another over the
 * year, up to an hour ago; each one's further updates follow within 45 days,
 * oldest first, or within the time left before now for the newest cases
 * (which makes the last weeks somewhat busier than the rest of the year). */
#define FOLLOW_MS (45LL * 86400 * 1000)
static event_t *s_schedule(uint64_t n, uint64_t k, int64_t end_ms)
{
    event_t *ev = calloc(n * k, sizeof *ev);
    int64_t *t = calloc(k, sizeof *t);
    if (ev == NULL || t == NULL)
        s_die("out of memory");
    int64_t start = end_ms - SPAN_MS;
    for (uint64_t c = 0; c < n; c++) {
        int64_t open = start + (int64_t)((double)c / (double)n * (double)(SPAN_MS - 3600000)) -
                       (int64_t)s_pick(c, 0, 30, 3600000);
        int64_t follow = end_ms - 60000 - open < FOLLOW_MS ? end_ms - 60000 - open : FOLLOW_MS;
        t[0] = open;
        for (uint64_t j = 1; j < k; j++)
            t[j] = open + 1 + (int64_t)((double)s_pick(c, j, 31, 1000000) / 1e6 * (double)follow);
        qsort(t + 1, k - 1, sizeof *t, s_cmp_i64);
        for (uint64_t j = 0; j < k; j++) {
            event_t *e = &ev[c * k + j];
            e->t_ms = t[j];
            e->c = (uint32_t)c;
            e->j = (uint16_t)j;
        }
    }
    free(t);
    qsort(ev, n * k, sizeof *ev, s_cmp_event);
    return ev;
}

static void s_free_seen(Valija__CaseUpdate *u)
{
    for (size_t i = 0; i < u->n_seen; i++)
        vj_codec_free((ProtobufCMessage *)u->seen[i]);
    free(u->seen);
    u->seen = NULL;
    u->n_seen = 0;
}

typedef struct {
    char case_id[32]; /* a child of a family in the middle of the store */
    char parent_id[32];
    uint8_t msg_id[VJ_MSG_ID_LEN]; /* its last update */
    int64_t end_ms;
    double seconds;
} generated;

static void s_generate(vj_keyring *kr, uint64_t n, uint64_t k, generated *g)
{
    vj_store *st = NULL;
    vj_post *post = NULL;
    vj_diag diag = {{0}};
    if (vj_store_open(s_q.store, &st, &diag) != VJ_OK) {
        fprintf(stderr, "bench_queries: store: %s\n", diag.text);
        s_die("cannot open the store");
    }
    if (vj_post_new(st, kr, 1048576, &post) != VJ_OK)
        s_die("vj_post_new");
    g->end_ms = s_wall_ms() - 60000;
    event_t *ev = s_schedule(n, k, g->end_ms);
    uint64_t pick = n / 2 - n / 2 % 12 + 1; /* the first child of a family */
    s_case_id(pick, g->case_id, sizeof g->case_id);
    s_case_id(pick - 1, g->parent_id, sizeof g->parent_id);
    update_buf *b = malloc(sizeof *b);
    if (b == NULL)
        s_die("out of memory");
    uint64_t total = n * k, step = total / 10 ? total / 10 : 1;
    double t0 = s_now(), t_last = t0;
    for (uint64_t i = 0; i < total; i++) {
        if (i % TX_UPDATES == 0 && vj_store_begin(st) != VJ_OK)
            s_die("begin");
        const event_t *e = &ev[i];
        s_make_update(b, e->c, e->j, k, n, e->t_ms);
        uint8_t id[VJ_MSG_ID_LEN];
        size_t before = vj_post_events_count(post);
        if (vj_store_savepoint(st) != VJ_OK)
            s_die("savepoint");
        int rc = vj_post_submit(post, &b->u, e->t_ms, id, &diag);
        s_free_seen(&b->u);
        if (rc != VJ_OK) {
            vj_store_rollback_to(st);
            vj_post_events_truncate(post, before);
            fprintf(stderr, "bench_queries: update %u of %s: %s: %s\n", (unsigned)e->j, b->case_id,
                    vj_strerror(rc), diag.text[0] ? diag.text : vj_store_last_error(st));
            s_die("a generated update was refused");
        }
        if (vj_store_release(st) != VJ_OK)
            s_die("release");
        if (e->c == pick && e->j == k - 1)
            memcpy(g->msg_id, id, sizeof id);
        if (i % TX_UPDATES == TX_UPDATES - 1 || i == total - 1) {
            if (vj_store_commit(st) != VJ_OK) {
                fprintf(stderr, "bench_queries: commit: %s\n", vj_store_last_error(st));
                s_die("commit failed");
            }
            vj_post_event *events = NULL;
            size_t n_events = 0;
            vj_post_events_take(post, &events, &n_events);
            vj_post_events_free(events, n_events);
        }
        if ((i + 1) % step == 0) {
            double now = s_now();
            printf("  %llu updates (%.0f%%), %.0f updates/s lately\n", (unsigned long long)(i + 1),
                   100.0 * (double)(i + 1) / (double)total, (double)step / (now - t_last));
            t_last = now;
        }
    }
    g->seconds = s_now() - t0;
    free(b);
    free(ev);
    vj_post_destroy(&post);
    vj_store_close(&st);
}

/* ---------- valijad ---------- */

static void s_start(void)
{
    s_daemon = fork();
    if (s_daemon < 0)
        s_die("fork failed");
    if (s_daemon == 0) {
        int fd = open(s_q.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(s_valijad, "valijad", "-c", s_q.config, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 1200; i++) {
        valija *c = NULL;
        valija_peer_list *peers = NULL;
        if (valija_open(s_q.socket, &c) == VALIJA_OK && valija_set_timeout(c, 500) == VALIJA_OK &&
            valija_peers(c, &peers) == VALIJA_OK) {
            valija_peer_list_free(&peers);
            valija_close(&c);
            return;
        }
        valija_close(&c);
        int status;
        if (waitpid(s_daemon, &status, WNOHANG) == s_daemon) {
            s_daemon = 0;
            s_die("valijad exited; see its log (run with VJ_BENCH_KEEP set to keep it)");
        }
        usleep(50000);
    }
    s_die("valijad did not answer within a minute");
}

static void s_stop(void)
{
    if (s_daemon <= 0)
        return;
    kill(s_daemon, SIGTERM);
    int status;
    waitpid(s_daemon, &status, 0);
    s_daemon = 0;
}

/* ---------- the CLI, timed ---------- */

typedef struct {
    int code;
    char *out;
    size_t out_len;
    char err[512];
    double ms;
} cli_run;

/* Runs `valija --socket S --json args...`: wall clock from fork to exit,
 * stdout read whole, the first line of stderr kept. */
static void s_cli(const char *const *args, cli_run *r)
{
    char errpath[700];
    snprintf(errpath, sizeof errpath, "%s/cli.err", s_root);
    const char *argv[16];
    size_t n = 0;
    argv[n++] = "valija";
    argv[n++] = "--socket";
    argv[n++] = s_q.socket;
    argv[n++] = "--json";
    for (size_t i = 0; args[i] != NULL && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int fds[2];
    if (pipe(fds) != 0)
        s_die("pipe");
    free(r->out);
    memset(r, 0, sizeof *r);
    double t0 = s_now();
    pid_t pid = fork();
    if (pid < 0)
        s_die("fork failed");
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            _exit(127);
        dup2(fds[1], 1);
        dup2(fd, 2);
        close(fds[0]);
        close(fds[1]);
        close(fd);
        execv(s_valija, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t cap = 0;
    for (;;) {
        if (cap - r->out_len < 65536) {
            cap = cap ? cap * 2 : 262144;
            char *p = realloc(r->out, cap + 1);
            if (p == NULL)
                s_die("out of memory");
            r->out = p;
        }
        ssize_t got = read(fds[0], r->out + r->out_len, cap - r->out_len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        r->out_len += (size_t)got;
    }
    close(fds[0]);
    r->out[r->out_len] = '\0';
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            s_die("waitpid");
    r->ms = (s_now() - t0) * 1000.0;
    r->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *f = fopen(errpath, "r");
    if (f != NULL) {
        if (fgets(r->err, sizeof r->err, f) == NULL)
            r->err[0] = '\0';
        r->err[strcspn(r->err, "\n")] = '\0';
        fclose(f);
    }
}

/* How many results an answer holds: the lines of a stream (history); in one
 * JSON value, the elements of an array, or of the object's family,
 * recipients or families array (a case with its family counts itself too). */
static size_t s_count(const cli_run *r, unsigned long long *backlog)
{
    size_t lines = 0;
    for (size_t i = 0; i < r->out_len; i++)
        if (r->out[i] == '\n' && (i == 0 || r->out[i - 1] != '\n'))
            lines++;
    if (lines != 1)
        return lines;
    json_error_t jerr;
    json_t *j = json_loadb(r->out, r->out_len, 0, &jerr);
    size_t count = 1;
    if (json_is_array(j)) {
        count = json_array_size(j);
        for (size_t i = 0; backlog != NULL && i < count; i++)
            *backlog += (unsigned long long)json_integer_value(
                json_object_get(json_array_get(j, i), "backlog"));
    } else if (json_is_object(j)) {
        json_t *a;
        if ((a = json_object_get(j, "family")) != NULL && json_is_array(a))
            count = 1 + json_array_size(a);
        else if ((a = json_object_get(j, "recipients")) != NULL && json_is_array(a))
            count = json_array_size(a);
        else if ((a = json_object_get(j, "families")) != NULL && json_is_array(a))
            count = json_array_size(a);
    }
    json_decref(j);
    return count;
}

static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    const char *name;
    const char *args[8];
    int optional; /* may be missing from this build: skipped with a note */
} query_t;

static double s_slowest_median = 0;

static void s_time_query(const query_t *q)
{
    cli_run r = {0};
    s_cli(q->args, &r); /* warm-up */
    if (r.code != 0) {
        if (q->optional)
            printf("%-38s skipped: not answered by this build (exit %d: %s)\n", q->name, r.code,
                   r.err);
        else
            printf("%-38s FAILED (exit %d: %s)\n", q->name, r.code, r.err);
        free(r.out);
        return;
    }
    double ms[RUNS], max = 0;
    for (int i = 0; i < RUNS; i++) {
        s_cli(q->args, &r);
        if (r.code != 0) {
            printf("%-38s FAILED on run %d (exit %d: %s)\n", q->name, i + 1, r.code, r.err);
            free(r.out);
            return;
        }
        ms[i] = r.ms;
        if (r.ms > max)
            max = r.ms;
    }
    qsort(ms, RUNS, sizeof ms[0], s_cmp_double);
    unsigned long long backlog = 0;
    size_t count = s_count(&r, &backlog);
    printf("%-38s median %7.1f ms  max %7.1f ms  %6zu results", q->name, ms[RUNS / 2], max, count);
    if (backlog > 0)
        printf(" (backlog %llu updates)", backlog);
    putchar('\n');
    if (ms[RUNS / 2] > s_slowest_median)
        s_slowest_median = ms[RUNS / 2];
    free(r.out);
}

/* ---------- main ---------- */

static int s_parse_count(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || text[0] == '-' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t n = 100000, k = 10;
    if (argc < 3) {
        fprintf(stderr, "usage: bench_queries VALIJAD VALIJA [--cases N] [--updates-per-case K]\n");
        return 64;
    }
    s_valijad = argv[1];
    s_valija = argv[2];
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--cases") == 0 && i + 1 < argc) {
            if (s_parse_count(argv[++i], 12, 10000000, &n) != 0) {
                fprintf(stderr, "bench_queries: --cases must be 12 to 10000000\n");
                return 64;
            }
        } else if (strcmp(argv[i], "--updates-per-case") == 0 && i + 1 < argc) {
            if (s_parse_count(argv[++i], 2, 1000, &k) != 0) {
                fprintf(stderr, "bench_queries: --updates-per-case must be 2 to 1000\n");
                return 64;
            }
        } else {
            fprintf(stderr,
                    "usage: bench_queries VALIJAD VALIJA [--cases N] [--updates-per-case K]\n");
            return 64;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (vj_keys_init() != VJ_OK)
        s_die("libsodium");
    for (int i = 0; i < N_FACILITIES; i++)
        snprintf(s_facility[i], sizeof s_facility[i], "%s %s", s_place[i % N_OF(s_place)],
                 s_kind[i / (int)N_OF(s_place) % 2]);
    const char *tmp = getenv("TMPDIR");
    snprintf(s_root, sizeof s_root, "%s/valija-bench-q.XXXXXX",
             tmp != NULL && tmp[0] != '\0' && strlen(tmp) < 64 ? tmp : "/tmp");
    if (mkdtemp(s_root) == NULL)
        s_die("mkdtemp");

    vj_identity *self = NULL, *peers[2] = {NULL, NULL};
    vj_keyring *kr = NULL;
    if (vj_identity_generate(s_post, &self) != VJ_OK ||
        vj_identity_generate(s_peer[0], &peers[0]) != VJ_OK ||
        vj_identity_generate(s_peer[1], &peers[1]) != VJ_OK || vj_keyring_new(self, &kr) != VJ_OK)
        s_die("cannot make identities");
    for (int i = 0; i < 2; i++) {
        vj_card card;
        if (vj_card_from_identity(peers[i], &card) != VJ_OK || vj_keyring_add(kr, &card) != VJ_OK)
            s_die("cannot pin a peer's card");
    }
    s_make_post(self, peers);

    printf("== store of %s: %llu cases x %llu updates = %llu updates, written in-process by "
           "vj_post_submit, commits of %d\n",
           s_post, (unsigned long long)n, (unsigned long long)k, (unsigned long long)(n * k),
           TX_UPDATES);
    printf("(peers %s and %s are never started: their outbox rows pile up, as at a post whose "
           "peers are down)\n",
           s_peer[0], s_peer[1]);
    s_load("before");
    generated g;
    memset(&g, 0, sizeof g);
    s_generate(kr, n, k, &g);
    long long bytes_gen = s_disk_bytes(s_q.store);
    printf("generated %llu updates in %.1f s: %.0f updates/s\n", (unsigned long long)(n * k),
           g.seconds, (double)(n * k) / g.seconds);
    s_load("after generation");

    double t0 = s_now();
    s_start();
    printf("== valijad on that store: answering after %.2f s\n", s_now() - t0);

    char since[VALIJA_TIME_TEXT_LEN], since_hour[VALIJA_TIME_TEXT_LEN];
    char hex[VALIJA_MSGID_HEX_LEN + 1];
    valija_time_format(g.end_ms - 86400000, since);
    valija_time_format(g.end_ms - 3600000, since_hour);
    valija_msgid_to_hex(g.msg_id, hex);
    const char *fac = s_facility[0];
    const query_t queries[] = {
        {"list", {"list", NULL}, 0},
        {"list --status detained", {"list", "--status", "detained", NULL}, 0},
        {"list --facility F", {"list", "--facility", fac, NULL}, 0},
        {"list --shared-with bench-p2", {"list", "--shared-with", s_peer[1], NULL}, 0},
        {"list --shared-with (post with none)", {"list", "--shared-with", "bench-none", NULL}, 0},
        {"list --since (last 24 h)", {"list", "--since", since, NULL}, 0},
        {"list --since (last hour)", {"list", "--since", since_hour, NULL}, 0},
        {"list --conflicts", {"list", "--conflicts", NULL}, 0},
        {"list --status repatriated --limit 50",
         {"list", "--status", "repatriated", "--limit", "50", NULL},
         0},
        {"list --status released --facility F",
         {"list", "--status", "released", "--facility", fac, NULL},
         0},
        {"list --separated", {"list", "--separated", NULL}, 1},
        {"case ID", {"case", g.case_id, NULL}, 0},
        {"case ID --family", {"case", "--family", g.case_id, NULL}, 0},
        {"case PARENT --family", {"case", "--family", g.parent_id, NULL}, 0},
        {"history ID", {"history", g.case_id, NULL}, 0},
        {"status MSGID", {"status", hex, NULL}, 0},
        {"peers (counts the backlog)", {"peers", NULL}, 0},
    };
    printf("== queries at the CLI (valija --json, fork to exit; median and max of %d runs after "
           "a warm-up)\n",
           RUNS);
    printf("(F = \"%s\", the largest facility; ID = %s, a child in a family; since %s)\n", fac,
           g.case_id, since);
    s_load("before the queries");
    for (size_t i = 0; i < N_OF(queries); i++)
        s_time_query(&queries[i]);
    s_load("after the queries");
    s_stop();

    long long bytes = s_disk_bytes(s_q.store);
    printf("== store on disk (db + wal + shm): %.1f MiB after generation, %.1f MiB after the "
           "daemon stopped: %.0f bytes per update\n",
           (double)bytes_gen / 1048576.0, (double)bytes / 1048576.0,
           (double)bytes / (double)(n * k));
    printf("generation: %.1f s for %llu updates (%.0f updates/s)\n", g.seconds,
           (unsigned long long)(n * k), (double)(n * k) / g.seconds);
    printf("slowest common query (median): %.1f ms\n", s_slowest_median);

    if (getenv("VJ_BENCH_KEEP") != NULL)
        printf("kept %s (store, daemon log)\n", s_root);
    else if (nftw(s_root, s_rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "bench_queries: could not remove %s\n", s_root);
    vj_keyring_destroy(&kr);
    vj_identity_destroy(&self);
    vj_identity_destroy(&peers[0]);
    vj_identity_destroy(&peers[1]);
    return 0;
}
