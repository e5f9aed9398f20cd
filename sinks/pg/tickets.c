/*
 * tickets.c - the owners' commands on cx.tickets: list, acknowledge, resolve
 * (pg_tickets.h). The sink opens and updates tickets (tickets_eval.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pg_tickets.h"
#include "pg_int.h"

/* ---- Owners' commands ------------------------------------------------------- */

/* The columns the commands show; timestamps in UTC, samples as a JSON array. */
/* clang-format off */
#define TICKET_COLUMNS                                                                        \
    "ticket_id, rule, category, scope, owner, status,"                                        \
    " " CX__PG_UTC_ISO("opened_at") " AS opened_at,"                                          \
    " " CX__PG_UTC_ISO("updated_at") " AS updated_at,"                                        \
    " " CX__PG_UTC_ISO("resolved_at") " AS resolved_at,"                                      \
    " reason, event_count, to_json(sample_event_ids) AS sample_event_ids,"                    \
    " " CX__PG_UTC_ISO("window_start") " AS window_start,"                                    \
    " " CX__PG_UTC_ISO("window_end") " AS window_end"
/* clang-format on */

/* The delivery of the ticket's latest transition (cx.notifications): its status
 * and, per receiver, whether it took it; and per receiver the latest
 * transition it took (a chat receiver skips most updates: "skipped" alone
 * would not say it had heard of the ticket). */
#define TICKET_DELIVERY                                                                            \
    "(SELECT json_build_object('transition', n.transition, 'status', n.status,"                    \
    " 'receivers', (SELECT coalesce(json_object_agg(d.k, d.v->>'status'), '{}')"                   \
    "  FROM jsonb_each(n.deliveries) AS d(k, v)),"                                                 \
    " 'took', (SELECT coalesce(json_object_agg(k, transition), '{}') FROM"                         \
    "  (SELECT DISTINCT ON (d.k) d.k, m.transition FROM cx.notifications m,"                       \
    "   jsonb_each(m.deliveries) AS d(k, v)"                                                       \
    "   WHERE m.ticket_id = cx.tickets.ticket_id AND d.v->>'status' = 'sent'"                      \
    "   ORDER BY d.k, m.seq DESC) t))"                                                             \
    " FROM cx.notifications n WHERE n.ticket_id = cx.tickets.ticket_id"                            \
    " ORDER BY n.seq DESC LIMIT 1) AS delivery"

/* The tickets a list shows: owner ($1, NULL: every owner) and status ($2). */
#define TICKET_FILTER                                                                              \
    " WHERE ($1::text IS NULL OR owner = $1) AND CASE $2::text"                                    \
    " WHEN 'all' THEN true WHEN 'unresolved' THEN status <> 'resolved'"                            \
    " ELSE status = $2 END"

cx_status cx_pg_tickets_list(const char *conninfo, const char *owner, const char *status, int limit,
                             json_t **out, long long *total, char *err, size_t errlen)
{
    PGconn *conn;
    *out = NULL;
    *total = 0;
    cx_status st = cx__pg_connect_schema(conninfo, &conn, err, errlen);
    if (st != CX_OK)
        return st;
    const char *params[] = {owner, status ? status : "unresolved"};
    st = cx__pg_list(conn,
                     "SELECT " TICKET_COLUMNS ", " TICKET_DELIVERY " FROM cx.tickets" TICKET_FILTER
                     " ORDER BY status = 'resolved', cx.tickets.opened_at DESC,"
                     " ticket_id DESC LIMIT $3::int",
                     "SELECT count(*) FROM cx.tickets" TICKET_FILTER, 2, params, limit,
                     "listing tickets", out, total, err, errlen);
    PQfinish(conn);
    return st;
}

