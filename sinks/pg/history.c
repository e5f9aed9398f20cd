/*
 * history.c - changing what is stored: reclassifying events with newer rules
 * (tags, primary category, sentiment and rule version, with cx.signals
 * corrected by the difference in the same transaction), and reading and
 * marking dead letters for inspection and replay (pg_history.h).
 *
 * Reclassification and `cxpulse run` may write at the same time: run only
 * adds new events, reclassify only changes existing ones (locked FOR UPDATE),
 * and both change signals by increments under row locks taken in the same
 * key order, so no count is lost or doubled.
 *
 * Reclassification keeps four things busy at once: a reader connection reads
 * the next page of payloads (no locks) while the caller classifies this one,
 * and two writer connections, taking pages in turn, are still writing the two
 * before it (one writer made the server's part of a page the bottleneck:
 * reclassify ran at 0.6-0.7 of ingest). Writing a page locks its rows and reads
 * their stored verdicts (the ones the signals are corrected from), stages the
 * new ones, and sends the signal correction, the UPDATE and the COMMIT as one
 * query without waiting for it. Pages are independent (disjoint key ranges,
 * each its own transaction), so their commits may land in either order; the
 * signal corrections of two writers take row locks in the same key order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_history.h"
#include "pg_int.h"

#define WRITERS 2

struct cx_pg_history {
    PGconn *conn; /* dead letters, counts, the rule set; reclassification's first writer */
    cx__pg_signals *minus, *plus; /* a batch's old and new contributions to cx.signals */
    char *version;
    char *conninfo;
    /* reclassification: the page reader's connection, and the page asked for */
    PGconn *reader;
    int reading;
    /* the page in hand (cx_pg_reclassify_next): payloads, then its locked rows */
    PGresult *batch, *locked;
    char last_at[64]; /* the key of the page's last event, for the next one */
    char *last_id;
    char from_at[64]; /* the key of the previous page's last event ("": none) */
    char *from_id;
    /* reclassification's writers (conn, then a second one) and which writes
     * were sent and not yet answered; pages go to them in turn */
    PGconn *writer2;
    int writing[WRITERS];
    cx_pg_reclassified sent[WRITERS]; /* what each write in flight changes */
    cx_pg_reclassified stored;        /* what the committed writes changed */
    int turn;
    char *write_sql, *write_sql_signals, *write_sql_grouped;
    char *windows; /* the window sizes given, as an int[] literal */
    char *compact; /* a payload read back without jsonb's spaces (cx_pg_reclassify_payload) */
    size_t compact_cap;
};

/* Time bounds given as a bare date or without an offset are UTC, as the
 * commands check them, and page keys (occurred_at::text) read back the same
 * instant, whatever the database's time zone and date style. */
#define SESSION_TIME "SET TimeZone = 'UTC'; SET DateStyle = 'ISO';"

/* Connects a writer: its session settings and staging tables. */
static cx_status connect_writer(const char *conninfo, PGconn **conn, char *err, size_t errlen)
{
    cx_status st = cx__pg_connect_schema(conninfo, conn, err, errlen);
    if (st == CX_OK)
        st = cx__pg_exec(
            *conn,
            "SET client_min_messages = warning; SET jit = off; " SESSION_TIME
            "CREATE TEMP TABLE IF NOT EXISTS cx_re_events (row tid, sentiment text,"
            " primary_category text, categories text[], confidences real[],"
            " evidence jsonb, sentiment_from text) ON COMMIT DELETE ROWS;"
            "CREATE TEMP TABLE IF NOT EXISTS cx_re_empty (row tid) ON COMMIT DELETE ROWS",
            "preparing the session", err, errlen);
    if (st == CX_OK)
        st = cx__pg_exec(*conn, cx__pg_signals_stage_sql, "preparing the session", err, errlen);
    return st;
}

