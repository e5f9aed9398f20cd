/*
 * alerts.h - delivering ticket transitions to their owners: receivers
 * (Alertmanager, signed webhooks, Slack-style chat), routes that pick them,
 * and the sender thread of `cxpulse run` that drains the transactional outbox
 * cx.notifications (at least once, in order per ticket, one sender per row).
 */
#ifndef CX_ALERTS_H
#define CX_ALERTS_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "config.h"
#include "cx.h"
#include "metrics.h"
#include "tickets.h"

typedef struct cx_alerts cx_alerts;

/*
 * Reads alerts.receivers, alerts.routes and the shortcuts (alerts.alertmanager,
 * alerts.webhook, alerts.webhook_secret) from cfg. CX_ERR_CONFIG names the
 * receiver or route and what is wrong with it. With no receiver at all, *out
 * is still returned and holds none. Returns new: cx_alerts_free().
 */
cx_status cx_alerts_new(cx_alerts **out, const cx_config *cfg, char *err, size_t errlen);

size_t cx_alerts_receiver_count(const cx_alerts *a);

/* Receivers one configuration may have: a ticket goes to each it is routed
 * to (more are refused at load rather than left without notice). */
#define CX_ALERTS_MAX_RECEIVERS 32

/* The name of receiver i. */
const char *cx_alerts_receiver_name(const cx_alerts *a, size_t i);

/*
 * The receivers of a ticket: the first route whose owner, category and rule
 * (where given) match, plus every shortcut receiver; with no route configured,
 * every receiver. Writes up to max indices into idx, each once and in the
 * order of the configuration (so that senders delivering two tickets take
 * receivers' locks in one order, never in a cycle), and returns how many.
 */
size_t cx_alerts_route(const cx_alerts *a, const char *owner, const char *category,
                       const char *rule, size_t *idx, size_t max);

/*
 * How many of the ticket rules have tickets that would reach no receiver (no
 * route matches their owner, category and name, and no shortcut receiver is
 * configured; with no receiver at all, none: tickets are then only kept in
 * the database). msg names them, for a warning.
 */
size_t cx_alerts_unrouted(const cx_alerts *a, const cx_ticket_rules *rules, char *msg,
                          size_t msglen);

/* The warning about them: printf format, %s the message above. */
#define CX_UNROUTED                                                                                \
    "no route in alerts.routes matches the tickets of %s, and no receiver takes every "            \
    "ticket: they would be kept in cx.tickets but sent nowhere"

/*
 * The body posted to receiver i for an outbox row (as cx_pg_outbox_claim gives
 * it): Alertmanager's API v2 alert list, the webhook document, or a chat text.
 * now is used for Alertmanager's endsAt. Returns new (malloc'd), NULL on no memory.
 */
char *cx_alerts_render(const cx_alerts *a, size_t i, const json_t *row, time_t now);

/*
 * The Idempotency-Key of a row: "<ticket_id>-<transition>-<seq>-<uid12>",
 * uid12 the first 12 hex digits of the ticket's uid, so that a ticket that
 * gets the id of an earlier one (after a restore from a backup) never gets
 * its keys; "<ticket_id>-<transition>-<seq>" for a row whose ticket has no
 * uid (written by a release before schema version 20), the key it had then.
 * At most 56 characters.
 */
void cx_alerts_idempotency_key(const json_t *row, char *out, size_t outlen);

/*
 * The webhook signature: "sha256=" and the hex HMAC-SHA256, keyed by secret,
 * of timestamp "." body. out must hold 72 bytes. CX_ERR_NOMEM (out is "")
 * when it cannot be computed: a request must not go out unsigned.
 */
cx_status cx_alerts_sign(const char *secret, const char *timestamp, const char *body, size_t len,
                         char out[72]);

/* What an HTTP answer means for a delivery. */
typedef enum cx_alerts_outcome {
    CX_ALERTS_SENT,      /* 2xx */
    CX_ALERTS_RETRY,     /* no answer, time-out, 408, 429, 5xx */
    CX_ALERTS_PERMANENT  /* any other answer: kept as failed, not retried */
} cx_alerts_outcome;

/* The outcome of an HTTP status (0 = no answer). */
cx_alerts_outcome cx_alerts_classify(long http_status);

/* Milliseconds before retry number `attempts` + 1: exponential from
 * alerts.retry_min_ms, capped at alerts.retry_max_ms, with jitter (half to all of it). */
int cx_alerts_backoff_ms(const cx_alerts *a, int attempts);

/* NULL-safe. */
void cx_alerts_free(cx_alerts *a);

/* ---- The sender thread ---- */

typedef struct cx_alerts_sender cx_alerts_sender;

/*
 * Starts delivering cx.notifications on its own PostgreSQL connection when cfg
 * names at least one receiver (else *out = NULL and CX_OK). Counts go to m
 * (borrowed; must outlive the sender). CX_ERR_CONFIG for a bad receiver or route.
 */
cx_status cx_alerts_sender_start(cx_alerts_sender **out, const cx_config *cfg, cx_metrics *m,
                                 char *err, size_t errlen);

/* The receivers and routes the sender delivers by (read-only; valid until
 * cx_alerts_sender_stop()). */
const cx_alerts *cx_alerts_sender_alerts(const cx_alerts_sender *s);

/* Tells the sender that notifications may be due now (a batch opened or
 * updated tickets): it looks at once, not after its alerts.poll_ms pause.
 * NULL-safe; from any thread. */
void cx_alerts_sender_wake(cx_alerts_sender *s);

/* Stops the thread within about 5 s, whatever alerts.timeout_ms and however
 * many receivers hang: the post under way and rows due now are still
 * delivered within 5 s; a post unanswered then is cut off and its row stays
 * pending (due at once), as does the rest. NULL-safe. */
void cx_alerts_sender_stop(cx_alerts_sender *s);

#endif /* CX_ALERTS_H */
