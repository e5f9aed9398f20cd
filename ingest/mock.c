/*
 * mock.c - a local Kafka-protocol broker: librdkafka's mock cluster, bound to
 * loopback, owned by a private rd_kafka_t handle.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"
#include "ingest_int.h"

struct cx_mock {
    rd_kafka_t *rk; /* owns the cluster */
    rd_kafka_mock_cluster_t *mc;
};

cx_status cx_mock_new(cx_mock **out, int n_brokers, char *err, size_t errlen)
{
    char errstr[512];
    cx_mock *mock = calloc(1, sizeof *mock);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf != NULL)
        cx__kafka_log_to_cx(conf);
    cx_status st = CX_ERR_NOMEM;
    if (mock == NULL || conf == NULL)
        goto fail;
    if (n_brokers < 1 || n_brokers > 16) {
        st = cx_errf(err, errlen, CX_ERR_USAGE, "mock cluster: %d brokers (allowed 1..16)",
                     n_brokers);
        goto fail;
    }
    /* The handle only hosts the cluster; keep it quiet. */
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    mock->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (mock->rk == NULL) {
        st = cx_errf(err, errlen, CX_ERR_FATAL, "mock cluster: %s", errstr);
        goto fail;
    }
    conf = NULL; /* owned by rk now */
    /* The cluster's thread starts with this thread's signal mask: every
     * signal blocked, as rd_kafka_new() does for its own threads, so that a
     * stop signal is handled where the program expects it, never there. */
    sigset_t all, mask;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &mask);
    mock->mc = rd_kafka_mock_cluster_new(mock->rk, n_brokers);
    pthread_sigmask(SIG_SETMASK, &mask, NULL);
    if (mock->mc == NULL) {
        st = cx_errf(err, errlen, CX_ERR_FATAL, "mock cluster: could not start %d brokers",
                     n_brokers);
        goto fail;
    }
    *out = mock;
    return CX_OK;
fail:
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    cx_mock_free(mock);
    if (st == CX_ERR_NOMEM)
        cx_errf(err, errlen, st, "mock cluster: out of memory");
    return st;
}

cx_status cx_mock_create_topic(cx_mock *mock, const char *topic, int partitions, char *err,
                               size_t errlen)
{
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mock->mc, topic, partitions, 1);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return cx_errf(err, errlen, CX_ERR_FATAL, "mock cluster: topic \"%s\": %s", topic,
                       rd_kafka_err2str(e));
    return CX_OK;
}

const char *cx_mock_bootstraps(const cx_mock *mock)
{
    return rd_kafka_mock_cluster_bootstraps(mock->mc);
}

rd_kafka_mock_cluster_t *cx_mock_cluster(cx_mock *mock)
{
    return mock->mc;
}

void cx_mock_free(cx_mock *mock)
{
    if (mock == NULL)
        return;
    if (mock->mc != NULL)
        rd_kafka_mock_cluster_destroy(mock->mc);
    if (mock->rk != NULL)
        rd_kafka_destroy(mock->rk);
    free(mock);
}
