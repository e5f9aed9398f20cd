/*
 * pg.c - the PostgreSQL sink's write path (see pg_sink.h for the contract).
 *
 * One transaction per batch, about ten round trips whatever its size:
 *   BEGIN
 *   lock the batch's rows in cx.consumer_offsets (created at 0 if missing)
 *   -- records below the stored next offset are dropped here, in C --
 *   direct path (the usual case): SAVEPOINT; COPY the events, their tags on
 *   their rows, straight into cx.events; RELEASE
 *   staged path, when PostgreSQL refused a row of the direct path (an event_id
 *   stored before, a value it rejects): ROLLBACK TO the savepoint; COPY the
 *   events into a TEMP staging table; one statement inserts them ON CONFLICT
 *   DO NOTHING and returns which were new (on a data error: ROLLBACK TO and
 *   bisect the rows); those that were not are compared with the stored event
 *   (another event under its event_id is a dead letter). Copies of an event_id
 *   with other bytes than its first in the batch are written after the rest,
 *   so that they are compared the same way
 *   either way, the new events' signal increments are summed here, in C
 *   (signals.c, processors/window), exactly
 *   COPY dead letters; UPDATE offsets past the batch
 *   evaluate ticket rules on the smallest windows the new events touched
 *   (tickets_eval.c); add the increments to cx.signals: COPYed straight in
 *   while their keys are new, else staged and upserted, one row per key; COMMIT
 * Parallel writers (postgres.writers) share ticket and signal rows: those are
 * updated last, in key order, so that each holds their locks only briefly.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg_sink.h"
#include "pg_int.h"
#include "pg_migrate.h"
#include "window.h"

/* After PostgreSQL refused a row of the direct path (most often an event_id
 * stored before: a stream replayed), batches take the staged path this long. */
#define DIRECT_SKIP_BATCHES 16

/* A partition of a batch: its highest offset, the next offset stored, and
 * the latest event time of its new events (seconds; NO_TIME: none), not
 * counting those dated more than CX__PG_TICKETS_AHEAD_S after the clock;
 * before_s: the latest this process stored from it before the batch (a
 * replay: the latest window in cx.signals). */
typedef struct part {
    const char *topic;
    int32_t partition;
    int64_t max_offset, stored, latest_s, before_s;
} part;
#define NO_TIME (INT64_MIN / 2)

struct cx_pg {
    PGconn *conn; /* NULL while disconnected */
    /* For cx_pg_cancel() from another thread: made with each connection,
     * freed with it, both under cancel_lock. */
    pthread_mutex_t cancel_lock;
    PGcancel *cancel;
    atomic_int cancel_asked; /* cx_pg_cancel() during the write going on */
    int refused_for_size;    /* cx__pg_refused_for_size() */
    char *conninfo, *group, *rule_version;
    int base_window;   /* the smallest signal window: ticket rules roll over it */
    const cx_ticket_rules *rules; /* borrowed; NULL: no tickets */
    int ticket_max_age;           /* seconds; 0: any age */
    char *rule_set_json;
    int replay;
    int sync_commit;
    cx__pg_signals *sig; /* a batch's increments, per window size */
    int direct_skip;     /* batches to stage before trying the direct path again */
    int sig_direct_skip; /* the same for signal increments */
    int sig_direct_wait; /* batches that skip after the next refusal: 16, doubling while
                            the stream keeps meeting stored windows (live traffic) */
    cx_buf rows, stage;  /* COPY data, kept between batches */
    /* Offsets known stored (committed or read by this process's sinks): one
     * found lower means PostgreSQL lost acknowledged commits, which the
     * consumer has read past and would never read again. */
    cx_pg_seen *seen;
    int own_seen;
    unsigned char *last_fate; /* the last batch written: what became of each record */
    size_t last_n;
};

struct cx_pg_seen {
    pthread_mutex_t lock;
    part *v; /* topic owned; stored = the highest next offset known stored */
    size_t n, cap;
};

cx_pg_seen *cx_pg_seen_new(void)
{
    cx_pg_seen *s = calloc(1, sizeof *s);
    if (s != NULL && pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        s = NULL;
    }
    return s;
}

