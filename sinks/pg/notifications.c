/*
 * notifications.c - the outbox of ticket transitions (cx.notifications, written
 * by a trigger on cx.tickets in the transaction of each transition): claiming
 * rows for delivery one at a time under FOR UPDATE SKIP LOCKED, recording the
 * outcome, the counts behind /metrics, and the `notifications` command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_outbox.h"
#include "pg_int.h"

struct cx_pg_outbox {
    char *conninfo;
    PGconn *conn;
    int in_tx;   /* a claimed row or a receiver lock holds a transaction open */
    int idle_ms; /* the session's idle_in_transaction_session_timeout; 0: the server's */
};

/* A timestamp of the ticket's JSON, as CX__PG_UTC_ISO shows it (null when it has none). */
#define TICKET_TIME(key) "'" key "', " CX__PG_UTC_ISO("(n.ticket->>'" key "')::timestamptz")

/* The columns a claimed or listed row shows; timestamps in UTC. */
/* clang-format off */
#define NOTIFICATION_COLUMNS                                                                  \
    "n.id, n.ticket_id, n.seq, n.transition, n.status, n.attempts,"                          \
    " " CX__PG_UTC_ISO("n.created_at") " AS created_at,"                                     \
    " " CX__PG_UTC_ISO("n.sent_at") " AS sent_at,"                                           \
    " " CX__PG_UTC_ISO("n.next_attempt_at") " AS next_attempt_at,"                           \
    " n.last_error, n.deliveries::json AS deliveries,"                                       \
    " extract(epoch FROM n.quiet_before)::bigint AS quiet_seconds,"                           \
    " (n.ticket || jsonb_build_object(" TICKET_TIME("opened_at") ","                         \
    "  " TICKET_TIME("updated_at") ", " TICKET_TIME("resolved_at") ","                       \
    "  " TICKET_TIME("window_start") ", " TICKET_TIME("window_end") ","                       \
    "  " TICKET_TIME("fired_event_at") "))::json AS ticket"
/* clang-format on */

cx_status cx_pg_outbox_new(cx_pg_outbox **out, const char *conninfo, int idle_ms, char *err,
                           size_t errlen)
{
    cx_pg_outbox *o = calloc(1, sizeof *o);
    if (o == NULL || (o->conninfo = strdup(conninfo ? conninfo : "")) == NULL) {
        free(o);
        return cx_errf(err, errlen, CX_ERR_NOMEM, "notification outbox: out of memory");
    }
    o->idle_ms = idle_ms > 0 ? idle_ms : 0;
    *out = o;
    return CX_OK;
}

void cx_pg_outbox_free(cx_pg_outbox *o)
{
    if (o == NULL)
        return;
    PQfinish(o->conn);
    free(o->conninfo);
    free(o);
}

void cx_pg_outbox_rollback(cx_pg_outbox *o)
{
    if (o != NULL && o->in_tx && o->conn != NULL && PQstatus(o->conn) == CONNECTION_OK)
        PQclear(PQexec(o->conn, "ROLLBACK"));
    if (o != NULL)
        o->in_tx = 0;
}

/* Runs sql on a (re)connected session; a lost connection is dropped, so the next
 * call reconnects (and whatever transaction it held is gone). */
static PGresult *run(cx_pg_outbox *o, const char *sql, int n, const char *const *params,
                     const char *what, cx_status *st, char *err, size_t errlen)
{
    if (o->conn == NULL || PQstatus(o->conn) != CONNECTION_OK) {
        PQfinish(o->conn);
        o->conn = NULL;
        o->in_tx = 0;
        if ((*st = cx__pg_connect(o->conninfo, &o->conn, err, errlen)) != CX_OK)
            return NULL;
        if (o->idle_ms > 0) {
            char ms[24];
            snprintf(ms, sizeof ms, "%d", o->idle_ms);
            const char *p[] = {ms};
            if ((*st = cx__pg_exec_params(
                     o->conn, "SELECT set_config('idle_in_transaction_session_timeout', $1, false)",
                     1, p, "configuring the session", err, errlen)) != CX_OK) {
                PQfinish(o->conn);
                o->conn = NULL;
                return NULL;
            }
        }
    }
    PGresult *res = PQexecParams(o->conn, sql, n, NULL, params, NULL, NULL, 0);
    *st = cx__pg_check(o->conn, res, what, err, errlen);
    if (*st != CX_OK) {
        PQclear(res);
        cx_pg_outbox_rollback(o);
        return NULL;
    }
    return res;
}

