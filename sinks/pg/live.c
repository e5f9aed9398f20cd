/*
 * live.c - a read-only connection for the HTTP listener: readiness pings and
 * the live page's data (the last hour of signals per category, minute by
 * minute, and the open tickets), as one JSON document built by PostgreSQL.
 * Calls are serialised, and each gives up after a few seconds, so a server
 * that hangs holds no caller for longer.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg_live.h"
#include "pg_int.h"

#define CONNECT_MS 5000
#define QUERY_MS 3000 /* also the session's statement_timeout */

struct cx_pg_reader {
    char *conninfo;
    PGconn *conn;
    pthread_mutex_t lock;
};

cx_status cx_pg_reader_new(cx_pg_reader **out, const char *conninfo, char *err, size_t errlen)
{
    cx_pg_reader *r = calloc(1, sizeof *r);
    if (r == NULL || (r->conninfo = strdup(conninfo ? conninfo : "")) == NULL ||
        pthread_mutex_init(&r->lock, NULL) != 0) {
        if (r != NULL)
            free(r->conninfo);
        free(r);
        return cx_errf(err, errlen, CX_ERR_NOMEM, "postgresql reader: out of memory");
    }
    *out = r;
    return CX_OK;
}

static void drop(cx_pg_reader *r)
{
    PQfinish(r->conn);
    r->conn = NULL;
}

/* Runs sql with params on a (re)connected session, within QUERY_MS; one
 * reconnect on a lost connection. Called with r->lock held. */
static PGresult *query(cx_pg_reader *r, const char *sql, int n, const char *const *params,
                       const char *what, cx_status *st, char *err, size_t errlen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (r->conn == NULL || PQstatus(r->conn) != CONNECTION_OK) {
            drop(r);
            if ((*st = cx__pg_connect_within(r->conninfo, CONNECT_MS, &r->conn, err, errlen)) !=
                CX_OK)
                return NULL;
            char set[64];
            snprintf(set, sizeof set, "SET statement_timeout = %d", QUERY_MS);
            PGresult *res = cx__pg_exec_within(r->conn, set, 0, NULL, QUERY_MS);
            *st = cx__pg_check(r->conn, res, "configuring the session", err, errlen);
            PQclear(res);
            if (*st != CX_OK) {
                drop(r);
                continue;
            }
        }
        PGresult *res = cx__pg_exec_within(r->conn, sql, n, params, QUERY_MS);
        if (res == NULL && PQstatus(r->conn) == CONNECTION_OK) {
            drop(r); /* no answer in time: the session's state is unknown */
            *st = cx_errf(err, errlen, CX_ERR_TRANSIENT, "%s: no answer within %d ms", what,
                          QUERY_MS);
            return NULL;
        }
        *st = cx__pg_check(r->conn, res, what, err, errlen);
        if (*st == CX_OK)
            return res;
        PQclear(res);
        if (PQstatus(r->conn) == CONNECTION_OK)
            return NULL; /* an answer, not a lost connection */
    }
    return NULL;
}

/* Takes the reader's lock, waiting at most as long as one call may take. */
static cx_status lock(cx_pg_reader *r, char *err, size_t errlen)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (CONNECT_MS + 2 * QUERY_MS) / 1000 + 1;
    int rc = pthread_mutex_timedlock(&r->lock, &until);
    return rc == 0 ? CX_OK
                   : cx_errf(err, errlen, CX_ERR_TRANSIENT,
                             "postgresql reader: busy with an earlier request (%s)",
                             rc == ETIMEDOUT ? "no answer from postgresql" : "lock failed");
}

cx_status cx_pg_reader_ping(cx_pg_reader *r, char *err, size_t errlen)
{
    cx_status st = lock(r, err, errlen);
    if (st != CX_OK)
        return st;
    PQclear(query(r, "SELECT 1", 0, NULL, "checking postgresql", &st, err, errlen));
    pthread_mutex_unlock(&r->lock);
    return st;
}

/* $1: the window (seconds) the page draws, one point per window, 60 points. The
 * page ends now while signals are recent (the latest window ended within the
 * hour); after a replay of older data it ends with the latest window, so the
 * page still shows something meaningful. */
static const char *const live_sql =
    "WITH latest AS (\n"
    "  SELECT max(window_start) AS t FROM cx.signals\n"
    "  WHERE window_seconds = $1::int AND window_start <= now() + interval '1 hour'\n"
    "), anchor AS (\n"
    "  SELECT CASE WHEN live THEN to_timestamp(floor(extract(epoch FROM now()) / $1::int) * "
    "$1::int)\n"
    "    ELSE t END AS t_end, live\n"
    "  FROM (SELECT t, t IS NULL OR t + make_interval(secs => $1::int) >= now() - interval '1 "
    "hour'\n"
    "          AS live FROM latest) l\n"
    "), pts AS (\n"
    "  SELECT generate_series(t_end - make_interval(secs => 59 * $1::int), t_end,\n"
    "                         make_interval(secs => $1::int)) AS t FROM anchor\n"
    "), s AS (\n"
    "  SELECT window_start AS t, category, sum(events) AS events, sum(negative) AS negative\n"
    "  FROM cx.signals, anchor\n"
    "  WHERE window_seconds = $1::int AND category <> 'none'\n"
    "    AND window_start BETWEEN t_end - make_interval(secs => 59 * $1::int) AND t_end\n"
    "  GROUP BY 1, 2\n"
    ")\n"
    "SELECT json_build_object(\n"
    "  'end', (SELECT t_end FROM anchor), 'live', (SELECT live FROM anchor),\n"
    "  'window_seconds', $1::int, 'generated_at', now(),\n"
    "  'points', (SELECT json_agg(t ORDER BY t) FROM pts),\n"
    "  'categories', (SELECT json_object_agg(c, (\n"
    "      SELECT json_agg(json_build_array(coalesce(s.events, 0), coalesce(s.negative, 0))\n"
    "                      ORDER BY pts.t)\n"
    "      FROM pts LEFT JOIN s ON s.t = pts.t AND s.category = c))\n"
    "    FROM unnest(ARRAY['facing', 'collaborative', 'external', 'performance']) AS c),\n"
    "  'tickets', (SELECT coalesce(json_agg(t), '[]'::json) FROM (\n"
    "      SELECT ticket_id, rule, category, scope, owner, status, opened_at, updated_at,\n"
    "             event_count, reason FROM cx.open_tickets LIMIT 20) t)\n"
    ")::text";

cx_status cx_pg_live(cx_pg_reader *r, int window_seconds, char **json, char *err, size_t errlen)
{
    char w[16];
    snprintf(w, sizeof w, "%d", window_seconds > 0 ? window_seconds : 60);
    const char *params[] = {w};
    *json = NULL;
    cx_status st = lock(r, err, errlen);
    if (st != CX_OK)
        return st;
    PGresult *res = query(r, live_sql, 1, params, "reading live signals", &st, err, errlen);
    if (st == CX_OK && (*json = strdup(PQgetvalue(res, 0, 0))) == NULL)
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "reading live signals: out of memory");
    PQclear(res);
    pthread_mutex_unlock(&r->lock);
    return st;
}

void cx_pg_reader_free(cx_pg_reader *r)
{
    if (r == NULL)
        return;
    PQfinish(r->conn);
    pthread_mutex_destroy(&r->lock);
    free(r->conninfo);
    free(r);
}
