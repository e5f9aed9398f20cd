/*
 * bench_sink.c - the PostgreSQL sink's rows/s against a plain COPY of the
 * same rows into the same tables, measured in the same run.
 *
 * usage: bench_sink URL [N_EVENTS] [BATCH]   (defaults 500000, 10000)
 * URL must name a database migrated with `cxpulse migrate`; its cx tables
 * are truncated. The plain COPY writes events and tags only; the sink also
 * deduplicates, maintains signals and offsets, all in one transaction per
 * batch. Each method runs twice, alternating; the best run counts. After each
 * sink run, the same stream is written again by another group (a new group
 * reading a topic from its start): every event a duplicate, compared with
 * what is stored.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_events.h"
#include "pg.h"
#include "pg_int.h"


static void die(const char *what, const char *err)
{
    fprintf(stderr, "bench_sink: %s: %s\n", what, err);
    exit(1);
}

static void sql(PGconn *c, const char *q)
{
    PGresult *r = PQexec(c, q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        die(q, PQerrorMessage(c));
    PQclear(r);
}

static void copy(PGconn *c, const char *q, const cx_buf *b)
{
    PGresult *r = PQexec(c, q);
    if (PQresultStatus(r) != PGRES_COPY_IN)
        die(q, PQerrorMessage(c));
    PQclear(r);
    if (PQputCopyData(c, b->data, (int)b->len) != 1 || PQputCopyEnd(c, NULL) != 1)
        die("copy", PQerrorMessage(c));
    while ((r = PQgetResult(c)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            die(q, PQerrorMessage(c));
        PQclear(r);
    }
}

/* Writes recs[0..n) through a new sink in batches of `batch`; returns the
 * seconds it took, the counts summed in *sum. */
