/*
 * pgutil.c - connection set-up, SQLSTATE classes, and COPY data in text
 * and binary format (see pg_int.h).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg.h"
#include "pg_int.h"

/* Appends " (detail: D; hint: H)", what res says beyond its message, to the
 * string in out[outlen] (cut to fit); nothing when it says neither. Newlines
 * become spaces: a message stays one line. Not the detail of a data error
 * or a constraint's (SQLSTATE classes 22 and 23): it quotes the row's
 * values ("Failing row contains (...)"), customers' text among them, which
 * logs and dead letters' errors must not carry. */
static void append_detail(const PGresult *res, char *out, size_t outlen)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    int row_data = state != NULL && (!strncmp(state, "22", 2) || !strncmp(state, "23", 2));
    const char *detail = res && !row_data ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
    size_t used = strlen(out);
    if ((detail == NULL && hint == NULL) || used + 1 >= outlen)
        return;
    snprintf(out + used, outlen - used, " (%s%s%s%s%s)", detail ? "detail: " : "",
             detail ? detail : "", detail && hint ? "; " : "", hint ? "hint: " : "",
             hint ? hint : "");
    for (char *p = out + used; *p != '\0'; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

/* The notice receiver of our connections: what the server says besides
 * results (a WARNING, a NOTICE) is one log line, in the logger's format,
 * instead of libpq's text on stderr. */
static void log_notice(void *arg, const PGresult *res)
{
    (void)arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    char what[16] = "notice", msg[1024];
    if (severity != NULL)
        for (size_t i = 0; i + 1 < sizeof what; i++)
            if ((what[i] = (char)tolower((unsigned char)severity[i])) == '\0')
                break;
    /* a FATAL one is why the server is ending the session (an idle-in-
     * transaction timeout, pg_terminate_backend): the next error only says
     * the connection closed */
    cx_log_level level = strcmp(what, "warning") == 0 || strcmp(what, "error") == 0 ||
                                 strcmp(what, "fatal") == 0 || strcmp(what, "panic") == 0
                             ? CX_LOG_WARN
                         : strncmp(what, "debug", 5) == 0 ? CX_LOG_DEBUG
                                                          : CX_LOG_INFO;
    snprintf(msg, sizeof msg, "postgresql %s: %s", what,
             primary ? primary : PQresultErrorMessage(res));
    msg[strcspn(msg, "\n")] = '\0';
    append_detail(res, msg, sizeof msg);
    cx_log(level, "pg", "%s", msg);
}

/* How long a statement of ours waits for a lock when nothing else says. */
#define LOCK_TIMEOUT "30s"

/* Waits until conn's socket is ready for reading (or writing) or the monotonic
 * deadline (microseconds) passes; 0 when ready. */
static int wait_socket(PGconn *conn, int for_write, int64_t deadline_us)
{
    for (;;) {
        int64_t left = deadline_us - cx_now_mono_us();
        if (left <= 0)
            return -1;
        struct pollfd pfd = {PQsocket(conn), for_write ? POLLOUT : POLLIN, 0};
        int n = poll(&pfd, 1, (int)(left / 1000) + 1);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

cx_status cx__pg_connect_within(const char *conninfo, int timeout_ms, PGconn **out, char *err,
                                size_t errlen)
{
    /* Our defaults first: the user's conninfo ("dbname", expanded) comes next,
     * so anything it says wins, but for the encoding: what we send and read
     * is UTF-8 (and the database's had better be too, below). */
    const char *keys[] = {"keepalives",          "keepalives_idle",
                          "keepalives_interval", "keepalives_count",
                          "tcp_user_timeout",    "connect_timeout",
                          "application_name",    "dbname",
                          "client_encoding",     NULL};
    const char *vals[] = {
        "1", "10", "5", "3", "15000", "10", "cxpulse", conninfo ? conninfo : "", "UTF8", NULL};
    cx_status st = cx_pg_conninfo_check(conninfo, err, errlen);
    if (st != CX_OK)
        return st; /* a configuration error: retrying cannot help */
    PGconn *conn;
    if (timeout_ms <= 0) {
        conn = PQconnectdbParams(keys, vals, 1);
    } else {
        int64_t deadline = cx_now_mono_us() + (int64_t)timeout_ms * 1000;
        conn = PQconnectStartParams(keys, vals, 1);
        if (conn != NULL) /* before the server's first words (a collation warning) */
            PQsetNoticeReceiver(conn, log_notice, NULL);
        PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
        while (conn != NULL && PQstatus(conn) != CONNECTION_BAD && ps != PGRES_POLLING_OK &&
               ps != PGRES_POLLING_FAILED) {
            if (wait_socket(conn, ps == PGRES_POLLING_WRITING, deadline) != 0) {
                PQfinish(conn);
                return cx_errf(err, errlen, CX_ERR_TRANSIENT,
                               "cannot connect to postgresql: no answer within %d ms", timeout_ms);
            }
            ps = PQconnectPoll(conn);
        }
    }
    if (conn == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "postgresql: out of memory");
    if (PQstatus(conn) != CONNECTION_OK) {
        char msg[512];
        const char *raw = PQerrorMessage(conn); /* recognised by its words, never shown */
        cx__pg_redact(conninfo, conn, raw, msg, sizeof msg);
        /* libpq gives no SQLSTATE for a failed connection: refused credentials, a
         * missing database or role, a role that may not log in or connect to the
         * database, and a client pg_hba.conf has no line for are recognised by
         * the server's and libpq's own wording, and will not fix themselves;
         * anything else (refused, timed out, starting up) is worth retrying. */
        int fatal = PQconnectionNeedsPassword(conn) || strstr(raw, "authentication failed") ||
                    strstr(raw, "does not exist") || strstr(raw, "is not permitted to log in") ||
                    strstr(raw, "permission denied for database") ||
                    strstr(raw, "no pg_hba.conf entry") ||
                    /* PgBouncer's words for a database it has no entry for, and
                     * libpq's for sslmode=require to a server (or pooler)
                     * without TLS */
                    strstr(raw, "no such database") ||
                    strstr(raw, "does not support SSL, but SSL was required") != NULL;
        /* a value libpq checks before it reaches the server ("invalid sslmode value",
         * "invalid integer value ... for connection option", "could not match 3 port
         * numbers to 2 hosts", "could not parse network address"): the configuration
         * is wrong */
        int config = strncmp(raw, "invalid ", 8) == 0 || strstr(raw, "for connection option") ||
                     strstr(raw, "could not match") ||
                     strstr(raw, "could not parse network address");
        /* the server's or the role's connection limit (max_connections,
         * CONNECTION LIMIT): retried, and how many a replica takes said */
        const char *slots = strstr(raw, "too many connections") ||
                                    strstr(raw, "remaining connection slots are reserved") ||
                                    strstr(raw, "no more connections allowed") /* PgBouncer */
                                ? " (each cxpulse run holds postgres.writers connections, 2 more "
                                  "with the HTTP listener and 1 more with alert receivers: see "
                                  "\"PostgreSQL settings\" in docs/sizing.md)"
                                : "";
        /* libpq names the server; who asked for what is said here */
        char who[300];
        const char *service = NULL;
        PQconninfoOption *opts = PQconninfo(conn);
        for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
            if (strcmp(o->keyword, "service") == 0 && o->val != NULL && o->val[0] != '\0')
                service = o->val;
        snprintf(who, sizeof who, " (user \"%s\", database \"%s\"%s%s%s)",
                 PQuser(conn) ? PQuser(conn) : "", PQdb(conn) ? PQdb(conn) : "",
                 service ? ", service \"" : "", service ? service : "", service ? "\"" : "");
        PQconninfoFree(opts);
        PQfinish(conn);
        return cx_errf(err, errlen,
                       config  ? CX_ERR_CONFIG
                       : fatal ? CX_ERR_FATAL
                               : CX_ERR_TRANSIENT,
                       "cannot connect to postgresql: %s%s%s%s", msg, who, slots,
                       conninfo == NULL || conninfo[0] == '\0'
                           ? " (no URL given with --pg, CXPULSE_PG_URL or postgres.url: libpq's "
                             "defaults and PG* variables were used)"
                           : "");
    }
    PQsetNoticeReceiver(conn, log_notice, NULL);
    /* Events hold text of any language (sent and read as UTF-8). SQL_ASCII
     * converts nothing, so no batch could be stored (0A000): refused here,
     * at once, with what to do. Another encoding (LATIN1) stores what it can
     * hold and refuses the rest event by event (22P05: dead-lettered, the
     * reason says why): said once per process. (libpq has the encoding from
     * the server's greeting: no query.) */
    const char *enc = PQparameterStatus(conn, "server_encoding");
    static atomic_int told_encoding;
    if (enc != NULL && strcmp(enc, "SQL_ASCII") == 0) {
        cx_status bad = cx_errf(err, errlen, CX_ERR_CONFIG,
                                "postgresql: database \"%s\" is in encoding SQL_ASCII, which "
                                "converts no text: cxpulse needs a UTF8 database (CREATE "
                                "DATABASE ... ENCODING 'UTF8' TEMPLATE template0; "
                                "docs/recovery.md)",
                                PQdb(conn) ? PQdb(conn) : "");
        PQfinish(conn);
        return bad;
    }
    if (enc != NULL && strcmp(enc, "UTF8") != 0 && !atomic_exchange(&told_encoding, 1)) {
        cx_log(CX_LOG_WARN, "pg",
               "database \"%s\" is in encoding %s: events whose text has a character it "
               "cannot hold (Japanese, emoji, ...) are dead-lettered; a UTF8 database stores "
               "them all (docs/recovery.md); said once",
               PQdb(conn) ? PQdb(conn) : "", enc);
    }
    /* Unless the server, database, role or URL set their own:
     * - a wait for a lock another session holds (an analyst's LOCK TABLE left
     *   in an open transaction, a CREATE INDEX) ends after LOCK_TIMEOUT with
     *   SQLSTATE 55P03, which is retried and logged: a batch, a stop or a
     *   migration cannot hang on it without a word;
     * - the server probes our side of the connection as we probe its (the
     *   keepalives above): when our machine dies, is paused or is cut off in
     *   the middle of a statement (a batch's COPY), its session and the rows
     *   it locked are let go of after about 25 s, not the operating system's
     *   two hours.
     * And unless the URL itself names a search_path (options=-csearch_path=...),
     * names are looked up in pg_catalog and this session's temporary tables
     * alone: every table and function of ours is written with its schema, and
     * a function another role could create in a schema on the path (public,
     * where PUBLIC may create before PostgreSQL 15 and in databases upgraded
     * from it) would otherwise be chosen over the built-in one whenever its
     * argument types match more closely (a public.to_timestamp(bigint) over
     * pg_catalog.to_timestamp(double precision)), and run as this role. This
     * statement, which runs before, names its schema at every turn, operators
     * too. (A pooler may not pass the URL's options: PgBouncer 1.18 refuses
     * them.) */
#define EQ " OPERATOR(pg_catalog.=) "
    static const char session[] =
        "SELECT pg_catalog.set_config(v.name, v.value, false)"
        " FROM (VALUES ('lock_timeout', '" LOCK_TIMEOUT "'), ('tcp_keepalives_idle', '10'),"
        " ('tcp_keepalives_interval', '5'), ('tcp_keepalives_count', '3'),"
        " ('search_path', 'pg_catalog, pg_temp')) AS v(name, value)"
        " JOIN pg_catalog.pg_settings s ON s.name" EQ "v.name"
        " WHERE s.source" EQ "'default' OR (v.name" EQ "'search_path'"
        " AND s.source OPERATOR(pg_catalog.<>) 'client')";
#undef EQ
    PGresult *res = timeout_ms > 0 ? cx__pg_exec_within(conn, session, 0, NULL, timeout_ms)
                                   : PQexec(conn, session);
    cx_status st2 =
        res == NULL && timeout_ms > 0 /* libpq has no words for a time-out */
            ? cx_errf(err, errlen, CX_ERR_TRANSIENT,
                      "cannot connect to postgresql: no answer within %d ms", timeout_ms)
            : cx__pg_check(conn, res, "configuring the session", err, errlen);
    PQclear(res);
    if (st2 != CX_OK) {
        PQfinish(conn);
        return st2;
    }
    *out = conn;
    return CX_OK;
}

cx_status cx__pg_connect(const char *conninfo, PGconn **out, char *err, size_t errlen)
{
    return cx__pg_connect_within(conninfo, 0, out, err, errlen);
}

cx_status cx__pg_connect_schema(const char *conninfo, PGconn **out, char *err, size_t errlen)
{
    cx_status st = cx__pg_connect(conninfo, out, err, errlen);
    if (st != CX_OK)
        return st;
    PGresult *res = PQexec(*out, "SELECT coalesce(max(version), 0) FROM cx.schema_migrations");
    st = cx__pg_check(*out, res, "reading the schema version", err, errlen);
    int version = st == CX_OK ? (int)strtol(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    int missing = state != NULL && (!strcmp(state, "42P01") || !strcmp(state, "3F000"));
    PQclear(res);
    if (st != CX_OK && missing)
        st =
            cx_errf(err, errlen, CX_ERR_FATAL,
                    "the cx schema is missing in database \"%s\": run cxpulse migrate", PQdb(*out));
    else if (st == CX_OK && version < cx_pg_schema_version())
        st = cx_errf(err, errlen, CX_ERR_FATAL,
                     "the cx schema is at version %d, this cxpulse needs %d: run cxpulse migrate",
                     version, cx_pg_schema_version());
    static atomic_int told_newer; /* once per process, not per connection */
    if (st == CX_OK && version > cx_pg_schema_version() && !atomic_exchange(&told_newer, 1))
        cx_log(CX_LOG_WARN, "sink.pg",
               "the cx schema is at version %d, newer than this cxpulse knows (%d): a newer "
               "release migrated it; this release reads and writes it as the older one does "
               "(a replica of it until it is replaced: deploy/README.md, \"Upgrades\")",
               version, cx_pg_schema_version());
    if (st != CX_OK) {
        PQfinish(*out);
        *out = NULL;
    }
    return st;
}

PGresult *cx__pg_exec_within(PGconn *conn, const char *sql, int n, const char *const *params,
                             int timeout_ms)
{
    int64_t deadline = cx_now_mono_us() + (int64_t)timeout_ms * 1000;
    if (!PQsendQueryParams(conn, sql, n, NULL, params, NULL, NULL, 0))
        return NULL;
    int flushed;
    while ((flushed = PQflush(conn)) == 1)
        if (wait_socket(conn, 1, deadline) != 0)
            return NULL;
    if (flushed < 0)
        return NULL;
    PGresult *last = NULL, *res;
    for (;;) {
        while (PQisBusy(conn))
            if (wait_socket(conn, 0, deadline) != 0 || !PQconsumeInput(conn)) {
                PQclear(last);
                return NULL;
            }
        if ((res = PQgetResult(conn)) == NULL)
            return last;
        PQclear(last);
        last = res;
    }
}

cx_status cx__pg_exec(PGconn *conn, const char *sql, const char *what, char *err,
                      size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    cx_status st = cx__pg_check(conn, res, what, err, errlen);
    PQclear(res);
    return st;
}

void cx__pg_array_text(cx_buf *b, const char *s)
{
    cx_buf_put(b, b->len > 1 ? "," : "", b->len > 1);
    if (s == NULL) {
        cx_buf_put(b, "NULL", 4);
        return;
    }
    cx_buf_put(b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            cx_buf_put(b, "\\", 1);
        cx_buf_put(b, s, 1);
    }
    cx_buf_put(b, "\"", 1);
}

void cx__pg_array_int(cx_buf *b, long long v)
{
    cx_buf_printf(b, "%s%lld", b->len > 1 ? "," : "", v);
}

cx_status cx__pg_exec_params(PGconn *conn, const char *sql, int n, const char *const *params,
                             const char *what, char *err, size_t errlen)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    cx_status st = cx__pg_check(conn, res, what, err, errlen);
    PQclear(res);
    return st;
}

cx_status cx__pg_scalar(PGconn *conn, const char *sql, int n, const char *const *params,
                        const char *what, long long *out, char *err, size_t errlen)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    cx_status st = cx__pg_check(conn, res, what, err, errlen);
    if (st == CX_OK && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        *out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return st;
}

cx_status cx__pg_check(PGconn *conn, const PGresult *res, const char *what, char *err,
                       size_t errlen)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN)
        return CX_OK;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    if (msg[0] == '\0')
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
    msg[strcspn(msg, "\n")] = '\0'; /* the first line; DETAIL and HINT follow it */
    append_detail(res, msg, sizeof msg);
    /* what the server's words leave the user to work out */
    const char *why = NULL;
    if (state != NULL && strcmp(state, "55P03") == 0) /* lock_timeout: whose lock? */
        why = "another session holds a lock this needs: see \"Waiting for locks\" in "
              "docs/configuration.md";
    else if (state != NULL && strcmp(state, "42501") == 0)
        why = "a privilege this role lacks: `cxpulse migrate` runs as the cx schema's owner, "
              "the service as a member of cxpulse_runtime and people acknowledging tickets as "
              "members of cxpulse_owner, once deploy/sql/grants.sql has run; see "
              "docs/privileges.md";
    else if (state != NULL && strcmp(state, "2BP01") == 0)
        why = "objects of your own depend on what this changes: drop them, run it again and "
              "create them again; see docs/schema.md";
    else if (state != NULL && strcmp(state, "57014") == 0 && strstr(msg, "statement timeout"))
        why = "a statement_timeout ended it; one set for the server, the database or the "
              "role applies to run's batch writes too, which are then written in smaller "
              "parts: raise it for the role (ALTER ROLE ... SET statement_timeout = 0) or "
              "lower batch.max_messages; see \"Waiting for locks\" in docs/configuration.md";
    else if (state != NULL && strcmp(state, "53400") == 0)
        why = "a limit configured for the server, the database or the role, such as "
              "temp_file_limit with a small work_mem, applies to run's batch writes too, which "
              "are then written in smaller parts: raise it (ALTER ROLE ... SET temp_file_limit "
              "= -1, as a superuser, or a larger work_mem) or lower batch.max_messages";
    else if (state != NULL && strcmp(state, "22P05") == 0)
        why = "the database's encoding cannot hold a character of the event: a UTF8 database "
              "stores every text (docs/recovery.md), and dead-letters replay stores it then";
    else if (state != NULL && strcmp(state, "25006") == 0)
        why = "the server takes no writes, a standby or default_transaction_read_only on; "
              "with several hosts in the URL, target_session_attrs=read-write connects to "
              "the primary";
    else if (state != NULL && strcmp(state, "42P01") == 0 &&
             (strstr(msg, "\"cx_stage_") || strstr(msg, "\"cx_re_")))
        why = "the session lost the temporary tables it made: a connection pooler in "
              "transaction mode (PgBouncer pool_mode=transaction) gives each transaction "
              "another server session; cxpulse needs session mode, or a direct connection: "
              "see \"Connection poolers\" in docs/configuration.md";
    if (why != NULL) {
        size_t used = strlen(msg);
        snprintf(msg + used, sizeof msg - used, " (%s)", why);
    }
    cx_status kind;
    if (PQstatus(conn) != CONNECTION_OK || state == NULL)
        kind = CX_ERR_TRANSIENT; /* connection lost: no SQLSTATE from the server */
    else if (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
             strncmp(state, "57", 2) == 0 || strncmp(state, "58", 2) == 0 ||
             strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
             strcmp(state, "55P03") == 0 || strcmp(state, "25P03") == 0 ||
             strcmp(state, "25006") == 0) /* read-only: a standby until a failover ends */
        kind = CX_ERR_TRANSIENT;
    else if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 ||
             /* a row too large for an index or a limit, a trigger's exception */
             strncmp(state, "54", 2) == 0 || strcmp(state, "P0001") == 0)
        kind = CX_ERR_INVALID;
    else
        kind = CX_ERR_FATAL;
    return cx_errf(err, errlen, kind, "%s: %s (SQLSTATE %s)", what, msg,
                   state ? state : "none: connection lost");
}

