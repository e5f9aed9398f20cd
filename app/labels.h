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

#endif /* CX_LABELS_H */
