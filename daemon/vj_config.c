/* vj_config.c - reads valijad's configuration file, checks every setting and
 * copies the values into a typed vj_config (format: vj_config.h).
 *
 * The file is hostile until checked.  Before libconfig sees it we read it
 * ourselves and refuse what libconfig 1.5 would handle badly: more than
 * VJ_CONFIG_MAX_BYTES, NUL bytes, more lines than libconfig can number, more
 * names than it can take in quickly (its duplicate check is quadratic),
 * `@include` lines (libconfig would follow any path, with no way to switch
 * that off), "\x00" escapes (libconfig would silently cut the string there)
 * and integer literals that do not fit their type (libconfig 1.5 silently
 * wraps 4294971392 to 4096).  Then libconfig parses the text with
 * auto-conversion off and we walk the tree: unknown settings and values of
 * the wrong type are errors, every value is range-checked, relative paths are
 * resolved against the file's directory (lexically: "." and repeated slashes
 * go, nothing is resolved on disk).  Every problem is reported, then the call
 * fails; the libconfig tree never outlives the call.
 *
 * vj_config_check_keys() goes further for `valijad -n`: it opens the key and
 * card files through keys/ and looks at the store's directory.  It creates
 * nothing.
 */
#include "vj_config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vj_card.h"
#include "vj_identity.h"

#define S_TCP_EXPECTED                                                                             \
    "expected tcp://HOST:PORT (HOST an IPv4 address, [IPv6 address] or host name; PORT 1..65535)"
#define S_LISTEN_EXPECTED                                                                          \
    "expected tcp://HOST:PORT (HOST an IPv4 address, [IPv6 address], host name or *; PORT "        \
    "1..65535)"
#define S_POST_EXPECTED                                                                            \
    "expected 1..64 characters of a-z, 0-9 and '-', not starting or ending with '-'"

/* ---------------------------------------------------------------- problems */

void vj_problems_add(vj_problems *p, const char *fmt, ...)
{
    va_list ap;
    char *item = NULL;
    char **grown = NULL;

    if (!p || !fmt)
        return;
    va_start(ap, fmt);
    int n = vasprintf(&item, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    grown = realloc(p->items, (p->n + 1) * sizeof *grown);
    if (!grown) {
        free(item);
        return;
    }
    grown[p->n++] = item;
    p->items = grown;
}

void vj_problems_clear(vj_problems *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->items[i]);
    free(p->items);
    p->items = NULL;
    p->n = 0;
}

/* One run of checks over one file: where to report, and how much was found. */
typedef struct {
    const char *file;
    vj_problems *problems;
    size_t count; /* problems found, including those past the cap */
} s_report;

/* The line number of a problem this run added, 0 if it has none. */
static long s_problem_line(const s_report *r, const char *item)
{
    size_t fl = strlen(r->file);

    if (strncmp(item, r->file, fl) != 0 || item[fl] != ':' || item[fl + 1] < '0' ||
        item[fl + 1] > '9')
        return 0;
    return strtol(item + fl + 1, NULL, 10);
}

/* Puts the problems this run added (from index start on) in line order,
 * keeping the order of those on the same line; the "too many" note stays
 * last.  Checks run setting by setting, not line by line. */
static void s_sort_problems(const s_report *r, size_t start)
{
    vj_problems *p = r->problems;
    size_t end = p->n;

    if (r->count > VJ_CONFIG_MAX_PROBLEMS && end > start)
        end--;
    for (size_t i = start + 1; i < end; i++) {
        char *item = p->items[i];
        long line = s_problem_line(r, item);
        size_t j = i;
        while (j > start && s_problem_line(r, p->items[j - 1]) > line) {
            p->items[j] = p->items[j - 1];
            j--;
        }
        p->items[j] = item;
    }
}

/* Adds "FILE:LINE: SETTING: message"; line 0 or a NULL setting leave that
 * part out. */