int cx__pg_lock_timed_out(const char *err)
{
    return strstr(err, "(SQLSTATE 55P03)") != NULL; /* cx__pg_check()'s words */
}

/* The escape's second character, for the four bytes COPY text must escape. */
static const char copy_escape[256] = {['\\'] = '\\', ['\t'] = 't', ['\n'] = 'n', ['\r'] = 'r'};

/* Nonzero when one of w's eight bytes is below n (1 <= n <= 128): exact for
 * "any" (which bits are set past the first such byte is not). */
#define HAS_BYTE_BELOW(w, n) (((w) - 0x0101010101010101ULL * (n)) & ~(w) & 0x8080808080808080ULL)
#define HAS_ZERO_BYTE(w) HAS_BYTE_BELOW(w, 1)
#define BYTES_OF(c) (0x0101010101010101ULL * (unsigned char)(c))

/* Writes s[n] COPY-escaped at o (room for 2n bytes); returns the end. Eight
 * bytes at a time while none of them needs an escape (most text). */
static char *put_copy_text(char *o, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            /* tab, newline and CR are below 0x0e; bytes 0..0x0d that need no
             * escape (rare in text) take the byte loop too */
            if (!(HAS_BYTE_BELOW(w, 0x0e) | HAS_ZERO_BYTE(w ^ BYTES_OF('\\')))) {
                memcpy(o, s + i, 8);
                o += 8;
                i += 8;
                continue;
            }
        }
        size_t end = n - i >= 8 ? i + 8 : n;
        for (; i < end; i++) {
            char e = copy_escape[(unsigned char)s[i]];
            if (e == 0) {
                *o++ = s[i];
            } else {
                o[0] = '\\';
                o[1] = e;
                o += 2;
            }
        }
    }
    return o;
}

