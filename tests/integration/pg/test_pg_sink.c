/*
 * test_pg_sink.c - the PostgreSQL sink against a real server: migrations,
 * contract columns, exactly-once replays, duplicates, poison rows, dead
 * letters byte for byte, offsets, and errors by kind.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cxtest.h"
#include "pg_live.h"
#include "sinktest.h"

static sinktest_batch batch;
static char url[1024];
static PGconn *conn;

static void setup(void)
{
    sinktest_fresh_db(url, sizeof url);
    conn = cx_test_pg_connect(url);
}

static void teardown(void)
{
    sinktest_clear(&batch);
    PQfinish(conn);
}

TestSuite(pg_sink, .init = setup, .fini = teardown, .timeout = 60);

static cx_status write(cx_pg *pg, cx_pg_result *res)
{
    char err[1024];
    cx_status st = cx_pg_write_batch(pg, batch.recs, batch.n, res, err, sizeof err);
    cr_assert(st == CX_OK || st == CX_ERR_FATAL || st == CX_ERR_TRANSIENT, "%s", err);
    return st;
}

/* Stores events 0..n-1 (sinktest_add_event) at offsets 0..n-1 of "t"[0] in one batch. */
static void store_events(long n)
{
    cx_pg *pg = sinktest_sink(url);
    for (long i = 0; i < n; i++)
        sinktest_add_event(&batch, "t", 0, i, i);
    cx_pg_result res;
    cr_assert_eq(write(pg, &res), CX_OK);
    cx_pg_free(pg);
}

/* A session the server ended while it was idle (here the database's
 * idle_session_timeout) is replaced before the next batch, which is stored
 * at its first try: not failed, counted and retried after every quiet spell. */
Test(pg_sink, a_session_the_server_ended_while_idle_is_replaced_before_the_next_batch)
{
    cx_test_pg_exec(conn, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET"
                          " idle_session_timeout = ''1s''', current_database()); END $$");
    cx_pg *pg = sinktest_sink(url);
    sinktest_add_event(&batch, "t", 0, 0, 0);
    cx_pg_result res;
    cr_assert_eq(write(pg, &res), CX_OK);
    sinktest_clear(&batch);
    cx_test_sleep_ms(1500);
    sinktest_add_event(&batch, "t", 0, 1, 1);
    cr_assert_eq(write(pg, &res), CX_OK, "the batch after a quiet spell failed");
    cr_assert_eq(res.stored, 1);
    cx_pg_free(pg);
}

Test(pg_sink, migrate_twice_is_a_no_op_and_upgrades_an_older_schema)
{
    char err[512];
    int applied, version;
    cr_assert_eq(cx_pg_migrate(url, &applied, &version, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(applied, 0);
    cr_assert_eq(version, cx_pg_schema_version());
    /* Store events, then make it look like a version-1 database and upgrade it:
     * the per-scale rating sums of version 3 are recomputed from the events. */
    store_events(60);
    cx_test_pg_exec(conn, "DROP INDEX cx.events_hour_utc_idx;"
                          "DROP VIEW cx.open_tickets; DROP VIEW cx.ticket_samples;"
                          "DROP VIEW cx.satisfaction_hourly;" /* 27's columns */
                          "ALTER TABLE cx.events DROP COLUMN tagged_at, DROP COLUMN sentiment_from;"
                          "ALTER TABLE cx.tickets DROP COLUMN window_start, DROP COLUMN window_end,"
                          " DROP COLUMN uid, DROP COLUMN fired_event_at, DROP COLUMN quiet_before,"
                          " DROP COLUMN first_window_start, DROP COLUMN status_by;"
                          "CREATE VIEW cx.open_tickets AS SELECT * FROM cx.tickets"
                          " WHERE status <> 'resolved' ORDER BY opened_at DESC;"
                          "ALTER TABLE cx.events DROP COLUMN rule_version;"
                          "ALTER TABLE cx.signals DROP COLUMN csat_count, DROP COLUMN csat_sum,"
                          " DROP COLUMN nps_count, DROP COLUMN nps_sum, DROP COLUMN ces_count,"
                          " DROP COLUMN ces_sum, DROP COLUMN stars_count, DROP COLUMN stars_sum;"
                          "DROP TABLE cx.rule_sets;"
                          "ALTER TABLE cx.dead_letters DROP COLUMN original_error,"
                          " DROP COLUMN replayed_at, DROP COLUMN replay_count,"
                          " DROP COLUMN replay_result;"
                          "DROP INDEX cx.tickets_resolved_at_idx;" /* 29's other two go */
                          "DROP TABLE cx.notifications;"           /* with their columns */
                          "DROP FUNCTION cx.notification_changed();"
                          "DROP FUNCTION cx.notification_delivery();" /* 32's trigger went */
                          "DROP FUNCTION cx.ticket_status_by() CASCADE;"
                          "DROP FUNCTION cx.ticket_notify() CASCADE;"
                          "DROP FUNCTION cx.notification_settled(), cx.notification_unmark();"
                          "DROP FUNCTION cx.status_final() CASCADE;"
                          "DROP INDEX cx.dead_letters_message_idx;"
                          "ALTER TABLE cx.dead_letters DROP COLUMN consumer_group;"
                          "CREATE UNIQUE INDEX dead_letters_coordinates_idx"
                          " ON cx.dead_letters (kafka_topic, kafka_partition, kafka_offset);"
                          "INSERT INTO cx.dead_letters (kafka_topic, kafka_partition,"
                          " kafka_offset, error, raw) VALUES ('t', 0, 99, 'x', '\\x00');"
                          "DELETE FROM cx.schema_migrations WHERE version >= 2");
    cr_assert_eq(cx_pg_migrate(url, &applied, &version, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(applied, cx_pg_schema_version() - 1);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM information_schema.columns "
                                         "WHERE table_schema = 'cx' AND table_name = 'events' "
                                         "AND column_name = 'rule_version'"),
                 1);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.schema_migrations"),
                 cx_pg_schema_version());
    cr_assert_gt(cx_test_pg_scalar(conn, "SELECT sum(csat_count) FROM cx.signals"), 0);
    cr_assert_eq(cx_test_pg_scalar(conn,
                                   "SELECT count(*) FROM pg_indexes WHERE schemaname = 'cx'"
                                   " AND indexname IN ('tickets_resolved_at_idx',"
                                   " 'tickets_resolved_window_idx', 'dead_letters_waiting_idx')"),
                 3);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM pg_trigger"
                                         " WHERE tgname IN ('notifications_changed',"
                                         " 'notifications_delivery', 'tickets_status_by')"),
                 3);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"
                                         " WHERE consumer_group = 'g'"),
                 1, "an older dead letter belongs to the only group that read its topic");
    cx_test_assert_signals_exact(conn);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM pg_views WHERE schemaname = 'cx' "
                                         "AND viewname IN ('satisfaction_hourly', 'open_tickets')"),
                 2);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM information_schema.columns"
                                         " WHERE table_schema = 'cx'"
                                         " AND table_name = 'open_tickets'"
                                         " AND column_name IN ('window_start', 'window_end',"
                                         " 'uid', 'first_window_start', 'status_by')"),
                 5, "the view shows the columns added since");
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'cx'"
                                         " AND indexname = 'events_hour_utc_idx'"),
                 1, "the hour index is built over the events stored");
}

/* A database a newer cxpulse migrated: an older one's migrate does not call
 * it up to date at its own version, it refuses, naming both versions. The
 * sink of an older replica still connects (docs/schema.md: a migration only
 * adds), so replicas keep writing while an upgrade rolls through them. */
Test(pg_sink, migrate_refuses_a_schema_newer_than_it_knows)
{
    char sql[160], cmd[1300], text[1024], err[512];
    int known = cx_pg_schema_version();
    snprintf(sql, sizeof sql,
             "INSERT INTO cx.schema_migrations (version, description) VALUES (%d, 'newer')",
             known + 1);
    cx_test_pg_exec(conn, sql);
    snprintf(cmd, sizeof cmd, "%s migrate --pg '%s' 2>&1", cx_test_bin(), url);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(text, 1, sizeof text - 1, p);
    text[n] = '\0';
    int status = pclose(p);
    status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    cr_assert_eq(status, 1, "%s", text);
    char expected[200];
    snprintf(expected, sizeof expected,
             "cxpulse migrate: the cx schema is at version %d, newer than this cxpulse knows (%d)",
             known + 1, known);
    cr_assert(strstr(text, expected) == text, "%s", text);
    cr_assert(strstr(text, "up to date") == NULL, "%s", text);

    cx_pg_options o = {.conninfo = url, .group = "g", .synchronous_commit = 1};
    cx_pg *pg = NULL;
    cr_assert_eq(cx_pg_new(&pg, &o, err, sizeof err), CX_OK, "%s", err);
    cx_pg_free(pg);
}

/* The rows of cx.event_tags as one text, in a fixed order. */
static char *event_tags_text(void)
{
    PGresult *r = PQexec(conn, "SELECT string_agg(format('%s|%s|%s|%s', event_id, category,"
                               " confidence, evidence), E'\\n' ORDER BY event_id, category)"
                               " FROM cx.event_tags");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
    char *text = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return text;
}

/* Makes the database a version-6 one: tags in a table of their own, with its
 * key, foreign key and index, and the indexes cx.events had then. */
