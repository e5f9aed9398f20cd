/*
 * cmd_replay.c - `cxpulse replay --brokers B --topic T FILE`: produces each
 * line of a JSON-lines file (or stdin for "-") as one message, keyed by the
 * event's customer_id, with progress on stderr and a final count on stdout.
 * Lines that are not valid JSON are produced as they are: the consumer
 * dead-letters them, which is what replaying a real feed should show.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "ingest.h"

static int usage(FILE *out, int rc)
{
    fprintf(out, "usage: cxpulse replay --brokers B --topic T FILE|-\n\n"
                 "Produces each line of FILE (JSON lines; - for stdin) to topic T, keyed by\n"
                 "the event's customer_id; blank lines are skipped. --brokers defaults to\n"
                 "CXPULSE_BROKERS. Progress goes to stderr, the final count to stdout.\n"
                 "A line the producer refuses (larger than message.max.bytes) is named and\n"
                 "skipped, the others are still produced, and the exit status is 1.\n");
    return rc;
}

extern const char cx_sample_events[]; /* sample.c */
extern const size_t cx_sample_events_len;

/* Copies the line's customer_id into key[keylen]; returns its length, 0 if none. */
static size_t customer_key(const char *line, size_t len, char *key, size_t keylen)
{
    json_error_t jerr = {0};
    /* as the event parser reads it: an integer past 64 bits does not cost the key */
    json_t *root = json_loadb(line, len, JSON_DECODE_INT_AS_REAL, &jerr);
    size_t n = 0;
    const char *id = json_string_value(json_object_get(root, "customer_id"));
    if (id != NULL && strlen(id) < keylen) {
        n = strlen(id);
        memcpy(key, id, n);
    }
    json_decref(root);
    return n;
}

int cx_replay_file(const char *brokers, const char *topic, const char *path, int progress,
                   uint64_t *delivered)
{
    char err[512];
    FILE *in = path != NULL ? cx_cmd_open_input(path)
                            : fmemopen((void *)cx_sample_events, cx_sample_events_len, "r");
    if (path == NULL)
        path = "the bundled sample data";
    *delivered = 0;
    if (in == NULL) {
        cx_cmd_file_error("replay", path, "cannot open", errno);
        return CX_EXIT_RUNTIME;
    }
    cx_producer *p = NULL;
    if (cx_producer_new(&p, brokers, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse replay: %s\n", err);
        cx_cmd_close_input(in);
        return CX_EXIT_USAGE;
    }
    int rc = CX_EXIT_OK;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t sent = 0, lineno = 0, refused = 0, first_refused = 0;
    int64_t last_report = cx_now_mono_us();
    while ((n = getline(&line, &cap, in)) > 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                         line[n - 1] == '\t')) /* JSON's whitespace */
            n--;
        if (n == 0) /* a blank line, or one of spaces */
            continue;
        char key[128 * 4 + 1]; /* the schema's 128 characters, in UTF-8 */
        size_t key_len = customer_key(line, (size_t)n, key, sizeof key);
        cx_status st = cx_producer_send(p, topic, key_len ? key : NULL, key_len, line, (size_t)n,
                                        lineno, err, sizeof err);
        if (st != CX_OK) {
            fprintf(stderr, "cxpulse replay: line %llu: %s\n", (unsigned long long)lineno, err);
            rc = CX_EXIT_RUNTIME;
            if (st != CX_ERR_INVALID)
                break;
            first_refused = first_refused ? first_refused : lineno; /* the rest still go */
            refused++;
            continue;
        }
        sent++;
        if (progress && cx_now_mono_us() - last_report > 1000000) {
            fprintf(stderr, "replay: %llu messages queued\n", (unsigned long long)sent);
            last_report = cx_now_mono_us();
        }
    }
    int why = errno;
    free(line);
    if (refused > 0)
        fprintf(stderr, "cxpulse replay: %llu line%s not produced (the first: line %llu)\n",
                (unsigned long long)refused, refused == 1 ? "" : "s",
                (unsigned long long)first_refused);
    if (ferror(in)) {
        cx_cmd_file_error("replay", path, "cannot read", why);
        rc = CX_EXIT_RUNTIME;
    }
    cx_cmd_close_input(in);
    if (cx_producer_flush(p, 60000, delivered, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse replay: %s\n", err);
        rc = CX_EXIT_RUNTIME;
    }
    cx_producer_free(p);
    return rc;
}

int cx_cmd_replay(int argc, char **argv)
{
    const char *brokers = NULL, *topic = NULL, *path = NULL;

    if (cx_cmd_wants_help(argc, argv))
        return usage(stdout, CX_EXIT_OK);
    const cx_cmd_string strs[] = {{"--brokers", &brokers, NULL, 0}, {"--topic", &topic, NULL, 0}};
    size_t n_paths = 0;
    const cx_cmd_spec spec = {
        .strs = strs, .n_strs = CX_ARRAY_LEN(strs), .pos = &path, .max_pos = 1, .n_pos = &n_paths};
    if (cx_cmd_parse_options("replay", argv + 1, argc - 1, &spec) != 0)
        return usage(stderr, CX_EXIT_USAGE);
    if (brokers == NULL)
        brokers = cx_config_getenv("CXPULSE_BROKERS");
    /* empty is missing: an empty --brokers would wait 60 s for nothing */
    if (brokers == NULL || !brokers[0] || topic == NULL || !topic[0] || path == NULL) {
        fprintf(stderr,
                "cxpulse replay: %s is missing or empty (--brokers or CXPULSE_BROKERS, "
                "--topic and FILE are required)\n",
                brokers == NULL || !brokers[0] ? "--brokers"
                : topic == NULL || !topic[0]   ? "--topic"
                                               : "FILE");
        return usage(stderr, CX_EXIT_USAGE);
    }
    uint64_t delivered;
    int rc = cx_replay_file(brokers, topic, path, 1, &delivered);
    if (rc == CX_EXIT_OK || delivered > 0) /* what did go, even when a line did not */
        printf("produced %llu messages to %s\n", (unsigned long long)delivered, topic);
    return rc;
}
