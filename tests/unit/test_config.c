/* test_config.c - the daemon configuration: what an operator writes, what the
 * daemon gets, and that every mistake is named with file, line and setting.
 *
 * Parsing tests use vj_config_parse() with a fixed absolute path, so nothing
 * touches the disk; loading and key checks work in a mkdtemp directory that
 * the teardown removes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vj_card.h"
#include "vj_config.h"
#include "vj_identity.h"

#define CONF "/srv/valija/valijad.conf"

/* The example of DESIGN.md, one setting per line. */
static const char *const s_example[] = {
    "post = \"mx-washington\";",
    "secret_key = \"keys/mx-washington.key\";",
    "listen = \"tcp://127.0.0.1:7401\";              # peer endpoint (CURVE)",
    "client = \"ipc://run/valijad.sock\";            # local client endpoint",
    "store = \"data/mx-washington.db\";",
    "peers = (",
    "  { name = \"sv-washington\"; endpoint = \"tcp://127.0.0.1:7402\"; card = "
    "\"peers/sv-washington.card\"; }",
    ");",
    "limits = { max_message_bytes = 1048576; retry_max_seconds = 300; };",
    NULL,
};

/* The example with lines first..last (1-based) replaced by `with` (which may
 * hold several lines, or be "" to empty them), then blank lines so that the
 * lines after keep their numbers.  Caller frees. */
static char *s_example_range(int first, int last, const char *with)
{
    size_t cap = 4096 + (with ? strlen(with) : 0);
    char *t = malloc(cap);
    size_t o = 0;

    assert_non_null(t);
    t[0] = '\0';
    for (int i = 0; s_example[i]; i++) {
        int n;
        if (i + 1 == first)
            n = snprintf(t + o, cap - o, "%s\n", with);
        else if (i + 1 > first && i + 1 <= last)
            n = snprintf(t + o, cap - o, "\n");
        else
            n = snprintf(t + o, cap - o, "%s\n", s_example[i]);
        assert_true(n > 0 && (size_t)n < cap - o);
        o += (size_t)n;
    }
    return t;
}

/* The example with line `line` replaced (line 0: the example as is). */
static char *s_example_with(int line, const char *with)
{
    return s_example_range(line, line, with);
}

/* Parses text as CONF; returns the error code, *cfg only on VJ_OK. */
static int s_parse(const char *text, vj_config **cfg, vj_problems *p)
{
    return vj_config_parse(text, strlen(text), CONF, cfg, p);
}

/* True if one problem starts with "CONF:line: setting: " and contains needle. */
static int s_has(const vj_problems *p, int line, const char *setting, const char *needle)
{
    char prefix[256];

    if (setting)
        snprintf(prefix, sizeof prefix, "%s:%d: %s: ", CONF, line, setting);
    else
        snprintf(prefix, sizeof prefix, "%s:%d: ", CONF, line);
    for (size_t i = 0; i < p->n; i++)
        if (strncmp(p->items[i], prefix, strlen(prefix)) == 0 &&
            (!needle || strstr(p->items[i], needle)))
            return 1;
    return 0;
}

static void s_print(const vj_problems *p)
{
    for (size_t i = 0; i < p->n; i++)
        print_message("  problem: %s\n", p->items[i]);
}

/* Expects that the example, with line replaced, fails with one problem
 * (at least) at line `at` naming setting and holding needle. */
static void s_refused_range(int first, int last, const char *with, int at, const char *setting,
                            const char *needle)
{
    char *text = s_example_range(first, last, with);
    vj_config *cfg = NULL;
    vj_problems p = {0};

    int rc = s_parse(text, &cfg, &p);
    if (rc != VJ_E_CONFIG || !s_has(&p, at, setting, needle)) {
        print_message("for: %s\n", with);
        s_print(&p);
    }
    assert_int_equal(rc, VJ_E_CONFIG);
    assert_null(cfg);
    assert_true(p.n >= 1);
    assert_true(s_has(&p, at, setting, needle));
    vj_problems_clear(&p);
    free(text);
}

static void s_refused(int line, const char *with, int at, const char *setting, const char *needle)
{
    s_refused_range(line, line, with, at, setting, needle);
}

/* Expects that the example, with line replaced, is accepted. */
static vj_config *s_accepted(int line, const char *with)
{
    char *text = s_example_with(line, with);
    vj_config *cfg = NULL;
    vj_problems p = {0};

    int rc = s_parse(text, &cfg, &p);
    if (rc != VJ_OK) {
        print_message("for: %s\n", with);
        s_print(&p);
    }
    assert_int_equal(rc, VJ_OK);
    assert_non_null(cfg);
    assert_int_equal(p.n, 0);
    free(text);
    return cfg;
}

/* ------------------------------------------------------------- accepted */

static void test_example_parses_with_resolved_paths(void **state)
{
    vj_config *cfg = s_accepted(0, NULL);

    assert_string_equal(cfg->path, CONF);
    assert_string_equal(cfg->dir, "/srv/valija");
    assert_string_equal(cfg->post, "mx-washington");
    assert_string_equal(cfg->secret_key_path, "/srv/valija/keys/mx-washington.key");
    assert_string_equal(cfg->listen, "tcp://127.0.0.1:7401");
    assert_string_equal(cfg->client, "ipc:///srv/valija/run/valijad.sock");
    assert_string_equal(cfg->client_path, "/srv/valija/run/valijad.sock");
    assert_string_equal(cfg->store_path, "/srv/valija/data/mx-washington.db");
    assert_int_equal(cfg->n_peers, 1);
    assert_string_equal(cfg->peers[0].name, "sv-washington");
    assert_string_equal(cfg->peers[0].endpoint, "tcp://127.0.0.1:7402");
    assert_string_equal(cfg->peers[0].card_path, "/srv/valija/peers/sv-washington.card");
    assert_int_equal(cfg->peers[0].line, 7);
    assert_int_equal(cfg->max_message_bytes, 1048576);
    assert_int_equal(cfg->retry_max_ms, 300000);
    assert_int_equal(cfg->retry_min_ms, 200);
    assert_int_equal(cfg->post_line, 1);
    assert_int_equal(cfg->secret_key_line, 2);
    assert_int_equal(cfg->store_line, 5);
    vj_config_destroy(&cfg);
    assert_null(cfg);
    vj_config_destroy(&cfg);
    vj_config_destroy(NULL);
}

