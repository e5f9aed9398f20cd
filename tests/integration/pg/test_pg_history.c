/*
 * test_pg_history.c - changing what is stored, against a real PostgreSQL:
 * `cxpulse reclassify` after a rule change moves the right events between
 * categories and keeps cx.signals equal to the sum over events; `cxpulse
 * dead-letters replay` stores a dead letter whose cause is gone exactly once
 * and keeps a still-bad one with its new reason.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxtest.h"
#include "sinktest.h"

static sinktest_batch batch;
static char url[1024], rules[300], out[300];
static PGconn *conn;
static long long next_offset;

static void setup(void)
{
    sinktest_fresh_db(url, sizeof url);
    conn = cx_test_pg_connect(url);
    next_offset = 0;
    snprintf(rules, sizeof rules, "%s/history-rules-%d.json", CX_BINARY_DIR, (int)getpid());
    snprintf(out, sizeof out, "%s/history-out-%d.txt", CX_BINARY_DIR, (int)getpid());
}

static void teardown(void)
{
    sinktest_clear(&batch);
    PQfinish(conn);
    unlink(rules);
    unlink(out);
}

TestSuite(pg_history, .init = setup, .fini = teardown, .timeout = 120);

static void add(const char *id, int minute, const char *channel, const char *text)
{
    char raw[512];
    int n = snprintf(raw, sizeof raw,
                     "{\"event_id\":\"%s\",\"occurred_at\":\"2026-11-01T10:%02d:00Z\","
                     "\"channel\":\"%s\",\"text\":\"%s\",\"rating\":{\"scale\":\"csat\","
                     "\"value\":%d}}",
                     id, minute, channel, text, 1 + minute % 5);
    sinktest_add(&batch, "cx.events", 0, next_offset++, raw, (size_t)n);
}

static cx_pg_result store(void)
{
    char err[1024];
    cx_pg_result res;
    cx_pg *pg = sinktest_sink(url);
    cr_assert_eq(cx_pg_write_batch(pg, batch.recs, batch.n, &res, err, sizeof err), CX_OK, "%s",
                 err);
    cx_pg_free(pg);
    sinktest_clear(&batch);
    return res;
}

static long long q(const char *sql)
{
    return cx_test_pg_scalar(conn, sql);
}

static void write_rules(const char *json)
{
    FILE *f = fopen(rules, "w");
    cr_assert_not_null(f);
    fputs(json, f);
    fclose(f);
}

/* Runs cxpulse with args (the URL appended); returns the exit status, output in `out`. */
static int cxpulse(const char *args)
{
    return cx_test_sh("%s %s --pg '%s' >'%s' 2>&1", cx_test_bin(), args, url, out);
}

static int output_has(const char *text)
{
    return cx_test_sh("grep -qF -e '%s' '%s'", text, out) == 0;
}

/* A rule set in which agents are the carriers' fault and couriers nobody's. */
static const char *const new_rules =
    "{\"version\": \"test-2\", \"category\": \"external\","
    " \"phrases\": [{\"weight\": 2, \"polarity\": -1, \"terms\": [\"agent\"]}],"
    " \"sentiment\": {\"negative\": [{\"terms\": [\"rude\", \"lost\"]}]}}";

/* Runs `cxpulse reclassify` with new_rules and the given options (as cxpulse()). */
static int reclassify_new(const char *opts)
{
    char args[512];
    write_rules(new_rules);
    snprintf(args, sizeof args, "reclassify --rules '%s' %s", rules, opts);
    return cxpulse(args);
}

/* n events "<prefix>-<i>" saying "the agent was rude", one a minute from 10:00. */
static void add_complaints(const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "%s-%d", prefix, i);
        add(id, i, "chat", "the agent was rude");
    }
}

Test(pg_history, reclassify_moves_the_right_events_and_keeps_signals_exact)
{
    for (int i = 0; i < 40; i++) {
        char id[32];
        snprintf(id, sizeof id, "e-%02d", i);
        add(id, i % 30, i % 2 ? "chat" : "phone",
            i % 4 == 0   ? "the courier lost my parcel"
            : i % 4 == 1 ? "the agent was rude"
            : i % 4 == 2 ? "charged twice for one order"
                         : "thanks, all fine");
    }
    store();
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE primary_category = 'external'"), 10);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE primary_category = 'facing'"), 10);
    cx_test_assert_signals_exact(conn);

    cx_test_pg_exec(conn, "CREATE TABLE before AS SELECT event_id, categories, primary_category,"
                          " sentiment FROM cx.events");
    cr_assert_eq(reclassify_new("--batch 7"), 0, "see %s", out);
    /* the summary counts what changed, as the rows say */
    char says[160];
    long long cats = q("SELECT count(*) FROM cx.events e JOIN before b USING (event_id)"
                       " WHERE e.categories IS DISTINCT FROM b.categories"),
              prim = q("SELECT count(*) FROM cx.events e JOIN before b USING (event_id)"
                       " WHERE e.primary_category IS DISTINCT FROM b.primary_category"),
              sent = q("SELECT count(*) FROM cx.events e JOIN before b USING (event_id)"
                       " WHERE e.sentiment <> b.sentiment");
    snprintf(says, sizeof says,
             ": %lld changed categories (%lld their primary one), %lld their"
             " sentiment",
             cats, prim, sent);
    cr_assert(cats >= 20 && output_has("reclassified 40 events") && output_has(says),
              "want '%s', see %s", says, out);
    cx_test_pg_exec(conn, "DROP TABLE before");
    /* The agent complaints moved to external, the courier ones lost their tag. */
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE primary_category = 'external'"
                   " AND body LIKE '%agent%'"),
                 10);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE primary_category IS NOT NULL"), 10);
    cr_assert_eq(q("SELECT count(*) FROM cx.event_tags WHERE category <> 'external'"), 0);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE rule_version LIKE 'test-2+%'"), 40);
    cr_assert_eq(q("SELECT count(*) FROM cx.rule_sets WHERE version LIKE 'test-2+%'"
                   " AND rules->0->'rules'->>'version' = 'test-2'"),
                 1);
    cx_test_assert_signals_exact(conn);
    cr_assert_eq(q("SELECT count(*) FROM cx.signals WHERE events <= 0"), 0);

    /* Again: nothing left to do; and back to the built-in rules restores the start. */
    cr_assert_eq(reclassify_new("--batch 7"), 0);
    cr_assert(output_has("reclassified 0 events"), "see %s", out);
    cr_assert_eq(cxpulse("reclassify"), 0, "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE primary_category = 'external'"), 10);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE primary_category = 'facing'"), 10);
    cx_test_assert_signals_exact(conn);
}

/* The service ran with 60 s windows; hourly ones were configured later. The
 * events stored before never counted in an hourly window: moving them must
 * not make hourly rows out of nothing (-1 under the old category, +1 under
 * the new), while their minute windows move as always. */
Test(pg_history, reclassify_leaves_a_window_size_added_later_alone)
{
    add_complaints("w", 10);
    store();
    write_rules(new_rules);
    cr_assert_eq(cx_test_sh("CXPULSE_WINDOW_SECONDS=60,3600 %s reclassify --rules '%s' --pg '%s'"
                            " >'%s' 2>&1",
                            cx_test_bin(), rules, url, out),
                 0, "see %s", out);
    cr_assert(output_has("reclassified 10 events"), "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.signals WHERE window_seconds = 3600"), 0);
    cx_test_assert_signals_exact(conn);
}

/* The service keeps minute and 5-minute windows; reclassify and replay run
 * without its configuration (the built-in 60 s) are refused, naming the
 * sizes, instead of leaving the 5-minute windows uncorrected; with it, both
 * window sizes stay equal to the events. */
