/*
 * test_alerts.c - tickets delivered from the outbox by real `cxpulse run`
 * processes (librdkafka's mock cluster, a real PostgreSQL) to a real
 * Alertmanager and to a local webhook receiver (tests/support/webhook_receiver.py)
 * that records every request, checks its signature and fails on command. In
 * every case each ticket transition reaches the receiver exactly once after
 * deduplicating by Idempotency-Key, in order per ticket.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cxtest.h"
#include "cxtest_stack.h"

#define SECRET "t0p-s3cret"

static cx_mock *mock;
static cx_producer *producer;
static PGconn *conn;
static char url[1024], dir[256], cfgfile[320], hooklog[320];
static pid_t kids[8];
static int n_kids;
static long produced;

/* The services' configuration file: short backoff, polling and re-posting
 * (every resend_seconds), so that the tests take seconds; each post may take
 * timeout_ms; receivers: NULL, or the JSON array of alerts.receivers. */
static int
    update_seconds; /* alerts.update_seconds; 0 (each update at once) unless a test sets it */
static int poll_ms; /* alerts.poll_ms; 100 unless a test sets it */

static void write_config_receivers(int resend_seconds, int timeout_ms, const char *receivers)
{
    FILE *f = fopen(cfgfile, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "{\"kafka\": {\"properties\": {\"session.timeout.ms\": \"6000\","
            " \"heartbeat.interval.ms\": \"500\"}},"
            " \"batch\": {\"max_messages\": 500, \"max_ms\": 100},"
            " \"tickets\": {\"rules\": ["
            "   {\"name\": \"courier-complaints\", \"on\": \"event\", \"category\": \"external\","
            "    \"sentiment\": \"negative\", \"owner\": \"carriers\"},"
            "   {\"name\": \"courier-share\", \"category\": \"external\", \"min_events\": 10,"
            "    \"negative_share_above\": 0.5, \"owner\": \"carriers\"}]},"
            " \"alerts\": {\"retry_min_ms\": 200, \"retry_max_ms\": 2000, \"poll_ms\": %d,"
            "   \"resend_seconds\": %d, \"timeout_ms\": %d, \"update_seconds\": %d,%s%s%s"
            "   \"page_url\": \"http://cx.example/live\"}}",
            poll_ms, resend_seconds, timeout_ms, update_seconds,
            receivers ? " \"receivers\": " : "", receivers ? receivers : "", receivers ? "," : "");
    fclose(f);
}

static void write_config(int resend_seconds)
{
    write_config_receivers(resend_seconds, 3000, NULL);
}

static void setup(void)
{
    cx_test_stack_new(url, sizeof url, &conn, &mock, &producer, 1);
    snprintf(dir, sizeof dir, "/tmp/cxpulse-alerts-test.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cfgfile, sizeof cfgfile, "%s/cxpulse.json", dir);
    snprintf(hooklog, sizeof hooklog, "%s/hook.jsonl", dir);
    /* the events here are dated in November 2026: tickets as for live ones */
    setenv("CXPULSE_TICKETS_MAX_AGE_MINUTES", "0", 1);
    update_seconds = 0;
    poll_ms = 100;
    write_config(2);
    produced = 0;
    n_kids = 0;
    unsetenv("CXPULSE_WEBHOOK_SECRET");
}

static void teardown(void)
{
    for (int i = 0; i < n_kids; i++)
        if (kids[i] > 0)
            cx_test_stop(kids[i], SIGKILL, 5000);
    cx_test_stack_free(conn, mock, producer);
    cx_test_sh("rm -rf '%s'", dir);
}

TestSuite(alerts, .init = setup, .fini = teardown, .timeout = 120);

static pid_t track(pid_t pid)
{
    cr_assert_lt(n_kids, 8);
    kids[n_kids++] = pid;
    return pid;
}

static int stop_kid(pid_t pid, int sig)
{
    for (int i = 0; i < n_kids; i++)
        if (kids[i] == pid)
            kids[i] = 0;
    return cx_test_stop(pid, sig, 15000);
}

/* Starts the test receiver on port; extra: NULL-terminated further arguments. */
static pid_t start_hook(int port, const char *const *extra)
{
    char port_s[16], script[512], line[64];
    snprintf(port_s, sizeof port_s, "%d", port);
    char *argv[16] = {"/usr/bin/python3",
                      (char *)cx_test_source_path("tests/support/webhook_receiver.py", script,
                                                  sizeof script),
                      "--port", port_s, "--log", hooklog, "--secret", SECRET};
    int n = 8;
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 15; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    int fd;
    pid_t pid = track(cx_test_spawn(argv, &fd));
    cx_test_read_line(fd, line, sizeof line, 15000);
    close(fd);
    cr_assert_str_eq(line, "ready");
    return pid;
}

/* Starts `cxpulse run`; http_port 0: no HTTP listener; receiver flags in flags[]. */
/* Starts `cxpulse run` with one receiver flag and value, and optionally a
 * second (flag2 NULL for none). */
static pid_t start_run2(int http_port, const char *flag, const char *value, const char *flag2,
                        const char *value2)
{
    char http[64];
    if (http_port > 0)
        snprintf(http, sizeof http, "127.0.0.1:%d", http_port);
    else
        snprintf(http, sizeof http, "off");
    char *argv[] = {(char *)cx_test_bin(),
                    "run",
                    "--config",
                    cfgfile,
                    "--brokers",
                    (char *)cx_mock_bootstraps(mock),
                    "--topic",
                    "cx.events",
                    "--group",
                    "alerts",
                    "--pg",
                    url,
                    "--http",
                    http,
                    "--log-level",
                    "warn",
                    (char *)flag,
                    (char *)value,
                    (char *)flag2,
                    (char *)value2,
                    NULL};
    int fd;
    pid_t pid = track(cx_test_spawn(argv, &fd));
    close(fd);
    return pid;
}

static pid_t start_run(int http_port, const char *flag, const char *value)
{
    return start_run2(http_port, flag, value, NULL, NULL);
}

static void hook_url(int port, char *out, size_t outlen)
{
    snprintf(out, outlen, "http://127.0.0.1:%d/hooks/cx", port);
}

/* Starts the test receiver (extra: its further arguments, or NULL) and a
 * `cxpulse run` posting to it, signing with the secret from the environment. */
static void run_with_signed_webhook(const char *const *extra)
{
    int port = cx_test_free_port();
    start_hook(port, extra);
    char hook[128];
    hook_url(port, hook, sizeof hook);
    setenv("CXPULSE_WEBHOOK_SECRET", SECRET, 1);
    start_run(0, "--webhook", hook);
    unsetenv("CXPULSE_WEBHOOK_SECRET");
}

/* n complaints about the carrier: external, negative. */
static void complaints(int n)
{
    char err[512], v[400];
    for (int i = 0; i < n; i++, produced++) {
        int len = snprintf(v, sizeof v,
                           "{\"event_id\":\"al-%ld\",\"occurred_at\":\"2026-11-01T10:%02ld:00Z\","
                           "\"channel\":\"chat\",\"text\":\"the courier lost my parcel, terrible"
                           " service\"}",
                           produced, (produced / 10) % 60);
        cr_assert_eq(
            cx_producer_send(producer, "cx.events", "k", 1, v, (size_t)len, 0, err, sizeof err),
            CX_OK, "%s", err);
    }
    uint64_t delivered;
    cr_assert_eq(cx_producer_flush(producer, 30000, &delivered, err, sizeof err), CX_OK, "%s",
                 err);
}

static long long q(const char *sql)
{
    return cx_test_pg_scalar(conn, sql);
}

/* Waits until sql gives at least want. */
static void wait_for(const char *sql, long long want, int timeout_s, const char *what)
{
    long long got = -1;
    for (int i = 0; i < timeout_s * 10; i++) {
        if ((got = q(sql)) >= want)
            return;
        cx_test_sleep_ms(100);
    }
    cr_assert_fail("%s: %lld, not %lld, within %d s", what, got, want, timeout_s);
}

/* An update alerts.update_seconds holds back: not due yet. */
#define HELD_BACK "(status = 'pending' AND attempts = 0 AND next_attempt_at > now())"

static void wait_all_sent(int timeout_s)
{
    long long n = q("SELECT count(*) FROM cx.notifications");
    cr_assert_gt(n, 0);
    wait_for("SELECT count(*) FROM cx.notifications WHERE status IN ('sent', 'superseded')"
             " OR " HELD_BACK,
             n, timeout_s, "notifications sent (or superseded before their turn, or held back)");
    /* a receiver's answer is never recorded before the transition it answers */
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications n, jsonb_each(n.deliveries) AS d(k, v)"
                   " WHERE (v->>'at')::timestamptz < n.created_at"),
                 0);
}

