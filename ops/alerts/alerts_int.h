/*
 * alerts_int.h - private to ops/alerts: the parsed receivers and routes.
 */
#ifndef CX_ALERTS_INT_H
#define CX_ALERTS_INT_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

typedef enum cx__alerts_kind { CX__ALERTS_AM, CX__ALERTS_WEBHOOK, CX__ALERTS_SLACK } cx__alerts_kind;

typedef struct cx__alerts_receiver {
    char *name;
    cx__alerts_kind kind;
    char *url;    /* where to POST (Alertmanager: the base URL + /api/v2/alerts) */
    char *secret; /* webhook HMAC key, or NULL */
    int shortcut; /* from --alertmanager/--webhook: gets every ticket */
} cx__alerts_receiver;

typedef struct cx__alerts_route {
    char *owner, *category, *rule; /* NULL: any */
    size_t *receivers;             /* indices */
    size_t n_receivers;
} cx__alerts_route;

struct cx_alerts {
    cx__alerts_receiver *receivers;
    size_t n_receivers;
    cx__alerts_route *routes;
    size_t n_routes;
    char *page_url;
    int timeout_ms, retry_min_ms, retry_max_ms, resend_seconds, update_seconds, poll_ms;
    int chat_quiet_s; /* alerts.chat_quiet_minutes, in seconds (0: chat gets no update) */
};

struct cx_alerts;

/* 1 when an `updated` outbox row's ticket had not moved for at least
 * alerts.chat_quiet_minutes before it fired again (its quiet_seconds). */
int cx__alerts_after_quiet(const struct cx_alerts *a, const json_t *row);

/* One Alertmanager alert for an outbox row (firing, or ended now when
 * resolved), labelled with the ticket's id and, when the row has it, its uid. */
json_t *cx__alerts_am_alert(const struct cx_alerts *a, const json_t *row, time_t now);

#endif /* CX_ALERTS_INT_H */
