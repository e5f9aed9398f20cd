/*
 * test_binary.c - PostgreSQL's binary COPY format as the sink writes it for
 * signal rows: big-endian integers, numeric values (the base-10000 digits,
 * weight, sign and the display scale numeric_in gives the same text), and
 * cx.signals' rows. Expected bytes are written out from the format
 * (PostgreSQL's COPY documentation and numeric.c's numeric_send); the rows
 * are also read back and printed as COPY text (timestamps by gmtime,
 * numerics as numeric_out prints them), which must be the rows the text
 * writer gives for the same increments.
 */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
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

TestSuite(binary, .init = reset, .fini = reset);

/* The bytes of a numeric value as numeric_send writes them, after the 4-byte
 * length: ndigits, weight, sign, dscale, then the base-10000 digits. */
static size_t numeric_bytes(unsigned char *o, int ndigits, int weight, unsigned sign,
                            unsigned dscale, const int *digits)
{
    unsigned len = 8 + 2 * (unsigned)ndigits;
    const unsigned head[] = {len >> 24, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff};
    size_t n = 0;
    for (int i = 0; i < 4; i++)
        o[n++] = (unsigned char)head[i];
    const unsigned v[] = {(unsigned)ndigits, (unsigned)weight & 0xffff, sign, dscale};
    for (int i = 0; i < 4; i++) {
        o[n++] = (unsigned char)(v[i] >> 8);
        o[n++] = (unsigned char)(v[i] & 0xff);
    }
    for (int i = 0; i < ndigits; i++) {
        o[n++] = (unsigned char)(digits[i] >> 8);
        o[n++] = (unsigned char)(digits[i] & 0xff);
    }
    return n;
}

static void numeric_is(const char *text, int negate, int ndigits, int weight, unsigned sign,
                       unsigned dscale, const int *digits)
{
    unsigned char want[128];
    size_t n = numeric_bytes(want, ndigits, weight, sign, dscale, digits);
    buf.len = 0;
    cr_assert_eq(cx__buf_numeric(&buf, text, negate), CX_OK, "%s", text);
    cr_assert_eq(buf.len, n, "%s: %zu bytes, want %zu", text, buf.len, n);
    cr_assert(memcmp(buf.data, want, n) == 0, "%s (negate %d): other bytes", text, negate);
}

Test(binary, integers_most_significant_byte_first)
{
    cx__buf_be(&buf, 0x0102, 2);
    cx__buf_be(&buf, 0xa1b2c3d4, 4);
    cx__buf_be(&buf, 0x0102030405060708ULL, 8);
    cx__buf_be(&buf, (uint64_t)-2, 4); /* the low four bytes only */
    const unsigned char want[] = {1, 2, 0xa1, 0xb2, 0xc3, 0xd4, 1, 2, 3, 4, 5, 6, 7, 8,
                                  0xff, 0xff, 0xff, 0xfe};
    cr_assert_eq(buf.len, sizeof want);
    cr_assert(memcmp(buf.data, want, sizeof want) == 0);
}

Test(binary, numeric_zero_is_positive_without_digits_whatever_its_sign)
{
    numeric_is("0", 0, 0, 0, 0, 0, NULL);
    numeric_is("0", 1, 0, 0, 0, 0, NULL); /* -0: numeric_in stores 0 */
    numeric_is("-0", 0, 0, 0, 0, 0, NULL);
    numeric_is("0.000", 0, 0, 0, 0, 3, NULL); /* its scale stays: "0.000" */
    numeric_is("-0.00", 1, 0, 0, 0, 2, NULL);
}

Test(binary, numeric_digits_in_base_10000_around_the_point)
{
    numeric_is("12.5", 0, 2, 0, 0, 1, (const int[]){12, 5000});
    numeric_is("12.50", 0, 2, 0, 0, 2, (const int[]){12, 5000}); /* scale 2, as typed */
    numeric_is("10000", 0, 1, 1, 0, 0, (const int[]){1});
    numeric_is("9999", 0, 1, 0, 0, 0, (const int[]){9999});
    numeric_is("0.00012345", 0, 2, -1, 0, 8, (const int[]){1, 2345});
    numeric_is("123456789.123456789", 0, 6, 2, 0, 9,
               (const int[]){1, 2345, 6789, 1234, 5678, 9000});
    numeric_is("007.0700", 0, 2, 0, 0, 4, (const int[]){7, 700}); /* leading zeros dropped */
    numeric_is(".5", 0, 1, -1, 0, 1, (const int[]){5000});
    numeric_is("5.", 0, 1, 0, 0, 0, (const int[]){5});
    numeric_is("+3", 0, 1, 0, 0, 0, (const int[]){3});
}

