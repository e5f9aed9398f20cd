/*
 * test_pg_tickets.c - improvement tickets against a real PostgreSQL: a spike
 * opens exactly one ticket for the rule's owner and further batches update
 * it; too little volume opens nothing; resolve, cooldown and a second
 * ticket; NOTIFY after commit; event-level rules; replays count nothing
 * twice; late and future-dated events; spike rules' usual level per window;
 * and the owners' `cxpulse tickets` commands.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "cxtest.h"
#include "event.h"
#include "sinktest.h"

static sinktest_batch batch;
static uint16_t hits[SINKTEST_MAX][8];
static char url[1024];
static PGconn *conn;
static cx_ticket_rules *rules;
static cx_pg *pg;
static long long next_offset;

static void setup(void)
{
    sinktest_fresh_db(url, sizeof url);
    conn = cx_test_pg_connect(url);
    next_offset = 0;
}

static void teardown(void)
{
    sinktest_clear(&batch);
    cx_pg_free(pg);
    cx_ticket_rules_free(rules);
    pg = NULL;
    rules = NULL;
    PQfinish(conn);
}

TestSuite(pg_tickets, .init = setup, .fini = teardown, .timeout = 60);

static void use_rules(const char *json)
{
    char err[512];
    json_t *j = json_loads(json, 0, NULL);
    cr_assert_not_null(j, "test rules are not JSON");
    cr_assert_eq(cx_ticket_rules_new(&rules, j, 60, err, sizeof err), CX_OK, "%s", err);
    json_decref(j);
    pg = sinktest_sink_rules(url, rules);
}

/* Where add() puts events: the batch, its partition and its rule hits (a
 * second writer's batch in the concurrency test). */
static sinktest_batch *into = &batch;
static int into_partition;
static uint16_t (*into_hits)[8] = hits;

/* Appends an event that occurred at `when` (RFC 3339) with the given channel, text and
 * rating. */
static void add_at(const char *id, const char *when, const char *channel, const char *text,
                   const char *rating)
{
    char raw[512];
    int n = snprintf(raw, sizeof raw,
                     "{\"event_id\":\"%s\",\"occurred_at\":\"%s\","
                     "\"channel\":\"%s\",\"text\":\"%s\"%s%s}",
                     id, when, channel, text, rating ? ",\"rating\":" : "", rating ? rating : "");
    sinktest_add(into, "cx.events", into_partition, next_offset++, raw, (size_t)n);
    size_t i = into->n - 1;
    if (into->recs[i].ev != NULL) {
        into->recs[i].hits = into_hits[i];
        into->recs[i].n_hits =
            cx_ticket_rules_match(rules, into->recs[i].ev, into->recs[i].tags, into_hits[i], 8);
    }
}

/* Appends an event at 2026-11-01 10:00 + `minute` with the given channel, text and rating. */
static void add(const char *id, int minute, const char *channel, const char *text,
                const char *rating)
{
    char when[32];
    snprintf(when, sizeof when, "2026-11-01T%02d:%02d:00Z", 10 + minute / 60, minute % 60);
    add_at(id, when, channel, text, rating);
}

/* n complaints about the carrier (external, negative), ids prefix-0.. */
static void spike(const char *prefix, int n, int minute, const char *channel)
{
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "%s-%d", prefix, i);
        add(id, minute + i % 5, channel, "the courier lost my parcel, terrible service", NULL);
    }
}

static cx_pg_result write_batch(void)
{
    char err[1024];
    cx_pg_result res;
    cr_assert_eq(cx_pg_write_batch(pg, batch.recs, batch.n, &res, err, sizeof err), CX_OK, "%s",
                 err);
    sinktest_clear(&batch);
    return res;
}

static long long q(const char *sql)
{
    return cx_test_pg_scalar(conn, sql);
}

static const char *const carrier_rule =
    "[{\"name\": \"carrier-spike\", \"category\": \"external\", \"window_minutes\": 15,"
    "  \"min_events\": 10, \"negative_share_above\": 0.5, \"owner\": \"carriers\"}]";

Test(pg_tickets, a_spike_opens_one_ticket_for_the_owner_and_more_of_it_updates_it)
{
    use_rules(carrier_rule);
    spike("a", 12, 0, "chat");
    cx_pg_result res = write_batch();
    cr_assert_eq(res.tickets_opened, 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE rule = 'carrier-spike' AND"
                   " category = 'external' AND scope = '' AND owner = 'carriers' AND"
                   " status = 'open' AND event_count = 12 AND reason LIKE"
                   " 'negative share 100.0% (12 of 12 events) in the 15 minutes to%'"),
                 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets t, unnest(t.sample_event_ids) s"
                   " WHERE s LIKE 'a-%'"),
                 10, "the batch's negative events are the evidence, at most 10");
    cr_assert_eq(q("SELECT count(*) FROM cx.open_tickets"), 1);

    spike("b", 8, 5, "chat");
    res = write_batch();
    cr_assert_eq(res.tickets_opened, 0);
    cr_assert_eq(res.tickets_updated, 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 1, "one unresolved ticket per rule");
    cr_assert_eq(q("SELECT event_count FROM cx.tickets"), 20);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE reason LIKE"
                   " 'negative share 100.0% (20 of 20 events)%' AND updated_at >= opened_at"),
                 1);
    cr_assert_eq(q("SELECT cardinality(sample_event_ids) FROM cx.tickets"), 10, "bounded");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets t, unnest(t.sample_event_ids[1:5]) s"
                   " WHERE s LIKE 'b-%'"),
                 5, "the newest samples come first");
}

/* A batch spread over hours of event time (a backlog, a catch-up after an
 * outage): every window it touched is evaluated, not only its latest hours. */
Test(pg_tickets, a_spike_in_the_middle_of_a_batch_spread_over_hours_opens_a_ticket)
{
    use_rules(carrier_rule);
    add("before", 0, "chat", "the courier was friendly and quick, great service", NULL);
    spike("a", 12, 60, "chat"); /* 11:00-11:04 */
    add("after", 240, "chat", "the courier was friendly and quick, great service", NULL);
    cx_pg_result res = write_batch();
    cr_assert_eq(res.tickets_opened, 1, "the spike three hours before the batch's latest event");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE event_count = 12 AND reason ="
                   " 'negative share 100.0% (12 of 12 events) in the 15 minutes to"
                   " 2026-11-01 11:05 UTC, above 50.0%'"),
                 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.open_tickets"
                   " WHERE window_start = '2026-11-01 10:50:00+00'"
                   " AND window_end = '2026-11-01 11:05:00+00'"),
                 1, "the window the reason names, as columns");
    /* a later window of the same incident moves them with the reason */
    spike("b", 12, 70, "chat"); /* 11:10-11:14 */
    write_batch();
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE reason LIKE '%to 2026-11-01 11:15 UTC%'"
                   " AND window_start = '2026-11-01 11:00:00+00'"
                   " AND window_end = '2026-11-01 11:15:00+00'"),
                 1);
    /* late events of an earlier window fire the rule again: they count, but
     * the open ticket keeps naming the latest window, not go back to theirs */
    spike("c", 12, 40, "chat"); /* 10:40-10:44 */
    cx_pg_result res2 = write_batch();
    cr_assert_eq(res2.tickets_updated, 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE reason LIKE '%to 2026-11-01 11:15 UTC%'"
                   " AND window_end = '2026-11-01 11:15:00+00' AND event_count = 36"),
                 1);
}

/* The ticket a backlog batch opens shows the window that fired: its count and
 * samples are that window's events, the newest first, not negative events
 * hours before it that the same batch carried (too few in any window to
 * fire). */
Test(pg_tickets, a_backlog_batch_s_ticket_counts_and_shows_the_window_that_fired)
{
    use_rules(carrier_rule);
    for (int i = 0; i < 8; i++) { /* 10:00 to 12:20, one every 20 minutes */
        char id[32];
        snprintf(id, sizeof id, "old-%d", i);
        add(id, 20 * i, "chat", "the courier lost my parcel, terrible service", NULL);
    }
    spike("a", 12, 180, "chat"); /* 13:00-13:04 */
    cx_pg_result res = write_batch();
    cr_assert_eq(res.tickets_opened, 1);
    cr_assert_eq(q("SELECT event_count FROM cx.tickets"), 12, "counted beyond the window");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets t, unnest(t.sample_event_ids) s"
                   " WHERE s LIKE 'a-%'"),
                 10, "samples from outside the window");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE sample_event_ids[1] IN ('a-4', 'a-9')"),
                 1, "the newest (13:04) first");
}

Test(pg_tickets, below_the_minimum_volume_or_the_threshold_nothing_opens)
{
    use_rules(carrier_rule);
    spike("a", 9, 0, "chat");
    cx_pg_result res = write_batch();
    cr_assert_eq(res.tickets_opened, 0);
    /* Now 30 events, but most of them happy: share 9/30. */
    for (int i = 0; i < 21; i++) {
        char id[32];
        snprintf(id, sizeof id, "happy-%d", i);
        add(id, 3, "chat", "the courier was friendly and quick, great service", NULL);
    }
    write_batch();
    cr_assert_eq(q("SELECT sum(events) FROM cx.signals WHERE category = 'external'"), 30);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 0);
}

/* n events about the carrier in one minute (every window holds them all),
 * the first `negative` of them complaints and the rest praise; ids e-0... */
static void carrier_share(int negative, int n)
{
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "e-%d", i);
        add(id, 0, "chat",
            i < negative ? "the courier lost my parcel, terrible service"
                         : "the courier was friendly and quick, great service",
            NULL);
    }
}

/* "negative_share_above": 0.58 means above: 29 of 50 (0.58 exactly, as the
 * threshold reads; 0.58 * 50 is 28.999999999999996) is not enough. */
Test(pg_tickets, a_share_at_the_threshold_opens_nothing_and_one_more_negative_opens_it)
{
    use_rules("[{\"name\": \"carrier-spike\", \"category\": \"external\", \"window_minutes\": 15,"
              "  \"min_events\": 10, \"negative_share_above\": 0.58, \"owner\": \"carriers\"}]");
    carrier_share(29, 50);
    write_batch();
    cr_assert_eq(q("SELECT sum(events) FROM cx.signals WHERE category = 'external'"), 50);
    cr_assert_eq(q("SELECT sum(negative) FROM cx.signals WHERE category = 'external'"), 29);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 0, "29 of 50 is not above 0.58");
    spike("b", 1, 0, "chat");
    cr_assert_eq(write_batch().tickets_opened, 1, "30 of 51 is");
}

/* A reason never shows its figure on the threshold it crossed: where the
 * usual places would (58.8% above 58.8%, 2.20 below 2.2), it has more. */
Test(pg_tickets, a_reason_shows_its_figure_past_the_threshold)
{
    use_rules("[{\"name\": \"carrier-spike\", \"category\": \"external\", \"window_minutes\": 15,"
              "  \"min_events\": 10, \"negative_share_above\": 0.588, \"owner\": \"carriers\"},"
              " {\"name\": \"csat-low\", \"category\": \"facing\", \"min_events\": 4,"
              "  \"avg_rating_below\": 2.2, \"rating_scale\": \"csat\", \"owner\": \"stores\"}]");
    carrier_share(30, 51);        /* 58.82% */
    for (int i = 0; i < 4; i++) { /* an average of 2.196 */
        char id[32];
        snprintf(id, sizeof id, "csat-%d", i);
        add(id, 2, "store", "the agent was rude", "{\"scale\":\"csat\",\"value\":2.196}");
    }
    cr_assert_eq(write_batch().tickets_opened, 2);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE reason LIKE"
                   " 'negative share 58.8235% (30 of 51 events)%above 58.8%'"),
                 1, "the share");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE reason LIKE"
                   " 'average csat rating 2.196 over 4 ratings%below 2.2'"),
                 1, "the average");
}

/* "avg_rating_below": 2.2 means below: an average of exactly 2.2 (55 over
 * 25 ratings; 2.2 * 25 is 55.00000000000001) opens nothing. */
Test(pg_tickets, an_average_at_the_threshold_opens_nothing)
{
    use_rules("[{\"name\": \"csat-low\", \"category\": \"facing\", \"min_events\": 4,"
              "  \"avg_rating_below\": 2.2, \"rating_scale\": \"csat\", \"owner\": \"stores\"}]");
    for (int i = 0; i < 25; i++) { /* 20 of 2 and 5 of 3 */
        char id[32], rating[64];
        snprintf(id, sizeof id, "csat-%d", i);
        snprintf(rating, sizeof rating, "{\"scale\":\"csat\",\"value\":%d}", i < 20 ? 2 : 3);
        add(id, 2, "store", "the agent was rude", rating);
    }
    write_batch();
    cr_assert_eq(q("SELECT sum(csat_count) FROM cx.signals WHERE category = 'facing'"), 25);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 0, "an average of 2.2 is not below 2.2");
    add("csat-25", 2, "store", "the agent was rude", "{\"scale\":\"csat\",\"value\":2}");
    cr_assert_eq(write_batch().tickets_opened, 1, "57 / 26 is below 2.2");
}

