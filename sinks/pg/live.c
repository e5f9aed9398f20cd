/*
 * live.c - a read-only connection for the HTTP listener: readiness pings and
 * the live page's data (the last hour of signals per category, minute by
 * minute, and the open tickets), as one JSON document built by PostgreSQL.
 * Calls are serialised, and each gives up after a few seconds, so a server
 * that hangs holds no caller for longer.
 */
#define _GNU_SOURCE /* pthread_mutex_clocklock (glibc 2.30) */
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

#define WHERE_ROWS 100000         /* events of the hour read at most for the breakdown */
#define WHERE_REUSE_US 10000000LL /* the breakdown is read again after 10 s */

struct cx_pg_reader {
    char *conninfo;
    PGconn *conn;
    pthread_mutex_t lock;
    char *where;           /* the last breakdown (JSON), for every viewer for 10 s */
    char where_end[40];    /* the shown range's end it was read for */
    int64_t where_us;      /* when (monotonic) */
    char where_error[256]; /* why the last one failed, "" if it did not */
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
    /* the live page: two queries; by the monotonic clock, which a step of
     * the wall clock does not move */
    struct timespec until = cx_time_after_ms(CLOCK_MONOTONIC, CONNECT_MS + 3 * QUERY_MS + 1000);
    int rc = pthread_mutex_clocklock(&r->lock, CLOCK_MONOTONIC, &until);
    return rc == 0 ? CX_OK
                   : cx_errf(err, errlen, CX_ERR_TRANSIENT,
                             "postgresql reader: busy with an earlier request (%s)",
                             rc == ETIMEDOUT ? "no answer from postgresql" : "lock failed");
}

cx_status cx_pg_reader_ping(cx_pg_reader *r, const char **read_only, char *err, size_t errlen)
{
    *read_only = NULL;
    cx_status st = lock(r, err, errlen);
    if (st != CX_OK)
        return st;
    /* one round trip: whether it answers, and whether it takes writes */
    PGresult *res = query(r,
                          "SELECT pg_is_in_recovery(),"
                          " current_setting('transaction_read_only')::bool",
                          0, NULL, "checking postgresql", &st, err, errlen);
    if (st == CX_OK && PQntuples(res) == 1 && PQnfields(res) == 2) {
        if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
            *read_only = "a standby, in recovery";
        else if (strcmp(PQgetvalue(res, 0, 1), "t") == 0)
            *read_only = "default_transaction_read_only on";
    }
    PQclear(res);
    /* The next check connects again: a new session sees what the writers'
     * next one will, where this one keeps the ALTER DATABASE or ALTER ROLE
     * settings it started with. */
    if (*read_only != NULL)
        drop(r);
    pthread_mutex_unlock(&r->lock);
    return st;
}

/* $1: the window (seconds) the page draws, one point per window, 60 points. The
 * page ends now while signals are recent (the latest window that began by now
 * ended within the hour); after a replay of older data it ends with the latest
 * window, so the page still shows something meaningful. Windows dated ahead
 * of now (a producer's clock that is fast) are not drawn, so they do not
 * make a page of last week's data live and empty either. */
static const char *const live_sql =
    "WITH latest AS (\n"
    "  SELECT max(window_start) AS t FROM cx.signals\n"
    "  WHERE window_seconds = $1::int AND window_start <= now()\n"
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
    ")::text, (SELECT t_end FROM anchor)::text";

/* Where the hour that ends with the shown range hurts: per channel and per
 * touchpoint (the 8 with the most negative events), events, negative events
 * and the category most of those negatives carry. Counted from cx.events, so
 * an event counts once however many categories it has; at most the hour's
 * latest $2 events are read (the index on occurred_at, newest first: the
 * range is a parameter, $3 the shown range's last window, so that the planner
 * sees how many events it holds), and "sampled" says when there were more. */