void cx_pg_seen_free(cx_pg_seen *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        free((char *)s->v[i].topic);
    free(s->v);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Raises topic[partition]'s known stored offset to next, and the latest event
 * time stored from it to latest_s. Without memory the partition is not
 * remembered, and not checked (as before there was a check). */
static void seen_raise(cx_pg_seen *s, const char *topic, int32_t partition, int64_t next,
                       int64_t latest_s)
{
    pthread_mutex_lock(&s->lock);
    size_t k = 0;
    while (k < s->n && (s->v[k].partition != partition || strcmp(s->v[k].topic, topic) != 0))
        k++;
    if (k == s->n) {
        char *t = NULL;
        if (k == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 16;
            part *grown = realloc(s->v, cap * sizeof *grown);
            if (grown != NULL) {
                s->v = grown;
                s->cap = cap;
            }
        }
        if (k < s->cap && (t = strdup(topic)) != NULL)
            s->v[s->n++] =
                (part){.topic = t, .partition = partition, .stored = -1, .latest_s = NO_TIME};
    }
    if (k < s->n && next > s->v[k].stored)
        s->v[k].stored = next;
    if (k < s->n && latest_s > s->v[k].latest_s)
        s->v[k].latest_s = latest_s;
    pthread_mutex_unlock(&s->lock);
}

/* topic[partition]'s known stored offset (-1 when none is known), and in
 * *latest_s the latest event time stored from it (NO_TIME: none known). */
static int64_t seen_get(cx_pg_seen *s, const char *topic, int32_t partition, int64_t *latest_s)
{
    int64_t next = -1;
    *latest_s = NO_TIME;
    pthread_mutex_lock(&s->lock);
    for (size_t k = 0; k < s->n; k++)
        if (s->v[k].partition == partition && strcmp(s->v[k].topic, topic) == 0) {
            next = s->v[k].stored;
            *latest_s = s->v[k].latest_s;
        }
    pthread_mutex_unlock(&s->lock);
    return next;
}

static cx_status lost_commits(const char *topic, int32_t partition, int64_t stored, int64_t known,
                              char *err, size_t errlen)
{
    return cx_errf(err, errlen, CX_ERR_FATAL,
                   "PostgreSQL lost commits it had acknowledged: %s[%d] has its stored next "
                   "offset at %lld, but %lld had been stored (a server crash with "
                   "postgres.synchronous_commit off, a database restored from a backup, or the "
                   "offset set back by hand?); "
                   "stopping, so that a restart reads the lost messages again from the stored "
                   "offsets",
                   topic, partition, (long long)stored, (long long)known);
}

/* Per-batch scratch: what happens to each record. F_LATER: another copy of an
 * event_id earlier in the batch, with other bytes; written after the rest, so
 * that PostgreSQL compares it with what was stored (the same event written
 * otherwise is a duplicate, another event a dead letter). */
enum fate { F_SKIP, F_EVENT, F_DUPLICATE, F_DEAD, F_LATER };

typedef struct dead {
    size_t rec;
    char *reason; /* owned when not the record's own error */
    cx_dead_reason why;
} dead;

typedef struct batch {
    const cx_record *recs;
    size_t n;
    unsigned char *fate;
    size_t *events; /* indices of F_EVENT records */
    size_t n_events;
    size_t *fresh; /* indices of the events stored (new), counted in pg->sig */
    size_t n_fresh;
    dead *dead;
    size_t n_dead;
    int staged; /* staging tables may hold rows of an earlier sub-batch (bisection) */
    /* The last refusal of a null (23502) by cx.events or a partition of it:
     * its schema, table and column; column "" for none. */
    char null_schema[64], null_table[64], null_column[64];
    int null_checked; /* whether that column was looked up (once a batch) */
    int sized;        /* past the session and the offsets' locks: at the work
                         that grows with the batch */
    cx_pg_result *res;
} batch;

/* ---- Session ------------------------------------------------------------- */

#define IDLE_IN_TX_TIMEOUT "60s"

static const char *const stage_sql =
    /* seq, then a row of cx.events: its columns are named where it is written
     * and read (CX__PG_EVENT_COLUMNS), so their order here is not a contract */
    "CREATE TEMP TABLE IF NOT EXISTS cx_stage_events (\n"
    "  seq int, event_id text, occurred_at timestamptz, customer_id text, channel text,\n"
    "  touchpoint text, language text, body text, rating_scale text, rating_value numeric,\n"
    "  sentiment text, primary_category text, payload jsonb, kafka_topic text,\n"
    "  kafka_partition int, kafka_offset bigint, rule_version text, categories text[],\n"
    "  confidences real[], evidence jsonb, sentiment_from text) ON COMMIT DELETE ROWS;\n"
    "CREATE TEMP TABLE IF NOT EXISTS cx_stage_dead (\n"
    "  kafka_topic text, kafka_partition int, kafka_offset bigint, error text, raw bytea)\n"
    "  ON COMMIT DELETE ROWS";

static void disconnect(cx_pg *pg)
{
    pthread_mutex_lock(&pg->cancel_lock);
    PQfreeCancel(pg->cancel);
    pg->cancel = NULL;
    pthread_mutex_unlock(&pg->cancel_lock);
    PQfinish(pg->conn);
    pg->conn = NULL;
}

static cx_status check_committed(cx_pg *pg, char *err, size_t errlen);

/* Connects if needed and prepares the session (schema check, staging tables).
 * A session the server ended while it was idle (idle_session_timeout,
 * pg_terminate_backend, a restart) has its FATAL and then the end of the
 * stream waiting on the socket: two reads, which never block, find both, and
 * the session is replaced before a batch fails on it (a failure and a retry
 * for every quiet spell longer than the timeout, with the cause unread). */
static cx_status ensure_session(cx_pg *pg, char *err, size_t errlen)
{
    if (pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK) {
        if (PQconsumeInput(pg->conn) == 1 && PQconsumeInput(pg->conn) == 1 &&
            PQstatus(pg->conn) == CONNECTION_OK)
            return CX_OK;
        cx_log(CX_LOG_INFO, "postgresql",
               "the server ended this writer's session while it was idle (its "
               "idle_session_timeout, a restart or pg_terminate_backend): connecting again");
    }
    disconnect(pg);
    cx_status st = cx__pg_connect_schema(pg->conninfo, &pg->conn, err, errlen);
    if (st == CX_OK) {
        pthread_mutex_lock(&pg->cancel_lock);
        pg->cancel = PQgetCancel(pg->conn); /* NULL when out of memory: not cancellable */
        pthread_mutex_unlock(&pg->cancel_lock);
    }
    if (st == CX_OK)
        st = cx__pg_exec(pg->conn,
                         pg->sync_commit ? "SET synchronous_commit = on"
                                         : "SET synchronous_commit = off",
                         "configuring the session", err, errlen);
    if (st == CX_OK)
        st = cx__pg_exec(pg->conn, "SET client_min_messages = warning", "configuring the session",
                         err, errlen);
    if (st == CX_OK) /* compiling these short statements costs more than it saves */
        st = cx__pg_exec(pg->conn, "SET jit = off", "configuring the session", err, errlen);
    /* A member that stops mid-batch without its connection closing (frozen,
     * its machine paused, a network cut) holds its partitions' offset rows:
     * unless the server, database, role or URL set a time of their own, the
     * server ends its session after IDLE_IN_TX_TIMEOUT idle in the batch's
     * transaction (a batch's own pauses between statements take
     * milliseconds), so that the member that took the partitions over goes
     * on. The frozen member, resumed, finds its batch stored by the other
     * and skips it. (Set here, not for every connection as lock_timeout is:
     * the notification sender keeps its claim's transaction open across
     * posts that may take alerts.timeout_ms, up to 120 s, each.) */
    if (st == CX_OK)
        st = cx__pg_exec(
            pg->conn,
            "SELECT set_config(name, '" IDLE_IN_TX_TIMEOUT "', false) FROM pg_catalog.pg_settings"
            " WHERE name = 'idle_in_transaction_session_timeout' AND source = 'default'",
            "configuring the session", err, errlen);
    if (st == CX_OK)
        st = cx__pg_exec(pg->conn, stage_sql, "creating staging tables", err, errlen);
    if (st == CX_OK)
        st =
            cx__pg_exec(pg->conn, cx__pg_signals_stage_sql, "creating staging tables", err, errlen);
    if (st == CX_OK)
        st = check_committed(pg, err, errlen);
    if (st == CX_OK && pg->rule_set_json != NULL && pg->rule_version != NULL) {
        const char *params[] = {pg->rule_version, pg->rule_set_json};
        st = cx__pg_exec_params(pg->conn,
                                "INSERT INTO cx.rule_sets (version, rules) VALUES ($1, $2::jsonb)"
                                " ON CONFLICT (version) DO NOTHING",
                                2, params, "recording the rule set", err, errlen);
    }
    if (st != CX_OK)
        disconnect(pg);
    return st;
}

cx_status cx_pg_new(cx_pg **out, const cx_pg_options *opts, char *err, size_t errlen)
{
    *out = NULL;
    cx_pg *pg = calloc(1, sizeof *pg);
    if (pg == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "postgresql sink: out of memory");
    pthread_mutex_init(&pg->cancel_lock, NULL);
    pg->conninfo = strdup(opts->conninfo ? opts->conninfo : "");
    pg->group = strdup(opts->group ? opts->group : "cxpulse");
    pg->rule_version = opts->rule_version ? strdup(opts->rule_version) : NULL;
    pg->sync_commit = opts->synchronous_commit;
    pg->replay = opts->replay;
    pg->seen = opts->seen;
    if (pg->seen == NULL && (pg->seen = cx_pg_seen_new()) != NULL)
        pg->own_seen = 1;
    pg->rule_set_json = opts->rule_set_json ? strdup(opts->rule_set_json) : NULL;
    pg->sig_direct_wait = DIRECT_SKIP_BATCHES;
    if (pg->conninfo == NULL || pg->group == NULL || pg->seen == NULL ||
        (opts->rule_version != NULL && pg->rule_version == NULL) ||
        (opts->rule_set_json != NULL && pg->rule_set_json == NULL)) {
        cx_pg_free(pg);
        return cx_errf(err, errlen, CX_ERR_NOMEM, "postgresql sink: out of memory");
    }
    /* window sizes and ticket rules were validated with the configuration */
    for (size_t i = 0; i < opts->n_windows; i++)
        if (pg->base_window == 0 || opts->window_seconds[i] < pg->base_window)
            pg->base_window = opts->window_seconds[i];
    if (pg->base_window <= 0)
        pg->base_window = 60;
    if (cx_ticket_rules_count(opts->ticket_rules) > 0)
        pg->rules = opts->ticket_rules;
    pg->ticket_max_age = opts->ticket_max_age_seconds > 0 ? opts->ticket_max_age_seconds : 0;
    cx_status made = cx__pg_signals_new(&pg->sig, opts->window_seconds, opts->n_windows, err,
                                        errlen);
    if (made != CX_OK) {
        cx_pg_free(pg);
        return made;
    }
    *out = pg;
    if (opts->connect_later)
        return CX_OK;
    cx_status st = ensure_session(pg, err, errlen);
    if (st != CX_OK && st != CX_ERR_TRANSIENT) {
        cx_pg_free(pg);
        *out = NULL;
    }
    return st;
}

int cx_pg_dead_lettered(const cx_pg *pg, size_t i)
{
    return i < pg->last_n && pg->last_fate[i] == F_DEAD;
}

void cx_pg_free(cx_pg *pg)
{
    if (pg == NULL)
        return;
    disconnect(pg);
    free(pg->conninfo);
    free(pg->group);
    free(pg->rule_version);
    cx__pg_signals_free(pg->sig);
    cx_buf_free(&pg->rows);
    cx_buf_free(&pg->stage);
    free(pg->last_fate);
    free(pg->rule_set_json);
    if (pg->own_seen)
        cx_pg_seen_free(pg->seen);
    pthread_mutex_destroy(&pg->cancel_lock);
    free(pg);
}

cx_status cx_pg_cancel(cx_pg *pg, char *err, size_t errlen)
{
    char why[256];
    atomic_store(&pg->cancel_asked, 1);
    pthread_mutex_lock(&pg->cancel_lock);
    int sent = pg->cancel == NULL || PQcancel(pg->cancel, why, sizeof why);
    pthread_mutex_unlock(&pg->cancel_lock);
    return sent ? CX_OK
                : cx_errf(err, errlen, CX_ERR_TRANSIENT,
                          "cannot ask postgresql to cancel the statement going on: %s", why);
}

/* ---- Offsets --------------------------------------------------------------- */

/* Distinct (topic, partition)s of a batch with the highest offset of each. */
static size_t collect_parts(const cx_record *recs, size_t n, part *parts)
{
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k;
        for (k = 0; k < np; k++)
            if (parts[k].partition == recs[i].partition && !strcmp(parts[k].topic, recs[i].topic))
                break;
        if (k == np)
            parts[np++] =
                (part){recs[i].topic, recs[i].partition, recs[i].offset, 0, NO_TIME, NO_TIME};
        else if (recs[i].offset > parts[k].max_offset)
            parts[k].max_offset = recs[i].offset;
    }
    return np;
}

/* Builds the text[] and int[] literals of parts and, when offsets is not
 * NULL, the bigint[] of their next offsets to store (next) or of the offsets
 * known stored (!next). */
static void part_arrays(const part *parts, size_t np, cx_buf *topics, cx_buf *ids, cx_buf *offsets,
                        int next)
{
    cx_buf_put(topics, "{", 1);
    cx_buf_put(ids, "{", 1);
    if (offsets != NULL)
        cx_buf_put(offsets, "{", 1);
    for (size_t i = 0; i < np; i++) {
        cx__pg_array_text(topics, parts[i].topic);
        cx__pg_array_int(ids, parts[i].partition);
        if (offsets != NULL)
            cx__pg_array_int(offsets, next ? parts[i].max_offset + 1 : parts[i].stored);
    }
    cx_buf_put(topics, "}", 2);
    cx_buf_put(ids, "}", 2);
    if (offsets != NULL)
        cx_buf_put(offsets, "}", 2);
}

