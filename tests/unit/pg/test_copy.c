/*
 * test_copy.c - the COPY text-format data the PostgreSQL sink builds: fields
 * escaped as COPY FROM reads them (backslash, tab, newline, CR), NULL as \N,
 * integers, timestamptz at the 0001 and 9999 edges with microseconds, text[]
 * and bytea literals, and an event's tags (text[], real[] with six decimals,
 * jsonb evidence). Expected bytes are written out from the format, or come
 * from the C library (gmtime, printf's "%.6f"), never from the code tested.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg_int.h"

static cx_buf buf;

static void reset(void)
{
    cx_buf_free(&buf);
}

TestSuite(copy, .init = reset, .fini = reset);

/* The buffer's contents, as a NUL-terminated string (the buffer is kept). */
static const char *text(void)
{
    cx_buf_put(&buf, "", 1);
    cr_assert(!buf.failed);
    buf.len--;
    return buf.data;
}

static void is(const char *want)
{
    cr_assert_eq(buf.len, strlen(want), "%zu bytes, want %zu: [%s] vs [%s]", buf.len,
                 strlen(want), text(), want);
    cr_assert_str_eq(text(), want);
    buf.len = 0;
}

Test(copy, text_escapes_backslash_tab_newline_and_cr_only)
{
    const char s[] = "a\tb\nc\rd\\e\"f'g\x01h\x7fi";
    cx__buf_copy_text(&buf, s, sizeof s - 1);
    is("a\\tb\\nc\\rd\\\\e\"f'g\x01h\x7fi");
    cx__buf_copy_text(&buf, "\t\t\\\n", 4);
    is("\\t\\t\\\\\\n");
}

Test(copy, an_escape_anywhere_in_a_text_and_its_neighbours_left_alone)
{
    /* every length up to 40, each byte position: the four bytes to escape, and
     * bytes next to them in value (or with the high bit set) that stay as they are */
    const char special[] = {'\\', '\t', '\n', '\r'};
    const char *escaped[] = {"\\\\", "\\t", "\\n", "\\r"};
    const char plain[] = {'\x5b', '\x5d', '\x08', '\x0b', '\x0c', '\x0e', '\xdc', '\x89', '\x8a',
                          '\x8d', '\x01', '\xff', ' '};
    char s[48], want[96];
    for (size_t n = 1; n <= 40; n++)
        for (size_t at = 0; at < n; at++) {
            for (size_t k = 0; k < sizeof special + sizeof plain; k++) {
                memset(s, 'a', n);
                s[at] = k < sizeof special ? special[k] : plain[k - sizeof special];
                size_t w = 0;
                for (size_t i = 0; i < n; i++)
                    if (i == at && k < sizeof special)
                        w += (size_t)sprintf(want + w, "%s", escaped[k]);
                    else
                        want[w++] = s[i];
                want[w] = '\0';
                cx__buf_copy_text(&buf, s, n);
                is(want);
            }
        }
}

Test(copy, non_ascii_bytes_pass_as_they_are)
{
    const char s[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac";
    cx__buf_copy_text(&buf, s, sizeof s - 1);
    is(s);
}

Test(copy, empty_text_and_null)
{
    cx__buf_copy_text(&buf, "", 0);
    is("");
    cx__buf_field(&buf, "", 0);
    cx__buf_field(&buf, NULL, 0);
    cx__buf_field(&buf, "", 1);
    cx__buf_field(&buf, NULL, 1);
    is("\t\\N\t\n\\N\n");
}

Test(copy, fields_end_with_tab_or_newline)
{
    cx__buf_field(&buf, "x\ty", 0);
    cx__buf_field(&buf, "back\\slash", 1);
    is("x\\ty\tback\\\\slash\n");
}

Test(copy, a_long_text_in_one_piece)
{
    /* 300,000 bytes (beyond the buffer's first 64 KB), a tab every 1,000th byte */
    size_t n = 300000;
    char *s = malloc(n), *want = malloc(n + n / 1000 + 2);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        s[i] = i % 1000 == 999 ? '\t' : (char)('a' + i % 26);
        if (s[i] == '\t')
            want[w++] = '\\', want[w++] = 't';
        else
            want[w++] = s[i];
    }
    want[w++] = '\n';
    want[w] = '\0';
    cx_buf_put(&buf, "", 0);
    cx__buf_copy_text(&buf, s, n);
    cx_buf_put(&buf, "\n", 1);
    cr_assert_eq(buf.len, w);
    cr_assert(memcmp(buf.data, want, w) == 0);
    free(s);
    free(want);
}

