/*
 * event.h - the customer-contact event (event.v1) as a plain struct, and the
 * parser that turns one Kafka message value into it.
 *
 * Pure: no Kafka, no PostgreSQL. The parser enforces the input contract
 * (docs/event.v1.schema.json) plus everything PostgreSQL would later
 * reject (NUL bytes, invalid UTF-8, instants outside 0001..9999 in UTC), and
 * numbers whose decimal form expands (CX_EVENT_MAX_NUMBER_DIGITS), so an event
 * that parses can always be stored and read back.
 */
#ifndef CX_EVENT_H
#define CX_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cx.h"

typedef enum cx_rating_scale {
    CX_RATING_NONE = 0, /* no rating in the event */
    CX_RATING_CSAT,     /* 1..5, higher is better */
    CX_RATING_NPS,      /* 0..10, higher is better */
    CX_RATING_CES,      /* 1..7, higher is MORE effort (worse) */
    CX_RATING_STARS     /* 1..5, higher is better */
} cx_rating_scale;

/* Largest accepted message value; larger ones are rejected before parsing. */
#define CX_EVENT_MAX_BYTES (1024 * 1024)
/* Longest channel or touchpoint, in characters. */
#define CX_EVENT_MAX_SCOPE_CHARS 64
/* Deepest accepted JSON nesting (objects and arrays). */
#define CX_EVENT_MAX_DEPTH 32
/* Most digits a number may have in plain decimal form (PostgreSQL prints jsonb
 * numbers that way: 1e-16000 would take 16,001 digits). */
#define CX_EVENT_MAX_NUMBER_DIGITS 40
/* Most memory the parser takes to check one message's JSON values, whatever
 * the event keeps of them: jansson's values can take 80 times their JSON (a
 * list of empty objects), and a message that would need more is rejected. */
#define CX_EVENT_MAX_PARSE_BYTES (32 * 1024 * 1024)

/*
 * One parsed event. Every string and `attributes` point into memory the event
 * owns, so they live exactly as long as the event; absent optional strings are
 * NULL. That memory comes from an arena of the parsing thread (see event.c),
 * not one malloc per value: take nothing out of `attributes` with json_incref()
 * that is to outlive cx_event_clear(), and never json_decref() it yourself.
 * Members of the message other than these are checked but not kept (the
 * message itself is what is stored), and so are the insides of the objects
 * and lists in `attributes`: each such value is kept empty, or holding one
 * null member ("") or element when it was not. (Only when the parsing thread's
 * arena cannot be made, out of memory, is the document kept whole.)
 */
typedef struct cx_event {
    const char *event_id;
    int64_t occurred_at_us;     /* microseconds since the Unix epoch, UTC */
    const char *occurred_at;    /* the timestamp as written in the event */
    const char *customer_id;
    const char *channel;
    const char *touchpoint;
    const char *language;
    const char *text;           /* free text, NULL when absent */
    size_t text_len;
    cx_rating_scale rating_scale;
    double rating_value;        /* meaningful when rating_scale != CX_RATING_NONE */
    const json_t *attributes;   /* borrowed JSON object, NULL when absent */
    struct {                    /* private: where the parser got the memory */
        json_t *doc;            /* a whole document read outside an arena, or NULL */
        struct cx__event_arena *arena;
        struct cx__event_chunk *first, *big;
        size_t n;
        size_t bytes;  /* what the event took of the arena */
        char *strings; /* its strings' copies once its attributes are dropped, or NULL */
    } mem_;
} cx_event;

/*
 * Installs the parser's allocator in jansson, which jansson allows only before
 * other threads use it: a program with threads calls it at its start, before
 * any. The first parse does it otherwise (once). Idempotent.
 */
void cx_event_global_init(void);

/*
 * Parses and validates one message value (data[len], need not be
 * NUL-terminated) into *ev. On success returns CX_OK and *ev owns what its
 * members point to (the parsing thread's arena, above), which cx_event_clear()
 * releases (on any thread). Threads may parse at once, each into its own
 * events. On failure returns CX_ERR_INVALID, leaves
 * *ev cleared, and writes a reason naming the field, e.g.
 *   field "rating.value": 9 is out of range 1..5 for scale "csat"
 * Never crashes, hangs or allocates without bound on any input. Out of
 * memory it ends the process (abort) rather than call a message bad.
 */
