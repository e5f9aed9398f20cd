/*
 * signals.c - signal increments for cx.signals, computed once, in C: per
 * window size, the cells processors/window sums exactly; staged in the
 * session table cx_stage_sig (binary COPY from the batch writer, text from
 * reclassification) and added to cx.signals by one upsert that
 * touches each row once, in key order (see pg_int.h). Used by the batch
 * writer and by reclassification (which stages old contributions with a
 * minus sign).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

/* A rating with more decimals than the windows sum exactly: its event counts
 * in the cells with a rating of 0, and its value is staged as a row of its own
 * (counts 0), which the upsert's GROUP BY adds to the cell in numeric. */
typedef struct fine_rating {
    int64_t start_us;
    int width;
    int category; /* CX_CAT_COUNT: "none" */
    const char *channel;
    int scale;
    char value[48];
} fine_rating;

struct cx__pg_signals {
    size_t n;
    int *width;
    cx_window **win;
    fine_rating *fine;
    size_t n_fine, cap_fine;
};

const char *const cx__pg_signals_stage_sql =
    "CREATE TEMP TABLE IF NOT EXISTS cx_stage_sig (\n"
    "  window_start timestamptz, window_seconds int, category text, channel text,\n"
    "  events int, negative int, neutral int, positive int, rating_count int,\n"
    "  rating_sum numeric, csat_count int, csat_sum numeric, nps_count int, nps_sum numeric,\n"
    "  ces_count int, ces_sum numeric, stars_count int, stars_sum numeric)\n"
    "  ON COMMIT DELETE ROWS";

/* One lock order for parallel writers and reclassify: byte order, as the
 * direct COPY sorts with strcmp, whatever the database's collation. */
#define SIGNALS_KEY_ORDER                                                                          \
    "ORDER BY window_start, window_seconds, category COLLATE \"C\", channel COLLATE \"C\"\n"

const char *const cx__pg_signals_apply_sql = CX__PG_SIGNALS_INSERT
    "SELECT window_start, window_seconds, category, channel, sum(events), sum(negative),\n"
    "  sum(neutral), sum(positive), sum(rating_count), sum(rating_sum), sum(csat_count),\n"
    "  sum(csat_sum), sum(nps_count), sum(nps_sum), sum(ces_count), sum(ces_sum),\n"
    "  sum(stars_count), sum(stars_sum)\n"
    "FROM cx_stage_sig GROUP BY 1, 2, 3, 4\n" SIGNALS_KEY_ORDER CX__PG_SIGNALS_ADD;

/* When each key is in cx_stage_sig once (the cells of one batch, no fine
 * ratings): no grouping needed. */
const char *const cx__pg_signals_apply_once_sql =
    CX__PG_SIGNALS_INSERT "SELECT * FROM cx_stage_sig\n" SIGNALS_KEY_ORDER CX__PG_SIGNALS_ADD;

const cx_window *cx__pg_signals_window(const cx__pg_signals *s, int width)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->width[i] == width)
            return s->win[i];
    return s->win[0];
}

size_t cx__pg_signals_fine(const cx__pg_signals *s)
{
    return s->n_fine;
}

cx_status cx__pg_signals_new(cx__pg_signals **out, const int *widths, size_t n, char *err,
                             size_t errlen)
{
    static const int one_minute = 60;
    if (n == 0) {
        widths = &one_minute;
        n = 1;
    }
    cx__pg_signals *s = calloc(1, sizeof *s);
    if (s != NULL) {
        s->width = calloc(n, sizeof *s->width);
        s->win = calloc(n, sizeof *s->win);
    }
    if (s == NULL || s->width == NULL || s->win == NULL) {
        cx__pg_signals_free(s);
        return cx_errf(err, errlen, CX_ERR_NOMEM, "signals: out of memory");
    }
    for (size_t i = 0; i < n; i++, s->n++) {
        s->width[i] = widths[i];
        cx_status st = cx_window_new(&s->win[i], widths[i], err, errlen);
        if (st != CX_OK) {
            cx__pg_signals_free(s);
            return st;
        }
    }
    *out = s;
    return CX_OK;
}

void cx__pg_signals_free(cx__pg_signals *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        cx_window_free(s->win[i]);
    free(s->win);
    free(s->width);
    free(s->fine);
    free(s);
}

void cx__pg_signals_reset(cx__pg_signals *s)
{
    for (size_t i = 0; i < s->n; i++)
        cx_window_reset(s->win[i]);
    s->n_fine = 0;
}

/* cx_window_add() that never refuses a rating: one too fine to sum exactly is
 * counted with a value of 0 and *fine is set. CX_ERR_NOMEM only. */
