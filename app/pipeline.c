/*
 * pipeline.c - joins ingest, processors and sinks (see pipeline.h). The
 * consumer hands over a batch; each message is parsed and classified into a
 * record (or a dead letter with the parser's reason) and the batch is written
 * in one transaction. A transient sink failure pauses consumption; a fatal
 * one stops the service with a clear message.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "commands.h"
#include "ingest.h"
#include "pg.h"
#include "pipeline.h"

typedef struct pipeline {
    cx_pg *pg;
    cx_classifier *clf;
    cx_consumer *consumer;
    size_t cap;
    cx_event *evs;
    cx_tags *tags;
    cx_record *recs;
    char (*errs)[256];
    uint64_t stop_after;
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
    return cx_pg_read_offsets(p->pg, topic, parts, n, next, err, errlen);
}

static cx_status deliver(void *ctx, const cx_msg *msgs, size_t n, int *retry_ms, char *err,
                         size_t errlen)
{
    pipeline *p = ctx;
    if (n > p->cap)
        return cx_errf(err, errlen, CX_ERR_FATAL, "batch of %zu is over the %zu planned", n,
                       p->cap);
    for (size_t i = 0; i < n; i++) {
        cx_record *r = &p->recs[i];
        *r = (cx_record){msgs[i].topic, msgs[i].partition, msgs[i].offset, msgs[i].value,
                         msgs[i].len, NULL, NULL, NULL};
        if (cx_event_parse(&p->evs[i], msgs[i].value, msgs[i].len, p->errs[i],
                           sizeof p->errs[i]) == CX_OK) {
            cx_classifier_classify(p->clf, &p->evs[i], &p->tags[i]);
            r->ev = &p->evs[i];
            r->tags = &p->tags[i];
        } else {
            r->error = p->errs[i];
            cx_log(CX_LOG_DEBUG, "pipeline", "invalid message %s[%d]@%lld: %s", r->topic,
                   r->partition, (long long)r->offset, r->error);
        }
    }
    cx_pg_result res;
    cx_status st = cx_pg_write_batch(p->pg, p->recs, n, &res, err, errlen);
    for (size_t i = 0; i < n; i++)
        cx_event_clear(&p->evs[i]);
    if (st == CX_ERR_TRANSIENT) {
        *retry_ms = cx_pg_backoff_ms(p->pg);
        cx_log(CX_LOG_WARN, "sink.pg", "batch not stored, retrying in %d ms: %s", *retry_ms, err);
        return st;
    }
    if (st != CX_OK)
        return st;
    cx_pipeline_totals *t = &p->totals;
    t->messages += n;
    t->stored += res.stored;
    t->duplicates += res.duplicates;
    t->skipped += res.skipped;
    t->dead_lettered += res.dead_lettered;
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
    size_t n_props = cfg->kafka_properties ? json_object_size(cfg->kafka_properties) : 0;
    props = calloc(2 * n_props + 1, sizeof *props);
    if (p.evs == NULL || p.tags == NULL || p.recs == NULL || p.errs == NULL || props == NULL) {
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

    cx_pg_options po = {.conninfo = cfg->pg_url, .group = cfg->group,
                        .window_seconds = cfg->window_seconds, .n_windows = cfg->n_window_seconds,
                        .rule_version = cx_classifier_version(p.clf),
                        .synchronous_commit = cfg->synchronous_commit};
    st = cx_pg_new(&p.pg, &po, err, sizeof err);
    if (st == CX_ERR_TRANSIENT) {
        cx_log(CX_LOG_WARN, "sink.pg", "postgresql not reachable yet, will retry: %s", err);
    } else if (st != CX_OK) {
        fprintf(stderr, "cxpulse: %s\n", err);
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
    cx_consumer_free(p.consumer);
    cx_pg_free(p.pg);
    cx_classifier_free(p.clf);
    free(p.evs);
    free(p.tags);
    free(p.recs);
    free(p.errs);
    free(props);
    return rc;
}