static void test_defaults_apply_without_limits_and_peers(void **state)
{
    const char *text = "post = \"mx-washington\";\n"
                       "secret_key = \"/etc/valija//./k.key\";\n"
                       "listen = \"tcp://*:7401\";\n"
                       "client = \"ipc:///run/valija/valijad.sock\";\n"
                       "store = \"./data/../db/mx.db\";\n";
    vj_config *cfg = NULL;
    vj_problems p = {0};

    assert_int_equal(s_parse(text, &cfg, &p), VJ_OK);
    assert_int_equal(cfg->n_peers, 0);
    assert_null(cfg->peers);
    assert_int_equal(cfg->max_message_bytes, VJ_CONFIG_MAX_MESSAGE_BYTES_DEFAULT);
    assert_int_equal(cfg->retry_max_ms, VJ_CONFIG_RETRY_MAX_SECONDS_DEFAULT * 1000);
    assert_int_equal(cfg->retry_min_ms, VJ_CONFIG_RETRY_MIN_MS_DEFAULT);
    /* absolute paths stay, tidied; ".." is kept, not resolved */
    assert_string_equal(cfg->secret_key_path, "/etc/valija/k.key");
    assert_string_equal(cfg->client_path, "/run/valija/valijad.sock");
    assert_string_equal(cfg->store_path, "/srv/valija/data/../db/mx.db");
    vj_config_destroy(&cfg);
}

static void test_empty_peers_and_partial_limits(void **state)
{
    vj_config *cfg = s_accepted(7, "");
    assert_int_equal(cfg->n_peers, 0);
    vj_config_destroy(&cfg);

    cfg = s_accepted(9, "limits = { retry_min_ms = 500; max_message_bytes = 4096L; };");
    assert_int_equal(cfg->max_message_bytes, 4096);
    assert_int_equal(cfg->retry_min_ms, 500);
    assert_int_equal(cfg->retry_max_ms, 300000);
    vj_config_destroy(&cfg);

    cfg = s_accepted(9, "limits = { max_message_bytes = 67108864; retry_max_seconds = 86400; "
                        "retry_min_ms = 10; };");
    assert_int_equal(cfg->max_message_bytes, 67108864);
    assert_int_equal(cfg->retry_max_ms, 86400000);
    assert_int_equal(cfg->retry_min_ms, 10);
    vj_config_destroy(&cfg);
}

static void test_endpoint_forms_accepted(void **state)
{
    vj_config *cfg = s_accepted(
        7, "{ name = \"sv-washington\"; endpoint = \"tcp://[::1]:7402\"; card = \"c\"; },"
           "{ name = \"gt-houston\"; endpoint = \"tcp://gt.example.org:65535\"; card = \"/c2\"; },"
           "{ name = \"hn-miami\"; endpoint = \"tcp://10.0.0.1:1\"; card = \"c3\"; }");
    assert_int_equal(cfg->n_peers, 3);
    assert_string_equal(cfg->peers[0].endpoint, "tcp://[::1]:7402");
    assert_string_equal(cfg->peers[1].card_path, "/c2");
    assert_string_equal(cfg->peers[2].name, "hn-miami");
    vj_config_destroy(&cfg);

    cfg = s_accepted(3, "listen = \"tcp://[::]:7401\";");
    vj_config_destroy(&cfg);
}

static void test_relative_config_path_resolves_against_cwd(void **state)
{
    char *cwd = getcwd(NULL, 0);
    char want[4096];
    vj_config *cfg = NULL;
    vj_problems p = {0};
    char *text = s_example_with(0, NULL);

    assert_non_null(cwd);
    assert_int_equal(vj_config_parse(text, strlen(text), "conf/./valijad.conf", &cfg, &p), VJ_OK);
    snprintf(want, sizeof want, "%s/conf", strcmp(cwd, "/") == 0 ? "" : cwd);
    assert_string_equal(cfg->dir, want);
    assert_string_equal(cfg->path, "conf/./valijad.conf");
    vj_config_destroy(&cfg);
    free(text);
    free(cwd);
}

static void test_ipc_path_of_107_bytes_accepted(void **state)
{
    /* "/srv/valija/" is 12 bytes: 95 more make 107 */
    char line[256];
    char name[96];
    memset(name, 's', 95);
    name[95] = '\0';
    snprintf(line, sizeof line, "client = \"ipc://%s\";", name);
    vj_config *cfg = s_accepted(4, line);
    assert_int_equal(strlen(cfg->client_path), 107);
    vj_config_destroy(&cfg);
}

/* ---------------------------------------------------------- syntax, file */

static void test_syntax_error_names_line(void **state)
{
    s_refused(3, "listen = ;", 3, NULL, "syntax error");
    s_refused(7, "  { name = = \"sv-washington\"; }", 7, NULL, "syntax error");
    s_refused(9, "limits = { max_message_bytes = 1048576 retry_max_seconds = ; };", 9, NULL,
              "syntax error");
    s_refused(5, "store = \"data/mx.db\";\nstore = \"other.db\";", 6, NULL,
              "duplicate setting name");
}

static void test_include_refused(void **state)
{
    s_refused(2, "@include \"/etc/passwd\"", 2, "@include", "not allowed");
    s_refused(2, "@include \"other.conf\"", 2, "@include", "not allowed");
    s_refused(2, "@include \"../../../etc/valija/keys.conf\"", 2, "@include", "not allowed");
    s_refused(9, "   \t @include \"limits.conf\"", 9, "@include", "not allowed");
}

static void test_include_refused_and_rest_still_checked(void **state)
{
    char *text = s_example_with(2, "@include \"secret.conf\"\nbogus = 1;");
    vj_config *cfg = NULL;
    vj_problems p = {0};

    assert_int_equal(s_parse(text, &cfg, &p), VJ_E_CONFIG);
    assert_true(s_has(&p, 2, "@include", NULL));
    assert_true(s_has(&p, 3, "bogus", "unknown setting"));
    /* the include was not followed: secret_key, which it would have held, is missing */
    assert_true(s_has(&p, 10, "secret_key", "missing"));
    assert_int_equal(p.n, 3);
    vj_problems_clear(&p);
    free(text);
}

