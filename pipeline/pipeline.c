/*
 * pipeline.c - the batch engine (see pipeline.h).
 *
 * Batches live in a ring of max_batches slots, oldest first. Each is split
 * into shares, one per writer (a partition always goes to the same writer);
 * each writer has its own queue and condition variable (as Redis's bio.c), so
 * queuing a share wakes only its writer (and its maker). A writer takes the
 * share at the head of its queue, makes its records (those its maker thread
 * has not made while the writer waited on the server for the share before:
 * parsing and classifying overlap the writes, for up to ahead_bytes of
 * messages), writes them, and on RETRY keeps the share
 * at the head and tries it again after the backoff: its later shares wait
 * behind it, so no later offset of a partition is ever written before an
 * earlier one. A share the sink refuses for its size (TOO_LARGE) is written
 * in parts, each a prefix of the rest, so the same holds; the writer halves
 * its parts until one is written, and doubles them again after PARTS_GROW
 * writes in a row succeed. When the last share of the oldest batch is done,
 * the writer that finished it reports the batches that are done, in order,
 * and frees their slots.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline.h"

#define MAX_WRITERS CX_PIPELINE_MAX_SINKS
#define MAX_BATCHES 16
#define CANCEL_EVERY_MS 1000 /* cx_pipeline_hooks.cancel_at */
#define PARTS_GROW 16        /* writes in a row that double a writer's part size */

typedef struct batch batch;

/* One writer's share of a batch: the messages of its partitions. */
typedef struct share {
    batch *b;
    const size_t *idx; /* message indices, in batch order */
    size_t n;
    cx_record *recs;    /* n records */
    size_t made;        /* records made, recs[0..made) (a retry writes the same ones) */
    size_t made_bytes;  /* the messages' bytes of those */
    int making;         /* being made, by the writer or its maker (not to be finished) */
    size_t done;        /* records written, by parts: recs[0..done) */
    cx_sink_counts counts; /* what the writes of those parts did */
    struct share *next; /* the writer's queue */
} share;

struct batch {
    cx_pipeline_msg *msgs; /* copies; values and topics point into data */
    char *data;
    size_t n, data_cap;
    cx_record_store *stores; /* per message: what its record points into */
    cx_record *recs;
    size_t *order; /* message indices grouped by writer */
    share sh[MAX_WRITERS];
    int filling;  /* being copied by submit: not to be reported yet */
    int pending;  /* shares not finished */
    int given_up; /* a share was given up */
    cx_sink_counts counts;
    size_t written; /* messages of the shares written */
    int64_t t0, t1;
};

typedef struct writer {
    cx_pipeline *p;
    const cx_sink *sink;
    pthread_t thread, maker;
    int started, maker_started;
    pthread_cond_t cond;      /* signalled when a share is queued or made, on drain and quit */
    pthread_cond_t make_cond; /* signalled when a share may be made ahead (queued behind
                                 another, the one before it done, failures over), on quit */
    share *head, *tail;
    int failures;  /* consecutive transient failures, for the backoff */
    int64_t failing_since_us; /* when the first of them began */
    int64_t blocked_since_us; /* since when its writes answer BLOCKED (0: the last did not) */
    int writing;   /* inside its sink's write (under the lock) */
    int64_t writing_since_us; /* when that write began */
    int giving_up; /* a retry failed during a drain: give up the rest of the queue */
    size_t part_max;  /* 0: shares are written whole; else at most this many records a write */
    size_t part_told; /* the smallest part_max logged since shares were last written whole */
    int part_ok;      /* writes in a row that succeeded at part_max */
} writer;

struct cx_pipeline {
    cx_pipeline_options o;
    cx_record_rules rules;
    writer wr[MAX_WRITERS];
    batch *ring;
    int head, count; /* the oldest batch in hand, and how many are */
    pthread_mutex_t lock;
    pthread_cond_t idle; /* signalled when a batch leaves the ring */
    unsigned retry_gen;  /* cx_pipeline_retry_now() calls: a backoff's wait ends */
    int quit, draining, fatal, reporting;
    int stale; /* a share was given up: nothing is taken until offsets are read again */
    char fatal_err[1024];
    _Atomic unsigned seed;
    /* Which writer writes each partition (by topic hash and number) seen since
     * the ring was last empty: submit's own, as only one thread submits. */
    struct slot {
        uint32_t topic_hash;
        int32_t partition;
        int writer; /* -1: a free slot */
    } * map;
    size_t map_used, map_cap;
    size_t load[MAX_WRITERS]; /* messages given each writer since the ring was empty */
};