Test(copy, integers_in_decimal)
{
    cx__buf_int(&buf, 0, 0);
    cx__buf_int(&buf, 7, 0);
    cx__buf_int(&buf, -1, 0);
    cx__buf_int(&buf, 10, 0);
    cx__buf_int(&buf, 99, 0);
    cx__buf_int(&buf, 100, 0);
    cx__buf_int(&buf, -1000000, 0);
    cx__buf_int(&buf, 2147483647, 0);
    cx__buf_int(&buf, -2147483648LL, 1);
    is("0\t7\t-1\t10\t99\t100\t-1000000\t2147483647\t-2147483648\n");
    cx__buf_int(&buf, INT64_MAX, 0);
    cx__buf_int(&buf, INT64_MIN, 1);
    is("9223372036854775807\t-9223372036854775808\n");
    cx__buf_int(&buf, 1000000000000000000LL, 0);
    cx__buf_int(&buf, -999999999999999999LL, 1);
    is("1000000000000000000\t-999999999999999999\n");
}

Test(copy, timestamps_utc_with_microseconds)
{
    cx__buf_timestamp(&buf, 0, 0);
    cx__buf_timestamp(&buf, -1, 1);
    is("1970-01-01 00:00:00.000000+00\t1969-12-31 23:59:59.999999+00\n");
    cx__buf_timestamp(&buf, 1709210096LL * 1000000 + 7, 0);        /* a leap day */
    cx__buf_timestamp(&buf, 951868800LL * 1000000 + 123456, 0);    /* after 2000-02-29 */
    cx__buf_timestamp(&buf, -2203891201LL * 1000000 + 999999, 1); /* 1900: no leap day */
    is("2024-02-29 12:34:56.000007+00\t2000-03-01 00:00:00.123456+00\t"
       "1900-02-28 23:59:59.999999+00\n");
}

Test(copy, timestamps_at_the_edges_of_years_0001_and_9999)
{
    cx__buf_timestamp(&buf, -62135596800LL * 1000000, 0);
    cx__buf_timestamp(&buf, -62135596800LL * 1000000 + 1, 0);
    cx__buf_timestamp(&buf, 253402300799LL * 1000000 + 999999, 0);
    cx__buf_timestamp(&buf, 253402300799LL * 1000000, 1);
    is("0001-01-01 00:00:00.000000+00\t0001-01-01 00:00:00.000001+00\t"
       "9999-12-31 23:59:59.999999+00\t9999-12-31 23:59:59.000000+00\n");
    /* a 5-hour window's start before 0001-01-01 is in 1 BC (PostgreSQL has no year 0) */
    cx__buf_timestamp(&buf, -62135604000LL * 1000000, 1);
    is("0001-12-31 22:00:00.000000+00 BC\n");
}

Test(copy, timestamps_agree_with_gmtime_from_0001_to_9999)
{
    /* about every 37 days and some seconds, over the whole range */
    char want[64];
    for (int64_t s = -62135596800LL; s <= 253402300799LL; s += 3196811) {
        int64_t us = s * 1000000 + (s & 0xfffff) % 1000000;
        time_t t = (time_t)s;
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(want, sizeof want, "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00\t",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (long long)((s & 0xfffff) % 1000000));
        cx__buf_timestamp(&buf, us, 0);
        is(want);
    }
}

Test(copy, bytea_in_hex)
{
    const unsigned char raw[] = {0x00, 0xff, 0x10, 0x5c, 0x09};
    cx__buf_bytea(&buf, raw, sizeof raw, 0);
    cx__buf_bytea(&buf, raw, 0, 1);
    is("\\\\x00ff105c09\t\\\\x\n");
}

static cx_tags one(float confidence)
{
    cx_tags t = {.n_assigned = 1, .order = {CX_CAT_FACING}};
    t.confidence[CX_CAT_FACING] = confidence;
    return t;
}