Test(pg_history, commands_that_would_leave_a_window_size_uncorrected_refuse)
{
    add_complaints("w", 10);
    static const int windows[] = {60, 300};
    cx_pg_options o = {.conninfo = url,
                       .group = "g",
                       .window_seconds = windows,
                       .n_windows = 2,
                       .rule_version = "test+1",
                       .synchronous_commit = 1};
    cx_pg *pg = NULL;
    char err[1024];
    cx_pg_result res;
    cr_assert_eq(cx_pg_new(&pg, &o, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_pg_write_batch(pg, batch.recs, batch.n, &res, err, sizeof err), CX_OK, "%s",
                 err);
    cx_pg_free(pg);
    sinktest_clear(&batch);
    cx_test_pg_exec(conn, "INSERT INTO cx.dead_letters (consumer_group, kafka_topic,"
                          " kafka_partition, kafka_offset, error, raw) VALUES ('g', 'cx.events',"
                          " 0, 99, 'older build', convert_to('{\"event_id\":\"dl-1\","
                          "\"occurred_at\":\"2026-11-01T10:03:00Z\",\"text\":\"the agent was"
                          " rude\"}', 'UTF8'))");
    const char *held = "cx.signals holds windows of 60 s, 300 s;",
               *given = "signals.window_seconds is 60 s, without 300 s: give it the service";
    cr_assert_eq(reclassify_new(""), 2, "see %s", out);
    cr_assert(output_has(held) && output_has(given), "see %s", out);
    cr_assert_eq(cxpulse("dead-letters replay --all"), 2, "see %s", out);
    cr_assert(output_has(held) && output_has(given), "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE rule_version = 'test+1'"), 10);
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters WHERE replay_result IS NULL"), 1);

    cr_assert_eq(cx_test_sh("CXPULSE_WINDOW_SECONDS=60,300 %s reclassify --rules '%s' --pg '%s'"
                            " >'%s' 2>&1 && CXPULSE_WINDOW_SECONDS=300,60 %s dead-letters replay"
                            " --all --pg '%s' >>'%s' 2>&1",
                            cx_test_bin(), rules, url, out, cx_test_bin(), url, out),
                 0, "see %s", out);
    cr_assert(output_has("reclassified 10 events"), "see %s", out);
    cr_assert(output_has("1 stored as events"), "see %s", out);
    cx_test_assert_signals_exact(conn); /* both sizes */
    cr_assert_eq(q("SELECT sum(events) FROM cx.signals WHERE window_seconds = 300"), 11);
}

Test(pg_history, reclassify_corrects_signals_exactly_for_decimal_and_too_fine_ratings)
{
    /* Ratings summed in C (4.3, 0.1) and one with more decimals than that keeps
     * exact (summed by PostgreSQL), on events the new rules move. */
    static const char *const values[] = {"4.3", "0.1", "1.2345678901234567e-05", "7"};
    for (int i = 0; i < 16; i++) {
        char raw[512];
        int n = snprintf(raw, sizeof raw,
                         "{\"event_id\":\"r-%02d\",\"occurred_at\":\"2026-11-01T10:%02d:30Z\","
                         "\"channel\":\"app\",\"text\":\"%s\",\"rating\":{\"scale\":\"nps\","
                         "\"value\":%s}}",
                         i, i % 3, i % 2 ? "the agent was rude" : "the courier lost my parcel",
                         values[i % 4]);
        sinktest_add(&batch, "cx.events", 0, next_offset++, raw, (size_t)n);
    }
    store();
    cx_test_assert_signals_exact(conn);
    cr_assert_eq(reclassify_new("--batch 5"), 0, "see %s", out);
    cr_assert(output_has("reclassified 16 events"), "see %s", out);
    cx_test_assert_signals_exact(conn);
    cr_assert_eq(q("SELECT count(*) FROM cx.signals WHERE events <= 0"), 0);
    cr_assert_eq(cxpulse("reclassify"), 0, "see %s", out);
    cx_test_assert_signals_exact(conn);
}

Test(pg_history, reclassify_stopped_by_a_signal_stores_what_it_says_and_a_rerun_ends_it)
{
    /* 300 pages of one event, so that the stop comes long before the end */
    const char *prefixes[] = {"s", "t", "u", "v", "w"};
    for (int i = 0; i < 5; i++) {
        add_complaints(prefixes[i], 60);
        store();
    }
    write_rules(new_rules);
    int rc = cx_test_sh("%s reclassify --rules '%s' --batch 1 --pg '%s' >'%s' 2>&1 & p=$!; "
                        "i=0; until grep -q '^reclassify: [0-9]*/' '%s' || [ $i -ge 600 ]; "
                        "do sleep 0.02; i=$((i+1)); done; kill -TERM $p; wait $p",
                        cx_test_bin(), rules, url, out, out);
    cr_assert_eq(rc, 1, "see %s", out);
    char text[8192];
    /* (SIGTERM: a job in the background of a script has SIGINT ignored, and
     * keeps it so; Ctrl-C in a terminal takes the same path) */
    const char *stop =
        strstr(cx_test_read_file(out, text, sizeof text), "stopped by SIGTERM after");
    long long stored, todo;
    cr_assert(stop != NULL &&
                  sscanf(stop, "stopped by SIGTERM after %lld of %lld", &stored, &todo) == 2,
              "see %s", out);
    cr_assert(stored > 0 && stored < 300 && todo == 300, "%lld of %lld", stored, todo);
    /* what it says is stored is all there is, with signals to match */
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE rule_version LIKE 'test-2+%'"), stored);
    cx_test_assert_signals_exact(conn);
    cr_assert_eq(reclassify_new(""), 0, "see %s", out);
    char says[64];
    snprintf(says, sizeof says, "reclassified %lld events", 300 - stored);
    cr_assert(output_has(says), "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE rule_version LIKE 'test-2+%'"), 300);
    cx_test_assert_signals_exact(conn);
}

Test(pg_history, reclassify_keeps_to_the_time_range)
{
    add_complaints("r", 20);
    store();
    /* tagged as stored; a copy that syncs by tagged_at sees the re-tagged ones */
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE tagged_at = ingested_at"), 20);
    /* and what decided their sentiment, written again with the tags */
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE sentiment_from = 'rating'"), 20);
    cx_test_pg_exec(conn, "UPDATE cx.events SET tagged_at = tagged_at - interval '1 day',"
                          " sentiment_from = NULL");
    cr_assert_eq(reclassify_new("--since 2026-11-01T10:05:00Z --until 2026-11-01T10:10:00Z"), 0,
                 "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE rule_version LIKE 'test-2+%'"), 5);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE tagged_at > now() - interval '1 hour'"
                   " AND rule_version LIKE 'test-2+%'"),
                 5, "tagged_at moves with the re-tagged events, and only with them");
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE sentiment_from = 'rating'"
                   " AND rule_version LIKE 'test-2+%'"),
                 5, "the re-tagged events' sentiment_from is not written");
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE tagged_at > now() - interval '1 hour'"),
                 5);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE primary_category = 'external'"
                   " AND occurred_at >= '2026-11-01T10:05:00Z'"
                   " AND occurred_at < '2026-11-01T10:10:00Z'"),
                 5);
    cx_test_assert_signals_exact(conn);
    cr_assert_eq(cxpulse("reclassify --since yesterday"), 2);
    cr_assert(output_has("--since \"yesterday\""), "see %s", out);
}

Test(pg_history, reclassify_reports_both_failed_pages_and_keeps_both_as_they_were)
{
    /* two pages of two, written by the two writers at once; both fail */
    add_complaints("w", 4);
    store();
    cx_test_pg_exec(conn, "CREATE FUNCTION cx_test_refuse() RETURNS trigger LANGUAGE plpgsql AS"
                          " $$BEGIN RAISE EXCEPTION 'no updates to %', NEW.event_id; END$$;"
                          " CREATE TRIGGER refuse BEFORE UPDATE ON cx.events"
                          " FOR EACH ROW EXECUTE FUNCTION cx_test_refuse()");
    cr_assert_neq(reclassify_new("--batch 2"), 0, "see %s", out);
    cr_assert(output_has("no updates to w-0"), "see %s", out);
    cr_assert(output_has("; and another batch: "), "see %s", out);
    cr_assert(output_has("no updates to w-2"), "see %s", out);
    cr_assert(!output_has("trying again"), "a trigger's refusal is no trouble to wait out");
    /* each failed page was rolled back whole: tags and signals as before */
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE rule_version LIKE 'test-2+%'"), 0);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE primary_category = 'facing'"), 4);
    cx_test_assert_signals_exact(conn);
    /* once the cause is gone, a run re-tags them all */
    cx_test_pg_exec(conn, "DROP TRIGGER refuse ON cx.events");
    cr_assert_eq(reclassify_new("--batch 2"), 0, "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE rule_version LIKE 'test-2+%'"), 4);
    cx_test_assert_signals_exact(conn);
}

