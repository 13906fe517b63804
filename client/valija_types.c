/* valija_types.c - the data half of libvalija: names, message ids and times
 * as text, the checks an update passes before it is sent, and the
 * conversions between valija.h's structs and client.proto's messages.
 *
 * Invariants: nothing here does I/O.  A reply is trusted only after every
 * string in it was found to be valid UTF-8 without control characters
 * (vj_text_is_valid) and every message id to have its exact length; results
 * borrow the strings of the unpacked reply and take everything else from an
 * arena that is freed with it.
 */
#include "valija_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct vj_arena {
    struct vj_arena *next;
    max_align_t data[];
};

void *vj_arena_alloc(vj_arena **arena, size_t n)
{
    if (n > SIZE_MAX / 2)
        return NULL;
    vj_arena *blk = calloc(1, sizeof *blk + (n > 0 ? n : 1));
    if (blk == NULL)
        return NULL;
    blk->next = *arena;
    *arena = blk;
    return blk->data;
}

void vj_arena_free(vj_arena **arena)
{
    if (arena == NULL)
        return;
    vj_arena *blk = *arena;
    while (blk != NULL) {
        vj_arena *next = blk->next;
        free(blk);
        blk = next;
    }
    *arena = NULL;
}

/* An array of n elements of size sz from the arena; n == 0 gives a valid
 * pointer too, so that results never hold NULL arrays. */
static void *s_array(vj_arena **arena, size_t n, size_t sz)
{
    if (sz != 0 && n > SIZE_MAX / sz)
        return NULL;
    return vj_arena_alloc(arena, n * sz);
}