void cx__buf_copy_text(cx_buf *b, const char *s, size_t n)
{
    char *o = n > 0 ? cx_buf_reserve(b, 2 * n) : NULL;
    if (o != NULL)
        b->len += (size_t)(put_copy_text(o, s, n) - o);
}

/* "00" to "99", two characters each. */
static const char two_digits[201] = "00010203040506070809101112131415161718192021222324252627282930"
                                    "31323334353637383940414243444546474849505152535455565758596061"
                                    "62636465666768697071727374757677787980818283848586878889909192"
                                    "93949596979899";

static char *put_2(char *o, unsigned v)
{
    memcpy(o, two_digits + 2 * v, 2);
    return o + 2;
}

/* Writes v in decimal at o (room for 20 bytes); returns the end. */
static char *put_u64(char *o, uint64_t v)
{
    char tmp[20], *t = tmp + sizeof tmp;
    while (v >= 100) {
        t -= 2;
        memcpy(t, two_digits + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        t -= 2;
        memcpy(t, two_digits + 2 * v, 2);
    } else {
        *--t = (char)('0' + v);
    }
    size_t n = (size_t)(tmp + sizeof tmp - t);
    memcpy(o, t, n);
    return o + n;
}

void cx__buf_int(cx_buf *b, int64_t v, int last)
{
    char *o = cx_buf_reserve(b, 22), *start = o;
    if (o == NULL)
        return;
    uint64_t u = (uint64_t)v;
    if (v < 0) {
        *o++ = '-';
        u = 0 - u; /* INT64_MIN too */
    }
    o = put_u64(o, u);
    *o++ = last ? '\n' : '\t';
    b->len += (size_t)(o - start);
}

static void end_field(cx_buf *b, int last)
{
    cx_buf_put(b, last ? "\n" : "\t", 1);
}

void cx__buf_field(cx_buf *b, const char *s, int last)
{
    if (s == NULL) {
        cx_buf_put(b, last ? "\\N\n" : "\\N\t", 3);
        return;
    }
    size_t n = strlen(s);
    char *o = cx_buf_reserve(b, 2 * n + 1);
    if (o == NULL)
        return;
    char *end = put_copy_text(o, s, n);
    *end++ = last ? '\n' : '\t';
    b->len += (size_t)(end - o);
}

/* The proleptic Gregorian date of a day number (days since 1970-01-01), as
 * gmtime() gives it: H. Hinnant's civil_from_days. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);                           /* [0, 146096] */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    unsigned mp = (5 * doy + 2) / 153;                                     /* [0, 11] */
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void cx__buf_timestamp(cx_buf *b, int64_t us, int last)
{
    int64_t secs = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs--;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    int64_t year;
    unsigned mon, mday;
    civil_from_days(days, &year, &mon, &mday);
    if (year <= 0 || year > 9999) {
        /* Outside what the parser accepts, but a window's start can be (a
         * width that does not divide a day floors 0001-01-01 into year 0):
         * PostgreSQL has no year 0, 1 BC comes before 1 AD. */
        cx_buf_printf(b, "%04lld-%02u-%02u %02d:%02d:%02d.%06lld+00%s",
                      (long long)(year <= 0 ? 1 - year : year), mon, mday, (int)(sod / 3600),
                      (int)(sod / 60 % 60), (int)(sod % 60), (long long)frac,
                      year <= 0 ? " BC" : "");
        end_field(b, last);
        return;
    }
    /* YYYY-MM-DD HH:MM:SS.ffffff+00 and the separator: 30 bytes */
    char *o = cx_buf_reserve(b, 30), *start = o;
    if (o == NULL)
        return;
    o = put_2(o, (unsigned)(year / 100));
    o = put_2(o, (unsigned)(year % 100));
    *o++ = '-';
    o = put_2(o, mon);
    *o++ = '-';
    o = put_2(o, mday);
    *o++ = ' ';
    o = put_2(o, (unsigned)(sod / 3600));
    *o++ = ':';
    o = put_2(o, (unsigned)(sod / 60 % 60));
    *o++ = ':';
    o = put_2(o, (unsigned)(sod % 60));
    *o++ = '.';
    o = put_2(o, (unsigned)(frac / 10000));
    o = put_2(o, (unsigned)(frac / 100 % 100));
    o = put_2(o, (unsigned)(frac % 100));
    memcpy(o, "+00", 3);
    o += 3;
    *o++ = last ? '\n' : '\t';
    b->len += (size_t)(o - start);
}

void cx__buf_bytea(cx_buf *b, const void *p, size_t n, int last)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = p;
    char *o = cx_buf_reserve(b, 2 * n + 4), *start = o;
    if (o == NULL)
        return;
    memcpy(o, "\\\\x", 3); /* COPY-escaped "\x" */
    o += 3;
    for (size_t i = 0; i < n; i++) {
        *o++ = hex[s[i] >> 4];
        *o++ = hex[s[i] & 15];
    }
    *o++ = last ? '\n' : '\t';
    b->len += (size_t)(o - start);
}

