/*
 * labels.c - reads labeled events (see labels.h).
 */
#include "labels.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The end of the JSON value at p (the line is known to be well-formed JSON). */
static const char *value_end(const char *p, const char *end)
{
    int depth = 0;
    for (; p < end; p++) {
        if (*p == '"') {
            for (p++; p < end && *p != '"'; p++)
                p += *p == '\\';
            if (p >= end)
                return end;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (--depth < 0)
                return p; /* the end of the enclosing object */
        } else if (*p == ',' && depth == 0) {
            return p;
        }
        if (depth == 0 && (*p == '"' || *p == '}' || *p == ']'))
            return p + 1;
    }
    return end;
}

/* The bytes of the line's top-level "event" value as written (the last one,
 * as jansson reads it), so that the event parser judges what the file holds,
 * not a re-encoding of it (1e-30 printed back as 1.0000000000000001e-30). */
static const char *event_bytes(const char *p, const char *end, size_t *len)
{
    const char *found = NULL;
    while (p < end && *p != '{')
        p++;
    for (p++; p < end;) {
        while (p < end && *p != '"' && *p != '}')
            p++;
        if (p >= end || *p == '}')
            break;
        const char *key = p;
        p = value_end(p, end);
        int is_event = p - key == 7 && memcmp(key, "\"event\"", 7) == 0;
        while (p < end && *p != ':')
            p++;
        for (p++; p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'); p++)
            ;
        const char *v = p;
        p = value_end(p, end);
        if (is_event) {
            found = v;
            *len = (size_t)(p - v);
        }
        if (p < end && *p == ',')
            p++;
    }
    return found;
}

/* A line of nothing but JSON whitespace ("\r\n" in a file from Windows) is
 * skipped, as an empty one is. */
static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

/* cx_event_parse() names a place by its byte in the event's own text, which
 * starts at byte offset of the line: the place in the line instead. */
static void place_in_line(char *why, size_t whylen, size_t offset)
{
    char *at = strstr(why, " at byte "), *end;
    if (at == NULL)
        return;
    char *num = at + 9, tail[512];
    unsigned long long b = strtoull(num, &end, 10);
    if (end == num)
        return;
    snprintf(tail, sizeof tail, "%s", end);
    snprintf(num, whylen - (size_t)(num - why), "%llu%s", b + offset, tail);
}

/* b with two neighbouring letters of a swapped ("evnet"): two edits to
 * cx_typo_distance(), and as plain a slip as one. */
static int swapped(const char *a, const char *b)
{
    size_t n = strlen(a), i = 0;
    if (n != strlen(b))
        return 0;
    while (i < n && a[i] == b[i])
        i++;
    return i + 1 < n && a[i] == b[i + 1] && a[i + 1] == b[i] && strcmp(a + i + 2, b + i + 2) == 0;
}

/* The key a line's key was probably meant to be ("categorie", "Sentiment",
 * "evnet", "category": "categories"), or NULL for one of them exactly or a
 * key of the line's own (industry, source: kept for eval --by). A near miss
 * would otherwise be ignored, the line taken as labeled with its sentiment
 * only or as having no event. How near: an edit or a swap of two neighbours
 * in any case, or two edits from the longer names (not from "event": "agent"
 * is a key of its own). */
static const char *meant_key(const char *key)
{
    static const struct {
        const char *name, *means;
        unsigned edits;
    } keys[] = {
        {"categories", "categories", 2},
        {"category", "categories", 1},
        {"sentiment", "sentiment", 2},
        {"event", "event", 1},
    };
    char low[128];
    size_t n = strlen(key);
    if (strcmp(key, "categories") == 0 || strcmp(key, "sentiment") == 0 ||
        strcmp(key, "event") == 0 || n >= sizeof low)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        low[i] = key[i] >= 'A' && key[i] <= 'Z' ? (char)(key[i] - 'A' + 'a') : key[i];
    for (size_t k = 0; k < CX_ARRAY_LEN(keys); k++) {
        cx_typo t = CX_TYPO_INIT(low);
        cx_typo_offer(&t, keys[k].name);
        if (t.distance <= keys[k].edits || swapped(low, keys[k].name))
            return keys[k].means;
    }
    return NULL;
}

/* Why line[0..n) (line lineno) cannot be UTF-8 JSON text as it is written,
 * into why, or 0 when it can: a byte order mark opening the file (JSON
 * allows none: jansson quoted it invisibly), or bytes that are no UTF-8 (a
 * file saved as UTF-16, whose every other byte is NUL, or as Latin-1). */
static int not_utf8(const char *line, size_t n, unsigned long lineno, char *why, size_t len)
{
    const unsigned char *p = (const unsigned char *)line, *end = p + n;
    if (lineno == 1 && n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
        snprintf(why, len,
                 "starts with a UTF-8 byte order mark (bytes EF BB BF): save it as UTF-8 "
                 "without one");
        return 1;
    }
    for (const unsigned char *q = p; q < end; q++) {
        size_t k = *q == 0 ? 0 : *q < 0x80 ? 1 : cx_utf8_sequence(q, end);
        if (k == 0) {
            snprintf(why, len,
                     "not UTF-8 (is the file saved as UTF-16 or Latin-1?): byte 0x%02x at byte "
                     "%zu",
                     *q, (size_t)(q - p) + 1);
            return 1;
        }
        q += k - 1;
    }
    return 0;
}

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
    } while (blank(line, (size_t)n));
    int complete = n > 0 && line[n - 1] == '\n';
    char why[512];
    if (not_utf8(line, (size_t)n, *lineno, why, sizeof why)) {
        cx_errf(err, errlen, CX_ERR_INVALID, "%s: line %lu: %s", path, *lineno, why);
        return -1;
    }
    json_error_t jerr = {0};
    /* JSON_DECODE_INT_AS_REAL: an integer past 64 bits (an order number) is no
     * error here, as it is none for run; the event is parsed from its bytes */
    out->doc = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
    if (out->doc == NULL) {
        cx_errf(err, errlen, CX_ERR_INVALID, "%s: line %lu: %s%s", path, *lineno,
                complete ? "not JSON: " : "incomplete last line, skipped: ", jerr.text);
        return -1;
    }
    const char *key;
    json_t *value;
    json_object_foreach(out->doc, key, value)
    {
        cx_typo t = {key, meant_key(key), 1};
        char hint[64], shown[160];
        if (t.best != NULL) {
            cx_errf(err, errlen, CX_ERR_INVALID,
                    "%s: line %lu: key \"%s\" would be ignored%s: the labels are \"event\", "
                    "\"categories\" and \"sentiment\", other keys are kept for eval --by",
                    path, *lineno, cx_printable(key, shown, sizeof shown),
                    cx_typo_hint(&t, 1, hint, sizeof hint));
            cx_label_line_clear(out);
            return -1;
        }
    }
    size_t len = 0;
    json_t *evj = json_object_get(out->doc, "event");
    const char *raw = json_is_object(evj) ? event_bytes(line, line + n, &len) : NULL;
    char *copy = NULL; /* the key written with escapes ("\u0065vent"): re-encoded */
    if (raw == NULL && json_is_object(evj) && (copy = json_dumps(evj, JSON_COMPACT)) != NULL) {
        raw = copy;
        len = strlen(copy);
    }
    if (raw == NULL || cx_event_parse(&out->ev, raw, len, why, sizeof why) != CX_OK) {
        if (raw != NULL && raw != copy)
            place_in_line(why, sizeof why, (size_t)(raw - line));
        cx_errf(err, errlen, CX_ERR_INVALID, "%s: line %lu: %s", path, *lineno,
                raw ? why : "no \"event\" object");
        free(copy);
        cx_label_line_clear(out);
        return -1;
    }
    free(copy);
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
    /* ["none"]: the labeling guide's name for an event of no category, [] */
    const char *only =
        json_array_size(cats) == 1 ? json_string_value(json_array_get(cats, 0)) : NULL;
    if (only != NULL && strcasecmp(only, "none") == 0)
        cats = NULL;
    json_array_foreach(cats, i, c) /* none when cats is NULL */
    {
        cx_category cat;
        const char *name = json_string_value(c);
        if (name != NULL && strcasecmp(name, "none") == 0) {
            char shown[64];
            cx_errf(err, errlen, CX_ERR_INVALID,
                    "%s: line %lu: \"%s\" means no category and goes alone ([\"none\"] or "
                    "[]), not beside a category",
                    path, *lineno, cx_printable(name, shown, sizeof shown));
            cx_label_line_clear(out);
            return -1;
        }
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
        const json_t *v = json_object_get(out->doc, "sentiment");
        char given[96];
        if (v == NULL)
            snprintf(given, sizeof given, "is missing");
        else if (s == NULL)
            snprintf(given, sizeof given, "is not a string");
        else {
            snprintf(given, sizeof given, "\"%.60s", s);
            cx_utf8_mend(given, strlen(given)); /* cut, maybe inside a character */
            strcat(given, "\"");
        }
        cx_errf(err, errlen, CX_ERR_INVALID,
                "%s: line %lu: \"sentiment\" %s: it must be negative, neutral or positive (in "
                "lower case)",
                path, *lineno, given);
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

/* An event_id seen, where, and with which labels. */
typedef struct id_slot {
    char *id; /* NULL: a free slot */
    const char *path;
    unsigned long lineno;
    unsigned categories;
    cx_sentiment sentiment;
} id_slot;

struct cx_label_ids {
    id_slot *slots;
    size_t cap, n; /* cap a power of two, n at most 3/4 of it */
};

cx_label_ids *cx_label_ids_new(void)
{
    cx_label_ids *ids = calloc(1, sizeof *ids);
    if (ids != NULL && (ids->slots = calloc(ids->cap = 1024, sizeof *ids->slots)) == NULL) {
        free(ids);
        return NULL;
    }
    return ids;
}

/* The slot of id: its own, or the free one where it would go. */
static id_slot *slot_of(id_slot *slots, size_t cap, const char *id)
{
    size_t i = (size_t)cx_hash_bytes(CX_HASH_SEED, id, strlen(id)) & (cap - 1);
    while (slots[i].id != NULL && strcmp(slots[i].id, id) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

int cx_label_ids_seen(cx_label_ids *ids, const cx_label_line *l, const char *path,
                      unsigned long lineno, char *err, size_t errlen)
{
    const char *id = l->ev.event_id;
    if (id == NULL)
        return 0;
    id_slot *s = slot_of(ids->slots, ids->cap, id);
    if (s->id != NULL) {
        char shown[200], where[300] = "";
        if (strcmp(s->path, path) != 0)
            snprintf(where, sizeof where, " of %s", s->path);
        cx_errf(err, errlen, CX_ERR_INVALID,
                "%s: line %lu: event_id %s is already on line %lu%s%s: left out", path, lineno,
                cx_printable(id, shown, sizeof shown), s->lineno, where,
                s->categories != l->categories || s->sentiment != l->sentiment
                    ? " with other labels"
                    : "");
        return 1;
    }
    if (4 * (ids->n + 1) > 3 * ids->cap) {
        size_t cap = 2 * ids->cap;
        id_slot *grown = calloc(cap, sizeof *grown);
        if (grown == NULL) {
            cx_errf(err, errlen, CX_ERR_NOMEM, "%s: line %lu: out of memory", path, lineno);
            return -1;
        }
        for (size_t i = 0; i < ids->cap; i++)
            if (ids->slots[i].id != NULL)
                *slot_of(grown, cap, ids->slots[i].id) = ids->slots[i];
        free(ids->slots);
        ids->slots = grown;
        ids->cap = cap;
        s = slot_of(ids->slots, ids->cap, id);
    }
    if ((s->id = strdup(id)) == NULL) {
        cx_errf(err, errlen, CX_ERR_NOMEM, "%s: line %lu: out of memory", path, lineno);
        return -1;
    }
    s->path = path;
    s->lineno = lineno;
    s->categories = l->categories;
    s->sentiment = l->sentiment;
    ids->n++;
    return 0;
}

void cx_label_ids_free(cx_label_ids *ids)
{
    if (ids == NULL)
        return;
    for (size_t i = 0; i < ids->cap; i++)
        free(ids->slots[i].id);
    free(ids->slots);
    free(ids);
}
