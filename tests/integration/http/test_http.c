/*
 * test_http.c - what operations teams see of a running `cxpulse run`:
 * /metrics parses as Prometheus text and its counters match what was stored;
 * /readyz turns not-ready while PostgreSQL is down; /healthz answers at once
 * while many slow clients hold connections and while PostgreSQL hangs; the
 * live page, opened in headless Chromium, shows the four categories and
 * updates in place when new events arrive (a screenshot is kept as a test
 * artifact).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h> /* after rdkafka.h */
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cxtest.h"
#include "cxtest_stack.h"

static cx_mock *mock;
static cx_producer *producer;
static char url[1024];
static PGconn *conn;
static pid_t run_pid;
static int port;
static long produced;
static char body[1 << 20];
static struct rlimit service_nofile; /* the service's open-file limit; 0: as inherited */
static int http_off;                 /* start the service with --http off */

/* Starts `cxpulse run` serving HTTP on a free port (none with http_off),
 * logging at warn level to this process's stderr, or with log at info level
 * to the file log. */
static void start_service_logged(const char *log)
{
    port = cx_test_free_port();
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    char *level = log ? "info" : "warn";
    char *argv[] = {(char *)cx_test_bin(),
                    "run",
                    "--brokers",
                    (char *)cx_mock_bootstraps(mock),
                    "--topic",
                    "cx.events",
                    "--group",
                    "ops",
                    "--pg",
                    url,
                    "--http",
                    http_off ? "off" : listen,
                    "--log-level",
                    level,
                    NULL};
    run_pid = fork();
    cr_assert_geq(run_pid, 0);
    if (run_pid == 0) {
        int fd = log ? open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600) : STDERR_FILENO;
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || !freopen("/dev/null", "w", stdout))
            _exit(127);
        if (service_nofile.rlim_max > 0 && setrlimit(RLIMIT_NOFILE, &service_nofile) != 0)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
}

/* Starts `cxpulse run` serving HTTP on a free port. */
static void start_service(void)
{
    start_service_logged(NULL);
}

static void setup(void)
{
    /* the events here are dated in November 2026: tickets as for live ones */
    setenv("CXPULSE_TICKETS_MAX_AGE_MINUTES", "0", 1);
    cx_test_stack_new(url, sizeof url, &conn, &mock, &producer, 3);
    http_off = 0;
    start_service();
    produced = 0;
}

static void teardown(void)
{
    if (run_pid > 0)
        cx_test_stop(run_pid, SIGKILL, 5000);
    cx_test_stack_free(conn, mock, producer);
}

TestSuite(http, .init = setup, .fini = teardown, .timeout = 180);

/* When produce() dates its events: 0, now. */
static time_t produce_at;

/* Produces n events at the current minute (so the live page is live; or at
 * produce_at), every tenth one malformed and every tenth one with a promised
 * date that is not a date; mostly complaints about carriers and billing. */
static long produce(long n)
{
    static const char *const texts[] = {"the courier lost my parcel", "charged twice, awful",
                                        "the agent was rude", "the delivery was late again",
                                        "great service, thanks"};
    char err[512], v[512], when[32];
    time_t now = produce_at ? produce_at : time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    long bad = 0;
    for (long i = 0; i < n; i++, produced++) {
        int len;
        if (produced % 10 == 9) {
            len = snprintf(v, sizeof v, "{\"event_id\":\"bad-%ld\"}", produced);
            bad++;
        } else {
            len = snprintf(v, sizeof v,
                           "{\"event_id\":\"ops-%ld\",\"occurred_at\":\"%s\",\"channel\":\"chat\","
                           "\"text\":\"%s\"%s}",
                           produced, when, texts[produced % 5],
                           produced % 10 == 4 ? ",\"attributes\":{\"promised_date\":\"soon\","
                                                "\"delivered_date\":\"2024-05-03\"}"
                                              : "");
        }
        cr_assert_eq(
            cx_producer_send(producer, "cx.events", NULL, 0, v, (size_t)len, 0, err, sizeof err),
            CX_OK, "%s", err);
    }
    uint64_t delivered;
    cr_assert_eq(cx_producer_flush(producer, 30000, &delivered, err, sizeof err), CX_OK, "%s", err);
    return bad;
}

static void wait_handled_within(long long target, int seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        if (cx_test_pg_scalar(conn, "SELECT coalesce(sum(next_offset), 0) FROM "
                                    "cx.consumer_offsets WHERE consumer_group = 'ops'") >= target)
            return;
        cx_test_sleep_ms(100);
    }
    cr_assert_fail("not all %lld messages handled within %d s", target, seconds);
}

static void wait_handled(long long target)
{
    wait_handled_within(target, 60);
}

/* The value of the sample `name` (with its labels, exactly) in /metrics. */
static double sample(const char *text, const char *name)
{
    double v = cx_test_metric(text, name);
    cr_assert_neq(v, -1, "no sample %s in /metrics", name);
    return v;
}

/* The sum of every labelled sample of family (name{...} value) in text. */
static double family_sum(const char *text, const char *family)
{
    char start[128];
    snprintf(start, sizeof start, "\n%s{", family);
    double sum = 0;
    for (const char *p = strstr(text, start); p != NULL; p = strstr(p + 1, start))
        sum += strtod(strchr(p + 1, ' ') + 1, NULL);
    return sum;
}

/* Sends a message with this value, counted in `produced`. */
static void send_one(const char *v)
{
    char err[512];
    uint64_t delivered;
    cr_assert_eq(cx_producer_send(producer, "cx.events", NULL, 0, v, strlen(v), 0, err, sizeof err),
                 CX_OK, "%s", err);
    cr_assert_eq(cx_producer_flush(producer, 30000, &delivered, err, sizeof err), CX_OK, "%s", err);
    produced++;
}