/* Runs `cxpulse ARGS --pg URL` in the background with a lock_timeout of
 * 300 ms (through libpq's PGOPTIONS) while locker holds a lock it needs:
 * asserts that it tries again on new connections, saying why, and that
 * `untouched` (a count) stays 0 meanwhile; then lets the lock go (ending
 * locker) and asserts that it exits 0. Its output is in `out`. */
static void run_past_a_held_lock(PGconn *locker, const char *args, const char *untouched)
{
    char rcfile[sizeof out + 8];
    snprintf(rcfile, sizeof rcfile, "%s.rc", out);
    unlink(rcfile);
    cr_assert_eq(cx_test_sh("(PGOPTIONS='-c lock_timeout=300ms' %s %s --pg '%s' >'%s' 2>&1; "
                            "echo $? >'%s') &",
                            cx_test_bin(), args, url, out, rcfile),
                 0);
    int again = 0;
    for (int i = 0; i < 200 && !again; i++) {
        cx_test_sleep_ms(100);
        again = output_has("(2 of 5)");
    }
    cr_assert(again, "no second try; see %s", out);
    cr_assert(output_has("(SQLSTATE 55P03); trying again in 1 s on new connections (1 of 5)"),
              "see %s", out);
    cr_assert_eq(q(untouched), 0);
    cx_test_pg_exec(locker, "COMMIT");
    PQfinish(locker);
    int ended = 0;
    for (int i = 0; i < 300 && !ended; i++) {
        cx_test_sleep_ms(100);
        ended = access(rcfile, F_OK) == 0;
    }
    char rc[16] = "";
    cr_assert(ended && strcmp(cx_test_read_file(rcfile, rc, sizeof rc), "0\n") == 0,
              "exit %s; see %s", rc, out);
    unlink(rcfile);
}

/* Another session holds a lock the re-tagging needs past lock_timeout (an
 * analyst's LOCK TABLE left open; here lock_timeout is 300 ms through libpq's
 * PGOPTIONS). Reclassify stores nothing meanwhile, tries again on new
 * connections after 1 s, 2 s, ..., saying why, and once the lock is gone
 * finishes the range: every event once, signals exact, the totals those of
 * the pages committed. */
Test(pg_history, reclassify_waits_out_a_lock_held_past_lock_timeout_and_finishes)
{
    add_complaints("k", 6);
    store();
    write_rules(new_rules);
    PGconn *locker = cx_test_pg_connect(url);
    cx_test_pg_exec(locker, "BEGIN; LOCK TABLE cx.events IN EXCLUSIVE MODE");
    char args[512];
    snprintf(args, sizeof args, "reclassify --rules '%s' --batch 2", rules);
    run_past_a_held_lock(locker, args,
                         "SELECT count(*) FROM cx.events WHERE rule_version LIKE 'test-2+%'");
    cr_assert(output_has("reclassified 6 events"), "see %s", out);
    cr_assert(!output_has("(3 of 5)"), "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE rule_version LIKE 'test-2+%'"), 6);
    cx_test_assert_signals_exact(conn);
}

/* A failure that lasts (a deadlock every time) ends the run after --retries
 * tries in a row, each page rolled back whole; --retries 0 stops at the
 * first. A failure that is no network or lock trouble is not tried again
 * (reclassify_reports_both_failed_pages_and_keeps_both_as_they_were). */
Test(pg_history, reclassify_gives_up_after_its_retries_with_nothing_half_stored)
{
    add_complaints("g", 4);
    store();
    cx_test_pg_exec(conn, "CREATE FUNCTION cx_test_deadlock() RETURNS trigger LANGUAGE plpgsql"
                          " AS $$BEGIN RAISE EXCEPTION 'test deadlock on %', NEW.event_id"
                          " USING ERRCODE = '40P01'; END$$;"
                          " CREATE TRIGGER deadlock BEFORE UPDATE ON cx.events"
                          " FOR EACH ROW EXECUTE FUNCTION cx_test_deadlock()");
    cr_assert_eq(reclassify_new("--batch 2 --retries 1"), 1, "see %s", out);
    cr_assert(output_has("test deadlock on g-0"), "see %s", out);
    cr_assert(output_has("trying again in 1 s on new connections (1 of 1)"), "see %s", out);
    cr_assert_eq(cx_test_sh("test $(grep -c 'trying again' '%s') = 1", out), 0, "see %s", out);
    cr_assert(output_has("the same command again re-tags the rest"), "see %s", out);
    cr_assert_eq(reclassify_new("--batch 2 --retries 0"), 1, "see %s", out);
    cr_assert(output_has("test deadlock on g-0") && !output_has("trying again"), "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE rule_version LIKE 'test-2+%'"), 0);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE primary_category = 'facing'"), 4);
    cx_test_assert_signals_exact(conn);
}

Test(pg_history, a_rejected_row_replays_into_one_event_once_its_cause_is_gone)
{
    /* The database rejects long channel names... */
    cx_test_pg_exec(conn, "ALTER TABLE cx.events ADD CONSTRAINT channel_short"
                          " CHECK (length(channel) <= 5)");
    add("ok-1", 1, "chat", "the agent was rude");
    add("long-1", 2, "telephone", "the agent was rude");
    add("ok-2", 3, "chat", "charged twice");
    cx_pg_result res = store();
    cr_assert_eq(res.stored, 2);
    cr_assert_eq(res.dead_lettered, 1);
    long long id = q("SELECT id FROM cx.dead_letters");
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters WHERE error LIKE"
                   " '%postgresql rejected the event%channel_short%'"),
                 1);
    /* A replay before then says why the one asked for still fails. */
    char args[128];
    snprintf(args, sizeof args, "dead-letters replay --id %lld", id);
    cr_assert_eq(cxpulse(args), 1, "see %s", out);
    char says[64];
    snprintf(says, sizeof says, "%lld still fails: ", id);
    cr_assert(output_has(says) && output_has("channel_short"), "see %s", out);
    /* ... until a migration widens it. */
    cx_test_pg_exec(conn, "ALTER TABLE cx.events DROP CONSTRAINT channel_short");
    cr_assert_eq(cxpulse(args), 0, "see %s", out);
    cr_assert(output_has("1 stored as events"), "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE event_id = 'long-1'"
                   " AND channel = 'telephone' AND kafka_offset = 1"),
                 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters WHERE replay_count = 2"
                   " AND replayed_at IS NOT NULL AND replay_result = 'stored as event long-1'"
                   " AND original_error LIKE '%channel_short%'"),
                 1);
    cx_test_assert_signals_exact(conn);
    /* Replaying twice stores nothing twice. */
    cr_assert_eq(cxpulse(args), 0);
    cr_assert(output_has("nothing to replay (already stored)"), "see %s", out);
    cr_assert_eq(cxpulse("dead-letters replay --all"), 0);
    /* An id that names no dead letter is an error, as it is for show. */
    cr_assert_eq(cxpulse("dead-letters replay --id 999999"), 1, "see %s", out);
    cr_assert(output_has("no dead letter 999999"), "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events"), 3);
    cr_assert_eq(q("SELECT replay_count FROM cx.dead_letters"), 2);
}

/* A replay caught by a lock another session holds past lock_timeout (300 ms
 * here, through libpq's PGOPTIONS) stores nothing meanwhile, tries again on
 * new connections after 1 s, 2 s, ..., saying why, and once the lock is gone
 * stores the dead letter once. A failure that lasts ends it after --retries
 * tries; --retries 0 stops at the first. */
Test(pg_history, a_replay_waits_out_a_lock_held_past_lock_timeout)
{
    cx_test_pg_exec(conn, "ALTER TABLE cx.events ADD CONSTRAINT channel_short"
                          " CHECK (length(channel) <= 5)");
    add("long-1", 1, "telephone", "the agent was rude");
    cr_assert_eq(store().dead_lettered, 1);
    cx_test_pg_exec(conn, "ALTER TABLE cx.events DROP CONSTRAINT channel_short");
    PGconn *locker = cx_test_pg_connect(url);
    cx_test_pg_exec(locker, "BEGIN; LOCK TABLE cx.events IN EXCLUSIVE MODE");
    cr_assert_eq(cx_test_sh("PGOPTIONS='-c lock_timeout=300ms' %s dead-letters replay --all "
                            "--retries 1 --pg '%s' >'%s' 2>&1",
                            cx_test_bin(), url, out),
                 1, "see %s", out);
    cr_assert(output_has("(SQLSTATE 55P03); trying again in 1 s on new connections (1 of 1)"),
              "see %s", out);
    cr_assert(output_has("the same command again replays the rest"), "see %s", out);
    cr_assert_eq(cx_test_sh("PGOPTIONS='-c lock_timeout=300ms' %s dead-letters replay --all "
                            "--retries 0 --pg '%s' >'%s' 2>&1",
                            cx_test_bin(), url, out),
                 1, "see %s", out);
    cr_assert(output_has("(SQLSTATE 55P03)") && !output_has("trying again"), "see %s", out);
    run_past_a_held_lock(locker, "dead-letters replay --all", "SELECT count(*) FROM cx.events");
    cr_assert(output_has("1 stored as events"), "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE event_id = 'long-1'"), 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters WHERE replay_result ="
                   " 'stored as event long-1'"),
                 1);
    cx_test_assert_signals_exact(conn);
}