static void s_why(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_why(char *why, size_t why_len, const char *fmt, ...)
{
    if (why == NULL || why_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

const char *valija_strerror(valija_err err)
{
    switch (err) {
    case VALIJA_OK:
        return "success";
    case VALIJA_NOT_FOUND:
        return "not found";
    case VALIJA_BAD_REQUEST:
        return "bad request";
    case VALIJA_REFUSED:
        return "refused by the case rules";
    case VALIJA_INTERNAL:
        return "internal error in valijad";
    case VALIJA_VERSION:
        return "client protocol version mismatch";
    case VALIJA_UNREACHABLE:
        return "valijad unreachable";
    case VALIJA_NOMEM:
        return "out of memory";
    case VALIJA_INVALID:
        return "invalid argument";
    }
    return "unknown error";
}

bool valija_case_id_is_valid(const char *id)
{
    return vj_case_id_is_valid(id) != 0;
}

bool valija_post_name_is_valid(const char *name)
{
    return vj_post_name_is_valid(name) != 0;
}

/* ---- names ---------------------------------------------------------------- */

static const char *const s_kind_names[] = {
    "unspecified",    "opened", "status", "location", "visit",
    "representation", "note",   "link",   "share",    "closed",
};
#define S_N_KINDS (sizeof s_kind_names / sizeof s_kind_names[0])

static const char *const s_relation_names[] = {"unspecified", "parent", "child", "sibling"};
#define S_N_RELATIONS (sizeof s_relation_names / sizeof s_relation_names[0])

const char *valija_kind_name(valija_kind kind)
{
    if ((unsigned)kind >= S_N_KINDS)
        return "unknown";
    return s_kind_names[kind];
}

valija_err valija_kind_from_name(const char *name, valija_kind *kind)
{
    if (name == NULL || kind == NULL)
        return VALIJA_INVALID;
    for (size_t i = 1; i < S_N_KINDS; i++) {
        if (strcmp(name, s_kind_names[i]) == 0) {
            *kind = (valija_kind)i;
            return VALIJA_OK;
        }
    }
    return VALIJA_INVALID;
}

const char *valija_relation_name(valija_relation rel)
{
    if ((unsigned)rel >= S_N_RELATIONS)
        return "unknown";
    return s_relation_names[rel];
}

static const char *const s_family_relation_names[] = {"family", "self", "parent", "child",
                                                      "sibling"};
#define S_N_FAMILY_RELATIONS (sizeof s_family_relation_names / sizeof s_family_relation_names[0])

const char *valija_family_relation_name(valija_family_relation rel)
{
    if ((unsigned)rel >= S_N_FAMILY_RELATIONS)
        return "unknown";
    return s_family_relation_names[rel];
}

valija_err valija_relation_from_name(const char *name, valija_relation *rel)
{
    if (name == NULL || rel == NULL)
        return VALIJA_INVALID;
    for (size_t i = 1; i < S_N_RELATIONS; i++) {
        if (strcmp(name, s_relation_names[i]) == 0) {
            *rel = (valija_relation)i;
            return VALIJA_OK;
        }
    }
    return VALIJA_INVALID;
}

/* ---- message ids ---------------------------------------------------------- */

void valija_msgid_to_hex(const uint8_t id[VALIJA_MSGID_LEN], char hex[VALIJA_MSGID_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < VALIJA_MSGID_LEN; i++) {
        hex[2 * i] = digits[id[i] >> 4];
        hex[2 * i + 1] = digits[id[i] & 0x0f];
    }
    hex[VALIJA_MSGID_HEX_LEN] = '\0';
}

static int s_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

valija_err valija_msgid_from_hex(const char *hex, uint8_t id[VALIJA_MSGID_LEN])
{
    if (hex == NULL || id == NULL || strlen(hex) != VALIJA_MSGID_HEX_LEN)
        return VALIJA_INVALID;
    uint8_t tmp[VALIJA_MSGID_LEN];
    for (size_t i = 0; i < VALIJA_MSGID_LEN; i++) {
        int hi = s_hexval(hex[2 * i]);
        int lo = s_hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return VALIJA_INVALID;
        tmp[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(id, tmp, sizeof tmp);
    return VALIJA_OK;
}

/* ---- times ---------------------------------------------------------------- */

void valija_time_format(int64_t ms, char text[VALIJA_TIME_TEXT_LEN])
{
    text[0] = '\0';
    if (ms <= 0)
        return;
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL || tm.tm_year + 1900 > 9999)
        return;
    char buf[80];
    int n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    if (n == VALIJA_TIME_TEXT_LEN - 1)
        memcpy(text, buf, VALIJA_TIME_TEXT_LEN);
}

/* Reads exactly n decimal digits at *p, advancing it. */
static int s_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 1;
}

static int s_expect(const char **p, char c)
{
    if (**p != c)
        return 0;
    (*p)++;
    return 1;
}

valija_err valija_time_parse(const char *text, int64_t *ms)
{
    if (text == NULL || ms == NULL)
        return VALIJA_INVALID;
    const char *p = text;
    int y, mo, d, h = 0, mi = 0, s = 0, frac = 0;
    if (!s_digits(&p, 4, &y) || !s_expect(&p, '-') || !s_digits(&p, 2, &mo) || !s_expect(&p, '-') ||
        !s_digits(&p, 2, &d))
        return VALIJA_INVALID;
    if (*p != '\0') {
        if (!s_expect(&p, 'T') || !s_digits(&p, 2, &h) || !s_expect(&p, ':') ||
            !s_digits(&p, 2, &mi) || !s_expect(&p, ':') || !s_digits(&p, 2, &s))
            return VALIJA_INVALID;
        if (*p == '.' && (p++, !s_digits(&p, 3, &frac)))
            return VALIJA_INVALID;
        if (!s_expect(&p, 'Z') || *p != '\0')
            return VALIJA_INVALID;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || s > 59)
        return VALIJA_INVALID;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return VALIJA_INVALID;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return VALIJA_INVALID;
    *ms = (int64_t)t * 1000 + frac;
    return VALIJA_OK;
}

/* ---- checks before sending ------------------------------------------------ */

static int s_is_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* A free-text field: NULL or "" (unchanged), else at most max bytes of text. */
static int s_check_text(const char *s, size_t max, const char *field, char *why, size_t why_len)
{
    if (!s_is_set(s))
        return 1;
    size_t n = strlen(s);
    if (n > max) {
        s_why(why, why_len, "'%s' is longer than %zu bytes", field, max);
        return 0;
    }
    if (!vj_text_is_valid(s, n)) {
        s_why(why, why_len, "'%s' must be UTF-8 text without control characters", field);
        return 0;
    }
    return 1;
}

static int s_check_posts(const char *const *posts, size_t n, const char *field, char *why,
                         size_t why_len)
{
    if (n > 0 && posts == NULL) {
        s_why(why, why_len, "'%s' has %zu entries but no array", field, n);
        return 0;
    }
    if (n > VJ_MAX_RECIPIENTS) {
        s_why(why, why_len, "'%s' names more than %d posts", field, VJ_MAX_RECIPIENTS);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!vj_post_name_is_valid(posts[i])) {
            /* the name may be anything: show it only when it is printable */
            if (posts[i] != NULL && strlen(posts[i]) <= VJ_POST_NAME_MAX &&
                vj_text_is_valid(posts[i], strlen(posts[i])) && strchr(posts[i], '\n') == NULL)
                s_why(why, why_len, "'%s': '%s' is not a post name (1-64 of a-z, 0-9 and '-')",
                      field, posts[i]);
            else
                s_why(why, why_len, "'%s': entry %zu is not a post name (1-64 of a-z, 0-9 and '-')",
                      field, i + 1);
            return 0;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(posts[i], posts[j]) == 0) {
                s_why(why, why_len, "'%s' names '%s' twice", field, posts[i]);
                return 0;
            }
        }
    }
    return 1;
}

static int s_check_date(const char *s)
{
    int64_t ms;
    return strlen(s) == 10 && valija_time_parse(s, &ms) == VALIJA_OK;
}

static int s_check_nationality(const char *s)
{
    size_t n = strlen(s);
    if (n != 2 && n != 3)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return 0;
    return 1;
}

valija_err valija_update_check(const valija_update *u, char *why, size_t why_len)
{
    s_why(why, why_len, "%s", "");
    if (u == NULL) {
        s_why(why, why_len, "no update");
        return VALIJA_INVALID;
    }
    if (!vj_case_id_is_valid(u->case_id)) {
        s_why(why, why_len, "'case' must be 1-64 of A-Z, a-z, 0-9, '.', '_' and '-'");
        return VALIJA_INVALID;
    }
    if ((unsigned)u->kind >= S_N_KINDS) {
        s_why(why, why_len, "'kind' is not a known kind");
        return VALIJA_INVALID;
    }
    if (u->at_ms < 0) {
        s_why(why, why_len, "'at' must not be before 1970");
        return VALIJA_INVALID;
    }
    if (!s_check_text(u->status, VJ_FIELD_MAX, "status", why, why_len) ||
        !s_check_text(u->facility, VJ_FIELD_MAX, "facility", why, why_len) ||
        !s_check_text(u->note, VJ_TEXT_MAX, "note", why, why_len) ||
        !s_check_posts(u->share, u->n_share, "share", why, why_len) ||
        !s_check_posts(u->co_owners, u->n_co_owners, "co_owners", why, why_len))
        return VALIJA_INVALID;
    const valija_person *p = u->person;
    if (p != NULL) {
        if (!s_check_text(p->name, VJ_FIELD_MAX, "person.name", why, why_len) ||
            !s_check_text(p->document, VJ_FIELD_MAX, "person.document", why, why_len) ||
            !s_check_text(p->alien_number, VJ_FIELD_MAX, "person.alien_number", why, why_len))
            return VALIJA_INVALID;
        if (s_is_set(p->date_of_birth) && !s_check_date(p->date_of_birth)) {
            s_why(why, why_len, "'person.dob' must be a date as YYYY-MM-DD");
            return VALIJA_INVALID;
        }
        if (s_is_set(p->nationality) && !s_check_nationality(p->nationality)) {
            s_why(why, why_len, "'person.nationality' must be an ISO 3166 code such as MX or SLV");
            return VALIJA_INVALID;
        }
        if ((unsigned)p->minor > VALIJA_MINOR_NO) {
            s_why(why, why_len, "'person.minor' must be yes, no or unknown");
            return VALIJA_INVALID;
        }
    }
    const valija_representation *r = u->representation;
    if (r != NULL &&
        (!s_check_text(r->name, VJ_FIELD_MAX, "representation.name", why, why_len) ||
         !s_check_text(r->organization, VJ_FIELD_MAX, "representation.organization", why,
                       why_len) ||
         !s_check_text(r->contact, VJ_FIELD_MAX, "representation.contact", why, why_len)))
        return VALIJA_INVALID;
    if (u->visit != NULL) {
        if (!s_check_text(u->visit->visitor, VJ_FIELD_MAX, "visit.visitor", why, why_len))
            return VALIJA_INVALID;
        if (u->visit->at_ms < 0) {
            s_why(why, why_len, "'visit.at' must not be before 1970");
            return VALIJA_INVALID;
        }
    }
    if (u->n_links > 0 && u->links == NULL) {
        s_why(why, why_len, "'links' has entries but no array");
        return VALIJA_INVALID;
    }
    if (u->n_links > VJ_MAX_RECIPIENTS) {
        s_why(why, why_len, "'links' has more than %d entries", VJ_MAX_RECIPIENTS);
        return VALIJA_INVALID;
    }
    for (size_t i = 0; i < u->n_links; i++) {
        const valija_link *l = &u->links[i];
        if (l->relation < VALIJA_LINK_PARENT || l->relation > VALIJA_LINK_SIBLING) {
            s_why(why, why_len, "'links' entry %zu: relation must be parent, child or sibling",
                  i + 1);
            return VALIJA_INVALID;
        }
        if (!vj_case_id_is_valid(l->case_id)) {
            s_why(why, why_len, "'links' entry %zu: 'case' is not a valid case id", i + 1);
            return VALIJA_INVALID;
        }
        if (strcmp(l->case_id, u->case_id) == 0) {
            s_why(why, why_len, "'links' entry %zu: a case cannot link to itself", i + 1);
            return VALIJA_INVALID;
        }
    }
    return VALIJA_OK;
}

/* ---- to protobuf ---------------------------------------------------------- */

/* protobuf-c wants char *; packing only reads, so borrowing is safe. */
static char *s_borrow(const char *s)
{
    return (char *)(s_is_set(s) ? s : protobuf_c_empty_string);
}

static char **s_borrow_list(const char *const *list, size_t n, vj_arena **arena)
{
    char **out = s_array(arena, n, sizeof *out);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = s_borrow(list[i]);
    return out;
}

valija_err vj_client_update_to_pb(const valija_update *u, Valija__CaseUpdate *pb, vj_arena **arena)
{
    pb->version = VJ_CASE_UPDATE_VERSION;
    pb->case_id = s_borrow(u->case_id);
    pb->kind = (Valija__UpdateKind)u->kind;
    pb->lamport = 0;
    pb->at_ms = u->at_ms;
    pb->status = s_borrow(u->status);
    pb->facility = s_borrow(u->facility);
    pb->note = s_borrow(u->note);
    pb->n_seen = 0;
    pb->seen = NULL;
    if (u->n_share > 0) {
        if ((pb->share = s_borrow_list(u->share, u->n_share, arena)) == NULL)
            return VALIJA_NOMEM;
        pb->n_share = u->n_share;
    }
    if (u->n_co_owners > 0) {
        if ((pb->co_owners = s_borrow_list(u->co_owners, u->n_co_owners, arena)) == NULL)
            return VALIJA_NOMEM;
        pb->n_co_owners = u->n_co_owners;
    }
    if (u->person != NULL) {
        Valija__Person *p = vj_arena_alloc(arena, sizeof *p);
        if (p == NULL)
            return VALIJA_NOMEM;
        valija__person__init(p);
        p->name = s_borrow(u->person->name);
        p->date_of_birth = s_borrow(u->person->date_of_birth);
        p->nationality = s_borrow(u->person->nationality);
        p->document = s_borrow(u->person->document);
        p->alien_number = s_borrow(u->person->alien_number);
        p->minor = (Valija__Minor)u->person->minor;
        pb->person = p;
    }
    if (u->representation != NULL) {
        Valija__Representation *r = vj_arena_alloc(arena, sizeof *r);
        if (r == NULL)
            return VALIJA_NOMEM;
        valija__representation__init(r);
        r->name = s_borrow(u->representation->name);
        r->organization = s_borrow(u->representation->organization);
        r->contact = s_borrow(u->representation->contact);
        pb->representation = r;
    }
    if (u->visit != NULL) {
        Valija__Visit *v = vj_arena_alloc(arena, sizeof *v);
        if (v == NULL)
            return VALIJA_NOMEM;
        valija__visit__init(v);
        v->visitor = s_borrow(u->visit->visitor);
        v->at_ms = u->visit->at_ms;
        pb->visit = v;
    }
    if (u->n_links > 0) {
        Valija__CaseLink **links = s_array(arena, u->n_links, sizeof *links);
        Valija__CaseLink *items = s_array(arena, u->n_links, sizeof *items);
        if (links == NULL || items == NULL)
            return VALIJA_NOMEM;
        for (size_t i = 0; i < u->n_links; i++) {
            valija__case_link__init(&items[i]);
            items[i].relation = (Valija__LinkRelation)u->links[i].relation;
            items[i].case_id = s_borrow(u->links[i].case_id);
            links[i] = &items[i];
        }
        pb->links = links;
        pb->n_links = u->n_links;
    }
    return VALIJA_OK;
}

/* ---- from protobuf -------------------------------------------------------- */

static valija_err s_map_status(const Valija__ClientReply *reply, char *why, size_t why_len)
{
    valija_err err;
    const char *dflt;
    switch (reply->status) {
    case VALIJA__REPLY_STATUS__REPLY_OK:
        return VALIJA_OK;
    case VALIJA__REPLY_STATUS__REPLY_NOT_FOUND:
        err = VALIJA_NOT_FOUND;
        dflt = "not found";
        break;
    case VALIJA__REPLY_STATUS__REPLY_BAD_REQUEST:
        err = VALIJA_BAD_REQUEST;
        dflt = "valijad found the request invalid";
        break;
    case VALIJA__REPLY_STATUS__REPLY_REFUSED:
        err = VALIJA_REFUSED;
        dflt = "the case rules forbid this";
        break;
    case VALIJA__REPLY_STATUS__REPLY_INTERNAL:
        err = VALIJA_INTERNAL;
        dflt = "valijad failed; see its log";
        break;
    case VALIJA__REPLY_STATUS__REPLY_VERSION:
        err = VALIJA_VERSION;
        dflt = "valijad does not speak this client protocol version";
        break;
    default:
        s_why(why, why_len, "valijad sent an unknown reply status %d", (int)reply->status);
        return VALIJA_INTERNAL;
    }
    const char *text = reply->error;
    if (text == NULL || *text == '\0' || strlen(text) >= why_len ||
        !vj_text_is_valid(text, strlen(text)))
        text = dflt;
    s_why(why, why_len, "%s", text);
    return err;
}

valija_err vj_client_reply_decode(const uint8_t *data, size_t len,
                                  Valija__ClientReply__BodyCase want, Valija__ClientReply **out,
                                  char *why, size_t why_len)
{
    valija_err ret = VALIJA_INTERNAL;
    ProtobufCMessage *m = NULL;
    *out = NULL;
    s_why(why, why_len, "%s", "");
    int rc = vj_codec_unpack(&valija__client_reply__descriptor, data, len, VJ_CLIENT_REPLY_MAX, &m);
    if (rc != VJ_OK) {
        s_why(why, why_len, "valijad sent a malformed reply (%s)", vj_strerror(rc));
        goto out;
    }
    Valija__ClientReply *reply = (Valija__ClientReply *)m;
    if (reply->version != VJ_CLIENT_PROTOCOL_VERSION) {
        ret = VALIJA_VERSION;
        s_why(why, why_len, "valijad speaks client protocol version %u; this client speaks %d",
              (unsigned)reply->version, VJ_CLIENT_PROTOCOL_VERSION);
        goto out;
    }
    if ((ret = s_map_status(reply, why, why_len)) != VALIJA_OK)
        goto out;
    ret = VALIJA_INTERNAL;
    if (reply->body_case != want) {
        s_why(why, why_len, "valijad sent an unexpected kind of reply (%d where %d was expected)",
              (int)reply->body_case, (int)want);
        goto out;
    }
    *out = reply;
    m = NULL;
    ret = VALIJA_OK;
out:
    vj_codec_free(m);
    return ret;
}

/* Checks a string of the reply; "" for an absent one. */
static int s_text_ok(const char *s, const char *field, char *why, size_t why_len)
{
    if (s == NULL)
        return 1;
    if (!vj_text_is_valid(s, strlen(s))) {
        s_why(why, why_len, "valijad sent a reply with invalid text in '%s'", field);
        return 0;
    }
    return 1;
}

static const char *s_str(const char *s)
{
    return s != NULL ? s : "";
}

/* A message id: exactly 16 bytes, or (when optional) none, giving zeros. */
static int s_msgid_ok(const ProtobufCBinaryData *b, int optional, uint8_t out[VALIJA_MSGID_LEN],
                      const char *field, char *why, size_t why_len)
{
    memset(out, 0, VALIJA_MSGID_LEN);
    if (b->len == 0 && optional)
        return 1;
    if (b->len != VALIJA_MSGID_LEN || b->data == NULL) {
        s_why(why, why_len, "valijad sent a reply with a %zu-byte message id in '%s'", b->len,
              field);
        return 0;
    }
    memcpy(out, b->data, VALIJA_MSGID_LEN);
    return 1;
}

#define S_TEXT(s, field)                                                                           \
    do {                                                                                           \
        if (!s_text_ok((s), (field), why, why_len))                                                \
            return VALIJA_INTERNAL;                                                                \
    } while (0)

static valija_err s_strings_from_pb(char **in, size_t n, const char *const **out, size_t *n_out,
                                    const char *field, vj_arena **arena, char *why, size_t why_len)
{
    const char **list = s_array(arena, n, sizeof *list);
    if (list == NULL)
        return VALIJA_NOMEM;
    for (size_t i = 0; i < n; i++) {
        S_TEXT(in[i], field);
        list[i] = s_str(in[i]);
    }
    *out = list;
    *n_out = n;
    return VALIJA_OK;
}

static valija_err s_person_from_pb(const Valija__Person *pb, const valija_person **out,
                                   vj_arena **arena, char *why, size_t why_len)
{
    *out = NULL;
    if (pb == NULL)
        return VALIJA_OK;
    valija_person *p = vj_arena_alloc(arena, sizeof *p);
    if (p == NULL)
        return VALIJA_NOMEM;
    S_TEXT(pb->name, "person.name");
    S_TEXT(pb->date_of_birth, "person.dob");
    S_TEXT(pb->nationality, "person.nationality");
    S_TEXT(pb->document, "person.document");
    S_TEXT(pb->alien_number, "person.alien_number");
    p->name = s_str(pb->name);
    p->date_of_birth = s_str(pb->date_of_birth);
    p->nationality = s_str(pb->nationality);
    p->document = s_str(pb->document);
    p->alien_number = s_str(pb->alien_number);
    p->minor =
        (unsigned)pb->minor <= VALIJA_MINOR_NO ? (valija_minor)pb->minor : VALIJA_MINOR_UNKNOWN;
    *out = p;
    return VALIJA_OK;
}

static valija_err s_repr_from_pb(const Valija__Representation *pb,
                                 const valija_representation **out, vj_arena **arena, char *why,
                                 size_t why_len)
{
    *out = NULL;
    if (pb == NULL)
        return VALIJA_OK;
    valija_representation *r = vj_arena_alloc(arena, sizeof *r);
    if (r == NULL)
        return VALIJA_NOMEM;
    S_TEXT(pb->name, "representation.name");
    S_TEXT(pb->organization, "representation.organization");
    S_TEXT(pb->contact, "representation.contact");
    r->name = s_str(pb->name);
    r->organization = s_str(pb->organization);
    r->contact = s_str(pb->contact);
    *out = r;
    return VALIJA_OK;
}

static valija_err s_visit_from_pb(const Valija__Visit *pb, const valija_visit **out,
                                  vj_arena **arena, char *why, size_t why_len)
{
    *out = NULL;
    if (pb == NULL)
        return VALIJA_OK;
    valija_visit *v = vj_arena_alloc(arena, sizeof *v);
    if (v == NULL)
        return VALIJA_NOMEM;
    S_TEXT(pb->visitor, "visit.visitor");
    v->visitor = s_str(pb->visitor);
    v->at_ms = pb->at_ms;
    *out = v;
    return VALIJA_OK;
}

static valija_err s_links_from_pb(Valija__CaseLink **in, size_t n, const valija_link **out,
                                  size_t *n_out, vj_arena **arena, char *why, size_t why_len)
{
    valija_link *links = s_array(arena, n, sizeof *links);
    if (links == NULL)
        return VALIJA_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == NULL || (unsigned)in[i]->relation > VALIJA_LINK_SIBLING) {
            s_why(why, why_len, "valijad sent a reply with an unknown link relation");
            return VALIJA_INTERNAL;
        }
        S_TEXT(in[i]->case_id, "links.case");
        links[i].relation = (valija_relation)in[i]->relation;
        links[i].case_id = s_str(in[i]->case_id);
    }
    *out = links;
    *n_out = n;
    return VALIJA_OK;
}

