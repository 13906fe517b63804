/* bench.c - valija's benchmark: figures, never a pass/fail on speed.
 *
 * In one run, on 127.0.0.1, with two real valijad (post A submits, post B
 * receives):
 *   1. crypto only: seal (for A and B, as valijad seals) plus open of the
 *      same 1 KiB case updates on one core: the crypto-only rate;
 *   2. durable end-to-end throughput: updates submitted at A in chunks,
 *      counted when B has committed them (B's watch stream speaks only after
 *      its commit), with latency p50/p99 under that load;
 *   3. latency at an offered 1,000 updates/s, one update per submission;
 *   4. A's resident memory while 100,000 updates wait for B, which is down,
 *      then the time B takes to catch up once it is back;
 *   5. the stores' size on disk.
 * The last line is "e2e/crypto ratio: R" (rate 2 over rate 1).
 *
 * usage: bench VALIJAD [--quick]
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
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
#include "vj_envelope.h"
#include "vj_identity.h"
#include "vj_keyring.h"

#define NOTE_BYTES 900 /* with the other fields, a plaintext of about 1 KiB */

typedef struct {
    const char *name;
    char dir[512];
    char config[600];
    char socket[600];
    char key[600];
    char card[600];
    char store[600];
    int port;
    pid_t pid;
    vj_identity *id;
} post_t;

static const char *s_valijad;
static char s_root[256];
static post_t s_a = {.name = "bench-a"}, s_b = {.name = "bench-b"};

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void s_die(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    if (s_a.pid > 0)
        kill(s_a.pid, SIGKILL);
    if (s_b.pid > 0)
        kill(s_b.pid, SIGKILL);
    exit(1);
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

static void s_make_post(post_t *p)
{
    char path[700];
    snprintf(p->dir, sizeof p->dir, "%s/%s", s_root, p->name);
    mkdir(p->dir, 0700);
    snprintf(path, sizeof path, "%s/peers", p->dir);
    mkdir(path, 0700);
    snprintf(p->config, sizeof p->config, "%s/valijad.conf", p->dir);
    snprintf(p->socket, sizeof p->socket, "ipc://%s/run/valijad.sock", p->dir);
    snprintf(p->key, sizeof p->key, "%s/%s.key", p->dir, p->name);
    snprintf(p->card, sizeof p->card, "%s/%s.card", s_root, p->name);
    snprintf(p->store, sizeof p->store, "%s/data/%s.db", p->dir, p->name);
    p->port = s_free_port();
    vj_diag diag;
    vj_card card;
    char *text = NULL;
    if (vj_identity_generate(p->name, &p->id) != VJ_OK ||
        vj_identity_save(p->id, p->key, 0, &diag) != VJ_OK ||
        vj_card_from_identity(p->id, &card) != VJ_OK || vj_card_format(&card, &text) != VJ_OK)
        s_die("cannot make an identity");
    s_write(p->card, text);
    free(text);
}

static void s_configure(post_t *p, const post_t *peer)
{
    char text[2048], card[700];
    snprintf(card, sizeof card, "%s/peers/%s.card", p->dir, peer->name);
    char cmd[1500];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", peer->card, card);
    if (system(cmd) != 0)
        s_die("cannot copy a card");
    snprintf(text, sizeof text,
             "post = \"%s\";\nsecret_key = \"%s.key\";\nlisten = \"tcp://127.0.0.1:%d\";\n"
             "client = \"ipc://run/valijad.sock\";\nstore = \"data/%s.db\";\n"
             "peers = ( { name = \"%s\"; endpoint = \"tcp://127.0.0.1:%d\"; "
             "card = \"peers/%s.card\"; } );\n"
             "limits = { max_message_bytes = 1048576; retry_max_seconds = 10; };\n",
             p->name, p->name, p->port, p->name, peer->name, peer->port, peer->name);
    s_write(p->config, text);
}

static void s_start(post_t *p)
{
    char log[700];
    snprintf(log, sizeof log, "%s/valijad.log", p->dir);
    p->pid = fork();
    if (p->pid < 0)
        s_die("fork failed");
    if (p->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(s_valijad, "valijad", "-v", "-c", p->config, (char *)NULL);
        _exit(127);
    }
    /* Wait until it answers. */
    for (int i = 0; i < 200; i++) {
        valija *c = NULL;
        valija_peer_list *peers = NULL;
        if (valija_open(p->socket, &c) == VALIJA_OK && valija_set_timeout(c, 500) == VALIJA_OK &&
            valija_peers(c, &peers) == VALIJA_OK) {
            valija_peer_list_free(&peers);
            valija_close(&c);
            return;
        }
        valija_close(&c);
        usleep(50000);
    }
    s_die("valijad did not start; see its log");
}

static void s_stop(post_t *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGTERM);
    int status;
    waitpid(p->pid, &status, 0);
    p->pid = 0;
}