Test(pg_history, replay_of_an_older_builds_dead_letters_a_duplicate_and_a_still_bad_one)
{
    add("there-1", 1, "chat", "the agent was rude");
    store();
    /* An older build rejected a valid event; a retry of a stored one (its keys
     * in another order); another event under the stored one's event_id; and
     * junk. */
    cx_test_pg_exec(conn, "INSERT INTO cx.dead_letters (kafka_topic, kafka_partition, kafka_offset,"
                          " error, raw) VALUES"
                          " ('cx.events', 1, 10, 'older build: unknown field \"touchpoint\"',"
                          "  convert_to('{\"event_id\":\"old-1\",\"occurred_at\":"
                          "\"2026-11-01T10:04:00Z\",\"touchpoint\":\"checkout\",\"text\":"
                          "\"charged twice\"}', 'UTF8')),"
                          " ('cx.events', 1, 11, 'older build: timeout',"
                          "  convert_to('{\"text\":\"the agent was rude\",\"event_id\":\"there-1\","
                          "\"occurred_at\":\"2026-11-01T10:01:00Z\",\"channel\":\"chat\","
                          "\"rating\":{\"value\":2,\"scale\":\"csat\"}}', 'UTF8')),"
                          " ('cx.events', 1, 13, 'older build: timeout',"
                          "  convert_to('{\"event_id\":\"there-1\",\"occurred_at\":"
                          "\"2026-11-01T10:01:00Z\",\"text\":\"the agent was rude\"}', 'UTF8')),"
                          " ('cx.events', 1, 12, 'invalid JSON', '\\x7b6e6f7065')");
    cr_assert_eq(cxpulse("dead-letters replay --since 2000-01-01"), 1, "see %s", out);
    cr_assert(output_has("1 stored as events, 1 were already stored, 2 still failing"), "see %s",
              out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events"), 2);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE event_id = 'old-1'"
                   " AND touchpoint = 'checkout' AND primary_category = 'collaborative'"),
                 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters WHERE kafka_offset = 11"
                   " AND replay_result = 'duplicate of stored event there-1'"),
                 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters WHERE kafka_offset = 12"
                   " AND replay_count = 1 AND original_error = 'invalid JSON'"
                   " AND error LIKE 'invalid JSON at line 1%'"
                   " AND replay_result LIKE 'failed again: invalid JSON at line 1%'"),
                 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters WHERE kafka_offset = 13"
                   " AND replay_count = 1 AND replay_result LIKE 'failed again: event_id"
                   " \"there-1\" is already stored with other content%'"),
                 1, "not a duplicate of the stored event");
    cx_test_assert_signals_exact(conn);
    /* The still-bad ones are tried again (and counted); the others are left alone. */
    cr_assert_eq(cxpulse("dead-letters replay --all"), 1, "see %s", out);
    cr_assert(output_has("0 stored as events, 0 were already stored, 2 still failing"), "see %s",
              out);
    cr_assert_eq(q("SELECT replay_count FROM cx.dead_letters WHERE kafka_offset = 12"), 2);
    cr_assert_eq(q("SELECT count(*) FROM cx.events"), 2);

    /* Reading them. */
    cr_assert_eq(cxpulse("dead-letters list"), 0);
    cr_assert(output_has("cx.events[1]@12") && output_has("stored as event old-1"), "see %s",
              out);
    char args[64];
    snprintf(args, sizeof args, "dead-letters show %lld",
             q("SELECT id FROM cx.dead_letters WHERE kafka_offset = 10"));
    cr_assert_eq(cxpulse(args), 0);
    cr_assert(output_has("\"raw_encoding\": \"utf8\",") &&
                  output_has("\"raw\": \"{\\\"event_id\\\":\\\"old-1\\\""),
              "see %s", out);
    /* bytes that are not UTF-8 (here a NUL) are shown as hex digits, and said to be */
    cx_test_pg_exec(conn, "INSERT INTO cx.dead_letters (consumer_group, kafka_topic,"
                          " kafka_partition, kafka_offset, error, raw) VALUES ('g', 'cx.events',"
                          " 3, 77, 'invalid JSON', '\\x61620063'::bytea)");
    snprintf(args, sizeof args, "dead-letters show %lld",
             q("SELECT id FROM cx.dead_letters WHERE kafka_offset = 77"));
    cr_assert_eq(cxpulse(args), 0);
    cr_assert(output_has("\"raw_encoding\": \"hex\",") && output_has("\"raw\": \"61620063\""),
              "see %s", out);
    /* text that reorders a terminal's line (a right-to-left override) or is a
     * C1 control is shown escaped: the same JSON, nothing a terminal acts on */
    cx_test_pg_exec(conn, "INSERT INTO cx.dead_letters (consumer_group, kafka_topic,"
                          " kafka_partition, kafka_offset, error, raw) VALUES ('g', 'cx.events',"
                          " 3, 78, 'invalid JSON', convert_to('{\"text\":\"a' || chr(8238) ||"
                          " 'b' || chr(155) || 'c', 'UTF8'))");
    snprintf(args, sizeof args, "dead-letters show %lld",
             q("SELECT id FROM cx.dead_letters WHERE kafka_offset = 78"));
    cr_assert_eq(cxpulse(args), 0);
    cr_assert(output_has("a\\u202eb\\u009bc"), "see %s", out);
    cr_assert_eq(cx_test_sh("grep -q \"$(printf '\\342\\200\\256')\" '%s'", out), 1,
                 "the override reached the terminal: %s", out);
    cr_assert_eq(cxpulse("dead-letters show 999999"), 1);
    cr_assert(output_has("no dead letter 999999"), "see %s", out);
    cr_assert_eq(cxpulse("dead-letters replay"), 2, "replay needs --id, --since or --all");
}

/* More dead letters than a list shows (50 by default): it says so on stderr,
 * counting what --since selects, and --limit shows more. */
Test(pg_history, a_dead_letters_list_cut_short_says_so_and_limit_shows_more)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.dead_letters (kafka_topic, kafka_partition,"
                          " kafka_offset, error, raw, received_at)"
                          " SELECT 'cx.events', 0, i, 'invalid JSON', '\\x7b',"
                          " timestamptz '2026-11-01 00:00Z' + i * interval '1 hour'"
                          " FROM generate_series(1, 53) i");
    sinktest_assert_cut_short(url, "dead-letters list", "dead letters", 50, 53);
    size_t lines;
    json_t *a;
    char errs[1024];
    /* 2026-11-02 00:00 onwards: hours 24 to 53 */
    cr_assert_eq(sinktest_cmd_split(url, "dead-letters list --since 2026-11-02 --limit 10", &lines,
                                    &a, errs, sizeof errs),
                 0, "%s", errs);
    cr_assert(strstr(errs, "showing 10 of 30 dead letters") != NULL, "not told: \"%s\"", errs);
    cr_assert_eq(sinktest_cmd_split(url, "dead-letters list --since 2026-11-02", &lines, &a, errs,
                                    sizeof errs),
                 0, "%s", errs);
    cr_assert_eq(lines, 1 + 30);
    cr_assert_str_eq(errs, "", "every dead letter since then is shown");
}

/* --containing finds where a customer's messages went: the dead letters
 * whose message holds the text as written (case and bytes), whatever their
 * reason, not binary ones that lack it. */
