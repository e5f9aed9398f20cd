/*
 * test_window.c - signal increments without services: which window, category
 * and channel an event counts in, and rating sums exact where doubles are not.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "window.h"

static cx_window *w;

static void setup(void)
{
    char err[256];
    cr_assert_eq(cx_window_new(&w, 60, err, sizeof err), CX_OK, "%s", err);
}

static void teardown(void)
{
    cx_window_free(w);
}

TestSuite(window, .init = setup, .fini = teardown);

#define MINUTE 60000000LL

static cx_event event(const char *id, int64_t at_us, const char *channel, cx_rating_scale scale,
                      double value)
{
    return (cx_event){.event_id = id, .occurred_at_us = at_us, .channel = channel,
                      .rating_scale = scale, .rating_value = value};
}

static cx_tags tags(cx_sentiment s, int n, cx_category a, cx_category b)
{
    cx_tags t = {.sentiment = s, .n_assigned = n};
    t.order[0] = a;
    t.order[1] = b;
    return t;
}

static const cx_window_cell *find(int64_t start, int category, const char *channel)
{
    for (size_t i = 0; i < cx_window_count(w); i++) {
        const cx_window_cell *c = cx_window_get(w, i);
        if (c->start_us == start && c->category == category && !strcmp(c->channel, channel))
            return c;
    }
    return NULL;
}

static void sum_is(cx_window_sum s, const char *expected)
{
    char buf[48];
    cx_window_sum_format(s, buf, sizeof buf);
    cr_assert_str_eq(buf, expected);
}

Test(window, events_of_one_minute_category_and_channel_share_a_cell)
{
    cx_event a = event("a", 10 * MINUTE + 1, "chat", CX_RATING_NONE, 0);
    cx_event b = event("b", 11 * MINUTE - 1, "chat", CX_RATING_NONE, 0);
    cx_event c = event("c", 11 * MINUTE, "chat", CX_RATING_NONE, 0);
    cx_tags neg = tags(CX_SENT_NEGATIVE, 1, CX_CAT_FACING, 0);
    cx_tags pos = tags(CX_SENT_POSITIVE, 1, CX_CAT_FACING, 0);
    cr_assert_eq(cx_window_add(w, &a, &neg), CX_OK);
    cr_assert_eq(cx_window_add(w, &b, &pos), CX_OK);
    cr_assert_eq(cx_window_add(w, &c, &neg), CX_OK);
    cr_assert_eq(cx_window_count(w), 2);
    const cx_window_cell *m10 = find(10 * MINUTE, CX_CAT_FACING, "chat");
    cr_assert_not_null(m10);
    cr_assert_eq(m10->events, 2);
    cr_assert_eq(m10->sentiment[CX_SENT_NEGATIVE], 1);
    cr_assert_eq(m10->sentiment[CX_SENT_POSITIVE], 1);
    cr_assert_eq(m10->n_samples, 1);
    cr_assert_str_eq(m10->samples[0], "a");
    cr_assert_eq(find(11 * MINUTE, CX_CAT_FACING, "chat")->events, 1);
}

/* Channels that share a minute and a category are counted apart, however
 * many there are: each channel's signals are its own. */
Test(window, many_channels_of_one_minute_and_category_keep_a_cell_each)
{
    enum { N = 5000 };
    static char channels[N][8];
    cx_tags t = tags(CX_SENT_NEUTRAL, 1, CX_CAT_FACING, 0);
    for (int i = 0; i < N; i++) {
        snprintf(channels[i], sizeof channels[i], "c%d", i);
        cx_event e = event("e", MINUTE + i, channels[i], CX_RATING_NONE, 0);
        cr_assert_eq(cx_window_add(w, &e, &t), CX_OK);
    }
    cr_assert_eq(cx_window_count(w), N);
    for (size_t i = 0; i < cx_window_count(w); i++) {
        const cx_window_cell *c = cx_window_get(w, i);
        cr_assert_eq(c->events, 1, "channel %s holds %lld events", c->channel,
                     (long long)c->events);
        cr_assert_str_eq(c->channel, channels[i], "cells in the order first touched");
    }
}

Test(window, windows_floor_before_the_epoch_too)
{
    cx_event a = event("a", -1, NULL, CX_RATING_NONE, 0);
    cx_tags t = tags(CX_SENT_NEUTRAL, 0, 0, 0);
    cr_assert_eq(cx_window_add(w, &a, &t), CX_OK);
    const cx_window_cell *c = find(-MINUTE, CX_CAT_COUNT, "");
    cr_assert_not_null(c, "an event 1 us before the epoch is in the minute starting 60 s before");
    cr_assert_eq(c->sentiment[CX_SENT_NEUTRAL], 1);
}

