/* valija.h - libvalija, the C client library of valija.
 *
 * This is the only header a script author needs: it speaks plain C types, no
 * protobuf and no ZeroMQ.  A `valija` handle talks to one valijad over its
 * local client socket; each call sends one request and waits for the answer.
 *
 * Errors: every call that can fail returns a valija_err.  The handle keeps a
 * message for a person (what was wrong, often the daemon's own words), read
 * with valija_last_error().  The library never prints and never exits.
 *
 * Ownership: strings and arrays you pass in are only read, and only during
 * the call.  Results (valija_case_result, valija_history_list, ...) are allocated
 * by the library, read-only for you, and released with the matching
 * valija_*_free(), which accepts NULL and nulls your pointer.  Every string in
 * a result is valid UTF-8 and NUL-terminated; an absent string is "" (never
 * NULL); an absent sub-object (person, representation, visit) is NULL.
 *
 * Times are Unix time in milliseconds; 0 means unset.  A handle is used from
 * one thread at a time.
 */
#ifndef VALIJA_H
#define VALIJA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define VALIJA_API __attribute__((visibility("default")))
#define VALIJA_MUST_CHECK __attribute__((warn_unused_result))
#else
#define VALIJA_API
#define VALIJA_MUST_CHECK
#endif

#define VALIJA_MSGID_LEN 16     /* bytes of a message id */
#define VALIJA_MSGID_HEX_LEN 32 /* its text form: lowercase hex, without NUL */
#define VALIJA_TIME_TEXT_LEN 25 /* "2026-11-28T01:14:28.123Z" and its NUL */
#define VALIJA_SUBMIT_CHUNK 256 /* updates per request; valija_submit splits */
#define VALIJA_DEFAULT_SOCKET "ipc:///run/valija/valijad.sock"
#define VALIJA_DEFAULT_TIMEOUT_MS 30000

typedef enum {
    VALIJA_OK = 0,
    VALIJA_NOT_FOUND,   /* no such case or message */
    VALIJA_BAD_REQUEST, /* the daemon found the request malformed or invalid */
    VALIJA_REFUSED,     /* valid, but the case rules forbid it */
    VALIJA_INTERNAL,    /* the daemon failed, or sent a reply that makes no sense */
    VALIJA_VERSION,     /* the daemon speaks another client protocol version */
    VALIJA_UNREACHABLE, /* no daemon, no answer in time, or it went away */
    VALIJA_NOMEM,
    VALIJA_INVALID, /* an argument was rejected before anything was sent */
} valija_err;

typedef enum {
    VALIJA_KIND_UNSPECIFIED = 0, /* the daemon infers the kind */
    VALIJA_KIND_OPENED,
    VALIJA_KIND_STATUS,
    VALIJA_KIND_LOCATION,
    VALIJA_KIND_VISIT,
    VALIJA_KIND_REPRESENTATION,
    VALIJA_KIND_NOTE,
    VALIJA_KIND_LINK,
    VALIJA_KIND_SHARE,
    VALIJA_KIND_CLOSED,
} valija_kind;

typedef enum {
    VALIJA_MINOR_UNKNOWN = 0,
    VALIJA_MINOR_YES,
    VALIJA_MINOR_NO,
} valija_minor;

typedef enum {
    VALIJA_LINK_UNSPECIFIED = 0,
    VALIJA_LINK_PARENT, /* the linked case is this case's parent */
    VALIJA_LINK_CHILD,  /* the linked case is this case's child */
    VALIJA_LINK_SIBLING,
} valija_relation;

typedef struct {
    const char *name;
    const char *date_of_birth; /* YYYY-MM-DD */
    const char *nationality;   /* ISO 3166-1 alpha-2 or alpha-3 */
    const char *document;
    const char *alien_number;
    valija_minor minor;
} valija_person;

typedef struct {
    const char *name; /* the representative */
    const char *organization;
    const char *contact;
} valija_representation;

typedef struct {
    const char *visitor;
    int64_t at_ms;
} valija_visit;

typedef struct {
    valija_relation relation;
    const char *case_id;
} valija_link;

/* One update of one case.  To submit, fill what changes and leave the rest
 * NULL / 0 (strings may be NULL or ""); the daemon fills the Lamport time and
 * what it had seen.  In a history entry the library fills it from the daemon. */