static valija_err s_update_from_pb(const Valija__CaseUpdate *pb, const valija_update **out,
                                   vj_arena **arena, char *why, size_t why_len)
{
    valija_err ret = VALIJA_NOMEM;
    *out = NULL;
    if (pb == NULL)
        return VALIJA_OK;
    valija_update *u = vj_arena_alloc(arena, sizeof *u);
    if (u == NULL)
        goto out;
    ret = VALIJA_INTERNAL;
    if ((unsigned)pb->kind >= S_N_KINDS) {
        s_why(why, why_len, "valijad sent an update of unknown kind %d", (int)pb->kind);
        goto out;
    }
    S_TEXT(pb->case_id, "case");
    S_TEXT(pb->status, "status");
    S_TEXT(pb->facility, "facility");
    S_TEXT(pb->note, "note");
    u->case_id = s_str(pb->case_id);
    u->kind = (valija_kind)pb->kind;
    u->at_ms = pb->at_ms;
    u->status = s_str(pb->status);
    u->facility = s_str(pb->facility);
    u->note = s_str(pb->note);
    if ((ret = s_strings_from_pb(pb->share, pb->n_share, &u->share, &u->n_share, "share", arena,
                                 why, why_len)) != VALIJA_OK ||
        (ret = s_strings_from_pb(pb->co_owners, pb->n_co_owners, &u->co_owners, &u->n_co_owners,
                                 "co_owners", arena, why, why_len)) != VALIJA_OK ||
        (ret = s_person_from_pb(pb->person, &u->person, arena, why, why_len)) != VALIJA_OK ||
        (ret = s_repr_from_pb(pb->representation, &u->representation, arena, why, why_len)) !=
            VALIJA_OK ||
        (ret = s_visit_from_pb(pb->visit, &u->visit, arena, why, why_len)) != VALIJA_OK ||
        (ret = s_links_from_pb(pb->links, pb->n_links, &u->links, &u->n_links, arena, why,
                               why_len)) != VALIJA_OK)
        goto out;
    *out = u;
    ret = VALIJA_OK;
out:
    return ret;
}