static void s_wait_link(post_t *p)
{
    valija *c = NULL;
    if (valija_open(p->socket, &c) != VALIJA_OK)
        s_die("cannot open a client");
    for (int i = 0; i < 200; i++) {
        valija_peer_list *peers = NULL;
        int up = valija_peers(c, &peers) == VALIJA_OK && peers->n_peers == 1 &&
                 peers->peers[0].connected;
        valija_peer_list_free(&peers);
        if (up) {
            valija_close(&c);
            return;
        }
        usleep(50000);
    }
    s_die("the link did not come up");
}

/* ---------- the updates ---------- */

static char s_filler[NOTE_BYTES + 1];

/* The note carries the phase and the number, so the watcher can match. */
static void s_note(char *buf, size_t len, char phase, size_t i)
{
    int n = snprintf(buf, len, "bench %c %zu ", phase, i);
    snprintf(buf + n, len - (size_t)n, "%.*s", NOTE_BYTES - n, s_filler);
}

static const char *s_share[] = {"bench-b"};

static void s_update(valija_update *u, char *case_id, size_t case_len, char *note, size_t note_len,
                     char phase, size_t i)
{
    memset(u, 0, sizeof *u);
    snprintf(case_id, case_len, "BENCH-%c-%zu", phase, i);
    s_note(note, note_len, phase, i);
    u->case_id = case_id;
    u->kind = VALIJA_KIND_OPENED;
    u->status = "detained";
    u->facility = "South Texas Family Residential Center";
    u->note = note;
    u->share = s_share;
    u->n_share = 1;
}

/* ---------- the watcher at B ---------- */

typedef struct {
    char phase;
    size_t expected;
    size_t seen;
    double *arrival; /* per update number */
    volatile int stop;
    pthread_mutex_t lock;
} watch_t;

static watch_t s_w = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int s_watch_cb(const valija_history_entry *e, void *arg)
{
    (void)arg;
    if (e != NULL && e->update != NULL && e->update->note != NULL) {
        char phase;
        size_t i;
        if (sscanf(e->update->note, "bench %c %zu", &phase, &i) == 2) {
            pthread_mutex_lock(&s_w.lock);
            if (phase == s_w.phase && i < s_w.expected && s_w.arrival[i] == 0) {
                s_w.arrival[i] = s_now();
                s_w.seen++;
            }
            pthread_mutex_unlock(&s_w.lock);
        }
    }
    return s_w.stop;
}

static void *s_watch_main(void *arg)
{
    (void)arg;
    valija *c = NULL;
    if (valija_open(s_b.socket, &c) != VALIJA_OK)
        return NULL;
    if (valija_watch(c, NULL, s_watch_cb, NULL) != VALIJA_OK && !s_w.stop)
        fprintf(stderr, "bench: watch ended: %s\n", valija_last_error(c));
    valija_close(&c);
    return NULL;
}

