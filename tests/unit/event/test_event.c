/*
 * test_event.c - the event.v1 parser: every schema rule, every hostile input,
 * and the mapping of a valid event into cx_event.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocated_bytes.h"
#include "event.h"
#include "event_kept.h"

#define VALID_HEAD "{\"event_id\":\"e1\",\"occurred_at\":\"2024-05-01T10:00:00Z\""
#define VALID_HEAD_AT(ts) "{\"event_id\":\"e1\",\"occurred_at\":\"" ts "\",\"text\":\"x\"}"

/* Parses s; asserts rejection with an error containing `expect`. */
static void expect_reject_len(const char *s, size_t len, const char *expect)
{
    cx_event ev;
    char err[512] = "";
    cx_status st = cx_event_parse(&ev, s, len, err, sizeof err);
    cr_assert_eq(st, CX_ERR_INVALID, "accepted: %.80s", s);
    cr_assert(strstr(err, expect) != NULL, "error \"%s\" does not contain \"%s\"", err, expect);
    static const cx_event cleared;
    cr_assert(memcmp(&ev, &cleared, sizeof ev) == 0, "a rejected event must own nothing");
}

static void expect_reject(const char *s, const char *expect)
{
    expect_reject_len(s, strlen(s), expect);
}

static void expect_accept(const char *s, cx_event *ev)
{
    char err[512] = "";
    cx_status st = cx_event_parse(ev, s, strlen(s), err, sizeof err);
    cr_assert_eq(st, CX_OK, "rejected (%s): %.120s", err, s);
}

Test(cx_event, maps_every_field_of_a_full_event)
{
    const char *s = "{\"schema_version\":\"1\",\"event_id\":\"ev-42\","
                    "\"occurred_at\":\"2024-05-01T12:30:15.250+02:00\",\"customer_id\":\"c9\","
                    "\"channel\":\"phone\",\"touchpoint\":\"billing\",\"language\":\"en-GB\","
                    "\"text\":\"charged twice\",\"rating\":{\"scale\":\"csat\",\"value\":2},"
                    "\"attributes\":{\"order_id\":\"o1\",\"qty_ordered\":5},\"extra\":[1,2]}";
    cx_event ev;
    expect_accept(s, &ev);
    cr_assert_str_eq(ev.event_id, "ev-42");
    /* 2024-05-01T10:30:15.25Z = 1714559415.25 s */
    cr_assert_eq(ev.occurred_at_us, 1714559415250000LL);
    cr_assert_str_eq(ev.occurred_at, "2024-05-01T12:30:15.250+02:00");
    cr_assert_str_eq(ev.customer_id, "c9");
    cr_assert_str_eq(ev.channel, "phone");
    cr_assert_str_eq(ev.touchpoint, "billing");
    cr_assert_str_eq(ev.language, "en-GB");
    cr_assert_str_eq(ev.text, "charged twice");
    cr_assert_eq(ev.text_len, 13);
    cr_assert_eq(ev.rating_scale, CX_RATING_CSAT);
    cr_assert_float_eq(ev.rating_value, 2.0, 1e-9);
    cr_assert_not_null(ev.attributes);
    cr_assert_str_eq(json_string_value(json_object_get(ev.attributes, "order_id")), "o1");
    cx_event_clear(&ev);
    cr_assert_null(ev.event_id);
    cr_assert_null(ev.attributes);
    cx_event_clear(&ev); /* idempotent */
}

Test(cx_event, accepts_text_only_and_rating_only)
{
    cx_event ev;
    expect_accept(VALID_HEAD ",\"text\":\"fine\"}", &ev);
    cr_assert_eq(ev.rating_scale, CX_RATING_NONE);
    cr_assert_null(ev.channel);
    cr_assert_null(ev.attributes);
    cx_event_clear(&ev);
    expect_accept(VALID_HEAD ",\"rating\":{\"scale\":\"nps\",\"value\":0}}", &ev);
    cr_assert_null(ev.text);
    cr_assert_eq(ev.rating_scale, CX_RATING_NPS);
    cx_event_clear(&ev);
}

Test(cx_event, accepts_rating_bounds_of_every_scale)
{
    static const char *ok[] = {
        "{\"scale\":\"csat\",\"value\":1}", "{\"scale\":\"csat\",\"value\":5}",
        "{\"scale\":\"nps\",\"value\":10}", "{\"scale\":\"ces\",\"value\":7}",
        "{\"scale\":\"stars\",\"value\":4.5}",
    };
    for (size_t i = 0; i < CX_ARRAY_LEN(ok); i++) {
        char buf[256];
        snprintf(buf, sizeof buf, VALID_HEAD ",\"rating\":%s}", ok[i]);
        cx_event ev;
        expect_accept(buf, &ev);
        cx_event_clear(&ev);
    }
}

Test(cx_event, parses_rfc3339_variants)
{
    static const struct {
        const char *ts;
        long long us;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01t00:00:01z", 1000000},
        {"1970-01-01T01:00:00+01:00", 0},
        {"1969-12-31T23:00:00-01:00", 0},
        {"2000-02-29T00:00:00.5Z", 951782400500000LL},
        /* past the microsecond, rounded as PostgreSQL rounds (rint() of a double:
         * these values are PostgreSQL 15's) */
        {"2024-05-01T10:00:00.5203425Z", 1714557600520343LL},
        {"2024-05-01T10:00:00.50246750Z", 1714557600502467LL},
        {"2024-05-01T10:00:59.99999949999999999999999Z", 1714557660000000LL},
        {"2024-05-01T10:00:00.123456789Z", 1714557600123457LL},
        {"2024-05-01T10:00:59.9999996Z", 1714557660000000LL},
        {"2024-05-01T10:00:00.1234564999Z", 1714557600123456LL},
        {"2024-05-01T10:00:00.1234565Z", 1714557600123456LL},
        {"2024-05-01T10:00:00.0000015Z", 1714557600000002LL},
        {"2024-05-01T10:00:00.12345650001Z", 1714557600123457LL},
        {"0001-01-01T00:00:00Z", -62135596800000000LL},
        {"9999-12-31T23:59:59Z", 253402300799000000LL},
        /* leap seconds, in the last minute of a UTC day, as the next second */
        {"2016-12-31T23:59:60Z", 1483228800000000LL},
        {"2017-01-01T00:59:60.5+01:00", 1483228800500000LL},
    };
    for (size_t i = 0; i < CX_ARRAY_LEN(cases); i++) {
        int64_t us;
        cr_assert_eq(cx_time_parse_rfc3339(cases[i].ts, &us), CX_OK, "%s", cases[i].ts);
        cr_assert_eq(us, cases[i].us, "%s: %lld", cases[i].ts, (long long)us);
    }
}