/* On ces a higher rating is more effort: "avg_rating_above" fires on hard
 * contacts, and easy ones open nothing. */
Test(pg_tickets, a_ces_rule_fires_on_high_effort_not_on_easy_contacts)
{
    use_rules("[{\"name\": \"ces-hard\", \"category\": \"facing\", \"min_events\": 3,"
              "  \"avg_rating_above\": 5, \"rating_scale\": \"ces\", \"owner\": \"stores\"}]");
    for (int i = 0; i < 3; i++) { /* 10:00-10:02: as easy as it gets */
        char id[32];
        snprintf(id, sizeof id, "easy-%d", i);
        add(id, i, "store", "the agent was rude", "{\"scale\":\"ces\",\"value\":1}");
    }
    write_batch();
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 0, "an average of 1 is not above 5");
    for (int i = 0; i < 3; i++) { /* 10:30-10:32: the most effort there is */
        char id[32];
        snprintf(id, sizeof id, "hard-%d", i);
        add(id, 30 + i, "store", "the agent was rude", "{\"scale\":\"ces\",\"value\":7}");
    }
    cr_assert_eq(write_batch().tickets_opened, 1, "an average of 7 is above 5");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE reason LIKE"
                   " 'average ces rating 7.00 over 3 ratings in the 15 minutes to % UTC, above 5'"),
                 1);
}

Test(pg_tickets, a_spike_outside_the_window_does_not_add_up)
{
    use_rules(carrier_rule);
    spike("early", 6, 0, "chat");  /* 10:00-10:04 */
    write_batch();
    spike("late", 6, 30, "chat");  /* 10:30-10:34: more than 15 minutes later */
    write_batch();
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 0);
    spike("late2", 6, 31, "chat"); /* now 12 within 15 minutes */
    write_batch();
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 1);
}

/* The same events in another order (a slow producer, a partition that lags):
 * the window a late event completes is judged when it arrives, not only the
 * windows that end at the late event's own minute. */
Test(pg_tickets, a_late_event_that_completes_a_window_opens_its_ticket)
{
    use_rules("[{\"name\": \"carrier-5\", \"category\": \"external\", \"window_minutes\": 5,"
              "  \"min_events\": 5, \"negative_share_above\": 0.5, \"owner\": \"carriers\"}]");
    const int minutes[] = {1, 2, 3, 4, 0}; /* 10:01-10:04, then 10:00: one batch each */
    cx_pg_result res = {0};
    for (int i = 0; i < 5; i++) {
        char id[32];
        snprintf(id, sizeof id, "late-%d", minutes[i]);
        add(id, minutes[i], "web", "the courier lost my parcel, terrible service", NULL);
        res = write_batch();
        if (i < 4)
            cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 0, "only %d events yet", i + 1);
    }
    cr_assert_eq(res.tickets_opened, 1, "10:00-10:04 holds 5 negative events of 5");
    /* the ticket counts the window's complaints, and shows them, the batch's first */
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE sample_event_ids = '{late-0, late-4,"
                   " late-3, late-2, late-1}'"),
                 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE event_count = 5 AND reason ="
                   " 'negative share 100.0% (5 of 5 events) in the 5 minutes to"
                   " 2026-11-01 10:05 UTC, above 50.0%'"),
                 1);
}

/* A producer whose clock is years ahead sends one event per batch: it is
 * stored, but it does not move the live edge away from everything real (the
 * real events, 2026-11-01, are in the past of the test's clock). */
Test(pg_tickets, an_event_from_the_future_does_not_stop_detection)
{
    use_rules("[{\"name\": \"carrier-5\", \"category\": \"external\", \"window_minutes\": 5,"
              "  \"min_events\": 5, \"negative_share_above\": 0.5, \"owner\": \"carriers\"}]");
    int opened = 0;
    for (int i = 0; i < 6; i++) { /* 12:00-12:05, each with an event dated 2036 */
        char id[32];
        snprintf(id, sizeof id, "real-%d", i);
        add(id, 120 + i, "web", "the courier lost my parcel, terrible service", NULL);
        snprintf(id, sizeof id, "future-%d", i);
        add_at(id, "2036-11-01T12:00:00Z", "web", "hello", NULL);
        opened += write_batch().tickets_opened;
        if (i == 4)
            cr_assert_eq(opened, 1, "12:00-12:04 holds 5 negative events of 5");
    }
    cr_assert_eq(opened, 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE event_count = 6 AND reason ="
                   " 'negative share 100.0% (5 of 5 events) in the 5 minutes to"
                   " 2026-11-01 12:06 UTC, above 50.0%'"),
                 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE occurred_at >= '2036-01-01'"), 6,
                 "the events from the future are stored");
}

/* Windows in the future are judged as a backlog is: where one batch brings
 * min_events, not from a few events of each of many batches. */
Test(pg_tickets, events_from_the_future_are_judged_as_a_backlog)
{
    use_rules("[{\"name\": \"carrier-5\", \"category\": \"external\", \"window_minutes\": 5,"
              "  \"min_events\": 5, \"negative_share_above\": 0.5, \"owner\": \"carriers\"}]");
    const char *complaint = "the courier lost my parcel, terrible service";
    add_at("f-0", "2036-11-01T12:00:00Z", "web", complaint, NULL);
    add_at("f-1", "2036-11-01T12:01:00Z", "web", complaint, NULL);
    add_at("f-2", "2036-11-01T12:02:00Z", "web", complaint, NULL);
    add_at("f-3", "2036-11-01T12:03:00Z", "web", complaint, NULL);
    write_batch();
    add_at("f-4", "2036-11-01T12:04:00Z", "web", complaint, NULL);
    cr_assert_eq(write_batch().tickets_opened, 0, "one event of the five in this batch");
    for (int i = 0; i < 5; i++) {
        char id[32], when[32];
        snprintf(id, sizeof id, "g-%d", i);
        snprintf(when, sizeof when, "2036-11-02T12:0%d:00Z", i);
        add_at(id, when, "web", complaint, NULL);
    }
    cr_assert_eq(write_batch().tickets_opened, 1, "the five in one batch");
    cr_assert_eq(
        q("SELECT count(*) FROM cx.tickets WHERE reason LIKE '% to 2036-11-02 12:05 UTC%'"), 1);
}

/* A straggler days late, alone in its batch (a phone that was offline, a
 * partition that lagged), is judged against the stream's latest events, as
 * it would be beside them: it neither re-opens an old incident's resolved
 * ticket nor gives the open ticket of today's incident an old window's
 * reason. */
Test(pg_tickets, a_straggler_days_late_neither_reopens_an_old_incident_nor_rewrites_a_reason)
{
    const char *complaint = "the courier lost my parcel, terrible service";
    use_rules(carrier_rule);
    spike("a", 12, 0, "chat"); /* 2026-11-01 10:00-10:04 */
    cr_assert_eq(write_batch().tickets_opened, 1);
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved', resolved_at = now()");
    add_at("today-0", "2026-11-04T10:00:00Z", "chat", "hello", NULL); /* the stream moves on */
    write_batch();
    add("late-1", 3, "chat", complaint, NULL);
    cx_pg_result res = write_batch();
    cr_assert_eq(res.stored, 1);
    cr_assert_eq(res.tickets_opened, 0, "a straggler re-opened an incident of three days ago");
    for (int i = 0; i < 12; i++) { /* today's incident */
        char id[32], when[32];
        snprintf(id, sizeof id, "b-%d", i);
        snprintf(when, sizeof when, "2026-11-04T11:0%d:00Z", i % 5);
        add_at(id, when, "chat", complaint, NULL);
    }
    cr_assert_eq(write_batch().tickets_opened, 1);
    add("late-2", 3, "chat", complaint, NULL);
    res = write_batch();
    cr_assert_eq(res.tickets_opened + res.tickets_updated, 0, "a straggler updated the ticket");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE status = 'open' AND event_count = 12"
                   " AND reason LIKE '% to 2026-11-04 11:05 UTC%'"
                   " AND NOT 'late-2' = ANY (sample_event_ids)"),
                 1);
}

/* `dead-letters replay` knows no partition's place: it goes by where
 * cx.signals has the stream, so a dead letter of days ago, replayed alone,
 * does not re-open its incident either. */
Test(pg_tickets, a_replayed_dead_letter_days_old_does_not_reopen_an_old_incident)
{
    use_rules(carrier_rule);
    spike("a", 12, 0, "chat"); /* 2026-11-01 10:00-10:04 */
    cr_assert_eq(write_batch().tickets_opened, 1);
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved', resolved_at = now()");
    add_at("today-0", "2026-11-04T10:00:00Z", "chat", "hello", NULL);
    write_batch();
    cx_pg *replay = sinktest_sink_replay(url, rules);
    char err[512];
    add("late-1", 3, "chat", "the courier lost my parcel, terrible service", NULL);
    cx_pg_result res;
    cr_assert_eq(cx_pg_write_batch(replay, batch.recs, batch.n, &res, err, sizeof err), CX_OK, "%s",
                 err);
    sinktest_clear(&batch);
    cr_assert_eq(res.stored, 1);
    cr_assert_eq(res.tickets_opened, 0, "a replayed dead letter re-opened an old incident");
    cx_pg_free(replay);
}

/* Windows ending more than 10 minutes after the clock hold events dated
 * ahead of it: they are judged as a backlog is, so one such event beside a
 * window building up now, a complaint per batch, neither fires it early nor
 * becomes the window its ticket reports. */
Test(pg_tickets, a_window_reaching_past_the_clock_is_judged_as_a_backlog)
{
    use_rules(carrier_rule);
    time_t t = time(NULL) / 60 * 60 - 60; /* the minute before this one */
    char when[32], id[32], reason[128];
    time_t ahead = t + 14 * 60; /* 12 to 13 minutes ahead: past the 10 allowed for minutes */
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:00Z", gmtime(&ahead));
    add_at("ahead", when, "chat", "the courier lost my parcel, terrible service", NULL);
    write_batch();
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:00Z", gmtime(&t));
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "now-%d", i);
        add_at(id, when, "chat", "the courier lost my parcel, terrible service", NULL);
        cx_pg_result res = write_batch();
        cr_assert_eq(res.tickets_opened, i == 9, "batch %d of 10 complaints", i + 1);
    }
    time_t end = t + 60;
    strftime(reason, sizeof reason,
             "%% (10 of 10 events) in the 15 minutes to %Y-%m-%d %H:%M UTC%%", gmtime(&end));
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM cx.tickets WHERE reason LIKE '%s'", reason);
    cr_assert_eq(q(sql), 1, "the ticket reports the window up to now: %s", reason);
}

/* "Ahead of the clock" is PostgreSQL's clock's, as every stored time and the
 * live page: with this host's clock two hours behind the database's (a VM
 * resumed with a stale clock), live events, dated by the database's clock,
 * still build up their window, one complaint per batch, and fire at the
 * tenth; and the difference is measured. The database's clock is moved for
 * the sink's sessions by functions that come before pg_catalog's in the
 * search_path its URL names (the only one a session of ours keeps). */
Test(pg_tickets, the_database_s_clock_decides_what_is_ahead_when_this_host_s_is_behind)
{
    cx_test_pg_exec(conn, "CREATE SCHEMA clockshift;"
                          " CREATE FUNCTION clockshift.now() RETURNS timestamptz STABLE"
                          "  LANGUAGE sql AS 'SELECT pg_catalog.now() + interval ''2 hours''';"
                          " CREATE FUNCTION clockshift.clock_timestamp() RETURNS timestamptz"
                          "  VOLATILE LANGUAGE sql"
                          "  AS 'SELECT pg_catalog.clock_timestamp() + interval ''2 hours''';");
    strcat(url, strchr(url, '?') ? "&" : "?");
    strcat(url, "options=-csearch_path%3Dclockshift%2Cpg_catalog");
    use_rules(carrier_rule);                           /* its session starts with the moved clock */
    time_t t = (time(NULL) + 2 * 3600) / 60 * 60 - 60; /* the database's minute before this */
    char when[32], id[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:00Z", gmtime(&t));
    cx_pg_result res;
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "live-%d", i);
        add_at(id, when, "chat", "the courier lost my parcel, terrible service", NULL);
        res = write_batch();
        cr_assert_eq(res.tickets_opened, i == 9, "batch %d of 10 complaints", i + 1);
    }
    cr_assert(res.clock_known, "the clocks were not compared");
    cr_assert(res.clock_skew_s < -7190 && res.clock_skew_s > -7210,
              "this host's clock is %.1f s ahead of the database's, not -7200", res.clock_skew_s);
}

