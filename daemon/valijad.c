/* valijad.c - the post's daemon: start, the main loop, reload and stop.
 * Peer links are in vjd_peers.c, the client socket in vjd_clients.c.
 *
 * One thread.  Each turn of the loop polls the ZAP handler, the peer ROUTER
 * (envelopes from peers), one DEALER per peer (receipts from peers), the
 * client ROUTER (requests from valija and libvalija), the socket monitors
 * and a signalfd; does the turn's writes in one store transaction (group
 * commit, each request or envelope in its own savepoint); and only after the
 * commit sends what acknowledges them: signed receipts to peers, replies to
 * clients, events to watchers.  Then it sends what the outbox has due.
 *
 * Invariant: nothing is acknowledged to a peer or a client before the
 * transaction holding it has committed; nothing this post wrote is sent to a
 * peer before it is committed here.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "vj_log.h"
#include "vjd.h"

static double s_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* With -v, every 10 s: where the loop's time went and how much it moved. */
static void s_stats_tick(daemon_t *d)
{
    int64_t now = vj_mono_ms();
    if (d->stats.since_ms == 0)
        d->stats.since_ms = now;
    if (now - d->stats.since_ms < 10000)
        return;
    if (d->stats.received + d->stats.submitted + d->stats.sent > 0)
        vj_log_debug("last %.1fs: %lu turns, %lu commits, %lu received, %lu submitted, %lu sent; "
                     "seconds in poll %.2f, peers %.2f, clients %.2f, commit %.2f, "
                     "replies %.2f, outbox %.2f",
                     (double)(now - d->stats.since_ms) / 1000.0, d->stats.turns, d->stats.commits,
                     d->stats.received, d->stats.submitted, d->stats.sent, d->stats.t_poll,
                     d->stats.t_router, d->stats.t_client, d->stats.t_commit, d->stats.t_after,
                     d->stats.t_outbox);
    memset(&d->stats, 0, sizeof d->stats);
    d->stats.since_ms = now;
}

int vjd_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return VJ_OK;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *n = realloc(*arr, ncap * elem);
    if (n == NULL)
        return VJ_E_NOMEM;
    *arr = n;
    *cap = ncap;
    return VJ_OK;
}

int vjd_tx(daemon_t *d)
{
    if (d->in_tx)
        return VJ_OK;
    int rc = vj_store_begin(d->st);
    if (rc == VJ_OK)
        d->in_tx = 1;
    return rc;
}

int vjd_set_int(void *sock, int opt, int value)
{
    return zmq_setsockopt(sock, opt, &value, sizeof value);
}