static void test_nul_byte_refused(void **state)
{
    char *text = s_example_with(0, NULL);
    size_t len = strlen(text);
    vj_config *cfg = NULL;
    vj_problems p = {0};

    /* a NUL in the middle of line 3 */
    char *nl = strchr(strchr(strchr(text, '\n') + 1, '\n') + 1, '\n');
    nl[-3] = '\0';
    assert_int_equal(vj_config_parse(text, len, CONF, &cfg, &p), VJ_E_CONFIG);
    assert_null(cfg);
    assert_int_equal(p.n, 1);
    assert_true(s_has(&p, 3, NULL, "NUL byte"));
    vj_problems_clear(&p);
    free(text);

    s_refused(1, "post = \"mx-wash\\x00ington\";", 1, NULL, "\\x00");
}

static void test_control_characters_in_values_refused(void **state)
{
    s_refused(5, "store = \"data/\\x1b[31mx.db\";", 5, "store", "control characters");
    s_refused(2, "secret_key = \"\";", 2, "secret_key", "empty");
}

static void test_too_large_text_refused(void **state)
{
    size_t len = VJ_CONFIG_MAX_BYTES + 1;
    char *text = malloc(len);
    vj_config *cfg = NULL;
    vj_problems p = {0};

    assert_non_null(text);
    memset(text, '#', len);
    assert_int_equal(vj_config_parse(text, len, CONF, &cfg, &p), VJ_E_CONFIG);
    assert_null(cfg);
    assert_int_equal(p.n, 1);
    assert_non_null(strstr(p.items[0], CONF ": "));
    assert_non_null(strstr(p.items[0], "at most 1048576 bytes"));
    vj_problems_clear(&p);
    free(text);
}

static void test_too_many_lines_refused(void **state)
{
    size_t len = VJ_CONFIG_MAX_LINES + 1;
    char *text = malloc(len + 1);
    vj_config *cfg = NULL;
    vj_problems p = {0};

    memset(text, '\n', len);
    text[len] = '\0';
    text[len - 1] = 'x'; /* 65536 lines, the last without newline */
    assert_int_equal(vj_config_parse(text, len, CONF, &cfg, &p), VJ_E_CONFIG);
    assert_int_equal(p.n, 1);
    assert_non_null(strstr(p.items[0], "at most 65535"));
    vj_problems_clear(&p);
    free(text);
}

static void test_too_many_names_refused(void **state)
{
    /* too many settings, 20 to a line: refused before libconfig spends minutes on them */
    size_t cap = (VJ_CONFIG_MAX_NAMES + 1) * 16;
    char *text = malloc(cap);
    size_t o = 0;
    vj_config *cfg = NULL;
    vj_problems p = {0};

    assert_non_null(text);
    text[0] = '\0';
    for (int i = 0; i <= VJ_CONFIG_MAX_NAMES; i++)
        o += (size_t)snprintf(text + o, cap - o, "a%d=1;%s", i, i % 20 == 19 ? "\n" : "");
    assert_int_equal(s_parse(text, &cfg, &p), VJ_E_CONFIG);
    assert_int_equal(p.n, 1);
    assert_non_null(strstr(p.items[0], "more than 4160 setting names"));
    vj_problems_clear(&p);
    free(text);
}

static void test_long_names_refused(void **state)
{
    char line[200];
    char name[66];
    memset(name, 'n', 65);
    name[65] = '\0';
    snprintf(line, sizeof line, "%s = 1;", name);
    s_refused(2, line, 2, NULL, "65 characters long; expected at most 64");
}

static void test_bad_arguments(void **state)
{
    vj_config *cfg = NULL;
    vj_problems p = {0};

    assert_int_equal(vj_config_parse("x", 1, NULL, &cfg, &p), VJ_E_INVAL);
    assert_int_equal(vj_config_parse("x", 1, "", &cfg, &p), VJ_E_INVAL);
    assert_int_equal(vj_config_parse("x", 1, CONF, NULL, &p), VJ_E_INVAL);
    assert_int_equal(vj_config_parse("x", 1, CONF, &cfg, NULL), VJ_E_INVAL);
    assert_int_equal(vj_config_parse(NULL, 1, CONF, &cfg, &p), VJ_E_INVAL);
    assert_int_equal(vj_config_load(NULL, &cfg, &p), VJ_E_INVAL);
    assert_int_equal(vj_config_check_keys(NULL, &p), VJ_E_INVAL);
    assert_null(cfg);
    assert_int_equal(p.n, 0);
}

/* ---------------------------------------------------------- the settings */

static void test_unknown_settings_refused(void **state)
{
    s_refused(5, "store = \"data/mx.db\"; stroe = \"x\";", 5, "stroe", "unknown setting");
    s_refused(7,
              "  { name = \"sv-washington\"; endpoint = \"tcp://127.0.0.1:7402\"; card = \"c\"; "
              "key = \"k\"; }",
              7, "peers.[0].key", "unknown setting");
    s_refused(9, "limits = { max_message_bytes = 1048576; retry_max_secs = 300; };", 9,
              "limits.retry_max_secs", "unknown setting");
}

static void test_wrong_types_refused(void **state)
{
    s_refused(9, "limits = { max_message_bytes = \"1048576\"; };", 9, "limits.max_message_bytes",
              "is a string; expected an integer");
    s_refused(9, "limits = { retry_max_seconds = 1.5; };", 9, "limits.retry_max_seconds",
              "floating-point");
    s_refused(9, "limits = { retry_min_ms = true; };", 9, "limits.retry_min_ms", "boolean");
    s_refused(1, "post = 5;", 1, "post", "is an integer; expected a string");
    s_refused(3, "listen = [\"tcp://127.0.0.1:7401\"];", 3, "listen", "is an array");
    s_refused(7, "  \"sv-washington\", 5", 7, "peers.[0]", "is a string; expected a group");
    s_refused(7, "  \"sv-washington\", 5", 7, "peers.[1]", "is an integer; expected a group");
    s_refused_range(6, 8, "peers = { name = \"sv-washington\"; };", 6, "peers", "is a group");
    s_refused(9, "limits = 5;", 9, "limits", "is an integer; expected a group");
    s_refused(7, "  { name = \"sv-washington\"; endpoint = 7402; card = \"c\"; }", 7,
              "peers.[0].endpoint", "is an integer");
}

