/*
 * cmd_demo.c - `cxpulse demo`: the whole pipeline on one machine with
 * nothing configured. Starts an in-process mock Kafka cluster, replays the
 * sample data set compiled into it (config/sample/events.jsonl), runs the service
 * against the PostgreSQL given by --pg or the environment until every message
 * is handled, then prints what an operations team would look at first.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "event.h"
#include "http.h"
#include "ingest.h"
#include "pg.h"

#define DEMO_TOPIC "cx.events"

static int usage(FILE *out, int rc)
{
    fprintf(out, "usage: cxpulse demo [--config FILE] [--pg URL] [--data FILE] [--http ADDR:PORT]\n"
                 "                    [--serve] [--log-level LEVEL] [--webhook URL]\n"
                 "                    [--alertmanager URL]\n\n"
                 "Runs the whole pipeline on sample data: an in-process mock Kafka, the\n"
                 "sample data compiled in (config/sample/events.jsonl; --data FILE for\n"
                 "another), the PostgreSQL of --pg, CXPULSE_PG_URL or libpq's environment;\n"
                 "then prints a summary.\n"
                 "The live page is at http://127.0.0.1:9464/ while it runs; --serve keeps\n"
                 "the service (and the page) running after the summary, until Ctrl-C, and\n"
                 "prints the mock broker's address for `cxpulse replay`. With --webhook or\n"
                 "--alertmanager (or alerts.* in --config) the tickets are delivered there.\n");
    return rc;
}

/* Prints the rows of one query as an indented table, each column as wide as
 * its widest value (in terminal columns). */
static void show(PGconn *conn, const char *title, const char *sql, int *failed)
{
    PGresult *r = PQexec(conn, sql);
    printf("\n%s\n", title);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
        msg[strcspn(msg, "\n")] = '\0'; /* libpq's first line: the rest quotes the query */
        printf("  (not shown: the query failed)\n");
        fflush(stdout);
        fprintf(stderr, "cxpulse demo: %s: %s\n", title, msg);
        PQclear(r);
        *failed = 1;
        return;
    }
    int cols = PQnfields(r), rows = PQntuples(r);
    size_t width[16] = {0};
    if (cols > (int)CX_ARRAY_LEN(width))
        cols = (int)CX_ARRAY_LEN(width);
    char v[256];
    for (int i = -1; i < rows; i++)
        for (int c = 0; c < cols; c++) {
            const char *t = cx_printable(i < 0 ? PQfname(r, c) : PQgetvalue(r, i, c), v, sizeof v);
            size_t n = cx_utf8_columns(t, strlen(t));
            width[c] = n > width[c] ? n : width[c];
        }
    for (int i = -1; i < rows; i++) {
        for (int c = 0; c < cols; c++) {
            printf("  ");
            cx_cmd_print_cell(i < 0 ? PQfname(r, c) : PQgetvalue(r, i, c), width[c], c + 1 < cols);
        }
        printf("\n");
    }
    PQclear(r);
}

static void not_found(void *ctx, const char *path, cx_http_response *res)
{
    (void)ctx, (void)path;
    res->status = 404;
}

