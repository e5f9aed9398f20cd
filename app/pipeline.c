/*
 * pipeline.c - joins ingest, processors and sinks (see pipeline.h). The
 * consumer hands over a batch; each message is parsed and classified into a
 * record (or a dead letter with the parser's reason) and the batch is written
 * in one transaction per writer connection (postgres.writers, partitions
 * split between them; parse, classify and write run in parallel per writer). A transient sink failure pauses consumption; a fatal
 * one stops the service with a clear message.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "commands.h"
#include "ingest.h"
#include "pg.h"
#include "metrics.h"
#include "pipeline.h"
#include "service_http.h"
#include "tickets.h"

#define MAX_WRITERS 16
#define MAX_HITS 8 /* event-level ticket rules one event can fire */

/* One writer's share of a batch: the messages of its partitions. */
typedef struct shard {
    struct pipeline *p;
    int w;                /* writer index */
    const cx_msg *msgs;
    const size_t *idx;    /* message indices, in batch order */
    size_t n;
    cx_record *recs;      /* n records, filled here */
    cx_pg_result res;
    cx_status st;
    char err[1024];
    uint64_t classified[CX_CAT_COUNT + 1][CX_SENT_COUNT];
} shard;

typedef struct pipeline {
    cx_pg *pg[MAX_WRITERS];
    int writers;
    cx_classifier *clf;
    cx_ticket_rules *rules;
    uint16_t (*hits)[MAX_HITS];
    cx_consumer *consumer;
    size_t cap;
    cx_event *evs;
    cx_tags *tags;
    cx_record *recs;
    char (*errs)[256];
    size_t *order; /* message indices grouped by writer */
    uint64_t stop_after;
    cx_metrics *metrics;
    cx_pipeline_totals totals;
    int64_t last_report_us;
} pipeline;

static cx_consumer *volatile running;

static void on_signal(int sig)
{
    (void)sig;
    if (running != NULL)
        cx_consumer_stop(running);
}

static cx_status load_offsets(void *ctx, const char *topic, const int32_t *parts, size_t n,
                              int64_t *next, char *err, size_t errlen)
{
    pipeline *p = ctx;
    return cx_pg_read_offsets(p->pg[0], topic, parts, n, next, err, errlen);
}

/* The writer of a partition: every batch of a partition goes through the same
 * connection, so each partition's offsets still advance in order. Consecutive
 * partitions go to consecutive writers, so that a topic's load is split evenly. */
