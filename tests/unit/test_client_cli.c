/* test_client_cli.c - the valija CLI, run as a program against a fake valijad:
 * exit codes, messages, what each verb puts on the wire, and the fixed keys
 * and types of its --json output (parsed back with jansson).
 *
 * The path of the built valija comes as the first argument.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_client_fake.h"

static const char *s_valija_bin;

static const uint8_t ID1[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe};
#define ID1_HEX "0123456789abcdef1032547698badcfe"

/* ---- running the program ---------------------------------------------------- */

typedef struct {
    pid_t pid;
    int out_fd, err_fd;
    char *out, *err;
    size_t out_len, err_len;
    int code; /* exit status, or 128 + signal */
    char tmpdir[64];
} s_proc;

static void s_append(char **buf, size_t *len, const char *data, size_t n)
{
    char *grown = realloc(*buf, *len + n + 1);
    assert_non_null(grown);
    memcpy(grown + *len, data, n);
    *len += n;
    grown[*len] = '\0';
    *buf = grown;
}

/* Starts valija with the NULL-terminated arguments; stdin_text (or nothing)
 * on its standard input. */
static void s_spawn(s_proc *p, const char *stdin_text, const char *const *args)
{
    memset(p, 0, sizeof *p);
    p->out = calloc(1, 1);
    p->err = calloc(1, 1);
    snprintf(p->tmpdir, sizeof p->tmpdir, "/tmp/vjcli-XXXXXX");
    assert_non_null(mkdtemp(p->tmpdir));
    char in_path[128];
    snprintf(in_path, sizeof in_path, "%s/stdin", p->tmpdir);
    int in_fd = open(in_path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(in_fd >= 0);
    if (stdin_text != NULL)
        assert_int_equal(write(in_fd, stdin_text, strlen(stdin_text)), (ssize_t)strlen(stdin_text));
    lseek(in_fd, 0, SEEK_SET);
    int out[2], err[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    assert_int_equal(pipe2(err, O_CLOEXEC), 0);
    size_t n = 0;
    while (args[n] != NULL)
        n++;
    char **argv = calloc(n + 2, sizeof *argv);
    assert_non_null(argv);
    argv[0] = (char *)s_valija_bin;
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        dup2(in_fd, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        execv(s_valija_bin, argv);
        _exit(127);
    }
    free(argv);
    close(in_fd);
    unlink(in_path);
    close(out[1]);
    close(err[1]);
    p->out_fd = out[0];
    p->err_fd = err[0];
}

/* Reads stdout until it holds a newline (the first line of output). */
static void s_read_first_line(s_proc *p)
{
    while (strchr(p->out, '\n') == NULL) {
        struct pollfd pf = {p->out_fd, POLLIN, 0};
        assert_true(poll(&pf, 1, 20000) == 1);
        char buf[4096];
        ssize_t got = read(p->out_fd, buf, sizeof buf);
        assert_true(got > 0);
        s_append(&p->out, &p->out_len, buf, (size_t)got);
    }
}

/* Reads everything and reaps the child. */
static void s_collect(s_proc *p)
{
    int open_fds = 2;
    while (open_fds > 0) {
        struct pollfd pf[2] = {{p->out_fd, POLLIN, 0}, {p->err_fd, POLLIN, 0}};
        if (poll(pf, 2, -1) < 0 && errno == EINTR)
            continue;
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP)))
                continue;
            char buf[4096];
            ssize_t got = read(pf[i].fd, buf, sizeof buf);
            if (got > 0) {
                if (i == 0)
                    s_append(&p->out, &p->out_len, buf, (size_t)got);
                else
                    s_append(&p->err, &p->err_len, buf, (size_t)got);
            } else {
                close(pf[i].fd);
                if (i == 0)
                    p->out_fd = -1;
                else
                    p->err_fd = -1;
                open_fds--;
            }
        }
    }
    int status;
    assert_int_equal(waitpid(p->pid, &status, 0), p->pid);
    p->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    rmdir(p->tmpdir);
}

static void s_proc_free(s_proc *p)
{
    free(p->out);
    free(p->err);
    p->out = p->err = NULL;
}

static int s_run(s_proc *p, const char *stdin_text, ...)
{
    const char *args[64];
    size_t n = 0;
    va_list ap;
    va_start(ap, stdin_text);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 63)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    s_spawn(p, stdin_text, args);
    s_collect(p);
    return p->code;
}

/* ---- replies ---------------------------------------------------------------- */

static void s_push_ids(fake *f, size_t n)
{
    ProtobufCBinaryData ids[16];
    uint8_t raw[16][16];
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        memcpy(raw[i], ID1, 16);
        raw[i][15] = (uint8_t)(0xa0 + i);
        ids[i].data = raw[i];
        ids[i].len = 16;
    }
    Valija__SubmitReply sr = VALIJA__SUBMIT_REPLY__INIT;
    sr.n_msg_ids = n;
    sr.msg_ids = ids;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_SUBMIT;
    r.submit = &sr;
    fake_push_reply(f, &r, false);
}

static json_t *s_parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (j == NULL)
        fail_msg("output is not JSON (%s): %s", e.text, text);
    return j;
}

static void s_assert_key_type(json_t *o, const char *key, json_type type)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL)
        fail_msg("missing key '%s'", key);
    if (json_typeof(v) != type && !(type == JSON_TRUE && json_is_boolean(v)))
        fail_msg("key '%s' has JSON type %d, expected %d", key, (int)json_typeof(v), (int)type);
}

/* Fixture: a fake daemon and its endpoint. */
static int s_setup(void **state)
{
    setenv("VALIJA_TIMEOUT_MS", "5000", 1);
    unsetenv("VALIJA_SOCKET");
    *state = fake_start();
    return 0;
}

static int s_teardown(void **state)
{
    fake *f = *state;
    fake_stop(&f);
    return 0;
}

/* ---- usage and help ----------------------------------------------------------- */

