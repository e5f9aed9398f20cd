/*
 * test_run.c - `cxpulse run` processes against librdkafka's mock cluster and
 * a real PostgreSQL. After every scenario, every produced message is stored
 * exactly once or dead-lettered, nothing else: the event_ids stored are the
 * valid ones produced, the dead letters are the bad offsets, offsets reach
 * the end of every partition, signals equal the sum over events, and each
 * ticket rule has exactly one ticket, whose count of matching events is exact.
 */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cxtest.h"
#include "cxtest_stack.h"
#include "pg_int.h"

#define PARTITIONS 4

static cx_mock *mock;
static char url[1024], cfgfile[256];
static PGconn *conn;
static cx_producer *producer;
static long produced, bad;
static int praise_only; /* produce_with() writes only praise for an agent: no ticket fires */
static pid_t children[8];
static int n_children;

/* Writes the members' configuration: short sessions so a killed member's
 * partitions move on quickly; `more` adds Kafka properties (",\"k\": \"v\"")
 * or is "". */
static void write_config(const char *path, const char *more)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "{\"kafka\": {\"properties\": {\"session.timeout.ms\": \"6000\","
            " \"heartbeat.interval.ms\": \"500\", \"max.poll.interval.ms\": \"30000\"%s}},"
            " \"batch\": {\"max_messages\": 500, \"max_ms\": 100},"
            " \"tickets\": {\"rules\": ["
            "   {\"name\": \"courier-complaints\", \"on\": \"event\", \"category\": \"external\","
            "    \"sentiment\": \"negative\", \"owner\": \"carriers\"},"
            "   {\"name\": \"courier-share\", \"category\": \"external\", \"min_events\": 10,"
            "    \"negative_share_above\": 0.5, \"owner\": \"carriers\"}]}}",
            more);
    fclose(f);
}

/* Writes a variant of the members' configuration to "<cfgfile>.<name>", named
 * in cfg[300]: `more` as in write_config(), and the text `from` (a setting as
 * written, with its value) changed to `to`. */
static void write_config_variant(char *cfg, const char *name, const char *more, const char *from,
                                 const char *to)
{
    snprintf(cfg, 300, "%s.%s", cfgfile, name);
    write_config(cfg, more);
    cr_assert_eq(cx_test_sh("sed -i 's/%s/%s/' '%s' && grep -qF '%s' '%s'", from, to, cfg, to, cfg),
                 0, "the configuration has no %s to change", from);
}

static void setup(void)
{
    /* the events here are dated in November 2026: tickets as for live ones */
    setenv("CXPULSE_TICKETS_MAX_AGE_MINUTES", "0", 1);
    cx_test_stack_new(url, sizeof url, &conn, &mock, &producer, PARTITIONS);
    snprintf(cfgfile, sizeof cfgfile, "/tmp/cxpulse-run-test-%ld.json", (long)getpid());
    write_config(cfgfile, "");
    produced = bad = 0;
    praise_only = 0;
}

/* Waits up to 30 s for a session of the server `where` says (a condition on
 * pg_stat_activity); fails the test naming `what` otherwise. */
static void wait_for_session(const char *where, const char *what)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE %s", where);
    for (int i = 0; i < 300; i++, cx_test_sleep_ms(100))
        if (cx_test_pg_scalar(conn, sql) > 0)
            return;
    cr_assert_fail("no session of the server is %s", what);
}

/* Names the synchronous standby the server's commits wait for ("" none),
 * for the whole server: only scenarios that run alone (run_outage) may. */
static int standby_named;
static void name_sync_standby(const char *name)
{
    char sql[256];
    snprintf(sql, sizeof sql, "ALTER SYSTEM SET synchronous_standby_names = '%s'", name);
    cx_test_pg_exec(conn, sql);
    cx_test_pg_exec(conn, "SELECT pg_reload_conf()");
    standby_named = name[0] != '\0';
    /* the reload reaches each session at its next statement, this one's too */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_settings WHERE name = 'synchronous_standby_names'"
             " AND setting = '%s'",
             name);
    for (int i = 0; i < 100 && cx_test_pg_scalar(conn, sql) == 0; i++)
        cx_test_sleep_ms(50);
    cr_assert_eq(cx_test_pg_scalar(conn, sql), 1, "the server did not take the standby's name");
    cx_test_sleep_ms(200); /* and the checkpointer, which tells commits whether to wait */
}

/* Backends frozen by a test (SIGSTOP), resumed by thaw(): a failed test's
 * too, or the server could not stop. */
static pid_t frozen[64];
static int n_frozen;

static void thaw(void)
{
    for (int i = 0; i < n_frozen; i++)
        kill(frozen[i], SIGCONT);
    n_frozen = 0;
}

static void teardown(void)
{
    thaw();
    for (int i = 0; i < n_children; i++)
        if (children[i] > 0)
            kill(children[i], SIGKILL); /* left running by a failed test */
    if (standby_named && conn != NULL)  /* a failed test's: the next would hang */
        name_sync_standby("");
    cx_test_stack_free(conn, mock, producer);
    if (getenv("CX_TEST_KEEP_LOGS") == NULL) /* set: the members' logs stay, to read */
        cx_test_sh("rm -f '%s' '%s'.*", cfgfile, cfgfile); /* and a test's own variants */
}

TestSuite(run, .init = setup, .fini = teardown, .timeout = 240);
/* Scenarios that stop the shared PostgreSQL server: ctest runs them alone
 * (test_run_outages), the others beside other tests (test_run). */
TestSuite(run_outage, .init = setup, .fini = teardown, .timeout = 240);

/* Produces n messages through p; every 50th is malformed. Two of three are
 * complaints about the courier (the rules' tickets), unless praise_only. */
static void produce_with(cx_producer *p, long n)
{
    char err[512], v[400];
    for (long i = 0; i < n; i++, produced++) {
        int len;
        if (produced % 50 == 49) {
            len = snprintf(v, sizeof v, "{\"event_id\":\"bad-%ld\",\"text\":\"no timestamp\"}",
                           produced);
            bad++;
        } else {
            len =
                snprintf(v, sizeof v,
                         "{\"event_id\":\"run-%ld\",\"occurred_at\":\"2026-11-01T10:%02ld:%02ldZ\","
                         "\"customer_id\":\"c%ld\",\"channel\":\"chat\",\"text\":\"%s\"}",
                         produced, produced % 60, (produced / 60) % 60, produced % 97,
                         produced % 3 && !praise_only ? "the courier was late again"
                                                      : "great agent, thanks");
        }
        char key[16];
        int klen = snprintf(key, sizeof key, "k%ld", produced % 13);
        cr_assert_eq(
            cx_producer_send(p, "cx.events", key, (size_t)klen, v, (size_t)len, 0, err, sizeof err),
            CX_OK, "%s", err);
    }
    uint64_t delivered;
    cr_assert_eq(cx_producer_flush(p, 30000, &delivered, err, sizeof err), CX_OK, "%s", err);
}

static void produce(long n)
{
    produce_with(producer, n);
}

/* Where members started next serve HTTP: "off", or an address to scrape. */
static const char *member_http = "off";

/* Starts a member of group reading topic from brokers with config, storing
 * into the database at pg; its log (stderr) goes to the file log, with NULL
 * to this process's, with "|" into a pipe nobody reads. */
static pid_t start_member(const char *pg, const char *brokers, const char *topic, const char *group,
                          const char *config, const char *log)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int fd = STDERR_FILENO, ends[2];
        if (log != NULL && strcmp(log, "|") == 0) {
            if (pipe(ends) != 0)
                _exit(127);
            close(ends[0]);
            fd = ends[1];
        } else if (log != NULL) {
            fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        }
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || !freopen("/dev/null", "w", stdout))
            _exit(127);
        /* a log of its own says what happened, assignments included */
        execl(cx_test_bin(), cx_test_bin(), "run", "--config", config, "--brokers", brokers,
              "--topic", topic, "--group", group, "--pg", pg, "--http", member_http, "--log-level",
              log ? "info" : "warn", (char *)NULL);
        _exit(127);
    }
    int slot = 0; /* a stopped member's slot, or a new one */
    while (slot < n_children && children[slot] != 0)
        slot++;
    if (slot < 8) {
        children[slot] = pid;
        n_children += slot == n_children;
    }
    return pid;
}

static pid_t start_run_with(const char *group, char *config)
{
    return start_member(url, cx_mock_bootstraps(mock), "cx.events", group, config, NULL);
}

static pid_t start_run(const char *group)
{
    return start_run_with(group, cfgfile);
}

/* The same with its log in the file named in log[len]: "<config>.<group>.log". */
static pid_t start_run_logged(const char *group, char *log, size_t len)
{
    snprintf(log, len, "%s.%s.log", cfgfile, group);
    return start_member(url, cx_mock_bootstraps(mock), "cx.events", group, cfgfile, log);
}

/* The ends of the logs a and b (b may be NULL), for a failure's message:
 * CI keeps no files, and without them a failure under load cannot be told
 * apart from a bug. */
static const char *tails(const char *a, const char *b)
{
    static char out[2 * 3000 + 1024];
    size_t n = 0;
    const char *logs[] = {a, b};
    for (int i = 0; i < 2 && logs[i] != NULL && n < sizeof out - 3000; i++) {
        n += (size_t)snprintf(out + n, 600, "\n--- the end of %s:\n", logs[i]);
        FILE *f = fopen(logs[i], "r");
        if (f == NULL)
            continue;
        if (fseek(f, -2900, SEEK_END) != 0)
            rewind(f); /* shorter */
        n += fread(out + n, 1, 2900, f);
        out[n] = '\0';
        fclose(f);
    }
    return out;
}

/* Stops a member (and forgets it: its pid may be reused once reaped). */
static int stop(pid_t pid, int sig, int timeout_ms)
{
    for (int i = 0; i < n_children; i++)
        if (children[i] == pid)
            children[i] = 0;
    return cx_test_stop(pid, sig, timeout_ms);
}

/* True while pid runs: a member that has exited is reaped (kill(pid, 0)
 * would still find it, a zombie, until then). */
static int running(pid_t pid)
{
    int status;
    return waitpid(pid, &status, WNOHANG) == 0;
}

static long long handled(const char *group)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(next_offset), 0) FROM cx.consumer_offsets "
             "WHERE consumer_group = '%s'",
             group);
    PGresult *r = PQexec(conn, sql);
    long long v = PQresultStatus(r) == PGRES_TUPLES_OK ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
                                                        : -1;
    PQclear(r);
    return v;
}

/* Waits until the group's stored offsets reach `target` messages. */
static void wait_handled(const char *group, long long target, int timeout_s)
{
    for (int i = 0; i < timeout_s * 10; i++) {
        if (handled(group) >= target)
            return;
        cx_test_sleep_ms(100);
    }
    cr_assert_fail("group %s handled %lld of %lld messages within %d s", group, handled(group),
                   target, timeout_s);
}

/* Runs a member of group, logging to log, until it has handled every message
 * produced; it must stop cleanly. */
