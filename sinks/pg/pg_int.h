/*
 * pg_int.h - private to sinks/pg: connecting, telling errors apart by
 * SQLSTATE, and building COPY data (text format, and binary for signals).
 */
#ifndef CX_PG_INT_H
#define CX_PG_INT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "classify.h"
#include "cx.h"
#include "event.h"
#include "window.h"

/* Connects with keepalives and a TCP user timeout, so a dead server is noticed in
 * seconds. CX_ERR_TRANSIENT if unreachable, CX_ERR_FATAL if refused (auth, no database),
 * CX_ERR_CONFIG if conninfo cannot be parsed. Messages never quote a password. What the
 * server says besides results (WARNING, NOTICE) is logged (component "pg"). */
cx_status cx__pg_connect(const char *conninfo, PGconn **out, char *err, size_t errlen);

/* cx__pg_connect(), then checks that the cx schema is there at the version
 * this build needs: CX_ERR_FATAL naming `cxpulse migrate` if not (the
 * connection is closed). */
cx_status cx__pg_connect_schema(const char *conninfo, PGconn **out, char *err, size_t errlen);

/* cx__pg_connect(), giving up after timeout_ms (0: libpq's connect_timeout
 * only), so a server that accepts connections but never answers cannot hold
 * the caller. No schema check. */
cx_status cx__pg_connect_within(const char *conninfo, int timeout_ms, PGconn **out, char *err,
                                size_t errlen);

/* Runs sql with text params and returns its last result, or NULL when no
 * answer came within timeout_ms (or the connection failed): then the
 * connection is in an unknown state and must be closed. */
PGresult *cx__pg_exec_within(PGconn *conn, const char *sql, int n, const char *const *params,
                             int timeout_ms);

/* Copies libpq's message msg (its first line) for a connection to conninfo
 * (conn: the failed connection, or NULL) with every quoted part that is not a
 * host, port, user, database or service name, or an option name, redacted. */
void cx__pg_redact(const char *conninfo, PGconn *conn, const char *msg, char *out, size_t outlen);

/* The columns of cx.events a batch writes, in the order of the sink's rows. */
#define CX__PG_EVENT_COLUMNS                                                                       \
    "event_id, occurred_at, customer_id, channel, touchpoint, language, body, rating_scale,"       \
    " rating_value, sentiment, primary_category, payload, kafka_topic, kafka_partition,"           \
    " kafka_offset, rule_version, categories, confidences, evidence, sentiment_from"

/*
 * Checks a result: CX_OK for a success; otherwise writes "<what>: <message>
 * (detail: ...; hint: ...) (SQLSTATE xxxxx)" (one line; the server's DETAIL
 * and HINT when it gave either) and returns, by SQLSTATE class,
 * CX_ERR_TRANSIENT (connection, server state, resources, serialization,
 * deadlock), CX_ERR_INVALID (the row is at fault: data and integrity, 22 and
 * 23; a limit it exceeds, such as an index entry's size, 54; an exception a
 * trigger raised, P0001) or CX_ERR_FATAL (privileges, missing objects,
 * syntax, anything else).
 */
cx_status cx__pg_check(PGconn *conn, const PGresult *res, const char *what, char *err,
                       size_t errlen);

/* 1 when err, written by cx__pg_check(), says a wait for a lock another
 * session holds ended at lock_timeout (SQLSTATE 55P03): the server works,
 * and the same statement may well pass a moment later. */
int cx__pg_lock_timed_out(const char *err);

/* 1 when the last cx_pg_write_batch() failed in a statement whose work grows
 * with the batch (its events, dead letters, signals, tickets; not the session
 * or the offsets' locks) and the server refused it for what it would take: a
 * statement ended early not at our request (57014: a statement_timeout, read
 * by its code alone, whatever the server's language), a configured limit such
 * as temp_file_limit (53400) or its memory (53200). A smaller batch may pass. */
struct cx_pg;
int cx__pg_refused_for_size(const struct cx_pg *pg);