static void s_problem(s_report *r, int line, const char *setting, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void s_problem(s_report *r, int line, const char *setting, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    r->count++;
    if (r->count > VJ_CONFIG_MAX_PROBLEMS + 1)
        return;
    if (r->count == VJ_CONFIG_MAX_PROBLEMS + 1) {
        vj_problems_add(r->problems,
                        "%s: too many problems; stopped reporting after %d, fix these first",
                        r->file, VJ_CONFIG_MAX_PROBLEMS);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0 && setting)
        vj_problems_add(r->problems, "%s:%d: %s: %s", r->file, line, setting, msg);
    else if (line > 0)
        vj_problems_add(r->problems, "%s:%d: %s", r->file, line, msg);
    else if (setting)
        vj_problems_add(r->problems, "%s: %s: %s", r->file, setting, msg);
    else
        vj_problems_add(r->problems, "%s: %s", r->file, msg);
}

/* v for a message: at most max_in bytes of it (then "..."), anything but
 * printable ASCII escaped, so that no control sequence from a hostile file
 * reaches a terminal; in double quotes if quoted.  out_len must be at least
 * 4 * max_in + 8. */
static void s_escape(char *out, size_t out_len, const char *v, size_t max_in, int quoted)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    assert(out_len >= 4 * max_in + 8);
    if (quoted)
        out[o++] = '"';
    for (size_t i = 0; v && v[i]; i++) {
        unsigned char c = (unsigned char)v[i];
        if (i == max_in) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (quoted && (c == '"' || c == '\\')) {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    if (quoted)
        out[o++] = '"';
    out[o] = '\0';
}

/* A value from the file, quoted for a message (at most 100 bytes of it). */
typedef struct {
    char s[448];
} s_quoted;

static s_quoted s_quote(const char *v)
{
    s_quoted q;
    s_escape(q.s, sizeof q.s, v, 100, 1);
    return q;
}

/* ------------------------------------------------------------------- paths */

/* base (absolute, may be NULL when p is absolute) joined with p, without "."
 * components or repeated slashes; ".." is kept: nothing is resolved on disk.
 * A new string, or NULL when out of memory. */
static char *s_path_join(const char *base, const char *p)
{
    size_t bl = (p[0] == '/' || !base) ? 0 : strlen(base);
    size_t pl = strlen(p);
    char *tmp = malloc(bl + pl + 2);
    char *outp = malloc(bl + pl + 2);
    size_t o = 0;

    if (!tmp || !outp) {
        free(tmp);
        free(outp);
        return NULL;
    }
    if (bl > 0)
        memcpy(tmp, base, bl);
    tmp[bl] = '/';
    memcpy(tmp + bl + 1, p, pl + 1);

    const char *c = tmp;
    while (*c) {
        while (*c == '/')
            c++;
        const char *end = c;
        while (*end && *end != '/')
            end++;
        size_t cl = (size_t)(end - c);
        if (cl > 0 && !(cl == 1 && c[0] == '.')) {
            outp[o++] = '/';
            memcpy(outp + o, c, cl);
            o += cl;
        }
        c = end;
    }
    if (o == 0)
        outp[o++] = '/';
    outp[o] = '\0';
    free(tmp);
    return outp;
}

/* The absolute directory of the file at path (relative to the current
 * directory when path is relative).  VJ_E_IO if there is no current
 * directory, VJ_E_NOMEM. */
static VJ_MUST_CHECK int s_config_dir(const char *path, char **out)
{
    int ret = VJ_E_NOMEM;
    char *cwd = NULL;
    char *abs = NULL;

    *out = NULL;
    if (path[0] != '/') {
        cwd = getcwd(NULL, 0);
        if (!cwd) {
            ret = errno == ENOMEM ? VJ_E_NOMEM : VJ_E_IO;
            goto out;
        }
    }
    abs = s_path_join(cwd, path);
    if (!abs)
        goto out;
    char *slash = strrchr(abs, '/');
    if (slash == abs)
        slash[1] = '\0';
    else
        *slash = '\0';
    *out = abs;
    abs = NULL;
    ret = VJ_OK;
out:
    free(cwd);
    free(abs);
    return ret;
}

/* ---------------------------------------------------- the text, before libconfig */

static int s_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int s_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int s_is_xdigit(char c)
{
    return s_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int s_is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Reports every line whose first token is @include and blanks it (keeping
 * the line numbers), so that the rest of the file can still be checked. */
static void s_refuse_includes(s_report *r, char *text)
{
    int line = 1;

    for (char *p = text; *p;) {
        char *q = p;
        while (s_is_blank(*q))
            q++;
        if (strncasecmp(q, "@include", 8) == 0) {
            s_problem(r, line, "@include",
                      "includes are not allowed; expected every setting in this one file");
            for (char *b = p; *b && *b != '\n'; b++)
                *b = ' ';
        }
        while (*p && *p != '\n')
            p++;
        if (*p == '\n') {
            p++;
            line++;
        }
    }
}

/* The number at *pp (a libconfig integer literal), reported when libconfig
 * would wrap it silently.  Advances *pp past it. */
static void s_scan_number(s_report *r, const char **pp, int line, const char *name, size_t name_len)
{
    const char *start = *pp;
    const char *p = start;
    int neg = 0;
    int over = 0;
    int is_long = 0;
    uint64_t v = 0;
    uint64_t limit;
    char setting[72];

    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && s_is_xdigit(p[2])) {
        for (p += 2; s_is_xdigit(*p); p++) {
            int d = s_is_digit(*p) ? *p - '0' : (*p | 0x20) - 'a' + 10;
            if (v > (UINT64_MAX >> 4))
                over = 1;
            v = (v << 4) | (uint64_t)d;
        }
        /* libconfig reads hex as unsigned bits: 0xFFFFFFFF becomes -1. */
        neg = 0;
    } else {
        for (; s_is_digit(*p); p++) {
            if (v > (UINT64_MAX - 9) / 10)
                over = 1;
            v = v * 10 + (uint64_t)(*p - '0');
        }
        if (*p == '.' || *p == 'e' || *p == 'E') { /* a float: not ours to check */
            while (s_is_digit(*p) || *p == '.' || *p == 'e' || *p == 'E' || *p == '+' || *p == '-')
                p++;
            *pp = p;
            return;
        }
    }
    if (*p == 'L') {
        is_long = 1;
        p++;
        if (*p == 'L')
            p++;
    }
    *pp = p;
    if (is_long)
        limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    else
        limit = neg ? (uint64_t)INT32_MAX + 1 : (uint64_t)INT32_MAX;
    if (!over && v <= limit)
        return;
    snprintf(setting, sizeof setting, "%.*s", (int)(name_len < 64 ? name_len : 64),
             name ? name : "");
    s_problem(r, line, name ? setting : NULL,
              "%.*s does not fit in a %d-bit integer (libconfig would silently change it); "
              "expected a value in range%s",
              (int)((p - start) < 40 ? (p - start) : 40), start, is_long ? 64 : 32,
              is_long ? "" : ", or a 64-bit literal with an L suffix");
}

/* Walks the text as libconfig's scanner would (comments, strings, names,
 * numbers) and reports integer literals that libconfig 1.5 would wrap and
 * "\x00" escapes, which would cut a string short.  Returns the number of
 * names (setting names and the words true and false). */
static size_t s_scan_literals(s_report *r, const char *text)
{
    size_t names = 0;
    int line = 1;
    const char *name = NULL;
    size_t name_len = 0;
    const char *p = text;

    while (*p) {
        char c = *p;
        if (c == '\n') {
            line++;
            p++;
        } else if (c == '#' || (c == '/' && p[1] == '/')) {
            while (*p && *p != '\n')
                p++;
        } else if (c == '/' && p[1] == '*') {
            for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
                if (*p == '\n')
                    line++;
            if (*p)
                p += 2;
        } else if (c == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\n')
                    line++;
                if (*p == '\\' && p[1]) {
                    if (p[1] == 'x' && p[2] == '0' && p[3] == '0')
                        s_problem(r, line, NULL,
                                  "a string holds the escape \\x00 (a NUL byte); expected text "
                                  "without NUL");
                    p++;
                }
            }
            if (*p)
                p++;
        } else if (s_is_alpha(c) || c == '*') {
            name = p;
            while (s_is_alpha(*p) || s_is_digit(*p) || *p == '-' || *p == '_' || *p == '*')
                p++;
            name_len = (size_t)(p - name);
            names++;
            if (name_len > VJ_CONFIG_NAME_MAX)
                s_problem(r, line, NULL,
                          "the name %.20s... is %zu characters long; expected at most %d", name,
                          name_len, VJ_CONFIG_NAME_MAX);
        } else if (s_is_digit(c) || ((c == '+' || c == '-') && s_is_digit(p[1]))) {
            s_scan_number(r, &p, line, name, name_len);
        } else {
            p++;
        }
    }
    return names;
}

/* ------------------------------------------------------------ the settings */

static const char *s_type_name(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_GROUP:
        return "a group { }";
    case CONFIG_TYPE_INT:
        return "an integer";
    case CONFIG_TYPE_INT64:
        return "a 64-bit integer";
    case CONFIG_TYPE_FLOAT:
        return "a floating-point number";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_ARRAY:
        return "an array [ ]";
    case CONFIG_TYPE_LIST:
        return "a list ( )";
    default:
        return "nothing";
    }
}