/* Where PUBLIC may create in public (before PostgreSQL 15, and in databases
 * upgraded from it), a function another role puts there that matches a call
 * of ours more closely than the built-in one (to_timestamp(bigint), where
 * pg_catalog's takes double precision) would run in our batches as our role,
 * whatever the database's search_path says: a session of ours looks names up
 * in pg_catalog alone. */
Test(pg_tickets, a_function_planted_in_public_does_not_run_in_a_batch)
{
    cx_test_pg_exec(conn, "CREATE TABLE public.planted_ran (who text);"
                          " CREATE FUNCTION public.to_timestamp(bigint) RETURNS timestamptz"
                          "  LANGUAGE plpgsql AS $$ BEGIN"
                          "  INSERT INTO public.planted_ran VALUES (current_user);"
                          "  RETURN pg_catalog.to_timestamp($1::float8); END $$;"
                          " DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path ="
                          "  \"$user\", public', current_database()); END $$");
    use_rules(carrier_rule);
    spike("a", 12, 0, "chat");
    cr_assert_eq(write_batch().tickets_opened, 1, "the spike opens its ticket");
    cr_assert_eq(q("SELECT count(*) FROM public.planted_ran"), 0,
                 "the function planted in public ran in the batch");
}

/* A backlog read in batches of hours each (a quiet stream after an outage):
 * a spike whose first complaints end one batch and whose others begin the
 * next, too few in either to fire alone, is judged with the stored ones
 * where the partition was: the next batch's latest events are hours later. */
Test(pg_tickets, a_spike_that_straddles_two_backlog_batches_hours_long_opens_its_ticket)
{
    use_rules(carrier_rule);
    char when[32], id[32];
    for (int m = 0; m < 180; m += 10) { /* 07:00-09:50: now and then, praise */
        snprintf(when, sizeof when, "2026-11-01T%02d:%02d:00Z", 7 + m / 60, m % 60);
        snprintf(id, sizeof id, "p-%d", m);
        add_at(id, when, "chat", "the courier was friendly and quick, great job", NULL);
    }
    for (int m = 0; m < 6; m++) { /* 10:00-10:05 */
        snprintf(id, sizeof id, "a-%d", m);
        add(id, m, "chat", "the courier lost my parcel, terrible service", NULL);
    }
    cr_assert_eq(write_batch().tickets_opened, 0, "6 complaints of the rule's 10");
    for (int m = 6; m < 11; m++) { /* 10:06-10:10 */
        snprintf(id, sizeof id, "b-%d", m);
        add(id, m, "chat", "the courier lost my parcel, terrible service", NULL);
    }
    for (int m = 20; m <= 180; m += 10) { /* 10:20-13:00 */
        snprintf(id, sizeof id, "q-%d", m);
        add(id, m, "chat", "the courier was friendly and quick, great job", NULL);
    }
    cr_assert_eq(write_batch().tickets_opened, 1, "11 complaints in 09:56-10:11, over two batches");
}

/* The seam is where partitions that go on from where they were were: a
 * partition quiet for hours whose next event comes now is not one, so a
 * straggler of another partition, hours late, is still judged as a backlog
 * is, and does not complete an old window of stored complaints. */
Test(pg_tickets, a_partition_quiet_for_hours_does_not_make_a_straggler_live)
{
    use_rules(carrier_rule);
    char id[32];
    for (int i = 0; i < 9; i++) { /* partition 0: 9 complaints at 06:20-06:24 */
        snprintf(id, sizeof id, "old-%d", i);
        add_at(id, i < 5 ? "2026-11-01T06:20:00Z" : "2026-11-01T06:24:00Z", "chat",
               "the courier lost my parcel, terrible service", NULL);
    }
    cr_assert_eq(write_batch().tickets_opened, 0, "9 of the rule's 10");
    into_partition = 1;
    add_at("p1-noon", "2026-11-01T12:00:00Z", "chat", "great job, thanks", NULL);
    write_batch();
    into_partition = 0;
    add_at("p0-noon", "2026-11-01T12:00:00Z", "chat", "great job, thanks", NULL);
    into_partition = 1;
    add_at("straggler", "2026-11-01T06:25:00Z", "chat",
           "the courier lost my parcel, terrible service", NULL);
    cx_pg_result res = write_batch();
    into_partition = 0;
    cr_assert_eq(res.tickets_opened, 0, "a straggler hours late opened an old window's ticket");
}

/* The live edge is where the batch's partitions are: a partition read hours
 * behind another (one that lagged, or is read after the others) still sees a
 * spike its batches bring a few events at a time. */
Test(pg_tickets, a_partition_read_hours_behind_another_sees_its_spike_build_up)
{
    use_rules(carrier_rule);
    add_at("ahead-0", "2026-11-01T16:00:00Z", "chat", "hello", NULL); /* partition 0 */
    write_batch();
    into_partition = 1;
    spike("a", 6, 0, "chat"); /* 10:00-10:04, six hours behind partition 0 */
    cr_assert_eq(write_batch().tickets_opened, 0, "6 of the rule's 10");
    spike("b", 6, 0, "chat");
    cr_assert_eq(write_batch().tickets_opened, 1, "12 negative events of 12 in 10:00-10:15");
    into_partition = 0;
}

Test(pg_tickets, after_resolve_a_new_spike_opens_a_second_ticket)
{
    use_rules(carrier_rule);
    spike("a", 12, 0, "chat"); /* 10:00-10:04 */
    write_batch();
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved', resolved_at = now()");
    spike("b", 12, 30, "chat"); /* 10:30-10:34 */
    cx_pg_result res = write_batch();
    cr_assert_eq(res.tickets_opened, 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 2);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE status = 'open' AND event_count = 12"),
                 1);
}

/* Complaints that arrive after the ticket of their incident was resolved,
 * dated inside the window it named (a partition that lagged, an app that
 * was offline), neither open it again nor update it: the owner has dealt
 * with that incident. They count in the signals. */
Test(pg_tickets, late_complaints_of_a_resolved_incident_do_not_open_it_again)
{
    use_rules(carrier_rule);
    spike("a", 12, 0, "chat"); /* 10:00-10:04: the ticket names 09:50-10:05 */
    cr_assert_eq(write_batch().tickets_opened, 1);
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved', resolved_at = now()");
    spike("late", 3, 2, "chat"); /* 10:02-10:04 */
    cx_pg_result res = write_batch();
    cr_assert_eq(res.stored, 3);
    cr_assert_eq(res.tickets_opened + res.tickets_updated, 0,
                 "late complaints opened a resolved incident again");
    cr_assert_eq(res.tickets_held, 1, "the held-back firing is counted");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 1);
    cr_assert_eq(q("SELECT sum(negative) FROM cx.signals WHERE category = 'external'"), 15);
    spike("next", 1, 5, "chat"); /* 10:05: the window up to 10:06 is a later one */
    res = write_batch();
    cr_assert_eq(res.tickets_opened, 1, "a complaint after the window named");
    cr_assert_eq(res.tickets_held, 0);
}

/* The same for an incident that went on over several windows: complaints
 * dated in its first window, which the ticket no longer names, arrive after
 * the resolve (a partition more than the cooldown behind) and do not open
 * it again either. */
Test(pg_tickets, late_complaints_of_an_earlier_window_of_a_resolved_incident_do_not_open_it)
{
    use_rules(carrier_rule);
    spike("a", 12, 0, "chat"); /* 10:00-10:04: the ticket names 09:50-10:05 */
    cr_assert_eq(write_batch().tickets_opened, 1);
    spike("b", 12, 30, "chat"); /* 10:30-10:34: it names 10:20-10:35 */
    cr_assert_eq(write_batch().tickets_updated, 1);
    /* the earliest window that fired: 10 of the 12 by 10:03, 09:49-10:04 */
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE first_window_start ="
                   " '2026-11-01T09:49:00Z' AND window_end = '2026-11-01T10:35:00Z'"),
                 1, "the ticket keeps where its incident began");
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved', resolved_at = now()");
    spike("late", 3, 2, "chat"); /* 10:02-10:04 */
    cx_pg_result res = write_batch();
    cr_assert_eq(res.tickets_opened + res.tickets_updated, 0,
                 "late complaints of the incident's first window opened it again");
    cr_assert_eq(res.tickets_held, 1);
    spike("next", 1, 35, "chat"); /* 10:35: after the incident */
    cr_assert_eq(write_batch().tickets_opened, 1, "a complaint after the incident");
}

/* A ticket opened by an older release (no first_window_start) and fired
 * again by this one keeps where it began: the window it named then. */
Test(pg_tickets, a_ticket_an_older_release_opened_keeps_where_its_incident_began)
{
    use_rules(carrier_rule);
    spike("a", 12, 0, "chat"); /* the ticket names 09:50-10:05 */
    cr_assert_eq(write_batch().tickets_opened, 1);
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET first_window_start = NULL");
    spike("b", 12, 30, "chat"); /* 10:30-10:34 */
    cr_assert_eq(write_batch().tickets_updated, 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"
                   " WHERE first_window_start = '2026-11-01T09:50:00Z'"),
                 1, "the window it named when opened was forgotten");
}

/* A resolved ticket of a window dated years ahead (a producer's clock) holds
 * back no incident before it: only firings that end within a resolved
 * ticket's window are its incident. */
Test(pg_tickets, a_resolved_ticket_dated_ahead_holds_back_no_incident_before_it)
{
    use_rules(carrier_rule);
    for (int i = 0; i < 12; i++) {
        char id[32];
        snprintf(id, sizeof id, "ahead-%d", i);
        add_at(id, "2036-11-02T10:00:00Z", "chat", "the courier lost my parcel, terrible service",
               NULL);
    }
    cr_assert_eq(write_batch().tickets_opened, 1, "a batch's own 12 complaints, dated ahead");
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved', resolved_at = now()");
    spike("now", 12, 0, "chat"); /* 2026-11-01 10:00-10:04 */
    cr_assert_eq(write_batch().tickets_opened, 1, "a real incident was held back");
}

/* Without a cooldown, a resolve holds back nothing later: not even one whose
 * resolved_at is after the batch's transaction began (a resolve committed
 * while the batch was being written: its now() is later than the batch's). */
Test(pg_tickets, without_a_cooldown_a_resolve_during_the_batch_holds_back_nothing_later)
{
    use_rules(carrier_rule);
    spike("a", 12, 0, "chat"); /* 10:00-10:04 */
    cr_assert_eq(write_batch().tickets_opened, 1);
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved',"
                          " resolved_at = now() + interval '1 minute'");
    spike("b", 12, 30, "chat"); /* 10:30-10:34 */
    cr_assert_eq(write_batch().tickets_opened, 1, "held back as if within a cooldown");
}

/* Only what counts toward a window rule fires it: praise in the window that
 * fired neither updates its ticket nor, once that is resolved, opens another
 * for the same figures; a new complaint after it does (no cooldown). */
Test(pg_tickets, praise_in_a_window_that_fired_neither_updates_nor_reopens_its_ticket)
{
    use_rules(carrier_rule);
    spike("a", 12, 0, "chat");
    cr_assert_eq(write_batch().tickets_opened, 1);
    add("p-1", 2, "chat", "the courier was friendly and quick, great job", NULL);
    cx_pg_result res = write_batch();
    cr_assert_eq(q("SELECT count(*) FROM cx.events WHERE event_id = 'p-1'"
                   " AND 'external' = ANY (categories) AND sentiment = 'positive'"),
                 1, "the praise must be in the rule's scope");
    cr_assert_eq(res.tickets_opened + res.tickets_updated, 0, "praise updated the ticket");
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved', resolved_at = now()");
    add("p-2", 3, "chat", "the courier was friendly and quick, great job", NULL);
    res = write_batch();
    cr_assert_eq(res.tickets_opened, 0, "praise opened a ticket for a resolved window");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 1);
    spike("b", 1, 5, "chat");
    cr_assert_eq(write_batch().tickets_opened, 1, "a new complaint after the window");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE status = 'open' AND event_count = 13"), 1,
                 "the window's 13 complaints");
}

/* A share's minimum counts every event: praise that completes a window of
 * complaints opens its ticket, as the same events in the other order do. */