Test(http, metrics_parse_as_prometheus_text_and_match_what_was_stored)
{
    long bad = produce(300);
    wait_handled(produced);
    /* A copy of a stored event (as PostgreSQL gives it back: same meaning,
     * other bytes), and another event under a stored event_id (a dead
     * letter): neither is a new event, nor counted as classified (both were). */
    PGresult *same = PQexec(conn, "SELECT payload::text FROM cx.events WHERE event_id = 'ops-0'");
    cr_assert_eq(PQntuples(same), 1);
    send_one(PQgetvalue(same, 0, 0));
    PQclear(same);
    send_one("{\"event_id\":\"ops-1\",\"occurred_at\":\"2024-05-01T00:00:00Z\","
             "\"text\":\"another event, the same id\"}");
    /* two texts the built-in model does not read: declared, and seen */
    send_one("{\"event_id\":\"de-1\",\"occurred_at\":\"2024-05-01T00:00:00Z\","
             "\"language\":\"de\",\"text\":\"Der Kurier war sehr unfreundlich\"}");
    send_one("{\"event_id\":\"zh-1\",\"occurred_at\":\"2024-05-01T00:00:00Z\","
             "\"text\":\"快递员把包裹弄丢了\"}");
    wait_handled(produced);
    /* The lag of a partition is known from its first fetch response, even an
     * empty one; the brokers connected to, from librdkafka's first statistics
     * (5 s after the start). */
    for (int i = 0; i < 100; i++, cx_test_sleep_ms(100)) {
        cr_assert_eq(cx_test_http_get(port, "/metrics", body, sizeof body), 200);
        if (strstr(body, "partition=\"0\"") && strstr(body, "partition=\"1\"") &&
            strstr(body, "partition=\"2\"") && strstr(body, "\ncxpulse_kafka_connections_up "))
            break;
    }

    /* Every line is a comment (HELP/TYPE) or `name{labels} value`, and every
     * sample's metric has a TYPE line before it. */
    regex_t line;
    cr_assert_eq(regcomp(&line,
                         "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\""
                         "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\")*\\})? "
                         "(-?[0-9.e+-]+|\\+Inf|NaN)$",
                         REG_EXTENDED),
                 0);
    char *copy = strdup(body), *save = NULL;
    int samples = 0;
    for (char *l = strtok_r(copy, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "# HELP ", 7) == 0 || strncmp(l, "# TYPE ", 7) == 0)
            continue;
        regmatch_t m[2];
        cr_assert_eq(regexec(&line, l, 2, m, 0), 0, "not Prometheus text: \"%s\"", l);
        char name[128], type_line[160];
        snprintf(name, sizeof name, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), l);
        char *cut = NULL, histogram[160];
        if ((cut = strstr(name, "_bucket")) || (cut = strstr(name, "_sum")) ||
            (cut = strstr(name, "_count"))) {
            snprintf(histogram, sizeof histogram, "# TYPE %.*s histogram\n", (int)(cut - name),
                     name);
            if (strstr(body, histogram) != NULL)
                *cut = '\0';
        }
        snprintf(type_line, sizeof type_line, "# TYPE %s ", name);
        const char *at = body + (l - copy); /* the same line in the original text */
        cr_assert(strstr(body, type_line) != NULL && strstr(body, type_line) < at,
                  "no TYPE before %s", l);
        samples++;
    }
    regfree(&line);
    free(copy);
    cr_assert_gt(samples, 30);
    /* this host's clock and the database's, compared with the batches stored */
    const char *skew = strstr(body, "\ncxpulse_clock_skew_seconds ");
    cr_assert_not_null(skew, "the clocks' difference is not served");
    double seconds = strtod(skew + strlen("\ncxpulse_clock_skew_seconds "), NULL);
    cr_expect(seconds > -5 && seconds < 5, "one machine's clocks differ by %g s", seconds);
    /* every family is in docs/metrics.md, and every one there is served */
    static char doc[16384];
    char doc_path[1024];
    cx_test_read_file(cx_test_source_path("docs/metrics.md", doc_path, sizeof doc_path), doc,
                      sizeof doc);
    int families = 0;
    for (const char *t = strstr(body, "# TYPE "); t != NULL; t = strstr(t + 1, "# TYPE ")) {
        char row[160];
        snprintf(row, sizeof row, "| `%.*s` |", (int)strcspn(t + 7, " "), t + 7);
        cr_expect(strstr(doc, row) != NULL, "%s is not in docs/metrics.md", row);
        families++;
    }
    int rows = 0;
    for (const char *r = strstr(doc, "\n| `"); r != NULL; r = strstr(r + 1, "\n| `"))
        rows += strncmp(r, "\n| `cxpulse_", 12) == 0 || strncmp(r, "\n| `process_", 12) == 0;
    cr_expect_eq(rows, families, "docs/metrics.md has %d metrics, /metrics %d", rows, families);

    long long stored = cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events");
    cr_assert_eq(stored, produced - bad - 2);
    cr_assert_eq(sample(body, "cxpulse_messages_consumed_total"), produced);
    cr_assert_eq(sample(body, "cxpulse_events_stored_total"), stored);
    /* dead letters by reason: the one under a stored event_id, the rest not events */
    cr_assert_eq(family_sum(body, "cxpulse_dead_letters_total"),
                 cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"));
    cr_assert_eq(sample(body, "cxpulse_dead_letters_total{reason=\"event_id_reused\"}"), 1);
    cr_assert_eq(sample(body, "cxpulse_dead_letters_total{reason=\"invalid\"}"), bad);
    cr_assert_eq(sample(body, "cxpulse_dead_letters_total{reason=\"rejected\"}"), 0);
    cr_assert_eq(sample(body, "cxpulse_tickets_opened_total"),
                 cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.tickets"));
    cr_assert_eq(sample(body, "cxpulse_duplicates_skipped_total"), 1);
    cr_assert_eq(sample(body, "cxpulse_unreadable_fields_total"),
                 cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events WHERE "
                                         "payload -> 'attributes' ->> 'promised_date' = 'soon'"));
    cr_assert_gt(sample(body, "cxpulse_unreadable_fields_total"), 0);
    cr_assert_eq(sample(body, "cxpulse_text_not_read_total"), 2);
    /* where the stream is in event time: its newest event (none is dated ahead here) */
    cr_assert_eq(sample(body, "cxpulse_newest_event_timestamp_seconds"),
                 cx_test_pg_scalar(conn,
                                   "SELECT floor(extract(epoch FROM max(occurred_at)))::bigint"
                                   " FROM cx.events"));
    /* what runs, and since when */
    cr_assert_not_null(strstr(body, "\ncxpulse_build_info{version=\"" CX_VERSION "\",rules=\""),
                       "%s", body);
    cr_assert_gt(sample(body, "process_start_time_seconds"), 1.7e9);
    cr_assert_gt(sample(body, "process_cpu_seconds_total"), 0);
    cr_assert_gt(sample(body, "process_open_fds"), 5, "Kafka, PostgreSQL and the listener");
    /* what it took: the events were classified, and the broker is reached */
    cr_assert_gt(sample(body, "cxpulse_classify_seconds_total"), 0);
    cr_assert_geq(sample(body, "cxpulse_kafka_connections_up"), 1, "%s", body);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events WHERE event_id IN"
                                         " ('de-1', 'zh-1') AND sentiment = 'neutral'"
                                         " AND categories = '{}'"),
                 2, "classified by their fields alone");
    cr_assert_eq(sample(body, "cxpulse_events_classified_total{category=\"external\","
                              "sentiment=\"negative\"}"),
                 cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events WHERE primary_category"
                                         " = 'external' AND sentiment = 'negative'"));
    cr_assert_eq(family_sum(body, "cxpulse_events_classified_total"), stored);
    cr_assert_geq(sample(body, "cxpulse_batch_messages_count"), 1);
    /* freshness: every message from its Kafka timestamp to its commit, well
     * under a minute here, and the newest of them */
    cr_assert_eq(sample(body, "cxpulse_message_latency_seconds_count"), produced);
    cr_assert_eq(sample(body, "cxpulse_message_latency_seconds_bucket{le=\"60\"}"), produced);
    double newest = sample(body, "cxpulse_newest_message_timestamp_seconds");
    cr_assert(newest > (double)cx_now_wall_us() / 1e6 - 120 &&
                  newest <= (double)cx_now_wall_us() / 1e6,
              "newest message stored at %f", newest);
    cr_assert_eq(sample(body, "cxpulse_batch_messages_sum"), produced);
    cr_assert_eq(sample(body, "cxpulse_partitions_assigned"), 3);
    cr_assert_eq(sample(body, "cxpulse_postgresql_up"), 1);
    for (int p = 0; p < 3; p++) {
        char name[96];
        snprintf(name, sizeof name, "cxpulse_consumer_lag{topic=\"cx.events\",partition=\"%d\"}",
                 p);
        cr_assert_eq(sample(body, name), 0, "partition %d is fully consumed", p);
    }
}

/* Large messages make small batches: at 64 KiB, 20 KB messages go at most
 * four to a batch (the fourth passes the limit), whatever batch.max_messages
 * allows; without the limit the burst below fits in one or two. */
Test(http, large_messages_are_batched_by_their_bytes)
{
    static char v[20000];
    char err[512];
    cx_test_stop(run_pid, SIGKILL, 5000); /* the suite's, started with the default */
    setenv("CXPULSE_BATCH_MAX_BYTES", "65536", 1);
    start_service();
    unsetenv("CXPULSE_BATCH_MAX_BYTES");
    memset(v, 'x', sizeof v); /* not JSON: each a dead letter, bytes and all */
    for (int i = 0; i < 60; i++, produced++)
        cr_assert_eq(
            cx_producer_send(producer, "cx.events", NULL, 0, v, sizeof v, 0, err, sizeof err),
            CX_OK, "%s", err);
    uint64_t delivered;
    cr_assert_eq(cx_producer_flush(producer, 30000, &delivered, err, sizeof err), CX_OK, "%s", err);
    wait_handled(produced);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"
                                         " WHERE length(raw) = 20000"),
                 60);
    cr_assert_eq(cx_test_http_get(port, "/metrics", body, sizeof body), 200);
    double batches = sample(body, "cxpulse_batch_messages_count");
    cr_assert_geq(batches, 15, "%.0f batches for 60 messages of 20 KB", batches);
    cr_assert_eq(sample(body, "cxpulse_batch_messages_bucket{le=\"10\"}"), batches,
                 "a batch held more than 10 of them");
}

