/* valija_private.h - what the two halves of libvalija share: an arena for
 * results, and the conversions between the public structs of valija.h and
 * the protobuf messages of client.proto.  Not installed; not for the CLI.
 */
#ifndef VALIJA_PRIVATE_H
#define VALIJA_PRIVATE_H

#include <stddef.h>

#include "valija.h"
#include "vj_codec.h"

/* A reply may be this large (ZMQ_MAXMSGSIZE and the unpack cap). */
#define VJ_CLIENT_REPLY_MAX ((size_t)64 * 1024 * 1024)

/* A list of zeroed blocks freed together: everything a result points to. */
typedef struct vj_arena vj_arena;

/* A zeroed block of n bytes owned by *arena, or NULL when out of memory. */
void *vj_arena_alloc(vj_arena **arena, size_t n);
void vj_arena_free(vj_arena **arena);

/* Fills pb (initialised by the caller) from u for packing.  pb borrows u's
 * strings; everything else it needs is taken from *arena.  u must have
 * passed valija_update_check().  Returns VALIJA_OK or VALIJA_NOMEM. */
valija_err vj_client_update_to_pb(const valija_update *u, Valija__CaseUpdate *pb,
                                  vj_arena **arena) VALIJA_MUST_CHECK;

/* Unpacks len bytes as a ClientReply (capped at VJ_CLIENT_REPLY_MAX) and
 * checks, in this order, the protocol version (VALIJA_VERSION), the status
 * (mapped to its valija_err, with the daemon's text in why when it is
 * printable text, else a default), and that the body case is want
 * (VALIJA_INTERNAL).  Malformed bytes: VALIJA_INTERNAL.  On VALIJA_OK *out
 * is the caller's (vj_codec_free); otherwise it is NULL and why says what. */
valija_err vj_client_reply_decode(const uint8_t *data, size_t len,
                                  Valija__ClientReply__BodyCase want, Valija__ClientReply **out,
                                  char *why, size_t why_len) VALIJA_MUST_CHECK;

/* The conversions from a reply to the public structs.  The results borrow
 * the strings of pb (which must outlive them) and take the rest from *arena.
 * Every string and id is checked: VALIJA_INTERNAL with a message in why for
 * a reply that breaks the protocol, or VALIJA_NOMEM. */
valija_err vj_client_state_from_pb(const Valija__CaseState *pb, valija_case_state *out,
                                   vj_arena **arena, char *why, size_t why_len) VALIJA_MUST_CHECK;
valija_err vj_client_entry_from_pb(const Valija__HistoryEntry *pb, valija_history_entry *out,
                                   vj_arena **arena, char *why, size_t why_len) VALIJA_MUST_CHECK;
valija_err vj_client_delivery_from_pb(const Valija__DeliveryReply *pb, valija_delivery *out,
                                      vj_arena **arena, char *why,
                                      size_t why_len) VALIJA_MUST_CHECK;
valija_err vj_client_peers_from_pb(const Valija__PeersReply *pb, valija_peer_list *out,
                                   vj_arena **arena, char *why, size_t why_len) VALIJA_MUST_CHECK;
/* A family: 1 to 64 members, each a valid case id, a known relation, only
 * the first one SELF; a member not held is given with nothing but its case
 * id and relation, whatever the daemon sent. */
valija_err vj_client_family_from_pb(const Valija__Family *pb, valija_family *out, vj_arena **arena,
                                    char *why, size_t why_len) VALIJA_MUST_CHECK;

#endif