/* Runs sql (no parameters) and checks its result as cx__pg_check() does. */
cx_status cx__pg_exec(PGconn *conn, const char *sql, const char *what, char *err,
                      size_t errlen);

/* Elements of an array literal in a cx_buf holding its "{" (a parameter such
 * as $1::text[] or $2::bigint[]; the caller closes it with "}"): a text,
 * quoted (NULL for a NULL string), or an integer. */
void cx__pg_array_text(cx_buf *b, const char *s);
void cx__pg_array_int(cx_buf *b, long long v);

/* The same for one statement with n text parameters, whose rows are not wanted. */
cx_status cx__pg_exec_params(PGconn *conn, const char *sql, int n, const char *const *params,
                             const char *what, char *err, size_t errlen);

/* The same for a query of one whole number (a count, a max): its value in
 * *out, left as it was when the query gives NULL or no row. */
cx_status cx__pg_scalar(PGconn *conn, const char *sql, int n, const char *const *params,
                        const char *what, long long *out, char *err, size_t errlen);

/* COPY data is built in a cx_buf (cx.h). */
/* Appends s[n] escaped for COPY text format (backslash, tab, newline, CR). */
void cx__buf_copy_text(cx_buf *b, const char *s, size_t n);
/* Appends an integer COPY field (decimal, as printf's "%lld"); then tab or newline. */
void cx__buf_int(cx_buf *b, int64_t v, int last);
/* Appends a COPY field: the string escaped, or \N for NULL; then tab or newline. */
void cx__buf_field(cx_buf *b, const char *s, int last);
/* Appends a timestamptz COPY field, UTC with microseconds, from microseconds since
 * the epoch (years 0001..9999, as the event parser accepts). */
void cx__buf_timestamp(cx_buf *b, int64_t us, int last);
/* Appends bytes as a bytea hex COPY field. */
void cx__buf_bytea(cx_buf *b, const void *p, size_t n, int last);
/* Appends v's low `bytes` bytes (2, 4 or 8), most significant first: an integer
 * of PostgreSQL's binary send format. */
void cx__buf_be(cx_buf *b, uint64_t v, int bytes);
/* Appends a numeric value of the binary format, after its 4-byte length: the
 * decimal text (sign, digits, point, exponent) as numeric_in would store it,
 * the same display scale included; negated when negate is set (a zero stays
 * positive). CX_ERR_INVALID, nothing appended, for anything else (NaN,
 * infinities, blanks) or more than 64 digits. */
cx_status cx__buf_numeric(cx_buf *b, const char *text, int negate);
/* Appends an event's tags as the COPY fields of cx.events' categories (text[]),
 * confidences (real[]) and evidence (jsonb: an array of string arrays), in
 * the order of t->order, the primary category first. */
void cx__buf_tags(cx_buf *b, const cx_tags *t, int last);

/* Result rows as a JSON array of objects keyed by column: integers and booleans
 * as such, json columns parsed, the rest as strings. NULL on no memory. */
json_t *cx__pg_rows_json(const PGresult *r);

/* Row i of r as one such object; NULL when there is no such row, or no memory. */
json_t *cx__pg_row_json(const PGresult *r, int i);

/* A list cut at limit, and how long it would be: runs rows_sql (params[0..n),
 * then the limit as $n+1) and, when it returns limit rows, count_sql (the
 * same n parameters), in one read-only snapshot that is ended before
 * returning. *out is the rows as cx__pg_rows_json() gives them, *total how
 * many match; errors name `what` ("listing tickets"). */
cx_status cx__pg_list(PGconn *conn, const char *rows_sql, const char *count_sql, int n,
                      const char *const *params, int limit, const char *what, json_t **out,
                      long long *total, char *err, size_t errlen);

/* Runs `copy_sql` (COPY ... FROM STDIN) with buf as its data; reads every result. */
cx_status cx__pg_copy(PGconn *conn, const char *copy_sql, const cx_buf *buf, const char *what,
                      char *err, size_t errlen);

/* The head of an upsert into cx.signals (rows in its column order follow) and
 * its conflict clause: increments add up to what is stored. */