cx_status cx_pg_history_new(cx_pg_history **out, const char *conninfo,
                            const int *window_seconds, size_t n_windows, char *err,
                            size_t errlen)
{
    cx_pg_history *h = calloc(1, sizeof *h);
    *out = NULL;
    if (h == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
    cx_status st = cx__pg_signals_new(&h->minus, window_seconds, n_windows, err, errlen);
    if (st == CX_OK)
        st = cx__pg_signals_new(&h->plus, window_seconds, n_windows, err, errlen);
    if (st == CX_OK && (h->conninfo = strdup(conninfo ? conninfo : "")) == NULL)
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
    if (st == CX_OK) {
        cx_buf b = {0};
        cx_buf_put(&b, "{", 1);
        for (size_t i = 0; i < n_windows; i++)
            cx_buf_printf(&b, "%s%d", i ? "," : "", window_seconds[i]);
        if (n_windows == 0)
            cx_buf_put(&b, "60", 2); /* as cx__pg_signals_new() */
        cx_buf_put(&b, "}", 2);
        h->windows = b.data;
        if (b.failed)
            st = cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
    }
    if (st == CX_OK)
        st = connect_writer(conninfo, &h->conn, err, errlen);
    if (st != CX_OK) {
        cx_pg_history_free(h);
        return st;
    }
    *out = h;
    return CX_OK;
}

cx_status cx_pg_history_check_windows(cx_pg_history *h, char *err, size_t errlen)
{
    const char *params[] = {h->windows};
    PGresult *r = PQexecParams(h->conn,
                               "WITH held AS (SELECT DISTINCT window_seconds AS w FROM cx.signals),"
                               " given AS (SELECT DISTINCT unnest($1::int[]) AS w)"
                               " SELECT (SELECT string_agg(w || ' s', ', ' ORDER BY w) FROM held),"
                               " (SELECT string_agg(w || ' s', ', ' ORDER BY w) FROM given),"
                               " (SELECT string_agg(w || ' s', ', ' ORDER BY w) FROM held"
                               "  WHERE w NOT IN (SELECT w FROM given))",
                               1, NULL, params, NULL, NULL, 0);
    cx_status st = cx__pg_check(h->conn, r, "reading the window sizes of cx.signals", err, errlen);
    if (st == CX_OK && !PQgetisnull(r, 0, 2))
        st = cx_errf(err, errlen, CX_ERR_CONFIG,
                     "cx.signals holds windows of %s; this command's signals.window_seconds is "
                     "%s, without %s: give it the service's configuration (--config), or those "
                     "windows would no longer equal the events",
                     PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
    PQclear(r);
    return st;
}

/* ---- Reclassification ------------------------------------------------------ */

static cx_status prepare_writes(cx_pg_history *h, char *err, size_t errlen);

cx_status cx_pg_reclassify_begin(cx_pg_history *h, const char *version, const char *rules_json,
                                 char *err, size_t errlen)
{
    free(h->version);
    if ((h->version = strdup(version)) == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
    h->last_at[0] = '\0';
    h->from_at[0] = '\0';
    cx_status st = prepare_writes(h, err, errlen);
    if (st != CX_OK)
        return st;
    if (h->reader == NULL) {
        if ((st = cx__pg_connect(h->conninfo, &h->reader, err, errlen)) != CX_OK)
            return st;
        if ((st = cx__pg_exec(h->reader,
                              "SET client_min_messages = warning; SET jit = off; " SESSION_TIME,
                              "preparing the session", err, errlen)) != CX_OK)
            return st;
    }
    if (h->writer2 == NULL && (st = connect_writer(h->conninfo, &h->writer2, err, errlen)) != CX_OK)
        return st;
    const char *params[] = {version, rules_json};
    PGresult *r = PQexecParams(h->conn,
                               "INSERT INTO cx.rule_sets (version, rules) VALUES ($1, $2::jsonb)"
                               " ON CONFLICT (version) DO NOTHING",
                               2, NULL, params, NULL, NULL, 0);
    st = cx__pg_check(h->conn, r, "recording the rule set", err, errlen);
    PQclear(r);
    return st;
}

cx_status cx_pg_reclassify_count(cx_pg_history *h, const char *since, const char *until,
                                 long long *todo, char *err, size_t errlen)
{
    const char *params[] = {since, until, h->version};
    *todo = 0;
    return cx__pg_scalar(h->conn,
                         "SELECT count(*) FROM cx.events WHERE ($1::timestamptz IS NULL"
                         " OR occurred_at >= $1) AND ($2::timestamptz IS NULL OR"
                         " occurred_at < $2) AND rule_version IS DISTINCT FROM $3",
                         3, params, "counting events", todo, err, errlen);
}

/* A jsonb number whose text (plain decimal) would take more than about 40
 * digits: an older build stored such payloads, and 1e-16000 prints as 16 KB. */
#define EXPANDING_NUMBER                                                                      \
    "'strict $.** ? (@.type() == \"number\" && @ != 0"                                       \
    " && (@.abs() >= 1e40 || @.abs() < 1e-40))'"

/* A page of events not on the version after the key of the last page read,
 * in (occurred_at, event_id) order: their payloads (NULL when a number would
 * expand) and keys. No locks: the rows are locked when the page is written.
 * The key is also bounded on occurred_at alone, for the planner (see LOCK_SQL). */
#define PAGE_SQL                                                                              \
    "SELECT event_id, CASE WHEN jsonb_path_exists(payload, " EXPANDING_NUMBER ")"             \
    " THEN NULL ELSE payload::text END, occurred_at::text AS last_at FROM cx.events"         \
    " WHERE ($1::timestamptz IS NULL OR occurred_at >= $1)"                                  \
    " AND ($2::timestamptz IS NULL OR occurred_at < $2)"                                     \
    " AND ($4::timestamptz IS NULL OR (occurred_at, event_id) > ($4::timestamptz, $5))"      \
    " AND ($4::timestamptz IS NULL OR occurred_at >= $4)"                                    \
    " AND rule_version IS DISTINCT FROM $3"                                                  \
    " ORDER BY occurred_at, event_id LIMIT $6::int"

/* Asks the reader for the page after the last one read. */
static cx_status send_page(cx_pg_history *h, const char *since, const char *until, int limit,
                           char *err, size_t errlen)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *params[] = {since, until, h->version, h->last_at[0] ? h->last_at : NULL,
                            h->last_id, lim};
    if (!PQsendQueryParams(h->reader, PAGE_SQL, 6, NULL, params, NULL, NULL, 0))
        return cx__pg_check(h->reader, NULL, "reading events", err, errlen);
    h->reading = 1;
    return CX_OK;
}

/* Reads every result of the query sent on conn; the first error counts. */
static cx_status drain(PGconn *conn, PGresult **keep, const char *what, char *err,
                       size_t errlen)
{
    cx_status st = CX_OK;
    PGresult *r;
    while ((r = PQgetResult(conn)) != NULL) {
        cx_status s = cx__pg_check(conn, r, what, err, errlen);
        if (st == CX_OK)
            st = s;
        if (keep != NULL && *keep == NULL && s == CX_OK)
            *keep = r;
        else
            PQclear(r);
    }
    if (st == CX_OK && PQstatus(conn) != CONNECTION_OK)
        st = cx__pg_check(conn, NULL, what, err, errlen);
    return st;
}

static PGconn *writer(const cx_pg_history *h, int k)
{
    return k == 0 ? h->conn : h->writer2;
}

/* Waits for writer k's page (signals, UPDATE, COMMIT), if one was sent. */
static cx_status wait_write(cx_pg_history *h, int k, char *err, size_t errlen)
{
    if (!h->writing[k])
        return CX_OK;
    h->writing[k] = 0;
    cx_status st = drain(writer(h, k), NULL, "writing a batch", err, errlen);
    if (st != CX_OK)
        PQclear(PQexec(writer(h, k), "ROLLBACK"));
    else {
        h->stored.retagged += h->sent[k].retagged;
        h->stored.categories += h->sent[k].categories;
        h->stored.primary += h->sent[k].primary;
        h->stored.sentiment += h->sent[k].sentiment;
    }
    memset(&h->sent[k], 0, sizeof h->sent[k]);
    return st;
}

/* Waits for every page sent; the first error's status, with the messages of
 * all that failed in err (each failed page is rolled back). */
static cx_status wait_writes(cx_pg_history *h, char *err, size_t errlen)
{
    cx_status st = CX_OK;
    for (int k = 0; k < WRITERS; k++) {
        char later[512];
        cx_status s = st == CX_OK ? wait_write(h, k, err, errlen)
                                  : wait_write(h, k, later, sizeof later);
        if (st == CX_OK)
            st = s;
        else if (s != CX_OK && errlen > 0) {
            size_t used = strlen(err);
            snprintf(err + used, errlen - used, "; and another batch: %s", later);
        }
    }
    return st;
}

cx_status cx_pg_reclassify_next(cx_pg_history *h, const char *since, const char *until,
                                int limit, size_t *n, char *err, size_t errlen)
{
    PQclear(h->batch);
    h->batch = NULL;
    *n = 0;
    cx_status st = h->reading ? CX_OK : send_page(h, since, until, limit, err, errlen);
    if (st == CX_OK) {
        h->reading = 0;
        st = drain(h->reader, &h->batch, "reading events", err, errlen);
    }
    if (st == CX_OK && h->batch == NULL)
        st = cx_errf(err, errlen, CX_ERR_TRANSIENT, "reading events: no answer");
    if (st != CX_OK) {
        PQclear(h->batch);
        h->batch = NULL;
        return st;
    }
    *n = (size_t)PQntuples(h->batch);
    if (*n == 0)
        return wait_writes(h, err, errlen);
    /* this page goes from the last one's key to its own */
    snprintf(h->from_at, sizeof h->from_at, "%s", h->last_at);
    free(h->from_id);
    h->from_id = h->last_id;
    snprintf(h->last_at, sizeof h->last_at, "%s", PQgetvalue(h->batch, (int)*n - 1, 2));
    if ((h->last_id = strdup(PQgetvalue(h->batch, (int)*n - 1, 0))) == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
    /* the next page is read while this one is classified and the last one written */
    return send_page(h, since, until, limit, err, errlen);
}

const char *cx_pg_reclassify_payload(cx_pg_history *h, size_t i, size_t *len, const char **event_id)
{
    *event_id = PQgetvalue(h->batch, (int)i, 0);
    if (PQgetisnull(h->batch, (int)i, 1)) {
        *len = 0;
        return NULL;
    }
    const char *s = PQgetvalue(h->batch, (int)i, 1);
    size_t n = *len = (size_t)PQgetlength(h->batch, (int)i, 1);
    /* PostgreSQL prints jsonb with a space after each ',' and ':', so a
     * message stored near the size limit reads back up to half as long again:
     * beyond it, the spaces outside strings are dropped (no meaning is lost). */
    if (n <= CX_EVENT_MAX_BYTES)
        return s;
    if (h->compact_cap < n) {
        char *p = realloc(h->compact, n);
        if (p == NULL)
            return s; /* then refused as too large, and said so */
        h->compact = p;
        h->compact_cap = n;
    }
    size_t m = 0;
    int in_string = 0;
    for (size_t k = 0; k < n; k++) {
        if (s[k] == ' ' && !in_string)
            continue;
        h->compact[m++] = s[k];
        if (in_string && s[k] == '\\' && k + 1 < n)
            h->compact[m++] = s[++k];
        else if (s[k] == '"')
            in_string = !in_string;
    }
    *len = m;
    return h->compact;
}

/* The page's rows as locked for writing: those still not on the version in
 * the page's key range, with what they add to cx.signals now. The range is
 * also given on occurred_at alone: PostgreSQL estimates two row comparisons
 * as a third of the table, and at a million events chose a sequential scan
 * and a sort for every page (79 us per event instead of 7). */
#define LOCK_SQL                                                                              \
    "SELECT event_id, ctid, (extract(epoch FROM occurred_at) * 1000000)::bigint, channel,"   \
    " rating_scale, rating_value::text, sentiment, primary_category, categories"             \
    " FROM cx.events"                                                                        \
    " WHERE ($1::timestamptz IS NULL OR occurred_at >= $1)"                                  \
    " AND ($2::timestamptz IS NULL OR occurred_at < $2)"                                     \
    " AND ($4::timestamptz IS NULL OR (occurred_at, event_id) > ($4::timestamptz, $5))"      \
    " AND (occurred_at, event_id) <= ($6::timestamptz, $7)"                                  \
    " AND ($4::timestamptz IS NULL OR occurred_at >= $4) AND occurred_at <= $6"              \
    " AND rule_version IS DISTINCT FROM $3"                                                  \
    " ORDER BY occurred_at, event_id FOR UPDATE"

/* Column i of the locked row. */
static const char *col(const cx_pg_history *h, int row, int i)
{
    return PQgetisnull(h->locked, row, i) ? NULL : PQgetvalue(h->locked, row, i);
}

/* The stored verdict of locked row `row` as an event and tags that add to the
 * signals what it adds now. CX_ERR_INVALID: a value this build does not know. */
static cx_status stored_verdict(const cx_pg_history *h, int row, cx_event *ev, cx_tags *t)
{
    memset(ev, 0, sizeof *ev);
    memset(t, 0, sizeof *t);
    ev->event_id = PQgetvalue(h->locked, row, 0);
    ev->occurred_at_us = strtoll(PQgetvalue(h->locked, row, 2), NULL, 10);
    ev->channel = col(h, row, 3);
    ev->rating_scale = CX_RATING_NONE;
    const char *scale = col(h, row, 4);
    if (scale != NULL) {
        int k;
        for (k = CX_RATING_CSAT; k <= CX_RATING_STARS; k++)
            if (!strcmp(scale, cx_rating_scale_name((cx_rating_scale)k)))
                break;
        if (k > CX_RATING_STARS || col(h, row, 5) == NULL)
            return CX_ERR_INVALID;
        ev->rating_scale = (cx_rating_scale)k;
        ev->rating_value = strtod(col(h, row, 5), NULL);
    }
    const char *sent = PQgetvalue(h->locked, row, 6);
    int k;
    for (k = 0; k < CX_SENT_COUNT; k++)
        if (!strcmp(sent, cx_sentiment_name((cx_sentiment)k)))
            break;
    if (k == CX_SENT_COUNT)
        return CX_ERR_INVALID;
    t->sentiment = (cx_sentiment)k;
    /* categories: a text[] of plain names, e.g. {facing,external} */
    const char *p = PQgetvalue(h->locked, row, 8);
    p += *p == '{';
    while (*p != '\0' && *p != '}' && t->n_assigned < CX_CAT_COUNT) {
        size_t n = strcspn(p, ",}");
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)n, p);
        if (cx_category_from_name(name, &t->order[t->n_assigned]) != CX_OK)
            return CX_ERR_INVALID;
        t->n_assigned++;
        p += n + (p[n] == ',');
    }
    return CX_OK;
}

/* Whether the two verdicts add the same to the signals. */
/* The categories assigned, one bit each. */
static unsigned category_set(const cx_tags *t)
{
    unsigned set = 0;
    for (int i = 0; i < t->n_assigned; i++)
        set |= 1u << t->order[i];
    return set;
}

/* Adds what cx_stage_sig holds to cx.signals with the batch writer's upsert
 * (%s: cx__pg_signals_apply_once_sql when each key is staged once, else
 * cx__pg_signals_apply_sql, which groups by key), one row per key in key order
 * (the lock order of every writer), and deletes the rows the move left
 * without events (found by the upsert itself, by the ctid the row lock keeps
 * until the commit: no scan of cx.signals). A window with no row at all was
 * not kept when its events were stored (a window size configured later, or
 * rows deleted since): its moves are left out, not made into rows of their
 * own (-1 under the old category, +1 under the new). */
#define SIGNALS_CORRECT_SQL                                                                        \
    "DELETE FROM cx_stage_sig s WHERE NOT EXISTS (SELECT 1 FROM cx.signals x"                      \
    " WHERE x.window_start = s.window_start AND x.window_seconds = s.window_seconds);\n"           \
    "WITH up AS (%s RETURNING s.ctid, s.events)\n"                                                 \
    "INSERT INTO cx_re_empty SELECT ctid FROM up WHERE events = 0;\n"                              \
    "DELETE FROM cx.signals WHERE ctid = ANY(ARRAY(SELECT row FROM cx_re_empty))"                  \
    " AND events = 0;\n"
/* The staged verdicts replace the stored ones, rows found by the ctid their
 * lock keeps. %s: the version, a literal. It goes first: the page's events
 * are locked from the start and no writer waits for them, while a writer
 * storing new events waits for any signal row the correction locks, until
 * the COMMIT (a page's UPDATE took 0.36 s of 5,000 rows at 2 million events). */
#define UPDATE_SQL                                                                                 \
    "UPDATE cx.events e SET sentiment = r.sentiment, primary_category = r.primary_category,"       \
    " categories = r.categories, confidences = r.confidences, evidence = r.evidence,"              \
    " sentiment_from = r.sentiment_from,"                                                          \
    " rule_version = %s, tagged_at = now() FROM cx_re_events r WHERE e.ctid = r.row;\n"

/* The queries a page's write sends at once: with the signal correction (one
 * row per key, or grouped), or the UPDATE only. */
static cx_status prepare_writes(cx_pg_history *h, char *err, size_t errlen)
{
    char *lit = PQescapeLiteral(h->conn, h->version, strlen(h->version));
    free(h->write_sql);
    free(h->write_sql_signals);
    free(h->write_sql_grouped);
    h->write_sql = h->write_sql_signals = h->write_sql_grouped = NULL;
    if (lit == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
    size_t nu = strlen(UPDATE_SQL "COMMIT") + strlen(lit);
    size_t ns = strlen(SIGNALS_CORRECT_SQL) + strlen(cx__pg_signals_apply_once_sql) + nu;
    size_t ng = strlen(SIGNALS_CORRECT_SQL) + strlen(cx__pg_signals_apply_sql) + nu;
    h->write_sql = malloc(nu);
    h->write_sql_signals = malloc(ns);
    h->write_sql_grouped = malloc(ng);
    if (h->write_sql != NULL && h->write_sql_signals != NULL && h->write_sql_grouped != NULL) {
        snprintf(h->write_sql, nu, UPDATE_SQL "COMMIT", lit);
        snprintf(h->write_sql_signals, ns, UPDATE_SQL SIGNALS_CORRECT_SQL "COMMIT", lit,
                 cx__pg_signals_apply_once_sql);
        snprintf(h->write_sql_grouped, ng, UPDATE_SQL SIGNALS_CORRECT_SQL "COMMIT", lit,
                 cx__pg_signals_apply_sql);
    }
    PQfreemem(lit);
    if (h->write_sql == NULL || h->write_sql_signals == NULL || h->write_sql_grouped == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
    return CX_OK;
}

/* Locks the page's rows: h->locked. */
static cx_status lock_page(cx_pg_history *h, PGconn *c, const char *since, const char *until,
                           char *err, size_t errlen)
{
    PQclear(h->locked);
    h->locked = NULL;
    cx_status st = cx__pg_exec(c, "BEGIN", "beginning a batch", err, errlen);
    if (st != CX_OK)
        return st;
    const char *params[] = {since, until, h->version, h->from_at[0] ? h->from_at : NULL,
                            h->from_id, h->last_at, h->last_id};
    h->locked = PQexecParams(c, LOCK_SQL, 7, NULL, params, NULL, NULL, 0);
    return cx__pg_check(c, h->locked, "locking events", err, errlen);
}

cx_status cx_pg_reclassify_apply(cx_pg_history *h, const char *since, const char *until,
                                 const cx_event *const *evs, const cx_tags *const *tags, size_t n,
                                 char *err, size_t errlen)
{
    cx_buf ev = {0}, sig = {0};
    /* this page goes to the writer whose last page is the older one */
    int k = h->turn;
    PGconn *c = writer(h, k);
    cx_status st = wait_write(h, k, err, errlen);
    if (st != CX_OK || n == 0)
        return st;
    cx_pg_reclassified *changed = &h->sent[k]; /* counted once it commits */
    h->turn = (k + 1) % WRITERS;
    if ((st = lock_page(h, c, since, until, err, errlen)) != CX_OK) {
        PQclear(PQexec(c, "ROLLBACK"));
        return st;
    }
    cx__pg_signals_reset(h->minus);
    cx__pg_signals_reset(h->plus);
    /* evs are the page's rows in order, less those that were not read; the
     * locked rows are in the same order, less those another run re-tagged
     * since the page was read (left alone), plus any stored since (left for
     * the next run) */
    int row = 0, rows = PQntuples(h->locked);
    for (size_t i = 0; i < n && st == CX_OK; i++) {
        const cx_tags *t = tags[i];
        int found = row;
        while (found < rows && strcmp(PQgetvalue(h->locked, found, 0), evs[i]->event_id) != 0)
            found++;
        if (found == rows)
            continue;
        row = found;
        changed->retagged++;
        cx_event old_ev;
        cx_tags old;
        if (stored_verdict(h, row, &old_ev, &old) != CX_OK) {
            st = cx_errf(err, errlen, CX_ERR_FATAL,
                         "reclassifying: event %s holds a verdict this build does not know",
                         evs[i]->event_id);
            break;
        }
        const char *was = col(h, row, 7);
        const char *now = cx_category_name(cx_tags_primary(t));
        int other_set = category_set(&old) != category_set(t);
        int other_primary =
            (was == NULL) != (now == NULL) || (was != NULL && strcmp(was, now) != 0);
        changed->categories += other_set || other_primary;
        changed->primary += other_primary;
        changed->sentiment += old.sentiment != t->sentiment;
        /* the signals change by the difference, for events whose verdict moved */
        if ((other_set || old.sentiment != t->sentiment) &&
            (cx__pg_signals_add(h->minus, &old_ev, &old) != CX_OK ||
             cx__pg_signals_add(h->plus, evs[i], t) != CX_OK))
            st = cx_errf(err, errlen, CX_ERR_NOMEM, "reclassifying: out of memory");
        cx__buf_field(&ev, PQgetvalue(h->locked, row, 1), 0);
        cx__buf_field(&ev, cx_sentiment_name(t->sentiment), 0);
        cx__buf_field(&ev, now, 0);
        cx__buf_tags(&ev, t, 0);
        cx__buf_field(&ev, t->sentiment_from, 1);
        row++;
    }
    /* the difference, one row per key; both sides when a rating too fine to
     * sum exactly in C was kept aside (PostgreSQL adds them up) */
    int grouped = 0;
    if (st == CX_OK) {
        cx_status d = cx__pg_signals_diff_rows(h->minus, h->plus, &sig);
        if (d == CX_ERR_NOMEM)
            sig.failed = 1;
        else if (d != CX_OK) {
            grouped = 1;
            cx__pg_signals_rows(h->minus, -1, &sig);
            cx__pg_signals_rows(h->plus, 1, &sig);
        }
    }
    if (st == CX_OK && (ev.failed || sig.failed))
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "reclassifying: out of memory");
    if (st == CX_OK && ev.len > 0)
        st = cx__pg_copy(c, "COPY cx_re_events FROM STDIN", &ev, "staging events", err, errlen);
    if (st == CX_OK && sig.len > 0)
        st = cx__pg_copy(c, "COPY cx_stage_sig FROM STDIN", &sig, "staging signals", err, errlen);
    if (st == CX_OK) {
        /* not waited for: the next pages are read, classified and sent meanwhile */
        if (PQsendQuery(c, sig.len == 0 ? h->write_sql
                           : grouped    ? h->write_sql_grouped
                                        : h->write_sql_signals))
            h->writing[k] = 1;
        else
            st = cx__pg_check(c, NULL, "writing a batch", err, errlen);
    }
    if (st != CX_OK) {
        PQclear(PQexec(c, "ROLLBACK"));
        memset(changed, 0, sizeof *changed);
    }
    cx_buf_free(&ev);
    cx_buf_free(&sig);
    return st;
}

cx_status cx_pg_reclassify_wait(cx_pg_history *h, char *err, size_t errlen)
{
    return wait_writes(h, err, errlen);
}

cx_pg_reclassified cx_pg_reclassify_stored(const cx_pg_history *h)
{
    return h->stored;
}

/* ---- Dead letters ------------------------------------------------------------ */

/* clang-format off */
/* The dead letters a replay takes, $4 at most after id $3: id $1 (NULL:
 * any), received since $2 (NULL: any time); the number, not id::text, orders. */
#define SELECT_DEAD_SQL \
    "SELECT id::text, kafka_topic, kafka_partition::text," \
    " kafka_offset::text, raw FROM cx.dead_letters d" \
    " WHERE ($1::bigint IS NULL OR id = $1::bigint)" \
    " AND ($2::timestamptz IS NULL OR received_at >= $2)" \
    " AND id > $3::bigint" \
    " AND " CX__PG_DEAD_NOT_STORED("") \
    " AND ($1::bigint IS NOT NULL OR NOT EXISTS (SELECT 1" \
    "  FROM cx.dead_letters o WHERE o.kafka_topic = d.kafka_topic" \
    "  AND o.kafka_partition = d.kafka_partition" \
    "  AND o.kafka_offset = d.kafka_offset AND o.raw = d.raw" \
    "  AND o.id < d.id" \
    "  AND ($2::timestamptz IS NULL OR o.received_at >= $2)" \
    "  AND " CX__PG_DEAD_NOT_STORED("o.") "))" \
    " ORDER BY d.id LIMIT $4::int"
#define DEAD_COLUMNS                                                                          \
    "id, " CX__PG_UTC_ISO("received_at") " AS received_at,"                                  \
    " consumer_group, kafka_topic, kafka_partition, kafka_offset, error, original_error,"    \
    " " CX__PG_UTC_ISO("replayed_at") " AS replayed_at,"                                     \
    " replay_count, replay_result, length(raw) AS bytes"
/* clang-format on */

/* The dead letters a list shows: received since $1 (NULL: any time), whose
 * reason holds $2 in any case, whose message holds the bytes of $3. */
#define DEAD_FILTER                                                                                \
    " WHERE ($1::timestamptz IS NULL OR received_at >= $1)"                                        \
    " AND ($2::text IS NULL OR strpos(lower(error), lower($2)) > 0)"                               \
    " AND ($3::text IS NULL OR position(convert_to($3::text, 'UTF8') IN raw) > 0)"

cx_status cx_pg_dead_letters_list(cx_pg_history *h, const char *since, const char *reason,
                                  const char *containing, int limit, json_t **out, long long *total,
                                  char *err, size_t errlen)
{
    const char *params[] = {since, reason, containing};
    return cx__pg_list(h->conn,
                       "SELECT " DEAD_COLUMNS " FROM cx.dead_letters" DEAD_FILTER
                       " ORDER BY id DESC LIMIT $4::int",
                       "SELECT count(*) FROM cx.dead_letters" DEAD_FILTER, 3, params,
                       limit > 0 ? limit : 50, "listing dead letters", out, total, err, errlen);
}

cx_status cx_pg_dead_letter_show(cx_pg_history *h, long long id, json_t **out, char *err,
                                 size_t errlen)
{
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", id);
    const char *params[] = {ids};
    /* The raw bytes as text when they are UTF-8 (the usual case), else as hex
     * digits; raw_encoding says which, so that text starting "\x" is not
     * taken for bytes. */
    PGresult *r = PQexecParams(h->conn,
                               "SELECT " DEAD_COLUMNS ", 'utf8' AS raw_encoding,"
                               " convert_from(raw, 'UTF8') AS raw"
                               " FROM cx.dead_letters WHERE id = $1::bigint",
                               1, NULL, params, NULL, NULL, 0);
    cx_status st = cx__pg_check(h->conn, r, "reading the dead letter", err, errlen);
    if (st != CX_OK) {
        /* raw that is not UTF-8 (or holds NUL) makes convert_from fail: show it as hex */
        PQclear(r);
        r = PQexecParams(h->conn,
                         "SELECT " DEAD_COLUMNS ", 'hex' AS raw_encoding, encode(raw, 'hex') AS raw"
                         " FROM cx.dead_letters WHERE id = $1::bigint",
                         1, NULL, params, NULL, NULL, 0);
        st = cx__pg_check(h->conn, r, "reading the dead letter", err, errlen);
    }
    *out = NULL;
    if (st == CX_OK && PQntuples(r) == 0)
        st = cx_errf(err, errlen, CX_ERR_NOTFOUND, "no dead letter %lld", id);
    else if (st == CX_OK && (*out = cx__pg_row_json(r, 0)) == NULL)
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "reading the dead letter: out of memory");
    PQclear(r);
    return st;
}

cx_status cx_pg_dead_letters_replay_begin(cx_pg_history *h, char *err, size_t errlen)
{
    /* a session lock: it outlives the replay's transactions, to the end of h */
    return cx__pg_exec(h->conn, "SELECT pg_advisory_lock_shared" CX__PG_ERASURE_LOCK_KEY,
                       "waiting for an erasure going on (deploy/sql/erase-customer.sql) to end",
                       err, errlen);
}

cx_status cx_pg_dead_letters_select(cx_pg_history *h, long long id, const char *since,
                                    long long after_id, int limit, cx_dead_letter **out,
                                    size_t *n, char *err, size_t errlen)
{
    char ids[32], after[32], lim[16];
    snprintf(ids, sizeof ids, "%lld", id);
    snprintf(after, sizeof after, "%lld", after_id);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *params[] = {id > 0 ? ids : NULL, since, after, lim};
    *out = NULL;
    *n = 0;
    /* Rows already stored by an earlier replay are left alone. A message that
     * several consumer groups dead-lettered (the same bytes at the same place)
     * is selected once (its first row): replaying it settles every group's
     * row. Binary results: raw comes back byte for byte. */
    PGresult *r = PQexecParams(h->conn, SELECT_DEAD_SQL, 4, NULL, params, NULL, NULL, 1);
    cx_status st = cx__pg_check(h->conn, r, "reading dead letters", err, errlen);
    int rows = st == CX_OK ? PQntuples(r) : 0;
    cx_dead_letter *d = rows ? calloc((size_t)rows, sizeof *d) : NULL;
    if (rows > 0 && d == NULL)
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
    for (int i = 0; st == CX_OK && i < rows; i++) {
        /* Binary text columns are the bytes themselves, without a NUL: copy with lengths. */
        char num[32];
        snprintf(num, sizeof num, "%.*s", PQgetlength(r, i, 0), PQgetvalue(r, i, 0));
        d[i].id = strtoll(num, NULL, 10);
        snprintf(num, sizeof num, "%.*s", PQgetlength(r, i, 2), PQgetvalue(r, i, 2));
        d[i].partition = PQgetisnull(r, i, 2) ? -1 : (int32_t)strtol(num, NULL, 10);
        snprintf(num, sizeof num, "%.*s", PQgetlength(r, i, 3), PQgetvalue(r, i, 3));
        d[i].offset = PQgetisnull(r, i, 3) ? -1 : strtoll(num, NULL, 10);
        d[i].topic = strndup(PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1));
        d[i].len = (size_t)PQgetlength(r, i, 4);
        d[i].raw = malloc(d[i].len + 1);
        if (d[i].topic == NULL || d[i].raw == NULL) {
            st = cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
            *n = (size_t)i + 1;
            break;
        }
        memcpy(d[i].raw, PQgetvalue(r, i, 4), d[i].len);
        d[i].raw[d[i].len] = '\0';
        *n = (size_t)i + 1;
    }
    PQclear(r);
    if (st != CX_OK) {
        cx_pg_dead_letters_free(d, *n);
        *n = 0;
        return st;
    }
    *out = d;
    return CX_OK;
}

