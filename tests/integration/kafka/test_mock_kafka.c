/*
 * test_mock_kafka.c - `cxpulse mock-kafka` is a real Kafka-protocol broker:
 * kcat produces and consumes through it, a consumer group commits offsets on
 * it, `cxpulse replay` feeds it, and SIGTERM stops it cleanly.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "cxtest.h"
#include "ingest.h"

static pid_t broker_pid;
static int broker_fd;
static char bootstraps[256];
static char tmpdir[] = "/tmp/cxpulse-kafka-test.XXXXXX";

static void start_broker(void)
{
    char *argv[] = {(char *)cx_test_bin(), "mock-kafka", "--topic", "roundtrip",
                    "--partitions", "4", "--topic", "replayed", "--partitions", "2",
                    "--topic", "grouped",   "--partitions", "3", NULL};
    broker_pid = cx_test_spawn(argv, &broker_fd);
    cx_test_read_line(broker_fd, bootstraps, sizeof bootstraps, 10000);
    cr_assert(strncmp(bootstraps, "127.0.0.1:", 10) == 0, "first line: \"%s\"", bootstraps);
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void stop_broker(void)
{
    if (broker_pid > 0)
        cx_test_stop(broker_pid, SIGTERM, 10000);
    close(broker_fd);
    cx_test_sh("rm -rf '%s'", tmpdir);
}

TestSuite(mock_kafka, .init = start_broker, .fini = stop_broker);

Test(mock_kafka, kcat_round_trip_keeps_every_message)
{
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/in.txt", tmpdir);
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    FILE *f = fopen(in, "w");
    for (int i = 0; i < 1000; i++)
        fprintf(f, "k%d:{\"n\":%d,\"text\":\"message %d\"}\n", i % 17, i, i);
    fclose(f);
    cr_assert_eq(cx_test_sh("kcat -P -b %s -t roundtrip -K: -l %s", bootstraps, in), 0);
    cr_assert_eq(cx_test_sh("kcat -C -b %s -t roundtrip -o beginning -e -q -f '%%k:%%s\\n' > %s",
                            bootstraps, out),
                 0);
    /* Same multiset of lines: sort both and compare. */
    cr_assert_eq(cx_test_sh("sort %s > %s.a && sort %s > %s.b && cmp -s %s.a %s.b", in, in, out,
                            out, in, out),
                 0, "consumed messages differ from produced ones");
    cr_assert_eq(cx_test_sh("test $(wc -l < %s) -eq 1000", out), 0);
}