/* Writes f as printf's "%.6f" of (double)f would, rounding its exact binary
 * value half to even, at o (room for 16 bytes) for 0 <= f < 2^24; returns the
 * end, or NULL for anything else (negative, -0, too large, not finite). */
static char *put_fixed6(char *o, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    unsigned exp = (bits >> 23) & 0xff;
    if ((bits >> 31) != 0 || exp >= 127 + 24)
        return NULL;
    uint64_t m = bits & 0x7fffff;
    int e; /* f = m * 2^e exactly */
    if (exp == 0) {
        e = -149;
    } else {
        m |= 0x800000;
        e = (int)exp - 150;
    }
    uint64_t q; /* f * 10^6, rounded */
    if (e >= 0) {
        q = (m << e) * 1000000;
    } else if (e < -100) {
        q = 0; /* m * 10^6 < 2^44: far below one half */
    } else {
        unsigned __int128 num = (unsigned __int128)m * 1000000;
        unsigned sh = (unsigned)-e;
        unsigned __int128 whole = num >> sh, rem = num - (whole << sh),
                          half = (unsigned __int128)1 << (sh - 1);
        q = (uint64_t)whole;
        if (rem > half || (rem == half && (q & 1)))
            q++;
    }
    o = put_u64(o, q / 1000000);
    *o++ = '.';
    unsigned fr = (unsigned)(q % 1000000);
    o = put_2(o, fr / 10000);
    o = put_2(o, fr / 100 % 100);
    return put_2(o, fr % 100);
}