static void test_missing_required_all_reported(void **state)
{
    vj_config *cfg = NULL;
    vj_problems p = {0};
    const char *text = "# nothing here yet\n\nlimits = { };\n";

    assert_int_equal(s_parse(text, &cfg, &p), VJ_E_CONFIG);
    assert_null(cfg);
    assert_int_equal(p.n, 5);
    assert_true(s_has(&p, 3, "post", "missing"));
    assert_true(s_has(&p, 3, "secret_key", "missing"));
    assert_true(s_has(&p, 3, "listen", "missing"));
    assert_true(s_has(&p, 3, "client", "missing"));
    assert_true(s_has(&p, 3, "store", "missing"));
    vj_problems_clear(&p);
    assert_int_equal(p.n, 0);
    assert_null(p.items);

    /* a peer without any of its three settings: three problems at its line */
    char *t2 = s_example_with(7, "  { }");
    assert_int_equal(s_parse(t2, &cfg, &p), VJ_E_CONFIG);
    assert_int_equal(p.n, 3);
    assert_true(s_has(&p, 7, "peers.[0].name", "missing"));
    assert_true(s_has(&p, 7, "peers.[0].endpoint", "missing"));
    assert_true(s_has(&p, 7, "peers.[0].card", "missing"));
    vj_problems_clear(&p);
    free(t2);

    /* an empty text */
    assert_int_equal(vj_config_parse("", 0, CONF, &cfg, &p), VJ_E_CONFIG);
    assert_int_equal(p.n, 5);
    vj_problems_clear(&p);
}

static void test_every_problem_reported_at_once(void **state)
{
    const char *text = "post = \"MX\";\n"                                    /* 1 */
                       "secret_key = 7;\n"                                   /* 2 */
                       "listen = \"tcp://127.0.0.1\";\n"                     /* 3 */
                       "client = \"ipc://@valijad\";\n"                      /* 4 */
                       "store = \"db\";\n"                                   /* 5 */
                       "limits = { max_message_bytes = 10; extra = 1; };\n"; /* 6 */
    vj_config *cfg = NULL;
    vj_problems p = {0};

    assert_int_equal(s_parse(text, &cfg, &p), VJ_E_CONFIG);
    assert_int_equal(p.n, 6);
    assert_true(s_has(&p, 1, "post", "not a valid post name"));
    assert_true(s_has(&p, 2, "secret_key", "is an integer"));
    assert_true(s_has(&p, 3, "listen", "has no port"));
    assert_true(s_has(&p, 4, "client", "abstract"));
    assert_true(s_has(&p, 6, "limits.extra", "unknown"));
    assert_true(s_has(&p, 6, "limits.max_message_bytes", "out of range"));
    /* in the order of the file, whatever order the checks ran in */
    long last = 0;
    for (size_t i = 0; i < p.n; i++) {
        long line = strtol(p.items[i] + strlen(CONF) + 1, NULL, 10);
        assert_true(line >= last);
        last = line;
    }
    vj_problems_clear(&p);
}

static void test_invalid_post_names_refused(void **state)
{
    char line[200];

    s_refused(1, "post = \"MX-washington\";", 1, "post", "not a valid post name");
    s_refused(1, "post = \"-mx\";", 1, "post", "not a valid post name");
    s_refused(1, "post = \"mx_washington\";", 1, "post", "expected 1..64 characters");
    snprintf(line, sizeof line, "post = \"%065d\";", 0);
    s_refused(1, line, 1, "post", "not a valid post name");
    s_refused(7,
              "  { name = \"sv washington\"; endpoint = \"tcp://127.0.0.1:7402\"; card = \"c\"; }",
              7, "peers.[0].name", "not a valid post name");
}

static void test_duplicate_peer_names_refused(void **state)
{
    s_refused(
        7,
        "  { name = \"sv-washington\"; endpoint = \"tcp://127.0.0.1:7402\"; card = \"a\"; },\n"
        "  { name = \"sv-washington\"; endpoint = \"tcp://127.0.0.1:7403\"; card = \"b\"; }",
        8, "peers.[1].name", "also the name of peers.[0] (line 7)");
}

static void test_peer_named_like_self_refused(void **state)
{
    s_refused(7,
              "  { name = \"mx-washington\"; endpoint = \"tcp://127.0.0.1:7402\"; card = \"a\"; }",
              7, "peers.[0].name", "the name of this post");
}

static void test_duplicate_endpoints_refused(void **state)
{
    s_refused(
        7,
        "  { name = \"sv-washington\"; endpoint = \"tcp://127.0.0.1:7402\"; card = \"a\"; },\n"
        "  { name = \"gt-washington\"; endpoint = \"tcp://127.0.0.1:7402\"; card = \"b\"; }",
        8, "peers.[1].endpoint", "also the endpoint of peers.[0]");
    s_refused(7,
              "  { name = \"sv-washington\"; endpoint = \"tcp://127.0.0.1:7401\"; card = \"a\"; }",
              7, "peers.[0].endpoint", "own listen endpoint");
}

static void s_bad_peer_endpoint(const char *ep, const char *needle)
{
    char line[512];
    snprintf(line, sizeof line, "  { name = \"sv-washington\"; endpoint = \"%s\"; card = \"a\"; }",
             ep);
    s_refused(7, line, 7, "peers.[0].endpoint", needle);
    s_refused(7, line, 7, "peers.[0].endpoint", "expected tcp://HOST:PORT");
}

