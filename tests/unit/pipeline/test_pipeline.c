/*
 * test_pipeline.c - the batch engine driven in-process: a fake source (the
 * test, submitting batches of messages over several partitions as a consumer
 * does) and a fake sink that fails on command. The sink keeps a ledger like
 * the PostgreSQL sink's offsets: a write is atomic, and each record must be
 * exactly the next offset of its partition; a record below it is a message
 * stored twice, one above it a message lost.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "cxtest.h"
#include "pipeline.h"

#define PARTS 4
#define TOPIC "cx.events"

/* ---- The fake sink: one ledger ("the database"), one cx_sink per writer ---- */

typedef struct ledger {
    pthread_mutex_t lock;
    int64_t next[PARTS]; /* stored next offset per partition */
    size_t stored, twice, lost, wrong;
    int attempts, writes;
    int fail_next;      /* the next this many writes answer RETRY */
    int fail_partition; /* ... only writes with this partition (-1: any) */
    int fail_always;    /* every write answers RETRY while set */
    int fail_after;     /* once this many writes succeeded, every write answers RETRY (0: never) */
    int blocked_next;   /* the next this many writes answer BLOCKED (a lock elsewhere) */
    int error_next;     /* the next write answers ERROR */
    int delay_ms;       /* every write takes this long */
    size_t max_records; /* writes of more records answer TOO_LARGE (0: none do; SIZE_MAX:
                           all do) */
    size_t largest;     /* the most records a write that succeeded held */
    int hang;           /* every write waits for a cancel, then answers RETRY */
    int cancels;        /* cancel requests */
    pthread_cond_t cancelled;
    struct {
        int32_t partition;
        int64_t offset;
        int no_value; /* the record had no value (NULL), not an empty one */
        char reason[256];
    } dead[8]; /* the records written as dead letters (the first 8) */
    size_t n_dead;
    _Atomic size_t made; /* messages whose records were made (the made hook) */
    size_t wait_made;    /* the first write waits (bounded) until this many were made */
    int wait_made_ms;    /* ... for at most this long (0: 5 s) */
    int saw_made;        /* ... and they were */
    size_t made_seen;    /* how many were made when it stopped waiting */
} ledger;

static ledger db;

/* One of db's settings or counts, read or set under its lock: the writers
 * read them as they write. */
static int db_get(const int *field)
{
    pthread_mutex_lock(&db.lock);
    int v = *field;
    pthread_mutex_unlock(&db.lock);
    return v;
}

static void db_set(int *field, int value)
{
    pthread_mutex_lock(&db.lock);
    *field = value;
    pthread_mutex_unlock(&db.lock);
}

static int has_partition(const cx_record *recs, size_t n, int partition)
{
    for (size_t i = 0; i < n; i++)
        if (partition < 0 || recs[i].partition == partition)
            return 1;
    return 0;
}

static cx_sink_result fake_write(void *ctx, const cx_record *recs, size_t n, cx_sink_counts *counts,
                                 char *err, size_t errlen)
{
    ledger *l = ctx;
    int delay_ms = db_get(&l->delay_ms);
    if (delay_ms > 0)
        cx_test_sleep_ms(delay_ms);
    if (l->wait_made > 0) { /* only one writer writes in the tests that set it */
        int ms = l->wait_made_ms > 0 ? l->wait_made_ms : 5000;
        for (int i = 0; i < ms && atomic_load(&l->made) < l->wait_made; i++)
            cx_test_sleep_ms(1);
        l->made_seen = atomic_load(&l->made);
        l->saw_made = l->made_seen >= l->wait_made;
        l->wait_made = 0;
    }
    pthread_mutex_lock(&l->lock);
    l->attempts++;
    cx_sink_result r = CX_SINK_OK;
    if (l->hang) {
        for (int seen = l->cancels; l->cancels == seen;)
            pthread_cond_wait(&l->cancelled, &l->lock);
        snprintf(err, errlen, "canceled");
        r = CX_SINK_RETRY;
    } else if (l->blocked_next > 0) {
        l->blocked_next--;
        snprintf(err, errlen, "lock timeout");
        r = CX_SINK_BLOCKED;
    } else if (l->max_records > 0 && (n > l->max_records || l->max_records == SIZE_MAX)) {
        snprintf(err, errlen, "statement timeout");
        r = CX_SINK_TOO_LARGE;
    } else if (l->error_next > 0) {
        l->error_next--;
        snprintf(err, errlen, "refused for good");
        r = CX_SINK_ERROR;
    } else if (l->fail_always || (l->fail_after > 0 && l->writes >= l->fail_after) ||
               (l->fail_next > 0 && has_partition(recs, n, l->fail_partition))) {
        if (l->fail_next > 0)
            l->fail_next--;
        snprintf(err, errlen, "connection lost");
        r = CX_SINK_RETRY;
    } else {
        l->writes++;
        if (n > l->largest)
            l->largest = n;
        for (size_t i = 0; i < n; i++) {
            const cx_record *rec = &recs[i];
            char want[64];
            snprintf(want, sizeof want, "p%d-%lld", rec->partition, (long long)rec->offset);
            if (rec->ev == NULL && rec->error != NULL) { /* a dead letter: noted, with why */
                if (l->n_dead < CX_ARRAY_LEN(l->dead)) {
                    l->dead[l->n_dead].partition = rec->partition;
                    l->dead[l->n_dead].offset = rec->offset;
                    l->dead[l->n_dead].no_value = rec->raw == NULL;
                    snprintf(l->dead[l->n_dead].reason, sizeof l->dead[l->n_dead].reason, "%s",
                             rec->error);
                }
                l->n_dead++;
            } else if (rec->ev == NULL || strcmp(rec->ev->event_id, want) != 0) {
                l->wrong++; /* not the message submitted at that place */
            }
            int64_t *next = &l->next[rec->partition];
            if (rec->offset < *next)
                l->twice++;
            else if (rec->offset > *next)
                l->lost += (size_t)(rec->offset - *next);
            if (rec->offset >= *next)
                *next = rec->offset + 1;
        }
        l->stored += n;
        *counts = (cx_sink_counts){.stored = n};
    }
    pthread_mutex_unlock(&l->lock);
    return r;
}

