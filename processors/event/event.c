/*
 * event.c - parses and validates one event.v1 message value into a cx_event.
 *
 * The checks follow event.v1.schema.json, plus what PostgreSQL would reject
 * later (NUL characters, invalid UTF-8, instants outside 0001..9999 in UTC), so a
 * parsed event can always be stored. Hostile input is bounded before jansson
 * sees it: a size cap, and a pre-scan for nesting depth and for numbers whose
 * decimal form would blow up when PostgreSQL prints them. The usual message is
 * read straight into the event ("Event reader"); any other is read as a whole
 * document and checked member by member, which names what is wrong. What is
 * read lives in an arena of the parsing thread (see "Memory").
 */
#include "event.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest excerpt of a bad value quoted in an error message. */
#define QUOTE_MAX 40

static const struct {
    const char *name;
    cx_rating_scale scale;
    double min, max;
} scales[] = {
    {"csat", CX_RATING_CSAT, 1, 5},
    {"nps", CX_RATING_NPS, 0, 10},
    {"ces", CX_RATING_CES, 1, 7},
    {"stars", CX_RATING_STARS, 1, 5},
};

const char *cx_rating_scale_name(cx_rating_scale scale)
{
    for (size_t i = 0; i < CX_ARRAY_LEN(scales); i++)
        if (scales[i].scale == scale)
            return scales[i].name;
    return NULL;
}

void cx_rating_scale_range(cx_rating_scale scale, double *min, double *max)
{
    *min = *max = 0;
    for (size_t i = 0; i < CX_ARRAY_LEN(scales); i++)
        if (scales[i].scale == scale) {
            *min = scales[i].min;
            *max = scales[i].max;
        }
}

/* ---- Time ----------------------------------------------------------------- */

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Parses "YYYY-MM-DD" at s into days since the epoch; returns -1 if it is not a real date. */
static int parse_full_date(const char *s, int64_t *days)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &m) || s[7] != '-' ||
        digits(s + 8, 2, &d))
        return -1;
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return -1;
    if (d > mdays[m - 1] + (m == 2 && is_leap(y)))
        return -1;
    *days = days_from_civil(y, m, d);
    return 0;
}

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z: the instants the sink
 * can write with four-digit years, which is what PostgreSQL reads back. */
#define MIN_US (-62135596800000000LL)
#define MAX_US (253402300799999999LL)

/* Parses an RFC 3339 date-time without the UTC range check. */
static cx_status parse_rfc3339(const char *s, int64_t *out_us)
{
    int64_t days;
    int hh, mi, ss;
    if (s == NULL || strlen(s) < 20 || parse_full_date(s, &days) != 0)
        return CX_ERR_INVALID;
    if ((s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &hh) ||
        s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &ss))
        return CX_ERR_INVALID;
    if (hh > 23 || mi > 59 || ss > 60)
        return CX_ERR_INVALID;
    const char *p = s + 19;
    int64_t frac_us = 0;
    if (*p == '.') {
        /* to the microsecond as PostgreSQL reads it (rint() of the fraction,
         * read as a double, times 10^6), so that the column and a cast of the
         * payload's text agree: .9999996 is the next second. cxpulse never
         * sets a locale, so strtod() reads '.' as the decimal point. */
        const char *d = p + 1;
        while (*d >= '0' && *d <= '9')
            d++;
        /* an exponent after the digits, which strtod() would read, is not
         * a time zone: the time is invalid either way */
        if (d == p + 1 || *d == 'e' || *d == 'E')
            return CX_ERR_INVALID;
        frac_us = (int64_t)rint(strtod(p, NULL) * 1000000.0);
        p = d;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return CX_ERR_INVALID;
        offset_s = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return CX_ERR_INVALID;
    }
    if (*p != '\0')
        return CX_ERR_INVALID;
    /* A leap second (RFC 3339 allows :60 in the last minute of a UTC day)
     * is taken as the next second, as PostgreSQL takes it. */
    if (ss == 60 && ((hh * 60 + mi - offset_s / 60) % 1440 + 1440) % 1440 != 1439)
        return CX_ERR_INVALID;
    int64_t secs = days * 86400 + hh * 3600 + mi * 60 + ss - offset_s;
    *out_us = secs * 1000000 + frac_us;
    return CX_OK;
}

cx_status cx_time_parse_rfc3339(const char *s, int64_t *out_us)
{
    int64_t us;
    if (parse_rfc3339(s, &us) != CX_OK || us < MIN_US || us > MAX_US)
        return CX_ERR_INVALID;
    *out_us = us;
    return CX_OK;
}

cx_status cx_time_parse_date(const char *s, int64_t *out_us)
{
    int64_t days;
    if (s != NULL && strlen(s) == 10 && parse_full_date(s, &days) == 0) {
        *out_us = days * 86400 * 1000000;
        return CX_OK;
    }
    return cx_time_parse_rfc3339(s, out_us);
}

cx_status cx_time_days_between(const char *from, const char *to, double *days, int *bad)
{
    int64_t f, t;
    *bad = from == NULL || cx_time_parse_date(from, &f) != CX_OK ? 1
           : to == NULL || cx_time_parse_date(to, &t) != CX_OK   ? 2
                                                                 : 0;
    if (*bad)
        return CX_ERR_INVALID;
    int64_t df, dt;
    if ((strlen(from) == 10 || strlen(to) == 10) && parse_full_date(from, &df) == 0 &&
        parse_full_date(to, &dt) == 0)
        *days = (double)(dt - df);
    else
        *days = (double)(t - f) / (86400.0 * 1e6);
    return CX_OK;
}

/* ---- Memory ------------------------------------------------------------------ */

/*
 * jansson allocates a parsed document in about fifty pieces. Here they come
 * from an arena of the parsing thread instead of malloc, and are given back all
 * at once. json_set_alloc_funcs() is process-wide, so the functions installed
 * route to the calling thread's arena only while cx_event_parse() runs
 * json_loadb() on it, and to malloc/free otherwise (every other JSON value in
 * the process). Inside that call a free is a no-op: json_loadb() frees only
 * what it allocated itself, and the arena takes it back with the event.
 *
 * The arena is a list of chunks of CHUNK_BYTES, filled one after the other (an
 * allocation over BIG_BYTES gets a chunk of its own). An event counts itself
 * in every chunk its document is in: the chunks it filled in a row (first, n,
 * linked by `seq`) and its own big ones (`big`, linked by `seq` too).
 * cx_event_clear() drops those counts, on any thread; the owning thread hands
 * out a chunk nobody counts again (a batch's chunks, once the batch is
 * released). The arena itself is freed by whoever lets go of it last: its
 * thread when it ends, or the last event parsed in it.
 */
#define CHUNK_BYTES (64 * 1024)
#define KEEP_FREE_CHUNKS 64 /* an arena's free chunks past these are freed (4 MiB) */
#define KEEP_SCRATCH_CHUNKS 4
#define BIG_BYTES (16 * 1024)
/* cx_event_drop_attributes() gives back the memory of events that took this much */
#define DROP_BYTES (8 * 1024)
#define ALIGN_BYTES 16

#if defined(__SANITIZE_ADDRESS__)
#define CX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CX_ASAN 1
#endif
#endif
#ifdef CX_ASAN /* memory handed back is poisoned until it is handed out again */
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

typedef struct cx__event_chunk {
    struct cx__event_chunk *next; /* the arena's list of chunks */
    struct cx__event_chunk *free_next; /* the arena's free list */
    struct cx__event_chunk *seq;  /* the next chunk of the event that filled this one */
    atomic_long live;             /* events with memory in this chunk */
    size_t cap, used;
    int is_free;
    _Alignas(ALIGN_BYTES) unsigned char data[];
} chunk;

typedef struct cx__event_arena {
    chunk *chunks;           /* all of them */
    chunk *free;             /* nobody counts them, ready to be filled */
    int n_free;
    chunk *cur;              /* being filled, or NULL */
    atomic_long refs;        /* 1 while the thread lives, + the events parsed in it */
    atomic_ulong released;   /* chunks whose count dropped to 0 */
    unsigned long collected; /* `released` when the chunks were last looked over */
} arena;