static cx_status window_add(cx_window *w, const cx_event *ev, const cx_tags *tags, int *fine)
{
    cx_status st = cx_window_add(w, ev, tags);
    *fine = st == CX_ERR_INVALID;
    if (st != CX_ERR_INVALID)
        return st;
    cx_event counted = *ev; /* the cells borrow its strings, which are ev's */
    counted.rating_value = 0;
    return cx_window_add(w, &counted, tags);
}

/* A signed decimal: text, negated when sign < 0. */
static void put_signed(cx_buf *b, const char *text, int sign)
{
    if (sign < 0)
        cx_buf_put(b, text[0] == '-' ? "" : "-", text[0] == '-' ? 0 : 1);
    const char *digits = sign < 0 && text[0] == '-' ? text + 1 : text;
    cx_buf_put(b, digits, strlen(digits));
}

cx_status cx__pg_signals_add(cx__pg_signals *s, const cx_event *ev, const cx_tags *tags)
{
    int is_fine = 0;
    for (size_t i = 0; i < s->n; i++) {
        cx_status st = window_add(s->win[i], ev, tags, &is_fine);
        if (st != CX_OK)
            return st;
        int64_t wus = (int64_t)s->width[i] * 1000000, t = ev->occurred_at_us;
        for (int k = 0; is_fine && k < (tags->n_assigned > 0 ? tags->n_assigned : 1); k++) {
            if (s->n_fine == s->cap_fine) {
                size_t cap = s->cap_fine ? s->cap_fine * 2 : 16;
                fine_rating *f = realloc(s->fine, cap * sizeof *f);
                if (f == NULL)
                    return CX_ERR_NOMEM;
                s->fine = f;
                s->cap_fine = cap;
            }
            fine_rating *f = &s->fine[s->n_fine++];
            f->start_us = t - ((t % wus) + wus) % wus; /* floor, as the windows do */
            f->width = s->width[i];
            f->category = tags->n_assigned > 0 ? (int)tags->order[k] : CX_CAT_COUNT;
            f->channel = ev->channel ? ev->channel : "";
            f->scale = (int)ev->rating_scale;
            cx_window_rating_text(ev->rating_value, f->value, sizeof f->value);
        }
    }
    return CX_OK;
}

static const char *category_text(int category)
{
    return category < CX_CAT_COUNT ? cx_category_name(category) : "none";
}

static void put_head(cx_buf *b, int64_t start_us, int width, int category, const char *channel)
{
    cx__buf_timestamp(b, start_us, 0);
    cx__buf_int(b, width, 0);
    cx__buf_field(b, category_text(category), 0);
    cx__buf_field(b, channel, 0);
}

void cx__pg_signals_rows(const cx__pg_signals *s, int sign, cx_buf *b)
{
    char sum[48];
    for (size_t i = 0; i < s->n; i++) {
        for (size_t j = 0; j < cx_window_count(s->win[i]); j++) {
            const cx_window_cell *c = cx_window_get(s->win[i], j);
            put_head(b, c->start_us, s->width[i], c->category, c->channel);
            cx__buf_int(b, sign * c->events, 0);
            cx__buf_int(b, sign * c->sentiment[CX_SENT_NEGATIVE], 0);
            cx__buf_int(b, sign * c->sentiment[CX_SENT_NEUTRAL], 0);
            cx__buf_int(b, sign * c->sentiment[CX_SENT_POSITIVE], 0);
            for (int k = CX_RATING_NONE; k <= CX_RATING_STARS; k++) {
                cx_window_sum_format(c->rating_sum[k], sum, sizeof sum);
                cx__buf_int(b, sign * c->ratings[k], 0);
                put_signed(b, sum, sign);
                cx_buf_put(b, k == CX_RATING_STARS ? "\n" : "\t", 1);
            }
        }
    }
    for (size_t i = 0; i < s->n_fine; i++) {
        const fine_rating *f = &s->fine[i];
        put_head(b, f->start_us, f->width, f->category, f->channel);
        cx_buf_put(b, "0\t0\t0\t0\t", 8);
        for (int k = CX_RATING_NONE; k <= CX_RATING_STARS; k++) {
            cx_buf_put(b, "0\t", 2);
            put_signed(b, k == CX_RATING_NONE || k == f->scale ? f->value : "0", sign);
            cx_buf_put(b, k == CX_RATING_STARS ? "\n" : "\t", 1);
        }
    }
}

/* microseconds from the Unix epoch to PostgreSQL's, 2000-01-01 */
#define PG_EPOCH_US 946684800000000LL

/* Appends a binary COPY text field. */
static void put_text_bin(cx_buf *b, const char *s)
{
    size_t n = strlen(s);
    cx__buf_be(b, n, 4);
    cx_buf_put(b, s, n);
}