valija_err vj_client_state_from_pb(const Valija__CaseState *pb, valija_case_state *out,
                                   vj_arena **arena, char *why, size_t why_len)
{
    valija_err ret = VALIJA_INTERNAL;
    memset(out, 0, sizeof *out);
    if (pb == NULL) {
        s_why(why, why_len, "valijad sent a reply without the case state");
        goto out;
    }
    S_TEXT(pb->case_id, "case");
    S_TEXT(pb->owner, "owner");
    S_TEXT(pb->status, "status");
    S_TEXT(pb->facility, "facility");
    out->case_id = s_str(pb->case_id);
    out->owner = s_str(pb->owner);
    out->status = s_str(pb->status);
    out->facility = s_str(pb->facility);
    out->closed = pb->closed != 0;
    out->updated_ms = pb->updated_ms;
    out->events = pb->events;
    if ((ret = s_person_from_pb(pb->person, &out->person, arena, why, why_len)) != VALIJA_OK ||
        (ret = s_repr_from_pb(pb->representation, &out->representation, arena, why, why_len)) !=
            VALIJA_OK ||
        (ret = s_visit_from_pb(pb->last_visit, &out->last_visit, arena, why, why_len)) !=
            VALIJA_OK ||
        (ret = s_links_from_pb(pb->links, pb->n_links, &out->links, &out->n_links, arena, why,
                               why_len)) != VALIJA_OK ||
        (ret = s_strings_from_pb(pb->shared_with, pb->n_shared_with, &out->shared_with,
                                 &out->n_shared_with, "shared_with", arena, why, why_len)) !=
            VALIJA_OK ||
        (ret = s_strings_from_pb(pb->co_owners, pb->n_co_owners, &out->co_owners, &out->n_co_owners,
                                 "co_owners", arena, why, why_len)) != VALIJA_OK)
        goto out;

    ret = VALIJA_NOMEM;
    valija_note *notes = s_array(arena, pb->n_notes, sizeof *notes);
    if (notes == NULL)
        goto out;
    ret = VALIJA_INTERNAL;
    for (size_t i = 0; i < pb->n_notes; i++) {
        const Valija__Note *n = pb->notes[i];
        if (n == NULL)
            goto out;
        S_TEXT(n->origin, "notes.origin");
        S_TEXT(n->text, "notes.text");
        if (!s_msgid_ok(&n->msg_id, 1, notes[i].msg_id, "notes.msg_id", why, why_len))
            goto out;
        notes[i].origin = s_str(n->origin);
        notes[i].at_ms = n->at_ms;
        notes[i].text = s_str(n->text);
    }
    out->notes = notes;
    out->n_notes = pb->n_notes;

    ret = VALIJA_NOMEM;
    valija_conflict *conflicts = s_array(arena, pb->n_conflicts, sizeof *conflicts);
    if (conflicts == NULL)
        goto out;
    for (size_t i = 0; i < pb->n_conflicts; i++) {
        const Valija__Conflict *c = pb->conflicts[i];
        ret = VALIJA_INTERNAL;
        if (c == NULL)
            goto out;
        S_TEXT(c->field, "conflicts.field");
        ret = VALIJA_NOMEM;
        valija_conflict_value *vals = s_array(arena, c->n_values, sizeof *vals);
        if (vals == NULL)
            goto out;
        ret = VALIJA_INTERNAL;
        for (size_t k = 0; k < c->n_values; k++) {
            const Valija__ConflictValue *v = c->values[k];
            if (v == NULL)
                goto out;
            S_TEXT(v->value, "conflicts.value");
            S_TEXT(v->origin, "conflicts.origin");
            if (!s_msgid_ok(&v->msg_id, 1, vals[k].msg_id, "conflicts.msg_id", why, why_len))
                goto out;
            vals[k].value = s_str(v->value);
            vals[k].origin = s_str(v->origin);
            vals[k].at_ms = v->at_ms;
        }
        conflicts[i].field = s_str(c->field);
        conflicts[i].values = vals;
        conflicts[i].n_values = c->n_values;
    }
    out->conflicts = conflicts;
    out->n_conflicts = pb->n_conflicts;
    ret = VALIJA_OK;
out:
    return ret;
}

