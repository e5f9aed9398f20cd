/*
 * kafka_log.c - librdkafka's log lines and errors in the service's logfmt
 * (ingest_int.h), each said once.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cx.h"
#include "ingest_int.h"

/* A line librdkafka says again and again without pause (its mock broker
 * failing to accept, out of file descriptors, loops on it) is said once, then
 * with how many times it came, every REPEAT_SAY_US at most: hundreds of
 * megabytes of one line bury what matters and fill disks. The count is said
 * with the line's next saying, or with the next other line. */
#define REPEAT_SAY_US 10000000LL

static pthread_mutex_t repeat_lock = PTHREAD_MUTEX_INITIALIZER;
static char repeat_line[512];      /* the last line said, "fac: buf" */
static unsigned long repeat_count; /* times it came again since it was said */
static int64_t repeat_said_us;     /* when it was last said */

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* syslog levels: 0-3 error, 4 warning, 5-6 notice/info, 7 debug */
    cx_log_level l = level <= 3 ? CX_LOG_ERROR : level == 4 ? CX_LOG_WARN
                     : level <= 6 ? CX_LOG_INFO : CX_LOG_DEBUG;
    char line[sizeof repeat_line];
    snprintf(line, sizeof line, "%s: %s", fac, buf);
    int64_t now = cx_now_mono_us();
    pthread_mutex_lock(&repeat_lock);
    int same = strcmp(line, repeat_line) == 0;
    if (same && now - repeat_said_us < REPEAT_SAY_US) {
        repeat_count++;
        pthread_mutex_unlock(&repeat_lock);
        return;
    }
    unsigned long again = repeat_count;
    char before[sizeof repeat_line];
    memcpy(before, repeat_line, sizeof before);
    repeat_count = 0;
    repeat_said_us = now;
    memcpy(repeat_line, line, sizeof line);
    pthread_mutex_unlock(&repeat_lock);
    if (same && again > 0)
        cx_log(l, "kafka", "%s (and %lu times more since it was said)", line, again);
    else if (again > 0)
        cx_log(l, "kafka", "%s (after \"%s\" %lu times more)", line, before, again);
    else
        cx_log(l, "kafka", "%s", line);
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