Test(binary, numeric_signs_and_negation)
{
    numeric_is("-12.5", 0, 2, 0, 0x4000, 1, (const int[]){12, 5000});
    numeric_is("12.5", 1, 2, 0, 0x4000, 1, (const int[]){12, 5000});
    numeric_is("-12.5", 1, 2, 0, 0, 1, (const int[]){12, 5000}); /* minus a minus */
}

Test(binary, numeric_exponents_move_the_point_and_the_scale_as_numeric_in_does)
{
    /* scale = decimals - exponent, at least 0 */
    numeric_is("1e-25", 0, 1, -7, 0, 25, (const int[]){1000}); /* 1000 * 10^-28 */
    numeric_is("4.2e1", 0, 1, 0, 0, 0, (const int[]){42});
    numeric_is("1.5e3", 0, 1, 0, 0, 0, (const int[]){1500});
    numeric_is("1.5E+4", 0, 2, 1, 0, 0, (const int[]){1, 5000}); /* 1|5000 */
    numeric_is("2.5e-5", 0, 1, -2, 0, 6, (const int[]){2500}); /* 0.0000|2500 */
    numeric_is("-7.25e-2", 0, 1, -1, 0x4000, 4, (const int[]){725});
}

Test(binary, numeric_refuses_all_but_plain_decimals_and_appends_nothing)
{
    /* (numeric_in would take NaN, Infinity and blanks around a number; the
     * sink never writes them) */
    const char *bad[] = {"", "-", ".", "abc", "1.2.3", "NaN", "Infinity", "1e", "1e+", " 1",
                         "1 ", "1x", "--1", "e5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        buf.len = 0;
        cr_assert_eq(cx__buf_numeric(&buf, bad[i], 0), CX_ERR_INVALID, "[%s]", bad[i]);
        cr_assert_eq(buf.len, 0, "[%s]", bad[i]);
    }
}

/* ---- cx.signals' rows ---------------------------------------------------- */

static uint64_t be_at(const char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | (unsigned char)p[i];
    return v;
}

/* A numeric field (after its length) printed as numeric_out prints it:
 * the integer part without leading zeros, then exactly dscale decimals. */
static void print_numeric(const char *p, char *out, size_t outlen)
{
    int ndigits = (int)be_at(p, 2), weight = (int16_t)be_at(p + 2, 2);
    unsigned sign = (unsigned)be_at(p + 4, 2), dscale = (unsigned)be_at(p + 6, 2);
    char whole[128] = "", frac[1200] = "";
    for (int w = weight > 0 ? weight : 0; w >= 0; w--) {
        int i = weight - w, d = i >= 0 && i < ndigits ? (int)be_at(p + 8 + 2 * i, 2) : 0;
        char g[8];
        snprintf(g, sizeof g, whole[0] ? "%04d" : "%d", d);
        if (whole[0] || d != 0 || w == 0)
            strcat(whole, g);
    }
    for (int w = -1; (int)strlen(frac) < (int)dscale; w--) {
        int i = weight - w, d = i >= 0 && i < ndigits ? (int)be_at(p + 8 + 2 * i, 2) : 0;
        char g[8];
        snprintf(g, sizeof g, "%04d", d);
        strcat(frac, g);
    }
    frac[dscale] = '\0';
    int n = snprintf(out, outlen, "%s%s%s%s", sign == 0x4000 ? "-" : "", whole, dscale ? "." : "",
                     frac);
    cr_assert(n >= 0 && (size_t)n < outlen, "a numeric of %d characters", n);
}