static cx_status exec(cx_pg_outbox *o, const char *sql, int n, const char *const *params,
                      const char *what, char *err, size_t errlen)
{
    cx_status st;
    PQclear(run(o, sql, n, params, what, &st, err, errlen));
    return st;
}

/* SQL, of a row a of cx.notifications: an update no receiver was posted yet
 * (what alerts.update_seconds holds back, and migration 22 merges into), and
 * when its hold of $1 seconds ends: that long after its ticket's last row
 * sent (NULL when none was sent). */
/* clang-format off */
#define UPDATE_NOT_POSTED(a) \
    a ".transition = 'updated' AND " a ".attempts = 0 AND " a ".deliveries = '{}'"
#define HOLD_ENDS(a) \
    "(SELECT p.sent_at FROM cx.notifications p WHERE p.ticket_id = " a ".ticket_id" \
    " AND p.seq < " a ".seq AND p.status = 'sent' ORDER BY p.seq DESC LIMIT 1)" \
    " + make_interval(secs => $1::int)"
/* The claim's hold statement and its claim (cx_pg_outbox_claim). */
#define HOLD_SQL \
    "UPDATE cx.notifications n SET next_attempt_at = h.until" \
    " FROM (SELECT d.id, " HOLD_ENDS("d") " AS until" \
    "  FROM cx.notifications d WHERE d.status = 'pending' AND NOT d.waiting" \
    "  AND d.next_attempt_at <= now() AND " UPDATE_NOT_POSTED("d") \
    "  AND pg_try_advisory_xact_lock(72428371, (d.ticket_id & 2147483647)::int)" \
    "  FOR UPDATE OF d SKIP LOCKED) h" \
    " WHERE n.id = h.id AND h.until > now()"
#define CLAIM_SQL \
    "SELECT " NOTIFICATION_COLUMNS "," \
    /* the receivers that took a later transition of the ticket: told \
       "opened" after "resolved", an Alertmanager would page again (a retry \
       queued while the later one was being posted could not see it) */ \
    " (SELECT coalesce(json_agg(DISTINCT d.k), '[]') FROM cx.notifications l," \
    "  jsonb_each(l.deliveries) AS d(k, v) WHERE l.ticket_id = n.ticket_id" \
    "  AND l.seq > n.seq AND d.v->>'status' = 'sent') AS later_sent" \
    " FROM cx.notifications n" \
    " WHERE n.status = 'pending' AND NOT n.waiting" \
    " AND n.next_attempt_at <= now()" \
    " AND NOT EXISTS (SELECT 1 FROM cx.notifications p" \
    "  WHERE p.ticket_id = n.ticket_id AND p.status = 'pending'" \
    "  AND p.seq < n.seq)" \
    /* an update never posted, within $1 s of its ticket's last row sent, \
       is not due whatever its next_attempt_at */ \
    " AND NOT ($1::int > 0 AND " UPDATE_NOT_POSTED("n") \
    "  AND coalesce(" HOLD_ENDS("n") " > now(), false))" \
    " ORDER BY n.next_attempt_at, n.id LIMIT 1 FOR UPDATE OF n SKIP LOCKED"
/* clang-format on */

