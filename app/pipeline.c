/*
 * pipeline.c - joins ingest, processors and sinks (see pipeline.h). The
 * consumer hands over a batch; each message is parsed and classified into a
 * record (or a dead letter with the parser's reason) and the batch is written
 * in one transaction per writer connection (postgres.writers, partitions
 * split between them), each writer on its own thread. While the writers store
 * a batch the consumer polls the next one. A transient sink failure pauses
 * consumption; a fatal one stops the service with a clear message.
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
    struct slot *slot;
    int w;                /* writer index */
    const size_t *idx;    /* message indices, in batch order */
    size_t n;
    cx_record *recs;      /* n records, filled here */
    cx_pg_result res;
    cx_status st;
    int retry_ms; /* after a transient failure: the writer's backoff */
    char err[1024];
    uint64_t classified[CX_CAT_COUNT + 1][CX_SENT_COUNT];
    struct shard *next;   /* the writer's queue */
} shard;

/* A batch the consumer handed over, copied (the consumer lets go of its
 * messages once the batch is accepted), with the scratch its shards need. */
typedef struct slot {
    struct pipeline *p;
    cx_msg *msgs;
    char *data; /* the message values */
    size_t n, data_len, data_cap;
    cx_event *evs;
    cx_tags *tags;
    cx_record *recs;
    char (*errs)[256];
    uint16_t (*hits)[MAX_HITS];
    size_t *order; /* message indices grouped by writer */
    shard sh[MAX_WRITERS];
    int pending;   /* shards not finished; 0: the batch is done */
    cx_status st;  /* when done: CX_OK, or the first fatal error, or a transient one */
    int retry_ms;
    char err[1024];
    int64_t t0;
} slot;

typedef struct writer {
    struct pipeline *p;
    int w;
    pthread_t thread;
    int started;
    int failed; /* a shard failed: later ones are not attempted until recovery */
    shard *head, *tail;
} writer;

/*
 * Batches flow through two slots: while the writers store one, the consumer
 * polls the next, and a writer that is done with its share of a batch goes on
 * with its share of the next one (no writer waits for the others between
 * batches). A partition always goes to the same writer, which stores its
 * shares in order and stops at a failure: so no later offset of a partition is
 * ever stored before an earlier one.
 */
