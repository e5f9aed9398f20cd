/*
 * pg.h - the PostgreSQL sink: schema migrations, and batches written with
 * exactly-once effect (events, tags, signals, dead letters and consumer
 * offsets in one transaction per batch).
 *
 * Exactly-once: inside the batch's transaction the sink locks the stored
 * next offset of every (group, topic, partition) in the batch, skips every
 * record below it (already applied: a replay, a lost COMMIT acknowledgement,
 * or a zombie consumer still holding a revoked partition), writes the rest
 * and moves the next offset past the batch. Events are keyed by event_id, and
 * signals are incremented only for events that were new, so signals always
 * equal the sum over cx.events and cx.event_tags.
 */
#ifndef CX_PG_H
#define CX_PG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "classify.h"
#include "cx.h"
#include "event.h"
#include "record.h" /* cx_record: one consumed message, as the sink stores it */
#include "tickets.h"

typedef struct cx_pg_options {
    const char *conninfo;        /* URL or key=value; NULL or "" = libpq's environment */
    const char *group;           /* consumer group the offsets belong to */
    const int *window_seconds;   /* signal window sizes; NULL/0 = {60} */
    size_t n_windows;
    const char *rule_version;    /* stored with every event (cx_classifier_version) */
    int synchronous_commit;      /* 0 = SET synchronous_commit = off (still exactly-once) */
    const cx_ticket_rules *ticket_rules; /* borrowed, outlives the sink; NULL = no tickets */
    const char *rule_set_json;   /* the rules of rule_version (cx_classifier_rules_json), kept
                                    in cx.rule_sets; NULL: not recorded */
    int replay;                  /* dead-letter replay: records keep their original Kafka
                                    coordinates, offsets are neither checked nor moved, and
                                    a still-bad record updates its dead-letter rows (every
                            group's row of the message not stored yet) */
} cx_pg_options;

/* What one write did. */
typedef struct cx_pg_result {
    size_t stored;        /* new events */
    size_t duplicates;    /* events whose event_id was already stored (or repeated in the batch) */
    size_t skipped;       /* records below the stored next offset (already applied) */
    size_t dead_lettered; /* invalid messages and rows PostgreSQL rejected */
    size_t tickets_opened;  /* new tickets (each also sent as NOTIFY cx_tickets) */
    size_t tickets_updated; /* unresolved tickets that fired again */
} cx_pg_result;

typedef struct cx_pg cx_pg;

/*
 * Creates or upgrades the cx schema (migrations compiled in, recorded in
 * cx.schema_migrations, serialised by an advisory lock). *applied counts the
 * migrations applied now (0: already up to date); *version is the schema
 * version afterwards. Safe to run any number of times, concurrently.
 */
cx_status cx_pg_migrate(const char *conninfo, int *applied, int *version, char *err,
                        size_t errlen);

/* ---- Connection strings ---- */

/*
 * CX_OK when conninfo is empty (libpq's environment), a database name, or a
 * URL or keyword/value string libpq can parse; else CX_ERR_CONFIG with
 * libpq's reason, every part of the string it quotes redacted.
 */
cx_status cx_pg_conninfo_check(const char *conninfo, char *err, size_t errlen);

/*
 * Writes conninfo parsed and rebuilt as a keyword/value string with the value
 * of every secret option (password, sslpassword) replaced by "****"; a
 * string that cannot be parsed becomes "****", an empty one or a database
 * name stays as it is. Cut to outlen.
 */
void cx_pg_conninfo_mask(const char *conninfo, char *out, size_t outlen);

/* The schema version this build writes. */
int cx_pg_schema_version(void);

/*
 * Creates a sink (options are copied). Connects now: CX_ERR_TRANSIENT if the
 * server cannot be reached (the sink is still returned in *out and reconnects
 * on the next write), CX_ERR_FATAL if the schema is missing or older than this
 * build, or the credentials are refused, CX_ERR_CONFIG if the connection string
 * cannot be parsed (on any error but CX_ERR_TRANSIENT, *out is NULL).
 * Returns new: cx_pg_free().
 */
cx_status cx_pg_new(cx_pg **out, const cx_pg_options *opts, char *err, size_t errlen);

/*
 * Reads the stored next offsets of `topic`'s partitions parts[0..n) for the
 * sink's group into next[] (-1 where none is stored).
 */
cx_status cx_pg_read_offsets(cx_pg *pg, const char *topic, const int32_t *parts, size_t n,
                             int64_t *next, char *err, size_t errlen);