Test(cx_event, rejects_impossible_or_malformed_timestamps)
{
    static const char *bad[] = {
        "2024-02-30T10:00:00Z",
        "2023-02-29T10:00:00Z",
        "1900-02-29T00:00:00Z",
        "2024-13-01T10:00:00Z",
        "2024-00-10T10:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T10:60:00Z",
        "2024-05-01T10:00:60Z",
        "2024-05-01T10:00:00",
        "2016-12-31T23:59:61Z",
        "2016-12-31T23:59:60+01:00",
        "2024-05-01 10:00:00Z",
        "2024-05-01T10:00:00.Z",
        "2024-05-01T10:00:00+0200",
        "2024-05-01T10:00:00+24:00",
        "2024-05-01T10:00:00+01:60",
        "0000-01-01T00:00:00Z",
        "10000-01-01T00:00:00Z",
        "2024-05-01",
        "yesterday",
        "",
        "2024-05-01T10:00:00Zjunk",
        /* an exponent after the fraction's digits (strtod() would read it) */
        "2024-05-01T12:30:15.6666666666e9111111911111666625Z",
        "2024-05-01T12:30:15.5e400Z",
        "2024-05-01T12:30:15.5E-3Z",
    };
    for (size_t i = 0; i < CX_ARRAY_LEN(bad); i++) {
        int64_t us;
        cr_assert_eq(cx_time_parse_rfc3339(bad[i], &us), CX_ERR_INVALID, "%s", bad[i]);
        char buf[256];
        snprintf(buf, sizeof buf,
                 "{\"event_id\":\"e\",\"occurred_at\":\"%s\",\"text\":\"x\"}", bad[i]);
        expect_reject(buf, "field \"occurred_at\"");
    }
}

Test(cx_event, parses_bare_dates_for_attributes)
{
    int64_t us;
    cr_assert_eq(cx_time_parse_date("2024-05-02", &us), CX_OK);
    cr_assert_eq(us, 1714608000000000LL);
    cr_assert_eq(cx_time_parse_date("2024-05-02T00:00:00Z", &us), CX_OK);
    cr_assert_eq(us, 1714608000000000LL);
    cr_assert_eq(cx_time_parse_date("2024-02-31", &us), CX_ERR_INVALID);
    cr_assert_eq(cx_time_parse_date("02/05/2024", &us), CX_ERR_INVALID);
}

Test(cx_event, days_between_a_bare_date_and_a_date_time_are_calendar_days)
{
    double d;
    int bad;
    cr_assert_eq(cx_time_days_between("2024-05-01", "2024-05-01T09:00:00Z", &d, &bad), CX_OK);
    cr_assert_eq(d, 0, "delivered on the promised day");
    cr_assert_eq(cx_time_days_between("2024-05-01T23:30:00-05:00", "2024-05-03", &d, &bad), CX_OK);
    cr_assert_eq(d, 2, "the date as written in its own offset");
    cr_assert_eq(cx_time_days_between("2024-05-01T00:00:00Z", "2024-05-02T12:00:00Z", &d, &bad),
                 CX_OK);
    cr_assert_eq(d, 1.5, "two date-times: the instants");
    cr_assert_eq(cx_time_days_between("2024-05-01", "05/02/2024", &d, &bad), CX_ERR_INVALID);
    cr_assert_eq(bad, 2);
    cr_assert_eq(cx_time_days_between(NULL, "2024-05-01", &d, &bad), CX_ERR_INVALID);
    cr_assert_eq(bad, 1);
}

/* Schema rules, each with the text the error must contain. */
Test(cx_event, enforces_each_schema_rule_naming_the_field)
{
    static const struct {
        const char *json, *expect;
    } cases[] = {
        {"{\"occurred_at\":\"2024-05-01T10:00:00Z\",\"text\":\"x\"}",
         "missing required field \"event_id\""},
        {"{\"event_id\":\"e\",\"text\":\"x\"}", "missing required field \"occurred_at\""},
        {"{\"event_id\":\"\",\"occurred_at\":\"2024-05-01T10:00:00Z\",\"text\":\"x\"}",
         "field \"event_id\": must not be empty"},
        {"{\"event_id\":7,\"occurred_at\":\"2024-05-01T10:00:00Z\",\"text\":\"x\"}",
         "field \"event_id\": must be a string, got a number"},
        {"{\"event_id\":\"e\",\"occurred_at\":1714557600,\"text\":\"x\"}",
         "field \"occurred_at\": must be a string"},
        {VALID_HEAD "}", "neither \"text\" nor \"rating\""},
        {VALID_HEAD ",\"text\":null}", "field \"text\": must be a string, got null"},
        {VALID_HEAD ",\"text\":\"x\",\"channel\":[]}", "field \"channel\": must be a string"},
        {VALID_HEAD ",\"text\":\"x\",\"touchpoint\":{}}", "field \"touchpoint\""},
        {VALID_HEAD ",\"text\":\"x\",\"language\":true}", "field \"language\""},
        {VALID_HEAD ",\"text\":\"x\",\"customer_id\":1}", "field \"customer_id\""},
        {VALID_HEAD ",\"text\":\"x\",\"schema_version\":\"2\"}",
         "field \"schema_version\": \"2\" is not supported"},
        {VALID_HEAD ",\"text\":\"x\",\"schema_version\":1}", "field \"schema_version\""},
        {VALID_HEAD ",\"rating\":5}", "field \"rating\": must be an object"},
        {VALID_HEAD ",\"rating\":{\"value\":5}}", "missing required field \"rating.scale\""},
        {VALID_HEAD ",\"rating\":{\"scale\":\"csat\"}}", "missing required field \"rating.value\""},
        {VALID_HEAD ",\"rating\":{\"scale\":\"likert\",\"value\":3}}",
         "field \"rating.scale\": \"likert\" is not one of"},
        {VALID_HEAD ",\"rating\":{\"scale\":\"csat\",\"value\":\"5\"}}",
         "field \"rating.value\": must be a number"},
        {VALID_HEAD ",\"rating\":{\"scale\":\"csat\",\"value\":9}}",
         "field \"rating.value\": 9 is out of range 1..5 for scale \"csat\""},
        {VALID_HEAD ",\"rating\":{\"scale\":\"csat\",\"value\":0}}", "out of range 1..5"},
        {VALID_HEAD ",\"rating\":{\"scale\":\"csat\",\"value\":5.0000001}}",
         "field \"rating.value\": 5.0000001 is out of range 1..5"},
        {VALID_HEAD ",\"rating\":{\"scale\":\"nps\",\"value\":11}}", "out of range 0..10"},
        {VALID_HEAD ",\"rating\":{\"scale\":\"nps\",\"value\":-1}}", "out of range 0..10"},
        {VALID_HEAD ",\"rating\":{\"scale\":\"ces\",\"value\":8}}", "out of range 1..7"},
        {VALID_HEAD ",\"rating\":{\"scale\":\"stars\",\"value\":5.5}}", "out of range 1..5"},
        {VALID_HEAD ",\"text\":\"x\",\"attributes\":[1]}",
         "field \"attributes\": must be an object, got an array"},
    };
    for (size_t i = 0; i < CX_ARRAY_LEN(cases); i++)
        expect_reject(cases[i].json, cases[i].expect);
}

/* Builds {"occurred_at":…,"event_id":"e","text":"x","<field>":"<n × ch>"} in a
 * new buffer; when <field> is event_id or text it replaces that member, so that
 * each key appears once. */
static char *with_long_field(const char *field, size_t n, const char *ch)
{
    size_t chlen = strlen(ch);
    size_t cap = n * chlen + 256;
    char *s = malloc(cap);
    int k = snprintf(s, cap, "{\"occurred_at\":\"2024-05-01T10:00:00Z\"%s%s,\"%s\":\"",
                     strcmp(field, "event_id") == 0 ? "" : ",\"event_id\":\"e\"",
                     strcmp(field, "text") == 0 ? "" : ",\"text\":\"x\"", field);
    for (size_t i = 0; i < n; i++, k += (int)chlen)
        memcpy(s + k, ch, chlen);
    memcpy(s + k, "\"}", 3);
    return s;
}

