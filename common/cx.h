/*
 * cx.h - what every cxpulse module shares: status codes, the error-buffer
 * convention and the logger.
 *
 * Convention: a function that can fail returns a cx_status and, on failure,
 * writes one readable line (lower-case, no final period, naming the place and
 * the reason) into a caller-supplied buffer `err` of `errlen` bytes.
 */
#ifndef CX_COMMON_H
#define CX_COMMON_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

/* One list gives the enum, the names and the messages (libuv's UV_ERRNO_MAP). */
#define CX_STATUS_MAP(XX)                                                          \
    XX(OK, "success")                                                              \
    XX(ERR_INVALID, "invalid input")                                               \
    XX(ERR_NOMEM, "out of memory")                                                 \
    XX(ERR_IO, "input/output error")                                               \
    XX(ERR_CONFIG, "bad configuration")                                            \
    XX(ERR_USAGE, "bad usage")                                                     \
    XX(ERR_TRANSIENT, "temporary failure, retry later")                            \
    XX(ERR_FATAL, "permanent failure")                                             \
    XX(ERR_CONFLICT, "conflicting update")                                         \
    XX(ERR_NOTFOUND, "not found")

typedef enum cx_status {
#define CX__STATUS_ENUM(name, msg) CX_##name,
    CX_STATUS_MAP(CX__STATUS_ENUM)
#undef CX__STATUS_ENUM
} cx_status;

/* Writes the shortest decimal text of v that reads back as v; a whole number
 * below 10^15 as its digits (100 is "100", not "1e+02"). */
void cx_double_text(double v, char *buf, size_t len);

/* A growable byte buffer. Zero-initialised it is empty; appending never fails
 * outright: when memory runs out `failed` is set and later appends are
 * dropped, so a caller checks once, at the end. cx_buf_free() releases it. */
typedef struct cx_buf {
    char *data;
    size_t len, cap;
    int failed; /* an allocation failed: contents are incomplete */
} cx_buf;

/* cx_buf_reserve() when the room is not there yet. */
char *cx_buf_grow(cx_buf *b, size_t n);

/* Makes room for n more bytes and returns where they go (b->data + b->len), or
 * NULL when memory ran out (b->failed is set). The caller adds what it wrote to
 * b->len. */
static inline char *cx_buf_reserve(cx_buf *b, size_t n)
{
    if (!b->failed && b->data != NULL && b->cap - b->len >= n)
        return b->data + b->len;
    return cx_buf_grow(b, n);
}

/* Appends p[n] as it is. */
static inline void cx_buf_put(cx_buf *b, const void *p, size_t n)
{
    char *o = n > 0 ? cx_buf_reserve(b, n) : NULL; /* (nothing to copy: no data pointer needed) */
    if (o != NULL) {
        memcpy(o, p, n);
        b->len += n;
    }
}

/* Appends printf's output, however long. */
void cx_buf_printf(cx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The contents as a NUL-terminated string (the NUL not counted in len), or
 * NULL when memory ran out at any point. */
char *cx_buf_str(cx_buf *b);

void cx_buf_free(cx_buf *b);

/* The project's 64-bit FNV-1a: CX_HASH_SEED is where a hash starts (not
 * FNV's standard offset basis, and kept: rule versions, model checksums and
 * the model's feature buckets are made with it), and cx_hash_bytes() folds
 * p[0..n) into h one byte at a time. */
#define CX_HASH_SEED 1469598103934665603ULL
#define CX_HASH_PRIME 1099511628211ULL

static inline uint64_t cx_hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * CX_HASH_PRIME;
    return h;
}

/* Length of the well-formed UTF-8 sequence that starts at p (a byte >= 0x80)
 * and ends by end; 0 if there is none there (overlong forms, surrogates and
 * code points over U+10FFFF are not well-formed). */
size_t cx_utf8_sequence(const unsigned char *p, const unsigned char *end);

/* The code point at p (before end) and its length in *n: a byte that starts
 * no well-formed sequence is itself (U+0000-U+00FF), one byte long. */
uint32_t cx_utf8_next(const unsigned char *p, const unsigned char *end, size_t *n);

/* Writes code point c (U+0001-U+10FFFF, no surrogate) as UTF-8 at o, which
 * has room for 4 bytes; returns its length, 1 to 4. */
size_t cx_utf8_put(char *o, uint32_t c);

/* The length of the character at u (NUL-terminated text) when it is one a
 * terminal acts on instead of showing: a C1 control (U+0080-U+009F, CSI
 * among them) or a mark that turns text around (U+200E-U+200F,
 * U+202A-U+202E, U+2066-U+2069, U+061C); else 0. */
size_t cx_terminal_control(const unsigned char *u);

/* The length, at most n, at which well-formed UTF-8 text s (at least n bytes
 * long, or n + 1 with its terminating NUL) can be cut without splitting a
 * character: n, or less when s[n] continues a character. */
