/*
 * window.c - event-time tumbling windows (see window.h): an open-addressing
 * table of cells keyed by (window start, category, channel), and exact
 * decimal sums of ratings in 128-bit fixed point.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "window.h"

typedef unsigned __int128 u128;

struct cx_window {
    int64_t width_us;
    cx_window_cell *cells;
    size_t n, cap;   /* cells */
    size_t *slots;   /* cell index + 1, 0 when free */
    size_t n_slots;  /* a power of two, at least twice the cells' capacity */
};

static u128 sum_get(cx_window_sum s)
{
    return ((u128)s.hi << 64) | s.lo;
}

static cx_window_sum sum_make(u128 v)
{
    return (cx_window_sum){(uint64_t)(v >> 64), (uint64_t)v};
}

void cx_window_rating_text(double v, char *buf, size_t len)
{
    if (v >= 0 && v < 100 && v == (double)(int)v && !signbit(v) && len >= 3) {
        /* a whole 0..99 (most ratings): "%.2g" writes its digits */
        int i = (int)v, n = 0;
        if (i >= 10)
            buf[n++] = (char)('0' + i / 10);
        buf[n++] = (char)('0' + i % 10);
        buf[n] = '\0';
        return;
    }
    cx_double_text(v, buf, len);
}

/* The rating as the sink writes it, scaled to CX_WINDOW_SCALE decimals;
 * 0 when that is not exact (too many decimals, or too large). */
static int rating_scaled(double v, u128 *out)
{
    if (!signbit(v) && v < 1e15 && v == (double)(uint64_t)v) {
        /* a whole number (most ratings): its shortest text is its value */
        *out = (u128)(uint64_t)v * ((u128)10000000000ULL * 10000000000ULL);
        return 1;
    }
    char buf[40];
    cx_window_rating_text(v, buf, sizeof buf);
    uint64_t digits = 0;
    int n_digits = 0, frac = 0, seen_point = 0;
    const char *p = buf;
    for (; *p && *p != 'e' && *p != 'E'; p++) {
        if (*p == '.') {
            seen_point = 1;
        } else if (*p >= '0' && *p <= '9') {
            if (++n_digits > 18)
                return 0;
            digits = digits * 10 + (uint64_t)(*p - '0');
            frac += seen_point;
        } else {
            return 0; /* a sign, inf or nan: not a rating the parser lets through */
        }
    }
    if (*p)
        frac -= (int)strtol(p + 1, NULL, 10);
    if (frac > CX_WINDOW_SCALE || n_digits + (CX_WINDOW_SCALE - frac) > 38)
        return 0; /* below the scale, or beyond 128 bits */
    u128 x = digits;
    for (int i = frac; i < CX_WINDOW_SCALE; i++)
        x *= 10;
    *out = x;
    return 1;
}

void cx_window_sum_format(cx_window_sum s, char *buf, size_t len)
{
    if (len == 0)
        return;
    if (s.hi == 0 && s.lo == 0) { /* most cells have no ratings of most scales */
        buf[0] = len > 1 ? '0' : '\0';
        if (len > 1)
            buf[1] = '\0';
        return;
    }
    /* 128-bit divisions: the integer part, and the fraction's two halves
     * unless it is 0 (whole ratings, most of them) */
    _Static_assert(CX_WINDOW_SCALE == 20, "the fraction is printed as two 10-digit halves");
    const u128 scale = (u128)10000000000ULL * 10000000000ULL; /* 10^CX_WINDOW_SCALE */
    u128 v = sum_get(s), whole_part = v / scale;
    u128 frac = v - whole_part * scale;
    unsigned long long whole = (unsigned long long)whole_part; /* sums of ratings: small */
    /* "%llu.%010llu%010llu" written by hand (this runs for every signal cell) */
    char tmp[48], *t = tmp + 20;
    do
        *--t = (char)('0' + whole % 10);
    while ((whole /= 10) > 0);
    size_t n = (size_t)(tmp + 20 - t);
    if (frac == 0 && n + 21 < len) { /* the whole text fits: just the integer part */
        memcpy(buf, t, n);
        buf[n] = '\0';
        return;
    }
    unsigned long long half[2] = {(unsigned long long)(frac / 10000000000ULL),
                                  (unsigned long long)(frac % 10000000000ULL)};
    memmove(tmp, t, n);
    tmp[n++] = '.';
    for (int h = 0; h < 2; h++)
        for (int i = 9; i >= 0; i--, half[h] /= 10)
            tmp[n + (size_t)h * 10 + (size_t)i] = (char)('0' + half[h] % 10);
    n += 20;
    if (n >= len) { /* cut as snprintf would */
        memcpy(buf, tmp, len - 1);
        buf[len - 1] = '\0';
        return;
    }
    while (tmp[n - 1] == '0') /* trailing zeros of the fraction, and a bare point */
        n--;
    if (tmp[n - 1] == '.')
        n--;
    memcpy(buf, tmp, n);
    buf[n] = '\0';
}

