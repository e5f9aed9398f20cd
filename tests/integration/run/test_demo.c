/*
 * test_demo.c - `cxpulse demo` end to end, as the README's main job runs it:
 * the bundled sample data through the whole pipeline into a fresh database,
 * and a summary that shows the tickets the built-in rules opened.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cxtest.h"

Test(demo, runs_the_sample_data_and_prints_the_tickets_it_opened, .timeout = 180)
{
    char url[1024], out[512];
    cx_test_pg_new_db(url, sizeof url);
    snprintf(out, sizeof out, "%s/demo-output.txt", CX_BINARY_DIR);
    /* the user's own topic in the environment: the demo replays into and reads its own;
     * the sample is compiled in: any directory will do */
    cr_assert_eq(cx_test_sh("cd / && CXPULSE_TOPICS=orders timeout 120 %s demo --pg '%s'"
                            " --http 127.0.0.1:%d --log-level warn"
                            " >'%s' 2>&1",
                            cx_test_bin(), url, cx_test_free_port(), out),
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
    snprintf(cmd, sizeof cmd,
             "grep -A12 '^Open tickets' '%s' | grep >/dev/null 'vendor-management'", out);
    cr_assert_eq(cx_test_sh("%s", cmd), 0, "the summary does not list the tickets (%s)", out);
    cr_assert_eq(cx_test_sh("grep -q 'events stored' '%s'", out), 0);
    /* the summary's columns line up however long a value is */
    cr_assert_eq(cx_test_sh("grep -A1 '^  window_and_category ' '%s' | awk 'NR == 1 {"
                            " p = index($0, \" events\") + 1 } NR == 2 { ok = p > 1 &&"
                            " substr($0, p - 2, 2) == \"  \" && substr($0, p, 1) ~ /[0-9]/ }"
                            " END { exit !ok }'",
                            out),
                 0, "the worst stretches' columns do not line up (%s)", out);
    cr_assert_eq(cx_test_sh("grep -qx -- '- replayed 3042 messages from the bundled sample data' "
                            "'%s'",
                            out),
                 0, "see %s", out);
    /* the commands it gives to look further work as printed */
    cr_assert_eq(cx_test_sh("cmd=$(sed -n 's/^  psql /psql /p' '%s'); [ -n \"$cmd\" ] &&"
                            " eval \"$cmd\" | grep >/dev/null '(.* rows)'",
                            out),
                 0, "see %s", out);
    cr_assert_eq(cx_test_sh("cmd=$(sed -n 's|^  cxpulse tickets list|%s tickets list|p' '%s');"
                            " [ -n \"$cmd\" ] && eval \"$cmd\" | grep >/dev/null vendor-management",
                            cx_test_bin(), out),
                 0, "see %s", out);
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

/* Too few file descriptors for its in-process broker: librdkafka's mock
 * fails to accept, again and again without pause. The log says so, not
 * millions of times (561 MB in 120 s before). */
Test(demo, a_line_librdkafka_repeats_without_pause_is_said_with_a_count, .timeout = 120)
{
    char url[1024], out[512];
    cx_test_pg_new_db(url, sizeof url);
    snprintf(out, sizeof out, "%s/demo-few-fds.txt", CX_BINARY_DIR);
    /* the limit at which the broker, not the client, runs out depends on the
     * build: the first of a few that shows it */
    cr_assert_eq(cx_test_sh("for n in 20 21 22 23 24 25 26; do (ulimit -n $n; timeout 5 %s demo "
                            "--pg '%s' --http off >'%s' 2>&1); grep -q 'Failed to accept mock "
                            "broker socket' '%s' && exit 0; done; exit 1",
                            cx_test_bin(), url, out, out),
                 0, "the broker never ran out of descriptors: see %s", out);
    cr_assert_eq(cx_test_sh("test $(wc -c <'%s') -lt 200000", out), 0,
                 "a repeated line floods the log: see %s", out);
}

/* demo --serve: once its summary is out, the live page's service has its
 * partitions within seconds (it waited for the mock broker's 45 s session
 * timeout), so events replayed then show up at once. Asked for any free port
 * (:0), it says the one it serves on. */
Test(demo, serve_is_ready_soon_after_the_summary, .timeout = 180)
{
    char url[1024], data[1024], http[64] = "127.0.0.1:0", line[512], body[512];
    cx_test_pg_new_db(url, sizeof url);
    cx_test_source_path("config/sample/events.jsonl", data, sizeof data);
    char *argv[] = {
        (char *)cx_test_bin(), "demo", "--serve", "--pg", url, "--data", data, "--http", http,
        "--log-level",         "warn", NULL};
    int fd;
    pid_t pid = cx_test_spawn(argv, &fd);
    for (int i = 0; i < 200; i++) {
        cx_test_read_line(fd, line, sizeof line, 120000);
        if (strstr(line, "Serving the live page") != NULL)
            break;
    }
    cr_assert(strstr(line, "Serving the live page") != NULL, "no serving line");
    int port = 0;
    cr_assert_eq(sscanf(line, "Serving the live page on http://127.0.0.1:%d/", &port), 1, "%s",
                 line);
    cr_assert_gt(port, 0, "%s", line);
    int ready = 0;
    for (int i = 0; i < 150 && !ready; i++) { /* 15 s */
        ready = cx_test_http_get(port, "/readyz", body, sizeof body) == 200;
        if (!ready)
            cx_test_sleep_ms(100);
    }
    cr_assert(ready, "not ready 15 s after the summary: %s", body);
    static char metrics[1 << 16];
    int got = cx_test_http_get(port, "/metrics", metrics, sizeof metrics);
    /* a stop signal is taken by the main thread alone: every other thread,
     * the mock broker's too, has SIGTERM (bit 15 of SigBlk) blocked */
    int masked = cx_test_sh("n=0; for f in /proc/%d/task/*/status; do"
                            " b=$(awk '/^SigBlk/ {print $2}' \"$f\");"
                            " [ $(( (0x$b >> 14) & 1 )) -eq 1 ] || n=$((n + 1)); done;"
                            " [ \"$n\" -eq 1 ]",
                            (int)pid);
    cr_assert_eq(cx_test_stop(pid, SIGTERM, 60000), 0);
    cr_assert_eq(masked, 0, "more threads than the main one take SIGTERM");
    /* the counters go on from the run the summary was made of */
    cr_assert_eq(got, 200);
    cr_assert(strstr(metrics, "\ncxpulse_messages_consumed_total 3042\n") != NULL, "%s", metrics);
}

/* A demo stopped by SIGTERM or Ctrl-C before every message is handled (a CI
 * job's time limit) fails, rather than print a summary of part of the data
 * and exit 0 as if it had run. */
Test(demo, stopped_before_the_end_it_fails_without_a_summary, .timeout = 180)
{
    char url[1024], line[512];
    cx_test_pg_new_db(url, sizeof url);
    char *argv[] = {(char *)cx_test_bin(), "demo", "--pg", url, "--http", "off",
                    "--log-level",         "warn", NULL};
    int fd;
    pid_t pid = cx_test_spawn(argv, &fd);
    for (int i = 0; i < 20; i++) {
        cx_test_read_line(fd, line, sizeof line, 60000);
        if (strstr(line, "- running the pipeline") != NULL)
            break;
    }
    cr_assert(strstr(line, "- running the pipeline") != NULL, "no running line: %s", line);
    PGconn *conn = cx_test_pg_connect(url);
    for (int i = 0; i < 600; i++, cx_test_sleep_ms(20)) /* stopped while it stores */
        if (cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events") > 0)
            break;
    int status = cx_test_stop(pid, SIGTERM, 60000);
    cr_assert_eq(status, 1, "a stopped demo exits 1, not %d", status);
    cr_assert_lt(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), 2900,
                 "the demo ran to its end before the signal: this test tells nothing");
    PQfinish(conn);
}