static void test_usage_errors_exit_64(void **state)
{
    fake *f = *state;
    const char *ep = fake_endpoint(f);
    struct {
        const char *args[8];
        const char *says;
    } cases[] = {
        {{NULL}, "usage: valija"},
        {{"frobnicate", NULL}, "unknown verb 'frobnicate'"},
        {{"--bogus", "peers", NULL}, "unknown option '--bogus'"},
        {{"--socket", NULL}, "--socket needs an endpoint"},
        {{"submit", "--socket", ep, NULL},
         "valija: submit: --case is required; try 'valija submit --help'"},
        {{"submit", "--case", "C1", "--kind", "arrested", NULL}, "--kind must be one of"},
        {{"submit", "--case", "C1", "--link", "C2", NULL}, "--link must be RELATION:CASEID"},
        {{"submit", "--case", "C1", "--link", "cousin:C2", NULL}, "parent, child or sibling"},
        {{"submit", "--case", "C1", "--minor", "maybe", NULL}, "--minor must be yes or no"},
        {{"submit", "--case", "C1", "--visit-at", "yesterday", NULL}, "--visit-at must be a time"},
        {{"submit", "--case", "C1", "-", NULL}, "give no other update options"},
        {{"submit", "--case", "C1", "extra", NULL}, "unexpected argument 'extra'"},
        {{"submit", "--share", "a", "--share", "b", "--case", "C1", NULL}, "given twice"},
        {{"case", NULL}, "a case id is required"},
        {{"case", "C1", "C2", NULL}, "unexpected argument 'C2'"},
        {{"case", "--familly", "C1", NULL}, "unknown option"},
        {{"history", NULL}, "a case id is required"},
        {{"status", NULL}, "a message id is required"},
        {{"list", "--limit", "ten", NULL}, "--limit must be a positive number"},
        {{"list", "--limit", "-1", NULL}, "--limit must be a positive number"},
        {{"list", "--since", "last week", NULL}, "--since must be a time"},
        {{"list", "--shared-with", "MX", NULL}, "--shared-with must be a post name"},
        {{"peers", "now", NULL}, "unexpected argument 'now'"},
        {{"watch", "--case", NULL}, "unknown option or missing value"},
        {{"--socket", "http://x", "peers", NULL}, "not a valid endpoint"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_proc p;
        s_spawn(&p, NULL, cases[i].args);
        s_collect(&p);
        if (p.code != 64 || strstr(p.err, cases[i].says) == NULL)
            fail_msg("case %zu: exit %d, stderr: %s", i, p.code, p.err);
        assert_string_equal(p.out, "");
        s_proc_free(&p);
    }
    assert_int_equal(fake_count(f), 0);
}

static void test_help_everywhere(void **state)
{
    (void)state;
    const char *verbs[] = {"submit", "case", "history", "list", "status", "peers", "watch"};
    s_proc p;
    assert_int_equal(s_run(&p, NULL, "--help", NULL), 0);
    for (size_t i = 0; i < 7; i++)
        assert_non_null(strstr(p.out, verbs[i]));
    s_proc_free(&p);
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(s_run(&p, NULL, verbs[i], "--help", NULL), 0);
        char want[64];
        snprintf(want, sizeof want, "usage: valija %s", verbs[i]);
        assert_non_null(strstr(p.out, want));
        assert_string_equal(p.err, "");
        s_proc_free(&p);
    }
    assert_int_equal(s_run(&p, NULL, "--version", NULL), 0);
    assert_true(strncmp(p.out, "valija ", 7) == 0);
    s_proc_free(&p);
}

/* ---- submit ----------------------------------------------------------------- */

static void test_submit_flags_build_update(void **state)
{
    fake *f = *state;
    s_push_ids(f, 1);
    s_proc p;
    int code = s_run(&p, NULL, "submit", "--case", "MX-2018-000123", "--kind", "opened", "--status",
                     "detained", "--facility", "Dilley", "--note", "first visit", "--share",
                     "mx-washington,sv-washington", "--co-owners", "sv-washington", "--name", "Ana",
                     "--dob", "2015-03-02", "--nationality", "SV", "--document", "P1",
                     "--alien-number", "A-1", "--minor", "yes", "--representative", "Lic. Ruiz",
                     "--organization", "Aid", "--contact", "+1 555", "--visitor", "consul",
                     "--visit-at", "2026-11-28T01:14:28.123Z", "--link", "child:MX-2018-000124",
                     "--link", "sibling:MX-2018-000125", "--socket", fake_endpoint(f), NULL);
    if (code != 0)
        fail_msg("exit %d: %s", code, p.err);
    assert_string_equal(p.out, "0123456789abcdef1032547698badca0\n");
    s_proc_free(&p);
    Valija__ClientRequest *req = fake_request(f, 0);
    assert_int_equal(req->version, 1);
    assert_int_equal(req->body_case, VALIJA__CLIENT_REQUEST__BODY_SUBMIT);
    assert_int_equal(req->submit->n_updates, 1);
    const Valija__CaseUpdate *u = req->submit->updates[0];
    assert_int_equal(u->version, 1);
    assert_int_equal(u->lamport, 0);
    assert_int_equal(u->n_seen, 0);
    assert_string_equal(u->case_id, "MX-2018-000123");
    assert_int_equal(u->kind, VALIJA__UPDATE_KIND__KIND_OPENED);
    assert_string_equal(u->status, "detained");
    assert_string_equal(u->facility, "Dilley");
    assert_string_equal(u->note, "first visit");
    assert_int_equal(u->n_share, 2);
    assert_string_equal(u->share[0], "mx-washington");
    assert_string_equal(u->share[1], "sv-washington");
    assert_int_equal(u->n_co_owners, 1);
    assert_string_equal(u->person->name, "Ana");
    assert_string_equal(u->person->date_of_birth, "2015-03-02");
    assert_string_equal(u->person->nationality, "SV");
    assert_string_equal(u->person->document, "P1");
    assert_string_equal(u->person->alien_number, "A-1");
    assert_int_equal(u->person->minor, VALIJA__MINOR__MINOR_YES);
    assert_string_equal(u->representation->name, "Lic. Ruiz");
    assert_string_equal(u->representation->organization, "Aid");
    assert_string_equal(u->representation->contact, "+1 555");
    assert_string_equal(u->visit->visitor, "consul");
    assert_int_equal(u->visit->at_ms, 1795828468123);
    assert_int_equal(u->n_links, 2);
    assert_int_equal(u->links[0]->relation, VALIJA__LINK_RELATION__LINK_CHILD);
    assert_string_equal(u->links[1]->case_id, "MX-2018-000125");
    assert_int_equal(u->links[1]->relation, VALIJA__LINK_RELATION__LINK_SIBLING);
    vj_codec_free(&req->base);
}

