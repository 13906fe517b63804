/* valija.c - the command-line client of valijad.
 *
 * `valija [--socket ENDPOINT] [--json] VERB ...`: a table of verbs, each
 * parsing its own options with getopt_long and printing its own usage.  Data
 * goes to stdout (text for people, or --json for scripts), diagnostics to
 * stderr as "valija: VERB: message".  Exit codes follow <sysexits.h> and are
 * mapped from library errors in one place, s_exit_code().
 *
 * Invariants: only libvalija's public API (valija.h) and jansson are used;
 * every argument and every line of input is checked before anything is sent,
 * so that a bad batch submits nothing; text from the daemon is printed for
 * people only after control characters are neutralised.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sysexits.h>

#include "valija.h"

#ifndef VALIJA_CLI_VERSION
#define VALIJA_CLI_VERSION "unknown"
#endif

#define S_LINE_MAX (1024 * 1024) /* bytes of one JSON line of submit - */

typedef struct {
    const char *verb;
    const char *socket;
    bool json;
    valija *conn;
} s_ctx;

typedef int (*s_verb_fn)(s_ctx *ctx, int argc, char **argv);

/* ---- diagnostics and exit codes ------------------------------------------- */

static void s_err(const s_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void s_err(const s_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (ctx != NULL && ctx->verb != NULL)
        fprintf(stderr, "valija: %s: ", ctx->verb);
    else
        fputs("valija: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* A usage error: says what, and where help is. */
static int s_usage_err(const s_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int s_usage_err(const s_ctx *ctx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ctx->verb != NULL)
        fprintf(stderr, "valija: %s: %s; try 'valija %s --help'\n", ctx->verb, msg, ctx->verb);
    else
        fprintf(stderr, "valija: %s; try 'valija --help'\n", msg);
    return EX_USAGE;
}

static int s_exit_code(valija_err err)
{
    switch (err) {
    case VALIJA_OK:
        return EX_OK;
    case VALIJA_NOT_FOUND:
        return 1;
    case VALIJA_BAD_REQUEST:
        return EX_DATAERR;
    case VALIJA_REFUSED:
        return EX_NOPERM;
    case VALIJA_INTERNAL:
        return EX_SOFTWARE;
    case VALIJA_VERSION:
        return EX_PROTOCOL;
    case VALIJA_UNREACHABLE:
        return EX_UNAVAILABLE;
    case VALIJA_NOMEM:
        return EX_OSERR;
    case VALIJA_INVALID:
        return EX_DATAERR;
    }
    return EX_SOFTWARE;
}

/* Reports a failed library call and returns its exit code. */
static int s_fail(const s_ctx *ctx, valija_err err)
{
    const char *msg = ctx->conn != NULL ? valija_last_error(ctx->conn) : "";
    s_err(ctx, "%s", msg[0] != '\0' ? msg : valija_strerror(err));
    return s_exit_code(err);
}

/* Flushes stdout; a write error is an I/O error. */
static int s_finish(const s_ctx *ctx, int code)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        s_err(ctx, "cannot write the output: %s", strerror(errno));
        return code == EX_OK ? EX_IOERR : code;
    }
    return code;
}

static int s_connect(s_ctx *ctx)
{
    valija_err err = valija_open(ctx->socket, &ctx->conn);
    if (err == VALIJA_INVALID) {
        const char *ep = ctx->socket != NULL ? ctx->socket : getenv("VALIJA_SOCKET");
        return s_usage_err(ctx,
                           "'%s' is not a valid endpoint (ipc://PATH, at most 107 bytes, "
                           "or tcp://HOST:PORT)",
                           ep != NULL ? ep : "");
    }
    if (err != VALIJA_OK) {
        s_err(ctx, "cannot prepare a connection: %s", valija_strerror(err));
        return s_exit_code(err);
    }
    return EX_OK;
}

/* ---- output helpers ------------------------------------------------------- */

/* Prints daemon text for a person: tabs and newlines become spaces, and C1
 * controls and bidirectional overrides become '?', so that no text can drive
 * the terminal or disguise itself. */
static void s_put(const char *s)
{
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
    while (*p != '\0') {
        if (*p == '\t' || *p == '\n' || *p < 0x20 || *p == 0x7f) {
            putchar(*p == '\t' || *p == '\n' ? ' ' : '?');
            p++;
        } else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            putchar('?');
            p += 2;
        } else if (p[0] == 0xe2 && p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) {
            putchar('?');
            p += 3;
        } else if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9) {
            putchar('?');
            p += 3;
        } else {
            putchar(*p++);
        }
    }
}

/* s_put, then spaces up to width characters (and at least one). */
static void s_put_pad(const char *s, int width)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        n += (*p & 0xc0) != 0x80;
    s_put(s);
    do
        putchar(' ');
    while (++n < width + 1);
}

static void s_put_time(int64_t ms)
{
    char t[VALIJA_TIME_TEXT_LEN];
    valija_time_format(ms, t);
    fputs(t[0] != '\0' ? t : "-", stdout);
}

static bool s_id_is_zero(const uint8_t id[VALIJA_MSGID_LEN])
{
    for (size_t i = 0; i < VALIJA_MSGID_LEN; i++)
        if (id[i] != 0)
            return false;
    return true;
}

static json_t *s_jstr(const char *s)
{
    json_t *j = json_string(s != NULL ? s : "");
    return j != NULL ? j : json_null();
}

/* A string of an update: null when the update does not change it. */
static json_t *s_jopt(const char *s)
{
    return s != NULL && s[0] != '\0' ? s_jstr(s) : json_null();
}

static json_t *s_jtime(int64_t ms)
{
    char t[VALIJA_TIME_TEXT_LEN];
    valija_time_format(ms, t);
    return t[0] != '\0' ? s_jstr(t) : json_null();
}

/* Bytes as standard base64 (RFC 4648, padded), or null when there are none. */
static json_t *s_jbase64(const uint8_t *data, size_t len)
{
    if (data == NULL || len == 0)
        return json_null();
    size_t b64_len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64_len);
    if (b64 == NULL)
        return json_null();
    sodium_bin2base64(b64, b64_len, data, len, sodium_base64_VARIANT_ORIGINAL);
    json_t *j = s_jstr(b64);
    free(b64);
    return j;
}

static json_t *s_jid(const uint8_t id[VALIJA_MSGID_LEN])
{
    char hex[VALIJA_MSGID_HEX_LEN + 1];
    if (s_id_is_zero(id))
        return json_null();
    valija_msgid_to_hex(id, hex);
    return s_jstr(hex);
}

static json_t *s_jstrings(const char *const *list, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, s_jstr(list[i]));
    return a;
}

static const char *s_minor_name(valija_minor m)
{
    return m == VALIJA_MINOR_YES ? "yes" : m == VALIJA_MINOR_NO ? "no" : "unknown";
}

static json_t *s_jperson(const valija_person *p)
{
    if (p == NULL)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "name", s_jstr(p->name));
    json_object_set_new(o, "dob", s_jstr(p->date_of_birth));
    json_object_set_new(o, "nationality", s_jstr(p->nationality));
    json_object_set_new(o, "document", s_jstr(p->document));
    json_object_set_new(o, "alien_number", s_jstr(p->alien_number));
    json_object_set_new(o, "minor",
                        p->minor == VALIJA_MINOR_UNKNOWN
                            ? json_null()
                            : json_boolean(p->minor == VALIJA_MINOR_YES));
    return o;
}

static json_t *s_jrepr(const valija_representation *r)
{
    if (r == NULL)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "name", s_jstr(r->name));
    json_object_set_new(o, "organization", s_jstr(r->organization));
    json_object_set_new(o, "contact", s_jstr(r->contact));
    return o;
}

static json_t *s_jvisit(const valija_visit *v)
{
    if (v == NULL)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "visitor", s_jstr(v->visitor));
    json_object_set_new(o, "at", s_jtime(v->at_ms));
    return o;
}