static void s_expect(char phase, size_t n)
{
    pthread_mutex_lock(&s_w.lock);
    free(s_w.arrival);
    s_w.arrival = calloc(n, sizeof *s_w.arrival);
    s_w.phase = phase;
    s_w.expected = n;
    s_w.seen = 0;
    pthread_mutex_unlock(&s_w.lock);
}

static size_t s_seen(void)
{
    pthread_mutex_lock(&s_w.lock);
    size_t n = s_w.seen;
    pthread_mutex_unlock(&s_w.lock);
    return n;
}

static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double s_pct(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, s_cmp_double);
    size_t k = (size_t)(p * (double)(n - 1) + 0.5);
    return v[k];
}

/* ---------- paced submissions (open loop) ---------- */

/* Update i is due at start + i ms, whatever happened to the ones before:
 * PACERS clients take every PACERS-th update, so one slow answer does not
 * hold the offered rate down. */
#define PACERS 4
static size_t s_late;
static pthread_mutex_t s_late_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    double start;
    size_t first, n;
    double *submitted;
} pacer_t;

static void *s_pacer_main(void *arg)
{
    pacer_t *pc = arg;
    valija *c = NULL;
    if (valija_open(s_a.socket, &c) != VALIJA_OK || valija_set_timeout(c, 60000) != VALIJA_OK)
        s_die("client");
    for (size_t i = pc->first; i < pc->n; i += PACERS) {
        double due = pc->start + (double)i / 1000.0;
        double now = s_now();
        if (due > now) {
            usleep((useconds_t)((due - now) * 1e6));
        } else if (now - due > 0.001) {
            pthread_mutex_lock(&s_late_lock);
            s_late++;
            pthread_mutex_unlock(&s_late_lock);
        }
        valija_update u;
        char case_id[40], note[NOTE_BYTES + 1];
        uint8_t id[1][VALIJA_MSGID_LEN];
        s_update(&u, case_id, sizeof case_id, note, sizeof note, 'l', i);
        pc->submitted[i] = s_now();
        if (valija_submit(c, &u, 1, id, NULL) != VALIJA_OK)
            s_die("submit failed");
    }
    valija_close(&c);
    return NULL;
}

static void s_paced_run(double start, size_t n, double *submitted)
{
    pthread_t th[PACERS];
    pacer_t pc[PACERS];
    for (size_t k = 0; k < PACERS; k++) {
        pc[k] = (pacer_t){start, k, n, submitted};
        pthread_create(&th[k], NULL, s_pacer_main, &pc[k]);
    }
    for (size_t k = 0; k < PACERS; k++)
        pthread_join(th[k], NULL);
}

/* ---------- phases ---------- */