Test(http, health_and_readiness_follow_postgresql)
{
    produce(20);
    wait_handled(produced);
    cr_assert_eq(cx_test_http_get(port, "/healthz", body, sizeof body), 200);
    cr_assert_eq(cx_test_http_get(port, "/readyz", body, sizeof body), 200, "%s", body);
    cr_assert_str_eq(body, "ready\n");

    cx_test_pg_down(&conn);
    /* readiness is checked every 2 s, not per request */
    int status = 200;
    for (int i = 0; i < 100 && status == 200; i++, cx_test_sleep_ms(100))
        status = cx_test_http_get(port, "/readyz", body, sizeof body);
    cx_test_pg_back(&conn, url);
    cr_assert_eq(status, 503, "ready while PostgreSQL is down: %s", body);
    cr_assert(strstr(body, "postgresql") != NULL, "%s", body);
    /* the reason is logged; anyone who reaches the port learns no server,
     * user or database name */
    cr_assert(strstr(body, "127.0.0.1") == NULL && strstr(body, "cxtest_") == NULL &&
                  strstr(body, "user") == NULL,
              "%s", body);
    cr_assert_eq(cx_test_http_get(port, "/healthz", body, sizeof body), 200, "alive all along");
    int ready = 0;
    for (int i = 0; i < 100 && !ready; i++, cx_test_sleep_ms(100))
        ready = cx_test_http_get(port, "/readyz", body, sizeof body) == 200;
    cr_assert(ready, "not ready again after PostgreSQL came back: %s", body);
    cr_assert_eq(cx_test_http_get(port, "/nope", body, sizeof body), 404);
}

/* The value of a metric now. */
static double metric(const char *name)
{
    cr_assert_eq(cx_test_http_get(port, "/metrics", body, sizeof body), 200);
    return sample(body, name);
}

/* Polls `name` for up to 10 s until it equals `want`. */
static int metric_becomes(const char *name, double want)
{
    for (int i = 0; i < 100; i++, cx_test_sleep_ms(100))
        if (metric(name) == want)
            return 1;
    return 0;
}

/* Polls for up to 10 s until the lag summed over the partitions is want;
 * returns the last sum. */
static double lag_becomes(double want)
{
    double sum = -1;
    for (int i = 0; i < 100 && sum != want; i++, cx_test_sleep_ms(100)) {
        cr_assert_eq(cx_test_http_get(port, "/metrics", body, sizeof body), 200);
        sum = family_sum(body, "cxpulse_consumer_lag");
    }
    return sum;
}

/* The dead letters waiting are this group's rows of cx.dead_letters not
 * stored yet (never replayed, or replayed and failed again), counted again
 * soon after the service stores new ones. */
Test(http, dead_letters_waiting_are_this_groups_not_yet_stored)
{
    static const char *const rows[][2] = {
        {"ops", "'failed again: still no occurred_at'"}, /* waiting */
        {"ops", "'stored as event ev-7'"},               /* dealt with */
        {"ops", "'duplicate of stored event ev-8'"},     /* dealt with */
        {"other", "NULL"},                               /* another group's */
    };
    for (int i = 0; i < 4; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "INSERT INTO cx.dead_letters (consumer_group, kafka_topic, kafka_partition,"
                 " kafka_offset, error, raw, replay_result) VALUES ('%s', 'old', 0, %d,"
                 " 'bad', '\\x7b', %s)",
                 rows[i][0], i, rows[i][1]);
        cx_test_pg_exec(conn, sql);
    }
    long bad = produce(20); /* two malformed */
    wait_handled(produced);
    cr_assert_eq(bad, 2);
    cr_assert(metric_becomes("cxpulse_dead_letters_waiting", (double)bad + 1),
              "cxpulse_dead_letters_waiting is %g, not %ld", metric("cxpulse_dead_letters_waiting"),
              bad + 1);
}

/* A backlog nobody replays can grow without end, and the gauge is counted
 * every few seconds on every member: it stops counting at 10,000. */
Test(http, a_dead_letter_backlog_past_ten_thousand_reads_ten_thousand)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.dead_letters (consumer_group, kafka_topic,"
                          " kafka_partition, kafka_offset, error, raw)"
                          " SELECT 'ops', 'old', 0, n, 'bad', '\\x7b'"
                          " FROM generate_series(1, 10050) n");
    long bad = produce(20);
    wait_handled(produced);
    cr_assert_eq(bad, 2);
    cr_assert(metric_becomes("cxpulse_dead_letters_waiting", 10000),
              "cxpulse_dead_letters_waiting is %g, not 10000",
              metric("cxpulse_dead_letters_waiting"));
}

/* One batch that cannot be stored does not stop fetching; the consumer
 * pauses when the writers have no more room. The lag counts what is not
 * stored, read or not, and grows while fetching is paused. */
Test(http, consumption_is_paused_only_when_the_writers_have_no_room)
{
    produce(20);
    wait_handled(produced);
    cr_assert_eq(metric("cxpulse_consumption_paused"), 0);
    cx_test_pg_down(&conn);
    produce(5);
    int retried = 0; /* the check may see the outage first: wait for a write's retry */
    for (int i = 0; i < 100 && !retried; i++, cx_test_sleep_ms(100))
        retried = metric("cxpulse_pg_retries_total") > 0;
    cr_assert(retried, "no write failed");
    cr_assert_eq(metric("cxpulse_postgresql_up"), 0);
    cr_assert_eq(metric("cxpulse_consumption_paused"), 0, "paused with room for more");
    for (int k = 0; k < 3; k++) { /* a batch each: two in the writers, one in hand */
        produce(5);
        cx_test_sleep_ms(300);
    }
    cr_assert(metric_becomes("cxpulse_consumption_paused", 1), "not paused with no room");
    double lag = lag_becomes(20);
    cr_assert_eq(lag, 20, "lag %.0f with the 20 messages since the outage not stored", lag);
    produce(7);
    lag = lag_becomes(27);
    cr_assert_eq(lag, 27, "lag %.0f with 7 more arrived while paused", lag);
    /* with the leader down too, a scrape still answers within seconds */
    rd_kafka_mock_broker_set_down(cx_mock_cluster(mock), 1);
    int64_t t0 = cx_now_mono_us();
    cr_assert_eq(cx_test_http_get(port, "/metrics", body, sizeof body), 200);
    double took = (double)(cx_now_mono_us() - t0) / 1e6;
    rd_kafka_mock_broker_set_up(cx_mock_cluster(mock), 1);
    cr_assert_lt(took, 5, "/metrics took %.1f s with the leader down", took);
    cx_test_pg_back(&conn, url);
    wait_handled(produced);
    cr_assert(metric_becomes("cxpulse_consumption_paused", 0));
    cr_assert_eq(metric("cxpulse_postgresql_up"), 1);
}

/* Started before its database, as compose files and Kubernetes often start
 * it, the service is ready once PostgreSQL answers, with nothing to write. */
Test(http, ready_once_postgresql_comes_up_after_the_service)
{
    cx_test_stop(run_pid, SIGKILL, 5000);
    cx_test_pg_down(&conn);
    start_service();
    int up = 0; /* the listener answers (it does before PostgreSQL is reached) */
    for (int i = 0; i < 100 && !up; i++) {
        up = cx_test_http_get(port, "/healthz", body, sizeof body) == 200;
        if (!up)
            cx_test_sleep_ms(100);
    }
    cr_assert(up, "/healthz does not answer");
    sleep(3); /* a few of the 2 s checks of PostgreSQL */
    cr_assert_eq(cx_test_http_get(port, "/readyz", body, sizeof body), 503, "%s", body);
    cr_assert_eq(metric("cxpulse_postgresql_up"), 0);
    cx_test_pg_back(&conn, url);
    int ready = 0;
    for (int i = 0; i < 150 && !ready; i++, cx_test_sleep_ms(100))
        ready = cx_test_http_get(port, "/readyz", body, sizeof body) == 200;
    cr_assert(ready, "not ready after PostgreSQL came up: %s", body);
    cr_assert_eq(metric("cxpulse_postgresql_up"), 1);
}

/* A quiet topic: no write fails, but the check that PostgreSQL answers does,
 * and the gauge says so (an alert on it fires during a quiet outage). */
Test(http, postgresql_up_falls_when_it_stops_answering_on_a_quiet_topic)
{
    produce(10);
    wait_handled(produced);
    cr_assert_eq(metric("cxpulse_postgresql_up"), 1);
    cx_test_pg_down(&conn);
    cr_assert(metric_becomes("cxpulse_postgresql_up", 0), "still up with the database down");
    cr_assert_eq(metric("cxpulse_pg_retries_total"), 0, "a write was tried");
    cx_test_pg_back(&conn, url);
    cr_assert(metric_becomes("cxpulse_postgresql_up", 1));
}

/* Sets default_transaction_read_only ("on" or "off") for the test's
 * database. It reaches new sessions only: with "on" the service's sessions
 * are ended, as a failover to a standby ends them, so that the ones it opens
 * again take no writes; "off" ends none. */