Test(cx_event, enforces_max_lengths_in_characters_not_bytes)
{
    static const struct {
        const char *field;
        size_t max;
    } limits[] = {{"event_id", 128}, {"customer_id", 128}, {"channel", 64},
                  {"touchpoint", 64}, {"language", 35}, {"text", 16384}};
    for (size_t i = 0; i < CX_ARRAY_LEN(limits); i++) {
        /* "é" is 2 bytes, 1 character: max characters pass, one more fails. */
        char *ok = with_long_field(limits[i].field, limits[i].max, "\xc3\xa9");
        cx_event ev;
        expect_accept(ok, &ev);
        if (strcmp(limits[i].field, "text") == 0)
            cr_assert_eq(ev.text_len, 2 * limits[i].max, "text of %zu characters kept as %zu bytes",
                         limits[i].max, ev.text_len);
        if (strcmp(limits[i].field, "event_id") == 0)
            cr_assert_eq(strlen(ev.event_id), 2 * limits[i].max,
                         "event_id of %zu characters kept as %zu bytes", limits[i].max,
                         strlen(ev.event_id));
        cx_event_clear(&ev);
        free(ok);
        char *bad = with_long_field(limits[i].field, limits[i].max + 1, "\xc3\xa9");
        char want[64];
        snprintf(want, sizeof want, "field \"%s\": %zu characters", limits[i].field,
                 limits[i].max + 1);
        expect_reject(bad, want);
        free(bad);
    }
}

Test(cx_event, counts_utf8_characters_at_any_length_and_alignment)
{
    /* characters of 1 to 4 bytes, mixed, from every offset: what a byte-by-byte
     * count of non-continuation bytes gives */
    static const char *const chars[] = {"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x7f"};
    char buf[160];
    unsigned seed = 1;
    for (int round = 0; round < 2000; round++) {
        size_t n = 0, want = 0;
        while (n < 120) {
            seed = seed * 1103515245 + 12345;
            const char *c = chars[(seed >> 16) % CX_ARRAY_LEN(chars)];
            memcpy(buf + n, c, strlen(c));
            n += strlen(c);
            want++;
            if ((seed >> 8) % 7 == 0)
                break;
        }
        size_t from = round % 3 == 0 ? 0 : 1; /* from 1: maybe in a character */
        size_t got = cx_utf8_length(buf + from, n - from);
        size_t count = 0;
        for (size_t i = from; i < n; i++)
            count += ((unsigned char)buf[i] & 0xC0) != 0x80;
        cr_assert_eq(got, count, "round %d", round);
        if (from == 0)
            cr_assert_eq(got, want, "round %d", round);
    }
}

Test(cx_event, measures_terminal_columns)
{
    cr_assert_eq(cx_char_columns('a'), 1);
    cr_assert_eq(cx_char_columns(0xE9), 1);    /* é */
    cr_assert_eq(cx_char_columns(0x0301), 0);  /* combining acute */
    cr_assert_eq(cx_char_columns(0x200D), 0);  /* ZWJ */
    cr_assert_eq(cx_char_columns(0xFE0F), 0);  /* variation selector 16 */
    cr_assert_eq(cx_char_columns(0x1F3FD), 0); /* skin tone */
    cr_assert_eq(cx_char_columns(0x65E5), 2);  /* 日 */
    cr_assert_eq(cx_char_columns(0x30B0), 2);  /* グ */
    cr_assert_eq(cx_char_columns(0xAC00), 2);  /* 가 */
    cr_assert_eq(cx_char_columns(0xFF21), 2);  /* fullwidth A */
    cr_assert_eq(cx_char_columns(0x1F600), 2); /* 😀 */
    cr_assert_eq(cx_char_columns(0x0627), 1);  /* ا */
    cr_assert_eq(cx_char_columns(0x2026), 1);  /* … */
    static const struct {
        const char *s;
        size_t columns;
    } cases[] = {
        {"", 0},
        {"abc", 3},
        {"日本語グループ", 14},
        {"Cafe\xcc\x81", 4},                                 /* e + U+0301 */
        {"\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", 2},             /* 👍🏽 */
        {"\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9", 4}, /* 👨‍👩: each emoji */
        {"\xf0\x9f\x87\xaf\xf0\x9f\x87\xb5", 2},             /* 🇯🇵 */
        {"\xe2\x9d\xa4\xef\xb8\x8f", 1},                     /* ❤️ */
        {"\xff", 1},                                         /* not UTF-8 */
    };
    for (size_t i = 0; i < CX_ARRAY_LEN(cases); i++)
        cr_expect_eq(cx_utf8_columns(cases[i].s, strlen(cases[i].s)), cases[i].columns,
                     "\"%s\": %zu columns", cases[i].s,
                     cx_utf8_columns(cases[i].s, strlen(cases[i].s)));
}

Test(cx_event, fits_text_in_columns_between_character_sequences)
{
    static const struct {
        const char *s;
        size_t columns;
        const char *kept;
        size_t used;
    } cases[] = {
        {"abcdef", 4, "abcd", 4},
        {"abc", 10, "abc", 3},
        {"日本語", 5, "日本", 4},                /* a wide character does not fit in 1 */
        {"Cafe\xcc\x81s", 4, "Cafe\xcc\x81", 4}, /* the e keeps its accent */
        {"Cafe\xcc\x81s", 5, "Cafe\xcc\x81s", 5},
        {"ab\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", 3, "ab", 2}, /* 👍🏽 whole or not at all */
        /* 👨‍👩‍👧: a family is not cut after the man or the woman */
        {"x\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7y", 6, "x", 1},
        {"x\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7y", 7,
         "x\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7", 7},
        /* 🇯🇵🇫🇷: flags whole, each its own */
        {"\xf0\x9f\x87\xaf\xf0\x9f\x87\xb5\xf0\x9f\x87\xab\xf0\x9f\x87\xb7", 3,
         "\xf0\x9f\x87\xaf\xf0\x9f\x87\xb5", 2},
        {"\xf0\x9f\x87\xaf\xf0\x9f\x87\xb5\xf0\x9f\x87\xab\xf0\x9f\x87\xb7", 1, "", 0},
        {"\xe2\x9d\xa4\xef\xb8\x8f!", 1, "\xe2\x9d\xa4\xef\xb8\x8f",
         1}, /* ❤️ with its selector */
    };
    for (size_t i = 0; i < CX_ARRAY_LEN(cases); i++) {
        size_t used = 99, n = cx_utf8_fit(cases[i].s, strlen(cases[i].s), cases[i].columns, &used);
        cr_expect(n == strlen(cases[i].kept) && memcmp(cases[i].s, cases[i].kept, n) == 0,
                  "case %zu: kept \"%.*s\", not \"%s\"", i, (int)n, cases[i].s, cases[i].kept);
        cr_expect_eq(used, cases[i].used, "case %zu: %zu columns", i, used);
    }
}

Test(cx_event, rejects_event_id_and_text_over_their_limits)
{
    char *s = malloc(40000);
    int k = snprintf(s, 40000,
                     "{\"occurred_at\":\"2024-05-01T10:00:00Z\",\"text\":\"x\",\"event_id\":\"");
    memset(s + k, 'a', 129);
    memcpy(s + k + 129, "\"}", 3);
    expect_reject(s, "field \"event_id\": 129 characters, longer than the 128 allowed");
    k = snprintf(s, 40000, "{\"event_id\":\"e\",\"occurred_at\":\"2024-05-01T10:00:00Z\",\"text\":\"");
    memset(s + k, 'a', 16385);
    memcpy(s + k + 16385, "\"}", 3);
    expect_reject(s, "field \"text\": 16385 characters");
    free(s);
}