#define CX__PG_SIGNALS_INSERT                                                                  \
    "INSERT INTO cx.signals AS s (window_start, window_seconds, category, channel, events,\n" \
    "  negative, neutral, positive, rating_count, rating_sum, csat_count, csat_sum,\n"          \
    "  nps_count, nps_sum, ces_count, ces_sum, stars_count, stars_sum)\n"
#define CX__PG_SIGNALS_ADD                                                                     \
    "ON CONFLICT (window_start, window_seconds, category, channel) DO UPDATE SET\n"            \
    "  events = s.events + excluded.events, negative = s.negative + excluded.negative,\n"     \
    "  neutral = s.neutral + excluded.neutral, positive = s.positive + excluded.positive,\n"   \
    "  rating_count = s.rating_count + excluded.rating_count,\n"                              \
    "  rating_sum = s.rating_sum + excluded.rating_sum,\n"                                    \
    "  csat_count = s.csat_count + excluded.csat_count, csat_sum = s.csat_sum + excluded.csat_sum,\n" \
    "  nps_count = s.nps_count + excluded.nps_count, nps_sum = s.nps_sum + excluded.nps_sum,\n" \
    "  ces_count = s.ces_count + excluded.ces_count, ces_sum = s.ces_sum + excluded.ces_sum,\n" \
    "  stars_count = s.stars_count + excluded.stars_count,\n"                                \
    "  stars_sum = s.stars_sum + excluded.stars_sum"

/* ---- Signal increments (signals.c) ---- */

/* A batch's signal increments per window size, summed in C. */
typedef struct cx__pg_signals cx__pg_signals;

/* Creates the session's staging table cx_stage_sig (cx.signals' columns). */
extern const char *const cx__pg_signals_stage_sql;
/* Adds what cx_stage_sig holds to cx.signals: one row per key, in key order. */
extern const char *const cx__pg_signals_apply_sql;

/* The same when cx_stage_sig holds each key once. */
extern const char *const cx__pg_signals_apply_once_sql;
/* How many ratings too fine for exact sums here were kept aside (staged as
 * rows of their own, which then share a key with a cell). */
size_t cx__pg_signals_fine(const cx__pg_signals *s);

/* widths[0..n) in seconds, each > 0 (n = 0: one window of 60 s). */
cx_status cx__pg_signals_new(cx__pg_signals **out, const int *widths, size_t n, char *err,
                             size_t errlen);
void cx__pg_signals_free(cx__pg_signals *s);
void cx__pg_signals_reset(cx__pg_signals *s);
/* Adds an event to every window size (exact sums; a rating too fine for them
 * is kept aside and staged as a sum of its own). CX_ERR_NOMEM only. */
cx_status cx__pg_signals_add(cx__pg_signals *s, const cx_event *ev, const cx_tags *tags);
/* Appends COPY rows for cx_stage_sig, every value times sign (1 or -1). */
void cx__pg_signals_rows(const cx__pg_signals *s, int sign, cx_buf *b);
/* Appends the same rows (sign 1) as the data of a COPY ... FROM STDIN (FORMAT
 * binary) into cx_stage_sig or cx.signals, its head and trailer included;
 * with in_key_order, the windows' rows in the order of cx.signals' key (the
 * fine ratings after them): the values PostgreSQL stores for the text rows,
 * numeric display scales too. CX_ERR_INVALID, naming the row, when a count is
 * beyond int (COPY would refuse its text) or a sum cannot be encoded;
 * CX_ERR_NOMEM. */
cx_status cx__pg_signals_copy_binary(const cx__pg_signals *s, int in_key_order, cx_buf *b,
                                     char *err, size_t errlen);
/* Appends COPY rows for cx_stage_sig of plus minus minus: one row per key
 * (window, category, channel), none where the two cancel out. CX_ERR_INVALID
 * (nothing appended) when either side kept fine ratings aside, or their
 * window sizes differ; CX_ERR_NOMEM. */
cx_status cx__pg_signals_diff_rows(const cx__pg_signals *minus, const cx__pg_signals *plus,
                                   cx_buf *b);