Test(copy, tags_categories_confidences_and_evidence)
{
    cx_tags t = {.n_assigned = 2, .order = {CX_CAT_EXTERNAL, CX_CAT_FACING}};
    t.confidence[CX_CAT_EXTERNAL] = 0.75f;
    t.confidence[CX_CAT_FACING] = 0.0078125f; /* 7812.5 millionths: a tie, to even */
    t.evidence[CX_CAT_EXTERNAL][0] = "phrase:carrier";
    t.evidence[CX_CAT_EXTERNAL][1] = "say \"late\" \\ again\x01\t";
    t.n_evidence[CX_CAT_EXTERNAL] = 2;
    cx__buf_tags(&buf, &t, 1);
    /* evidence as JSON ["phrase:carrier","say \"late\" \\ again\u0001\u0009"],
     * then COPY-escaped: every backslash doubles */
    is("{external,facing}\t{0.750000,0.007812}\t"
       "[[\"phrase:carrier\",\"say \\\\\"late\\\\\" \\\\\\\\ again\\\\u0001\\\\u0009\"],[]]\n");
    cx_tags none = {0};
    cx__buf_tags(&buf, &none, 0);
    is("{}\t{}\t[]\t");
}

Test(copy, evidence_escapes_anywhere_and_its_neighbours_left_alone)
{
    /* JSON escapes a quote, a backslash and control bytes; COPY then doubles
     * every backslash. At every position of evidence up to 24 bytes long. */
    const char special[] = {'"', '\\', '\x01', '\x1f', '\t'};
    const char *escaped[] = {"\\\\\"", "\\\\\\\\", "\\\\u0001", "\\\\u001f",
                             "\\\\u0009"};
    const char plain[] = {' ', '!', '#', '[', ']', '\x7f', '\xc3', '\xa9', '\xdc', '\xa2'};
    char s[32], want[160];
    for (size_t n = 1; n <= 24; n++)
        for (size_t at = 0; at < n; at++)
            for (size_t k = 0; k < sizeof special + sizeof plain; k++) {
                memset(s, 'e', n);
                s[n] = '\0';
                s[at] = k < sizeof special ? special[k] : plain[k - sizeof special];
                cx_tags t = one(0.5f);
                t.evidence[CX_CAT_FACING][0] = s;
                t.n_evidence[CX_CAT_FACING] = 1;
                cx__buf_tags(&buf, &t, 1);
                size_t w = (size_t)sprintf(want, "{facing}\t{0.500000}\t[[\"");
                for (size_t i = 0; i < n; i++)
                    if (i == at && k < sizeof special)
                        w += (size_t)sprintf(want + w, "%s", escaped[k]);
                    else
                        want[w++] = s[i];
                sprintf(want + w, "\"]]\n");
                is(want);
            }
}

Test(copy, confidences_with_six_decimals)
{
    const struct { float f; const char *text; } cases[] = {
        {0.0f, "0.000000"},       {1.0f, "1.000000"},
        {0.5f, "0.500000"},       {0.1f, "0.100000"},
        {0.9999999f, "1.000000"}, {0.0234375f, "0.023438"}, /* a tie, to even: up */
        {0.0078125f, "0.007812"}, /* a tie, to even: down */
        {9.5367431640625e-07f, "0.000001"},
        {4.76837158203125e-07f, "0.000000"},
        {1e-45f, "0.000000"},     {0.333333343f, "0.333333"},
        {0.666666687f, "0.666667"}, {12.5f, "12.500000"},
    };
    char want[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cx_tags t = one(cases[i].f);
        cx__buf_tags(&buf, &t, 1);
        snprintf(want, sizeof want, "{facing}\t{%s}\t[[]]\n", cases[i].text);
        is(want);
    }
}

Test(copy, confidences_agree_with_printf_for_every_kind_of_float)
{
    /* every 4099th float from 0 to 2 (normal and subnormal), and some beyond */
    char want[128];
    for (uint32_t bits = 0; bits <= 0x40000000u; bits += 4099) {
        float f;
        memcpy(&f, &bits, sizeof f);
        cx_tags t = one(f);
        cx__buf_tags(&buf, &t, 1);
        snprintf(want, sizeof want, "{facing}\t{%.6f}\t[[]]\n", (double)f);
        is(want);
    }
    const float odd[] = {-0.0f, -0.25f, 16777216.0f, 3.0e38f, -3.0e38f, INFINITY, NAN};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        cx_tags t = one(odd[i]);
        cx__buf_tags(&buf, &t, 1);
        snprintf(want, sizeof want, "{facing}\t{%.6f}\t[[]]\n", (double)odd[i]);
        is(want);
    }
}