static int s_line(const config_setting_t *s)
{
    return (int)config_setting_source_line(s);
}

static int s_has_control(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || (unsigned char)*v == 0x7f)
            return 1;
    return 0;
}

/* Reports every member of group whose name is not in allowed. */
static void s_refuse_unknown(s_report *r, const config_setting_t *group, const char *prefix,
                             const char *const *allowed, const char *expected)
{
    int n = config_setting_length(group);

    for (int i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(group, (unsigned int)i);
        const char *name = m ? config_setting_name(m) : NULL;
        int known = 0;
        char label[160];

        if (!name)
            continue;
        for (size_t k = 0; allowed[k]; k++)
            known |= strcmp(name, allowed[k]) == 0;
        if (known)
            continue;
        snprintf(label, sizeof label, "%s%s", prefix, name);
        s_problem(r, s_line(m), label, "unknown setting; expected one of %s", expected);
    }
}

/* The string member name of group, or NULL after reporting why there is
 * none.  *line gets the member's line (missing_line when it is missing). */
static const char *s_string(s_report *r, const config_setting_t *group, const char *name,
                            const char *label, int missing_line, const char *expected, int *line)
{
    const config_setting_t *s = config_setting_get_member(group, name);
    const char *v;

    *line = missing_line;
    if (!s) {
        s_problem(r, missing_line, label, "missing; expected %s", expected);
        return NULL;
    }
    *line = s_line(s);
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        s_problem(r, *line, label, "is %s; expected a string, %s", s_type_name(s), expected);
        return NULL;
    }
    v = config_setting_get_string(s);
    if (!v || !*v) {
        s_problem(r, *line, label, "is empty; expected %s", expected);
        return NULL;
    }
    if (s_has_control(v)) {
        s_problem(r, *line, label, "%s holds control characters; expected %s", s_quote(v).s,
                  expected);
        return NULL;
    }
    return v;
}

/* The integer member name of group into *out, if present and in range;
 * *out is left alone (the default) otherwise. */
static void s_int(s_report *r, const config_setting_t *group, const char *name, const char *label,
                  int64_t min, int64_t max, int64_t *out)
{
    const config_setting_t *s = config_setting_get_member(group, name);
    int64_t v;

    if (!s)
        return;
    if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64) {
        s_problem(r, s_line(s), label, "is %s; expected an integer from %lld to %lld",
                  s_type_name(s), (long long)min, (long long)max);
        return;
    }
    v = config_setting_get_int64(s);
    if (v < min || v > max) {
        s_problem(r, s_line(s), label,
                  "%lld is out of range; expected an integer from %lld to %lld", (long long)v,
                  (long long)min, (long long)max);
        return;
    }
    *out = v;
}