Test(mock_kafka, consumer_group_commits_offsets)
{
    char err[512], errstr[512];
    cx_producer *p = NULL;
    cr_assert_eq(cx_producer_new(&p, bootstraps, err, sizeof err), CX_OK, "%s", err);
    for (int i = 0; i < 200; i++) {
        char v[32];
        int n = snprintf(v, sizeof v, "v%d", i);
        cr_assert_eq(cx_producer_send(p, "grouped", NULL, 0, v, (size_t)n, 0, err, sizeof err),
                     CX_OK);
    }
    uint64_t delivered;
    cr_assert_eq(cx_producer_flush(p, 10000, &delivered, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(delivered, 200);
    cx_producer_free(p);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "group.id", "test-group", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    cr_assert_not_null(rk, "%s", errstr);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, "grouped", RD_KAFKA_PARTITION_UA);
    cr_assert_eq(rd_kafka_subscribe(rk, topics), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(topics);

    int got = 0;
    for (int polls = 0; got < 200 && polls < 300; polls++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
            got++;
        rd_kafka_message_destroy(m);
    }
    cr_assert_eq(got, 200);
    cr_assert_eq(rd_kafka_commit(rk, NULL, 0), RD_KAFKA_RESP_ERR_NO_ERROR);

    /* A second handle in the same group sees the committed offsets: 200 in all. */
    rd_kafka_conf_t *conf2 = rd_kafka_conf_new();
    rd_kafka_conf_set(conf2, "bootstrap.servers", bootstraps, errstr, sizeof errstr);
    rd_kafka_conf_set(conf2, "group.id", "test-group", errstr, sizeof errstr);
    rd_kafka_t *rk2 = rd_kafka_new(RD_KAFKA_CONSUMER, conf2, errstr, sizeof errstr);
    cr_assert_not_null(rk2, "%s", errstr);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(3);
    for (int i = 0; i < 3; i++)
        rd_kafka_topic_partition_list_add(parts, "grouped", i);
    cr_assert_eq(rd_kafka_committed(rk2, parts, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
    long long sum = 0;
    for (int i = 0; i < 3; i++)
        sum += parts->elems[i].offset > 0 ? parts->elems[i].offset : 0;
    cr_assert_eq(sum, 200, "committed offsets add up to %lld", sum);
    rd_kafka_destroy(rk2);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

Test(mock_kafka, replay_produces_lines_keyed_by_customer)
{
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/events.jsonl", tmpdir);
    snprintf(out, sizeof out, "%s/replayed.txt", tmpdir);
    FILE *f = fopen(in, "w");
    for (int i = 0; i < 50; i++)
        fprintf(f, "{\"event_id\":\"e%d\",\"customer_id\":\"cust-%d\",\"text\":\"hi\"}\n", i, i % 5);
    fprintf(f, "this line is not JSON\n");
    fprintf(f, "{\"event_id\":\"big\",\"customer_id\":\"cust-big\","
               "\"attributes\":{\"order_no\":123456789012345678901},\"text\":\"hi\"}\n");
    /* 120 characters, 360 bytes in UTF-8: within the schema's 128 */
    fprintf(f, "{\"event_id\":\"long\",\"customer_id\":\"");
    for (int i = 0; i < 120; i++)
        fputs("\xe9\xa1\xa7", f);
    fprintf(f, "\",\"text\":\"hi\"}\n");
    fclose(f);
    cr_assert_eq(cx_test_sh("%s replay --brokers %s --topic replayed %s > %s.stdout 2>/dev/null",
                            cx_test_bin(), bootstraps, in, out),
                 0);
    cr_assert_eq(cx_test_sh("grep -qx 'produced 53 messages to replayed' %s.stdout", out), 0);
    cr_assert_eq(cx_test_sh("kcat -C -b %s -t replayed -o beginning -e -q -f '%%k|%%s\\n' > %s",
                            bootstraps, out),
                 0);
    cr_assert_eq(cx_test_sh("test $(wc -l < %s) -eq 53", out), 0);
    cr_assert_eq(cx_test_sh("grep -q '^cust-big|{\"event_id\":\"big\"' %s", out), 0,
                 "an integer past 64 bits cost the line its key");
    cr_assert_eq(cx_test_sh("grep -qx 'cust-3|{\"event_id\":\"e8\",\"customer_id\":\"cust-3\","
                            "\"text\":\"hi\"}' %s",
                            out),
                 0, "a line lost its key or content");
    cr_assert_eq(cx_test_sh("grep -qx '|this line is not JSON' %s", out), 0);
    cr_assert_eq(cx_test_sh("grep -q '^\xe9\xa1\xa7.*|{\"event_id\":\"long\"' %s", out), 0,
                 "a long customer_id lost its key");
}

/* A message the producer refuses is named by its line in the file, blank
 * lines (of spaces too, not sent) counted; the lines after it are still
 * produced, and it exits 1. */
Test(mock_kafka, replay_names_the_line_of_a_message_it_cannot_send)
{
    char in[512];
    snprintf(in, sizeof in, "%s/big.jsonl", tmpdir);
    FILE *f = fopen(in, "w");
    fprintf(f,
            "\n \t\n{\"event_id\":\"e1\",\"text\":\"hi\"}\n  \n{\"event_id\":\"e2\",\"text\":\"");
    for (int i = 0; i < 1200000; i++)
        fputc('a', f);
    fprintf(f, "\"}\n{\"event_id\":\"e3\",\"text\":\"after\"}\n");
    fclose(f);
    char errf[600], outf[600];
    snprintf(errf, sizeof errf, "%s.err", in);
    snprintf(outf, sizeof outf, "%s.out", in);
    cr_assert_eq(cx_test_sh("%s replay --brokers %s --topic big %s 2>%s >%s", cx_test_bin(),
                            bootstraps, in, errf, outf),
                 1);
    cr_assert_eq(cx_test_sh("grep -q '^cxpulse replay: line 5: ' %s", errf), 0);
    cr_assert_eq(
        cx_test_sh("grep -qx 'cxpulse replay: 1 line not produced (the first: line 5)' %s", errf),
        0);
    /* and nothing else: no warning about a consumer setting given to the producer */
    cr_assert_eq(cx_test_sh("test $(wc -l < %s) -eq 2", errf), 0, "more than the line was said");
    cr_assert_eq(cx_test_sh("grep -qx 'produced 2 messages to big' %s", outf), 0);
    cr_assert_eq(cx_test_sh("kcat -C -b %s -t big -o beginning -e -q | grep -c event_id | "
                            "grep -qx 2",
                            bootstraps),
                 0, "e1 and e3 were not both produced");
}

Test(mock_kafka, sigterm_exits_zero)
{
    cr_assert_eq(cx_test_stop(broker_pid, SIGTERM, 10000), 0);
    broker_pid = 0;
}

/* A mock cluster of this process (its errors can be set) with a one-partition
 * topic, and a producer to it. */
static void own_broker(const char *topic, cx_mock **m, cx_producer **p)
{
    char err[512];
    cr_assert_eq(cx_mock_new(m, 1, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_mock_create_topic(*m, topic, 1, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_producer_new(p, cx_mock_bootstraps(*m), err, sizeof err), CX_OK, "%s", err);
}

/* A produce request the broker answers with a retriable error is sent again
 * without the requests after it overtaking it: a customer's events stay in
 * the order of the file. */
Test(mock_kafka, a_retried_request_keeps_the_order_of_a_key)
{
    char err[512];
    cx_mock *m;
    cx_producer *p;
    uint64_t delivered;
    own_broker("ordered", &m, &p);
    cr_assert_eq(cx_producer_send(p, "ordered", "k", 1, "msg-w", 5, 0, err, sizeof err), CX_OK);
    cr_assert_eq(cx_producer_flush(p, 10000, &delivered, err, sizeof err), CX_OK, "%s", err);
    /* the next request fails after 300 ms; later ones succeed */
    rd_kafka_mock_broker_push_request_error_rtts(cx_mock_cluster(m), 1, 0 /* Produce */, 1,
                                                 RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, 300);
    for (int i = 0; i < 10; i++) {
        char v[16];
        int n = snprintf(v, sizeof v, "msg-%d", i);
        cr_assert_eq(cx_producer_send(p, "ordered", "k", 1, v, (size_t)n, 0, err, sizeof err),
                     CX_OK);
        cx_test_sleep_ms(80);
    }
    cr_assert_eq(cx_producer_flush(p, 20000, &delivered, err, sizeof err), CX_OK, "%s", err);
    cx_producer_free(p);
    char out[512];
    snprintf(out, sizeof out, "%s/ordered.txt", tmpdir);
    cr_assert_eq(cx_test_sh("kcat -C -b %s -t ordered -o beginning -e -q -f '%%s\\n' > %s",
                            cx_mock_bootstraps(m), out),
                 0);
    cr_assert_eq(cx_test_sh("printf 'msg-w\\n' > %s.want && seq -f 'msg-%%g' 0 9 >> %s.want"
                            " && cmp -s %s %s.want",
                            out, out, out, out),
                 0, "the messages of one key are out of order (or doubled): see %s", out);
    cx_mock_free(m);
}

/* Messages the broker refuses for good are counted, with the first and last
 * of the lines they came from (replay passes each line's number). */
Test(mock_kafka, refused_deliveries_name_their_lines)
{
    char err[512];
    cx_mock *m;
    cx_producer *p;
    uint64_t delivered;
    own_broker("refusing", &m, &p);
    rd_kafka_mock_push_request_errors(
        cx_mock_cluster(m), 0 /* Produce */, 3, RD_KAFKA_RESP_ERR_INVALID_RECORD,
        RD_KAFKA_RESP_ERR_INVALID_RECORD, RD_KAFKA_RESP_ERR_INVALID_RECORD);
    for (uint64_t line = 5; line <= 9; line += 2)
        cr_assert_eq(cx_producer_send(p, "refusing", NULL, 0, "{}", 2, line, err, sizeof err),
                     CX_OK);
    cr_assert_eq(cx_producer_flush(p, 20000, &delivered, err, sizeof err), CX_ERR_FATAL);
    cr_assert_eq(delivered, 0);
    cr_assert(strstr(err, "delivery failed for 3 messages, from line 5 to line 9: ") != NULL, "%s",
              err);
    cx_producer_free(p);
    cx_mock_free(m);
}