void cx__buf_tags(cx_buf *b, const cx_tags *t, int last)
{
    cx_buf_put(b, "{", 1);
    for (int i = 0; i < t->n_assigned; i++) {
        if (i)
            cx_buf_put(b, ",", 1);
        const char *name = cx_category_name(t->order[i]);
        cx_buf_put(b, name, strlen(name));
    }
    cx_buf_put(b, "}\t{", 3);
    for (int i = 0; i < t->n_assigned; i++) {
        float f = t->confidence[t->order[i]];
        /* (room for a comma and printf's longest "%.6f" of a float, 47 bytes) */
        char *o = cx_buf_reserve(b, 64), *start = o, *end;
        if (o == NULL)
            return;
        if (i)
            *o++ = ',';
        if ((end = put_fixed6(o, f)) == NULL) /* not a confidence: as printf writes it */
            end = o + snprintf(o, 63, "%.6f", (double)f);
        b->len += (size_t)(end - start);
    }
    cx_buf_put(b, "}\t[", 3);
    /* JSON strings, then COPY-escaped: every backslash doubles */
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < t->n_assigned; i++) {
        cx_category c = t->order[i];
        cx_buf_put(b, i ? ",[" : "[", i ? 2 : 1);
        for (int k = 0; k < t->n_evidence[c]; k++) {
            const char *s = t->evidence[c][k];
            size_t len = strlen(s);
            /* at most 7 bytes per byte (\\u00XX), the quotes and a comma */
            char *o = cx_buf_reserve(b, 7 * len + 3), *start = o;
            if (o == NULL)
                return;
            if (k)
                *o++ = ',';
            *o++ = '"';
            for (const char *end = s + len; s < end; s++) {
                if (end - s >= 8) { /* eight bytes with no quote, backslash or control */
                    uint64_t w;
                    memcpy(&w, s, 8);
                    if (!(HAS_BYTE_BELOW(w, 0x20) | HAS_ZERO_BYTE(w ^ BYTES_OF('"')) |
                          HAS_ZERO_BYTE(w ^ BYTES_OF('\\')))) {
                        memcpy(o, s, 8);
                        o += 8;
                        s += 7;
                        continue;
                    }
                }
                unsigned char ch = (unsigned char)*s;
                if (ch == '"') {
                    memcpy(o, "\\\\\"", 3);
                    o += 3;
                } else if (ch == '\\') {
                    memcpy(o, "\\\\\\\\", 4);
                    o += 4;
                } else if (ch < 0x20) {
                    memcpy(o, "\\\\u00", 5);
                    o[5] = hex[ch >> 4];
                    o[6] = hex[ch & 15];
                    o += 7;
                } else {
                    *o++ = (char)ch;
                }
            }
            *o++ = '"';
            b->len += (size_t)(o - start);
        }
        cx_buf_put(b, "]", 1);
    }
    cx_buf_put(b, "]", 1);
    end_field(b, last);
}