static void make_version_6(void)
{
    cx_test_pg_exec(conn,
                    "DROP VIEW cx.ticket_samples;" /* version 25's, over the tags */
                    "CREATE TABLE cx.tags6 AS SELECT * FROM cx.event_tags;"
                    "DROP VIEW cx.satisfaction_hourly; DROP VIEW cx.event_tags;"
                    "ALTER TABLE cx.tags6 RENAME TO event_tags;"
                    "ALTER TABLE cx.event_tags ADD PRIMARY KEY (event_id, category),"
                    " ADD FOREIGN KEY (event_id) REFERENCES cx.events ON DELETE CASCADE;"
                    "CREATE INDEX event_tags_category_idx ON cx.event_tags (category);"
                    "CREATE VIEW cx.satisfaction_hourly AS SELECT e.event_id, t.category"
                    " FROM cx.events e LEFT JOIN cx.event_tags t USING (event_id);"
                    "ALTER TABLE cx.events DROP CONSTRAINT events_tags_aligned,"
                    " DROP COLUMN categories, DROP COLUMN confidences, DROP COLUMN evidence;"
                    "CREATE INDEX events_category_time_idx"
                    " ON cx.events (primary_category, occurred_at);"
                    "CREATE INDEX events_channel_time_idx ON cx.events (channel, occurred_at);"
                    "DELETE FROM cx.schema_migrations WHERE version IN (7, 25, 27)");
}

Test(pg_sink, migration_7_moves_tags_onto_their_events_and_keeps_event_tags)
{
    char err[512];
    int applied, version;
    store_events(60);
    char *before = event_tags_text();
    cr_assert_gt(strlen(before), 0);
    make_version_6();
    /* an analysts' role (one per test database) that could read the table */
    cx_test_pg_exec(conn, "DO $$ BEGIN"
                          " EXECUTE format('DROP ROLE IF EXISTS %1$I; CREATE ROLE %1$I;"
                          " GRANT USAGE ON SCHEMA cx TO %1$I; GRANT SELECT ON cx.event_tags TO %1$I',"
                          " 'reader_' || current_database()); END $$");
    cr_assert_eq(cx_pg_migrate(url, &applied, &version, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(applied, 3, "7, and 25's and 27's views over the tags again");
    char *after = event_tags_text();
    cr_assert_str_eq(after, before, "cx.event_tags reads as it did");
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT has_table_privilege('reader_' ||"
                                         " current_database(), 'cx.event_tags', 'SELECT')::int"),
                 1, "the role still reads cx.event_tags");
    cx_test_pg_exec(conn, "DO $$ BEGIN EXECUTE format('DROP OWNED BY %1$I; DROP ROLE %1$I',"
                          " 'reader_' || current_database()); END $$");
    free(before);
    free(after);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"
                                         " WHERE primary_category IS DISTINCT FROM categories[1]"),
                 0, "the primary category comes first");
    cx_test_assert_signals_exact(conn);
    cr_assert_gt(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.satisfaction_hourly"), 0);
    /* and the sink writes on */
    sinktest_clear(&batch);
    for (long i = 60; i < 80; i++)
        sinktest_add_event(&batch, "t", 0, i, i);
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 20);
    cx_test_assert_signals_exact(conn);
    cx_pg_free(pg);
}

/* A view of the user's own over what a migration replaces holds the upgrade
 * up: nothing changes, and the error says what to do. */
Test(pg_sink, a_users_view_over_what_a_migration_replaces_stops_it_saying_what_to_do)
{
    char err[512];
    int applied, version;
    store_events(10);
    make_version_6();
    cx_test_pg_exec(conn, "CREATE VIEW public.my_tags AS SELECT * FROM cx.event_tags");
    cr_assert_eq(cx_pg_migrate(url, &applied, &version, err, sizeof err), CX_ERR_FATAL);
    cr_assert(strstr(err, "2BP01") != NULL && strstr(err, "drop them, run it again") != NULL &&
                  strstr(err, "docs/schema.md") != NULL,
              "%s", err);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.schema_migrations"
                                         " WHERE version = 7"),
                 0, "migration 7 must not be recorded");
    cr_assert_eq(cx_test_pg_scalar(conn,
                                   "SELECT count(*) FROM pg_class"
                                   " WHERE oid = 'cx.event_tags'::regclass AND relkind = 'r'"),
                 1, "cx.event_tags must still be the table");
    cx_test_pg_exec(conn, "DROP VIEW public.my_tags");
    cr_assert_eq(cx_pg_migrate(url, &applied, &version, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(version, cx_pg_schema_version());
}

/* cx.event_tags is a view over the tag columns of cx.events, and the database
 * holds them to what the table it replaced was held to: one row per (event,
 * category), confidences in [0, 1], the primary category first. */
Test(pg_sink, the_tag_columns_keep_what_event_tags_promises)
{
    store_events(12);
    long long id = cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events WHERE event_id = "
                                           "(SELECT event_id FROM cx.event_tags LIMIT 1)");
    cr_assert_eq(id, 1, "no event was tagged");
    static const char *const breaks[] = {
        "categories = '{facing,facing}', confidences = '{0.9,0.8}', evidence = '[[],[]]',"
        " primary_category = 'facing'",
        "categories = '{facing,external,facing}', confidences = '{0.9,0.8,0.7}',"
        " evidence = '[[],[],[]]', primary_category = 'facing'",
        "categories = '{facing}', confidences = '{1.5}', evidence = '[[]]', primary_category = "
        "'facing'",
        "categories = '{facing}', confidences = '{-0.1}', evidence = '[[]]', primary_category = "
        "'facing'",
        "categories = '{facing,external}', confidences = '{0.9,0.8}', evidence = '[[],[]]',"
        " primary_category = 'external'",
        "categories = '{}', confidences = '{}', evidence = '[]', primary_category = 'facing'",
        "categories = '[0:1]={facing,facing}', confidences = '{0.9,0.8}', evidence = '[[],[]]',"
        " primary_category = 'facing'",
        "categories = '{facing}', confidences = '{NULL}', evidence = '[[]]', primary_category = "
        "'facing'",
    };
    for (size_t i = 0; i < sizeof breaks / sizeof breaks[0]; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "UPDATE cx.events SET %s WHERE event_id = (SELECT min(event_id) FROM cx.events)",
                 breaks[i]);
        PGresult *r = PQexec(conn, sql);
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        cr_expect(state != NULL && strcmp(state, "23514") == 0, "accepted: %s", breaks[i]);
        PQclear(r);
    }
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM pg_constraint WHERE conname ="
                                         " 'events_tags_valid' AND convalidated"),
                 1, "the rows stored before the check came were not checked");
}

/* The columns of cx.events are the contract analysts query: one added or
 * dropped must be added to the checks above and below (and to
 * docs/schema.md), not pass them unseen. */
Test(pg_sink, cx_events_has_the_columns_the_tests_check)
{
    PGresult *r = PQexec(conn, "SELECT string_agg(column_name, ',' ORDER BY ordinal_position)"
                               " FROM information_schema.columns"
                               " WHERE table_schema = 'cx' AND table_name = 'events'");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
    cr_assert_str_eq(PQgetvalue(r, 0, 0),
                     "event_id,occurred_at,ingested_at,customer_id,channel,touchpoint,language,"
                     "body,rating_scale,rating_value,sentiment,primary_category,payload,"
                     "kafka_topic,kafka_partition,kafka_offset,rule_version,categories,"
                     "confidences,evidence,tagged_at,sentiment_from");
    PQclear(r);
}

/* A batch with a refused row (here a duplicate) is written through the
 * staging table, the others straight into cx.events: an event stored either
 * way has every column alike (a staging column list out of step with the
 * rows swapped values between columns, unseen by the tests). */
Test(pg_sink, the_staged_write_stores_each_column_where_the_direct_one_does)
{
#define STAGED_EVENT(id)                                                                           \
    "{\"event_id\":\"" id "\",\"occurred_at\":\"2026-11-01T10:00:30.5+01:00\","                    \
    "\"customer_id\":\"c7\",\"channel\":\"phone\",\"touchpoint\":\"billing\","                     \
    "\"language\":\"en\",\"text\":\"I was charged twice and the agent was rude\","                 \
    "\"rating\":{\"scale\":\"csat\",\"value\":1},\"extra\":{\"k\":[1]}}"
    const char *ev = STAGED_EVENT("direct");
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    sinktest_add(&batch, "cx.events", 3, 41, ev, strlen(ev));
    cr_assert_eq(write(pg, &res), CX_OK);
    sinktest_clear(&batch);
    sinktest_add(&batch, "cx.events", 3, 42, ev, strlen(ev)); /* again: refused */
    ev = STAGED_EVENT("staged");
    sinktest_add(&batch, "cx.events", 3, 43, ev, strlen(ev));
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 1);
    cr_assert_eq(res.duplicates, 1);
    PGresult *r = PQexec(conn, "SELECT (to_jsonb(d) - 'event_id' - 'kafka_offset' - 'ingested_at'"
                               " - 'tagged_at' - 'payload')::text, (to_jsonb(s) - 'event_id'"
                               " - 'kafka_offset' - 'ingested_at' - 'tagged_at' - 'payload')::text,"
                               " d.payload - 'event_id' = s.payload - 'event_id'"
                               " FROM cx.events d, cx.events s"
                               " WHERE d.event_id = 'direct' AND s.event_id = 'staged'");
    cr_assert_eq(PQntuples(r), 1, "%s", PQerrorMessage(conn));
    cr_assert_str_eq(PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 0));
    cr_assert_str_eq(PQgetvalue(r, 0, 2), "t");
    PQclear(r);
    cx_pg_free(pg);
}