/* The receiver's records (one JSON object per request). Returns new. */
static json_t *hook_records(void)
{
    json_t *a = json_array();
    FILE *f = fopen(hooklog, "r");
    char line[65536];
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        json_t *o = json_loads(line, 0, NULL);
        cr_assert_not_null(o, "the receiver's log has a bad line: %s", line);
        json_array_append_new(a, o);
    }
    if (f != NULL)
        fclose(f);
    return a;
}

/*
 * Every request was signed right; the keys the receiver accepted (2xx), once each
 * after deduplication, are exactly the outbox's rows, and per ticket they came in
 * sequence order. Returns how many requests were accepted (duplicates included).
 */
static size_t assert_each_transition_once(void)
{
    json_t *recs = hook_records(), *keys = json_object(), *last_seq = json_object();
    size_t i, accepted = 0;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        if (strncmp(json_string_value(json_object_get(r, "path")), "/chat", 5) == 0)
            continue; /* chat messages: see routes_pick_receivers_and_chat_gets_what_people_act_on */
        cr_assert(json_is_true(json_object_get(r, "signature_ok")), "a request was not signed");
        if (json_integer_value(json_object_get(r, "status")) != 200)
            continue;
        accepted++;
        const char *key = json_string_value(json_object_get(r, "key"));
        json_t *body = json_object_get(r, "body");
        cr_assert_not_null(key);
        cr_assert_str_eq(key, json_string_value(json_object_get(body, "idempotency_key")));
        if (json_object_get(keys, key) != NULL)
            continue; /* a duplicate: the receiver deduplicates it */
        json_object_set_new(keys, key, json_true());
        char ticket[32];
        snprintf(ticket, sizeof ticket, "%lld",
                 (long long)json_integer_value(
                     json_object_get(json_object_get(body, "ticket"), "ticket_id")));
        long long seq = json_integer_value(json_object_get(body, "seq"));
        cr_assert_gt(seq, json_integer_value(json_object_get(last_seq, ticket)),
                     "ticket %s: transition %lld arrived out of order", ticket, seq);
        json_object_set_new(last_seq, ticket, json_integer(seq));
    }
    /* the key docs/alerts.md gives: the start of the ticket's uid after the rest */
    PGresult *res = PQexec(conn, "SELECT ticket_id || '-' || transition || '-' || seq || '-'"
                                 " || left(replace(ticket->>'uid', '-', ''), 12),"
                                 " status = 'superseded' OR " HELD_BACK " FROM cx.notifications");
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    size_t due = 0;
    for (int k = 0; k < PQntuples(res); k++) {
        int superseded = PQgetvalue(res, k, 1)[0] == 't';
        due += !superseded;
        cr_assert_eq(json_object_get(keys, PQgetvalue(res, k, 0)) != NULL, !superseded,
                     "transition %s %s the receiver", PQgetvalue(res, k, 0),
                     superseded ? "was superseded or held back but reached" : "never reached");
    }
    cr_assert_eq(json_object_size(keys), due,
                 "the receiver got transitions that are not in the outbox");
    PQclear(res);
    json_decref(recs);
    json_decref(keys);
    json_decref(last_seq);
    return accepted;
}

static long long ticket_id(const char *rule)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT ticket_id FROM cx.tickets WHERE rule = '%s'", rule);
    return q(sql);
}

/* Enough complaints to open both rules' tickets, then a few more to update them. */
static void open_and_update_two_tickets(void)
{
    complaints(12);
    wait_for("SELECT count(*) FROM cx.tickets", 2, 30, "tickets opened");
    complaints(3);
    wait_for("SELECT count(*) FROM cx.notifications WHERE transition = 'updated'", 2, 30,
             "tickets updated");
}

/* A sample of /metrics on port, or -1. */
static double metric(int port, const char *name)
{
    static char body[1 << 16];
    if (cx_test_http_get(port, "/metrics", body, sizeof body) != 200)
        return -1;
    char want[128];
    snprintf(want, sizeof want, "\n%s ", name);
    const char *p = strstr(body, want);
    return p ? strtod(p + strlen(want), NULL) : -1;
}

/* Starts a throwaway Alertmanager: its own config and data folder, loopback
 * only, no cluster listener. Returns its port once it answers. */
static int start_alertmanager(void)
{
    char amcfg[400], amdata[400], listen[64], body[4096];
    snprintf(amcfg, sizeof amcfg, "%s/alertmanager.yml", dir);
    snprintf(amdata, sizeof amdata, "--storage.path=%s/am-data", dir);
    FILE *f = fopen(amcfg, "w");
    fputs("route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n", f);
    fclose(f);
    int am_port = cx_test_free_port();
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", am_port);
    char cfg_arg[420];
    snprintf(cfg_arg, sizeof cfg_arg, "--config.file=%s", amcfg);
    char *argv[] = {"/usr/bin/prometheus-alertmanager", cfg_arg, amdata, listen,
                    "--cluster.listen-address=", "--log.level=warn", NULL};
    int fd;
    track(cx_test_spawn(argv, &fd));
    close(fd);
    int up = 0;
    for (int i = 0; i < 200 && !up; i++) {
        up = cx_test_http_get(am_port, "/api/v2/status", body, sizeof body) == 200;
        if (!up)
            cx_test_sleep_ms(100);
    }
    cr_assert(up, "alertmanager did not start on port %d", am_port);
    return am_port;
}