static cx_status fake_offsets(void *ctx, const char *topic, const int32_t *parts, size_t n,
                              const int64_t *start, int64_t *next, char *err, size_t errlen)
{
    (void)topic, (void)start, (void)err, (void)errlen;
    ledger *l = ctx;
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < n; i++)
        next[i] = l->next[parts[i]] > 0 ? l->next[parts[i]] : -1;
    pthread_mutex_unlock(&l->lock);
    return CX_OK;
}

static cx_status fake_cancel(void *ctx, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    ledger *l = ctx;
    pthread_mutex_lock(&l->lock);
    l->cancels++;
    pthread_cond_broadcast(&l->cancelled);
    pthread_mutex_unlock(&l->lock);
    return CX_OK;
}

static const cx_sink_ops fake_ops = {
    .write = fake_write, .read_offsets = fake_offsets, .cancel = fake_cancel};

/* ---- The fake source: batches over PARTS partitions, and what it was told ---- */

#define MAX_BATCH 64
#define MAX_REPORTS 256

typedef struct source {
    int64_t pos[PARTS]; /* next offset to read per partition */
    unsigned turn;      /* the partition read next */
    char values[MAX_BATCH][160];
    cx_pipeline_msg msgs[MAX_BATCH];
    size_t n;
    /* submitted batches (their first message) and what the engine reported */
    int64_t submitted_first[MAX_REPORTS];
    int submitted;
    int64_t reported_first[MAX_REPORTS];
    int reported_complete[MAX_REPORTS];
    size_t reported_written[MAX_REPORTS];
    _Atomic int reported;
    _Atomic int in_hook, overlapped;
    _Atomic int retries, failed, bad_hook, blocked;
    int64_t cancel_at; /* what the cancel_at hook answers */
    int pauses, max_in_hand;
    int max_delay_ms;          /* the longest backoff the retrying hook may be told */
    int last_attempt;          /* what the retrying hook was told last */
    long long first_failing_s; /* the failing_s it was told first */
    _Atomic int last_delay_ms; /* the backoff it was told last */
} source;

static source src;
static cx_classifier *clf;
static cx_pipeline *pipe_;
static cx_sink sinks[2];

/* Reads the next n messages, round robin over parts[0..n_parts). */
static void source_read_of(source *s, size_t n, const int32_t *parts, size_t n_parts)
{
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        int32_t part = parts[s->turn++ % n_parts];
        int64_t off = s->pos[part]++;
        snprintf(s->values[i], sizeof s->values[i],
                 "{\"event_id\":\"p%d-%lld\",\"occurred_at\":\"2026-11-01T10:00:30Z\","
                 "\"channel\":\"chat\",\"text\":\"the courier was late again\"}",
                 part, (long long)off);
        s->msgs[i] = (cx_pipeline_msg){TOPIC, part, off, s->values[i], strlen(s->values[i]), 0};
    }
}

/* Reads the next n messages, round robin over the partitions. */
static void source_read(source *s, size_t n)
{
    static const int32_t all[PARTS] = {0, 1, 2, 3};
    source_read_of(s, n, all, PARTS);
}

/* Offers the batch in hand until it is taken, pausing while the engine is
 * busy; asserts the engine never holds more than max_batches. */
static void source_submit(source *s, int max_batches)
{
    char err[256];
    cx_status st;
    for (int tries = 0;
         (st = cx_pipeline_submit(pipe_, s->msgs, s->n, 0, err, sizeof err)) == CX_ERR_TRANSIENT;
         tries++) {
        cr_assert(tries < 20000, "the engine stayed busy: %s", err);
        s->pauses += tries == 0;
        cx_test_sleep_ms(1); /* paused: a consumer polls on meanwhile */
    }
    cr_assert_eq(st, CX_OK, "%s", err);
    s->submitted_first[s->submitted++] = s->msgs[0].offset * PARTS + s->msgs[0].partition;
    int in_hand = s->submitted - atomic_load(&s->reported);
    if (in_hand > s->max_in_hand)
        s->max_in_hand = in_hand;
    cr_assert(in_hand <= max_batches, "%d batches in the engine's hands, at most %d", in_hand,
              max_batches);
}