static void set_read_only(const char *on)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "DO $$ BEGIN EXECUTE format('ALTER DATABASE %%I SET default_transaction_read_only"
             " = %s', current_database()); END $$",
             on);
    cx_test_pg_exec(conn, sql);
    if (strcmp(on, "on") == 0)
        cx_test_pg_scalar(conn, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                " WHERE datname = current_database() AND pid <> pg_backend_pid()");
}

/* Polls /readyz for up to 10 s until it answers 503 saying the server is
 * read-only; returns 1 if it did (the answer is in body). */
static int readyz_says_read_only(void)
{
    for (int i = 0; i < 100; i++, cx_test_sleep_ms(100))
        if (cx_test_http_get(port, "/readyz", body, sizeof body) == 503 &&
            strstr(body, "postgresql: read-only (") != NULL)
            return 1;
    return 0;
}

/* The number of lines of the file log holding text. */
static int log_count(const char *log, const char *text)
{
    static char buf[1 << 20];
    cx_test_read_file(log, buf, sizeof buf);
    int n = 0;
    for (const char *p = strstr(buf, text); p != NULL; p = strstr(p + 1, text))
        n++;
    return n;
}

/* Lets the server take writes again: the event event_id, which a writer
 * has failed to store for a while, is stored within seconds (not when the
 * writer's backoff, 10 s or more by then, ends), and then every event
 * produced but the bad ones. */
static void writes_again_store_at_once(const char *event_id, long bad)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM cx.events WHERE event_id = '%s'", event_id);
    set_read_only("off");
    int64_t t0 = cx_now_mono_us();
    int stored = 0;
    for (int i = 0; i < 60 && !stored; i++, cx_test_sleep_ms(100))
        stored = cx_test_pg_scalar(conn, sql);
    cr_assert(stored, "not stored within 6 s of the server taking writes again");
    double took = (double)(cx_now_mono_us() - t0) / 1e6;
    wait_handled(produced);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), produced - bad,
                 "stored in %.1f s", took);
}

/* A server that answers but takes no writes (a standby the service reached
 * in a failover; here default_transaction_read_only): /readyz says so, and
 * the gauge is 0, while nothing is stored and nothing is lost; the log says
 * it once. Once the server takes writes again, the check wakes the writer
 * waiting out its backoff: the batch is stored within seconds, not when the
 * backoff (10 s or more by then) ends. */
Test(http, a_read_only_server_is_said_and_taking_writes_again_wakes_the_writers)
{
    char log[64];
    snprintf(log, sizeof log, "/tmp/cxpulse-http-test-%ld.log", (long)getpid());
    cx_test_stop(run_pid, SIGKILL, 5000); /* the suite's: this one logs to a file */
    start_service_logged(log);
    long bad = produce(10);
    wait_handled(produced);
    cr_assert_eq(cx_test_http_get(port, "/readyz", body, sizeof body), 200, "%s", body);
    set_read_only("on");
    /* one message: one writer's batch */
    send_one("{\"event_id\":\"ro-1\",\"occurred_at\":\"2024-05-01T00:00:00Z\","
             "\"text\":\"the courier was late\"}");
    cr_assert(readyz_says_read_only(), "/readyz does not say the server is read-only: %s", body);
    cr_assert(strstr(body, "127.0.0.1") == NULL && strstr(body, "cxtest_") == NULL &&
                  strstr(body, "user") == NULL,
              "%s", body);
    cr_assert_eq(metric("cxpulse_postgresql_up"), 0, "up while the server takes no writes");
    /* After its 8th failure in a row the writer waits 12.8 s (+-20%). */
    for (int i = 0; i < 400 && metric("cxpulse_pg_retries_total") < 8; i++)
        cx_test_sleep_ms(100);
    cr_assert_geq(metric("cxpulse_pg_retries_total"), 8, "the writer did not fail 8 times");
    cr_assert_eq(cx_test_http_get(port, "/readyz", body, sizeof body), 503, "%s", body);
    cr_assert(strstr(body, "postgresql: read-only (") != NULL, "%s", body);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events WHERE event_id = 'ro-1'"),
                 0);

    writes_again_store_at_once("ro-1", bad);
    int ready = 0;
    for (int i = 0; i < 50 && !ready; i++, cx_test_sleep_ms(100))
        ready = cx_test_http_get(port, "/readyz", body, sizeof body) == 200;
    cr_assert(ready, "not ready again: %s", body);
    cr_assert_eq(metric("cxpulse_postgresql_up"), 1);
    /* once per change, however many checks saw it */
    cr_assert_eq(log_count(log, "not ready: postgresql is read-only"), 1);
    cr_assert_eq(log_count(log, "postgresql takes writes again after"), 1);
    unlink(log);
}

/* Appends a transaction marker (commit or abort) to cx.events[partition]. */
static void marker(int partition, const char *kind)
{
    char script[512];
    cx_test_source_path("tests/support/kafka_marker.py", script, sizeof script);
    cr_assert_eq(cx_test_sh("python3 '%s' '%s' cx.events %d %s >/dev/null", script,
                            cx_mock_bootstraps(mock), partition, kind),
                 0, "no marker appended to partition %d", partition);
}

/* A transactional producer leaves a marker after each transaction: an offset
 * that holds no message, which the consumer reads past. Markers read past
 * while idle are stored as the group's offsets, and nothing else is: the lag
 * reaches 0 (it stayed at 1 per partition with a marker at its end). */
Test(http, transaction_markers_are_read_past_and_the_lag_reaches_0)
{
    long bad = produce(30);
    wait_handled(produced);
    for (int p = 0; p < 3; p++)
        marker(p, p < 2 ? "commit" : "abort");
    bad += produce(9);
    marker(0, "commit"); /* at the end of partition 0 */
    wait_handled(produced + 4);
    double lag = -1;
    for (int i = 0; i < 100 && lag != 0; i++, cx_test_sleep_ms(100)) {
        cr_assert_eq(cx_test_http_get(port, "/metrics", body, sizeof body), 200);
        lag = family_sum(body, "cxpulse_consumer_lag");
    }
    cr_assert_eq(lag, 0, "lag %f with every message stored", lag);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT sum(next_offset) FROM cx.consumer_offsets"
                                         " WHERE consumer_group = 'ops'"),
                 produced + 4, "stored past the markers, and no further");
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), produced - bad);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"), bad);
}

/* With the listener off, PostgreSQL is checked all the same: once the
 * server takes writes again, the writer waiting out its backoff is woken and
 * the batch is stored within seconds, not when the backoff ends. */
Test(http, without_the_listener_taking_writes_again_still_wakes_the_writers)
{
    char log[64];
    snprintf(log, sizeof log, "/tmp/cxpulse-http-test-%ld.log", (long)getpid());
    cx_test_stop(run_pid, SIGKILL, 5000);
    http_off = 1;
    start_service_logged(log);
    long bad = produce(10);
    wait_handled(produced);
    set_read_only("on");
    send_one("{\"event_id\":\"ro-2\",\"occurred_at\":\"2024-05-01T00:00:00Z\","
             "\"text\":\"the courier was late\"}");
    /* After its 8th failure in a row the writer waits 12.8 s (+-20%). */
    for (int i = 0; i < 400 && log_count(log, "(attempt 8,") == 0; i++)
        cx_test_sleep_ms(100);
    cr_assert_eq(log_count(log, "(attempt 8,"), 1, "the writer did not fail 8 times");
    writes_again_store_at_once("ro-2", bad);
    cr_assert_eq(log_count(log, "postgresql takes writes again after"), 1);
    unlink(log);
}

/* Started against a server that takes no writes, /readyz says so (no
 * partitions are assigned either, as they wait for their stored offsets),
 * and the service is ready once the server takes writes. */
Test(http, started_against_a_read_only_server_readyz_says_it_is_read_only)
{
    cx_test_stop(run_pid, SIGKILL, 5000);
    set_read_only("on");
    start_service();
    produce(10);
    cr_assert(readyz_says_read_only(), "/readyz does not say the server is read-only: %s", body);
    cr_assert_eq(metric("cxpulse_postgresql_up"), 0);
    set_read_only("off");
    wait_handled(produced);
    int ready = 0;
    for (int i = 0; i < 100 && !ready; i++, cx_test_sleep_ms(100))
        ready = cx_test_http_get(port, "/readyz", body, sizeof body) == 200;
    cr_assert(ready, "not ready once the server takes writes: %s", body);
}