/* The cells of the smallest window size so far (width: one of the sizes). */
const cx_window *cx__pg_signals_window(const cx__pg_signals *s, int width);

/* ---- Tickets (tickets_eval.c) ---- */

/* Taken, to the end of the transaction, by a batch before its ticket rules
 * read cx.signals and by a change of a ticket's status: a second writer then
 * reads the first one's increments (a spike whose events two writers carry
 * is seen), and a resolve is never overtaken by a rule that read the ticket
 * before it. */
#define CX__PG_TICKETS_LOCK_KEY "(7512860309426239849)"
#define CX__PG_TICKETS_LOCK_SQL "SELECT pg_advisory_xact_lock" CX__PG_TICKETS_LOCK_KEY

/* Held shared by a dead-letter replay for as long as it runs, exclusively by
 * an erasure (deploy/sql/erase-customer.sql, which has the number): the two
 * never run at once. */
#define CX__PG_ERASURE_LOCK_KEY "(7242837002)"

struct cx_sink_counts;
struct cx_ticket_rules;
struct cx_record;

/* A log line said once a minute at most in the process (a static one per
 * line), with how many things it is about since it was last said. */
typedef struct cx__pg_minutely {
    _Atomic int64_t said_us; /* monotonic; 0: never */
    atomic_ullong unsaid;
} cx__pg_minutely;

/* Adds n to what m's line is about; when `say` and a minute has passed since
 * it was last said (or it never was), returns the total to say now, and
 * *again 1 when it was said before; else 0 (say nothing yet). */
unsigned long long cx__pg_minutely_due(cx__pg_minutely *m, unsigned long long n, int say,
                                       int *again);

/* How far ahead of the writer's clock an event may be dated and still move
 * the live edge of ticket rules (where the stream is), seconds. */
#define CX__PG_TICKETS_AHEAD_S 600

/* A difference of this host's clock from the database's that is logged (seconds). */
#define CX__PG_SKEW_WARN_S 60

/* SQL: a timestamptz expression x as the commands and receivers show times,
 * 2026-10-30T02:37:12Z (UTC, whatever the session's TimeZone). */
#define CX__PG_UTC_ISO(x) "to_char((" x ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* Evaluates every rule on what the batch's new events recs[idx[0..m)] touched
 * (cells: their increments per smallest window, base_window seconds wide, not
 * yet in cx.signals), over cx.signals with those increments added, opening or
 * updating tickets; counts them in res. edge: the live edge, where the
 * batch's partitions are (seconds; INT64_MIN / 2: nowhere yet): the latest
 * event stored from them, or of the batch, leaving out events dated more
 * than CX__PG_TICKETS_AHEAD_S after the clock (now: the database's, Unix
 * seconds). before[i]: where the partition
 * of recs[idx[i]] was before the batch (the same, without the batch's
 * events), for event rules: an event over two hours before it is a
 * straggler. max_age > 0: a window that ended, or an event dated, more than
 * max_age seconds before the clock is history and fires no rule. Runs inside
 * the batch's transaction. */
cx_status cx__pg_tickets_evaluate(PGconn *conn, const struct cx_ticket_rules *rules,
                                  int base_window, int max_age, long long now, long long edge,
                                  const long long *before, const cx_window *cells,
                                  const struct cx_record *recs, const size_t *idx, size_t m,
                                  struct cx_sink_counts *res, char *err, size_t errlen);

/* Where a gauge counts rows that can pile up without end (dead letters
 * nobody replays, notifications that failed for good), it stops counting at
 * this many: a full count grows with the table, and it runs every few seconds
 * on every replica. Text form for SQL. */
#define CX__PG_COUNT_CAP "10000"

/* A dead letter not stored yet (never replayed, or replayed and failed
 * again: its replay_result then starts "failed again: "), as SQL over the
 * row alias a ("d." or ""): what a replay takes and
 * cxpulse_dead_letters_waiting counts. */
#define CX__PG_DEAD_NOT_STORED(a)                                                                  \
    "(" a "replay_result IS NULL OR " a "replay_result LIKE 'failed again%')"

#endif /* CX_PG_INT_H */
