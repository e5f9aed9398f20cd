/*
 * cx.c - status names, the error-buffer helper, the logfmt logger, clocks,
 * typo suggestions, opening a file to read and the growable buffer.
 */
#include "cx.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

cx_log_level cx_log_threshold = CX_LOG_INFO;

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

/* How many bytes byte c takes in a message: 2 or 4 for a control byte, escaped
 * ("\n", "\x1b"), else 1. */
static size_t escaped_len(unsigned char c)
{
    if (c == '\n' || c == '\r' || c == '\t')
        return 2;
    return c < 0x20 || c == 0x7f ? 4 : 1;
}

/* An escape only grows, so the bytes are moved from the end backwards. */
char *cx_escape_controls(char *err, size_t errlen)
{
    size_t n = 0, out = 0;
    int any = 0;
    for (; err[n] != '\0'; n++) {
        size_t k = escaped_len((unsigned char)err[n]);
        any |= k > 1;
        if (out + k > errlen - 1)
            break;
        out += k;
    }
    if (!any)
        return err;
    err[out] = '\0';
    while (n-- > 0) {
        unsigned char c = (unsigned char)err[n];
        size_t k = escaped_len(c);
        out -= k;
        if (k == 1) {
            err[out] = (char)c;
        } else if (k == 2) {
            err[out] = '\\';
            err[out + 1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else {
            static const char hex[] = "0123456789abcdef";
            memcpy(err + out, "\\x", 2);
            err[out + 2] = hex[c >> 4];
            err[out + 3] = hex[c & 15];
        }
    }
    return err;
}

cx_status cx_errf(char *err, size_t errlen, cx_status st, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        cx_escape_controls(err, errlen);
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

/* Writes `s` as a logfmt quoted value: backslash, quote and control bytes
 * escaped, and so are the characters a terminal or a log viewer acts on
 * rather than shows (DEL, the C1 controls such as CSI, U+009B, the
 * bidirectional overrides such as U+202E) and bytes that are not UTF-8 (a
 * lone 0x9B is CSI to an 8-bit terminal): a message quotes event data. */
static void put_quoted(FILE *f, const char *s)
{
    const unsigned char *end = (const unsigned char *)s + strlen(s);
    fputc('"', f);
    for (; *s; s++) {
        const unsigned char *u = (const unsigned char *)s;
        if (*u >= 0x80) { /* a character of two to four bytes, whole, or a stray byte */
            size_t n = cx_utf8_sequence(u, end);
            if (n == 0)
                fprintf(f, "\\x%02x", *u);
            else if (cx_terminal_control(u) == 0)
                fwrite(u, 1, n, f);
            else if (n == 2)
                fprintf(f, "\\u%04x", (unsigned)(u[0] & 0x1f) << 6 | (u[1] & 0x3f));
            else
                fprintf(f, "\\u%04x",
                        (unsigned)(u[0] & 0x0f) << 12 | (unsigned)(u[1] & 0x3f) << 6 |
                            (u[2] & 0x3f));
            s += n ? n - 1 : 0;
        } else if (*u == '"' || *u == '\\') {
            fprintf(f, "\\%c", *u);
        } else if (*u == '\n') {
            fputs("\\n", f);
        } else if (*u < 0x20 || *u == 0x7f) {
            fprintf(f, "\\x%02x", *u);
        } else {
            fputc(*u, f);
        }
    }
    fputc('"', f);
}

/* 1 when stderr is the systemd journal's stream for this service: journald
 * sets JOURNAL_STREAM to the "device:inode" of the stream it gave us (a
 * child that inherits the variable with stderr elsewhere does not match). */
static int stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    return js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
           (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void cx_log_write(cx_log_level lvl, const char *component, const char *fmt, ...)
{
    /* the journal's priority for each level (syslog's debug, info, warning, err) */
    static const char *const priority[] = {"<7>", "<6>", "<4>", "<3>", ""};
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
    fprintf(stderr,
            "%sts=%s.%03ldZ level=%s component=%s msg=", stderr_is_journal() ? priority[lvl] : "",
            when, ts.tv_nsec / 1000000L, names[lvl], component);
    put_quoted(stderr, msg);
    fputc('\n', stderr);
    funlockfile(stderr);
}

const char *cx_utc_text(int64_t secs, char *buf, size_t len)
{
    struct tm tm;
    time_t t = (time_t)secs;
    if (len > 0 &&
        (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0))
        snprintf(buf, len, "?");
    return buf;
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

void cx_cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
}

void cx_thread_name(const char *name)
{
    prctl(PR_SET_NAME, name, 0, 0, 0);
}

int64_t cx_now_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void cx_out_of_memory(const char *what)
{
    fprintf(stderr, "cxpulse: out of memory %s\n", what);
    _exit(1); /* now, whatever the other threads do; no core dump of a full heap */
}

unsigned cx_typo_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    unsigned row[128], prev[128];
    if (n >= CX_ARRAY_LEN(row) || m >= CX_ARRAY_LEN(row) || (m > n ? m - n : n - m) >= 3)
        return 3;
    for (size_t j = 0; j <= m; j++)
        prev[j] = (unsigned)j;
    for (size_t i = 1; i <= n; i++) {
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= m; j++) {
            unsigned sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            unsigned del = prev[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, row, (m + 1) * sizeof *row);
    }
    return prev[m] < 3 ? prev[m] : 3;
}

void cx_typo_offer(cx_typo *t, const char *candidate)
{
    unsigned d = candidate != NULL ? cx_typo_distance(t->word, candidate) : 3;
    if (d < t->distance) {
        t->distance = d;
        t->best = candidate;
    }
}

const char *cx_typo_hint(const cx_typo *t, int quoted, char *buf, size_t len)
{
    if (t->best == NULL || t->distance == 0)
        return "";
    const char *q = quoted ? "\"" : "";
    snprintf(buf, len, " (did you mean %s%s%s?)", q, t->best, q);
    return buf;
}

FILE *cx_open_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (f != NULL && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        errno = EISDIR;
        return NULL;
    }
    return f;
}

void cx_double_text(double v, char *buf, size_t len)
{
    if (v == floor(v) && fabs(v) < 1e15) { /* whole: its digits, never "1e+02" */
        snprintf(buf, len, "%.0f", v);
        return;
    }
    for (int p = 2; p <= 17; p++) {
        snprintf(buf, len, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

size_t cx_terminal_control(const unsigned char *u)
{
    if (u[0] == 0xC2 && u[1] >= 0x80 && u[1] <= 0x9F)
        return 2;
    if (u[0] == 0xD8 && u[1] == 0x9C)
        return 2;
    if (u[0] == 0xE2 &&
        ((u[1] == 0x80 && ((u[2] >= 0x8E && u[2] <= 0x8F) || (u[2] >= 0xAA && u[2] <= 0xAE))) ||
         (u[1] == 0x81 && u[2] >= 0xA6 && u[2] <= 0xA9)))
        return 3;
    return 0;
}

size_t cx_utf8_put(char *o, uint32_t c)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

uint32_t cx_utf8_next(const unsigned char *p, const unsigned char *end, size_t *n)
{
    *n = p[0] < 0x80 ? 1 : cx_utf8_sequence(p, end);
    if (*n <= 1) {
        *n = 1;
        return p[0];
    }
    uint32_t c = p[0] & (0x7F >> *n);
    for (size_t i = 1; i < *n; i++)
        c = c << 6 | (p[i] & 0x3F);
    return c;
}

const char *cx_printable(const char *s, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    size_t n = 0;
    for (; s[n] != '\0' && n + 1 < len; n++) {
        const unsigned char *u = (const unsigned char *)s + n;
        size_t k = cx_terminal_control(u); /* whole */
        if (k > 0 && n + k < len) {
            memset(buf + n, ' ', k);
            n += k - 1;
        } else {
            buf[n] = u[0] < 0x20 || u[0] == 0x7f ? ' ' : s[n];
        }
    }
    buf[cx_utf8_cut(s, n)] = '\0';
    return buf;
}

size_t cx_utf8_sequence(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t n;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* no overlong forms */
        hi = c == 0xED ? 0x9F : 0xBF; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF; /* nothing over U+10FFFF */
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

int cx_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    for (size_t n = 1; p < end && n > 0; p += n)
        n = *p < 0x80 ? 1 : cx_utf8_sequence(p, end);
    return p >= end;
}

void cx_utf8_mend(char *s, size_t len)
{
    const unsigned char *end = (const unsigned char *)s + len;
    for (unsigned char *p = (unsigned char *)s; p < end;) {
        size_t n = *p < 0x80 ? 1 : cx_utf8_sequence(p, end);
        if (n == 0)
            *p++ = '?';
        else
            p += n;
    }
}

char *cx_buf_grow(cx_buf *b, size_t n)
{
    if (b->failed)
        return NULL;
    if (b->cap - b->len < n || b->data == NULL) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) { /* no size can hold it */
                b->failed = 1;
                return NULL;
            }
            cap *= 2;
        }
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            b->failed = 1;
            return NULL;
        }
        b->data = d;
        b->cap = cap;
    }
    return b->data + b->len;
}

void cx_buf_printf(cx_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
    } else if ((size_t)n < sizeof small) {
        cx_buf_put(b, small, (size_t)n);
    } else { /* longer: written where it goes, with room for vsnprintf's NUL */
        char *o = cx_buf_reserve(b, (size_t)n + 1);
        if (o != NULL) {
            va_start(ap, fmt);
            vsnprintf(o, (size_t)n + 1, fmt, ap);
            va_end(ap);
            b->len += (size_t)n;
        }
    }
}

char *cx_buf_str(cx_buf *b)
{
    char *o = cx_buf_reserve(b, 1);
    if (o == NULL)
        return NULL;
    *o = '\0';
    return b->data;
}

void cx_buf_free(cx_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}
