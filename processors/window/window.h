/*
 * window.h - event-time tumbling windows: what a set of events adds to the
 * signals of each (window, category, channel), exactly as PostgreSQL would
 * sum it (ratings as the decimal text the sink stores, summed without
 * rounding).
 *
 * Pure: plain events and tags in, plain cells out. The PostgreSQL sink uses it
 * to stage a batch's signal increments without a pass over the stored rows.
 */
#ifndef CX_WINDOW_H
#define CX_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "classify.h"
#include "cx.h"
#include "event.h"

/* Negative events' ids a cell keeps as examples (the first ones added). */
#define CX_WINDOW_SAMPLES 5

/* A sum of ratings, exact: value = (hi * 2^64 + lo) / 10^CX_WINDOW_SCALE. */
#define CX_WINDOW_SCALE 20
typedef struct cx_window_sum {
    uint64_t hi, lo;
} cx_window_sum;

/* What the events of one (window, category, channel) add up to. */
typedef struct cx_window_cell {
    int64_t start_us;    /* window start, microseconds since the epoch, a multiple of the width */
    int category;        /* a cx_category, or CX_CAT_COUNT for untagged events ("none") */
    const char *channel; /* borrowed from an event; "" when absent */
    int64_t events;
    int64_t sentiment[CX_SENT_COUNT];
    /* per cx_rating_scale; index CX_RATING_NONE holds all scales together */
    int64_t ratings[5];
    cx_window_sum rating_sum[5];
    const char *samples[CX_WINDOW_SAMPLES]; /* borrowed event ids of negative events */
    int n_samples;
} cx_window_cell;

typedef struct cx_window cx_window;

/* A window set of the given width (seconds, > 0); CX_ERR_USAGE or CX_ERR_NOMEM. */
cx_status cx_window_new(cx_window **out, int width_seconds, char *err, size_t errlen);

/* Releases everything; NULL-safe. */
void cx_window_free(cx_window *w);

/* Forgets every cell (keeps the memory for the next batch). */
void cx_window_reset(cx_window *w);

/*
 * Adds one event to its window under each category it was tagged with, or
 * under "none" when it has none. The event and its strings must outlive the
 * cells. CX_ERR_INVALID (and nothing added) when its rating, as the sink
 * writes it, has more than CX_WINDOW_SCALE decimals, so that no exact sum
 * can be promised; CX_ERR_NOMEM when out of memory.
 */
cx_status cx_window_add(cx_window *w, const cx_event *ev, const cx_tags *tags);

/* The cells so far, in the order they were first touched. */
size_t cx_window_count(const cx_window *w);
const cx_window_cell *cx_window_get(const cx_window *w, size_t i);

/* Writes a sum as plain decimal text ("12.5", "0"); buf needs 48 bytes. */
void cx_window_sum_format(cx_window_sum s, char *buf, size_t len);

/* The text the sink stores for a rating value (the shortest of %.17g). */
void cx_window_rating_text(double v, char *buf, size_t len);

#endif /* CX_WINDOW_H */