const char *cx_dead_reason_name(cx_dead_reason r)
{
    static const char *const names[CX_DEAD_REASON_COUNT] = {
        [CX_DEAD_INVALID] = "invalid",
        [CX_DEAD_ID_REUSED] = "event_id_reused",
        [CX_DEAD_REJECTED] = "rejected",
    };
    return names[r];
}

static void add_counts(cx_sink_counts *to, const cx_sink_counts *c)
{
    to->stored += c->stored;
    to->duplicates += c->duplicates;
    to->skipped += c->skipped;
    to->dead_lettered += c->dead_lettered;
    for (int r = 0; r < CX_DEAD_REASON_COUNT; r++)
        to->dead_by[r] += c->dead_by[r];
    to->tickets_opened += c->tickets_opened;
    to->tickets_updated += c->tickets_updated;
    to->tickets_held += c->tickets_held;
    to->tickets_history += c->tickets_history;
    to->dated_ahead += c->dated_ahead;
    if (c->newest_event_s > to->newest_event_s)
        to->newest_event_s = c->newest_event_s;
    if (c->clock_known) { /* the latest measure */
        to->clock_skew_s = c->clock_skew_s;
        to->clock_known = 1;
    }
    for (int k = 0; k <= CX_CAT_COUNT; k++)
        for (int s = 0; s < CX_SENT_COUNT; s++)
            to->classified[k][s] += c->classified[k][s];
}

int cx_pipeline_backoff_ms(cx_pipeline *p, int failures)
{
    if (failures <= 0)
        return 0;
    long ms = p->o.retry_initial_ms;
    for (int i = 1; i < failures && ms < p->o.retry_max_ms; i++)
        ms *= 2;
    if (ms > p->o.retry_max_ms)
        ms = p->o.retry_max_ms;
    /* +-20% jitter so that many consumers do not retry in step; one step of
     * the generator per call, so writers failing together draw apart; never
     * past retry_max_ms, as promised */
    unsigned old = atomic_load(&p->seed), r;
    do
        r = old * 1103515245u + 12345u;
    while (!atomic_compare_exchange_weak(&p->seed, &old, r));
    long lo = ms * 8 / 10, hi = ms * 12 / 10 < p->o.retry_max_ms ? ms * 12 / 10 : p->o.retry_max_ms;
    return (int)(lo + (long)(r >> 8) % (hi - lo + 1));
}

/* Seconds since the oldest of the writers' writing_since_us (blocked 0: of
 * those writing) or blocked_since_us (blocked 1: of those blocked); 0 for none. */
static double oldest_seconds(cx_pipeline *p, int blocked)
{
    int64_t now = cx_now_mono_us(), oldest = now;
    pthread_mutex_lock(&p->lock);
    for (int w = 0; w < p->o.n_sinks; w++) {
        const writer *wr = &p->wr[w];
        int64_t since = blocked ? wr->blocked_since_us : wr->writing ? wr->writing_since_us : 0;
        if (since != 0 && since < oldest)
            oldest = since;
    }
    pthread_mutex_unlock(&p->lock);
    return (double)(now - oldest) / 1e6;
}

double cx_pipeline_write_seconds(cx_pipeline *p)
{
    return oldest_seconds(p, 0);
}

double cx_pipeline_blocked_seconds(cx_pipeline *p)
{
    return oldest_seconds(p, 1);
}

void cx_pipeline_retry_now(cx_pipeline *p)
{
    pthread_mutex_lock(&p->lock);
    p->retry_gen++;
    for (int w = 0; w < p->o.n_sinks; w++)
        pthread_cond_signal(&p->wr[w].cond);
    pthread_mutex_unlock(&p->lock);
}

/* FNV-1a over a topic name. A batch's copies share one topic string per run
 * of messages (copy_batch), so it is hashed once per run. */
