/* vj_config.h - the configuration of valijad: one libconfig file, read and
 * checked completely, copied into a typed vj_config.
 *
 * The file (DESIGN.md, "The interface scripts depend on"):
 *
 *   post = "mx-washington";
 *   secret_key = "keys/mx-washington.key";
 *   listen = "tcp://127.0.0.1:7401";
 *   client = "ipc://run/valijad.sock";
 *   store = "data/mx-washington.db";
 *   peers = ( { name = "sv-washington"; endpoint = "tcp://127.0.0.1:7402";
 *               card = "peers/sv-washington.card"; } );
 *   limits = { max_message_bytes = 1048576; retry_max_seconds = 300; retry_min_ms = 200; };
 *
 * Relative paths resolve against the directory of the file's path as given
 * (made absolute with the current directory; symlinks are not followed, "."
 * and repeated slashes are dropped, ".." is kept).  Unknown settings
 * and values of the wrong type are errors.  Every problem found is added to a
 * vj_problems list as "FILE:LINE: SETTING: what is wrong; what was expected",
 * all of them before failing.  A setting that is missing is reported at the
 * line of the group that should hold it, or, at top level, at the last line of
 * the file.  Problems of the file as a whole (too large, unreadable) have no
 * setting.
 *
 * Ownership: vj_config_load()/vj_config_parse() give the caller a vj_config
 * that it frees with vj_config_destroy(); every string in it belongs to it.
 */
#ifndef VJ_CONFIG_H
#define VJ_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "vj_codec.h"
#include "vj_error.h"

/* Bytes of a configuration file; a larger one is refused before parsing. */
#define VJ_CONFIG_MAX_BYTES (1024 * 1024)
/* Lines of a configuration file (libconfig keeps line numbers in 16 bits). */
#define VJ_CONFIG_MAX_LINES 65535
/* Peers one post may have. */
#define VJ_CONFIG_MAX_PEERS 1024
/* Names (of settings; true and false count too) in one file, and bytes of
 * one name: libconfig takes quadratic time in them.  Enough for
 * VJ_CONFIG_MAX_PEERS peers. */
#define VJ_CONFIG_MAX_NAMES (4 * VJ_CONFIG_MAX_PEERS + 64)
#define VJ_CONFIG_NAME_MAX 64
/* Bytes of the path inside an ipc:// endpoint (libzmq: sun_path less its NUL). */
#define VJ_CONFIG_IPC_PATH_MAX 107
/* Problems reported for one file; past this, one last line says so. */
#define VJ_CONFIG_MAX_PROBLEMS 200

/* limits: defaults and ranges (inclusive). */
#define VJ_CONFIG_MAX_MESSAGE_BYTES_DEFAULT 1048576
#define VJ_CONFIG_MAX_MESSAGE_BYTES_MIN 4096
#define VJ_CONFIG_MAX_MESSAGE_BYTES_MAX 67108864
#define VJ_CONFIG_RETRY_MAX_SECONDS_DEFAULT 300
#define VJ_CONFIG_RETRY_MAX_SECONDS_MIN 1
#define VJ_CONFIG_RETRY_MAX_SECONDS_MAX 86400
#define VJ_CONFIG_RETRY_MIN_MS_DEFAULT 200
#define VJ_CONFIG_RETRY_MIN_MS_MIN 10
#define VJ_CONFIG_RETRY_MIN_MS_MAX 60000

typedef struct {
    char name[VJ_POST_NAME_MAX + 1];
    char *endpoint;  /* tcp://... */
    char *card_path; /* absolute */
    int line;        /* line of this peer in the config file */
} vj_peer_config;

typedef struct {
    char *path; /* the config file as given */
    char *dir;  /* its directory, absolute */
    char post[VJ_POST_NAME_MAX + 1];
    char *secret_key_path; /* absolute */
    char *listen;          /* tcp://... */
    char *client;          /* ipc:// + absolute path */
    char *client_path;     /* the absolute path inside client */
    char *store_path;      /* absolute */
    vj_peer_config *peers;
    size_t n_peers;
    int64_t max_message_bytes;
    int64_t retry_max_ms; /* from retry_max_seconds */
    int64_t retry_min_ms;
    /* Lines of the top-level settings, for messages about them later. */
    int post_line;
    int secret_key_line;
    int listen_line;
    int client_line;
    int store_line;
} vj_config;

/* A list of problems for a person, each "FILE:LINE: SETTING: message". */
typedef struct {
    char **items;
    size_t n;
} vj_problems;

/* Appends one formatted problem.  Out of memory, the problem is dropped:
 * callers decide success by the return code of the checking function, never
 * by n. */
void vj_problems_add(vj_problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees the items and leaves an empty list; NULL is fine. */
void vj_problems_clear(vj_problems *p);

/* Loads and validates the file.  VJ_OK with *out owned by the caller, or
 * VJ_E_CONFIG (or VJ_E_IO if unreadable) with every problem in *problems. */
int vj_config_load(const char *path, vj_config **out, vj_problems *problems) VJ_MUST_CHECK;

/* The same from text in memory (for tests and the fuzzer); path is used for
 * messages and for resolving relative paths.  text need not be
 * NUL-terminated; a NUL inside len is refused. */
int vj_config_parse(const char *text, size_t len, const char *path, vj_config **out,
                    vj_problems *problems) VJ_MUST_CHECK;

/* The checks of `valijad -n` beyond syntax: the secret key file loads (mode
 * 0600 or stricter, not damaged, via vj_identity_load) and names the
 * configured post; each peer card loads and verifies (vj_card_load) and names
 * its peer; no two peers (nor a peer and this post) share a key; the store's
 * directory exists or can be created.  Creates nothing.  Adds every problem
 * found; VJ_OK if there was none, else VJ_E_CONFIG.  vj_keys_init() must have
 * been called. */
int vj_config_check_keys(const vj_config *cfg, vj_problems *problems) VJ_MUST_CHECK;

/* Frees everything; NULL or *cfg == NULL is fine; sets *cfg to NULL. */
void vj_config_destroy(vj_config **cfg);

#endif