cx_status cx_pg_outbox_claim(cx_pg_outbox *o, int update_seconds, json_t **row, char *err,
                             size_t errlen)
{
    *row = NULL;
    cx_pg_outbox_rollback(o);
    cx_status st;
    char secs[16];
    snprintf(secs, sizeof secs, "%d", update_seconds > 0 ? update_seconds : 0);
    const char *params[] = {secs};
    if (update_seconds > 0) {
        /* Updates due that the claim below leaves (NOT ... HOLD_ENDS) are put off
         * until their hold ends, so that they leave the index it reads, in a
         * statement of their own: a held row stays unlocked, so the ticket's
         * next firings bring it up to date and its next transition supersedes
         * it (migration 22). Under the ticket's lock, which that trigger takes
         * first (a row locked here meanwhile would be skipped by it); a ticket
         * whose lock is busy is put off at the next claim. */
        st = exec(o, HOLD_SQL, 1, params, "holding back ticket updates", err, errlen);
        if (st != CX_OK)
            return st;
    }
    st = exec(o, "BEGIN", 0, NULL, "claiming a notification", err, errlen);
    if (st != CX_OK)
        return st;
    o->in_tx = 1;
    /* The row due first whose ticket has no older row still pending (in order per
     * ticket); a row another sender holds is skipped, and so is, through the
     * NOT EXISTS, every later row of its ticket. Due first, not oldest: the
     * rows of a receiver that hangs come due again and again, each later than
     * the last (the backoff), and would otherwise go before every new row.
     * Rows marked waiting (behind an earlier pending row of their ticket,
     * migration 11) are not in notifications_ready_idx: a claim reads the
     * first pending row of each ticket that is due, not the rows behind them. */
    PGresult *r = run(o, CLAIM_SQL, 1, params, "claiming a notification", &st, err, errlen);
    if (r == NULL)
        return st;
    if (PQntuples(r) == 1) {
        *row = cx__pg_row_json(r, 0);
        if (*row == NULL)
            st = cx_errf(err, errlen, CX_ERR_NOMEM, "claiming a notification: out of memory");
    }
    PQclear(r);
    if (*row == NULL)
        cx_pg_outbox_rollback(o);
    return st;
}

cx_status cx_pg_outbox_finish(cx_pg_outbox *o, long long id, const char *status,
                              const json_t *deliveries, int retry_ms, const char *last_error,
                              char *err, size_t errlen)
{
    if (!o->in_tx)
        return cx_errf(err, errlen, CX_ERR_TRANSIENT,
                       "recording notification %lld: its claim was lost", id);
    char id_s[32], retry_s[32];
    snprintf(id_s, sizeof id_s, "%lld", id);
    snprintf(retry_s, sizeof retry_s, "%d", retry_ms);
    char *d = json_dumps(deliveries, JSON_COMPACT);
    if (d == NULL) {
        cx_pg_outbox_rollback(o);
        return cx_errf(err, errlen, CX_ERR_NOMEM, "recording notification %lld: out of memory",
                       id);
    }
    const char *params[] = {id_s, status, d, retry_s, last_error};
    cx_status st = exec(o,
                        "UPDATE cx.notifications SET status = $2, deliveries = $3::jsonb,"
                        " attempts = attempts + 1, last_error = $5,"
                        /* the posts took a while since the claim began
                           its transaction, now(): the clock's time */
                        " sent_at = CASE WHEN $2 <> 'pending' THEN clock_timestamp() END,"
                        " next_attempt_at = clock_timestamp()"
                        "  + make_interval(secs => $4::int / 1000.0)"
                        " WHERE id = $1",
                        5, params, "recording a notification", err, errlen);
    free(d);
    if (st == CX_OK)
        st = exec(o, "COMMIT", 0, NULL, "recording a notification", err, errlen);
    o->in_tx = 0;
    return st;
}

cx_status cx_pg_outbox_firing(cx_pg_outbox *o, const char *lock_name, json_t **tickets,
                              char *err, size_t errlen)
{
    *tickets = NULL;
    cx_pg_outbox_rollback(o);
    cx_status st = exec(o, "BEGIN", 0, NULL, "reading unresolved tickets", err, errlen);
    if (st != CX_OK)
        return st;
    o->in_tx = 1;
    const char *params[] = {lock_name};
    int got = 0;
    if ((st = cx_pg_outbox_lock(o, lock_name, &got, err, errlen)) != CX_OK || !got)
        return st; /* another sender is posting to it: nothing to re-post now */
    /* Per unresolved ticket, the latest transition this receiver was sent: a
     * later one still pending (for another receiver, say) is posted by its own
     * delivery, in order; meanwhile the alert this receiver has must not lapse. */
    PGresult *r = run(o,
                      "SELECT " NOTIFICATION_COLUMNS " FROM cx.tickets t"
                      " CROSS JOIN LATERAL (SELECT * FROM cx.notifications l"
                      "  WHERE l.ticket_id = t.ticket_id"
                      "  AND l.deliveries -> $1 ->> 'status' = 'sent'"
                      "  ORDER BY l.seq DESC LIMIT 1) n"
                      " WHERE t.status <> 'resolved' AND n.transition <> 'resolved'"
                      " ORDER BY t.ticket_id",
                      1, params, "reading unresolved tickets", &st, err, errlen);
    if (r == NULL)
        return st;
    if ((*tickets = cx__pg_rows_json(r)) == NULL)
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "reading unresolved tickets: out of memory");
    PQclear(r);
    return st;
}