cx_status cx_event_parse(cx_event *ev, const void *data, size_t len, char *err, size_t errlen);

/*
 * Lets go of ev's attributes, for an event kept after it is classified (a
 * batch's records): attributes becomes NULL, and every other member stays
 * valid and as it was. When the attributes took most of the event's memory,
 * it is given back: many small attributes take up to 15 times their JSON
 * once parsed, so a batch of such events would hold that many times its
 * bytes. (The other members are then copied; out of memory, nothing is.)
 */
void cx_event_drop_attributes(cx_event *ev);

/* Releases what cx_event_parse() acquired and zeroes *ev; NULL-safe, idempotent. */
void cx_event_clear(cx_event *ev);

/* Returns "csat", "nps", "ces", "stars", or NULL for CX_RATING_NONE. */
const char *cx_rating_scale_name(cx_rating_scale scale);

/* The values a rating on the scale may take, min..max (0..0 for CX_RATING_NONE). */
void cx_rating_scale_range(cx_rating_scale scale, double *min, double *max);

/* Number of Unicode code points in s[bytes], valid UTF-8 (as a parsed string is). */
size_t cx_utf8_length(const char *s, size_t bytes);

/* The columns a terminal gives code point c, as wcwidth() does in a UTF-8
 * locale, from a small table: 0 for combining marks (U+0300-U+036F and the
 * like), zero-width spaces and joiners (U+200B-U+200F), variation selectors
 * and emoji skin-tone modifiers; 2 for East Asian Wide and Fullwidth
 * characters (CJK, kana, Hangul, fullwidth forms) and emoji; 1 otherwise. */
int cx_char_columns(uint32_t c);

/* The terminal columns of s[bytes], valid UTF-8: the sum of its characters'
 * (a ZWJ sequence such as a family emoji counts each of its emoji, as
 * terminals that do not join them draw it). A byte that starts no character
 * counts 1. */
size_t cx_utf8_columns(const char *s, size_t bytes);

/* The length of the longest start of s[bytes] (valid UTF-8) that fits in
 * `columns` terminal columns and ends where a character sequence does: never
 * inside a character, nor before a combining mark, a variation selector, a
 * skin-tone modifier or a zero-width joiner and what it joins, nor between
 * the two letters of a flag. Its columns in *used (when not NULL). */
size_t cx_utf8_fit(const char *s, size_t bytes, size_t columns, size_t *used);

/*
 * Parses an RFC 3339 date-time ("2024-05-01T10:00:00Z", "…T10:00:00.123+02:00")
 * into microseconds since the epoch, UTC. Returns CX_ERR_INVALID for anything
 * else, including impossible dates and instants outside 0001-01-01T00:00:00Z..
 * 9999-12-31T23:59:59.999999Z (four-digit years in UTC, as they are stored).
 */
cx_status cx_time_parse_rfc3339(const char *s, int64_t *out_us);

/*
 * Like cx_time_parse_rfc3339(), but also accepts a bare RFC 3339 full-date
 * ("2024-05-01", read as midnight UTC), as attributes such as promised_date use.
 */
cx_status cx_time_parse_date(const char *s, int64_t *out_us);

/*
 * Days from `from` to `to`, each read as cx_time_parse_date() reads it. When
 * either is a bare full-date the two are compared by calendar day, a
 * date-time by its date as written (in its own offset), so that delivered
 * "2024-05-01T09:00:00Z" is on promised "2024-05-01", not 9 hours after it:
 * a whole number. Otherwise the instants' difference, in fractional days.
 * CX_ERR_INVALID when one cannot be read: *bad is 1 for from, 2 for to.
 */
cx_status cx_time_days_between(const char *from, const char *to, double *days, int *bad);

#endif /* CX_EVENT_H */
