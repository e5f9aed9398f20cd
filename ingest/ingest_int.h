/*
 * ingest_int.h - private to ingest/: what the consumer, producer and mock
 * cluster share.
 */
#ifndef CX_INGEST_INT_H
#define CX_INGEST_INT_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* Sends librdkafka's own log lines through cx_log (logfmt, component "kafka",
 * the level mapped from syslog's), instead of librdkafka's stderr format; its
 * errors too, once each (not again when its log said them). Sets the
 * callbacks, not the opaque. */
void cx__kafka_log_to_cx(rd_kafka_conf_t *conf);

#endif /* CX_INGEST_INT_H */