/* /api/live's "service" object, parsed (json_decref() it); NULL on no 200. */
static json_t *live_service(void)
{
    if (cx_test_http_get(port, "/api/live", body, sizeof body) != 200)
        return NULL;
    json_t *live = json_loads(body, 0, NULL);
    cr_assert_not_null(live, "/api/live is not JSON: %.300s", body);
    json_t *svc = json_incref(json_object_get(live, "service"));
    json_decref(live);
    cr_assert_not_null(svc, "/api/live has no service: %.300s", body);
    return svc;
}

static void rendered_page(const char *name, char *dom, size_t len);

/* The live page's figures come from PostgreSQL, stored by every process of
 * the group; whether this process is storing is its own. Up to date, it says
 * so; while the server takes no writes, the page says this process is not
 * storing and why, in words of ours, and how many messages wait: the drop in
 * volume it draws is not customers falling quiet. */
Test(http, the_live_page_says_when_this_process_is_not_storing)
{
    cr_assert_eq(access("/usr/bin/chromium", X_OK), 0, "Debian's chromium is not installed");
    long bad = produce(20);
    wait_handled(produced);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), produced - bad);
    int ready = 0, nothing_said = 0;
    json_int_t waiting = -1, partitions = 0;
    for (int i = 0; i < 50 && waiting != 0; i++, cx_test_sleep_ms(200)) { /* counted every 2 s */
        json_t *svc = live_service();
        ready = svc && json_is_true(json_object_get(svc, "ready"));
        nothing_said = svc && json_is_null(json_object_get(svc, "not_ready"));
        json_t *w = svc ? json_object_get(svc, "waiting") : NULL;
        waiting = json_is_integer(w) ? json_integer_value(w) : -1; /* null: not known */
        partitions = svc ? json_integer_value(json_object_get(svc, "partitions")) : 0;
        json_decref(svc);
    }
    cr_assert(ready && nothing_said, "not ready");
    cr_assert_eq(waiting, 0);
    cr_assert_eq(partitions, 3);
    json_t *fresh = live_service(); /* the newest message stored: sent seconds ago */
    double age = fresh ? json_real_value(json_object_get(fresh, "newest_age_seconds")) : -1;
    json_decref(fresh);
    cr_assert(age >= 0 && age < 120, "the newest message stored is %f s old", age);
    static char dom[1 << 20];
    rendered_page("live-page-stored.html", dom, sizeof dom);
    cr_assert(strstr(dom, ">stored up to date · the newest message stored was sent ") != NULL,
              "the page does not say it is up to date, and how fresh");
    cr_assert(strstr(dom, ">not storing new feedback") == NULL);

    set_read_only("on");
    for (int k = 0; k < 3; k++) {
        char v[160];
        snprintf(v, sizeof v,
                 "{\"event_id\":\"ns-%d\",\"occurred_at\":\"2024-05-01T00:00:00Z\","
                 "\"text\":\"the courier was late\"}",
                 k);
        send_one(v);
    }
    /* (the check that sees the server read-only may come after a write
     * that failed, or a check that lost its connection to the terminate) */
    char said[1024] = "";
    waiting = 0;
    ready = 1;
    for (int i = 0; i < 100 && (!strstr(said, "read-only") || waiting < 3); i++) {
        cx_test_sleep_ms(200);
        json_t *svc = live_service(); /* the page reads; only writes are refused */
        const char *why = svc ? json_string_value(json_object_get(svc, "not_ready")) : NULL;
        snprintf(said, sizeof said, "%s", why ? why : "");
        waiting = svc ? json_integer_value(json_object_get(svc, "waiting")) : 0;
        ready = svc != NULL && json_is_true(json_object_get(svc, "ready"));
        json_decref(svc);
    }
    cr_assert(!ready, "ready while the server takes no writes");
    cr_assert(strncmp(said, "postgresql: read-only (", 23) == 0, "/api/live says why: '%s'", said);
    cr_assert_eq(waiting, 3, "waiting");
    cr_assert(strstr(body, "127.0.0.1") == NULL && strstr(body, "cxtest_") == NULL, "%s", body);
    rendered_page("live-page-not-storing.html", dom, sizeof dom);
    cr_assert(strstr(dom, ">not storing new feedback · the figures may stop short of now<") != NULL,
              "the page does not say it is not storing");
    cr_assert(strstr(dom, ">why: postgresql: read-only (") != NULL, "the page does not say why");
    cr_assert(strstr(dom, ">3 messages of this process's 3 partitions not stored yet · the "
                          "newest message stored was sent ") != NULL,
              "the page does not say what waits");

    set_read_only("off");
    wait_handled(produced);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events WHERE event_id LIKE "
                                         "'ns-%'"),
                 3);
}

/* ---- A slow proxy, so that the browser's page lives long enough ---------- */

/* Headless Chromium runs page timers in virtual time, which only waits for
 * the network. Delaying each request through this proxy stretches a page
 * that polls every 2 s over seconds of real time, during which the test adds
 * events. */
typedef struct page_proxy {
    int delay_ms;   /* before every request, kept-alive or not */
    int hold_after; /* polls after this many wait for `released` (0: none wait) */
    atomic_int polls; /* GET /api/live requests passed on so far */
    atomic_int released;
} page_proxy;

static int slow_request(void *ctx, int up, const char *buf, size_t n)
{
    page_proxy *pp = ctx;
    (void)up;
    int seq = n >= 13 && strncmp(buf, "GET /api/live", 13) == 0 ? ++pp->polls : 0;
    for (int w = 0; pp->hold_after && seq > pp->hold_after && !pp->released && w < 600; w++)
        cx_test_sleep_ms(100);
    cx_test_sleep_ms(pp->delay_ms);
    return 1;
}

/* Reads the integer after `marker` in the page's DOM, or -1. */
static long dom_number(const char *dom, const char *marker)
{
    const char *p = strstr(dom, marker);
    return p ? strtol(p + strlen(marker), NULL, 10) : -1;
}