/* Starts reading again from the stored offsets, as a consumer does on assignment. */
static void source_seek_to_stored(source *s)
{
    int32_t parts[PARTS] = {0, 1, 2, 3};
    int64_t next[PARTS];
    char err[256];
    cr_assert_eq(cx_pipeline_read_offsets(pipe_, TOPIC, parts, PARTS, NULL, next, err, sizeof err),
                 CX_OK, "%s", err);
    for (int p = 0; p < PARTS; p++)
        s->pos[p] = next[p] < 0 ? 0 : next[p];
}

static void on_stored(void *ctx, const cx_pipeline_report *r)
{
    source *s = ctx;
    if (atomic_fetch_add(&s->in_hook, 1) != 0)
        s->overlapped = 1;
    int k = atomic_load(&s->reported);
    s->reported_first[k] = r->msgs[0].offset * PARTS + r->msgs[0].partition;
    s->reported_complete[k] = r->complete;
    s->reported_written[k] = r->written;
    cx_test_sleep_ms(1); /* so that overlapping hooks would be seen */
    atomic_fetch_sub(&s->in_hook, 1);
    atomic_store(&s->reported, k + 1);
}

/* (Hooks run on the engine's threads: they note what they saw, the test asserts.) */
static void on_retrying(void *ctx, int writer, int attempt, long long failing_s, int delay_ms,
                        int blocked, const char *err)
{
    source *s = ctx;
    if (delay_ms < 0 || delay_ms > s->max_delay_ms ||
        (strcmp(err, "connection lost") != 0 && strcmp(err, "canceled") != 0 &&
         strcmp(err, "lock timeout") != 0 && strcmp(err, "statement timeout") != 0))
        s->bad_hook = 1; /* the backoff is within its bounds, +-20% */
    if (blocked != (strcmp(err, "lock timeout") == 0))
        s->bad_hook = 1; /* said blocked when the sink answered BLOCKED, only then */
    s->blocked += blocked;
    if (writer < 0 || writer >= CX_PIPELINE_MAX_SINKS || attempt < 1 || failing_s < 0 ||
        failing_s > 600)
        s->bad_hook = 1; /* which writer, the how-manyth failure in a row, since when */
    s->last_delay_ms = delay_ms;
    if (s->retries == 0)
        s->first_failing_s = failing_s;
    s->last_attempt = attempt;
    s->retries++;
}

static void on_failed(void *ctx, const char *err)
{
    source *s = ctx;
    if (strcmp(err, "refused for good") != 0)
        s->bad_hook = 1;
    s->failed++;
}

static _Atomic size_t made_by[CX_PIPELINE_MAX_SINKS]; /* records made, by writer */

static void on_made(void *ctx, int writer, size_t n, double seconds)
{
    source *s = ctx;
    if (writer < 0 || writer >= CX_PIPELINE_MAX_SINKS || n == 0 || seconds < 0 || seconds > 60) {
        s->bad_hook = 1;
        return;
    }
    atomic_fetch_add(&db.made, n);
    atomic_fetch_add(&made_by[writer], n);
}

static int64_t on_cancel_at(void *ctx)
{
    return ((source *)ctx)->cancel_at;
}

static long ahead_bytes; /* what start_backoff() gives the engine (0: its default) */

/* Starts the engine with a backoff from initial_ms up to max_ms (0: the
 * engine's defaults). */
static void start_backoff(int writers, int max_batches, int initial_ms, int max_ms)
{
    char err[256];
    cx_record_rules rules = {.classifier = clf};
    src.max_delay_ms = max_ms > 0 ? max_ms + max_ms / 5 + 1 : 36000;
    cx_pipeline_options o = {.sinks = sinks,
                             .n_sinks = writers,
                             .rules = &rules,
                             .batch_max = MAX_BATCH,
                             .max_batches = max_batches,
                             .retry_initial_ms = initial_ms,
                             .retry_max_ms = max_ms,
                             .ahead_bytes = ahead_bytes,
                             .hooks = {.ctx = &src,
                                       .stored = on_stored,
                                       .retrying = on_retrying,
                                       .failed = on_failed,
                                       .made = on_made,
                                       .cancel_at = on_cancel_at}};
    cr_assert_eq(cx_pipeline_new(&pipe_, &o, err, sizeof err), CX_OK, "%s", err);
}

/* Starts the engine with a backoff of 1 to 5 ms, so that retries are quick. */
static void start(int writers, int max_batches)
{
    start_backoff(writers, max_batches, 1, 5);
}

static void setup(void)
{
    char err[256];
    memset(&db, 0, sizeof db);
    pthread_mutex_init(&db.lock, NULL);
    pthread_cond_init(&db.cancelled, NULL);
    db.fail_partition = -1;
    memset(&src, 0, sizeof src);
    ahead_bytes = 0;
    cr_assert_eq(cx_classifier_new(&clf, NULL, 0, err, sizeof err), CX_OK, "%s", err);
    for (int w = 0; w < 2; w++)
        sinks[w] = (cx_sink){.ops = &fake_ops, .ctx = &db};
}

static void teardown(void)
{
    cx_pipeline_free(pipe_);
    pipe_ = NULL;
    cx_classifier_free(clf);
    pthread_cond_destroy(&db.cancelled);
    pthread_mutex_destroy(&db.lock);
}