Test(pg_sink, fills_every_contract_column)
{
    const char *ev = "{\"event_id\":\"full-1\",\"occurred_at\":\"2026-11-01T10:00:30.5+01:00\","
                     "\"customer_id\":\"c7\",\"channel\":\"phone\",\"touchpoint\":\"billing\","
                     "\"language\":\"en\",\"text\":\"I was charged twice\\tand the agent was rude "
                     "\\\\ sigh\",\"rating\":{\"scale\":\"csat\",\"value\":1},\"extra\":{\"k\":[1]}}";
    sinktest_add(&batch, "cx.events", 3, 41, ev, strlen(ev));
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 1);
    PGresult *r =
        PQexec(conn, "SELECT event_id, occurred_at = '2026-11-01T09:00:30.5Z', "
                     "ingested_at > now() - interval '1 minute', customer_id, channel, "
                     "touchpoint, language, body, rating_scale, rating_value, sentiment, "
                     "primary_category, payload->'extra'->'k'->>0, kafka_topic, "
                     "kafka_partition, kafka_offset, rule_version, tagged_at = ingested_at,"
                     " sentiment_from FROM cx.events");
    cr_assert_eq(PQntuples(r), 1);
    const char *want[] = {
        "full-1", "t",         "t",        "c7",
        "phone",  "billing",   "en",       "I was charged twice\tand the agent was rude \\ sigh",
        "csat",   "1",         "negative", "collaborative",
        "1",      "cx.events", "3",        "41",
        "test+1", "t",         "rating"};
    cr_assert_eq((size_t)PQnfields(r), CX_ARRAY_LEN(want));
    for (int i = 0; i < (int)CX_ARRAY_LEN(want); i++)
        cr_assert_str_eq(PQgetvalue(r, 0, i), want[i], "column %d (%s)", i, PQfname(r, i));
    PQclear(r);
    r = PQexec(conn, "SELECT category, confidence > 0.5 AND confidence <= 1, "
                     "'phrase:charged twice' = ANY (evidence) OR 'phrase:agent' = ANY (evidence)"
                     " FROM cx.event_tags ORDER BY confidence DESC");
    cr_assert_eq(PQntuples(r), 2);
    cr_assert_str_eq(PQgetvalue(r, 0, 0), "collaborative");
    cr_assert_str_eq(PQgetvalue(r, 1, 0), "facing");
    for (int i = 0; i < 2; i++) {
        cr_assert_str_eq(PQgetvalue(r, i, 1), "t");
        cr_assert_str_eq(PQgetvalue(r, i, 2), "t");
    }
    PQclear(r);
    /* signals: one row per category in the 60 s window of 09:00:30Z */
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.signals WHERE window_start = "
                                         "'2026-11-01T09:00:00Z' AND window_seconds = 60 AND "
                                         "channel = 'phone' AND events = 1 AND negative = 1 AND "
                                         "rating_count = 1 AND rating_sum = 1"),
                 2);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT next_offset FROM cx.consumer_offsets WHERE "
                                         "consumer_group = 'g' AND topic = 'cx.events' AND "
                                         "partition = 3"),
                 42);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.satisfaction_hourly WHERE "
                                         "events = 1 AND negative_share = 1 AND csat = 0"),
                 2);
    /* hours are UTC hours whatever the reader's time zone: at +05:30 a local
     * hour would start at 08:30Z */
    cx_test_pg_exec(conn, "SET TimeZone = 'Asia/Kolkata'");
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.satisfaction_hourly WHERE "
                                         "hour = '2026-11-01T09:00:00Z'"),
                 2);
    cx_test_pg_exec(conn, "RESET TimeZone");
    /* a range of hours is read through an index, not from every event (the
     * planner takes the index here only when told to: the table is tiny) */
    cx_test_pg_exec(conn, "SET enable_seqscan = off");
    r = PQexec(conn, "EXPLAIN SELECT * FROM cx.satisfaction_hourly"
                     " WHERE hour >= '2026-11-01T09:00:00Z'");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
    int indexed = 0;
    for (int i = 0; i < PQntuples(r); i++)
        indexed |= strstr(PQgetvalue(r, i, 0), "events_hour_utc_idx") != NULL;
    PQclear(r);
    cx_test_pg_exec(conn, "RESET enable_seqscan");
    cr_assert(indexed, "a filter on satisfaction_hourly's hour reads every event");
    cx_test_assert_signals_exact(conn);
    cx_pg_free(pg);
}

/* Events are UTF-8 whatever the database's encoding: a LATIN1 database
 * stores "é", not "Ã©"; an event with a character it cannot hold is
 * dead-lettered, its reason saying what would store it. */
Test(pg_sink, text_is_stored_right_in_a_database_that_is_not_utf8)
{
    char latin[1100], sql[256], err[512];
    snprintf(latin, sizeof latin, "%s_latin1", url);
    snprintf(sql, sizeof sql,
             "CREATE DATABASE %s ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' "
             "TEMPLATE template0",
             strrchr(latin, '/') + 1);
    cx_test_pg_exec(conn, sql);
    int applied, version;
    cr_assert_eq(cx_pg_migrate(latin, &applied, &version, err, sizeof err), CX_OK, "%s", err);
    const char *ev = "{\"event_id\":\"enc-1\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                     "\"text\":\"caf\xc3\xa9 ferm\xc3\xa9, the courier was late\"}";
    sinktest_add(&batch, "cx.events", 0, 0, ev, strlen(ev));
    const char *jp = "{\"event_id\":\"enc-2\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                     "\"text\":\"\xe9\x85\x8d\xe9\x81\x94\xe3\x81\x8c\xe9\x81\x85\xe3\x81\x84\"}";
    sinktest_add(&batch, "cx.events", 0, 1, jp, strlen(jp));
    cx_pg *pg = sinktest_sink(latin);
    cx_pg_result res;
    cr_assert_eq(write(pg, &res), CX_OK);
    cx_pg_free(pg);
    cr_assert_eq(res.stored, 1);
    cr_assert_eq(res.dead_lettered, 1, "the Japanese text was not dead-lettered");
    PGconn *c = cx_test_pg_connect(latin);
    cr_assert_eq(cx_test_pg_scalar(c, "SELECT count(*) FROM cx.dead_letters WHERE error LIKE"
                                      " '%(SQLSTATE 22P05)%' AND error LIKE"
                                      " '%a UTF8 database stores every text%'"),
                 1, "the dead letter does not say why");
    cr_assert_eq(PQsetClientEncoding(c, "UTF8"), 0);
    PGresult *r = PQexec(c, "SELECT body, payload->>'text' FROM cx.events");
    cr_assert_eq(PQntuples(r), 1);
    cr_assert_str_eq(PQgetvalue(r, 0, 0), "caf\xc3\xa9 ferm\xc3\xa9, the courier was late");
    cr_assert_str_eq(PQgetvalue(r, 0, 1), "caf\xc3\xa9 ferm\xc3\xa9, the courier was late");
    PQclear(r);
    PQfinish(c);
}

Test(pg_sink, a_batch_applied_twice_changes_nothing)
{
    for (long i = 0; i < 300; i++)
        sinktest_add_event(&batch, "t", (int)(i % 3), i / 3, i);
    sinktest_add(&batch, "t", 0, 100, "not json", 8);
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 300);
    cr_assert_eq(res.dead_lettered, 1);
    long long signals = cx_test_pg_scalar(conn, "SELECT sum(events) FROM cx.signals");
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 0);
    cr_assert_eq(res.skipped, 301, "a replayed batch is recognised by its offsets");
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), 300);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"), 1);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT sum(events) FROM cx.signals"), signals);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT sum(next_offset) FROM cx.consumer_offsets"),
                 101 + 100 + 100);
    cx_test_assert_signals_exact(conn);

    /* A second sink (another consumer still holding the partitions) is refused too. */
    cx_pg *zombie = sinktest_sink(url);
    cr_assert_eq(write(zombie, &res), CX_OK);
    cr_assert_eq(res.skipped, 301);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), 300);
    cx_pg_free(zombie);

    int32_t parts[] = {0, 1, 2, 7};
    int64_t next[4];
    char err[512];
    cr_assert_eq(cx_pg_read_offsets(pg, "t", parts, 4, NULL, next, err, sizeof err), CX_OK, "%s",
                 err);
    cr_assert_eq(next[0], 101);
    cr_assert_eq(next[1], 100);
    cr_assert_eq(next[3], -1, "no stored offset for an unseen partition");

    /* An operator sets the offsets back to read the partitions again. The
     * running sink cannot tell that from commits lost in a crash and stops (its
     * consumer has read past them); restarted, it reads from there: the events
     * and the dead letter are there already, and nothing is doubled. */
    cx_test_pg_exec(conn, "UPDATE cx.consumer_offsets SET next_offset = 0");
    cr_assert_eq(write(pg, &res), CX_ERR_FATAL);
    cx_pg_free(pg);
    pg = sinktest_sink(url);
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.duplicates, 300);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"), 1);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT sum(events) FROM cx.signals"), signals);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT sum(next_offset) FROM cx.consumer_offsets"),
                 101 + 100 + 100);
    cx_pg_free(pg);
}

Test(pg_sink, duplicate_event_ids_are_stored_and_counted_once)
{
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    /* twice in one batch (a producer retry), then again in a later batch */
    sinktest_add_event(&batch, "t", 0, 0, 1);
    sinktest_add_event(&batch, "t", 0, 1, 2);
    sinktest_add_event(&batch, "t", 0, 2, 1);
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 2);
    cr_assert_eq(res.duplicates, 1);
    sinktest_clear(&batch);
    sinktest_add_event(&batch, "t", 1, 0, 2);
    sinktest_add_event(&batch, "t", 1, 1, 3);
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 1);
    cr_assert_eq(res.duplicates, 1);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), 3);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT sum(events) FROM cx.signals"),
                 cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events e LEFT JOIN "
                                         "cx.event_tags t USING (event_id)"));
    cx_test_assert_signals_exact(conn);
    cx_pg_free(pg);
}

/* A different event under an event_id stored before (two systems numbering
 * alike, a producer reusing ids) is a dead letter naming both; the same event
 * written otherwise (spacing, key order) is still a duplicate. */