static json_t *s_jlinks(const valija_link *links, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "relation", s_jstr(valija_relation_name(links[i].relation)));
        json_object_set_new(o, "case", s_jstr(links[i].case_id));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *s_jcase(const valija_case_state *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "case", s_jstr(s->case_id));
    json_object_set_new(o, "owner", s_jstr(s->owner));
    json_object_set_new(o, "status", s_jstr(s->status));
    json_object_set_new(o, "facility", s_jstr(s->facility));
    json_object_set_new(o, "shared_with", s_jstrings(s->shared_with, s->n_shared_with));
    json_object_set_new(o, "co_owners", s_jstrings(s->co_owners, s->n_co_owners));
    json_object_set_new(o, "person", s_jperson(s->person));
    json_object_set_new(o, "representation", s_jrepr(s->representation));
    json_object_set_new(o, "last_visit", s_jvisit(s->last_visit));
    json_t *notes = json_array();
    for (size_t i = 0; i < s->n_notes; i++) {
        json_t *n = json_object();
        json_object_set_new(n, "origin", s_jstr(s->notes[i].origin));
        json_object_set_new(n, "at", s_jtime(s->notes[i].at_ms));
        json_object_set_new(n, "text", s_jstr(s->notes[i].text));
        json_object_set_new(n, "msg_id", s_jid(s->notes[i].msg_id));
        json_array_append_new(notes, n);
    }
    json_object_set_new(o, "notes", notes);
    json_object_set_new(o, "links", s_jlinks(s->links, s->n_links));
    json_t *conflicts = json_array();
    for (size_t i = 0; i < s->n_conflicts; i++) {
        const valija_conflict *c = &s->conflicts[i];
        json_t *co = json_object();
        json_t *vals = json_array();
        for (size_t k = 0; k < c->n_values; k++) {
            json_t *v = json_object();
            json_object_set_new(v, "value", s_jstr(c->values[k].value));
            json_object_set_new(v, "origin", s_jstr(c->values[k].origin));
            json_object_set_new(v, "at", s_jtime(c->values[k].at_ms));
            json_object_set_new(v, "msg_id", s_jid(c->values[k].msg_id));
            json_array_append_new(vals, v);
        }
        json_object_set_new(co, "field", s_jstr(c->field));
        json_object_set_new(co, "values", vals);
        json_array_append_new(conflicts, co);
    }
    json_object_set_new(o, "conflicts", conflicts);
    json_object_set_new(o, "closed", json_boolean(s->closed));
    json_object_set_new(o, "updated_at", s_jtime(s->updated_ms));
    json_object_set_new(o, "events", json_integer((json_int_t)s->events));
    return o;
}

static json_t *s_jentry(const valija_history_entry *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "msg_id", s_jid(e->msg_id));
    json_object_set_new(o, "origin", s_jstr(e->origin));
    json_object_set_new(o, "seq", json_integer((json_int_t)e->seq));
    json_object_set_new(o, "kind", s_jstr(valija_kind_name(e->kind)));
    json_object_set_new(o, "verified", json_boolean(e->verified));
    json_object_set_new(o, "applied", json_boolean(e->applied));
    json_object_set_new(o, "reason", s_jopt(e->rejected_reason));
    json_object_set_new(o, "created_at", s_jtime(e->created_ms));
    json_object_set_new(o, "received_at", s_jtime(e->received_ms));
    json_object_set_new(o, "lamport", json_integer((json_int_t)e->lamport));
    const valija_update *u = e->update;
    json_object_set_new(o, "case", u != NULL ? s_jstr(u->case_id) : json_null());
    json_object_set_new(o, "at", u != NULL ? s_jtime(u->at_ms) : json_null());
    json_object_set_new(o, "status", u != NULL ? s_jopt(u->status) : json_null());
    json_object_set_new(o, "facility", u != NULL ? s_jopt(u->facility) : json_null());
    json_object_set_new(o, "note", u != NULL ? s_jopt(u->note) : json_null());
    json_object_set_new(
        o, "share", u != NULL && u->n_share > 0 ? s_jstrings(u->share, u->n_share) : json_null());
    json_object_set_new(o, "co_owners",
                        u != NULL && u->n_co_owners > 0 ? s_jstrings(u->co_owners, u->n_co_owners)
                                                        : json_null());
    json_object_set_new(o, "person", u != NULL ? s_jperson(u->person) : json_null());
    json_object_set_new(o, "representation", u != NULL ? s_jrepr(u->representation) : json_null());
    json_object_set_new(o, "visit", u != NULL ? s_jvisit(u->visit) : json_null());
    json_object_set_new(o, "links",
                        u != NULL && u->n_links > 0 ? s_jlinks(u->links, u->n_links) : json_null());
    return o;
}

/* Prints j as one line and releases it. */
static void s_print_json(json_t *j)
{
    if (j == NULL)
        return;
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
    if (text != NULL) {
        puts(text);
        free(text);
    }
    json_decref(j);
}

static void s_print_list(const char *label, const char *const *list, size_t n)
{
    printf("%-14s", label);
    if (n == 0)
        fputs("-", stdout);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            fputs(", ", stdout);
        s_put(list[i]);
    }
    putchar('\n');
}

static void s_print_field(const char *label, const char *value)
{
    printf("%-14s", label);
    s_put(value != NULL && value[0] != '\0' ? value : "-");
    putchar('\n');
}

static void s_print_case(const valija_case_state *s)
{
    s_print_field("case", s->case_id);
    s_print_field("status", s->status);
    s_print_field("facility", s->facility);
    s_print_field("owner", s->owner);
    s_print_list("co-owners", s->co_owners, s->n_co_owners);
    s_print_list("shared with", s->shared_with, s->n_shared_with);
    if (s->person != NULL) {
        const valija_person *p = s->person;
        s_print_field("name", p->name);
        s_print_field("born", p->date_of_birth);
        s_print_field("nationality", p->nationality);
        s_print_field("document", p->document);
        s_print_field("alien number", p->alien_number);
        s_print_field("minor", s_minor_name(p->minor));
    }
    if (s->representation != NULL) {
        const valija_representation *r = s->representation;
        printf("%-14s", "represented by");
        s_put(r->name[0] != '\0' ? r->name : "-");
        if (r->organization[0] != '\0') {
            fputs(", ", stdout);
            s_put(r->organization);
        }
        if (r->contact[0] != '\0') {
            fputs(" (", stdout);
            s_put(r->contact);
            putchar(')');
        }
        putchar('\n');
    }
    if (s->last_visit != NULL) {
        printf("%-14s", "last visit");
        s_put_time(s->last_visit->at_ms);
        fputs(" by ", stdout);
        s_put(s->last_visit->visitor);
        putchar('\n');
    }
    for (size_t i = 0; i < s->n_links; i++) {
        printf("%-14s%s ", i == 0 ? "links" : "", valija_relation_name(s->links[i].relation));
        s_put(s->links[i].case_id);
        putchar('\n');
    }
    printf("%-14s%s\n", "closed", s->closed ? "yes" : "no");
    printf("%-14s", "updated");
    s_put_time(s->updated_ms);
    printf(" (%llu %s)\n", (unsigned long long)s->events, s->events == 1 ? "event" : "events");
    for (size_t i = 0; i < s->n_conflicts; i++) {
        const valija_conflict *c = &s->conflicts[i];
        fputs("CONFLICT      ", stdout);
        s_put(c->field);
        fputs(":\n", stdout);
        for (size_t k = 0; k < c->n_values; k++) {
            fputs("                ", stdout);
            s_put(c->values[k].value);
            fputs("  (", stdout);
            s_put(c->values[k].origin);
            fputs(", ", stdout);
            s_put_time(c->values[k].at_ms);
            fputs(")\n", stdout);
        }
    }
    for (size_t i = 0; i < s->n_notes; i++) {
        printf("%-14s", i == 0 ? "notes" : "");
        s_put_time(s->notes[i].at_ms);
        putchar(' ');
        s_put(s->notes[i].origin);
        fputs(": ", stdout);
        s_put(s->notes[i].text);
        putchar('\n');
    }
}