Test(http, the_live_page_shows_the_four_categories_and_updates_in_place)
{
    cr_assert_eq(access("/usr/bin/chromium", X_OK), 0, "Debian's chromium is not installed");
    produce(100);
    /* one complaint at a kiosk: 100% negative, of one event */
    char kiosk[256], when[32];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    snprintf(kiosk, sizeof kiosk,
             "{\"event_id\":\"kiosk-1\",\"occurred_at\":\"%s\",\"channel\":\"kiosk\","
             "\"text\":\"the courier lost my parcel\"}",
             when);
    send_one(kiosk);
    wait_handled(produced);
    /* a ticket of a right-to-left channel, with a rule name without spaces */
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, scope, owner, reason) VALUES"
                          " (repeat('r', 200), 'external', 'channel=واتساب', 'فريق',"
                          "  'channel=واتساب: 1 matching event(s) arrived"
                          " (the newest dated 10:05 UTC)')");

    page_proxy pp = {.delay_ms = 400, .hold_after = 1};
    cx_test_proxy *px = cx_test_proxy_start(port, slow_request, &pp);
    char dom_path[512], cmd[2048];
    snprintf(dom_path, sizeof dom_path, "%s/artifacts/live-page.html", CX_BINARY_DIR);
    cx_test_sh("mkdir -p '%s/artifacts'", CX_BINARY_DIR);
    /* One page load, several polls: the DOM is dumped after ~30 polls. */
    snprintf(cmd, sizeof cmd,
             "d=$(mktemp -d); timeout 120 chromium --headless --no-sandbox --disable-gpu "
             "--user-data-dir=\"$d\" --virtual-time-budget=60000 --dump-dom "
             "http://127.0.0.1:%d/ >'%s' 2>/dev/null; rc=$?; rm -rf \"$d\"; exit $rc",
             cx_test_proxy_port(px), dom_path);
    FILE *browser = popen(cmd, "r");
    cr_assert_not_null(browser);
    /* The page's first poll is answered before more events come (its second
     * one is on its way), and the later polls wait until they are stored: on a
     * busy machine chromium starts slowly and storing takes a while. */
    for (int i = 0; i < 600 && pp.polls < 2; i++)
        cx_test_sleep_ms(100);
    cr_assert_geq(pp.polls, 2, "the page never polled");
    produce(200);
    wait_handled(produced);
    pp.released = 1;
    int rc = pclose(browser);
    cx_test_proxy_stop(px);
    cr_assert_eq(rc, 0, "chromium failed");

    static char dom[1 << 20];
    cx_test_read_file(dom_path, dom, sizeof dom);
    for (const char *const *c = (const char *const[]){"facing", "collaborative", "external",
                                                      "performance", NULL};
         *c; c++) {
        char card[64];
        snprintf(card, sizeof card, "data-category=\"%s\"", *c);
        cr_assert(strstr(dom, card) != NULL, "no card for %s", *c);
    }
    cr_assert(strstr(dom, "Front line") && strstr(dom, "Back office") && strstr(dom, "External") &&
              strstr(dom, "Performance"));
    cr_assert(strstr(dom, ">live<") != NULL, "events of this minute: the page is live");
    for (const char *const *l =
             (const char *const[]){">events, last hour<", ">events this minute so far<",
                                   ">events per minute<", ">negative share, 5-minute rolling<",
                                   "last hour of event time", NULL};
         *l; l++)
        cr_assert(strstr(dom, *l) != NULL, "no label %s", *l);
    /* Read aloud: each chart says what it shows, status changes are announced,
     * the tables have names, and "half or more negative" is not colour alone */
    for (const char *const *l =
             (const char *const[]){
                 "aria-label=\"Front line: ", " events in the hour shown; the busiest minute had ",
                 "role=\"status\" aria-live=\"polite\"", "<caption>Channels</caption>",
                 "<caption>Open tickets</caption>", "td.bad::before { content: \"\\25B2", NULL};
         *l; l++)
        cr_assert(strstr(dom, *l) != NULL, "no %s", *l);
    /* Where it hurts: the one channel, its events counted once each (read at
     * most 10 s before the last poll, so at most what is stored now) */
    const char *chat = strstr(dom, "data-where=\"channels\"");
    cr_assert_not_null(chat, "no channel breakdown");
    cr_assert_not_null(strstr(chat, "<td dir=\"auto\">chat</td>"),
                       "chat is not in the channel breakdown, in a cell of its own direction");
    long chat_events = dom_number(chat, "<td dir=\"auto\">chat</td><td class=\"num\">");
    cr_assert(chat_events > 0 &&
                  chat_events <= cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"
                                                         " WHERE channel = 'chat'"),
              "chat shows %ld events", chat_events);
    /* a share of one event is not marked bad, however negative */
    cr_assert_not_null(strstr(dom, "<td dir=\"auto\">kiosk</td><td class=\"num\">1</td>"
                                   "<td class=\"num\">1</td><td class=\"num few\""),
                       "the kiosk's one complaint is not shown as too few to judge");
    const char *chat_row = strstr(chat, "<td dir=\"auto\">chat</td>");
    const char *marked = strstr(chat_row, "<td class=\"num bad\""),
               *row_end = strstr(chat_row, "</tr>");
    cr_assert(marked != NULL && row_end != NULL && marked < row_end,
              "chat's many complaints are not marked bad");
    cr_assert_not_null(strstr(dom, "data-where=\"touchpoints\""), "no touchpoint breakdown");
    cr_assert_not_null(strstr(dom, ">(none given)<"), "events without a touchpoint are not named");
    /* Right-to-left names and descriptions are isolated, and a long rule name
     * breaks rather than widen the table. */
    for (const char *const *l =
             (const char *const[]){
                 "<td dir=\"auto\">فريق</td><td dir=\"auto\">rrrrrrrrrr",
                 "<td>External · <bdi>channel=واتساب</bdi></td>", /* the cards' names */
                 "<td dir=\"auto\"><bdi>channel=واتساب</bdi>: 1 matching event(s)",
                 "td { overflow-wrap: anywhere; }", NULL};
         *l; l++)
        cr_assert(strstr(dom, *l) != NULL, "no %s in the tickets", *l);
    long first = dom_number(dom, "data-first-total=\""), last = dom_number(dom, "id=\"total-events\">");
    long polls = dom_number(dom, "id=\"updates\">");
    cr_assert_gt(first, 0, "the first poll showed the first events");
    cr_assert_gt(last, first, "the page did not update in place (first %ld, last %ld, %ld polls)",
                 first, last, polls);
    cr_assert_eq(last, cx_test_pg_scalar(conn, "SELECT coalesce(sum(events), 0) FROM cx.signals"
                                               " WHERE window_seconds = 60"
                                               " AND category <> 'none'"));
    /* a part whose figures did not change is not drawn again: the tickets
     * table, the same since the events were stored, was drawn polls ago (a
     * screen reader reading it keeps its place) */
    long tickets_drawn = dom_number(dom, "<table data-drawn=\"");
    cr_assert(tickets_drawn >= 1 && tickets_drawn < polls,
              "the tickets table was drawn at update %ld of %ld", tickets_drawn, polls);

    char png[512];
    snprintf(png, sizeof png, "%s/artifacts/live-page.png", CX_BINARY_DIR);
    unlink(png);
    cr_assert_eq(cx_test_sh("d=$(mktemp -d); timeout 120 chromium --headless --no-sandbox "
                            "--disable-gpu --user-data-dir=\"$d\" --hide-scrollbars "
                            "--window-size=1280,1000 --virtual-time-budget=5000 "
                            "--screenshot='%s' http://127.0.0.1:%d/ >/dev/null 2>&1; rc=$?;"
                            " rm -rf \"$d\"; exit $rc",
                            png, port),
                 0);
    struct stat st;
    cr_assert(stat(png, &st) == 0 && st.st_size > 10000, "no screenshot at %s", png);
}