Test(pg_tickets, praise_that_brings_a_window_to_its_minimum_opens_its_ticket_in_either_order)
{
    use_rules(carrier_rule);
    spike("a", 9, 0, "chat");
    cr_assert_eq(write_batch().tickets_opened, 0, "9 events: below the minimum of 10");
    add("p-1", 2, "chat", "the courier was friendly and quick, great job", NULL);
    cx_pg_result res = write_batch();
    cr_assert_eq(res.tickets_opened, 1, "9 of 10 negative in the window");
    /* opened by praise, it still counts and shows the window's complaints */
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE reason LIKE"
                   " 'negative share 90.0% (9 of 10 events)%' AND event_count = 9"
                   " AND cardinality(sample_event_ids) = 9"
                   " AND sample_event_ids <@ (SELECT array_agg(event_id) FROM cx.events"
                   "                          WHERE sentiment = 'negative')"),
                 1);
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved', resolved_at = now()");
    add("p-2", 62, "chat", "the courier was friendly and quick, great job", NULL);
    write_batch();
    spike("b", 9, 60, "chat");
    cr_assert_eq(write_batch().tickets_opened, 1, "the same events, praise first");
}

/* The same for an average-rating rule: a rating at or above its threshold
 * into a window already below it fires nothing; one below it does, and so
 * does a high one that brings the window to its minimum of ratings. */
Test(pg_tickets, a_high_rating_fires_an_average_rule_only_by_completing_its_window)
{
    use_rules("[{\"name\": \"csat-low\", \"category\": \"facing\", \"min_events\": 5,"
              "  \"avg_rating_below\": 3, \"rating_scale\": \"csat\", \"owner\": \"stores\"}]");
    static const char low[] = "{\"scale\":\"csat\",\"value\":1}",
                      high[] = "{\"scale\":\"csat\",\"value\":5}",
                      two[] = "{\"scale\":\"csat\",\"value\":2}";
    for (int i = 0; i < 4; i++) {
        char id[32];
        snprintf(id, sizeof id, "low-%d", i);
        add(id, 1, "store", "the agent was rude", low);
    }
    cr_assert_eq(write_batch().tickets_opened, 0, "4 ratings: below the minimum of 5");
    add("high-1", 2, "store", "the agent was rude", high);
    cr_assert_eq(write_batch().tickets_opened, 1, "the fifth rating completes the window");
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved', resolved_at = now()");
    add("high-2", 3, "store", "the agent was rude", high);
    cx_pg_result res = write_batch();
    cr_assert_eq(res.tickets_opened + res.tickets_updated, 0,
                 "a high rating into a window already below the threshold");
    add("two-1", 4, "store", "the agent was rude", two);
    cr_assert_eq(write_batch().tickets_opened, 1, "a rating below the threshold");
}

Test(pg_tickets, a_cooldown_holds_back_a_new_ticket_after_resolve)
{
    use_rules("[{\"name\": \"carrier-spike\", \"category\": \"external\", \"min_events\": 10,"
              "  \"negative_share_above\": 0.5, \"owner\": \"carriers\","
              "  \"cooldown_minutes\": 60}]");
    spike("a", 12, 0, "chat");
    write_batch();
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved', resolved_at = now()");
    spike("b", 12, 20, "chat");
    cr_assert_eq(write_batch().tickets_held, 1, "the firing within the cooldown is counted");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 1, "within the cooldown");
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET resolved_at = now() - interval '61 minutes'");
    spike("c", 12, 40, "chat");
    write_batch();
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE status = 'open'"), 1,
                 "after the cooldown");
}

Test(pg_tickets, a_channel_scope_counts_only_that_channel)
{
    use_rules("[{\"name\": \"chat-carriers\", \"category\": \"external\", \"channel\": \"chat\","
              "  \"min_events\": 10, \"negative_share_above\": 0.5, \"owner\": \"carriers\"}]");
    spike("phone", 20, 0, "phone");
    write_batch();
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 0);
    spike("chat", 10, 0, "chat");
    write_batch();
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE scope = 'channel=chat'"
                   " AND event_count = 10"),
                 1);
}

Test(pg_tickets, an_average_rating_rule_fires_on_its_scale_only)
{
    use_rules("[{\"name\": \"csat-low\", \"category\": \"facing\", \"min_events\": 5,"
              "  \"avg_rating_below\": 3, \"rating_scale\": \"csat\", \"owner\": \"stores\"}]");
    for (int i = 0; i < 6; i++) {
        char id[32];
        snprintf(id, sizeof id, "nps-%d", i);
        add(id, 1, "store", "the agent was rude", "{\"scale\":\"nps\",\"value\":1}");
    }
    write_batch();
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 0, "nps ratings are not csat");
    for (int i = 0; i < 6; i++) {
        char id[32];
        snprintf(id, sizeof id, "csat-%d", i);
        add(id, 2, "store", "the agent was rude", i < 4 ? "{\"scale\":\"csat\",\"value\":1}"
                                                        : "{\"scale\":\"csat\",\"value\":5}");
    }
    write_batch();
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE owner = 'stores' AND"
                   " reason LIKE 'average csat rating 2.33 over 6 ratings%'"),
                 1);
}

Test(pg_tickets, an_event_rule_opens_one_ticket_per_stream_not_per_event)
{
    use_rules("[{\"name\": \"detractor-carrier\", \"on\": \"event\", \"category\": \"external\","
              "  \"rating_scale\": \"nps\", \"rating_below\": 7, \"owner\": \"vendors\"}]");
    const char *detractor = "{\"scale\":\"nps\",\"value\":2}";
    add("d1", 0, "survey", "the courier lost my parcel", detractor);
    add("d2", 0, "survey", "the courier lost my parcel", detractor);
    add("ok", 0, "survey", "the courier lost my parcel", "{\"scale\":\"nps\",\"value\":9}");
    add("other", 0, "survey", "the agent was rude", detractor);
    cx_pg_result res = write_batch();
    cr_assert_eq(res.tickets_opened, 1);
    add("none", 1, "survey", "fine", NULL);
    write_batch();
    add("d3", 2, "survey", "the carrier damaged the box", detractor);
    write_batch();
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 1);
    cr_assert_eq(q("SELECT event_count FROM cx.tickets"), 3);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE sample_event_ids = '{d3,d1,d2}'"
                   " OR sample_event_ids = '{d3,d2,d1}'"),
                 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE window_start IS NULL"
                   " AND window_end IS NULL"),
                 1, "an event rule names no window");
}

/* An event rule is about what is happening: a straggler dated weeks before
 * where its partition is (a backfill, a replayed dead letter, a phone that
 * was offline) is stored but pages nobody; the reason says when the newest
 * matching event happened. */
Test(pg_tickets, an_event_rule_ignores_stragglers_and_says_when_its_events_happened)
{
    use_rules("[{\"name\": \"detractor-carrier\", \"on\": \"event\", \"category\": \"external\","
              "  \"rating_scale\": \"nps\", \"rating_below\": 7, \"owner\": \"vendors\"}]");
    const char *detractor = "{\"scale\":\"nps\",\"value\":2}";
    add("now", 30, "survey", "fine", NULL); /* the partition is at 10:30 */
    write_batch();
    add_at("old", "2026-10-01T09:00:00Z", "survey", "the courier lost my parcel", detractor);
    cx_pg_result res = write_batch();
    cr_assert_eq(res.stored, 1);
    cr_assert_eq(res.tickets_opened, 0, "a straggler of October opened a ticket");
    cr_assert_eq(res.tickets_history, 1, "the straggler the rule matched is not counted");
    add("d1", 31, "survey", "the courier lost my parcel", detractor);
    add("d2", 34, "survey", "the courier lost my parcel", detractor);
    res = write_batch();
    cr_assert_eq(res.tickets_opened, 1);
    cr_assert_eq(res.tickets_history, 0, "live events counted as history");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE event_count = 2 AND reason LIKE"
                   " '%: 2 matching event(s) arrived (the newest dated 2026-11-01 10:34 UTC)'"),
                 1);
}

/* An RFC 3339 time `minutes` before the clock, whole minutes. */
static void minutes_ago(int minutes, char *out, size_t outlen)
{
    time_t t = time(NULL) - (time_t)minutes * 60;
    t -= t % 60;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* n complaints about the carrier, ids prefix-0.., dated `minutes` before the
 * clock (negative: ahead of it), on chat. */
static void complaints_ago(const char *prefix, int n, int minutes)
{
    char when[32], id[64];
    minutes_ago(minutes, when, sizeof when);
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "%s-%d", prefix, i);
        add_at(id, when, "chat", "the courier lost my parcel, terrible service", NULL);
    }
}

/* A carrier spike rule and an event rule for every complaint, with
 * tickets.max_age_minutes a day. */
static void use_carrier_rules_with_a_day_of_age(void)
{
    char err[512];
    json_t *j = json_loads(
        "[{\"name\": \"carrier-spike\", \"category\": \"external\", \"window_minutes\": 15,"
        "  \"min_events\": 10, \"negative_share_above\": 0.5, \"owner\": \"carriers\"},"
        " {\"name\": \"each-complaint\", \"on\": \"event\", \"category\": \"external\","
        "  \"sentiment\": \"negative\", \"owner\": \"carriers\"}]",
        0, NULL);
    cr_assert_eq(cx_ticket_rules_new(&rules, j, 60, err, sizeof err), CX_OK, "%s", err);
    json_decref(j);
    cx_pg_options o = sinktest_options(url);
    o.ticket_rules = rules;
    o.ticket_max_age_seconds = 24 * 3600;
    cr_assert_eq(cx_pg_new(&pg, &o, err, sizeof err), CX_OK, "%s", err);
}

/* A reason reads as a sentence for a window of one minute too. */
Test(pg_tickets, a_one_minute_window_is_the_minute_in_the_reason)
{
    use_rules("[{\"name\": \"carrier-minute\", \"category\": \"external\","
              "  \"window_minutes\": 1, \"min_events\": 5, \"negative_share_above\": 0.5,"
              "  \"owner\": \"carriers\"}]");
    for (int i = 0; i < 6; i++) {
        char id[32];
        snprintf(id, sizeof id, "m-%d", i);
        add(id, 0, "chat", "the courier lost my parcel, terrible service", NULL);
    }
    cr_assert_eq(write_batch().tickets_opened, 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE reason = 'negative share 100.0%"
                   " (6 of 6 events) in the minute to 2026-11-01 10:01 UTC, above 50.0%'"),
                 1);
}

/* quiet_before is how long the rule had not fired, in event time. With hourly
 * signal windows and a rule of an hour, a complaint a minute from 10:50 to
 * 11:09, stored in two batches, fires for the window to 11:00 and then for
 * the one to 12:00: the rule never fell quiet, and chat must not hear "fired
 * again after 1 h quiet" of it. */
Test(pg_tickets, an_incident_going_on_across_hourly_windows_is_not_called_quiet)
{
    char err[512];
    json_t *j = json_loads("[{\"name\": \"carrier-hour\", \"category\": \"external\","
                           "  \"window_minutes\": 60, \"min_events\": 5,"
                           "  \"negative_share_above\": 0.5, \"owner\": \"carriers\"}]",
                           0, NULL);
    cr_assert_eq(cx_ticket_rules_new(&rules, j, 3600, err, sizeof err), CX_OK, "%s", err);
    json_decref(j);
    static const int hourly[] = {3600};
    cx_pg_options o = sinktest_options(url);
    o.window_seconds = hourly;
    o.ticket_rules = rules;
    cr_assert_eq(cx_pg_new(&pg, &o, err, sizeof err), CX_OK, "%s", err);
    char id[32];
    for (int m = 50; m < 70; m++) {
        snprintf(id, sizeof id, "c-%d", m);
        add(id, m, "chat", "the courier lost my parcel, terrible service", NULL);
        if (m == 59)
            cr_assert_eq(write_batch().tickets_opened, 1, "10:50-10:59 opens the ticket");
    }
    cr_assert_eq(write_batch().tickets_updated, 1, "11:00-11:09 fires it again");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE window_end = '2026-11-01T12:00:00Z'"
                   " AND quiet_before = interval '0'"),
                 1, "the ticket says its rule was quiet before the window to 12:00");
}

/* An event dated days ahead (a producer's clock) fires an event rule like
 * any other, but its date does not stick to the ticket: fired_event_at stops
 * ten minutes after the clock, so the firings after it are measured from
 * there and not called quiet, or not, by a date still to come. */