Test(pg_sink, another_event_under_a_stored_event_id_is_a_dead_letter_not_a_duplicate)
{
    static const char first[] = "{\"event_id\":\"r1\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                                "\"channel\":\"web\",\"text\":\"the courier was late\"}";
    static const char same[] = "{ \"text\": \"the courier was late\", \"channel\": \"web\","
                               " \"occurred_at\": \"2026-11-01T10:00:00Z\", \"event_id\": \"r1\" }";
    static const char other[] = "{\"event_id\":\"r1\",\"occurred_at\":\"2026-11-02T09:00:00Z\","
                                "\"channel\":\"phone\",\"text\":\"billing charged me twice\"}";
    static const char fresh[] = "{\"event_id\":\"r2\",\"occurred_at\":\"2026-11-02T09:00:00Z\","
                                "\"channel\":\"phone\",\"text\":\"billing charged me twice\"}";
    static const char fresh_other[] =
        "{\"event_id\":\"r2\",\"occurred_at\":\"2026-11-02T09:05:00Z\","
        "\"channel\":\"chat\",\"text\":\"thanks, all sorted\"}";
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    sinktest_add(&batch, "t", 0, 0, first, sizeof first - 1);
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 1);
    sinktest_clear(&batch);
    /* a later batch: r1 again, as it was and another; r2 new, then another
     * event under r2 and r2 written otherwise in the same batch */
    sinktest_add(&batch, "t", 0, 1, same, sizeof same - 1);
    sinktest_add(&batch, "t", 0, 2, other, sizeof other - 1);
    sinktest_add(&batch, "t", 0, 3, fresh, sizeof fresh - 1);
    sinktest_add(&batch, "t", 0, 4, fresh_other, sizeof fresh_other - 1);
    sinktest_add(&batch, "t", 0, 5, fresh, sizeof fresh - 1);
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 1, "r2");
    cr_assert_eq(res.duplicates, 2, "r1 written otherwise, r2's exact copy");
    cr_assert_eq(res.dead_lettered, 2, "the other events under r1 and r2");
    cr_assert_eq(res.dead_by[CX_DEAD_ID_REUSED], 2, "each says why");
    cr_assert_eq(res.dead_by[CX_DEAD_INVALID] + res.dead_by[CX_DEAD_REJECTED], 0);
    for (size_t i = 0; i < batch.n; i++)
        cr_assert_eq(cx_pg_dead_lettered(pg, i), i == 1 || i == 3, "record %zu", i);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events WHERE event_id = 'r1'"
                                         " AND channel = 'web' AND kafka_offset = 0"),
                 1, "the stored event is kept as it was");
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events WHERE event_id = 'r2'"
                                         " AND channel = 'phone' AND kafka_offset = 3"),
                 1);
    PGresult *r = PQexec(conn, "SELECT kafka_offset, error FROM cx.dead_letters ORDER BY 1");
    cr_assert_eq(PQntuples(r), 2);
    cr_assert_str_eq(PQgetvalue(r, 0, 0), "2");
    cr_assert(strstr(PQgetvalue(r, 0, 1), "event_id \"r1\" is already stored with other content"
                                          " (the stored event, read from t[0]@0, is kept)") != NULL,
              "%s", PQgetvalue(r, 0, 1));
    cr_assert_str_eq(PQgetvalue(r, 1, 0), "4");
    cr_assert(strstr(PQgetvalue(r, 1, 1), "event_id \"r2\" is already stored with other content"
                                          " (the stored event, read from t[0]@3, is kept)") != NULL,
              "%s", PQgetvalue(r, 1, 1));
    PQclear(r);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT next_offset FROM cx.consumer_offsets"), 6);
    cx_test_assert_signals_exact(conn);
    /* the whole stream read again (a new group, or offsets reset): nothing changes */
    sinktest_clear(&batch);
    sinktest_add(&batch, "t", 1, 0, other, sizeof other - 1);
    sinktest_add(&batch, "t", 1, 1, first, sizeof first - 1);
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 0);
    cr_assert_eq(res.duplicates, 1);
    cr_assert_eq(res.dead_lettered, 1);
    cr_assert(cx_pg_dead_lettered(pg, 0) && !cx_pg_dead_lettered(pg, 1));
    cx_pg_free(pg);
    /* two events under one new event_id in one batch that takes the direct path
     * (a new sink): the first is stored, the second is a dead letter */
    static const char n1[] = "{\"event_id\":\"n1\",\"occurred_at\":\"2026-11-03T09:00:00Z\","
                             "\"text\":\"the agent was rude\"}";
    static const char n1_other[] = "{\"event_id\":\"n1\",\"occurred_at\":\"2026-11-03T09:00:00Z\","
                                   "\"text\":\"the agent was lovely\"}";
    sinktest_clear(&batch);
    sinktest_add(&batch, "t", 2, 0, n1, sizeof n1 - 1);
    sinktest_add(&batch, "t", 2, 1, n1_other, sizeof n1_other - 1);
    pg = sinktest_sink(url);
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 1);
    cr_assert_eq(res.duplicates, 0);
    cr_assert_eq(res.dead_lettered, 1);
    cr_assert(!cx_pg_dead_lettered(pg, 0) && cx_pg_dead_lettered(pg, 1));
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events WHERE event_id = 'n1'"
                                         " AND body = 'the agent was rude'"),
                 1);
    cx_test_assert_signals_exact(conn);
    cx_pg_free(pg);
}

/* 12 rated events in one minute (ids prefix-0..11): ten nps 0.1, csat 4.3 and 4.2. */
static void add_rated_minute(const char *prefix, int minute, int32_t partition)
{
    for (int i = 0; i < 12; i++) {
        char ev[512];
        int n = snprintf(ev, sizeof ev,
                         "{\"event_id\":\"%s-%d\",\"occurred_at\":\"2026-11-01T10:%02d:%02dZ\","
                         "\"channel\":\"app\",\"text\":\"the courier was late\","
                         "\"rating\":{\"scale\":\"%s\",\"value\":%s}}",
                         prefix, i, minute, i, i < 10 ? "nps" : "csat",
                         i < 10 ? "0.1" : i == 10 ? "4.3" : "4.2");
        sinktest_add(&batch, "t", partition, i, ev, (size_t)n);
    }
}

Test(pg_sink, both_write_paths_sum_decimal_ratings_exactly)
{
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    /* new events only: copied straight into cx.events, increments summed in C */
    add_rated_minute("a", 1, 0);
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 12);
    /* the same with one event stored before: the staged path, which sums the new
     * events' increments in C too */
    const char *dup = "{\"event_id\":\"a-0\",\"occurred_at\":\"2026-11-01T10:01:00Z\","
                      "\"channel\":\"app\",\"text\":\"the courier was late\","
                      "\"rating\":{\"scale\":\"nps\",\"value\":0.1}}";
    sinktest_clear(&batch);
    add_rated_minute("b", 2, 1);
    sinktest_add(&batch, "t", 1, 12, dup, strlen(dup));
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 12);
    cr_assert_eq(res.duplicates, 1);
    for (int minute = 1; minute <= 2; minute++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM cx.signals WHERE window_start = '2026-11-01T10:%02d:00Z'"
                 " AND channel = 'app' AND events = 12 AND nps_count = 10 AND nps_sum = 1"
                 " AND csat_count = 2 AND csat_sum = 8.5 AND rating_sum = 9.5",
                 minute);
        cr_assert_gt(cx_test_pg_scalar(conn, sql), 0, "minute %d: sums not exact", minute);
    }
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"
                                         " WHERE rating_value::text = '4.3'"),
                 2, "a rating is stored as written, not as 4.2999999999999998");
    cx_test_assert_signals_exact(conn);
    cx_pg_free(pg);
}

/* The hourly view bands a fractional rating as the sentiment does (the
 * nearest whole rating, a half as the better): nps 6.4 is a detractor there
 * as it is negative, 6.8 a passive, 8.6 a promoter; csat 3.6 is satisfied as
 * it is positive, 3.4 not. */
Test(pg_sink, the_hourly_view_bands_fractional_ratings_as_the_sentiment_does)
{
    static const char *const ratings[] = {"\"nps\",\"value\":6.3",  "\"nps\",\"value\":6.4",
                                          "\"nps\",\"value\":6.8",  "\"nps\",\"value\":8.6",
                                          "\"csat\",\"value\":3.6", "\"csat\",\"value\":3.4"};
    for (size_t i = 0; i < CX_ARRAY_LEN(ratings); i++) {
        char v[256];
        int n = snprintf(v, sizeof v,
                         "{\"event_id\":\"fr-%zu\",\"occurred_at\":\"2026-11-01T10:0%zu:00Z\","
                         "\"channel\":\"%s\",\"rating\":{\"scale\":%s}}",
                         i, i, i < 4 ? "nps" : "csat", ratings[i]);
        sinktest_add(&batch, "t", 0, (long long)i, v, (size_t)n);
    }
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, CX_ARRAY_LEN(ratings));
    /* the sentiments: 6.3 and 6.4 negative, 6.8 neutral, 8.6 and 3.6 positive, 3.4 neutral */
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events WHERE channel = 'nps'"
                                         " AND sentiment = 'negative'"),
                 2);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events WHERE sentiment ="
                                         " 'positive'"),
                 2);
    /* (-1 - 1 + 0 + 1) / 4: -25 */
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT nps * 10 FROM cx.satisfaction_hourly"
                                         " WHERE channel = 'nps' AND negative_share = 0.5"),
                 -250);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT csat * 100 FROM cx.satisfaction_hourly"
                                         " WHERE channel = 'csat'"),
                 50);
    /* and the counts they are made of, which add up over hours and channels */
    cr_assert_eq(cx_test_pg_scalar(conn,
                                   "SELECT sum(nps_ratings) * 10000 + sum(nps_promoters) * 100"
                                   " + sum(nps_detractors) FROM cx.satisfaction_hourly"
                                   " WHERE channel = 'nps'"),
                 40102);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT sum(csat_ratings) * 100 + sum(csat_satisfied)"
                                         " FROM cx.satisfaction_hourly WHERE channel = 'csat'"),
                 201);
    cx_pg_free(pg);
}

