/*
 * event.c - parses and validates one event.v1 message value into a cx_event.
 *
 * The checks follow event.v1.schema.json, plus what PostgreSQL would reject
 * later (NUL characters, invalid UTF-8, instants outside 0001..9999 in UTC), so a
 * parsed event can always be stored. Hostile input is bounded before jansson
 * sees it: a size cap, and a pre-scan for nesting depth and for numbers whose
 * decimal form would blow up when PostgreSQL prints them.
 */
#include "event.h"

#include <math.h>
#include <stdio.h>
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
    if (hh > 23 || mi > 59 || ss > 59)
        return CX_ERR_INVALID;
    const char *p = s + 19;
    int64_t frac_us = 0;
    if (*p == '.') {
        int n = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (n < 6)
                frac_us = frac_us * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return CX_ERR_INVALID;
        for (; n < 6; n++)
            frac_us *= 10;
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

/* ---- Validation helpers ------------------------------------------------ */

/* Writes at most QUOTE_MAX bytes of s, cut on a UTF-8 boundary, into buf. */
static const char *excerpt(const char *s, char *buf, size_t buflen)
{
    size_t n = strlen(s);
    if (n <= QUOTE_MAX) {
        snprintf(buf, buflen, "%s", s);
        return buf;
    }
    n = QUOTE_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    snprintf(buf, buflen, "%.*s...", (int)n, s);
    return buf;
}

/* Number of Unicode code points in valid UTF-8 (jansson has validated it). */
static size_t utf8_length(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
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
    size_t chars = utf8_length(json_string_value(v), bytes);
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
 * strings: nesting deeper than CX_EVENT_MAX_DEPTH, and the first number whose
 * plain decimal form (as PostgreSQL prints a jsonb number: no exponent) would
 * have more than CX_EVENT_MAX_NUMBER_DIGITS digits (its offset and length in
 * *at, *n).
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
            if (++depth > CX_EVENT_MAX_DEPTH)
                return SCAN_TOO_DEEP;
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
    if (!isfinite(v) || v < scales[i].min || v > scales[i].max)
        return cx_errf(err, errlen, CX_ERR_INVALID,
                       "field \"rating.value\": %g is out of range %g..%g for scale \"%s\"", v,
                       scales[i].min, scales[i].max, scales[i].name);
    ev->rating_scale = scales[i].scale;
    ev->rating_value = v;
    return CX_OK;
}

static cx_status validate(cx_event *ev, char *err, size_t errlen)
{
    const json_t *root = ev->root;
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
    if ((st = get_string(root, "event_id", 1, 128, &ev->event_id, NULL, err, errlen)))
        return st;
    if (json_object_get(root, "occurred_at") == NULL)
        return cx_errf(err, errlen, CX_ERR_INVALID, "missing required field \"occurred_at\"");
    if ((st = get_string(root, "occurred_at", 0, 64, &ev->occurred_at, NULL, err, errlen)))
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
    if ((st = get_string(root, "customer_id", 0, 128, &ev->customer_id, NULL, err, errlen)) ||
        (st = get_string(root, "channel", 0, 64, &ev->channel, NULL, err, errlen)) ||
        (st = get_string(root, "touchpoint", 0, 64, &ev->touchpoint, NULL, err, errlen)) ||
        (st = get_string(root, "language", 0, 35, &ev->language, NULL, err, errlen)) ||
        (st = get_string(root, "text", 0, 16384, &ev->text, &ev->text_len, err, errlen)))
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

cx_status cx_event_parse(cx_event *ev, const void *data, size_t len, char *err, size_t errlen)
{
    memset(ev, 0, sizeof *ev);
    if (data == NULL || len == 0)
        return cx_errf(err, errlen, CX_ERR_INVALID, "message is empty");
    if (len > CX_EVENT_MAX_BYTES)
        return cx_errf(err, errlen, CX_ERR_INVALID,
                       "message is %zu bytes, larger than the %d-byte limit", len,
                       CX_EVENT_MAX_BYTES);
    size_t at = 0, n = 0;
    int scan = prescan(data, len, &at, &n);
    if (scan == SCAN_TOO_DEEP)
        return cx_errf(err, errlen, CX_ERR_INVALID, "JSON nesting deeper than %d levels",
                       CX_EVENT_MAX_DEPTH);
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
    json_error_t jerr;
    ev->root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY,
                         &jerr);
    if (ev->root == NULL) {
        /* jansson may quote the offending bytes: keep the message printable ASCII,
         * since it is logged and stored as text. */
        for (char *c = jerr.text; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                *c = '?';
        return cx_errf(err, errlen, CX_ERR_INVALID, "invalid JSON at line %d, column %d: %s",
                       jerr.line, jerr.column, jerr.text);
    }
    if (!json_is_object(ev->root)) {
        cx_status st = cx_errf(err, errlen, CX_ERR_INVALID,
                               "message must be a JSON object, got %s", type_name(ev->root));
        cx_event_clear(ev);
        return st;
    }
    cx_status st = validate(ev, err, errlen);
    if (st != CX_OK)
        cx_event_clear(ev);
    return st;
}

void cx_event_clear(cx_event *ev)
{
    if (ev == NULL)
        return;
    json_decref(ev->root);
    memset(ev, 0, sizeof *ev);
}