Test(alerts, a_spike_reaches_alertmanager_stays_while_another_receiver_waits_and_resolving_ends_it)
{
    char body[1 << 16];
    int am_port = start_alertmanager();

    char am_url[64], hook[128];
    snprintf(am_url, sizeof am_url, "http://127.0.0.1:%d/", am_port);
    /* and a webhook that is down at first: its transitions wait, the alert
     * Alertmanager has must not lapse meanwhile */
    int hook_port = cx_test_free_port(), http_port = cx_test_free_port();
    hook_url(hook_port, hook, sizeof hook);
    setenv("CXPULSE_WEBHOOK_SECRET", SECRET, 1);
    start_run2(http_port, "--alertmanager", am_url, "--webhook", hook);
    unsetenv("CXPULSE_WEBHOOK_SECRET");
    complaints(12);
    wait_for("SELECT count(*) FROM cx.tickets WHERE rule = 'courier-share'", 1, 30,
             "tickets opened");

    /* The alert appears with the ticket's labels and reason. */
    json_t *alert = NULL;
    for (int i = 0; i < 200 && alert == NULL; i++) {
        cr_assert_eq(cx_test_http_get(am_port, "/api/v2/alerts", body, sizeof body), 200);
        json_t *list = json_loads(body, 0, NULL);
        size_t k;
        json_t *a;
        json_array_foreach(list, k, a)
        {
            const char *name =
                json_string_value(json_object_get(json_object_get(a, "labels"), "alertname"));
            if (name != NULL && strcmp(name, "courier-share") == 0)
                alert = json_incref(a);
        }
        json_decref(list);
        if (alert == NULL)
            cx_test_sleep_ms(100);
    }
    cr_assert_not_null(alert, "the ticket never reached alertmanager");
    json_t *labels = json_object_get(alert, "labels");
    cr_assert_str_eq(json_string_value(json_object_get(labels, "owner")), "carriers");
    cr_assert_str_eq(json_string_value(json_object_get(labels, "category")), "external");
    cr_assert_str_eq(json_string_value(json_object_get(labels, "service")), "cxpulse");
    cr_assert_str_eq(json_string_value(json_object_get(labels, "severity")), "warning");
    const char *summary =
        json_string_value(json_object_get(json_object_get(alert, "annotations"), "summary"));
    cr_assert(summary != NULL && strstr(summary, "negative share") == summary, "%s", summary);
    cr_assert_str_eq(json_string_value(json_object_get(alert, "generatorURL")),
                     "http://cx.example/live");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(alert, "status"), "state")),
                     "active");
    const char *ends0 = json_string_value(json_object_get(alert, "endsAt"));
    char first_end[64];
    snprintf(first_end, sizeof first_end, "%s", ends0 ? ends0 : "");
    json_decref(alert);

    /* Re-posted before its endsAt (8 s with a 2 s interval): still active after 10 s. */
    cx_test_sleep_ms(10000);
    cr_assert_eq(cx_test_http_get(am_port, "/api/v2/alerts?filter=alertname%3D%22courier-share%22",
                                  body, sizeof body),
                 200);
    json_t *list = json_loads(body, 0, NULL);
    cr_assert_eq(json_array_size(list), 1, "the alert lapsed: %s", body);
    const char *ends1 = json_string_value(json_object_get(json_array_get(list, 0), "endsAt"));
    cr_assert(ends1 != NULL && strcmp(ends1, first_end) > 0, "endsAt did not move: %s", body);
    json_decref(list);
    cr_assert_gt(q("SELECT count(*) FROM cx.notifications WHERE status = 'pending'"), 0,
                 "the webhook's transitions should still wait");
    /* the metrics say which receiver is failing */
    cr_assert_gt(metric(http_port, "cxpulse_notifications_sent_total{receiver=\"alertmanager\"}"),
                 0);
    cr_assert_gt(metric(http_port, "cxpulse_notifications_retries_total{receiver=\"webhook\"}"), 0);
    cr_assert_eq(metric(http_port, "cxpulse_notifications_sent_total{receiver=\"webhook\"}"), 0);
    cr_assert_eq(
        metric(http_port, "cxpulse_notifications_retries_total{receiver=\"alertmanager\"}"), 0);
    start_hook(hook_port, NULL);

    /* Resolving the ticket ends the alert. */
    cr_assert_eq(cx_test_sh("%s tickets resolve %lld --pg '%s' >/dev/null", cx_test_bin(),
                            ticket_id("courier-share"), url),
                 0);
    int gone = 0;
    for (int i = 0; i < 200 && !gone; i++) {
        cr_assert_eq(cx_test_http_get(am_port,
                                      "/api/v2/alerts?filter=alertname%3D%22courier-share%22",
                                      body, sizeof body),
                     200);
        json_t *l = json_loads(body, 0, NULL);
        gone = json_array_size(l) == 0;
        json_decref(l);
        if (!gone)
            cx_test_sleep_ms(100);
    }
    cr_assert(gone, "the alert is still active after the ticket was resolved: %s", body);
    wait_all_sent(10);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE transition = 'resolved'"
                   " AND deliveries->'alertmanager'->>'status' = 'sent'"),
                 1);
}

/* qsort's order of strings held in char arrays. */
static int strings_in_order(const void *x, const void *y)
{
    return strcmp(x, y);
}

/* The active alerts of rule courier-share in the Alertmanager on port, as
 * "ticket_id=<label>", with with_uid "ticket_id=<label>/<ticket_uid label>"
 * ("-" for a label it has not), sorted and joined by spaces. */
static void active_share_alerts(int am_port, int with_uid, char *out, size_t outlen)
{
    static char body[1 << 16];
    cr_assert_eq(cx_test_http_get(am_port, "/api/v2/alerts?filter=alertname%3D%22courier-share%22",
                                  body, sizeof body),
                 200);
    json_t *list = json_loads(body, 0, NULL);
    cr_assert(json_is_array(list), "%s", body);
    char items[8][128];
    size_t k, n = 0;
    json_t *a;
    json_array_foreach(list, k, a)
    {
        json_t *l = json_object_get(a, "labels");
        const char *id = json_string_value(json_object_get(l, "ticket_id"));
        const char *uid = json_string_value(json_object_get(l, "ticket_uid"));
        if (n < 8)
            snprintf(items[n++], sizeof items[0], "ticket_id=%s%s%s", id ? id : "-",
                     with_uid ? "/" : "",
                     !with_uid ? ""
                     : uid     ? uid
                               : "-");
    }
    qsort(items, n, sizeof items[0], strings_in_order);
    out[0] = '\0';
    for (k = 0; k < n; k++) {
        size_t used = strlen(out);
        int w = snprintf(out + used, outlen - used, "%s%s", k ? " " : "", items[k]);
        cr_assert(w >= 0 && (size_t)w < outlen - used, "the alerts' list is cut");
    }
    json_decref(list);
}

/* A ticket is resolved while Alertmanager is unreachable and its rule opens
 * the next ticket meanwhile; once back, the next ticket's opening (due
 * first) goes before the old one's resolution. The resolution must end the
 * old ticket's alert only: each ticket is an alert of its own. */
Test(alerts, an_old_ticket_s_resolution_does_not_end_the_alert_of_its_successor)
{
    write_config(3600); /* no re-posting during the test: it would revive an ended alert */
    int am_port = start_alertmanager();
    char am_url[64], alerts[256];
    snprintf(am_url, sizeof am_url, "http://127.0.0.1:%d/", am_port);
    pid_t run = start_run(0, "--alertmanager", am_url);
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner, reason)"
                          " VALUES ('courier-share', 'external', 'carriers', 'the first')");
    wait_for("SELECT count(*) FROM cx.notifications WHERE status = 'sent'", 1, 30,
             "the first ticket sent");
    long long first = ticket_id("courier-share");
    cr_assert_eq(stop_kid(run, SIGTERM), 0);

    /* Meanwhile (no sender is running): resolved, and the rule fires again. */
    cr_assert_eq(
        cx_test_sh("%s tickets resolve %lld --pg '%s' >/dev/null", cx_test_bin(), first, url), 0);
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner, reason)"
                          " VALUES ('courier-share', 'external', 'carriers', 'the second')");
    /* the resolution waits for a retry after the opening is due */
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE cx.notifications SET attempts = 1, next_attempt_at = now() + interval '2 s'"
             " WHERE ticket_id = %lld AND transition = 'resolved'",
             first);
    cx_test_pg_exec(conn, sql);

    start_run(0, "--alertmanager", am_url);
    wait_for("SELECT count(*) FROM cx.notifications WHERE status = 'sent'", 3, 30,
             "the resolution and the second opening sent");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications n1, cx.notifications n2"
                   " WHERE n1.transition = 'resolved' AND n2.ticket_id <> n1.ticket_id"
                   " AND (n2.deliveries->'alertmanager'->>'at')::timestamptz"
                   " < (n1.deliveries->'alertmanager'->>'at')::timestamptz"),
                 1, "the second ticket's opening went first");
    char want[64];
    snprintf(want, sizeof want, "ticket_id=%lld", first + 1);
    active_share_alerts(am_port, 0, alerts, sizeof alerts);
    cr_assert_str_eq(alerts, want, "active: \"%s\", not the second ticket's alert alone", alerts);
}

/* A restore from a backup sets the ticket_id sequence back: a ticket opened
 * after it gets the id of one opened, and delivered, after the backup was
 * taken (simulated: that ticket deleted and the sequence set back to its
 * id). The webhook gets the new ticket's opening under a key of its own (not
 * one it would drop as seen), and Alertmanager gets an alert of its own
 * (not merged into the lost ticket's, which nothing re-posts). */