static void run_logged_to_the_end(const char *group, char *log, size_t len)
{
    pid_t p = start_run_logged(group, log, len);
    wait_handled(group, produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
}

/* The offsets the group committed to Kafka (for lag tools), summed over the
 * topic's partitions. */
static long long kafka_committed(const char *group)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    cr_assert_eq(rd_kafka_conf_set(conf, "bootstrap.servers", cx_mock_bootstraps(mock), errstr,
                                   sizeof errstr),
                 RD_KAFKA_CONF_OK, "%s", errstr);
    cr_assert_eq(rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof errstr),
                 RD_KAFKA_CONF_OK, "%s", errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    cr_assert_not_null(rk, "%s", errstr);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int i = 0; i < PARTITIONS; i++)
        rd_kafka_topic_partition_list_add(parts, "cx.events", i);
    cr_assert_eq(rd_kafka_committed(rk, parts, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    long long sum = 0;
    for (int i = 0; i < PARTITIONS; i++)
        sum += parts->elems[i].offset > 0 ? parts->elems[i].offset : 0;
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
    return sum;
}

static void assert_exactly_once(const char *group)
{
    cr_assert_eq(handled(group), produced, "offsets do not reach the end of the topic");
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), produced - bad);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(DISTINCT event_id) FROM cx.events "
                                         "WHERE event_id LIKE 'run-%'"),
                 produced - bad);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"), bad);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters WHERE "
                                         "convert_from(raw, 'UTF8') LIKE '%bad-%' AND "
                                         "error LIKE '%occurred_at%'"),
                 bad);
    cx_test_assert_signals_exact(conn);
    /* Tickets are written in the batches' transactions: however the run was
     * interrupted, one ticket per rule, and every matching event counted once. */
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.tickets"), 2);
    long long matching =
        cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events e JOIN cx.event_tags t"
                                " USING (event_id) WHERE t.category = 'external'"
                                " AND e.sentiment = 'negative'");
    cr_assert_gt(matching, 0);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT event_count FROM cx.tickets"
                                         " WHERE rule = 'courier-complaints'"),
                 matching);
}

Test(run, stores_every_message_once_over_several_partitions)
{
    produce(1000);
    char log[320];
    pid_t p = start_run_logged("g1", log, sizeof log);
    wait_handled("g1", produced, 60);
    /* a reload's or a log rotation's SIGHUP changes nothing: it goes on */
    cr_assert_eq(kill(p, SIGHUP), 0);
    produce(500); /* while running */
    wait_handled("g1", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0, "SIGTERM must exit 0");
    assert_exactly_once("g1");
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(DISTINCT kafka_partition) FROM cx.events"),
                 PARTITIONS);
    /* the dead letters (every 50th message) are said, once a minute at most,
     * with the first one's place and reason */
    cr_assert_eq(cx_test_sh("grep 'message(s) dead-lettered (invalid [0-9]*), the first invalid "
                            "cx.events\\[' '%s' |"
                            " grep -c 'missing required field' | grep >/dev/null -x '[123]'",
                            log),
                 0, "see %s%s", log, tails(log, NULL));
}

/* The log's line about dead letters names the first one's place and reason
 * but not the values the reason quotes: a customer's text can be one
 * (docs/privacy.md). cx.dead_letters keeps the whole reason. */
Test(run, the_dead_letters_line_leaves_out_the_values_a_reason_quotes)
{
    static const char *const texts[] = {
        "{\"event_id\":\"p-1\",\"occurred_at\":\"John Smith 07700900123\",\"text\":\"x\"}",
        "{\"event_id\":\"p-2\", John Smith}"};
    char err[512], log[320];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(cx_producer_send(producer, "cx.events", NULL, 0, texts[i], strlen(texts[i]), 0,
                                      err, sizeof err),
                     CX_OK, "%s", err);
    uint64_t delivered;
    cr_assert_eq(cx_producer_flush(producer, 30000, &delivered, err, sizeof err), CX_OK, "%s", err);
    produced += 2;
    run_logged_to_the_end("gpii", log, sizeof log);
    /* e.g. field \"occurred_at\": \"...\" is not a valid RFC 3339 date-time; the two
     * go to partitions at random, so one batch may hold both ("invalid 2"), or
     * each its own batch: the line, said once a minute at most, then counts
     * the first alone ("invalid 1") */
    cr_assert_eq(
        cx_test_sh("grep 'message(s) dead-lettered (invalid [12]), the first invalid' '%s' |"
                   " grep -F -e 'occurred_at' -e 'near' | grep >/dev/null -F '...'",
                   log),
        0, "the reason is not said%s", tails(log, NULL));
    cr_assert_neq(cx_test_sh("grep -q -e 'Smith' -e 'John' '%s'", log), 0,
                  "a customer's text is in the log%s", tails(log, NULL));
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters WHERE error"
                                         " LIKE '%John%'"),
                 2, "the dead letters lost their reasons");
}

/* A log reader that goes away (`cxpulse run 2>&1 | grep -m1 consuming`, a
 * logger that dies) leaves a pipe nobody reads: the service goes on storing,
 * as under systemd, which ignores SIGPIPE for its services, rather than
 * ending at its next log line with nothing said. */
Test(run, a_log_pipe_nobody_reads_does_not_end_the_service)
{
    pid_t pid = start_member(url, cx_mock_bootstraps(mock), "cx.events", "gpipe", cfgfile, "|");
    produce(200); /* malformed ones among them: each batch of them logs a warning */
    wait_handled("gpipe", produced, 60);
    cr_assert(running(pid), "the service ended when its log could not be written");
    cr_assert_eq(stop(pid, SIGTERM, 15000), 0);
}

/* A replica older than the schema (a newer release migrated it) runs on, as
 * an upgrade's order needs, and says so once, naming both versions. */
Test(run, an_older_replica_on_a_newer_schema_says_so_once)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.schema_migrations (version, description)"
                          " VALUES (999, 'from a newer release')");
    produce(200);
    char log[320];
    run_logged_to_the_end("gnewer", log, sizeof log);
    cr_assert_eq(cx_test_sh("grep -c 'the cx schema is at version 999, newer than this cxpulse"
                            " knows' '%s' | grep >/dev/null -x 1",
                            log),
                 0, "see %s%s", log, tails(log, NULL));
}

Test(run, two_members_share_partitions_and_one_leaves_mid_stream)
{
    produce(600);
    pid_t a = start_run("g2");
    wait_handled("g2", 1, 60);
    pid_t b = start_run("g2");
    produce(1500);
    wait_handled("g2", produced / 2, 60);
    cr_assert_eq(stop(a, SIGTERM, 30000), 0, "the leaving member exits 0");
    int64_t left = cx_now_mono_us();
    produce(600);
    wait_handled("g2", produced, 90);
    /* It left the group as it stopped (LeaveGroup), so its partitions moved
     * on in the mock's rebalance time (5 s here), not after its session
     * timed out as well (6 s more: a member that never says it leaves). */
    cr_assert_lt(cx_now_mono_us() - left, 8500000,
                 "the leaving member's partitions waited for its session to time out");
    cr_assert_eq(stop(b, SIGTERM, 30000), 0);
    assert_exactly_once("g2");
}

/* The fault plan's random kills: 20 times, a member is killed (SIGKILL) at a
 * random moment of its life and another one started, while messages keep
 * arriving. Half the kills come a random time after the start (in start-up,
 * while joining the group, reading the stored offsets, or later), half a
 * random time after the member's first stored batch, mid-stream. The seed is
 * printed; CX_TEST_SEED=N repeats a run's moments. */
Test(run, twenty_members_killed_at_random_moments_lose_and_double_nothing, .timeout = 400)
{
    char cfg[300];
    /* a killed member's partitions move on after 2.5 s, not 6 */
    write_config_variant(cfg, "kills", "", "\"session.timeout.ms\": \"6000\"",
                         "\"session.timeout.ms\": \"2500\"");
    const char *env = getenv("CX_TEST_SEED");
    unsigned seed =
        env != NULL ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
    unsigned next = seed;
    fprintf(stderr, "run/twenty_members_killed_at_random_moments: CX_TEST_SEED=%u\n", seed);
    /* a backlog no member works through in the ten mid-stream lives */
    produce(60000);
    int unstored = 0; /* kills of a member that had stored nothing */
    for (int i = 0; i < 20; i++) {
        long long at_start = handled("g35");
        pid_t p = start_run_with("g35", cfg);
        if (i % 2 == 1) {
            for (int t = 0; t < 3000 && handled("g35") == at_start; t++)
                cx_test_sleep_ms(20);
            cr_assert_gt(handled("g35"), at_start, "seed %u, kill %d: nothing stored in 60 s", seed,
                         i + 1);
            cx_test_sleep_ms((int)(rand_r(&next) % 300));
        } else {
            cx_test_sleep_ms((int)(rand_r(&next) % 2000));
        }
        cr_assert_eq(stop(p, SIGKILL, 5000), 128 + SIGKILL,
                     "seed %u, kill %d: the member had exited by itself", seed, i + 1);
        long long at_kill = handled("g35");
        cr_assert_lt(at_kill, produced, "seed %u, kill %d came after the end", seed, i + 1);
        unstored += at_kill == at_start;
        produce(500); /* arriving while members die */
    }
    cr_assert_gt(unstored, 0, "seed %u: no kill came before a member stored anything", seed);
    pid_t p = start_run_with("g35", cfg);
    wait_handled("g35", produced, 180);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    assert_exactly_once("g35");
}

/* ---- Killed at each point of a batch ---------------------------------------
 * A proxy between the member and PostgreSQL kills the member (SIGKILL) when
 * it reaches a point of a batch's transaction: the BEGIN (the batch read,
 * nothing written), the COPY of its events (mid-transfer), the COMMIT before
 * the server got it, and the COMMIT after the server committed, before the
 * member heard so (and before it could commit to Kafka). */

enum kill_at { KILL_NONE, KILL_AT_BEGIN, KILL_IN_COPY, KILL_BEFORE_COMMIT, KILL_AFTER_COMMIT };

typedef struct killer {
    atomic_int at;      /* enum kill_at, armed; KILL_NONE once the kill is done */
    atomic_int pass;    /* occurrences of the point let through first */
    atomic_int victim;  /* the member's pid */
    atomic_int copy_up; /* the server connection of the armed COPY, or -1 */
    atomic_int kills;
    atomic_int unanswered; /* COMMITs passed on that the server did not answer */
} killer;

static int kill_at_point(void *ctx, int up, const char *buf, size_t n)
{
    killer *k = ctx;
    int at = k->at;
    if (at == KILL_NONE)
        return 1;
    if (at != KILL_IN_COPY || k->copy_up != up) { /* else: the COPY's data */
        int seen = at == KILL_AT_BEGIN  ? cx_test_pg_sent_query(buf, n, "BEGIN")
                   : at == KILL_IN_COPY ? memmem(buf, n, "COPY cx.events", 14) != NULL
                                        : cx_test_pg_sent_query(buf, n, "COMMIT");
        if (!seen || k->pass-- > 0)
            return 1;
        if (at == KILL_IN_COPY) { /* the statement goes; its data will not */
            k->copy_up = up;
            return 1;
        }
    }
    if (at == KILL_AFTER_COMMIT && cx_test_proxy_swallow_answer(up, buf, n) != 0)
        k->unanswered++;
    if (k->victim > 0) /* set before the point is armed; kill(0) would end this test */
        kill(k->victim, SIGKILL);
    k->at = KILL_NONE;
    k->copy_up = -1;
    k->kills++;
    return 0;
}

Test(run, a_member_killed_at_each_point_of_a_batch_loses_and_doubles_nothing)
{
    static const char *const points[] = {"", "at BEGIN", "in the COPY", "before COMMIT",
                                         "after the server's COMMIT"};
    static killer k; /* outlives this function should an assertion end it early */
    k.copy_up = -1;
    char via[1200];
    cx_test_proxy *px = cx_test_pg_proxy(url, kill_at_point, &k, via, sizeof via);
    produce(8000);
    for (int at = KILL_AT_BEGIN; at <= KILL_AFTER_COMMIT; at++) {
        pid_t p = start_member(via, cx_mock_bootstraps(mock), "cx.events", "g22", cfgfile, NULL);
        k.victim = p;
        k.pass = 2; /* a batch or two stored first */
        k.at = at;
        cr_assert_eq(stop(p, 0, 90000), 128 + SIGKILL, "the member was not killed %s", points[at]);
        cr_assert_eq(k.kills, at, "the member died, but not by the kill %s", points[at]);
        cr_assert_eq(k.unanswered, 0, "the server did not answer the COMMIT");
        cr_assert_lt(handled("g22"), produced, "the kill %s came after the end", points[at]);
    }
    cr_assert_gt(handled("g22"), 0);
    pid_t p = start_run("g22");
    wait_handled("g22", produced, 90);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    cx_test_proxy_stop(px);
    assert_exactly_once("g22");
}