static void s_print_entry(const valija_history_entry *e)
{
    char hex[VALIJA_MSGID_HEX_LEN + 1];
    valija_msgid_to_hex(e->msg_id, hex);
    s_put_time(e->created_ms);
    fputs("  ", stdout);
    s_put(e->origin);
    printf("#%llu  %-14s %s  %s", (unsigned long long)e->seq, valija_kind_name(e->kind), hex,
           e->verified ? "verified" : "UNVERIFIED");
    if (!e->applied) {
        fputs("  REJECTED: ", stdout);
        s_put(e->rejected_reason[0] != '\0' ? e->rejected_reason : "(no reason given)");
    }
    const valija_update *u = e->update;
    if (u != NULL) {
        fputs("  ", stdout);
        s_put(u->case_id);
        if (u->status[0] != '\0') {
            fputs(" status=", stdout);
            s_put(u->status);
        }
        if (u->facility[0] != '\0') {
            fputs(" facility=", stdout);
            s_put(u->facility);
        }
        if (u->n_share > 0) {
            fputs(" share=", stdout);
            for (size_t i = 0; i < u->n_share; i++) {
                if (i > 0)
                    putchar(',');
                s_put(u->share[i]);
            }
        }
        if (u->visit != NULL) {
            fputs(" visit=", stdout);
            s_put(u->visit->visitor);
        }
        if (u->representation != NULL) {
            fputs(" representation=", stdout);
            s_put(u->representation->name);
        }
        for (size_t i = 0; i < u->n_links; i++) {
            printf(" %s=", valija_relation_name(u->links[i].relation));
            s_put(u->links[i].case_id);
        }
        if (u->note[0] != '\0') {
            fputs(" note=\"", stdout);
            s_put(u->note);
            putchar('"');
        }
    }
    putchar('\n');
}

/* ---- option parsing shared by every verb ----------------------------------- */

enum { S_OPT_SOCKET = 1000, S_OPT_JSON, S_OPT_HELP };

#define S_COMMON_OPTIONS                                                                           \
    {"socket", required_argument, NULL, S_OPT_SOCKET}, {"json", no_argument, NULL, S_OPT_JSON},    \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }

/* Handles --socket and --json; returns 1 if c was one of them. */
static int s_common_opt(s_ctx *ctx, int c)
{
    if (c == S_OPT_SOCKET) {
        ctx->socket = optarg;
        return 1;
    }
    if (c == S_OPT_JSON) {
        ctx->json = true;
        return 1;
    }
    return 0;
}

static int s_bad_opt(s_ctx *ctx, int argc, char **argv)
{
    const char *arg = optind - 1 < argc && optind > 0 ? argv[optind - 1] : "?";
    if (optopt != 0 && optopt < 256 && optopt != '?')
        return s_usage_err(ctx, "unknown option or missing value: '-%c'", optopt);
    return s_usage_err(ctx, "unknown option or missing value: '%s'", arg);
}

/* ---- submit ----------------------------------------------------------------- */

static const char s_submit_usage[] =
    "usage: valija submit --case ID [options]\n"
    "       valija submit -          (JSON lines on standard input)\n"
    "\n"
    "Records one update of a case and prints its message id.\n"
    "\n"
    "  --case ID                  the case (1-64 of A-Z a-z 0-9 . _ -)\n"
    "  --kind K                   opened, status, location, visit, representation,\n"
    "                             note, link, share, closed (default: inferred)\n"
    "  --at ISO8601               when it happened (default: now)\n"
    "  --status S  --facility F  --note TEXT\n"
    "  --share POST,...           the full list of posts the case is shared with;\n"
    "                             widening sends the case's earlier history to the\n"
    "                             added posts; narrowing stops future updates but\n"
    "                             cannot recall what was already received\n"
    "  --co-owners POST,...       the full list of co-owning posts\n"
    "  --name N  --dob YYYY-MM-DD  --nationality CC  --document D\n"
    "  --alien-number A  --minor yes|no\n"
    "  --representative N  --organization O  --contact C\n"
    "  --visitor V  --visit-at ISO8601\n"
    "  --link RELATION:CASEID     parent, child or sibling (repeatable)\n"
    "  --json                     print {\"msg_id\": ...} objects\n"
    "  --socket ENDPOINT          valijad's client socket (default $VALIJA_SOCKET)\n"
    "\n"
    "With '-', each line of standard input is one JSON object with the keys case,\n"
    "kind, at, status, facility, note, share, co_owners, person {name, dob,\n"
    "nationality, document, alien_number, minor}, representation {name,\n"
    "organization, contact}, visit {visitor, at} and links [{relation, case}].\n"
    "Every line is checked first: one bad line and nothing is submitted.\n";

/* One update and what it borrows or owns. */
typedef struct {
    valija_update u;
    valija_person person;
    valija_representation repr;
    valija_visit visit;
    const char **share;
    const char **co_owners;
    valija_link *links;
    char *share_buf;
    char *co_buf;
    json_t *root;
} s_upd;

static void s_upd_release(s_upd *x)
{
    free(x->share);
    free(x->co_owners);
    free(x->links);
    free(x->share_buf);
    free(x->co_buf);
    json_decref(x->root);
    memset(x, 0, sizeof *x);
}

/* Splits a copy of "a,b,c" into *list; empty items are kept (and refused by
 * the check).  Returns 0 when out of memory. */
static int s_split(const char *text, char **buf, const char ***list, size_t *n)
{
    *buf = strdup(text);
    if (*buf == NULL)
        return 0;
    size_t count = 1;
    for (const char *p = text; *p != '\0'; p++)
        count += *p == ',';
    *list = calloc(count, sizeof **list);
    if (*list == NULL)
        return 0;
    size_t i = 0;
    char *p = *buf;
    for (;;) {
        (*list)[i++] = p;
        char *comma = strchr(p, ',');
        if (comma == NULL)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    *n = i;
    return 1;
}

static int s_add_link(s_upd *x, valija_relation rel, const char *case_id)
{
    valija_link *links = realloc(x->links, (x->u.n_links + 1) * sizeof *links);
    if (links == NULL)
        return 0;
    links[x->u.n_links].relation = rel;
    links[x->u.n_links].case_id = case_id;
    x->links = links;
    x->u.links = links;
    x->u.n_links++;
    return 1;
}

/* Fixes the pointers of x->u into x itself (after x was filled or moved). */
static void s_upd_wire(s_upd *x, bool person, bool repr, bool visit)
{
    x->u.person = person ? &x->person : NULL;
    x->u.representation = repr ? &x->repr : NULL;
    x->u.visit = visit ? &x->visit : NULL;
    x->u.share = x->share;
    x->u.co_owners = x->co_owners;
    x->u.links = x->links;
}

static int s_print_ids(const s_ctx *ctx, uint8_t (*ids)[VALIJA_MSGID_LEN], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char hex[VALIJA_MSGID_HEX_LEN + 1];
        valija_msgid_to_hex(ids[i], hex);
        if (ctx->json) {
            json_t *o = json_object();
            json_object_set_new(o, "msg_id", s_jstr(hex));
            s_print_json(o);
        } else {
            puts(hex);
        }
    }
    return EX_OK;
}