static inline size_t cx_utf8_cut(const char *s, size_t n)
{
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* s (valid UTF-8) as a terminal may show it, in buf (len bytes, cut whole
 * UTF-8 characters): control characters (line breaks, escape sequences that a
 * customer's event_id or a receiver's answer could carry; C1 controls and
 * bidirectional overrides too) become spaces. buf may be s. Returns buf. */
const char *cx_printable(const char *s, char *buf, size_t len);

/* 1 when s[0..len) is well-formed UTF-8 (cx_utf8_sequence), else 0. */
int cx_utf8_valid(const char *s, size_t len);

/* Makes s[0..len) valid UTF-8 in place (text cut inside a character, or in
 * another encoding): each byte outside a well-formed sequence becomes '?'. */
void cx_utf8_mend(char *s, size_t len);

/* Returns the static symbolic name of `st`, e.g. "ERR_INVALID" (never NULL). */
const char *cx_status_name(cx_status st);

/* Escapes the control bytes of the NUL-terminated s (in a buffer of len
 * bytes) in place, as cx_errf() does: \n, \r, \t, \x1b; what no longer
 * fits is cut, never half an escape. Returns s. */
char *cx_escape_controls(char *s, size_t len);

/*
 * Formats a message into err[errlen] (truncating safely; err may be NULL or
 * errlen 0) and returns `st`, so callers can write `return cx_errf(...)`.
 * The message is one line however the input it quotes is made: control bytes
 * are escaped (\n, \r, \t, \x1b).
 */
cx_status cx_errf(char *err, size_t errlen, cx_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- Logging (logfmt on stderr) ---------------------------------------- */

typedef enum cx_log_level {
    CX_LOG_DEBUG = 0,
    CX_LOG_INFO,
    CX_LOG_WARN,
    CX_LOG_ERROR,
    CX_LOG_OFF
} cx_log_level;

/* The current threshold; messages below it cost one comparison. */
extern cx_log_level cx_log_threshold;

/* Sets the threshold from "debug", "info", "warn", "error" or "off"; returns
 * CX_ERR_USAGE (and leaves the threshold) for anything else. */
cx_status cx_log_set_level(const char *name);

/* Writes one logfmt line: ts=... level=... component=... msg="...". When
 * stderr is the systemd journal (JOURNAL_STREAM names it), the line starts
 * with the level's syslog priority (<3> for error ... <7> for debug), which
 * journald takes off and keeps as the entry's priority. */
void cx_log_write(cx_log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define cx_log(lvl, component, ...)                                                \
    do {                                                                           \
        if ((lvl) >= cx_log_threshold)                                             \
            cx_log_write((lvl), (component), __VA_ARGS__);                         \
    } while (0)

/* ---- Small helpers ------------------------------------------------------ */

/* Monotonic clock in microseconds. */
int64_t cx_now_mono_us(void);

/* Writes Unix time `secs` as RFC 3339 in UTC, 2026-10-30T02:37:12Z, into buf
 * (len >= 21 holds any year up to 9999), or "?" when it has no such form;
 * returns buf. */
const char *cx_utc_text(int64_t secs, char *buf, size_t len);

/* Wall clock in microseconds since the Unix epoch. */
int64_t cx_now_wall_us(void);

/* The time ms milliseconds from now on `clock` (CLOCK_MONOTONIC for a
 * condition variable made by cx_cond_init_monotonic): a deadline for
 * pthread_cond_timedwait. */
struct timespec cx_time_after_ms(clockid_t clock, int ms);

/* Initialises a condition variable whose timed waits run on CLOCK_MONOTONIC,
 * so that setting the wall clock back does not stretch them. */
void cx_cond_init_monotonic(pthread_cond_t *cond);

/* Names the calling thread (at most 15 bytes are kept) as ps -T, top -H, perf
 * and debuggers show it: "cx:writer-0", beside librdkafka's "rdk:main". */
void cx_thread_name(const char *name);

/* Ends the process at once, exit status 1, saying "cxpulse: out of memory
 * <what>": for an allocation whose failure a function cannot report without a
 * wrong answer (a good message called bad, a classification without a
 * result). As librdkafka does, the process ends; what it had not committed is
 * read again when it restarts. */
_Noreturn void cx_out_of_memory(const char *what);

/* How many single-character insertions, deletions and substitutions turn a
 * into b, or 3 when that is 3 or more (or either is 128 bytes or longer):
 * enough to tell a typo ("--brokr") from another word. */
unsigned cx_typo_distance(const char *a, const char *b);

/* What a mistyped word probably meant: offer each candidate in turn, and
 * best is the nearest within two edits (the first of equals), NULL if none;
 * distance 0 means the word is one of them. */
typedef struct cx_typo {
    const char *word, *best;
    unsigned distance;
} cx_typo;
#define CX_TYPO_INIT(w) ((cx_typo){(w), NULL, 3})
void cx_typo_offer(cx_typo *t, const char *candidate);

/* " (did you mean BEST?)", with BEST in double quotes if quoted, into buf;
 * "" when nothing was near. */
const char *cx_typo_hint(const cx_typo *t, int quoted, char *buf, size_t len);

/* fopen(path, "rb"), except that a directory, which fopen opens and only a
 * later read refuses, is refused here: NULL with errno EISDIR. On failure
 * errno says why, for strerror. */
FILE *cx_open_read(const char *path);

#define CX_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A macro's value as a string literal: CX_XSTR(CX_LIMIT) is "600". */
#define CX_STR(x) #x
#define CX_XSTR(x) CX_STR(x)

#endif /* CX_COMMON_H */