typedef struct {
    const char *case_id; /* required: 1..64 of [A-Za-z0-9._-] */
    valija_kind kind;
    int64_t at_ms; /* when the officer recorded it; 0: now (daemon) */
    const char *status;
    const char *facility;
    const char *note;
    const char *const *share; /* the full share list after this update */
    size_t n_share;
    const char *const *co_owners; /* the full co-owner list after this update */
    size_t n_co_owners;
    const valija_person *person;
    const valija_representation *representation;
    const valija_visit *visit;
    const valija_link *links;
    size_t n_links;
} valija_update;

typedef struct {
    const char *origin;
    int64_t at_ms;
    const char *text;
    uint8_t msg_id[VALIJA_MSGID_LEN]; /* all zero when the daemon sent none */
} valija_note;

typedef struct {
    const char *value;
    const char *origin;
    int64_t at_ms;
    uint8_t msg_id[VALIJA_MSGID_LEN];
} valija_conflict_value;

/* Concurrent writes to one field that no later update has settled. */
typedef struct {
    const char *field;
    const valija_conflict_value *values;
    size_t n_values;
} valija_conflict;

typedef struct {
    const char *case_id;
    const char *owner; /* the post that opened it */
    const char *status;
    const char *facility;
    const valija_person *person;
    const valija_representation *representation;
    const valija_note *notes;
    size_t n_notes;
    const valija_link *links;
    size_t n_links;
    const char *const *shared_with;
    size_t n_shared_with;
    const char *const *co_owners;
    size_t n_co_owners;
    const valija_conflict *conflicts;
    size_t n_conflicts;
    bool closed;
    int64_t updated_ms;
    uint64_t events;
    const valija_visit *last_visit;
} valija_case_state;

/* Families (docs/cases.md "Families"): the cases connected by links recorded
 * in either direction.  A member's relation is to one case of the family:
 * the case asked about (valija_case) or the family's first member
 * (valija_list with separated_only). */
typedef enum {
    VALIJA_FAMILY_RELATED = 0, /* in the family through other members only */
    VALIJA_FAMILY_SELF,        /* the case the relations are to */
    VALIJA_FAMILY_PARENT,      /* linked directly: its parent */
    VALIJA_FAMILY_CHILD,       /* linked directly: its child */
    VALIJA_FAMILY_SIBLING,     /* linked directly: its sibling */
} valija_family_relation;

typedef struct {
    const char *case_id;
    valija_family_relation relation;
    bool held; /* false: not shared with this post, and every
                  field below is "" / false / 0 */
    const char *status;
    const char *facility;
    const char *owner;
    const char *name; /* the person's name; "" when the case has none */
    bool closed;
    int64_t updated_ms;
} valija_family_member;

typedef struct {
    const valija_family_member *members; /* the case the relations are to first */
    size_t n_members;                    /* 1 to 64 */
    bool truncated;                      /* the family has more than 64 members */
} valija_family;

typedef struct {
    valija_case_state state;
    const valija_case_state *family; /* with family: the held members other than
                                        the case, whole */
    size_t n_family;
    const valija_family *family_members; /* with family: every member, the case
                                            itself first; NULL otherwise */
} valija_case_result;

typedef struct {
    uint8_t msg_id[VALIJA_MSGID_LEN];
    const char *origin;
    uint64_t seq; /* the origin's sequence number */
    valija_kind kind;
    int64_t created_ms;
    int64_t received_ms;
    uint64_t lamport;
    bool verified; /* the origin's signature verified */
    bool applied;  /* false: rejected by the case rules */
    const char *rejected_reason;
    const valija_update *update; /* NULL when the daemon sent none */
} valija_history_entry;

typedef struct {
    const valija_history_entry *entries; /* oldest first, as the daemon sends */
    size_t n_entries;
} valija_history_list;

typedef struct {
    const char *status; /* NULL or "": any */
    const char *facility;
    const char *shared_with;  /* a post name */
    int64_t updated_since_ms; /* 0: any time */
    bool conflicts_only;
    bool separated_only; /* families whose members are held apart */
    uint32_t limit;      /* 0: the daemon's default */
} valija_list_filter;

