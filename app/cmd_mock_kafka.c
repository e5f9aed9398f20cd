/*
 * cmd_mock_kafka.c - `cxpulse mock-kafka`: a local Kafka-protocol broker
 * (librdkafka's mock cluster) on loopback. Prints the bootstrap servers as
 * the first line of stdout, then runs until SIGTERM/SIGINT and exits 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "ingest.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int usage(FILE *out, int rc)
{
    fprintf(out, "usage: cxpulse mock-kafka [--brokers N] [--topic T --partitions P]...\n\n"
                 "Starts a Kafka-protocol broker (librdkafka mock cluster) on 127.0.0.1,\n"
                 "prints its bootstrap servers as the first line of stdout, and runs until\n"
                 "SIGTERM or SIGINT. Each --topic is created with the --partitions that\n"
                 "follows it (default 1). Other topics are created on first use (a\n"
                 "mistyped --topic of `cxpulse run` too: nothing is read from it).\n\n"
                 "A member that joins a group its last member left waits the session\n"
                 "timeout here (45 s by default) before it gets partitions: against this\n"
                 "broker, set \"session.timeout.ms\": \"6000\" in kafka.properties, as the\n"
                 "demo does.\n");
    return rc;
}

/* Reads s, the value of flag, as a whole number in min..max into *out; 0, or
 * -1 having said why. */
static int parse_int(const char *flag, const char *s, int min, int max, int *out)
{
    char expected[64];
    double v;
    snprintf(expected, sizeof expected, "a whole number from %d to %d", min, max);
    const cx_cmd_number num = {flag, expected, &v, min, max, 1};
    if (cx_cmd_read_number("mock-kafka", &num, s) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

int cx_cmd_mock_kafka(int argc, char **argv)
{
    int brokers = 1;
    const char *topics[64];
    int partitions[64];
    int n_topics = 0;
    char err[512];

    if (cx_cmd_wants_help(argc, argv))
        return usage(stdout, CX_EXIT_OK);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int known = strcmp(a, "--brokers") == 0 || strcmp(a, "--topic") == 0 ||
                    strcmp(a, "--partitions") == 0;
        if (known && i + 1 >= argc) {
            fprintf(stderr, "cxpulse mock-kafka: \"%s\" needs a value\n", a);
            return usage(stderr, CX_EXIT_USAGE);
        }
        if (strcmp(a, "--brokers") == 0) {
            if (parse_int(a, argv[++i], 1, 16, &brokers))
                return CX_EXIT_USAGE;
        } else if (strcmp(a, "--topic") == 0) {
            if (n_topics == 64) {
                fprintf(stderr, "cxpulse mock-kafka: at most 64 --topic\n");
                return CX_EXIT_USAGE;
            }
            if (!argv[i + 1][0]) {
                fprintf(stderr, "cxpulse mock-kafka: --topic must not be empty\n");
                return CX_EXIT_USAGE;
            }
            topics[n_topics] = argv[++i];
            partitions[n_topics++] = 1;
        } else if (strcmp(a, "--partitions") == 0) {
            if (n_topics == 0) {
                fprintf(stderr, "cxpulse mock-kafka: --partitions must follow a --topic\n");
                return CX_EXIT_USAGE;
            }
            if (parse_int(a, argv[++i], 1, 10000, &partitions[n_topics - 1]))
                return CX_EXIT_USAGE;
        } else {
            char shown[256];
            fprintf(stderr, "cxpulse mock-kafka: unknown option \"%s\"\n",
                    cx_config_shown(a, shown, sizeof shown));
            return usage(stderr, CX_EXIT_USAGE);
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    cx_mock *mock = NULL;
    if (cx_mock_new(&mock, brokers, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse mock-kafka: %s\n", err);
        return CX_EXIT_RUNTIME;
    }
    for (int t = 0; t < n_topics; t++) {
        if (cx_mock_create_topic(mock, topics[t], partitions[t], err, sizeof err) != CX_OK) {
            fprintf(stderr, "cxpulse mock-kafka: %s\n", err);
            cx_mock_free(mock);
            return CX_EXIT_RUNTIME;
        }
    }
    /* the address is what this command is for: not written, it ends at once */
    if (printf("%s\n", cx_mock_bootstraps(mock)) < 0 || fflush(stdout) != 0) {
        cx_mock_free(mock);
        return CX_EXIT_RUNTIME; /* main says "cannot write to standard output" */
    }
    /* A short sleep, not pause(): a signal between the test and pause() would be lost. */
    const struct timespec tick = {0, 100 * 1000 * 1000};
    while (!stop)
        nanosleep(&tick, NULL);
    cx_mock_free(mock);
    return CX_EXIT_OK;
}