Test(alerts, a_ticket_that_gets_a_delivered_ticket_s_id_after_a_restore_is_delivered_as_its_own)
{
    write_config(3600); /* no re-posting during the test */
    int am_port = start_alertmanager(), hook_port = cx_test_free_port();
    char am_url[64], hook[128], sql[256], want[512], alerts[512];
    snprintf(am_url, sizeof am_url, "http://127.0.0.1:%d/", am_port);
    hook_url(hook_port, hook, sizeof hook);
    start_hook(hook_port, NULL);
    setenv("CXPULSE_WEBHOOK_SECRET", SECRET, 1);
    pid_t run = start_run2(0, "--alertmanager", am_url, "--webhook", hook);
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner, reason)"
                          " VALUES ('courier-share', 'external', 'carriers', 'the first')");
    wait_for("SELECT count(*) FROM cx.notifications WHERE status = 'sent'", 1, 30,
             "the first ticket sent");
    long long first = ticket_id("courier-share");
    char uid1[64], uid2[64];
    snprintf(sql, sizeof sql, "SELECT uid FROM cx.tickets WHERE ticket_id = %lld", first);
    PGresult *r = PQexec(conn, sql);
    cr_assert_eq(PQntuples(r), 1);
    snprintf(uid1, sizeof uid1, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    cr_assert_eq(stop_kid(run, SIGTERM), 0);

    snprintf(sql, sizeof sql,
             "DELETE FROM cx.tickets WHERE ticket_id = %lld;"
             "SELECT setval(pg_get_serial_sequence('cx.tickets', 'ticket_id'), %lld, false)",
             first, first);
    cx_test_pg_exec(conn, sql);
    start_run2(0, "--alertmanager", am_url, "--webhook", hook);
    unsetenv("CXPULSE_WEBHOOK_SECRET");
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner, reason)"
                          " VALUES ('courier-share', 'external', 'carriers', 'the second')");
    wait_for("SELECT count(*) FROM cx.notifications WHERE status = 'sent'", 1, 30,
             "the second ticket sent");
    cr_assert_eq(ticket_id("courier-share"), first, "the second ticket has the first one's id");
    snprintf(sql, sizeof sql, "SELECT uid FROM cx.tickets WHERE ticket_id = %lld", first);
    r = PQexec(conn, sql);
    cr_assert_eq(PQntuples(r), 1);
    snprintf(uid2, sizeof uid2, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);

    json_t *recs = hook_records(), *rec;
    size_t i, n = 0;
    const char *keys[2] = {NULL, NULL};
    json_array_foreach(recs, i, rec)
    {
        cr_assert(json_is_true(json_object_get(rec, "signature_ok")), "a request was not signed");
        cr_assert_lt(n, 2, "more than the two openings were posted");
        keys[n++] = json_string_value(json_object_get(rec, "key"));
    }
    cr_assert_eq(n, 2);
    cr_assert_str_neq(keys[0], keys[1], "both tickets' openings have the key %s", keys[0]);
    json_decref(recs);

    /* both active: the lost ticket's alert lasts until its endsAt, hours ahead */
    if (strcmp(uid1, uid2) > 0)
        snprintf(want, sizeof want, "ticket_id=%lld/%s ticket_id=%lld/%s", first, uid2, first,
                 uid1);
    else
        snprintf(want, sizeof want, "ticket_id=%lld/%s ticket_id=%lld/%s", first, uid1, first,
                 uid2);
    active_share_alerts(am_port, 1, alerts, sizeof alerts);
    cr_assert_str_eq(alerts, want,
                     "active: \"%s\": the second ticket merged into the first one's alert?",
                     alerts);
}

/* SIGTERM while receivers accept the connection and never answer, each post
 * allowed a minute (alerts.timeout_ms): `cxpulse run` still exits within the
 * few seconds its stop promises (the orchestrators allow 60 s in all), the
 * interrupted delivery stays pending, and a run after the restart sends it. */
/* Waits up to 30 s for the receiver's first request (one, not yet answered). */
static void wait_for_the_first_post(void)
{
    json_t *recs = NULL;
    for (int i = 0; i < 300 && json_array_size(recs) == 0; i++) {
        json_decref(recs);
        recs = hook_records();
        if (json_array_size(recs) == 0)
            cx_test_sleep_ms(100);
    }
    cr_assert_eq(json_array_size(recs), 1, "the post never reached the receiver");
    json_decref(recs);
}

/* Sends SIGTERM to a service, which must exit 0; returns how many seconds it took. */
static double seconds_to_stop(pid_t pid)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(stop_kid(pid, SIGTERM), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

Test(alerts, a_stop_while_receivers_never_answer_exits_within_seconds_and_keeps_the_row_pending)
{
    int port = cx_test_free_port();
    char receivers[512];
    snprintf(receivers, sizeof receivers,
             "[{\"name\": \"h1\", \"kind\": \"webhook\", \"url\": \"http://127.0.0.1:%d/h1\","
             "  \"secret\": \"%s\"},"
             " {\"name\": \"h2\", \"kind\": \"webhook\", \"url\": \"http://127.0.0.1:%d/h2\","
             "  \"secret\": \"%s\"},"
             " {\"name\": \"h3\", \"kind\": \"webhook\", \"url\": \"http://127.0.0.1:%d/h3\","
             "  \"secret\": \"%s\"}]",
             port, SECRET, port, SECRET, port, SECRET);
    write_config_receivers(2, 60000, receivers);
    const char *hang[] = {"--hang", NULL};
    pid_t hook = start_hook(port, hang);
    pid_t run = start_run(0, NULL, NULL);
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner, reason)"
                          " VALUES ('courier-share', 'external', 'carriers', 'x')");
    wait_for_the_first_post();

    double took = seconds_to_stop(run);
    cr_assert_lt(took, 10.0, "the stop took %.1f s", took);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE status = 'pending'"
                   " AND NOT deliveries::text LIKE '%\"sent\"%'"
                   " AND next_attempt_at < now() + interval '3 seconds'"),
                 1, "the interrupted delivery must stay pending, due again soon");

    /* The receivers answer again: the next run delivers it to each. */
    stop_kid(hook, SIGKILL);
    start_hook(port, NULL);
    start_run(0, NULL, NULL);
    wait_all_sent(20);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE deliveries->'h1'->>'status' ="
                   " 'sent' AND deliveries->'h2'->>'status' = 'sent'"
                   " AND deliveries->'h3'->>'status' = 'sent'"),
                 1);
}

/* A receiver that hangs until the post's time-out (3 s) gets the next try a
 * whole backoff after the failed one ended (2 to 4 s, retry_min_ms 4000
 * with jitter), not a backoff after the row was claimed, which the post's
 * time-out had used up: the retry would come at once. */
Test(alerts, the_backoff_after_a_hanging_receiver_counts_from_the_end_of_the_try)
{
    int port = cx_test_free_port();
    char receivers[256];
    snprintf(receivers, sizeof receivers,
             "[{\"name\": \"h1\", \"kind\": \"webhook\", \"url\": \"http://127.0.0.1:%d/h1\","
             "  \"secret\": \"%s\"}]",
             port, SECRET);
    write_config_receivers(3600, 3000, receivers);
    cx_test_sh("sed -i 's/\"retry_min_ms\": 200, \"retry_max_ms\": 2000/\"retry_min_ms\": 4000,"
               " \"retry_max_ms\": 8000/' '%s'",
               cfgfile);
    const char *hang[] = {"--hang", NULL};
    start_hook(port, hang);
    pid_t run = start_run(0, NULL, NULL);
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner, reason)"
                          " VALUES ('courier-share', 'external', 'carriers', 'x')");
    long long left_ms = -1000000;
    for (int i = 0; i < 400 && left_ms == -1000000; i++) {
        left_ms = q("SELECT coalesce(max((extract(epoch FROM next_attempt_at - clock_timestamp())"
                    " * 1000)::bigint), -1000000) FROM cx.notifications WHERE attempts = 1");
        if (left_ms == -1000000)
            cx_test_sleep_ms(25);
    }
    cr_assert_neq(left_ms, -1000000, "the first try was never recorded");
    /* the shortest first backoff is 2000 ms (jitter): read from here after
     * the commit, a poll and a query on a loaded machine, well over 1000 */
    cr_assert_gt(left_ms, 1000, "the next try is due %lld ms after the failed one ended", left_ms);
    cr_assert_eq(stop_kid(run, SIGTERM), 0);
}