typedef struct {
    const valija_case_state *cases; /* none with separated_only */
    size_t n_cases;
    const valija_family *families; /* with separated_only: the separated families,
                                      ordered by their most recently updated member
                                      that is not reunited, which comes first */
    size_t n_families;
} valija_case_list;

typedef struct {
    const char *post;
    bool delivered;     /* a signed receipt from this post is held */
    int64_t receipt_ms; /* 0: none */
    uint32_t attempts;
    /* The receipt itself, as the recipient signed it (protocol.md, Receipt):
     * proof that it stored the update.  NULL and 0 when none is held. */
    const uint8_t *receipt;
    size_t receipt_len;
    const uint8_t *receipt_signature; /* 64 bytes, Ed25519 */
    size_t receipt_signature_len;
} valija_recipient;

typedef struct {
    uint8_t msg_id[VALIJA_MSGID_LEN];
    const char *origin;
    const valija_recipient *recipients;
    size_t n_recipients;
} valija_delivery;

typedef struct {
    const char *post;
    bool connected;
    int64_t last_seen_ms; /* 0: never */
    uint64_t backlog;     /* updates waiting for this peer */
    const char *endpoint;
    const char *fingerprint;
} valija_peer;

typedef struct {
    const char *post; /* this daemon's own post */
    const valija_peer *peers;
    size_t n_peers;
} valija_peer_list;

typedef struct valija valija;

/* Prepares a connection to valijad at endpoint: "ipc://PATH" or
 * "tcp://HOST:PORT"; NULL means $VALIJA_SOCKET, else VALIJA_DEFAULT_SOCKET.
 * Nothing is sent yet.  The reply timeout is VALIJA_DEFAULT_TIMEOUT_MS unless
 * $VALIJA_TIMEOUT_MS holds a positive number.  On VALIJA_OK *out is yours
 * (valija_close); on error *out is NULL: VALIJA_INVALID for an endpoint of
 * another form or an ipc path over 107 bytes, VALIJA_NOMEM, VALIJA_INTERNAL. */
VALIJA_API valija_err valija_open(const char *endpoint, valija **out) VALIJA_MUST_CHECK;

/* Closes the connection and frees the handle; NULL and *conn == NULL are fine. */
VALIJA_API void valija_close(valija **conn);

/* The endpoint this handle talks to (owned by the handle). */
VALIJA_API const char *valija_endpoint(const valija *conn);

/* Sets the reply timeout (ms, > 0). */
VALIJA_API valija_err valija_set_timeout(valija *conn, int timeout_ms) VALIJA_MUST_CHECK;

/* A message for a person about the last failed call on conn ("" after
 * success); owned by the handle, valid until the next call. */
VALIJA_API const char *valija_last_error(const valija *conn);

/* A short static description of an error code. */
VALIJA_API const char *valija_strerror(valija_err err);

/* Checks one update as valija_submit will before sending anything: case id,
 * post names, lengths, UTF-8, enum ranges.  On VALIJA_INVALID, why (when not
 * NULL) holds a message naming the field, e.g. "'share': 'MX' is not a post
 * name (a-z, 0-9 and '-')". */
VALIJA_API valija_err valija_update_check(const valija_update *u, char *why,
                                          size_t why_len) VALIJA_MUST_CHECK;

/* Submits n updates, in chunks of VALIJA_SUBMIT_CHUNK, and stores the new
 * message id of updates[i] in msg_ids[i].  Every update is checked first;
 * one invalid update means nothing is sent (VALIJA_INVALID).  *n_done (when
 * not NULL) counts the updates the daemon accepted: on a failure in a later
 * chunk, the first *n_done ids are valid and those updates were submitted. */
VALIJA_API valija_err valija_submit(valija *conn, const valija_update *updates, size_t n,
                                    uint8_t (*msg_ids)[VALIJA_MSGID_LEN],
                                    size_t *n_done) VALIJA_MUST_CHECK;

/* The current state of one case; with family, also its linked cases.
 * On VALIJA_OK *out is yours: valija_case_free(). */
VALIJA_API valija_err valija_case(valija *conn, const char *case_id, bool family,
                                  valija_case_result **out) VALIJA_MUST_CHECK;
VALIJA_API void valija_case_free(valija_case_result **res);

/* Every update of one case.  On VALIJA_OK *out is yours: valija_history_free(). */
VALIJA_API valija_err valija_history(valija *conn, const char *case_id,
                                     valija_history_list **out) VALIJA_MUST_CHECK;