int cx_cmd_demo(int argc, char **argv)
{
    if (cx_cmd_wants_help(argc, argv))
        return usage(stdout, CX_EXIT_OK);
    const char *data = NULL; /* the bundled sample */
    int serve = 0;
    char err[1024], group[64];
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int n_rest = 0, rc = CX_EXIT_USAGE;
    cx_config *cfg = cx_config_new();
    cx_mock *mock = NULL;
    PGconn *conn = NULL;
    cx_metrics *metrics = NULL;
    if (cfg == NULL || rest == NULL)
        goto done;
    if (cx_config_parse_cli(cfg, argc, argv, rest, &n_rest, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse demo: %s\n", err);
        goto done;
    }
    const cx_cmd_string strs[] = {{"--data", &data, NULL, 0}};
    const cx_cmd_flag flags[] = {{"--serve", &serve}};
    const cx_cmd_spec spec = {.strs = strs,
                              .n_strs = CX_ARRAY_LEN(strs),
                              .flags = flags,
                              .n_flags = CX_ARRAY_LEN(flags),
                              .config_flags = 1};
    if (cx_cmd_parse_options("demo", rest, n_rest, &spec) != 0)
        goto done;
    if (serve && strcmp(cfg->http_listen, "off") == 0) {
        fprintf(stderr, "cxpulse demo: --serve serves the live page: give --http ADDR:PORT, "
                        "not off\n");
        goto done;
    }
    /* Port 0 (any free one): one picked now, so that the run of the summary
     * and --serve's serve the page on the same port, the one printed. */
    const char *colon = strrchr(cfg->http_listen, ':');
    if (strcmp(cfg->http_listen, "off") != 0 && colon != NULL && strcmp(colon, ":0") == 0) {
        cx_http *probe = NULL;
        char listen[128];
        cx_status bound = cx_http_new(&probe, cfg->http_listen, not_found, NULL, err, sizeof err);
        if (bound == CX_OK)
            snprintf(listen, sizeof listen, "%.*s:%d", (int)(colon - cfg->http_listen),
                     cfg->http_listen, cx_http_port(probe));
        cx_http_free(probe);
        if (bound != CX_OK || cx_config_set(cfg, "http.listen", listen, err, sizeof err) != CX_OK) {
            fprintf(stderr, "cxpulse demo: %s\n", err);
            rc = CX_EXIT_RUNTIME;
            goto done;
        }
    }
    cx_log_set_level(cfg->log_level);
    rc = CX_EXIT_RUNTIME; /* as classify, eval and train say of an input they cannot read */
    if (data != NULL && access(data, R_OK) != 0) {
        char shown[1024];
        fprintf(stderr, "cxpulse demo: --data %s: %s\n",
                cx_cmd_quote_path(data, shown, sizeof shown), strerror(errno));
        goto done;
    }
    /* each step's line when it happens, also into a pipe or a file (| tee) */
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *data_name = data != NULL ? data : "the bundled sample data";
    int applied, version;
    printf("cxpulse demo\n- migrating the cx schema ...\n");
    cx_status st = cx_pg_migrate(cfg->pg_url, &applied, &version, err, sizeof err);
    if (st != CX_OK) {
        fprintf(stderr, "cxpulse demo: %s\n", err);
        rc = cx_cmd_exit_status(st);
        goto done;
    }
    if (cx_mock_new(&mock, 1, err, sizeof err) != CX_OK ||
        cx_mock_create_topic(mock, DEMO_TOPIC, 4, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse demo: %s\n", err);
        goto done;
    }
    printf("- mock Kafka at %s, topic %s with 4 partitions\n", cx_mock_bootstraps(mock),
           DEMO_TOPIC);
    uint64_t produced;
    if ((rc = cx_replay_file(cx_mock_bootstraps(mock), DEMO_TOPIC, data, 0, &produced)) != 0)
        goto done;
    printf("- replayed %llu messages from %s\n", (unsigned long long)produced, data_name);

    /* A group of its own, so a database that saw an earlier demo starts afresh. */
    snprintf(group, sizeof group, "cxpulse-demo-%ld", (long)getpid());
    char *topics[] = {DEMO_TOPIC};
    free(cfg->brokers);
    cfg->brokers = strdup(cx_mock_bootstraps(mock));
    /* its own topic on its own broker, whatever topics are configured */
    if ((rc = cx_config_set(cfg, "kafka.topics", topics[0], err, sizeof err)) != CX_OK)
        goto done;
    if ((rc = cx_config_set(cfg, "kafka.group", group, err, sizeof err)) != CX_OK)
        goto done;
    /* The mock broker holds a group's next join for the session timeout less a
     * second after its last member left: with librdkafka's 45 s, the live
     * page of --serve waited that long for its partitions. Its own broker,
     * its own session (unless the configuration sets one). */
    if (cfg->kafka_properties == NULL)
        cfg->kafka_properties = json_object();
    if (cfg->kafka_properties == NULL ||
        (json_object_get(cfg->kafka_properties, "session.timeout.ms") == NULL &&
         json_object_get(cfg->kafka_properties, "session.timeout.ms_env") == NULL &&
         json_object_set_new(cfg->kafka_properties, "session.timeout.ms", json_string("6000")) !=
             0)) {
        fprintf(stderr, "cxpulse demo: out of memory\n");
        rc = CX_EXIT_RUNTIME;
        goto done;
    }
    /* The sample spans six hours at a few events a minute: small batches take it
     * in time order, as a live stream would arrive, so every stretch of it is
     * evaluated by the ticket rules. */
    if (cfg->batch_max_messages == CX_BATCH_MAX_MESSAGES_DEFAULT &&
        (rc = cx_config_set(cfg, "batch.max_messages", "250", err, sizeof err)) != CX_OK)
        goto done;
    /* The sample is dated in the past (its incidents are what the demo shows):
     * its windows open tickets, as a live stream's would, whatever their age. */
    if (cfg->tickets_max_age_minutes == CX_TICKETS_MAX_AGE_MINUTES_DEFAULT &&
        (rc = cx_config_set(cfg, "tickets.max_age_minutes", "0", err, sizeof err)) != CX_OK)
        goto done;
    cx_run_totals t;
    /* the service runs again with --serve: its counters go on from the first run */
    if ((metrics = cx_metrics_new()) == NULL) {
        fprintf(stderr, "cxpulse demo: out of memory\n");
        rc = CX_EXIT_RUNTIME;
        goto done;
    }
    if (produced == 0) { /* the service would wait for the first message */
        printf("- %s holds no messages: nothing to run\n", data_name);
    } else {
        printf("- running the pipeline (group %s) ...\n", group);
        int64_t t0 = cx_now_mono_us();
        if ((rc = cx_run_service(cfg, produced, metrics, &t)) != CX_EXIT_OK)
            goto done;
        if (t.messages < produced) { /* SIGTERM or SIGINT: no summary of a part */
            fprintf(stderr,
                    "cxpulse demo: stopped after %llu of the %llu messages were handled, "
                    "before the summary\n",
                    (unsigned long long)t.messages, (unsigned long long)produced);
            rc = CX_EXIT_RUNTIME;
            goto done;
        }
        double secs = (double)(cx_now_mono_us() - t0) / 1e6;
        printf("- handled %llu messages in %.1f s: %llu events stored, %llu duplicates, "
               "%llu dead letters\n",
               (unsigned long long)t.messages, secs, (unsigned long long)t.stored,
               (unsigned long long)t.duplicates, (unsigned long long)t.dead_lettered);
    }

    conn = PQconnectdb(cfg->pg_url ? cfg->pg_url : "");
    if (PQstatus(conn) != CONNECTION_OK) {
        /* (libpq's message can quote the connection string: not shown) */
        fprintf(stderr, "cxpulse demo: cannot connect to postgresql for the summary\n");
        rc = CX_EXIT_RUNTIME;
        goto done;
    }
    int failed = 0; /* a summary query */
    show(conn, "Events per operation group",
         "SELECT coalesce(t.category, '(none)') AS category, count(*) AS events,"
         " round(100.0 * avg((e.sentiment = 'negative')::int), 1) AS negative_pct"
         " FROM cx.events e LEFT JOIN cx.event_tags t USING (event_id)"
         " GROUP BY 1 ORDER BY 2 DESC",
         &failed);
    show(conn, "Sentiment",
         "SELECT sentiment, count(*) AS events FROM cx.events GROUP BY 1 ORDER BY 2 DESC", &failed);
    /* in UTC, as the tickets' reasons, whatever the server's TimeZone */
    show(conn, "Worst 30-minute stretches (negative share, at least 20 events)",
         "SELECT to_char(date_bin('30 minutes', window_start AT TIME ZONE 'UTC', '2000-01-01'),"
         " 'YYYY-MM-DD HH24:MI') || ' UTC ' || category AS window_and_category,"
         " sum(events) AS events, round(100.0 * sum(negative) / sum(events), 1) AS negative_pct"
         " FROM cx.signals WHERE window_seconds = 60 AND category <> 'none'"
         " GROUP BY date_bin('30 minutes', window_start AT TIME ZONE 'UTC', '2000-01-01'),"
         " category"
         " HAVING sum(events) >= 20 ORDER BY 3 DESC, 2 DESC LIMIT 5",
         &failed);
    show(conn, "Dead letters",
         "SELECT kafka_partition || '@' || kafka_offset AS message, CASE WHEN length(error) > 90 "
         "THEN left(error, 89) || '…' ELSE error END AS reason"
         " FROM cx.dead_letters ORDER BY received_at DESC, id DESC LIMIT 12",
         &failed);
    show(conn, "Open tickets",
         "SELECT owner, category, scope, event_count, reason"
         " FROM cx.open_tickets LIMIT 10",
         &failed);
    if (cfg->alert_receivers != NULL || (cfg->alerts_webhook && cfg->alerts_webhook[0]) ||
        (cfg->alerts_alertmanager && cfg->alerts_alertmanager[0]))
        show(conn, "Ticket notifications (cxpulse notifications list)",
             "SELECT transition, CASE WHEN status = 'pending' AND attempts = 0"
             " AND next_attempt_at > now() THEN 'held back (alerts.update_seconds)'"
             " ELSE status END AS status, count(*) AS notifications FROM cx.notifications"
             " GROUP BY 1, 2 ORDER BY 1, 2",
             &failed);
    char url[1024]; /* a password in it masked (the operator knows it), the user kept */
    cx_pg_conninfo_mask(cfg->pg_url ? cfg->pg_url : "", url, sizeof url);
    printf("\nQuery it yourself%s:\n"
           "  psql \"%s\" -c 'SELECT * FROM cx.satisfaction_hourly'\n"
           "  cxpulse tickets list --pg \"%s\"     # the owners' view\n",
           serve ? ""
                 : " (scripts/demo.sh removes its database as the demo ends: --serve keeps both)",
           url, url);
    rc = failed ? CX_EXIT_RUNTIME : CX_EXIT_OK;
    if (serve) {
        printf("\nServing the live page on http://%s/ until Ctrl-C; add events with\n"
               "  cxpulse replay --brokers %s --topic %s FILE\n",
               cfg->http_listen, cx_mock_bootstraps(mock), DEMO_TOPIC);
        fflush(stdout);
        rc = cx_run_service(cfg, 0, metrics, &t);
    }
done:
    PQfinish(conn);
    cx_metrics_free(metrics);
    cx_mock_free(mock);
    cx_config_free(cfg);
    free(rest);
    return rc;
}