Test(pg_history, a_dead_letters_list_finds_a_customers_messages)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.dead_letters (kafka_topic, kafka_partition,"
                          " kafka_offset, error, raw) VALUES"
                          " ('cx.events', 0, 1, 'invalid JSON',"
                          "  convert_to('{\"customer_id\":\"cust-4242\",\"text\":', 'UTF8')),"
                          " ('cx.events', 0, 2, 'missing required field \"occurred_at\"',"
                          "  convert_to('{\"customer_id\":\"cust-4242\",\"event_id\":\"é-1\"}',"
                          "  'UTF8')),"
                          " ('cx.events', 0, 3, 'invalid JSON', '\\xff00637573742d34323432'),"
                          " ('cx.events', 0, 4, 'invalid JSON',"
                          "  convert_to('{\"customer_id\":\"CUST-4242\"}', 'UTF8')),"
                          " ('cx.events', 0, 5, 'invalid JSON',"
                          "  convert_to('{\"customer_id\":\"cust-777\"}', 'UTF8'))");
    size_t lines;
    json_t *a;
    char errs[1024];
    cr_assert_eq(sinktest_cmd_split(url, "dead-letters list --containing cust-4242 --json", &lines,
                                    &a, errs, sizeof errs),
                 0, "%s", errs);
    /* offsets 1, 2 and the binary 3 hold the bytes; 4 differs in case, 5 is another's */
    cr_assert_eq(json_array_size(a), 3, "%s", errs);
    for (size_t i = 0; i < json_array_size(a); i++)
        cr_assert_eq(json_integer_value(json_object_get(json_array_get(a, i), "kafka_offset")),
                     3 - (json_int_t)i);
    json_decref(a);
    cr_assert_eq(sinktest_cmd_split(url,
                                    "dead-letters list --containing é-1 --reason occurred_at"
                                    " --json",
                                    &lines, &a, errs, sizeof errs),
                 0, "%s", errs);
    cr_assert_eq(json_array_size(a), 1, "%s", errs);
    json_decref(a);
}

/* --reason keeps the dead letters whose reason holds a text, whatever its
 * case, with --since, and the count of what it selects when cut short. */
Test(pg_history, a_dead_letters_list_filters_by_reason)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.dead_letters (kafka_topic, kafka_partition,"
                          " kafka_offset, error, raw, received_at)"
                          " SELECT 'cx.events', 0, i, CASE WHEN i % 3 = 0 THEN"
                          " 'missing required field \"occurred_at\"' ELSE 'invalid JSON' END,"
                          " '\\x7b', timestamptz '2026-11-01 00:00Z' + i * interval '1 hour'"
                          " FROM generate_series(1, 60) i");
    size_t lines;
    json_t *a;
    char errs[1024];
    cr_assert_eq(sinktest_cmd_split(url, "dead-letters list --reason OCCURRED_AT --json", &lines,
                                    &a, errs, sizeof errs),
                 0, "%s", errs);
    cr_assert_eq(json_array_size(a), 20, "%s", errs);
    for (size_t i = 0; i < json_array_size(a); i++)
        cr_assert(strstr(json_string_value(json_object_get(json_array_get(a, i), "error")),
                         "occurred_at") != NULL);
    json_decref(a);
    cr_assert_eq(sinktest_cmd_split(url,
                                    "dead-letters list --reason 'invalid json' --since 2026-11-02"
                                    " --limit 5",
                                    &lines, &a, errs, sizeof errs),
                 0, "%s", errs);
    /* hours 24 to 60 not divisible by 3: 37 - 13 */
    cr_assert(strstr(errs, "showing 5 of 24 dead letters") != NULL, "not told: \"%s\"", errs);
    json_decref(a);
    cr_assert_eq(cxpulse("dead-letters replay --all --reason json"), 2, "see %s", out);
    cr_assert(output_has("--reason filters list only"), "see %s", out);
    cr_assert_eq(cxpulse("dead-letters show 1 --containing c-42"), 2, "see %s", out);
    cr_assert(output_has("--containing filters list only"), "see %s", out);
    /* an option the verb does not use is refused, not ignored */
    const char *unused[][2] = {{"dead-letters list --id 3", "--id is for replay"},
                               {"dead-letters list --all", "--all is for replay"},
                               {"dead-letters show 1 --since 2020-01-01", "--since is for list"},
                               {"dead-letters show 1 --limit 3", "--limit is for list"},
                               {"dead-letters replay --all --json", "--json is for list and show"},
                               {"dead-letters replay --all --limit 3", "--limit is for list"}};
    for (size_t i = 0; i < sizeof unused / sizeof *unused; i++) {
        cr_assert_eq(cxpulse(unused[i][0]), 2, "%s: see %s", unused[i][0], out);
        cr_assert(output_has(unused[i][1]), "%s: see %s", unused[i][0], out);
    }
}

/* A producer's event_id in a reason or replay result (line breaks, a
 * terminal's escape sequences) is shown harmless: one line per dead letter,
 * no escape reaching the terminal. */
Test(pg_history, a_dead_letters_list_shows_control_characters_of_an_event_id_as_spaces)
{
    cx_test_pg_exec(conn,
                    "INSERT INTO cx.dead_letters (kafka_topic, kafka_partition,"
                    " kafka_offset, error, raw, replay_result) VALUES ('cx.events', 0, 1,"
                    " E'event_id \"x\\x1b]8;;http://evil\\x07\\nforged row\" is already stored',"
                    " '\\x7b', E'stored as event x\\r\\nforged\\x1b[2J\\u009b2J\\u202egp')");
    size_t lines;
    json_t *a;
    char errs[1024];
    cr_assert_eq(sinktest_cmd_split(url, "dead-letters list", &lines, &a, errs, sizeof errs), 0,
                 "%s", errs);
    cr_assert_eq(lines, 1 + 1, "a dead letter's row was broken over lines");
    cr_assert_eq(cxpulse("dead-letters list"), 0, "see %s", out);
    cr_assert_neq(cx_test_sh("grep -q \"$(printf '\\033')\" '%s'", out), 0,
                  "an escape reached the terminal; see %s", out);
    cr_assert_neq(cx_test_sh("grep -q \"$(printf '\\302\\233')\" '%s'", out), 0,
                  "a C1 control reached the terminal; see %s", out);
    cr_assert_neq(cx_test_sh("grep -q \"$(printf '\\342\\200\\256')\" '%s'", out), 0,
                  "a right-to-left override reached the terminal; see %s", out);
    cr_assert(output_has("x ]8;;http://evil  forged row"), "see %s", out);
}

/* A consumer group or reason in another script is cut between whole
 * characters, marked with "…", and the group padded to its terminal columns
 * (CJK takes two): the terminal gets valid UTF-8 and the columns stay in
 * line. */
Test(pg_history, a_dead_letters_list_cuts_by_characters_and_pads_by_columns)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.dead_letters (consumer_group, kafka_topic,"
                          " kafka_partition, kafka_offset, error, raw) VALUES"
                          " ('grp-日本語グループ-東京', 'cx.events', 0, 1,"
                          "  repeat('é', 99) || 'ab', '\\x7b'),"
                          " ('grp-日本', 'cx.events', 0, 2, 'invalid JSON', '\\x7b')");
    cr_assert_eq(cxpulse("dead-letters list"), 0, "see %s", out);
    cr_assert_eq(cx_test_sh("iconv -f UTF-8 -t UTF-8 '%s' >/dev/null 2>&1", out), 0,
                 "invalid UTF-8 reached the terminal; see %s", out);
    cr_assert(output_has("  grp-日本語…   cx.events[0]@1 "), "see %s", out);
    cr_assert(output_has("  grp-日本      cx.events[0]@2 "), "see %s", out);
    cr_assert_eq(cx_test_sh("grep -qE '  (é){99}…$' '%s'", out), 0,
                 "the reason is not cut at 100 characters with \"…\"; see %s", out);
    cr_assert(output_has("  invalid JSON"), "see %s", out);
}

/* Stores one event with the given id, time and text. */
static void add_at(const char *id, const char *occurred_at, const char *text)
{
    char raw[1024];
    int n = snprintf(raw, sizeof raw,
                     "{\"event_id\":\"%s\",\"occurred_at\":\"%s\",\"text\":\"%s\"}", id,
                     occurred_at, text);
    sinktest_add(&batch, "cx.events", 0, next_offset++, raw, (size_t)n);
}

