/*
 * test_signals_diff.c - what reclassification adds to cx.signals: the new
 * verdicts' contributions minus the stored ones, one row per (window,
 * category, channel), exact decimal sums that may be negative, and no row
 * where the two cancel out. No server is needed: the COPY rows are read.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

static cx__pg_signals *minus, *plus;
static cx_buf out;

static void setup(void)
{
    static const int widths[] = {60};
    char err[256];
    cr_assert_eq(cx__pg_signals_new(&minus, widths, 1, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx__pg_signals_new(&plus, widths, 1, err, sizeof err), CX_OK, "%s", err);
    memset(&out, 0, sizeof out);
}

static void teardown(void)
{
    cx__pg_signals_free(minus);
    cx__pg_signals_free(plus);
    cx_buf_free(&out);
}

TestSuite(signals_diff, .init = setup, .fini = teardown);

static cx_event event(const char *id, int64_t at_s, double nps)
{
    cx_event ev;
    memset(&ev, 0, sizeof ev);
    ev.event_id = id;
    ev.occurred_at_us = at_s * 1000000;
    ev.channel = "app";
    ev.rating_scale = CX_RATING_NPS;
    ev.rating_value = nps;
    return ev;
}

static cx_tags tagged(cx_category c)
{
    cx_tags t;
    memset(&t, 0, sizeof t);
    t.sentiment = CX_SENT_NEGATIVE;
    t.order[0] = c;
    t.n_assigned = 1;
    return t;
}

/* The COPY row whose category is `category`: its fields, or NULL when none. */
static char **row_of(const char *category, int *n_rows)
{
    static char copy[4096], *fields[32];
    char *found = NULL;
    *n_rows = 0;
    cr_assert_lt(out.len, sizeof copy);
    memcpy(copy, out.data, out.len);
    copy[out.len] = '\0';
    for (char *line = strtok(copy, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        (*n_rows)++;
        char *tab = strchr(strchr(line, '\t') + 1, '\t') + 1;
        if (strncmp(tab, category, strlen(category)) == 0 && tab[strlen(category)] == '\t')
            found = line;
    }
    if (found == NULL)
        return NULL;
    int n = 0;
    for (char *p = found; p != NULL && n < 32; n++) {
        fields[n] = p;
        p = strchr(p, '\t');
        if (p != NULL)
            *p++ = '\0';
    }
    cr_assert_eq(n, 18, "a cx_stage_sig row has 18 columns");
    return fields;
}

Test(signals_diff, two_events_swapping_categories_in_one_window_move_only_the_rating_difference)
{
    /* Both in the window of 10:00 on "app": a (4.3) goes from external to
     * facing, b (0.1) from facing to external. Counts cancel; sums do not. */
    cx_event a = event("a", 1793527230, 4.3), b = event("b", 1793527245, 0.1);
    cx_tags ext = tagged(CX_CAT_EXTERNAL), fac = tagged(CX_CAT_FACING);
    cr_assert_eq(cx__pg_signals_add(minus, &a, &ext), CX_OK);
    cr_assert_eq(cx__pg_signals_add(plus, &a, &fac), CX_OK);
    cr_assert_eq(cx__pg_signals_add(minus, &b, &fac), CX_OK);
    cr_assert_eq(cx__pg_signals_add(plus, &b, &ext), CX_OK);
    cr_assert_eq(cx__pg_signals_diff_rows(minus, plus, &out), CX_OK);
    int rows;
    char **e = row_of("external", &rows);
    cr_assert_eq(rows, 2);
    cr_assert_not_null(e);
    /* events, negative, neutral, positive; then count and sum per scale (all, csat, nps, ...) */
    cr_assert_str_eq(e[4], "0");
    cr_assert_str_eq(e[5], "0");
    cr_assert_str_eq(e[8], "0");
    cr_assert_str_eq(e[9], "-4.2");
    cr_assert_str_eq(e[12], "0");
    cr_assert_str_eq(e[13], "-4.2");
    char **f = row_of("facing", &rows);
    cr_assert_not_null(f);
    cr_assert_str_eq(f[4], "0");
    cr_assert_str_eq(f[9], "4.2");
    cr_assert_str_eq(f[13], "4.2");
}

Test(signals_diff, an_event_moved_away_and_back_adds_no_row_and_a_moved_one_two)
{
    cx_event same = event("same", 1793527230, 7), moved = event("moved", 1793530800, 9);
    cx_tags ext = tagged(CX_CAT_EXTERNAL), fac = tagged(CX_CAT_FACING);
    cr_assert_eq(cx__pg_signals_add(minus, &same, &ext), CX_OK);
    cr_assert_eq(cx__pg_signals_add(plus, &same, &ext), CX_OK);
    cr_assert_eq(cx__pg_signals_add(minus, &moved, &ext), CX_OK);
    cr_assert_eq(cx__pg_signals_add(plus, &moved, &fac), CX_OK);
    cr_assert_eq(cx__pg_signals_diff_rows(minus, plus, &out), CX_OK);
    int rows;
    char **e = row_of("external", &rows);
    cr_assert_eq(rows, 2, "only the moved event's two cells: %.*s", (int)out.len, out.data);
    cr_assert_not_null(e);
    cr_assert_str_eq(e[4], "-1");
    cr_assert_str_eq(e[5], "-1");
    cr_assert_str_eq(e[9], "-9");
    char **f = row_of("facing", &rows);
    cr_assert_not_null(f);
    cr_assert_str_eq(f[4], "1");
    cr_assert_str_eq(f[13], "9");
}

Test(signals_diff, a_rating_too_fine_to_sum_here_is_left_to_postgresql)
{
    cx_event fine = event("fine", 1793527230, 1.2345678901234567e-05);
    cx_tags ext = tagged(CX_CAT_EXTERNAL), fac = tagged(CX_CAT_FACING);
    cr_assert_eq(cx__pg_signals_add(minus, &fine, &ext), CX_OK);
    cr_assert_eq(cx__pg_signals_add(plus, &fine, &fac), CX_OK);
    cr_assert_eq(cx__pg_signals_diff_rows(minus, plus, &out), CX_ERR_INVALID);
    cr_assert_eq(out.len, 0, "nothing appended");
}