cx_status cx_pg_read_offsets(cx_pg *pg, const char *topic, const int32_t *parts, size_t n,
                             const int64_t *start, int64_t *next, char *err, size_t errlen)
{
    cx_status st = ensure_session(pg, err, errlen);
    if (st != CX_OK)
        return st;
    cx_buf ids = {0}, starts = {0};
    cx_buf_put(&ids, "{", 1);
    for (size_t i = 0; i < n; i++)
        cx__pg_array_int(&ids, parts[i]);
    cx_buf_put(&ids, "}", 2);
    if (start != NULL) {
        cx_buf_put(&starts, "{", 1);
        for (size_t i = 0; i < n; i++)
            cx__pg_array_int(&starts, start[i]);
        cx_buf_put(&starts, "}", 2);
    }
    if (ids.failed || starts.failed)
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "reading consumer offsets: out of memory");
    PGresult *res = NULL;
    if (st == CX_OK && start != NULL) {
        const char *ins[] = {pg->group, topic, ids.data, starts.data};
        st = cx__pg_exec_params(pg->conn,
                                "INSERT INTO cx.consumer_offsets (consumer_group, topic, partition,"
                                " next_offset) SELECT $1, $2, p, s"
                                " FROM unnest($3::int[], $4::bigint[]) AS u(p, s) WHERE s >= 0"
                                " ON CONFLICT DO NOTHING",
                                4, ins, "storing where the group starts", err, errlen);
    }
    if (st == CX_OK) {
        const char *params[] = {pg->group, topic, ids.data};
        res = PQexecParams(pg->conn,
                           "SELECT partition, next_offset FROM cx.consumer_offsets"
                           " WHERE consumer_group = $1 AND topic = $2"
                           " AND partition = ANY ($3::int[])",
                           3, NULL, params, NULL, NULL, 0);
        st = cx__pg_check(pg->conn, res, "reading consumer offsets", err, errlen);
    }
    for (size_t i = 0; i < n; i++)
        next[i] = -1;
    for (int r = 0; st == CX_OK && r < PQntuples(res); r++) {
        int32_t p = (int32_t)strtol(PQgetvalue(res, r, 0), NULL, 10);
        for (size_t i = 0; i < n; i++)
            if (parts[i] == p)
                next[i] = strtoll(PQgetvalue(res, r, 1), NULL, 10);
    }
    /* what the consumer reads on from is stored: a later crash must not take it back */
    for (size_t i = 0; st == CX_OK && i < n; i++)
        if (next[i] >= 0)
            seen_raise(pg->seen, topic, parts[i], next[i], NO_TIME);
    PQclear(res);
    cx_buf_free(&ids);
    cx_buf_free(&starts);
    if (st == CX_ERR_TRANSIENT)
        disconnect(pg);
    return st;
}

long long cx_pg_other_installations(cx_pg *pg, const char *const *topics, size_t n, char *names,
                                    size_t len)
{
    char err[512];
    names[0] = '\0';
    cx_buf list = {0};
    cx_buf_put(&list, "{", 1);
    for (size_t i = 0; i < n; i++)
        cx__pg_array_text(&list, topics[i]);
    cx_buf_put(&list, "}", 2);
    long long others = 0;
    if (!list.failed && ensure_session(pg, err, sizeof err) == CX_OK) {
        const char *params[] = {pg->group, list.data};
        PGresult *res =
            PQexecParams(pg->conn,
                         "SELECT consumer_group, topic, count(*) OVER () FROM cx.consumer_offsets"
                         " WHERE consumer_group <> $1 AND topic <> ALL ($2::text[])"
                         " AND updated_at > now() - interval '1 day'"
                         " GROUP BY consumer_group, topic ORDER BY max(updated_at) DESC LIMIT 3",
                         2, NULL, params, NULL, NULL, 0);
        if (cx__pg_check(pg->conn, res, "looking for other installations", err, sizeof err) !=
            CX_OK) {
            cx_log(CX_LOG_DEBUG, "sink.pg", "%s", err);
        } else {
            size_t used = 0;
            for (int r = 0; r < PQntuples(res) && used < len; r++) {
                others = strtoll(PQgetvalue(res, r, 2), NULL, 10);
                int k = snprintf(names + used, len - used, "%sgroup %s on topic %s", r ? ", " : "",
                                 PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
                used += k > 0 ? (size_t)k : 0;
            }
        }
        PQclear(res);
    }
    cx_buf_free(&list);
    return others;
}

size_t cx_pg_added_window_sizes(cx_pg *pg, const int *sizes, size_t n, char *list, size_t len,
                                char *at, size_t at_len)
{
    char err[512];
    list[0] = at[0] = '\0';
    cx_buf arr = {0};
    cx_buf_put(&arr, "{", 1);
    for (size_t i = 0; i < n; i++)
        cx__pg_array_int(&arr, sizes[i]);
    cx_buf_put(&arr, "}", 2);
    size_t added = 0;
    if (!arr.failed && ensure_session(pg, err, sizeof err) == CX_OK) {
        /* the newest window is the smallest size's (windows are aligned to the
         * epoch, so each size's window holding its start is known), of those
         * not dated ahead: an event from a clock years ahead has windows of
         * the sizes of its day only */
        const char *params[] = {arr.data};
        PGresult *res = PQexecParams(
            pg->conn,
            "WITH last AS (SELECT max(window_start) AS t FROM cx.signals"
            "  WHERE window_start <= now() + interval '600 s')"
            " SELECT count(*), string_agg(w::text, ', ' ORDER BY w),"
            "  to_char(max(last.t) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI \"UTC\"')"
            " FROM unnest($1::int[]) AS w, last WHERE last.t IS NOT NULL AND NOT EXISTS"
            "  (SELECT 1 FROM cx.signals s WHERE s.window_seconds = w AND s.window_start ="
            "   to_timestamp(floor(extract(epoch FROM last.t) / w) * w))",
            1, NULL, params, NULL, NULL, 0);
        if (cx__pg_check(pg->conn, res, "reading the window sizes of cx.signals", err,
                         sizeof err) != CX_OK) {
            cx_log(CX_LOG_DEBUG, "sink.pg", "%s", err);
        } else if ((added = strtoul(PQgetvalue(res, 0, 0), NULL, 10)) > 0) {
            snprintf(list, len, "%s", PQgetvalue(res, 0, 1));
            snprintf(at, at_len, "%s", PQgetvalue(res, 0, 2));
        }
        PQclear(res);
    }
    cx_buf_free(&arr);
    return added;
}

cx_status cx_pg_advance_offsets(cx_pg *pg, const char *topic, const int32_t *parts, size_t n,
                                const int64_t *next, char *err, size_t errlen)
{
    cx_status st = ensure_session(pg, err, errlen);
    if (st != CX_OK)
        return st;
    cx_buf ids = {0}, nexts = {0};
    cx_buf_put(&ids, "{", 1);
    cx_buf_put(&nexts, "{", 1);
    for (size_t i = 0; i < n; i++) {
        cx__pg_array_int(&ids, parts[i]);
        cx__pg_array_int(&nexts, next[i]);
    }
    cx_buf_put(&ids, "}", 2);
    cx_buf_put(&nexts, "}", 2);
    if (ids.failed || nexts.failed) {
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "storing offsets: out of memory");
    } else {
        const char *params[] = {pg->group, topic, ids.data, nexts.data};
        PGresult *res = PQexecParams(pg->conn,
                                     "INSERT INTO cx.consumer_offsets AS o (consumer_group, topic,"
                                     " partition, next_offset) SELECT $1, $2, p, n"
                                     " FROM unnest($3::int[], $4::bigint[]) AS u(p, n)"
                                     " ON CONFLICT (consumer_group, topic, partition) DO UPDATE"
                                     " SET next_offset = excluded.next_offset, updated_at = now()"
                                     " WHERE o.next_offset < excluded.next_offset"
                                     " RETURNING o.partition, o.next_offset",
                                     4, NULL, params, NULL, NULL, 0);
        st = cx__pg_check(pg->conn, res, "storing offsets past what holds no message", err, errlen);
        /* stored: a later crash must not take them back */
        for (int r = 0; st == CX_OK && r < PQntuples(res); r++)
            seen_raise(pg->seen, topic, (int32_t)strtol(PQgetvalue(res, r, 0), NULL, 10),
                       strtoll(PQgetvalue(res, r, 1), NULL, 10), NO_TIME);
        PQclear(res);
    }
    cx_buf_free(&ids);
    cx_buf_free(&nexts);
    if (st == CX_ERR_TRANSIENT)
        disconnect(pg);
    return st;
}

