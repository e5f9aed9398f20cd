/*
 * ingest.h - cxpulse's Kafka side: a local Kafka-protocol broker from
 * librdkafka's mock cluster, a line producer (replay), and the consumer-group
 * member that feeds batches to the pipeline.
 */
#ifndef CX_INGEST_H
#define CX_INGEST_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stddef.h>
#include <stdint.h>

#include "cx.h"

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

/* The underlying cluster, for fault injection (rd_kafka_mock_* calls); borrowed. */
rd_kafka_mock_cluster_t *cx_mock_cluster(cx_mock *mock);

/* Stops the brokers. NULL-safe. */
void cx_mock_free(cx_mock *mock);

/* ---- Producer --------------------------------------------------------------- */

typedef struct cx_producer cx_producer;

/* Creates a producer for `brokers` (acks=all, linger 50 ms, lz4). Returns new. */
cx_status cx_producer_new(cx_producer **out, const char *brokers, char *err, size_t errlen);

/* Queues one message (value copied); blocks while the local queue is full. */
cx_status cx_producer_send(cx_producer *p, const char *topic, const void *key, size_t key_len,
                           const void *value, size_t len, char *err, size_t errlen);

/* Waits up to timeout_ms for every queued message; fails if any delivery failed,
 * naming the first reason. *delivered counts acknowledged messages. */
cx_status cx_producer_flush(cx_producer *p, int timeout_ms, uint64_t *delivered, char *err,
                            size_t errlen);

/* NULL-safe; does not flush. */
void cx_producer_free(cx_producer *p);

#endif /* CX_INGEST_H */