Test(pg_tickets, an_event_dated_days_ahead_does_not_stick_to_its_ticket)
{
    use_carrier_rules_with_a_day_of_age();
    char when[32];
    minutes_ago(180, when, sizeof when);
    add_at("then", when, "chat", "the courier lost my parcel, terrible service", NULL);
    cr_assert_eq(write_batch().tickets_opened, 1);
    minutes_ago(-2 * 24 * 60, when, sizeof when);
    add_at("ahead", when, "chat", "the courier lost my parcel, terrible service", NULL);
    cx_pg_result res = write_batch();
    cr_assert_eq(res.tickets_updated, 1, "the event dated ahead fires the rule");
    cr_assert_eq(res.dated_ahead, 1, "the event dated ahead is not counted as such");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE rule = 'each-complaint'"
                   " AND fired_event_at <= now() + interval '10 minutes'"
                   " AND quiet_before BETWEEN interval '170 minutes' AND interval '200 minutes'"),
                 1, "the date ahead stuck to the ticket, or its quiet is not until the clock");
    minutes_ago(0, when, sizeof when);
    add_at("now", when, "chat", "the courier lost my parcel, terrible service", NULL);
    cr_assert_eq(write_batch().tickets_updated, 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE rule = 'each-complaint'"
                   " AND quiet_before = interval '0'"),
                 1, "a firing just after another was called quiet");
}

/* A window rule's ticket that fired for a window dated an hour ahead (a
 * producer writing local time as UTC) names the next real window that fires,
 * although it is earlier: the window ahead does not stick to it. */
Test(pg_tickets, a_window_dated_ahead_gives_way_to_the_next_real_one)
{
    use_carrier_rules_with_a_day_of_age();
    complaints_ago("ahead", 12, -65);
    cr_assert_eq(write_batch().tickets_opened, 2, "the batch's own complaints, an hour ahead");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE rule = 'carrier-spike'"
                   " AND window_end > now() + interval '1 hour'"),
                 1);
    complaints_ago("now", 12, 1);
    write_batch();
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE rule = 'carrier-spike'"
                   " AND window_end <= now() + interval '10 minutes'"
                   " AND first_window_start <= now() - interval '10 minutes'"),
                 1, "the ticket still names the window ahead");
}

/* A resolved ticket that last named a window dated hours ahead (a producer's
 * clock) holds back no incident after its resolve: what it held is the
 * incident the owner dealt with, up to when they did. */
Test(pg_tickets, a_resolved_ticket_that_named_a_window_ahead_holds_back_no_later_incident)
{
    use_carrier_rules_with_a_day_of_age();
    complaints_ago("then", 12, 120);
    write_batch();
    complaints_ago("ahead", 12, -300);
    write_batch();
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE rule = 'carrier-spike'"
                   " AND window_end > now() + interval '4 hours'"),
                 1, "the window ahead is not the ticket's: this test tells nothing");
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved',"
                          " resolved_at = now() - interval '30 minutes'");
    complaints_ago("now", 12, 1);
    write_batch();
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE rule = 'carrier-spike'"
                   " AND status = 'open'"),
                 1, "a new incident was held back by the window ahead");
}

/* tickets.max_age_minutes: a topic's history read by a first deployment, a
 * new group or a backfill (months of it, spikes and all) opens no ticket
 * and pages nobody about incidents long over, window rules and event rules
 * alike, while its events still count in the signals; the same spike
 * within the age opens its tickets. */
Test(pg_tickets, history_older_than_the_tickets_max_age_opens_no_ticket_and_still_counts)
{
    use_carrier_rules_with_a_day_of_age();
    char when[32], id[32];
    for (int i = 0; i < 12; i++) { /* a spike two days ago, read now */
        minutes_ago(48 * 60 + 10 - i % 5, when, sizeof when);
        snprintf(id, sizeof id, "old-%d", i);
        add_at(id, when, "chat", "the courier lost my parcel, terrible service", NULL);
    }
    cx_pg_result res = write_batch();
    cr_assert_eq(res.stored, 12);
    cr_assert_eq(res.tickets_opened + res.tickets_updated, 0, "history opened a ticket");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 0);
    cr_assert_eq(q("SELECT sum(negative) FROM cx.signals WHERE category = 'external'"), 12,
                 "history is not in the signals");
    for (int i = 0; i < 12; i++) { /* the same within the day */
        minutes_ago(23 * 60 + 10 - i % 5, when, sizeof when);
        snprintf(id, sizeof id, "new-%d", i);
        add_at(id, when, "chat", "the courier lost my parcel, terrible service", NULL);
    }
    res = write_batch();
    cr_assert_eq(res.tickets_opened, 2);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE rule = 'carrier-spike'"
                   " AND event_count = 12"),
                 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE rule = 'each-complaint'"
                   " AND event_count = 12"),
                 1);
}

/* A batch of history only has no ticket rule to judge: it takes no turn of
 * the rules' lock, so a backfill's writers and processes do not wait for each
 * other, nor for a batch of live events holding the turn. */
Test(pg_tickets, a_batch_of_history_takes_no_turn_of_the_ticket_rules)
{
    use_carrier_rules_with_a_day_of_age();
    /* another writer's turn, held (the sink's lock_timeout is 30 s) */
    cx_test_pg_exec(conn, "SELECT pg_advisory_lock(7512860309426239849)");
    char when[32], id[32];
    for (int i = 0; i < 12; i++) { /* a spike two days ago */
        minutes_ago(48 * 60 + 10 - i % 5, when, sizeof when);
        snprintf(id, sizeof id, "old-%d", i);
        add_at(id, when, "chat", "the courier lost my parcel, terrible service", NULL);
    }
    int64_t t0 = cx_now_mono_us();
    cx_pg_result res = write_batch(); /* fails (lock timeout) if it waits for the turn */
    cr_assert_eq(res.stored, 12);
    cr_assert_lt(cx_now_mono_us() - t0, 10 * 1000000LL, "the history batch waited its turn");
    cx_test_pg_exec(conn, "SELECT pg_advisory_unlock(7512860309426239849)");
    for (int i = 0; i < 12; i++) { /* and a live one, in its turn */
        minutes_ago(10 - i % 5, when, sizeof when);
        snprintf(id, sizeof id, "new-%d", i);
        add_at(id, when, "chat", "the courier lost my parcel, terrible service", NULL);
    }
    res = write_batch();
    cr_assert_eq(res.tickets_opened, 2);
}

/* A partition read hours behind another in the same batches (a rebalance,
 * a catch-up) is not a straggler: its matching events in order all count. */
Test(pg_tickets, an_event_rule_counts_a_lagging_partition_s_events)
{
    use_rules("[{\"name\": \"detractor-carrier\", \"on\": \"event\", \"category\": \"external\","
              "  \"rating_scale\": \"nps\", \"rating_below\": 7, \"owner\": \"vendors\"}]");
    const char *detractor = "{\"scale\":\"nps\",\"value\":2}";
    for (int b = 0; b < 3; b++) {
        char id[16];
        into_partition = 0;
        snprintf(id, sizeof id, "ahead-%d", b);
        add(id, 180 + b, "survey", "fine", NULL); /* 13:00 */
        into_partition = 1;
        snprintf(id, sizeof id, "behind-%d", b);
        add(id, 40 + b, "survey", "the courier lost my parcel", detractor); /* 10:40 */
        write_batch();
    }
    into_partition = 0;
    cr_assert_eq(q("SELECT event_count FROM cx.tickets WHERE rule = 'detractor-carrier'"), 3);
}

Test(pg_tickets, a_replayed_batch_counts_nothing_twice)
{
    use_rules(carrier_rule);
    spike("a", 12, 0, "chat");
    write_batch();
    next_offset = 0; /* the same messages again, e.g. after a lost COMMIT acknowledgement */
    spike("a", 12, 0, "chat");
    cx_pg_result res = write_batch();
    cr_assert_eq(res.skipped, 12);
    cr_assert_eq(q("SELECT event_count FROM cx.tickets"), 12);
    /* The same event_ids at new offsets (a producer retry): duplicates, not news. */
    spike("a", 12, 0, "chat");
    res = write_batch();
    cr_assert_eq(res.duplicates, 12);
    cr_assert_eq(q("SELECT event_count FROM cx.tickets"), 12);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 1);
}

/* The next notification the listener gets within 5 s, or NULL. */
static PGnotify *next_notification(PGconn *listener)
{
    PGnotify *n = NULL;
    for (int i = 0; i < 50 && n == NULL; i++) {
        PQconsumeInput(listener);
        if ((n = PQnotifies(listener)) != NULL)
            break;
        int fd = PQsocket(listener);
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fd, &fds);
        struct timeval tv = {0, 100000};
        select(fd + 1, &fds, NULL, NULL, &tv);
    }
    return n;
}

Test(pg_tickets, listeners_get_the_opened_ticket_after_commit)
{
    use_rules(carrier_rule);
    PGconn *listener = cx_test_pg_connect(url);
    cx_test_pg_exec(listener, "LISTEN cx_tickets");
    spike("a", 12, 0, "chat");
    write_batch();
    PGnotify *n = next_notification(listener);
    cr_assert_not_null(n, "no notification within 5 s");
    cr_assert_str_eq(n->relname, "cx_tickets");
    json_t *j = json_loads(n->extra, 0, NULL);
    cr_assert_not_null(j, "payload is not JSON: %s", n->extra);
    cr_assert_eq(json_integer_value(json_object_get(j, "ticket_id")),
                 q("SELECT ticket_id FROM cx.tickets"));
    cr_assert_str_eq(json_string_value(json_object_get(j, "rule")), "carrier-spike");
    cr_assert_str_eq(json_string_value(json_object_get(j, "category")), "external");
    cr_assert_str_eq(json_string_value(json_object_get(j, "scope")), "");
    cr_assert_str_eq(json_string_value(json_object_get(j, "owner")), "carriers");
    cr_assert(strstr(json_string_value(json_object_get(j, "reason")), "negative share") != NULL);
    json_decref(j);
    PQfreemem(n);
    /* An update is not news: no second notification. A sentinel sent after
     * the update committed arrives after anything the update sent. */
    spike("b", 3, 1, "chat");
    cr_assert_eq(write_batch().tickets_updated, 1);
    cx_test_pg_exec(conn, "NOTIFY cx_tickets, 'sentinel'");
    n = next_notification(listener);
    cr_assert_not_null(n, "the sentinel did not arrive");
    cr_assert_str_eq(n->extra, "sentinel", "the update notified listeners");
    PQfreemem(n);
    PQfinish(listener);
}