/* Submits n checked updates and prints the ids of those accepted. */
static int s_submit_all(s_ctx *ctx, s_upd *x, size_t n)
{
    int code = EX_OSERR;
    valija_update *ups = calloc(n, sizeof *ups);
    uint8_t(*ids)[VALIJA_MSGID_LEN] = calloc(n, sizeof *ids);
    if (ups == NULL || ids == NULL) {
        s_err(ctx, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        ups[i] = x[i].u;
    if ((code = s_connect(ctx)) != EX_OK)
        goto out;
    size_t done = 0;
    valija_err err = valija_submit(ctx->conn, ups, n, ids, &done);
    s_print_ids(ctx, ids, done);
    if (err != VALIJA_OK) {
        code = s_fail(ctx, err);
        if (done > 0)
            s_err(ctx,
                  "%zu of %zu updates were submitted before the failure (their ids are on "
                  "standard output); the rest were not",
                  done, n);
        goto out;
    }
    /* Say it plainly where it matters: sharing cannot be undone. */
    for (size_t i = 0; i < n; i++) {
        if (ups[i].n_share > 0 && ups[i].kind == VALIJA_KIND_SHARE) {
            s_err(ctx, "note: a post removed from the share list gets no further updates, but "
                       "keeps what it already received; nothing can be recalled");
            break;
        }
    }
    code = EX_OK;
out:
    free(ups);
    free(ids);
    return code;
}

/* ---- submit -: JSON lines ---- */

static int s_jfail(const s_ctx *ctx, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_jfail(const s_ctx *ctx, size_t line, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s_err(ctx, "line %zu: %s", line, msg);
    return EX_DATAERR;
}

/* A string member: absent and null leave *out alone. */
static int s_jget_str(const s_ctx *ctx, size_t line, json_t *obj, const char *key,
                      const char *label, const char **out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return EX_OK;
    if (!json_is_string(v))
        return s_jfail(ctx, line, "'%s' must be a string", label);
    *out = json_string_value(v);
    return EX_OK;
}

static int s_jget_time(const s_ctx *ctx, size_t line, json_t *obj, const char *key,
                       const char *label, int64_t *out)
{
    const char *s = NULL;
    int code = s_jget_str(ctx, line, obj, key, label, &s);
    if (code != EX_OK || s == NULL)
        return code;
    if (valija_time_parse(s, out) != VALIJA_OK)
        return s_jfail(ctx, line, "'%s' must be a time such as 2026-11-28T01:14:28.123Z", label);
    return EX_OK;
}

/* Refuses members of obj not in allowed. */
static int s_jkeys(const s_ctx *ctx, size_t line, json_t *obj, const char *where,
                   const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        (void)v;
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok) {
            bool printable = strlen(key) <= 64;
            for (const char *p = key; *p != '\0' && printable; p++)
                printable = *p >= 0x20 && *p < 0x7f && *p != '\'';
            if (printable)
                return s_jfail(ctx, line, "unknown key '%s'%s%s", key, where[0] ? " in " : "",
                               where);
            return s_jfail(ctx, line, "unknown key%s%s", where[0] ? " in " : "", where);
        }
    }
    return EX_OK;
}

/* share or co_owners: an array of strings or one comma-separated string. */
static int s_jget_posts(const s_ctx *ctx, size_t line, json_t *obj, const char *key, char **buf,
                        const char ***list, size_t *n)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return EX_OK;
    if (json_is_string(v)) {
        if (!s_split(json_string_value(v), buf, list, n)) {
            s_err(ctx, "out of memory");
            return EX_OSERR;
        }
        return EX_OK;
    }
    if (!json_is_array(v))
        return s_jfail(ctx, line, "'%s' must be an array of post names", key);
    size_t count = json_array_size(v);
    *list = calloc(count > 0 ? count : 1, sizeof **list);
    if (*list == NULL) {
        s_err(ctx, "out of memory");
        return EX_OSERR;
    }
    for (size_t i = 0; i < count; i++) {
        json_t *item = json_array_get(v, i);
        if (!json_is_string(item))
            return s_jfail(ctx, line, "'%s' must be an array of post names", key);
        (*list)[i] = json_string_value(item);
    }
    *n = count;
    return EX_OK;
}

static int s_parse_line(const s_ctx *ctx, size_t line, const char *text, size_t len, s_upd *x)
{
    static const char *const top_keys[] = {
        "case",   "kind",           "at",    "status", "facility", "note", "share", "co_owners",
        "person", "representation", "visit", "links",  NULL};
    static const char *const person_keys[] = {"name",         "dob",   "nationality", "document",
                                              "alien_number", "minor", NULL};
    static const char *const repr_keys[] = {"name", "organization", "contact", NULL};
    static const char *const visit_keys[] = {"visitor", "at", NULL};
    static const char *const link_keys[] = {"relation", "case", NULL};
    json_error_t jerr;
    int code;
    bool has_person = false, has_repr = false, has_visit = false;

    x->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (x->root == NULL)
        return s_jfail(ctx, line, "not valid JSON (%s at column %d)", jerr.text, jerr.column);
    json_t *o = x->root;
    if (!json_is_object(o))
        return s_jfail(ctx, line, "must be a JSON object");
    if ((code = s_jkeys(ctx, line, o, "", top_keys)) != EX_OK)
        return code;
    json_t *c = json_object_get(o, "case");
    if (c == NULL || json_is_null(c))
        return s_jfail(ctx, line, "'case' is required");
    if ((code = s_jget_str(ctx, line, o, "case", "case", &x->u.case_id)) != EX_OK ||
        (code = s_jget_str(ctx, line, o, "status", "status", &x->u.status)) != EX_OK ||
        (code = s_jget_str(ctx, line, o, "facility", "facility", &x->u.facility)) != EX_OK ||
        (code = s_jget_str(ctx, line, o, "note", "note", &x->u.note)) != EX_OK ||
        (code = s_jget_time(ctx, line, o, "at", "at", &x->u.at_ms)) != EX_OK)
        return code;
    const char *kind = NULL;
    if ((code = s_jget_str(ctx, line, o, "kind", "kind", &kind)) != EX_OK)
        return code;
    if (kind != NULL && valija_kind_from_name(kind, &x->u.kind) != VALIJA_OK)
        return s_jfail(ctx, line,
                       "'kind' must be one of opened, status, location, visit, "
                       "representation, note, link, share, closed");
    if ((code = s_jget_posts(ctx, line, o, "share", &x->share_buf, &x->share, &x->u.n_share)) !=
            EX_OK ||
        (code = s_jget_posts(ctx, line, o, "co_owners", &x->co_buf, &x->co_owners,
                             &x->u.n_co_owners)) != EX_OK)
        return code;

    json_t *p = json_object_get(o, "person");
    if (p != NULL && !json_is_null(p)) {
        if (!json_is_object(p))
            return s_jfail(ctx, line, "'person' must be an object");
        if ((code = s_jkeys(ctx, line, p, "'person'", person_keys)) != EX_OK ||
            (code = s_jget_str(ctx, line, p, "name", "person.name", &x->person.name)) != EX_OK ||
            (code = s_jget_str(ctx, line, p, "dob", "person.dob", &x->person.date_of_birth)) !=
                EX_OK ||
            (code = s_jget_str(ctx, line, p, "nationality", "person.nationality",
                               &x->person.nationality)) != EX_OK ||
            (code = s_jget_str(ctx, line, p, "document", "person.document", &x->person.document)) !=
                EX_OK ||
            (code = s_jget_str(ctx, line, p, "alien_number", "person.alien_number",
                               &x->person.alien_number)) != EX_OK)
            return code;
        json_t *m = json_object_get(p, "minor");
        if (m != NULL && !json_is_null(m)) {
            if (!json_is_boolean(m))
                return s_jfail(ctx, line, "'person.minor' must be true or false");
            x->person.minor = json_is_true(m) ? VALIJA_MINOR_YES : VALIJA_MINOR_NO;
        }
        has_person = true;
    }
    json_t *r = json_object_get(o, "representation");
    if (r != NULL && !json_is_null(r)) {
        if (!json_is_object(r))
            return s_jfail(ctx, line, "'representation' must be an object");
        if ((code = s_jkeys(ctx, line, r, "'representation'", repr_keys)) != EX_OK ||
            (code = s_jget_str(ctx, line, r, "name", "representation.name", &x->repr.name)) !=
                EX_OK ||
            (code = s_jget_str(ctx, line, r, "organization", "representation.organization",
                               &x->repr.organization)) != EX_OK ||
            (code = s_jget_str(ctx, line, r, "contact", "representation.contact",
                               &x->repr.contact)) != EX_OK)
            return code;
        has_repr = true;
    }
    json_t *v = json_object_get(o, "visit");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_object(v))
            return s_jfail(ctx, line, "'visit' must be an object");
        if ((code = s_jkeys(ctx, line, v, "'visit'", visit_keys)) != EX_OK ||
            (code = s_jget_str(ctx, line, v, "visitor", "visit.visitor", &x->visit.visitor)) !=
                EX_OK ||
            (code = s_jget_time(ctx, line, v, "at", "visit.at", &x->visit.at_ms)) != EX_OK)
            return code;
        has_visit = true;
    }
    json_t *links = json_object_get(o, "links");
    if (links != NULL && !json_is_null(links)) {
        if (!json_is_array(links))
            return s_jfail(ctx, line, "'links' must be an array of {\"relation\", \"case\"}");
        for (size_t i = 0; i < json_array_size(links); i++) {
            json_t *l = json_array_get(links, i);
            if (!json_is_object(l))
                return s_jfail(ctx, line, "'links' must be an array of {\"relation\", \"case\"}");
            const char *rel = NULL, *cid = NULL;
            valija_relation relation;
            if ((code = s_jkeys(ctx, line, l, "'links'", link_keys)) != EX_OK ||
                (code = s_jget_str(ctx, line, l, "relation", "links.relation", &rel)) != EX_OK ||
                (code = s_jget_str(ctx, line, l, "case", "links.case", &cid)) != EX_OK)
                return code;
            if (rel == NULL || valija_relation_from_name(rel, &relation) != VALIJA_OK)
                return s_jfail(ctx, line, "'links.relation' must be parent, child or sibling");
            if (cid == NULL)
                return s_jfail(ctx, line, "'links.case' is required");
            if (!s_add_link(x, relation, cid)) {
                s_err(ctx, "out of memory");
                return EX_OSERR;
            }
        }
    }
    s_upd_wire(x, has_person, has_repr, has_visit);
    char why[300];
    if (valija_update_check(&x->u, why, sizeof why) != VALIJA_OK)
        return s_jfail(ctx, line, "%s", why);
    return EX_OK;
}