valija_err vj_client_entry_from_pb(const Valija__HistoryEntry *pb, valija_history_entry *out,
                                   vj_arena **arena, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    if (pb == NULL) {
        s_why(why, why_len, "valijad sent an empty history entry");
        return VALIJA_INTERNAL;
    }
    if (!s_msgid_ok(&pb->msg_id, 0, out->msg_id, "msg_id", why, why_len))
        return VALIJA_INTERNAL;
    if ((unsigned)pb->kind >= S_N_KINDS) {
        s_why(why, why_len, "valijad sent an entry of unknown kind %d", (int)pb->kind);
        return VALIJA_INTERNAL;
    }
    S_TEXT(pb->origin, "origin");
    S_TEXT(pb->rejected_reason, "reason");
    out->origin = s_str(pb->origin);
    out->seq = pb->seq;
    out->kind = (valija_kind)pb->kind;
    out->created_ms = pb->created_ms;
    out->received_ms = pb->received_ms;
    out->lamport = pb->lamport;
    out->verified = pb->verified != 0;
    out->applied = pb->applied != 0;
    out->rejected_reason = s_str(pb->rejected_reason);
    return s_update_from_pb(pb->update, &out->update, arena, why, why_len);
}

/* The largest receipt body a post signs (peer protocol: 128 KiB). */
#define VJ_RECEIPT_BODY_MAX (128 * 1024)