/* The parse running on this thread: its arena, and the chunks it counts itself in. */
static _Thread_local struct {
    arena *a;
    chunk *first, *last, *big;
    size_t n;
    size_t bytes; /* the event's own allocations (not the scratch's) */
    int scratch; /* > 0: allocations go to the scratch, not to the event */
    int over;    /* the scratch refused one: past CX_EVENT_MAX_PARSE_BYTES */
} tls;

/*
 * The scratch: what a parse reads only to check it, not to keep (a member the
 * event drops, the lists and objects inside attributes, a message read whole
 * on the full path): chunks of the thread, filled one after the other and
 * emptied when the parse ends, at most CX_EVENT_MAX_PARSE_BYTES per parse. A
 * document takes up to about 80 times its JSON in jansson's values (a list of
 * empty objects), so an event keeps only what is read from it; the few
 * chunks the thread keeps between parses bound what stays resident.
 */
static _Thread_local struct {
    chunk *chunks; /* filled in order up to cur; big ones have a chunk each */
    chunk *cur;
    size_t used; /* by this parse */
} scratch;

/* The names of the objects skip_container() is in (see there). */
typedef struct name_span {
    const char *s;
    size_t n;
} name_span;

static _Thread_local struct {
    name_span *v;
    size_t n, cap;
} names;
static _Thread_local arena *tls_arena; /* this thread's arena, once it parsed */
static pthread_key_t arena_key;         /* ends the thread's share of its arena */
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static void arena_release(arena *a)
{
    if (atomic_fetch_sub(&a->refs, 1) != 1)
        return;
    for (chunk *c = a->chunks, *next; c != NULL; c = next) {
        next = c->next;
        UNPOISON(c->data, c->cap);
        free(c);
    }
    free(a);
}

static void chunk_release(arena *a, chunk *c)
{
    if (atomic_fetch_sub(&c->live, 1) == 1)
        atomic_fetch_add(&a->released, 1);
}

static void scratch_reset(void);

static void thread_end(void *p)
{
    arena_release(p);
    scratch_reset();
    for (chunk *c = scratch.chunks, *next; c != NULL; c = next) {
        next = c->next;
        UNPOISON(c->data, c->cap);
        free(c);
    }
    scratch.chunks = NULL;
    free(names.v);
    names.v = NULL;
    names.cap = 0;
}

/* Puts the chunks nobody counts on the free list, up to KEEP_FREE_CHUNKS
 * there; frees the others (after a burst of big batches, memory goes back). */
static void collect(arena *a)
{
    a->collected = atomic_load(&a->released);
    for (chunk **pc = &a->chunks, *c; (c = *pc) != NULL;) {
        if (c == a->cur || c->is_free || atomic_load(&c->live) != 0) {
            pc = &c->next;
        } else if (c->cap > CHUNK_BYTES || a->n_free >= KEEP_FREE_CHUNKS) {
            *pc = c->next;
            free(c);
        } else {
            POISON(c->data, c->cap);
            c->is_free = 1;
            c->free_next = a->free;
            a->free = c;
            a->n_free++;
            pc = &c->next;
        }
    }
}

/* Out of memory, a message is never called bad (it would become a dead
 * letter): the process ends (cx_out_of_memory()). */
#define out_of_memory() cx_out_of_memory("reading a message")

/* A chunk with room for `size` bytes, emptied. */
static chunk *chunk_get(arena *a, size_t size)
{
    /* A big chunk is freed only by collect(): one is due whenever a chunk
     * was let go of since the last, before a big chunk is allocated too,
     * or a run of big messages would keep every one of them. */
    if ((a->free == NULL || size > CHUNK_BYTES) && atomic_load(&a->released) != a->collected)
        collect(a);
    if (size <= CHUNK_BYTES) {
        if (a->free != NULL) {
            chunk *c = a->free;
            a->free = c->free_next;
            a->n_free--;
            c->is_free = 0;
            c->used = 0;
            UNPOISON(c->data, c->cap);
            return c;
        }
    }
    size_t cap = size > CHUNK_BYTES ? size : CHUNK_BYTES;
    chunk *c = malloc(sizeof *c + cap);
    if (c == NULL)
        out_of_memory();
    *c = (chunk){.next = a->chunks, .cap = cap};
    atomic_init(&c->live, 0);
    a->chunks = c;
    return c;
}