/*
 * Writes recs[0..n) in one transaction (see the top of this file); records
 * may come from several partitions, in offset order per partition. One
 * attempt: on CX_ERR_TRANSIENT (connection lost, server restarting,
 * serialization failure, ...) nothing was written, the sink will reconnect,
 * and the caller retries the same batch after cx_pg_backoff_ms(). Rows that
 * PostgreSQL rejects (SQLSTATE classes 22, 23) are isolated by bisection and
 * dead-lettered; the rest commits. CX_ERR_FATAL: retrying cannot help.
 */
cx_status cx_pg_write_batch(cx_pg *pg, const cx_record *recs, size_t n, cx_pg_result *res,
                            char *err, size_t errlen);

/* Milliseconds to wait before retrying after a transient failure: capped
 * exponential backoff with jitter (100 ms doubling to 30 s); 0 after a success. */
int cx_pg_backoff_ms(const cx_pg *pg);

/* NULL-safe. */
void cx_pg_free(cx_pg *pg);

/* The sink as the pipeline's sink (pipeline.h): *out writes through pg
 * (cx_pg_write_batch: transient failures answer RETRY) and reads its offsets;
 * pg is borrowed. */
struct cx_sink;
void cx_pg_sink(cx_pg *pg, struct cx_sink *out);

/* ---- Owners' commands on cx.tickets ---- */

/*
 * Lists tickets as a JSON array of objects (ticket_id, rule, category, scope,
 * owner, status, opened_at, updated_at, resolved_at, reason, event_count,
 * sample_event_ids, delivery: the latest transition's {transition, status,
 * receivers: {name: status}} in cx.notifications, or null), unresolved first, newest first, at most 1000. owner NULL:
 * every owner. status: "open", "acknowledged", "resolved", "unresolved" (NULL,
 * the default: open or acknowledged) or "all". Returns new: json_decref().
 */
cx_status cx_pg_tickets_list(const char *conninfo, const char *owner, const char *status,
                             json_t **out, char *err, size_t errlen);

/*
 * Moves ticket `id` to "acknowledged" or "resolved" (resolved_at = now) and
 * returns it as a JSON object with "changed": false when it already was
 * (a resolved ticket stays resolved). CX_ERR_NOTFOUND if there is no such
 * ticket. Returns new: json_decref().
 */
cx_status cx_pg_ticket_set_status(const char *conninfo, long long id, const char *status,
                                  json_t **out, char *err, size_t errlen);

/* ---- History: reclassification and dead letters ---- */

typedef struct cx_pg_history cx_pg_history;

/* A connection for the history commands; window sizes as the run uses them. */
cx_status cx_pg_history_new(cx_pg_history **out, const char *conninfo,
                            const int *window_seconds, size_t n_windows, char *err,
                            size_t errlen);

/* Starts reclassifying with rule set `version` (recorded in cx.rule_sets). */
cx_status cx_pg_reclassify_begin(cx_pg_history *h, const char *version, const char *rules_json,
                                 char *err, size_t errlen);

/* Events in [since, until) (NULL: open) not yet on the version. */
cx_status cx_pg_reclassify_count(cx_pg_history *h, const char *since, const char *until,
                                 long long *todo, char *err, size_t errlen);

/*
 * Opens a transaction and locks the next `limit` events in [since, until)
 * not on the version, in (occurred_at, event_id) order; *n = 0 when none is
 * left. Their payloads are read with cx_pg_reclassify_payload(i).
 */
cx_status cx_pg_reclassify_next(cx_pg_history *h, const char *since, const char *until,
                                int limit, size_t *n, char *err, size_t errlen);

/* Event i's payload as JSON text; NULL when it holds a number whose text form
 * would expand (more than about 40 digits: stored by an older build), which is
 * then not read. */
const char *cx_pg_reclassify_payload(const cx_pg_history *h, size_t i, size_t *len);

/*
 * Stores the new verdicts of the batch from cx_pg_reclassify_next() (evs[i],
 * tags[i] for every row, in order): tags, primary category, sentiment and
 * rule version replaced, cx.signals corrected by the difference; commits.
 * *moved counts events whose primary category changed.
 */
cx_status cx_pg_reclassify_apply(cx_pg_history *h, const cx_event *const *evs,
                                 const cx_tags *const *tags, size_t n, size_t *moved,
                                 char *err, size_t errlen);