static void test_bad_endpoints_refused(void **state)
{
    s_bad_peer_endpoint("tcp://127.0.0.1", "\"tcp://127.0.0.1\" has no port");
    s_bad_peer_endpoint("tcp://127.0.0.1:", "has no port");
    s_bad_peer_endpoint("tcp://127.0.0.1:0", "has port 0, out of range");
    s_bad_peer_endpoint("tcp://127.0.0.1:70000", "has port 70000, out of range");
    s_bad_peer_endpoint("tcp://127.0.0.1:99999999999999999999", "out of range");
    s_bad_peer_endpoint("tcp://127.0.0.1:-1", "not a number");
    s_bad_peer_endpoint("tcp://127.0.0.1:*", "not a number");
    s_bad_peer_endpoint("udp://127.0.0.1:7402", "is not a tcp:// endpoint");
    s_bad_peer_endpoint("127.0.0.1:7402", "does not start with tcp://");
    s_bad_peer_endpoint("tcp://:7402", "has no host");
    s_bad_peer_endpoint("tcp://*:7402", "only listen may use");
    s_bad_peer_endpoint("tcp://300.1.2.3:7402", "invalid IPv4");
    s_bad_peer_endpoint("tcp://::1:7402", "without [ ]");
    s_bad_peer_endpoint("tcp://[::g]:7402", "invalid IPv6");
    s_bad_peer_endpoint("tcp://[::1]7402", "has no port");
    s_bad_peer_endpoint("tcp://[::1:7402", "unclosed");
    s_bad_peer_endpoint("tcp://eth0;127.0.0.1:7402", "characters other than");
    s_bad_peer_endpoint("tcp://host_name:7402", "characters other than");
    s_refused(3, "listen = \"tcp://127.0.0.1:0\";", 3, "listen", "out of range");
    s_refused(3, "listen = \"ipc://x\";", 3, "listen", "is not a tcp:// endpoint");
}

static void test_client_endpoint_refused(void **state)
{
    char line[256];
    char name[97];
    memset(name, 's', 96);
    name[96] = '\0';
    snprintf(line, sizeof line, "client = \"ipc://%s\";", name);
    s_refused(4, line, 4, "client", "108 bytes; expected a path of at most 107 bytes");
    s_refused(4, "client = \"ipc://@valijad\";", 4, "client", "abstract socket");
    s_refused(4, "client = \"tcp://127.0.0.1:7400\";", 4, "client", "is not an ipc:// endpoint");
    s_refused(4, "client = \"run/valijad.sock\";", 4, "client", "is not an ipc:// endpoint");
    s_refused(4, "client = \"ipc://\";", 4, "client", "has no path");
    s_refused(4, "client = \"ipc://*\";", 4, "client", "wildcard");
}

static void test_limits_out_of_range_refused(void **state)
{
    s_refused(9, "limits = { max_message_bytes = 4095; };", 9, "limits.max_message_bytes",
              "4095 is out of range; expected an integer from 4096 to 67108864");
    s_refused(9, "limits = { max_message_bytes = 67108865; };", 9, "limits.max_message_bytes",
              "out of range");
    s_refused(9, "limits = { max_message_bytes = -1; };", 9, "limits.max_message_bytes",
              "out of range");
    s_refused(9, "limits = { max_message_bytes = 9000000000L; };", 9, "limits.max_message_bytes",
              "out of range");
    s_refused(9, "limits = { retry_max_seconds = 0; };", 9, "limits.retry_max_seconds",
              "from 1 to 86400");
    s_refused(9, "limits = { retry_max_seconds = 86401; };", 9, "limits.retry_max_seconds",
              "out of range");
    s_refused(9, "limits = { retry_min_ms = 9; };", 9, "limits.retry_min_ms", "from 10 to 60000");
    s_refused(9, "limits = { retry_min_ms = 60001; };", 9, "limits.retry_min_ms", "out of range");
    s_refused(9, "limits = { retry_max_seconds = 1; retry_min_ms = 2000; };", 9,
              "limits.retry_min_ms", "longer than retry_max_seconds");
}

static void test_wrapping_integer_literals_refused(void **state)
{
    /* libconfig 1.5 would read these as 4096 and 1048576: both in range */
    s_refused(9, "limits = { max_message_bytes = 4294971392; };", 9, "max_message_bytes", "32-bit");
    s_refused(9, "limits = { max_message_bytes = 0x100100000; };", 9, "max_message_bytes",
              "32-bit");
    s_refused(9, "limits = { retry_min_ms = 0xFFFFFFFF; };", 9, "retry_min_ms", "32-bit");
    s_refused(9, "limits = { max_message_bytes = 99999999999999999999L; };", 9, "max_message_bytes",
              "64-bit");
}

static void test_bad_peers_list_refused(void **state)
{
    size_t cap = (VJ_CONFIG_MAX_PEERS + 1) * 3 + 512;
    char *text = malloc(cap);
    size_t o = 0;
    vj_config *cfg = NULL;
    vj_problems p = {0};

    assert_non_null(text);
    o += (size_t)snprintf(
        text + o, cap - o,
        "post = \"mx-washington\"; secret_key = \"k\"; listen = \"tcp://127.0.0.1:1\";\n"
        "client = \"ipc://s\"; store = \"db\";\npeers = (");
    for (int i = 0; i <= VJ_CONFIG_MAX_PEERS; i++)
        o += (size_t)snprintf(text + o, cap - o, "%s{}", i ? "," : "");
    snprintf(text + o, cap - o, ");\n");
    assert_int_equal(s_parse(text, &cfg, &p), VJ_E_CONFIG);
    assert_int_equal(p.n, 1);
    assert_true(s_has(&p, 3, "peers", "has 1025 peers; expected at most 1024"));
    vj_problems_clear(&p);
    free(text);

    s_refused_range(6, 8, "peers = [ \"a\" ];", 6, "peers", "is an array");
    s_refused_range(6, 8, "peers = \"sv-washington\";", 6, "peers", "is a string; expected a list");
}

static void test_problems_are_capped(void **state)
{
    size_t cap = 64 * 1024;
    char *text = malloc(cap);
    size_t o = 0;
    vj_config *cfg = NULL;
    vj_problems p = {0};

    for (int i = 0; i < 1000; i++)
        o += (size_t)snprintf(text + o, cap - o, "x%d = 1;\n", i);
    assert_int_equal(s_parse(text, &cfg, &p), VJ_E_CONFIG);
    assert_int_equal(p.n, VJ_CONFIG_MAX_PROBLEMS + 1);
    assert_true(s_has(&p, 1, "x0", "unknown setting"));
    assert_non_null(strstr(p.items[p.n - 1], "too many problems"));
    vj_problems_clear(&p);
    free(text);
}