void cx_pg_dead_letters_free(cx_dead_letter *d, size_t n)
{
    for (size_t i = 0; d != NULL && i < n; i++) {
        free(d[i].topic);
        free(d[i].raw);
    }
    free(d);
}

cx_status cx_pg_dead_letters_mark(cx_pg_history *h, const long long *ids,
                                  const char *const *event_ids, size_t n, char *err,
                                  size_t errlen)
{
    cx_buf a = {0}, b = {0};
    cx_buf_put(&a, "{", 1);
    cx_buf_put(&b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        cx_buf_printf(&a, "%s%lld", i ? "," : "", ids[i]);
        cx_buf_put(&b, i ? ",\"" : "\"", i ? 2 : 1);
        for (const char *p = event_ids[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                cx_buf_put(&b, "\\", 1);
            cx_buf_put(&b, p, 1);
        }
        cx_buf_put(&b, "\"", 1);
    }
    cx_buf_put(&a, "}", 2);
    cx_buf_put(&b, "}", 2);
    const char *params[] = {a.data, b.data};
    /* Where each went: stored now (the event carries this message's coordinates),
     * or a duplicate of an event that was already stored. */
    PGresult *r = a.failed || b.failed
                      ? NULL
                      : PQexecParams(h->conn,
                                     "UPDATE cx.dead_letters d SET replayed_at = now(),"
                                     " replay_count = d.replay_count + 1,"
                                     " original_error = coalesce(d.original_error, d.error),"
                                     " replay_result = CASE WHEN e.kafka_topic IS NOT DISTINCT FROM"
                                     " d.kafka_topic AND e.kafka_partition IS NOT DISTINCT FROM"
                                     " d.kafka_partition AND e.kafka_offset IS NOT DISTINCT FROM"
                                     " d.kafka_offset THEN 'stored as event ' || u.ev"
                                     " ELSE 'duplicate of stored event ' || u.ev END"
                                     " FROM unnest($1::bigint[], $2::text[]) AS u(id, ev)"
                                     " JOIN cx.dead_letters m ON m.id = u.id"
                                     " JOIN cx.events e ON e.event_id = u.ev"
                                     " WHERE (d.id = u.id OR (d.kafka_topic = m.kafka_topic"
                                     " AND d.kafka_partition = m.kafka_partition"
                                     " AND d.kafka_offset = m.kafka_offset AND d.raw = m.raw"
                                     " AND " CX__PG_DEAD_NOT_STORED("d.") "))",
                                     2, NULL, params, NULL, NULL, 0);
    cx_status st = r == NULL ? cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory")
                             : cx__pg_check(h->conn, r, "marking dead letters", err, errlen);
    PQclear(r);
    cx_buf_free(&a);
    cx_buf_free(&b);
    return st;
}

void cx_pg_history_free(cx_pg_history *h)
{
    if (h == NULL)
        return;
    PQclear(h->batch);
    PQclear(h->locked);
    PQfinish(h->reader);
    PQfinish(h->writer2);
    PQfinish(h->conn);
    cx__pg_signals_free(h->minus);
    cx__pg_signals_free(h->plus);
    free(h->version);
    free(h->conninfo);
    free(h->last_id);
    free(h->from_id);
    free(h->write_sql);
    free(h->write_sql_signals);
    free(h->write_sql_grouped);
    free(h->windows);
    free(h->compact);
    free(h);
}