Test(cx_event, rejects_hostile_input_without_crashing)
{
    static const struct {
        const char *json;
        const char *expect;
    } cases[] = {
        {"", "message is empty"},
        {" \r\n\t ", "message is blank (5 bytes of whitespace)"},
        {"not json", "invalid JSON at line 1"},
        {"{\"event_id\":\"e\",\"occurred_at\":\"2024-05-01T10:00:00Z\",\"text\":\"x\"",
         "invalid JSON"},
        {"[1,2,3]", "message must be a JSON object, got an array"},
        {"\"just a string\"", "must be a JSON object"},
        {"42", "must be a JSON object"},
        {"null", "must be a JSON object"},
        {VALID_HEAD ",\"text\":\"a\\u0000b\"}",
         "\\u0000 is not allowed in a string (a NUL character, which PostgreSQL text cannot "
         "store) near"},
        {VALID_HEAD ",\"text\":\"\\ud800\"}", "invalid JSON"},
        {VALID_HEAD ",\"text\":\"x\",\"big\":1e400}",
         "number 1e400 at byte 72 has more than 40 digits"},
        {VALID_HEAD ",\"text\":\"x\",\"text\":\"y\"}", "duplicate object key"},
        {VALID_HEAD ",\"t\\u0065xt\":\"x\",\"text\":\"y\"}", "duplicate object key"},
        {VALID_HEAD ",\"text\":\"x\",\"q\":1,\"z\":2,\"q\":3}", "duplicate object key"},
        {VALID_HEAD ",\"rating\":{\"scale\":\"csat\",\"value\":1,\"value\":2}}",
         "duplicate object key"},
        {VALID_HEAD ",\"text\":\"x\",\"attributes\":{\"a\":1,\"a\":1}}", "duplicate object key"},
        /* inside what is checked but not kept: a member dropped, a list in attributes */
        {VALID_HEAD ",\"text\":\"x\",\"q\":[{\"b\":1,\"a\":2,\"\\u0062\":3}]}",
         "duplicate object key"},
        {VALID_HEAD ",\"text\":\"x\",\"attributes\":{\"l\":[0,{\"a\":{},\"a\":[]}]}}",
         "duplicate object key"},
        {VALID_HEAD ",\"text\":\"x\",\"q\":{\"a\":[1e400]}}", "more than 40 digits"},
        {VALID_HEAD
         ",\"text\":\"x\",\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,"
         "\"i\":9,\"j\":10,\"k\":11,\"l\":12,\"m\":13,\"n\":14,\"o\":15,\"p\":16,\"q\":17,"
         "\"\\u0061\":18}",
         "duplicate object key"},
        {VALID_HEAD ",\"rating\":{\"scale\":\"csat\",\"value\":1,\"w\":[],\"w\":2}}",
         "duplicate object key"},
        {VALID_HEAD ",\"text\":\"x\",\"attributes\":{\"l\":[\"\\ud800\"]}}", "invalid JSON"},
        {VALID_HEAD ",\"text\":\"x\"} trailing", "invalid JSON"},
        /* not well-formed UTF-8, which PostgreSQL refuses: a raw surrogate, overlong forms */
        {VALID_HEAD ",\"text\":\"a\xed\xa0\x80z\"}", "invalid JSON at line 1"},
        {VALID_HEAD ",\"text\":\"a\xe0\x80\xafz\"}", "invalid JSON at line 1"},
        {VALID_HEAD ",\"text\":\"a\xc0\xafz\"}", "invalid JSON at line 1"},
        /* a bad third byte; a lead byte above F4 (past U+10FFFF) */
        {VALID_HEAD ",\"text\":\"a\xe2\x82\x41z\"}", "invalid JSON at line 1"},
        {VALID_HEAD ",\"text\":\"a\xf0\x90\x41\x80z\"}", "invalid JSON at line 1"},
        {VALID_HEAD ",\"text\":\"a\xf5\x80\x80\x80z\"}", "invalid JSON at line 1"},
        {VALID_HEAD ",\"text\":\"x\",\"attributes\":{\"k\":\"\xed\xbf\xbf\"}}",
         "invalid JSON at line 1"},
        {"\xef\xbb\xbf" VALID_HEAD ",\"text\":\"x\"}",
         "message starts with a UTF-8 byte order mark (bytes EF BB BF)"},
    };
    for (size_t i = 0; i < CX_ARRAY_LEN(cases); i++)
        expect_reject(cases[i].json, cases[i].expect);
}

Test(cx_event, rejects_invalid_utf8_with_a_printable_message)
{
    const char s[] = "{\"event_id\":\"e\",\"occurred_at\":\"2024-05-01T10:00:00Z\","
                     "\"text\":\"caf\xff\xfe\"}";
    cx_event ev;
    char err[512];
    cr_assert_eq(cx_event_parse(&ev, s, sizeof s - 1, err, sizeof err), CX_ERR_INVALID);
    cr_assert(strstr(err, "invalid JSON") != NULL, "%s", err);
    for (const char *c = err; *c; c++)
        cr_assert((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f,
                  "error text must be printable ASCII: %s", err);
}

Test(cx_event, rejects_raw_nul_bytes)
{
    const char s[] = "{\"event_id\":\"e\",\"occurred_at\":\"2024-05-01T10:00:00Z\",\"text\":\"a\0b\"}";
    expect_reject_len(s, sizeof s - 1, "invalid JSON: a NUL byte at byte 63");
    /* outside a string, where jansson saw the end of the text */
    const char t[] = "{\"event_id\":\"e\",\"occurred_at\":\"2024-05-01T10:00:00Z\",\"text\":\"a\"\0}";
    expect_reject_len(t, sizeof t - 1, "invalid JSON: a NUL byte at byte 64");
}

/* JSON wrapped by a producer's serializer or settings is named as such, not
 * as a NUL byte or a byte jansson cannot decode: the producer's owner learns
 * what to change. */
Test(cx_event, names_the_wrapping_of_json_a_producer_sent)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *expect;
    } cases[] = {
        {"\0\0\0\x01\x2a{\"event_id\":\"e\"}", 20,
         "schema registry's wire format (magic byte 0, schema id 298) before its JSON"},
        {"\0\0\0\0\x07\x02\x06"
         "abc",
         10, "wire format (magic byte 0, schema id 7):"},
        {"\x1f\x8b\x08\0\0\0\0\0", 8, "message is gzip data (bytes 1F 8B)"},
        {"{\0\"\0e\0", 6, "UTF-16 text (every other byte is 0)"},
        {"\0{\0\"\0e", 6, "UTF-16 text (every other byte is 0)"},
        {"\xff\xfe{\0}\0", 6, "UTF-16 text (byte order mark FF FE)"},
        {"\xfe\xff\0{\0}", 6, "UTF-16 text (byte order mark FE FF)"},
        /* not a wrapping: a NUL where JSON was meant, zeroed bytes */
        {"{\"a\0", 4, "a NUL byte at byte 4"},
        {"\0\0\0\0\0\0", 6, "a NUL byte at byte 1"},
    };
    for (size_t i = 0; i < CX_ARRAY_LEN(cases); i++)
        expect_reject_len(cases[i].bytes, cases[i].len, cases[i].expect);
}