static double s_crypto_rate(size_t n)
{
    vj_keyring *ka = NULL, *kb = NULL;
    vj_card ca, cb;
    if (vj_card_from_identity(s_a.id, &ca) != VJ_OK ||
        vj_card_from_identity(s_b.id, &cb) != VJ_OK || vj_keyring_new(s_a.id, &ka) != VJ_OK ||
        vj_keyring_add(ka, &cb) != VJ_OK || vj_keyring_new(s_b.id, &kb) != VJ_OK ||
        vj_keyring_add(kb, &ca) != VJ_OK)
        s_die("keyrings");
    /* The same plaintext as the end-to-end run: a packed CaseUpdate. */
    char note[NOTE_BYTES + 1];
    s_note(note, sizeof note, 'c', 0);
    Valija__CaseUpdate u = VALIJA__CASE_UPDATE__INIT;
    char *share[] = {"bench-b"};
    u.version = 1;
    u.case_id = "BENCH-c-0";
    u.kind = VALIJA__UPDATE_KIND__KIND_OPENED;
    u.lamport = 1;
    u.status = "detained";
    u.facility = "South Texas Family Residential Center";
    u.note = note;
    u.share = share;
    u.n_share = 1;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    if (vj_codec_pack(&u.base, &plain, &plain_len) != VJ_OK)
        s_die("pack");
    const char *to[] = {"bench-a", "bench-b"};
    double t0 = s_now();
    for (size_t i = 0; i < n; i++) {
        vj_seal_params params = {.origin_seq = i + 1,
                                 .created_ms = 1,
                                 .payload = VALIJA__PAYLOAD_TYPE__PAYLOAD_CASE_UPDATE};
        uint8_t id[VJ_MSG_ID_LEN], *env = NULL, *out = NULL;
        size_t env_len = 0, out_len = 0;
        vj_envelope_info info;
        vj_diag diag;
        if (vj_envelope_seal(ka, to, 2, &params, plain, plain_len, id, &env, &env_len, &diag) !=
                VJ_OK ||
            vj_envelope_open(kb, env, env_len, VJ_ENVELOPE_MAX_DEFAULT, &info, &out, &out_len,
                             &diag) != VJ_OK)
            s_die("seal/open failed");
        vj_envelope_plaintext_free(out, out_len);
        free(env);
    }
    double rate = (double)n / (s_now() - t0);
    printf("plaintext size: %zu bytes\n", plain_len);
    free(plain);
    vj_keyring_destroy(&ka);
    vj_keyring_destroy(&kb);
    return rate;
}

/* Submits updates [from, to) of a phase in chunks of 256 on one connection;
 * records when each chunk was sent. */
static void s_submit_range(valija *c, char phase, size_t from, size_t to, double *submitted)
{
    enum { CHUNK = 256 };
    valija_update ups[CHUNK];
    char(*cases)[40] = calloc(CHUNK, 40);
    char(*notes)[NOTE_BYTES + 1] = calloc(CHUNK, NOTE_BYTES + 1);
    uint8_t ids[CHUNK][VALIJA_MSGID_LEN];
    if (cases == NULL || notes == NULL)
        s_die("out of memory");
    for (size_t start = from; start < to; start += CHUNK) {
        size_t k = to - start < CHUNK ? to - start : CHUNK;
        for (size_t i = 0; i < k; i++)
            s_update(&ups[i], cases[i], sizeof cases[i], notes[i], sizeof notes[i], phase,
                     start + i);
        double t = s_now();
        for (size_t i = 0; i < k && submitted != NULL; i++)
            submitted[start + i] = t;
        size_t done = 0;
        if (valija_submit(c, ups, k, ids, &done) != VALIJA_OK) {
            fprintf(stderr, "bench: submit: %s\n", valija_last_error(c));
            s_die("submit failed");
        }
    }
    free(cases);
    free(notes);
}

typedef struct {
    char phase;
    size_t from, to;
    double *submitted;
} submitter_t;

static void *s_submitter_main(void *arg)
{
    submitter_t *s = arg;
    valija *c = NULL;
    if (valija_open(s_a.socket, &c) != VALIJA_OK || valija_set_timeout(c, 120000) != VALIJA_OK)
        s_die("client");
    s_submit_range(c, s->phase, s->from, s->to, s->submitted);
    valija_close(&c);
    return NULL;
}

/* Submits n updates from SUBMITTERS clients at once, as several officers or
 * scripts would, so that valijad can commit their requests together. */
#define SUBMITTERS 4
static void s_submit_all(char phase, size_t n, double *submitted)
{
    pthread_t th[SUBMITTERS];
    submitter_t sub[SUBMITTERS];
    for (int i = 0; i < SUBMITTERS; i++) {
        sub[i] = (submitter_t){phase, n * (size_t)i / SUBMITTERS, n * (size_t)(i + 1) / SUBMITTERS,
                               submitted};
        pthread_create(&th[i], NULL, s_submitter_main, &sub[i]);
    }
    for (int i = 0; i < SUBMITTERS; i++)
        pthread_join(th[i], NULL);
}