/* ---- Slow clients and a hanging PostgreSQL ------------------------------- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A TCP connection to 127.0.0.1:port from source address src (127.0.0.x), or -1. */
static int connect_from(const char *src, int to_port)
{
    struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &from.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    to.sin_port = htons((uint16_t)to_port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && (bind(fd, (struct sockaddr *)&from, sizeof from) != 0 ||
                    connect(fd, (struct sockaddr *)&to, sizeof to) != 0)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* GETs path from 127.0.0.1 as Host host (NULL: HTTP/1.0 without a Host) and
 * waits at most wait_ms for the whole answer; returns the status (-1: none)
 * and the answer with its headers in resp; *ms: how long it took. */
static int get_as(int to_port, const char *host, const char *path, int wait_ms, char *resp,
                  size_t resplen, long long *ms)
{
    long long t0 = now_ms();
    int fd = connect_from("127.0.0.1", to_port), status = -1;
    char req[512];
    int n = host ? snprintf(req, sizeof req,
                            "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host)
                 : snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
    size_t len = 0;
    resp[0] = '\0';
    if (fd >= 0 && write(fd, req, (size_t)n) == n) {
        for (;;) {
            struct pollfd pfd = {fd, POLLIN, 0};
            long long left = wait_ms - (now_ms() - t0);
            if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
                break;
            ssize_t got = read(fd, resp + len, resplen - 1 - len);
            if (got <= 0)
                break;
            len += (size_t)got;
            resp[len] = '\0';
            if (len == resplen - 1)
                break;
        }
    }
    if (fd >= 0)
        close(fd);
    *ms = now_ms() - t0;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
        status = -1;
    return status;
}

/* The same as Host 127.0.0.1. */
static int timed_get(int to_port, const char *path, int wait_ms, char *resp, size_t resplen,
                     long long *ms)
{
    return get_as(to_port, "127.0.0.1", path, wait_ms, resp, resplen, ms);
}

typedef struct trickle {
    int *fds;
    size_t n;
    atomic_int stop; /* fds[] is the thread's until it has stopped */
} trickle;

/* Each slow client sends its request one byte every 2 s (less than the idle
 * time-out, so the server keeps the connection) and never finishes it. */
static void *trickle_main(void *arg)
{
    trickle *t = arg;
    static const char req[] =
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaa";
    for (size_t k = 0; !t->stop && k < sizeof req - 1; k++) {
        for (size_t i = 0; i < t->n; i++)
            if (t->fds[i] >= 0 && send(t->fds[i], &req[k], 1, MSG_NOSIGNAL) != 1) {
                close(t->fds[i]);
                t->fds[i] = -1;
            }
        for (int w = 0; w < 20 && !t->stop; w++)
            cx_test_sleep_ms(100);
    }
    return NULL;
}

/* The live page as headless Chromium renders it after 5 s of its polls, kept
 * in artifacts/name; its DOM in dom[len]. */
static void rendered_page(const char *name, char *dom, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/artifacts/%s", CX_BINARY_DIR, name);
    cr_assert_eq(cx_test_sh("mkdir -p '%s/artifacts'; d=$(mktemp -d); timeout 120 chromium"
                            " --headless --no-sandbox --disable-gpu --user-data-dir=\"$d\""
                            " --virtual-time-budget=5000 --dump-dom http://127.0.0.1:%d/ >'%s'"
                            " 2>/dev/null; rc=$?; rm -rf \"$d\"; exit $rc",
                            CX_BINARY_DIR, port, path),
                 0, "chromium failed");
    cx_test_read_file(path, dom, len);
}

/* With 5-minute windows the page draws 60 of them: its labels say 5 hours,
 * 5 minutes per bar, a 25-minute rolling share, not the default's hour. */
Test(http, the_live_page_labels_follow_the_smallest_signal_window)
{
    cr_assert_eq(access("/usr/bin/chromium", X_OK), 0, "Debian's chromium is not installed");
    for (int i = 0; i < 100 && cx_test_http_get(port, "/healthz", body, sizeof body) != 200; i++)
        cx_test_sleep_ms(100); /* its SIGTERM handler is in place */
    cr_assert_eq(cx_test_stop(run_pid, SIGTERM, 20000), 0);
    setenv("CXPULSE_WINDOW_SECONDS", "300,3600", 1);
    start_service();
    unsetenv("CXPULSE_WINDOW_SECONDS");
    produce(50);
    /* the new member gets the group's partitions some 45 s later (the
     * default session.timeout.ms: the stopped member's, measured here) */
    wait_handled_within(produced, 150);
    static char dom[1 << 20];
    rendered_page("live-page-300.html", dom, sizeof dom);
    cr_assert_gt(dom_number(dom, "id=\"total-events\">"), 0, "the page got no data");
    for (const char *const *l =
             (const char *const[]){">events, last 5 hours<", ">events, latest 5 minutes<",
                                   ">events per 5 minutes<", ">negative share, 25-minute rolling<",
                                   "last 5 hours of event time",
                                   "tags in the <span id=\"shown\">5 hours<", NULL};
         *l; l++)
        cr_assert(strstr(dom, *l) != NULL, "no label %s", *l);
}

/* With no event in the last hour (a replay of history, or a feed that has
 * stopped) the page says it is not live, dates the hour it shows and labels
 * its figures as the latest, not as this minute's; an event dated ahead of
 * the clock (a producer's clock half an hour fast) does not make it live. */
Test(http, the_live_page_says_when_no_event_is_recent)
{
    cr_assert_eq(access("/usr/bin/chromium", X_OK), 0, "Debian's chromium is not installed");
    /* noon UTC two days ago: the hour shown (up to the latest event) lies
     * within one date whenever the test runs (at 00:05 the hour before an
     * event two days back began the day before) */
    time_t then = (time(NULL) / 86400 - 2) * 86400 + 12 * 3600;
    produce_at = then;
    produce(30);
    produce_at = time(NULL) + 1800;
    produce(1);
    produce_at = 0;
    wait_handled(produced);
    static char dom[1 << 20];
    char date[16];
    rendered_page("live-page-quiet.html", dom, sizeof dom);
    strftime(date, sizeof date, "%Y-%m-%d", gmtime(&then));
    char dated[64];
    snprintf(dated, sizeof dated, "the latest hour with events, %s ", date);
    for (const char *const *l = (const char *const[]){">not live: no events in the last hour<",
                                                      ">events, latest hour of data<",
                                                      ">events, latest minute<", dated, NULL};
         *l; l++)
        cr_assert(strstr(dom, *l) != NULL, "no %s", *l);
    cr_assert(strstr(dom, ">events this minute so far<") == NULL && strstr(dom, ">live<") == NULL);
}

Test(http, healthz_answers_within_a_second_while_slow_clients_hold_connections)
{
    /* 8 slow clients on the prober's own address and 12 on each of 12 others:
     * more connections than there are, per address, room for. */
    enum { OWN = 8, ADDRS = 12, EACH = 12 };
    int fds[OWN + ADDRS * EACH];
    size_t n = 0;
    for (int i = 0; i < 100 && cx_test_http_get(port, "/healthz", body, sizeof body) != 200; i++)
        cx_test_sleep_ms(100); /* the service has started */
    for (int i = 0; i < OWN; i++)
        fds[n++] = connect_from("127.0.0.1", port);
    for (int a = 0; a < ADDRS; a++) {
        char src[32];
        snprintf(src, sizeof src, "127.0.0.%d", a + 2);
        for (int i = 0; i < EACH; i++)
            fds[n++] = connect_from(src, port);
    }
    for (size_t i = 0; i < n; i++)
        cr_assert_geq(fds[i], 0, "slow client %zu could not connect", i);
    trickle t = {.fds = fds, .n = n};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, trickle_main, &t), 0);
    static char resp[1 << 16];
    long long ms, worst = 0;
    int statuses[6];
    for (int k = 0; k < 6; k++) { /* over 9 s: longer than the idle time-out */
        cx_test_sleep_ms(1500);
        statuses[k] = timed_get(port, "/healthz", 5000, resp, sizeof resp, &ms);
        if (ms > worst)
            worst = ms;
    }
    int nf_status = timed_get(port, "/nope", 5000, resp, sizeof resp, &ms);
    t.stop = 1;
    pthread_join(th, NULL);
    int open_clients = 0;
    for (size_t i = 0; i < n; i++)
        open_clients += fds[i] >= 0;
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    for (int k = 0; k < 6; k++)
        cr_expect_eq(statuses[k], 200, "/healthz attempt %d: %d", k, statuses[k]);
    fprintf(stderr, "/healthz behind %zu slow clients: at most %lld ms\n", n, worst);
    cr_expect_leq(worst, 1000, "/healthz took %lld ms behind %zu slow clients", worst, n);
    /* the slow clients were still connected (the test measured what it meant to) */
    cr_expect_geq(open_clients, OWN + ADDRS * EACH / 2, "only %d slow clients left", open_clients);
    cr_expect_eq(nf_status, 404);
    cr_expect(strstr(resp, "\r\nX-Content-Type-Options: nosniff\r\n") != NULL, "%s", resp);
}

/* The descriptors and CPU seconds the process pid holds and has used. */
static int open_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    cr_assert(d != NULL, "%s", path);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static double cpu_seconds(pid_t pid)
{
    char path[64], stat[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    cx_test_read_file(path, stat, sizeof stat);
    unsigned long utime = 0, stime = 0;
    const char *p = strrchr(stat, ')'); /* after the command's name */
    cr_assert(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                          &stime) == 2,
              "%s", stat);
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Started with a soft open-file limit under its hard one (systemd's 1024 and
 * 524288), the service raises the soft one to the hard one. */
Test(http, the_soft_open_file_limit_is_raised_to_the_hard_one)
{
    cx_test_stop(run_pid, SIGKILL, 5000);
    struct rlimit own;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &own), 0);
    rlim_t hard = own.rlim_max < 4096 ? own.rlim_max : 4096; /* not root: no higher */
    cr_assert_gt(hard, 200, "this test needs a hard open-file limit above 200");
    service_nofile = (struct rlimit){200, hard};
    start_service();
    service_nofile = (struct rlimit){0, 0};
    for (int i = 0; i < 100 && cx_test_http_get(port, "/healthz", body, sizeof body) != 200; i++)
        cx_test_sleep_ms(100);
    char path[64], limits[8192];
    snprintf(path, sizeof path, "/proc/%d/limits", (int)run_pid);
    cx_test_read_file(path, limits, sizeof limits);
    char want[128];
    snprintf(want, sizeof want, "Max open files            %-20llu %-20llu",
             (unsigned long long)hard, (unsigned long long)hard);
    cr_expect(strstr(limits, want) != NULL, "%s", limits);
}

/* Under a low open-file limit (200 here; systemd's default is 1024), more
 * HTTP clients than it allows leave the service the descriptors its Kafka
 * and PostgreSQL connections need, the listener does not spin turning them
 * away, the log says why and what to raise (and libmicrohttpd's own words
 * that it turned clients away), and events are still stored. */