static uint32_t topic_hash(const char *topic)
{
    uint32_t h = 2166136261u;
    for (const char *c = topic; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    return h;
}

/* Forgets which writer wrote which partition: with the ring empty, no share
 * of any partition is pending, so each may go to another writer from now on
 * without its writes overtaking each other. */
static void map_reset(cx_pipeline *p)
{
    for (size_t i = 0; i < p->map_cap; i++)
        p->map[i].writer = -1;
    p->map_used = 0;
    memset(p->load, 0, sizeof p->load);
}

/* The slot of a partition, or the free slot it would take. */
static struct slot *map_slot(const cx_pipeline *p, uint32_t th, int32_t partition)
{
    size_t i = (th ^ ((uint32_t)partition * 2654435761u)) & (p->map_cap - 1);
    while (p->map[i].writer >= 0 &&
           (p->map[i].topic_hash != th || p->map[i].partition != partition))
        i = (i + 1) & (p->map_cap - 1);
    return &p->map[i];
}

/* Room for n more partitions in the map (at most half full). */
static cx_status map_reserve(cx_pipeline *p, size_t n, char *err, size_t errlen)
{
    if ((p->map_used + n) * 2 <= p->map_cap)
        return CX_OK;
    size_t cap = p->map_cap ? p->map_cap : 64;
    while ((p->map_used + n) * 2 > cap)
        cap *= 2;
    struct slot *old = p->map, *map = malloc(cap * sizeof *map);
    if (map == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "pipeline: out of memory");
    size_t old_cap = p->map_cap;
    p->map = map;
    p->map_cap = cap;
    for (size_t i = 0; i < cap; i++)
        map[i].writer = -1;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].writer >= 0)
            *map_slot(p, old[i].topic_hash, old[i].partition) = old[i];
    free(old);
    return CX_OK;
}

/* The writer of b->msgs[i] (given the hash of b->msgs[i-1]'s topic in *h). A
 * partition keeps its writer while any share of it is pending, so that its
 * writes commit in order; one seen first goes to the writer given the fewest
 * messages so far, so that partitions numbered alike (every other one, as a
 * round-robin assignor deals them) and busy ones are spread. */
static int writer_of_msg(cx_pipeline *p, const batch *b, size_t i, uint32_t *h)
{
    const cx_pipeline_msg *m = &b->msgs[i];
    if (i == 0 || m->topic != b->msgs[i - 1].topic)
        *h = topic_hash(m->topic);
    struct slot *sl = map_slot(p, *h, m->partition);
    if (sl->writer < 0) {
        int w = 0;
        for (int k = 1; k < p->o.n_sinks; k++)
            if (p->load[k] < p->load[w])
                w = k;
        *sl = (struct slot){*h, m->partition, w};
        p->map_used++;
    }
    return sl->writer;
}

/* Reports the finished batches at the head of the ring, in order, and frees
 * their slots. Under the lock; one thread at a time does it. */
static void report_done(cx_pipeline *p)
{
    if (p->reporting)
        return;
    p->reporting = 1;
    while (p->count > 0 && !p->ring[p->head].filling && p->ring[p->head].pending == 0) {
        batch *b = &p->ring[p->head];
        cx_pipeline_report r = {.msgs = b->msgs,
                                .n = b->n,
                                .recs = b->given_up ? NULL : b->recs,
                                .counts = b->counts,
                                .written = b->written,
                                .complete = !b->given_up,
                                .seconds = (double)(b->t1 - b->t0) / 1e6};
        pthread_mutex_unlock(&p->lock);
        if (p->o.hooks.stored != NULL)
            p->o.hooks.stored(p->o.hooks.ctx, &r);
        for (size_t i = 0; i < b->n; i++)
            cx_record_release(&b->stores[i]);
        pthread_mutex_lock(&p->lock);
        b->n = 0;
        p->head = (p->head + 1) % p->o.max_batches;
        p->count--;
        pthread_cond_broadcast(&p->idle);
    }
    p->reporting = 0;
}

/* Takes the share at the head of wr's queue off it (under the lock): written
 * when complete, else given up after the parts written (done). */
static void finish_share(cx_pipeline *p, writer *wr, int complete)
{
    share *s = wr->head;
    wr->head = s->next;
    if (wr->head == NULL) {
        wr->tail = NULL;
        wr->giving_up = 0;
    } else if (wr->head->next != NULL) {
        pthread_cond_signal(&wr->make_cond); /* the share behind the new head */
    }
    batch *b = s->b;
    add_counts(&b->counts, &s->counts);
    b->written += s->done;
    if (!complete)
        b->given_up = 1;
    if (--b->pending == 0) {
        b->t1 = cx_now_mono_us();
        report_done(p);
    }
}

/* Makes s's records from s->made up to `to` (without the lock; s->making is
 * set, so nothing else touches them) and tells the made hook the CPU time
 * it took; returns the messages' bytes. */
