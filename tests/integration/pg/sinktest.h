/*
 * sinktest.h - builds batches of records from JSON lines (real parser, real
 * classifier) and checks the invariants users rely on in the cx schema.
 */
#ifndef CX_SINKTEST_H
#define CX_SINKTEST_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>

#include "pg.h"

#define SINKTEST_MAX 4096

typedef struct sinktest_batch {
    cx_record recs[SINKTEST_MAX];
    cx_record_store stores[SINKTEST_MAX];
    char *raws[SINKTEST_MAX];
    size_t n;
} sinktest_batch;

/* Appends one message (raw bytes) at topic/partition/offset, made into a
 * record as the service makes it (no ticket rules: tests match them). */
void sinktest_add(sinktest_batch *b, const char *topic, int partition, long long offset,
                  const char *raw, size_t len);

/* Appends a generated valid event "ev-<id>" with varied text, channel and rating. */
void sinktest_add_event(sinktest_batch *b, const char *topic, int partition, long long offset,
                        long id);

void sinktest_clear(sinktest_batch *b);

/* A fresh migrated database; url receives its URL. */
void sinktest_fresh_db(char *url, size_t urllen);

/* The options of the sinks below: url, group "g", 60 s windows. */
cx_pg_options sinktest_options(const char *url);

/* A sink on url for group "g" with 60 s windows. */
cx_pg *sinktest_sink(const char *url);

/* The same with ticket rules (borrowed: they must outlive the sink). */
cx_pg *sinktest_sink_rules(const char *url, const cx_ticket_rules *rules);

/* The same as `cxpulse dead-letters replay` has it (no consumer offsets). */
cx_pg *sinktest_sink_replay(const char *url, const cx_ticket_rules *rules);

/* Runs `cxpulse ARGS --pg URL` with stdout and stderr in files of their own;
 * returns the exit status, stdout's lines in *lines, stdout as JSON in *json
 * (NULL when it is not JSON; json_decref() it) and stderr in errs[errlen]. */
int sinktest_cmd_split(const char *url, const char *args, size_t *lines, json_t **json, char *errs,
                       size_t errlen);

/* Checks what a list command `list` ("tickets list") does with `total` rows
 * of noun ("tickets") when it shows `shown` by default: the default and
 * --limit 5 show that many and say on stderr how many match and that --limit
 * shows more; --limit total shows every row and says nothing. */
void sinktest_assert_cut_short(const char *url, const char *list, const char *noun, size_t shown,
                               size_t total);

#endif