/* Binary COPY data of cx.signals' columns read back as COPY text rows. */
static void binary_as_text(const cx_buf *bin, cx_buf *text)
{
    enum { TS, INT, TEXT, NUM };
    static const int type[18] = {TS, INT, TEXT, TEXT, INT, INT, INT, INT, INT,
                                 NUM, INT, NUM, INT, NUM, INT, NUM, INT, NUM};
    static const char head[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
    cr_assert_geq(bin->len, sizeof head + 2);
    cr_assert(memcmp(bin->data, head, sizeof head) == 0, "the signature, no flags, no extension");
    const char *p = bin->data + sizeof head, *end = bin->data + bin->len;
    for (;;) {
        cr_assert_leq(p + 2, end);
        uint64_t fields = be_at(p, 2);
        p += 2;
        if (fields == 0xffff)
            break; /* the trailer */
        cr_assert_eq(fields, 18);
        for (int k = 0; k < 18; k++) {
            uint64_t len = be_at(p, 4);
            const char *v = p + 4;
            cr_assert_leq(v + len, end);
            char field[1300] = "";
            if (type[k] == TS) {
                cr_assert_eq(len, 8);
                int64_t us = (int64_t)be_at(v, 8) + 946684800000000LL; /* from 2000-01-01 */
                time_t secs = (time_t)(us / 1000000);
                struct tm tm;
                gmtime_r(&secs, &tm);
                size_t n = strftime(field, sizeof field, "%Y-%m-%d %H:%M:%S", &tm);
                snprintf(field + n, sizeof field - n, ".%06lld+00", (long long)(us % 1000000));
            } else if (type[k] == INT) {
                cr_assert_eq(len, 4);
                snprintf(field, sizeof field, "%d", (int32_t)(uint32_t)be_at(v, 4));
            } else if (type[k] == TEXT) { /* escaped as COPY text is */
                cx__buf_copy_text(text, v, (size_t)len);
            } else {
                cr_assert_eq(len, 8 + 2 * be_at(v, 2));
                print_numeric(v, field, sizeof field);
            }
            cx_buf_put(text, field, strlen(field));
            cx_buf_put(text, k == 17 ? "\n" : "\t", 1);
            p = v + len;
        }
    }
    cr_assert_eq(p, end, "nothing after the trailer");
}

static cx_event event(const char *id, int64_t at_s, const char *channel, cx_rating_scale scale,
                      double rating)
{
    cx_event ev;
    memset(&ev, 0, sizeof ev);
    ev.event_id = id;
    ev.occurred_at_us = at_s * 1000000;
    ev.channel = channel;
    ev.rating_scale = scale;
    ev.rating_value = rating;
    return ev;
}

/* The lines of a COPY text buffer, NUL-terminated in place; their count. */
static size_t split_lines(cx_buf *b, char **lines, size_t max)
{
    size_t n = 0;
    for (char *p = b->data, *end = b->data + b->len; p < end && n < max;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        cr_assert_not_null(nl, "every row ends in a newline");
        *nl = '\0';
        lines[n++] = p;
        p = nl + 1;
    }
    return n;
}

/* The k-th tab-separated field of a COPY text row (k < 4: no escapes in
 * these rows' keys but the channel's, compared as written). */
static void field(const char *row, int k, char *out, size_t len)
{
    for (; k > 0; k--) {
        row = strchr(row, '\t');
        cr_assert_not_null(row);
        row++;
    }
    size_t n = strcspn(row, "\t");
    cr_assert_lt(n, len);
    memcpy(out, row, n);
    out[n] = '\0';
}

/* cx.signals' key order of two COPY text rows: window_start (as printed,
 * four-digit years), window_seconds as a number, category, channel. */
static int key_cmp(const char *a, const char *b)
{
    char x[4][64], y[4][64];
    for (int k = 0; k < 4; k++) {
        field(a, k, x[k], sizeof x[k]);
        field(b, k, y[k], sizeof y[k]);
    }
    int d = strcmp(x[0], y[0]);
    if (d == 0)
        d = atoi(x[1]) - atoi(y[1]);
    for (int k = 2; d == 0 && k < 4; k++)
        d = strcmp(x[k], y[k]);
    return d;
}

static int line_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(binary, signal_rows_hold_the_values_of_the_text_rows)
{
    static const int widths[] = {60, 3600};
    char err[256];
    cx__pg_signals *s;
    cr_assert_eq(cx__pg_signals_new(&s, widths, 2, err, sizeof err), CX_OK, "%s", err);
    cx_tags two, none;
    memset(&two, 0, sizeof two);
    memset(&none, 0, sizeof none);
    two.sentiment = CX_SENT_NEGATIVE;
    two.order[0] = CX_CAT_FACING;
    two.order[1] = CX_CAT_EXTERNAL;
    two.n_assigned = 2;
    none.sentiment = CX_SENT_POSITIVE;
    const int64_t t = 1790812800; /* 2026-10-01 */
    cx_event evs[] = {
        event("a", t + 5, "app", CX_RATING_NPS, 9),
        event("b", t + 59, "app", CX_RATING_NPS, 7.25),
        event("c", t + 61, "store\\1", CX_RATING_CSAT, 4.125),
        event("d", t + 3600 * 24 * 400, "", CX_RATING_NONE, 0),
        event("e", t - 946684800 - 86400 * 365, "app", CX_RATING_STARS, 2.5), /* before 2000 */
        event("f", t + 7, "app", CX_RATING_CES, 1e-25), /* too fine: a row of its own */
    };
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        cr_assert_eq(cx__pg_signals_add(s, &evs[i], i % 2 ? &none : &two), CX_OK);
    cr_assert_eq(cx__pg_signals_fine(s), 2, "the fine rating kept aside in both windows");

    cx_buf want = {0}, got = {0};
    cx__pg_signals_rows(s, 1, &want);
    /* the fine rating's text, as numeric_out prints what numeric_in read */
    cx_buf printed = {0};
    for (const char *p = want.data, *end = want.data + want.len; p < end;) {
        const char *e = memmem(p, (size_t)(end - p), "1e-25", 5);
        size_t n = e ? (size_t)(e - p) : (size_t)(end - p);
        cx_buf_put(&printed, p, n);
        if (e != NULL)
            cx_buf_put(&printed, "0.0000000000000000000000001", 27);
        p += n + (e ? 5 : 0);
    }
    cx_buf_free(&want);
    want = printed;
    cx_buf bin = {0};
    /* as they come: the text writer's rows, in its order */
    cr_assert_eq(cx__pg_signals_copy_binary(s, 0, &bin, err, sizeof err), CX_OK);
    binary_as_text(&bin, &got);
    cr_assert_eq(got.len, want.len, "[%.*s] vs [%.*s]", (int)got.len, got.data, (int)want.len,
                 want.data);
    cr_assert(memcmp(got.data, want.data, want.len) == 0, "[%.*s] vs [%.*s]", (int)got.len,
              got.data, (int)want.len, want.data);
    bin.len = 0;
    got.len = 0;
    cr_assert_eq(cx__pg_signals_copy_binary(s, 1, &bin, err, sizeof err), CX_OK);
    binary_as_text(&bin, &got);
    cr_assert_eq(got.len, want.len, "[%.*s] vs [%.*s]", (int)got.len, got.data, (int)want.len,
                 want.data);
    /* the same rows; the windows' rows in key order (the text writer's are in
     * the order first touched), the two fine ratings last */
    char *got_lines[32], *want_lines[32];
    size_t n = split_lines(&got, got_lines, 32);
    cr_assert_eq(split_lines(&want, want_lines, 32), n);
    cr_assert_eq(n, 18, "%zu rows: eight cells in each width, two fine ratings", n);
    for (size_t i = 1; i + 2 < n; i++)
        cr_assert_lt(key_cmp(got_lines[i - 1], got_lines[i]), 0, "row %zu: [%s] after [%s]", i,
                     got_lines[i], got_lines[i - 1]);
    cr_assert(strstr(got_lines[n - 1], "0.0000000000000000000000001") != NULL, "%s",
              got_lines[n - 1]);
    qsort(got_lines, n, sizeof *got_lines, line_cmp);
    qsort(want_lines, n, sizeof *want_lines, line_cmp);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(got_lines[i], want_lines[i]);

    /* no rows: the head and the trailer only */
    cx__pg_signals_reset(s);
    bin.len = 0;
    got.len = 0;
    cr_assert_eq(cx__pg_signals_copy_binary(s, 1, &bin, err, sizeof err), CX_OK);
    binary_as_text(&bin, &got);
    cr_assert_eq(got.len, 0);
    cr_assert_eq(bin.len, 21);
    cx_buf_free(&bin);
    cx_buf_free(&want);
    cx_buf_free(&got);
    cx__pg_signals_free(s);
}