/* A tombstone (no value at all) says so; an empty value is only empty. */
Test(cx_event, tells_a_tombstone_from_an_empty_message)
{
    expect_reject_len(NULL, 0, "message is empty: it has no value (a tombstone");
    expect_reject_len("", 0, "message is empty");
    cx_event ev;
    char err[512];
    cr_assert_eq(cx_event_parse(&ev, "", 0, err, sizeof err), CX_ERR_INVALID);
    cr_assert_null(strstr(err, "tombstone"), "%s", err);
}

Test(cx_event, bounds_nesting_depth_and_size)
{
    size_t n = 100000;
    char *s = malloc(2 * n + 256);
    size_t k = (size_t)snprintf(s, 256, VALID_HEAD ",\"text\":\"x\",\"deep\":");
    memset(s + k, '[', n);
    memset(s + k + n, ']', n);
    memcpy(s + k + 2 * n, "}", 2);
    char want[64]; /* the object is level 1: the 32nd '[' is too deep */
    snprintf(want, sizeof want, "JSON nesting deeper than 32 levels at byte %zu", k + 32);
    expect_reject(s, want);
    /* brackets inside strings do not count */
    cx_event ev;
    expect_accept(VALID_HEAD ",\"text\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", &ev);
    cx_event_clear(&ev);
    free(s);

    size_t big = CX_EVENT_MAX_BYTES + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    expect_reject_len(huge, big, "larger than the 1048576-byte limit");
    free(huge);
}

Test(cx_event, quotes_long_bad_values_shortened)
{
    char s[512];
    snprintf(s, sizeof s, VALID_HEAD ",\"rating\":{\"scale\":\"%0200d\",\"value\":1}}", 0);
    cx_event ev;
    char err[512];
    cr_assert_eq(cx_event_parse(&ev, s, strlen(s), err, sizeof err), CX_ERR_INVALID);
    cr_assert(strlen(err) < 160, "error too long: %s", err);
    cr_assert(strstr(err, "...") != NULL, "%s", err);
}

/* A dead letter's reason says what type a field had instead of a string. */
Test(cx_event, names_the_type_a_field_has_instead_of_a_string)
{
    static const struct {
        const char *json, *expect;
    } cases[] = {
        {VALID_HEAD ",\"text\":\"x\",\"language\":true}",
         "field \"language\": must be a string, got a boolean"},
        {VALID_HEAD ",\"text\":\"x\",\"language\":false}",
         "field \"language\": must be a string, got a boolean"},
        {VALID_HEAD ",\"text\":\"x\",\"channel\":null}",
         "field \"channel\": must be a string, got null"},
        {VALID_HEAD ",\"text\":\"x\",\"channel\":{}}",
         "field \"channel\": must be a string, got an object"},
        {VALID_HEAD ",\"text\":\"x\",\"touchpoint\":[]}",
         "field \"touchpoint\": must be a string, got an array"},
        {VALID_HEAD ",\"text\":\"x\",\"customer_id\":1.5}",
         "field \"customer_id\": must be a string, got a number"},
    };
    for (size_t i = 0; i < CX_ARRAY_LEN(cases); i++)
        expect_reject(cases[i].json, cases[i].expect);
}

/* The earliest instant stored is valid: an event dated then that is wrong
 * elsewhere is refused for what is wrong, here its channel. */
Test(cx_event, an_event_at_the_earliest_instant_is_judged_on_its_other_fields)
{
    expect_reject("{\"event_id\":\"e\",\"occurred_at\":\"0001-01-01T00:00:00Z\",\"text\":\"x\","
                  "\"channel\":5}",
                  "field \"channel\": must be a string, got a number");
}

/* A rating is its value however it is written: 5 with an exponent of 70
 * zeros (too long for the event reader, read whole) is csat's top, 5. */
Test(cx_event, a_rating_written_with_a_long_exponent_is_its_value)
{
    char s[256];
    snprintf(s, sizeof s, VALID_HEAD ",\"rating\":{\"scale\":\"csat\",\"value\":5e+%070d}}", 0);
    cx_event ev;
    expect_accept(s, &ev);
    cr_assert_eq(ev.rating_scale, CX_RATING_CSAT);
    cr_assert(ev.rating_value == 5, "%g", ev.rating_value);
    cx_event_clear(&ev);
    /* and in attributes, read where it stands (no second reading of the message) */
    snprintf(s, sizeof s, VALID_HEAD ",\"text\":\"ok\",\"attributes\":{\"big\":1e%070d1}}", 0);
    expect_accept(s, &ev);
    cr_assert_eq(json_number_value(json_object_get(ev.attributes, "big")), 10);
    cx_event_clear(&ev);
}

/* Numbers of up to 40 digits in plain decimal form are stored (over 40 are
 * refused, see above), whole or fraction, written plainly or with an exponent. */
Test(cx_event, numbers_of_exactly_40_digits_are_accepted)
{
    static const char *numbers[] = {
        "1234567890123456789012345678901234567890", /* 40 digits */
        "-9999999999999999999999999999999999999999",
        "1e39",                                      /* 1 and 39 zeros */
        "0.123456789012345678901234567890123456789", /* 0 and 39 decimals */
        "1e-39",
    };
    for (size_t i = 0; i < CX_ARRAY_LEN(numbers); i++) {
        char s[256];
        snprintf(s, sizeof s, VALID_HEAD ",\"text\":\"x\",\"attributes\":{\"n\":%s}}", numbers[i]);
        cx_event ev;
        expect_accept(s, &ev);
        cr_assert(json_is_number(json_object_get(ev.attributes, "n")), "%s", numbers[i]);
        cx_event_clear(&ev);
    }
}

/* The size limit is inclusive: a valid event of exactly CX_EVENT_MAX_BYTES
 * (padded with whitespace) is accepted, one byte more is refused. */
Test(cx_event, a_message_of_exactly_the_size_limit_is_accepted)
{
    const char ev_text[] = VALID_HEAD ",\"text\":\"x\"}";
    size_t n = CX_EVENT_MAX_BYTES + 1;
    char *s = malloc(n);
    cr_assert_not_null(s);
    memset(s, ' ', n);
    memcpy(s, ev_text, sizeof ev_text - 1);
    cx_event ev;
    char err[512] = "";
    cr_assert_eq(cx_event_parse(&ev, s, CX_EVENT_MAX_BYTES, err, sizeof err), CX_OK, "%s", err);
    cr_assert_str_eq(ev.text, "x");
    cx_event_clear(&ev);
    expect_reject_len(s, n, "message is 1048577 bytes, larger than the 1048576-byte limit");
    free(s);
}

/* A bad value of up to 40 bytes is quoted whole in the reason; a longer one
 * is cut there and marked "...". */
Test(cx_event, quotes_a_bad_value_of_40_bytes_whole)
{
    char s[256], want[128];
    const char *forty = "abcdefghijabcdefghijabcdefghijabcdefghij";
    snprintf(s, sizeof s, VALID_HEAD ",\"rating\":{\"scale\":\"%s\",\"value\":1}}", forty);
    snprintf(want, sizeof want, "field \"rating.scale\": \"%s\" is not one of", forty);
    expect_reject(s, want);
    snprintf(s, sizeof s, VALID_HEAD ",\"rating\":{\"scale\":\"%sk\",\"value\":1}}", forty);
    snprintf(want, sizeof want, "field \"rating.scale\": \"%s...\" is not one of", forty);
    expect_reject(s, want);
}