void cx__buf_be(cx_buf *b, uint64_t v, int bytes)
{
    char *o = cx_buf_reserve(b, (size_t)bytes);
    if (o == NULL)
        return;
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        o[i] = (char)(v & 0xff);
    b->len += (size_t)bytes;
}

/* numeric's decimal digits per base-10000 digit (DEC_DIGITS) */
#define NUMERIC_DEC_DIGITS 4

/* The base-10000 digit holding the power of ten pw (rounded down, negatives too). */
static long numeric_group(long pw)
{
    return pw >= 0 ? pw / NUMERIC_DEC_DIGITS : -((-pw - 1) / NUMERIC_DEC_DIGITS + 1);
}

cx_status cx__buf_numeric(cx_buf *b, const char *text, int negate)
{
    /* [-]digits[.digits][e[+-]digits], as numeric_in reads it (no NaN, no
     * infinities, no blanks): the digits, where the point falls, the scale */
    const char *p = text;
    int negative = *p == '-';
    p += negative || *p == '+';
    char digits[64];
    int n = 0, point = -1;
    for (; (*p >= '0' && *p <= '9') || (*p == '.' && point < 0); p++) {
        if (*p == '.')
            point = n;
        else if (n == (int)sizeof digits)
            return CX_ERR_INVALID;
        else
            digits[n++] = *p;
    }
    if (n == 0)
        return CX_ERR_INVALID;
    if (point < 0)
        point = n;
    long exponent = 0;
    if (*p == 'e' || *p == 'E') {
        char *end;
        exponent = strtol(p + 1, &end, 10);
        if (end == p + 1 || exponent > 1000 || exponent < -1000)
            return CX_ERR_INVALID;
        p = end;
    }
    if (*p != '\0')
        return CX_ERR_INVALID;
    long scale = (n - point) - exponent; /* numeric_in's display scale */
    long dweight = point + exponent - 1; /* the power of ten of digits[0] */
    /* base-10000 digits: digits[i] is worth 10^(dweight - i); group g holds
     * the powers 4g..4g+3 (g rounded down) */
    int16_t group[32] = {0};
    long top = numeric_group(dweight);
    long low = top, high = LONG_MIN; /* the lowest and highest nonzero groups */
    for (int i = 0; i < n; i++) {
        long pw = dweight - i;
        long g = numeric_group(pw);
        if (digits[i] == '0')
            continue;
        if (top - g >= (long)(sizeof group / sizeof group[0]))
            return CX_ERR_INVALID;
        int unit = 1;
        for (long k = g * NUMERIC_DEC_DIGITS; k < pw; k++)
            unit *= 10;
        group[top - g] = (int16_t)(group[top - g] + (digits[i] - '0') * unit);
        if (high == LONG_MIN)
            high = g;
        low = g;
    }
    /* a zero is positive, weight 0, no digits, whatever its sign (make_result) */
    int ndigits = high == LONG_MIN ? 0 : (int)(high - low + 1);
    if (scale < 0)
        scale = 0;
    cx__buf_be(b, 8 + 2 * (uint64_t)ndigits, 4); /* the value's length */
    cx__buf_be(b, (uint64_t)ndigits, 2);
    cx__buf_be(b, (uint64_t)(ndigits ? high : 0) & 0xffff, 2); /* weight */
    cx__buf_be(b, ndigits && negative != (negate != 0) ? 0x4000 : 0, 2);
    cx__buf_be(b, (uint64_t)scale, 2);
    for (int i = 0; i < ndigits; i++)
        cx__buf_be(b, (uint64_t)group[top - high + i], 2);
    return CX_OK;
}