/* A path setting, resolved against the file's directory into *out (NULL if
 * it was reported).  VJ_E_NOMEM or VJ_OK. */
static VJ_MUST_CHECK int s_path(s_report *r, const vj_config *cfg, const char *v, int line,
                                const char *label, char **out)
{
    *out = NULL;
    if (!v)
        return VJ_OK;
    char *abs = s_path_join(cfg->dir, v);
    if (!abs)
        return VJ_E_NOMEM;
    if (strlen(abs) >= PATH_MAX) {
        s_problem(r, line, label, "%s resolves to a path of %zu bytes; expected at most %d",
                  s_quote(v).s, strlen(abs), PATH_MAX - 1);
        free(abs);
        return VJ_OK;
    }
    *out = abs;
    return VJ_OK;
}

/* NULL if ep is a tcp://HOST:PORT endpoint, else what is wrong with it (in
 * why, which the answer points to). */
static const char *s_tcp_problem(const char *ep, int wildcard_ok, char *why, size_t why_len)
{
    const char *hp = ep + 6;
    const char *port;
    char host[256];
    size_t hl;

    if (strncmp(ep, "tcp://", 6) != 0)
        return strstr(ep, "://") ? "is not a tcp:// endpoint" : "does not start with tcp://";
    if (*hp == '[') {
        const char *close = strchr(hp, ']');
        if (!close)
            return "has an unclosed '['";
        hl = (size_t)(close - hp - 1);
        if (hl == 0 || hl >= 64)
            return "has an invalid IPv6 address";
        memcpy(host, hp + 1, hl);
        host[hl] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return "has an invalid IPv6 address";
        if (close[1] != ':')
            return "has no port";
        port = close + 2;
    } else {
        const char *colon = strrchr(hp, ':');
        if (!colon)
            return "has no port";
        hl = (size_t)(colon - hp);
        if (hl == 0)
            return "has no host";
        if (memchr(hp, ':', hl))
            return "has an IPv6 address without [ ]";
        if (hl > 253)
            return "has a host name longer than 253 characters";
        memcpy(host, hp, hl);
        host[hl] = '\0';
        if (strcmp(host, "*") == 0) {
            if (!wildcard_ok)
                return "has host *, which only listen may use";
        } else {
            int numeric = 1;
            for (size_t i = 0; i < hl; i++) {
                char c = host[i];
                if (!(s_is_alpha(c) || s_is_digit(c) || c == '.' || c == '-'))
                    return "has a host with characters other than A-Z, a-z, 0-9, '.' and '-'";
                numeric &= s_is_digit(c) || c == '.';
            }
            struct in_addr a4;
            if (numeric && inet_pton(AF_INET, host, &a4) != 1)
                return "has an invalid IPv4 address";
        }
        port = colon + 1;
    }
    if (!*port)
        return "has no port";
    size_t pl = strlen(port);
    for (size_t i = 0; i < pl; i++)
        if (!s_is_digit(port[i]))
            return "has a port that is not a number";
    if (pl > 5 || atol(port) < 1 || atol(port) > 65535) {
        snprintf(why, why_len, "has port %.12s%s, out of range", port, pl > 12 ? "..." : "");
        return why;
    }
    return NULL;
}

static VJ_MUST_CHECK int s_dup(const char *s, char **out)
{
    *out = strdup(s);
    return *out ? VJ_OK : VJ_E_NOMEM;
}

/* post, secret_key, listen, client and store. */
static VJ_MUST_CHECK int s_check_top(s_report *r, const config_setting_t *root, vj_config *cfg,
                                     int last_line)
{
    int ret = VJ_E_NOMEM;
    char why[64];
    const char *v;
    const char *bad;

    v = s_string(r, root, "post", "post", last_line, "this post's name such as \"mx-washington\"",
                 &cfg->post_line);
    if (v && !vj_post_name_is_valid(v))
        s_problem(r, cfg->post_line, "post", "%s is not a valid post name; " S_POST_EXPECTED,
                  s_quote(v).s);
    else if (v)
        snprintf(cfg->post, sizeof cfg->post, "%s", v);

    v = s_string(r, root, "secret_key", "secret_key", last_line,
                 "the path of this post's secret key file", &cfg->secret_key_line);
    if (s_path(r, cfg, v, cfg->secret_key_line, "secret_key", &cfg->secret_key_path) != VJ_OK)
        goto out;

    v = s_string(r, root, "store", "store", last_line, "the path of this post's database",
                 &cfg->store_line);
    if (s_path(r, cfg, v, cfg->store_line, "store", &cfg->store_path) != VJ_OK)
        goto out;

    v = s_string(r, root, "listen", "listen", last_line, "the peer endpoint tcp://HOST:PORT",
                 &cfg->listen_line);
    if (v && (bad = s_tcp_problem(v, 1, why, sizeof why)))
        s_problem(r, cfg->listen_line, "listen", "%s %s; " S_LISTEN_EXPECTED, s_quote(v).s, bad);
    else if (v && s_dup(v, &cfg->listen) != VJ_OK)
        goto out;

    v = s_string(r, root, "client", "client", last_line, "the client endpoint ipc://PATH",
                 &cfg->client_line);
    if (v && strncmp(v, "ipc://", 6) != 0) {
        s_problem(r, cfg->client_line, "client",
                  "%s is not an ipc:// endpoint; expected ipc://PATH", s_quote(v).s);
    } else if (v && v[6] == '\0') {
        s_problem(r, cfg->client_line, "client", "%s has no path; expected ipc://PATH",
                  s_quote(v).s);
    } else if (v && v[6] == '@') {
        s_problem(
            r, cfg->client_line, "client",
            "%s names an abstract socket, which ignores file permissions; expected ipc://PATH "
            "with a file path",
            s_quote(v).s);
    } else if (v && strcmp(v + 6, "*") == 0) {
        s_problem(r, cfg->client_line, "client",
                  "%s is a wildcard; expected ipc://PATH with a file path", s_quote(v).s);
    } else if (v) {
        char *abs = s_path_join(cfg->dir, v + 6);
        if (!abs)
            goto out;
        if (strlen(abs) > VJ_CONFIG_IPC_PATH_MAX) {
            s_problem(
                r, cfg->client_line, "client",
                "%s resolves to %s, %zu bytes; expected a path of at most %d bytes (the limit of "
                "ipc:// sockets)",
                s_quote(v).s, s_quote(abs).s, strlen(abs), VJ_CONFIG_IPC_PATH_MAX);
            free(abs);
        } else {
            cfg->client_path = abs;
            cfg->client = malloc(strlen(abs) + 7);
            if (!cfg->client)
                goto out;
            memcpy(cfg->client, "ipc://", 6);
            memcpy(cfg->client + 6, abs, strlen(abs) + 1);
        }
    }
    ret = VJ_OK;
out:
    return ret;
}