typedef struct pipeline {
    cx_pg *pg[MAX_WRITERS];
    writer wr[MAX_WRITERS];
    int writers;
    cx_classifier *clf;
    cx_ticket_rules *rules;
    cx_consumer *consumer;
    size_t cap;
    slot slots[2];
    slot *inflight; /* the batch handed over last, or NULL */
    int next;       /* the slot the next batch goes to */
    int recovering; /* a batch failed: the ones in the slots are retried in order */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int quit;
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

/* Blocks until no shard is queued or running. */
static void wait_idle(pipeline *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->slots[0].pending > 0 || p->slots[1].pending > 0)
        pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

static cx_status load_offsets(void *ctx, const char *topic, const int32_t *parts, size_t n,
                              int64_t *next, char *err, size_t errlen)
{
    pipeline *p = ctx;
    wait_idle(p); /* writer 0's connection is free */
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

/* Parses, classifies and writes one writer's share; on its writer's thread. */
static void write_shard(shard *s)
{
    slot *b = s->slot;
    pipeline *p = b->p;
    for (size_t k = 0; k < s->n; k++) {
        size_t i = s->idx[k];
        const cx_msg *m = &b->msgs[i];
        cx_record *r = &s->recs[k];
        *r = (cx_record){.topic = m->topic, .partition = m->partition, .offset = m->offset,
                         .raw = m->value, .raw_len = m->len};
        if (cx_event_parse(&b->evs[i], m->value, m->len, b->errs[i], sizeof b->errs[i]) ==
            CX_OK) {
            cx_classifier_classify(p->clf, &b->evs[i], &b->tags[i]);
            r->ev = &b->evs[i];
            r->tags = &b->tags[i];
            r->hits = b->hits[i];
            r->n_hits = cx_ticket_rules_match(p->rules, r->ev, r->tags, b->hits[i], MAX_HITS);
            const cx_tags *t = r->tags;
            s->classified[t->n_assigned ? (int)t->order[0] : CX_CAT_COUNT][t->sentiment]++;
        } else {
            r->error = b->errs[i];
            cx_log(CX_LOG_DEBUG, "pipeline", "invalid message %s[%d]@%lld: %s", r->topic,
                   r->partition, (long long)r->offset, r->error);
        }
    }
    memset(&s->res, 0, sizeof s->res);
    s->st = cx_pg_write_batch(p->pg[s->w], s->recs, s->n, &s->res, s->err, sizeof s->err);
    s->retry_ms = s->st == CX_ERR_TRANSIENT ? cx_pg_backoff_ms(p->pg[s->w]) : 0;
    for (size_t k = 0; k < s->n; k++)
        cx_event_clear(&b->evs[s->idx[k]]);
}

/* Counts a stored batch; called (under the lock) by the writer that finished it last. */
static void account(pipeline *p, slot *b)
{
    cx_pg_result res = {0};
    uint64_t classified[CX_CAT_COUNT + 1][CX_SENT_COUNT] = {{0}};
    for (int w = 0; w < p->writers; w++) {
        const shard *s = &b->sh[w];
        res.stored += s->res.stored;
        res.duplicates += s->res.duplicates;
        res.skipped += s->res.skipped;
        res.dead_lettered += s->res.dead_lettered;
        res.tickets_opened += s->res.tickets_opened;
        res.tickets_updated += s->res.tickets_updated;
        for (int c = 0; c <= CX_CAT_COUNT; c++)
            for (int k = 0; k < CX_SENT_COUNT; k++)
                classified[c][k] += s->classified[c][k];
    }
    cx_metrics *m = p->metrics;
    cx_metrics_add(m, CX_M_CONSUMED, b->n);
    cx_metrics_add(m, CX_M_STORED, res.stored);
    cx_metrics_add(m, CX_M_DUPLICATES, res.duplicates);
    cx_metrics_add(m, CX_M_SKIPPED, res.skipped);
    cx_metrics_add(m, CX_M_DEAD_LETTERS, res.dead_lettered);
    cx_metrics_add(m, CX_M_TICKETS_OPENED, res.tickets_opened);
    cx_metrics_add(m, CX_M_TICKETS_UPDATED, res.tickets_updated);
    cx_metrics_add_classified(m, (const uint64_t(*)[CX_SENT_COUNT])classified);
    cx_metrics_observe_batch(m, b->n, (double)(cx_now_mono_us() - b->t0) / 1e6);
    cx_metrics_set(m, CX_G_PG_UP, 1);
    cx_metrics_set(m, CX_G_PAUSED, 0);
    cx_pipeline_totals *t = &p->totals;
    t->messages += b->n;
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
}

/* Settles a batch whose shards are all finished (under the lock). */
static void finish(pipeline *p, slot *b)
{
    b->st = CX_OK;
    b->retry_ms = 0;
    for (int w = 0; w < p->writers; w++) {
        const shard *s = &b->sh[w];
        if (s->n == 0 || s->st == CX_OK)
            continue;
        if (s->retry_ms > b->retry_ms)
            b->retry_ms = s->retry_ms;
        /* The first fatal error wins over transient ones; otherwise the first error. */
        if (b->st == CX_OK || (b->st == CX_ERR_TRANSIENT && s->st != CX_ERR_TRANSIENT)) {
            b->st = s->st;
            snprintf(b->err, sizeof b->err, "%s", s->err);
        }
    }
    if (b->st == CX_OK)
        account(p, b);
}

static void *writer_main(void *arg)
{
    writer *wr = arg;
    pipeline *p = wr->p;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (wr->head == NULL && !p->quit)
            pthread_cond_wait(&p->cond, &p->lock);
        if (wr->head == NULL)
            break;
        shard *s = wr->head;
        int failed = wr->failed;
        pthread_mutex_unlock(&p->lock);
        if (failed) { /* an earlier share of this writer is not stored: do not pass it */
            memset(&s->res, 0, sizeof s->res);
            s->st = cx_errf(s->err, sizeof s->err, CX_ERR_TRANSIENT,
                            "not attempted: an earlier batch is not stored yet");
            s->retry_ms = 0;
        } else {
            write_shard(s);
        }
        pthread_mutex_lock(&p->lock);
        wr->failed |= s->st != CX_OK;
        wr->head = s->next;
        if (wr->head == NULL)
            wr->tail = NULL;
        if (--s->slot->pending == 0)
            finish(p, s->slot);
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Copies a batch into a free slot and queues its shares to the writers. */
static cx_status hand_over(pipeline *p, slot *b, const cx_msg *msgs, size_t n, char *err,
                           size_t errlen)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += msgs[i].len;
    if (msgs != b->msgs && bytes > b->data_cap) {
        char *d = realloc(b->data, bytes);
        if (d == NULL)
            return cx_errf(err, errlen, CX_ERR_FATAL, "out of memory copying a batch");
        b->data = d;
        b->data_cap = bytes;
    }
    size_t at = 0;
    for (size_t i = 0; msgs != b->msgs && i < n; i++) { /* (a retry hands the slot over again) */
        memcpy(b->data + at, msgs[i].value, msgs[i].len);
        b->msgs[i] = msgs[i];
        b->msgs[i].value = b->data + at;
        at += msgs[i].len;
    }
    b->n = n;
    size_t count[MAX_WRITERS] = {0};
    for (size_t i = 0; i < n; i++)
        count[writer_of(p, &msgs[i])]++;
    at = 0;
    for (int w = 0; w < p->writers; w++) {
        b->sh[w] = (shard){.slot = b, .w = w, .idx = b->order + at, .recs = b->recs + at};
        at += count[w];
    }
    for (size_t i = 0; i < n; i++) {
        shard *s = &b->sh[writer_of(p, &msgs[i])];
        b->order[(size_t)(s->idx - b->order) + s->n++] = i;
    }
    b->t0 = cx_now_mono_us();
    pthread_mutex_lock(&p->lock);
    b->pending = 0;
    for (int w = 0; w < p->writers; w++) {
        shard *s = &b->sh[w];
        if (s->n == 0)
            continue;
        b->pending++;
        writer *wr = &p->wr[w];
        if (wr->tail != NULL)
            wr->tail->next = s;
        else
            wr->head = s;
        wr->tail = s;
    }
    if (b->pending == 0)
        finish(p, b);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return CX_OK;
}

/* Waits for a handed-over batch and returns its outcome (err filled on failure). */
static cx_status collect(pipeline *p, slot *b, int *retry_ms, char *err, size_t errlen)
{
    pthread_mutex_lock(&p->lock);
    while (b->pending > 0)
        pthread_cond_wait(&p->cond, &p->lock);
    cx_status st = b->st;
    if (retry_ms != NULL && b->retry_ms > *retry_ms)
        *retry_ms = b->retry_ms;
    if (st != CX_OK)
        snprintf(err, errlen, "%s", b->err);
    pthread_mutex_unlock(&p->lock);
    return st;
}

static cx_status failed(pipeline *p, cx_status st, int retry_ms, const char *err)
{
    if (st == CX_ERR_TRANSIENT) {
        cx_log(CX_LOG_WARN, "sink.pg", "batch not stored, retrying in %d ms: %s", retry_ms, err);
        cx_metrics_add(p->metrics, CX_M_PG_RETRIES, 1);
        cx_metrics_set(p->metrics, CX_G_PG_UP, 0);
        cx_metrics_set(p->metrics, CX_G_PAUSED, 1);
    }
    return st;
}

/* Whether msgs[0..n) are the messages of the batch in slot b. */
static int same_batch(const slot *b, const cx_msg *msgs, size_t n)
{
    if (b->n != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (b->msgs[i].offset != msgs[i].offset || b->msgs[i].partition != msgs[i].partition ||
            strcmp(b->msgs[i].topic, msgs[i].topic) != 0)
            return 0;
    return 1;
}

/*
 * Takes a batch over: copies it and hands it to the writers, then waits for
 * the batch before it to be stored, so at most two are in the writers' hands.
 * An empty batch (the consumer is idle) waits for the one in the writers'
 * hands. When a batch fails transiently, the batches in the slots are stored
 * again in order, one at a time, at the start of each following call, before
 * the batch given (the consumer calls again after a pause); the shares
 * already stored are skipped by their stored offsets, so nothing is written
 * twice.
 */
static cx_status deliver(void *ctx, const cx_msg *msgs, size_t n, int *retry_ms, char *err,
                         size_t errlen)
{
    pipeline *p = ctx;
    cx_status st;
    *retry_ms = 0;
    if (n > p->cap)
        return cx_errf(err, errlen, CX_ERR_FATAL, "batch of %zu is over the %zu planned", n,
                       p->cap);
    if (p->recovering) {
        /* every writer is idle: clear their stops, then store the slots' batches in order */
        for (int w = 0; w < p->writers; w++)
            p->wr[w].failed = 0;
        for (int k = 0; k < 2; k++) {
            slot *b = &p->slots[(p->next + k) % 2];
            if (b->n == 0 || b->st == CX_OK)
                continue;
            if ((st = hand_over(p, b, b->msgs, b->n, err, errlen)) != CX_OK)
                return st;
            if ((st = collect(p, b, retry_ms, err, errlen)) != CX_OK)
                return failed(p, st, *retry_ms, err);
        }
        p->recovering = 0;
        p->inflight = NULL;
        /* the usual retry gives one of those batches again; when more arrived
         * meanwhile it is stored as usual (what of it is stored is skipped) */
        for (int k = 0; n > 0 && k < 2; k++)
            if (same_batch(&p->slots[k], msgs, n))
                return CX_OK;
    }
    if (n == 0) {
        slot *prev = p->inflight;
        p->inflight = NULL;
        if (prev == NULL || (st = collect(p, prev, retry_ms, err, errlen)) == CX_OK)
            return CX_OK;
        p->recovering = st == CX_ERR_TRANSIENT;
        return failed(p, st, *retry_ms, err);
    }
    slot *cur = &p->slots[p->next], *prev = p->inflight;
    cur->st = CX_ERR_TRANSIENT; /* until done */
    if ((st = hand_over(p, cur, msgs, n, err, errlen)) != CX_OK)
        return st;
    p->next ^= 1;
    p->inflight = cur;
    if (prev == NULL || (st = collect(p, prev, retry_ms, err, errlen)) == CX_OK)
        return CX_OK;
    /* The batch before failed. Let the writers finish (each stops at its first
     * failure), then retry both batches in order from the next call on. */
    char e2[1024];
    collect(p, cur, retry_ms, e2, sizeof e2);
    p->recovering = st == CX_ERR_TRANSIENT;
    return failed(p, st, *retry_ms, err);
}

/* Waits until everything handed over is stored or has failed; what failed is
 * dropped (its partitions are read again from the stored offsets). */
static cx_status drain(void *ctx, char *err, size_t errlen)
{
    pipeline *p = ctx;
    cx_status st = CX_OK;
    int retry_ms = 0;
    if (p->inflight != NULL) {
        st = collect(p, p->inflight, &retry_ms, err, errlen);
        p->inflight = NULL;
    }
    wait_idle(p);
    if (p->recovering || st == CX_ERR_TRANSIENT)
        cx_log(CX_LOG_WARN, "pipeline", "dropping unstored batches: they will be read again "
               "from the stored offsets");
    p->recovering = 0;
    for (int w = 0; w < p->writers; w++)
        p->wr[w].failed = 0;
    for (int k = 0; k < 2; k++)
        p->slots[k].n = 0;
    return st == CX_ERR_TRANSIENT ? CX_OK : st;
}

/* Allocates a slot's arrays for batches of cap messages. */
static int slot_init(slot *b, pipeline *p, size_t cap)
{
    b->p = p;
    b->msgs = calloc(cap, sizeof *b->msgs);
    b->evs = calloc(cap, sizeof *b->evs);
    b->tags = calloc(cap, sizeof *b->tags);
    b->recs = calloc(cap, sizeof *b->recs);
    b->errs = calloc(cap, sizeof *b->errs);
    b->hits = calloc(cap, sizeof *b->hits);
    b->order = calloc(cap, sizeof *b->order);
    return b->msgs && b->evs && b->tags && b->recs && b->errs && b->hits && b->order;
}

static void slot_free(slot *b)
{
    free(b->msgs);
    free(b->data);
    free(b->evs);
    free(b->tags);
    free(b->recs);
    free(b->errs);
    free(b->hits);
    free(b->order);
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
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.cond, NULL);
    if (cx_classifier_new_model(&p.clf, (const char *const *)cfg->rule_files, cfg->n_rule_files,
                                cfg->rule_model, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse: %s\n", err);
        return CX_EXIT_USAGE;
    }
    int slots_ok = slot_init(&p.slots[0], &p, p.cap) && slot_init(&p.slots[1], &p, p.cap);
    p.writers = cfg->pg_writers < 1 ? 1 : cfg->pg_writers > MAX_WRITERS ? MAX_WRITERS
                                                                         : cfg->pg_writers;
    size_t n_props = cfg->kafka_properties ? json_object_size(cfg->kafka_properties) : 0;
    props = calloc(2 * n_props + 1, sizeof *props);
    if (!slots_ok || props == NULL) {
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
    for (int w = 0; w < p.writers; w++) {
        p.wr[w] = (writer){.p = &p, .w = w};
        if (pthread_create(&p.wr[w].thread, NULL, writer_main, &p.wr[w]) != 0) {
            fprintf(stderr, "cxpulse: cannot start writer threads\n");
            goto done;
        }
        p.wr[w].started = 1;
    }
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
    cx_consumer_handler h = {
        .ctx = &p, .load_offsets = load_offsets, .deliver = deliver, .drain = drain};
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
    cx_service_http_stop(http); /* before the consumer and metrics it reads */
    pthread_mutex_lock(&p.lock);
    p.quit = 1; /* the writers finish what they hold (drained by the consumer) */
    pthread_cond_broadcast(&p.cond);
    pthread_mutex_unlock(&p.lock);
    for (int w = 0; w < p.writers; w++)
        if (p.wr[w].started)
            pthread_join(p.wr[w].thread, NULL);
    *totals = p.totals;
    cx_consumer_free(p.consumer);
    cx_metrics_free(p.metrics);
    for (int w = 0; w < p.writers; w++)
        cx_pg_free(p.pg[w]);
    cx_classifier_free(p.clf);
    slot_free(&p.slots[0]);
    slot_free(&p.slots[1]);
    pthread_mutex_destroy(&p.lock);
    pthread_cond_destroy(&p.cond);
    free(rules_json);
    cx_ticket_rules_free(p.rules);
    free(props);
    return rc;
}
