/* vj_post.h - what a post does with updates, apart from sockets: seal and
 * store a local submission, and verify, store and apply an envelope from a
 * peer.  Both run inside the caller's store transaction (the caller wraps
 * each call in a savepoint and commits in groups); nothing here sends or
 * acknowledges anything.
 */
#ifndef VJ_POST_H
#define VJ_POST_H

#include <stddef.h>
#include <stdint.h>

#include "vj_codec.h"
#include "vj_envelope.h"
#include "vj_keyring.h"
#include "vj_store.h"

typedef struct vj_post vj_post;

/* A post over a store and a keyring, both borrowed (they must outlive it). */
int vj_post_new(vj_store *st, const vj_keyring *kr, size_t max_message_bytes,
                vj_post **out) VJ_MUST_CHECK;
void vj_post_destroy(vj_post **p);

/* Replaces the keyring (after the peers were re-read). */
void vj_post_set_keyring(vj_post *p, const vj_keyring *kr);

/* Seals and stores one update written at this post: fills kind (when
 * unspecified), at_ms (when 0), lamport, seen and version; checks it and the
 * case rules; seals it for every post the case is shared with (this one
 * included); stores envelope, event and case state; queues it for each other
 * recipient.  VJ_E_PARSE (bad update) or VJ_E_REFUSED (case rules) with the
 * reason in diag.  u is modified. */
int vj_post_submit(vj_post *p, Valija__CaseUpdate *u, int64_t now_ms, uint8_t msg_id[VJ_MSG_ID_LEN],
                   vj_diag *diag) VJ_MUST_CHECK;

/* Verifies, decrypts, checks and stores one envelope that peer `from` sent.
 * VJ_OK: stored, acknowledge it.  VJ_E_REPLAY: already held, acknowledge it
 * (info->msg_id is set).  Anything else: refused, nothing stored, diag says
 * why (without case content). */
int vj_post_receive(vj_post *p, const char *from, const uint8_t *env, size_t len, int64_t now_ms,
                    vj_envelope_info *info, vj_diag *diag) VJ_MUST_CHECK;

/* The events stored since the last call, for the watchers, in order.
 * vj_post_events_take hands them over (free them with vj_post_events_free);
 * call it after the commit.  After a rollback to a savepoint,
 * vj_post_events_truncate forgets those stored since.  With capture on
 * (vj_post_set_capture), each event also carries itself as a packed
 * HistoryEntry, its verdict from the case rules included. */
typedef struct {
    char case_id[VJ_CASE_ID_MAX + 1];
    uint8_t msg_id[VJ_MSG_ID_LEN];
    uint8_t *entry;     /* packed HistoryEntry, or NULL without capture */
    size_t entry_len;
} vj_post_event;
void vj_post_set_capture(vj_post *p, int on);
void vj_post_events_take(vj_post *p, vj_post_event **out, size_t *n);
void vj_post_events_free(vj_post_event *events, size_t n);
/* Forgets events stored after the n-th (for a rollback to a savepoint). */
void vj_post_events_truncate(vj_post *p, size_t n);
size_t vj_post_events_count(const vj_post *p);

/* Re-folds a case from its stored events and stores the new state.  When
 * the fold adds posts to the case's share list, this post's own earlier
 * updates of the case are queued for each added post, so the newcomer gets
 * the whole history, each update signed by its author. */
int vj_post_refold(vj_post *p, const char *case_id) VJ_MUST_CHECK;

/* The envelope to send to recipient for msg_id: the stored envelope when it
 * is addressed to recipient; else, for one of this post's own updates, the
 * same update (same message id, sequence and time) re-sealed for recipient
 * alone.  *env is malloc'ed (caller frees).  VJ_E_NOTFOUND if the message is
 * not held, VJ_E_REFUSED if it is another post's update not addressed to
 * recipient. */
int vj_post_envelope_for(vj_post *p, const uint8_t msg_id[VJ_MSG_ID_LEN], const char *recipient,
                         uint8_t **env, size_t *env_len, vj_diag *diag) VJ_MUST_CHECK;

#endif