Test(cx_event, names_rating_scales)
{
    cr_assert_str_eq(cx_rating_scale_name(CX_RATING_CSAT), "csat");
    cr_assert_str_eq(cx_rating_scale_name(CX_RATING_CES), "ces");
    cr_assert_null(cx_rating_scale_name(CX_RATING_NONE));
}

Test(cx_event, accepts_only_instants_postgresql_can_store_in_utc)
{
    /* Four-digit years in UTC: an offset must not carry an instant to year 0 or 10000. */
    expect_reject(VALID_HEAD_AT("0001-01-01T00:00:00+23:59"),
                  "outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999Z in UTC");
    expect_reject(VALID_HEAD_AT("9999-12-31T23:59:59-23:59"), "in UTC");
    cx_event ev;
    expect_accept(VALID_HEAD_AT("0001-01-01T23:59:00+23:59"), &ev);
    cx_event_clear(&ev);
    expect_accept(VALID_HEAD_AT("9999-12-31T23:59:59.999999Z"), &ev);
    cx_event_clear(&ev);
    expect_accept(VALID_HEAD_AT("0001-01-01T00:00:00Z"), &ev);
    cx_event_clear(&ev);
    /* RFC 3339 sets no bound on the fraction's digits: past microseconds they round */
    expect_accept(VALID_HEAD_AT("2024-05-01T10:00:00.12345678901234567890123456789012345678901234"
                                "56789012345678901234567890Z"),
                  &ev);
    cr_assert_eq(ev.occurred_at_us, 1714557600123457LL);
    cx_event_clear(&ev);
    /* and may carry the last instant there is past it */
    expect_reject(VALID_HEAD_AT("9999-12-31T23:59:59.9999995Z"), "in UTC");
    int64_t us;
    cr_assert_eq(cx_time_parse_rfc3339("0001-01-01T00:00:00+00:01", &us), CX_ERR_INVALID);
    cr_assert_eq(cx_time_parse_rfc3339("9999-12-31T23:59:59-00:01", &us), CX_ERR_INVALID);
}

Test(cx_event, rejects_numbers_whose_decimal_form_would_expand)
{
    /* PostgreSQL prints jsonb numbers in plain decimal: 1e-16000 is 16,002 characters. */
    expect_reject("{\"event_id\":\"e1\",\"occurred_at\":\"2024-05-01T10:00:00Z\",\"text\":\"x\","
                  "\"attributes\":{\"w\":1e-16000}}",
                  "number 1e-16000 at byte 84 has more than 40 digits in decimal form");
    expect_reject("{\"event_id\":\"e1\",\"occurred_at\":\"2024-05-01T10:00:00Z\",\"text\":\"x\","
                  "\"x\":[1, 2, -3.5E+300]}",
                  "number -3.5E+300");
    expect_reject("{\"event_id\":\"e1\",\"occurred_at\":\"2024-05-01T10:00:00Z\",\"text\":\"x\","
                  "\"x\":12345678901234567890123456789012345678901}",
                  "more than 40 digits");
    expect_reject("{\"event_id\":\"e1\",\"occurred_at\":\"2024-05-01T10:00:00Z\","
                  "\"rating\":{\"scale\":\"csat\",\"value\":4e-99999999999999999999}}",
                  "number 4e-99999999999999999999");
    /* Ordinary numbers, and numbers inside strings, are fine. */
    cx_event ev;
    expect_accept("{\"event_id\":\"e1\",\"occurred_at\":\"2024-05-01T10:00:00Z\",\"text\":\"1e-16000\","
                  "\"attributes\":{\"a\":1.2345e-07,\"b\":-0.5,\"c\":1e20,\"d\":9007199254740993,"
                  "\"e\":0.1234567890123456789012345678901234567,\"f\":[0,1E+3,2.50e1]}}",
                  &ev);
    cx_event_clear(&ev);
}

/* Asserts that ev holds what json_loadb() reads from s with the parser's
 * flags: every string member (NULL when absent), the rating, and the
 * attributes object (as compact text in key order, as the event keeps it). */
static void expect_as_loadb(const char *s, const cx_event *ev)
{
    json_t *j = json_loadb(s, strlen(s),
                           JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY, NULL);
    cr_assert_not_null(j, "json_loadb refused %s", s);
    const struct {
        const char *name, *got;
    } strs[] = {{"event_id", ev->event_id}, {"occurred_at", ev->occurred_at},
                {"customer_id", ev->customer_id}, {"channel", ev->channel},
                {"touchpoint", ev->touchpoint}, {"language", ev->language}, {"text", ev->text}};
    for (size_t i = 0; i < CX_ARRAY_LEN(strs); i++) {
        const json_t *v = json_object_get(j, strs[i].name);
        if (v == NULL) {
            cr_assert_null(strs[i].got, "%s of %s", strs[i].name, s);
            continue;
        }
        cr_assert_not_null(strs[i].got, "%s of %s", strs[i].name, s);
        cr_assert_str_eq(strs[i].got, json_string_value(v), "%s of %s", strs[i].name, s);
    }
    const json_t *text = json_object_get(j, "text");
    cr_assert_eq(ev->text_len, text != NULL ? json_string_length(text) : 0, "%s", s);
    const json_t *rating = json_object_get(j, "rating");
    if (rating == NULL) {
        cr_assert_eq(ev->rating_scale, CX_RATING_NONE, "%s", s);
    } else {
        cr_assert_str_eq(cx_rating_scale_name(ev->rating_scale),
                         json_string_value(json_object_get(rating, "scale")), "%s", s);
        cr_assert(ev->rating_value == json_number_value(json_object_get(rating, "value")), "%s", s);
    }
    const json_t *attributes = json_object_get(j, "attributes");
    if (attributes == NULL) {
        cr_assert_null(ev->attributes, "%s", s);
    } else {
        const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17);
        cr_assert_not_null(ev->attributes, "%s", s);
        json_t *kept = cx_test_kept_attributes(attributes);
        char *want = json_dumps(kept, flags), *got = json_dumps(ev->attributes, flags);
        json_decref(kept);
        cr_assert_str_eq(got, want, "%s", s);
        free(got);
        free(want);
    }
    json_decref(j);
}