/* Creates missing offset rows, locks them all, and reads the stored next offsets. */
static cx_status lock_offsets(cx_pg *pg, part *parts, size_t np, char *err, size_t errlen)
{
    cx_buf topics = {0}, ids = {0};
    part_arrays(parts, np, &topics, &ids, NULL, 0);
    const char *params[] = {pg->group, topics.data, ids.data};
    cx_status st = CX_ERR_NOMEM;
    PGresult *res = NULL;
    if (topics.failed || ids.failed)
        goto done;
    res = PQexecParams(pg->conn,
                       "INSERT INTO cx.consumer_offsets (consumer_group, topic, partition, "
                       "next_offset) SELECT $1, t, p, 0 FROM unnest($2::text[], $3::int[]) "
                       "AS u(t, p) ON CONFLICT DO NOTHING",
                       3, NULL, params, NULL, NULL, 0);
    if ((st = cx__pg_check(pg->conn, res, "creating consumer offsets", err, errlen)) != CX_OK)
        goto done;
    PQclear(res);
    res = PQexecParams(pg->conn,
                       "SELECT topic, partition, next_offset FROM cx.consumer_offsets"
                       " WHERE consumer_group = $1 AND (topic, partition) IN"
                       " (SELECT * FROM unnest($2::text[], $3::int[])) FOR UPDATE",
                       3, NULL, params, NULL, NULL, 0);
    if ((st = cx__pg_check(pg->conn, res, "locking consumer offsets", err, errlen)) != CX_OK)
        goto done;
    for (int r = 0; r < PQntuples(res); r++) {
        int32_t p = (int32_t)strtol(PQgetvalue(res, r, 1), NULL, 10);
        for (size_t i = 0; i < np; i++)
            if (parts[i].partition == p && !strcmp(parts[i].topic, PQgetvalue(res, r, 0)))
                parts[i].stored = strtoll(PQgetvalue(res, r, 2), NULL, 10);
    }
done:
    PQclear(res);
    cx_buf_free(&topics);
    cx_buf_free(&ids);
    if (st == CX_ERR_NOMEM)
        cx_errf(err, errlen, st, "postgresql sink: out of memory");
    return st;
}

/* After a reconnect: CX_ERR_FATAL if a partition's stored next offset is below
 * one known stored. Stopping is what keeps every message: restarted, cxpulse
 * reads on from the stored offsets, so the lost batches again. (Each batch
 * checks its own partitions too: lock_offsets() reads them.) The known offsets
 * are taken before the query: other writers of the process go on committing
 * meanwhile and raise them, and a value raised after the query's snapshot
 * would look lost. */
static cx_status check_committed(cx_pg *pg, char *err, size_t errlen)
{
    cx_pg_seen *s = pg->seen;
    pthread_mutex_lock(&s->lock);
    cx_buf topics = {0}, ids = {0}, known = {0};
    part_arrays(s->v, s->n, &topics, &ids, &known, 0);
    size_t n = s->n;
    pthread_mutex_unlock(&s->lock);
    cx_status st = CX_OK;
    PGresult *res = NULL;
    if (n > 0) {
        const char *params[] = {pg->group, topics.data, ids.data, known.data};
        res = topics.failed || ids.failed || known.failed
                  ? NULL
                  : PQexecParams(pg->conn,
                                 "SELECT o.topic, o.partition, o.next_offset, k.known"
                                 " FROM cx.consumer_offsets o"
                                 " JOIN unnest($2::text[], $3::int[], $4::bigint[])"
                                 "  AS k(topic, partition, known)"
                                 "  ON o.topic = k.topic AND o.partition = k.partition"
                                 " WHERE o.consumer_group = $1 AND o.next_offset < k.known",
                                 4, NULL, params, NULL, NULL, 0);
        st = res == NULL ? cx_errf(err, errlen, CX_ERR_NOMEM, "postgresql sink: out of memory")
                         : cx__pg_check(pg->conn, res, "checking consumer offsets", err, errlen);
    }
    if (st == CX_OK && PQntuples(res) > 0)
        st = lost_commits(PQgetvalue(res, 0, 0), (int32_t)strtol(PQgetvalue(res, 0, 1), NULL, 10),
                          strtoll(PQgetvalue(res, 0, 2), NULL, 10),
                          strtoll(PQgetvalue(res, 0, 3), NULL, 10), err, errlen);
    PQclear(res);
    cx_buf_free(&topics);
    cx_buf_free(&ids);
    cx_buf_free(&known);
    return st;
}

static cx_status advance_offsets(cx_pg *pg, const part *parts, size_t np, char *err,
                                 size_t errlen)
{
    cx_buf topics = {0}, ids = {0}, next = {0};
    part_arrays(parts, np, &topics, &ids, &next, 1);
    const char *params[] = {pg->group, topics.data, ids.data, next.data};
    cx_status st = cx_errf(err, errlen, CX_ERR_NOMEM, "postgresql sink: out of memory");
    if (!topics.failed && !ids.failed && !next.failed)
        st = cx__pg_exec_params(
            pg->conn,
            "UPDATE cx.consumer_offsets o SET next_offset = greatest(o.next_offset, u.n),"
            " updated_at = now() FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, n)"
            " WHERE o.consumer_group = $1 AND o.topic = u.t AND o.partition = u.p",
            4, params, "advancing consumer offsets", err, errlen);
    cx_buf_free(&topics);
    cx_buf_free(&ids);
    cx_buf_free(&next);
    return st;
}

/* ---- Rows -------------------------------------------------------------------- */

/* Appends r as a COPY row of cx.events, its columns those of CX__PG_EVENT_COLUMNS. */
static void event_row(cx_buf *b, const cx_record *r, const char *rule_version)
{
    const cx_event *ev = r->ev;
    const cx_tags *t = r->tags;
    cx__buf_field(b, ev->event_id, 0);
    cx__buf_timestamp(b, ev->occurred_at_us, 0);
    cx__buf_field(b, ev->customer_id, 0);
    cx__buf_field(b, ev->channel, 0);
    cx__buf_field(b, ev->touchpoint, 0);
    cx__buf_field(b, ev->language, 0);
    if (ev->text != NULL) {
        cx__buf_copy_text(b, ev->text, ev->text_len);
        cx_buf_put(b, "\t", 1);
    } else {
        cx__buf_field(b, NULL, 0);
    }
    cx__buf_field(b, cx_rating_scale_name(ev->rating_scale), 0);
    char rating[40];
    if (ev->rating_scale != CX_RATING_NONE)
        cx_window_rating_text(ev->rating_value, rating, sizeof rating);
    cx__buf_field(b, ev->rating_scale != CX_RATING_NONE ? rating : NULL, 0);
    cx__buf_field(b, cx_sentiment_name(t->sentiment), 0);
    cx__buf_field(b, cx_category_name(cx_tags_primary(t)), 0);
    cx__buf_copy_text(b, r->raw, r->raw_len);
    cx_buf_put(b, "\t", 1);
    cx__buf_field(b, r->topic, 0);
    cx__buf_int(b, r->partition, 0);
    cx__buf_int(b, r->offset, 0);
    cx__buf_field(b, rule_version, 0);
    cx__buf_tags(b, t, 0);
    cx__buf_field(b, t->sentiment_from, 1);
}

/* The staged events that were not stored before, stored; returns their seq. */
static const char *const insert_sql =
    "WITH ins AS (\n"
    "  INSERT INTO cx.events (" CX__PG_EVENT_COLUMNS ")\n"
    "  SELECT " CX__PG_EVENT_COLUMNS " FROM cx_stage_events\n"
    "  ON CONFLICT (event_id) DO NOTHING\n"
    "  RETURNING event_id\n"
    ")\n"
    "SELECT s.seq FROM cx_stage_events s JOIN ins USING (event_id)";

static cx_status count_increments(cx_pg *pg, batch *b, const size_t *idx, size_t m, char *err,
                                  size_t errlen);

/* Of the staged events $1 (seqs) that were not inserted, those whose event_id is
 * stored with other content. jsonb compares meaning, not bytes: the same event
 * written with other spacing or key order is equal. One index probe per row
 * (LIMIT keeps the planner from joining all of cx.events instead). */
static const char *const reused_sql =
    "SELECT s.seq, e.kafka_topic, e.kafka_partition, e.kafka_offset\n"
    "FROM cx_stage_events s JOIN unnest($1::int[]) AS c(seq) USING (seq)\n"
    "CROSS JOIN LATERAL (SELECT kafka_topic, kafka_partition, kafka_offset, payload\n"
    "                    FROM cx.events e WHERE e.event_id = s.event_id LIMIT 1) e\n"
    "WHERE e.payload <> s.payload";

/*
 * The staged events idx[0..m) that were not inserted (inserted[i] 0) because their
 * event_id was stored with other content become dead letters instead of
 * duplicates: another event given a used event_id is not lost without a word.
 * The stored event stays as it is.
 */