/* Runs `cxpulse tickets ARGS --pg URL` and returns its stdout (static buffer) and status. */
static const char *tickets_cmd(const char *args, int *status)
{
    static char out[8192];
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s tickets %s --pg '%s' 2>&1", cx_test_bin(), args, url);
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

/* `tickets show` gives an owner the ticket with what it is about: each
 * sample event's text, tags and evidence, in the ticket's order. */
Test(pg_tickets, show_prints_a_ticket_with_its_sample_events)
{
    use_rules(carrier_rule);
    spike("a", 12, 0, "chat");
    write_batch();
    long long id = q("SELECT ticket_id FROM cx.tickets");
    char args[64];
    int st;
    snprintf(args, sizeof args, "show %lld --json", id);
    const char *out = tickets_cmd(args, &st);
    cr_assert_eq(st, 0, "%s", out);
    json_t *t = json_loads(out, 0, NULL);
    cr_assert_not_null(t, "%s", out);
    const json_t *samples = json_object_get(t, "samples"),
                 *ids = json_object_get(t, "sample_event_ids");
    cr_assert_eq(json_array_size(samples), 10, "%s", out);
    for (size_t i = 0; i < json_array_size(samples); i++) {
        const json_t *s = json_array_get(samples, i);
        cr_assert_str_eq(json_string_value(json_object_get(s, "event_id")),
                         json_string_value(json_array_get(ids, i)), "in the ticket's order");
        cr_assert_str_eq(json_string_value(json_object_get(s, "body")),
                         "the courier lost my parcel, terrible service");
        cr_assert_str_eq(json_string_value(json_object_get(s, "sentiment")), "negative");
        cr_assert_gt(json_array_size(json_object_get(s, "evidence")), 0);
    }
    json_decref(t);
    snprintf(args, sizeof args, "show %lld", id);
    out = tickets_cmd(args, &st);
    cr_assert_eq(st, 0, "%s", out);
    cr_assert(strstr(out, "reason: negative share 100.0% (12 of 12 events)") != NULL &&
                  strstr(out, "window 2026-11-01T09:50:00Z to 2026-11-01T10:05:00Z") != NULL &&
                  strstr(out, "samples (10, the latest firing's first):") != NULL &&
                  strstr(out, "\n    the courier lost my parcel, terrible service\n") != NULL,
              "%s", out);
}

Test(pg_tickets, owners_list_acknowledge_and_resolve_from_the_command_line)
{
    use_rules("[{\"name\": \"carrier-spike\", \"category\": \"external\", \"min_events\": 10,"
              "  \"negative_share_above\": 0.5, \"owner\": \"carriers\"},"
              " {\"name\": \"chat-carriers\", \"category\": \"external\", \"channel\": \"chat\","
              "  \"min_events\": 10, \"negative_share_above\": 0.5, \"owner\": \"chat-team\"}]");
    spike("a", 12, 0, "chat");
    write_batch();
    long long id = q("SELECT ticket_id FROM cx.tickets WHERE owner = 'carriers'");
    int st;
    const char *out = tickets_cmd("list", &st);
    cr_assert_eq(st, 0, "%s", out);
    cr_assert(strstr(out, "carriers") && strstr(out, "chat-team") && strstr(out, "open"), "%s",
              out);
    out = tickets_cmd("list --owner carriers --json", &st);
    cr_assert_eq(st, 0, "%s", out);
    json_t *a = json_loads(out, 0, NULL);
    cr_assert(json_is_array(a) && json_array_size(a) == 1, "%s", out);
    json_t *t = json_array_get(a, 0);
    cr_assert_eq(json_integer_value(json_object_get(t, "ticket_id")), id);
    cr_assert_str_eq(json_string_value(json_object_get(t, "status")), "open");
    cr_assert_eq(json_integer_value(json_object_get(t, "event_count")), 12);
    cr_assert_eq(json_array_size(json_object_get(t, "sample_event_ids")), 10);
    cr_assert_str_eq(json_string_value(json_object_get(t, "window_start")), "2026-11-01T09:50:00Z");
    cr_assert_str_eq(json_string_value(json_object_get(t, "window_end")), "2026-11-01T10:05:00Z",
                     "the window the reason names, in UTC: %s",
                     json_string_value(json_object_get(t, "reason")));
    json_decref(a);

    char args[64];
    snprintf(args, sizeof args, "ack %lld", id);
    out = tickets_cmd(args, &st);
    cr_assert_eq(st, 0, "%s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE status = 'acknowledged'"), 1);
    out = tickets_cmd("list --status acknowledged --json", &st);
    a = json_loads(out, 0, NULL);
    cr_assert_eq(json_array_size(a), 1, "%s", out);
    json_decref(a);

    snprintf(args, sizeof args, "resolve %lld", id);
    out = tickets_cmd(args, &st);
    cr_assert_eq(st, 0, "%s", out);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE status = 'resolved'"
                   " AND resolved_at IS NOT NULL"),
                 1);
    out = tickets_cmd("list --owner carriers --json", &st);
    a = json_loads(out, 0, NULL);
    cr_assert_eq(json_array_size(a), 0, "resolved tickets are not listed by default: %s", out);
    json_decref(a);
    out = tickets_cmd("list --status all --json", &st);
    a = json_loads(out, 0, NULL);
    cr_assert_eq(json_array_size(a), 2, "%s", out);
    json_decref(a);

    out = tickets_cmd("resolve 999999", &st);
    cr_assert_eq(st, 1);
    cr_assert(strstr(out, "no ticket 999999") != NULL, "%s", out);
    out = tickets_cmd("show 999999", &st);
    cr_assert_eq(st, 1);
    cr_assert(strstr(out, "no ticket 999999") != NULL, "%s", out);
    out = tickets_cmd("ack nope", &st);
    cr_assert_eq(st, 2, "%s", out);
}

/* `cxpulse tickets ARGS`, as sinktest_cmd_split() runs it. */
static int tickets_split(const char *args, size_t *lines, json_t **json, char *errs, size_t errlen)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tickets %s", args);
    return sinktest_cmd_split(url, cmd, lines, json, errs, errlen);
}

/* More tickets than a list shows: it says so, and --limit shows more; the
 * list is never cut short without a word. */
Test(pg_tickets, a_list_cut_short_says_so_and_limit_shows_more)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner, opened_at)"
                          " SELECT 'rule-' || i, 'external', 'carriers',"
                          " timestamptz '2026-11-01 00:00Z' + i * interval '1 minute'"
                          " FROM generate_series(1, 1003) i");
    size_t lines;
    json_t *a;
    char errs[1024];
    sinktest_assert_cut_short(url, "tickets list", "tickets", 1000, 1003);
    cr_assert_eq(tickets_split("list --limit 1 --json", &lines, &a, errs, sizeof errs), 0, "%s",
                 errs);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(a, 0), "rule")), "rule-1003",
                     "newest first");
    json_decref(a);

    cr_assert_eq(tickets_split("list --limit 0", &lines, &a, errs, sizeof errs), 2);
    cr_assert(strstr(errs, "--limit") != NULL, "%s", errs);
    cr_assert_eq(tickets_split("ack 1 --limit 5", &lines, &a, errs, sizeof errs), 2);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE status = 'open'"), 1003);
}

/* The same for the outbox: `notifications list` shows 100 by default and
 * says when more match, filters included. */
Test(pg_tickets, a_notifications_list_cut_short_says_so_and_limit_shows_more)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner)"
                          " SELECT 'rule-' || i, 'external', 'carriers'"
                          " FROM generate_series(1, 103) i");
    cx_test_pg_exec(conn, "UPDATE cx.notifications SET status = 'sent'"
                          " WHERE ticket_id IN (SELECT ticket_id FROM cx.tickets"
                          " ORDER BY ticket_id LIMIT 2)");
    sinktest_assert_cut_short(url, "notifications list", "notifications", 100, 103);
    size_t lines;
    json_t *a;
    char errs[1024];
    /* the count is of what the filter matches */
    cr_assert_eq(sinktest_cmd_split(url, "notifications list --status pending --limit 100", &lines,
                                    &a, errs, sizeof errs),
                 0, "%s", errs);
    cr_assert(strstr(errs, "showing 100 of 101 notifications") != NULL, "not told: \"%s\"", errs);
    cr_assert_eq(
        sinktest_cmd_split(url, "notifications list --status sent", &lines, &a, errs, sizeof errs),
        0, "%s", errs);
    cr_assert_eq(lines, 1 + 2);
    cr_assert_str_eq(errs, "", "every sent notification is shown");
}

/* Three complaints a minute on chat for 75 minutes from day at hour h (45
 * per 15 minutes, the usual), then thirty a minute for 5: a spike, judged
 * against the hours before it, whatever the date. With `email`, the rule
 * watches chat only and thirty a minute come by e-mail all along, which
 * must not count. */
static void spike_over_usual(const char *day, int h, int email)
{
    use_rules(
        email ? "[{\"name\": \"carrier-spike\", \"category\": \"external\","
                "  \"channel\": \"chat\", \"min_events\": 10, \"negative_spike_ratio\": 3,"
                "  \"baseline_hours\": 2, \"owner\": \"carriers\"}]"
              : "[{\"name\": \"carrier-spike\", \"category\": \"external\", \"min_events\": 10,"
                "  \"negative_spike_ratio\": 3, \"baseline_hours\": 2, \"owner\": \"carriers\"}]");
    for (int m = 0; m < 80; m++) {
        if (m == 75) {
            write_batch();
            cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 0,
                         "a steady level, however negative, is not a spike");
        }
        for (int k = 0; k < (m < 75 ? 3 : 30); k++) {
            char id[32], when[32];
            snprintf(id, sizeof id, "%s-%d-%d", m < 75 ? "usual" : "spike", m, k);
            snprintf(when, sizeof when, "%sT%02d:%02d:00Z", day, h + m / 60, m % 60);
            add_at(id, when, "chat", "the courier lost my parcel, terrible service", NULL);
        }
        for (int k = 0; email && k < 30; k++) {
            char id[32], when[32];
            snprintf(id, sizeof id, "email-%d-%d", m, k);
            snprintf(when, sizeof when, "%sT%02d:%02d:00Z", day, h + m / 60, m % 60);
            add_at(id, when, "email", "the courier lost my parcel, terrible service", NULL);
        }
    }
    cx_pg_result res = write_batch();
    cr_assert_eq(res.tickets_opened, 1);
    /* the window h:05-h:19 of the next hour, against the usual of the hours
     * before it: h:00 to h+1:04 */
    char reason[256];
    snprintf(reason, sizeof reason,
             "SELECT count(*) FROM cx.tickets WHERE owner = 'carriers' AND reason ="
             " '180 negative events in the 15 minutes to %s %02d:20 UTC, 4.0 times"
             " the usual 45.0 (the 1.1 hours before)' AND event_count = 180",
             day, h + 1);
    cr_assert_eq(q(reason), 1);
}

Test(pg_tickets, a_spike_rule_fires_on_many_times_the_usual_negative_volume_only)
{
    spike_over_usual("2026-11-01", 10, 0);
}

Test(pg_tickets, a_spike_rule_fires_the_same_before_1970)
{
    spike_over_usual("1969-12-31", 22, 0); /* window starts below 0 s since the epoch */
}

Test(pg_tickets, a_spike_rule_on_one_channel_counts_that_channel_only)
{
    spike_over_usual("2026-11-01", 10, 1);
}

/* "negative_spike_ratio": 1.16 means more than: 29 negative events in 15
 * minutes against 100 in the hour before is 1.16 times the usual (1.16 *
 * 100 * 900 rounds to 104399.99999999999, under 29 * 3600), not a spike;
 * one more is. */
Test(pg_tickets, a_spike_at_the_ratio_opens_nothing_and_one_more_negative_opens_it)
{
    use_rules("[{\"name\": \"carrier-spike\", \"category\": \"external\", \"window_minutes\": 15,"
              "  \"min_events\": 5, \"negative_spike_ratio\": 1.16, \"baseline_hours\": 1,"
              "  \"owner\": \"carriers\"}]");
    for (int m = 0; m < 60; m++) /* 10:00-10:59: 100 negative events, some every minute */
        for (int k = 0; k < (m < 40 ? 2 : 1); k++) {
            char id[32];
            snprintf(id, sizeof id, "usual-%d-%d", m, k);
            add(id, m, "chat", "the courier lost my parcel, terrible service", NULL);
        }
    for (int i = 0; i < 29; i++) { /* 11:00-11:14 */
        char id[32];
        snprintf(id, sizeof id, "spike-%d", i);
        add(id, 60 + i % 15, "chat", "the courier lost my parcel, terrible service", NULL);
    }
    write_batch();
    cr_assert_eq(q("SELECT sum(negative) FROM cx.signals WHERE category = 'external'"), 129);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 0, "1.16 times the usual is not more");
    add("spike-29", 74, "chat", "the courier lost my parcel, terrible service", NULL);
    cr_assert_eq(write_batch().tickets_opened, 1, "1.2 times is");
}

/* A small burst of complaints with no history before it (10:00-10:04), two
 * calm hours, then 12:00-12:04: twice the burst. Each window is judged
 * against the hour before it, so the 12:00 spike opens its ticket, with the
 * same reason whether the events come in one batch or two. */
static void burst_calm_spike(int batches)
{
    use_rules("[{\"name\": \"carrier-spike\", \"category\": \"external\", \"window_minutes\": 5,"
              "  \"min_events\": 5, \"negative_spike_ratio\": 2, \"baseline_hours\": 1,"
              "  \"owner\": \"carriers\"}]");
    spike("burst", 5, 0, "chat"); /* 10:00-10:04, one a minute */
    for (int m = 5; m < 120; m++) {
        char id[32];
        snprintf(id, sizeof id, "calm-%d", m);
        add(id, m, "chat", "the courier was friendly and quick, great service", NULL);
    }
    if (batches == 2)
        cr_assert_eq(write_batch().tickets_opened, 0, "the burst has no history to compare with");
    spike("spike", 10, 120, "chat"); /* 12:00-12:04, two a minute */
    cr_assert_eq(write_batch().tickets_opened, 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE reason = '10 negative events in the 5"
                   " minutes to 2026-11-01 12:05 UTC, many times the usual 0.0 (the 1.0 hours"
                   " before)'"),
                 1);
}

Test(pg_tickets, a_spike_rule_judges_each_window_against_the_hours_before_it_in_one_batch)
{
    burst_calm_spike(1);
}

Test(pg_tickets, a_spike_rule_judges_each_window_against_the_hours_before_it_in_two_batches)
{
    burst_calm_spike(2);
}

/* Three complaints per 5 minutes for an hour (10:00-10:59), a burst of five
 * (11:00-11:04, 1.7 times that), then six per 5 minutes for an hour
 * (11:05-12:04) and ten in 12:05-12:09: 1.7 times the usual of the hour
 * before, not a spike, although it is 3.3 times the hour before the burst. */
Test(pg_tickets, a_spike_rule_does_not_judge_a_window_by_an_earlier_windows_usual_level)
{
    use_rules("[{\"name\": \"carrier-spike\", \"category\": \"external\", \"window_minutes\": 5,"
              "  \"min_events\": 5, \"negative_spike_ratio\": 2, \"baseline_hours\": 1,"
              "  \"owner\": \"carriers\"}]");
    for (int m = 0; m < 130; m++) {
        int n = m < 60 ? m % 5 < 3 : m < 65 ? 1 : m < 125 ? 1 + (m % 5 == 0) : 2;
        for (int k = 0; k < n; k++) {
            char id[32];
            snprintf(id, sizeof id, "c-%d-%d", m, k);
            add(id, m, "chat", "the courier lost my parcel, terrible service", NULL);
        }
    }
    write_batch();
    cr_assert_eq(q("SELECT count(*) FROM cx.events"), 123);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 0);
}