/* Appends a binary COPY int4 field; 0 when v is beyond int (as int's input
 * would refuse it). */
static int put_int_bin(cx_buf *b, int64_t v)
{
    if (v < INT32_MIN || v > INT32_MAX)
        return 0;
    cx__buf_be(b, 4, 4);
    cx__buf_be(b, (uint64_t)(uint32_t)(int32_t)v, 4);
    return 1;
}

/* Appends the head of a binary COPY row: its field count and its key. */
static void put_head_bin(cx_buf *b, int64_t start_us, int width, int category,
                         const char *channel)
{
    cx__buf_be(b, 18, 2);
    cx__buf_be(b, 8, 4);
    cx__buf_be(b, (uint64_t)(start_us - PG_EPOCH_US), 8);
    put_int_bin(b, width);
    put_text_bin(b, category_text(category));
    put_text_bin(b, channel);
}

/* A cell of one of the windows, with its row's key: the window's width and
 * the category's place in the order of the categories' names; and the sign
 * of its side in a difference. */
typedef struct keyed_cell {
    const cx_window_cell *c;
    int width, rank, sign;
} keyed_cell;

/* Each category's place (CX_CAT_COUNT: "none") in the order of the names. */
static void category_ranks(int rank[CX_CAT_COUNT + 1])
{
    for (int i = 0; i <= CX_CAT_COUNT; i++) {
        rank[i] = 0;
        for (int j = 0; j <= CX_CAT_COUNT; j++)
            rank[i] += strcmp(category_text(j), category_text(i)) < 0;
    }
}

/* The order of cx.signals' primary key (window_start, window_seconds,
 * category, channel), as the upsert's ORDER BY sorts it. */
static int keyed_cell_cmp(const void *a, const void *b)
{
    const keyed_cell *x = a, *y = b;
    if (x->c->start_us != y->c->start_us)
        return x->c->start_us < y->c->start_us ? -1 : 1;
    if (x->width != y->width)
        return x->width < y->width ? -1 : 1;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return strcmp(x->c->channel, y->c->channel);
}

/* The error of a row that binary COPY cannot carry, naming its key. */
static cx_status row_error(int64_t start_us, int width, int category, const char *channel,
                           const char *what, char *err, size_t errlen)
{
    cx_buf t = {0};
    cx__buf_timestamp(&t, start_us, 1);
    cx_status st = cx_errf(err, errlen, CX_ERR_INVALID,
                           "signals of window %.*s (%d s, %s, channel \"%s\"): %s",
                           t.len > 0 ? (int)t.len - 1 : 0, t.data ? t.data : "", width,
                           category_text(category), channel, what);
    cx_buf_free(&t);
    return st;
}

cx_status cx__pg_signals_copy_binary(const cx__pg_signals *s, int in_key_order, cx_buf *b,
                                     char *err, size_t errlen)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += cx_window_count(s->win[i]);
    keyed_cell *cells = malloc((n > 0 ? n : 1) * sizeof *cells);
    if (cells == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "signals: out of memory");
    int rank[CX_CAT_COUNT + 1];
    category_ranks(rank);
    n = 0;
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < cx_window_count(s->win[i]); j++) {
            const cx_window_cell *c = cx_window_get(s->win[i], j);
            cells[n++] = (keyed_cell){c, s->width[i], rank[c->category], 1};
        }
    /* Two writers COPYing new keys straight into cx.signals take the keys'
     * locks row by row: in one order, they cannot wait on each other in a
     * cycle (a deadlock, broken by the server only after deadlock_timeout). */
    if (in_key_order)
        qsort(cells, n, sizeof *cells, keyed_cell_cmp);

    /* the signature, then no flags and no header extension */
    cx_buf_put(b, "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19);
    char sum[48];
    cx_status st = CX_OK;
    for (size_t i = 0; i < n && st == CX_OK; i++) {
        const cx_window_cell *c = cells[i].c;
        put_head_bin(b, c->start_us, cells[i].width, c->category, c->channel);
        int fits = put_int_bin(b, c->events) && put_int_bin(b, c->sentiment[CX_SENT_NEGATIVE]) &&
                   put_int_bin(b, c->sentiment[CX_SENT_NEUTRAL]) &&
                   put_int_bin(b, c->sentiment[CX_SENT_POSITIVE]);
        for (int k = CX_RATING_NONE; fits && k <= CX_RATING_STARS; k++) {
            cx_window_sum_format(c->rating_sum[k], sum, sizeof sum);
            fits = put_int_bin(b, c->ratings[k]) && cx__buf_numeric(b, sum, 0) == CX_OK;
        }
        if (!fits)
            st = row_error(c->start_us, cells[i].width, c->category, c->channel,
                           "a count beyond int or a sum of more than 64 digits", err, errlen);
    }
    free(cells);
    for (size_t i = 0; i < s->n_fine && st == CX_OK; i++) {
        const fine_rating *f = &s->fine[i];
        put_head_bin(b, f->start_us, f->width, f->category, f->channel);
        for (int k = 0; k < 4; k++)
            put_int_bin(b, 0);
        for (int k = CX_RATING_NONE; st == CX_OK && k <= CX_RATING_STARS; k++) {
            put_int_bin(b, 0);
            if (cx__buf_numeric(b, k == CX_RATING_NONE || k == f->scale ? f->value : "0", 0) !=
                CX_OK)
                st = row_error(f->start_us, f->width, f->category, f->channel,
                               "a rating that numeric cannot hold", err, errlen);
        }
    }
    cx__buf_be(b, 0xffff, 2); /* the trailer: a field count of -1 */
    if (b->failed)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "signals: out of memory");
    return st;
}