Test(cx_event, reads_what_json_loadb_reads)
{
    /* What the classifier and ticket rules read from an event is the message as
     * JSON reads it: escapes, non-ASCII text, numbers, key order, nesting; the
     * same whether the message is read straight into the event (all but the
     * last) or as a whole document first (the last: a number written in a form
     * the fast reader leaves to jansson), each string member copied out of
     * the document before it goes. */
    static const char *const docs[] = {
        VALID_HEAD ",\"text\":\"plain\"}",
        " \t\r\n" VALID_HEAD " , \"text\" : \"spaced\" , \"rating\" : { \"scale\" : \"nps\" , "
        "\"value\" : 9 } } \n",
        VALID_HEAD ",\"text\":\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t end\"}",
        VALID_HEAD ",\"text\":\"caf\\u00e9 \\u20ac \\ud83d\\ude00 \\uFFFF \\u0001\"}",
        VALID_HEAD ",\"text\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf\"}",
        VALID_HEAD ",\"text\":\"x\",\"attributes\":{\"k\\u00e9y\":1,\"a\\nb\":\"\\u0041\"}}",
        VALID_HEAD ",\"text\":\"x\",\"attributes\":{\"n\":[0,-0,1,-1,0.5,-2.25e-3,1E+2,1e2,"
                   "123456789012345678901234567890,0.000001,9007199254740993]}}",
        VALID_HEAD ",\"text\":\"x\",\"attributes\":{\"t\":true,\"f\":false,\"z\":null,\"e\":{},"
                   "\"a\":[],\"d\":[[[{\"x\":[1,{\"y\":\"z\"}]}]]],\"s\":\"\"}}",
        VALID_HEAD ",\"rating\":{\"scale\":\"ces\",\"value\":7.0},\"z\":1,\"a\":2,\"m\":3}",
        VALID_HEAD ",\"rating\":{\"value\":-0,\"scale\":\"nps\"},\"attributes\":{\"i\":-0,"
                   "\"j\":999999999999999,\"k\":9999999999999999,\"l\":-123,\"m\":12e0}}",
        VALID_HEAD ",\"rating\":{\"scale\":\"stars\",\"value\":4.5,\"note\":\"x\"}}",
        VALID_HEAD ",\"t\\u0065xt\":\"escaped name\",\"ch\\u0061nnel\":\"web\"}",
        "{\"text\":\"members in another order\",\"language\":\"fr\",\"touchpoint\":\"app\","
        "\"channel\":\"\\u00e9\",\"customer_id\":\"\",\"occurred_at\":\"2024-05-01T10:00:00Z\","
        "\"event_id\":\"e\\\"1\",\"schema_version\":\"1\"}",
        VALID_HEAD ",\"text\":\"x\",\"o1\":{\"a\":[1,\"b\",null]},\"o2\":true,\"o3\":false,"
                   "\"o4\":null,\"o5\":-1.5e-7,\"o6\":\"s\",\"o7\":[],\"o8\":{},\"o9\":0,\"o10\":1,"
                   "\"o11\":2,\"o12\":3,\"o13\":4,\"o14\":5,\"o15\":6,\"o16\":7}",
        VALID_HEAD
        ",\"text\":\"x\",\"o1\":1,\"o2\":2,\"o3\":3,\"o4\":4,\"o5\":5,\"o6\":6,"
        "\"o7\":7,\"o8\":8,\"o9\":9,\"o10\":10,\"o11\":11,\"o12\":12,\"o13\":13,\"o14\":14,"
        "\"o15\":15,\"o16\":16,\"o17\":17,\"attributes\":{\"after\":\"many\"}}",
        VALID_HEAD ",\"text\":\"x\",\"other\":{\"a\":1,\"b\":{\"a\":2}}}",
        VALID_HEAD ",\"schema_version\":\"1\",\"customer_id\":\"c\\u00e9\",\"channel\":\"web\","
                   "\"touchpoint\":\"app\",\"language\":\"en\",\"text\":\"read whole\","
                   "\"attributes\":{\"k\":\"v\"},\"rating\":{\"scale\":\"csat\",\"value\":5e+"
                   "00000000000000000000000000000000000"
                   "00000000000000000000000000000000000"
                   "}}",
    };
    for (size_t i = 0; i < CX_ARRAY_LEN(docs); i++) {
        cx_event ev;
        expect_accept(docs[i], &ev);
        expect_as_loadb(docs[i], &ev);
        cx_event_clear(&ev);
    }
}

Test(cx_event, reads_an_escape_or_a_special_byte_anywhere_in_a_string)
{
    /* at every position of texts up to 24 bytes: what is read is what
     * json_loadb() reads, and what it refuses is refused */
    static const char *const ok[] = {"\\\"", "\\\\", "\\n", "\\u00e9", "\xc3\xa9",
                                     "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x7f", "~", " "};
    static const char *const bad[] = {"\x01", "\x1f", "\t", "\xff", "\xc3", "\x80", "\\x"};
    char msg[128];
    for (size_t n = 1; n <= 24; n++)
        for (size_t at = 0; at < n; at++) {
            for (size_t k = 0; k < CX_ARRAY_LEN(ok) + CX_ARRAY_LEN(bad); k++) {
                const char *special = k < CX_ARRAY_LEN(ok) ? ok[k] : bad[k - CX_ARRAY_LEN(ok)];
                int len = snprintf(msg, sizeof msg, VALID_HEAD ",\"text\":\"%.*s%s%.*s\"}",
                                   (int)at, "bbbbbbbbbbbbbbbbbbbbbbbbb", special,
                                   (int)(n - at - 1), "ccccccccccccccccccccccccc");
                if (k >= CX_ARRAY_LEN(ok)) {
                    expect_reject_len(msg, (size_t)len, "");
                    continue;
                }
                cx_event ev;
                expect_accept(msg, &ev);
                expect_as_loadb(msg, &ev);
                cx_event_clear(&ev);
            }
        }
}

static void *clear_all(void *arg)
{
    cx_event *evs = arg;
    for (size_t i = 0; i < 500; i++)
        cx_event_clear(&evs[i]);
    return NULL;
}

Test(cx_event, parsed_events_stay_intact_until_each_is_cleared)
{
    /* A batch holds its events while later ones are parsed, releases them in any
     * order, and may release them on another thread. */
    enum { N = 3000 };
    cx_event *evs = calloc(N, sizeof *evs);
    char s[256], id[32], err[256];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            if (evs[i].event_id != NULL && i % 97 == round)
                continue; /* a few stay from the round before, the others are parsed again */
            cx_event_clear(&evs[i]);
            snprintf(s, sizeof s, "{\"event_id\":\"ev-%d\",\"occurred_at\":\"2024-05-01T10:00:00Z\","
                     "\"text\":\"text %d\"}", i, i);
            cr_assert_eq(cx_event_parse(&evs[i], s, strlen(s), err, sizeof err), CX_OK, "%s", err);
        }
        for (int i = 0; i < N; i++) {
            snprintf(id, sizeof id, "ev-%d", i);
            cr_assert_str_eq(evs[i].event_id, id);
            snprintf(id, sizeof id, "text %d", i);
            cr_assert_str_eq(evs[i].text, id);
        }
    }
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, clear_all, evs), 0);
    pthread_join(t, NULL);
    for (int i = 500; i < N; i++) {
        snprintf(id, sizeof id, "ev-%d", i);
        cr_assert_str_eq(evs[i].event_id, id);
        cx_event_clear(&evs[i]);
    }
    free(evs);
}

/* A message of valid JSON whose values take far more memory than its text as
 * jansson values (a list of 300,000 empty objects: about 80 times) is stored
 * like any other: the event keeps only what it reads, and the lists and
 * objects it only checks take no memory of their own. Held together, eight
 * of them cost a few times their size, not 600 MB. */
Test(cx_event, values_only_checked_take_no_memory_however_many)
{
    enum { N = 8, ITEMS = 300 * 1000 };
    size_t cap = 3 * ITEMS + 300;
    char *msg = malloc(cap), err[256];
    cr_assert_not_null(msg);
    cx_event *evs = calloc(N, sizeof *evs);
    size_t before = cx_test_allocated_bytes();
    for (int i = 0; i < N; i++) {
        /* a dropped member, and a list inside attributes */
        size_t off = (size_t)sprintf(msg, VALID_HEAD ",\"text\":\"ok\",\"%s\":[",
                                     i % 2 ? "junk\":1,\"attributes\":{\"lines" : "junk");
        for (int k = 0; k < ITEMS; k++)
            off += (size_t)sprintf(msg + off, k ? ",{}" : "{}");
        off += (size_t)sprintf(msg + off, i % 2 ? "]}}" : "]}");
        cr_assert_eq(cx_event_parse(&evs[i], msg, off, err, sizeof err), CX_OK, "%s", err);
    }
    size_t held = cx_test_allocated_bytes() - before;
    cr_assert_lt(held, 4 * N * cap, "%zu bytes held for %d messages of %zu bytes", held, N, cap);
    char *kept = json_dumps(evs[1].attributes, JSON_COMPACT);
    cr_assert_str_eq(kept, "{\"lines\":[null]}"); /* a list that was not empty */
    free(kept);
    for (int i = 0; i < N; i++)
        cx_event_clear(&evs[i]);
    free(evs);
    free(msg);
}