/* Signal increments go straight in while their windows are new, and are added
 * to the stored rows when a batch comes back to a window; either way the
 * signals equal the sum over the events. */
Test(pg_sink, signals_of_new_and_of_stored_windows_add_up_exactly)
{
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    add_rated_minute("a", 1, 0); /* new windows */
    cr_assert_eq(write(pg, &res), CX_OK);
    sinktest_clear(&batch);
    add_rated_minute("b", 1, 1); /* the same windows again, and a new one */
    add_rated_minute("c", 3, 2);
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 24);
    sinktest_clear(&batch);
    add_rated_minute("d", 5, 3); /* new windows after a batch that met stored ones */
    cr_assert_eq(write(pg, &res), CX_OK);
    /* every row of 10:01 (one per category of the events) holds both batches' 24 */
    cr_assert_gt(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.signals"
                                         " WHERE window_start = '2026-11-01T10:01:00Z'"),
                 0);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.signals WHERE window_start"
                                         " = '2026-11-01T10:01:00Z' AND NOT (channel = 'app'"
                                         " AND events = 24 AND nps_count = 20 AND nps_sum = 2"
                                         " AND csat_count = 4 AND csat_sum = 17)"),
                 0);
    cx_test_assert_signals_exact(conn);
    cx_pg_free(pg);
}

Test(pg_sink, a_rating_too_fine_for_exact_sums_here_is_summed_by_postgresql)
{
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    add_rated_minute("c", 3, 2);
    const char *fine = "{\"event_id\":\"fine-1\",\"occurred_at\":\"2026-11-01T10:03:30Z\","
                       "\"channel\":\"app\",\"text\":\"the courier was late\","
                       "\"rating\":{\"scale\":\"nps\",\"value\":1.2345678901234567e-05}}";
    sinktest_add(&batch, "t", 2, 12, fine, strlen(fine));
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 13);
    cr_assert_gt(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.signals"
                                         " WHERE window_start = '2026-11-01T10:03:00Z'"), 0);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.signals"
                                         " WHERE window_start = '2026-11-01T10:03:00Z'"
                                         " AND nps_count = 11 AND nps_sum > 1 AND nps_sum < 1.0001"),
                 cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.signals"
                                         " WHERE window_start = '2026-11-01T10:03:00Z'"),
                 "every row of the minute counts the fine rating once");
    cx_test_assert_signals_exact(conn);
    cx_pg_free(pg);
}

/* A window size added later is found where the newest windows are, not
 * among those of an event dated years ahead (its day had the older sizes
 * only): said once, until the new size has a window where the stream is. */
Test(pg_sink, a_window_size_added_later_is_found_where_the_stream_is)
{
    static const char ahead[] = "{\"event_id\":\"ahead\",\"occurred_at\":"
                                "\"2036-11-01T10:00:00Z\",\"text\":\"hello\"}";
    sinktest_add_event(&batch, "t", 0, 0, 0);
    sinktest_add(&batch, "t", 0, 1, ahead, sizeof ahead - 1);
    cx_pg *pg = sinktest_sink(url); /* 60 s windows */
    cx_pg_result res;
    cr_assert_eq(write(pg, &res), CX_OK);
    cx_pg_free(pg);
    sinktest_clear(&batch);
    static const int sizes[] = {60, 3600};
    char list[64], at[64], err[512];
    cx_pg_options o = sinktest_options(url);
    o.window_seconds = sizes;
    o.n_windows = 2;
    cr_assert_eq(cx_pg_new(&pg, &o, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_pg_added_window_sizes(pg, sizes, 2, list, sizeof list, at, sizeof at), 1);
    cr_assert_str_eq(list, "3600");
    cr_assert(strncmp(at, "2026-", 5) == 0, "the newest window is not the stream's: %s", at);
    sinktest_add_event(&batch, "t", 0, 2, 2); /* stored with both sizes */
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(cx_pg_added_window_sizes(pg, sizes, 2, list, sizeof list, at, sizeof at), 0,
                 "said again: %s at %s", list, at);
    cx_pg_free(pg);
}

Test(pg_sink, a_poison_row_is_dead_lettered_and_the_rest_commits)
{
    /* A rule the parser cannot know about: the database rejects one event. */
    cx_test_pg_exec(conn, "ALTER TABLE cx.events ADD CONSTRAINT no_poison "
                          "CHECK (event_id <> 'ev-13')");
    for (long i = 0; i < 40; i++)
        sinktest_add_event(&batch, "t", 0, i, i);
    sinktest_add(&batch, "t", 0, 40, "{not json", 9); /* and one that is no event */
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 39);
    cr_assert_eq(res.dead_lettered, 2);
    cr_assert_eq(res.dead_by[CX_DEAD_REJECTED], 1, "each says why");
    cr_assert_eq(res.dead_by[CX_DEAD_INVALID], 1);
    cr_assert_eq(res.dead_by[CX_DEAD_ID_REUSED], 0);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), 39);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters WHERE "
                                         "kafka_offset = 13 AND error LIKE "
                                         "'postgresql rejected the event:%no_poison%23514%'"),
                 1);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters WHERE CASE WHEN"
                                         " kafka_offset = 13 THEN convert_from(raw, 'UTF8')::jsonb"
                                         "->>'event_id' END = 'ev-13'"),
                 1);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters WHERE "
                                         "kafka_offset = 40 AND raw = '{not json'::bytea"),
                 1);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT next_offset FROM cx.consumer_offsets"), 41);
    cx_test_assert_signals_exact(conn);
    cx_pg_free(pg);
}

/* A NOT NULL column added to cx.events by hand, without a default: no event
 * can fill it, so the batch is not the events' fault. The write stops with
 * an error naming the column and what to change, storing nothing and
 * dead-lettering nothing (before, every event of the stream became a dead
 * letter, after a bisection down to single rows). */
Test(pg_sink, a_not_null_column_added_by_hand_stops_the_write_instead_of_dead_lettering)
{
    cx_test_pg_exec(conn, "ALTER TABLE cx.events ADD COLUMN region text NOT NULL DEFAULT 'eu'");
    cx_test_pg_exec(conn, "ALTER TABLE cx.events ALTER COLUMN region DROP DEFAULT");
    for (long i = 0; i < 40; i++)
        sinktest_add_event(&batch, "t", 0, i, i);
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    char err[1024];
    cr_assert_eq(cx_pg_write_batch(pg, batch.recs, batch.n, &res, err, sizeof err), CX_ERR_FATAL,
                 "%s", err);
    cr_assert_not_null(strstr(err, "cx.events has a NOT NULL column \"region\""), "%s", err);
    cr_assert_not_null(strstr(err, "give it a DEFAULT"), "%s", err);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), 0);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"), 0);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.consumer_offsets"), 0);
    cx_pg_free(pg);
}

/* A NOT NULL column of the user's that an event's own content fills (one
 * generated from a column, or one a trigger of theirs fills in another
 * table) refuses only the events without that content: they are dead
 * letters and the rest commits, as for any check of the user's. */
Test(pg_sink, a_not_null_column_an_event_fills_refuses_only_the_events_that_do_not)
{
    static const char *const setups[] = {
        "ALTER TABLE cx.events ADD COLUMN scale text"
        " GENERATED ALWAYS AS (rating_scale) STORED NOT NULL",
        "CREATE TABLE public.audit (customer_id text NOT NULL);"
        "CREATE FUNCTION public.audit() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN INSERT INTO public.audit VALUES (NEW.rating_scale); RETURN NEW; END$$;"
        "CREATE TRIGGER audit AFTER INSERT ON cx.events FOR EACH ROW"
        " EXECUTE FUNCTION public.audit()",
        "ALTER TABLE cx.events ADD COLUMN scale text NOT NULL;"
        "CREATE FUNCTION public.scale() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN NEW.scale := NEW.rating_scale; RETURN NEW; END$$;"
        "CREATE TRIGGER scale BEFORE INSERT ON cx.events FOR EACH ROW"
        " EXECUTE FUNCTION public.scale()"};
    static const char *const undo[] = {
        "ALTER TABLE cx.events DROP COLUMN scale",
        "DROP TRIGGER audit ON cx.events; DROP FUNCTION public.audit(); DROP TABLE public.audit",
        ("DROP TRIGGER scale ON cx.events; DROP FUNCTION public.scale();"
         " ALTER TABLE cx.events DROP COLUMN scale")};
    const char *rated = "{\"event_id\":\"r\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                        "\"rating\":{\"scale\":\"csat\",\"value\":2}}";
    for (size_t k = 0; k < CX_ARRAY_LEN(setups); k++) {
        cx_test_pg_exec(conn, setups[k]);
        sinktest_clear(&batch);
        for (long i = 0; i < 10; i++) {
            char ev[160];
            int n = snprintf(ev, sizeof ev,
                             "{\"event_id\":\"u-%zu-%ld\",\"occurred_at\":"
                             "\"2026-11-01T10:00:00Z\",\"text\":\"no rating here\"}",
                             k, i);
            sinktest_add(&batch, "t", (int)k, i, ev, (size_t)n);
        }
        sinktest_add(&batch, "t", (int)k, 10, rated, strlen(rated));
        cx_pg *pg = sinktest_sink(url);
        cx_pg_result res;
        char err[1024];
        cr_assert_eq(cx_pg_write_batch(pg, batch.recs, batch.n, &res, err, sizeof err), CX_OK,
                     "setup %zu: %s", k, err);
        cr_assert_eq(res.dead_lettered, 10, "setup %zu", k);
        cr_assert_eq(res.stored, 1, "setup %zu", k);
        cx_pg_free(pg);
        cx_test_pg_exec(conn, "DELETE FROM cx.events");
        cx_test_pg_exec(conn, undo[k]);
    }
}

