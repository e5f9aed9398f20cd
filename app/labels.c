/*
 * labels.c - reads labeled events (see labels.h).
 */
#include "labels.h"

#include <stdlib.h>
#include <string.h>

int cx_label_next(FILE *f, const char *path, unsigned long *lineno, cx_label_line *out, char *err,
                  size_t errlen)
{
    static __thread char *line;
    static __thread size_t cap;
    memset(out, 0, sizeof *out);
    ssize_t n;
    do {
        if ((n = getline(&line, &cap, f)) < 0) {
            free(line);
            line = NULL;
            cap = 0;
            return 0;
        }
        ++*lineno;
    } while (n <= 1 && (n == 0 || line[0] == '\n'));
    int complete = n > 0 && line[n - 1] == '\n';
    json_error_t jerr;
    out->doc = json_loadb(line, (size_t)n, 0, &jerr);
    if (out->doc == NULL) {
        cx_errf(err, errlen, CX_ERR_INVALID, "%s: line %lu: %s%s", path, *lineno,
                complete ? "not JSON: " : "incomplete last line, skipped: ", jerr.text);
        return -1;
    }
    json_t *evj = json_object_get(out->doc, "event");
    char *raw = json_is_object(evj) ? json_dumps(evj, JSON_COMPACT) : NULL;
    char why[512];
    if (raw == NULL || cx_event_parse(&out->ev, raw, strlen(raw), why, sizeof why) != CX_OK) {
        cx_errf(err, errlen, CX_ERR_INVALID, "%s: line %lu: %s", path, *lineno,
                raw ? why : "no \"event\" object");
        free(raw);
        cx_label_line_clear(out);
        return -1;
    }
    free(raw);
    json_t *cats = json_object_get(out->doc, "categories");
    size_t i;
    json_t *c;
    if (cats == NULL) {
        out->categories = CX_TRAIN_NO_CATEGORIES;
    } else if (!json_is_array(cats)) {
        cx_errf(err, errlen, CX_ERR_INVALID, "%s: line %lu: \"categories\" must be an array", path,
                *lineno);
        cx_label_line_clear(out);
        return -1;
    }
    json_array_foreach(cats, i, c) /* none when cats is NULL */
    {
        cx_category cat;
        const char *name = json_string_value(c);
        if (name == NULL || cx_category_from_name(name, &cat) != CX_OK) {
            cx_errf(err, errlen, CX_ERR_INVALID,
                    "%s: line %lu: %s%s%s is not a category (they are facing, collaborative, "
                    "external and performance)",
                    path, *lineno, name ? "\"" : "", name ? name : "a value that is not a string",
                    name ? "\"" : "");
            cx_label_line_clear(out);
            return -1;
        }
        out->categories |= 1u << cat;
    }
    const char *s = json_string_value(json_object_get(out->doc, "sentiment"));
    int k;
    for (k = 0; s != NULL && k < CX_SENT_COUNT; k++)
        if (strcmp(s, cx_sentiment_name((cx_sentiment)k)) == 0)
            break;
    if (s == NULL || k == CX_SENT_COUNT) {
        cx_errf(err, errlen, CX_ERR_INVALID,
                "%s: line %lu: \"sentiment\" must be negative, neutral or positive", path, *lineno);
        cx_label_line_clear(out);
        return -1;
    }
    out->sentiment = (cx_sentiment)k;
    return 1;
}

void cx_label_line_clear(cx_label_line *l)
{
    if (l == NULL)
        return;
    cx_event_clear(&l->ev);
    json_decref(l->doc);
    l->doc = NULL;
}