static void test_values_quoted_safely_in_messages(void **state)
{
    char *text = s_example_with(3, "listen = \"tcp://\\x1b]0;pwned\\x07:1\";");
    vj_config *cfg = NULL;
    vj_problems p = {0};

    assert_int_equal(s_parse(text, &cfg, &p), VJ_E_CONFIG);
    for (size_t i = 0; i < p.n; i++)
        for (const char *c = p.items[i]; *c; c++)
            assert_true((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f);
    vj_problems_clear(&p);
    free(text);
}

static void test_problems_list(void **state)
{
    vj_problems p = {0};

    vj_problems_add(&p, "%s:%d: %s", "a.conf", 3, "x");
    vj_problems_add(&p, "second");
    assert_int_equal(p.n, 2);
    assert_string_equal(p.items[0], "a.conf:3: x");
    assert_string_equal(p.items[1], "second");
    vj_problems_clear(&p);
    assert_int_equal(p.n, 0);
    vj_problems_clear(&p);
    vj_problems_clear(NULL);
    vj_problems_add(NULL, "ignored");
}

/* ------------------------------------------------------- files on disk */

typedef struct {
    char dir[256];
} s_tmp;

static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int s_setup(void **state)
{
    s_tmp *t = calloc(1, sizeof *t);
    const char *base = getenv("TMPDIR");

    if (!t)
        return -1;
    snprintf(t->dir, sizeof t->dir, "%s/vjcfg-XXXXXX",
             base && *base && strlen(base) < 64 ? base : "/tmp");
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int s_teardown(void **state)
{
    s_tmp *t = *state;
    int rc = nftw(t->dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    free(t);
    return rc;
}

static void s_write(const char *dir, const char *name, const char *text, size_t len, mode_t mode)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static void test_load_resolves_against_file_dir(void **state)
{
    s_tmp *t = *state;
    char *text = s_example_with(0, NULL);
    char path[512], want[600];
    vj_config *cfg = NULL;
    vj_problems p = {0};

    s_write(t->dir, "valijad.conf", text, strlen(text), 0644);
    snprintf(path, sizeof path, "%s/valijad.conf", t->dir);
    assert_int_equal(vj_config_load(path, &cfg, &p), VJ_OK);
    assert_int_equal(p.n, 0);
    assert_string_equal(cfg->dir, t->dir);
    snprintf(want, sizeof want, "%s/keys/mx-washington.key", t->dir);
    assert_string_equal(cfg->secret_key_path, want);
    snprintf(want, sizeof want, "ipc://%s/run/valijad.sock", t->dir);
    assert_string_equal(cfg->client, want);
    vj_config_destroy(&cfg);
    free(text);
}

static void test_load_unreadable_is_io(void **state)
{
    s_tmp *t = *state;
    char path[512];
    vj_config *cfg = NULL;
    vj_problems p = {0};

    snprintf(path, sizeof path, "%s/absent.conf", t->dir);
    assert_int_equal(vj_config_load(path, &cfg, &p), VJ_E_IO);
    assert_null(cfg);
    assert_int_equal(p.n, 1);
    assert_non_null(strstr(p.items[0], path));
    assert_non_null(strstr(p.items[0], "cannot open"));
    vj_problems_clear(&p);

    /* a directory is not a configuration file */
    assert_int_equal(vj_config_load(t->dir, &cfg, &p), VJ_E_IO);
    assert_int_equal(p.n, 1);
    assert_non_null(strstr(p.items[0], "not a regular file"));
    vj_problems_clear(&p);
}

static void test_load_refuses_big_and_nul_files(void **state)
{
    s_tmp *t = *state;
    char path[512];
    vj_config *cfg = NULL;
    vj_problems p = {0};
    size_t len = VJ_CONFIG_MAX_BYTES + 10;
    char *big = malloc(len);

    memset(big, '\n', len);
    s_write(t->dir, "big.conf", big, len, 0644);
    snprintf(path, sizeof path, "%s/big.conf", t->dir);
    assert_int_equal(vj_config_load(path, &cfg, &p), VJ_E_CONFIG);
    assert_int_equal(p.n, 1);
    assert_non_null(strstr(p.items[0], path));
    assert_non_null(strstr(p.items[0], "at most 1048576 bytes"));
    vj_problems_clear(&p);
    free(big);

    s_write(t->dir, "nul.conf", "post = \"a\";\n\0x", 14, 0644);
    snprintf(path, sizeof path, "%s/nul.conf", t->dir);
    assert_int_equal(vj_config_load(path, &cfg, &p), VJ_E_CONFIG);
    assert_int_equal(p.n, 1);
    char want[600];
    snprintf(want, sizeof want, "%s:2: ", path);
    assert_memory_equal(p.items[0], want, strlen(want));
    assert_non_null(strstr(p.items[0], "NUL byte"));
    vj_problems_clear(&p);
}

/* ------------------------------------------------------ keys and cards */

/* A post directory: keys/mx-washington.key, peers/sv-washington.card,
 * valijad.conf.  Returns the loaded configuration. */
static vj_config *s_post(const s_tmp *t, const char *peers_block)
{
    char path[512];
    vj_identity *me = NULL, *sv = NULL;
    vj_card card;
    char *text = NULL;
    vj_diag diag;
    vj_config *cfg = NULL;
    vj_problems p = {0};

    snprintf(path, sizeof path, "%s/keys", t->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/peers", t->dir);
    assert_int_equal(mkdir(path, 0755), 0);

    assert_int_equal(vj_identity_generate("mx-washington", &me), VJ_OK);
    snprintf(path, sizeof path, "%s/keys/mx-washington.key", t->dir);
    assert_int_equal(vj_identity_save(me, path, 0, &diag), VJ_OK);
    assert_int_equal(vj_identity_generate("sv-washington", &sv), VJ_OK);
    assert_int_equal(vj_card_from_identity(sv, &card), VJ_OK);
    assert_int_equal(vj_card_format(&card, &text), VJ_OK);
    s_write(t->dir, "peers/sv-washington.card", text, strlen(text), 0644);
    free(text);
    vj_identity_destroy(&me);
    vj_identity_destroy(&sv);

    text = s_example_with(peers_block ? 7 : 0, peers_block);
    s_write(t->dir, "valijad.conf", text, strlen(text), 0644);
    free(text);
    snprintf(path, sizeof path, "%s/valijad.conf", t->dir);
    assert_int_equal(vj_config_load(path, &cfg, &p), VJ_OK);
    return cfg;
}

/* Writes the card of a new identity named post at dir/name. */
static void s_card_file(const s_tmp *t, const char *name, const char *post)
{
    vj_identity *id = NULL;
    vj_card card;
    char *text = NULL;

    assert_int_equal(vj_identity_generate(post, &id), VJ_OK);
    assert_int_equal(vj_card_from_identity(id, &card), VJ_OK);
    assert_int_equal(vj_card_format(&card, &text), VJ_OK);
    s_write(t->dir, name, text, strlen(text), 0644);
    free(text);
    vj_identity_destroy(&id);
}

/* check_keys fails with one problem at line naming setting, holding needle. */
static void s_check_refused(const vj_config *cfg, int line, const char *setting, const char *needle)
{
    vj_problems p = {0};
    char prefix[600];

    int rc = vj_config_check_keys(cfg, &p);
    if (rc != VJ_E_CONFIG || p.n != 1)
        s_print(&p);
    assert_int_equal(rc, VJ_E_CONFIG);
    assert_int_equal(p.n, 1);
    snprintf(prefix, sizeof prefix, "%s:%d: %s: ", cfg->path, line, setting);
    if (strncmp(p.items[0], prefix, strlen(prefix)) != 0 || !strstr(p.items[0], needle))
        s_print(&p);
    assert_memory_equal(p.items[0], prefix, strlen(prefix));
    assert_non_null(strstr(p.items[0], needle));
    vj_problems_clear(&p);
}

static void test_check_keys_ok(void **state)
{
    vj_config *cfg = s_post(*state, NULL);
    vj_problems p = {0};

    /* data/ does not exist yet: it can be created, and checking creates nothing */
    assert_int_equal(vj_config_check_keys(cfg, &p), VJ_OK);
    assert_int_equal(p.n, 0);
    char data[600];
    struct stat st;
    snprintf(data, sizeof data, "%s/data", cfg->dir);
    assert_int_equal(stat(data, &st), -1);
    vj_config_destroy(&cfg);
}

static void test_check_keys_loose_key_mode_refused(void **state)
{
    vj_config *cfg = s_post(*state, NULL);

    assert_int_equal(chmod(cfg->secret_key_path, 0644), 0);
    s_check_refused(cfg, 2, "secret_key", "chmod 600");
    assert_int_equal(chmod(cfg->secret_key_path, 0640), 0);
    s_check_refused(cfg, 2, "secret_key", "chmod 600");
    vj_config_destroy(&cfg);
}

static void test_check_keys_key_of_another_post_refused(void **state)
{
    vj_config *cfg = s_post(*state, NULL);
    vj_identity *gt = NULL;
    vj_diag diag;

    assert_int_equal(vj_identity_generate("gt-washington", &gt), VJ_OK);
    assert_int_equal(vj_identity_save(gt, cfg->secret_key_path, 1, &diag), VJ_OK);
    vj_identity_destroy(&gt);
    s_check_refused(cfg, 2, "secret_key", "is the key of post \"gt-washington\"");
    vj_config_destroy(&cfg);
}

static void test_check_keys_damaged_or_missing_key_refused(void **state)
{
    vj_config *cfg = s_post(*state, NULL);

    assert_int_equal(truncate(cfg->secret_key_path, 20), 0);
    s_check_refused(cfg, 2, "secret_key", "cannot be used");
    assert_int_equal(unlink(cfg->secret_key_path), 0);
    s_check_refused(cfg, 2, "secret_key", "cannot be used");
    vj_config_destroy(&cfg);
}

static void test_check_keys_card_missing_refused(void **state)
{
    vj_config *cfg = s_post(*state, NULL);

    assert_int_equal(unlink(cfg->peers[0].card_path), 0);
    s_check_refused(cfg, 7, "peers.[0].card", "cannot be used");
    vj_config_destroy(&cfg);
}

static void test_check_keys_card_of_another_post_refused(void **state)
{
    s_tmp *t = *state;
    vj_config *cfg = s_post(t, NULL);

    s_card_file(t, "peers/sv-washington.card", "gt-washington");
    s_check_refused(cfg, 7, "peers.[0].card", "is the card of post \"gt-washington\"");
    vj_config_destroy(&cfg);
}

static void test_check_keys_tampered_card_refused(void **state)
{
    s_tmp *t = *state;
    vj_config *cfg = s_post(t, NULL);
    vj_card card;
    vj_diag diag;
    char *text = NULL;

    assert_int_equal(vj_card_load(cfg->peers[0].card_path, &card, &diag), VJ_OK);
    card.box_pk[5] ^= 0x01; /* an attacker's encryption key under sv's signature */
    assert_int_equal(vj_card_format(&card, &text), VJ_OK);
    s_write(t->dir, "peers/sv-washington.card", text, strlen(text), 0644);
    free(text);
    s_check_refused(cfg, 7, "peers.[0].card", "cannot be used");
    vj_config_destroy(&cfg);
}

static void test_check_keys_peers_sharing_keys_refused(void **state)
{
    s_tmp *t = *state;
    uint8_t seed[32], box[VJ_BOX_SK_LEN], curve[VJ_CURVE_KEY_LEN];
    vj_identity *a = NULL, *b = NULL;
    vj_card card;
    char *text = NULL;

    vj_config *cfg = s_post(t, "  { name = \"sv-washington\"; endpoint = \"tcp://127.0.0.1:7402\"; "
                               "card = \"peers/sv-washington.card\"; },\n"
                               "  { name = \"gt-washington\"; endpoint = \"tcp://127.0.0.1:7403\"; "
                               "card = \"peers/gt.card\"; }");
    /* the same secrets under two names: two valid cards with the same keys */
    memset(seed, 1, sizeof seed);
    memset(box, 2, sizeof box);
    memset(curve, 3, sizeof curve);
    assert_int_equal(vj_identity_from_secrets("sv-washington", seed, box, curve, &a), VJ_OK);
    assert_int_equal(vj_identity_from_secrets("gt-washington", seed, box, curve, &b), VJ_OK);
    assert_int_equal(vj_card_from_identity(a, &card), VJ_OK);
    assert_int_equal(vj_card_format(&card, &text), VJ_OK);
    s_write(t->dir, "peers/sv-washington.card", text, strlen(text), 0644);
    free(text);
    assert_int_equal(vj_card_from_identity(b, &card), VJ_OK);
    assert_int_equal(vj_card_format(&card, &text), VJ_OK);
    s_write(t->dir, "peers/gt.card", text, strlen(text), 0644);
    free(text);
    vj_identity_destroy(&a);
    vj_identity_destroy(&b);
    s_check_refused(cfg, 8, "peers.[1].card", "same signing key as the card of peers.[0]");
    vj_config_destroy(&cfg);
}

static void test_check_keys_peer_with_own_keys_refused(void **state)
{
    s_tmp *t = *state;
    uint8_t seed[32], box[VJ_BOX_SK_LEN], curve[VJ_CURVE_KEY_LEN];
    vj_identity *me = NULL, *twin = NULL;
    vj_card card;
    char *text = NULL;
    vj_diag diag;
    vj_config *cfg = s_post(t, NULL);

    /* our own keys under the peer's name: a card that verifies, but is us */
    memset(seed, 4, sizeof seed);
    memset(box, 5, sizeof box);
    memset(curve, 6, sizeof curve);
    assert_int_equal(vj_identity_from_secrets("mx-washington", seed, box, curve, &me), VJ_OK);
    assert_int_equal(vj_identity_save(me, cfg->secret_key_path, 1, &diag), VJ_OK);
    assert_int_equal(vj_identity_from_secrets("sv-washington", seed, box, curve, &twin), VJ_OK);
    assert_int_equal(vj_card_from_identity(twin, &card), VJ_OK);
    assert_int_equal(vj_card_format(&card, &text), VJ_OK);
    s_write(t->dir, "peers/sv-washington.card", text, strlen(text), 0644);
    free(text);
    vj_identity_destroy(&me);
    vj_identity_destroy(&twin);
    s_check_refused(cfg, 7, "peers.[0].card", "has this post's own signing key");
    vj_config_destroy(&cfg);
}

static void test_check_keys_store_dir_not_a_directory_refused(void **state)
{
    s_tmp *t = *state;
    vj_config *cfg = s_post(t, NULL);

    s_write(t->dir, "data", "not a dir\n", 10, 0644);
    s_check_refused(cfg, 5, "store", "is not a directory");
    vj_config_destroy(&cfg);
}

static void test_check_keys_reports_all(void **state)
{
    s_tmp *t = *state;
    vj_config *cfg = s_post(t, NULL);
    vj_problems p = {0};

    assert_int_equal(chmod(cfg->secret_key_path, 0604), 0);
    assert_int_equal(unlink(cfg->peers[0].card_path), 0);
    s_write(t->dir, "data", "x", 1, 0644);
    assert_int_equal(vj_config_check_keys(cfg, &p), VJ_E_CONFIG);
    assert_int_equal(p.n, 3);
    vj_problems_clear(&p);
    vj_config_destroy(&cfg);
}

int main(void)
{
    if (vj_keys_init() != VJ_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_parses_with_resolved_paths),
        cmocka_unit_test(test_defaults_apply_without_limits_and_peers),
        cmocka_unit_test(test_empty_peers_and_partial_limits),
        cmocka_unit_test(test_endpoint_forms_accepted),
        cmocka_unit_test(test_relative_config_path_resolves_against_cwd),
        cmocka_unit_test(test_ipc_path_of_107_bytes_accepted),
        cmocka_unit_test(test_syntax_error_names_line),
        cmocka_unit_test(test_include_refused),
        cmocka_unit_test(test_include_refused_and_rest_still_checked),
        cmocka_unit_test(test_nul_byte_refused),
        cmocka_unit_test(test_control_characters_in_values_refused),
        cmocka_unit_test(test_too_large_text_refused),
        cmocka_unit_test(test_too_many_lines_refused),
        cmocka_unit_test(test_too_many_names_refused),
        cmocka_unit_test(test_long_names_refused),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_unknown_settings_refused),
        cmocka_unit_test(test_wrong_types_refused),
        cmocka_unit_test(test_missing_required_all_reported),
        cmocka_unit_test(test_every_problem_reported_at_once),
        cmocka_unit_test(test_invalid_post_names_refused),
        cmocka_unit_test(test_duplicate_peer_names_refused),
        cmocka_unit_test(test_peer_named_like_self_refused),
        cmocka_unit_test(test_duplicate_endpoints_refused),
        cmocka_unit_test(test_bad_endpoints_refused),
        cmocka_unit_test(test_client_endpoint_refused),
        cmocka_unit_test(test_limits_out_of_range_refused),
        cmocka_unit_test(test_wrapping_integer_literals_refused),
        cmocka_unit_test(test_bad_peers_list_refused),
        cmocka_unit_test(test_problems_are_capped),
        cmocka_unit_test(test_values_quoted_safely_in_messages),
        cmocka_unit_test(test_problems_list),
        cmocka_unit_test_setup_teardown(test_load_resolves_against_file_dir, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_load_unreadable_is_io, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_load_refuses_big_and_nul_files, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_check_keys_ok, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_check_keys_loose_key_mode_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_check_keys_key_of_another_post_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_check_keys_damaged_or_missing_key_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_check_keys_card_missing_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_check_keys_card_of_another_post_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_check_keys_tampered_card_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_check_keys_peers_sharing_keys_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_check_keys_peer_with_own_keys_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_check_keys_store_dir_not_a_directory_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_check_keys_reports_all, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