/* Every message read so far is stored exactly once. */
static void assert_all_stored_once(void)
{
    pthread_mutex_lock(&db.lock);
    cr_assert_not(src.bad_hook, "a hook was told something wrong");
    cr_assert_eq(db.twice, 0, "%zu messages stored twice", db.twice);
    cr_assert_eq(db.lost, 0, "%zu messages lost", db.lost);
    cr_assert_eq(db.wrong, 0, "%zu records not made from their message", db.wrong);
    cr_assert_eq(db.n_dead, 0, "%zu valid messages written as dead letters", db.n_dead);
    for (int p = 0; p < PARTS; p++)
        cr_assert_eq(db.next[p], src.pos[p], "partition %d stored up to %lld of %lld", p,
                     (long long)db.next[p], (long long)src.pos[p]);
    pthread_mutex_unlock(&db.lock);
}

/* Waits (bounded) until n batches were reported. */
static void wait_reported(int n)
{
    for (int i = 0; i < 5000 && atomic_load(&src.reported) < n; i++)
        cx_test_sleep_ms(1);
    cr_assert_geq(atomic_load(&src.reported), n, "%d batches not reported", n);
}

/* Waits (bounded) until the sink was tried at least n times. */
static void wait_attempts(int n)
{
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&db.lock);
        int a = db.attempts;
        pthread_mutex_unlock(&db.lock);
        if (a >= n)
            return;
        cx_test_sleep_ms(1);
    }
    cr_assert_fail("the sink was not tried %d times", n);
}

TestSuite(pipeline, .init = setup, .fini = teardown, .timeout = 60);

Test(pipeline, a_sink_failing_n_times_gets_each_batch_stored_once_and_in_order)
{
    start(2, 2);
    db_set(&db.fail_next, 5);
    db_set(&db.fail_partition, 0); /* the first batch (partition 0) is stored after the second */
    for (int b = 0; b < 40; b++) {
        /* every other batch is one message: of one partition, so of one writer,
         * and may be written before the batch before it */
        source_read(&src, b % 2 ? 1 : 1 + (size_t)b % MAX_BATCH);
        source_submit(&src, 2);
    }
    char err[256];
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    assert_all_stored_once();
    cr_assert_eq(src.retries, 5, "every failure is retried by the engine, once");
    cr_assert_eq(db.attempts, db.writes + 5);
    cr_assert_eq(src.reported, src.submitted);
    for (int k = 0; k < src.reported; k++) {
        cr_assert(src.reported_complete[k], "batch %d reported incomplete", k);
        cr_assert_eq(src.reported_first[k], src.submitted_first[k],
                     "batch %d reported out of the submission order", k);
    }
    cr_assert_not(src.overlapped, "two reports at once");
}

/* Partitions numbered alike (every other one, as a round-robin assignor
 * deals two members theirs) are spread over the writers, not all given to
 * one; each stays with its writer while a share of it is pending, so a
 * partition's batches are still stored in order. */
Test(pipeline, partitions_numbered_alike_are_spread_over_the_writers)
{
    static const int32_t even[] = {0, 2};
    memset(made_by, 0, sizeof made_by);
    start(2, 2);
    for (int b = 0; b < 20; b++) {
        source_read_of(&src, 1 + (size_t)b % MAX_BATCH, even, 2);
        source_submit(&src, 2);
    }
    char err[256];
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    assert_all_stored_once();
    cr_assert(made_by[0] > 0 && made_by[1] > 0, "one writer made all: %zu and %zu",
              (size_t)made_by[0], (size_t)made_by[1]);
    for (int k = 0; k < src.reported; k++)
        cr_assert_eq(src.reported_first[k], src.submitted_first[k],
                     "batch %d reported out of the submission order", k);
}

/* A write held up by another client's lock is retried as any transient
 * failure, and the hook is told it was blocked, not failing: the service
 * keeps PostgreSQL counted up meanwhile. */
Test(pipeline, a_blocked_write_is_retried_and_said_blocked)
{
    start(1, 2);
    db_set(&db.blocked_next, 2);
    db_set(&db.fail_next, 1);
    db_set(&db.fail_partition, -1);
    source_read(&src, 8);
    source_submit(&src, 2);
    wait_reported(1); /* (a drain would give the retries up) */
    char err[256];
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    assert_all_stored_once();
    cr_assert_eq(src.retries, 3);
    cr_assert_eq(src.blocked, 2, "the two blocked writes said blocked, the failed one not");
    cr_assert_eq(src.failed, 0);
    cr_assert_not(src.bad_hook);
}

/* A write that waited a second for a lock before it failed has been failing
 * for that second when the hook (the log line, the figures) is told of it:
 * the time counts from when the first failing attempt began. */
Test(pipeline, a_failure_counts_the_time_its_attempt_took)
{
    start(1, 2);
    db_set(&db.blocked_next, 1);
    db_set(&db.delay_ms, 1100);
    source_read(&src, 8);
    source_submit(&src, 1);
    wait_reported(1);
    db_set(&db.delay_ms, 0);
    char err[256];
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    assert_all_stored_once();
    cr_assert_eq(src.retries, 1);
    cr_assert_geq(src.first_failing_s, 1, "told %lld s", src.first_failing_s);
    cr_assert_not(src.bad_hook);
}