static void s_wait_seen(size_t n, double timeout)
{
    double t0 = s_now();
    while (s_seen() < n) {
        if (s_now() - t0 > timeout)
            s_die("updates did not all arrive in time");
        usleep(1000);
    }
}

static void s_latencies(const double *submitted, size_t n, double *p50, double *p99)
{
    double *lat = calloc(n, sizeof *lat);
    pthread_mutex_lock(&s_w.lock);
    for (size_t i = 0; i < n; i++)
        lat[i] = (s_w.arrival[i] - submitted[i]) * 1000.0;
    pthread_mutex_unlock(&s_w.lock);
    *p50 = s_pct(lat, n, 0.50);
    *p99 = s_pct(lat, n, 0.99);
    free(lat);
}

static long s_rss_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, strlen(field)) == 0)
            kib = strtol(line + strlen(field) + 1, NULL, 10);
    if (f != NULL)
        fclose(f);
    return kib;
}

/* CPU seconds (user + system) a process has used so far. */
static double s_cpu_seconds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    unsigned long utime = 0, stime = 0;
    if (f != NULL) {
        /* fields 14 and 15, after the command name in parentheses */
        if (fscanf(f, "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                   &stime) != 2)
            utime = stime = 0;
        fclose(f);
    }
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
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

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench VALIJAD [--quick]\n");
        return 64;
    }
    s_valijad = argv[1];
    int quick = argc > 2 && strcmp(argv[2], "--quick") == 0;
    size_t n_crypto = quick ? 2000 : 10000;
    size_t n_e2e = quick ? 5000 : 30000;
    size_t n_lat = quick ? 1000 : 5000;
    size_t n_backlog = quick ? 10000 : 100000;
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    memset(s_filler, 'x', NOTE_BYTES);
    if (vj_keys_init() != VJ_OK)
        s_die("libsodium");
    snprintf(s_root, sizeof s_root, "/tmp/valija-bench.XXXXXX");
    if (mkdtemp(s_root) == NULL)
        s_die("mkdtemp");
    s_make_post(&s_a);
    s_make_post(&s_b);
    s_configure(&s_a, &s_b);
    s_configure(&s_b, &s_a);

    printf("== crypto only (one core, seal for 2 posts + open, %zu updates)\n", n_crypto);
    double crypto = s_crypto_rate(n_crypto);
    printf("crypto-only rate: %.0f updates/s\n", crypto);

    s_start(&s_a);
    s_start(&s_b);
    s_wait_link(&s_a);
    s_wait_link(&s_b);
    pthread_t watcher;
    s_expect('w', 1);
    pthread_create(&watcher, NULL, s_watch_main, NULL);
    usleep(200000);

    valija *c = NULL;
    if (valija_open(s_a.socket, &c) != VALIJA_OK || valija_set_timeout(c, 60000) != VALIJA_OK)
        s_die("client");

    printf("== durable end to end, A -> B, %zu updates of 1 KiB, %d clients submitting chunks "
           "of 256\n",
           n_e2e, SUBMITTERS);
    double *submitted = calloc(n_e2e > n_lat ? n_e2e : n_lat, sizeof *submitted);
    s_expect('t', n_e2e);
    double cpu_a = s_cpu_seconds(s_a.pid), cpu_b = s_cpu_seconds(s_b.pid);
    double t0 = s_now();
    s_submit_all('t', n_e2e, submitted);
    double t_sub = s_now() - t0;
    s_wait_seen(n_e2e, 600);
    double elapsed = s_now() - t0;
    double e2e = (double)n_e2e / elapsed;
    double p50, p99;
    s_latencies(submitted, n_e2e, &p50, &p99);
    printf("submission at A: %.0f updates/s\n", (double)n_e2e / t_sub);
    printf("end-to-end rate: %.0f updates/s (%.2f s)\n", e2e, elapsed);
    printf("latency under that load: p50 %.1f ms, p99 %.1f ms\n", p50, p99);
    printf("CPU per update: A %.0f us, B %.0f us (busy %.0f%% and %.0f%% of one core)\n",
           (s_cpu_seconds(s_a.pid) - cpu_a) * 1e6 / (double)n_e2e,
           (s_cpu_seconds(s_b.pid) - cpu_b) * 1e6 / (double)n_e2e,
           (s_cpu_seconds(s_a.pid) - cpu_a) * 100 / elapsed,
           (s_cpu_seconds(s_b.pid) - cpu_b) * 100 / elapsed);

    printf("== latency at an offered 1000 updates/s, one update per submission from %d paced "
           "clients, %zu updates\n",
           PACERS, n_lat);
    s_expect('l', n_lat);
    double start = s_now();
    s_paced_run(start, n_lat, submitted);
    double offered = (double)n_lat / (s_now() - start);
    s_wait_seen(n_lat, 120);
    s_latencies(submitted, n_lat, &p50, &p99);
    printf("achieved offer: %.0f updates/s (%zu submissions started over 1 ms late)\n", offered,
           s_late);
    printf("latency at 1000/s: p50 %.2f ms, p99 %.2f ms\n", p50, p99);

    printf("== memory while %zu updates wait for B, which is down\n", n_backlog);
    s_w.stop = 1;
    pthread_join(watcher, NULL);
    s_w.stop = 0;
    s_stop(&s_b);
    long rss_before = s_rss_kib(s_a.pid, "VmRSS:");
    t0 = s_now();
    s_submit_all('m', n_backlog, NULL);
    double t_backlog = s_now() - t0;
    long rss = s_rss_kib(s_a.pid, "VmRSS:");
    long hwm = s_rss_kib(s_a.pid, "VmHWM:");
    printf("submitted %zu in %.1f s (%.0f updates/s with no peer up)\n", n_backlog, t_backlog,
           (double)n_backlog / t_backlog);
    printf(
        "valijad A resident memory: %.1f MiB before, %.1f MiB with the backlog (peak %.1f MiB)\n",
        (double)rss_before / 1024, (double)rss / 1024, (double)hwm / 1024);

    /* Caught up when A holds B's signed receipt for everything. */
    t0 = s_now();
    s_start(&s_b);
    for (;;) {
        valija_peer_list *peers = NULL;
        if (valija_peers(c, &peers) != VALIJA_OK)
            s_die("peers failed");
        uint64_t backlog = peers->n_peers == 1 ? peers->peers[0].backlog : 1;
        valija_peer_list_free(&peers);
        if (backlog == 0)
            break;
        if (s_now() - t0 > 900)
            s_die("B did not catch up in time");
        usleep(20000);
    }
    double catchup = s_now() - t0;
    printf("B back: caught up on %zu updates in %.1f s (%.0f updates/s, receipts included)\n",
           n_backlog, catchup, (double)n_backlog / catchup);
    printf("valijad A peak resident memory over the run: %.1f MiB\n",
           (double)s_rss_kib(s_a.pid, "VmHWM:") / 1024);

    valija_close(&c);
    s_stop(&s_a);
    s_stop(&s_b);
    printf("store on disk: A %.1f MiB, B %.1f MiB (%zu updates)\n",
           (double)s_disk_bytes(s_a.store) / 1048576.0, (double)s_disk_bytes(s_b.store) / 1048576.0,
           n_e2e + n_lat + n_backlog);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_root);
    if (getenv("VJ_BENCH_KEEP") != NULL)
        printf("kept %s (daemon logs, stores)\n", s_root);
    else if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", s_root);
    vj_identity_destroy(&s_a.id);
    vj_identity_destroy(&s_b.id);
    free(submitted);
    free(s_w.arrival);
    printf("e2e/crypto ratio: %.2f\n", e2e / crypto);
    return 0;
}