int vjd_send_routed(void *sock, const uint8_t *rid, size_t rid_len, const uint8_t *data, size_t len)
{
    if (zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return VJ_E_UNAVAILABLE;
    if (zmq_send(sock, data, len, ZMQ_DONTWAIT) < 0)
        return VJ_E_UNAVAILABLE;
    return VJ_OK;
}

static void s_end_turn(daemon_t *d)
{
    int committed = 1;
    if (d->in_tx) {
        d->in_tx = 0;
        double t0 = s_secs();
        int rc = vj_store_commit(d->st);
        d->stats.t_commit += s_secs() - t0;
        d->stats.commits++;
        if (rc != VJ_OK) {
            vj_log_error("the store could not commit (%s); this turn's updates are not "
                         "acknowledged",
                         vj_store_last_error(d->st));
            vj_store_rollback(d->st);
            committed = 0;
            vj_post_event *ev = NULL;
            size_t n = 0;
            vj_post_events_take(d->post, &ev, &n);
            vj_post_events_free(ev, n);
        }
    }
    if (committed)
        vjd_send_receipts(d);
    else {
        for (size_t i = 0; i < d->n_acks; i++)
            free(d->acks[i].ids);
        d->n_acks = 0;
    }
    vjd_answer_clients(d, committed);
    vjd_notify_watchers(d);
}

static void s_handle_signals(daemon_t *d)
{
    struct signalfd_siginfo si;
    while (read(d->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP)
            d->reload = 1;
        else
            d->stop = 1;
    }
}

static void s_print_problems(const vj_problems *p)
{
    for (size_t i = 0; i < p->n; i++)
        fprintf(stderr, "%s\n", p->items[i]);
}

static int s_build_keyring(const vj_config *cfg, const vj_identity *id, vj_keyring **out)
{
    vj_keyring *kr = NULL;
    int rc = vj_keyring_new(id, &kr);
    for (size_t i = 0; rc == VJ_OK && i < cfg->n_peers; i++) {
        vj_card card;
        vj_diag diag = {{0}};
        rc = vj_card_load(cfg->peers[i].card_path, &card, &diag);
        if (rc == VJ_OK && strcmp(card.post, cfg->peers[i].name) != 0)
            rc = VJ_E_CONFIG;
        if (rc == VJ_OK)
            rc = vj_keyring_add(kr, &card);
        if (rc != VJ_OK)
            vj_log_error("card of peer %s (%s): %s %s", cfg->peers[i].name, cfg->peers[i].card_path,
                         vj_strerror(rc), diag.text);
    }
    if (rc != VJ_OK)
        vj_keyring_destroy(&kr);
    *out = kr;
    return rc;
}

static void s_reload(daemon_t *d)
{
    d->reload = 0;
    vj_config *cfg = NULL;
    vj_problems problems = {0};
    vj_keyring *kr = NULL;
    vj_log_info("re-reading the peers from %s", d->cfg->path);
    if (vj_config_load(d->cfg->path, &cfg, &problems) != VJ_OK ||
        vj_config_check_keys(cfg, &problems) != VJ_OK) {
        for (size_t i = 0; i < problems.n; i++)
            vj_log_error("%s", problems.items[i]);
        vj_log_error("configuration not reloaded; still running with the previous peers");
        goto out;
    }
    if (strcmp(cfg->post, d->cfg->post) != 0 || strcmp(cfg->listen, d->cfg->listen) != 0 ||
        strcmp(cfg->client, d->cfg->client) != 0 ||
        strcmp(cfg->store_path, d->cfg->store_path) != 0 ||
        strcmp(cfg->secret_key_path, d->cfg->secret_key_path) != 0 ||
        cfg->max_message_bytes != d->cfg->max_message_bytes)
        vj_log_warn("post, keys, listen, client, store and max_message_bytes change only on "
                    "restart; the new peers and retry limits apply now");
    if (s_build_keyring(cfg, d->id, &kr) != VJ_OK) {
        vj_log_error("configuration not reloaded; still running with the previous peers");
        goto out;
    }
    /* Swap: the peers (and limits) of the new file, the rest unchanged. */
    vjd_links_close(d);
    vj_keyring *old_kr = d->kr;
    d->kr = kr;
    kr = NULL;
    vj_post_set_keyring(d->post, d->kr);
    vj_peer_config *peers = d->cfg->peers;
    size_t n_peers = d->cfg->n_peers;
    d->cfg->peers = cfg->peers;
    d->cfg->n_peers = cfg->n_peers;
    cfg->peers = peers;
    cfg->n_peers = n_peers;
    d->cfg->retry_max_ms = cfg->retry_max_ms;
    d->cfg->retry_min_ms = cfg->retry_min_ms;
    vj_keyring_destroy(&old_kr);
    if (vjd_links_open(d) != VJ_OK)
        vj_log_error("some peer links could not be set up");
    vj_log_info("now %zu peers", d->n_links);
out:
    vj_keyring_destroy(&kr);
    vj_config_destroy(&cfg);
    vj_problems_clear(&problems);
}

static void s_run(daemon_t *d)
{
    while (!d->stop) {
        size_t n_items = 4 + 2 * d->n_links;
        zmq_pollitem_t items[4 + 2 * (d->n_links ? d->n_links : 1)];
        memset(items, 0, sizeof items);
        items[0].socket = vj_zap_socket(d->zap);
        items[1].socket = d->router;
        items[2].socket = d->client;
        items[3].fd = d->sigfd;
        for (size_t i = 0; i < 4; i++)
            items[i].events = ZMQ_POLLIN;
        for (size_t i = 0; i < d->n_links; i++) {
            items[4 + 2 * i].socket = d->links[i].dealer;
            items[4 + 2 * i].events = ZMQ_POLLIN;
            items[5 + 2 * i].socket = d->links[i].monitor;
            items[5 + 2 * i].events = ZMQ_POLLIN;
        }
        long timeout = d->n_attempts > 0 ? 0 : vjd_poll_timeout(d);
        double t0 = s_secs();
        if (zmq_poll(items, (int)n_items, timeout) < 0 && errno != EINTR) {
            vj_log_error("poll failed: %s", zmq_strerror(errno));
            break;
        }
        double t1 = s_secs();
        d->stats.t_poll += t1 - t0;
        d->stats.turns++;
        d->turn_updates = 0;
        if (items[0].revents & ZMQ_POLLIN) {
            vj_zap_decision dec;
            while (vj_zap_handle(d->zap, &dec) == VJ_OK) {
                if (dec.admitted)
                    vj_log_debug("admitted %s from %s", dec.post, dec.address);
                else
                    vj_log_warn("refused a connection from %s: %s", dec.address, dec.reason);
            }
        }
        if (items[3].revents & ZMQ_POLLIN)
            s_handle_signals(d);
        vjd_apply_attempts(d);
        for (size_t i = 0; i < d->n_links; i++) {
            if (items[5 + 2 * i].revents & ZMQ_POLLIN)
                vjd_handle_monitor(d, &d->links[i]);
            if (items[4 + 2 * i].revents & ZMQ_POLLIN)
                vjd_handle_dealer(d, &d->links[i]);
        }
        double t2 = s_secs();
        if (items[1].revents & ZMQ_POLLIN)
            vjd_handle_router(d);
        double t3 = s_secs();
        if (items[2].revents & ZMQ_POLLIN)
            vjd_handle_client(d);
        double t4 = s_secs();
        s_end_turn(d);
        vjd_relay_pending(d);
        double t5 = s_secs();
        vjd_send_outbox(d);
        double t6 = s_secs();
        d->stats.t_router += t3 - t2 + (t2 - t1);
        d->stats.t_client += t4 - t3;
        d->stats.t_after += t5 - t4;
        d->stats.t_outbox += t6 - t5;
        s_stats_tick(d);
        if (d->reload && !d->stop)
            s_reload(d);
    }
}

static void s_usage(FILE *f)
{
    fprintf(f, "usage: valijad [-n] [-v] -c FILE\n"
               "  -c, --config FILE  the post's configuration (libconfig)\n"
               "  -n, --check        check the configuration and keys, print "
               "\"configuration OK\" and exit\n"
               "  -v, --verbose      log debug lines too\n"
               "  -h, --help         this help\n"
               "  -V, --version      print the version\n"
               "Signals: SIGTERM or SIGINT stop it cleanly; SIGHUP re-reads the peers.\n"
               "Exit codes: 0 ok, 64 usage, 66 configuration file unreadable, 71 system\n"
               "(libsodium, memory), 74 I/O, 75 another valijad has the store or socket,\n"
               "77 permission, 78 configuration.\n");
}

static int s_lock_store(daemon_t *d)
{
    char path[PATH_MAX];
    /* The store's directory is private to the daemon; make it on first run. */
    snprintf(path, sizeof path, "%s", d->cfg->store_path);
    char *slash = strrchr(path, '/');
    if (slash != NULL && slash != path) {
        *slash = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            vj_log_warn_errno("cannot create the store directory %s", path);
            return VJ_E_IO;
        }
        struct stat sb;
        if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid() ||
            (sb.st_mode & 0022) != 0) {
            vj_log_error("store directory %s must be a directory of the user valijad runs as, "
                         "writable by no one else (chmod 700 %s)",
                         path, path);
            return VJ_E_PERM;
        }
    }
    snprintf(path, sizeof path, "%s.lock", d->cfg->store_path);
    d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (d->lock_fd < 0) {
        vj_log_warn_errno("cannot open the lock file %s", path);
        return VJ_E_IO;
    }
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        vj_log_error("another valijad is already running with the store %s", d->cfg->store_path);
        return VJ_E_EXISTS;
    }
    return VJ_OK;
}