/* A stop asked while the service starts up ends it cleanly, even when its
 * parent started it with SIGTERM blocked (the mask survives exec): here the
 * signal is pending before the service's first instruction, so it always
 * lands during start-up. Nothing is read; the next member stores it all. */
Test(run, sigterm_while_starting_up_exits_0_before_reading)
{
    produce(200);
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    cr_assert_eq(pthread_sigmask(SIG_BLOCK, &term, &old), 0);
    pid_t p = start_run("g7");
    cr_assert_eq(kill(p, SIGTERM), 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    cr_assert_eq(stop(p, 0, 20000), 0, "a stop during start-up must exit 0");
    cr_assert_eq(handled("g7"), 0, "the member read before it stopped");
    p = start_run("g7");
    wait_handled("g7", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    assert_exactly_once("g7");
}

/* PostgreSQL's address accepts connections but the server never answers (a
 * hung server, a firewall that drops its packets): the first writer waits
 * for its connect to time out (libpq's connect_timeout, 10 s by default),
 * the other three connect when they first write, so a stop asked meanwhile
 * is honoured after one time-out, not one per writer (40 s, past a process
 * manager's usual 30 s grace). */
Test(run, a_stop_while_postgresql_does_not_answer_at_start_waits_for_one_connect)
{
    int port, fd = cx_test_listen(&port);
    char hung[128];
    snprintf(hung, sizeof hung, "host=127.0.0.1 port=%d dbname=cx user=cx", port);
    setenv("CXPULSE_PG_WRITERS", "4", 1);
    pid_t p = start_member(hung, cx_mock_bootstraps(mock), "cx.events", "g29", cfgfile, NULL);
    unsetenv("CXPULSE_PG_WRITERS");
    cx_test_sleep_ms(1000); /* the first writer connecting */
    cr_assert_eq(stop(p, SIGTERM, 18000), 0, "a stop must wait for one connect, not four");
    close(fd);
}

Test(run_outage, postgresql_stopped_mid_stream_and_started_again)
{
    produce(2000);
    pid_t p = start_run("g4");
    wait_handled("g4", 300, 60);
    cx_test_pg_down(&conn);
    produce(500);
    sleep(3); /* the service keeps running, paused, retrying */
    cr_assert(running(p), "the service must survive a database outage");
    cx_test_pg_back(&conn, url);
    wait_handled("g4", produced, 90);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    assert_exactly_once("g4");
}

/* Stopped while its partitions' offsets cannot be read (the database is
 * down from the start): it leaves with exit 0, as at any other time, and
 * the next start stores everything. */
Test(run_outage, a_stop_while_the_database_is_down_from_the_start_exits_0)
{
    produce(200);
    cx_test_pg_down(&conn);
    pid_t p = start_run("g20");
    sleep(4); /* assigned, retrying the offsets */
    cr_assert_eq(stop(p, SIGTERM, 20000), 0, "a stop while the database is down must exit 0");
    cx_test_pg_back(&conn, url);
    cr_assert_eq(handled("g20"), 0);
    p = start_run("g20");
    wait_handled("g20", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    assert_exactly_once("g20");
}

/* The server holds every COMMIT without end: synchronous_standby_names names
 * a standby that is not there. A stop cancels the statements after 10 s (the
 * server ends such a COMMIT committed, warning that it may not have been
 * replicated) and exits 0, not waiting to be killed; a batch rolled back
 * instead is read again at the next start. Everything is stored once. */
Test(run_outage, a_stop_while_commits_wait_for_a_missing_standby_cancels_them_and_exits_0)
{
    produce(200);
    pid_t p = start_run("g31");
    wait_handled("g31", produced, 60);
    name_sync_standby("cx_missing_standby");
    produce(100);
    wait_for_session("wait_event = 'SyncRep'", "a COMMIT waiting for the standby");
    cr_assert_eq(stop(p, SIGTERM, 20000), 0, "a stop must cancel what the server holds");
    name_sync_standby("");
    p = start_run("g31");
    /* a message of its own: everything may be stored already (the server
     * committed what the stop cancelled), and a SIGTERM before the member
     * has set its handler up would kill it (143) */
    produce(1);
    wait_handled("g31", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    assert_exactly_once("g31");
}

/* With postgres.synchronous_commit off, a batch that opens or updates a
 * ticket still commits durably: its ticket and notifications are announced
 * at COMMIT, and a commit the server lost would announce them again when the
 * batch is read again. Seen with a synchronous standby that is not there:
 * the other batches do not wait for it, that one does. */
Test(run_outage, with_synchronous_commit_off_a_batch_touching_a_ticket_still_commits_durably)
{
    char cfg[300];
    write_config_variant(cfg, "async", "", "\"batch\": {",
                         "\"postgres\": {\"synchronous_commit\": false}, \"batch\": {");
    praise_only = 1;
    produce(200);
    pid_t p = start_run_with("g32", cfg);
    wait_handled("g32", produced, 60);
    name_sync_standby("cx_missing_standby");
    produce(200);
    wait_handled("g32", produced, 60); /* no ticket: not waiting for the standby */
    praise_only = 0;
    produce(1600);
    wait_for_session("wait_event = 'SyncRep'",
                     "a COMMIT of a ticket's batch waiting for the standby");
    cr_assert_lt(handled("g32"), produced);
    name_sync_standby("");
    wait_handled("g32", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    assert_exactly_once("g32");
}

/* Stopped during an outage with a batch in hand: it exits 0 and says what
 * it did not store, and the next start stores that once. */
Test(run_outage, a_stop_during_an_outage_says_what_was_not_stored_and_the_next_start_stores_it)
{
    char log[sizeof cfgfile + 16];
    produce(400);
    pid_t p = start_run_logged("g24", log, sizeof log);
    wait_handled("g24", produced, 60);
    cx_test_pg_down(&conn);
    produce(1600); /* more than the two batches the writers hold: one stays in hand */
    sleep(3);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0, "a stop during an outage must exit 0");
    cr_assert_eq(
        cx_test_sh("grep 'level=warn' '%s' | grep >/dev/null 'not stored: they are read again'",
                   log),
        0, "the messages not stored were not mentioned; see %s%s", log, tails(log, NULL));
    cx_test_pg_back(&conn, url);
    p = start_run("g24");
    wait_handled("g24", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    assert_exactly_once("g24");
}

/* A server that answers nothing, not even the cancel of a statement: the
 * backends of the service's sessions are frozen (SIGSTOP: what a paused
 * machine or a network that drops packets looks like from the client; the
 * kernel keeps the connections open). A stop still ends, at its 40 s
 * deadline, with exit 0 and the reason, and the next start stores
 * everything once. Without the deadline the stop waited until the process
 * manager's kill. */
Test(run_outage, a_stop_while_postgresql_answers_nothing_ends_at_its_deadline)
{
    char log[sizeof cfgfile + 16];
    produce(200);
    pid_t p = start_run_logged("g33", log, sizeof log);
    wait_handled("g33", produced, 60);
    PGresult *r = PQexec(conn, "SELECT pid FROM pg_stat_activity WHERE datname = "
                               "current_database() AND pid <> pg_backend_pid() AND "
                               "backend_type = 'client backend'");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
    for (int i = 0; i < PQntuples(r) && n_frozen < (int)CX_ARRAY_LEN(frozen); i++) {
        frozen[n_frozen] = (pid_t)atoi(PQgetvalue(r, i, 0));
        if (kill(frozen[n_frozen], SIGSTOP) == 0)
            n_frozen++;
    }
    PQclear(r);
    cr_assert_gt(n_frozen, 0, "no session of the service to freeze");
    produce(400); /* a batch for a frozen session */
    sleep(3);
    int64_t began = cx_now_mono_us();
    int rc = stop(p, SIGTERM, 90000);
    double took = (double)(cx_now_mono_us() - began) / 1e6;
    thaw();
    cr_assert_eq(rc, 0, "exit status %d%s", rc, tails(log, NULL));
    cr_assert(took < 60, "the stop took %.0f s%s", took, tails(log, NULL));
    cr_assert_eq(
        cx_test_sh("grep 'level=error' '%s' | grep >/dev/null 'the stop (postgresql answered "
                   "neither.*took more than 40 s: exiting with status 0'",
                   log),
        0, "the reason was not said%s", tails(log, NULL));
    p = start_run("g33");
    produce(1); /* a message of its own, as after any stop that may have stored all */
    wait_handled("g33", produced, 90);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    assert_exactly_once("g33");
}

/* A member frozen in the middle of a batch (SIGSTOP: as a paused machine,
 * its connection stays open) holds its partitions' offset rows; the server
 * ends its session after 60 s idle in that transaction, and the member that
 * took the partitions over stores everything. Resumed, the frozen one finds
 * its batch stored and skips it. Without the session's idle time-out the
 * second member waits on those rows for as long as the first is frozen. */
Test(run, a_member_frozen_mid_batch_does_not_hold_up_the_one_that_takes_over, .timeout = 300)
{
    produce(3000);
    pid_t a = start_run("g21");
    wait_handled("g21", 500, 60);
    /* Frozen mid-batch for sure, between two statements: its batch waits
     * for the ticket rules' turn, which this test holds, after it has locked
     * its offset rows and written its events; then the turn is given up.
     * (Not a table lock: a COPY that waited for one would, once it has it,
     * wait for the frozen member's data, and a session in a COPY is not idle:
     * the server would not end it.) */
    PGconn *holder = cx_test_pg_connect(url);
    cx_test_pg_exec(holder, "SELECT pg_advisory_lock" CX__PG_TICKETS_LOCK_KEY);
    produce(500); /* a batch after the turn is taken, should the member have stored all before */
    wait_for_session("application_name = 'cxpulse' AND wait_event = 'advisory'"
                     " AND backend_xid IS NOT NULL",
                     "a batch of the member waiting for the ticket rules' turn");
    cr_assert_eq(kill(a, SIGSTOP), 0);
    cx_test_pg_exec(holder, "SELECT pg_advisory_unlock" CX__PG_TICKETS_LOCK_KEY);
    PQfinish(holder);
    produce(1000);
    pid_t b = start_run("g21");
    wait_handled("g21", produced, 150); /* while the first member is frozen */
    cr_assert_eq(kill(a, SIGCONT), 0);
    produce(500);
    wait_handled("g21", produced, 90);
    cr_assert_eq(stop(a, SIGTERM, 30000), 0);
    cr_assert_eq(stop(b, SIGTERM, 30000), 0);
    assert_exactly_once("g21");
}

/* The first member, paused by the outage with a batch in hand, loses that
 * batch to the rebalance the second one starts: it must fetch again, not
 * wait for a batch that will never come. */
Test(run_outage, a_member_paused_by_an_outage_resumes_after_a_rebalance)
{
    produce(600);
    pid_t a = start_run("g8");
    wait_handled("g8", produced, 60);
    cx_test_pg_down(&conn);
    produce(3000); /* more than the member holds while it cannot store: it pauses */
    sleep(3);
    pid_t b = start_run("g8");
    sleep(5); /* the group rebalances while the database is down */
    cx_test_pg_back(&conn, url);
    wait_handled("g8", produced, 90);
    cr_assert_eq(stop(b, SIGTERM, 30000), 0);
    cr_assert_eq(stop(a, SIGTERM, 30000), 0);
    assert_exactly_once("g8");
}

/* Two members of group with max.poll.interval.ms 8 s (and the Kafka
 * properties `more`, as write_config() takes them): the first stores what
 * was produced, then the database goes down, `during` more are produced
 * and, `wait_s` later, the second member joins; both must still run
 * `outage_s` later. Once the database is back, everything is stored once
 * and neither log says the member stopped polling for too long. The logs'
 * names go to log_a and log_b (320 bytes each). */
static void outage_rebalance(const char *group, const char *more, long during, int wait_s,
                             int outage_s, char *log_a, char *log_b)
{
    char cfg[300];
    write_config_variant(cfg, group, more, "\"max.poll.interval.ms\": \"30000\"",
                         "\"max.poll.interval.ms\": \"8000\"");
    snprintf(log_a, 320, "%s.a.log", cfg);
    snprintf(log_b, 320, "%s.b.log", cfg);
    const char *brokers = cx_mock_bootstraps(mock);
    produce(600);
    pid_t a = start_member(url, brokers, "cx.events", group, cfg, log_a);
    wait_handled(group, produced, 60);
    cx_test_pg_down(&conn);
    produce(during);
    sleep((unsigned)wait_s);
    pid_t b = start_member(url, brokers, "cx.events", group, cfg, log_b);
    sleep((unsigned)outage_s); /* the group rebalances while the database is down */
    cr_assert(running(a) && running(b), "a member stopped during the outage; see %s, %s%s", log_a,
              log_b, tails(log_a, log_b));
    cx_test_pg_back(&conn, url);
    wait_handled(group, produced, 90);
    cr_assert_eq(stop(a, SIGTERM, 30000), 0);
    cr_assert_eq(stop(b, SIGTERM, 30000), 0);
    assert_exactly_once(group);
    cr_assert_neq(
        cx_test_sh("cat '%s' '%s' | grep >/dev/null -i 'maximum poll interval'", log_a, log_b), 0,
        "a member stopped polling for too long; see %s, %s%s", log_a, log_b, tails(log_a, log_b));
}

/* A cooperative member holding a batch it cannot store when a rebalance
 * comes during an outage: the rebalance's callbacks wait for stored offsets
 * for longer than max.poll.interval.ms, and the member must stay in the
 * group meanwhile, as it does with no batch in hand. (librdkafka counts the
 * time in a callback against that interval when the poll that ran it had
 * no time to wait.) */
Test(run_outage, a_cooperative_member_holding_a_batch_stays_in_the_group_through_a_rebalance)
{
    char log_a[320], log_b[320];
    /* 3000: more than the member holds while it cannot store, so it holds a
     * batch with its partitions paused */
    outage_rebalance("g25", ", \"partition.assignment.strategy\": \"cooperative-sticky\"", 3000, 3,
                     25, log_a, log_b);
}

/* Given partitions while the database is down, for longer than a minute and
 * than max.poll.interval.ms, members wait for the partitions' stored offsets
 * for as long as it takes: neither stops nor is dropped from the group, and
 * once the database is back they read on from the stored offsets. */
Test(run_outage, members_given_partitions_during_a_long_outage_stay_in_the_group)
{
    char log_a[320], log_b[320];
    outage_rebalance("g23", "", 1000, 0, 70, log_a, log_b);
    cr_assert_eq(
        cx_test_sh(
            "cat '%s' '%s' | grep >/dev/null 'stored offsets of cx.events.*retrying until it can'",
            log_a, log_b),
        0, "no partitions were given during the outage; see %s, %s%s", log_a, log_b,
        tails(log_a, log_b));
}

/* Cooperative rebalancing: the member that stays takes the leaver's
 * partitions while its own batches wait for the database. Reading the new
 * partitions' offsets drains the engine, which gives those batches up: the
 * member must read them again, not skip them. */
Test(run_outage, a_cooperative_member_taking_partitions_during_an_outage_skips_nothing)
{
    char coop[300];
    snprintf(coop, sizeof coop, "%s.coop", cfgfile);
    write_config(coop, ", \"partition.assignment.strategy\": \"cooperative-sticky\"");
    produce(600);
    pid_t a = start_run_with("g9", coop);
    wait_handled("g9", 1, 60);
    pid_t b = start_run_with("g9", coop);
    sleep(10); /* two rebalances: the first member lets go of half, the second takes it */
    produce(1500);
    wait_handled("g9", produced, 60);
    cx_test_pg_down(&conn);
    produce(3000); /* both members hold batches they cannot store */
    sleep(3);
    cr_assert_eq(stop(b, SIGTERM, 30000), 0); /* its partitions go to the first member */
    sleep(10);               /* which takes them while the database is still down */
    cx_test_pg_back(&conn, url);
    wait_handled("g9", produced, 90);
    cr_assert_eq(stop(a, SIGTERM, 30000), 0);
    assert_exactly_once("g9");
}

/* A static member fenced by another with its group.instance.id cannot go
 * on: librdkafka's fatal error stops the service with the reason, and what
 * it had stored stays stored once. */
Test(run, a_fenced_static_member_stops_with_the_reason)
{
    char cfg[300];
    snprintf(cfg, sizeof cfg, "%s.static", cfgfile);
    write_config(cfg, ", \"group.instance.id\": \"cx-1\"");
    produce(600);
    char log[320];
    snprintf(log, sizeof log, "%s.fenced.log", cfgfile);
    pid_t p = start_member(url, cx_mock_bootstraps(mock), "cx.events", "g10", cfg, log);
    wait_handled("g10", produced, 60);
    rd_kafka_mock_push_request_errors(
        cx_mock_cluster(mock), 12 /* Heartbeat */, 3, RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID,
        RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID, RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID);
    cr_assert_eq(stop(p, 0, 20000), 1, "a fenced member must stop, with an error");
    cr_assert_eq(cx_test_sh("grep 'level=error' '%s' | grep >/dev/null -i 'fenced'", log), 0,
                 "the reason (fenced) was not logged; see %s%s", log, tails(log, NULL));
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), produced - bad);
}

/* With auto_offset_reset latest, where a new group starts is stored when
 * it starts: a member stopped before its first batch was stored starts
 * there again, not at the new end, skipping what came in between. */
Test(run, latest_starts_where_the_group_first_started_after_a_restart)
{
    setenv("CXPULSE_AUTO_OFFSET_RESET", "latest", 1); /* for the members started here */
    produce(100);                                     /* before the group: not read */
    long before = produced, bad_before = bad;
    pid_t p = start_run("g11");
    wait_handled("g11", before, 60); /* the start, stored for every partition */
    cr_assert_eq(stop(p, SIGKILL, 5000), 128 + SIGKILL);
    produce(500); /* while no member runs */
    p = start_run("g11");
    unsetenv("CXPULSE_AUTO_OFFSET_RESET");
    wait_handled("g11", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"),
                 (produced - before) - (bad - bad_before));
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"), bad - bad_before);
}

/* A database restored from a backup holds offsets behind those the group
 * committed to Kafka: each partition is said so at its assignment, and what
 * lies between is read again and stored once. (The restore is played by
 * setting the offsets back: the events stay, as duplicates of what is read.) */
Test(run, offsets_behind_the_groups_kafka_commits_are_said_and_read_again_once)
{
    produce(600);
    pid_t p = start_run("grest");
    wait_handled("grest", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    cr_assert_eq(kafka_committed("grest"), produced);
    cx_test_pg_exec(conn, "UPDATE cx.consumer_offsets SET next_offset = next_offset - 50");
    char log[320];
    p = start_run_logged("grest", log, sizeof log);
    wait_handled("grest", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    assert_exactly_once("grest");
    cr_assert_eq(cx_test_sh("grep 'level=warn' '%s' | grep -c 'the offset stored in postgresql "
                            "([0-9]*) is behind the one this group committed to kafka' |"
                            " grep -qx %d",
                            log, PARTITIONS),
                 0, "not said once per partition; see %s%s", log, tails(log, NULL));
}

/* Offsets stored for a group that never committed any to this Kafka (a new
 * cluster): said at the assignment, since messages below them are skipped. */
Test(run, offsets_stored_for_a_group_kafka_never_saw_are_said)
{
    for (int i = 0; i < PARTITIONS; i++) {
        char sql[200];
        snprintf(sql, sizeof sql,
                 "INSERT INTO cx.consumer_offsets (consumer_group, topic, partition, "
                 "next_offset) VALUES ('gnew', 'cx.events', %d, 10)",
                 i);
        cx_test_pg_exec(conn, sql);
    }
    produce(400);
    char log[320];
    run_logged_to_the_end("gnew", log, sizeof log);
    cr_assert_eq(cx_test_sh("grep 'level=warn' '%s' | grep -c 'postgresql stores offset 10 but "
                            "this group has committed none to kafka' | grep >/dev/null -x %d",
                            log, PARTITIONS),
                 0, "not said once per partition; see %s%s", log, tails(log, NULL));
}

/* A new group reading from the end stores where it starts, and commits it to
 * Kafka too: neither its start nor a restart before it stored anything takes
 * it for a group on a new cluster. */
Test(run, a_new_group_starting_at_the_end_is_not_taken_for_a_new_cluster)
{
    produce(200);
    char log[320];
    setenv("CXPULSE_AUTO_OFFSET_RESET", "latest", 1);
    for (int i = 0; i < 2; i++) {
        pid_t p = start_run_logged("glatest", log, sizeof log);
        wait_handled("glatest", produced, 60);
        cx_test_sleep_ms(1000); /* the start's commit reaches Kafka */
        cr_assert_eq(stop(p, SIGTERM, 20000), 0);
        cr_assert_neq(cx_test_sh("grep -q 'committed none to kafka' '%s'", log), 0,
                      "start %d took it for a new cluster; see %s%s", i + 1, log, tails(log, NULL));
    }
    unsetenv("CXPULSE_AUTO_OFFSET_RESET");
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), 0,
                 "a group starting at the end stored what was there before it");
    cr_assert_eq(kafka_committed("glatest"), produced);
}

/* Where to read on is what PostgreSQL holds, never the group's commits in
 * Kafka, which cxpulse makes after PostgreSQL's only for lag tools: a
 * database restored to before the stream (here emptied) while Kafka holds
 * the group's commits at the end is filled again from the start, once. */
Test(run, a_database_restored_to_before_the_stream_is_filled_again_whatever_kafka_holds)
{
    produce(1000);
    pid_t p = start_run("g33");
    wait_handled("g33", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    cr_assert_eq(kafka_committed("g33"), produced, "lag tools must see the group at the end");
    cx_test_pg_exec(conn, "TRUNCATE cx.events, cx.signals, cx.tickets, cx.notifications,"
                          " cx.dead_letters, cx.consumer_offsets");
    p = start_run("g33");
    wait_handled("g33", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    assert_exactly_once("g33");
}

/* A batch waiting for more messages (batch.max_ms 30 s on a quiet topic)
 * is stored at once on a stop: the member does not wait out the 30 s. */
Test(run, a_stop_stores_a_batch_waiting_for_more_messages_at_once)
{
    char cfg[300];
    write_config_variant(cfg, "linger", "", "\"max_ms\": 100", "\"max_ms\": 30000");
    produce(100); /* fewer than batch.max_messages */
    pid_t p = start_run_with("g27", cfg);
    sleep(8); /* joined (in about 3 s) and the messages in hand */
    cr_assert_eq(handled("g27"), 0, "the batch should still wait for more messages");
    cr_assert_eq(stop(p, SIGTERM, 12000), 0, "a stop must not wait out batch.max_ms");
    assert_exactly_once("g27");
}

/* Each row stored in cx.events takes ms milliseconds more (a trigger of this
 * test's database). */
static void slow_rows(int ms)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "CREATE FUNCTION public.slow_row() RETURNS trigger LANGUAGE plpgsql AS"
             " $$BEGIN PERFORM pg_sleep(%d / 1000.0); RETURN NEW; END$$",
             ms);
    cx_test_pg_exec(conn, sql);
    cx_test_pg_exec(conn, "CREATE TRIGGER slow BEFORE INSERT ON cx.events FOR EACH ROW"
                          " EXECUTE FUNCTION public.slow_row()");
}

/* A statement_timeout of the database that whole batches' writes pass (a
 * slow trigger of the user's on cx.events: 3 ms a row, 500 events a batch,
 * about 250 a writer; the timeout 250 ms): each batch is written in parts
 * small enough to pass, exactly once, and the log says so with the server's
 * words, instead of the same batch failing forever. */
Test(run, batches_a_statement_timeout_refuses_are_stored_in_smaller_parts)
{
    slow_rows(3);
    cx_test_pg_exec(conn, "DO $$BEGIN EXECUTE format('ALTER DATABASE %I SET statement_timeout"
                          " = 250', current_database()); END$$");
    produce(2000);
    char log[320];
    pid_t p = start_run_logged("g28", log, sizeof log);
    wait_handled("g28", produced, 120);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0, "SIGTERM must exit 0");
    assert_exactly_once("g28");
    cr_assert_eq(cx_test_sh("grep 'records was refused for its size' '%s' |"
                            " grep -q 'statement timeout'",
                            log),
                 0, "see %s%s", log, tails(log, NULL));
}

/* A cluster of its own for a test: `brokers` brokers, and the members' topic
 * with `partitions` partitions. */
static cx_mock *cluster_of(int brokers, int partitions)
{
    cx_mock *m = NULL;
    char err[512];
    cr_assert_eq(cx_mock_new(&m, brokers, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_mock_create_topic(m, "cx.events", partitions, err, sizeof err), CX_OK, "%s",
                 err);
    return m;
}

static cx_producer *producer_for(cx_mock *m)
{
    cx_producer *p = NULL;
    char err[512];
    cr_assert_eq(cx_producer_new(&p, cx_mock_bootstraps(m), err, sizeof err), CX_OK, "%s", err);
    return p;
}

/* With auto_offset_reset latest a new group asks where each partition ends
 * when it is assigned; with the partitions' leader down, each question waits.
 * A SIGTERM meanwhile stops the member promptly, not after every partition's
 * wait. */
Test(run, a_stop_while_the_partitions_leader_is_down_exits_promptly)
{
    cx_mock *m3 = cluster_of(3, 6);
    rd_kafka_mock_cluster_t *cl = cx_mock_cluster(m3);
    for (int p = 0; p < 6; p++)
        rd_kafka_mock_partition_set_leader(cl, "cx.events", p, 2);
    rd_kafka_mock_coordinator_set(cl, "group", "g12", 1);
    rd_kafka_mock_broker_set_down(cl, 2);
    setenv("CXPULSE_AUTO_OFFSET_RESET", "latest", 1);
    pid_t p = start_member(url, cx_mock_bootstraps(m3), "cx.events", "g12", cfgfile, NULL);
    unsetenv("CXPULSE_AUTO_OFFSET_RESET");
    sleep(8); /* joined, assigned and asking (the group forms in about 3 s) */
    cr_assert(running(p), "the member must wait for the leader, not fail");
    cr_assert_eq(stop(p, SIGTERM, 5000), 0, "a stop while the leader is down must exit 0 soon");
    cr_assert_eq(handled("g12"), 0);
    cx_mock_free(m3);
}

/* Waits (bounded, up to s seconds) until a scrape of the member at port
 * has the sample name at lo..hi; returns whether it did, the last scrape in
 * metrics. */
static int scraped(int port, const char *name, double lo, double hi, int s, char *metrics,
                   size_t cap)
{
    for (int i = 0; i < s * 4; i++) {
        double v = cx_test_http_get(port, "/metrics", metrics, cap) == 200
                       ? cx_test_metric(metrics, name)
                       : -1;
        if (v >= lo && v <= hi)
            return 1;
        cx_test_sleep_ms(250);
    }
    return 0;
}

/* /metrics says how many Kafka connections a member has up: an operator's
 * alert when Kafka is out of reach, which the other metrics do not show
 * until the session times out (partitions still assigned, lag 0). */
Test(run, metrics_say_when_no_kafka_broker_is_reachable)
{
    cx_mock *m2 = cluster_of(2, PARTITIONS);
    rd_kafka_mock_cluster_t *cl = cx_mock_cluster(m2);
    char listen[32], log[sizeof cfgfile + 16];
    snprintf(log, sizeof log, "%s.brokers.log", cfgfile);
    int port = cx_test_free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    member_http = listen;
    pid_t p = start_member(url, cx_mock_bootstraps(m2), "cx.events", "gbrokers", cfgfile, log);
    member_http = "off";
    static char metrics[1 << 17];
    const char *up = "cxpulse_kafka_connections_up";
    cr_assert(scraped(port, up, 2, 1e9, 30, metrics, sizeof metrics),
              "not connected to both brokers:%s", metrics);
    rd_kafka_mock_broker_set_down(cl, 1);
    rd_kafka_mock_broker_set_down(cl, 2);
    cr_assert(scraped(port, up, 0, 0, 30, metrics, sizeof metrics),
              "Kafka down, still said connected:%s", metrics);
    rd_kafka_mock_broker_set_up(cl, 1);
    rd_kafka_mock_broker_set_up(cl, 2);
    cr_assert(scraped(port, up, 2, 1e9, 60, metrics, sizeof metrics),
              "Kafka back, not said connected again:%s", metrics);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    cx_mock_free(m2);
}

/* Stopped while the group's coordinator does not answer a commit of stored
 * offsets (those to Kafka, for lag tools): librdkafka 2.0.2 waits for the
 * answer before leaving the group, up to session.timeout.ms (25 s here; 45 s
 * by default). It exits 0 within the 10 s it allows itself for leaving,
 * saying so, with everything stored. */
Test(run, a_stop_while_the_coordinator_does_not_answer_exits_within_seconds)
{
    char cfg[300], log[320];
    write_config_variant(cfg, "g26", "", "\"session.timeout.ms\": \"6000\"",
                         "\"session.timeout.ms\": \"25000\"");
    snprintf(log, sizeof log, "%s.log", cfg);
    cx_mock *m2 = cluster_of(2, PARTITIONS);
    rd_kafka_mock_cluster_t *cl = cx_mock_cluster(m2);
    for (int p = 0; p < PARTITIONS; p++)
        rd_kafka_mock_partition_set_leader(cl, "cx.events", p, 2);
    rd_kafka_mock_coordinator_set(cl, "group", "g26", 1);
    cx_producer *p2 = producer_for(m2);
    produce_with(p2, 300);
    pid_t p = start_member(url, cx_mock_bootstraps(m2), "cx.events", "g26", cfg, log);
    wait_handled("g26", produced, 60);
    rd_kafka_mock_broker_push_request_error_rtts(cl, 1, 8 /* OffsetCommit */, 1,
                                                 RD_KAFKA_RESP_ERR_NO_ERROR, 120000);
    produce_with(p2, 100);
    wait_handled("g26", produced, 60);
    cx_test_sleep_ms(500); /* its commit to Kafka sent */
    cr_assert_eq(stop(p, SIGTERM, 15000), 0, "a stop must not wait for the coordinator");
    cr_assert_eq(
        cx_test_sh("grep 'level=error' '%s' | grep >/dev/null 'leaving the consumer group'", log),
        0, "the log must say why it did not wait");
    assert_exactly_once("g26");
    cx_producer_free(p2);
    cx_mock_free(m2);
}

/* Partition leaders that move, fetches that fail and a broker that goes
 * down, all while a member reads a backlog: it follows the leaders and
 * stores everything once. */
Test(run, partition_leaders_moving_and_fetches_failing_mid_stream_lose_and_double_nothing)
{
    cx_mock *m3 = cluster_of(3, PARTITIONS);
    cx_producer *p3 = producer_for(m3);
    rd_kafka_mock_cluster_t *cl = cx_mock_cluster(m3);
    for (int i = 0; i < PARTITIONS; i++)
        rd_kafka_mock_partition_set_leader(cl, "cx.events", i, 1);
    produce_with(p3, 6000);
    /* the backlog stored in batches of 200 at 1 ms a row, so that the faults
     * come while it is read however fast the member is (about 3 s) */
    slow_rows(1);
    setenv("CXPULSE_BATCH_MAX_MESSAGES", "200", 1);
    pid_t a = start_member(url, cx_mock_bootstraps(m3), "cx.events", "g34", cfgfile, NULL);
    unsetenv("CXPULSE_BATCH_MAX_MESSAGES");
    wait_handled("g34", 500, 60);
    cr_assert_lt(handled("g34"), produced, "the faults must come while the backlog is read");
    for (int i = 0; i < PARTITIONS; i++)
        rd_kafka_mock_partition_set_leader(cl, "cx.events", i, 2 + i % 2);
    rd_kafka_mock_push_request_errors(
        cl, 1 /* Fetch */, 4, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    wait_handled("g34", produced / 2, 60);
    cr_assert_lt(handled("g34"), produced, "the broker must go down while the backlog is read");
    rd_kafka_mock_broker_set_down(cl, 3); /* leads half the partitions */
    cx_test_sleep_ms(3000);
    rd_kafka_mock_broker_set_up(cl, 3);
    for (int i = 0; i < PARTITIONS; i++)
        rd_kafka_mock_partition_set_leader(cl, "cx.events", i, 1 + i % 3);
    /* live messages from a producer of their own: the first one's idempotence
     * state after the leaders' moves is not what this test is about */
    cx_producer *p4 = producer_for(m3);
    produce_with(p4, 1000);
    cx_producer_free(p4);
    wait_handled("g34", produced, 90);
    cr_assert(running(a), "the member stopped");
    cr_assert_eq(stop(a, SIGTERM, 30000), 0);
    assert_exactly_once("g34");
    cx_producer_free(p3);
    cx_mock_free(m3);
}

/* The group's coordinator moves to another broker twice while two members
 * share the partitions, and heartbeats meet a burst of NOT_COORDINATOR
 * answers (the fault plan's T6): the members find the new coordinator,
 * rebalance, and store everything once. */
Test(run, members_follow_a_moving_coordinator_and_store_everything_once)
{
    cx_mock *m3 = cluster_of(3, PARTITIONS);
    cx_producer *p3 = producer_for(m3);
    rd_kafka_mock_cluster_t *cl = cx_mock_cluster(m3);
    rd_kafka_mock_coordinator_set(cl, "group", "g24", 1);
    produce_with(p3, 3000);
    pid_t a = start_member(url, cx_mock_bootstraps(m3), "cx.events", "g24", cfgfile, NULL);
    wait_handled("g24", 500, 60);
    rd_kafka_mock_coordinator_set(cl, "group", "g24", 2);
    rd_kafka_mock_push_request_errors(cl, 12 /* Heartbeat */, 4, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                                      RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                                      RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                                      RD_KAFKA_RESP_ERR_NOT_COORDINATOR);
    pid_t b = start_member(url, cx_mock_bootstraps(m3), "cx.events", "g24", cfgfile, NULL);
    produce_with(p3, 2000);
    wait_handled("g24", produced / 2, 60);
    rd_kafka_mock_coordinator_set(cl, "group", "g24", 3);
    produce_with(p3, 1000);
    wait_handled("g24", produced, 90);
    cr_assert(running(a) && running(b), "a member stopped");
    cr_assert_eq(stop(a, SIGTERM, 30000), 0);
    cr_assert_eq(stop(b, SIGTERM, 30000), 0);
    assert_exactly_once("g24");
    cx_producer_free(p3);
    cx_mock_free(m3);
}

/* Offsets stored for a topic deleted since and created again under its name
 * are past its partitions' ends: each message up to them would be taken as
 * stored already. The member stops with exit status 1, saying so, and
 * stores nothing. */
Test(run, a_stored_offset_past_the_partitions_end_stops_the_member_saying_why)
{
    produce(100);
    for (int p = 0; p < PARTITIONS; p++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "INSERT INTO cx.consumer_offsets (consumer_group, topic, partition, next_offset)"
                 " VALUES ('g13', 'cx.events', %d, 100000)",
                 p);
        PQclear(PQexec(conn, sql));
    }
    char log[sizeof cfgfile + 8];
    snprintf(log, sizeof log, "%s.log", cfgfile);
    int rc = cx_test_sh("timeout 30 '%s' run --config '%s' --brokers '%s' --topic cx.events "
                        "--group g13 --pg '%s' --http off --log-level warn >/dev/null 2>'%s'",
                        cx_test_bin(), cfgfile, cx_mock_bootstraps(mock), url, log);
    cr_assert_eq(rc, 1, "exit status %d (124: still running after 30 s)", rc);
    cr_assert_eq(cx_test_sh("grep -q \"cx.events\\[[0-3]\\]: the stored offset 100000 is past the "
                            "partition's end\" '%s'",
                            log),
                 0, "the reason is not in the log");
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), 0);
    cr_assert_eq(handled("g13"), 100000LL * PARTITIONS);
}

/* Produces events from..to-1 to topic's partition 0, 15 kB each, named
 * "<topic>-<i>": the mock keeps about the last 5 MB of a partition, so about
 * the last 330 of them. */
static void produce_big(const char *topic, int from, int to)
{
    char err[512];
    static char v[16500];
    unsigned x = 12345u + (unsigned)from;
    for (int i = from; i < to; i++) {
        int n = snprintf(v, sizeof v,
                         "{\"event_id\":\"%s-%d\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                         "\"channel\":\"email\",\"text\":\"",
                         topic, i);
        for (int k = 0; k < 15000; k++, x = x * 1103515245u + 12345u)
            v[n++] = "abcdefghijklmnopqrstuvwxyz .,"[(x >> 16) % 29];
        n += snprintf(v + n, sizeof v - (size_t)n, "\"}");
        cr_assert_eq(cx_producer_send(producer, topic, "k", 1, v, (size_t)n, 0, err, sizeof err),
                     CX_OK, "%s", err);
    }
    uint64_t delivered;
    cr_assert_eq(cx_producer_flush(producer, 60000, &delivered, err, sizeof err), CX_OK, "%s", err);
}

/* Messages deleted by retention before the group read them are gone; the
 * member reads on from the oldest held, whatever auto_offset_reset says
 * (that is for partitions with nothing stored), and skips nothing else. */
Test(run, messages_deleted_unread_by_retention_are_skipped_and_the_rest_read)
{
    char err[512];
    /* the mock keeps about the last 5 MB of a partition */
    cr_assert_eq(cx_mock_create_topic(mock, "cx.old", 1, err, sizeof err), CX_OK, "%s", err);
    produce_big("cx.old", 0, 1000);
    PQclear(PQexec(conn, "INSERT INTO cx.consumer_offsets (consumer_group, topic, partition, "
                         "next_offset) VALUES ('g14', 'cx.old', 0, 0)"));
    setenv("CXPULSE_AUTO_OFFSET_RESET", "latest", 1);
    pid_t p = start_member(url, cx_mock_bootstraps(mock), "cx.old", "g14", cfgfile, NULL);
    unsetenv("CXPULSE_AUTO_OFFSET_RESET");
    wait_handled("g14", 1000, 90);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    long long first = cx_test_pg_scalar(conn, "SELECT min(kafka_offset) FROM cx.events");
    cr_assert_gt(first, 0, "the mock kept every message: nothing was deleted");
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT max(kafka_offset) FROM cx.events"), 999);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), 1000 - first);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"), 0);
}