static size_t make_records(cx_pipeline *p, writer *wr, share *s, size_t to)
{
    batch *b = s->b;
    size_t bytes = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (size_t k = s->made; k < to; k++) {
        size_t i = s->idx[k];
        const cx_pipeline_msg *m = &b->msgs[i];
        cx_record *r = &s->recs[k];
        bytes += m->len;
        if (cx_record_make(r, &b->stores[i], &p->rules, m->topic, m->partition, m->offset, m->value,
                           m->len) != CX_OK)
            cx_log(CX_LOG_DEBUG, "pipeline", "invalid message %s[%d]@%lld: %s", r->topic,
                   r->partition, (long long)r->offset, r->error);
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    if (p->o.hooks.made != NULL && to > s->made)
        p->o.hooks.made(p->o.hooks.ctx, (int)(wr - p->wr), to - s->made,
                        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return bytes;
}

/* The share whose records wr's maker is to make now, NULL for none: the one
 * queued right behind the share being written, while its messages made
 * ahead are under ahead_bytes, and not while the writer backs off after a
 * failure (or its queue is to be given up). Under the lock. */
static share *next_to_make(const cx_pipeline *p, const writer *wr)
{
    share *s = wr->head != NULL ? wr->head->next : NULL;
    if (s == NULL || p->fatal || wr->giving_up || wr->failures > 0 || p->o.ahead_bytes < 0 ||
        s->making || s->made == s->n || s->made_bytes >= (size_t)p->o.ahead_bytes)
        return NULL;
    return s;
}

/* Of s's records from s->made on, the end of those whose messages fit in
 * what is left of ahead_bytes (at least one). */
static size_t ahead_end(const cx_pipeline *p, const share *s)
{
    size_t k = s->made, bytes = s->made_bytes;
    do
        bytes += s->b->msgs[s->idx[k++]].len;
    while (k < s->n && bytes + s->b->msgs[s->idx[k]].len <= (size_t)p->o.ahead_bytes);
    return k;
}

/* A writer's maker: makes the records of the share queued behind the one
 * being written (up to ahead_bytes of its messages), so that a writer's
 * parsing and classifying overlap its server's work instead of taking turns
 * with it, with the memory that takes bounded. */
static void *maker_main(void *arg)
{
    writer *wr = arg;
    cx_pipeline *p = wr->p;
    char name[16];
    snprintf(name, sizeof name, "cx:maker-%d", (int)(wr - p->wr));
    cx_thread_name(name);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        share *s;
        while ((s = next_to_make(p, wr)) == NULL && !p->quit)
            pthread_cond_wait(&wr->make_cond, &p->lock);
        if (s == NULL)
            break;
        s->making = 1;
        size_t to = ahead_end(p, s);
        pthread_mutex_unlock(&p->lock);
        size_t bytes = make_records(p, wr, s, to);
        pthread_mutex_lock(&p->lock);
        s->making = 0;
        s->made = to;
        s->made_bytes += bytes;
        pthread_cond_signal(&wr->cond); /* the writer may wait for these records */
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Gives up wr's queued shares after a transient failure during a drain (under the lock). */
static void give_up(cx_pipeline *p, writer *wr, const char *err)
{
    cx_log(CX_LOG_WARN, "pipeline",
           "not retrying while draining (%s): the unwritten batches will be read again "
           "from the stored offsets",
           err);
    wr->giving_up = 1;
    p->stale = 1;
    finish_share(p, wr, 0);
}

/* After a write of n records was refused for its size (under the lock):
 * at most half as many a write from now on. */
static void shrink_parts(cx_pipeline *p, writer *wr, size_t n, const char *err)
{
    wr->part_max = n / 2;
    wr->part_ok = 0;
    int told = wr->part_told != 0 && wr->part_told <= wr->part_max;
    if (!told)
        wr->part_told = wr->part_max;
    cx_log(told ? CX_LOG_DEBUG : CX_LOG_WARN, "pipeline",
           "writer %d: a write of %zu records was refused for its size (%s); writing at most "
           "%zu at a time, more again once those are stored",
           (int)(wr - p->wr), n, err, wr->part_max);
}

/* After a write that succeeded (under the lock): PARTS_GROW in a row double
 * the part size, up to whole shares again. */
static void grow_parts(cx_pipeline *p, writer *wr)
{
    if (wr->part_max == 0 || ++wr->part_ok < PARTS_GROW)
        return;
    wr->part_ok = 0;
    wr->part_max *= 2;
    if (wr->part_max >= p->o.batch_max) {
        wr->part_max = wr->part_told = 0;
        cx_log(CX_LOG_INFO, "pipeline", "writer %d: writing whole batches again",
               (int)(wr - p->wr));
    }
}

static void *writer_main(void *arg)
{
    writer *wr = arg;
    cx_pipeline *p = wr->p;
    char err[1024];
    snprintf(err, sizeof err, "cx:writer-%d", (int)(wr - p->wr));
    cx_thread_name(err);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (wr->head == NULL && !p->quit)
            pthread_cond_wait(&wr->cond, &p->lock);
        if (wr->head == NULL)
            break;
        share *s = wr->head;
        if (s->making) { /* by the maker: wait for its records (or to give it up) */
            pthread_cond_wait(&wr->cond, &p->lock);
            continue;
        }
        if (p->fatal || wr->giving_up) {
            finish_share(p, wr, 0);
            continue;
        }
        wr->writing = 1;
        wr->writing_since_us = cx_now_mono_us();
        /* a retry asked for from here on (the server answers again while
         * this write fails) ends the backoff after it */
        unsigned gen = p->retry_gen;
        int make = s->made < s->n; /* the rest its maker did not make */
        s->making = make;
        pthread_mutex_unlock(&p->lock);
        if (make)
            make_records(p, wr, s, s->n);
        size_t from = s->done, n = s->n - s->done;
        if (wr->part_max > 0 && n > wr->part_max)
            n = wr->part_max;
        cx_sink_counts c = {0};
        err[0] = '\0';
        cx_sink_result r =
            wr->sink->ops->write(wr->sink->ctx, s->recs + from, n, &c, err, sizeof err);
        if (r == CX_SINK_OK) /* the events are not needed any more (their tags are) */
            for (size_t k = from; k < from + n; k++)
                cx_record_release(&s->b->stores[s->idx[k]]);
        pthread_mutex_lock(&p->lock);
        if (make) {
            s->making = 0;
            s->made = s->n;
        }
        wr->writing = 0;
        if (r != CX_SINK_BLOCKED)
            wr->blocked_since_us = 0;
        else if (wr->blocked_since_us == 0) /* since that write began to wait */
            wr->blocked_since_us = wr->writing_since_us;
        if (r == CX_SINK_OK) {
            if (wr->failures > 0) { /* the end of an outage, said as its start was */
                cx_log(CX_LOG_INFO, "pipeline",
                       "writer %d: batch stored after %d failed attempt(s) over %lld s",
                       (int)(wr - p->wr), wr->failures,
                       (long long)((cx_now_mono_us() - wr->failing_since_us) / 1000000));
                pthread_cond_signal(&wr->make_cond); /* making ahead again */
            }
            wr->failures = 0;
            add_counts(&s->counts, &c);
            s->done += n;
            grow_parts(p, wr);
            if (s->done == s->n)
                finish_share(p, wr, 1);
            continue;
        }
        if (r == CX_SINK_TOO_LARGE && n > 1 && !p->draining && !p->quit) {
            shrink_parts(p, wr, n, err);
            continue; /* the same share, a smaller part of it, at once */
        }
        if (r != CX_SINK_RETRY && r != CX_SINK_BLOCKED && r != CX_SINK_TOO_LARGE) {
            int first = !p->fatal;
            if (first) {
                p->fatal = 1;
                snprintf(p->fatal_err, sizeof p->fatal_err, "%s", err);
                for (int w = 0; w < p->o.n_sinks; w++)
                    pthread_cond_signal(&p->wr[w].cond);
                pthread_cond_broadcast(&p->idle); /* a submit waiting for room */
            }
            if (first && p->o.hooks.failed != NULL) { /* before the batch is reported */
                pthread_mutex_unlock(&p->lock);
                p->o.hooks.failed(p->o.hooks.ctx, err);
                pthread_mutex_lock(&p->lock);
            }
            finish_share(p, wr, 0);
            continue;
        }
        if (wr->failures++ == 0) /* from when that attempt began: a wait for a lock
                                    held to lock_timeout is part of the outage */
            wr->failing_since_us = wr->writing_since_us;
        if (p->draining) {
            give_up(p, wr, err);
            continue;
        }
        int delay = cx_pipeline_backoff_ms(p, wr->failures);
        if (p->o.hooks.retrying != NULL) {
            pthread_mutex_unlock(&p->lock);
            p->o.hooks.retrying(p->o.hooks.ctx, (int)(wr - p->wr), wr->failures,
                                (cx_now_mono_us() - wr->failing_since_us) / 1000000, delay,
                                r == CX_SINK_BLOCKED, err);
            pthread_mutex_lock(&p->lock);
        }
        struct timespec until = cx_time_after_ms(CLOCK_MONOTONIC, delay);
        while (!p->draining && !p->quit && !p->fatal && p->retry_gen == gen &&
               pthread_cond_timedwait(&wr->cond, &p->lock, &until) == 0)
            ;
        if (p->draining || p->quit)
            give_up(p, wr, err);
        /* else: the same share again (or given up after a fatal error) */
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Copies msgs[0..n) into b: values and topic names into one buffer. A
 * message without a value (NULL: a tombstone, a compacted topic's deletion
 * marker) keeps NULL, so that its dead letter can say so; an empty value
 * keeps a pointer, as it was. */
static cx_status copy_batch(batch *b, const cx_pipeline_msg *msgs, size_t n, char *err,
                            size_t errlen)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += msgs[i].len;
        if (i == 0 || strcmp(msgs[i].topic, msgs[i - 1].topic) != 0)
            bytes += strlen(msgs[i].topic) + 1;
    }
    if (bytes > b->data_cap) {
        char *d = realloc(b->data, bytes);
        if (d == NULL)
            return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory copying a batch");
        b->data = d;
        b->data_cap = bytes;
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        b->msgs[i] = msgs[i];
        if (i == 0 || strcmp(msgs[i].topic, msgs[i - 1].topic) != 0) {
            size_t tl = strlen(msgs[i].topic) + 1;
            memcpy(b->data + at, msgs[i].topic, tl);
            b->msgs[i].topic = b->data + at;
            at += tl;
        } else {
            b->msgs[i].topic = b->msgs[i - 1].topic;
        }
        if (msgs[i].value != NULL) { /* else a tombstone: NULL, as copied */
            if (msgs[i].len > 0)
                memcpy(b->data + at, msgs[i].value, msgs[i].len);
            b->msgs[i].value = b->data + at; /* not NULL: the buffer holds the topic */
            at += msgs[i].len;
        }
    }
    b->n = n;
    return CX_OK;
}

cx_status cx_pipeline_submit(cx_pipeline *p, const cx_pipeline_msg *msgs, size_t n, int wait_ms,
                             char *err, size_t errlen)
{
    if (n > p->o.batch_max)
        return cx_errf(err, errlen, CX_ERR_INVALID, "batch of %zu is over the %zu planned", n,
                       p->o.batch_max);
    pthread_mutex_lock(&p->lock);
    cx_status st = CX_OK;
    if (n > 0 && wait_ms > 0 && !p->fatal && !p->stale &&
        (p->draining || p->count == p->o.max_batches)) {
        struct timespec until = cx_time_after_ms(CLOCK_MONOTONIC, wait_ms);
        while (!p->fatal && (p->draining || p->count == p->o.max_batches) &&
               pthread_cond_timedwait(&p->idle, &p->lock, &until) == 0)
            ;
    }
    if (p->fatal)
        st = cx_errf(err, errlen, CX_ERR_FATAL, "%s", p->fatal_err);
    else if (n > 0 && p->stale)
        st = cx_errf(err, errlen, CX_ERR_TRANSIENT,
                     "batches before it were given up: waiting for the stored offsets");
    else if (n > 0 && (p->draining || p->count == p->o.max_batches))
        st = cx_errf(err, errlen, CX_ERR_TRANSIENT, "busy: %d batches are being stored", p->count);
    if (st != CX_OK || n == 0) {
        pthread_mutex_unlock(&p->lock);
        return st;
    }
    batch *b = &p->ring[(p->head + p->count) % p->o.max_batches];
    int empty = p->count == 0; /* no share of any partition is pending */
    p->count++;
    b->filling = 1;
    pthread_mutex_unlock(&p->lock);
    if (empty)
        map_reset(p);

    b->t0 = cx_now_mono_us();
    b->given_up = 0;
    b->counts = (cx_sink_counts){0};
    b->written = 0;
    if ((st = map_reserve(p, n, err, errlen)) != CX_OK ||
        (st = copy_batch(b, msgs, n, err, errlen)) != CX_OK) {
        pthread_mutex_lock(&p->lock);
        b->filling = 0;
        b->n = 0;
        p->count--; /* the newest slot: nothing was queued behind it */
        pthread_cond_broadcast(&p->idle);
        pthread_mutex_unlock(&p->lock);
        return st;
    }
    size_t count[MAX_WRITERS] = {0}, at = 0;
    uint32_t h = 0;
    for (size_t i = 0; i < n; i++) {
        int w = writer_of_msg(p, b, i, &h);
        count[w]++;
        p->load[w]++;
    }
    for (int w = 0; w < p->o.n_sinks; w++) {
        b->sh[w] = (share){.b = b, .idx = b->order + at, .recs = b->recs + at};
        at += count[w];
    }
    for (size_t i = 0; i < n; i++) {
        share *s = &b->sh[writer_of_msg(p, b, i, &h)];
        b->order[(size_t)(s->idx - b->order) + s->n++] = i;
    }
    pthread_mutex_lock(&p->lock);
    b->pending = 0;
    for (int w = 0; w < p->o.n_sinks; w++) {
        share *s = &b->sh[w];
        if (s->n == 0)
            continue;
        b->pending++;
        writer *wr = &p->wr[w];
        if (wr->tail != NULL) {
            wr->tail->next = s;
            pthread_cond_signal(&wr->make_cond); /* behind another: the maker makes it */
        } else {
            wr->head = s;
        }
        wr->tail = s;
        pthread_cond_signal(&wr->cond); /* only this writer */
    }
    b->filling = 0;
    pthread_mutex_unlock(&p->lock);
    return CX_OK;
}

/* Cancels the writes going on: called with the lock, which it lets go of
 * while the sinks ask their servers. The sinks outlive the writers. */
static void cancel_writes(cx_pipeline *p, int *told)
{
    int writing[MAX_WRITERS];
    for (int w = 0; w < p->o.n_sinks; w++)
        writing[w] = p->wr[w].writing && p->wr[w].sink->ops->cancel != NULL;
    pthread_mutex_unlock(&p->lock);
    for (int w = 0; w < p->o.n_sinks; w++) {
        char err[512];
        const cx_sink *s = p->wr[w].sink;
        if (writing[w] && s->ops->cancel(s->ctx, err, sizeof err) != CX_OK && !(*told)++)
            cx_log(CX_LOG_WARN, "pipeline", "cannot cancel a write: %s", err);
    }
    pthread_mutex_lock(&p->lock);
}

cx_status cx_pipeline_drain(cx_pipeline *p, char *err, size_t errlen)
{
    pthread_mutex_lock(&p->lock);
    p->draining++;
    for (int w = 0; w < p->o.n_sinks; w++)
        pthread_cond_signal(&p->wr[w].cond); /* a writer waiting to retry gives up */
    int cancels = 0, told = 0;
    while (p->count > 0) {
        if (p->o.hooks.cancel_at == NULL) {
            pthread_cond_wait(&p->idle, &p->lock);
            continue;
        }
        int64_t at = p->o.hooks.cancel_at(p->o.hooks.ctx);
        if (at > 0 && cx_now_mono_us() >= at) {
            if (cancels++ == 0)
                cx_log(CX_LOG_WARN, "pipeline",
                       "stopping: %d batch(es) still being stored, cancelling their statements "
                       "(what is not stored is read again at the next start)",
                       p->count);
            cancel_writes(p, &told);
            if (p->count == 0)
                break;
        }
        struct timespec until = cx_time_after_ms(CLOCK_MONOTONIC, CANCEL_EVERY_MS);
        pthread_cond_timedwait(&p->idle, &p->lock, &until);
    }
    p->draining--;
    pthread_cond_broadcast(&p->idle); /* a submit waiting for the drain's end */
    cx_status st = p->fatal ? cx_errf(err, errlen, CX_ERR_FATAL, "%s", p->fatal_err) : CX_OK;
    pthread_mutex_unlock(&p->lock);
    return st;
}

cx_status cx_pipeline_read_offsets(cx_pipeline *p, const char *topic, const int32_t *parts,
                                   size_t n, const int64_t *start, int64_t *next, char *err,
                                   size_t errlen)
{
    cx_status st = cx_pipeline_drain(p, err, errlen); /* the first writer's sink is free */
    if (st != CX_OK)
        return st;
    const cx_sink *s = &p->o.sinks[0];
    st = s->ops->read_offsets(s->ctx, topic, parts, n, start, next, err, errlen);
    if (st == CX_OK) { /* the consumer reads on from there */
        pthread_mutex_lock(&p->lock);
        p->stale = 0;
        pthread_mutex_unlock(&p->lock);
    }
    return st;
}

cx_status cx_pipeline_advance_offsets(cx_pipeline *p, const char *topic, const int32_t *parts,
                                      size_t n, const int64_t *next, char *err, size_t errlen)
{
    const cx_sink *s = &p->o.sinks[0];
    if (s->ops->advance_offsets == NULL || n == 0)
        return CX_OK;
    pthread_mutex_lock(&p->lock);
    int idle = p->count == 0 && !p->draining && !p->stale && !p->fatal && !p->reporting;
    pthread_mutex_unlock(&p->lock);
    if (!idle) /* (only this thread submits: it stays so until the sink has done) */
        return cx_errf(err, errlen, CX_ERR_TRANSIENT, "batches are being stored");
    return s->ops->advance_offsets(s->ctx, topic, parts, n, next, err, errlen);
}

static void batch_free(batch *b)
{
    free(b->msgs);
    free(b->data);
    free(b->stores);
    free(b->recs);
    free(b->order);
}

cx_status cx_pipeline_new(cx_pipeline **out, const cx_pipeline_options *opts, char *err,
                          size_t errlen)
{
    *out = NULL;
    if (opts->n_sinks < 1 || opts->n_sinks > MAX_WRITERS || opts->rules == NULL ||
        opts->batch_max == 0 || opts->max_batches < 0 || opts->max_batches > MAX_BATCHES)
        return cx_errf(err, errlen, CX_ERR_CONFIG,
                       "pipeline: 1..%d sinks, rules, a batch size and 0..%d batches needed",
                       MAX_WRITERS, MAX_BATCHES);
    cx_pipeline *p = calloc(1, sizeof *p);
    if (p == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "pipeline: out of memory");
    p->o = *opts;
    if (p->o.retry_initial_ms <= 0)
        p->o.retry_initial_ms = 100;
    if (p->o.retry_max_ms <= 0)
        p->o.retry_max_ms = 30000;
    p->rules = *opts->rules;
    p->o.rules = &p->rules;
    if (p->o.max_batches == 0)
        p->o.max_batches = 2;
    if (p->o.ahead_bytes == 0)
        p->o.ahead_bytes = 4L << 20;
    p->seed = (unsigned)cx_now_mono_us();
    pthread_mutex_init(&p->lock, NULL);
    cx_cond_init_monotonic(&p->idle);
    for (int w = 0; w < p->o.n_sinks; w++) {
        p->wr[w] = (writer){.p = p, .sink = &p->o.sinks[w]};
        cx_cond_init_monotonic(&p->wr[w].cond);
        pthread_cond_init(&p->wr[w].make_cond, NULL);
    }
    int ok = (p->ring = calloc((size_t)p->o.max_batches, sizeof *p->ring)) != NULL;
    for (int k = 0; ok && k < p->o.max_batches; k++) {
        batch *b = &p->ring[k];
        size_t cap = opts->batch_max;
        ok = (b->msgs = calloc(cap, sizeof *b->msgs)) &&
             (b->stores = calloc(cap, sizeof *b->stores)) &&
             (b->recs = calloc(cap, sizeof *b->recs)) && (b->order = calloc(cap, sizeof *b->order));
    }
    if (!ok) {
        cx_pipeline_free(p);
        return cx_errf(err, errlen, CX_ERR_NOMEM, "pipeline: out of memory");
    }
    for (int w = 0; w < p->o.n_sinks; w++) {
        if (pthread_create(&p->wr[w].thread, NULL, writer_main, &p->wr[w]) != 0) {
            cx_pipeline_free(p);
            return cx_errf(err, errlen, CX_ERR_FATAL, "pipeline: cannot start writer threads");
        }
        p->wr[w].started = 1;
        if (pthread_create(&p->wr[w].maker, NULL, maker_main, &p->wr[w]) != 0) {
            cx_pipeline_free(p);
            return cx_errf(err, errlen, CX_ERR_FATAL, "pipeline: cannot start maker threads");
        }
        p->wr[w].maker_started = 1;
    }
    *out = p;
    return CX_OK;
}

void cx_pipeline_free(cx_pipeline *p)
{
    if (p == NULL)
        return;
    char err[256];
    cx_pipeline_drain(p, err, sizeof err);
    pthread_mutex_lock(&p->lock);
    p->quit = 1;
    for (int w = 0; w < p->o.n_sinks; w++) {
        pthread_cond_signal(&p->wr[w].cond);
        pthread_cond_signal(&p->wr[w].make_cond);
    }
    pthread_mutex_unlock(&p->lock);
    for (int w = 0; w < p->o.n_sinks; w++) {
        if (p->wr[w].started)
            pthread_join(p->wr[w].thread, NULL);
        if (p->wr[w].maker_started)
            pthread_join(p->wr[w].maker, NULL);
        pthread_cond_destroy(&p->wr[w].cond);
        pthread_cond_destroy(&p->wr[w].make_cond);
    }
    for (int k = 0; p->ring != NULL && k < p->o.max_batches; k++)
        batch_free(&p->ring[k]);
    free(p->ring);
    free(p->map);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->idle);
    free(p);
}