/* One peer group, peers.[i], into cfg->peers[i]. */
static VJ_MUST_CHECK int s_check_peer(s_report *r, const config_setting_t *g, size_t i,
                                      vj_config *cfg)
{
    static const char *const allowed[] = {"name", "endpoint", "card", NULL};
    vj_peer_config *pc = &cfg->peers[i];
    char prefix[48], label[64], why[64];
    const char *v;
    const char *bad;
    int line;

    pc->line = s_line(g);
    snprintf(prefix, sizeof prefix, "peers.[%zu]", i);
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        s_problem(r, pc->line, prefix,
                  "is %s; expected a group { name = ...; endpoint = ...; card = ...; }",
                  s_type_name(g));
        return VJ_OK;
    }
    snprintf(label, sizeof label, "%s.", prefix);
    s_refuse_unknown(r, g, label, allowed, "name, endpoint, card");

    snprintf(label, sizeof label, "%s.name", prefix);
    v = s_string(r, g, "name", label, pc->line, "the peer's post name such as \"sv-washington\"",
                 &line);
    if (v && !vj_post_name_is_valid(v)) {
        s_problem(r, line, label, "%s is not a valid post name; " S_POST_EXPECTED, s_quote(v).s);
    } else if (v && strcmp(v, cfg->post) == 0) {
        s_problem(r, line, label, "%s is the name of this post; expected the name of another post",
                  s_quote(v).s);
    } else if (v) {
        size_t k;
        for (k = 0; k < i && strcmp(cfg->peers[k].name, v) != 0; k++)
            ;
        if (k < i)
            s_problem(r, line, label,
                      "%s is also the name of peers.[%zu] (line %d); expected each peer once",
                      s_quote(v).s, k, cfg->peers[k].line);
        else
            snprintf(pc->name, sizeof pc->name, "%s", v);
    }

    snprintf(label, sizeof label, "%s.endpoint", prefix);
    v = s_string(r, g, "endpoint", label, pc->line, "the peer's endpoint tcp://HOST:PORT", &line);
    if (v && (bad = s_tcp_problem(v, 0, why, sizeof why))) {
        s_problem(r, line, label, "%s %s; " S_TCP_EXPECTED, s_quote(v).s, bad);
    } else if (v && cfg->listen && strcmp(v, cfg->listen) == 0) {
        s_problem(r, line, label,
                  "%s is this post's own listen endpoint; expected the endpoint of the peer",
                  s_quote(v).s);
    } else if (v) {
        size_t k;
        for (k = 0; k < i && !(cfg->peers[k].endpoint && strcmp(cfg->peers[k].endpoint, v) == 0);
             k++)
            ;
        if (k < i)
            s_problem(
                r, line, label,
                "%s is also the endpoint of peers.[%zu] (line %d); expected one endpoint per peer",
                s_quote(v).s, k, cfg->peers[k].line);
        else if (s_dup(v, &pc->endpoint) != VJ_OK)
            return VJ_E_NOMEM;
    }

    snprintf(label, sizeof label, "%s.card", prefix);
    v = s_string(r, g, "card", label, pc->line, "the path of the peer's public card", &line);
    return s_path(r, cfg, v, line, label, &pc->card_path);
}

