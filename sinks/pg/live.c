/*
 * live.c - a read-only connection for the HTTP thread: readiness pings and
 * the live page's data (the last hour of signals per category, minute by
 * minute, and the open tickets), as one JSON document built by PostgreSQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_live.h"
#include "pg_int.h"

struct cx_pg_reader {
    char *conninfo;
    PGconn *conn;
};

cx_status cx_pg_reader_new(cx_pg_reader **out, const char *conninfo, char *err, size_t errlen)
{
    cx_pg_reader *r = calloc(1, sizeof *r);
    if (r == NULL || (r->conninfo = strdup(conninfo ? conninfo : "")) == NULL) {
        free(r);
        return cx_errf(err, errlen, CX_ERR_NOMEM, "postgresql reader: out of memory");
    }
    *out = r;
    return CX_OK;
}

/* Runs sql with params on a (re)connected session; one reconnect on a lost connection. */
static PGresult *query(cx_pg_reader *r, const char *sql, int n, const char *const *params,
                       const char *what, cx_status *st, char *err, size_t errlen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (r->conn == NULL || PQstatus(r->conn) != CONNECTION_OK) {
            PQfinish(r->conn);
            r->conn = NULL;
            if ((*st = cx__pg_connect(r->conninfo, &r->conn, err, errlen)) != CX_OK)
                return NULL;
        }
        PGresult *res = PQexecParams(r->conn, sql, n, NULL, params, NULL, NULL, 0);
        *st = cx__pg_check(r->conn, res, what, err, errlen);
        if (*st == CX_OK)
            return res;
        PQclear(res);
        if (PQstatus(r->conn) == CONNECTION_OK)
            return NULL; /* an answer, not a lost connection */
    }
    return NULL;
}

cx_status cx_pg_reader_ping(cx_pg_reader *r, char *err, size_t errlen)
{
    cx_status st;
    PQclear(query(r, "SELECT 1", 0, NULL, "checking postgresql", &st, err, errlen));
    return st;
}

/* $1: the window (seconds) the page draws, one point per window, 60 points. The
 * hour ends now while signals are recent; after a replay of older data it ends
 * with the latest window, so the page still shows something meaningful. */
static const char *const live_sql =
    "WITH anchor AS (\n"
    "  SELECT CASE WHEN max(window_start) IS NULL OR max(window_start) >= now() - interval '1 hour'\n"
    "    THEN to_timestamp(floor(extract(epoch FROM now()) / $1::int) * $1::int)\n"
    "    ELSE max(window_start) END AS t_end,\n"
    "    max(window_start) IS NULL OR max(window_start) >= now() - interval '1 hour' AS live\n"
    "  FROM cx.signals WHERE window_seconds = $1::int AND window_start <= now() + interval '1 hour'\n"
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
    cx_status st;
    *json = NULL;
    PGresult *res = query(r, live_sql, 1, params, "reading live signals", &st, err, errlen);
    if (st == CX_OK && (*json = strdup(PQgetvalue(res, 0, 0))) == NULL)
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "reading live signals: out of memory");
    PQclear(res);
    return st;
}

void cx_pg_reader_free(cx_pg_reader *r)
{
    if (r == NULL)
        return;
    PQfinish(r->conn);
    free(r->conninfo);
    free(r);
}