Test(pipeline, a_rebalance_while_the_sink_fails_neither_loses_nor_doubles)
{
    start(2, 2);
    char err[256];
    source_read(&src, 32);
    source_submit(&src, 2);
    wait_reported(1);
    db_set(&db.fail_always, 1);
    source_read(&src, 32);
    source_submit(&src, 2);
    wait_attempts(db_get(&db.writes) + 3); /* the second batch is being retried */

    /* Revocation: the drain returns although the sink still fails; what it
     * could not store is given up, never written later. */
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(src.reported, 2);
    cr_assert(src.reported_complete[0]);
    cr_assert_not(src.reported_complete[1], "a batch the sink refused is not stored");
    int writes = db.writes;
    db_set(&db.fail_always, 0);
    cx_test_sleep_ms(30); /* a write of the given-up batch now would be a zombie's */
    cr_assert_eq(db.writes, writes, "a given-up batch was written after the drain");

    /* Assignment: read on from the stored offsets, and more. */
    source_seek_to_stored(&src);
    cr_assert_eq(src.pos[0], 8, "the first batch's 8 messages of partition 0 are stored");
    for (int b = 0; b < 6; b++) {
        source_read(&src, 40);
        source_submit(&src, 2);
    }
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    assert_all_stored_once();
}

/* One writer's share of a batch is written, the other's given up: the report
 * says how many messages were written (they count as handled), not none. */
Test(pipeline, a_batch_partly_given_up_reports_what_was_written)
{
    start(2, 2);
    db_set(&db.fail_partition, 0);
    db_set(&db.fail_next, 1000000); /* every write holding partition 0 */
    source_read(&src, 32);  /* 8 messages of each of the 4 partitions */
    source_submit(&src, 2);
    wait_attempts(3);
    char err[256];
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(src.reported, 1);
    cr_assert_not(src.reported_complete[0]);
    pthread_mutex_lock(&db.lock);
    size_t stored = db.stored;
    pthread_mutex_unlock(&db.lock);
    cr_assert_eq(stored, 16, "the other writer's two partitions");
    cr_assert_eq(src.reported_written[0], 16);
}

/* A store that refuses writes of more than 5 records (a statement_timeout)
 * gets each share in parts, halved until they pass: every message stored
 * once and in order, no backoff, every batch reported complete. Once the
 * limit is gone, parts double back to whole shares. */
Test(pipeline, a_write_refused_for_its_size_is_written_in_parts_that_grow_back)
{
    start(2, 2);
    db.max_records = 5;
    for (int b = 0; b < 4; b++) { /* 32 records a writer: parts of 4 */
        source_read(&src, MAX_BATCH);
        source_submit(&src, 2);
    }
    wait_reported(4); /* (a drain gives a refused share up, as any failed one) */
    char err[256];
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    assert_all_stored_once();
    cr_assert_eq(db.largest, 4, "the largest write held %zu records", db.largest);
    for (int k = 0; k < src.reported; k++)
        cr_assert(src.reported_complete[k] && src.reported_written[k] == MAX_BATCH,
                  "batch %d: complete %d, %zu written", k, src.reported_complete[k],
                  src.reported_written[k]);
    cr_assert_eq(src.retries, 0, "a write refused for its size waits for no backoff");

    db.max_records = 0;
    pthread_mutex_lock(&db.lock);
    int before = db.writes;
    pthread_mutex_unlock(&db.lock);
    for (int b = 0; b < 40; b++) { /* parts of 8 (or 4), 16, then whole shares of 32 */
        source_read(&src, MAX_BATCH);
        source_submit(&src, 2);
    }
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    assert_all_stored_once();
    cr_assert_eq(db.largest, MAX_BATCH / 2, "whole shares again: %zu", db.largest);
    pthread_mutex_lock(&db.lock);
    int writes = db.writes - before;
    pthread_mutex_unlock(&db.lock);
    /* from parts of 4 at most 2 * (16 + 16 + 16 + 26) = 148; 640 had they stayed at 4 */
    cr_assert_leq(writes, 148, "%d writes for 40 batches", writes);
    cr_assert_not(src.bad_hook);
}

/* A share given up after some of its parts were written (a drain while the
 * store fails) reports those as written, and the offsets read again start
 * after them: read on from there, nothing is lost or stored twice. */
Test(pipeline, a_share_given_up_after_some_parts_reports_them_and_reads_on_after)
{
    start(1, 2);
    db.max_records = 5; /* parts of 4 */
    db_set(&db.fail_after, 3); /* then the store fails */
    source_read(&src, 32);
    source_submit(&src, 1);
    wait_attempts(8);
    char err[256];
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(src.reported, 1);
    cr_assert_not(src.reported_complete[0]);
    cr_assert_eq(src.reported_written[0], 12, "%zu written", src.reported_written[0]);
    cr_assert_eq(db.stored, 12);
    source_seek_to_stored(&src);
    for (int p = 0; p < PARTS; p++)
        cr_assert_eq(src.pos[p], 3, "partition %d read again from %lld", p, (long long)src.pos[p]);
    db_set(&db.fail_after, 0);
    db.max_records = 0;
    for (int b = 0; b < 3; b++) {
        source_read(&src, 40);
        source_submit(&src, 2);
    }
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    assert_all_stored_once();
}

/* When even one record is refused for its size, that write is retried after
 * the backoff, as a failure; a drain gives it up, to be read again, never
 * dropped. */