/* Sessions on the test database get New York's time zone from now on. */
static void database_in_new_york(void)
{
    cx_test_pg_exec(conn, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone = %L',"
                          " current_database(), 'America/New_York'); END $$");
}

Test(pg_history, reclassify_pages_by_the_instant_whatever_the_session_time_zone)
{
    /* In New York the clocks go back at 06:00Z that day: as text, 06:10Z
     * ("01:10-05") sorts before 05:30Z ("01:30-04"). */
    database_in_new_york();
    add_at("tz-1", "2026-11-01T05:00:00Z", "the agent was rude");
    add_at("tz-2", "2026-11-01T05:30:00Z", "the agent was rude");
    add_at("tz-3", "2026-11-01T06:10:00Z", "the agent was rude");
    add_at("tz-4", "2026-11-01T07:00:00Z", "the agent was rude");
    store();
    /* Stored by an older build: an instant in year 10000 ("10000-..." sorts before "2026-..."). */
    cx_test_pg_exec(conn, "INSERT INTO cx.events (event_id, occurred_at, body, sentiment, payload)"
                          " VALUES ('tz-5', '10000-01-01 23:58:59+00', 'the agent was rude',"
                          " 'negative', '{\"event_id\":\"tz-5\",\"occurred_at\":"
                          "\"9999-12-31T23:59:59-23:59\",\"text\":\"the agent was rude\"}')");
    cr_assert_eq(reclassify_new("--batch 1"), 0, "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE rule_version LIKE 'test-2+%'"), 4,
                 "every event the parser accepts is on the new version");
    cr_assert(output_has("reclassified 4 events") &&
                  output_has("; 1 could not be parsed and kept their tags"),
              "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE rule_version IS DISTINCT FROM"
                   " (SELECT rule_version FROM cx.events WHERE event_id = 'tz-1')"
                   " AND event_id <> 'tz-5'"),
                 0);
}

/* A bare date is midnight UTC, as the command checks it, whatever the
 * database's time zone (in New York, midnight there is 04:00Z). */
Test(pg_history, a_date_bound_is_midnight_utc_whatever_the_session_time_zone)
{
    database_in_new_york();
    add_at("d-1", "2026-10-31T23:00:00Z", "the agent was rude");
    add_at("d-2", "2026-11-01T02:00:00Z", "the agent was rude");
    add_at("d-3", "2026-11-02T02:00:00Z", "the agent was rude");
    store();
    cr_assert_eq(reclassify_new("--since 2026-11-01 --until 2026-11-02"), 0, "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE rule_version LIKE 'test-2+%'"
                   " AND event_id = 'd-2'"),
                 1, "02:00Z on the first is inside the first");
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE rule_version LIKE 'test-2+%'"), 1);
}

Test(pg_history, reclassify_pages_past_an_event_id_of_128_emoji)
{
    char id[4 * 128 + 1] = "";
    for (int i = 0; i < 128; i++)
        strcat(id, "\xF0\x9F\x98\x80"); /* U+1F600, four bytes */
    add_at(id, "2026-11-01T10:00:00Z", "the agent was rude");
    add_at("after-emoji", "2026-11-01T10:00:00Z", "the agent was rude");
    add_at("later", "2026-11-01T10:01:00Z", "the agent was rude");
    store();
    cr_assert_eq(q("SELECT count(*) FROM cx.events"), 3);
    cr_assert_eq(reclassify_new("--batch 1"), 0, "see %s", out);
    cr_assert(output_has("reclassified 3 events"), "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE rule_version LIKE 'test-2+%'"), 3);
}

Test(pg_history, an_event_id_that_needs_escaping_first_is_stored_and_reclassified)
{
    /* "\N" is COPY's NULL marker: the id's first byte is escaped. */
    add_at("\\\\N", "2026-11-01T10:00:00Z", "the agent was rude");
    add_at("\\\\tab", "2026-11-01T10:01:00Z", "the agent was rude");
    cx_pg_result res = store();
    cr_assert_eq(res.stored, 2);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE event_id IN ('\\N', '\\tab')"), 2);
    cr_assert_eq(reclassify_new(""), 0, "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE rule_version LIKE 'test-2+%'"), 2);
    cx_test_assert_signals_exact(conn);
}

Test(pg_history, reclassify_does_not_read_a_payload_whose_numbers_expand)
{
    add_at("plain", "2026-11-01T10:00:00Z", "the agent was rude");
    store();
    /* Stored by an older build: small as jsonb, 16 KB per number as text. */
    cx_test_pg_exec(conn, "INSERT INTO cx.events (event_id, occurred_at, body, sentiment, payload)"
                          " SELECT 'expands', '2026-11-01T10:01:00Z', 'the agent was rude',"
                          " 'negative', jsonb_build_object('event_id', 'expands', 'occurred_at',"
                          " '2026-11-01T10:01:00Z', 'text', 'the agent was rude', 'attributes',"
                          " jsonb_build_object('w', (SELECT jsonb_agg('1e-16000'::numeric)"
                          " FROM generate_series(1, 1000))))");
    cr_assert_eq(reclassify_new(""), 0, "see %s", out);
    cr_assert(output_has("event expands left as it was: its payload holds a number with more"
                         " than 40 digits"),
              "see %s", out);
    cr_assert(output_has("reclassified 1 events") &&
                  output_has("; 1 could not be parsed and kept their tags"),
              "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE rule_version LIKE 'test-2+%'"), 1);
}

/* PostgreSQL prints jsonb with ", " and ": ": a message under the size limit
 * comes back over it, and is read all the same. */
Test(pg_history, reclassify_reads_an_event_stored_near_the_size_limit)
{
    static char raw[CX_EVENT_MAX_BYTES];
    /* after the quoted "no" the text is still a string: its spaces stay */
    int n =
        snprintf(raw, sizeof raw,
                 "{\"event_id\":\"big\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                 "\"text\":\"I said \\\"no\\\" and the agent was rude\",\"attributes\":{\"a\":[1");
    while ((size_t)n < sizeof raw - 100)
        n += snprintf(raw + n, sizeof raw - (size_t)n, ",1");
    n += snprintf(raw + n, sizeof raw - (size_t)n, "]}}");
    sinktest_add(&batch, "cx.events", 0, next_offset++, raw, (size_t)n);
    cr_assert_eq(store().stored, 1, "the message is under the limit");
    cr_assert_gt(q("SELECT octet_length(payload::text) FROM cx.events"), CX_EVENT_MAX_BYTES);
    cr_assert_eq(reclassify_new(""), 0, "see %s", out);
    cr_assert(output_has("reclassified 1 events") && !output_has("could not be parsed"), "see %s",
              out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE rule_version LIKE 'test-2+%'"
                   " AND primary_category = 'external'"),
                 1, "the text was not read as written");
}

/* Writes the batch as consumer group `group` (the batch is kept). */
static cx_pg_result store_as(const char *group)
{
    static const int windows[] = {60};
    cx_pg_options o = {.conninfo = url, .group = group, .window_seconds = windows,
                       .n_windows = 1, .rule_version = "test+1", .synchronous_commit = 1};
    cx_pg *pg = NULL;
    char err[1024];
    cx_pg_result res;
    cr_assert_eq(cx_pg_new(&pg, &o, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_pg_write_batch(pg, batch.recs, batch.n, &res, err, sizeof err), CX_OK,
                 "group %s: %s", group, err);
    cx_pg_free(pg);
    return res;
}

Test(pg_history, two_groups_on_one_topic_keep_a_dead_letter_each_and_replay_them_together)
{
    cx_test_pg_exec(conn, "ALTER TABLE cx.events ADD CONSTRAINT channel_short"
                          " CHECK (length(channel) <= 5)");
    add("ok-1", 1, "chat", "the agent was rude");
    add("long-1", 2, "telephone", "the agent was rude");
    sinktest_add(&batch, "cx.events", 0, next_offset++, "{bad", 4);
    cx_pg_result r1 = store_as("g1"), r5 = store_as("g5");
    cr_assert_eq(r1.stored, 1);
    cr_assert_eq(r1.dead_lettered, 2);
    cr_assert_eq(r5.duplicates, 1, "the event is stored once, whichever group reads it");
    cr_assert_eq(r5.dead_lettered, 2, "g5 keeps its own dead letters");
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters WHERE consumer_group = 'g1'"), 2);
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters WHERE consumer_group = 'g5'"), 2);
    /* Restarted, g5 reads the same messages again: nothing doubles. */
    r5 = store_as("g5");
    cr_assert_eq(r5.skipped, 3);
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters"), 4);

    cr_assert_eq(cxpulse("dead-letters list"), 0, "see %s", out);
    cr_assert(output_has("g5") && output_has("g1"), "see %s", out);
    cx_test_pg_exec(conn, "ALTER TABLE cx.events DROP CONSTRAINT channel_short");
    cr_assert_eq(cxpulse("dead-letters replay --all"), 1, "see %s", out);
    cr_assert(output_has("1 stored as events, 0 were already stored, 1 still failing"),
              "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters WHERE kafka_offset = 1"
                   " AND replay_result = 'stored as event long-1'"),
                 2, "each group's row of the message records what became of it");
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters WHERE kafka_offset = 2"
                   " AND replay_count = 1 AND replay_result LIKE 'failed again: invalid JSON%'"),
                 2);
    cr_assert_eq(q("SELECT count(*) FROM cx.events"), 2);
    char args[64];
    snprintf(args, sizeof args, "dead-letters show %lld",
             q("SELECT id FROM cx.dead_letters WHERE consumer_group = 'g5' AND kafka_offset = 2"));
    cr_assert_eq(cxpulse(args), 0, "see %s", out);
    cr_assert(output_has("\"consumer_group\": \"g5\""), "see %s", out);
    cx_test_assert_signals_exact(conn);
}