static VJ_MUST_CHECK int s_check_peers(s_report *r, const config_setting_t *root, vj_config *cfg)
{
    const config_setting_t *peers = config_setting_get_member(root, "peers");
    int n;

    if (!peers)
        return VJ_OK;
    n = config_setting_length(peers);
    if (config_setting_type(peers) == CONFIG_TYPE_ARRAY && n == 0)
        return VJ_OK; /* "peers = [];" says the same as "peers = ();" */
    if (config_setting_type(peers) != CONFIG_TYPE_LIST) {
        s_problem(r, s_line(peers), "peers",
                  "is %s; expected a list ( { name = ...; endpoint = ...; card = ...; }, ... )",
                  s_type_name(peers));
        return VJ_OK;
    }
    if (n > VJ_CONFIG_MAX_PEERS) {
        s_problem(r, s_line(peers), "peers", "has %d peers; expected at most %d", n,
                  VJ_CONFIG_MAX_PEERS);
        return VJ_OK;
    }
    if (n == 0)
        return VJ_OK;
    cfg->peers = calloc((size_t)n, sizeof *cfg->peers);
    if (!cfg->peers)
        return VJ_E_NOMEM;
    cfg->n_peers = (size_t)n;
    for (int i = 0; i < n; i++) {
        if (s_check_peer(r, config_setting_get_elem(peers, (unsigned int)i), (size_t)i, cfg) !=
            VJ_OK)
            return VJ_E_NOMEM;
    }
    return VJ_OK;
}

static void s_check_limits(s_report *r, const config_setting_t *root, vj_config *cfg)
{
    static const char *const allowed[] = {"max_message_bytes", "retry_max_seconds", "retry_min_ms",
                                          NULL};
    const config_setting_t *lim = config_setting_get_member(root, "limits");
    int64_t retry_max_s = VJ_CONFIG_RETRY_MAX_SECONDS_DEFAULT;

    cfg->max_message_bytes = VJ_CONFIG_MAX_MESSAGE_BYTES_DEFAULT;
    cfg->retry_min_ms = VJ_CONFIG_RETRY_MIN_MS_DEFAULT;
    cfg->retry_max_ms = retry_max_s * 1000;
    if (!lim)
        return;
    if (config_setting_type(lim) != CONFIG_TYPE_GROUP) {
        s_problem(r, s_line(lim), "limits",
                  "is %s; expected a group { max_message_bytes = ...; retry_max_seconds = ...; "
                  "retry_min_ms = ...; }",
                  s_type_name(lim));
        return;
    }
    s_refuse_unknown(r, lim, "limits.", allowed,
                     "max_message_bytes, retry_max_seconds, retry_min_ms");
    s_int(r, lim, "max_message_bytes", "limits.max_message_bytes", VJ_CONFIG_MAX_MESSAGE_BYTES_MIN,
          VJ_CONFIG_MAX_MESSAGE_BYTES_MAX, &cfg->max_message_bytes);
    s_int(r, lim, "retry_max_seconds", "limits.retry_max_seconds", VJ_CONFIG_RETRY_MAX_SECONDS_MIN,
          VJ_CONFIG_RETRY_MAX_SECONDS_MAX, &retry_max_s);
    s_int(r, lim, "retry_min_ms", "limits.retry_min_ms", VJ_CONFIG_RETRY_MIN_MS_MIN,
          VJ_CONFIG_RETRY_MIN_MS_MAX, &cfg->retry_min_ms);
    cfg->retry_max_ms = retry_max_s * 1000;
    if (cfg->retry_min_ms > cfg->retry_max_ms) {
        const config_setting_t *s = config_setting_get_member(lim, "retry_min_ms");
        s_problem(r, s ? s_line(s) : s_line(lim), "limits.retry_min_ms",
                  "%lld ms is longer than retry_max_seconds (%lld s); expected at most the maximum",
                  (long long)cfg->retry_min_ms, (long long)retry_max_s);
    }
}

/* Every check of the tree; VJ_E_NOMEM or VJ_OK (problems are in r). */
static VJ_MUST_CHECK int s_check_tree(s_report *r, const config_setting_t *root, vj_config *cfg,
                                      int last_line)
{
    static const char *const allowed[] = {"post",  "secret_key", "listen", "client",
                                          "store", "peers",      "limits", NULL};

    s_refuse_unknown(r, root, "", allowed,
                     "post, secret_key, listen, client, store, peers, limits");
    if (s_check_top(r, root, cfg, last_line) != VJ_OK)
        return VJ_E_NOMEM;
    if (s_check_peers(r, root, cfg) != VJ_OK)
        return VJ_E_NOMEM;
    s_check_limits(r, root, cfg);
    return VJ_OK;
}

/* -------------------------------------------------------------- public API */