Test(pipeline, a_single_record_refused_for_its_size_is_retried_then_given_up)
{
    start(1, 2);
    db.max_records = SIZE_MAX; /* ... and every write refused */
    source_read(&src, 4);      /* 4 records: 4, 2, then 1 at a time */
    source_submit(&src, 1);
    wait_attempts(5);
    char err[256];
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(src.reported, 1);
    cr_assert_not(src.reported_complete[0]);
    cr_assert_geq(src.retries, 2, "the single record's write was not retried as a failure");
    cr_assert_eq(db.stored, 0);
    source_seek_to_stored(&src);
    cr_assert_eq(src.pos[0] + src.pos[1] + src.pos[2] + src.pos[3], 0, "read again from 0");
    cr_assert_not(src.bad_hook);
}

Test(pipeline, a_slow_sink_pauses_the_source_and_bounds_what_is_held)
{
    start(2, 2);
    db_set(&db.delay_ms, 15);
    for (int b = 0; b < 20; b++) {
        source_read(&src, MAX_BATCH);
        source_submit(&src, 2); /* asserts at most 2 batches held */
    }
    cr_assert_gt(src.pauses, 5, "the source was not paused while the sink was slow");
    cr_assert_eq(src.max_in_hand, 2);
    char err[256];
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    assert_all_stored_once();
    cr_assert_eq(src.retries, 0);
}

/* One writer, two batches, the second submitted once the first one's write
 * has begun; the first write waits (bounded by wait_ms, 0: 5 s) for both to
 * be made. Drains; returns the messages' length (about the same for each). */
static size_t second_batch_during_the_first_write(int wait_ms)
{
    start(1, 2);
    db.wait_made = 2 * MAX_BATCH;
    db.wait_made_ms = wait_ms;
    source_read(&src, MAX_BATCH);
    source_submit(&src, 2);
    for (int i = 0; i < 5000 && atomic_load(&db.made) < MAX_BATCH; i++)
        cx_test_sleep_ms(1); /* the first batch's write begins */
    source_read(&src, MAX_BATCH);
    size_t len = src.msgs[0].len;
    source_submit(&src, 2);
    char err[256];
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(atomic_load(&db.made), 2 * MAX_BATCH, "each message made once");
    assert_all_stored_once();
    return len;
}

/* A writer's next share is parsed and classified while the share before it
 * is being written, not after: the first write waits until it is. */
Test(pipeline, the_next_records_are_made_while_a_write_goes_on)
{
    second_batch_during_the_first_write(0);
    cr_assert(db.saw_made, "the second batch's records were not made during the first write");
}

/* What is made ahead is bounded by ahead_bytes of messages (their parsed
 * events are held meanwhile): the rest of the share is made in its turn. */
Test(pipeline, records_made_ahead_are_bounded_by_their_bytes)
{
    ahead_bytes = 1000;
    size_t len = second_batch_during_the_first_write(1000);
    size_t ahead = db.made_seen - MAX_BATCH;
    cr_assert(ahead >= 1 && ahead <= 1000 / len + 2,
              "%zu records (of %zu bytes) made ahead of a write, for 1000 bytes", ahead, len);
}

Test(pipeline, shutdown_mid_stream_stores_the_batches_in_hand)
{
    start(2, 2);
    db_set(&db.delay_ms, 20);
    source_read(&src, MAX_BATCH);
    source_submit(&src, 2);
    source_read(&src, MAX_BATCH);
    source_submit(&src, 2);
    cx_pipeline_free(pipe_); /* stop: drains first */
    pipe_ = NULL;
    cr_assert_eq(src.reported, 2);
    cr_assert(src.reported_complete[0] && src.reported_complete[1]);
    assert_all_stored_once();
}

/* One writer: a first batch is stored, then the sink fails every write and
 * the second batch is being retried. */
static void stored_then_failing(void)
{
    start(1, 2);
    source_read(&src, 20);
    source_submit(&src, 2);
    wait_reported(1);
    db_set(&db.fail_always, 1);
    source_read(&src, 20);
    source_submit(&src, 2);
    wait_attempts(db_get(&db.writes) + 2);
}

Test(pipeline, shutdown_while_the_sink_fails_leaves_the_batch_for_the_next_run)
{
    stored_then_failing();
    cx_pipeline_free(pipe_); /* stop: returns although the sink fails */
    pipe_ = NULL;
    cr_assert_eq(src.reported, 2);
    cr_assert_not(src.reported_complete[1]);
    pthread_mutex_lock(&db.lock);
    cr_assert_eq(db.next[0], 5, "only the first batch is stored");
    pthread_mutex_unlock(&db.lock);

    /* The next run reads on from the stored offsets: nothing lost, nothing twice. */
    db_set(&db.fail_always, 0);
    start(2, 2);
    source_seek_to_stored(&src);
    source_read(&src, 60);
    source_submit(&src, 2);
    char err[256];
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    assert_all_stored_once();
}

/* A stop's drain with a limit (the cancel_at hook): writes that finish within
 * it are not cancelled, nor are writers with nothing to write; one that does
 * not end by itself (a server holding a COMMIT) is cancelled at the limit,
 * given up, and stored by the next run. */