static int s_submit_stdin(s_ctx *ctx)
{
    int code = EX_OSERR;
    s_upd *ups = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    errno = 0;
    while ((len = getline(&line, &line_cap, stdin)) >= 0) {
        lineno++;
        if ((size_t)len > S_LINE_MAX) {
            code = s_jfail(ctx, lineno, "longer than %d bytes", S_LINE_MAX);
            goto out;
        }
        size_t k = 0;
        while (k < (size_t)len && strchr(" \t\r\n", line[k]) != NULL)
            k++;
        if (k == (size_t)len)
            continue; /* blank line */
        if (n == cap) {
            size_t ncap = cap > 0 ? cap * 2 : 64;
            s_upd *grown = realloc(ups, ncap * sizeof *grown);
            if (grown == NULL) {
                s_err(ctx, "out of memory");
                goto out;
            }
            ups = grown;
            cap = ncap;
        }
        memset(&ups[n], 0, sizeof ups[n]);
        n++;
        if ((code = s_parse_line(ctx, lineno, line, (size_t)len, &ups[n - 1])) != EX_OK)
            goto out;
        /* ups may move on the next realloc: keep the pointers relative */
    }
    if (ferror(stdin)) {
        s_err(ctx, "cannot read standard input: %s", strerror(errno));
        code = EX_NOINPUT;
        goto out;
    }
    if (n == 0) {
        s_err(ctx, "no updates on standard input");
        code = EX_DATAERR;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        s_upd_wire(&ups[i], ups[i].u.person != NULL, ups[i].u.representation != NULL,
                   ups[i].u.visit != NULL);
    code = s_submit_all(ctx, ups, n);
out:
    for (size_t i = 0; i < n; i++)
        s_upd_release(&ups[i]);
    free(ups);
    free(line);
    return code;
}

static int s_parse_minor(const char *s, valija_minor *m)
{
    if (strcmp(s, "yes") == 0)
        *m = VALIJA_MINOR_YES;
    else if (strcmp(s, "no") == 0)
        *m = VALIJA_MINOR_NO;
    else if (strcmp(s, "unknown") == 0)
        *m = VALIJA_MINOR_UNKNOWN;
    else
        return 0;
    return 1;
}

static int s_cmd_submit(s_ctx *ctx, int argc, char **argv)
{
    enum {
        O_CASE = 1,
        O_KIND,
        O_AT,
        O_STATUS,
        O_FACILITY,
        O_NOTE,
        O_SHARE,
        O_CO,
        O_NAME,
        O_DOB,
        O_NAT,
        O_DOC,
        O_ANUM,
        O_MINOR,
        O_REP,
        O_ORG,
        O_CONTACT,
        O_VISITOR,
        O_VISIT_AT,
        O_LINK,
    };
    static const struct option opts[] = {
        {"case", required_argument, NULL, O_CASE},
        {"kind", required_argument, NULL, O_KIND},
        {"at", required_argument, NULL, O_AT},
        {"status", required_argument, NULL, O_STATUS},
        {"facility", required_argument, NULL, O_FACILITY},
        {"note", required_argument, NULL, O_NOTE},
        {"share", required_argument, NULL, O_SHARE},
        {"co-owners", required_argument, NULL, O_CO},
        {"name", required_argument, NULL, O_NAME},
        {"dob", required_argument, NULL, O_DOB},
        {"nationality", required_argument, NULL, O_NAT},
        {"document", required_argument, NULL, O_DOC},
        {"alien-number", required_argument, NULL, O_ANUM},
        {"minor", required_argument, NULL, O_MINOR},
        {"representative", required_argument, NULL, O_REP},
        {"organization", required_argument, NULL, O_ORG},
        {"contact", required_argument, NULL, O_CONTACT},
        {"visitor", required_argument, NULL, O_VISITOR},
        {"visit-at", required_argument, NULL, O_VISIT_AT},
        {"link", required_argument, NULL, O_LINK},
        S_COMMON_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    s_upd x;
    memset(&x, 0, sizeof x);
    bool has_person = false, has_repr = false, has_visit = false, any_field = false;
    int code = EX_USAGE;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (s_common_opt(ctx, c))
            continue;
        if (c == 'h') {
            fputs(s_submit_usage, stdout);
            code = EX_OK;
            goto out;
        }
        any_field = true;
        switch (c) {
        case O_CASE:
            x.u.case_id = optarg;
            break;
        case O_KIND:
            if (valija_kind_from_name(optarg, &x.u.kind) != VALIJA_OK) {
                code = s_usage_err(ctx, "--kind must be one of opened, status, location, visit, "
                                        "representation, note, link, share, closed");
                goto out;
            }
            break;
        case O_AT:
            if (valija_time_parse(optarg, &x.u.at_ms) != VALIJA_OK) {
                code = s_usage_err(ctx, "--at must be a time such as 2026-11-28T01:14:28Z");
                goto out;
            }
            break;
        case O_STATUS:
            x.u.status = optarg;
            break;
        case O_FACILITY:
            x.u.facility = optarg;
            break;
        case O_NOTE:
            x.u.note = optarg;
            break;
        case O_SHARE:
        case O_CO: {
            bool share = c == O_SHARE;
            char **buf = share ? &x.share_buf : &x.co_buf;
            const char ***list = share ? &x.share : &x.co_owners;
            size_t *n = share ? &x.u.n_share : &x.u.n_co_owners;
            if (*buf != NULL) {
                code = s_usage_err(ctx, "--%s given twice; give the full list once",
                                   share ? "share" : "co-owners");
                goto out;
            }
            if (!s_split(optarg, buf, list, n)) {
                s_err(ctx, "out of memory");
                code = EX_OSERR;
                goto out;
            }
            break;
        }
        case O_NAME:
            x.person.name = optarg;
            has_person = true;
            break;
        case O_DOB:
            x.person.date_of_birth = optarg;
            has_person = true;
            break;
        case O_NAT:
            x.person.nationality = optarg;
            has_person = true;
            break;
        case O_DOC:
            x.person.document = optarg;
            has_person = true;
            break;
        case O_ANUM:
            x.person.alien_number = optarg;
            has_person = true;
            break;
        case O_MINOR:
            if (!s_parse_minor(optarg, &x.person.minor)) {
                code = s_usage_err(ctx, "--minor must be yes or no");
                goto out;
            }
            has_person = true;
            break;
        case O_REP:
            x.repr.name = optarg;
            has_repr = true;
            break;
        case O_ORG:
            x.repr.organization = optarg;
            has_repr = true;
            break;
        case O_CONTACT:
            x.repr.contact = optarg;
            has_repr = true;
            break;
        case O_VISITOR:
            x.visit.visitor = optarg;
            has_visit = true;
            break;
        case O_VISIT_AT:
            if (valija_time_parse(optarg, &x.visit.at_ms) != VALIJA_OK) {
                code = s_usage_err(ctx, "--visit-at must be a time such as 2026-11-28T01:14:28Z");
                goto out;
            }
            has_visit = true;
            break;
        case O_LINK: {
            char *colon = strchr(optarg, ':');
            valija_relation rel;
            if (colon == NULL) {
                code =
                    s_usage_err(ctx, "--link must be RELATION:CASEID, e.g. child:MX-2018-000124");
                goto out;
            }
            *colon = '\0';
            if (valija_relation_from_name(optarg, &rel) != VALIJA_OK) {
                code = s_usage_err(ctx, "--link relation must be parent, child or sibling");
                goto out;
            }
            if (!s_add_link(&x, rel, colon + 1)) {
                s_err(ctx, "out of memory");
                code = EX_OSERR;
                goto out;
            }
            break;
        }
        default:
            code = s_bad_opt(ctx, argc, argv);
            goto out;
        }
    }
    if (optind < argc) {
        if (strcmp(argv[optind], "-") != 0) {
            code = s_usage_err(ctx, "unexpected argument '%s'", argv[optind]);
            goto out;
        }
        if (any_field || optind + 1 < argc) {
            code = s_usage_err(ctx, "'-' reads every update from standard input; give no other "
                                    "update options or arguments");
            goto out;
        }
        code = s_submit_stdin(ctx);
        goto out;
    }
    if (x.u.case_id == NULL) {
        code = s_usage_err(ctx, "--case is required");
        goto out;
    }
    s_upd_wire(&x, has_person, has_repr, has_visit);
    char why[300];
    if (valija_update_check(&x.u, why, sizeof why) != VALIJA_OK) {
        s_err(ctx, "%s", why);
        code = EX_DATAERR;
        goto out;
    }
    code = s_submit_all(ctx, &x, 1);
out:
    s_upd_release(&x);
    return code;
}

/* ---- families --------------------------------------------------------------- */

/* One family member as JSON: "case", "relation", "held", and "status",
 * "facility", "owner", "name" (null when not held; name null when none). */
static json_t *s_jmember(const valija_family_member *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "case", s_jstr(m->case_id));
    json_object_set_new(o, "relation", s_jstr(valija_family_relation_name(m->relation)));
    json_object_set_new(o, "status", m->held ? s_jstr(m->status) : json_null());
    json_object_set_new(o, "facility", m->held ? s_jstr(m->facility) : json_null());
    json_object_set_new(o, "owner", m->held ? s_jstr(m->owner) : json_null());
    json_object_set_new(o, "name", m->held ? s_jopt(m->name) : json_null());
    json_object_set_new(o, "held", json_boolean(m->held));
    return o;
}