/* The receivers list of one Alertmanager, "am", on port. */
static void am_receiver(int port, char *out, size_t outlen)
{
    snprintf(out, outlen,
             "[{\"name\": \"am\", \"kind\": \"alertmanager\","
             "  \"url\": \"http://127.0.0.1:%d/\"}]",
             port);
}

/* Two instances share an Alertmanager that never answers (posts time out
 * after 20 s). The second waits for the first's post to end before posting
 * (one post at a time to an Alertmanager); a stop meanwhile still ends
 * within its 5 s grace period, and the row it held stays pending. */
Test(alerts, a_stop_while_another_instance_posts_to_the_alertmanager_exits_within_seconds)
{
    int port = cx_test_free_port();
    char receivers[256];
    am_receiver(port, receivers, sizeof receivers);
    write_config_receivers(3600, 20000, receivers);
    const char *hang[] = {"--hang", NULL};
    start_hook(port, hang);
    pid_t first = start_run(0, NULL, NULL);
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner, reason)"
                          " VALUES ('courier-share', 'external', 'carriers', 'x')");
    wait_for_the_first_post();
    pid_t second = start_run(0, NULL, NULL);
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner, reason)"
                          " VALUES ('courier-complaints', 'external', 'carriers', 'y')");
    cx_test_sleep_ms(4000); /* the second has claimed it and waits for the first's post */
    json_t *recs = hook_records();
    cr_assert_eq(json_array_size(recs), 1, "two posts at once to the Alertmanager");
    json_decref(recs);

    /* 5 s of grace, then the consumer leaves its group: 9.0 s on one busy
     * machine; waiting for the first's post instead would take its 20 s */
    double took = seconds_to_stop(second);
    cr_assert_lt(took, 12.0, "the stop took %.1f s", took);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE status = 'pending'"), 2);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE deliveries ? 'am'"), 0);
    stop_kid(first, SIGKILL);
}

/* An instance frozen in the middle of a post to the Alertmanager (SIGSTOP:
 * as a paused machine, its connections stay open) holds the lock that makes
 * posts to it go one at a time. Its claim's transaction then stays idle for
 * longer than a post may take (timeout_ms), and the server ends its session
 * soon after, which frees the lock: the other instance delivers while the
 * first is still frozen, instead of waiting for as long as it is. */
Test(alerts, an_instance_frozen_mid_post_does_not_hold_up_another_posting_to_the_alertmanager)
{
    int port = cx_test_free_port();
    char receivers[256];
    am_receiver(port, receivers, sizeof receivers);
    write_config_receivers(3600, 2000, receivers);
    const char *hang_first[] = {"--hang-first", "1", NULL};
    start_hook(port, hang_first);
    pid_t first = start_run(0, NULL, NULL);
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner, reason)"
                          " VALUES ('courier-share', 'external', 'carriers', 'x')");
    wait_for_the_first_post();
    cr_assert_eq(kill(first, SIGSTOP), 0);
    pid_t second = start_run(0, NULL, NULL);
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner, reason)"
                          " VALUES ('courier-complaints', 'external', 'carriers', 'y')");
    const char *sent = "SELECT count(*) FROM cx.notifications"
                       " WHERE status = 'sent' AND deliveries->'am'->>'status' = 'sent'";
    wait_for(sent, 2, 60, "notifications sent while the first instance was frozen");
    cr_assert_eq(kill(first, SIGCONT), 0);
    cr_assert_eq(stop_kid(second, SIGTERM), 0);
    cr_assert_eq(stop_kid(first, SIGTERM), 0);
    cr_assert_eq(q(sent), 2);
    /* the frozen post was never answered; each transition was answered once */
    json_t *recs = hook_records();
    size_t answered = 0, hung = 0, i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        long long st = json_integer_value(json_object_get(r, "status"));
        answered += st == 200;
        hung += st == 0;
    }
    json_decref(recs);
    cr_assert_eq(hung, 1);
    cr_assert_eq(answered, 2, "%zu posts answered for 2 transitions", answered);
}

/* With tickets.max_age_minutes as it comes (a day), a topic's history (the
 * complaints here are dated November 2026) is stored and counted but opens
 * no ticket: a first deployment does not announce incidents long over. */
Test(alerts, history_read_with_the_default_settings_opens_no_ticket)
{
    unsetenv("CXPULSE_TICKETS_MAX_AGE_MINUTES");
    run_with_signed_webhook(NULL);
    complaints(15);
    wait_for("SELECT coalesce(sum(next_offset), 0) FROM cx.consumer_offsets", 15, 30,
             "messages handled");
    cr_assert_eq(q("SELECT count(*) FROM cx.events"), 15);
    cr_assert_eq(q("SELECT sum(negative) FROM cx.signals WHERE window_seconds = 60"
                   " AND category = 'external'"),
                 15);
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets"), 0, "history opened a ticket");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications"), 0);
}

/* A ticket's opening goes out as its batch commits, not at the sender's next
 * look (alerts.poll_ms, here a minute): the batch wakes it. */
Test(alerts, a_ticket_opened_is_sent_at_once_not_at_the_next_poll)
{
    poll_ms = 60000;
    write_config(2);
    run_with_signed_webhook(NULL);
    /* the sender has looked, found nothing, and waits its minute */
    wait_for("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
             " AND application_name LIKE 'cxpulse%'",
             1, 30, "cxpulse sessions");
    cx_test_sleep_ms(3000);
    complaints(1);
    wait_for("SELECT count(*) FROM cx.tickets", 1, 30, "the ticket opened");
    int64_t t0 = cx_now_mono_us();
    wait_for_the_first_post();
    double took = (double)(cx_now_mono_us() - t0) / 1e6;
    cr_assert_lt(took, 10, "the opening was posted %.1f s after the ticket opened", took);
}

/* alerts.update_seconds: while complaints keep coming, a webhook (a comment
 * in someone's tracker per post) is sent the openings at once and the updates
 * not before the hold ends; a resolve meanwhile goes out at once. */
Test(alerts, updates_are_held_back_by_update_seconds_and_a_resolve_is_not)
{
    update_seconds = 3600;
    write_config(2);
    run_with_signed_webhook(NULL);
    open_and_update_two_tickets();
    complaints(3);
    wait_for("SELECT count(*) FROM cx.notifications WHERE transition = 'opened'"
             " AND status = 'sent'",
             2, 15, "openings sent");
    wait_for("SELECT count(DISTINCT ticket_id) FROM cx.notifications WHERE transition ="
             " 'updated' AND status = 'pending' AND next_attempt_at > now() + interval '3000 s'",
             2, 15, "tickets with an update held back");
    long long id = ticket_id("courier-share");
    cr_assert_eq(cx_test_sh("%s tickets resolve %lld --pg '%s' >/dev/null", cx_test_bin(), id, url),
                 0);
    wait_for("SELECT count(*) FROM cx.notifications WHERE transition = 'resolved'"
             " AND status = 'sent'",
             1, 15, "the resolve sent");
    json_t *recs = hook_records(), *r;
    size_t i, updates = 0, resolves = 0;
    json_array_foreach(recs, i, r)
    {
        const char *tr =
            json_string_value(json_object_get(json_object_get(r, "body"), "transition"));
        updates += tr != NULL && strcmp(tr, "updated") == 0;
        resolves += tr != NULL && strcmp(tr, "resolved") == 0;
    }
    json_decref(recs);
    cr_assert_eq(updates, 0, "an update went out before its hold ended");
    cr_assert_eq(resolves, 1);
}

