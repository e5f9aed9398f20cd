/*
 * pg_sink.h - the PostgreSQL sink: batches written with exactly-once effect
 * (events with their tags, signals, dead letters and consumer offsets in one
 * transaction per batch).
 *
 * Exactly-once: inside the batch's transaction the sink locks the stored
 * next offset of every (group, topic, partition) in the batch, skips every
 * record below it (already applied: a replay, a lost COMMIT acknowledgement,
 * or a zombie consumer still holding a revoked partition), writes the rest
 * and moves the next offset past the batch. Events are keyed by event_id, and
 * signals are incremented only for events that were new, so signals always
 * equal the sum over cx.events (and their tags).
 */
#ifndef CX_PG_SINK_H
#define CX_PG_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "cx.h"
#include "pipeline.h" /* cx_sink_counts */
#include "record.h"   /* cx_record: one consumed message, as the sink stores it */
#include "tickets.h"

/* What the sinks of one process know was stored: per partition, the highest
 * next offset one of them committed or read. A stored offset found lower
 * means PostgreSQL lost commits it had acknowledged (synchronous_commit off
 * and a server crash). Thread-safe; share one among a process's writers. */
typedef struct cx_pg_seen cx_pg_seen;

/* Returns new (NULL when out of memory): cx_pg_seen_free(). */
cx_pg_seen *cx_pg_seen_new(void);

/* NULL-safe; after every sink using it is freed. */
void cx_pg_seen_free(cx_pg_seen *seen);

typedef struct cx_pg_options {
    const char *conninfo;        /* URL or key=value; NULL or "" = libpq's environment */
    const char *group;           /* consumer group the offsets belong to */
    const int *window_seconds;   /* signal window sizes; NULL/0 = {60} */
    size_t n_windows;
    const char *rule_version;    /* stored with every event (cx_classifier_version) */
    int synchronous_commit;      /* 0 = SET synchronous_commit = off (still exactly-once),
                                    but on for a batch that opens or updates a ticket */
    const cx_ticket_rules *ticket_rules; /* borrowed, outlives the sink; NULL = no tickets */
    int ticket_max_age_seconds;          /* > 0: a window that ended, or an event dated, longer ago
                                            than this by the clock opens and updates no ticket (it
                                            is history: a backlog being read); 0 = any age */
    const char *rule_set_json;   /* the rules of rule_version (cx_classifier_rules_json), kept
                                    in cx.rule_sets; NULL: not recorded */
    cx_pg_seen *seen;            /* borrowed, outlives the sink: shared with the process's
                                    other writers; NULL: the sink keeps its own */
    int replay;                  /* dead-letter replay: records keep their original Kafka
                                    coordinates, offsets are neither checked nor moved, and
                                    a still-bad record updates its dead-letter rows (every
                            group's row of the message not stored yet) */
    int connect_later;           /* cx_pg_new does not connect: the first use does */
} cx_pg_options;

/* What one write did: the pipeline's counts (a duplicate is also an event
 * repeated in the batch; each opened ticket is also sent as NOTIFY cx_tickets). */
typedef cx_sink_counts cx_pg_result;

typedef struct cx_pg cx_pg;

/*
 * Creates a sink (options are copied). Connects now, unless connect_later
 * (then it returns CX_OK and the first use connects): CX_ERR_TRANSIENT if the
 * server cannot be reached (the sink is still returned in *out and reconnects
 * on the next write), CX_ERR_FATAL if the schema is missing or older than this
 * build, or the credentials are refused, CX_ERR_CONFIG if the connection string
 * cannot be parsed (on any error but CX_ERR_TRANSIENT, *out is NULL).
 * Returns new: cx_pg_free().
 */
cx_status cx_pg_new(cx_pg **out, const cx_pg_options *opts, char *err, size_t errlen);