int vj_config_parse(const char *text, size_t len, const char *path, vj_config **out,
                    vj_problems *problems)
{
    int ret = VJ_E_INVAL;
    s_report r = {path, problems, 0};
    char *buf = NULL;
    vj_config *cfg = NULL;
    config_t lc;
    int lc_ready = 0;
    int lines = 1;
    const char *nul;
    size_t first = 0;

    if (!out || !path || !*path || !problems || (!text && len > 0))
        goto out;
    *out = NULL;
    first = problems->n;
    ret = VJ_E_CONFIG;
    if (len > VJ_CONFIG_MAX_BYTES) {
        s_problem(&r, 0, NULL,
                  "is %zu bytes long; expected a configuration file of at most %d bytes", len,
                  VJ_CONFIG_MAX_BYTES);
        goto out;
    }
    if (len > 0 && (nul = memchr(text, '\0', len)) != NULL) {
        int line = 1;
        for (const char *p = text; p < nul; p++)
            line += *p == '\n';
        s_problem(&r, line, NULL, "the file holds a NUL byte; expected a text file");
        goto out;
    }
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    if (len > 0 && text[len - 1] == '\n')
        lines--;
    if (lines > VJ_CONFIG_MAX_LINES) {
        s_problem(&r, 0, NULL, "has %d lines; expected at most %d", lines, VJ_CONFIG_MAX_LINES);
        goto out;
    }

    ret = VJ_E_NOMEM;
    buf = malloc(len + 1);
    cfg = calloc(1, sizeof *cfg);
    if (!buf || !cfg)
        goto out;
    if (len > 0)
        memcpy(buf, text, len);
    buf[len] = '\0';
    if (s_dup(path, &cfg->path) != VJ_OK)
        goto out;
    ret = s_config_dir(path, &cfg->dir);
    if (ret != VJ_OK) {
        if (ret == VJ_E_IO) {
            s_problem(&r, 0, NULL,
                      "cannot resolve relative paths: the current directory is gone (%s)",
                      strerror(errno));
            ret = VJ_E_CONFIG;
        }
        goto out;
    }

    s_refuse_includes(&r, buf);
    /* libconfig looks for duplicates with a linear search per new setting:
     * a megabyte of names would keep it busy for minutes. */
    if (s_scan_literals(&r, buf) > VJ_CONFIG_MAX_NAMES) {
        s_problem(&r, 0, NULL,
                  "has more than %d setting names; expected a configuration of at most that many",
                  VJ_CONFIG_MAX_NAMES);
        ret = VJ_E_CONFIG;
        goto out;
    }

    config_init(&lc);
    lc_ready = 1;
    config_set_auto_convert(&lc, 0);
    if (config_read_string(&lc, buf) != CONFIG_TRUE) {
        const char *what = config_error_text(&lc) ? config_error_text(&lc) : "syntax error";
        s_problem(&r, config_error_line(&lc), NULL, "%s; expected %s", what,
                  strstr(what, "duplicate")
                      ? "each setting once in its group"
                      : "settings as name = value; with { } groups and ( ) lists");
        ret = VJ_E_CONFIG;
        goto out;
    }
    ret = s_check_tree(&r, config_root_setting(&lc), cfg, lines);
    if (ret != VJ_OK)
        goto out;
    if (r.count > 0) {
        ret = VJ_E_CONFIG;
        goto out;
    }
    *out = cfg;
    cfg = NULL;
    ret = VJ_OK;
out:
    if (problems && problems->n > first)
        s_sort_problems(&r, first);
    if (lc_ready)
        config_destroy(&lc);
    vj_config_destroy(&cfg);
    free(buf);
    return ret;
}

