/*
 * pg_tickets.h - the owners' commands on cx.tickets (list, acknowledge,
 * resolve). Tickets are opened and updated by the sink (pg_sink.h).
 */
#ifndef CX_PG_TICKETS_H
#define CX_PG_TICKETS_H

#include <stddef.h>

#include <jansson.h>

#include "cx.h"

/*
 * Lists tickets as a JSON array of objects (ticket_id, rule, category, scope,
 * owner, status, opened_at, updated_at, resolved_at, reason, event_count,
 * sample_event_ids, delivery: the latest transition's {transition, status,
 * receivers: {name: status}} in cx.notifications, or null), unresolved first,
 * newest first, at most limit of them; *total is how many match (more than
 * the array holds when it was cut at limit). owner NULL: every owner. status:
 * "open", "acknowledged", "resolved", "unresolved" (NULL, the default: open or
 * acknowledged) or "all". Returns new: json_decref().
 */
cx_status cx_pg_tickets_list(const char *conninfo, const char *owner, const char *status, int limit,
                             json_t **out, long long *total, char *err, size_t errlen);

/*
 * Ticket `id` as a JSON object: the columns cx_pg_tickets_list() gives, with
 * fired_event_at and quiet_before_seconds, and "samples": its sample events
 * (event_id, occurred_at, channel, touchpoint, sentiment, categories,
 * evidence, body) from cx.ticket_samples, in the ticket's order; null, with
 * "samples_not_readable" saying why, when the role may not read that view
 * (owners, unless granted it). CX_ERR_NOTFOUND if there is no such ticket.
 * Returns new: json_decref().
 */
cx_status cx_pg_ticket_show(const char *conninfo, long long id, json_t **out, char *err,
                            size_t errlen);

/*
 * Moves ticket `id` to "acknowledged" or "resolved" (resolved_at = now) and
 * returns it as a JSON object with "changed": false when it already was
 * (a resolved ticket stays resolved). CX_ERR_NOTFOUND if there is no such
 * ticket. Returns new: json_decref().
 */
cx_status cx_pg_ticket_set_status(const char *conninfo, long long id, const char *status,
                                  json_t **out, char *err, size_t errlen);

#endif /* CX_PG_TICKETS_H */