static const char *const where_sql =
    "WITH e AS (\n"
    "  SELECT coalesce(channel, '') AS channel, coalesce(touchpoint, '') AS touchpoint,\n"
    "         sentiment, primary_category\n"
    "  FROM cx.events\n"
    "  WHERE occurred_at >= $3::timestamptz + make_interval(secs => $1::int) - interval '1 hour'\n"
    "    AND occurred_at < $3::timestamptz + make_interval(secs => $1::int)\n"
    "  ORDER BY occurred_at DESC LIMIT $2::int\n"
    "), g AS (\n"
    "  SELECT CASE WHEN GROUPING(channel) = 0 THEN 'channels' ELSE 'touchpoints' END AS kind,\n"
    "         CASE WHEN GROUPING(channel) = 0 THEN channel ELSE touchpoint END AS name,\n"
    "         count(*) AS events, count(*) FILTER (WHERE sentiment = 'negative') AS negative,\n"
    "         mode() WITHIN GROUP (ORDER BY coalesce(primary_category, 'none'))\n"
    "           FILTER (WHERE sentiment = 'negative') AS top\n"
    "  FROM e GROUP BY GROUPING SETS ((channel), (touchpoint))\n"
    "), r AS (\n"
    "  SELECT g.*, row_number() OVER (PARTITION BY kind ORDER BY negative DESC, events DESC,\n"
    "                                 name) AS n FROM g\n"
    ")\n"
    "SELECT json_build_object(\n"
    "  'from', $3::timestamptz + make_interval(secs => $1::int) - interval '1 hour',\n"
    "  'to', $3::timestamptz + make_interval(secs => $1::int),\n"
    "  'sampled', (SELECT count(*) FROM e) >= $2::int,\n"
    "  'channels', (SELECT coalesce(json_agg(json_build_object('name', name, 'events', events,\n"
    "                 'negative', negative, 'top', top) ORDER BY n), '[]'::json)\n"
    "               FROM r WHERE kind = 'channels' AND n <= 8),\n"
    "  'touchpoints', (SELECT coalesce(json_agg(json_build_object('name', name, 'events', events,\n"
    "                 'negative', negative, 'top', top) ORDER BY n), '[]'::json)\n"
    "               FROM r WHERE kind = 'touchpoints' AND n <= 8)\n"
    ")::text";

cx_status cx_pg_reader_count_dead_letters(cx_pg_reader *r, const char *group, long long *waiting,
                                          char *err, size_t errlen)
{
    cx_status st = lock(r, err, errlen);
    if (st != CX_OK)
        return st;
    const char *params[] = {group};
    PGresult *res = query(r,
                          "SELECT count(*) FROM (SELECT FROM cx.dead_letters"
                          " WHERE consumer_group = $1 AND " CX__PG_DEAD_NOT_STORED(
                              "") " LIMIT " CX__PG_COUNT_CAP ") w",
                          1, params, "counting dead letters", &st, err, errlen);
    if (st == CX_OK)
        *waiting = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    pthread_mutex_unlock(&r->lock);
    return st;
}

/* The breakdown for the range ending at end: the one read for the same end in
 * the last 10 s, else read now. Called with r->lock held. A failure (such as
 * a statement timeout on a huge hour) leaves the page its signals: the
 * breakdown becomes {"error": ...}, kept for 10 s like an answer, and a new
 * reason is logged once. */
static char *where_json(cx_pg_reader *r, const char *w, const char *end)
{
    int64_t now = cx_now_mono_us();
    if (r->where != NULL && strcmp(r->where_end, end) == 0 && now - r->where_us < WHERE_REUSE_US)
        return strdup(r->where);
    char rows[16], err[256];
    snprintf(rows, sizeof rows, "%d", WHERE_ROWS);
    const char *params[] = {w, rows, end};
    cx_status st;
    PGresult *res =
        query(r, where_sql, 3, params, "reading where this hour hurts", &st, err, sizeof err);
    free(r->where);
    r->where = strdup(st == CX_OK ? PQgetvalue(res, 0, 0) : "{\"error\": \"not available now\"}");
    PQclear(res);
    if (st != CX_OK && strcmp(err, r->where_error) != 0)
        cx_log(CX_LOG_WARN, "http", "live page: %s (the signals are shown without it)", err);
    snprintf(r->where_error, sizeof r->where_error, "%s", st == CX_OK ? "" : err);
    snprintf(r->where_end, sizeof r->where_end, "%s", end);
    r->where_us = now;
    return r->where != NULL ? strdup(r->where) : NULL;
}

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
    if (st == CX_OK) {
        char *where = where_json(r, w, PQgetvalue(res, 0, 1));
        /* signals' object, less its closing brace, then the breakdown */
        const char *sig = PQgetvalue(res, 0, 0);
        size_t n = strlen(sig);
        size_t cap = n + (where ? strlen(where) : 0) + 16;
        if (where != NULL && n > 0 && sig[n - 1] == '}' && (*json = malloc(cap)) != NULL)
            snprintf(*json, cap, "%.*s, \"where\" : %s}", (int)(n - 1), sig, where);
        else
            st = cx_errf(err, errlen, CX_ERR_NOMEM, "reading live signals: out of memory");
        free(where);
    }
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
    free(r->where);
    free(r->conninfo);
    free(r);
}