Test(pipeline, a_stop_cancels_a_write_that_does_not_end_and_only_that)
{
    char err[256];
    start(2, 2);
    db_set(&db.delay_ms, 20);
    src.cancel_at = cx_now_mono_us() + 5000000;
    source_read(&src, MAX_BATCH);
    source_submit(&src, 2);
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(db.cancels, 0, "a write ending in time was cancelled");
    cr_assert(src.reported == 1 && src.reported_complete[0]);

    db_set(&db.delay_ms, 0);
    db_set(&db.hang, 1);
    source_read(&src, 1); /* one partition: one writer writes, the other has nothing */
    source_submit(&src, 2);
    wait_attempts(db_get(&db.writes) + 1);
    src.cancel_at = cx_now_mono_us() + 50000;
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    pthread_mutex_lock(&db.lock);
    cr_assert_eq(db.cancels, 1, "%d cancels: only the writer writing is asked", db.cancels);
    pthread_mutex_unlock(&db.lock);
    cr_assert_eq(src.reported, 2);
    cr_assert_not(src.reported_complete[1], "the cancelled batch was not given up");
    cx_pipeline_free(pipe_);
    pipe_ = NULL;

    db_set(&db.hang, 0);
    start(2, 2);
    source_seek_to_stored(&src);
    source_read(&src, 60);
    source_submit(&src, 2);
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    assert_all_stored_once();
}

/* How long the oldest write going on has taken, for the metric: 0 with none,
 * growing while one does not end, 0 again once it is over. */
Test(pipeline, the_oldest_write_going_on_is_timed)
{
    char err[256];
    start(2, 2);
    cr_assert_eq(cx_pipeline_write_seconds(pipe_), 0);
    db_set(&db.hang, 1);
    source_read(&src, 1);
    source_submit(&src, 2);
    wait_attempts(db_get(&db.writes) + 1);
    cx_test_sleep_ms(300);
    double took = cx_pipeline_write_seconds(pipe_);
    cr_assert(took >= 0.25 && took < 30, "a write hanging for 300 ms shows %.3f s", took);
    src.cancel_at = cx_now_mono_us() + 50000;
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_pipeline_write_seconds(pipe_), 0, "no write goes on after a drain");
    cx_pipeline_free(pipe_);
    pipe_ = NULL;
    db_set(&db.hang, 0);
}

/* A stop (or a rebalance) drains while a write is being retried: that batch is
 * given up. The consumer's batch in hand comes after it, so taking it would
 * store offsets past messages never stored: nothing is taken until the
 * offsets are read again. */
Test(pipeline, nothing_is_taken_after_a_give_up_until_offsets_are_read_again)
{
    stored_then_failing();
    source_read(&src, 20); /* the batch in hand */
    char err[256];
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    cr_assert_not(src.reported_complete[1]);
    db_set(&db.fail_always, 0); /* the database is back */
    cr_assert_eq(cx_pipeline_submit(pipe_, src.msgs, src.n, 0, err, sizeof err), CX_ERR_TRANSIENT,
                 "a batch after a given-up one was taken");
    pthread_mutex_lock(&db.lock);
    cr_assert_eq(db.lost, 0);
    pthread_mutex_unlock(&db.lock);

    source_seek_to_stored(&src);
    source_read(&src, 60);
    source_submit(&src, 2);
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    assert_all_stored_once();
}

Test(pipeline, a_sink_error_stops_taking_batches)
{
    start(2, 2);
    db_set(&db.error_next, 1);
    source_read(&src, 8);
    source_submit(&src, 2);
    char err[256];
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_ERR_FATAL);
    cr_assert_str_eq(err, "refused for good");
    cr_assert_eq(src.failed, 1);
    cr_assert_eq(cx_pipeline_submit(pipe_, src.msgs, src.n, 0, err, sizeof err), CX_ERR_FATAL);
    cr_assert_eq(cx_pipeline_submit(pipe_, NULL, 0, 0, err, sizeof err), CX_ERR_FATAL,
                 "an empty submit tells the status");
    cr_assert_not(src.reported_complete[0]);
}

Test(pipeline, backoff_doubles_from_the_initial_delay_up_to_the_cap)
{
    start(1, 2);
    for (int k = 0; k < 50; k++) {
        int first = cx_pipeline_backoff_ms(pipe_, 1), third = cx_pipeline_backoff_ms(pipe_, 3),
            late = cx_pipeline_backoff_ms(pipe_, 40);
        cr_assert(first >= 0 && first <= 2, "%d", first); /* 1 ms +-20% */
        cr_assert(third >= 3 && third <= 5, "%d", third); /* 4 ms +-20% */
        cr_assert(late >= 4 && late <= 6, "%d", late);    /* the cap, 5 ms +-20% */
    }
    cr_assert_eq(cx_pipeline_backoff_ms(pipe_, 0), 0);
}

/* Without retry_initial_ms and retry_max_ms the backoff starts at 100 ms and
 * doubles up to 30 s (each +-20%, and never past 30 s). */
Test(pipeline, backoff_defaults_to_100_ms_doubling_up_to_30_s)
{
    start_backoff(1, 2, 0, 0);
    for (int k = 0; k < 50; k++) {
        int first = cx_pipeline_backoff_ms(pipe_, 1), late = cx_pipeline_backoff_ms(pipe_, 40);
        cr_assert(first >= 80 && first <= 120, "first backoff %d ms, not 100 ms +-20%%", first);
        cr_assert(late >= 24000 && late <= 30000, "capped backoff %d ms, not 30 s -20%% at most",
                  late);
    }
}

/* A write that succeeds ends the outage: a later failure starts the backoff
 * again from the initial delay, not from where the outage left it. */