/* Many members the event does not use, and a rating with members of its own,
 * are read like any other message: their values cost nothing to check. */
Test(cx_event, many_unused_members_and_a_rating_with_more_cost_nothing_either)
{
    enum { ITEMS = 300 * 1000 };
    char *msg = malloc(3 * ITEMS + 2000), err[256];
    cr_assert_not_null(msg);
    size_t off =
        (size_t)sprintf(msg, VALID_HEAD ",\"text\":\"ok\","
                                        "\"rating\":{\"scale\":\"csat\",\"value\":2,\"why\":[{}]}");
    for (int k = 0; k < 40; k++)
        off += (size_t)sprintf(msg + off, ",\"m%d\":{\"a\":[1,2]}", k);
    off += (size_t)sprintf(msg + off, ",\"junk\":[");
    for (int k = 0; k < ITEMS; k++)
        off += (size_t)sprintf(msg + off, k ? ",{}" : "{}");
    off += (size_t)sprintf(msg + off, "]}");
    cx_event ev;
    size_t before = cx_test_allocated_bytes();
    cr_assert_eq(cx_event_parse(&ev, msg, off, err, sizeof err), CX_OK, "%s", err);
    size_t held = cx_test_allocated_bytes() - before;
    cr_assert_lt(held, 4 * off, "%zu bytes held for a message of %zu", held, off);
    cr_assert_eq(ev.rating_scale, CX_RATING_CSAT);
    cr_assert(ev.rating_value == 2);
    cx_event_clear(&ev);
    free(msg);
}

/* The full path reads a message whole: one the event reader passes on (here
 * one refused anyway, its channel a number). One whose values would take
 * more than CX_EVENT_MAX_PARSE_BYTES to hold is refused, saying why, before
 * it takes the memory. */
Test(cx_event, a_message_whose_values_would_take_too_much_memory_is_refused)
{
    enum { ITEMS = 340 * 1000 };
    char *msg = malloc(3 * ITEMS + 500);
    cr_assert_not_null(msg);
    size_t off = (size_t)sprintf(msg, VALID_HEAD ",\"text\":\"ok\",\"channel\":5");
    off += (size_t)sprintf(msg + off, ",\"junk\":[");
    for (int k = 0; k < ITEMS; k++)
        off += (size_t)sprintf(msg + off, k ? ",{}" : "{}");
    off += (size_t)sprintf(msg + off, "]}");
    expect_reject_len(msg, off,
                      "holding the message's JSON values to check them would take more than "
                      "32 MiB");
    free(msg);
}

Test(cx_event, a_run_of_large_messages_keeps_no_more_than_one_of_them)
{
    /* A stream of messages each over the arena's chunk size (a 600 KB
     * attribute), each parsed and cleared before the next: what the parser
     * keeps must not grow with their number. */
    enum { BIG = 600 * 1000, N = 100 };
    char *msg = malloc(BIG + 200), err[256];
    cr_assert_not_null(msg);
    int off = sprintf(msg, VALID_HEAD ",\"text\":\"ok\",\"attributes\":{\"blob\":\"");
    memset(msg + off, 'a', BIG);
    off += BIG;
    off += sprintf(msg + off, "\"}}");
    size_t after_first = 0;
    for (int i = 0; i < N; i++) {
        cx_event ev;
        cr_assert_eq(cx_event_parse(&ev, msg, (size_t)off, err, sizeof err), CX_OK, "%s", err);
        cx_event_clear(&ev);
        if (i == 1)
            after_first = cx_test_allocated_bytes();
    }
    size_t grown = cx_test_allocated_bytes() - after_first;
    cr_assert_lt(grown, 2 * (size_t)BIG, "%zu bytes more held after %d messages of %d bytes", grown,
                 N - 2, BIG);
    free(msg);
}

/* Many small attributes take many times their JSON once parsed. An event
 * kept after it is classified (a batch's records) lets go of them: held
 * together, such events take about their messages' bytes (and the parser
 * keeps a few MiB for the next ones), their other members as they were. */
Test(cx_event, events_without_their_attributes_hold_about_their_messages)
{
    enum { N = 24, ATTRS = 20 * 1000 };
    size_t cap = 16 * ATTRS + 300, total = 0, first = 0;
    char *msg = malloc(cap), err[256];
    cr_assert_not_null(msg);
    cx_event *evs = calloc(N, sizeof *evs);
    size_t before = cx_test_allocated_bytes();
    for (int i = 0; i < N; i++) {
        size_t off = (size_t)sprintf(msg,
                                     VALID_HEAD ",\"channel\":\"chat\",\"text\":\"late %d\","
                                                "\"attributes\":{",
                                     i);
        for (int k = 0; k < ATTRS; k++)
            off += (size_t)sprintf(msg + off, "%s\"x%d\":%d", k ? "," : "", k, k);
        off += (size_t)sprintf(msg + off, "}}");
        total += off;
        cr_assert_eq(cx_event_parse(&evs[i], msg, off, err, sizeof err), CX_OK, "%s", err);
        cr_assert_eq(json_object_size(evs[i].attributes), ATTRS);
        if (i == 0)
            first = cx_test_allocated_bytes() - before;
        cx_event_drop_attributes(&evs[i]);
    }
    size_t held = cx_test_allocated_bytes() - before;
    cr_assert_gt(first, 4 * total / N, "the first took %zu bytes parsed", first);
    cr_assert_lt(held, 2 * total, "%zu bytes held for %d messages of %zu bytes", held, N, total);
    for (int i = 0; i < N; i++) {
        char text[32];
        snprintf(text, sizeof text, "late %d", i);
        cr_assert_null(evs[i].attributes);
        cr_assert_str_eq(evs[i].event_id, "e1");
        cr_assert_str_eq(evs[i].occurred_at, "2024-05-01T10:00:00Z");
        cr_assert_str_eq(evs[i].channel, "chat");
        cr_assert_str_eq(evs[i].text, text);
        cr_assert_eq(evs[i].text_len, strlen(text));
        cr_assert_null(evs[i].customer_id);
        cx_event_clear(&evs[i]);
    }
    free(evs);
    free(msg);
}
/* An ordinary event loses only its attributes: nothing is copied. */
Test(cx_event, an_ordinary_event_without_its_attributes_is_otherwise_as_it_was)
{
    static const char msg[] = VALID_HEAD ",\"text\":\"hi\",\"attributes\":{\"order_id\":\"o1\"}}";
    cx_event ev;
    char err[256];
    cr_assert_eq(cx_event_parse(&ev, msg, strlen(msg), err, sizeof err), CX_OK, "%s", err);
    const char *id = ev.event_id, *text = ev.text;
    cx_event_drop_attributes(&ev);
    cr_assert_null(ev.attributes);
    cr_assert_eq(ev.event_id, id);
    cr_assert_eq(ev.text, text);
    cr_assert_str_eq(ev.text, "hi");
    cx_event_clear(&ev);
}