#define S_FAMILY_HEADER                                                                            \
    "%-24s %-9s %-16s %-24s %-16s %s\n", "CASE", "RELATION", "STATUS", "FACILITY", "OWNER", "NAME"

/* One member as a table row, after indent. */
static void s_print_member(const char *indent, const valija_family_member *m)
{
    fputs(indent, stdout);
    s_put_pad(m->case_id, 24);
    s_put_pad(valija_family_relation_name(m->relation), 9);
    if (!m->held) {
        fputs("not shared with this post\n", stdout);
        return;
    }
    s_put_pad(m->status[0] != '\0' ? m->status : "-", 16);
    s_put_pad(m->facility[0] != '\0' ? m->facility : "-", 24);
    s_put_pad(m->owner[0] != '\0' ? m->owner : "-", 16);
    s_put(m->name[0] != '\0' ? m->name : "-");
    fputs(m->closed ? " (closed)\n" : "\n", stdout);
}

/* ---- case ------------------------------------------------------------------- */

static const char s_case_usage[] =
    "usage: valija case [--family] [--json] ID\n"
    "\n"
    "Shows the current state of a case: status, facility, who it is shared\n"
    "with, unsettled conflicts, notes.\n"
    "\n"
    "  --family  also every case of its family: the cases linked to it, to\n"
    "            them, and so on, whichever case recorded the link (at most 64).\n"
    "            Each with its relation to ID (parent, child, sibling when\n"
    "            linked directly, else family), status, facility, owner and\n"
    "            name; a case this post does not hold is shown as not shared\n"
    "            with this post.  With --json: \"family\", an array of\n"
    "            {case, relation, status, facility, owner, name, held} for\n"
    "            every member but ID, and \"family_truncated\".\n";

static int s_one_case_arg(s_ctx *ctx, int argc, char **argv, const char **id)
{
    if (optind >= argc)
        return s_usage_err(ctx, "a case id is required");
    if (optind + 1 < argc)
        return s_usage_err(ctx, "unexpected argument '%s'", argv[optind + 1]);
    *id = argv[optind];
    if (!valija_case_id_is_valid(*id)) {
        s_err(ctx, "'%s' is not a case id (1-64 of A-Z, a-z, 0-9, '.', '_' and '-')", *id);
        return EX_DATAERR;
    }
    return EX_OK;
}

static int s_cmd_case(s_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"family", no_argument, NULL, 'f'}, S_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    bool family = false;
    int c;
    while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
        if (s_common_opt(ctx, c))
            continue;
        if (c == 'h') {
            fputs(s_case_usage, stdout);
            return EX_OK;
        }
        if (c == 'f')
            family = true;
        else
            return s_bad_opt(ctx, argc, argv);
    }
    const char *id;
    int code = s_one_case_arg(ctx, argc, argv, &id);
    if (code != EX_OK || (code = s_connect(ctx)) != EX_OK)
        return code;
    valija_case_result *res = NULL;
    valija_err err = valija_case(ctx->conn, id, family, &res);
    if (err != VALIJA_OK)
        return s_fail(ctx, err);
    const valija_case_state *s = &res->state;
    const valija_family *fm = res->family_members;
    if (ctx->json && fm != NULL) {
        json_t *o = s_jcase(s);
        json_t *fam = json_array();
        for (size_t i = 1; i < fm->n_members; i++)
            json_array_append_new(fam, s_jmember(&fm->members[i]));
        json_object_set_new(o, "family", fam);
        json_object_set_new(o, "family_truncated", json_boolean(fm->truncated));
        s_print_json(o);
    } else if (fm != NULL) {
        s_print_case(s);
        printf("%-14s", "family");
        if (fm->n_members < 2) {
            fputs("- (no linked cases)\n", stdout);
        } else {
            printf(S_FAMILY_HEADER);
            for (size_t i = 1; i < fm->n_members; i++)
                s_print_member("              ", &fm->members[i]);
            if (fm->truncated)
                puts("              ... and more: a family lists at most 64 members");
        }
    } else if (ctx->json) {
        /* a valijad that does not send family members */
        json_t *o = s_jcase(s);
        if (family) {
            json_t *fam = json_array();
            for (size_t i = 0; i < res->n_family; i++) {
                const valija_case_state *m = &res->family[i];
                json_t *f = json_object();
                json_t *rel = json_null();
                for (size_t k = 0; k < s->n_links; k++)
                    if (strcmp(s->links[k].case_id, m->case_id) == 0)
                        rel = s_jstr(valija_relation_name(s->links[k].relation));
                json_object_set_new(f, "case", s_jstr(m->case_id));
                json_object_set_new(f, "relation", rel);
                json_object_set_new(f, "status", s_jstr(m->status));
                json_object_set_new(f, "facility", s_jstr(m->facility));
                json_array_append_new(fam, f);
            }
            json_object_set_new(o, "family", fam);
        }
        s_print_json(o);
    } else {
        s_print_case(s);
        for (size_t i = 0; i < res->n_family; i++) {
            const valija_case_state *m = &res->family[i];
            printf("%-14s", i == 0 ? "family" : "");
            s_put(m->case_id);
            fputs("  ", stdout);
            s_put(m->status[0] != '\0' ? m->status : "-");
            fputs("  ", stdout);
            s_put(m->facility[0] != '\0' ? m->facility : "-");
            putchar('\n');
        }
    }
    valija_case_free(&res);
    return EX_OK;
}

/* ---- history ---------------------------------------------------------------- */

static const char s_history_usage[] =
    "usage: valija history [--json] ID\n"
    "\n"
    "Lists every update of a case, oldest first: time, origin post and its\n"
    "sequence number, kind, message id, whether the signature verified and\n"
    "whether the case rules applied it.\n";

static int s_cmd_history(s_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {S_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (s_common_opt(ctx, c))
            continue;
        if (c == 'h') {
            fputs(s_history_usage, stdout);
            return EX_OK;
        }
        return s_bad_opt(ctx, argc, argv);
    }
    const char *id;
    int code = s_one_case_arg(ctx, argc, argv, &id);
    if (code != EX_OK || (code = s_connect(ctx)) != EX_OK)
        return code;
    valija_history_list *h = NULL;
    valija_err err = valija_history(ctx->conn, id, &h);
    if (err != VALIJA_OK)
        return s_fail(ctx, err);
    for (size_t i = 0; i < h->n_entries; i++) {
        if (ctx->json)
            s_print_json(s_jentry(&h->entries[i]));
        else
            s_print_entry(&h->entries[i]);
    }
    valija_history_free(&h);
    return EX_OK;
}

