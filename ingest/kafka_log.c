/*
 * kafka_log.c - librdkafka's log lines in the service's logfmt (ingest_int.h).
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

void cx__kafka_log_to_cx(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, log_cb);
}