/* An operator sets a group's offset back to 0 to read a topic again whose
 * oldest messages retention has deleted since the group read them: those are
 * said read before and gone, not lost (no loss counted, which pages as
 * critical), and the rest is read again, each event stored once. */
Test(run, an_offset_set_back_past_messages_read_then_deleted_does_not_count_them_lost)
{
    char err[512];
    cr_assert_eq(cx_mock_create_topic(mock, "cx.again", 1, err, sizeof err), CX_OK, "%s", err);
    pid_t p = start_member(url, cx_mock_bootstraps(mock), "cx.again", "gagain", cfgfile, NULL);
    for (int from = 0; from < 1000; from += 100) { /* each read before the mock, which */
        produce_big("cx.again", from, from + 100); /* keeps ~5 MB, deletes the oldest */
        wait_handled("gagain", from + 100, 60);
    }
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    long long stored = cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events");
    cr_assert_eq(stored, 1000);
    cx_test_pg_exec(conn, "UPDATE cx.consumer_offsets SET next_offset = 0");
    char log[sizeof cfgfile + 16], listen[32];
    snprintf(log, sizeof log, "%s.again.log", cfgfile);
    int port = cx_test_free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    member_http = listen;
    p = start_member(url, cx_mock_bootstraps(mock), "cx.again", "gagain", cfgfile, log);
    member_http = "off";
    wait_handled("gagain", 1000, 60);
    static char metrics[1 << 17];
    cr_assert_eq(cx_test_http_get(port, "/metrics", metrics, sizeof metrics), 200);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), 1000);
    cr_assert(strstr(metrics, "\ncxpulse_messages_lost_total 0\n") != NULL,
              "messages read before were counted lost:%s", metrics);
    cr_assert_eq(
        cx_test_sh("grep 'level=warn' '%s' | grep >/dev/null 'cx.again\\[0\\]: messages 0 to "
                   "[0-9]* were deleted by retention after this group read them (it "
                   "committed offset 1000 to kafka)'",
                   log),
        0, "not said; see %s%s", log, tails(log, NULL));
    cr_assert_neq(cx_test_sh("grep -q 'before they were read' '%s'", log), 0, "said lost; see %s",
                  log);
    /* and what is read again starts where the topic now starts */
    cr_assert_eq(cx_test_sh("x=$(grep -o 'messages 0 to [0-9]* were deleted' '%s' | cut -d' ' -f4)"
                            " && [ \"$x\" -gt 0 ] && grep -q \"Messages $((x + 1)) to 999 are read"
                            " again\" '%s'",
                            log, log),
                 0, "the range read again is not the rest; see %s", log);
}