Test(alerts, a_receiver_that_refuses_the_first_requests_gets_every_transition_once)
{
    const char *extra[] = {"--refuse", "3", NULL};
    run_with_signed_webhook(extra);
    open_and_update_two_tickets();
    long long id = ticket_id("courier-share");
    cr_assert_eq(cx_test_sh("%s tickets ack %lld --pg '%s' >/dev/null", cx_test_bin(), id, url),
                 0);
    cr_assert_eq(cx_test_sh("%s tickets resolve %lld --pg '%s' >/dev/null", cx_test_bin(), id,
                            url),
                 0);
    wait_for("SELECT count(*) FROM cx.notifications WHERE transition = 'resolved'", 1, 10,
             "resolution written");
    wait_all_sent(30);
    size_t accepted = assert_each_transition_once();
    json_t *recs = hook_records();
    cr_assert_eq(json_array_size(recs), accepted + 3, "the first 3 were refused, then retried");
    json_decref(recs);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM cx.notifications WHERE ticket_id = %lld AND transition IN"
             " ('opened', 'acknowledged', 'resolved')",
             id);
    cr_assert_eq(q(sql), 3, "opened, acknowledged and resolved, each once");
    cr_assert_gt(q("SELECT max(attempts) FROM cx.notifications"), 1);
}

Test(alerts, a_receiver_down_for_20_seconds_gets_every_transition_once_when_back)
{
    int port = cx_test_free_port();
    char hook[128];
    hook_url(port, hook, sizeof hook);
    setenv("CXPULSE_WEBHOOK_SECRET", SECRET, 1);
    start_run(0, "--webhook", hook);
    unsetenv("CXPULSE_WEBHOOK_SECRET");
    complaints(12);
    wait_for("SELECT count(*) FROM cx.notifications WHERE attempts > 0"
             " AND last_error LIKE 'webhook: no answer%'",
             1, 30, "failed attempts while the receiver is down");
    cx_test_sleep_ms(20000);
    cr_assert_gt(q("SELECT count(*) FROM cx.notifications WHERE status = 'pending'"), 0);
    cr_assert_gt(q("SELECT max(attempts) FROM cx.notifications"), 3, "retried meanwhile");
    start_hook(port, NULL);
    wait_all_sent(20);
    assert_each_transition_once();
}

/* Starts a receiver on port that answers with `extra`'s refusal and a
 * service delivering to it (with /metrics on http_port, 0 for none), opens
 * two tickets, waits until every notification has failed, and checks that
 * none was posted twice (well past retry_min_ms). Returns how many there are. */
static long long all_refused(int port, int http_port, const char *const *extra, pid_t *hook_pid)
{
    *hook_pid = start_hook(port, extra);
    char hook[128];
    hook_url(port, hook, sizeof hook);
    setenv("CXPULSE_WEBHOOK_SECRET", SECRET, 1);
    start_run(http_port, "--webhook", hook);
    unsetenv("CXPULSE_WEBHOOK_SECRET");
    complaints(12);
    wait_for("SELECT count(*) FROM cx.tickets", 2, 30, "tickets opened");
    long long rows = q("SELECT count(*) FROM cx.notifications");
    wait_for("SELECT count(*) FROM cx.notifications WHERE status = 'failed'", rows, 20,
             "notifications failed");
    cx_test_sleep_ms(3000);
    json_t *recs = hook_records();
    cr_assert_eq(json_array_size(recs), (size_t)rows, "a refused notification was posted again");
    json_decref(recs);
    return rows;
}

Test(alerts, a_400_answer_is_marked_failed_and_not_retried)
{
    int port = cx_test_free_port(), http_port = cx_test_free_port();
    const char *extra[] = {"--status", "400", NULL};
    pid_t hook_pid;
    long long rows = all_refused(port, http_port, extra, &hook_pid);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE attempts = 1 AND"
                   " last_error = 'webhook: HTTP 400: refused on purpose'"),
                 rows);
    /* per receiver: the --webhook shortcut's is named webhook */
    cr_assert_eq(metric(http_port, "cxpulse_notifications_failed_total{receiver=\"webhook\"}"),
                 (double)rows);
    int ok = 0;
    for (int i = 0; i < 30 && !ok; i++) { /* the gauge is refreshed every second */
        ok = metric(http_port, "cxpulse_notifications_failed") == (double)rows &&
             metric(http_port, "cxpulse_notifications_pending") == 0;
        if (!ok)
            cx_test_sleep_ms(100);
    }
    cr_assert(ok, "/metrics does not count the failed rows");
    /* The owners' view and the notifications command show it. */
    cr_assert_eq(cx_test_sh("%s tickets list --pg '%s' | grep >/dev/null 'webhook=failed'",
                            cx_test_bin(), url),
                 0);
    cr_assert_eq(cx_test_sh("%s notifications list --status failed --pg '%s'"
                            " | grep >/dev/null 'HTTP 400: refused on purpose'",
                            cx_test_bin(), url),
                 0);
    /* Fixed on the receiver's side: `notifications retry --failed` sends them again. */
    stop_kid(hook_pid, SIGTERM);
    start_hook(port, NULL);
    cr_assert_eq(cx_test_sh("%s notifications retry --failed --pg '%s' | grep >/dev/null '^%lld "
                            "notification(s) queued again'",
                            cx_test_bin(), url, rows),
                 0);
    wait_all_sent(20);
    assert_each_transition_once();
}

/* A receiver's answer is kept as text even when it is not UTF-8 (cut to 255
 * bytes, maybe inside a character): the row is marked, not posted again and
 * again because PostgreSQL refuses the record of it. */
Test(alerts, an_answer_that_is_not_utf8_is_recorded_and_the_row_not_posted_again)
{
    const char *extra[] = {"--status", "400", "--latin1", NULL};
    pid_t hook_pid;
    long long rows = all_refused(cx_test_free_port(), 0, extra, &hook_pid);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE attempts = 1 AND"
                   " last_error LIKE 'webhook: HTTP 400: refus? refus? %'"),
                 rows);
}

/* A receiver's answer reaches an operator's terminal through `notifications
 * list`, and an analyst's through psql: it is recorded without control
 * characters (escape sequences that would retitle or recolour the terminal,
 * tabs, line breaks, C1 controls, marks that turn text around). */
Test(alerts, an_answer_with_terminal_escapes_is_recorded_without_control_characters)
{
    const char *extra[] = {"--status", "400", "--ansi", NULL};
    pid_t hook_pid;
    long long rows = all_refused(cx_test_free_port(), 0, extra, &hook_pid);
    cr_assert_eq(
        q("SELECT count(*) FROM cx.notifications WHERE last_error LIKE"
          " 'webhook: HTTP 400: %refused%badly%evil' AND last_error !~ '[\\x01-\\x1f\\x7f]'"
          " AND last_error !~ '[\\u0080-\\u009f\\u202a-\\u202e\\u2066-\\u2069]'"
          " AND deliveries::text !~ '[\\u0080-\\u009f\\u202a-\\u202e\\u2066-\\u2069]'"),
        rows);
    /* and shown to the operator without them */
    cr_assert_eq(cx_test_sh("%s notifications list --pg '%s' > '%s/list' && grep -q evil '%s/list'"
                            " && ! grep -q \"$(printf '\\302\\233')\" '%s/list'"
                            " && ! grep -q \"$(printf '\\342\\200\\256')\" '%s/list'",
                            cx_test_bin(), url, dir, dir, dir, dir),
                 0);
}