static void test_submit_json_and_options_anywhere(void **state)
{
    fake *f = *state;
    s_push_ids(f, 1);
    s_proc p;
    /* global options before and after the verb */
    int code = s_run(&p, NULL, "--socket", fake_endpoint(f), "submit", "--case", "C1", "--note",
                     "x", "--json", NULL);
    if (code != 0)
        fail_msg("exit %d: %s", code, p.err);
    json_t *j = s_parse(p.out);
    assert_true(json_is_object(j));
    assert_string_equal(json_string_value(json_object_get(j, "msg_id")),
                        "0123456789abcdef1032547698badca0");
    json_decref(j);
    s_proc_free(&p);
    Valija__ClientRequest *req = fake_request(f, 0);
    const Valija__CaseUpdate *u = req->submit->updates[0];
    assert_int_equal(u->kind, VALIJA__UPDATE_KIND__KIND_UNSPECIFIED);
    assert_null(u->person);
    assert_null(u->visit);
    vj_codec_free(&req->base);
}

static void test_submit_bad_values_exit_65(void **state)
{
    fake *f = *state;
    const char *ep = fake_endpoint(f);
    struct {
        const char *args[8];
        const char *says;
    } cases[] = {
        {{"--case", "MX 2018", NULL}, "'case' must be"},
        {{"--case", "C1", "--share", "mx-washington,MX", NULL}, "'MX' is not a post name"},
        {{"--case", "C1", "--share", "a,,b", NULL}, "not a post name"},
        {{"--case", "C1", "--dob", "03/02/2015", NULL}, "YYYY-MM-DD"},
        {{"--case", "C1", "--nationality", "Salvador", NULL}, "ISO 3166"},
        {{"--case", "C1", "--link", "child:C1", NULL}, "cannot link to itself"},
        {{"--case", "C1", "--note", "\x1b[31mred", NULL}, "control characters"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[16] = {"submit", "--socket", ep};
        size_t n = 3;
        for (size_t k = 0; cases[i].args[k] != NULL; k++)
            args[n++] = cases[i].args[k];
        args[n] = NULL;
        s_proc p;
        s_spawn(&p, NULL, args);
        s_collect(&p);
        if (p.code != 65 || strstr(p.err, cases[i].says) == NULL)
            fail_msg("case %zu: exit %d, stderr: %s", i, p.code, p.err);
        s_proc_free(&p);
    }
    assert_int_equal(fake_count(f), 0);
}

static void test_submit_stdin_prints_ids_in_order(void **state)
{
    fake *f = *state;
    s_push_ids(f, 3);
    const char *input =
        "{\"case\": \"C1\", \"kind\": \"opened\", \"share\": [\"mx-washington\", "
        "\"sv-washington\"],"
        " \"person\": {\"name\": \"Ana\", \"minor\": true, \"dob\": \"2015-03-02\"}}\n"
        "\n"
        "{\"case\": \"C2\", \"share\": \"mx-washington,gt-washington\", \"co_owners\": [],"
        " \"links\": [{\"relation\": \"parent\", \"case\": \"C1\"}],"
        " \"visit\": {\"visitor\": \"consul\", \"at\": \"2026-11-28T01:14:28Z\"},"
        " \"representation\": {\"name\": \"R\", \"organization\": \"O\", \"contact\": \"c\"}}\n"
        "{\"case\": \"C3\", \"note\": \"llamó la madre\", \"status\": null}";
    s_proc p;
    int code = s_run(&p, input, "submit", "-", "--socket", fake_endpoint(f), NULL);
    if (code != 0)
        fail_msg("exit %d: %s", code, p.err);
    assert_string_equal(p.out, "0123456789abcdef1032547698badca0\n"
                               "0123456789abcdef1032547698badca1\n"
                               "0123456789abcdef1032547698badca2\n");
    s_proc_free(&p);
    assert_int_equal(fake_count(f), 1);
    Valija__ClientRequest *req = fake_request(f, 0);
    assert_int_equal(req->submit->n_updates, 3);
    const Valija__CaseUpdate *u0 = req->submit->updates[0], *u1 = req->submit->updates[1],
                             *u2 = req->submit->updates[2];
    assert_string_equal(u0->case_id, "C1");
    assert_int_equal(u0->kind, VALIJA__UPDATE_KIND__KIND_OPENED);
    assert_int_equal(u0->n_share, 2);
    assert_int_equal(u0->person->minor, VALIJA__MINOR__MINOR_YES);
    assert_string_equal(u1->case_id, "C2");
    assert_int_equal(u1->n_share, 2);
    assert_string_equal(u1->share[1], "gt-washington");
    assert_int_equal(u1->links[0]->relation, VALIJA__LINK_RELATION__LINK_PARENT);
    assert_int_equal(u1->visit->at_ms, 1795828468000);
    assert_string_equal(u1->representation->contact, "c");
    assert_string_equal(u2->note, "llamó la madre");
    assert_string_equal(u2->status, "");
    vj_codec_free(&req->base);

    /* --json: one object per line */
    s_push_ids(f, 2);
    code = s_run(&p, "{\"case\":\"C1\"}\n{\"case\":\"C2\"}\n", "--json", "submit", "-", "--socket",
                 fake_endpoint(f), NULL);
    assert_int_equal(code, 0);
    char *nl = strchr(p.out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    json_t *j1 = s_parse(p.out), *j2 = s_parse(nl + 1);
    assert_string_equal(json_string_value(json_object_get(j1, "msg_id")),
                        "0123456789abcdef1032547698badca0");
    assert_string_equal(json_string_value(json_object_get(j2, "msg_id")),
                        "0123456789abcdef1032547698badca1");
    json_decref(j1);
    json_decref(j2);
    s_proc_free(&p);
}

static void test_submit_stdin_one_bad_line_submits_nothing(void **state)
{
    fake *f = *state;
    const char *good = "{\"case\": \"C1\"}\n";
    struct {
        const char *bad;
        const char *says;
    } cases[] = {
        {"{\"case\": \"C2\",", "valija: submit: line 2: not valid JSON"},
        {"{\"case\": \"C2\", \"colour\": \"red\"}", "valija: submit: line 2: unknown key 'colour'"},
        {"{\"case\": \"C2\", \"share\": 5}",
         "valija: submit: line 2: 'share' must be an array of post names"},
        {"{\"case\": \"C2\", \"share\": [\"mx-washington\", 7]}",
         "valija: submit: line 2: 'share' must be an array of post names"},
        {"{\"case\": \"bad case\"}", "valija: submit: line 2: 'case' must be"},
        {"{\"case\": 12}", "valija: submit: line 2: 'case' must be a string"},
        {"{\"note\": \"no case\"}", "valija: submit: line 2: 'case' is required"},
        {"[\"case\", \"C2\"]", "valija: submit: line 2: must be a JSON object"},
        {"{\"case\": \"C2\", \"case\": \"C3\"}", "valija: submit: line 2: not valid JSON"},
        {"{\"case\": \"C2\", \"kind\": \"arrest\"}",
         "valija: submit: line 2: 'kind' must be one of"},
        {"{\"case\": \"C2\", \"person\": {\"name\": \"A\", \"age\": 3}}",
         "valija: submit: line 2: unknown key 'age' in 'person'"},
        {"{\"case\": \"C2\", \"person\": {\"minor\": \"yes\"}}",
         "valija: submit: line 2: 'person.minor' must be true or false"},
        {"{\"case\": \"C2\", \"links\": [{\"relation\": \"aunt\", \"case\": \"C1\"}]}",
         "valija: submit: line 2: 'links.relation' must be parent, child or sibling"},
        {"{\"case\": \"C2\", \"visit\": {\"at\": \"noon\"}}",
         "valija: submit: line 2: 'visit.at' must be a time"},
        {"{\"case\": \"C2\", \"note\": \"nul\\u0000byte\"}",
         "valija: submit: line 2: not valid JSON"},
        {"{\"case\": \"C2\", \"note\": \"\xff\"}", "valija: submit: line 2: not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char input[512];
        snprintf(input, sizeof input, "%s%s\n%s", good, cases[i].bad, good);
        s_proc p;
        int code = s_run(&p, input, "submit", "-", "--socket", fake_endpoint(f), NULL);
        if (code != 65 || strstr(p.err, cases[i].says) == NULL)
            fail_msg("case %zu: exit %d, stderr: %s", i, code, p.err);
        assert_string_equal(p.out, "");
        s_proc_free(&p);
    }
    s_proc p;
    assert_int_equal(s_run(&p, "\n\n", "submit", "-", "--socket", fake_endpoint(f), NULL), 65);
    assert_non_null(strstr(p.err, "no updates"));
    s_proc_free(&p);
    assert_int_equal(fake_count(f), 0);
}

/* ---- queries ------------------------------------------------------------------ */

static void s_push_case(fake *f, bool family)
{
    Valija__ConflictValue cv = VALIJA__CONFLICT_VALUE__INIT;
    cv.value = "Dilley";
    cv.origin = "mx-washington";
    cv.at_ms = 1795828468123;
    cv.msg_id.data = (uint8_t *)ID1;
    cv.msg_id.len = 16;
    Valija__ConflictValue *cvs[] = {&cv};
    Valija__Conflict c = VALIJA__CONFLICT__INIT;
    c.field = "facility";
    c.n_values = 1;
    c.values = cvs;
    Valija__Conflict *cs[] = {&c};
    Valija__CaseLink link = VALIJA__CASE_LINK__INIT;
    link.relation = VALIJA__LINK_RELATION__LINK_CHILD;
    link.case_id = "C2";
    Valija__CaseLink *links[] = {&link};
    char *shared[] = {"mx-washington", "sv-washington"};
    Valija__CaseState st = VALIJA__CASE_STATE__INIT;
    st.case_id = "C1";
    st.owner = "mx-washington";
    st.status = "detained";
    st.facility = "Dilley";
    st.n_shared_with = 2;
    st.shared_with = shared;
    st.n_conflicts = 1;
    st.conflicts = cs;
    st.n_links = 1;
    st.links = links;
    st.updated_ms = 1795828468123;
    st.events = 4;
    Valija__CaseState fam = VALIJA__CASE_STATE__INIT;
    fam.case_id = "C2";
    fam.status = "in custody";
    fam.facility = "Karnes";
    Valija__CaseState *fams[] = {&fam};
    Valija__CaseReply cr = VALIJA__CASE_REPLY__INIT;
    cr.state = &st;
    if (family) {
        cr.n_family = 1;
        cr.family = fams;
    }
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_GET_CASE;
    r.get_case = &cr;
    fake_push_reply(f, &r, false);
}

static void test_case_json_keys(void **state)
{
    fake *f = *state;
    s_push_case(f, true);
    s_proc p;
    int code =
        s_run(&p, NULL, "case", "C1", "--family", "--json", "--socket", fake_endpoint(f), NULL);
    if (code != 0)
        fail_msg("exit %d: %s", code, p.err);
    json_t *j = s_parse(p.out);
    assert_true(json_is_object(j));
    s_assert_key_type(j, "case", JSON_STRING);
    s_assert_key_type(j, "status", JSON_STRING);
    s_assert_key_type(j, "facility", JSON_STRING);
    s_assert_key_type(j, "owner", JSON_STRING);
    s_assert_key_type(j, "shared_with", JSON_ARRAY);
    s_assert_key_type(j, "co_owners", JSON_ARRAY);
    s_assert_key_type(j, "conflicts", JSON_ARRAY);
    s_assert_key_type(j, "notes", JSON_ARRAY);
    s_assert_key_type(j, "links", JSON_ARRAY);
    s_assert_key_type(j, "person", JSON_NULL);
    s_assert_key_type(j, "representation", JSON_NULL);
    s_assert_key_type(j, "closed", JSON_TRUE);
    s_assert_key_type(j, "updated_at", JSON_STRING);
    s_assert_key_type(j, "events", JSON_INTEGER);
    s_assert_key_type(j, "family", JSON_ARRAY);
    assert_string_equal(json_string_value(json_object_get(j, "updated_at")),
                        "2026-11-28T01:14:28.123Z");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "shared_with"), 1)),
                        "sv-washington");
    json_t *c = json_array_get(json_object_get(j, "conflicts"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "field")), "facility");
    json_t *v = json_array_get(json_object_get(c, "values"), 0);
    s_assert_key_type(v, "value", JSON_STRING);
    s_assert_key_type(v, "origin", JSON_STRING);
    s_assert_key_type(v, "at", JSON_STRING);
    assert_string_equal(json_string_value(json_object_get(v, "msg_id")), ID1_HEX);
    json_t *fam = json_array_get(json_object_get(j, "family"), 0);
    assert_string_equal(json_string_value(json_object_get(fam, "case")), "C2");
    assert_string_equal(json_string_value(json_object_get(fam, "relation")), "child");
    assert_string_equal(json_string_value(json_object_get(fam, "facility")), "Karnes");
    json_decref(j);
    s_proc_free(&p);
    Valija__ClientRequest *req = fake_request(f, 0);
    assert_string_equal(req->get_case->case_id, "C1");
    assert_true(req->get_case->family);
    vj_codec_free(&req->base);

    /* the text form names the conflict */
    s_push_case(f, false);
    assert_int_equal(s_run(&p, NULL, "case", "C1", "--socket", fake_endpoint(f), NULL), 0);
    assert_non_null(strstr(p.out, "CONFLICT"));
    assert_non_null(strstr(p.out, "Dilley"));
    s_proc_free(&p);
    assert_int_equal(s_run(&p, NULL, "case", "C 1", "--socket", fake_endpoint(f), NULL), 65);
    s_proc_free(&p);
}