/* Retention deletes messages while a member of group (its configuration
 * cfg), held up by the database, has not read them yet: it reads on from the
 * oldest message held, says how many were lost and where, and stores the
 * rest once. With rounds 2, retention deletes twice while it waits: the
 * messages lost are counted once, however often their loss is found. */
static void lost_while_waiting(const char *group, const char *cfg, int rounds)
{
    const int total = 20 + 1000 * rounds;
    char err[512];
    cr_assert_eq(cx_mock_create_topic(mock, "cx.mid", 1, err, sizeof err), CX_OK, "%s", err);
    produce_big("cx.mid", 0, 20);
    setenv("CXPULSE_BATCH_MAX_MESSAGES", "10", 1);
    char log[sizeof cfgfile + 16], listen[32];
    snprintf(log, sizeof log, "%s.%s.log", cfgfile, group);
    int port = cx_test_free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    member_http = listen;
    pid_t p = start_member(url, cx_mock_bootstraps(mock), "cx.mid", group, cfg, log);
    member_http = "off";
    unsetenv("CXPULSE_BATCH_MAX_MESSAGES");
    wait_handled(group, 20, 60);
    /* the writers wait for the lock while 15 MB more are written and the
     * oldest deleted */
    PGconn *holder = cx_test_pg_connect(url);
    cx_test_pg_exec(holder, "BEGIN");
    cx_test_pg_exec(holder, "LOCK TABLE cx.consumer_offsets IN ACCESS EXCLUSIVE MODE");
    for (int r = 0; r < rounds; r++) {
        produce_big("cx.mid", 20 + 1000 * r, 1020 + 1000 * r);
        cx_test_sleep_ms(1000);
    }
    cx_test_pg_exec(holder, "COMMIT");
    PQfinish(holder);
    wait_handled(group, total, 120);
    static char metrics[1 << 17];
    cr_assert_eq(cx_test_http_get(port, "/metrics", metrics, sizeof metrics), 200);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    long long stored = cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events");
    cr_assert_lt(stored, 1000, "the mock kept every message: nothing was deleted");
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(DISTINCT event_id) FROM cx.events"), stored);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT max(kafka_offset) FROM cx.events"), total - 1);
    /* The gaps: usually one; a second when the member had fetched some of
     * what the first deletion left before the second deleted the rest. Each
     * is said, from where it begins to where reading went on (in one line,
     * or in parts when retention went on deleting as the member found it),
     * and every message is stored once or counted lost once, however often
     * its loss was found. */
    PGresult *gaps = PQexec(conn, "SELECT kafka_offset + 1, next FROM (SELECT kafka_offset,"
                                  " lead(kafka_offset) OVER (ORDER BY kafka_offset) AS next"
                                  " FROM cx.events) g WHERE next > kafka_offset + 1 ORDER BY 1");
    cr_assert_eq(PQresultStatus(gaps), PGRES_TUPLES_OK);
    int n_gaps = PQntuples(gaps);
    cr_assert_geq(n_gaps, 1, "no gap");
    long long lost = 0, first = atoll(PQgetvalue(gaps, 0, 0)),
              last_to = atoll(PQgetvalue(gaps, n_gaps - 1, 1));
    for (int g = 0; g < n_gaps; g++)
        lost += atoll(PQgetvalue(gaps, g, 1)) - atoll(PQgetvalue(gaps, g, 0));
    PQclear(gaps);
    cr_assert_eq(stored + lost, total, "stored %lld, in gaps %lld, of %d", stored, lost, total);
    cr_assert_eq(
        cx_test_sh("grep 'level=warn' '%s' | grep >/dev/null -F 'cx.mid[0]: messages %lld to '"
                   " && grep 'level=warn' '%s' | grep -F 'were deleted by retention "
                   "before they were read (' | grep >/dev/null -F 'reading on from %lld'",
                   log, first, log, last_to),
        0, "the loss was not said; see %s%s", log, tails(log, NULL));
    char counted[64];
    snprintf(counted, sizeof counted, "\ncxpulse_messages_lost_total %lld\n", lost);
    cr_assert(strstr(metrics, counted) != NULL, "the loss was not counted once:%s", metrics);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"), 0);
}