static cx_status dead_letter_reused_ids(cx_pg *pg, batch *b, const size_t *idx, size_t m,
                                        const unsigned char *inserted, char *err, size_t errlen)
{
    cx_buf seqs = {0};
    cx_buf_put(&seqs, "{", 1);
    for (size_t i = 0, k = 0; i < m; i++)
        if (!inserted[i])
            cx_buf_printf(&seqs, "%s%zu", k++ ? "," : "", i);
    cx_buf_put(&seqs, "}", 1);
    const char *params[] = {cx_buf_str(&seqs)};
    PGresult *res = params[0] != NULL
                        ? PQexecParams(pg->conn, reused_sql, 1, NULL, params, NULL, NULL, 0)
                        : NULL;
    cx_buf_free(&seqs);
    cx_status st = res == NULL
                       ? cx_errf(err, errlen, CX_ERR_NOMEM, "postgresql sink: out of memory")
                       : cx__pg_check(pg->conn, res, "comparing events stored before", err, errlen);
    int n = st == CX_OK ? PQntuples(res) : 0;
    for (int i = 0; i < n && st == CX_OK; i++) {
        size_t rec = idx[strtoul(PQgetvalue(res, i, 0), NULL, 10)];
        const cx_record *r = &b->recs[rec];
        char place[300] = "";
        if (!PQgetisnull(res, i, 1))
            snprintf(place, sizeof place, ", read from %s[%s]@%s,", PQgetvalue(res, i, 1),
                     PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
        cx_buf reason = {0};
        cx_buf_printf(&reason,
                      "event_id \"%s\" is already stored with other content (the stored "
                      "event%s is kept): a different event needs an event_id of its own",
                      r->ev->event_id, place);
        if (cx_buf_str(&reason) == NULL) {
            cx_buf_free(&reason);
            st = cx_errf(err, errlen, CX_ERR_NOMEM, "postgresql sink: out of memory");
            break;
        }
        /* debug, as a message that does not parse: a producer reusing ids must not
         * flood the log (the 10 s summary and cxpulse_dead_letters_total count them) */
        cx_log(CX_LOG_DEBUG, "sink.pg", "dead-lettering %s[%d]@%lld: %s", r->topic, r->partition,
               (long long)r->offset, reason.data);
        b->fate[rec] = F_DEAD;
        b->dead[b->n_dead++] = (dead){rec, reason.data, CX_DEAD_ID_REUSED};
        b->res->duplicates--;
    }
    PQclear(res);
    return st;
}

/* Notes in b the column named by res when it is a null refused (23502), for
 * no_event_fills(). */
static void note_refused_null(batch *b, const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *sch = PQresultErrorField(res, PG_DIAG_SCHEMA_NAME);
    const char *tab = PQresultErrorField(res, PG_DIAG_TABLE_NAME);
    const char *col = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
    if (state == NULL || strcmp(state, "23502") != 0 || !sch || !tab || !col)
        return;
    snprintf(b->null_schema, sizeof b->null_schema, "%s", sch);
    snprintf(b->null_table, sizeof b->null_table, "%s", tab);
    snprintf(b->null_column, sizeof b->null_column, "%s", col);
}

/* Writes events idx[0..m) (staging, insert); CX_ERR_INVALID when a row is at fault. */
static cx_status write_events(cx_pg *pg, batch *b, const size_t *idx, size_t m, char *err,
                              size_t errlen)
{
    cx_buf *ev = &pg->rows;
    ev->len = 0;
    ev->failed = 0;
    for (size_t i = 0; i < m; i++) {
        cx__buf_int(ev, (int64_t)i, 0);
        event_row(ev, &b->recs[idx[i]], pg->rule_version);
    }
    /* Staging is empty at the start of a transaction (ON COMMIT DELETE ROWS) and a
     * failed attempt's rows go with its savepoint; only a bisection that stored a
     * first half leaves rows behind. (No TRUNCATE: it would churn the catalog.) */
    cx_status st = CX_OK;
    if (b->staged)
        st = cx__pg_exec(pg->conn, "DELETE FROM cx_stage_events", "clearing staging", err, errlen);
    if (st == CX_OK)
        st =
            cx__pg_copy(pg->conn, "COPY cx_stage_events (seq, " CX__PG_EVENT_COLUMNS ") FROM STDIN",
                        ev, "copying events", err, errlen);
    PGresult *res = NULL;
    if (st == CX_OK) {
        res = PQexec(pg->conn, insert_sql);
        if ((st = cx__pg_check(pg->conn, res, "storing events", err, errlen)) == CX_ERR_INVALID)
            note_refused_null(b, res);
    }
    size_t *fresh = NULL, stored = 0;
    unsigned char *inserted = NULL;
    if (st == CX_OK && ((fresh = malloc((m ? m : 1) * sizeof *fresh)) == NULL ||
                        (inserted = calloc(m ? m : 1, 1)) == NULL))
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "postgresql sink: out of memory");
    if (st == CX_OK) {
        b->staged = 1;
        stored = (size_t)PQntuples(res);
        for (size_t i = 0; i < stored; i++) {
            size_t seq = strtoul(PQgetvalue(res, (int)i, 0), NULL, 10);
            inserted[seq] = 1;
            fresh[i] = idx[seq];
        }
        b->res->stored += stored;
        b->res->duplicates += m - stored;
    }
    PQclear(res);
    if (st == CX_OK && stored < m)
        st = dead_letter_reused_ids(pg, b, idx, m, inserted, err, errlen);
    free(inserted);
    /* the new events' increments, summed here as on the direct path */
    if (st == CX_OK && stored > 0)
        st = count_increments(pg, b, fresh, stored, err, errlen);
    free(fresh);
    return st;
}

/* COPYs pg->stage (when it holds rows) with copy_sql, and empties it. */
static cx_status stage_copy(cx_pg *pg, const char *copy_sql, const char *what, char *err,
                            size_t errlen)
{
    cx_buf *buf = &pg->stage;
    cx_status st = buf->failed ? cx_errf(err, errlen, CX_ERR_NOMEM, "%s: out of memory", what)
                   : buf->len > 0 ? cx__pg_copy(pg->conn, copy_sql, buf, what, err, errlen)
                                  : CX_OK;
    buf->len = 0;
    return st;
}

/* Forgets what count_increments() counted (a path of the batch failed). */
static void reset_increments(cx_pg *pg, batch *b)
{
    cx__pg_signals_reset(pg->sig);
    b->n_fresh = 0;
}

/* Adds what the stored events idx[0..m) add to the signals (pg->sig, whose
 * smallest windows are also what ticket rules look at), and notes them as
 * the batch's new events. No I/O. */
static cx_status count_increments(cx_pg *pg, batch *b, const size_t *idx, size_t m, char *err,
                                  size_t errlen)
{
    for (size_t i = 0; i < m; i++) {
        const cx_record *r = &b->recs[idx[i]];
        if (cx__pg_signals_add(pg->sig, r->ev, r->tags) != CX_OK)
            return cx_errf(err, errlen, CX_ERR_NOMEM, "postgresql sink: out of memory");
        b->fresh[b->n_fresh++] = idx[i];
    }
    return CX_OK;
}

/*
 * The usual case, every event new and every row acceptable: count the
 * increments here, then COPY the events (their tags on their rows) straight
 * into cx.events, inside a savepoint. CX_ERR_INVALID,
 * with nothing left behind, when PostgreSQL refuses a row (a duplicate
 * event_id, a value it rejects): the caller then takes the staged path, which
 * sorts such rows out.
 */
static cx_status write_direct(cx_pg *pg, batch *b, char *err, size_t errlen)
{
    if (b->n_events == 0)
        return CX_OK;
    reset_increments(pg, b);
    cx_status st = count_increments(pg, b, b->events, b->n_events, err, errlen);
    if (st != CX_OK)
        return st;
    cx_buf *ev = &pg->rows;
    ev->len = 0;
    ev->failed = 0;
    for (size_t i = 0; i < b->n_events; i++)
        event_row(ev, &b->recs[b->events[i]], pg->rule_version);
    st = ev->failed ? cx_errf(err, errlen, CX_ERR_NOMEM, "postgresql sink: out of memory")
                    : cx__pg_exec(pg->conn, "SAVEPOINT cx_direct", "savepoint", err, errlen);
    if (st == CX_OK)
        st = cx__pg_copy(pg->conn, "COPY cx.events (" CX__PG_EVENT_COLUMNS ") FROM STDIN", ev,
                         "copying events", err, errlen);
    if (st == CX_OK) {
        b->res->stored += b->n_events;
        return cx__pg_exec(pg->conn, "RELEASE SAVEPOINT cx_direct", "savepoint", err, errlen);
    }
    if (st == CX_ERR_INVALID) {
        pg->direct_skip = DIRECT_SKIP_BATCHES; /* try again without this stream's duplicates
                                                  for a while */
        cx_log(CX_LOG_DEBUG, "sink.pg", "batch takes the staged path: %s", err);
        cx_status rb = cx__pg_exec(pg->conn, "ROLLBACK TO SAVEPOINT cx_direct", "savepoint", err, errlen);
        if (rb != CX_OK)
            return rb;
    }
    return st;
}

/* 1 when a column of cx.events (or of one of its partitions) the sink does
 * not write is NOT NULL with nothing to fill it: no default, not generated,
 * and no BEFORE INSERT row trigger of the table's that might. No event could
 * be stored: the schema is at fault (a column added by hand), not the
 * events. 0 when the column may be filled from the event (the sink's own,
 * a generated one, a trigger's), and on any doubt. */