Test(pipeline, a_success_restarts_the_backoff_from_the_initial_delay)
{
    start_backoff(1, 2, 1, 1000);
    char err[256];
    db_set(&db.fail_next, 5); /* an outage: 1, 2, 4, 8 and 16 ms */
    source_read(&src, 8);
    source_submit(&src, 2);
    wait_reported(1);
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(src.retries, 5);
    cr_assert_geq(src.last_delay_ms, 12, "the fifth retry waited %d ms, not 16 ms +-20%%",
                  src.last_delay_ms);
    cr_assert_eq(src.last_attempt, 5, "the log is told the fifth failure in a row");
    db_set(&db.fail_next, 1); /* later, one failure */
    source_read(&src, 8);
    source_submit(&src, 2);
    wait_reported(2);
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(src.retries, 6);
    cr_assert_leq(src.last_delay_ms, 2, "a first failure after a success waited %d ms, not 1 ms",
                  src.last_delay_ms);
    cr_assert_eq(src.last_attempt, 1, "a first failure after a success is told as the first");
    assert_all_stored_once();
}

/* A retry asked for (the server answers again) ends a backoff's wait: the
 * batch is stored at once, not 20 s later. */
Test(pipeline, a_retry_asked_for_ends_the_wait_of_a_backoff)
{
    start_backoff(1, 2, 20000, 20000);
    db_set(&db.fail_next, 1);
    source_read(&src, 8);
    source_submit(&src, 2);
    wait_attempts(1);
    cx_test_sleep_ms(50); /* waiting out the 16 to 20 s */
    cr_assert_eq(atomic_load(&src.reported), 0);
    cx_pipeline_retry_now(pipe_);
    wait_reported(1); /* within 5 s */
    char err[256];
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    assert_all_stored_once();
}

/* A retry asked for while the failing write is still under way (the server
 * came back as a connect was timing out) ends the backoff that follows it. */
Test(pipeline, a_retry_asked_for_during_the_failing_write_ends_the_backoff_after_it)
{
    start_backoff(1, 2, 20000, 20000);
    db_set(&db.fail_next, 1);
    db_set(&db.delay_ms, 300); /* each write takes 300 ms */
    source_read(&src, 8);
    source_submit(&src, 2);
    /* the first write under way (set under the lock the retry is noted
     * under), however late its thread starts */
    for (int i = 0; i < 5000 && cx_pipeline_write_seconds(pipe_) == 0; i++)
        cx_test_sleep_ms(1);
    cr_assert_gt(cx_pipeline_write_seconds(pipe_), 0, "the first write never began");
    cx_pipeline_retry_now(pipe_);
    wait_reported(1); /* within 5 s, not 16 to 20 */
    char err[256];
    cr_assert_eq(cx_pipeline_drain(pipe_, err, sizeof err), CX_OK, "%s", err);
    assert_all_stored_once();
}

/* Without max_batches the engine holds 2 batches: while the sink is busy
 * with the first, it takes a second and refuses a third (the source pauses). */
Test(pipeline, max_batches_defaults_to_2)
{
    start(1, 0);
    db_set(&db.delay_ms, 300);
    char err[256];
    source_read(&src, 8);
    cr_assert_eq(cx_pipeline_submit(pipe_, src.msgs, src.n, 0, err, sizeof err), CX_OK, "%s", err);
    source_read(&src, 8);
    cr_assert_eq(cx_pipeline_submit(pipe_, src.msgs, src.n, 0, err, sizeof err), CX_OK, "%s", err);
    source_read(&src, 8);
    cr_assert_eq(cx_pipeline_submit(pipe_, src.msgs, src.n, 0, err, sizeof err), CX_ERR_TRANSIENT,
                 "a third batch was taken while two were in hand");
}

/* A message with no value at all (a tombstone: a compacted topic's deletion
 * marker) reaches the record as no value, not as an empty one, so that its
 * dead letter says it is a tombstone; an empty value's says only that it is
 * empty. */
Test(pipeline, a_message_without_a_value_is_a_dead_letter_that_says_it_is_a_tombstone)
{
    start(1, 2);
    source_read(&src, 4); /* one message per partition, each at offset 0 */
    src.msgs[1].value = NULL;
    src.msgs[1].len = 0;
    src.values[2][0] = '\0';
    src.msgs[2].len = 0;
    source_submit(&src, 2);
    wait_reported(1);
    pthread_mutex_lock(&db.lock);
    cr_assert_eq(db.n_dead, 2, "%zu dead letters", db.n_dead);
    cr_assert_eq(db.dead[0].partition, 1);
    cr_assert(db.dead[0].no_value, "the tombstone reached the sink with a value");
    cr_assert_str_eq(db.dead[0].reason, "message is empty: it has no value (a tombstone, a "
                                        "compacted topic's deletion marker)");
    cr_assert_eq(db.dead[1].partition, 2);
    cr_assert_not(db.dead[1].no_value, "the empty value reached the sink as no value");
    cr_assert_str_eq(db.dead[1].reason, "message is empty");
    cr_assert_eq(db.wrong, 0, "%zu records not made from their message", db.wrong);
    for (int p = 0; p < PARTS; p++)
        cr_assert_eq(db.next[p], 1, "partition %d stored up to %lld", p, (long long)db.next[p]);
    pthread_mutex_unlock(&db.lock);
}