Test(window, an_event_counts_once_in_each_category_it_was_tagged_with)
{
    cx_event a = event("a", 5 * MINUTE, "web", CX_RATING_NONE, 0);
    cx_tags two = tags(CX_SENT_NEGATIVE, 2, CX_CAT_COLLABORATIVE, CX_CAT_EXTERNAL);
    cr_assert_eq(cx_window_add(w, &a, &two), CX_OK);
    cr_assert_eq(cx_window_count(w), 2);
    cr_assert_eq(find(5 * MINUTE, CX_CAT_COLLABORATIVE, "web")->events, 1);
    cr_assert_eq(find(5 * MINUTE, CX_CAT_EXTERNAL, "web")->events, 1);
    cr_assert_null(find(5 * MINUTE, CX_CAT_COUNT, "web"), "a tagged event is not also 'none'");
}

Test(window, rating_sums_are_exact_decimals_per_scale_and_together)
{
    cx_tags t = tags(CX_SENT_NEUTRAL, 1, CX_CAT_PERFORMANCE, 0);
    for (int i = 0; i < 10; i++) {
        cx_event e = event("x", MINUTE, "app", CX_RATING_STARS, 0.1);
        cr_assert_eq(cx_window_add(w, &e, &t), CX_OK);
    }
    cx_event a = event("a", MINUTE, "app", CX_RATING_CSAT, 4.3);
    cx_event b = event("b", MINUTE, "app", CX_RATING_CSAT, 4.2);
    cx_event c = event("c", MINUTE, "app", CX_RATING_NPS, 10);
    cr_assert_eq(cx_window_add(w, &a, &t), CX_OK);
    cr_assert_eq(cx_window_add(w, &b, &t), CX_OK);
    cr_assert_eq(cx_window_add(w, &c, &t), CX_OK);
    const cx_window_cell *cell = find(MINUTE, CX_CAT_PERFORMANCE, "app");
    cr_assert_eq(cell->ratings[CX_RATING_STARS], 10);
    sum_is(cell->rating_sum[CX_RATING_STARS], "1"); /* 0.1 added ten times as doubles: 0.9999999999999999 */
    sum_is(cell->rating_sum[CX_RATING_CSAT], "8.5");
    sum_is(cell->rating_sum[CX_RATING_NPS], "10");
    cr_assert_eq(cell->ratings[CX_RATING_NONE], 13);
    sum_is(cell->rating_sum[CX_RATING_NONE], "19.5");
    sum_is(cell->rating_sum[CX_RATING_CES], "0");
}