static void test_history_json_keys(void **state)
{
    fake *f = *state;
    Valija__CaseUpdate up = VALIJA__CASE_UPDATE__INIT;
    up.version = 1;
    up.case_id = "C1";
    up.status = "released";
    Valija__HistoryEntry e1 = VALIJA__HISTORY_ENTRY__INIT, e2 = VALIJA__HISTORY_ENTRY__INIT;
    e1.msg_id.data = (uint8_t *)ID1;
    e1.msg_id.len = 16;
    e1.origin = "mx-washington";
    e1.seq = 7;
    e1.kind = VALIJA__UPDATE_KIND__KIND_STATUS;
    e1.verified = 1;
    e1.applied = 1;
    e1.created_ms = 1795828468123;
    e1.update = &up;
    e2 = e1;
    e2.seq = 8;
    e2.applied = 0;
    e2.rejected_reason = "not an owner";
    e2.update = NULL;
    Valija__HistoryEntry *es[] = {&e1, &e2};
    Valija__HistoryReply hr = VALIJA__HISTORY_REPLY__INIT;
    hr.n_entries = 2;
    hr.entries = es;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_HISTORY;
    r.history = &hr;
    fake_push_reply(f, &r, false);
    s_proc p;
    int code = s_run(&p, NULL, "--json", "history", "C1", "--socket", fake_endpoint(f), NULL);
    if (code != 0)
        fail_msg("exit %d: %s", code, p.err);
    char *line2 = strchr(p.out, '\n');
    assert_non_null(line2);
    *line2++ = '\0';
    json_t *a = s_parse(p.out), *b = s_parse(line2);
    s_assert_key_type(a, "msg_id", JSON_STRING);
    s_assert_key_type(a, "origin", JSON_STRING);
    s_assert_key_type(a, "seq", JSON_INTEGER);
    s_assert_key_type(a, "kind", JSON_STRING);
    s_assert_key_type(a, "verified", JSON_TRUE);
    s_assert_key_type(a, "applied", JSON_TRUE);
    s_assert_key_type(a, "created_at", JSON_STRING);
    s_assert_key_type(a, "received_at", JSON_NULL);
    s_assert_key_type(a, "lamport", JSON_INTEGER);
    s_assert_key_type(a, "reason", JSON_NULL);
    assert_string_equal(json_string_value(json_object_get(a, "msg_id")), ID1_HEX);
    assert_string_equal(json_string_value(json_object_get(a, "kind")), "status");
    assert_string_equal(json_string_value(json_object_get(a, "status")), "released");
    assert_int_equal(json_integer_value(json_object_get(a, "seq")), 7);
    assert_true(json_is_true(json_object_get(a, "verified")));
    assert_true(json_is_false(json_object_get(b, "applied")));
    assert_string_equal(json_string_value(json_object_get(b, "reason")), "not an owner");
    json_decref(a);
    json_decref(b);
    s_proc_free(&p);
}

