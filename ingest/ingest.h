/*
 * ingest.h - cxpulse's Kafka side: a local Kafka-protocol broker from
 * librdkafka's mock cluster, a line producer (replay), and the consumer-group
 * member that feeds batches to the pipeline.
 */
#ifndef CX_INGEST_H
#define CX_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "cx.h"
#include "pipeline.h"

/* ---- Mock cluster --------------------------------------------------------- */

typedef struct cx_mock cx_mock;

/*
 * Starts a mock cluster of n_brokers brokers listening on 127.0.0.1 (random
 * ports), owned by this process. Returns new: free with cx_mock_free().
 */
cx_status cx_mock_new(cx_mock **out, int n_brokers, char *err, size_t errlen);

/* Creates topic with `partitions` partitions (replication 1). */
cx_status cx_mock_create_topic(cx_mock *mock, const char *topic, int partitions, char *err,
                               size_t errlen);

/* The bootstrap servers ("127.0.0.1:port,..."); borrowed, lives as long as mock. */
const char *cx_mock_bootstraps(const cx_mock *mock);

/* The underlying cluster, for fault injection (rd_kafka_mock_* calls, from
 * <librdkafka/rdkafka_mock.h>); borrowed. The only part of this interface
 * that is librdkafka's own, so its headers are not included here. */
struct rd_kafka_mock_cluster_s *cx_mock_cluster(cx_mock *mock);

/* Stops the brokers. NULL-safe. */
void cx_mock_free(cx_mock *mock);

/* ---- Producer --------------------------------------------------------------- */

typedef struct cx_producer cx_producer;

/* Creates a producer for `brokers` (acks=all, linger 50 ms, lz4). Returns new. */
cx_status cx_producer_new(cx_producer **out, const char *brokers, char *err, size_t errlen);

/* Queues one message (value copied); blocks while the local queue is full.
 * line: the line of a file it came from, named if its delivery fails (0: none).
 * CX_ERR_INVALID: this message is refused (larger than message.max.bytes),
 * others may still be sent; CX_ERR_FATAL: the producer cannot send. */
cx_status cx_producer_send(cx_producer *p, const char *topic, const void *key, size_t key_len,
                           const void *value, size_t len, uint64_t line, char *err, size_t errlen);

/* Waits up to timeout_ms for every queued message; fails if any delivery failed,
 * saying how many, the first and last of their lines and the first reason.
 * *delivered counts acknowledged messages. */
cx_status cx_producer_flush(cx_producer *p, int timeout_ms, uint64_t *delivered, char *err,
                            size_t errlen);

/* NULL-safe; does not flush. */
void cx_producer_free(cx_producer *p);

/* ---- Consumer-group member ------------------------------------------------ */

/* One consumed message, as the pipeline takes it; borrowed, valid during the
 * submit callback only. */
typedef cx_pipeline_msg cx_msg;

typedef struct cx_consumer_config {
    const char *brokers;
    const char *const *topics;
    size_t n_topics;
    const char *group;
    int batch_max_messages;      /* submit at most this many at once */
    int batch_max_ms;            /* ... or what arrived within this time of the first */
    int batch_max_bytes;         /* ... or once its messages hold this many bytes (0: 16 MB) */
    const char *auto_offset_reset; /* "earliest" or "latest": partitions with no stored offset */
    const char *const *props;    /* librdkafka properties: key, value, key, value, ... */
    size_t n_props;              /* number of pairs */
} cx_consumer_config;

/* What the application does with batches; callbacks run on the thread of
 * run(), and of cx_consumer_free() as the member leaves. */