cx_status cx_pg_outbox_lock(cx_pg_outbox *o, const char *lock_name, int *got, char *err,
                            size_t errlen)
{
    *got = 0;
    if (!o->in_tx)
        return cx_errf(err, errlen, CX_ERR_TRANSIENT, "locking a receiver: no claim is held");
    const char *params[] = {lock_name};
    cx_status st;
    PGresult *r = run(o, "SELECT pg_try_advisory_xact_lock(72428370, hashtext($1))", 1, params,
                      "locking a receiver", &st, err, errlen);
    if (r == NULL)
        return st;
    *got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return CX_OK;
}

cx_status cx_pg_outbox_stats(cx_pg_outbox *o, cx_pg_outbox_counts *c, char *err, size_t errlen)
{
    cx_status st;
    memset(c, 0, sizeof *c);
    if (o->in_tx)
        return cx_errf(err, errlen, CX_ERR_USAGE, "counting notifications: a claim is held");
    /* Through the partial indexes: settled rows, however many, are not read.
     * A row never tried has waited since it was due: since it was written
     * (a merge into it keeps that), or, held back by alerts.update_seconds,
     * since its hold ended. */
    PGresult *r = run(o,
                      "SELECT count(*), greatest(coalesce(extract(epoch FROM now() - min(CASE"
                      " WHEN attempts = 0 THEN next_attempt_at ELSE created_at END)), 0), 0),"
                      " (SELECT count(*) FROM (SELECT FROM cx.notifications"
                      " WHERE status = 'failed' LIMIT " CX__PG_COUNT_CAP ") f)"
                      " FROM cx.notifications WHERE status = 'pending'",
                      0, NULL, "counting notifications", &st, err, errlen);
    if (r == NULL)
        return st;
    c->pending = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    c->oldest_pending_seconds = strtod(PQgetvalue(r, 0, 1), NULL);
    c->failed = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    PQclear(r);
    return CX_OK;
}

/* The notifications a list shows: status ($1, NULL: any) and ticket ($2, NULL: any). */
#define NOTIFICATION_FILTER                                                                        \
    " WHERE ($1::text IS NULL OR n.status = $1) AND ($2::bigint IS NULL OR n.ticket_id = $2)"

cx_status cx_pg_notifications_list(const char *conninfo, const char *status, long long ticket_id,
                                   int limit, json_t **out, long long *total, char *err,
                                   size_t errlen)
{
    PGconn *conn;
    *out = NULL;
    *total = 0;
    cx_status st = cx__pg_connect_schema(conninfo, &conn, err, errlen);
    if (st != CX_OK)
        return st;
    char ticket_s[32];
    snprintf(ticket_s, sizeof ticket_s, "%lld", ticket_id);
    const char *params[] = {status, ticket_id > 0 ? ticket_s : NULL};
    st = cx__pg_list(conn,
                     "SELECT " NOTIFICATION_COLUMNS " FROM cx.notifications n" NOTIFICATION_FILTER
                     " ORDER BY n.id DESC LIMIT $3::int",
                     "SELECT count(*) FROM cx.notifications n" NOTIFICATION_FILTER, 2, params,
                     limit, "listing notifications", out, total, err, errlen);
    PQfinish(conn);
    return st;
}