VALIJA_API void valija_history_free(valija_history_list **res);

/* Cases matching filter (NULL: all, up to the daemon's default limit).
 * With filter->separated_only, the separated families instead (families,
 * not cases; limit counts families; no other filter may be set, or the
 * daemon answers VALIJA_BAD_REQUEST).
 * On VALIJA_OK *out is yours: valija_case_list_free(). */
VALIJA_API valija_err valija_list(valija *conn, const valija_list_filter *filter,
                                  valija_case_list **out) VALIJA_MUST_CHECK;
VALIJA_API void valija_case_list_free(valija_case_list **res);

/* Delivery of one of this post's updates to each recipient.
 * On VALIJA_OK *out is yours: valija_delivery_free(). */
VALIJA_API valija_err valija_status(valija *conn, const uint8_t msg_id[VALIJA_MSGID_LEN],
                                    valija_delivery **out) VALIJA_MUST_CHECK;
VALIJA_API void valija_delivery_free(valija_delivery **res);

/* The daemon's peer posts and their links.
 * On VALIJA_OK *out is yours: valija_peer_list_free(). */
VALIJA_API valija_err valija_peers(valija *conn, valija_peer_list **out) VALIJA_MUST_CHECK;
VALIJA_API void valija_peer_list_free(valija_peer_list **res);

/* Called by valija_watch once per new update (entry, valid only during the
 * call), and with entry NULL when the wait was interrupted by a signal or has
 * been idle for about a second, so that the caller can decide to stop.
 * Return 0 to go on, anything else to stop. */
typedef int (*valija_watch_fn)(const valija_history_entry *entry, void *arg);

/* Follows new updates (of case_id, or of every case when NULL or "") until fn
 * asks to stop (VALIJA_OK) or something fails: VALIJA_UNREACHABLE when the
 * daemon does not answer or goes away, another error when it refuses. */
VALIJA_API valija_err valija_watch(valija *conn, const char *case_id, valija_watch_fn fn,
                                   void *arg) VALIJA_MUST_CHECK;

/* Message ids as text: 32 lowercase hex characters. */
VALIJA_API void valija_msgid_to_hex(const uint8_t id[VALIJA_MSGID_LEN],
                                    char hex[VALIJA_MSGID_HEX_LEN + 1]);
/* Accepts exactly 32 hex digits (either case); VALIJA_INVALID otherwise. */
VALIJA_API valija_err valija_msgid_from_hex(const char *hex,
                                            uint8_t id[VALIJA_MSGID_LEN]) VALIJA_MUST_CHECK;

/* Names as used in text and JSON: opened, status, location, visit,
 * representation, note, link, share, closed ("unspecified" for 0), and
 * parent, child, sibling.  The _from_ functions return VALIJA_INVALID for an
 * unknown name. */
VALIJA_API const char *valija_kind_name(valija_kind kind);
VALIJA_API valija_err valija_kind_from_name(const char *name, valija_kind *kind) VALIJA_MUST_CHECK;
VALIJA_API const char *valija_relation_name(valija_relation rel);
VALIJA_API valija_err valija_relation_from_name(const char *name,
                                                valija_relation *rel) VALIJA_MUST_CHECK;
/* A family relation as used in text and JSON: family, self, parent, child,
 * sibling ("unknown" for any other value). */
VALIJA_API const char *valija_family_relation_name(valija_family_relation rel);

/* Times as ISO 8601 UTC with milliseconds: "2026-11-28T01:14:28.123Z".
 * _format writes "" for 0 (unset).  _parse accepts that form, the form
 * without fraction ("...T01:14:28Z") and a date alone ("2026-11-28", midnight
 * UTC); VALIJA_INVALID otherwise. */
VALIJA_API void valija_time_format(int64_t ms, char text[VALIJA_TIME_TEXT_LEN]);
VALIJA_API valija_err valija_time_parse(const char *text, int64_t *ms) VALIJA_MUST_CHECK;

/* Validators the daemon applies too. */
VALIJA_API bool valija_case_id_is_valid(const char *id);
VALIJA_API bool valija_post_name_is_valid(const char *name);

#ifdef __cplusplus
}
#endif

#endif