typedef struct cx_consumer_handler {
    void *ctx;
    /* Fills next[i] with the stored next offset of topic's parts[i] (-1 = none
     * stored). With start, a part with none stored and start[i] >= 0 first
     * gets start[i] stored (one stored first wins): with auto_offset_reset
     * "latest", where a new group starts, so that a restart before its first
     * stored batch starts there again, not at the new end. */
    cx_status (*load_offsets)(void *ctx, const char *topic, const int32_t *parts, size_t n,
                              const int64_t *start, int64_t *next, char *err, size_t errlen);
    /* Takes a batch to be stored (copying what it keeps), waiting up to wait_ms
     * for room: CX_OK; CX_ERR_TRANSIENT when busy (nothing taken: the consumer
     * pauses its partitions and submits the batch again); anything else stops
     * the consumer. The application tells the consumer when a batch is stored
     * (cx_consumer_stored). */
    cx_status (*submit)(void *ctx, const cx_msg *msgs, size_t n, int wait_ms, char *err,
                        size_t errlen);
    /* Optional. Stores next[i] as topic's parts[i] next offset where it is
     * later than the one stored, and nothing else: the consumer has read
     * past offsets that hold no message (transaction markers, messages
     * aborted or deleted). CX_ERR_TRANSIENT while batches are being stored:
     * asked again later. Called on run()'s thread while it is idle. */
    cx_status (*advance)(void *ctx, const char *topic, const int32_t *parts, size_t n,
                         const int64_t *next, char *err, size_t errlen);
    /* Waits until nothing taken is being stored (what cannot be stored now is
     * given up: it is read again from the stored offsets). Called before
     * partitions are let go and before leaving. */
    cx_status (*drain)(void *ctx, char *err, size_t errlen);
    /* Optional. n messages of topic[partition] were deleted by retention
     * before they were read (found at an assignment or while reading); the
     * consumer has logged it and reads on from the oldest held. */
    void (*lost)(void *ctx, const char *topic, int32_t partition, uint64_t n);
    /* Optional. Every statistics.interval.ms (5 s unless the properties set
     * it; 0: never): how many broker connections are up (bootstrap and group
     * coordinator connections included; 0: Kafka is out of its reach). */
    void (*brokers)(void *ctx, int up);
} cx_consumer_handler;

typedef struct cx_consumer cx_consumer;

/* Checks cfg as librdkafka sees a member's whole configuration (cxpulse's
 * settings and the caller's properties together, e.g. SASL without a user
 * name, fetch sizes at odds) without joining the group: CX_ERR_CONFIG with
 * librdkafka's reason, as cx_consumer_new() would fail. */
cx_status cx_consumer_check(const cx_consumer_config *cfg, char *err, size_t errlen);

/*
 * Creates a consumer-group member (auto commit off). Starting offsets come
 * from handler->load_offsets on every assignment, never from Kafka (while it
 * answers CX_ERR_TRANSIENT, it is asked again, until it answers or a stop;
 * the member stays in the group meanwhile), checked
 * against what the brokers hold: before the oldest message held (deleted by
 * retention unread), the member reads on from the oldest, with a warning
 * (handler->lost), as it does when that happens while it reads;
 * past a partition's end (the topic created again), run() fails, naming it.
 * The offsets of each stored batch (cx_consumer_stored) are committed to
 * Kafka asynchronously so lag tools work. Returns new: cx_consumer_free().
 */
cx_status cx_consumer_new(cx_consumer **out, const cx_consumer_config *cfg,
                          const cx_consumer_handler *handler, char *err, size_t errlen);

/*
 * Consumes until cx_consumer_stop() or a fatal submit error: batches by count
 * and time; pauses all partitions while the application is busy (and keeps
 * polling, so the member stays in the group); on revocation gives up the
 * batch in hand (its new owner reads it from the stored offsets) and drains.
 * On stop: drains, submits the batch in hand and drains again; the member
 * leaves the group in cx_consumer_free().
 */
cx_status cx_consumer_run(cx_consumer *c, char *err, size_t errlen);

/* Tells the consumer that msgs[0..n) are stored: their offsets are committed
 * to Kafka, asynchronously, for lag tools. Safe from any thread. */
void cx_consumer_stored(cx_consumer *c, const cx_msg *msgs, size_t n);

/* Asks run() to finish; async-signal-safe. */
void cx_consumer_stop(cx_consumer *c);

/* Partitions assigned now; safe to call from another thread than run()'s. */
int cx_consumer_assigned(const cx_consumer *c);

/* 1 while fetching is paused (a batch waits for the application to have
 * room); safe to call from another thread than run()'s. */
int cx_consumer_paused(const cx_consumer *c);

/*
 * Fills out[0..max) with the lag of the assigned partitions, the messages
 * between where each is stored up to and its end, and returns how many:
 * those whose end is known, from the last fetch; while fetching is paused,
 * from the leaders, asked for 2 s at most (no fetch brings it then). Before
 * anything of a partition is known stored, the lag counts from its oldest
 * message when reading began there (auto_offset_reset earliest), else from
 * where it is read up to. Safe to call from another thread than run()'s.
 */
size_t cx_consumer_lag(cx_consumer *c, cx_partition_lag *out, size_t max);

/* Leaves the group and frees the member. Partitions revoked as it leaves
 * (and any assigned meanwhile) go through the handler as in run(): the
 * application behind it must still be there. librdkafka 2.0.2 can wait here
 * without end (a coordinator that does not answer, a topic that vanished and
 * came back): bound it from another thread. NULL-safe. */
void cx_consumer_free(cx_consumer *c);

#endif /* CX_INGEST_H */