/* ---- list ------------------------------------------------------------------- */

static const char s_list_usage[] =
    "usage: valija list [options]\n"
    "\n"
    "Lists cases, most recently updated first.\n"
    "\n"
    "  --status S          only cases with this status\n"
    "  --facility F        only cases at this facility\n"
    "  --shared-with POST  only cases shared with this post\n"
    "  --since ISO8601     only cases updated since then\n"
    "  --conflicts         only cases with unsettled conflicts\n"
    "  --separated         instead of cases, the families not all reunited: those\n"
    "                      with two or more members at this post, not all with\n"
    "                      status \"reunited\"; each once, with every member's\n"
    "                      relation, status, facility, owner and name (no other\n"
    "                      filter but --limit, which then counts families)\n"
    "  --limit N           at most N cases\n"
    "  --json              print a JSON array of case objects; with --separated\n"
    "                      an array of {\"family\": [{case, relation, status,\n"
    "                      facility, owner, name, held}, ...], \"truncated\"}\n";

static int s_cmd_list(s_ctx *ctx, int argc, char **argv)
{
    enum { O_STATUS = 1, O_FACILITY, O_SHARED, O_SINCE, O_CONFLICTS, O_SEPARATED, O_LIMIT };
    static const struct option opts[] = {
        {"status", required_argument, NULL, O_STATUS},
        {"facility", required_argument, NULL, O_FACILITY},
        {"shared-with", required_argument, NULL, O_SHARED},
        {"since", required_argument, NULL, O_SINCE},
        {"conflicts", no_argument, NULL, O_CONFLICTS},
        {"separated", no_argument, NULL, O_SEPARATED},
        {"limit", required_argument, NULL, O_LIMIT},
        S_COMMON_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    valija_list_filter f = {0};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (s_common_opt(ctx, c))
            continue;
        switch (c) {
        case 'h':
            fputs(s_list_usage, stdout);
            return EX_OK;
        case O_STATUS:
            f.status = optarg;
            break;
        case O_FACILITY:
            f.facility = optarg;
            break;
        case O_SHARED:
            if (!valija_post_name_is_valid(optarg))
                return s_usage_err(ctx, "--shared-with must be a post name (a-z, 0-9 and '-')");
            f.shared_with = optarg;
            break;
        case O_SINCE:
            if (valija_time_parse(optarg, &f.updated_since_ms) != VALIJA_OK)
                return s_usage_err(ctx, "--since must be a time such as 2026-11-28T01:14:28Z "
                                        "or a date");
            break;
        case O_CONFLICTS:
            f.conflicts_only = true;
            break;
        case O_SEPARATED:
            f.separated_only = true;
            break;
        case O_LIMIT: {
            char *end;
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || optarg[0] == '-' || optarg[0] == '\0' || v == 0 ||
                v > UINT32_MAX)
                return s_usage_err(ctx, "--limit must be a positive number");
            f.limit = (uint32_t)v;
            break;
        }
        default:
            return s_bad_opt(ctx, argc, argv);
        }
    }
    if (optind < argc)
        return s_usage_err(ctx, "unexpected argument '%s'", argv[optind]);
    if (f.separated_only && (f.status != NULL || f.facility != NULL || f.shared_with != NULL ||
                             f.updated_since_ms != 0 || f.conflicts_only))
        return s_usage_err(ctx, "--separated lists whole families: it takes no other filter "
                                "than --limit");
    int code = s_connect(ctx);
    if (code != EX_OK)
        return code;
    valija_case_list *l = NULL;
    valija_err err = valija_list(ctx->conn, &f, &l);
    if (err != VALIJA_OK)
        return s_fail(ctx, err);
    if (f.separated_only && ctx->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < l->n_families; i++) {
            const valija_family *fm = &l->families[i];
            json_t *o = json_object();
            json_t *members = json_array();
            for (size_t k = 0; k < fm->n_members; k++)
                json_array_append_new(members, s_jmember(&fm->members[k]));
            json_object_set_new(o, "family", members);
            json_object_set_new(o, "truncated", json_boolean(fm->truncated));
            json_array_append_new(a, o);
        }
        s_print_json(a);
    } else if (f.separated_only) {
        if (l->n_families == 0)
            puts("no separated families at this post");
        for (size_t i = 0; i < l->n_families; i++) {
            const valija_family *fm = &l->families[i];
            printf("%sfamily of ", i > 0 ? "\n" : "");
            s_put(fm->members[0].case_id);
            printf(" (%zu members%s)\n  ", fm->n_members, fm->truncated ? ", more not listed" : "");
            printf(S_FAMILY_HEADER);
            for (size_t k = 0; k < fm->n_members; k++)
                s_print_member("  ", &fm->members[k]);
        }
    } else if (ctx->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < l->n_cases; i++)
            json_array_append_new(a, s_jcase(&l->cases[i]));
        s_print_json(a);
    } else {
        printf("%-24s %-16s %-24s %-24s %s\n", "CASE", "STATUS", "FACILITY", "UPDATED",
               "CONFLICTS");
        for (size_t i = 0; i < l->n_cases; i++) {
            const valija_case_state *s = &l->cases[i];
            char t[VALIJA_TIME_TEXT_LEN];
            valija_time_format(s->updated_ms, t);
            s_put_pad(s->case_id, 24);
            s_put_pad(s->status[0] != '\0' ? s->status : "-", 16);
            s_put_pad(s->facility[0] != '\0' ? s->facility : "-", 24);
            printf("%-24s %zu%s\n", t[0] != '\0' ? t : "-", s->n_conflicts,
                   s->closed ? " (closed)" : "");
        }
    }
    valija_case_list_free(&l);
    return EX_OK;
}

/* ---- status ----------------------------------------------------------------- */

static const char s_status_usage[] =
    "usage: valija status [--json] MSGID\n"
    "\n"
    "Shows, for one update this post sent, which recipients have returned a\n"
    "signed receipt, when, and how many delivery attempts were made.  With\n"
    "--json, each recipient also carries its receipt and signature (base64),\n"
    "proof that it stored the update (docs/protocol.md, Receipt).\n";

static int s_cmd_status(s_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {S_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (s_common_opt(ctx, c))
            continue;
        if (c == 'h') {
            fputs(s_status_usage, stdout);
            return EX_OK;
        }
        return s_bad_opt(ctx, argc, argv);
    }
    if (optind >= argc)
        return s_usage_err(ctx, "a message id is required");
    if (optind + 1 < argc)
        return s_usage_err(ctx, "unexpected argument '%s'", argv[optind + 1]);
    uint8_t id[VALIJA_MSGID_LEN];
    if (valija_msgid_from_hex(argv[optind], id) != VALIJA_OK) {
        s_err(ctx, "a message id is 32 hexadecimal digits, as 'valija submit' prints it");
        return EX_DATAERR;
    }
    int code = s_connect(ctx);
    if (code != EX_OK)
        return code;
    valija_delivery *d = NULL;
    valija_err err = valija_status(ctx->conn, id, &d);
    if (err != VALIJA_OK)
        return s_fail(ctx, err);
    if (ctx->json) {
        json_t *o = json_object();
        json_object_set_new(o, "msg_id", s_jid(d->msg_id));
        json_object_set_new(o, "origin", s_jstr(d->origin));
        json_t *a = json_array();
        for (size_t i = 0; i < d->n_recipients; i++) {
            const valija_recipient *r = &d->recipients[i];
            json_t *ro = json_object();
            json_object_set_new(ro, "post", s_jstr(r->post));
            json_object_set_new(ro, "delivered", json_boolean(r->delivered));
            json_object_set_new(ro, "receipt_at", s_jtime(r->receipt_ms));
            json_object_set_new(ro, "attempts", json_integer(r->attempts));
            json_object_set_new(ro, "receipt", s_jbase64(r->receipt, r->receipt_len));
            json_object_set_new(ro, "receipt_signature",
                                s_jbase64(r->receipt_signature, r->receipt_signature_len));
            json_array_append_new(a, ro);
        }
        json_object_set_new(o, "recipients", a);
        s_print_json(o);
    } else {
        char hex[VALIJA_MSGID_HEX_LEN + 1];
        valija_msgid_to_hex(d->msg_id, hex);
        printf("%s from ", hex);
        s_put(d->origin);
        putchar('\n');
        for (size_t i = 0; i < d->n_recipients; i++) {
            const valija_recipient *r = &d->recipients[i];
            fputs("  ", stdout);
            s_put_pad(r->post, 24);
            if (r->delivered) {
                fputs("delivered ", stdout);
                s_put_time(r->receipt_ms);
            } else {
                fputs("pending", stdout);
            }
            printf(" (%u attempt%s)\n", (unsigned)r->attempts, r->attempts == 1 ? "" : "s");
        }
    }
    valija_delivery_free(&d);
    return EX_OK;
}