valija_err vj_client_delivery_from_pb(const Valija__DeliveryReply *pb, valija_delivery *out,
                                      vj_arena **arena, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    if (!s_msgid_ok(&pb->msg_id, 0, out->msg_id, "msg_id", why, why_len))
        return VALIJA_INTERNAL;
    S_TEXT(pb->origin, "origin");
    out->origin = s_str(pb->origin);
    valija_recipient *r = s_array(arena, pb->n_recipients, sizeof *r);
    if (r == NULL)
        return VALIJA_NOMEM;
    for (size_t i = 0; i < pb->n_recipients; i++) {
        const Valija__RecipientStatus *s = pb->recipients[i];
        if (s == NULL)
            return VALIJA_INTERNAL;
        S_TEXT(s->post, "recipients.post");
        r[i].post = s_str(s->post);
        r[i].delivered = s->delivered != 0;
        r[i].receipt_ms = s->receipt_ms;
        r[i].attempts = s->attempts;
        if ((s->receipt_signature.len != 0 && s->receipt_signature.len != 64) ||
            s->receipt_body.len > VJ_RECEIPT_BODY_MAX ||
            (s->receipt_body.len == 0) != (s->receipt_signature.len == 0)) {
            s_why(why, why_len, "valijad sent a malformed receipt for '%s'", s_str(s->post));
            return VALIJA_INTERNAL;
        }
        r[i].receipt = s->receipt_body.len > 0 ? s->receipt_body.data : NULL;
        r[i].receipt_len = s->receipt_body.len;
        r[i].receipt_signature = s->receipt_signature.len > 0 ? s->receipt_signature.data : NULL;
        r[i].receipt_signature_len = s->receipt_signature.len;
    }
    out->recipients = r;
    out->n_recipients = pb->n_recipients;
    return VALIJA_OK;
}

