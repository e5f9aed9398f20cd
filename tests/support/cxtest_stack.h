/*
 * cxtest_stack.h - what an integration test of the service stands on: a fresh
 * migrated database with a connection to it, a mock Kafka cluster (librdkafka's)
 * holding the topic cx.events, and a producer to it.
 */
#ifndef CXTEST_STACK_H
#define CXTEST_STACK_H

#include <libpq-fe.h>
#include <stddef.h>

#include "ingest.h"

/* Makes a fresh database (its URL in url), runs `cxpulse migrate` on it,
 * connects, starts a one-broker mock cluster with cx.events in `partitions`
 * partitions and a producer to it; fails the test when any step fails. */
void cx_test_stack_new(char *url, size_t urllen, PGconn **conn, cx_mock **mock,
                       cx_producer **producer, int partitions);

/* Frees what cx_test_stack_new() made (the database stays, as every test's does),
 * and starts the test server again if the test stopped it and failed. */
void cx_test_stack_free(PGconn *conn, cx_mock *mock, cx_producer *producer);

#endif