/*
 * Asks the server to cancel the statement pg's connection is running, if
 * any (a COMMIT waiting for a synchronous standby that is down, a lock
 * wait): it fails with SQLSTATE 57014, a transient failure, and the batch's
 * transaction is rolled back; a COMMIT waiting for a standby ends committed,
 * as the server warns. Any thread, any time, while pg lives; nothing when
 * disconnected. Waits for the server to take the request; CX_ERR_TRANSIENT
 * when it cannot be sent (err says why).
 */
cx_status cx_pg_cancel(cx_pg *pg, char *err, size_t errlen);

/*
 * Reads the stored next offsets of `topic`'s partitions parts[0..n) for the
 * sink's group into next[] (-1 where none is stored). With start (NULL for
 * none), a partition with no row and start[i] >= 0 first gets one at
 * start[i]: where a new group starts survives a restart before its first
 * batch (a row another member stored first wins).
 */
cx_status cx_pg_read_offsets(cx_pg *pg, const char *topic, const int32_t *parts, size_t n,
                             const int64_t *start, int64_t *next, char *err, size_t errlen);

/*
 * Looks for another installation writing to this database: a group other
 * than the sink's that stored offsets of a topic not in topics[0..n) within
 * the last day. Returns how many such (group, topic) pairs there are (0 also
 * when it cannot tell), naming up to a few of them in names ("group g on
 * topic t, ..."). The database's events, signals, tickets and notifications
 * are shared by all who write to it, so such a neighbour is worth a word.
 */
long long cx_pg_other_installations(cx_pg *pg, const char *const *topics, size_t n, char *names,
                                    size_t len);

/*
 * Looks for signal window sizes among sizes[0..n) of which cx.signals has no
 * window where its newest windows are: sizes added to the configuration
 * since events were last stored. Such a size starts empty: it has no windows
 * for the time before, and the one open now holds only what is stored from
 * now on. Returns how many (0 also when nothing is stored or it cannot tell),
 * listing them in list ("3600, 86400") and the newest window's start in at
 * ("2026-11-30 10:41 UTC").
 */
size_t cx_pg_added_window_sizes(cx_pg *pg, const int *sizes, size_t n, char *list, size_t len,
                                char *at, size_t at_len);

/*
 * Raises the stored next offset of `topic`'s partitions parts[i] for the
 * sink's group to next[i] where it is lower (or stores it, with none
 * stored), and stores nothing else: the offsets passed hold no message
 * (transaction markers, messages aborted or deleted unread).
 */
cx_status cx_pg_advance_offsets(cx_pg *pg, const char *topic, const int32_t *parts, size_t n,
                                const int64_t *next, char *err, size_t errlen);

/*
 * Writes recs[0..n) in one transaction (see the top of this file); records
 * may come from several partitions, in offset order per partition. One
 * attempt: on CX_ERR_TRANSIENT (connection lost, server restarting,
 * serialization failure, ...) nothing was written, the sink will reconnect,
 * and the caller retries the same batch (after a backoff of its own). Rows that
 * PostgreSQL rejects (SQLSTATE classes 22, 23) are isolated by bisection and
 * dead-lettered; the rest commits. CX_ERR_FATAL: retrying cannot help.
 * One thread at a time per sink (it holds one connection): several writers
 * take a sink each.
 */
cx_status cx_pg_write_batch(cx_pg *pg, const cx_record *recs, size_t n, cx_pg_result *res,
                            char *err, size_t errlen);

/* After cx_pg_write_batch() returned CX_OK: nonzero when recs[i] of that batch
 * became a dead letter (unreadable, refused by PostgreSQL, or another event
 * under an event_id stored with other content). 0 after a failed write. */
int cx_pg_dead_lettered(const cx_pg *pg, size_t i);

/* NULL-safe. */
void cx_pg_free(cx_pg *pg);

/* The sink as the pipeline's sink (pipeline.h): *out writes through pg
 * (cx_pg_write_batch: transient failures answer RETRY) and reads its offsets;
 * pg is borrowed. */
struct cx_sink;
void cx_pg_sink(cx_pg *pg, struct cx_sink *out);

#endif /* CX_PG_SINK_H */
