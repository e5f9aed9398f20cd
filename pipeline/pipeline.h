/*
 * pipeline.h - the batch engine between a source (the Kafka consumer) and a
 * sink (PostgreSQL): the one place that owns retries, backoff and the order in
 * which batches are reported stored.
 *
 * A source submits batches; the engine copies each, makes every message into
 * a record (processors/record) and writes it through the sinks: one writer
 * thread per sink, each with its own queue, a partition always going to the
 * same writer, so its records are written in offset order. Each writer has a
 * maker thread that makes the records of its next share (up to ahead_bytes
 * of messages) while the writer writes the one before, so making overlaps the
 * server's work. A sink answers OK,
 * RETRY (nothing written; the engine retries the same records after a capped
 * exponential backoff), TOO_LARGE (nothing written; the engine writes the same
 * records in parts, halving them until one is written, and doubling them again
 * after 16 writes in a row succeed; in a drain, and for a single record, it
 * is a failure as RETRY is) or ERROR (the engine stops). At most max_batches
 * batches are in the engine's hands: beyond that submit answers "busy" and the
 * source pauses until one is stored (backpressure, bounded memory). Batches are
 * reported stored in the order they were submitted.
 *
 * Nothing here knows Kafka, PostgreSQL or metrics: what is counted is done by
 * the caller's hooks.
 */
#ifndef CX_PIPELINE_H
#define CX_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "cx.h"
#include "record.h"

/* ---- Sinks ------------------------------------------------------------------- */

/* Why a message became a dead letter. */
typedef enum cx_dead_reason {
    CX_DEAD_INVALID,   /* not a valid event: cx_record_make() refused it */
    CX_DEAD_ID_REUSED, /* another event is stored under its event_id */
    CX_DEAD_REJECTED,  /* the sink refused its row (a constraint, a trigger) */
    CX_DEAD_REASON_COUNT
} cx_dead_reason;

/* The reason's name in metrics and logs: "invalid", "event_id_reused", "rejected". */
const char *cx_dead_reason_name(cx_dead_reason r);

/* What one sink write did (counts of records). */
typedef struct cx_sink_counts {
    size_t stored;          /* new events */
    size_t duplicates;      /* events stored before (same event_id) */
    size_t skipped;         /* records below the stored next offset (applied before) */
    size_t dead_lettered;   /* invalid messages and rows the sink rejected */
    size_t dead_by[CX_DEAD_REASON_COUNT]; /* dead_lettered, by reason */
    size_t tickets_opened;  /* new tickets */
    size_t tickets_updated; /* unresolved tickets that fired again */
    size_t tickets_held;    /* firings a resolved ticket held back (its cooldown, its window) */
    size_t tickets_history; /* new events an event rule matched, history: fired nothing */
    size_t dated_ahead;     /* new events dated more than 10 minutes after the store's clock */
    int64_t newest_event_s; /* the newest new event's occurred_at, Unix seconds, of those
                               dated up to 10 minutes after the store's clock; 0: none */
    double clock_skew_s;    /* how far this host's clock is ahead of the store's (seconds) */
    int clock_known;        /* clock_skew_s was measured in this write */
    /* the new events by primary category (CX_CAT_COUNT: none) and sentiment */
    size_t classified[CX_CAT_COUNT + 1][CX_SENT_COUNT];
} cx_sink_counts;

/* The answer of a sink write. */
typedef enum cx_sink_result {
    CX_SINK_OK,        /* written (atomically) */
    CX_SINK_RETRY,     /* nothing written; the same records may be written again later */
    CX_SINK_BLOCKED,   /* as RETRY, held up by another client of the store (a lock it
                          holds), not by the store failing */
    CX_SINK_TOO_LARGE, /* nothing written; the store refused a write this large (a time
                          or resource limit): fewer records at a time may be written */
    CX_SINK_ERROR,     /* retrying cannot help */
} cx_sink_result;