static void test_status_json_keys(void **state)
{
    fake *f = *state;
    Valija__RecipientStatus r1 = VALIJA__RECIPIENT_STATUS__INIT,
                            r2 = VALIJA__RECIPIENT_STATUS__INIT;
    r1.post = "sv-washington";
    r1.delivered = 1;
    r1.receipt_ms = 1795828468123;
    r1.attempts = 1;
    r2.post = "gt-washington";
    r2.attempts = 5;
    Valija__RecipientStatus *rs[] = {&r1, &r2};
    Valija__DeliveryReply dr = VALIJA__DELIVERY_REPLY__INIT;
    dr.msg_id.data = (uint8_t *)ID1;
    dr.msg_id.len = 16;
    dr.origin = "mx-washington";
    dr.n_recipients = 2;
    dr.recipients = rs;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_DELIVERY;
    r.delivery = &dr;
    fake_push_reply(f, &r, false);
    s_proc p;
    int code = s_run(&p, NULL, "status", ID1_HEX, "--json", "--socket", fake_endpoint(f), NULL);
    if (code != 0)
        fail_msg("exit %d: %s", code, p.err);
    json_t *j = s_parse(p.out);
    assert_string_equal(json_string_value(json_object_get(j, "msg_id")), ID1_HEX);
    assert_string_equal(json_string_value(json_object_get(j, "origin")), "mx-washington");
    json_t *rec = json_object_get(j, "recipients");
    assert_true(json_is_array(rec));
    assert_int_equal(json_array_size(rec), 2);
    json_t *a = json_array_get(rec, 0), *b = json_array_get(rec, 1);
    s_assert_key_type(a, "post", JSON_STRING);
    s_assert_key_type(a, "delivered", JSON_TRUE);
    s_assert_key_type(a, "receipt_at", JSON_STRING);
    s_assert_key_type(a, "attempts", JSON_INTEGER);
    assert_true(json_is_true(json_object_get(a, "delivered")));
    assert_true(json_is_false(json_object_get(b, "delivered")));
    s_assert_key_type(b, "receipt_at", JSON_NULL);
    assert_int_equal(json_integer_value(json_object_get(b, "attempts")), 5);
    json_decref(j);
    s_proc_free(&p);
    Valija__ClientRequest *req = fake_request(f, 0);
    assert_memory_equal(req->status->msg_id.data, ID1, 16);
    vj_codec_free(&req->base);
    /* a message id that is not 32 hex digits is bad data, and nothing is sent */
    assert_int_equal(s_run(&p, NULL, "status", "0123", "--socket", fake_endpoint(f), NULL), 65);
    s_proc_free(&p);
    assert_int_equal(fake_count(f), 1);
}