/* A signed sum as plain decimal text: hi:lo in two's complement. */
static void put_net_sum(cx_buf *b, unsigned __int128 v)
{
    char text[48];
    int negative = (v >> 127) != 0;
    if (negative)
        v = -v;
    cx_window_sum_format((cx_window_sum){(uint64_t)(v >> 64), (uint64_t)v}, text, sizeof text);
    cx_buf_printf(b, "%s%s", negative && strcmp(text, "0") != 0 ? "-" : "", text);
}

cx_status cx__pg_signals_diff_rows(const cx__pg_signals *minus, const cx__pg_signals *plus,
                                   cx_buf *b)
{
    if (minus->n != plus->n || minus->n_fine > 0 || plus->n_fine > 0)
        return CX_ERR_INVALID;
    for (size_t i = 0; i < minus->n; i++)
        if (minus->width[i] != plus->width[i])
            return CX_ERR_INVALID;
    int rank[CX_CAT_COUNT + 1];
    category_ranks(rank);
    for (size_t i = 0; i < minus->n; i++) {
        size_t nm = cx_window_count(minus->win[i]), np = cx_window_count(plus->win[i]), n = 0;
        if (nm + np == 0)
            continue;
        keyed_cell *all = malloc((nm + np) * sizeof *all);
        if (all == NULL)
            return CX_ERR_NOMEM;
        for (size_t j = 0; j < nm + np; j++) {
            const cx_window_cell *c = j < nm ? cx_window_get(minus->win[i], j)
                                             : cx_window_get(plus->win[i], j - nm);
            all[n++] = (keyed_cell){c, minus->width[i], rank[c->category], j < nm ? -1 : 1};
        }
        qsort(all, n, sizeof *all, keyed_cell_cmp);
        for (size_t j = 0; j < n;) {
            /* every cell of one key (at most one per side), summed with its sign */
            int64_t events = 0, sentiment[CX_SENT_COUNT] = {0}, ratings[5] = {0};
            unsigned __int128 sums[5] = {0};
            size_t k = j;
            for (; k < n && keyed_cell_cmp(&all[j], &all[k]) == 0; k++) {
                const cx_window_cell *c = all[k].c;
                events += all[k].sign * c->events;
                for (int s = 0; s < CX_SENT_COUNT; s++)
                    sentiment[s] += all[k].sign * c->sentiment[s];
                for (int r = 0; r < 5; r++) {
                    unsigned __int128 v = ((unsigned __int128)c->rating_sum[r].hi << 64) |
                                          c->rating_sum[r].lo;
                    ratings[r] += all[k].sign * c->ratings[r];
                    sums[r] = all[k].sign < 0 ? sums[r] - v : sums[r] + v;
                }
            }
            int zero = events == 0;
            for (int s = 0; s < CX_SENT_COUNT; s++)
                zero &= sentiment[s] == 0;
            for (int r = 0; r < 5; r++)
                zero &= ratings[r] == 0 && sums[r] == 0;
            if (!zero) {
                const cx_window_cell *c = all[j].c;
                put_head(b, c->start_us, minus->width[i], c->category, c->channel);
                cx_buf_printf(b, "%lld\t%lld\t%lld\t%lld", (long long)events,
                              (long long)sentiment[CX_SENT_NEGATIVE],
                              (long long)sentiment[CX_SENT_NEUTRAL],
                              (long long)sentiment[CX_SENT_POSITIVE]);
                for (int r = CX_RATING_NONE; r <= CX_RATING_STARS; r++) {
                    cx_buf_printf(b, "\t%lld\t", (long long)ratings[r]);
                    put_net_sum(b, sums[r]);
                }
                cx_buf_put(b, "\n", 1);
            }
            j = k;
        }
        free(all);
    }
    return CX_OK;
}