typedef struct cx_sink_ops {
    /* Writes recs[0..n) (several partitions, in offset order per partition)
     * atomically, with exactly-once effect per (partition, offset); fills
     * *counts on CX_SINK_OK and err otherwise. Called by one thread at a time. */
    cx_sink_result (*write)(void *ctx, const cx_record *recs, size_t n, cx_sink_counts *counts,
                            char *err, size_t errlen);
    /* Fills next[i] with the stored next offset of topic's parts[i] (-1 = none).
     * With start, a part with none stored and start[i] >= 0 first gets
     * start[i] stored (where a new group starts; one stored first wins). */
    cx_status (*read_offsets)(void *ctx, const char *topic, const int32_t *parts, size_t n,
                              const int64_t *start, int64_t *next, char *err, size_t errlen);
    /* Optional (NULL: none). Stores next[i] as the next offset of topic's
     * parts[i] where it is later than the one stored, with nothing else:
     * the offsets skipped hold no message (transaction markers, messages
     * aborted or deleted). */
    cx_status (*advance_offsets)(void *ctx, const char *topic, const int32_t *parts, size_t n,
                                 const int64_t *next, char *err, size_t errlen);
    /* Optional (NULL: none). Asks the write going on in another thread to end
     * soon: it ends as it would have, or fails transiently. Any thread, any
     * time; CX_OK when asked (or nothing was going on). */
    cx_status (*cancel)(void *ctx, char *err, size_t errlen);
} cx_sink_ops;

/* A sink: its operations and their context (owned by the caller). */
typedef struct cx_sink {
    const cx_sink_ops *ops;
    void *ctx;
} cx_sink;

/* ---- The engine ---------------------------------------------------------------- */

/* Consumer lag of one partition: its high watermark minus the consumed
 * position (what the source reports, what /metrics shows). */
typedef struct cx_partition_lag {
    char topic[256];
    int32_t partition;
    int64_t lag;
} cx_partition_lag;

/* One message of a submitted batch; borrowed during cx_pipeline_submit(). */
typedef struct cx_pipeline_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *value;
    size_t len;
    int64_t timestamp_ms; /* its Kafka timestamp, ms since the epoch (<= 0: none) */
} cx_pipeline_msg;

/* A batch the engine is done with, as reported to the stored hook. */
typedef struct cx_pipeline_report {
    const cx_pipeline_msg *msgs; /* the batch as submitted (copies) */
    size_t n;
    const cx_record *recs; /* its n records, grouped by writer, written: their tags and
                              coordinates (their events are released already); NULL
                              when not complete */
    cx_sink_counts counts; /* summed over the writes that succeeded */
    size_t written;        /* messages in those writes: n when complete */
    int complete;          /* 1: every record written; 0: part of it was given up (a drain
                              while the sink failed, or a sink error): those partitions are
                              to be read again from the stored offsets */
    double seconds;        /* from submit to the last write */
} cx_pipeline_report;

/* The caller's view of what happens; every hook is optional. Hooks run on the
 * writer (and maker) threads without the engine's lock held: stored never
 * twice at once, retrying, failed and made on any of them, at any time. */
typedef struct cx_pipeline_hooks {
    void *ctx;
    /* A batch is done with; called in the order batches were submitted. */
    void (*stored)(void *ctx, const cx_pipeline_report *r);
    /* Writer `writer`'s write failed transiently, for the attempt-th time
     * in a row, over failing_s seconds since the first of them began; it is
     * tried again after delay_ms. blocked: this time the sink answered
     * CX_SINK_BLOCKED. */
    void (*retrying)(void *ctx, int writer, int attempt, long long failing_s, int delay_ms,
                     int blocked, const char *err);
    /* A sink answered ERROR: the engine takes no more batches. Once. */
    void (*failed)(void *ctx, const char *err);
    /* The records of n messages for writer `writer` were made (parsed and
     * classified) in `seconds` of CPU time, on that writer's thread or on its
     * maker thread, which makes them while the writer writes the share before. */
    void (*made)(void *ctx, int writer, size_t n, double seconds);
    /* Optional. Asked about every second while a drain waits, on the thread
     * that drains and under the engine's lock (it must not call the engine):
     * the time (cx_now_mono_us()) past which writes still going
     * on are cancelled (cx_sink_ops.cancel, again every second), 0 for none
     * yet. A stop's limit: a cancelled write that fails is given up as in
     * any drain, and read again from the stored offsets. */
    int64_t (*cancel_at)(void *ctx);
} cx_pipeline_hooks;

/* The most sinks (writer threads) an engine has. */
#define CX_PIPELINE_MAX_SINKS 16

