/* vj_zap.h - the ZAP handler that decides which CURVE clients may connect to
 * the post's peer socket (RFC 27, ZeroMQ Authentication Protocol).
 *
 * It must be bound before any CURVE server socket of the same context, and
 * that socket must set ZMQ_ZAP_DOMAIN to the same domain and
 * ZMQ_ZAP_ENFORCE_DOMAIN, so that a missing handler fails closed.  Admitted
 * connections carry the peer's post name as their ZAP User-Id, which frames
 * then carry as "User-Id" metadata.
 */
#ifndef VJ_ZAP_H
#define VJ_ZAP_H

#include <stdint.h>

#include "vj_codec.h"
#include "vj_error.h"

#define VJ_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define VJ_ZAP_DOMAIN "valija-peers"

typedef struct vj_zap vj_zap;

/* Maps an authenticated CURVE public key to a configured peer's name, or NULL. */
typedef const char *(*vj_zap_lookup_fn)(void *arg, const uint8_t curve_pk[32]);

/* What one handled request decided, for the caller's log. */
typedef struct {
    int admitted;
    char post[VJ_POST_NAME_MAX + 1]; /* when admitted */
    char address[64];                /* the client's address as libzmq gives it */
    char reason[64];                 /* when refused */
} vj_zap_decision;

/* Binds the handler in zmq context zctx. */
int vj_zap_new(void *zctx, vj_zap_lookup_fn lookup, void *arg, vj_zap **out) VJ_MUST_CHECK;

/* The socket to poll for ZMQ_POLLIN. */
void *vj_zap_socket(vj_zap *zap);

/* Reads and answers one request.  VJ_E_UNAVAILABLE if none was waiting. */
int vj_zap_handle(vj_zap *zap, vj_zap_decision *decision) VJ_MUST_CHECK;

void vj_zap_destroy(vj_zap **zap);

#endif