cx_status cx_window_new(cx_window **out, int width_seconds, char *err, size_t errlen)
{
    *out = NULL;
    if (width_seconds <= 0)
        return cx_errf(err, errlen, CX_ERR_USAGE, "window width must be positive, got %d",
                       width_seconds);
    cx_window *w = calloc(1, sizeof *w);
    if (w == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "windows: out of memory");
    w->width_us = (int64_t)width_seconds * 1000000;
    *out = w;
    return CX_OK;
}

void cx_window_free(cx_window *w)
{
    if (w == NULL)
        return;
    free(w->cells);
    free(w->slots);
    free(w);
}

void cx_window_reset(cx_window *w)
{
    w->n = 0;
    if (w->slots != NULL)
        memset(w->slots, 0, w->n_slots * sizeof *w->slots);
}

static size_t hash(int64_t start, int category, const char *channel)
{
    uint64_t h = CX_HASH_SEED ^ (uint64_t)start;
    h = (h ^ (uint64_t)category) * CX_HASH_PRIME;
    h = cx_hash_bytes(h, channel, strlen(channel));
    return (size_t)(h ^ (h >> 29));
}

static int grow(cx_window *w)
{
    size_t cap = w->cap ? w->cap * 2 : 256;
    cx_window_cell *cells = realloc(w->cells, cap * sizeof *cells);
    if (cells == NULL)
        return 0;
    w->cells = cells;
    size_t *slots = calloc(cap * 2, sizeof *slots);
    if (slots == NULL)
        return 0;
    free(w->slots);
    w->slots = slots;
    w->cap = cap;
    w->n_slots = cap * 2;
    for (size_t i = 0; i < w->n; i++) {
        const cx_window_cell *c = &w->cells[i];
        size_t s = hash(c->start_us, c->category, c->channel) & (w->n_slots - 1);
        while (w->slots[s] != 0)
            s = (s + 1) & (w->n_slots - 1);
        w->slots[s] = i + 1;
    }
    return 1;
}

static cx_window_cell *cell(cx_window *w, int64_t start, int category, const char *channel)
{
    if (w->n == w->cap && !grow(w))
        return NULL;
    size_t s = hash(start, category, channel) & (w->n_slots - 1);
    for (; w->slots[s] != 0; s = (s + 1) & (w->n_slots - 1)) {
        cx_window_cell *c = &w->cells[w->slots[s] - 1];
        if (c->start_us == start && c->category == category && !strcmp(c->channel, channel))
            return c;
    }
    cx_window_cell *c = &w->cells[w->n++];
    memset(c, 0, sizeof *c);
    c->start_us = start;
    c->category = category;
    c->channel = channel;
    w->slots[s] = w->n;
    return c;
}

cx_status cx_window_add(cx_window *w, const cx_event *ev, const cx_tags *tags)
{
    u128 rating = 0;
    int rated = ev->rating_scale != CX_RATING_NONE;
    if (rated && !rating_scaled(ev->rating_value, &rating))
        return CX_ERR_INVALID;
    int64_t t = ev->occurred_at_us;
    int64_t start = t - ((t % w->width_us) + w->width_us) % w->width_us; /* floor */
    const char *channel = ev->channel ? ev->channel : "";
    int n = tags->n_assigned > 0 ? tags->n_assigned : 1;
    for (int i = 0; i < n; i++) {
        int category = tags->n_assigned > 0 ? (int)tags->order[i] : CX_CAT_COUNT;
        cx_window_cell *c = cell(w, start, category, channel);
        if (c == NULL)
            return CX_ERR_NOMEM;
        c->events++;
        c->sentiment[tags->sentiment]++;
        if (rated) {
            c->ratings[CX_RATING_NONE]++;
            c->ratings[ev->rating_scale]++;
            c->rating_sum[CX_RATING_NONE] = sum_make(sum_get(c->rating_sum[CX_RATING_NONE]) + rating);
            c->rating_sum[ev->rating_scale] = sum_make(sum_get(c->rating_sum[ev->rating_scale]) + rating);
        }
        if (tags->sentiment == CX_SENT_NEGATIVE && c->n_samples < CX_WINDOW_SAMPLES)
            c->samples[c->n_samples++] = ev->event_id;
    }
    return CX_OK;
}

size_t cx_window_count(const cx_window *w)
{
    return w->n;
}

const cx_window_cell *cx_window_get(const cx_window *w, size_t i)
{
    return i < w->n ? &w->cells[i] : NULL;
}