Test(run, messages_deleted_while_a_member_waits_are_said_lost_and_the_rest_read)
{
    lost_while_waiting("glost", cfgfile, 1);
}

Test(run, messages_deleted_twice_while_a_member_waits_are_counted_lost_once)
{
    lost_while_waiting("glost2", cfgfile, 2);
}

/* The same with cooperative rebalancing, where the partition is assigned
 * again alone. */
Test(run, messages_deleted_while_a_cooperative_member_waits_are_said_lost_and_the_rest_read)
{
    char coop[300];
    snprintf(coop, sizeof coop, "%s.coop", cfgfile);
    write_config(coop, ", \"partition.assignment.strategy\": \"cooperative-sticky\"");
    lost_while_waiting("glostc", coop, 1);
}

/* librdkafka 2.0.2 can hang destroying a consumer whose subscribed topic
 * vanished from the metadata for a while and came back. Everything is stored
 * by then: the member exits anyway, with status 0, soon after its stop. */
Test(run, a_stop_after_the_topic_vanished_and_came_back_exits_0)
{
    char cfg[sizeof cfgfile + 8];
    snprintf(cfg, sizeof cfg, "%s.md", cfgfile);
    write_config(cfg, ", \"topic.metadata.refresh.interval.ms\": \"2000\""); /* it notices */
    produce(500);
    pid_t p = start_run_with("g15", cfg);
    wait_handled("g15", produced, 60);
    rd_kafka_mock_topic_set_error(cx_mock_cluster(mock), "cx.events",
                                  RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    sleep(10);
    rd_kafka_mock_topic_set_error(cx_mock_cluster(mock), "cx.events", RD_KAFKA_RESP_ERR_NO_ERROR);
    sleep(10);
    produce(500);
    wait_handled("g15", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 30000), 0);
    assert_exactly_once("g15");
}