static double write_stream(const cx_pg_options *o, const cx_record *recs, size_t n, size_t batch,
                           cx_pg_result *sum)
{
    char err[1024];
    cx_pg *pg;
    if (cx_pg_new(&pg, o, err, sizeof err) != CX_OK)
        die("sink", err);
    memset(sum, 0, sizeof *sum);
    int64_t t0 = cx_now_mono_us();
    for (size_t start = 0; start < n; start += batch) {
        size_t m = start + batch < n ? batch : n - start;
        cx_pg_result res;
        if (cx_pg_write_batch(pg, recs + start, m, &res, err, sizeof err) != CX_OK)
            die("write", err);
        sum->stored += res.stored;
        sum->duplicates += res.duplicates;
    }
    double t = (double)(cx_now_mono_us() - t0) / 1e6;
    cx_pg_free(pg);
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_sink URL [N_EVENTS] [BATCH]\n");
        return 2;
    }
    const char *url = argv[1];
    size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 500000;
    size_t batch = argc > 3 ? strtoul(argv[3], NULL, 10) : 10000;
    char err[1024];

    /* Events: parsed and classified once, up front (the sink's input). */
    cx_classifier *clf;
    if (cx_classifier_new(&clf, NULL, 0, err, sizeof err) != CX_OK)
        die("classifier", err);
    cx_event *evs = calloc(n, sizeof *evs);
    cx_tags *tags = calloc(n, sizeof *tags);
    cx_record *recs = calloc(n, sizeof *recs);
    char **raws = calloc(n, sizeof *raws);
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        char raw[640];
        int k = cx_bench_event(raw, sizeof raw, "ev", (long)i, 0);
        raws[i] = strdup(raw);
        bytes += (size_t)k;
        if (cx_event_parse(&evs[i], raws[i], (size_t)k, err, sizeof err) != CX_OK)
            die("parse", err);
        cx_classifier_classify(clf, &evs[i], &tags[i]);
        recs[i] = (cx_record){.topic = "bench", .partition = (int32_t)(i % 8),
                              .offset = (int64_t)(i / 8), .raw = raws[i], .raw_len = (size_t)k,
                              .ev = &evs[i], .tags = &tags[i]};
    }
    size_t n_tags = 0;
    for (size_t i = 0; i < n; i++)
        n_tags += (size_t)tags[i].n_assigned;

    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        die("connect", PQerrorMessage(c));
    const char *truncate = "TRUNCATE cx.events, cx.signals, cx.dead_letters, "
                           "cx.consumer_offsets";
    double best_copy = 1e9, best_sink = 1e9, best_again = 1e9;
    for (int round = 0; round < 2; round++) {
        /* Plain COPY: the same rows (tags on them), straight into cx.events. */
        sql(c, truncate);
        sql(c, "CHECKPOINT");
        int64_t t0 = cx_now_mono_us();
        for (size_t start = 0; start < n; start += batch) {
            size_t end = start + batch < n ? start + batch : n;
            cx_buf ev = {0};
            for (size_t i = start; i < end; i++) {
                const cx_event *e = &evs[i];
                cx__buf_field(&ev, e->event_id, 0);
                cx_buf_printf(&ev, "%s\t", e->occurred_at);
                cx__buf_field(&ev, e->customer_id, 0);
                cx__buf_field(&ev, e->channel, 0);
                cx__buf_field(&ev, e->touchpoint, 0);
                cx__buf_field(&ev, e->language, 0);
                cx__buf_field(&ev, e->text, 0);
                cx_buf_printf(&ev, "csat\t%g\t", e->rating_value);
                cx__buf_field(&ev, cx_sentiment_name(tags[i].sentiment), 0);
                cx__buf_field(&ev, cx_category_name(cx_tags_primary(&tags[i])), 0);
                cx__buf_field(&ev, raws[i], 0);
                cx_buf_printf(&ev, "bench\t%d\t%lld\t", recs[i].partition,
                              (long long)recs[i].offset);
                cx__buf_field(&ev, "bench+1", 0); /* rule_version */
                cx__buf_tags(&ev, &tags[i], 1);
            }
            sql(c, "BEGIN");
            copy(c, "COPY cx.events (" CX__PG_EVENT_COLUMNS ") FROM STDIN", &ev);
            sql(c, "COMMIT");
            cx_buf_free(&ev);
        }
        double t_copy = (double)(cx_now_mono_us() - t0) / 1e6;
        if (t_copy < best_copy)
            best_copy = t_copy;

        /* The sink. */
        sql(c, truncate);
        sql(c, "CHECKPOINT");
        static const int windows[] = {60};
        cx_pg_options o = {.conninfo = url, .group = "bench", .window_seconds = windows,
                           .n_windows = 1, .rule_version = cx_classifier_version(clf),
                           .synchronous_commit = 1};
        cx_pg_result sum;
        double t_sink = write_stream(&o, recs, n, batch, &sum);
        if (sum.stored != n)
            die("sink", "not every event was stored");
        if (t_sink < best_sink)
            best_sink = t_sink;

        /* The same stream again, by another group. */
        o.group = "bench-again";
        double t_again = write_stream(&o, recs, n, batch, &sum);
        if (sum.duplicates != n)
            die("sink", "the stream read again was not all duplicates");
        if (t_again < best_again)
            best_again = t_again;
        printf("round %d: plain COPY %.2f s, sink %.2f s, read again %.2f s\n", round + 1, t_copy,
               t_sink, t_again);
    }
    printf("events: %zu (%.0f bytes each), tags: %zu, batch %zu, synchronous_commit on\n", n,
           (double)bytes / (double)n, n_tags, batch);
    printf("plain COPY (events + tags)          : %9.0f events/s\n", (double)n / best_copy);
    printf("sink (+ dedup, signals, offsets, tx) : %9.0f events/s\n", (double)n / best_sink);
    printf("sink, the stream read again          : %9.0f events/s (all duplicates)\n",
           (double)n / best_again);
    printf("ratio sink / plain COPY: %.2f\n", best_copy / best_sink);
    PQfinish(c);
    for (size_t i = 0; i < n; i++) {
        cx_event_clear(&evs[i]);
        free(raws[i]);
    }
    free(evs);
    free(tags);
    free(recs);
    free(raws);
    cx_classifier_free(clf);
    return 0;
}