static void *scratch_alloc(size_t size)
{
    if (size > CX_EVENT_MAX_PARSE_BYTES - scratch.used) {
        tls.over = 1;
        return NULL;
    }
    chunk *c = scratch.cur;
    if (c == NULL || c->cap - c->used < size) {
        /* the next chunk kept from earlier parses, if it is big enough */
        c = scratch.cur != NULL ? scratch.cur->next : scratch.chunks;
        if (c == NULL || c->cap < size) {
            size_t cap = size > CHUNK_BYTES ? size : CHUNK_BYTES;
            chunk *n = malloc(sizeof *n + cap);
            if (n == NULL)
                out_of_memory();
            *n = (chunk){.next = c, .cap = cap};
            if (scratch.cur != NULL)
                scratch.cur->next = n;
            else
                scratch.chunks = n;
            c = n;
        }
        c->used = 0;
        scratch.cur = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    scratch.used += size;
    UNPOISON(p, size);
    return p;
}

/* Empties the scratch, keeping its first KEEP_SCRATCH_CHUNKS chunks of
 * CHUNK_BYTES for the next parse and freeing the others. */
static void scratch_reset(void)
{
    chunk **pc = &scratch.chunks;
    int kept = 0;
    for (chunk *c; (c = *pc) != NULL;) {
        if (kept < KEEP_SCRATCH_CHUNKS && c->cap == CHUNK_BYTES) {
            kept++;
            POISON(c->data, c->cap); /* until handed out again */
            pc = &c->next;
        } else {
            *pc = c->next;
            UNPOISON(c->data, c->cap);
            free(c);
        }
    }
    scratch.cur = NULL;
    scratch.used = 0;
    if (names.cap > 4096) { /* what an object of very many members grew */
        free(names.v);
        names.v = NULL;
        names.cap = 0;
    }
}

static void *json_alloc(size_t size)
{
    arena *a = tls.a;
    if (a == NULL)
        return malloc(size);
    if (size > 8 * (size_t)CX_EVENT_MAX_BYTES) /* more than any message's document needs */
        return NULL;
    size = (size + ALIGN_BYTES - 1) & ~(size_t)(ALIGN_BYTES - 1);
    if (tls.scratch > 0)
        return scratch_alloc(size);
    tls.bytes += size;
    if (size > BIG_BYTES) { /* its own chunk, counted by this event alone */
        chunk *c = chunk_get(a, size);
        c->used = size;
        atomic_store(&c->live, 1);
        c->seq = tls.big;
        tls.big = c;
        return c->data;
    }
    chunk *c = a->cur;
    if (c == NULL || c->cap - c->used < size) {
        a->cur = c = chunk_get(a, CHUNK_BYTES);
    }
    if (c != tls.last) { /* the first allocation of this event in c */
        atomic_fetch_add(&c->live, 1);
        if (tls.last != NULL)
            tls.last->seq = c;
        else
            tls.first = c;
        tls.last = c;
        tls.n++;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

static void json_free(void *p)
{
    if (tls.a == NULL)
        free(p);
}

static void arena_init(void)
{
    if (pthread_key_create(&arena_key, thread_end) == 0)
        json_set_alloc_funcs(json_alloc, json_free);
}

void cx_event_global_init(void)
{
    pthread_once(&arena_once, arena_init);
}

/* Starts a parse in this thread's arena; 0 if there is none (then malloc). */
static int arena_begin(void)
{
    cx_event_global_init();
    if (tls_arena == NULL) {
        arena *a = calloc(1, sizeof *a);
        if (a == NULL)
            out_of_memory();
        atomic_init(&a->refs, 1);
        if (pthread_setspecific(arena_key, a) != 0) {
            free(a);
            return 0;
        }
        tls_arena = a;
    }
    tls.a = tls_arena;
    tls.first = tls.last = tls.big = NULL;
    tls.n = 0;
    tls.bytes = 0;
    tls.scratch = 0;
    names.n = 0; /* a reader that gave up may have left names there */
    return 1;
}

/* Ends the parse: ev counts itself in what the parse used (none if it failed). */
static void arena_end(cx_event *ev)
{
    arena *a = tls.a;
    tls.a = NULL;
    ev->mem_.arena = a;
    ev->mem_.first = tls.first;
    ev->mem_.n = tls.n;
    ev->mem_.big = tls.big;
    ev->mem_.bytes = tls.bytes;
    atomic_fetch_add(&a->refs, 1);
}

/* Drops ev's counts on its arena's chunks (see arena_end). */
static void arena_drop(cx_event *ev)
{
    arena *a = ev->mem_.arena;
    chunk *c = ev->mem_.first;
    for (size_t i = 0; i < ev->mem_.n; i++) {
        /* read while c is counted (once not, it may be filled again); the last
         * chunk's link is not ev's (its thread may be setting it) */
        chunk *next = i + 1 < ev->mem_.n ? c->seq : NULL;
        chunk_release(a, c);
        c = next;
    }
    for (chunk *b = ev->mem_.big, *next; b != NULL; b = next) {
        next = b->seq;
        chunk_release(a, b);
    }
    arena_release(a);
}

/* ---- Validation helpers ------------------------------------------------ */

/* Writes at most QUOTE_MAX bytes of s, cut on a UTF-8 boundary, into buf. */
static const char *excerpt(const char *s, char *buf, size_t buflen)
{
    if (strlen(s) <= QUOTE_MAX) {
        snprintf(buf, buflen, "%s", s);
        return buf;
    }
    snprintf(buf, buflen, "%.*s...", (int)cx_utf8_cut(s, QUOTE_MAX), s);
    return buf;
}

size_t cx_utf8_length(const char *s, size_t bytes)
{
    /* bytes less continuation bytes (10xxxxxx), eight at a time */
    size_t n = bytes, i = 0;
    for (; bytes - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        uint64_t cont = (w & ~(w << 1) & 0x8080808080808080ULL) >> 7; /* 1 per such byte */
        n -= (size_t)((cont * 0x0101010101010101ULL) >> 56);              /* their sum */
    }
    for (; i < bytes; i++)
        n -= ((unsigned char)s[i] & 0xC0) == 0x80;
    return n;
}

/* Code point ranges, in order, for cx_char_columns(). */
typedef struct char_range {
    uint32_t first, last;
} char_range;

static const char_range zero_width[] = {
    {0x0300, 0x036F},   {0x0483, 0x0489},   {0x0591, 0x05BD},   {0x05BF, 0x05BF}, {0x05C1, 0x05C2},
    {0x05C4, 0x05C5},   {0x05C7, 0x05C7},   {0x0610, 0x061A},   {0x064B, 0x065F}, {0x0670, 0x0670},
    {0x06D6, 0x06DC},   {0x06DF, 0x06E4},   {0x06E7, 0x06E8},   {0x06EA, 0x06ED}, {0x0900, 0x0902},
    {0x093A, 0x093A},   {0x093C, 0x093C},   {0x0941, 0x0948},   {0x094D, 0x094D}, {0x0951, 0x0957},
    {0x0962, 0x0963},   {0x0E31, 0x0E31},   {0x0E34, 0x0E3A},   {0x0E47, 0x0E4E}, {0x1160, 0x11FF},
    {0x1AB0, 0x1AFF},   {0x1DC0, 0x1DFF},   {0x200B, 0x200F},   {0x2060, 0x2064}, {0x20D0, 0x20FF},
    {0x302A, 0x302D},   {0x3099, 0x309A},   {0xFE00, 0xFE0F},   {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF},
    {0x1F3FB, 0x1F3FF}, {0xE0001, 0xE007F}, {0xE0100, 0xE01EF},
};

static const char_range wide[] = {
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
    {0x23F0, 0x23F0},   {0x23F3, 0x23F3},   {0x25FD, 0x25FE},   {0x2614, 0x2615},
    {0x2648, 0x2653},   {0x267F, 0x267F},   {0x2693, 0x2693},   {0x26A1, 0x26A1},
    {0x26AA, 0x26AB},   {0x26BD, 0x26BE},   {0x26C4, 0x26C5},   {0x26CE, 0x26CE},
    {0x26D4, 0x26D4},   {0x26EA, 0x26EA},   {0x26F2, 0x26F3},   {0x26F5, 0x26F5},
    {0x26FA, 0x26FA},   {0x26FD, 0x26FD},   {0x2705, 0x2705},   {0x270A, 0x270B},
    {0x2728, 0x2728},   {0x274C, 0x274C},   {0x274E, 0x274E},   {0x2753, 0x2755},
    {0x2757, 0x2757},   {0x2795, 0x2797},   {0x27B0, 0x27B0},   {0x27BF, 0x27BF},
    {0x2B1B, 0x2B1C},   {0x2B50, 0x2B50},   {0x2B55, 0x2B55},   {0x2E80, 0x303E},
    {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
    {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},
    {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x16FE0, 0x16FE4},
    {0x17000, 0x18CFF}, {0x1B000, 0x1B2FF}, {0x1F004, 0x1F004}, {0x1F0CF, 0x1F0CF},
    {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F200, 0x1F202}, {0x1F210, 0x1F23B},
    {0x1F240, 0x1F248}, {0x1F250, 0x1F251}, {0x1F260, 0x1F265}, {0x1F300, 0x1F64F},
    {0x1F680, 0x1F6FF}, {0x1F7E0, 0x1F7EB}, {0x1F90C, 0x1F9FF}, {0x1FA70, 0x1FAFF},
    {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

static int in_ranges(uint32_t c, const char_range *r, size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c < r[mid].first)
            hi = mid;
        else if (c > r[mid].last)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

int cx_char_columns(uint32_t c)
{
    if (c < 0x300)
        return 1;
    if (in_ranges(c, zero_width, CX_ARRAY_LEN(zero_width)))
        return 0;
    return in_ranges(c, wide, CX_ARRAY_LEN(wide)) ? 2 : 1;
}

size_t cx_utf8_columns(const char *s, size_t bytes)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + bytes;
    size_t cols = 0, n;
    while (p < end) {
        cols += (size_t)cx_char_columns(cx_utf8_next(p, end, &n));
        p += n;
    }
    return cols;
}

static int regional_indicator(uint32_t c)
{
    return c >= 0x1F1E6 && c <= 0x1F1FF;
}

size_t cx_utf8_fit(const char *s, size_t bytes, size_t columns, size_t *used)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + bytes;
    size_t at = 0, cols = 0;
    while (at < bytes) {
        /* one sequence: a character and what goes with it */
        size_t n, i = at, w = 0;
        uint32_t c = cx_utf8_next(p + i, end, &n), prev;
        int flag_letters = regional_indicator(c);
        w += (size_t)cx_char_columns(c);
        for (i += n; i < bytes; i += n) {
            prev = c;
            c = cx_utf8_next(p + i, end, &n);
            int joins = prev == 0x200D || (c != 0x200B && cx_char_columns(c) == 0) ||
                        (flag_letters == 1 && regional_indicator(c));
            if (!joins)
                break;
            flag_letters += regional_indicator(c);
            w += (size_t)cx_char_columns(c);
        }
        if (cols + w > columns)
            break;
        cols += w;
        at = i;
    }
    if (used != NULL)
        *used = cols;
    return at;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/*
 * Reads optional string field `name` of obj into *out (borrowed), checking its
 * type and its length in characters (max_chars, 0 = no limit beyond the message's).
 */
static cx_status get_string(const json_t *obj, const char *name, size_t min_chars,
                            size_t max_chars, const char **out, size_t *out_len, char *err,
                            size_t errlen)
{
    const json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (v == NULL)
        return CX_OK;
    if (!json_is_string(v))
        return cx_errf(err, errlen, CX_ERR_INVALID, "field \"%s\": must be a string, got %s",
                       name, type_name(v));
    size_t bytes = json_string_length(v);
    size_t chars = cx_utf8_length(json_string_value(v), bytes);
    if (chars < min_chars)
        return cx_errf(err, errlen, CX_ERR_INVALID, "field \"%s\": must not be empty", name);
    if (max_chars > 0 && chars > max_chars)
        return cx_errf(err, errlen, CX_ERR_INVALID,
                       "field \"%s\": %zu characters, longer than the %zu allowed", name, chars,
                       max_chars);
    *out = json_string_value(v);
    if (out_len != NULL)
        *out_len = bytes;
    return CX_OK;
}

/* What the pre-scan found (prescan()). */
enum { SCAN_OK, SCAN_TOO_DEEP, SCAN_NUMBER_TOO_LONG };

/*
 * Bounds hostile input before jansson allocates anything, in one pass outside
 * strings: nesting deeper than CX_EVENT_MAX_DEPTH (the offset of the bracket
 * too deep in *at), and the first number whose plain decimal form (as
 * PostgreSQL prints a jsonb number: no exponent) would have more than
 * CX_EVENT_MAX_NUMBER_DIGITS digits (its offset and length in *at, *n).
 */
static int prescan(const char *p, size_t len, size_t *at, size_t *n)
{
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
            continue;
        }
        if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > CX_EVENT_MAX_DEPTH) {
                *at = i;
                return SCAN_TOO_DEEP;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i, int_digits = 0, frac_digits = 0;
            if (p[i] == '-')
                i++;
            for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
                int_digits++;
            if (i < len && p[i] == '.')
                for (i++; i < len && p[i] >= '0' && p[i] <= '9'; i++)
                    frac_digits++;
            int64_t exp = 0;
            if (i < len && (p[i] == 'e' || p[i] == 'E')) {
                int neg = 0;
                i++;
                if (i < len && (p[i] == '+' || p[i] == '-'))
                    neg = p[i++] == '-';
                for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
                    if (exp < 1000000000)
                        exp = exp * 10 + (p[i] - '0');
                if (neg)
                    exp = -exp;
            }
            /* digits before the point (at least one) and after it, once the exponent moved it */
            int64_t before = (int64_t)int_digits + exp, after = (int64_t)frac_digits - exp;
            if ((before > 1 ? before : 1) + (after > 0 ? after : 0) > CX_EVENT_MAX_NUMBER_DIGITS) {
                *at = start;
                *n = i - start;
                return SCAN_NUMBER_TOO_LONG;
            }
            i--; /* the loop steps past the number's last byte */
        }
    }
    return SCAN_OK;
}

/* ---- Fast reader ------------------------------------------------------------- */

/*
 * A strict reader for what events are made of, building the very document
 * json_loadb() builds with the parser's flags (same values, same key order),
 * in one pass and several times faster. It accepts only what json_loadb()
 * accepts with those flags and the pre-scan lets through; on anything else
 * (an error, "\u0000", a duplicate key, nesting over CX_EVENT_MAX_DEPTH, a
 * number the pre-scan refuses or strtod() reads differently) it gives up with
 * NULL, and the pre-scan and json_loadb() judge the message as before: their
 * verdicts and error messages stay the only ones.
 */
typedef struct reader {
    const unsigned char *p, *end;
    int depth;
    int collapse; /* > 0: objects and lists inside a container this deep are
                     read in the scratch and kept as collapsed() says */
} reader;

static json_t *read_value(reader *r);

static void skip_space(reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

static int hex4(const unsigned char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        unsigned d = c >= '0' && c <= '9'   ? c - '0'
                     : c >= 'a' && c <= 'f' ? c - 'a' + 10
                     : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                            : 16;
        if (d == 16)
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

/*
 * Reads the string whose opening quote r->p is past: *s and *len are its
 * value, in the message when it has no escape, else in *owned (a buffer to
 * give to json_free). Returns -1 to give up.
 */
static int read_string(reader *r, const char **s, size_t *len, char **owned)
{
    const unsigned char *start = r->p, *q = r->p;
    int escaped = 0;
    *owned = NULL;
    for (;;) {
        /* plain ASCII, the usual case: eight bytes at a time while none of them
         * is a control byte, a quote, a backslash or over 0x7f (each word test
         * is exact for "any such byte", and for which is the first one: a
         * borrow only flags bytes after a flagged one), then byte by byte */
        while (r->end - q >= 8) {
            uint64_t w;
            memcpy(&w, q, 8);
            const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
            uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
            uint64_t special = (w & highs) | ((w - ones * 0x20) & ~w & highs) |
                               ((quote - ones) & ~quote & highs) |
                               ((backslash - ones) & ~backslash & highs);
            if (special != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                q += __builtin_ctzll(special) / 8; /* the first such byte */
#endif
                break;
            }
            q += 8;
        }
        while (q < r->end && *q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\')
            q++;
        if (q >= r->end)
            return -1;
        unsigned c = *q;
        if (c == '"')
            break;
        if (c < 0x20) /* a control character: an error */
            return -1;
        if (c == '\\') {
            if (r->end - q < 2)
                return -1;
            escaped = 1;
            q += 2; /* the escaped byte; its meaning is read below */
        } else if (c < 0x80) {
            q++;
        } else {
            size_t n = cx_utf8_sequence(q, r->end);
            if (n == 0)
                return -1;
            q += n;
        }
    }
    r->p = q + 1;
    if (!escaped) {
        *s = (const char *)start;
        *len = (size_t)(q - start);
        return 0;
    }
    /* the value is never longer than its escaped form */
    char *out = json_alloc((size_t)(q - start) + 1), *o = out;
    if (out == NULL)
        return -1;
    for (const unsigned char *x = start; x < q;) {
        if (*x != '\\') {
            *o++ = (char)*x++;
            continue;
        }
        x++; /* an escape is never the last byte before the closing quote */
        unsigned v, w;
        switch (*x++) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u':
            if (q - x < 4 || hex4(x, &v) != 0 || v == 0 || (v >= 0xDC00 && v <= 0xDFFF))
                goto fail;
            x += 4;
            if (v >= 0xD800 && v <= 0xDBFF) { /* a surrogate pair, or an error */
                if (q - x < 6 || x[0] != '\\' || x[1] != 'u' || hex4(x + 2, &w) != 0 ||
                    w < 0xDC00 || w > 0xDFFF)
                    goto fail;
                x += 6;
                v = 0x10000 + ((v - 0xD800) << 10) + (w - 0xDC00);
            }
            o += cx_utf8_put(o, v);
            break;
        default:
            goto fail;
        }
    }
    *s = out;
    *len = (size_t)(o - out);
    *owned = out;
    return 0;
fail:
    json_free(out);
    return -1;
}

static int is_digit(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* A number, as json_loadb() reads it with JSON_DECODE_INT_AS_REAL: a real, in
 * *out. Returns -1 to give up. */
static int read_double(reader *r, double *out)
{
    const unsigned char *q = r->p, *end = r->end;
    int negative = q < end && *q == '-';
    q += negative;
    if (!is_digit(q, end))
        return -1;
    const unsigned char *first = q;
    if (*q++ == '0') {
        if (is_digit(q, end))
            return -1;
    } else {
        while (is_digit(q, end))
            q++;
    }
    if (q - first <= 15 && (q == end || (*q != '.' && *q != 'e' && *q != 'E'))) {
        /* an integer under 10^15: exact in a double, as strtod() reads it */
        int64_t v = 0;
        for (const unsigned char *d = first; d < q; d++)
            v = v * 10 + (*d - '0');
        r->p = q;
        *out = negative ? -(double)v : (double)v;
        return 0;
    }
    if (q < end && *q == '.') {
        if (!is_digit(++q, end))
            return -1;
        while (is_digit(q, end))
            q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (!is_digit(q, end))
            return -1;
        while (is_digit(q, end))
            q++;
    }
    char small[64];
    size_t n = (size_t)(q - r->p), at, digits;
    if (prescan((const char *)r->p, n, &at, &digits) != SCAN_OK)
        return -1;
    /* a long literal ("1e0000...1", zeros after a point) is read here too:
     * leaving it to the slow path read the whole message three more times */
    char *buf = n < sizeof small ? small : malloc(n + 1);
    if (buf == NULL)
        return -1;
    memcpy(buf, r->p, n);
    buf[n] = '\0';
    char *stop;
    double v = strtod(buf, &stop);
    int whole = stop == buf + n;
    if (buf != small)
        free(buf);
    if (!whole || !isfinite(v))
        return -1;
    r->p = q;
    *out = v;
    return 0;
}

static json_t *read_number(reader *r)
{
    double v;
    return read_double(r, &v) == 0 ? json_real(v) : NULL;
}

static json_t *read_literal(reader *r, const char *word, json_t *value)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return NULL;
    r->p += n;
    return value;
}

/* After a member or element of the container that `close` ends: past the
 * comma (1), or past `close` and out of the container (0); -1 to give up. */
static int next_item(reader *r, unsigned char close)
{
    skip_space(r);
    if (r->p < r->end && *r->p == ',') {
        r->p++;
        skip_space(r);
        return 1;
    }
    if (r->p < r->end && *r->p == close) {
        r->p++;
        r->depth--;
        return 0;
    }
    return -1;
}

/* What an event keeps of an object or list inside attributes (see
 * cx_event.attributes): one of the same kind, empty, or holding one null when
 * the value was not empty. NULL when out of memory. */
static json_t *collapsed(int is_object, int empty)
{
    json_t *c = is_object ? json_object() : json_array();
    if (c != NULL && !empty &&
        (is_object ? json_object_set_new_nocheck(c, "", json_null())
                   : json_array_append_new(c, json_null())))
        c = NULL; /* (what was made is the arena's) */
    return c;
}

/*
 * Checking without building: a member the event drops and the objects and
 * lists inside attributes are read as read_value() reads them, with the same
 * verdicts, but only escaped strings are decoded (in the scratch). Duplicate
 * names are found by sorting each object's names, kept on one stack of
 * (name, length) for the thread: an object's names sit above its parent's
 * while it is read.
 */
static int name_cmp(const void *a, const void *b)
{
    const name_span *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return memcmp(x->s, y->s, x->n);
}

/* Pushes a name on the stack; -1 when out of memory. */
static int push_name(const char *key, size_t len)
{
    if (names.n == names.cap) {
        size_t cap = names.cap ? 2 * names.cap : 64;
        name_span *v = realloc(names.v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        names.v = v;
        names.cap = cap;
    }
    names.v[names.n++] = (name_span){key, len};
    return 0;
}

/* Takes the names pushed since `first` off the stack: 0 when no two are the
 * same, -1 when some are (json_loadb() refuses a duplicate name). */
static int pop_names(size_t first)
{
    int ok = 0;
    if (names.n - first > 1) {
        qsort(names.v + first, names.n - first, sizeof *names.v, name_cmp);
        for (size_t i = first + 1; ok == 0 && i < names.n; i++)
            if (name_cmp(&names.v[i - 1], &names.v[i]) == 0)
                ok = -1;
    }
    names.n = first;
    return ok;
}

static int skip_any(reader *r, int *empty);

/* The object or array whose opening bracket r->p is past, checked; 0, or -1
 * to give up. *empty: it has no members or elements. */
static int skip_container(reader *r, int is_object, int *empty)
{
    if (++r->depth > CX_EVENT_MAX_DEPTH)
        return -1;
    const unsigned char close = is_object ? '}' : ']';
    skip_space(r);
    *empty = r->p < r->end && *r->p == close;
    if (*empty) {
        r->p++;
        r->depth--;
        return 0;
    }
    size_t first = names.n;
    int ok = -1, inner;
    for (;;) {
        if (is_object) {
            const char *key;
            size_t key_len;
            char *owned;
            if (r->p >= r->end || *r->p != '"')
                break;
            r->p++;
            if (read_string(r, &key, &key_len, &owned) != 0 || push_name(key, key_len) != 0)
                break;
            skip_space(r);
            if (r->p >= r->end || *r->p != ':')
                break;
            r->p++;
            skip_space(r);
        }
        int more;
        if (skip_any(r, &inner) != 0 || (more = next_item(r, close)) < 0)
            break;
        if (more == 0) {
            ok = 0;
            break;
        }
    }
    return pop_names(first) == 0 ? ok : -1;
}

/* skip_value() inside the scratch. */
static int skip_any(reader *r, int *empty)
{
    *empty = 0;
    if (r->p >= r->end)
        return -1;
    switch (*r->p) {
    case '{':
    case '[':
        return skip_container(r, *r->p++ == '{', empty);
    case '"': {
        const char *s;
        size_t n;
        char *owned;
        r->p++;
        return read_string(r, &s, &n, &owned);
    }
    case 't':
        return read_literal(r, "true", json_true()) != NULL ? 0 : -1;
    case 'f':
        return read_literal(r, "false", json_false()) != NULL ? 0 : -1;
    case 'n':
        return read_literal(r, "null", json_null()) != NULL ? 0 : -1;
    default: {
        double v;
        return read_double(r, &v);
    }
    }
}

/* The value at r->p checked as read_value() would read it, building nothing
 * (escaped strings are decoded in the scratch); 0, or -1 to give up. *empty:
 * an object or list without members or elements. */
static int skip_value(reader *r, int *empty)
{
    tls.scratch++;
    int st = skip_any(r, empty);
    tls.scratch--;
    return st;
}

/* The object or array whose opening bracket r->p is past. */
static json_t *read_container(reader *r, int is_object)
{
    if (++r->depth > CX_EVENT_MAX_DEPTH)
        return NULL;
    const unsigned char close = is_object ? '}' : ']';
    json_t *c = is_object ? json_object() : json_array();
    if (c == NULL)
        return NULL;
    skip_space(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        r->depth--;
        return c;
    }
    for (;;) {
        const char *key = NULL;
        size_t key_len = 0;
        char *owned = NULL;
        if (is_object) {
            if (r->p >= r->end || *r->p != '"')
                goto fail;
            r->p++;
            if (read_string(r, &key, &key_len, &owned) != 0)
                goto fail;
            skip_space(r);
            if (json_object_getn(c, key, key_len) != NULL || r->p >= r->end || *r->p != ':') {
                json_free(owned);
                goto fail;
            }
            r->p++;
            skip_space(r);
        }
        json_t *v;
        if (r->depth == r->collapse && r->p < r->end && (*r->p == '{' || *r->p == '[')) {
            int inner_object = *r->p == '{', empty;
            v = skip_value(r, &empty) == 0 ? collapsed(inner_object, empty) : NULL;
        } else {
            v = read_value(r);
        }
        int bad = v == NULL || (is_object ? json_object_setn_new_nocheck(c, key, key_len, v)
                                          : json_array_append_new(c, v));
        json_free(owned);
        int more = bad ? -1 : next_item(r, close);
        if (more < 0)
            goto fail;
        if (more == 0)
            return c;
    }
fail:
    json_decref(c);
    return NULL;
}

static json_t *read_value(reader *r)
{
    if (r->p >= r->end)
        return NULL;
    switch (*r->p) {
    case '{':
    case '[':
        return read_container(r, *r->p++ == '{');
    case '"': {
        const char *s;
        size_t n;
        char *owned;
        r->p++;
        if (read_string(r, &s, &n, &owned) != 0)
            return NULL;
        json_t *v = json_stringn_nocheck(s, n);
        json_free(owned);
        return v;
    }
    case 't':
        return read_literal(r, "true", json_true());
    case 'f':
        return read_literal(r, "false", json_false());
    case 'n':
        return read_literal(r, "null", json_null());
    default:
        return read_number(r);
    }
}

/* The message as a JSON object, or NULL: not read here (see above). */
static json_t *read_document(const void *data, size_t len)
{
    reader r = {.p = data, .end = (const unsigned char *)data + len};
    skip_space(&r);
    if (r.p >= r.end || *r.p != '{')
        return NULL;
    r.p++;
    json_t *root = read_container(&r, 1);
    skip_space(&r);
    if (root != NULL && r.p != r.end) {
        json_decref(root);
        root = NULL;
    }
    return root;
}

/* What the event keeps of an "attributes" object read whole in the scratch
 * (the full path): its members in order, each text, number or literal as
 * read, each object or list collapsed(). NULL when out of memory. */
static json_t *kept_attributes(const json_t *read)
{
    json_t *kept = json_object();
    const char *key;
    size_t key_len;
    json_t *v;
    json_object_keylen_foreach((json_t *)read, key, key_len, v)
    {
        json_t *k = json_is_object(v)  ? collapsed(1, json_object_size(v) == 0)
                    : json_is_array(v) ? collapsed(0, json_array_size(v) == 0)
                                       : json_copy(v); /* a copy out of the scratch */
        if (kept == NULL || k == NULL || json_object_setn_new_nocheck(kept, key, key_len, k))
            return NULL; /* in the arena: nothing to free */
    }
    return kept;
}

/* ---- Event reader ------------------------------------------------------------ */

/*
 * The usual message read straight into the event, without building the
 * document: the members the event keeps are copied out of the message (into
 * the arena, NUL-terminated), "attributes" is read as the fast reader reads
 * it, and every other member is read (so checked) and dropped. It gives up
 * (-1) on anything it is not sure to judge as validate() would, and then the
 * full path reads the message: a member of a type other than expected, a
 * value out of bounds, a duplicate member, anything the fast reader gives up
 * on. What it accepts, validate() accepts, with the same values.
 */

enum { M_SCHEMA_VERSION, M_EVENT_ID, M_OCCURRED_AT, M_CUSTOMER_ID, M_CHANNEL, M_TOUCHPOINT,
       M_LANGUAGE, M_TEXT, M_RATING, M_ATTRIBUTES, M_COUNT };

/* The members read into the event, with the bounds on string ones in
 * characters (max 0: none), for both paths (validate() reads them too). */
static const struct {
    const char *name;
    size_t len, min_chars, max_chars;
} members[M_COUNT] = {
    [M_SCHEMA_VERSION] = {"schema_version", 14, 0, 0},
    [M_EVENT_ID] = {"event_id", 8, 1, 128},
    [M_OCCURRED_AT] = {"occurred_at", 11, 0, 0},
    [M_CUSTOMER_ID] = {"customer_id", 11, 0, 128},
    [M_CHANNEL] = {"channel", 7, 0, CX_EVENT_MAX_SCOPE_CHARS},
    [M_TOUCHPOINT] = {"touchpoint", 10, 0, CX_EVENT_MAX_SCOPE_CHARS},
    [M_LANGUAGE] = {"language", 8, 0, 35},
    [M_TEXT] = {"text", 4, 0, 16384},
    [M_RATING] = {"rating", 6, 0, 0},
    [M_ATTRIBUTES] = {"attributes", 10, 0, 0},
};

static int member_index(const char *key, size_t len)
{
    for (int m = 0; m < M_COUNT; m++)
        if (members[m].len == len && memcmp(members[m].name, key, len) == 0)
            return m;
    return -1;
}

/* A member's name, up to and past its colon; -1 to give up. */
static int read_key(reader *r, const char **key, size_t *len)
{
    char *owned; /* in the arena, as long as the event */
    if (r->p >= r->end || *r->p != '"')
        return -1;
    r->p++;
    if (read_string(r, key, len, &owned) != 0)
        return -1;
    skip_space(r);
    if (r->p >= r->end || *r->p != ':')
        return -1;
    r->p++;
    skip_space(r);
    return 0;
}

/* A string value as a NUL-terminated copy in the arena, within min..max
 * characters (max 0: any); NULL to give up. */
static const char *read_text(reader *r, size_t min_chars, size_t max_chars, size_t *len)
{
    const char *s;
    char *owned;
    if (r->p >= r->end || *r->p != '"')
        return NULL;
    r->p++;
    if (read_string(r, &s, len, &owned) != 0)
        return NULL;
    size_t chars = cx_utf8_length(s, *len);
    if (chars < min_chars || (max_chars > 0 && chars > max_chars))
        return NULL;
    if (owned != NULL) { /* room for the NUL: the value is shorter than its escaped form */
        owned[*len] = '\0';
        return owned;
    }
    char *copy = json_alloc(*len + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, s, *len);
    copy[*len] = '\0';
    return copy;
}

/* "rating": an object of a known scale and a value in its range; its other
 * members are checked and dropped. */
static int read_rating(reader *r, cx_event *ev)
{
    const char *scale = NULL, *key;
    size_t scale_len = 0, len, first_name = names.n;
    double value = 0;
    int have_value = 0, more;
    if (r->p >= r->end || *r->p != '{' || ++r->depth > CX_EVENT_MAX_DEPTH)
        return -1;
    r->p++;
    skip_space(r);
    do {
        char *owned;
        if (read_key(r, &key, &len) != 0)
            return -1;
        if (len == 5 && memcmp(key, "scale", 5) == 0) {
            if (scale != NULL || r->p >= r->end || *r->p != '"')
                return -1;
            r->p++;
            if (read_string(r, &scale, &scale_len, &owned) != 0)
                return -1;
        } else if (len == 5 && memcmp(key, "value", 5) == 0) {
            if (have_value || read_double(r, &value) != 0)
                return -1;
            have_value = 1;
        } else {
            int empty;
            if (skip_value(r, &empty) != 0 || push_name(key, len) != 0)
                return -1;
        }
    } while ((more = next_item(r, '}')) == 1);
    if (more != 0 || scale == NULL || !have_value || pop_names(first_name) != 0)
        return -1;
    for (size_t i = 0; i < CX_ARRAY_LEN(scales); i++)
        if (strlen(scales[i].name) == scale_len && memcmp(scales[i].name, scale, scale_len) == 0) {
            if (value < scales[i].min || value > scales[i].max)
                return -1;
            ev->rating_scale = scales[i].scale;
            ev->rating_value = value;
            return 0;
        }
    return -1;
}

/* The message read into *ev as described above; -1 to give up. */
static int read_event(cx_event *ev, const void *data, size_t len)
{
    reader r = {.p = data, .end = (const unsigned char *)data + len, .depth = 1};
    const char *key, *schema_version = NULL;
    size_t key_len, n, first_name = names.n;
    unsigned seen = 0;
    int more;
    skip_space(&r);
    if (r.p >= r.end || *r.p != '{')
        return -1;
    r.p++;
    skip_space(&r);
    do {
        if (read_key(&r, &key, &key_len) != 0)
            return -1;
        int m = member_index(key, key_len);
        if (m < 0) { /* checked, then dropped; its name kept for duplicates */
            int empty;
            if (skip_value(&r, &empty) != 0 || push_name(key, key_len) != 0)
                return -1;
            continue;
        }
        if (seen & 1u << m)
            return -1;
        seen |= 1u << m;
        if (m == M_RATING) {
            if (read_rating(&r, ev) != 0)
                return -1;
        } else if (m == M_ATTRIBUTES) {
            r.collapse = r.depth + 1; /* its own members are kept */
            if (r.p >= r.end || *r.p != '{' || (ev->attributes = read_value(&r)) == NULL)
                return -1;
            r.collapse = 0;
        } else {
            const char *v = read_text(&r, members[m].min_chars, members[m].max_chars, &n);
            if (v == NULL)
                return -1;
            switch (m) {
            case M_SCHEMA_VERSION: schema_version = v; break;
            case M_EVENT_ID: ev->event_id = v; break;
            case M_OCCURRED_AT: ev->occurred_at = v; break;
            case M_CUSTOMER_ID: ev->customer_id = v; break;
            case M_CHANNEL: ev->channel = v; break;
            case M_TOUCHPOINT: ev->touchpoint = v; break;
            case M_LANGUAGE: ev->language = v; break;
            case M_TEXT:
                ev->text = v;
                ev->text_len = n;
                break;
            default:
                return -1; /* a member given no place here: the full path's */
            }
        }
    } while ((more = next_item(&r, '}')) == 1);
    skip_space(&r);
    if (more != 0 || r.p != r.end || pop_names(first_name) != 0)
        return -1;
    if ((schema_version != NULL && strcmp(schema_version, "1") != 0) || ev->event_id == NULL ||
        ev->occurred_at == NULL || cx_time_parse_rfc3339(ev->occurred_at, &ev->occurred_at_us) != CX_OK ||
        (ev->text == NULL && ev->rating_scale == CX_RATING_NONE))
        return -1;
    return 0;
}

static cx_status parse_rating(cx_event *ev, const json_t *rating, char *err, size_t errlen)
{
    if (!json_is_object(rating))
        return cx_errf(err, errlen, CX_ERR_INVALID, "field \"rating\": must be an object, got %s",
                       type_name(rating));
    const json_t *scale = json_object_get(rating, "scale");
    const json_t *value = json_object_get(rating, "value");
    if (scale == NULL)
        return cx_errf(err, errlen, CX_ERR_INVALID, "missing required field \"rating.scale\"");
    if (value == NULL)
        return cx_errf(err, errlen, CX_ERR_INVALID, "missing required field \"rating.value\"");
    if (!json_is_string(scale))
        return cx_errf(err, errlen, CX_ERR_INVALID,
                       "field \"rating.scale\": must be a string, got %s", type_name(scale));
    size_t i;
    for (i = 0; i < CX_ARRAY_LEN(scales); i++)
        if (strcmp(json_string_value(scale), scales[i].name) == 0)
            break;
    if (i == CX_ARRAY_LEN(scales)) {
        char q[QUOTE_MAX + 8];
        return cx_errf(err, errlen, CX_ERR_INVALID,
                       "field \"rating.scale\": \"%s\" is not one of csat, nps, ces, stars",
                       excerpt(json_string_value(scale), q, sizeof q));
    }
    if (!json_is_number(value))
        return cx_errf(err, errlen, CX_ERR_INVALID,
                       "field \"rating.value\": must be a number, got %s", type_name(value));
    double v = json_number_value(value);
    if (!isfinite(v) || v < scales[i].min || v > scales[i].max) {
        char text[32]; /* all its digits: 5.0000001 is not "5" */
        cx_double_text(v, text, sizeof text);
        return cx_errf(err, errlen, CX_ERR_INVALID,
                       "field \"rating.value\": %s is out of range %g..%g for scale \"%s\"", text,
                       scales[i].min, scales[i].max, scales[i].name);
    }
    ev->rating_scale = scales[i].scale;
    ev->rating_value = v;
    return CX_OK;
}

/* String member m of root by get_string(), within the bounds the event reader
 * holds it to (one table for both paths). */
static cx_status get_text(const json_t *root, int m, const char **out, size_t *out_len,
                          char *err, size_t errlen)
{
    return get_string(root, members[m].name, members[m].min_chars, members[m].max_chars, out,
                      out_len, err, errlen);
}

static cx_status validate(cx_event *ev, const json_t *root, char *err, size_t errlen)
{
    cx_status st;
    const char *schema_version;

    if ((st = get_string(root, "schema_version", 0, 0, &schema_version, NULL, err, errlen)))
        return st;
    if (schema_version != NULL && strcmp(schema_version, "1") != 0) {
        char q[QUOTE_MAX + 8];
        return cx_errf(err, errlen, CX_ERR_INVALID,
                       "field \"schema_version\": \"%s\" is not supported (expected \"1\")",
                       excerpt(schema_version, q, sizeof q));
    }
    if (json_object_get(root, "event_id") == NULL)
        return cx_errf(err, errlen, CX_ERR_INVALID, "missing required field \"event_id\"");
    if ((st = get_text(root, M_EVENT_ID, &ev->event_id, NULL, err, errlen)))
        return st;
    if (json_object_get(root, "occurred_at") == NULL)
        return cx_errf(err, errlen, CX_ERR_INVALID, "missing required field \"occurred_at\"");
    if ((st = get_text(root, M_OCCURRED_AT, &ev->occurred_at, NULL, err, errlen)))
        return st;
    if (parse_rfc3339(ev->occurred_at, &ev->occurred_at_us) != CX_OK) {
        char q[QUOTE_MAX + 8];
        return cx_errf(err, errlen, CX_ERR_INVALID,
                       "field \"occurred_at\": \"%s\" is not a valid RFC 3339 date-time",
                       excerpt(ev->occurred_at, q, sizeof q));
    }
    if (ev->occurred_at_us < MIN_US || ev->occurred_at_us > MAX_US) {
        char q[QUOTE_MAX + 8];
        return cx_errf(err, errlen, CX_ERR_INVALID,
                       "field \"occurred_at\": \"%s\" is outside "
                       "0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999Z in UTC, the range "
                       "stored", excerpt(ev->occurred_at, q, sizeof q));
    }
    if ((st = get_text(root, M_CUSTOMER_ID, &ev->customer_id, NULL, err, errlen)) ||
        (st = get_text(root, M_CHANNEL, &ev->channel, NULL, err, errlen)) ||
        (st = get_text(root, M_TOUCHPOINT, &ev->touchpoint, NULL, err, errlen)) ||
        (st = get_text(root, M_LANGUAGE, &ev->language, NULL, err, errlen)) ||
        (st = get_text(root, M_TEXT, &ev->text, &ev->text_len, err, errlen)))
        return st;

    const json_t *rating = json_object_get(root, "rating");
    if (rating != NULL && (st = parse_rating(ev, rating, err, errlen)))
        return st;
    if (ev->text == NULL && rating == NULL)
        return cx_errf(err, errlen, CX_ERR_INVALID,
                       "event has neither \"text\" nor \"rating\" (one is required)");

    const json_t *attributes = json_object_get(root, "attributes");
    if (attributes != NULL && !json_is_object(attributes))
        return cx_errf(err, errlen, CX_ERR_INVALID,
                       "field \"attributes\": must be an object, got %s", type_name(attributes));
    ev->attributes = attributes;
    return CX_OK;
}

/* True for a byte a JSON object's text may start with. */
static int opens_json(unsigned char c)
{
    return c == '{' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* What a message that is not JSON text is, when it is a known wrapping of JSON
 * (a producer's serializer or settings at fault): 1 with its reason in
 * err[errlen], or 0. */
static int framing(const void *data, size_t len, char *err, size_t errlen)
{
    const unsigned char *u = data;
    if (len >= 2 && u[0] == 0x1f && u[1] == 0x8b)
        cx_errf(err, errlen, CX_ERR_INVALID,
                "message is gzip data (bytes 1F 8B), not JSON text: compress with the "
                "producer's compression.type instead, which consumers undo by themselves");
    else if (len >= 2 && ((u[0] == 0xff && u[1] == 0xfe) || (u[0] == 0xfe && u[1] == 0xff)))
        cx_errf(err, errlen, CX_ERR_INVALID,
                "message is UTF-16 text (byte order mark %02X %02X): JSON in Kafka must be UTF-8",
                u[0], u[1]);
    else if (len >= 4 && ((opens_json(u[0]) && u[1] == 0 && u[3] == 0) ||
                          (u[0] == 0 && opens_json(u[1]) && u[2] == 0)))
        cx_errf(err, errlen, CX_ERR_INVALID,
                "message is UTF-16 text (every other byte is 0): JSON in Kafka must be UTF-8");
    else if (len >= 5 && u[0] == 0 && (u[1] | u[2] | u[3] | u[4]) != 0) /* ids start at 1 */
        cx_errf(err, errlen, CX_ERR_INVALID,
                "message starts with a schema registry's wire format (magic byte 0, schema id "
                "%lu)%s: cxpulse reads plain JSON values, so produce them without the "
                "registry's serializer",
                (unsigned long)u[1] << 24 | (unsigned long)u[2] << 16 | (unsigned long)u[3] << 8 |
                    u[4],
                len > 5 && u[5] == '{' ? " before its JSON" : "");
    else
        return 0;
    return 1;
}

/* The pre-scan and json_loadb(): what judges a message the fast reader gave up on. */
static cx_status load_slow(json_t **root, const void *data, size_t len, char *err, size_t errlen)
{
    size_t at = 0, n = 0;
    int scan = prescan(data, len, &at, &n);
    if (scan == SCAN_TOO_DEEP)
        return cx_errf(err, errlen, CX_ERR_INVALID,
                       "JSON nesting deeper than %d levels at byte %zu", CX_EVENT_MAX_DEPTH,
                       at + 1);
    if (scan == SCAN_NUMBER_TOO_LONG) {
        char q[QUOTE_MAX + 8];
        snprintf(q, sizeof q, "%.*s%s", (int)(n > QUOTE_MAX ? QUOTE_MAX : n),
                 (const char *)data + at, n > QUOTE_MAX ? "..." : "");
        return cx_errf(err, errlen, CX_ERR_INVALID,
                       "number %s at byte %zu has more than %d digits in decimal form (the "
                       "form in which it would be stored and read back)",
                       q, at + 1, CX_EVENT_MAX_NUMBER_DIGITS);
    }

    /*
     * JSON_REJECT_DUPLICATES: a duplicate key is ambiguous, reject it.
     * No JSON_ALLOW_NUL: "\u0000" is rejected, as PostgreSQL text and jsonb would.
     * JSON_DECODE_INT_AS_REAL: huge integers in unknown fields are not an error
     * (the stored payload is the raw bytes; PostgreSQL jsonb accepts them).
     * JSON_DECODE_ANY: so a non-object gets a precise message below.
     */
    /* Zeroed: jansson leaves the error's code unset when some allocations
     * fail (its json_error_code() would read whatever the stack held). Out
     * of the scratch's room (tls.over) is a verdict on the message, said by
     * the caller; only malloc failing is out of memory. */
    json_error_t jerr = {0};
    *root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY,
                       &jerr);
    if (*root == NULL && tls.over)
        return CX_ERR_INVALID;
    if (*root == NULL && json_error_code(&jerr) == json_error_out_of_memory)
        out_of_memory();
    if (*root == NULL) {
        const char *p = data, *end = p + len; /* only JSON's whitespace: not cut-off JSON */
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            p++;
        if (p == end)
            return cx_errf(err, errlen, CX_ERR_INVALID,
                           "message is blank (%zu bytes of whitespace)", len);
        if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) /* JSON forbids it (RFC 8259) */
            return cx_errf(err, errlen, CX_ERR_INVALID,
                           "message starts with a UTF-8 byte order mark (bytes EF BB BF), which "
                           "JSON does not allow: the producer must not write one");
        if (framing(data, len, err, errlen))
            return CX_ERR_INVALID;
        /* jansson reads a NUL byte as the end of the text: name the byte instead */
        const char *nul = memchr(data, '\0', len);
        if (nul != NULL)
            return cx_errf(err, errlen, CX_ERR_INVALID,
                           "invalid JSON: a NUL byte at byte %zu (JSON text cannot hold one raw, "
                           "nor PostgreSQL text store it)",
                           (size_t)(nul - (const char *)data) + 1);
        /* jansson may quote the offending bytes: keep the message printable ASCII,
         * since it is logged and stored as text. */
        for (char *c = jerr.text; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                *c = '?';
        /* jansson names its own flag for "\u0000": say what it means instead */
        static const char flag[] = " without JSON_ALLOW_NUL";
        const char *cut = strstr(jerr.text, flag);
        if (cut != NULL)
            return cx_errf(err, errlen, CX_ERR_INVALID,
                           "invalid JSON at line %d, column %d: %.*s in a string (a NUL character, "
                           "which PostgreSQL text cannot store)%s",
                           jerr.line, jerr.column, (int)(cut - jerr.text), jerr.text,
                           cut + sizeof flag - 1);
        return cx_errf(err, errlen, CX_ERR_INVALID, "invalid JSON at line %d, column %d: %s",
                       jerr.line, jerr.column, jerr.text);
    }
    if (!json_is_object(*root))
        return cx_errf(err, errlen, CX_ERR_INVALID, "message must be a JSON object, got %s",
                       type_name(*root));
    return CX_OK;
}

/* Copies what ev holds of a document read in the scratch into the event's
 * memory, before the scratch is emptied. */
static void keep(cx_event *ev)
{
    const char **texts[] = {&ev->event_id,   &ev->occurred_at, &ev->customer_id, &ev->channel,
                            &ev->touchpoint, &ev->language,    &ev->text};
    for (size_t i = 0; i < CX_ARRAY_LEN(texts); i++) {
        if (*texts[i] == NULL)
            continue;
        size_t n = texts[i] == &ev->text ? ev->text_len : strlen(*texts[i]);
        char *copy = json_alloc(n + 1);
        if (copy == NULL)
            out_of_memory();
        memcpy(copy, *texts[i], n + 1);
        *texts[i] = copy;
    }
    if (ev->attributes != NULL && (ev->attributes = kept_attributes(ev->attributes)) == NULL)
        out_of_memory();
}

cx_status cx_event_parse(cx_event *ev, const void *data, size_t len, char *err, size_t errlen)
{
    memset(ev, 0, sizeof *ev);
    if (data == NULL)
        return cx_errf(err, errlen, CX_ERR_INVALID,
                       "message is empty: it has no value (a tombstone, a compacted topic's "
                       "deletion marker)");
    if (len == 0)
        return cx_errf(err, errlen, CX_ERR_INVALID, "message is empty");
    if (len > CX_EVENT_MAX_BYTES)
        return cx_errf(err, errlen, CX_ERR_INVALID,
                       "message is %zu bytes, larger than the %d-byte limit", len,
                       CX_EVENT_MAX_BYTES);
    int in_arena = arena_begin();
    if (in_arena && read_event(ev, data, len) == 0) {
        scratch_reset();
        arena_end(ev);
        return CX_OK;
    }
    /* the full path: the whole document (in the scratch), then the checks that
     * name what is wrong; the event keeps copies of what it holds */
    memset(ev, 0, sizeof *ev);
    scratch_reset(); /* what the event reader checked: nothing points there */
    tls.over = 0;
    tls.scratch += in_arena;
    json_t *root = read_document(data, len);
    cx_status st = root != NULL ? CX_OK : load_slow(&root, data, len, err, errlen);
    if (st == CX_OK)
        st = validate(ev, root, err, errlen);
    tls.scratch -= in_arena;
    if (tls.over)
        st = cx_errf(err, errlen, CX_ERR_INVALID,
                     "holding the message's JSON values to check them would take more than "
                     "%d MiB (%zu bytes of JSON, mostly lists or objects): cxpulse reads "
                     "no further",
                     CX_EVENT_MAX_PARSE_BYTES >> 20, len);
    if (in_arena && st == CX_OK)
        keep(ev);
    if (in_arena) {
        scratch_reset();
        arena_end(ev);
    } else {
        ev->mem_.doc = root;
    }
    if (st != CX_OK)
        cx_event_clear(ev);
    return st;
}

void cx_event_drop_attributes(cx_event *ev)
{
    ev->attributes = NULL;
    if (ev->mem_.arena == NULL || ev->mem_.bytes < DROP_BYTES)
        return;
    const char **str[] = {&ev->event_id,   &ev->occurred_at, &ev->customer_id, &ev->channel,
                          &ev->touchpoint, &ev->language,    &ev->text};
    size_t len[CX_ARRAY_LEN(str)], total = 0;
    for (size_t i = 0; i < CX_ARRAY_LEN(str); i++)
        total += (len[i] = *str[i] != NULL ? strlen(*str[i]) + 1 : 0);
    if (total > ev->mem_.bytes / 2)
        return; /* mostly the strings: nothing worth copying them for */
    char *copy = malloc(total), *at = copy;
    if (copy == NULL)
        return;
    for (size_t i = 0; i < CX_ARRAY_LEN(str); i++) {
        if (*str[i] != NULL) {
            *str[i] = memcpy(at, *str[i], len[i]);
            at += len[i];
        }
    }
    arena_drop(ev);
    ev->mem_.arena = NULL;
    ev->mem_.first = ev->mem_.big = NULL;
    ev->mem_.n = ev->mem_.bytes = 0;
    ev->mem_.strings = copy;
}

void cx_event_clear(cx_event *ev)
{
    if (ev == NULL)
        return;
    free(ev->mem_.strings);
    if (ev->mem_.arena != NULL)
        arena_drop(ev); /* the document's memory, json_decref() and all */
    else
        json_decref(ev->mem_.doc);
    memset(ev, 0, sizeof *ev);
}