/* What goes wrong with Kafka is logged once: a broker that cannot be reached
 * is not a second "ERROR:" line for each failure librdkafka logged already,
 * and a commit to Kafka that a rebalance cuts short (the offsets that count
 * are PostgreSQL's) or the broker refuses is no warning. */
Test(run, kafka_troubles_are_logged_once)
{
    char log[sizeof cfgfile + 16];
    produce(300);
    pid_t a = start_run_logged("g16", log, sizeof log);
    wait_handled("g16", produced, 60);
    /* commits to Kafka the broker refuses (8: OffsetCommit) */
    rd_kafka_mock_push_request_errors(
        cx_mock_cluster(mock), 8, 3, RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE,
        RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE, RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE);
    produce(100);
    wait_handled("g16", produced, 60);
    pid_t b = start_run("g16"); /* a rebalance, while batches are stored */
    for (int i = 0; i < 6; i++) {
        produce(100);
        cx_test_sleep_ms(500);
    }
    wait_handled("g16", produced, 60);
    cr_assert_eq(stop(b, SIGTERM, 20000), 0);
    rd_kafka_mock_broker_set_down(cx_mock_cluster(mock), 1);
    sleep(4);
    rd_kafka_mock_broker_set_up(cx_mock_cluster(mock), 1);
    sleep(2);
    cr_assert_eq(stop(a, SIGTERM, 20000), 0);
    assert_exactly_once("g16");
    cr_assert_eq(cx_test_sh("grep -q 'component=kafka msg=\"FAIL: ' '%s'", log), 0,
                 "the outage was not logged");
    cr_assert_eq(cx_test_sh("grep 'msg=\"ERROR: ' '%s'", log), 1, "logged twice");
    cr_assert_eq(cx_test_sh("grep 'COMMITFAIL' '%s'", log), 1, "a cut-short commit warned");
}

/* Big-endian writes into a Kafka request being built at b (n bytes so far). */
static void put_be(unsigned char *b, size_t *n, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        b[(*n)++] = (unsigned char)(v >> (8 * i));
}

/* Appends to partition `part` of cx.events, by a raw Produce request (v3) to
 * the mock's broker, a record batch of `count` records that says it is gzip
 * but holds bytes that are not: what a corrupt log segment, or a codec the
 * consumer lacks, gives a consumer. Returns the batch's first offset. */
static long long produce_undecodable(int part, int count)
{
    static const char garbage[] = "these bytes are not gzip data";
    unsigned char batch[256], req[512], resp[256];
    size_t nb = 0, nr = 4;
    long long now = (long long)time(NULL) * 1000;
    put_be(batch, &nb, 0, 8); /* base offset (the broker sets it) */
    size_t len_at = nb;       /* batch length, filled in below */
    put_be(batch, &nb, 0, 4);
    put_be(batch, &nb, 0, 4);                     /* partition leader epoch */
    put_be(batch, &nb, 2, 1);                     /* magic: record batch v2 */
    put_be(batch, &nb, 0, 4);                     /* CRC (the mock does not check it) */
    put_be(batch, &nb, 1, 2);                     /* attributes: gzip */
    put_be(batch, &nb, (uint64_t)(count - 1), 4); /* last offset delta */
    put_be(batch, &nb, (uint64_t)now, 8);
    put_be(batch, &nb, (uint64_t)now, 8);
    put_be(batch, &nb, UINT64_MAX, 8); /* no producer id, epoch, sequence */
    put_be(batch, &nb, 0xffff, 2);
    put_be(batch, &nb, 0xffffffff, 4);
    put_be(batch, &nb, (uint64_t)count, 4);
    memcpy(batch + nb, garbage, sizeof garbage - 1);
    nb += sizeof garbage - 1;
    size_t tail = nb - len_at - 4;
    put_be(batch, &len_at, tail, 4);
    put_be(req, &nr, 0, 2); /* Produce */
    put_be(req, &nr, 3, 2); /* version 3 */
    put_be(req, &nr, 7, 4); /* correlation id */
    put_be(req, &nr, 4, 2);
    memcpy(req + nr, "test", 4), nr += 4;
    put_be(req, &nr, 0xffff, 2); /* no transactional id */
    put_be(req, &nr, 1, 2);      /* acks */
    put_be(req, &nr, 5000, 4);
    put_be(req, &nr, 1, 4);
    put_be(req, &nr, 9, 2);
    memcpy(req + nr, "cx.events", 9), nr += 9;
    put_be(req, &nr, 1, 4);
    put_be(req, &nr, (uint64_t)part, 4);
    put_be(req, &nr, nb, 4);
    memcpy(req + nr, batch, nb), nr += nb;
    size_t size_at = 0;
    put_be(req, &size_at, nr - 4, 4);

    struct sockaddr_in a = {.sin_family = AF_INET};
    const char *bootstrap = cx_mock_bootstraps(mock);
    a.sin_port = htons((uint16_t)atoi(strrchr(bootstrap, ':') + 1));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connecting to %s", bootstrap);
    cr_assert_eq(write(fd, req, nr), (ssize_t)nr);
    size_t got = 0;
    ssize_t k;
    while (got < sizeof resp && (k = read(fd, resp + got, sizeof resp - got)) > 0)
        if ((got += (size_t)k) >=
            4 + ((size_t)resp[0] << 24 | (size_t)resp[1] << 16 | (size_t)resp[2] << 8 | resp[3]))
            break;
    close(fd);
    /* size, correlation id, 1 topic ("cx.events"), 1 partition: id, error, base offset */
    size_t at = 4 + 4 + 4 + 2 + 9 + 4 + 4;
    cr_assert_geq(got, at + 2 + 8, "no answer to the Produce request");
    cr_assert_eq(resp[at] << 8 | resp[at + 1], 0, "the broker refused the batch");
    long long base = 0;
    for (int i = 0; i < 8; i++)
        base = base << 8 | resp[at + 2 + i];
    return base;
}

/* A batch the consumer cannot decode holds its partition there, with one
 * warning a minute naming the partition and offset (librdkafka reports it
 * twice a second), also while another partition's does the same, and the
 * other partitions are read; moving the stored offset past it, as
 * deploy/README.md says, reads on from there. */
Test(run, a_batch_that_cannot_be_decoded_holds_its_partition_saying_where)
{
    char log[sizeof cfgfile + 16], sql[256], line[128];
    produce(200);
    long long at[] = {produce_undecodable(1, 3), produce_undecodable(2, 2)};
    produce(400); /* on every partition, partitions 1 and 2's behind the batches */
    pid_t p = start_run_logged("g36", log, sizeof log);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM cx.consumer_offsets WHERE consumer_group = 'g36'"
             " AND (partition, next_offset) IN ((1, %lld), (2, %lld))",
             at[0], at[1]);
    for (int i = 0; i < 600 && cx_test_pg_scalar(conn, sql) < 2; i++)
        cx_test_sleep_ms(100);
    cr_assert_eq(cx_test_pg_scalar(conn, sql), 2, "not stored up to the batches");
    cx_test_sleep_ms(4000); /* librdkafka fetches them, and fails, twice a second */
    cr_assert_eq(cx_test_pg_scalar(conn, sql), 2, "a partition read past its batch");
    cr_assert(running(p), "the member stopped");
    for (int k = 0; k < 2; k++) {
        snprintf(line, sizeof line, "cx.events[%d] cannot be read at offset %lld: ", k + 1, at[k]);
        cr_assert_eq(cx_test_sh("test $(grep -cF '%s' '%s') = 1", line, log), 0,
                     "not one warning naming partition %d's batch in 4 s", k + 1);
    }
    cr_assert_lt(handled("g36"), produced, "every message stored, the batches' followers too");
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    snprintf(sql, sizeof sql,
             "UPDATE cx.consumer_offsets SET next_offset = CASE partition WHEN 1 THEN %lld"
             " ELSE %lld END WHERE consumer_group = 'g36' AND partition IN (1, 2)",
             at[0] + 3, at[1] + 2);
    cx_test_pg_exec(conn, sql);
    p = start_run("g36");
    wait_handled("g36", produced + 5, 60); /* the batches' 5 offsets stored past */
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), produced - bad);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"), bad);
    cx_test_assert_signals_exact(conn);
}

/* Every partition of a topic holds a batch that cannot be decoded (a
 * producer writing in a codec this build lacks): librdkafka reports each
 * twice a second. Eight partitions are named a minute, not a line per
 * report (with more partitions than it remembered, every report was a line:
 * 32 a second at 16 partitions). */
Test(run, many_partitions_that_cannot_be_read_are_named_eight_a_minute)
{
    char log[sizeof cfgfile + 16];
    cx_mock *keep = mock;
    mock = cluster_of(1, 12);
    for (int part = 0; part < 12; part++)
        produce_undecodable(part, 1);
    pid_t p = start_run_logged("g37", log, sizeof log);
    int named = 0;
    for (int i = 0; i < 300 && named < 8; i++, cx_test_sleep_ms(100))
        named = cx_test_sh("test $(grep -c 'cannot be read at offset 0' '%s') -ge 8", log) == 0;
    cr_assert(named, "not 8 partitions named within 30 s%s", tails(log, NULL));
    cx_test_sleep_ms(5000); /* about 120 more reports */
    cr_assert_eq(cx_test_sh("test $(grep -c 'cannot be read at offset 0' '%s') = 8", log), 0,
                 "more than 8 lines in the minute%s", tails(log, NULL));
    cr_assert(running(p), "the member stopped");
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    /* the other four are named together, at the latest as the member stops */
    cr_assert_eq(cx_test_sh("test $(grep -c 'not said one by one' '%s') = 1", log), 0,
                 "the partitions held back are not summed up%s", tails(log, NULL));
    for (int part = 0; part < 12; part++)
        cr_assert_eq(cx_test_sh("grep -q 'cx.events\\[%d\\]' '%s'", part, log), 0,
                     "partition %d is never named%s", part, tails(log, NULL));
    cx_mock_free(mock);
    mock = keep;
}

/* Another session holds a lock the batches need (an analyst's LOCK TABLE
 * left in an open transaction). The member waits for it no longer than
 * lock_timeout at a time (here the user's own, 2 s, through libpq's
 * PGOPTIONS: it wins over the built-in 30 s), says why in its log, exits 0 at
 * once on SIGTERM, and once the lock is gone stores everything exactly once. */