/* Sends buf as the data of `copy_sql`. */
cx_status cx__pg_copy(PGconn *conn, const char *copy_sql, const cx_buf *buf, const char *what,
                      char *err, size_t errlen)
{
    if (buf->failed)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "%s: out of memory", what);
    PGresult *res = PQexec(conn, copy_sql);
    cx_status st = cx__pg_check(conn, res, what, err, errlen);
    PQclear(res);
    if (st != CX_OK)
        return st;
    /* PQputCopyData is blocking on a blocking connection: one call per MB. */
    size_t off = 0;
    while (off < buf->len) {
        size_t chunk = buf->len - off > (1u << 20) ? (1u << 20) : buf->len - off;
        if (PQputCopyData(conn, buf->data + off, (int)chunk) != 1)
            break;
        off += chunk;
    }
    PQputCopyEnd(conn, off < buf->len ? "client could not send the data" : NULL);
    /* Read every result until NULL, so the connection is ready for the next query. */
    st = CX_OK;
    while ((res = PQgetResult(conn)) != NULL) {
        cx_status s = cx__pg_check(conn, res, what, err, errlen);
        if (st == CX_OK)
            st = s;
        PQclear(res);
    }
    if (st == CX_OK && PQstatus(conn) != CONNECTION_OK)
        st = cx__pg_check(conn, NULL, what, err, errlen);
    return st;
}