static void test_peers_json_keys(void **state)
{
    fake *f = *state;
    Valija__PeerStatus a = VALIJA__PEER_STATUS__INIT, b = VALIJA__PEER_STATUS__INIT;
    a.post = "sv-washington";
    a.connected = 1;
    a.last_seen_ms = 1795828468123;
    a.backlog = 0;
    a.endpoint = "tcp://127.0.0.1:7402";
    a.fingerprint = "ABCD-EFGH";
    b.post = "gt-washington";
    b.backlog = 12;
    Valija__PeerStatus *ps[] = {&a, &b};
    Valija__PeersReply pr = VALIJA__PEERS_REPLY__INIT;
    pr.post = "mx-washington";
    pr.n_peers = 2;
    pr.peers = ps;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_PEERS;
    r.peers = &pr;
    fake_push_reply(f, &r, false);
    s_proc p;
    int code = s_run(&p, NULL, "peers", "--json", "--socket", fake_endpoint(f), NULL);
    if (code != 0)
        fail_msg("exit %d: %s", code, p.err);
    json_t *j = s_parse(p.out);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 2);
    json_t *x = json_array_get(j, 0), *y = json_array_get(j, 1);
    s_assert_key_type(x, "post", JSON_STRING);
    s_assert_key_type(x, "connected", JSON_TRUE);
    s_assert_key_type(x, "last_seen", JSON_STRING);
    s_assert_key_type(x, "backlog", JSON_INTEGER);
    s_assert_key_type(x, "endpoint", JSON_STRING);
    s_assert_key_type(x, "fingerprint", JSON_STRING);
    s_assert_key_type(y, "last_seen", JSON_NULL);
    assert_true(json_is_false(json_object_get(y, "connected")));
    assert_int_equal(json_integer_value(json_object_get(y, "backlog")), 12);
    json_decref(j);
    s_proc_free(&p);
}

static void test_list_json_and_filters(void **state)
{
    fake *f = *state;
    Valija__CaseState st = VALIJA__CASE_STATE__INIT;
    st.case_id = "C1";
    st.status = "detained";
    Valija__CaseState *sts[] = {&st};
    Valija__ListReply lr = VALIJA__LIST_REPLY__INIT;
    lr.n_cases = 1;
    lr.cases = sts;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_LIST;
    r.list = &lr;
    fake_push_reply(f, &r, false);
    s_proc p;
    int code = s_run(&p, NULL, "list", "--status", "detained", "--facility", "Dilley",
                     "--shared-with", "sv-washington", "--since", "2026-11-28", "--conflicts",
                     "--limit", "10", "--json", "--socket", fake_endpoint(f), NULL);
    if (code != 0)
        fail_msg("exit %d: %s", code, p.err);
    json_t *j = s_parse(p.out);
    assert_true(json_is_array(j));
    json_t *c = json_array_get(j, 0);
    s_assert_key_type(c, "case", JSON_STRING);
    s_assert_key_type(c, "shared_with", JSON_ARRAY);
    s_assert_key_type(c, "conflicts", JSON_ARRAY);
    s_assert_key_type(c, "updated_at", JSON_NULL);
    json_decref(j);
    s_proc_free(&p);
    Valija__ClientRequest *req = fake_request(f, 0);
    assert_int_equal(req->body_case, VALIJA__CLIENT_REQUEST__BODY_LIST);
    assert_string_equal(req->list->status, "detained");
    assert_string_equal(req->list->facility, "Dilley");
    assert_string_equal(req->list->shared_with, "sv-washington");
    assert_int_equal(req->list->updated_since_ms, 1795824000000);
    assert_true(req->list->conflicts_only);
    assert_false(req->list->separated_only);
    assert_int_equal(req->list->limit, 10);
    vj_codec_free(&req->base);
}

/* ---- errors and exit codes -------------------------------------------------------- */

static void test_reply_status_exit_codes(void **state)
{
    fake *f = *state;
    struct {
        Valija__ReplyStatus st;
        int code;
    } map[] = {
        {VALIJA__REPLY_STATUS__REPLY_NOT_FOUND, 1}, {VALIJA__REPLY_STATUS__REPLY_BAD_REQUEST, 65},
        {VALIJA__REPLY_STATUS__REPLY_REFUSED, 77},  {VALIJA__REPLY_STATUS__REPLY_INTERNAL, 70},
        {VALIJA__REPLY_STATUS__REPLY_VERSION, 76},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "the daemon explains %zu", i);
        fake_push_status(f, map[i].st, text);
        s_proc p;
        int code = s_run(&p, NULL, "case", "C1", "--socket", fake_endpoint(f), NULL);
        char want[128];
        snprintf(want, sizeof want, "valija: case: %s\n", text);
        if (code != map[i].code || strcmp(p.err, want) != 0)
            fail_msg("status %d: exit %d, stderr: %s", (int)map[i].st, code, p.err);
        assert_string_equal(p.out, "");
        s_proc_free(&p);
    }
    /* a reply that is not protobuf is the daemon's failure: 70 */
    const uint8_t junk[] = {0xff, 0xff};
    fake_push(f, FAKE_REPLY, junk, sizeof junk);
    s_proc p;
    assert_int_equal(s_run(&p, NULL, "peers", "--socket", fake_endpoint(f), NULL), 70);
    assert_non_null(strstr(p.err, "malformed reply"));
    s_proc_free(&p);
}