cx_status cx_pg_ticket_show(const char *conninfo, long long id, json_t **out, char *err,
                            size_t errlen)
{
    PGconn *conn;
    *out = NULL;
    cx_status st = cx__pg_connect_schema(conninfo, &conn, err, errlen);
    if (st != CX_OK)
        return st;
    char id_s[32];
    snprintf(id_s, sizeof id_s, "%lld", id);
    const char *params[] = {id_s};
    PGresult *r = PQexecParams(
        conn,
        "SELECT " TICKET_COLUMNS ", " CX__PG_UTC_ISO(
            "fired_event_at") " AS fired_event_at, extract(epoch FROM quiet_before)::bigint"
                              " AS quiet_before_seconds, " TICKET_DELIVERY
                              " FROM cx.tickets WHERE ticket_id = $1::bigint",
        1, NULL, params, NULL, NULL, 0);
    st = cx__pg_check(conn, r, "reading the ticket", err, errlen);
    if (st == CX_OK && PQntuples(r) == 0)
        st = cx_errf(err, errlen, CX_ERR_NOTFOUND, "no ticket %lld", id);
    if (st == CX_OK) {
        *out = cx__pg_row_json(r, 0);
        if (*out == NULL)
            st = cx_errf(err, errlen, CX_ERR_NOMEM, "reading the ticket: out of memory");
    }
    PQclear(r);
    if (st != CX_OK) {
        PQfinish(conn);
        return st;
    }
    /* the samples: a role that may not read them (an owner, by default) gets
     * the ticket and why not */
    r = PQexecParams(
        conn,
        "SELECT event_id, " CX__PG_UTC_ISO(
            "occurred_at") " AS occurred_at,"
                           " channel, touchpoint, sentiment, to_json(categories) AS categories,"
                           " evidence, body FROM cx.ticket_samples WHERE ticket_id = $1::bigint"
                           " ORDER BY position",
        1, NULL, params, NULL, NULL, 0);
    char why[512];
    cx_status read = cx__pg_check(conn, r, "reading the ticket's samples", why, sizeof why);
    const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (read == CX_OK) {
        json_t *samples = cx__pg_rows_json(r);
        if (samples == NULL || json_object_set_new(*out, "samples", samples) != 0)
            st = cx_errf(err, errlen, CX_ERR_NOMEM, "reading the ticket: out of memory");
    } else if (code != NULL && strcmp(code, "42501") == 0) { /* insufficient privilege */
        if (json_object_set_new(*out, "samples", json_null()) != 0 ||
            json_object_set_new(*out, "samples_not_readable",
                                json_string("this role may not read cx.ticket_samples")) != 0)
            st = cx_errf(err, errlen, CX_ERR_NOMEM, "reading the ticket: out of memory");
    } else {
        st = cx_errf(err, errlen, read, "%s", why);
    }
    PQclear(r);
    PQfinish(conn);
    if (st != CX_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return st;
}

cx_status cx_pg_ticket_set_status(const char *conninfo, long long id, const char *status,
                                  json_t **out, char *err, size_t errlen)
{
    PGconn *conn;
    *out = NULL;
    if (strcmp(status, "acknowledged") != 0 && strcmp(status, "resolved") != 0)
        return cx_errf(err, errlen, CX_ERR_USAGE, "a ticket can be acknowledged or resolved");
    cx_status st = cx__pg_connect_schema(conninfo, &conn, err, errlen);
    if (st != CX_OK)
        return st;
    char id_s[32];
    snprintf(id_s, sizeof id_s, "%lld", id);
    const char *params[] = {id_s, status};
    /* after any batch whose rules read the ticket (CX__PG_TICKETS_LOCK_SQL) */
    st = cx__pg_exec(conn, "BEGIN", "updating the ticket", err, errlen);
    if (st == CX_OK)
        st = cx__pg_exec(conn, CX__PG_TICKETS_LOCK_SQL, "updating the ticket", err, errlen);
    if (st != CX_OK) {
        PQfinish(conn);
        return st;
    }
    /* A resolved ticket stays resolved; acknowledging twice changes nothing. */
    PGresult *r = PQexecParams(
        conn,
        "WITH u AS (UPDATE cx.tickets SET status = $2, updated_at = now(),"
        " resolved_at = CASE WHEN $2 = 'resolved' THEN now() END"
        " WHERE ticket_id = $1 AND status <> 'resolved' AND status <> $2 RETURNING *)"
        " SELECT " TICKET_COLUMNS ", true AS changed FROM u"
        " UNION ALL SELECT " TICKET_COLUMNS ", false FROM cx.tickets"
        " WHERE ticket_id = $1 AND NOT EXISTS (SELECT 1 FROM u)",
        2, NULL, params, NULL, NULL, 0);
    st = cx__pg_check(conn, r, "updating the ticket", err, errlen);
    if (st == CX_OK && PQntuples(r) == 0) {
        st = cx_errf(err, errlen, CX_ERR_NOTFOUND, "no ticket %lld", id);
    } else if (st == CX_OK) {
        *out = cx__pg_row_json(r, 0);
        if (*out == NULL)
            st = cx_errf(err, errlen, CX_ERR_NOMEM, "updating the ticket: out of memory");
    }
    PQclear(r);
    if (st == CX_OK)
        st = cx__pg_exec(conn, "COMMIT", "updating the ticket", err, errlen);
    PQfinish(conn); /* a transaction not committed is rolled back */
    return st;
}
