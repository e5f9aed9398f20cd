/*
 * tickets.h - improvement-ticket rules: parsed and validated from the
 * configuration (or the built-in defaults), and the event-level conditions
 * tested on one classified event. Pure: no Kafka, no PostgreSQL. The sink
 * evaluates threshold rules over cx.signals and keeps the tickets.
 *
 * Two kinds of rule (docs/tickets.md):
 *   threshold: over a rolling window of a category's signals (optionally one
 *     channel), fire when the negative share is above X, or the average rating
 *     of one scale is below Y, or the negative events are more than R times
 *     as many as in the usual window of the hours before, once at least
 *     min_events count;
 *   event: fire on every event that meets all the rule's conditions (tagged
 *     with a category, a sentiment, a rating below or above a value, a channel
 *     or touchpoint, a delivery more than N days late).
 * A firing rule opens one ticket per (rule, category, scope, owner), or
 * updates the one still unresolved.
 */
#ifndef CX_TICKETS_H
#define CX_TICKETS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "classify.h"
#include "cx.h"
#include "event.h"

/* Event-level rules ("on": "event") one configuration may have: every
 * event keeps which of them it matched. */
#define CX_TICKET_MAX_EVENT_RULES 32
/* Longest "name" and "owner", and "description", in bytes: a ticket's
 * notification carries them, and PostgreSQL refuses one over 8000 bytes. */
#define CX_TICKET_NAME_MAX 200
#define CX_TICKET_DESCRIPTION_MAX 1000

typedef enum cx_ticket_kind {
    CX_TICKET_NEGATIVE_SHARE, /* threshold: negative / events > threshold */
    CX_TICKET_AVG_RATING,     /* threshold: mean rating of `scale` < threshold (> on ces,
                                 where a higher rating is worse: "avg_rating_above") */
    CX_TICKET_NEGATIVE_SPIKE, /* threshold: negative events > threshold x the usual */
    CX_TICKET_EVENT           /* event-level conditions */
} cx_ticket_kind;

/* One rule, as plain data. Strings are owned by the rule set. */
typedef struct cx_ticket_rule {
    const char *name;
    cx_ticket_kind kind;
    int category;           /* cx_category; -1: any (event rules only) */
    const char *channel;    /* NULL: every channel */
    const char *touchpoint; /* NULL: every touchpoint (event rules only) */
    const char *scope;      /* "channel=chat", "touchpoint=delivery" or "" */
    const char *owner;
    const char *description; /* readable conditions, e.g. "negative share above 40%" */
    int window_seconds;     /* threshold rules */
    int min_events;         /* threshold rules: events (ratings, negative events) in the window */
    int baseline_seconds;   /* spike rules: the history the usual window is taken from */
    double threshold;       /* threshold rules */
    cx_rating_scale scale;  /* avg-rating rules, and event rules' rating conditions */
    int cooldown_seconds;   /* after a resolve, no new ticket for this long */
    /* event conditions; unset ones are not tested */
    int tagged;             /* the event must carry `category` among its tags */
    int sentiment;          /* cx_sentiment or -1 */
    int has_rating_below, has_rating_above;
    double rating_below, rating_above;
    int late_days_above;    /* delivered_date - promised_date > N days; -1: unset */
} cx_ticket_rule;

typedef struct cx_ticket_rules cx_ticket_rules;

/*
 * Parses rules from a JSON array (the configuration's "tickets.rules"), or the
 * built-in defaults when `rules` is NULL. `base_window_seconds` is the
 * smallest signal window: threshold windows must be multiples of it. On error
 * returns CX_ERR_CONFIG with a message naming the rule and key, e.g.
 *   tickets.rules[2] ("late-carrier"): "window_minutes" must be 1..1440
 * Returns new: cx_ticket_rules_free().
 */
cx_status cx_ticket_rules_new(cx_ticket_rules **out, const json_t *rules,
                              int base_window_seconds, char *err, size_t errlen);

/* The built-in default rules, as JSON text (documentation and `config --print`). */
const char *cx_ticket_rules_default_json(void);

size_t cx_ticket_rules_count(const cx_ticket_rules *rs);

/* Rule i (0 <= i < count), in configuration order. */
const cx_ticket_rule *cx_ticket_rules_get(const cx_ticket_rules *rs, size_t i);

/*
 * Tests every event rule on a classified event; writes the indices of those
 * whose conditions all hold into hits[0..max) and returns how many matched
 * (at most max).
 */
size_t cx_ticket_rules_match(const cx_ticket_rules *rs, const cx_event *ev, const cx_tags *tags,
                             uint16_t *hits, size_t max);

/* NULL-safe. */
void cx_ticket_rules_free(cx_ticket_rules *rs);

#endif /* CX_TICKETS_H */