static void test_unreachable_exit_69(void **state)
{
    fake *f = *state;
    char ep[200];
    snprintf(ep, sizeof ep, "ipc://%s/absent.sock", fake_dir(f));
    s_proc p;
    assert_int_equal(s_run(&p, NULL, "peers", "--socket", ep, NULL), 69);
    assert_non_null(strstr(p.err, "no valijad at"));
    assert_non_null(strstr(p.err, "set --socket or VALIJA_SOCKET"));
    s_proc_free(&p);
    /* from the environment */
    setenv("VALIJA_SOCKET", ep, 1);
    assert_int_equal(s_run(&p, "{\"case\":\"C1\"}\n", "submit", "-", NULL), 69);
    unsetenv("VALIJA_SOCKET");
    s_proc_free(&p);
    /* a daemon that never answers */
    setenv("VALIJA_TIMEOUT_MS", "200", 1);
    fake_push(f, FAKE_SILENT, NULL, 0);
    assert_int_equal(s_run(&p, NULL, "case", "C1", "--socket", fake_endpoint(f), NULL), 69);
    assert_non_null(strstr(p.err, "did not answer within 200 ms"));
    s_proc_free(&p);
    setenv("VALIJA_TIMEOUT_MS", "5000", 1);
}

/* ---- watch ------------------------------------------------------------------- */

static void s_push_watch(fake *f, bool close_after)
{
    Valija__ClientReply ok = VALIJA__CLIENT_REPLY__INIT;
    ok.version = 1;
    fake_push_reply(f, &ok, true);
    Valija__HistoryEntry e = VALIJA__HISTORY_ENTRY__INIT;
    e.msg_id.data = (uint8_t *)ID1;
    e.msg_id.len = 16;
    e.origin = "sv-washington";
    e.seq = 3;
    e.kind = VALIJA__UPDATE_KIND__KIND_NOTE;
    e.verified = 1;
    e.applied = 1;
    Valija__WatchEvent ev = VALIJA__WATCH_EVENT__INIT;
    ev.entry = &e;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_EVENT;
    r.event = &ev;
    fake_push_reply(f, &r, close_after);
    if (close_after)
        fake_push(f, FAKE_CLOSE, NULL, 0);
}

static void test_watch_sigint_exits_0(void **state)
{
    fake *f = *state;
    s_push_watch(f, false);
    const char *args[] = {"watch", "--json", "--case", "C1", "--socket", fake_endpoint(f), NULL};
    s_proc p;
    s_spawn(&p, NULL, args);
    s_read_first_line(&p);
    kill(p.pid, SIGINT);
    s_collect(&p);
    if (p.code != 0)
        fail_msg("exit %d: %s", p.code, p.err);
    json_t *j = s_parse(p.out);
    assert_string_equal(json_string_value(json_object_get(j, "msg_id")), ID1_HEX);
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "note");
    assert_int_equal(json_integer_value(json_object_get(j, "seq")), 3);
    assert_true(json_is_true(json_object_get(j, "verified")));
    json_decref(j);
    s_proc_free(&p);
    Valija__ClientRequest *req = fake_request(f, 0);
    assert_int_equal(req->body_case, VALIJA__CLIENT_REQUEST__BODY_WATCH);
    assert_string_equal(req->watch->case_id, "C1");
    vj_codec_free(&req->base);
}

static void test_watch_sigterm_before_any_event(void **state)
{
    fake *f = *state;
    Valija__ClientReply ok = VALIJA__CLIENT_REPLY__INIT;
    ok.version = 1;
    fake_push_reply(f, &ok, false);
    const char *args[] = {"watch", "--socket", fake_endpoint(f), NULL};
    s_proc p;
    s_spawn(&p, NULL, args);
    assert_int_equal(fake_wait_count(f, 1), 1);
    kill(p.pid, SIGTERM);
    s_collect(&p);
    assert_int_equal(p.code, 0);
    assert_string_equal(p.out, "");
    s_proc_free(&p);
}

static void test_watch_daemon_gone_exits_69(void **state)
{
    fake *f = *state;
    s_push_watch(f, true);
    s_proc p;
    int code = s_run(&p, NULL, "watch", "--socket", fake_endpoint(f), NULL);
    if (code != 69)
        fail_msg("exit %d: %s", code, p.err);
    assert_non_null(strstr(p.err, "valija: watch: "));
    s_proc_free(&p);
}

/* ---- families ------------------------------------------------------------------ */

static void s_member(Valija__FamilyMember *m, const char *id, Valija__FamilyRelation rel, bool held,
                     const char *status, const char *facility, const char *name)
{
    valija__family_member__init(m);
    m->case_id = (char *)id;
    m->relation = rel;
    m->held = held;
    m->status = (char *)status;
    m->facility = (char *)facility;
    m->owner = held ? "sv-washington" : "";
    m->name = (char *)name;
}

/* C1 (self), its child C2 held here, and GT-9, a sibling not shared here. */
static void s_push_family_case(fake *f)
{
    Valija__FamilyMember m[3];
    Valija__FamilyMember *mp[3] = {&m[0], &m[1], &m[2]};
    s_member(&m[0], "C1", VALIJA__FAMILY_RELATION__FAMILY_SELF, true, "detained", "Dilley", "Ana");
    s_member(&m[1], "C2", VALIJA__FAMILY_RELATION__FAMILY_CHILD, true, "in custody", "Karnes", "");
    s_member(&m[2], "GT-9", VALIJA__FAMILY_RELATION__FAMILY_SIBLING, false, "", "", "");
    Valija__Family fam = VALIJA__FAMILY__INIT;
    fam.n_members = 3;
    fam.members = mp;
    Valija__CaseState st = VALIJA__CASE_STATE__INIT;
    st.case_id = "C1";
    st.status = "detained";
    Valija__CaseReply cr = VALIJA__CASE_REPLY__INIT;
    cr.state = &st;
    cr.family_members = &fam;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_GET_CASE;
    r.get_case = &cr;
    fake_push_reply(f, &r, false);
}

