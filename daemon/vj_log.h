/* vj_log.h - the daemon's log: one line per event on stderr.
 *
 * Only the daemon's edge (main loop, link and API handlers) logs; library
 * modules return errors.  Never pass plaintext case content, case ids or
 * secret keys to these functions: log message ids, post names and counts.
 */
#ifndef VJ_LOG_H
#define VJ_LOG_H

#include <stdint.h>

typedef enum { VJ_LOG_DEBUG = 0, VJ_LOG_INFO, VJ_LOG_WARN, VJ_LOG_ERROR } vj_log_level;

/* Sets the post name shown on every line and the lowest level printed. */
void vj_log_init(const char *post, vj_log_level min_level);

void vj_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vj_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vj_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Like vj_log_warn, with ": " and strerror(errno) appended (errno kept). */
void vj_log_warn_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vj_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Short hex of a message id (first 6 bytes), for log lines; returns buf. */
char *vj_log_msgid(const uint8_t *msg_id, char buf[13]);

/* Wall clock in Unix milliseconds. */
int64_t vj_now_ms(void);
/* Monotonic clock in milliseconds (for timers). */
int64_t vj_mono_ms(void);

#endif
