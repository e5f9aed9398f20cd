/*
 * kafka_log.c - librdkafka's log lines and errors in the service's logfmt
 * (ingest_int.h), each said once.
 */
#include "cx.h"
#include "ingest_int.h"

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* syslog levels: 0-3 error, 4 warning, 5-6 notice/info, 7 debug */
    cx_log_level l = level <= 3 ? CX_LOG_ERROR : level == 4 ? CX_LOG_WARN
                     : level <= 6 ? CX_LOG_INFO : CX_LOG_DEBUG;
    cx_log(l, "kafka", "%s: %s", fac, buf);
}

/* Without it librdkafka logs each error as "ERROR: ..." a second time: a
 * broker it cannot reach, resolve or authenticate to it has logged as "FAIL"
 * already. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk, (void)opaque;
    cx_log_level l = CX_LOG_WARN;
    switch (err) {
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        l = CX_LOG_ERROR;
        break;
    case RD_KAFKA_RESP_ERR__TRANSPORT: /* logged as FAIL by the broker's thread */
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__SSL:
        l = CX_LOG_DEBUG;
        break;
    default:
        break;
    }
    cx_log(l, "kafka", "%s", reason);
}

void cx__kafka_log_to_cx(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
}