static int no_event_fills(cx_pg *pg, const batch *b)
{
    const char *params[] = {b->null_schema, b->null_table, b->null_column, CX__PG_EVENT_COLUMNS};
    PGresult *r =
        PQexecParams(pg->conn,
                     "SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
                     " JOIN pg_namespace s ON s.oid = c.relnamespace"
                     " WHERE s.nspname = $1 AND c.relname = $2 AND a.attname = $3"
                     " AND a.attname <> ALL (string_to_array(replace($4, ' ', ''), ','))"
                     " AND a.attnotnull AND NOT a.atthasdef AND a.attgenerated = ''"
                     " AND coalesce(pg_partition_root(c.oid), c.oid) = 'cx.events'::regclass"
                     " AND NOT EXISTS (SELECT 1 FROM pg_trigger t"
                     "  WHERE t.tgrelid IN (c.oid, 'cx.events'::regclass) AND NOT t.tgisinternal"
                     "  AND t.tgtype::int & 7 = 7)", /* row, before, insert */
                     4, NULL, params, NULL, NULL, 0);
    char why[512];
    int ok = cx__pg_check(pg->conn, r, "looking up a refused column", why, sizeof why) == CX_OK;
    int none = ok && PQntuples(r) == 1;
    PQclear(r);
    if (!ok) { /* an older server (pg_partition_root is 12's): bisected as ever, said */
        cx_log(CX_LOG_WARN, "sink.pg", "%s; the batch's rows are tried apart", why);
        PQclear(PQexec(pg->conn, "ROLLBACK TO SAVEPOINT cx_rows"));
    }
    return none;
}

/*
 * Writes idx[0..m) inside a savepoint. A row-level error (CX_ERR_INVALID)
 * rolls back to the savepoint and bisects, so that only the rows PostgreSQL
 * rejects become dead letters; but a NOT NULL column no event can fill
 * (no_event_fills()) is CX_ERR_FATAL, naming it. Other errors are returned
 * as they are.
 */
static cx_status write_isolating(cx_pg *pg, batch *b, const size_t *idx, size_t m, char *err,
                                 size_t errlen)
{
    if (m == 0)
        return CX_OK;
    cx_status st = cx__pg_exec(pg->conn, "SAVEPOINT cx_rows", "savepoint", err, errlen);
    if (st != CX_OK)
        return st;
    size_t stored = b->res->stored, dups = b->res->duplicates;
    st = write_events(pg, b, idx, m, err, errlen);
    if (st == CX_OK)
        return cx__pg_exec(pg->conn, "RELEASE SAVEPOINT cx_rows", "savepoint", err, errlen);
    if (st != CX_ERR_INVALID)
        return st;
    b->res->stored = stored;
    b->res->duplicates = dups;
    if ((st = cx__pg_exec(pg->conn, "ROLLBACK TO SAVEPOINT cx_rows", "savepoint", err, errlen)) != CX_OK)
        return st;
    if (b->null_column[0] != '\0' && !b->null_checked) {
        b->null_checked = 1;
        if (no_event_fills(pg, b))
            return cx_errf(err, errlen, CX_ERR_FATAL,
                           "storing events: %s.%s has a NOT NULL column \"%s\" that cxpulse "
                           "does not write, with no default: no event can be stored (a column "
                           "added by hand? give it a DEFAULT or drop its NOT NULL; see "
                           "\"Objects changed by hand\" in docs/recovery.md)",
                           b->null_schema, b->null_table, b->null_column);
    }
    if (m == 1) {
        char *reason = malloc(strlen(err) + 40);
        if (reason == NULL)
            return cx_errf(err, errlen, CX_ERR_NOMEM, "postgresql sink: out of memory");
        snprintf(reason, strlen(err) + 40, "postgresql rejected the event: %s", err);
        b->fate[idx[0]] = F_DEAD;
        b->dead[b->n_dead++] = (dead){idx[0], reason, CX_DEAD_REJECTED};
        cx_log(CX_LOG_DEBUG, "sink.pg", "dead-lettering %s[%d]@%lld: %s", b->recs[idx[0]].topic,
               b->recs[idx[0]].partition, (long long)b->recs[idx[0]].offset, err);
        return CX_OK;
    }
    if ((st = write_isolating(pg, b, idx, m / 2, err, errlen)) != CX_OK)
        return st;
    return write_isolating(pg, b, idx + m / 2, m - m / 2, err, errlen);
}

/* The staged dead letters, stored for the sink's group ($1). A message
 * dead-lettered before keeps its row: read again after its partition's offset
 * was set back by hand. Another message at the same place (a topic made
 * again) gets a row of its own. */
static const char *const dead_sql =
    "INSERT INTO cx.dead_letters (consumer_group, kafka_topic, kafka_partition, kafka_offset,"
    " error, raw)"
    " SELECT $1, kafka_topic, kafka_partition, kafka_offset, error, raw FROM cx_stage_dead s"
    " WHERE NOT EXISTS (SELECT 1 FROM cx.dead_letters d WHERE d.consumer_group = $1"
    " AND d.kafka_topic = s.kafka_topic AND d.kafka_partition = s.kafka_partition"
    " AND d.kafka_offset = s.kafka_offset AND d.raw = s.raw)";

/* The same for a replay: a replayed message that is still bad keeps its rows
 * (one per group that dead-lettered it, those not stored yet: the same bytes
 * at the same place), with the new reason; a message with no row at all gets
 * one for the sink's group. */
/* clang-format off */
static const char *const replay_dead_sql =
    "WITH u AS (UPDATE cx.dead_letters d SET"
    " original_error = coalesce(d.original_error, d.error),"
    " error = s.error, replayed_at = now(), replay_count = d.replay_count + 1,"
    " replay_result = 'failed again: ' || s.error FROM cx_stage_dead s"
    " WHERE d.kafka_topic = s.kafka_topic AND d.kafka_partition = s.kafka_partition"
    " AND d.kafka_offset = s.kafka_offset AND d.raw = s.raw"
    " AND " CX__PG_DEAD_NOT_STORED("d.") " RETURNING d.id)"
    " INSERT INTO cx.dead_letters (consumer_group, kafka_topic, kafka_partition,"
    " kafka_offset, error, raw, replayed_at, replay_count, replay_result)"
    " SELECT $1, kafka_topic, kafka_partition, kafka_offset, error, raw, now(), 1,"
    " 'failed again: ' || error FROM cx_stage_dead s WHERE NOT EXISTS"
    " (SELECT 1 FROM cx.dead_letters d WHERE d.kafka_topic = s.kafka_topic"
    " AND d.kafka_partition = s.kafka_partition AND d.kafka_offset = s.kafka_offset"
    " AND d.raw = s.raw)"
    " ON CONFLICT DO NOTHING";
/* clang-format on */

static cx_status write_dead_letters(cx_pg *pg, batch *b, char *err, size_t errlen)
{
    if (b->n_dead == 0)
        return CX_OK;
    cx_buf buf = {0};
    for (size_t i = 0; i < b->n_dead; i++) {
        const cx_record *r = &b->recs[b->dead[i].rec];
        cx__buf_field(&buf, r->topic, 0);
        cx__buf_int(&buf, r->partition, 0);
        cx__buf_int(&buf, r->offset, 0);
        cx__buf_field(&buf, b->dead[i].reason ? b->dead[i].reason
                            : r->error           ? r->error
                                                 : "invalid message",
                      0);
        cx__buf_bytea(&buf, r->raw, r->raw_len, 1);
    }
    const char *params[] = {pg->group};
    cx_status st = cx__pg_copy(pg->conn, "COPY cx_stage_dead FROM STDIN", &buf,
                               "storing dead letters", err, errlen);
    if (st == CX_OK)
        st = cx__pg_exec_params(pg->conn, pg->replay ? replay_dead_sql : dead_sql, 1, params,
                                "storing dead letters", err, errlen);
    cx_buf_free(&buf);
    /* A dead letter that cannot be stored would be lost: never a row-level matter. */
    return st == CX_ERR_INVALID ? CX_ERR_FATAL : st;
}

/*
 * Adds the batch's signal increments to cx.signals. When none of their keys
 * is stored yet (a backlog, event time moving on from batch to batch) they
 * are COPYed straight in, in key order, inside a savepoint; otherwise
 * (PostgreSQL refuses a stored key, or one the other writer has just stored)
 * they are staged in cx_stage_sig and added by one upsert that touches each
 * row once, in key order too (so two writers never wait on each other's keys
 * in a cycle), and the next batches take that path for a while (16 batches,
 * doubling up to 1024 while every try meets stored windows).
 * (Looking the keys up first, to COPY the new ones and upsert only the
 * stored ones, does not pay: the look-up is an index descent per key, as
 * costly as the upsert's own conflict check, and writers would have to take
 * turns so as not to COPY the same new key.)
 */
