/* test_client_fake.h - a fake valijad for the client tests: a thread with a
 * ROUTER socket on ipc://DIR/valijad.sock (DIR from mkdtemp) that records
 * every request and answers from a script of canned replies.
 */
#ifndef TEST_CLIENT_FAKE_H
#define TEST_CLIENT_FAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "vj_codec.h"

typedef struct fake fake;

typedef enum {
    FAKE_REPLY,  /* send one frame; the answer to this request is complete */
    FAKE_MORE,   /* send one frame, then go on with the next item (watch streams) */
    FAKE_SILENT, /* answer this request with nothing */
    FAKE_MULTI,  /* send the bytes as two frames; complete */
    FAKE_CLOSE,  /* close the socket: the daemon goes away */
} fake_action;

/* Starts a fake in a new temporary directory; aborts the test on failure. */
fake *fake_start(void);
/* Stops the thread, closes the socket, removes the directory. */
void fake_stop(fake **f);

const char *fake_endpoint(const fake *f); /* "ipc://DIR/valijad.sock" */
const char *fake_dir(const fake *f);

/* Appends a script item (bytes copied). */
void fake_push(fake *f, fake_action action, const void *data, size_t len);
/* Packs reply and appends it as FAKE_REPLY (more false) or FAKE_MORE. */
void fake_push_reply(fake *f, const Valija__ClientReply *reply, bool more);
/* Appends a ClientReply{version 1, status, error} with no body. */
void fake_push_status(fake *f, Valija__ReplyStatus status, const char *error);

/* Requests received so far. */
size_t fake_count(fake *f);
/* Waits (up to a generous bound) until n requests arrived; returns count. */
size_t fake_wait_count(fake *f, size_t n);
/* Request i, unpacked; the caller frees it with vj_codec_free(). */
Valija__ClientRequest *fake_request(fake *f, size_t i);

#endif