/* Dead letters as JSON: newest first, at most limit, received since (NULL: any time). */
cx_status cx_pg_dead_letters_list(cx_pg_history *h, const char *since, int limit, json_t **out,
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

/* ---- A read-only connection for the HTTP listener ---- */

typedef struct cx_pg_reader cx_pg_reader;

/* Connects lazily, on first use, and again after a lost connection. Calls may
 * come from several threads: they are serialised (a call waits at most 12 s
 * for the one before), and a call gives up, whatever the server does, when
 * connecting takes over 5 s or a statement over 3 s (also the session's
 * statement_timeout); a server that hangs is dropped and connected again. */
cx_status cx_pg_reader_new(cx_pg_reader **out, const char *conninfo, char *err, size_t errlen);

/* CX_OK when the server answers a query now; else why not. */
cx_status cx_pg_reader_ping(cx_pg_reader *r, char *err, size_t errlen);

/*
 * The live page's data as a JSON text (malloc'd): {"end", "live",
 * "window_seconds", "generated_at", "points": [60 window starts],
 * "categories": {"facing": [[events, negative], ... 60], ...}, "tickets": [...]}.
 * The hour ends now while signals are recent, else with the latest window.
 */
cx_status cx_pg_live(cx_pg_reader *r, int window_seconds, char **json, char *err, size_t errlen);

/* NULL-safe. */
void cx_pg_reader_free(cx_pg_reader *r);

/* ---- The notification outbox (cx.notifications) ---- */

/* One connection of a notification sender; connects lazily, and again after a loss. */
typedef struct cx_pg_outbox cx_pg_outbox;

typedef struct cx_pg_outbox_counts {
    long long pending, failed;
    double oldest_pending_seconds; /* age of the oldest pending row; 0 when none */
} cx_pg_outbox_counts;

cx_status cx_pg_outbox_new(cx_pg_outbox **out, const char *conninfo, char *err, size_t errlen);

/*
 * Opens a transaction and locks (FOR UPDATE SKIP LOCKED) the oldest pending row
 * that is due and whose ticket has no older pending row, so each row goes to one
 * sender and a ticket's transitions go out in order. *row is a JSON object (id,
 * ticket_id, seq, transition, status, attempts, created_at, sent_at,
 * next_attempt_at, last_error, deliveries, ticket), or NULL when nothing is due
 * (no transaction is left open then). Returns new: json_decref().
 */
cx_status cx_pg_outbox_claim(cx_pg_outbox *o, json_t **row, char *err, size_t errlen);

/*
 * Within a claim: waits for the transaction-scoped lock named lock_name (a
 * receiver's name), which serialises posts to that receiver across senders.
 */
cx_status cx_pg_outbox_lock(cx_pg_outbox *o, const char *lock_name, char *err, size_t errlen);

/*
 * Records the outcome of the claimed row id and commits: status "pending"
 * (tried again after retry_ms), "sent", "failed" or "unrouted"; the
 * per-receiver deliveries object; last_error NULL or a readable line.
 */
cx_status cx_pg_outbox_finish(cx_pg_outbox *o, long long id, const char *status,
                              const json_t *deliveries, int retry_ms, const char *last_error,
                              char *err, size_t errlen);

/*
 * Opens a transaction holding the lock lock_name and lists, as rows like
 * cx_pg_outbox_claim's, the latest transition of every unresolved ticket
 * none of whose transitions is pending (for re-posting to Alertmanager).
 * End it with cx_pg_outbox_rollback(). Returns new: json_decref().
 */
cx_status cx_pg_outbox_firing(cx_pg_outbox *o, const char *lock_name, json_t **tickets,
                              char *err, size_t errlen);

/* Ends an open claim or listing without recording anything. NULL-safe. */
void cx_pg_outbox_rollback(cx_pg_outbox *o);

/* Counts of rows by status, for /metrics. Not while a claim is held. */
cx_status cx_pg_outbox_stats(cx_pg_outbox *o, cx_pg_outbox_counts *c, char *err, size_t errlen);

/* NULL-safe. */
void cx_pg_outbox_free(cx_pg_outbox *o);

/* Notifications as a JSON array (rows as cx_pg_outbox_claim's), newest first, at
 * most limit; status NULL: any; ticket_id 0: any. Returns new: json_decref(). */
cx_status cx_pg_notifications_list(const char *conninfo, const char *status, long long ticket_id,
                                   int limit, json_t **out, char *err, size_t errlen);

/* Puts failed notifications (id, or every failed one when id is 0) back to
 * pending for the receivers that did not take them; *n counts them.
 * CX_ERR_NOTFOUND: no such id; CX_ERR_USAGE: that one is not failed. */
cx_status cx_pg_notifications_retry(const char *conninfo, long long id, long long *n, char *err,
                                    size_t errlen);

#endif /* CX_PG_H */