typedef struct cx_pipeline_options {
    const cx_sink *sinks; /* one per writer thread (1..CX_PIPELINE_MAX_SINKS); borrowed,
                             outlive the engine */
    int n_sinks;
    const cx_record_rules *rules; /* how messages are made into records; borrowed */
    size_t batch_max;             /* the largest batch submitted */
    int max_batches;              /* batches submitted and not yet stored; 0 = 2 */
    int retry_initial_ms;         /* backoff after a first failure; 0 = 100 */
    int retry_max_ms;             /* cap of the doubling; 0 = 30000 */
    long ahead_bytes;             /* a writer's maker makes the records of the share behind the one
                                     being written for up to this many bytes of its messages (their
                                     parsed events are held meanwhile); 0 = 4 MiB; < 0: none, each
                                     share is made when its turn comes */
    cx_pipeline_hooks hooks;
} cx_pipeline_options;

typedef struct cx_pipeline cx_pipeline;

/* Starts the writer threads. Returns new: cx_pipeline_free(). */
cx_status cx_pipeline_new(cx_pipeline **out, const cx_pipeline_options *opts, char *err,
                          size_t errlen);

/*
 * Takes a batch (copied: the caller lets go of it on CX_OK), waiting up to
 * wait_ms for room. CX_ERR_TRANSIENT: busy (max_batches are still in hand, or
 * a drain is going on): nothing was taken; pause and submit it again later.
 * Also, at once, after a drain gave a batch up until cx_pipeline_read_offsets:
 * a batch read on past messages never stored would store offsets past them.
 * CX_ERR_FATAL: a sink failed for good (err says why). CX_ERR_INVALID: more
 * than batch_max messages. An empty batch only asks for that status.
 */
cx_status cx_pipeline_submit(cx_pipeline *p, const cx_pipeline_msg *msgs, size_t n, int wait_ms,
                             char *err, size_t errlen);

/*
 * Blocks until the engine holds nothing: every batch is written or given up,
 * and reported. Queued writes are attempted once more; a write that fails
 * transiently meanwhile is not retried, and the rest of that writer's queue
 * is given up (reported with complete = 0; nothing of it is written later,
 * and its partitions are read again from the stored offsets). Call before
 * partitions are let go, and before stopping. CX_ERR_FATAL after a sink error.
 */
cx_status cx_pipeline_drain(cx_pipeline *p, char *err, size_t errlen);

/* Drains, then reads (with start: stores, see cx_sink_ops) the stored next
 * offsets through the first sink; batches are taken again from then on. */
cx_status cx_pipeline_read_offsets(cx_pipeline *p, const char *topic, const int32_t *parts,
                                   size_t n, const int64_t *start, int64_t *next, char *err,
                                   size_t errlen);

/* While the engine holds nothing (else CX_ERR_TRANSIENT at once: a batch in
 * hand, a drain, offsets to be read again after one gave a batch up), stores
 * next[i] as topic's parts[i] next offset where it is later than the one
 * stored, through the first sink (see cx_sink_ops.advance_offsets): offsets
 * read past that hold no message. CX_OK and nothing done without the op. On
 * the thread that submits, as it is the one that could add a batch. */
cx_status cx_pipeline_advance_offsets(cx_pipeline *p, const char *topic, const int32_t *parts,
                                      size_t n, const int64_t *next, char *err, size_t errlen);

/* Backoff before the attempt after `failures` consecutive transient failures
 * (1 = the first): retry_initial_ms doubled per failure up to retry_max_ms, with
 * +-20% jitter so that many consumers do not retry in step (never past
 * retry_max_ms); 0 for 0 failures. */
int cx_pipeline_backoff_ms(cx_pipeline *p, int failures);

/* How long the oldest write going on now has taken, in seconds (0 with none
 * going on): a write waiting on a lock, or a COMMIT on a synchronous standby
 * that is down, shows here while nothing else moves. */
double cx_pipeline_write_seconds(cx_pipeline *p);

/* How long a writer's writes have answered CX_SINK_BLOCKED in a row, in
 * seconds, counted from when the first of them began (0 when no writer's last
 * write did): a lock another client holds, through its retries and the
 * backoffs between them, which cx_pipeline_write_seconds() sees only while a
 * write waits. */
double cx_pipeline_blocked_seconds(cx_pipeline *p);

/* Writers waiting out a backoff try again now: the caller has seen the
 * sinks' server answer again, so an outage's end costs no more than that. */
void cx_pipeline_retry_now(cx_pipeline *p);

/* Drains and stops the writers. NULL-safe. */
void cx_pipeline_free(cx_pipeline *p);

#endif /* CX_PIPELINE_H */
