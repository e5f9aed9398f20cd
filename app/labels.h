/*
 * labels.h - reads labeled events, one JSON object a line:
 * {"event": {...event.v1...}, "categories": [...], "sentiment": "...", ...}
 * (what `cxpulse train` learns from and `cxpulse eval` scores against).
 */
#ifndef CX_LABELS_H
#define CX_LABELS_H

#include <jansson.h>
#include <stdio.h>

#include "classify.h"

typedef struct cx_label_line {
    json_t *doc;         /* the whole line */
    cx_event ev;         /* parsed from doc["event"] */
    unsigned categories; /* bit set of (1u << cx_category), or CX_TRAIN_NO_CATEGORIES
                            when the line has no "categories" (sentiment only) */
    cx_sentiment sentiment;
} cx_label_line;

/*
 * Reads the next labeled line of f (path names it in messages). Returns 1
 * with *out filled (free with cx_label_line_clear), 0 at the end, -1 for a
 * line that is not a labeled event: err names the file, the line and the
 * reason, and the caller may go on reading. Blank lines (whitespace only,
 * CRLF too) are skipped.
 */
int cx_label_next(FILE *f, const char *path, unsigned long *lineno, cx_label_line *out, char *err,
                  size_t errlen);

/* NULL-safe, idempotent. */
void cx_label_line_clear(cx_label_line *l);

/*
 * The event_ids of the lines read so far, so that an event labeled twice
 * (a file given twice, lines pasted in again) counts once: in training its
 * labels would weigh twice and it would sit in two folds, one scored by a
 * model trained on the other.
 */
typedef struct cx_label_ids cx_label_ids;

/* NULL when out of memory. */
cx_label_ids *cx_label_ids_new(void);

/*
 * Remembers l's event_id, read from line lineno of path (path must outlive
 * ids), and returns 0; or returns 1 when an earlier line had it: err says
 * "PATH: line N: event_id X is already on line M[ of OTHER][ with other
 * labels]: left out" (other labels: other categories or sentiment). -1 out of
 * memory (err says so).
 */
int cx_label_ids_seen(cx_label_ids *ids, const cx_label_line *l, const char *path,
                      unsigned long lineno, char *err, size_t errlen);

/* NULL-safe. */
void cx_label_ids_free(cx_label_ids *ids);

#endif /* CX_LABELS_H */