/* ---- peers ------------------------------------------------------------------ */

static const char s_peers_usage[] =
    "usage: valija peers [--json]\n"
    "\n"
    "Lists the peer posts: link state, when last seen, updates waiting for\n"
    "them, endpoint and card fingerprint (compare it out of band).\n";

static int s_cmd_peers(s_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {S_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (s_common_opt(ctx, c))
            continue;
        if (c == 'h') {
            fputs(s_peers_usage, stdout);
            return EX_OK;
        }
        return s_bad_opt(ctx, argc, argv);
    }
    if (optind < argc)
        return s_usage_err(ctx, "unexpected argument '%s'", argv[optind]);
    int code = s_connect(ctx);
    if (code != EX_OK)
        return code;
    valija_peer_list *p = NULL;
    valija_err err = valija_peers(ctx->conn, &p);
    if (err != VALIJA_OK)
        return s_fail(ctx, err);
    if (ctx->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < p->n_peers; i++) {
            const valija_peer *e = &p->peers[i];
            json_t *o = json_object();
            json_object_set_new(o, "post", s_jstr(e->post));
            json_object_set_new(o, "connected", json_boolean(e->connected));
            json_object_set_new(o, "last_seen", s_jtime(e->last_seen_ms));
            json_object_set_new(o, "backlog", json_integer((json_int_t)e->backlog));
            json_object_set_new(o, "endpoint", s_jstr(e->endpoint));
            json_object_set_new(o, "fingerprint", s_jstr(e->fingerprint));
            json_array_append_new(a, o);
        }
        s_print_json(a);
    } else {
        printf("%-24s %-9s %-24s %8s  %-28s %s\n", "POST", "LINK", "LAST SEEN", "BACKLOG",
               "ENDPOINT", "FINGERPRINT");
        for (size_t i = 0; i < p->n_peers; i++) {
            const valija_peer *e = &p->peers[i];
            char t[VALIJA_TIME_TEXT_LEN];
            valija_time_format(e->last_seen_ms, t);
            s_put_pad(e->post, 24);
            printf("%-9s %-24s %8llu  ", e->connected ? "up" : "down", t[0] != '\0' ? t : "never",
                   (unsigned long long)e->backlog);
            s_put_pad(e->endpoint, 28);
            s_put(e->fingerprint);
            putchar('\n');
        }
    }
    valija_peer_list_free(&p);
    return EX_OK;
}

/* ---- watch ------------------------------------------------------------------ */

static const char s_watch_usage[] =
    "usage: valija watch [--case ID] [--json]\n"
    "\n"
    "Prints each new update as valijad accepts it (from this post or a peer),\n"
    "one per line, until interrupted (exit 0) or valijad goes away (exit 69).\n";

static volatile sig_atomic_t s_stop_flag;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop_flag = 1;
}

typedef struct {
    const s_ctx *ctx;
    int io_error;
} s_watch_state;

static int s_watch_cb(const valija_history_entry *e, void *arg)
{
    s_watch_state *w = arg;
    if (e != NULL) {
        if (w->ctx->json)
            s_print_json(s_jentry(e));
        else
            s_print_entry(e);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            w->io_error = 1;
            return 1;
        }
    }
    return s_stop_flag != 0;
}

static int s_cmd_watch(s_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"case", required_argument, NULL, 'c'}, S_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    const char *id = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (s_common_opt(ctx, c))
            continue;
        if (c == 'h') {
            fputs(s_watch_usage, stdout);
            return EX_OK;
        }
        if (c == 'c')
            id = optarg;
        else
            return s_bad_opt(ctx, argc, argv);
    }
    if (optind < argc)
        return s_usage_err(ctx, "unexpected argument '%s'", argv[optind]);
    if (id != NULL && !valija_case_id_is_valid(id)) {
        s_err(ctx, "'%s' is not a case id (1-64 of A-Z, a-z, 0-9, '.', '_' and '-')", id);
        return EX_DATAERR;
    }
    int code = s_connect(ctx);
    if (code != EX_OK)
        return code;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the wait must wake up */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    s_watch_state w = {ctx, 0};
    valija_err err = valija_watch(ctx->conn, id, s_watch_cb, &w);
    if (w.io_error) {
        s_err(ctx, "cannot write the output: %s", strerror(errno));
        return EX_IOERR;
    }
    if (err != VALIJA_OK)
        return s_fail(ctx, err);
    return EX_OK;
}

/* ---- main ------------------------------------------------------------------- */

static const struct {
    const char *name;
    s_verb_fn fn;
    const char *summary;
} s_verbs[] = {
    {"submit", s_cmd_submit, "record an update of a case and share it"},
    {"case", s_cmd_case, "show the current state of a case"},
    {"history", s_cmd_history, "list every update of a case"},
    {"list", s_cmd_list, "list cases, with filters"},
    {"status", s_cmd_status, "show delivery of an update to each recipient"},
    {"peers", s_cmd_peers, "show the peer posts and their links"},
    {"watch", s_cmd_watch, "print new updates as they arrive"},
};

static void s_main_usage(FILE *f)
{
    fputs("usage: valija [--socket ENDPOINT] [--json] VERB [options]\n"
          "\n"
          "The command-line client of valijad, the valija daemon of a post.\n"
          "\n"
          "Verbs:\n",
          f);
    for (size_t i = 0; i < sizeof s_verbs / sizeof s_verbs[0]; i++)
        fprintf(f, "  %-9s %s\n", s_verbs[i].name, s_verbs[i].summary);
    fputs("\n"
          "  --socket ENDPOINT  valijad's client socket: ipc://PATH or tcp://HOST:PORT\n"
          "                     (default $VALIJA_SOCKET, else " VALIJA_DEFAULT_SOCKET ")\n"
          "  --json             machine-readable output (JSON) for scripts\n"
          "  --help, --version\n"
          "\n"
          "'valija VERB --help' describes a verb.  Exit codes: 0 ok, 1 not found,\n"
          "64 usage, 65 bad data, 66 unreadable input, 69 valijad unreachable,\n"
          "70 valijad failed, 76 protocol version, 77 refused by the case rules.\n",
          f);
}

int main(int argc, char **argv)
{
    s_ctx ctx = {0};
    int code;
    int i = 1;
    /* No core file: it would hold case contents this process read. */
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            ctx.json = true;
        } else if (strcmp(a, "--socket") == 0) {
            if (i + 1 >= argc)
                return s_usage_err(&ctx, "--socket needs an endpoint");
            ctx.socket = argv[++i];
        } else if (strncmp(a, "--socket=", 9) == 0) {
            ctx.socket = a + 9;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            s_main_usage(stdout);
            return s_finish(&ctx, EX_OK);
        } else if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            puts("valija " VALIJA_CLI_VERSION);
            return s_finish(&ctx, EX_OK);
        } else if (a[0] == '-') {
            return s_usage_err(&ctx, "unknown option '%s'", a);
        } else {
            break;
        }
    }
    if (i >= argc) {
        s_main_usage(stderr);
        return EX_USAGE;
    }
    for (size_t v = 0; v < sizeof s_verbs / sizeof s_verbs[0]; v++) {
        if (strcmp(argv[i], s_verbs[v].name) == 0) {
            ctx.verb = s_verbs[v].name;
            opterr = 0;
            optind = 1;
            code = s_verbs[v].fn(&ctx, argc - i, argv + i);
            code = s_finish(&ctx, code);
            valija_close(&ctx.conn);
            return code;
        }
    }
    return s_usage_err(&ctx, "unknown verb '%s'", argv[i]);
}