Test(alerts, a_run_killed_between_the_tickets_commit_and_its_delivery_delivers_it_after_restart)
{
    int port = cx_test_free_port();
    char hook[128];
    hook_url(port, hook, sizeof hook);
    setenv("CXPULSE_WEBHOOK_SECRET", SECRET, 1);
    pid_t run = start_run(0, "--webhook", hook);
    complaints(12);
    /* Committed, not delivered: nothing listens on the receiver's port yet. */
    wait_for("SELECT count(*) FROM cx.notifications WHERE attempts > 0", 1, 30,
             "a failed first attempt");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE status = 'sent'"), 0);
    cr_assert_eq(stop_kid(run, SIGKILL), 128 + SIGKILL);
    start_hook(port, NULL);
    start_run(0, "--webhook", hook);
    unsetenv("CXPULSE_WEBHOOK_SECRET");
    wait_all_sent(30);
    assert_each_transition_once();
}

Test(alerts, two_instances_deliver_each_row_once)
{
    int port = cx_test_free_port(), http1 = cx_test_free_port(), http2 = cx_test_free_port();
    const char *extra[] = {"--delay-ms", "40", NULL}; /* so that both senders get work */
    start_hook(port, extra);
    char hook[128];
    hook_url(port, hook, sizeof hook);
    setenv("CXPULSE_WEBHOOK_SECRET", SECRET, 1);
    start_run(http1, "--webhook", hook);
    start_run(http2, "--webhook", hook);
    unsetenv("CXPULSE_WEBHOOK_SECRET");
    for (int b = 0; b < 4; b++) {
        complaints(12);
        cx_test_sleep_ms(300);
    }
    wait_for("SELECT count(*) FROM cx.events", produced, 60, "events stored");
    /* Many tickets at once, and owners acknowledging them. */
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner, reason)"
                          " SELECT 'bulk-' || g, 'external', 'carriers', 'bulk test'"
                          " FROM generate_series(1, 40) g");
    for (int i = 1; i <= 5; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT ticket_id FROM cx.tickets WHERE rule = 'bulk-%d'", i);
        cr_assert_eq(cx_test_sh("%s tickets ack %lld --pg '%s' >/dev/null", cx_test_bin(), q(sql),
                                url),
                     0);
    }
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE transition = 'acknowledged'"), 5);
    wait_all_sent(60);
    long long rows = q("SELECT count(*) FROM cx.notifications WHERE status <> 'superseded'");
    cr_assert_geq(rows, 46);
    size_t accepted = assert_each_transition_once();
    cr_assert_eq(accepted, (size_t)rows, "a row was delivered twice");
    double s1 = metric(http1, "cxpulse_notifications_sent_total{receiver=\"webhook\"}");
    double s2 = metric(http2, "cxpulse_notifications_sent_total{receiver=\"webhook\"}");
    cr_assert(s1 > 0 && s2 > 0, "one instance sent everything (%g, %g)", s1, s2);
    cr_assert_eq(s1 + s2, (double)rows);
}

Test(alerts, the_demos_spike_reaches_a_webhook)
{
    int port = cx_test_free_port();
    start_hook(port, NULL);
    char hook[128], src[1024], out[400];
    hook_url(port, hook, sizeof hook);
    cx_test_source_path("", src, sizeof src);
    snprintf(out, sizeof out, "%s/demo-output.txt", dir);
    cr_assert_eq(cx_test_sh("cd '%s' && CXPULSE_WEBHOOK_SECRET='%s' %s demo --pg '%s' --http off"
                            " --log-level warn --webhook '%s' >'%s' 2>&1",
                            src, SECRET, cx_test_bin(), url, hook, out),
                 0, "see %s", out);
    /* The carrier incident's ticket reached the receiver, signed, when it opened. */
    json_t *recs = hook_records();
    size_t i;
    json_t *r;
    int spike = 0;
    char window[128] = "", reason[512] = "";
    json_array_foreach(recs, i, r)
    {
        json_t *body = json_object_get(r, "body"), *t = json_object_get(body, "ticket");
        int this =
            strcmp(json_string_value(json_object_get(body, "transition")), "opened") == 0 &&
            strcmp(json_string_value(json_object_get(t, "rule")), "external-negative-spike") == 0 &&
            strcmp(json_string_value(json_object_get(t, "owner")), "vendor-management") == 0;
        if (this) {
            const char *from = json_string_value(json_object_get(t, "window_start"));
            const char *to = json_string_value(json_object_get(t, "window_end"));
            snprintf(window, sizeof window, "%s to %s", from ? from : "null", to ? to : "null");
            snprintf(reason, sizeof reason, "%s", json_string_value(json_object_get(t, "reason")));
        }
        spike |= this;
    }
    json_decref(recs);
    cr_assert(spike, "the spike's ticket did not reach the webhook");
    /* with the window its reason names ("... in the 15 minutes to 2026-10-30 02:37 UTC"),
     * in UTC like the ticket's other times */
    char named[64];
    const char *to = strstr(reason, "minutes to ");
    cr_assert_not_null(to, "%s", reason);
    snprintf(named, sizeof named, "T%.5s:00Z", to + strlen("minutes to ") + 11);
    cr_assert(strlen(window) == 44 && strcmp(window + 34, named) == 0 &&
                  strncmp(window + 24, to + strlen("minutes to "), 10) == 0 &&
                  strncmp(window, window + 24, 20) < 0 && strncmp(window + 17, "00Z", 3) == 0,
              "window %s, reason %s", window, reason);
    wait_all_sent(1);
    assert_each_transition_once();
    cr_assert_eq(
        cx_test_sh("grep -A8 '^Ticket notifications' '%s' | grep >/dev/null 'opened *sent'", out),
        0, "the summary does not show the deliveries (%s)", out);
    /* the spike's later batches updated its ticket: held back, and said so */
    cr_assert_gt(q("SELECT count(*) FROM cx.notifications WHERE " HELD_BACK), 0);
    cr_assert_eq(
        cx_test_sh("grep -A8 '^Ticket notifications' '%s' | grep >/dev/null 'updated *held back'",
                   out),
        0, "the summary does not show the updates held back (%s)", out);
}

Test(alerts, the_outbox_row_shares_the_transition_s_transaction)
{
    /* Rolled back: neither ticket nor notification. */
    cx_test_pg_exec(conn, "BEGIN");
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner, reason)"
                          " VALUES ('r', 'external', 'carriers', 'x')");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE transition = 'opened'"), 1);
    cx_test_pg_exec(conn, "ROLLBACK");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications"), 0);
    /* Committed: one row per transition, numbered; an update that changes
     * nothing an owner sees is no transition. */
    cx_test_pg_exec(conn, "INSERT INTO cx.tickets (rule, category, owner, reason)"
                          " VALUES ('r', 'external', 'carriers', 'x')");
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET updated_at = now()");
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET event_count = 5");
    long long id = q("SELECT ticket_id FROM cx.tickets");
    cr_assert_eq(cx_test_sh("%s tickets ack %lld --pg '%s' >/dev/null", cx_test_bin(), id, url),
                 0);
    cr_assert_eq(cx_test_sh("%s tickets resolve %lld --pg '%s' >/dev/null", cx_test_bin(), id,
                            url),
                 0);
    PGresult *r = PQexec(conn, "SELECT string_agg(seq || ':' || transition || ':' ||"
                               " (ticket->>'status'), ' ' ORDER BY seq) FROM cx.notifications");
    cr_assert_str_eq(PQgetvalue(r, 0, 0),
                     "1:opened:open 2:updated:open 3:acknowledged:acknowledged"
                     " 4:resolved:resolved");
    PQclear(r);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE status = 'pending'"), 3,
                 "waiting for a sender");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE status = 'superseded'"
                   " AND seq = 2"),
                 1, "the update waiting behind 1 is superseded by the acknowledgement");
}