/* Rows refused for what they hold by something of the user's, not by a
 * check: an index entry too large for an analyst's index (54000), and an
 * exception a trigger of theirs raises (P0001). Each such row is a dead
 * letter naming the reason; the rest commits, and the stream goes on. */
Test(pg_sink, rows_an_index_or_a_trigger_of_the_users_refuses_are_dead_lettered)
{
    cx_test_pg_exec(conn, "CREATE INDEX events_order_idx ON cx.events"
                          " ((payload -> 'attributes' ->> 'order_id'))");
    cx_test_pg_exec(conn, "CREATE FUNCTION public.no_kiosk() RETURNS trigger LANGUAGE plpgsql AS"
                          " $$BEGIN IF NEW.channel = 'kiosk' THEN RAISE EXCEPTION 'no kiosks';"
                          " END IF; RETURN NEW; END$$");
    cx_test_pg_exec(conn, "CREATE TRIGGER no_kiosk BEFORE INSERT ON cx.events FOR EACH ROW"
                          " EXECUTE FUNCTION public.no_kiosk()");
    static char big[9000];
    int n = snprintf(big, sizeof big,
                     "{\"event_id\":\"big\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                     "\"channel\":\"web\",\"text\":\"late\",\"attributes\":{\"order_id\":\"");
    unsigned x = 7;
    for (int k = 0; k < 8000; k++, x = x * 1103515245u + 12345u) /* no compressing it away */
        big[n++] = "abcdefghijklmnopqrstuvwxyz0123456789"[(x >> 16) % 36];
    n += snprintf(big + n, sizeof big - (size_t)n, "\"}}");
    static const char kiosk[] = "{\"event_id\":\"kiosk\",\"occurred_at\":"
                                "\"2026-11-01T10:00:00Z\",\"channel\":\"kiosk\",\"text\":\"late\"}";
    for (long i = 0; i < 10; i++)
        sinktest_add_event(&batch, "t", 0, i, i);
    sinktest_add(&batch, "t", 0, 10, big, (size_t)n);
    sinktest_add(&batch, "t", 0, 11, kiosk, sizeof kiosk - 1);
    sinktest_add_event(&batch, "t", 0, 12, 12);
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 11);
    cr_assert_eq(res.dead_lettered, 2);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters WHERE "
                                         "kafka_offset = 10 AND error LIKE "
                                         "'postgresql rejected the event:%index row size%54000%'"),
                 1);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters WHERE "
                                         "kafka_offset = 11 AND error LIKE "
                                         "'postgresql rejected the event:%no kiosks%P0001%'"),
                 1);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT next_offset FROM cx.consumer_offsets"), 13);
    cx_test_assert_signals_exact(conn);
    cx_pg_free(pg);
}

/* A statement_timeout of the database shorter than a batch's write: the
 * write fails transiently (nothing stored, tried again) and says what to do. */
Test(pg_sink, a_statement_timeout_shorter_than_a_write_is_named_with_what_to_do)
{
    cx_test_pg_exec(conn, "CREATE FUNCTION public.slow() RETURNS trigger LANGUAGE plpgsql AS"
                          " $$BEGIN PERFORM pg_sleep(0.05); RETURN NEW; END$$");
    cx_test_pg_exec(conn, "CREATE TRIGGER slow BEFORE INSERT ON cx.events FOR EACH ROW"
                          " EXECUTE FUNCTION public.slow()");
    cx_test_pg_exec(conn, "DO $$BEGIN EXECUTE format('ALTER DATABASE %I SET statement_timeout"
                          " = 500', current_database()); END$$");
    for (long i = 0; i < 40; i++)
        sinktest_add_event(&batch, "t", 0, i, i);
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    char err[1024];
    cr_assert_eq(cx_pg_write_batch(pg, batch.recs, batch.n, &res, err, sizeof err),
                 CX_ERR_TRANSIENT, "%s", err);
    cr_assert(strstr(err, "57014") && strstr(err, "a statement_timeout ended it") &&
                  strstr(err, "batch.max_messages"),
              "%s", err);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), 0);
    cx_pg_free(pg);
    cx_test_pg_exec(conn, "DO $$BEGIN EXECUTE format('ALTER DATABASE %I RESET statement_timeout',"
                          " current_database()); END$$");
}

Test(pg_sink, a_copy_after_a_rejected_one_in_the_same_batch_is_stored)
{
    /* The producer sent an event the database refuses, then the corrected one
     * with the same event_id; both land in one batch. */
    cx_test_pg_exec(conn,
                    "ALTER TABLE cx.events ADD CONSTRAINT no_kiosk CHECK (channel <> 'kiosk')");
    static const char bad[] = "{\"event_id\":\"fixed\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                              "\"channel\":\"kiosk\",\"text\":\"the courier was late\"}";
    static const char good[] = "{\"event_id\":\"fixed\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                               "\"channel\":\"web\",\"text\":\"the courier was late\"}";
    sinktest_add(&batch, "t", 0, 0, bad, sizeof bad - 1);
    sinktest_add(&batch, "t", 0, 1, bad, sizeof bad - 1);
    sinktest_add(&batch, "t", 0, 2, good, sizeof good - 1);
    sinktest_add(&batch, "t", 0, 3, good, sizeof good - 1);
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 1);
    cr_assert_eq(res.dead_lettered, 2, "each refused copy is a dead letter");
    cr_assert_eq(res.duplicates, 1, "only the copy after the stored one is a duplicate");
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events WHERE event_id = 'fixed'"
                                         " AND channel = 'web' AND kafka_offset = 2"),
                 1);
    cr_assert_eq(cx_test_pg_scalar(conn,
                                   "SELECT count(*) FROM cx.dead_letters"
                                   " WHERE kafka_offset IN (0, 1) AND error LIKE '%no_kiosk%'"),
                 2);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT next_offset FROM cx.consumer_offsets"), 4);
    cx_test_assert_signals_exact(conn);
    cx_pg_free(pg);
}

Test(pg_sink, dead_letters_keep_the_raw_bytes_and_a_readable_reason)
{
    static const char raw1[] = "{\"event_id\":\"x\",\"text\":\"tab\\there \\\\\"}";
    static const char raw2[] = "\xff\xfe\x00\x01 not utf-8 \\ \t\n\r";
    /* each at its own place, so that a place written wrong shows */
    sinktest_add(&batch, "cx.events", 3, 5, raw1, sizeof raw1 - 1);
    sinktest_add(&batch, "other", 1, 6, raw2, sizeof raw2 - 1);
    sinktest_add(&batch, "cx.events", 2, 7, "", 0);
    sinktest_add_event(&batch, "cx.events", 3, 8, 99);
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.dead_lettered, 3);
    cr_assert_eq(res.stored, 1);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters WHERE"
                                         " consumer_group = 'g' AND (kafka_topic, kafka_partition,"
                                         " kafka_offset) IN (('cx.events', 3, 5), ('other', 1, 6),"
                                         " ('cx.events', 2, 7))"),
                 3, "a dead letter does not name the topic, partition and offset it was read at");
    PGresult *r = PQexecParams(conn,
                               "SELECT kafka_offset, error, raw FROM cx.dead_letters "
                               "ORDER BY kafka_offset",
                               0, NULL, NULL, NULL, NULL, 1 /* binary: raw bytes */);
    cr_assert_eq(PQntuples(r), 3);
    cr_assert(strstr(PQgetvalue(r, 0, 1), "missing required field \"occurred_at\"") != NULL);
    cr_assert_eq(PQgetlength(r, 0, 2), (int)sizeof raw1 - 1);
    cr_assert(memcmp(PQgetvalue(r, 0, 2), raw1, sizeof raw1 - 1) == 0);
    cr_assert_eq(PQgetlength(r, 1, 2), (int)sizeof raw2 - 1);
    cr_assert(memcmp(PQgetvalue(r, 1, 2), raw2, sizeof raw2 - 1) == 0, "raw bytes differ");
    cr_assert(strstr(PQgetvalue(r, 2, 1), "message is empty") != NULL);
    cr_assert_eq(PQgetlength(r, 2, 2), 0);
    PQclear(r);
    cx_pg_free(pg);
}

/* The topic was deleted and made again, and the group reads it from the
 * start (what the "past the end" error advises): a bad message at a place
 * where the old topic left a different dead letter is stored beside it, and
 * the partition moves on. */
Test(pg_sink, a_bad_message_where_a_recreated_topic_left_another_dead_letter_is_kept_too)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.dead_letters (consumer_group, kafka_topic,"
                          " kafka_partition, kafka_offset, error, raw)"
                          " VALUES ('g', 't', 0, 0, 'invalid JSON', 'old bytes')");
    sinktest_add(&batch, "t", 0, 0, "new bytes", 9);
    sinktest_add_event(&batch, "t", 0, 1, 1);
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.dead_lettered, 1);
    cr_assert_eq(res.stored, 1);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters WHERE"
                                         " consumer_group = 'g' AND kafka_topic = 't' AND"
                                         " kafka_partition = 0 AND kafka_offset = 0 AND raw IN"
                                         " ('old bytes', 'new bytes')"),
                 2);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT next_offset FROM cx.consumer_offsets"), 2);
    /* read again by a process started anew after the offset was set back by
     * hand: nothing is stored twice */
    cx_pg_free(pg);
    pg = sinktest_sink(url);
    sinktest_clear(&batch);
    sinktest_add(&batch, "t", 0, 0, "new bytes", 9);
    cx_test_pg_exec(conn, "UPDATE cx.consumer_offsets SET next_offset = 0");
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.dead_lettered, 1);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"), 2);
    cx_pg_free(pg);
}