Test(pg_tickets, a_spike_rule_needs_four_windows_of_history)
{
    use_rules("[{\"name\": \"carrier-spike\", \"category\": \"external\", \"min_events\": 10,"
              "  \"negative_spike_ratio\": 3, \"owner\": \"carriers\"}]");
    spike("quiet", 5, 0, "chat");      /* 10:00-10:04 */
    spike("burst", 100, 40, "chat");   /* 10:40-10:44: only 40 minutes later */
    write_batch();
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 0);
}

Test(pg_tickets, a_spike_from_silence_fires_once_the_stream_has_history)
{
    use_rules("[{\"name\": \"carrier-spike\", \"category\": \"external\", \"min_events\": 20,"
              "  \"negative_spike_ratio\": 2.5, \"owner\": \"carriers\"}]");
    /* 10:00-11:59: two hours of other traffic, not one external event ... */
    for (int m = 0; m < 120; m++) {
        char id[32];
        snprintf(id, sizeof id, "other-%d", m);
        add(id, m, "chat", "the agent was rude", NULL);
    }
    write_batch();
    /* ... then 12:00-12:14: 350 complaints about the carrier. */
    for (int i = 0; i < 350; i++) {
        char id[32];
        snprintf(id, sizeof id, "carrier-%d", i);
        add(id, 120 + i % 15, "chat", "the courier lost my parcel, terrible service", NULL);
    }
    cx_pg_result res = write_batch();
    cr_assert_eq(res.tickets_opened, 1, "a category that was quiet spikes from a usual 0");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE owner = 'carriers' AND reason LIKE"
                   " '350 negative events in the 15 minutes to 2026-11-01 12:15 UTC, many times"
                   " the usual 0.0 (the % hours before)'"),
                 1);
}

Test(pg_tickets, the_analyst_queries_in_the_docs_run)
{
    use_rules(carrier_rule);
    spike("a", 12, 0, "chat");
    write_batch();
    int n = 0;
    for (const char *const *doc_name = (const char *const[]){"docs/queries.md",
                                                             "docs/history.md", NULL};
         *doc_name; doc_name++) {
        char path[1024];
        static char doc[65536];
        cx_test_read_file(cx_test_source_path(*doc_name, path, sizeof path), doc, sizeof doc);
        for (char *p = strstr(doc, "```sql\n"); p != NULL; p = strstr(p, "```sql\n")) {
            p += 7;
            char *end = strstr(p, "```");
            cr_assert_not_null(end);
            *end = '\0';
            PGresult *r = PQexec(conn, p);
            cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s:\n%s\n%s", *doc_name, p,
                         PQerrorMessage(conn));
            PQclear(r);
            p = end + 3;
            n++;
        }
    }
    cr_assert_geq(n, 10);
}

Test(pg_tickets, the_grafana_dashboard_queries_run)
{
    use_rules(carrier_rule);
    spike("a", 12, 0, "chat");
    write_batch();
    char path[1024];
    json_error_t je;
    json_t *dash = json_load_file(cx_test_source_path("deploy/grafana/cxpulse-dashboard.json",
                                                      path, sizeof path),
                                  0, &je);
    cr_assert_not_null(dash, "%s: %s", path, je.text);
    size_t i, k;
    json_t *panel, *target;
    int n = 0;
    json_array_foreach(json_object_get(dash, "panels"), i, panel)
    {
        json_array_foreach(json_object_get(panel, "targets"), k, target)
        {
            /* Grafana's macros, expanded the way Grafana does for PostgreSQL. */
            char sql[4096];
            snprintf(sql, sizeof sql, "%s", json_string_value(json_object_get(target, "rawSql")));
            static const char *const bare[][2] = {{"$__timeFrom()", "(now() - interval '1 day')"},
                                                  {"$__timeTo()", "now()"}};
            for (size_t m = 0; m < 2; m++) {
                char *at;
                while ((at = strstr(sql, bare[m][0])) != NULL) {
                    char rest[4096];
                    snprintf(rest, sizeof rest, "%s", at + strlen(bare[m][0]));
                    snprintf(at, sizeof sql - (size_t)(at - sql), "%s%s", bare[m][1], rest);
                }
            }
            static const char *const macros[][2] = {
                {"$__timeFilter(", "now() - interval '1 day' <= ("},
                {"$__timeGroupAlias(", "date_trunc('hour', "}};
            for (size_t m = 0; m < 2; m++) {
                char *at;
                while ((at = strstr(sql, macros[m][0])) != NULL) {
                    char rest[4096];
                    char *close = strchr(at, ')');
                    cr_assert_not_null(close);
                    /* keep only the macro's first argument (the column) */
                    char *comma = strchr(at, ',');
                    const char *end = comma && comma < close ? comma : close;
                    char arg[256];
                    size_t start = strlen(macros[m][0]);
                    snprintf(arg, sizeof arg, "%.*s", (int)(end - at - (long)start), at + start);
                    snprintf(rest, sizeof rest, "%s", close + 1);
                    snprintf(at, sizeof sql - (size_t)(at - sql), "%s%s)%s%s", macros[m][1], arg,
                             m == 1 ? " AS time" : "", rest);
                }
            }
            PGresult *r = PQexec(conn, sql);
            cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "panel \"%s\": %s\n%s",
                         json_string_value(json_object_get(panel, "title")),
                         PQerrorMessage(conn), sql);
            PQclear(r);
            n++;
        }
    }
    json_decref(dash);
    cr_assert_geq(n, 6);
}

/* A receiver that hangs keeps its rows coming due, later each time (the
 * backoff). A row that came due before them is claimed first, not after
 * every older row: a new ticket is not starved behind a hung receiver's. */
Test(pg_tickets, the_row_due_first_is_claimed_first)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner) VALUES"
                          " ('a', 'external', 'carriers'), ('b', 'facing', 'frontline')");
    cx_test_pg_exec(conn, "UPDATE cx.notifications SET attempts = 5,"
                          " next_attempt_at = now() - interval '1 second'"
                          " WHERE ticket_id = (SELECT ticket_id FROM cx.tickets WHERE rule = 'a')");
    cx_test_pg_exec(conn,
                    "UPDATE cx.notifications SET next_attempt_at = now() - interval '2 seconds'"
                    " WHERE ticket_id = (SELECT ticket_id FROM cx.tickets WHERE rule = 'b')");
    cx_pg_outbox *o;
    json_t *row;
    char err[512];
    cr_assert_eq(cx_pg_outbox_new(&o, url, 0, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_pg_outbox_claim(o, 0, &row, err, sizeof err), CX_OK, "%s", err);
    cr_assert_not_null(row);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(row, "ticket"), "rule")),
                     "b");
    json_decref(row);
    cx_pg_outbox_free(o);
}

/* `notifications retry` of a transition a receiver has since been told a
 * later one of: that receiver is skipped (an Alertmanager would page again
 * for a resolved ticket, a webhook hear "opened" after "resolved"); the
 * others that failed get it again, and are shown pending with the answer
 * they had given (they had vanished from the row until delivered). */
Test(pg_tickets, a_retry_skips_receivers_that_took_a_later_transition)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner) VALUES"
                          " ('a', 'external', 'carriers')");
    cx_test_pg_exec(conn, "UPDATE cx.notifications SET status = 'failed', deliveries ="
                          " '{\"hook\": {\"status\": \"failed\", \"attempts\": 1},"
                          "   \"crm\": {\"status\": \"failed\", \"attempts\": 1,"
                          "   \"answer\": \"HTTP 400: bad\"}}'");
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved', resolved_at = now()");
    cx_test_pg_exec(conn, "UPDATE cx.notifications SET status = 'sent', deliveries ="
                          " '{\"hook\": {\"status\": \"sent\", \"attempts\": 1}}'"
                          " WHERE transition = 'resolved'");
    long long n;
    char err[512];
    long long superseded;
    cr_assert_eq(cx_pg_notifications_retry(url, 0, &n, &superseded, err, sizeof err), CX_OK, "%s",
                 err);
    cr_assert_eq(n, 1);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.notifications"
                                         " WHERE transition = 'opened' AND status = 'pending'"
                                         " AND deliveries->'hook'->>'status' = 'skipped'"
                                         " AND deliveries->'crm'->>'status' = 'pending'"
                                         " AND deliveries->'crm'->>'attempts' = '1'"
                                         " AND deliveries->'crm'->>'answer' = 'queued again by"
                                         " notifications retry; it had answered: HTTP 400: bad'"),
                 1);
}

/* A retry run while a later transition of the ticket is being posted (its
 * row claimed by a sender, not committed) cannot see that it was taken, and
 * queues the earlier one again; the sender's next claim of it then names the
 * receivers that took the later one, which it skips: the "opened" is not
 * posted after the "resolved". */
Test(pg_tickets, a_claim_names_the_receivers_that_took_a_later_transition)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner) VALUES"
                          " ('a', 'external', 'carriers')");
    cx_test_pg_exec(conn, "UPDATE cx.notifications SET status = 'failed', deliveries ="
                          " '{\"hook\": {\"status\": \"failed\", \"attempts\": 1},"
                          "   \"crm\": {\"status\": \"failed\", \"attempts\": 1}}'");
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved', resolved_at = now()");
    PGconn *sender = cx_test_pg_connect(url); /* posting the "resolved" to hook */
    cx_test_pg_exec(sender, "BEGIN; SELECT id FROM cx.notifications WHERE transition = 'resolved'"
                            " FOR UPDATE");
    long long n, superseded;
    char err[512];
    cr_assert_eq(cx_pg_notifications_retry(url, 0, &n, &superseded, err, sizeof err), CX_OK, "%s",
                 err);
    cr_assert_eq(n, 1, "the opened is queued again: the post going on is not known yet");
    cx_test_pg_exec(sender, "UPDATE cx.notifications SET status = 'sent', deliveries ="
                            " '{\"hook\": {\"status\": \"sent\", \"attempts\": 1},"
                            "   \"crm\": {\"status\": \"failed\", \"attempts\": 1}}'"
                            " WHERE transition = 'resolved'; COMMIT");
    PQfinish(sender);
    cx_pg_outbox *o = NULL;
    json_t *row = NULL;
    cr_assert_eq(cx_pg_outbox_new(&o, url, 0, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_pg_outbox_claim(o, 0, &row, err, sizeof err), CX_OK, "%s", err);
    cr_assert_not_null(row, "nothing to claim");
    cr_assert_str_eq(json_string_value(json_object_get(row, "transition")), "opened");
    json_t *later = json_object_get(row, "later_sent");
    cr_assert(json_is_array(later) && json_array_size(later) == 1 &&
                  strcmp(json_string_value(json_array_get(later, 0)), "hook") == 0,
              "later_sent is not [\"hook\"]");
    json_decref(row);
    cx_pg_outbox_free(o);
}

/* `notifications retry --failed` after a receiver's outage sends the news,
 * not the backlog: a failed update no receiver took, which a later
 * transition of its ticket made needless, is superseded; one a receiver took
 * is queued again for the one that refused it. What is queued is what will
 * be sent. */
Test(pg_tickets, a_retry_of_every_failed_row_supersedes_stale_updates)
{
    const char *failed = "UPDATE cx.notifications SET status = 'failed', deliveries ="
                         " '{\"hook\": {\"status\": \"failed\", \"attempts\": 1}}'"
                         " WHERE status = 'pending'";
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner) VALUES"
                          " ('a', 'external', 'carriers')");
    cx_test_pg_exec(conn, failed);
    for (int i = 0; i < 3; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "UPDATE cx.tickets SET reason = 'now %d', updated_at = now()", i);
        cx_test_pg_exec(conn, sql);
        cx_test_pg_exec(conn, failed);
    }
    cx_test_pg_exec(conn, "UPDATE cx.notifications SET deliveries ="
                          " '{\"hook\": {\"status\": \"failed\", \"attempts\": 1},"
                          "   \"crm\": {\"status\": \"sent\", \"attempts\": 1}}' WHERE seq = 3");
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved', resolved_at = now()");
    cx_test_pg_exec(conn, failed);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE status = 'failed'"), 5);
    long long n, superseded;
    char err[512];
    /* one row asked for by id is queued again, stale or not */
    long long id = q("SELECT id FROM cx.notifications WHERE seq = 2");
    cr_assert_eq(cx_pg_notifications_retry(url, id, &n, &superseded, err, sizeof err), CX_OK, "%s",
                 err);
    cr_assert_eq(n, 1);
    cr_assert_eq(superseded, 0);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE seq = 2 AND status = 'pending'"),
                 1);
    cx_test_pg_exec(conn, "UPDATE cx.notifications SET status = 'failed' WHERE seq = 2");
    cr_assert_eq(cx_pg_notifications_retry(url, 0, &n, &superseded, err, sizeof err), CX_OK, "%s",
                 err);
    cr_assert_eq(n, 3, "opened, the update crm took and resolved are queued again");
    cr_assert_eq(superseded, 2);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE status = 'pending'"
                   " AND (transition IN ('opened', 'resolved') OR seq = 3)"),
                 3);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE status = 'superseded'"
                   " AND transition = 'updated' AND seq IN (2, 4)"),
                 2);
}