valija_err vj_client_peers_from_pb(const Valija__PeersReply *pb, valija_peer_list *out,
                                   vj_arena **arena, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    S_TEXT(pb->post, "post");
    out->post = s_str(pb->post);
    valija_peer *p = s_array(arena, pb->n_peers, sizeof *p);
    if (p == NULL)
        return VALIJA_NOMEM;
    for (size_t i = 0; i < pb->n_peers; i++) {
        const Valija__PeerStatus *s = pb->peers[i];
        if (s == NULL)
            return VALIJA_INTERNAL;
        S_TEXT(s->post, "peers.post");
        S_TEXT(s->endpoint, "peers.endpoint");
        S_TEXT(s->fingerprint, "peers.fingerprint");
        p[i].post = s_str(s->post);
        p[i].connected = s->connected != 0;
        p[i].last_seen_ms = s->last_seen_ms;
        p[i].backlog = s->backlog;
        p[i].endpoint = s_str(s->endpoint);
        p[i].fingerprint = s_str(s->fingerprint);
    }
    out->peers = p;
    out->n_peers = pb->n_peers;
    return VALIJA_OK;
}

valija_err vj_client_family_from_pb(const Valija__Family *pb, valija_family *out, vj_arena **arena,
                                    char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    if (pb == NULL || pb->n_members == 0 || pb->n_members > 64 || pb->members == NULL) {
        s_why(why, why_len, "valijad sent a family without members, or with more than 64");
        return VALIJA_INTERNAL;
    }
    valija_family_member *m = s_array(arena, pb->n_members, sizeof *m);
    if (m == NULL)
        return VALIJA_NOMEM;
    for (size_t i = 0; i < pb->n_members; i++) {
        const Valija__FamilyMember *f = pb->members[i];
        if (f == NULL || !vj_case_id_is_valid(f->case_id)) {
            s_why(why, why_len, "valijad sent a family member without a valid case id");
            return VALIJA_INTERNAL;
        }
        if ((unsigned)f->relation > VALIJA_FAMILY_SIBLING ||
            ((f->relation == VALIJA__FAMILY_RELATION__FAMILY_SELF) != (i == 0))) {
            s_why(why, why_len, "valijad sent a family member with an unknown relation");
            return VALIJA_INTERNAL;
        }
        m[i].case_id = f->case_id;
        m[i].relation = (valija_family_relation)f->relation;
        m[i].held = f->held != 0;
        m[i].status = m[i].facility = m[i].owner = m[i].name = "";
        if (!m[i].held)
            continue; /* nothing is known of it here: never show a guess */
        S_TEXT(f->status, "family.status");
        S_TEXT(f->facility, "family.facility");
        S_TEXT(f->owner, "family.owner");
        S_TEXT(f->name, "family.name");
        m[i].status = s_str(f->status);
        m[i].facility = s_str(f->facility);
        m[i].owner = s_str(f->owner);
        m[i].name = s_str(f->name);
        m[i].closed = f->closed != 0;
        m[i].updated_ms = f->updated_ms;
    }
    out->members = m;
    out->n_members = pb->n_members;
    out->truncated = pb->truncated != 0;
    return VALIJA_OK;
}