cx_status cx_pg_notifications_retry(const char *conninfo, long long id, long long *n,
                                    long long *superseded, char *err, size_t errlen)
{
    PGconn *conn;
    *n = *superseded = 0;
    cx_status st = cx__pg_connect_schema(conninfo, &conn, err, errlen);
    if (st != CX_OK)
        return st;
    char id_s[32];
    snprintf(id_s, sizeof id_s, "%lld", id);
    const char *params[] = {id > 0 ? id_s : NULL};
    PGresult *r;
    st = cx__pg_exec(conn, "BEGIN", "retrying notifications", err, errlen);
    /* an update no receiver took, which a later transition of its ticket has
     * made needless: not sent again (a receiver that took it is not told it
     * was superseded). An update after a longer quiet than any later one is
     * news the later ones do not carry (chat posts only an update after
     * alerts.chat_quiet_minutes): it is sent again. */
    if (st == CX_OK && id <= 0) {
        r = PQexec(conn, "UPDATE cx.notifications n SET status = 'superseded', sent_at = now()"
                         " WHERE status = 'failed' AND transition = 'updated'"
                         " AND NOT EXISTS (SELECT 1 FROM jsonb_each(n.deliveries) AS d(k, v)"
                         "  WHERE v->>'status' = 'sent')"
                         " AND EXISTS (SELECT 1 FROM cx.notifications l"
                         "  WHERE l.ticket_id = n.ticket_id AND l.seq > n.seq"
                         "  AND (l.transition <> 'updated' OR coalesce(l.quiet_before, '0')"
                         "   >= coalesce(n.quiet_before, '0')))");
        st = cx__pg_check(conn, r, "retrying notifications", err, errlen);
        if (st == CX_OK)
            *superseded = strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
    }
    if (st != CX_OK) {
        PQfinish(conn); /* rolled back */
        return st;
    }
    /* Receivers that failed are tried again, and say so until then (with the
     * answer they had given); those that took the row are not, nor those that
     * have since taken a later transition of its ticket (told "opened" after
     * "resolved", an Alertmanager would page again). */
    r = PQexecParams(
        conn,
        "UPDATE cx.notifications n SET status = 'pending', next_attempt_at = now(),"
        " attempts = 0, sent_at = NULL,"
        " deliveries = coalesce((SELECT jsonb_object_agg(k, CASE"
        "  WHEN v->>'status' IN ('sent', 'skipped') THEN v"
        "  ELSE jsonb_build_object('status', CASE WHEN later THEN 'skipped' ELSE 'pending' END,"
        "  'attempts', v->'attempts', 'answer', CASE WHEN later"
        "   THEN 'a later transition was delivered to it'"
        "   ELSE 'queued again by notifications retry; it had answered: '"
        "   || coalesce(v->>'answer', '-') END,"
        "  'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) END)"
        "  FROM jsonb_each(n.deliveries) AS d(k, v), LATERAL (SELECT EXISTS (SELECT 1"
        "  FROM cx.notifications l WHERE l.ticket_id = n.ticket_id AND l.seq > n.seq"
        "  AND l.deliveries->k->>'status' = 'sent') AS later) x), '{}')"
        " WHERE status = 'failed' AND ($1::bigint IS NULL OR id = $1)"
        " RETURNING EXISTS (SELECT 1 FROM jsonb_each(n.deliveries) AS d(k, v)"
        "  WHERE v->>'status' = 'pending') OR n.deliveries = '{}'",
        1, NULL, params, NULL, NULL, 0);
    st = cx__pg_check(conn, r, "retrying notifications", err, errlen);
    int rows = st == CX_OK ? PQntuples(r) : 0;
    for (int i = 0; i < rows; i++)
        *n += PQgetvalue(r, i, 0)[0] == 't';
    PQclear(r);
    if (st == CX_OK && id > 0 && rows == 0) {
        r = PQexecParams(conn, "SELECT status FROM cx.notifications WHERE id = $1", 1, NULL,
                         params, NULL, NULL, 0);
        st = cx__pg_check(conn, r, "retrying notifications", err, errlen);
        if (st == CX_OK && PQntuples(r) == 0)
            st = cx_errf(err, errlen, CX_ERR_NOTFOUND, "no notification %lld", id);
        else if (st == CX_OK)
            st = cx_errf(err, errlen, CX_ERR_USAGE,
                         "notification %lld is %s: only failed ones are retried", id,
                         PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    if (st == CX_OK)
        st = cx__pg_exec(conn, "COMMIT", "retrying notifications", err, errlen);
    PQfinish(conn); /* without COMMIT: rolled back */
    return st;
}