Test(window, ratings_are_written_as_their_shortest_exact_text)
{
    char buf[40];
    const struct { double v; const char *text;
    } cases[] = {{4.3, "4.3"}, {10, "10"},   {0, "0"},     {0.1, "0.1"}, {7.25, "7.25"}, {5, "5"},
                 {99, "99"},   {100, "100"}, {-0.0, "-0"}, {-3, "-3"},   {1e15, "1e+15"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cx_window_rating_text(cases[i].v, buf, sizeof buf);
        cr_assert_str_eq(buf, cases[i].text);
    }
}

Test(window, a_rating_with_more_decimals_than_the_sum_keeps_is_refused_whole)
{
    cx_event a = event("a", MINUTE, "app", CX_RATING_NPS, 1.2345678901234567e-05);
    cx_tags t = tags(CX_SENT_NEUTRAL, 1, CX_CAT_FACING, 0);
    cr_assert_eq(cx_window_add(w, &a, &t), CX_ERR_INVALID);
    cr_assert_eq(cx_window_count(w), 0, "nothing of a refused event is counted");
}

/* A rating with exactly as many decimals as the sum keeps (20), or with 17
 * significant digits (all a double holds), is summed exactly, not refused. */
Test(window, ratings_at_the_sums_limits_are_summed_exactly)
{
    cx_tags t = tags(CX_SENT_NEUTRAL, 1, CX_CAT_FACING, 0);
    cx_event tiny = event("a", MINUTE, "app", CX_RATING_NPS, 1e-20);
    cx_event fine = event("b", MINUTE, "app", CX_RATING_CSAT, 1.0000000000000002);
    cr_assert_eq(cx_window_add(w, &tiny, &t), CX_OK, "1e-20 has 20 decimals: it fits");
    cr_assert_eq(cx_window_add(w, &fine, &t), CX_OK, "17 significant digits fit");
    const cx_window_cell *c = find(MINUTE, CX_CAT_FACING, "app");
    cr_assert_not_null(c);
    sum_is(c->rating_sum[CX_RATING_NPS], "0.00000000000000000001");
    sum_is(c->rating_sum[CX_RATING_CSAT], "1.0000000000000002");
    sum_is(c->rating_sum[CX_RATING_NONE], "1.00000000000000020001");
}

Test(window, keeps_the_first_negative_events_as_samples)
{
    static const char *ids[] = {"n0", "n1", "n2", "n3", "n4", "n5", "n6"};
    cx_tags neg = tags(CX_SENT_NEGATIVE, 1, CX_CAT_EXTERNAL, 0);
    for (int i = 0; i < 7; i++) {
        cx_event e = event(ids[i], MINUTE, "", CX_RATING_NONE, 0);
        cr_assert_eq(cx_window_add(w, &e, &neg), CX_OK);
    }
    const cx_window_cell *c = find(MINUTE, CX_CAT_EXTERNAL, "");
    cr_assert_eq(c->n_samples, CX_WINDOW_SAMPLES);
    for (int i = 0; i < CX_WINDOW_SAMPLES; i++)
        cr_assert_str_eq(c->samples[i], ids[i]);
}

Test(window, many_windows_grow_the_table_and_reset_empties_it)
{
    cx_tags t = tags(CX_SENT_NEUTRAL, 1, CX_CAT_FACING, 0);
    for (int i = 0; i < 20000; i++) {
        cx_event e = event("e", (int64_t)i * MINUTE, "store", CX_RATING_NONE, 0);
        cr_assert_eq(cx_window_add(w, &e, &t), CX_OK);
    }
    cx_event again = event("e", 12345 * MINUTE + 5, "store", CX_RATING_NONE, 0);
    cr_assert_eq(cx_window_add(w, &again, &t), CX_OK);
    cr_assert_eq(cx_window_count(w), 20000);
    cr_assert_eq(find(12345 * MINUTE, CX_CAT_FACING, "store")->events, 2);
    cx_window_reset(w);
    cr_assert_eq(cx_window_count(w), 0);
    cr_assert_eq(cx_window_add(w, &again, &t), CX_OK);
    cr_assert_eq(find(12345 * MINUTE, CX_CAT_FACING, "store")->events, 1);
}

Test(window, sums_are_written_in_plain_decimal_to_the_last_digit)
{
    /* the stored sums are exact: every one of the 20 decimals, no trailing zeros */
    sum_is((cx_window_sum){5, 0x6bc75e2d63100001ULL}, "1.00000000000000000001");
    sum_is((cx_window_sum){669, 0x7eadeee54a380000ULL}, "123.5");
    sum_is((cx_window_sum){535406, 0xce9d55e04eef0ad2ULL}, "98765.1234567890123456789");
    sum_is((cx_window_sum){0, 1}, "0.00000000000000000001");
}

Test(window, whole_sums_and_short_buffers_are_written_as_before)
{
    /* "%llu.%010llu%010llu" with the fraction's trailing zeros and a bare point
     * dropped, or that text cut as snprintf cuts it when the buffer is short:
     * for whole sums (most) and others, at every buffer length */
    const unsigned __int128 scale = (unsigned __int128)10000000000ULL * 10000000000ULL;
    static const unsigned long long wholes[] = {0, 1, 7, 10, 100, 123456, 18446744073ULL};
    static const unsigned long long fracs[] = {0, 1, 50000000000ULL, 10000000000ULL};
    for (size_t i = 0; i < CX_ARRAY_LEN(wholes); i++)
        for (size_t j = 0; j < CX_ARRAY_LEN(fracs); j++) {
            unsigned __int128 v = wholes[i] * scale + fracs[j] * (unsigned __int128)1000000000ULL;
            if (v == 0)
                continue;
            unsigned __int128 f = v % scale;
            char full[64], stripped[64], want[64], got[64];
            snprintf(full, sizeof full, "%llu.%010llu%010llu", wholes[i],
                     (unsigned long long)(f / 10000000000ULL),
                     (unsigned long long)(f % 10000000000ULL));
            size_t n = strlen(full);
            memcpy(stripped, full, n + 1);
            while (stripped[n - 1] == '0')
                stripped[--n] = '\0';
            if (stripped[n - 1] == '.')
                stripped[--n] = '\0';
            cx_window_sum s = {(uint64_t)(v >> 64), (uint64_t)v};
            for (size_t len = 1; len <= 48; len++) {
                if (strlen(full) >= len) { /* cut */
                    memcpy(want, full, len - 1);
                    want[len - 1] = '\0';
                } else {
                    memcpy(want, stripped, strlen(stripped) + 1);
                }
                memset(got, 'x', sizeof got);
                cx_window_sum_format(s, got, len);
                cr_assert_str_eq(got, want, "%s in %zu bytes", full, len);
            }
        }
}

/* A window has a width of at least one second: 0 or less is a usage error,
 * with nothing made. */
Test(window, a_width_of_zero_or_less_is_refused)
{
    static const int widths[] = {0, -60};
    for (size_t i = 0; i < CX_ARRAY_LEN(widths); i++) {
        char err[256] = "";
        cx_window *z = NULL;
        cr_assert_eq(cx_window_new(&z, widths[i], err, sizeof err), CX_ERR_USAGE,
                     "width %d accepted", widths[i]);
        cr_assert_null(z, "width %d: a window set was made", widths[i]);
        cr_assert(strstr(err, "window width must be positive") != NULL, "%s", err);
        cx_window_free(z);
    }
    cx_window *one;
    char err[256];
    cr_assert_eq(cx_window_new(&one, 1, err, sizeof err), CX_OK, "one second refused: %s", err);
    cx_window_free(one);
}