/* Two different messages at the same coordinates, dead-lettered by two groups
 * (a demo run twice on one database, a topic made again): each is replayed
 * on its own and each row records its own outcome. */
Test(pg_history, different_messages_at_the_same_place_are_replayed_apart)
{
    cx_test_pg_exec(conn, "ALTER TABLE cx.events ADD CONSTRAINT channel_short"
                          " CHECK (length(channel) <= 5)");
    sinktest_add(&batch, "cx.events", 0, 0, "{bad", 4);
    store_as("g1");
    sinktest_clear(&batch);
    next_offset = 0;
    add("long-1", 2, "telephone", "the agent was rude");
    store_as("g2");
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters WHERE kafka_offset = 0"), 2);
    cx_test_pg_exec(conn, "ALTER TABLE cx.events DROP CONSTRAINT channel_short");
    cr_assert_eq(cxpulse("dead-letters replay --all"), 1, "see %s", out);
    cr_assert(output_has("1 stored as events, 0 were already stored, 1 still failing"), "see %s",
              out);
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters WHERE consumer_group = 'g2'"
                   " AND replay_result = 'stored as event long-1'"),
                 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters WHERE consumer_group = 'g1'"
                   " AND replay_result LIKE 'failed again: invalid JSON%'"
                   " AND error LIKE 'invalid JSON%'"),
                 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.events"), 1);
    cx_test_assert_signals_exact(conn);
}

Test(pg_history, replay_evaluates_event_level_ticket_rules_as_run_does)
{
    /* An NPS detractor blaming the carrier an hour ago, which an older build
     * rejected: the built-in rule external-nps-detractor opens a ticket for
     * it when `run` stores such an event, and so it must when the replay
     * does. Another of November 2026 is history (tickets.max_age_minutes, a
     * day as it comes): stored, no ticket, as `run` does. */
    cx_test_pg_exec(conn,
                    "INSERT INTO cx.dead_letters (consumer_group, kafka_topic, kafka_partition,"
                    " kafka_offset, error, raw) SELECT 'g', 'cx.events', 0, 7 + i,"
                    " 'older build: unknown scale', convert_to(format('{\"event_id\":\"nps-%s\","
                    "\"occurred_at\":\"%s\",\"text\":\"the courier lost my"
                    " parcel\",\"rating\":{\"scale\":\"nps\",\"value\":2}}', i, CASE i WHEN 1 THEN"
                    " to_char((now() - interval '1 hour') AT TIME ZONE 'UTC',"
                    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') ELSE '2026-11-01T10:00:00Z' END), 'UTF8')"
                    " FROM generate_series(1, 2) AS i");
    cr_assert_eq(cxpulse("dead-letters replay --all"), 0, "see %s", out);
    cr_assert(output_has("2 stored as events"), "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE rule = 'external-nps-detractor'"
                   " AND owner = 'vendor-management' AND sample_event_ids = '{nps-1}'"),
                 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 1, "history opened a ticket");
}

/* Replay pages through the dead letters 500 at a time in id order: with ids
 * past 999 every row is replayed once, none skipped, none twice. */
Test(pg_history, replay_of_more_than_a_page_replays_each_dead_letter_once)
{
    for (int i = 0; i < 1012; i++)
        sinktest_add(&batch, "cx.events", 0, next_offset++, "{bad", 4);
    cx_pg_result r = store();
    cr_assert_eq(r.dead_lettered, 1012);
    cr_assert_eq(cxpulse("dead-letters replay --all"), 1, "see %s", out);
    cr_assert(output_has("replayed 1012 dead letters: 0 stored as events, 0 were already stored,"
                         " 1012 still failing"),
              "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters WHERE replay_count = 1"), 1012);
}

/* With no --pg and no postgres.url, the history commands connect through
 * libpq's environment (PGHOST, PGPORT, ...), as run and migrate do. */
Test(pg_history, the_history_commands_connect_through_libpqs_environment)
{
    char env[1024] = "", *e = env;
    PQconninfoOption *opts = PQconninfoParse(url, NULL);
    cr_assert_not_null(opts);
    static const char *const keys[][2] = {{"host", "PGHOST"},
                                          {"port", "PGPORT"},
                                          {"user", "PGUSER"},
                                          {"dbname", "PGDATABASE"},
                                          {"password", "PGPASSWORD"}};
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (o->val != NULL && strcmp(o->keyword, keys[k][0]) == 0)
                e += snprintf(e, (size_t)(env + sizeof env - e), "%s='%s' ", keys[k][1], o->val);
    PQconninfoFree(opts);
    sinktest_add(&batch, "cx.events", 0, next_offset++, "{bad", 4);
    store();
    const char *cmds[] = {"dead-letters list", "dead-letters replay --all",
                          "reclassify --since 2026-11-01"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        int replay = strstr(cmds[i], "replay") != NULL; /* "{bad" fails again: 1 */
        cr_assert_eq(cx_test_sh("env -u CXPULSE_PG_URL %s %s %s >'%s' 2>&1", env, cx_test_bin(),
                                cmds[i], out),
                     replay, "%s: see %s", cmds[i], out);
        cr_assert(!replay || output_has("1 still failing"), "see %s", out);
    }
    cr_assert_eq(q("SELECT replay_count FROM cx.dead_letters"), 1);
}

/* On a database never migrated, every command that reads the cx schema says
 * to migrate, as run does, instead of PostgreSQL's "relation does not exist". */
Test(pg_history, the_commands_say_to_migrate_on_a_database_without_the_schema)
{
    cx_test_pg_new_db(url, sizeof url);
    const char *cmds[] = {"tickets list", "notifications list", "dead-letters list",
                          "dead-letters replay --all", "reclassify"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        cr_assert_eq(cxpulse(cmds[i]), 1, "%s: see %s", cmds[i], out);
        char says[160]; /* names the database */
        snprintf(says, sizeof says,
                 "the cx schema is missing in database \"%s\": run cxpulse"
                 " migrate",
                 strrchr(url, '/') + 1);
        cr_assert(output_has(says), "%s: see %s", cmds[i], out);
    }
}

/* deploy/sql/erase-customer.sql (docs/privacy.md) erases one customer: their
 * events, their counts in the signals (which still equal the events kept),
 * their ids in tickets and in the outbox's copies of them, and the dead
 * letters that name them; a dead letter that is not JSON but holds their id
 * is listed for a person to judge. Another customer's data is kept. */