Test(run, a_batch_held_up_by_another_sessions_lock_says_why_and_stops_on_time)
{
    char log[sizeof cfgfile + 16];
    produce(200);
    setenv("PGOPTIONS", "-c lock_timeout=2s", 1);
    pid_t p = start_run_logged("g17", log, sizeof log);
    unsetenv("PGOPTIONS");
    wait_handled("g17", produced, 60);
    PGconn *locker = cx_test_pg_connect(url);
    cx_test_pg_exec(locker, "BEGIN; LOCK TABLE cx.events IN SHARE MODE");
    long long before = handled("g17");
    produce(200);
    int said = 0;
    for (int i = 0; i < 150 && !said; i++) {
        cx_test_sleep_ms(100);
        said = cx_test_sh("grep -q 'batch not stored, retrying.*lock timeout (another session "
                          "holds a lock.*55P03' '%s'",
                          log) == 0;
    }
    cr_assert(said, "no word of the lock in the log");
    cr_assert_eq(stop(p, SIGTERM, 6000), 0, "a stop while a lock holds the batch must exit 0 soon");
    cr_assert_eq(handled("g17"), before, "stored past the lock");
    cx_test_pg_exec(locker, "COMMIT");
    PQfinish(locker);
    p = start_run("g17");
    wait_handled("g17", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    assert_exactly_once("g17");
}

/* The same lock held longer (lock_timeout 12 s here): the write that waits
 * is said in the log once it has taken 10 s, as nothing else moves, and when
 * the wait ends the member does not call PostgreSQL failing (readiness and
 * cxpulse_postgresql_up: the server is fine; on-call would be sent to it
 * instead of the session holding the lock), but counts a retry. */
Test(run, a_long_lock_wait_is_said_and_does_not_make_postgresql_look_down)
{
    char log[sizeof cfgfile + 16], listen[32];
    produce(200);
    int port = cx_test_free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    member_http = listen;
    setenv("PGOPTIONS", "-c lock_timeout=12s", 1);
    pid_t p = start_run_logged("g18", log, sizeof log);
    unsetenv("PGOPTIONS");
    member_http = "off";
    wait_handled("g18", produced, 60);
    PGconn *locker = cx_test_pg_connect(url);
    cx_test_pg_exec(locker, "BEGIN; LOCK TABLE cx.events IN SHARE MODE");
    produce(200);
    int slow = 0, said = 0;
    for (int i = 0; i < 300 && !said; i++) {
        cx_test_sleep_ms(100);
        slow =
            slow || cx_test_sh("grep 'level=warn' '%s' | grep >/dev/null 'a batch write has taken"
                               " [0-9]* s and goes on: waiting for a lock'",
                               log) == 0;
        said = cx_test_sh("grep -q 'batch not stored, retrying.*55P03' '%s'", log) == 0;
    }
    cr_assert(slow, "the write waiting 10 s and more was not said%s", tails(log, NULL));
    cr_assert(said, "no word of the lock in the log");
    static char body[1 << 16]; /* while the retry waits for the lock again */
    cr_assert_eq(cx_test_http_get(port, "/readyz", body, sizeof body), 200,
                 "a lock another session held made the member not ready: %s", body);
    cr_assert_eq(cx_test_http_get(port, "/metrics", body, sizeof body), 200);
    cr_assert(strstr(body, "\ncxpulse_postgresql_up 1\n") != NULL, "PostgreSQL said down:%s", body);
    cr_assert(strstr(body, "\ncxpulse_pg_retries_total 0\n") == NULL, "the retry not counted");
    /* held up since the first try began, through the backoff and the retry */
    const char *blocked = strstr(body, "\ncxpulse_write_blocked_seconds ");
    cr_assert(blocked != NULL && strtod(blocked + 31, NULL) >= 12,
              "writes held up by the lock not shown: %.60s", blocked ? blocked : "(none)");
    cx_test_pg_exec(locker, "COMMIT");
    PQfinish(locker);
    wait_handled("g18", produced, 60);
    cr_assert_eq(cx_test_http_get(port, "/metrics", body, sizeof body), 200);
    cr_assert(strstr(body, "\ncxpulse_write_blocked_seconds 0\n") != NULL,
              "still shown held up once stored");
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    assert_exactly_once("g18");
}

/* The database takes no writes for a while (a standby the URL reached during
 * a failover; here default_transaction_read_only): the member waits and
 * retries, as in an outage, instead of exiting, and stores everything once
 * writes are taken again. */
Test(run, a_read_only_database_is_waited_for_like_an_outage)
{
    char log[sizeof cfgfile + 16];
    cx_test_pg_exec(conn, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET "
                          "default_transaction_read_only = on', current_database()); END $$");
    produce(300);
    pid_t p = start_run_logged("g18", log, sizeof log);
    sleep(6);
    cr_assert(running(p), "a member must wait for a read-only database, not exit");
    cr_assert_eq(handled("g18"), 0);
    cr_assert_eq(cx_test_sh("grep -q 'read-only transaction (the server takes no writes.*25006' "
                            "'%s'",
                            log),
                 0, "the log does not say why nothing is stored");
    cx_test_pg_exec(conn, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET "
                          "default_transaction_read_only = off', current_database()); END $$");
    wait_handled("g18", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    assert_exactly_once("g18");
}

/* A tombstone (a message with no value: a compacted topic's deletion
 * marker) is a dead letter that says so, with no bytes; the messages around
 * it are stored. */
Test(run, a_tombstone_is_a_dead_letter_that_says_so)
{
    char err[512];
    uint64_t delivered;
    produce(50);
    cr_assert_eq(cx_producer_send(producer, "cx.events", "k1", 2, NULL, 0, 0, err, sizeof err),
                 CX_OK, "%s", err);
    cr_assert_eq(cx_producer_flush(producer, 30000, &delivered, err, sizeof err), CX_OK, "%s", err);
    produced++;
    produce(50);
    pid_t p = start_run("g37");
    wait_handled("g37", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), produced - bad - 1);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"), bad + 1);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters WHERE error ="
                                         " 'message is empty: it has no value (a tombstone,"
                                         " a compacted topic''s deletion marker)'"
                                         " AND length(raw) = 0"),
                 1, "the tombstone's dead letter does not say it is one");
}

Test(run_outage, a_batch_caught_by_an_outage_is_stored_when_the_topic_has_gone_quiet)
{
    produce(400);
    pid_t p = start_run("g6");
    wait_handled("g6", produced, 60);
    cx_test_pg_down(&conn);
    produce(300); /* taken over while PostgreSQL is down; then nothing more arrives */
    sleep(3);
    cx_test_pg_back(&conn, url);
    wait_handled("g6", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), produced - bad);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"), bad);
    cx_test_assert_signals_exact(conn);
}

Test(run, broker_down_and_back_up)
{
    produce(1500);
    /* The service starts while the broker is down, and must wait for it. */
    rd_kafka_mock_broker_set_down(cx_mock_cluster(mock), 1);
    pid_t p = start_run("g5");
    sleep(3);
    cr_assert(running(p), "the service must survive a broker outage");
    cr_assert_eq(handled("g5"), 0);
    rd_kafka_mock_broker_set_up(cx_mock_cluster(mock), 1);
    wait_handled("g5", produced, 90);
    /* Mid-stream: fetches fail with leader changes and dropped connections. */
    rd_kafka_mock_push_request_errors(cx_mock_cluster(mock), 1 /* Fetch */, 6,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR__TRANSPORT,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR__TRANSPORT,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR__TRANSPORT);
    produce(1000);
    wait_handled("g5", produced, 90);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    assert_exactly_once("g5");
}

Test(run, reclassify_while_the_service_writes_loses_and_doubles_nothing)
{
    char rules[256];
    snprintf(rules, sizeof rules, "/tmp/cxpulse-run-rules-%ld.json", (long)getpid());
    FILE *f = fopen(rules, "w");
    cr_assert_not_null(f);
    fputs("{\"version\": \"test-2\", \"category\": \"facing\","
          " \"phrases\": [{\"weight\": 2, \"polarity\": -1, \"terms\": [\"courier\"]}],"
          " \"conditions\": [{\"name\": \"late\", \"all\": [{\"field\": "
          "\"attributes.delivered_date\", \"op\": \"after\", \"other\": "
          "\"attributes.promised_date\"}]}]}",
          f);
    fclose(f);
    produce(3000);
    pid_t p = start_run("g6");
    wait_handled("g6", 300, 60);
    /* Rounds of reclassification while the service works through the backlog and
     * new messages keep arriving: both change the same signal rows. */
    for (int round = 0; round < 4; round++) {
        produce(400);
        cr_assert_eq(cx_test_sh("%s reclassify --pg '%s' --rules '%s' --batch 100 >/dev/null 2>&1",
                                cx_test_bin(), url, rules),
                     0);
    }
    /* a date the rules cannot read: the last reclassify says so, once */
    char err[512];
    static const char dated[] = "{\"event_id\":\"run-dated\",\"occurred_at\":"
                                "\"2026-11-01T11:00:00Z\",\"text\":\"ok\",\"attributes\":{"
                                "\"promised_date\":\"11/01/2026\",\"delivered_date\":"
                                "\"2026-11-03\"}}";
    cr_assert_eq(cx_producer_send(producer, "cx.events", NULL, 0, dated, sizeof dated - 1, 0, err,
                                  sizeof err),
                 CX_OK, "%s", err);
    produced++;
    uint64_t delivered;
    cr_assert_eq(cx_producer_flush(producer, 30000, &delivered, err, sizeof err), CX_OK, "%s", err);
    wait_handled("g6", produced, 90);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    cr_assert_eq(cx_test_sh("%s reclassify --pg '%s' --rules '%s' >/dev/null 2>'%s.err'",
                            cx_test_bin(), url, rules, rules),
                 0);
    cr_assert_eq(
        cx_test_sh(
            "grep -c 'level=warn component=reclassify .*attributes.promised_date.* is "
            "not a date (YYYY-MM-DD or RFC 3339), so the field conditions that "
            "compare it do not hold: first in event run-dated' '%s.err' | grep >/dev/null -x 1",
            rules),
        0);
    /* the version the events now carry is the one classify prints for those rules */
    cr_assert_eq(cx_test_sh("v=$(%s classify --rules '%s' --rule-version) && [ -n \"$v\" ] && "
                            "[ \"$v\" = \"$(psql '%s' -XAtc 'SELECT DISTINCT rule_version FROM "
                            "cx.events')\" ]",
                            cx_test_bin(), rules, url),
                 0, "classify --rule-version does not print the version reclassify recorded");
    cx_test_sh("rm -f '%s.err'", rules);
    unlink(rules);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(DISTINCT event_id) FROM cx.events"),
                 produced - bad);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), produced - bad);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"), bad);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"
                                         " WHERE rule_version NOT LIKE 'test-2+%'"),
                 0);
    /* Every courier complaint moved to facing; the rest has no category now. */
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events WHERE body LIKE"
                                         " '%courier%' AND primary_category IS DISTINCT FROM"
                                         " 'facing'"),
                 0);
    cx_test_assert_signals_exact(conn);
}

/* An hourly window size added to a running installation's configuration
 * starts empty: its first start with it says so, the next does not. */
Test(run, a_window_size_added_later_is_said_to_start_empty)
{
    char cfg[300], log[sizeof cfgfile + 16], log2[sizeof cfgfile + 16];
    produce(10);
    pid_t p = start_run("g41");
    wait_handled("g41", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    write_config_variant(cfg, "hourly", "", "\"batch\": {",
                         "\"signals\": {\"window_seconds\": [60, 3600]}, \"batch\": {");
    for (int i = 0; i < 2; i++) {
        char *l = i ? log2 : log;
        snprintf(l, sizeof log, "%s.g41-%d.log", cfgfile, i);
        produce(10);
        p = start_member(url, cx_mock_bootstraps(mock), "cx.events", "g41", cfg, l);
        wait_handled("g41", produced, 60);
        cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    }
    cr_assert_eq(cx_test_sh("grep -q 'signals.window_seconds has 3600 s window that cx.signals "
                            "has none of where its newest windows are (20..-..-.. ..:.. UTC): "
                            "a size added now starts empty' '%s'",
                            log),
                 0, "not said%s", tails(log, NULL));
    cr_assert_neq(cx_test_sh("grep -q 'a size added now' '%s'", log2), 0,
                  "said again once the size has windows%s", tails(log2, NULL));
    cr_assert_gt(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.signals WHERE"
                                         " window_seconds = 3600"),
                 0);
}

/* Another installation writing to the same database (a group that stored
 * offsets of topics this one does not read) is said as a member starts; a
 * second group reading the same topic (a backfill) is not one. */
Test(run, another_installation_on_the_database_is_said_at_start)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.consumer_offsets (consumer_group, topic, partition,"
                          " next_offset) VALUES ('eu', 'eu.events', 0, 5),"
                          " ('backfill', 'cx.events', 0, 7)");
    char log[sizeof cfgfile + 16];
    produce(10);
    pid_t p = start_run_logged("g40", log, sizeof log);
    wait_handled("g40", produced, 60);
    cr_assert_eq(stop(p, SIGTERM, 20000), 0);
    cr_assert_eq(cx_test_sh("grep -q 'another installation writes to this database: within the "
                            "last day group eu on topic eu.events stored offsets, of topics' '%s'",
                            log),
                 0, "not said%s", tails(log, NULL));
    cr_assert_neq(cx_test_sh("grep -q backfill '%s'", log), 0, "a backfill group named");
}