static int writer_of(const pipeline *p, const cx_msg *m)
{
    uint32_t h = 2166136261u; /* FNV-1a over the topic */
    for (const char *c = m->topic; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    return (int)((h + (uint32_t)m->partition) % (uint32_t)p->writers);
}

/* Parses, classifies and writes one writer's share; runs on its own thread. */
static void *write_shard(void *arg)
{
    shard *s = arg;
    pipeline *p = s->p;
    for (size_t k = 0; k < s->n; k++) {
        size_t i = s->idx[k];
        const cx_msg *m = &s->msgs[i];
        cx_record *r = &s->recs[k];
        *r = (cx_record){.topic = m->topic, .partition = m->partition, .offset = m->offset,
                         .raw = m->value, .raw_len = m->len};
        if (cx_event_parse(&p->evs[i], m->value, m->len, p->errs[i], sizeof p->errs[i]) ==
            CX_OK) {
            cx_classifier_classify(p->clf, &p->evs[i], &p->tags[i]);
            r->ev = &p->evs[i];
            r->tags = &p->tags[i];
            r->hits = p->hits[i];
            r->n_hits = cx_ticket_rules_match(p->rules, r->ev, r->tags, p->hits[i], MAX_HITS);
            const cx_tags *t = r->tags;
            s->classified[t->n_assigned ? (int)t->order[0] : CX_CAT_COUNT][t->sentiment]++;
        } else {
            r->error = p->errs[i];
            cx_log(CX_LOG_DEBUG, "pipeline", "invalid message %s[%d]@%lld: %s", r->topic,
                   r->partition, (long long)r->offset, r->error);
        }
    }
    memset(&s->res, 0, sizeof s->res);
    s->st = cx_pg_write_batch(p->pg[s->w], s->recs, s->n, &s->res, s->err, sizeof s->err);
    for (size_t k = 0; k < s->n; k++)
        cx_event_clear(&p->evs[s->idx[k]]);
    return NULL;
}

/*
 * Stores a batch: its partitions are split between the writers, which parse,
 * classify and write their shares in parallel, each in its own transaction.
 * When one share fails the whole batch is retried; the shares already stored
 * are then skipped by their stored offsets, so nothing is written twice.
 */
static cx_status deliver(void *ctx, const cx_msg *msgs, size_t n, int *retry_ms, char *err,
                         size_t errlen)
{
    pipeline *p = ctx;
    if (n > p->cap)
        return cx_errf(err, errlen, CX_ERR_FATAL, "batch of %zu is over the %zu planned", n,
                       p->cap);
    shard sh[MAX_WRITERS];
    size_t count[MAX_WRITERS] = {0}, at = 0;
    for (size_t i = 0; i < n; i++)
        count[writer_of(p, &msgs[i])]++;
    for (int w = 0; w < p->writers; w++) {
        sh[w] = (shard){.p = p, .w = w, .msgs = msgs, .idx = p->order + at, .recs = p->recs + at};
        at += count[w];
    }
    for (size_t i = 0; i < n; i++) {
        shard *s = &sh[writer_of(p, &msgs[i])];
        p->order[(size_t)(s->idx - p->order) + s->n++] = i;
    }
    int64_t t0 = cx_now_mono_us();
    pthread_t th[MAX_WRITERS];
    int started[MAX_WRITERS] = {0};
    for (int w = 1; w < p->writers; w++)
        if (sh[w].n > 0)
            started[w] = pthread_create(&th[w], NULL, write_shard, &sh[w]) == 0;
    for (int w = 0; w < p->writers; w++)
        if (sh[w].n > 0 && (w == 0 || !started[w]))
            write_shard(&sh[w]); /* writer 0, or a thread that could not start */
    for (int w = 1; w < p->writers; w++)
        if (started[w])
            pthread_join(th[w], NULL);

    cx_status st = CX_OK;
    cx_pg_result res = {0};
    *retry_ms = 0;
    for (int w = 0; w < p->writers; w++) {
        if (sh[w].n == 0)
            continue;
        if (sh[w].st == CX_ERR_TRANSIENT) {
            int ms = cx_pg_backoff_ms(p->pg[w]);
            if (ms > *retry_ms)
                *retry_ms = ms;
        }
        /* The first fatal error wins over transient ones; otherwise the first error. */
        if (sh[w].st != CX_OK && (st == CX_OK || (st == CX_ERR_TRANSIENT &&
                                                   sh[w].st != CX_ERR_TRANSIENT))) {
            st = sh[w].st;
            snprintf(err, errlen, "%s", sh[w].err);
        }
        res.stored += sh[w].res.stored;
        res.duplicates += sh[w].res.duplicates;
        res.skipped += sh[w].res.skipped;
        res.dead_lettered += sh[w].res.dead_lettered;
        res.tickets_opened += sh[w].res.tickets_opened;
        res.tickets_updated += sh[w].res.tickets_updated;
    }
    if (st == CX_ERR_TRANSIENT) {
        cx_log(CX_LOG_WARN, "sink.pg", "batch not stored, retrying in %d ms: %s", *retry_ms, err);
        cx_metrics_add(p->metrics, CX_M_PG_RETRIES, 1);
        cx_metrics_set(p->metrics, CX_G_PG_UP, 0);
        cx_metrics_set(p->metrics, CX_G_PAUSED, 1);
        return st;
    }
    if (st != CX_OK)
        return st;
    uint64_t classified[CX_CAT_COUNT + 1][CX_SENT_COUNT] = {{0}};
    for (int w = 0; w < p->writers; w++)
        for (int c = 0; c <= CX_CAT_COUNT; c++)
            for (int k = 0; k < CX_SENT_COUNT; k++)
                classified[c][k] += sh[w].classified[c][k];
    cx_metrics *m = p->metrics;
    cx_metrics_add(m, CX_M_CONSUMED, n);
    cx_metrics_add(m, CX_M_STORED, res.stored);
    cx_metrics_add(m, CX_M_DUPLICATES, res.duplicates);
    cx_metrics_add(m, CX_M_SKIPPED, res.skipped);
    cx_metrics_add(m, CX_M_DEAD_LETTERS, res.dead_lettered);
    cx_metrics_add(m, CX_M_TICKETS_OPENED, res.tickets_opened);
    cx_metrics_add(m, CX_M_TICKETS_UPDATED, res.tickets_updated);
    cx_metrics_add_classified(m, (const uint64_t(*)[CX_SENT_COUNT])classified);
    cx_metrics_observe_batch(m, n, (double)(cx_now_mono_us() - t0) / 1e6);
    cx_metrics_set(m, CX_G_PG_UP, 1);
    cx_metrics_set(m, CX_G_PAUSED, 0);
    cx_pipeline_totals *t = &p->totals;
    t->messages += n;
    t->stored += res.stored;
    t->duplicates += res.duplicates;
    t->skipped += res.skipped;
    t->dead_lettered += res.dead_lettered;
    t->tickets_opened += res.tickets_opened;
    t->tickets_updated += res.tickets_updated;
    t->batches++;
    if (cx_now_mono_us() - p->last_report_us > 10 * 1000000LL) {
        cx_log(CX_LOG_INFO, "pipeline",
               "messages=%llu stored=%llu duplicates=%llu skipped=%llu dead_letters=%llu",
               (unsigned long long)t->messages, (unsigned long long)t->stored,
               (unsigned long long)t->duplicates, (unsigned long long)t->skipped,
               (unsigned long long)t->dead_lettered);
        p->last_report_us = cx_now_mono_us();
    }
    if (p->stop_after > 0 && t->messages >= p->stop_after)
        cx_consumer_stop(p->consumer);
    return CX_OK;
}

int cx_pipeline_run(const cx_config *cfg, uint64_t stop_after_messages,
                    cx_pipeline_totals *totals)
{
    char err[1024];
    pipeline p = {.stop_after = stop_after_messages, .cap = (size_t)cfg->batch_max_messages};
    const char **props = NULL;
    cx_service_http *http = NULL;
    char *rules_json = NULL;
    int rc = CX_EXIT_RUNTIME;
    cx_status st;

    memset(totals, 0, sizeof *totals);
    if (cx_classifier_new(&p.clf, (const char *const *)cfg->rule_files, cfg->n_rule_files, err,
                          sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse: %s\n", err);
        return CX_EXIT_USAGE;
    }
    p.evs = calloc(p.cap, sizeof *p.evs);
    p.tags = calloc(p.cap, sizeof *p.tags);
    p.recs = calloc(p.cap, sizeof *p.recs);
    p.errs = calloc(p.cap, sizeof *p.errs);
    p.order = calloc(p.cap, sizeof *p.order);
    p.hits = calloc(p.cap, sizeof *p.hits);
    p.writers = cfg->pg_writers < 1 ? 1 : cfg->pg_writers > MAX_WRITERS ? MAX_WRITERS
                                                                         : cfg->pg_writers;
    size_t n_props = cfg->kafka_properties ? json_object_size(cfg->kafka_properties) : 0;
    props = calloc(2 * n_props + 1, sizeof *props);
    if (p.evs == NULL || p.tags == NULL || p.recs == NULL || p.errs == NULL || p.order == NULL || p.hits == NULL ||
        props == NULL) {
        fprintf(stderr, "cxpulse: out of memory\n");
        goto done;
    }
    size_t k = 0;
    const char *key;
    json_t *val;
    json_object_foreach(cfg->kafka_properties, key, val)
    {
        props[k++] = key;
        props[k++] = json_string_value(val);
    }

    if (cx_ticket_rules_new(&p.rules, cfg->ticket_rules, cx_config_base_window(cfg), err, sizeof err) !=
        CX_OK) {
        fprintf(stderr, "cxpulse: %s\n", err);
        rc = CX_EXIT_USAGE;
        goto done;
    }
    if ((rules_json = cx_classifier_rules_json(p.clf)) == NULL) {
        fprintf(stderr, "cxpulse: out of memory\n");
        goto done;
    }
    cx_pg_options po = {.ticket_rules = p.rules, .rule_set_json = rules_json, .conninfo = cfg->pg_url, .group = cfg->group,
                        .window_seconds = cfg->window_seconds, .n_windows = cfg->n_window_seconds,
                        .rule_version = cx_classifier_version(p.clf),
                        .synchronous_commit = cfg->synchronous_commit};
    int pg_up = 1;
    for (int w = 0; w < p.writers; w++) {
        st = cx_pg_new(&p.pg[w], &po, err, sizeof err);
        pg_up &= st == CX_OK;
        if (st == CX_ERR_TRANSIENT && w == 0) {
            cx_log(CX_LOG_WARN, "sink.pg", "postgresql not reachable yet, will retry: %s", err);
        } else if (st != CX_OK && st != CX_ERR_TRANSIENT) {
            fprintf(stderr, "cxpulse: %s\n", err);
            goto done;
        }
    }
    if ((p.metrics = cx_metrics_new()) == NULL) {
        fprintf(stderr, "cxpulse: out of memory\n");
        goto done;
    }
    cx_metrics_set(p.metrics, CX_G_PG_UP, pg_up);
    if ((st = cx_service_http_start(&http, cfg, p.metrics, err, sizeof err)) != CX_OK) {
        fprintf(stderr, "cxpulse: %s\n", err);
        rc = st == CX_ERR_CONFIG ? CX_EXIT_USAGE : CX_EXIT_RUNTIME;
        goto done;
    }
    cx_consumer_config cc = {.brokers = cfg->brokers,
                             .topics = (const char *const *)cfg->topics,
                             .n_topics = cfg->n_topics,
                             .group = cfg->group,
                             .batch_max_messages = cfg->batch_max_messages,
                             .batch_max_ms = cfg->batch_max_ms,
                             .auto_offset_reset = cfg->auto_offset_reset,
                             .props = props,
                             .n_props = n_props};
    cx_consumer_handler h = {.ctx = &p, .load_offsets = load_offsets, .deliver = deliver};
    if (cx_consumer_new(&p.consumer, &cc, &h, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse: %s\n", err);
        rc = CX_EXIT_USAGE;
        goto done;
    }
    cx_service_http_set_consumer(http, p.consumer);
    running = p.consumer;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    cx_log(CX_LOG_INFO, "pipeline", "consuming %zu topic(s) as group %s, rules %s",
           cfg->n_topics, cfg->group, cx_classifier_version(p.clf));
    p.last_report_us = cx_now_mono_us();
    st = cx_consumer_run(p.consumer, err, sizeof err);
    running = NULL;
    if (st != CX_OK) {
        cx_log(CX_LOG_ERROR, "pipeline", "stopping: %s", err);
        fprintf(stderr, "cxpulse: %s\n", err);
    } else {
        rc = CX_EXIT_OK;
        cx_log(CX_LOG_INFO, "pipeline", "stopped cleanly: messages=%llu stored=%llu",
               (unsigned long long)p.totals.messages, (unsigned long long)p.totals.stored);
    }
done:
    *totals = p.totals;
    cx_service_http_stop(http); /* before the consumer and metrics it reads */
    cx_consumer_free(p.consumer);
    cx_metrics_free(p.metrics);
    for (int w = 0; w < p.writers; w++)
        cx_pg_free(p.pg[w]);
    cx_classifier_free(p.clf);
    free(p.evs);
    free(p.tags);
    free(p.recs);
    free(p.errs);
    free(p.order);
    free(p.hits);
    free(rules_json);
    cx_ticket_rules_free(p.rules);
    free(props);
    return rc;
}