Test(pg_history, erasing_a_customer_leaves_nothing_of_theirs_and_the_signals_exact)
{
    static const char *const texts[] = {"the courier lost my parcel, John Smith here",
                                        "charged twice and the agent was rude",
                                        "great service, thanks"};
    for (int i = 0; i < 6; i++) { /* c-123 and c-9, in the same windows */
        char raw[512];
        int n = snprintf(raw, sizeof raw,
                         "{\"event_id\":\"%s-%d\",\"occurred_at\":\"2026-11-01T10:0%d:00Z\","
                         "\"customer_id\":\"%s\",\"channel\":\"%s\",\"text\":\"%s\","
                         "\"rating\":{\"scale\":\"%s\",\"value\":%d}}",
                         i % 2 ? "other" : "mine", i, i / 2, i % 2 ? "c-9" : "c-123",
                         i % 3 ? "chat" : "email", texts[i % 3], i % 3 ? "csat" : "nps", 1 + i % 5);
        sinktest_add(&batch, "cx.events", 0, next_offset++, raw, (size_t)n);
    }
    static const char *const dead[] = {
        "{\"event_id\":\"mine-9\",\"customer_id\":\"c-123\",\"text\":\"no time\"}",
        "{\"event_id\":\"other-9\",\"customer_id\":\"c-9\",\"text\":\"no time\"}",
        "{cut off, customer c-123, John Smith"};
    for (int i = 0; i < 3; i++)
        sinktest_add(&batch, "cx.events", 0, next_offset++, dead[i], strlen(dead[i]));
    cx_pg_result res = store();
    cr_assert_eq(res.stored, 6);
    cr_assert_eq(res.dead_lettered, 3);
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner, sample_event_ids,"
                          " updated_at) VALUES ('r', 'external', 'o', '{mine-0,other-1,mine-2}',"
                          " now() - interval '1 day')");
    char script[1024];
    cx_test_source_path("deploy/sql/erase-customer.sql", script, sizeof script);
    cr_assert_eq(cx_test_sh("psql -X -q -v ON_ERROR_STOP=1 -v cid=c-123 -f '%s' '%s' >'%s' 2>&1",
                            script, url, out),
                 0, "see %s", out);
    cr_assert(output_has("events_erased") && output_has(" 3"), "see %s", out);
    cr_assert(output_has("dead_letter_to_judge"), "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE customer_id = 'c-123'"
                   " OR event_id LIKE 'mine-%'"),
                 0);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE customer_id = 'c-9'"), 3);
    cx_test_assert_signals_exact(conn);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE sample_event_ids = '{other-1}'"
                   " AND updated_at > now() - interval '1 hour'"),
                 1, "the ticket lost the ids, and a copy reading changes by updated_at sees it");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE ticket::text LIKE '%mine-%'"), 0);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE transition = 'opened'"
                   " AND ticket -> 'sample_event_ids' = '[\"other-1\"]'"),
                 1, "the outbox's copy still names the other customer's event");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications"), 1, "the erasure notified");
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters WHERE convert_from(raw, 'UTF8')"
                   " LIKE '%mine-9%'"),
                 0);
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters"), 2,
                 "the other customer's and the one to judge are kept");
}

/* An erasure takes the ticket rules' turn first: a batch opening a ticket
 * with the customer's events as samples (here, a session holding that turn)
 * ends before the erasure reads the tickets, so the samples it wrote are
 * taken out too. */
Test(pg_history, an_erasure_waits_for_a_batch_opening_a_ticket_and_cleans_its_samples)
{
    for (int i = 0; i < 3; i++) { /* mine-0, keep-1 (another customer's), mine-2 */
        char raw[256];
        int n = snprintf(raw, sizeof raw,
                         "{\"event_id\":\"%s-%d\",\"occurred_at\":\"2026-11-01T10:0%d:00Z\","
                         "\"customer_id\":\"%s\",\"text\":\"the courier lost my parcel\"}",
                         i == 1 ? "keep" : "mine", i, i, i == 1 ? "c-9" : "c-123");
        sinktest_add(&batch, "cx.events", 0, next_offset++, raw, (size_t)n);
    }
    store();
    PGconn *writer = cx_test_pg_connect(url); /* a batch, inside its ticket rules' turn */
    cx_test_pg_exec(writer, "BEGIN; SELECT pg_advisory_xact_lock(7512860309426239849)");
    char script[1024];
    cx_test_source_path("deploy/sql/erase-customer.sql", script, sizeof script);
    pid_t erase = cx_test_sh_start(
        "psql -X -q -v ON_ERROR_STOP=1 -v cid=c-123 -f '%s' '%s' >'%s' 2>&1", script, url, out);
    cr_assert_eq(cx_test_sh_wait(erase, 700), -2, "the erasure did not wait for the batch (see %s)",
                 out);
    /* its times those of a batch that began after the erasure (during its scans) */
    cx_test_pg_exec(writer, "INSERT INTO cx.tickets (rule, category, owner, sample_event_ids,"
                            " opened_at, updated_at) VALUES ('r', 'external', 'o',"
                            " '{mine-0,keep-1,mine-2}', clock_timestamp(), clock_timestamp());"
                            " COMMIT");
    PQfinish(writer);
    cr_assert_eq(cx_test_sh_wait(erase, 30000), 0, "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE sample_event_ids = '{keep-1}'"), 1,
                 "the new ticket still names the erased events");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE updated_at >= opened_at"), 1,
                 "the erasure moved updated_at back, before the ticket opened");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE ticket::text LIKE '%mine-%'"), 0);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE customer_id = 'c-123'"), 0);
    cx_test_assert_signals_exact(conn);
}

/* A replay of dead letters and an erasure never run at once: an erasure
 * refuses to start while a replay runs, and a replay waits for an erasure
 * going on, then finds the dead letters it deleted gone (it would otherwise
 * store the erased customer's message again). */
Test(pg_history, a_replay_and_an_erasure_never_run_at_once)
{
    static const char msg[] = "{\"event_id\":\"mine-1\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                              "\"customer_id\":\"c-123\",\"text\":\"call me on 555-1234\"}";
    cx_test_pg_exec(conn, "ALTER TABLE cx.events ADD CONSTRAINT not_yet"
                          " CHECK (customer_id <> 'c-123')"); /* a dead letter, then */
    sinktest_add(&batch, "cx.events", 0, next_offset++, msg, strlen(msg));
    cr_assert_eq(store().dead_lettered, 1);
    cx_test_pg_exec(conn, "ALTER TABLE cx.events DROP CONSTRAINT not_yet"); /* replayable */

    /* a replay running (its lock, held by another session) */
    PGconn *replay = cx_test_pg_connect(url);
    cx_test_pg_exec(replay, "SELECT pg_advisory_lock_shared(7242837002)");
    char script[1024];
    cx_test_source_path("deploy/sql/erase-customer.sql", script, sizeof script);
    cr_assert_neq(cx_test_sh("psql -X -q -v ON_ERROR_STOP=1 -v cid=c-123 -f '%s' '%s' >'%s' 2>&1",
                             script, url, out),
                  0, "the erasure ran beside a replay");
    cr_assert(output_has("a cxpulse dead-letters replay is running"), "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters"), 1, "it erased something");
    PQfinish(replay);

    /* another erasure going on (its first lock): this one waits for it, and
     * is not told that a replay runs */
    PGconn *other = cx_test_pg_connect(url);
    cx_test_pg_exec(other, "BEGIN; SELECT pg_advisory_xact_lock(7242837004)");
    pid_t erase = cx_test_sh_start(
        "psql -X -q -v ON_ERROR_STOP=1 -v cid=c-404 -f '%s' '%s' >'%s' 2>&1", script, url, out);
    cr_assert_eq(cx_test_sh_wait(erase, 700), -2, "it did not wait for the other erasure");
    cx_test_pg_exec(other, "COMMIT");
    PQfinish(other);
    cr_assert_eq(cx_test_sh_wait(erase, 30000), 0, "see %s", out);

    /* an erasure going on (its lock and its delete, not committed yet) */
    cx_test_pg_exec(conn, "BEGIN; SELECT pg_advisory_xact_lock(7242837002);"
                          " DELETE FROM cx.dead_letters");
    pid_t replaying = cx_test_sh_start("%s dead-letters replay --all --pg '%s' >'%s' 2>&1",
                                       cx_test_bin(), url, out);
    cr_assert_eq(cx_test_sh_wait(replaying, 700), -2,
                 "the replay did not wait for the erasure (see %s)", out);
    cx_test_pg_exec(conn, "COMMIT");
    cr_assert_eq(cx_test_sh_wait(replaying, 30000), 0, "see %s", out);
    cr_assert(output_has("nothing to replay"), "see %s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.events"), 0, "the erased message was stored again");
    cr_assert_eq(q("SELECT count(*) FROM cx.dead_letters"), 0);
}