/* Type OIDs of pg_type.h that become JSON numbers, booleans or JSON. */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_JSON 114
#define OID_JSONB 3802

json_t *cx__pg_row_json(const PGresult *r, int i)
{
    if (r == NULL || i >= PQntuples(r))
        return NULL;
    json_t *o = json_object();
    for (int c = 0; o != NULL && c < PQnfields(r); c++) {
        const char *v = PQgetvalue(r, i, c);
        Oid type = PQftype(r, c);
        json_t *jv;
        if (PQgetisnull(r, i, c))
            jv = json_null();
        else if (type == OID_INT8 || type == OID_INT4 || type == OID_INT2)
            jv = json_integer(strtoll(v, NULL, 10));
        else if (type == OID_BOOL)
            jv = json_boolean(v[0] == 't');
        else if (type == OID_JSON || type == OID_JSONB)
            jv = json_loads(v, JSON_DECODE_ANY, NULL);
        else
            jv = json_stringn(v, (size_t)PQgetlength(r, i, c));
        json_object_set_new(o, PQfname(r, c), jv ? jv : json_null());
    }
    return o;
}

json_t *cx__pg_rows_json(const PGresult *r)
{
    json_t *a = json_array();
    for (int i = 0; a != NULL && i < PQntuples(r); i++) {
        json_t *o = cx__pg_row_json(r, i);
        if (o == NULL || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

cx_status cx__pg_list(PGconn *conn, const char *rows_sql, const char *count_sql, int n,
                      const char *const *params, int limit, const char *what, json_t **out,
                      long long *total, char *err, size_t errlen)
{
    const char *all[8];
    char limit_s[16];
    *out = NULL;
    *total = 0;
    if (n < 0 || n >= (int)CX_ARRAY_LEN(all))
        return cx_errf(err, errlen, CX_ERR_FATAL, "%s: too many parameters", what);
    memcpy(all, params, (size_t)n * sizeof *all);
    snprintf(limit_s, sizeof limit_s, "%d", limit);
    all[n] = limit_s;
    cx_status st =
        cx__pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", what, err, errlen);
    if (st != CX_OK)
        return st;
    PGresult *r = PQexecParams(conn, rows_sql, n + 1, NULL, all, NULL, NULL, 0);
    st = cx__pg_check(conn, r, what, err, errlen);
    if (st == CX_OK && (*out = cx__pg_rows_json(r)) == NULL)
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "%s: out of memory", what);
    if (st == CX_OK)
        *total = PQntuples(r);
    PQclear(r);
    if (st == CX_OK && *total == limit) /* perhaps more */
        st = cx__pg_scalar(conn, count_sql, n, all, what, total, err, errlen);
    PQclear(PQexec(conn, "ROLLBACK")); /* read only: nothing to commit */
    if (st != CX_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return st;
}

unsigned long long cx__pg_minutely_due(cx__pg_minutely *m, unsigned long long n, int say,
                                       int *again)
{
    unsigned long long total = atomic_fetch_add(&m->unsaid, n) + n;
    int64_t now = cx_now_mono_us(), last = atomic_load(&m->said_us);
    if (!say || (last != 0 && now - last < 60 * 1000000LL) ||
        !atomic_compare_exchange_strong(&m->said_us, &last, now))
        return 0;
    atomic_fetch_sub(&m->unsaid, total);
    *again = last != 0;
    return total;
}