int vj_config_load(const char *path, vj_config **out, vj_problems *problems)
{
    int ret = VJ_E_INVAL;
    int fd = -1;
    char *buf = NULL;
    size_t n = 0;
    struct stat st;

    if (!out || !path || !*path || !problems)
        goto out;
    *out = NULL;
    ret = VJ_E_IO;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        vj_problems_add(problems, "%s: cannot open: %s; expected a readable configuration file",
                        path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        vj_problems_add(problems, "%s: cannot stat: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        vj_problems_add(problems, "%s: is not a regular file; expected a configuration file", path);
        goto out;
    }
    buf = malloc(VJ_CONFIG_MAX_BYTES + 1);
    if (!buf) {
        ret = VJ_E_NOMEM;
        goto out;
    }
    while (n < VJ_CONFIG_MAX_BYTES + 1) {
        ssize_t got = read(fd, buf + n, VJ_CONFIG_MAX_BYTES + 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            vj_problems_add(problems, "%s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (n > VJ_CONFIG_MAX_BYTES) {
        vj_problems_add(
            problems,
            "%s: is larger than %d bytes; expected a configuration file of at most %d bytes", path,
            VJ_CONFIG_MAX_BYTES, VJ_CONFIG_MAX_BYTES);
        ret = VJ_E_CONFIG;
        goto out;
    }
    ret = vj_config_parse(buf, n, path, out, problems);
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return ret;
}

/* The store's directory exists, or its nearest existing ancestor is a
 * directory we could create it in. */
static VJ_MUST_CHECK int s_check_store_dir(s_report *r, const vj_config *cfg)
{
    struct stat st;
    char *dir = strdup(cfg->store_path);
    char *slash;

    if (!dir)
        return VJ_E_NOMEM;
    if (stat(cfg->store_path, &st) == 0 && S_ISDIR(st.st_mode)) {
        s_problem(r, cfg->store_line, "store",
                  "%s is a directory; expected the path of a database file",
                  s_quote(cfg->store_path).s);
        goto out;
    }
    for (;;) {
        slash = strrchr(dir, '/');
        if (!slash)
            break;
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
        if (stat(dir, &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                s_problem(r, cfg->store_line, "store",
                          "%s is not a directory; expected a directory for the store",
                          s_quote(dir).s);
            else if (access(dir, W_OK | X_OK) != 0)
                s_problem(
                    r, cfg->store_line, "store",
                    "cannot create files in %s: %s; expected a directory where the store and its "
                    "-wal and -shm files can be created",
                    s_quote(dir).s, strerror(errno));
            break;
        }
        if (errno != ENOENT) {
            s_problem(r, cfg->store_line, "store",
                      "cannot look at %s: %s; expected a directory for the store", s_quote(dir).s,
                      strerror(errno));
            break;
        }
        if (strcmp(dir, "/") == 0)
            break;
    }
out:
    free(dir);
    return VJ_OK;
}

/* "PATH cannot be used: why", from a keys/ failure and its diagnostic
 * (which often names the path already). */
typedef struct {
    char s[1200];
} s_why;

static s_why s_cannot_use(const char *path, int rc, const vj_diag *diag)
{
    s_why w;
    char what[4 * 160 + 8];

    s_escape(what, sizeof what, diag->text[0] ? diag->text : vj_strerror(rc), 160, 0);
    if (path && strstr(what, path))
        snprintf(w.s, sizeof w.s, "cannot be used: %s", what);
    else
        snprintf(w.s, sizeof w.s, "%s cannot be used: %s", s_quote(path).s, what);
    return w;
}

static const char *s_shared_key(const vj_card *a, const vj_card *b)
{
    if (memcmp(a->sign_pk, b->sign_pk, sizeof a->sign_pk) == 0)
        return "signing";
    if (memcmp(a->box_pk, b->box_pk, sizeof a->box_pk) == 0)
        return "encryption";
    if (memcmp(a->curve_pk, b->curve_pk, sizeof a->curve_pk) == 0)
        return "transport";
    return NULL;
}

int vj_config_check_keys(const vj_config *cfg, vj_problems *problems)
{
    int ret = VJ_E_INVAL;
    vj_identity *id = NULL;
    vj_card own;
    vj_card *cards = NULL;
    unsigned char *ok = NULL;
    vj_diag diag;
    int rc;
    s_report r = {cfg ? cfg->path : NULL, problems, 0};
    char label[64];

    if (!cfg || !problems || !cfg->path || !cfg->secret_key_path || !cfg->store_path)
        goto out;
    ret = VJ_E_NOMEM;
    if (cfg->n_peers > 0) {
        cards = calloc(cfg->n_peers, sizeof *cards);
        ok = calloc(cfg->n_peers, 1);
        if (!cards || !ok)
            goto out;
    }

    vj_diag_clear(&diag);
    rc = vj_identity_load(cfg->secret_key_path, &id, &diag);
    if (rc != VJ_OK) {
        s_problem(&r, cfg->secret_key_line, "secret_key", "%s; expected %s",
                  s_cannot_use(cfg->secret_key_path, rc, &diag).s,
                  rc == VJ_E_PERM ? "a regular file only its owner can read (chmod 600)"
                                  : "this post's secret key file");
    } else if (strcmp(vj_identity_post(id), cfg->post) != 0) {
        s_problem(&r, cfg->secret_key_line, "secret_key",
                  "%s is the key of post %s; expected the key of %s",
                  s_quote(cfg->secret_key_path).s, s_quote(vj_identity_post(id)).s,
                  s_quote(cfg->post).s);
        vj_identity_destroy(&id);
    }
    if (id && vj_card_from_identity(id, &own) != VJ_OK)
        vj_identity_destroy(&id); /* cannot compare with our own keys */

    for (size_t i = 0; i < cfg->n_peers; i++) {
        const vj_peer_config *pc = &cfg->peers[i];
        snprintf(label, sizeof label, "peers.[%zu].card", i);
        vj_diag_clear(&diag);
        rc = pc->card_path ? vj_card_load(pc->card_path, &cards[i], &diag) : VJ_E_INVAL;
        if (rc != VJ_OK) {
            s_problem(&r, pc->line, label, "%s; expected the verified card of %s",
                      s_cannot_use(pc->card_path, rc, &diag).s, s_quote(pc->name).s);
            continue;
        }
        if (strcmp(cards[i].post, pc->name) != 0) {
            s_problem(&r, pc->line, label, "%s is the card of post %s; expected the card of %s",
                      s_quote(pc->card_path).s, s_quote(cards[i].post).s, s_quote(pc->name).s);
            continue;
        }
        const char *shared = id ? s_shared_key(&cards[i], &own) : NULL;
        if (shared) {
            s_problem(&r, pc->line, label, "has this post's own %s key; expected the card of %s",
                      shared, s_quote(pc->name).s);
            continue;
        }
        for (size_t k = 0; k < i; k++) {
            if (ok[k] && (shared = s_shared_key(&cards[i], &cards[k])) != NULL) {
                s_problem(&r, pc->line, label,
                          "has the same %s key as the card of peers.[%zu] (%s, line %d); expected "
                          "each peer's own keys",
                          shared, k, s_quote(cfg->peers[k].name).s, cfg->peers[k].line);
                break;
            }
        }
        ok[i] = shared == NULL;
    }

    if (s_check_store_dir(&r, cfg) != VJ_OK)
        goto out;
    ret = r.count > 0 ? VJ_E_CONFIG : VJ_OK;
out:
    vj_identity_destroy(&id);
    free(cards);
    free(ok);
    return ret;
}

void vj_config_destroy(vj_config **cfg)
{
    if (!cfg || !*cfg)
        return;
    vj_config *c = *cfg;
    for (size_t i = 0; i < c->n_peers; i++) {
        free(c->peers[i].endpoint);
        free(c->peers[i].card_path);
    }
    free(c->peers);
    free(c->path);
    free(c->dir);
    free(c->secret_key_path);
    free(c->listen);
    free(c->client);
    free(c->client_path);
    free(c->store_path);
    free(c);
    *cfg = NULL;
}