Test(pg_sink, a_missing_schema_is_fatal_with_advice)
{
    char fresh[1024], err[512];
    cx_test_pg_new_db(fresh, sizeof fresh);
    cx_pg_options o = {.conninfo = fresh, .group = "g", .synchronous_commit = 1};
    cx_pg *pg = NULL;
    cr_assert_eq(cx_pg_new(&pg, &o, err, sizeof err), CX_ERR_FATAL);
    cr_assert_null(pg);
    cr_assert(strstr(err, "run cxpulse migrate") != NULL, "%s", err);
}

/* url with role in place of the test's user. */
static void url_as(const char *role, char *out, size_t outlen)
{
    const char *at = strstr(url, "postgres@");
    cr_assert_not_null(at);
    snprintf(out, outlen, "%.*s%s%s", (int)(at - url), url, role, at + 8);
}

Test(pg_sink, missing_privileges_are_fatal_not_retried)
{
    /* the role is the cluster's: an earlier run's databases may hold its grants */
    cx_test_pg_exec(conn, "DO $$BEGIN CREATE ROLE cx_reader LOGIN;"
                          " EXCEPTION WHEN duplicate_object THEN NULL; END$$;"
                          "GRANT USAGE ON SCHEMA cx TO cx_reader;"
                          "GRANT SELECT ON ALL TABLES IN SCHEMA cx TO cx_reader");
    char reader[1100];
    url_as("cx_reader", reader, sizeof reader);
    cx_pg_options o = {.conninfo = reader, .group = "g", .synchronous_commit = 1};
    cx_pg *pg = NULL;
    char err[512];
    cr_assert_eq(cx_pg_new(&pg, &o, err, sizeof err), CX_OK, "%s", err);
    sinktest_add_event(&batch, "t", 0, 0, 1);
    cx_pg_result res;
    cr_assert_eq(cx_pg_write_batch(pg, batch.recs, batch.n, &res, err, sizeof err), CX_ERR_FATAL);
    cr_assert(strstr(err, "permission denied") != NULL && strstr(err, "42501") != NULL, "%s", err);
    cr_assert(strstr(err, "once deploy/sql/grants.sql has run; see docs/privileges.md") != NULL,
              "the error does not say what to do: %s", err);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"), 0,
                 "a fatal error must not dead-letter the batch");
    cx_pg_free(pg);
}

/* Refusals that stay until someone changes the server, as a wrong password
 * does: a role that may not log in, or not connect to the database. The
 * sink stops with the server's reason instead of retrying for ever. */
Test(pg_sink, a_role_that_may_not_log_in_or_connect_is_fatal_not_retried)
{
    cx_test_pg_exec(conn, "DROP ROLE IF EXISTS cx_nologin; CREATE ROLE cx_nologin NOLOGIN;"
                          "DROP ROLE IF EXISTS cx_noconnect; CREATE ROLE cx_noconnect LOGIN;"
                          "DO $$BEGIN EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM PUBLIC',"
                          " current_database()); END$$");
    const char *roles[] = {"cx_nologin", "cx_noconnect"};
    const char *says[] = {"is not permitted to log in", "permission denied for database"};
    for (int i = 0; i < 2; i++) {
        char as[1100], err[512];
        url_as(roles[i], as, sizeof as);
        cx_pg_options o = {.conninfo = as, .group = "g", .synchronous_commit = 1};
        cx_pg *pg = NULL;
        cr_assert_eq(cx_pg_new(&pg, &o, err, sizeof err), CX_ERR_FATAL, "%s: %s", roles[i], err);
        cr_assert_null(pg);
        cr_assert(strstr(err, says[i]) != NULL, "%s: %s", roles[i], err);
    }
    cx_test_pg_exec(conn, "DROP ROLE cx_nologin; DROP ROLE cx_noconnect");
}

/* A role at its CONNECTION LIMIT (or a server at max_connections) is
 * retried, as slots free up, and the error says how many connections a
 * replica takes, so that the limit can be sized. */
Test(pg_sink, a_role_at_its_connection_limit_is_retried_and_told_what_a_replica_takes)
{
    cx_test_pg_exec(conn, "DROP ROLE IF EXISTS cx_limited;"
                          " CREATE ROLE cx_limited LOGIN CONNECTION LIMIT 0");
    char as[1100], err[512];
    url_as("cx_limited", as, sizeof as);
    cx_pg_options o = {.conninfo = as, .group = "g", .synchronous_commit = 1};
    cx_pg *pg = NULL;
    cr_assert_eq(cx_pg_new(&pg, &o, err, sizeof err), CX_ERR_TRANSIENT, "%s", err);
    cr_assert(strstr(err, "too many connections for role") != NULL, "%s", err);
    cr_assert(strstr(err, "each cxpulse run holds postgres.writers connections") != NULL, "%s",
              err);
    cx_pg_free(pg); /* (one made to connect when it first writes) */
    cx_test_pg_exec(conn, "DROP ROLE cx_limited");
}

/* What a PostgreSQL crash leaves when it took back acknowledged commits
 * (synchronous_commit off): t[partition]'s rows from offset `from` on gone,
 * its stored offset back at `from`, and every connection of the test's
 * database cut. */
static void lose_commits(int partition, long from)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "DELETE FROM cx.events WHERE kafka_partition = %d AND kafka_offset >= %ld;"
             "UPDATE cx.consumer_offsets SET next_offset = %ld WHERE partition = %d;"
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
             " WHERE datname = current_database() AND pid <> pg_backend_pid()",
             partition, from, from, partition);
    cx_test_pg_exec(conn, sql);
}

/* Writes the batch through the reconnect that cut connections cause: the
 * status of the first attempt that is not a transient failure. */
static cx_status write_after_cut(cx_pg *pg, cx_pg_result *res, char *err, size_t errlen)
{
    cx_status st = CX_ERR_TRANSIENT;
    for (int k = 0; k < 5 && st == CX_ERR_TRANSIENT; k++)
        st = cx_pg_write_batch(pg, batch.recs, batch.n, res, err, errlen);
    return st;
}

/* With synchronous_commit off, a server crash can take back batches PostgreSQL
 * had acknowledged, their offsets with them, while the consumer has read past
 * them. When the sink reconnects it notices and stops (restarted, cxpulse
 * reads them again), instead of storing the next batch above the hole. The
 * crash is simulated exactly: the last batch's rows and offset taken back and
 * the connection cut. A restore from a backup takes them back alike, and
 * the message names both. */
Test(pg_sink, commits_the_server_lost_stop_the_sink_before_it_writes_past_them)
{
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    for (long from = 0; from < 20; from += 10) {
        for (long i = from; i < from + 10; i++)
            sinktest_add_event(&batch, "t", 0, i, i);
        cr_assert_eq(write(pg, &res), CX_OK);
        sinktest_clear(&batch);
    }
    lose_commits(0, 10);
    for (long i = 20; i < 30; i++)
        sinktest_add_event(&batch, "t", 0, i, i);
    char err[1024];
    cx_status st = write_after_cut(pg, &res, err, sizeof err);
    cr_assert_eq(st, CX_ERR_FATAL, "the batch above the hole was written: %s", err);
    cr_assert(strstr(err, "lost commits") != NULL && strstr(err, "t[0]") != NULL, "%s", err);
    cr_assert(strstr(err, "synchronous_commit off") != NULL &&
                  strstr(err, "a database restored from a backup") != NULL,
              "the guess names neither a crash nor a restore: %s", err);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events WHERE kafka_offset >= 10"),
                 0);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT next_offset FROM cx.consumer_offsets"), 10);
    cx_pg_free(pg);
    /* restarted: the lost batch and the next are stored */
    sinktest_clear(&batch);
    for (long i = 10; i < 30; i++)
        sinktest_add_event(&batch, "t", 0, i, i);
    pg = sinktest_sink(url);
    cr_assert_eq(write(pg, &res), CX_OK);
    cr_assert_eq(res.stored, 20);
    cx_pg_free(pg);
}

/* Two writers of one process sharing what they know stored (cx_pg_seen),
 * with t[0] committed by writer a, and t[1] committed by another member
 * before writer a read it at assignment. After a crash that took back
 * `lost` (t[0]'s or t[1]'s last commit), writer b stops rather than write
 * above the hole. */
static void expect_lost_commit_noticed(int32_t lost)
{
    cx_pg_seen *seen = cx_pg_seen_new();
    cr_assert_not_null(seen);
    cx_pg_options o = sinktest_options(url);
    o.seen = seen;
    cx_pg *a = NULL, *b = NULL;
    char err[1024];
    cr_assert_eq(cx_pg_new(&a, &o, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_pg_new(&b, &o, err, sizeof err), CX_OK, "%s", err);
    cx_pg_result res;
    for (long i = 0; i < 20; i++)
        sinktest_add_event(&batch, "t", 0, i, i);
    cr_assert_eq(write(a, &res), CX_OK);
    sinktest_clear(&batch);
    cx_test_pg_exec(conn, "INSERT INTO cx.consumer_offsets (consumer_group, topic, partition,"
                          " next_offset) VALUES ('g', 't', 1, 100)");
    int32_t part = 1;
    int64_t next;
    cr_assert_eq(cx_pg_read_offsets(a, "t", &part, 1, NULL, &next, err, sizeof err), CX_OK, "%s",
                 err);
    cr_assert_eq(next, 100);
    lose_commits(lost, lost == 0 ? 10 : 80);
    for (long i = 0; i < 10; i++)
        sinktest_add_event(&batch, "t", lost, (lost == 0 ? 20 : 100) + i, 1000 + i);
    cx_status st = write_after_cut(b, &res, err, sizeof err);
    cr_assert_eq(st, CX_ERR_FATAL, "t[%d]: written above the hole: %s", lost, err);
    char name[16];
    snprintf(name, sizeof name, "t[%d]", lost);
    cr_assert(strstr(err, "lost commits") != NULL && strstr(err, name) != NULL, "%s", err);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events WHERE event_id LIKE"
                                         " 'ev-10__'"),
                 0);
    cx_pg_free(a);
    cx_pg_free(b);
    cx_pg_seen_free(seen);
}

