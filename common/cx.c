/*
 * cx.c - status messages, the error-buffer helper, the logfmt logger and clocks.
 */
#include "cx.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

cx_log_level cx_log_threshold = CX_LOG_INFO;

const char *cx_strerror(cx_status st)
{
    switch (st) {
#define CX__STATUS_MSG(name, msg)                                                  \
    case CX_##name:                                                                \
        return msg;
        CX_STATUS_MAP(CX__STATUS_MSG)
#undef CX__STATUS_MSG
    }
    return "unknown status";
}

const char *cx_status_name(cx_status st)
{
    switch (st) {
#define CX__STATUS_NAME(name, msg)                                                 \
    case CX_##name:                                                                \
        return #name;
        CX_STATUS_MAP(CX__STATUS_NAME)
#undef CX__STATUS_NAME
    }
    return "UNKNOWN";
}

cx_status cx_errf(char *err, size_t errlen, cx_status st, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

cx_status cx_log_set_level(const char *name)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    for (size_t i = 0; i < CX_ARRAY_LEN(names); i++) {
        if (strcmp(name, names[i]) == 0) {
            cx_log_threshold = (cx_log_level)i;
            return CX_OK;
        }
    }
    return CX_ERR_USAGE;
}

/* Writes `s` as a logfmt quoted value: backslash, quote and control bytes escaped. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void cx_log_write(cx_log_level lvl, const char *component, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    struct tm tm;
    char when[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);

    flockfile(stderr);
    fprintf(stderr, "ts=%s.%03ldZ level=%s component=%s msg=", when, ts.tv_nsec / 1000000L,
            names[lvl], component);
    put_quoted(stderr, msg);
    fputc('\n', stderr);
    funlockfile(stderr);
}

int64_t cx_now_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct timespec cx_time_after_ms(clockid_t clock, int ms)
{
    struct timespec t;
    clock_gettime(clock, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

int64_t cx_now_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
