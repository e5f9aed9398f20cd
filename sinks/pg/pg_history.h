/*
 * pg_history.h - changing what is stored: reclassifying events with newer
 * rules, and dead letters for inspection and replay.
 */
#ifndef CX_PG_HISTORY_H
#define CX_PG_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "classify.h"
#include "cx.h"
#include "event.h"

typedef struct cx_pg_history cx_pg_history;

/* A connection for the history commands; window sizes as the run uses them.
 * conninfo NULL or "": libpq's environment (PGHOST, ...). */
cx_status cx_pg_history_new(cx_pg_history **out, const char *conninfo,
                            const int *window_seconds, size_t n_windows, char *err,
                            size_t errlen);

/* CX_ERR_CONFIG, naming them, when cx.signals holds window sizes that were
 * not given to cx_pg_history_new(). Commands that change events'
 * contributions to signals call it first: windows of a size they do not know
 * would stop equalling the events. (A size given that cx.signals does not
 * hold yet is a size added later, as `run` treats it.) Reads all of
 * cx.signals. */
cx_status cx_pg_history_check_windows(cx_pg_history *h, char *err, size_t errlen);

/* Starts reclassifying with rule set `version` (recorded in cx.rule_sets). */
cx_status cx_pg_reclassify_begin(cx_pg_history *h, const char *version, const char *rules_json,
                                 char *err, size_t errlen);

/* Events in [since, until) (NULL: open) not yet on the version. */
cx_status cx_pg_reclassify_count(cx_pg_history *h, const char *since, const char *until,
                                 long long *todo, char *err, size_t errlen);

/*
 * Reads the next `limit` events in [since, until) not on the version, in
 * (occurred_at, event_id) order, and asks for the page after them, which is
 * read while this one is classified. Their payloads are read with
 * cx_pg_reclassify_payload(i). *n = 0 when none is left: the last page's
 * write is then finished (and its error, if any, returned).
 */
cx_status cx_pg_reclassify_next(cx_pg_history *h, const char *since, const char *until,
                                int limit, size_t *n, char *err, size_t errlen);

/* Event i's payload as JSON text (valid until the next call), and its
 * event_id; NULL when it holds a number whose text form would expand (more
 * than about 40 digits: stored by an older build), which is then not read. */
const char *cx_pg_reclassify_payload(cx_pg_history *h, size_t i, size_t *len,
                                     const char **event_id);

/* What the pages re-tagged so far changed, of their events. */
typedef struct cx_pg_reclassified {
    size_t retagged;   /* re-tagged by this run (not those another run re-tagged first) */
    size_t categories; /* the set of categories, or which one is primary */
    size_t primary;    /* the primary category */
    size_t sentiment;
} cx_pg_reclassified;

/*
 * Stores the new verdicts of the page from cx_pg_reclassify_next() (evs[i],
 * tags[i] for its rows, in order; since and until as there), in a transaction
 * of its own that locks the rows first: tags, primary category, sentiment
 * and rule version replaced, cx.signals corrected by the difference from the
 * verdicts stored (rows another run re-tagged meanwhile are left alone).
 * Returns once the write is sent: its end (COMMIT) is waited for by the next
 * call here or by cx_pg_reclassify_next() when no page is left, which report
 * its error. The evs and tags may be released on return.
 */
cx_status cx_pg_reclassify_apply(cx_pg_history *h, const char *since, const char *until,
                                 const cx_event *const *evs, const cx_tags *const *tags, size_t n,
                                 char *err, size_t errlen);

/* Waits until every page cx_pg_reclassify_apply() has sent is committed, or
 * rolled back (the first error, with every failed page's message): for a run
 * that stops early, what is stored is then exactly the pages applied. */
cx_status cx_pg_reclassify_wait(cx_pg_history *h, char *err, size_t errlen);

/* What the pages of h that are committed changed (a page rolled back counts
 * nothing): after cx_pg_reclassify_wait(), what h stored. */
cx_pg_reclassified cx_pg_reclassify_stored(const cx_pg_history *h);

/* Dead letters as JSON: newest first, at most limit (0: 50), received since
 * (NULL: any time), whose reason holds reason, whatever the case (NULL: any),
 * and whose message holds the bytes of containing (NULL: any; an event_id
 * or customer_id as the producer wrote it).
 * *total is how many match (more than the array holds when it was cut at
 * limit). */
cx_status cx_pg_dead_letters_list(cx_pg_history *h, const char *since, const char *reason,
                                  const char *containing, int limit, json_t **out, long long *total,
                                  char *err, size_t errlen);

/* One dead letter with its raw bytes ("raw": text if UTF-8, else "\\x" hex);
 * CX_ERR_NOTFOUND if there is none. */
cx_status cx_pg_dead_letter_show(cx_pg_history *h, long long id, json_t **out, char *err,
                                 size_t errlen);

/* A dead letter to replay, byte for byte. */
typedef struct cx_dead_letter {
    long long id;
    char *topic;
    int32_t partition;
    int64_t offset;
    char *raw; /* len bytes (and a NUL after them) */
    size_t len;
} cx_dead_letter;

/*
 * Holds off erasures (deploy/sql/erase-customer.sql, which refuses to start
 * meanwhile) until h is freed, waiting for one going on to end: a replay
 * then never stores again what an erasure deleted. Replays do not hold each
 * other off. Take it before cx_pg_dead_letters_select().
 */
cx_status cx_pg_dead_letters_replay_begin(cx_pg_history *h, char *err, size_t errlen);

/*
 * The next `limit` dead letters with id > after_id that are not stored yet
 * (never replayed, or failed again): only `id` when id > 0, else those
 * received since `since` (NULL: all), one row per message when several
 * consumer groups dead-lettered it. Returns new: cx_pg_dead_letters_free().
 */
cx_status cx_pg_dead_letters_select(cx_pg_history *h, long long id, const char *since,
                                    long long after_id, int limit, cx_dead_letter **out,
                                    size_t *n, char *err, size_t errlen);

void cx_pg_dead_letters_free(cx_dead_letter *d, size_t n);

/* Records that dead letters ids[i] were replayed as event_ids[i]: "stored as
 * event X" when the event holds their coordinates, else "duplicate of stored
 * event X"; so are the other groups' rows of the same message that are not
 * stored yet. Idempotent. */
cx_status cx_pg_dead_letters_mark(cx_pg_history *h, const long long *ids,
                                  const char *const *event_ids, size_t n, char *err,
                                  size_t errlen);

/* NULL-safe. */
void cx_pg_history_free(cx_pg_history *h);

#endif /* CX_PG_HISTORY_H */
