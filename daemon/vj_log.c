/* vj_log.c - timestamped log lines on stderr, one write per line, and the
 * clocks the daemon uses.  Keeps errno intact for the caller. */
#include "vj_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static char s_post[80] = "valijad";
static vj_log_level s_min = VJ_LOG_INFO;

void vj_log_init(const char *post, vj_log_level min_level)
{
    snprintf(s_post, sizeof s_post, "%s", post != NULL ? post : "valijad");
    s_min = min_level;
}

int64_t vj_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t vj_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_vlog(vj_log_level level, int with_errno, const char *fmt, va_list ap)
{
    int saved = errno;
    if (level < s_min) {
        errno = saved;
        return;
    }
    static const char *names[] = {"debug", "info", "warn", "error"};
    char line[1024];
    int64_t now = vj_now_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(now % 1000),
                     s_post, names[level]);
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof line)
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    if ((size_t)n >= sizeof line - 2)
        n = (int)sizeof line - 2;
    if (with_errno) {
        int m = snprintf(line + n, sizeof line - (size_t)n, ": %s", strerror(saved));
        if (m > 0)
            n += m;
        if ((size_t)n >= sizeof line - 2)
            n = (int)sizeof line - 2;
    }
    line[n++] = '\n';
    fwrite(line, 1, (size_t)n, stderr);
    fflush(stderr);
    errno = saved;
}

#define VJ_LOG_FN(name, level, with_errno)                                                         \
    void name(const char *fmt, ...)                                                                \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        s_vlog(level, with_errno, fmt, ap);                                                        \
        va_end(ap);                                                                                \
    }

VJ_LOG_FN(vj_log_debug, VJ_LOG_DEBUG, 0)
VJ_LOG_FN(vj_log_info, VJ_LOG_INFO, 0)
VJ_LOG_FN(vj_log_warn, VJ_LOG_WARN, 0)
VJ_LOG_FN(vj_log_warn_errno, VJ_LOG_WARN, 1)
VJ_LOG_FN(vj_log_error, VJ_LOG_ERROR, 0)

char *vj_log_msgid(const uint8_t *msg_id, char buf[13])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 6; i++) {
        buf[2 * i] = hex[msg_id[i] >> 4];
        buf[2 * i + 1] = hex[msg_id[i] & 15];
    }
    buf[12] = '\0';
    return buf;
}