/* An update after a long quiet is the one chat posts ("fired again after
 * 3 h quiet"); the updates after it, a few minutes apart, chat skips. A chat
 * outage failed them all: `notifications retry --failed` sends the fired-again
 * one again rather than superseding it by a later update that chat would
 * skip, which left the channel never hearing of the incident. */
Test(pg_tickets, a_retry_of_every_failed_row_keeps_an_update_after_a_longer_quiet)
{
    const char *failed = "UPDATE cx.notifications SET status = 'failed', deliveries ="
                         " '{\"chat\": {\"status\": \"failed\", \"attempts\": 1}}'"
                         " WHERE status = 'pending'";
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner) VALUES"
                          " ('a', 'external', 'carriers')");
    cx_test_pg_exec(conn, "UPDATE cx.notifications SET status = 'sent'");
    const char *quiet[] = {"3 hours", "5 minutes", "10 minutes"};
    for (int i = 0; i < 3; i++) {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "UPDATE cx.tickets SET reason = 'now %d', updated_at = now(),"
                 " quiet_before = interval '%s'",
                 i, quiet[i]);
        cx_test_pg_exec(conn, sql);
        cx_test_pg_exec(conn, failed);
    }
    long long n, superseded;
    char err[512];
    cr_assert_eq(cx_pg_notifications_retry(url, 0, &n, &superseded, err, sizeof err), CX_OK, "%s",
                 err);
    cr_assert_eq(superseded, 1, "the 5-minute update, which the 10-minute one carries");
    cr_assert_eq(n, 2);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE status = 'pending'"
                   " AND quiet_before IN (interval '3 hours', interval '10 minutes')"),
                 2);
}

/* Whoever may change statuses (the owners' role, by column) can neither
 * reopen a resolved ticket nor put a settled notification back in the queue
 * (the sender would post an old transition after its later ones). */
Test(pg_tickets, resolved_tickets_and_settled_notifications_are_final)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner) VALUES"
                          " ('a', 'external', 'carriers')");
    cx_test_pg_exec(conn, "UPDATE cx.notifications SET status = 'sent'");
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved', resolved_at = now()");
    const char *refused[] = {"UPDATE cx.tickets SET status = 'open'",
                             "UPDATE cx.tickets SET status = 'acknowledged'",
                             "UPDATE cx.notifications SET status = 'pending' WHERE seq = 1",
                             "UPDATE cx.notifications SET status = 'failed' WHERE seq = 1"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        PGresult *r = PQexec(conn, refused[i]);
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        cr_expect(state != NULL && strcmp(state, "23514") == 0, "allowed: %s", refused[i]);
        PQclear(r);
    }
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE status = 'resolved'"), 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE seq = 1 AND status = 'sent'"), 1);
}

/* The owners' table shows every receiver and the whole scope, however long. */
Test(pg_tickets, the_table_shows_every_receiver_and_the_whole_scope)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, scope, owner) VALUES"
                          " ('billing-negative-share', 'collaborative', 'channel=chat',"
                          "  'billing-and-payments')");
    cx_test_pg_exec(conn, "UPDATE cx.notifications SET status = 'pending', deliveries ="
                          " '{\"crm-webhook\": {\"status\": \"sent\"},"
                          "   \"ops-alertmanager\": {\"status\": \"sent\"},"
                          "   \"billing-chat\": {\"status\": \"failed\"}}'");
    const char *shown[] = {"crm-webhook=sent", "ops-alertmanager=sent", "billing-chat=failed",
                           "collaborative channel=chat", "billing-and-payments"};
    for (size_t i = 0; i < sizeof shown / sizeof *shown; i++)
        cr_expect_eq(cx_test_sh("%s tickets list --pg '%s' | grep >/dev/null -F -e '%s'",
                                cx_test_bin(), url, shown[i]),
                     0, "tickets list does not show \"%s\"", shown[i]);
}

/* A chat receiver skips a ticket's updates: the owners' table says what it
 * last took ("chat=skipped (took opened)"), not only that it skipped the
 * latest, which read as if the channel never heard of the ticket. */
Test(pg_tickets, the_table_says_what_a_receiver_that_skipped_the_latest_last_took)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner) VALUES"
                          " ('a', 'external', 'carriers')");
    cx_test_pg_exec(conn,
                    "UPDATE cx.notifications SET status = 'sent', deliveries ="
                    " '{\"chat\": {\"status\": \"sent\"}, \"hook\": {\"status\": \"sent\"}}'");
    for (int i = 0; i < 2; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "UPDATE cx.tickets SET reason = 'now %d'", i);
        cx_test_pg_exec(conn, sql);
        cx_test_pg_exec(conn, "UPDATE cx.notifications SET status = 'sent', deliveries ="
                              " '{\"chat\": {\"status\": \"skipped\"},"
                              "   \"hook\": {\"status\": \"sent\"}}' WHERE status = 'pending'");
    }
    json_t *out = NULL;
    long long total = 0;
    char err[512];
    cr_assert_eq(cx_pg_tickets_list(url, NULL, NULL, 10, &out, &total, err, sizeof err), CX_OK,
                 "%s", err);
    const json_t *d = json_object_get(json_array_get(out, 0), "delivery");
    cr_assert_str_eq(json_string_value(json_object_get(d, "transition")), "updated");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "receivers"), "chat")),
                     "skipped");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "took"), "chat")),
                     "opened");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "took"), "hook")),
                     "updated");
    json_decref(out);
    cr_expect_eq(
        cx_test_sh("%s tickets list --pg '%s' | grep >/dev/null -F 'chat=skipped (took opened)'",
                   cx_test_bin(), url),
        0);
    cr_expect_eq(cx_test_sh("%s tickets list --pg '%s' | grep >/dev/null -F 'hook=sent (took'",
                            cx_test_bin(), url),
                 1, "a receiver that took the latest needs no more");
}

/* The terminal column at which `mark` starts in line (the first of them), or
 * -1 when it is not there. */
static long column_of(const char *line, const char *mark)
{
    const char *at = strstr(line, mark);
    return at ? (long)cx_utf8_columns(line, (size_t)(at - line)) : -1;
}

/* Names in other scripts: the columns stay in line on a terminal (CJK and
 * emoji take two columns, an accent written as a combining mark none), and a
 * name cut to its column's limit ends in "…" without splitting a family emoji,
 * a flag or a letter and its accent. */
Test(pg_tickets, the_table_lines_up_and_cuts_by_terminal_columns)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner, opened_at) VALUES"
                          " ('rule-日本語', 'external', 'carriers', '2026-11-01 10:00Z'),"
                          " (U&'Cafe\\0301-late', 'external', 'carriers', '2026-11-01 10:01Z'),"
                          " ('family-' || repeat(U&'\\+01F468\\200D\\+01F469\\200D\\+01F467', 6),"
                          "  'external', U&'team-\\+01F44D\\+01F3FD', '2026-11-01 10:02Z'),"
                          " ('flags-' || repeat(U&'\\+01F1EF\\+01F1F5', 20), 'external',"
                          "  repeat('a', 30) || U&'e\\0301zz', '2026-11-01 10:03Z')");
    int st;
    const char *out = tickets_cmd("list", &st);
    cr_assert_eq(st, 0, "%s", out);
    char *copy = strdup(out), *save = NULL;
    long header = -1;
    int rows = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (header < 0) {
            header = column_of(line, "OPENED (UTC)");
            cr_assert_gt(header, 0, "%s", out);
            continue;
        }
        cr_expect_eq(column_of(line, "2026-11-01T10:0"), header, "out of line: %s\n%s", line, out);
        rows++;
    }
    free(copy);
    cr_assert_eq(rows, 4, "%s", out);
    /* 43 columns, the limit 40: 7 + 5 families of 6 and "…" */
    const char *family = "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7";
    char want[512];
    snprintf(want, sizeof want, "family-%s%s%s%s%s…  ", family, family, family, family, family);
    cr_expect(strstr(out, want) != NULL, "no \"%s\" in\n%s", want, out);
    /* 46 columns: 6 + 16 flags of 2 and "…" */
    int n = snprintf(want, sizeof want, "flags-");
    for (int i = 0; i < 16; i++)
        n += snprintf(want + n, sizeof want - (size_t)n, "\xf0\x9f\x87\xaf\xf0\x9f\x87\xb5");
    snprintf(want + n, sizeof want - (size_t)n, "…");
    cr_expect(strstr(out, want) != NULL, "no \"%s\" in\n%s", want, out);
    /* the owner's limit, 32: 30 letters, e and its accent, "…" */
    snprintf(want, sizeof want, "%.30se\xcc\x81…  ", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    cr_expect(strstr(out, want) != NULL, "no \"%s\" in\n%s", want, out);
}

/* A long reason (a scope of many values) is shown whole, its counts and
 * times at the end included. */
Test(pg_tickets, the_table_shows_a_long_reason_whole)
{
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner, reason) VALUES"
                          " ('long', 'external', 'carriers', 'channel=' || repeat('ü', 600)"
                          "  || ': 12 matching event(s) by 2026-11-01 10:05 UTC')");
    int st;
    const char *out = tickets_cmd("list", &st);
    cr_assert_eq(st, 0, "%s", out);
    cr_assert(strstr(out, ": 12 matching event(s) by 2026-11-01 10:05 UTC\n") != NULL, "%s", out);
}

/* One writer's batch, written on its own thread. */
typedef struct writer_run {
    cx_pg *pg;
    sinktest_batch *b;
    cx_pg_result res;
    cx_status st;
    char err[512];
} writer_run;

static void *write_on_thread(void *arg)
{
    writer_run *w = arg;
    w->st = cx_pg_write_batch(w->pg, w->b->recs, w->b->n, &w->res, w->err, sizeof w->err);
    return NULL;
}

/* Two writers (postgres.writers, or two processes) store the two halves of a
 * spike at the same time: neither half reaches min_events, both do. The test
 * holds a signal row both halves add to, so that both batches are in flight
 * together; the second writer's rules must read the first one's increments. */
Test(pg_tickets, a_spike_two_writers_carry_at_once_opens_its_ticket)
{
    static sinktest_batch batch2;
    static uint16_t hits2[SINKTEST_MAX][8];
    use_rules(carrier_rule); /* 10 events, half negative, in 15 minutes */
    cx_pg *pg2 = sinktest_sink_rules(url, rules);
    spike("p", 1, 0, "chat");
    write_batch();
    spike("a", 6, 0, "chat");
    into = &batch2, into_partition = 1, into_hits = hits2;
    spike("b", 6, 0, "chat");
    into = &batch, into_partition = 0, into_hits = hits;
    cx_test_pg_exec(conn, "BEGIN");
    cr_assert_eq(q("SELECT count(*) FROM (SELECT 1 FROM cx.signals WHERE window_start ="
                   " '2026-11-01T10:00:00Z' AND window_seconds = 60 AND category = 'external'"
                   " AND channel = 'chat' FOR UPDATE) l"),
                 1);
    writer_run w1 = {.pg = pg, .b = &batch}, w2 = {.pg = pg2, .b = &batch2};
    pthread_t t1, t2;
    cr_assert_eq(pthread_create(&t1, NULL, write_on_thread, &w1), 0);
    cr_assert_eq(pthread_create(&t2, NULL, write_on_thread, &w2), 0);
    cx_test_sleep_ms(1500); /* both batches reach the held row, or the turn for the rules */
    cx_test_pg_exec(conn, "COMMIT");
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    cr_assert_eq(w1.st, CX_OK, "%s", w1.err);
    cr_assert_eq(w2.st, CX_OK, "%s", w2.err);
    cr_assert_eq(q("SELECT sum(events) FROM cx.signals WHERE category = 'external'"), 13);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE rule = 'carrier-spike'"), 1,
                 "neither writer saw the whole spike");
    sinktest_clear(&batch2);
    cx_pg_free(pg2);
}
