/* vj_case.h - the case model: checking updates, inferring their kind, and
 * folding a case's events into its current state (docs/cases.md).
 *
 * Pure logic over the generated protobuf types: no I/O, no cryptography, no
 * store.  The state of a case is a function of the SET of its events: any
 * order of arrival gives the same state, byte for byte once packed.
 *
 * Ownership: nothing here keeps a pointer to its arguments.  Every message
 * returned through an out parameter is new and owned by the caller, freed as
 * documented per function.
 */
#ifndef VJ_CASE_H
#define VJ_CASE_H

#include <stddef.h>

#include "vj_codec.h"
#include "vj_error.h"

/* At most this many links in one update, and in the `seen` clock of one update. */
#define VJ_CASE_LINKS_MAX 64
#define VJ_CASE_SEEN_MAX 256

/* Checks an update from a client or a peer: version 1, valid case id
 * (vj_case_id_is_valid), known kind (not UNSPECIFIED after inference), every
 * text valid UTF-8 without control characters (vj_text_is_valid; short fields
 * are single-line) and within limits (VJ_FIELD_MAX for short fields,
 * VJ_TEXT_MAX for the note), date_of_birth YYYY-MM-DD (a real calendar date),
 * nationality 2-3 uppercase letters, share/co_owners valid distinct post names
 * (<= VJ_MAX_RECIPIENTS, only in OPENED and SHARE), links with a known relation
 * and valid case id, distinct, not to the case itself (<= VJ_CASE_LINKS_MAX),
 * seen clocks with valid distinct origins, and that the kind fits the fields:
 * OPENED carries a share list, SHARE a share or co-owner list, STATUS a
 * status, LOCATION a facility, VISIT a visit, REPRESENTATION a representation,
 * NOTE a note, LINK links; CLOSED may carry anything but sharing.
 * VJ_E_PARSE with the field named in diag (never the field's content). */
int vj_case_update_validate(const Valija__CaseUpdate *u, vj_diag *diag) VJ_MUST_CHECK;

/* The kind of a client update sent with KIND_UNSPECIFIED: OPENED if the case
 * does not exist here, else SHARE if it carries a share/co-owner list, STATUS
 * if a status, LOCATION if a facility, REPRESENTATION, VISIT, LINK, NOTE by
 * what it carries (first match in that order); UNSPECIFIED when it carries
 * none of these (for instance person details alone).  An update that already
 * has a kind keeps it. */
Valija__UpdateKind vj_case_infer_kind(const Valija__CaseUpdate *u, int case_exists);

/* Would origin be allowed to make u on a case in state (NULL: the case is not
 * known here)?  The same rule as the fold applies, for refusing a local
 * submission early with a reason.  VJ_OK, or VJ_E_REFUSED with why filled;
 * VJ_E_INVAL for a NULL origin or update.  Does not validate u: call
 * vj_case_update_validate() first. */
int vj_case_check(const Valija__CaseState *state, const char *origin, const Valija__CaseUpdate *u,
                  vj_diag *why) VJ_MUST_CHECK;

/* Folds the events of one case into its state.
 *
 * entries: n HistoryEntry messages (client.proto) with msg_id, origin, seq,
 * lamport, created_ms and update set, in any order, duplicates removed by the
 * caller.  The origin, seq, lamport and created_ms of the entry are the
 * authoritative ones (from the verified envelope); the update gives the rest.
 * The fold sorts a copy of the pointer array by (lamport, origin, msg_id) and
 * sets entries[i]->applied and ->rejected_reason (a malloc'ed string the entry
 * owns, freed by protobuf-c's free_unpacked; a previous reason, which must be
 * malloc'ed or the empty default, is freed first).
 *
 * *out: a new CaseState, freed with vj_codec_free().  VJ_E_NOTFOUND when no
 * event was applied (no valid OPENED): *out is NULL, the entries' reasons
 * are still set.  VJ_E_INVAL for a NULL array or entry, an invalid case id. */
int vj_case_fold(const char *case_id, Valija__HistoryEntry **entries, size_t n,
                 Valija__CaseState **out) VJ_MUST_CHECK;

/* The `seen` clock to put in a new local update of this case: for each origin
 * among entries (applied or not), the highest seq, sorted by origin.  *out is
 * a malloc'ed array of n_out CaseClock pointers (free each with
 * vj_codec_free() and the array with free()); NULL when n_out is 0. */
int vj_case_seen(Valija__HistoryEntry **entries, size_t n, Valija__CaseClock ***out,
                 size_t *n_out) VJ_MUST_CHECK;

#endif