static int s_exit_code(int rc)
{
    switch (rc) {
    case VJ_E_PERM:
        return EX_NOPERM;
    case VJ_E_CONFIG:
    case VJ_E_VERSION:
        return EX_CONFIG;
    case VJ_E_EXISTS:
        return EX_TEMPFAIL;
    case VJ_E_CRYPTO:
    case VJ_E_NOMEM:
        return EX_OSERR;
    default:
        return EX_IOERR;
    }
}

static void s_teardown(daemon_t *d)
{
    if (d->in_tx) {
        if (vj_store_commit(d->st) != VJ_OK)
            vj_store_rollback(d->st);
        d->in_tx = 0;
    }
    for (size_t i = 0; i < d->n_replies; i++) {
        vj_codec_free((ProtobufCMessage *)d->replies[i].req);
        free(d->replies[i].ids);
    }
    for (size_t i = 0; i < d->n_acks; i++)
        free(d->acks[i].ids);
    free(d->replies);
    free(d->acks);
    free(d->watchers);
    free(d->attempts);
    vjd_links_close(d);
    if (d->router != NULL)
        zmq_close(d->router);
    if (d->client != NULL) {
        zmq_close(d->client);
        unlink(d->cfg->client_path);
    }
    vj_zap_destroy(&d->zap);
    if (d->zctx != NULL)
        zmq_ctx_term(d->zctx);
    vj_post_destroy(&d->post);
    vj_store_close(&d->st);
    vj_keyring_destroy(&d->kr);
    vj_identity_destroy(&d->id);
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    if (d->sigfd >= 0)
        close(d->sigfd);
    vj_config_destroy(&d->cfg);
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    int check_only = 0, verbose = 0;
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'n'},
        {"verbose", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:nvhV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'n':
            check_only = 1;
            break;
        case 'v':
            verbose = 1;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        case 'V':
            printf("valijad %s\n", VALIJAD_VERSION);
            return 0;
        default:
            s_usage(stderr);
            return EX_USAGE;
        }
    }
    if (config_path == NULL || optind != argc) {
        fprintf(stderr, "valijad: %s\n",
                config_path == NULL ? "-c FILE is required" : "unexpected argument");
        s_usage(stderr);
        return EX_USAGE;
    }

    /* No core files: they would hold secret keys and case contents. */
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    umask(077);

    if (vj_keys_init() != VJ_OK) {
        fprintf(stderr, "valijad: libsodium could not start\n");
        return EX_OSERR;
    }
    daemon_t d;
    memset(&d, 0, sizeof d);
    d.sigfd = -1;
    d.lock_fd = -1;
    vj_problems problems = {0};
    int rc = vj_config_load(config_path, &d.cfg, &problems);
    if (rc == VJ_OK)
        rc = vj_config_check_keys(d.cfg, &problems);
    if (rc != VJ_OK) {
        s_print_problems(&problems);
        if (problems.n == 0)
            fprintf(stderr, "%s: %s\n", config_path, vj_strerror(rc));
        vj_problems_clear(&problems);
        vj_config_destroy(&d.cfg);
        return rc == VJ_E_IO && problems.n == 0 ? EX_NOINPUT : EX_CONFIG;
    }
    vj_problems_clear(&problems);
    if (check_only) {
        printf("configuration OK\n");
        vj_config_destroy(&d.cfg);
        return 0;
    }

    vj_log_init(d.cfg->post, verbose ? VJ_LOG_DEBUG : VJ_LOG_INFO);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    d.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    srandom((unsigned)(vj_now_ms() ^ getpid()));

    vj_diag diag = {{0}};
    rc = vj_identity_load(d.cfg->secret_key_path, &d.id, &diag);
    if (rc != VJ_OK) {
        vj_log_error("%s", diag.text);
        goto out;
    }
    rc = s_build_keyring(d.cfg, d.id, &d.kr);
    if (rc != VJ_OK)
        goto out;
    rc = s_lock_store(&d);
    if (rc != VJ_OK)
        goto out;
    rc = vj_store_open(d.cfg->store_path, &d.st, &diag);
    if (rc != VJ_OK) {
        vj_log_error("store %s: %s", d.cfg->store_path, diag.text[0] ? diag.text : vj_strerror(rc));
        goto out;
    }
    rc = vj_post_new(d.st, d.kr, (size_t)d.cfg->max_message_bytes, &d.post);
    if (rc != VJ_OK)
        goto out;
    d.zctx = zmq_ctx_new();
    rc = VJ_E_IO;
    if (d.zctx == NULL)
        goto out;
    /* The ZAP handler first: a CURVE server without one admits anybody. */
    rc = vj_zap_new(d.zctx, vjd_zap_lookup, &d, &d.zap);
    if (rc != VJ_OK) {
        vj_log_error("cannot start the ZAP handler: %s", zmq_strerror(errno));
        goto out;
    }
    rc = vjd_bind_peer_router(&d);
    if (rc != VJ_OK)
        goto out;
    rc = vjd_bind_client(&d);
    if (rc != VJ_OK)
        goto out;
    rc = vjd_links_open(&d);
    if (rc != VJ_OK)
        goto out;
    char fp[VJ_FINGERPRINT_STRLEN];
    vj_card self_card;
    if (vj_card_from_identity(d.id, &self_card) == VJ_OK) {
        vj_card_fingerprint(&self_card, fp);
        vj_log_info("post %s (fingerprint %s) listening for peers on %s, clients on %s, %zu peers",
                    d.cfg->post, fp, d.cfg->listen, d.cfg->client, d.n_links);
    }
    s_run(&d);
    vj_log_info("stopping");
    rc = VJ_OK;
out:
    s_teardown(&d);
    if (rc == VJ_OK)
        vj_log_info("stopped cleanly");
    return rc == VJ_OK ? 0 : s_exit_code(rc);
}
