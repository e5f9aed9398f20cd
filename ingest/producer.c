/*
 * producer.c - a plain librdkafka producer for `cxpulse replay` and tests:
 * counts acknowledged messages, and failed ones with their first error and
 * the lines of the file they came from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"
#include "ingest_int.h"

struct cx_producer {
    rd_kafka_t *rk;
    uint64_t delivered, failed;
    uint64_t first_line, last_line; /* of the failed messages that have one */
    rd_kafka_resp_err_t first_err;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    cx_producer *p = opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        p->delivered++;
        return;
    }
    if (p->failed++ == 0)
        p->first_err = m->err;
    uint64_t line = (uint64_t)(uintptr_t)m->_private;
    if (line > 0 && (p->first_line == 0 || line < p->first_line))
        p->first_line = line;
    if (line > p->last_line)
        p->last_line = line;
}

cx_status cx_producer_new(cx_producer **out, const char *brokers, char *err, size_t errlen)
{
    static const char *const props[][2] = {
        {"acks", "all"},
        /* a retried request is not overtaken by those after it: a key's
         * messages keep the order of the file (librdkafka keeps the order
         * of retries only when idempotent), one request at a time */
        {"enable.idempotence", "true"},
        {"max.in.flight.requests.per.connection", "1"},
        {"linger.ms", "50"},          /* batch for throughput: replay is bulk */
        {"compression.codec", "lz4"}, /* the mock keeps 5 MB per partition: compress */
        {"queue.buffering.max.kbytes", "65536"},
        {"log_level", "4"},
    };
    char errstr[512];
    cx_producer *p = calloc(1, sizeof *p);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf != NULL)
        cx__kafka_log_to_cx(conf);
    cx_status st = cx_errf(err, errlen, CX_ERR_NOMEM, "producer: out of memory");
    if (p == NULL || conf == NULL)
        goto fail;
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        st = cx_errf(err, errlen, CX_ERR_CONFIG, "producer: bootstrap.servers: %s", errstr);
        goto fail;
    }
    for (size_t i = 0; i < CX_ARRAY_LEN(props); i++)
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
            st = cx_errf(err, errlen, CX_ERR_CONFIG, "producer: %s: %s", props[i][0], errstr);
            goto fail;
        }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (p->rk == NULL) {
        st = cx_errf(err, errlen, CX_ERR_CONFIG, "producer: %s", errstr);
        goto fail;
    }
    *out = p;
    return CX_OK;
fail:
    if (conf != NULL && (p == NULL || p->rk == NULL))
        rd_kafka_conf_destroy(conf);
    cx_producer_free(p);
    return st;
}

cx_status cx_producer_send(cx_producer *p, const char *topic, const void *key, size_t key_len,
                           const void *value, size_t len, uint64_t line, char *err, size_t errlen)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, len),
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)line), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return CX_OK;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return cx_errf(err, errlen,
                           e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? CX_ERR_INVALID
                                                                     : CX_ERR_FATAL,
                           "producing to \"%s\": %s", topic, rd_kafka_err2str(e));
        rd_kafka_poll(p->rk, 100); /* serve delivery reports to make room */
    }
}

cx_status cx_producer_flush(cx_producer *p, int timeout_ms, uint64_t *delivered, char *err,
                            size_t errlen)
{
    rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, timeout_ms);
    rd_kafka_poll(p->rk, 0);
    *delivered = p->delivered;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return cx_errf(err, errlen, CX_ERR_TRANSIENT, "%d messages still undelivered after %d ms",
                       rd_kafka_outq_len(p->rk), timeout_ms);
    if (p->failed > 0 && p->first_line > 0)
        return cx_errf(err, errlen, CX_ERR_FATAL,
                       "delivery failed for %llu message%s, from line %llu to line %llu: %s",
                       (unsigned long long)p->failed, p->failed == 1 ? "" : "s",
                       (unsigned long long)p->first_line, (unsigned long long)p->last_line,
                       rd_kafka_err2str(p->first_err));
    if (p->failed > 0)
        return cx_errf(err, errlen, CX_ERR_FATAL, "delivery failed for %llu message%s: %s",
                       (unsigned long long)p->failed, p->failed == 1 ? "" : "s",
                       rd_kafka_err2str(p->first_err));
    return CX_OK;
}

void cx_producer_free(cx_producer *p)
{
    if (p == NULL)
        return;
    if (p->rk != NULL)
        rd_kafka_destroy(p->rk);
    free(p);
}
