/*
 * pg_outbox.h - the notification outbox (cx.notifications): claiming rows
 * for delivery, recording outcomes, and the `notifications` command.
 */
#ifndef CX_PG_OUTBOX_H
#define CX_PG_OUTBOX_H

#include <stddef.h>

#include <jansson.h>

#include "cx.h"

/* One connection of a notification sender; connects lazily, and again after a loss. */
typedef struct cx_pg_outbox cx_pg_outbox;

typedef struct cx_pg_outbox_counts {
    long long pending, failed;     /* failed: up to 10,000 (more read as 10,000) */
    double oldest_pending_seconds; /* age of the oldest pending row (of an update held
                                      back, since it is due); 0 when none */
} cx_pg_outbox_counts;

/*
 * A sender's connection to conninfo (made at first use). idle_ms > 0: the
 * longest the sender leaves a claim's transaction idle (its longest post);
 * each session tells the server to end it once it has been idle in a
 * transaction for idle_ms (PostgreSQL's idle_in_transaction_session_timeout,
 * whatever the server, database or role set), so that a sender frozen while
 * it holds a claim or a receiver's lock (its machine paused, a network cut
 * that leaves the socket open) does not hold them up for the other senders
 * for as long as it is frozen. 0: the server's setting.
 */
cx_status cx_pg_outbox_new(cx_pg_outbox **out, const char *conninfo, int idle_ms, char *err,
                           size_t errlen);

/*
 * Opens a transaction and locks (FOR UPDATE SKIP LOCKED) the pending row due
 * first whose ticket has no older pending row, so each row goes to one sender
 * and a ticket's transitions go out in order. Its cost does not grow with the
 * rows waiting behind their ticket's first (they are marked waiting and left
 * out of the index it reads). *row is a JSON object (id,
 * ticket_id, seq, transition, status, attempts, created_at, sent_at,
 * next_attempt_at, last_error, deliveries, ticket, and later_sent: the
 * receivers that took a later transition of its ticket, which are not to be
 * sent this one), or NULL when nothing is due
 * (no transaction is left open then). update_seconds > 0: an `updated` row
 * that was never posted is not claimed until update_seconds after its ticket's
 * last row that was sent (it is due then, holding the ticket's latest state).
 * Returns new: json_decref().
 */
cx_status cx_pg_outbox_claim(cx_pg_outbox *o, int update_seconds, json_t **row, char *err,
                             size_t errlen);

/*
 * Within a claim: takes the transaction-scoped lock named lock_name (a
 * receiver's name), which serialises posts to that receiver across senders,
 * if no other sender holds it (*got = 1); *got = 0 at once otherwise, so that
 * the caller can try again, or give up when it stops.
 */
cx_status cx_pg_outbox_lock(cx_pg_outbox *o, const char *lock_name, int *got, char *err,
                            size_t errlen);

/*
 * Records the outcome of the claimed row id and commits: status "pending"
 * (tried again after retry_ms), "sent", "failed" or "unrouted" (rows are
 * also "superseded", by the database, never claimed); the
 * per-receiver deliveries object; last_error NULL or a readable line.
 */
cx_status cx_pg_outbox_finish(cx_pg_outbox *o, long long id, const char *status,
                              const json_t *deliveries, int retry_ms, const char *last_error,
                              char *err, size_t errlen);

/*
 * Opens a transaction holding the lock lock_name (an Alertmanager receiver's
 * name; *tickets stays NULL when another sender holds it) and lists, as rows like cx_pg_outbox_claim's, the latest transition
 * of every unresolved ticket that this receiver was sent (for re-posting to
 * it: what it knows, however far other receivers are behind). End it with
 * cx_pg_outbox_rollback(). Returns new: json_decref().
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
 * most limit; status NULL: any; ticket_id 0: any. *total is how many match
 * (more than the array holds when it was cut at limit). Returns new:
 * json_decref(). */
cx_status cx_pg_notifications_list(const char *conninfo, const char *status, long long ticket_id,
                                   int limit, json_t **out, long long *total, char *err,
                                   size_t errlen);

/* Puts failed notifications (id, or every failed one when id is 0) back to
 * pending for the receivers that did not take them; *n counts those that some
 * receiver will be sent again. With id 0, a failed `updated` that a later
 * transition of its ticket has made needless is superseded instead, as the
 * outbox does with waiting ones (the receiver gets the newest news, not a
 * backlog of stale updates): *superseded counts them.
 * CX_ERR_NOTFOUND: no such id; CX_ERR_USAGE: that one is not failed. */
cx_status cx_pg_notifications_retry(const char *conninfo, long long id, long long *n,
                                    long long *superseded, char *err, size_t errlen);

#endif /* CX_PG_OUTBOX_H */