static cx_status write_signals(cx_pg *pg, char *err, size_t errlen)
{
    cx_buf *buf = &pg->stage;
    buf->len = 0;
    buf->failed = 0;
    /* fine ratings are rows of their own, which may repeat a key */
    int keys_once = cx__pg_signals_fine(pg->sig) == 0;
    int direct = keys_once && pg->sig_direct_skip == 0;
    /* binary: the server's text input of timestamps and numerics was 40% of
     * the staging COPY's time in a profile; in key order for the direct COPY
     * (the upsert sorts what it takes) */
    cx_status st = cx__pg_signals_copy_binary(pg->sig, direct, buf, err, errlen);
    if (st != CX_OK) /* not a row's fault: the sums of a batch */
        return st == CX_ERR_INVALID ? CX_ERR_FATAL : st;
    if (direct) {
        st = cx__pg_exec(pg->conn, "SAVEPOINT cx_signals", "savepoint", err, errlen);
        if (st == CX_OK)
            st = cx__pg_copy(pg->conn,
                             "COPY cx.signals (window_start, window_seconds, category, channel,"
                             " events, negative, neutral, positive, rating_count, rating_sum,"
                             " csat_count, csat_sum, nps_count, nps_sum, ces_count, ces_sum,"
                             " stars_count, stars_sum) FROM STDIN (FORMAT binary)",
                             buf, "copying signals", err, errlen);
        if (st == CX_OK) {
            pg->sig_direct_wait = DIRECT_SKIP_BATCHES;
            return cx__pg_exec(pg->conn, "RELEASE SAVEPOINT cx_signals", "savepoint", err, errlen);
        }
        if (PQstatus(pg->conn) != CONNECTION_OK ||
            PQtransactionStatus(pg->conn) != PQTRANS_INERROR)
            return st == CX_ERR_INVALID ? CX_ERR_FATAL : st;
        cx_log(CX_LOG_DEBUG, "sink.pg", "signals take the upsert: %s", err);
        pg->sig_direct_skip = pg->sig_direct_wait;
        if (pg->sig_direct_wait < 64 * DIRECT_SKIP_BATCHES)
            pg->sig_direct_wait *= 2;
        st = cx__pg_exec(pg->conn, "ROLLBACK TO SAVEPOINT cx_signals", "savepoint", err, errlen);
        if (st != CX_OK)
            return st;
    } else if (pg->sig_direct_skip > 0) {
        pg->sig_direct_skip--;
    }
    st = stage_copy(pg, "COPY cx_stage_sig FROM STDIN (FORMAT binary)", "staging signals", err,
                    errlen);
    if (st == CX_OK)
        st = cx__pg_exec(pg->conn, keys_once ? cx__pg_signals_apply_once_sql
                                             : cx__pg_signals_apply_sql,
                         "updating signals", err, errlen);
    /* sums of rows PostgreSQL has accepted: no row of the data is at fault */
    return st == CX_ERR_INVALID ? CX_ERR_FATAL : st;
}

/* Open-addressing set of event_ids over record indices, for in-batch
 * duplicates: the batch's first record with recs[i]'s event_id, or i itself. */
static size_t first_copy(const cx_record *recs, size_t *slots, size_t cap, size_t i)
{
    const char *id = recs[i].ev->event_id;
    uint64_t h = cx_hash_bytes(CX_HASH_SEED, id, strlen(id));
    for (size_t s = h & (cap - 1);; s = (s + 1) & (cap - 1)) {
        if (slots[s] == 0) {
            slots[s] = i + 1;
            return i;
        }
        if (!strcmp(recs[slots[s] - 1].ev->event_id, id))
            return slots[s] - 1;
    }
}

/*
 * A copy of an event that PostgreSQL rejected does not make the batch's later
 * copies of its event_id duplicates: the next copy of each event dead-lettered
 * since b->dead[from] becomes an event to write, in b->events. Returns how many.
 */
static size_t next_copies(batch *b, size_t from)
{
    size_t m = 0;
    for (size_t d = from; d < b->n_dead; d++) {
        const char *id = b->recs[b->dead[d].rec].ev->event_id;
        for (size_t i = b->dead[d].rec + 1; i < b->n; i++) {
            if (b->fate[i] == F_DUPLICATE && !strcmp(b->recs[i].ev->event_id, id)) {
                b->fate[i] = F_EVENT;
                b->res->duplicates--;
                b->events[m++] = i;
                break;
            }
        }
    }
    return m;
}

/* Writes b->events[0..m) by the staged path, then the next copies of those
 * PostgreSQL rejected, until none is left. */
static cx_status write_rounds(cx_pg *pg, batch *b, size_t m, char *err, size_t errlen)
{
    cx_status st = CX_OK;
    while (st == CX_OK && m > 0) {
        size_t from = b->n_dead;
        st = write_isolating(pg, b, b->events, m, err, errlen);
        m = st == CX_OK ? next_copies(b, from) : 0;
    }
    return st;
}

/* Writes the F_LATER records, one of each event_id at a time: staging holds
 * an event_id once (the insert says which staged rows were new by it). */
static cx_status write_later_copies(cx_pg *pg, batch *b, char *err, size_t errlen)
{
    size_t later = 0, cap = 16;
    for (size_t i = 0; i < b->n; i++)
        later += b->fate[i] == F_LATER;
    if (later == 0)
        return CX_OK;
    while (cap < later * 2)
        cap *= 2;
    size_t *slots = malloc(cap * sizeof *slots);
    if (slots == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "postgresql sink: out of memory");
    cx_status st = CX_OK;
    size_t m;
    do {
        memset(slots, 0, cap * sizeof *slots);
        m = 0;
        for (size_t i = 0; i < b->n; i++) {
            if (b->fate[i] == F_LATER && first_copy(b->recs, slots, cap, i) == i) {
                b->fate[i] = F_EVENT;
                b->events[m++] = i;
            }
        }
        st = write_rounds(pg, b, m, err, errlen);
    } while (st == CX_OK && m > 0);
    free(slots);
    return st;
}

/* Says that n new events of a stored batch, ev one of them, are dated more
 * than CX__PG_TICKETS_AHEAD_S after the database's clock (now, Unix
 * seconds), once a minute at most in the process, with how many since it
 * last did. */
static void dated_ahead_said(const cx_event *ev, size_t n, long long now)
{
    static cx__pg_minutely said;
    int again;
    unsigned long long total = cx__pg_minutely_due(&said, n, 1, &again);
    if (total == 0)
        return;
    char when[32], clock[32];
    cx_log(CX_LOG_WARN, "tickets",
           "%llu event(s)%s dated more than %d minutes after PostgreSQL's clock (%s), among"
           " them %s at %s: a producer's clock is ahead, or it writes local time as UTC; they are"
           " stored and counted, but are not where their partition is for the ticket rules"
           " (cxpulse_events_dated_ahead_total counts them; said once a minute at most)",
           total, again ? " since the last such line" : "", CX__PG_TICKETS_AHEAD_S / 60,
           cx_utc_text(now, clock, sizeof clock), ev->event_id,
           cx_utc_text(ev->occurred_at_us / 1000000, when, sizeof when));
}

/* The database's clock, Unix seconds, into *now (the transaction's start,
 * as the rows it writes are dated), and how far this host's clock is ahead
 * of it into *skew (seconds, within the round trip). What is "ahead of the
 * clock" for the ticket rules is judged by the database's clock, which the
 * live page and every stored time use too: a host whose clock is off (a VM
 * resumed with a stale one, NTP broken) then neither drops live events as
 * dated ahead nor takes old ones for live. A skew of a minute or more is
 * logged (once, and when it is gone) and exported as a metric. */
static cx_status db_clock(cx_pg *pg, long long *now, double *skew, char *err, size_t errlen)
{
    int64_t before = cx_now_wall_us();
    PGresult *res = PQexec(pg->conn, "SELECT extract(epoch FROM now())::bigint,"
                                     " extract(epoch FROM clock_timestamp())::float8");
    int64_t after = cx_now_wall_us();
    cx_status st = cx__pg_check(pg->conn, res, "reading the database's clock", err, errlen);
    if (st == CX_OK) {
        *now = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        *skew = (double)(before + after) / 2e6 - strtod(PQgetvalue(res, 0, 1), NULL);
    }
    PQclear(res);
    static atomic_int told; /* per process: every writer measures the same clocks */
    if (st == CX_OK && fabs(*skew) >= CX__PG_SKEW_WARN_S && !atomic_exchange(&told, 1))
        cx_log(CX_LOG_WARN, "sink.pg",
               "this host's clock is %.0f s %s the database's: ticket rules and freshness "
               "go by the database's clock, but the log's times, the webhook signatures' and "
               "what receivers compare them with do not; is NTP running on both? "
               "(cxpulse_clock_skew_seconds)",
               fabs(*skew), *skew > 0 ? "ahead of" : "behind");
    else if (st == CX_OK && fabs(*skew) < CX__PG_SKEW_WARN_S / 6 && atomic_exchange(&told, 0))
        cx_log(CX_LOG_INFO, "sink.pg", "this host's clock agrees with the database's again");
    return st;
}

/* For a replay of dead letters, which knows no partition's place: where the
 * stream is as cx.signals has it, the latest smallest window starting no
 * later than CX__PG_TICKETS_AHEAD_S after the database's clock, into *edge (seconds;
 * unchanged when there is none). Replayed messages days old then do not
 * re-open an incident of theirs, as a straggler does not. */
static cx_status stored_edge(cx_pg *pg, long long *edge, char *err, size_t errlen)
{
    char ahead[24], base[16];
    snprintf(ahead, sizeof ahead, "%d", CX__PG_TICKETS_AHEAD_S);
    snprintf(base, sizeof base, "%d", pg->base_window);
    const char *params[] = {ahead, base};
    return cx__pg_scalar(
        pg->conn,
        "SELECT extract(epoch FROM max(window_start))::bigint"
        " FROM cx.signals WHERE window_start <= now() + make_interval(secs => $1::int)"
        " AND window_seconds = $2::int",
        2, params, "reading where the stream is", edge, err, errlen);
}

