/*
 * test_demo.c - `cxpulse demo` end to end, as the README's main job runs it:
 * the bundled sample data through the whole pipeline into a fresh database,
 * and a summary that shows the tickets the built-in rules opened.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cxtest.h"

Test(demo, runs_the_sample_data_and_prints_the_tickets_it_opened, .timeout = 180)
{
    char url[1024], src[1024], out[512];
    cx_test_pg_new_db(url, sizeof url);
    snprintf(out, sizeof out, "%s/demo-output.txt", CX_BINARY_DIR);
    cx_test_source_path("", src, sizeof src);
    /* the user's own topic in the environment: the demo replays into and reads its own */
    cr_assert_eq(cx_test_sh("cd '%s' && CXPULSE_TOPICS=orders timeout 120 %s demo --pg '%s'"
                            " --http 127.0.0.1:%d --log-level warn"
                            " >'%s' 2>&1",
                            src, cx_test_bin(), url, cx_test_free_port(), out),
                 0, "see %s", out);
    PGconn *conn = cx_test_pg_connect(url);
    long long events = cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events");
    long long dead = cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters");
    cr_assert_gt(events, 2500);
    cr_assert_gt(dead, 5);
    cx_test_assert_signals_exact(conn);
    /* The carrier incident opens one ticket for vendor management, and the summary says so. */
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.tickets WHERE"
                                         " rule = 'external-negative-spike'"
                                         " AND owner = 'vendor-management'"),
                 1);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "grep -A12 '^Open tickets' '%s' | grep -q 'vendor-management'", out);
    cr_assert_eq(cx_test_sh("%s", cmd), 0, "the summary does not list the tickets (%s)", out);
    cr_assert_eq(cx_test_sh("grep -q 'events stored' '%s'", out), 0);
    PQfinish(conn);
}

/* A data file with no messages (blank lines only) gives a summary of nothing
 * and exit 0; the demo waited for a message that never came. */
Test(demo, a_data_file_without_messages_ends_with_an_empty_summary, .timeout = 120)
{
    char url[1024], out[512], data[512];
    cx_test_pg_new_db(url, sizeof url);
    snprintf(out, sizeof out, "%s/demo-empty-output.txt", CX_BINARY_DIR);
    snprintf(data, sizeof data, "%s/demo-empty.jsonl", CX_BINARY_DIR);
    FILE *f = fopen(data, "w");
    cr_assert_not_null(f);
    fputs("\n\n", f);
    fclose(f);
    cr_assert_eq(cx_test_sh("timeout 60 %s demo --pg '%s' --data '%s' --http off >'%s' 2>&1",
                            cx_test_bin(), url, data, out),
                 0, "see %s", out);
    cr_assert_eq(cx_test_sh("grep -q 'no messages' '%s'", out), 0, "see %s", out);
    remove(data);
}