Test(alerts, routes_pick_receivers_and_chat_gets_what_people_act_on)
{
    int port = cx_test_free_port();
    start_hook(port, NULL);
    char routes[400];
    snprintf(routes, sizeof routes, "%s/routes.json", dir);
    FILE *f = fopen(routes, "w");
    fprintf(f,
            "{\"alerts\": {\"receivers\": ["
            " {\"name\": \"crm\", \"kind\": \"webhook\","
            "  \"url\": \"http://127.0.0.1:%d/hooks/crm\", \"secret\": \"%s\"},"
            " {\"name\": \"chat\", \"kind\": \"slack\", \"url\": \"http://127.0.0.1:%d/chat/T0\"}],"
            " \"routes\": ["
            " {\"owner\": \"carriers\", \"rule\": \"courier-share\", \"receivers\": [\"chat\", \"crm\"]},"
            " {\"owner\": \"carriers\", \"receivers\": [\"crm\"]}]}}",
            port, SECRET, port);
    fclose(f);
    start_run(0, "--config", routes);
    open_and_update_two_tickets();
    long long id = ticket_id("courier-share");
    /* an update of the share ticket delivered (to crm; chat skips updates)
     * before it is resolved: else the resolution would supersede it */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM cx.notifications WHERE ticket_id = %lld AND"
             " transition = 'updated' AND deliveries->'chat'->>'status' = 'skipped'"
             " AND deliveries->'crm'->>'status' = 'sent'",
             id);
    wait_for(sql, 1, 30, "an update of the share ticket sent to crm, not to chat");
    cr_assert_eq(cx_test_sh("%s tickets resolve %lld --pg '%s' >/dev/null", cx_test_bin(), id,
                            url),
                 0);
    wait_for("SELECT count(*) FROM cx.notifications WHERE transition = 'resolved'", 1, 10,
             "resolution written");
    wait_all_sent(30);
    assert_each_transition_once(); /* crm: every transition of both tickets */
    /* chat: the share ticket's opening and resolution, as text; no updates, and
     * nothing of the ticket its route does not send there. */
    json_t *recs = hook_records();
    size_t i;
    json_t *r;
    char texts[2048] = "";
    json_array_foreach(recs, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "path")), "/chat/T0") != 0)
            continue;
        const char *text = json_string_value(json_object_get(json_object_get(r, "body"), "text"));
        cr_assert_not_null(text);
        cr_assert(strstr(text, "for *carriers* (rule courier-share, external): negative share") !=
                          NULL ||
                      strstr(text, " resolved for *carriers* (rule courier-share, external)"
                                   " by postgres; last firing: negative share") != NULL,
                  "%s", text);
        cr_assert(strstr(text, "<http://cx.example/live|live page>") != NULL, "%s", text);
        snprintf(texts + strlen(texts), sizeof texts - strlen(texts), "%s%s", texts[0] ? "|" : "",
                 strstr(text, " opened ") ? "opened" : strstr(text, " resolved ") ? "resolved" : text);
    }
    json_decref(recs);
    cr_assert_str_eq(texts, "opened|resolved");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE deliveries ? 'chat'"
                   " AND ticket->>'rule' = 'courier-complaints'"),
                 0, "the route sends courier-complaints to crm only");
}

/* Waits until every complaint produced is stored, then until every row is sent. */
static void wait_stored_and_sent(void)
{
    wait_for("SELECT count(*) FROM cx.events", produced, 30, "complaints stored");
    wait_all_sent(30);
}

/* n complaints dated evenly over span_minutes from hour:minute, 1 November 2026. */
static void complaints_over(int n, int hour, int minute, int span_minutes)
{
    char err[512], v[400];
    for (int i = 0; i < n; i++, produced++) {
        long at = hour * 3600L + minute * 60L + (long)i * span_minutes * 60 / n;
        int len =
            snprintf(v, sizeof v,
                     "{\"event_id\":\"al-%ld\",\"occurred_at\":\"2026-11-01T%02ld:%02ld:%02ldZ\","
                     "\"channel\":\"chat\",\"text\":\"the courier lost my parcel, terrible"
                     " service\"}",
                     produced, at / 3600, at / 60 % 60, at % 60);
        cr_assert_eq(
            cx_producer_send(producer, "cx.events", "k", 1, v, (size_t)len, 0, err, sizeof err),
            CX_OK, "%s", err);
    }
    uint64_t delivered;
    cr_assert_eq(cx_producer_flush(producer, 30000, &delivered, err, sizeof err), CX_OK, "%s", err);
}

/* A ticket left open after its incident (nobody resolved it) takes the next
 * one as an update: chat hears of it once, "fired again after 2 h 30 min
 * quiet", even when the owner has just acknowledged it, and not of the
 * firings that follow it closely, nor of an incident that went on while the
 * service was stopped (read after it starts, in one batch: quiet is measured
 * in event time, to the earliest window or event that fired). */
Test(alerts, chat_hears_of_a_ticket_firing_again_after_a_quiet_spell_once)
{
    int port = cx_test_free_port();
    start_hook(port, NULL);
    char receivers[200];
    snprintf(
        receivers, sizeof receivers,
        "[{\"name\": \"chat\", \"kind\": \"slack\", \"url\": \"http://127.0.0.1:%d/chat/T0\"}]",
        port);
    write_config_receivers(60, 3000, receivers);
    pid_t run = start_run(0, "--config", cfgfile);
    complaints(12); /* 10:00-10:01 */
    wait_for("SELECT count(*) FROM cx.tickets", 2, 30, "tickets opened");
    wait_stored_and_sent();
    /* stopped while the incident goes on for an hour and a half */
    cr_assert_eq(stop_kid(run, SIGTERM), 0);
    complaints_over(120, 10, 2, 88);
    start_run(0, "--config", cfgfile);
    wait_stored_and_sent();
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE transition = 'updated'"
                   " AND quiet_before < interval '30 min'"),
                 q("SELECT count(*) FROM cx.notifications WHERE transition = 'updated'"),
                 "an incident that went on was called quiet");
    cr_assert_geq(q("SELECT count(DISTINCT ticket_id) FROM cx.notifications"
                    " WHERE transition = 'updated'"),
                  2, "both tickets fired on the backlog");
    /* the owner acknowledges both; 2 h 30 min later in event time, a new incident */
    long long ids[] = {q("SELECT min(ticket_id) FROM cx.tickets"),
                       q("SELECT max(ticket_id) FROM cx.tickets")};
    for (size_t k = 0; k < 2; k++)
        cr_assert_eq(
            cx_test_sh("%s tickets ack %lld --pg '%s' >/dev/null", cx_test_bin(), ids[k], url), 0);
    wait_all_sent(30);
    complaints_over(12, 14, 0, 1);
    wait_stored_and_sent();
    cr_assert_eq(q("SELECT count(DISTINCT ticket_id) FROM cx.notifications WHERE transition ="
                   " 'updated' AND quiet_before BETWEEN interval '140 min' AND interval '160 min'"),
                 2, "both tickets fired again after their quiet spell");
    complaints_over(3, 14, 2, 1); /* moments later */
    wait_stored_and_sent();
    json_t *recs = hook_records(), *r;
    size_t i, opened = 0, acked = 0, again = 0, other = 0;
    char unexpected[1024] = "";
    json_array_foreach(recs, i, r)
    {
        const char *text = json_string_value(json_object_get(json_object_get(r, "body"), "text"));
        cr_assert_not_null(text);
        if (strstr(text, " opened for *carriers* "))
            opened++;
        else if (strstr(text, " acknowledged for *carriers* ") &&
                 strstr(text, ") by postgres; last firing: "))
            acked++;
        else if (strstr(text, " fired again after 2 h ") &&
                 strstr(text, " quiet (still acknowledged) for *carriers* (rule "))
            again++;
        else if (other++ == 0)
            snprintf(unexpected, sizeof unexpected, "%s", text);
    }
    json_decref(recs);
    cr_assert_eq(other, 0, "chat got %s", unexpected);
    cr_assert_eq(opened, 2);
    cr_assert_eq(acked, 2);
    cr_assert_eq(again, 2, "each ticket's firing after its quiet spell, once");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE transition = 'updated'"
                   " AND quiet_before < interval '60 min'"
                   " AND deliveries->'chat'->>'status' IS DISTINCT FROM 'skipped'"),
                 0, "an update without a quiet spell reached chat");
}