static cx_status write_batch_tx(cx_pg *pg, batch *b, part *parts, size_t np, char *err,
                                size_t errlen)
{
    cx_status st = cx__pg_exec(pg->conn, "BEGIN", "beginning the batch", err, errlen);
    if (st == CX_OK && !pg->replay)
        st = lock_offsets(pg, parts, np, err, errlen);
    /* where the stream of the batch's partitions is (the live edge of ticket
     * rules): the latest event stored from them, as this process knows */
    long long edge = NO_TIME;
    for (size_t i = 0; st == CX_OK && !pg->replay && i < np; i++) {
        int64_t latest_s;
        int64_t known = seen_get(pg->seen, parts[i].topic, parts[i].partition, &latest_s);
        parts[i].before_s = latest_s;
        if (latest_s > edge)
            edge = latest_s;
        if (parts[i].stored < known)
            st = lost_commits(parts[i].topic, parts[i].partition, parts[i].stored, known, err,
                              errlen);
    }
    if (st == CX_OK && pg->replay && pg->rules != NULL)
        st = stored_edge(pg, &edge, err, errlen);
    for (size_t i = 0; pg->replay && i < np; i++)
        parts[i].before_s = edge;
    if (st != CX_OK)
        return st;
    b->sized = 1;

    size_t cap = 16;
    while (cap < b->n * 2)
        cap *= 2;
    size_t *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "postgresql sink: out of memory");
    for (size_t i = 0; i < b->n; i++) {
        const cx_record *r = &b->recs[i];
        size_t k, first;
        for (k = 0; k < np; k++)
            if (parts[k].partition == r->partition && !strcmp(parts[k].topic, r->topic))
                break;
        if (!pg->replay && r->offset < parts[k].stored) {
            b->fate[i] = F_SKIP;
            b->res->skipped++;
        } else if (r->ev == NULL || r->tags == NULL) {
            b->fate[i] = F_DEAD;
            b->dead[b->n_dead++] = (dead){i, NULL, CX_DEAD_INVALID};
        } else if ((first = first_copy(b->recs, slots, cap, i)) != i) {
            const cx_record *f = &b->recs[first];
            if (f->raw_len == r->raw_len && !memcmp(f->raw, r->raw, r->raw_len)) {
                b->fate[i] = F_DUPLICATE;
                b->res->duplicates++;
            } else {
                b->fate[i] = F_LATER;
            }
        } else {
            b->fate[i] = F_EVENT;
            b->events[b->n_events++] = i;
        }
    }
    free(slots);

    st = CX_ERR_INVALID;
    if (pg->direct_skip > 0)
        pg->direct_skip--;
    else
        st = write_direct(pg, b, err, errlen);
    if (st == CX_ERR_INVALID) {
        reset_increments(pg, b);
        st = write_rounds(pg, b, b->n_events, err, errlen);
    }
    if (st == CX_OK)
        st = write_later_copies(pg, b, err, errlen);
    if (st == CX_OK)
        st = write_dead_letters(pg, b, err, errlen);
    if (st == CX_OK && !pg->replay)
        st = advance_offsets(pg, parts, np, err, errlen);
    /* Last, the rows other writers update too: tickets, then signals (each in key
     * order), so that their locks are held from here to COMMIT only. */
    size_t tickets_before = b->res->tickets_opened + b->res->tickets_updated;
    /* each partition's latest new event (none dated more than the ahead
     * allowance after the clock): with the hint, the rules' live edge; and
     * per new event, where its partition was before the batch: for event rules */
    long long now = 0;
    if (st == CX_OK && b->res->stored > 0 &&
        (st = db_clock(pg, &now, &b->res->clock_skew_s, err, errlen)) == CX_OK)
        b->res->clock_known = 1;
    int64_t ahead = now + CX__PG_TICKETS_AHEAD_S;
    const cx_event *first_ahead = NULL;
    int evaluate = st == CX_OK && pg->rules != NULL && b->res->stored > 0;
    long long *before = evaluate ? malloc((b->n_fresh ? b->n_fresh : 1) * sizeof *before) : NULL;
    if (evaluate && before == NULL)
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "postgresql sink: out of memory");
    for (size_t i = 0; st == CX_OK && i < b->n_fresh; i++) {
        const cx_record *r = &b->recs[b->fresh[i]];
        int64_t t = r->ev->occurred_at_us / 1000000;
        size_t k = 0;
        while (k < np && (parts[k].partition != r->partition || strcmp(parts[k].topic, r->topic)))
            k++;
        if (k < np && t <= ahead && t > parts[k].latest_s)
            parts[k].latest_s = t;
        if (t <= ahead && t > b->res->newest_event_s)
            b->res->newest_event_s = t;
        if (t > ahead && b->res->dated_ahead++ == 0)
            first_ahead = r->ev;
        if (before != NULL)
            before[i] = k < np ? parts[k].before_s : NO_TIME;
    }
    for (size_t k = 0; k < np; k++)
        if (parts[k].latest_s > edge)
            edge = parts[k].latest_s;
    if (st == CX_OK && evaluate)
        st = cx__pg_tickets_evaluate(pg->conn, pg->rules, pg->base_window, pg->ticket_max_age, now,
                                     edge, before, cx__pg_signals_window(pg->sig, pg->base_window),
                                     b->recs, b->fresh, b->n_fresh, b->res, err, errlen);
    free(before);
    /* A ticket's NOTIFY and notifications reach people as soon as COMMIT
     * returns: a commit the server could lose in a crash would open or
     * announce the ticket a second time when the batch is read again. */
    if (st == CX_OK && !pg->sync_commit &&
        b->res->tickets_opened + b->res->tickets_updated > tickets_before)
        st = cx__pg_exec(pg->conn, "SET LOCAL synchronous_commit = on",
                         "committing a batch that opened or updated a ticket", err, errlen);
    if (st == CX_OK && b->res->stored > 0)
        st = write_signals(pg, err, errlen);
    if (st == CX_OK)
        st = cx__pg_exec(pg->conn, "COMMIT", "committing the batch", err, errlen);
    for (size_t i = 0; st == CX_OK && !pg->replay && i < np; i++)
        seen_raise(pg->seen, parts[i].topic, parts[i].partition, parts[i].max_offset + 1,
                   parts[i].latest_s);
    if (st != CX_OK)
        return st;
    if (first_ahead != NULL) /* stored: a batch tried again is not said twice */
        dated_ahead_said(first_ahead, b->res->dated_ahead, now);
    b->res->dead_lettered = b->n_dead;
    for (size_t i = 0; i < b->n_dead; i++)
        b->res->dead_by[b->dead[i].why]++;
    for (size_t i = 0; i < b->n_fresh; i++) {
        const cx_tags *t = b->recs[b->fresh[i]].tags;
        b->res->classified[cx_tags_primary(t)][t->sentiment]++;
    }
    return CX_OK;
}

cx_status cx_pg_write_batch(cx_pg *pg, const cx_record *recs, size_t n, cx_pg_result *res,
                            char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    free(pg->last_fate);
    pg->last_fate = NULL;
    pg->last_n = 0;
    pg->refused_for_size = 0;
    atomic_store(&pg->cancel_asked, 0);
    if (n == 0)
        return CX_OK;
    cx_status st = ensure_session(pg, err, errlen);
    if (st != CX_OK)
        return st;
    batch b = {.recs = recs, .n = n, .res = res};
    part *parts = malloc(n * sizeof *parts);
    b.fate = malloc(n);
    b.events = malloc(n * sizeof *b.events);
    b.fresh = malloc(n * sizeof *b.fresh);
    b.dead = malloc(n * sizeof *b.dead);
    if (parts == NULL || b.fate == NULL || b.events == NULL || b.fresh == NULL || b.dead == NULL) {
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "postgresql sink: out of memory");
    } else {
        size_t np = collect_parts(recs, n, parts);
        st = write_batch_tx(pg, &b, parts, np, err, errlen);
    }
    if (st == CX_OK) { /* kept for cx_pg_dead_lettered() */
        pg->last_fate = b.fate;
        pg->last_n = n;
        b.fate = NULL;
    }
    if (st != CX_OK) {
        memset(res, 0, sizeof *res);
        pg->refused_for_size =
            st == CX_ERR_TRANSIENT && b.sized &&
            ((strstr(err, "(SQLSTATE 57014)") != NULL && !atomic_load(&pg->cancel_asked)) ||
             strstr(err, "(SQLSTATE 53400)") != NULL || strstr(err, "(SQLSTATE 53200)") != NULL);
        if (pg->conn != NULL && PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
            PQclear(PQexec(pg->conn, "ROLLBACK"));
        if (st == CX_ERR_INVALID) /* a row error outside the rows: not the data's fault */
            st = CX_ERR_FATAL;
        if (st == CX_ERR_TRANSIENT) {
            /* Also an unknown COMMIT outcome: the retry's offset check settles it. */
            disconnect(pg);
        }
    }
    for (size_t i = 0; b.dead != NULL && i < b.n_dead; i++)
        free(b.dead[i].reason);
    free(parts);
    free(b.fate);
    free(b.events);
    free(b.fresh);
    free(b.dead);
    return st;
}

int cx__pg_refused_for_size(const cx_pg *pg)
{
    return pg->refused_for_size;
}