Test(pg_sink, commits_lost_are_noticed_by_another_writer_of_the_process)
{
    expect_lost_commit_noticed(0);
}

Test(pg_sink, commits_lost_are_noticed_after_a_partition_changed_hands)
{
    expect_lost_commit_noticed(1);
}

/* The live page's data is live while the latest window ended within the
 * hour: with day-long windows, today's began at midnight (UTC), hours ago;
 * with hour-long ones, the last hour's has just ended. */
Test(pg_sink, the_live_data_of_long_windows_is_live)
{
    char err[512], *json = NULL;
    cx_pg_reader *r = NULL;
    cx_test_pg_exec(conn, "INSERT INTO cx.signals (window_start, window_seconds, category, events)"
                          " VALUES (date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE"
                          " 'UTC', 86400, 'facing', 3),"
                          " (date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
                          " - interval '2 days', 86400, 'facing', 5)");
    cr_assert_eq(cx_pg_reader_new(&r, url, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_pg_live(r, 86400, &json, err, sizeof err), CX_OK, "%s", err);
    json_t *live = json_loads(json, 0, NULL);
    cr_assert_not_null(live, "not JSON: %s", json);
    cr_assert(json_is_true(json_object_get(live, "live")), "shown as a replay: %s", json);
    json_t *facing = json_object_get(json_object_get(live, "categories"), "facing");
    cr_assert_eq(json_integer_value(json_array_get(json_array_get(facing, 59), 0)), 3,
                 "today's window is the last point: %s", json);
    cr_assert_eq(json_integer_value(json_array_get(json_array_get(facing, 57), 0)), 5);
    json_decref(live);
    free(json);
    cx_test_pg_exec(conn, "INSERT INTO cx.signals (window_start, window_seconds, category, events)"
                          " VALUES (date_trunc('hour', now()) - interval '1 hour', 3600, 'facing',"
                          " 4)");
    cr_assert_eq(cx_pg_live(r, 3600, &json, err, sizeof err), CX_OK, "%s", err);
    cr_assert_not_null(strstr(json, "\"live\" : true"), "shown as a replay: %s", json);
    free(json);
    cx_pg_reader_free(r);
}

/* Adds an event of `ago` seconds ago in channel/touchpoint ("" for none), rated
 * csat 1 (negative: 1 a complaint of two categories, 2 one of none) or 5
 * (positive: 0). */
static void add_where(long id, long ago, const char *channel, const char *touchpoint, int negative)
{
    char when[32], ev[512], ch[64] = "", tp[64] = "";
    time_t t = time(NULL) - ago;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    if (channel[0] != '\0')
        snprintf(ch, sizeof ch, ",\"channel\":\"%s\"", channel);
    if (touchpoint[0] != '\0')
        snprintf(tp, sizeof tp, ",\"touchpoint\":\"%s\"", touchpoint);
    int n = snprintf(ev, sizeof ev,
                     "{\"event_id\":\"w-%ld\",\"occurred_at\":\"%s\"%s%s,\"text\":\"%s\","
                     "\"rating\":{\"scale\":\"csat\",\"value\":%d}}",
                     id, when, ch, tp,
                     negative == 1   ? "the courier lost my parcel and billing charged me twice"
                     : negative == 2 ? "no."
                                     : "all fine",
                     negative ? 1 : 5);
    sinktest_add(&batch, "t", 0, id, ev, (size_t)n);
}

/* The row of kind ("channels"/"touchpoints") named name in the live data's
 * breakdown, and its position, or NULL. */
static json_t *where_row(json_t *live, const char *kind, const char *name, size_t *pos)
{
    json_t *rows = json_object_get(json_object_get(live, "where"), kind);
    for (*pos = 0; *pos < json_array_size(rows); (*pos)++) {
        json_t *row = json_array_get(rows, *pos);
        if (strcmp(json_string_value(json_object_get(row, "name")), name) == 0)
            return row;
    }
    return NULL;
}

/* Stores the batch add_where() made and reads the live page's data of 60 s
 * windows: parsed, and its text in *json (free both). */
static json_t *stored_live(char **json)
{
    cx_pg *pg = sinktest_sink(url);
    cx_pg_result res;
    cr_assert_eq(write(pg, &res), CX_OK);
    cx_pg_free(pg);
    char err[512];
    cx_pg_reader *r = NULL;
    *json = NULL;
    cr_assert_eq(cx_pg_reader_new(&r, url, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_pg_live(r, 60, json, err, sizeof err), CX_OK, "%s", err);
    cx_pg_reader_free(r);
    json_t *live = json_loads(*json, 0, NULL);
    cr_assert_not_null(live, "not JSON: %s", *json);
    return live;
}

/* Negative events without a category are counted as such: where most
 * negatives have none, "none" is where they mostly are, not the category of
 * the few that have one. */
Test(pg_sink, the_live_breakdown_says_when_most_negatives_have_no_category)
{
    long id = 0;
    for (int i = 0; i < 2; i++)
        add_where(id++, 60, "web", "", 2);
    add_where(id++, 60, "web", "", 1);
    char *json;
    json_t *live = stored_live(&json);
    cr_assert_eq(cx_test_pg_scalar(conn,
                                   "SELECT count(*) FROM cx.events WHERE channel = 'web'"
                                   " AND sentiment = 'negative' AND primary_category IS NULL"),
                 2, "the test needs two negatives without a category");
    size_t pos;
    json_t *web = where_row(live, "channels", "web", &pos);
    cr_assert_not_null(web, "%s", json);
    cr_assert_str_eq(json_string_value(json_object_get(web, "top")), "none", "%s", json);
    json_decref(live);
    free(json);
}

/* The live page's breakdown counts each event once, in the last hour only,
 * ranks by negative events, and names the category most negatives carry. */
Test(pg_sink, the_live_breakdown_ranks_channels_and_touchpoints_by_negative_events)
{
    long id = 0;
    for (int i = 0; i < 3; i++) /* two categories each, counted once */
        add_where(id++, 60, "chat", "checkout", 1);
    for (int i = 0; i < 2; i++)
        add_where(id++, 120, "chat", "", 0);
    for (int i = 0; i < 2; i++)
        add_where(id++, 300, "email", "returns", 1);
    for (int i = 0; i < 6; i++)
        add_where(id++, 30, "app", "checkout", 0);
    add_where(id++, 40, "", "", 1);
    for (int i = 0; i < 5; i++) /* two hours ago: not in the hour */
        add_where(id++, 7200, "phone", "returns", 1);
    char *json;
    json_t *live = stored_live(&json);
    cr_assert_gt(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"
                                         " WHERE event_id = 'w-0' AND cardinality(categories) > 1"),
                 0, "the complaint should carry two categories for this test to mean anything");
    cr_assert(json_is_false(json_object_get(json_object_get(live, "where"), "sampled")), "%s",
              json);

    size_t pos;
    struct {
        const char *kind, *name;
        long long events, negative;
        size_t pos;
    } want[] = {{"channels", "chat", 5, 3, 0},
                {"channels", "email", 2, 2, 1},
                {"channels", "", 1, 1, 2},
                {"channels", "app", 6, 0, 3},
                {"touchpoints", "checkout", 9, 3, 0},
                {"touchpoints", "returns", 2, 2, 1},
                {"touchpoints", "", 3, 1, 2}};
    for (size_t i = 0; i < CX_ARRAY_LEN(want); i++) {
        json_t *row = where_row(live, want[i].kind, want[i].name, &pos);
        cr_assert_not_null(row, "no %s '%s': %s", want[i].kind, want[i].name, json);
        cr_assert_eq(json_integer_value(json_object_get(row, "events")), want[i].events,
                     "%s '%s': %s", want[i].kind, want[i].name, json);
        cr_assert_eq(json_integer_value(json_object_get(row, "negative")), want[i].negative,
                     "%s '%s': %s", want[i].kind, want[i].name, json);
        cr_assert_eq(pos, want[i].pos, "%s '%s' ranked %zu: %s", want[i].kind, want[i].name, pos,
                     json);
    }
    cr_assert_null(where_row(live, "channels", "phone", &pos), "older than the hour: %s", json);
    cr_assert_eq(json_array_size(json_object_get(json_object_get(live, "where"), "channels")), 4);
    /* the category most of chat's negatives carry: their primary one */
    const char *top =
        json_string_value(json_object_get(where_row(live, "channels", "chat", &pos), "top"));
    cr_assert_not_null(top, "%s", json);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM cx.events WHERE event_id = 'w-0' AND primary_category = '%s'",
             top);
    cr_assert_eq(cx_test_pg_scalar(conn, sql), 1, "%s", json);
    cr_assert(json_is_null(json_object_get(where_row(live, "channels", "app", &pos), "top")),
              "no negatives, no category: %s", json);
    json_decref(live);
    free(json);
}