static void test_case_family_output(void **state)
{
    fake *f = *state;
    s_push_family_case(f);
    s_proc p;
    int code =
        s_run(&p, NULL, "case", "C1", "--family", "--json", "--socket", fake_endpoint(f), NULL);
    if (code != 0)
        fail_msg("exit %d: %s", code, p.err);
    json_t *j = s_parse(p.out);
    s_assert_key_type(j, "family", JSON_ARRAY);
    s_assert_key_type(j, "family_truncated", JSON_FALSE);
    json_t *fam = json_object_get(j, "family");
    assert_int_equal(json_array_size(fam), 2); /* every member but the case itself */
    json_t *c2 = json_array_get(fam, 0), *x = json_array_get(fam, 1);
    assert_string_equal(json_string_value(json_object_get(c2, "case")), "C2");
    assert_string_equal(json_string_value(json_object_get(c2, "relation")), "child");
    assert_string_equal(json_string_value(json_object_get(c2, "status")), "in custody");
    assert_string_equal(json_string_value(json_object_get(c2, "facility")), "Karnes");
    assert_string_equal(json_string_value(json_object_get(c2, "owner")), "sv-washington");
    s_assert_key_type(c2, "name", JSON_NULL); /* the case names no person */
    s_assert_key_type(c2, "held", JSON_TRUE);
    assert_string_equal(json_string_value(json_object_get(x, "relation")), "sibling");
    s_assert_key_type(x, "held", JSON_FALSE);
    s_assert_key_type(x, "status", JSON_NULL);
    s_assert_key_type(x, "facility", JSON_NULL);
    s_assert_key_type(x, "owner", JSON_NULL);
    s_assert_key_type(x, "name", JSON_NULL);
    json_decref(j);
    s_proc_free(&p);

    s_push_family_case(f);
    assert_int_equal(s_run(&p, NULL, "case", "C1", "--family", "--socket", fake_endpoint(f), NULL),
                     0);
    assert_non_null(strstr(p.out, "RELATION"));
    assert_non_null(strstr(p.out, "Karnes"));
    assert_non_null(strstr(p.out, "GT-9"));
    assert_non_null(strstr(p.out, "not shared with this post"));
    s_proc_free(&p);
    for (size_t i = 0; i < 2; i++)
        vj_codec_free(&fake_request(f, i)->base);
}

static void test_list_separated_output(void **state)
{
    fake *f = *state;
    Valija__FamilyMember m[2];
    Valija__FamilyMember *mp[2] = {&m[0], &m[1]};
    s_member(&m[0], "SV-C2", VALIJA__FAMILY_RELATION__FAMILY_SELF, true, "in custody", "Karnes",
             "Eva");
    s_member(&m[1], "MX-M", VALIJA__FAMILY_RELATION__FAMILY_PARENT, true, "detained", "Port Isabel",
             "Ana");
    Valija__Family fam = VALIJA__FAMILY__INIT;
    fam.n_members = 2;
    fam.members = mp;
    Valija__Family *fams[1] = {&fam};
    Valija__ListReply lr = VALIJA__LIST_REPLY__INIT;
    lr.n_families = 1;
    lr.families = fams;
    Valija__ClientReply r = VALIJA__CLIENT_REPLY__INIT;
    r.version = 1;
    r.body_case = VALIJA__CLIENT_REPLY__BODY_LIST;
    r.list = &lr;
    fake_push_reply(f, &r, false);
    s_proc p;
    int code = s_run(&p, NULL, "list", "--separated", "--limit", "3", "--json", "--socket",
                     fake_endpoint(f), NULL);
    if (code != 0)
        fail_msg("exit %d: %s", code, p.err);
    json_t *j = s_parse(p.out);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 1);
    json_t *o = json_array_get(j, 0);
    s_assert_key_type(o, "family", JSON_ARRAY);
    s_assert_key_type(o, "truncated", JSON_FALSE);
    json_t *first = json_array_get(json_object_get(o, "family"), 0);
    json_t *mother = json_array_get(json_object_get(o, "family"), 1);
    assert_string_equal(json_string_value(json_object_get(first, "relation")), "self");
    assert_string_equal(json_string_value(json_object_get(first, "name")), "Eva");
    assert_string_equal(json_string_value(json_object_get(mother, "relation")), "parent");
    assert_string_equal(json_string_value(json_object_get(mother, "facility")), "Port Isabel");
    json_decref(j);
    s_proc_free(&p);
    Valija__ClientRequest *req = fake_request(f, 0);
    assert_true(req->list->separated_only);
    assert_int_equal(req->list->limit, 3);
    vj_codec_free(&req->base);

    fake_push_reply(f, &r, false);
    assert_int_equal(s_run(&p, NULL, "list", "--separated", "--socket", fake_endpoint(f), NULL), 0);
    assert_non_null(strstr(p.out, "family of SV-C2 (2 members)"));
    assert_non_null(strstr(p.out, "Port Isabel"));
    s_proc_free(&p);
    vj_codec_free(&fake_request(f, 1)->base);

    /* other filters do not combine with --separated: refused before sending */
    const char *other[][2] = {{"--status", "detained"},
                              {"--facility", "Dilley"},
                              {"--shared-with", "sv-b"},
                              {"--since", "2026-01-01"},
                              {"--conflicts", NULL}};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        assert_int_equal(s_run(&p, NULL, "list", "--separated", other[i][0], other[i][1],
                               "--socket", fake_endpoint(f), NULL),
                         64);
        assert_non_null(strstr(p.err, "--separated"));
        s_proc_free(&p);
    }
    assert_int_equal(fake_count(f), 2);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH-TO-VALIJA\n", argv[0]);
        return 2;
    }
    s_valija_bin = argv[1];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage_errors_exit_64, s_setup, s_teardown),
        cmocka_unit_test(test_help_everywhere),
        cmocka_unit_test_setup_teardown(test_submit_flags_build_update, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_submit_json_and_options_anywhere, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_submit_bad_values_exit_65, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_submit_stdin_prints_ids_in_order, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_submit_stdin_one_bad_line_submits_nothing, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_case_json_keys, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_history_json_keys, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_status_json_keys, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_peers_json_keys, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_list_json_and_filters, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_case_family_output, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_list_separated_output, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reply_status_exit_codes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_exit_69, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_watch_sigint_exits_0, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_watch_sigterm_before_any_event, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_watch_daemon_gone_exits_69, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