Test(http, a_low_open_file_limit_keeps_descriptors_from_http_clients)
{
    char log[64];
    snprintf(log, sizeof log, "/tmp/cxpulse-http-test-%ld.log", (long)getpid());
    cx_test_stop(run_pid, SIGKILL, 5000); /* the suite's: this one has a low limit */
    service_nofile = (struct rlimit){200, 200};
    start_service_logged(log);
    service_nofile = (struct rlimit){0, 0};
    for (int i = 0; i < 100 && cx_test_http_get(port, "/healthz", body, sizeof body) != 200; i++)
        cx_test_sleep_ms(100);
    enum { ADDRS = 14, EACH = 15 }; /* under 16 from one address, 210 in all */
    int fds[ADDRS * EACH];
    size_t n = 0;
    for (int a = 0; a < ADDRS; a++) {
        char src[32];
        snprintf(src, sizeof src, "127.0.0.%d", a + 2);
        for (int i = 0; i < EACH; i++)
            fds[n++] = connect_from(src, port);
    }
    trickle t = {.fds = fds, .n = n};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, trickle_main, &t), 0);
    cx_test_sleep_ms(1000);
    double cpu0 = cpu_seconds(run_pid);
    cx_test_sleep_ms(2000);
    double cpu = cpu_seconds(run_pid) - cpu0;
    int held = open_fds(run_pid);
    long bad = produce(20); /* stored while the clients hold on */
    wait_handled(produced);
    t.stop = 1;
    pthread_join(th, NULL);
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    fprintf(stderr, "210 clients at an open-file limit of 200: %d descriptors, %.2f CPU s in 2 s\n",
            held, cpu);
    cr_expect_leq(held, 200 - 48, "HTTP clients took %d of 200 descriptors", held);
    cr_expect_lt(cpu, 0.5, "%.2f CPU seconds in 2 s while clients were turned away", cpu);
    cr_expect_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), produced - bad);
    char text[1 << 16];
    cx_test_read_file(log, text, sizeof text);
    unlink(log);
    cr_expect(strstr(text, "open-file limit is low: at most 68 HTTP connections") &&
                  strstr(text, "LimitNOFILE"),
              "%s", text);
    /* the server's own word on the clients it turned away */
    cr_expect(strstr(text, "component=http msg=\"libmicrohttpd: ") &&
                  strstr(text, "connection limit"),
              "%s", text);
    for (int i = 0; i < 100 && cx_test_http_get(port, "/healthz", body, sizeof body) != 200; i++)
        cx_test_sleep_ms(100);
    cr_expect_eq(cx_test_http_get(port, "/healthz", body, sizeof body), 200,
                 "/healthz once the clients left");
}

typedef struct live_call {
    int port, status;
    long long ms;
    char resp[4096];
} live_call;

static void *live_main(void *arg)
{
    live_call *c = arg;
    c->status = timed_get(c->port, "/api/live", 30000, c->resp, sizeof c->resp, &c->ms);
    return NULL;
}

TestSuite(http_hang, .timeout = 120);

Test(http_hang, the_listener_answers_at_once_while_postgresql_hangs)
{
    char err[512];
    cx_mock *mk;
    cr_assert_eq(cx_mock_new(&mk, 1, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_mock_create_topic(mk, "cx.events", 3, err, sizeof err), CX_OK);
    int pg_port, hang = cx_test_listen(&pg_port);
    int http_port = cx_test_free_port();
    char pg[128], listen_at[64];
    snprintf(pg, sizeof pg, "host=127.0.0.1 port=%d dbname=cx connect_timeout=10", pg_port);
    snprintf(listen_at, sizeof listen_at, "127.0.0.1:%d", http_port);
    setenv("CXPULSE_PG_WRITERS", "4", 1); /* 4 connection attempts of 10 s each */
    char *argv[] = {(char *)cx_test_bin(),
                    "run",
                    "--brokers",
                    (char *)cx_mock_bootstraps(mk),
                    "--topic",
                    "cx.events",
                    "--group",
                    "hang",
                    "--pg",
                    pg,
                    "--http",
                    listen_at,
                    "--log-level",
                    "error",
                    NULL};
    int fd;
    long long t0 = now_ms();
    pid_t pid = cx_test_spawn(argv, &fd);
    unsetenv("CXPULSE_PG_WRITERS");
    close(fd);

    /* The listener is up before the writers have connected. */
    static char resp[1 << 16];
    long long ms;
    int up = 0;
    while (!up && now_ms() - t0 < 5000) {
        cx_test_sleep_ms(50);
        up = cx_test_http_get(http_port, "/healthz", resp, sizeof resp) == 200;
    }
    long long up_ms = now_ms() - t0;

    /* /api/live waits for PostgreSQL (bounded); meanwhile nothing else does. */
    live_call live = {.port = http_port};
    pthread_t th;
    int live_started = up && pthread_create(&th, NULL, live_main, &live) == 0;
    cx_test_sleep_ms(300);
    long long worst = 0;
    int health[3], ready;
    for (int k = 0; k < 3; k++) {
        health[k] = timed_get(http_port, "/healthz", 5000, resp, sizeof resp, &ms);
        worst = ms > worst ? ms : worst;
        cx_test_sleep_ms(200);
    }
    ready = timed_get(http_port, "/readyz", 5000, resp, sizeof resp, &ms);
    long long ready_ms = ms;
    if (live_started)
        pthread_join(th, NULL);
    cx_test_stop(pid, SIGKILL, 5000);
    close(hang);
    cx_mock_free(mk);

    cr_assert(up, "/healthz not answering %lld ms after the start", up_ms);
    for (int k = 0; k < 3; k++)
        cr_expect_eq(health[k], 200);
    fprintf(stderr, "PostgreSQL hanging: /healthz up after %lld ms, then at most %lld ms; /readyz "
                "%lld ms; /api/live %lld ms\n",
                up_ms, worst, ready_ms, live.ms);
    cr_expect_leq(worst, 1000, "/healthz took %lld ms while PostgreSQL hangs", worst);
    cr_expect_eq(ready, 503, "%s", resp);
    cr_expect(strstr(resp, "postgresql") != NULL, "%s", resp);
    cr_expect_leq(ready_ms, 1000, "/readyz took %lld ms", ready_ms);
    cr_expect_eq(live.status, 503, "/api/live: %s", live.resp);
    cr_expect_leq(live.ms, 15000, "/api/live took %lld ms", live.ms);
}

Test(http, every_answer_says_nosniff_and_its_content_policy_even_a_404)
{
    static char resp[1 << 16];
    long long ms;
    for (int i = 0; i < 100 && cx_test_http_get(port, "/healthz", body, sizeof body) != 200; i++)
        cx_test_sleep_ms(100);
    const char *paths[] = {"/nope", "/healthz", "/"};
    for (size_t i = 0; i < 3; i++) {
        int status = timed_get(port, paths[i], 5000, resp, sizeof resp, &ms);
        cr_expect_eq(status, i == 0 ? 404 : 200, "%s", paths[i]);
        cr_expect(strstr(resp, "\r\nX-Content-Type-Options: nosniff\r\n") != NULL, "%s: %.300s",
                  paths[i], resp);
        cr_expect(strstr(resp, "\r\nContent-Security-Policy: default-src 'none'; ") != NULL &&
                      strstr(resp, " frame-ancestors 'none'\r\n") != NULL,
                  "%s: %.600s", paths[i], resp);
    }
}

/* Listening on 127.0.0.1, it answers requests that name it by a loopback
 * name or address only: a page of another site whose name was rebound to
 * 127.0.0.1 (DNS rebinding) gets 421 and none of the live data. */
Test(http, a_request_naming_another_host_gets_nothing_from_a_loopback_listener)
{
    static char resp[1 << 16];
    long long ms;
    for (int i = 0; i < 100 && cx_test_http_get(port, "/healthz", body, sizeof body) != 200; i++)
        cx_test_sleep_ms(100);
    char with_port[64];
    snprintf(with_port, sizeof with_port, "localhost:%d", port);
    const char *ok[] = {"127.0.0.1",  with_port,      "LOCALHOST",    "localhost.",
                        "[::1]:9464", "cx.localhost", "127.1.2.3:80", NULL /* HTTP/1.0, no Host */};
    for (size_t i = 0; i < CX_ARRAY_LEN(ok); i++)
        cr_expect_eq(get_as(port, ok[i], "/api/live", 10000, resp, sizeof resp, &ms), 200,
                     "%s: %.300s", ok[i] ? ok[i] : "no Host", resp);
    const char *refused[] = {"attacker.example",
                             "attacker.example:9464",
                             "127.0.0.1.nip.io",
                             "localhost.attacker.example",
                             "[::1",
                             ""};
    for (size_t i = 0; i < CX_ARRAY_LEN(refused); i++) {
        cr_expect_eq(get_as(port, refused[i], "/api/live", 10000, resp, sizeof resp, &ms), 421,
                     "%s: %.300s", refused[i], resp);
        cr_expect(strstr(resp, "\"signals\"") == NULL && strstr(resp, "tickets") == NULL,
                  "%s: %.300s", refused[i], resp);
    }
}
