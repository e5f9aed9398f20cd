/*
 * pgutil.c - connection set-up, SQLSTATE classes, and COPY text encoding
 * (see pg_int.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg.h"
#include "pg_int.h"

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
    /* Our defaults first: the user's conninfo ("dbname", expanded) comes last,
     * so anything it says wins. */
    const char *keys[] = {"keepalives", "keepalives_idle", "keepalives_interval",
                          "keepalives_count", "tcp_user_timeout", "connect_timeout",
                          "application_name", "dbname", NULL};
    const char *vals[] = {"1", "10", "5", "3", "15000", "10", "cxpulse",
                          conninfo ? conninfo : "", NULL};
    cx_status st = cx_pg_conninfo_check(conninfo, err, errlen);
    if (st != CX_OK)
        return st; /* a configuration error: retrying cannot help */
    PGconn *conn;
    if (timeout_ms <= 0) {
        conn = PQconnectdbParams(keys, vals, 1);
    } else {
        int64_t deadline = cx_now_mono_us() + (int64_t)timeout_ms * 1000;
        conn = PQconnectStartParams(keys, vals, 1);
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
        cx__pg_redact(conninfo, conn, PQerrorMessage(conn), msg, sizeof msg);
        /* libpq gives no SQLSTATE for a failed connection: refused credentials and
         * a missing database or role are recognised by libpq's own wording, and
         * will not fix themselves; anything else (refused, timed out, starting
         * up) is worth retrying. */
        int fatal = PQconnectionNeedsPassword(conn) || strstr(msg, "authentication failed") ||
                    strstr(msg, "does not exist") != NULL;
        PQfinish(conn);
        return cx_errf(err, errlen, fatal ? CX_ERR_FATAL : CX_ERR_TRANSIENT,
                       "cannot connect to postgresql: %s", msg);
    }
    PQsetNoticeProcessor(conn, NULL, NULL);
    *out = conn;
    return CX_OK;
}

cx_status cx__pg_connect(const char *conninfo, PGconn **out, char *err, size_t errlen)
{
    return cx__pg_connect_within(conninfo, 0, out, err, errlen);
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

cx_status cx__pg_check(PGconn *conn, const PGresult *res, const char *what, char *err,
                       size_t errlen)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN)
        return CX_OK;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    if (msg[0] == '\0')
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
    msg[strcspn(msg, "\n")] = '\0';
    cx_status kind;
    if (PQstatus(conn) != CONNECTION_OK || state == NULL)
        kind = CX_ERR_TRANSIENT; /* connection lost: no SQLSTATE from the server */
    else if (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
             strncmp(state, "57", 2) == 0 || strncmp(state, "58", 2) == 0 ||
             strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
             strcmp(state, "55P03") == 0 || strcmp(state, "25P03") == 0)
        kind = CX_ERR_TRANSIENT;
    else if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
        kind = CX_ERR_INVALID;
    else
        kind = CX_ERR_FATAL;
    return cx_errf(err, errlen, kind, "%s: %s (SQLSTATE %s)", what, msg,
                   state ? state : "none: connection lost");
}

void cx__buf_put(cx_buf *b, const void *p, size_t n)
{
    if (b->failed || n == 0) /* (an empty buffer has no data pointer to copy to) */
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            b->failed = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void cx__buf_printf(cx_buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        b->failed = 1;
    else
        cx__buf_put(b, tmp, (size_t)n);
}

void cx__buf_copy_text(cx_buf *b, const char *s, size_t n)
{
    /* the escape's second character, for the four bytes COPY text must escape */
    static const char escape[256] = {['\\'] = '\\', ['\t'] = 't', ['\n'] = 'n', ['\r'] = 'r'};
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        char e = escape[(unsigned char)s[i]];
        if (e == 0)
            continue;
        cx__buf_put(b, s + start, i - start);
        char esc[2] = {'\\', e};
        cx__buf_put(b, esc, 2);
        start = i + 1;
    }
    cx__buf_put(b, s + start, n - start);
}

static void end_field(cx_buf *b, int last)
{
    cx__buf_put(b, last ? "\n" : "\t", 1);
}

void cx__buf_field(cx_buf *b, const char *s, int last)
{
    if (s == NULL)
        cx__buf_put(b, "\\N", 2);
    else
        cx__buf_copy_text(b, s, strlen(s));
    end_field(b, last);
}

void cx__buf_timestamp(cx_buf *b, int64_t us, int last)
{
    int64_t secs = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    cx__buf_printf(b, "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)frac);
    end_field(b, last);
}

void cx__buf_text_array(cx_buf *b, const char *const *items, int n, int last)
{
    /* Array literal {"a","b\"c"}: quote every element, backslash-escape \ and ",
     * then the whole literal is COPY-escaped (so \ doubles once more). */
    cx_buf lit = {0};
    cx__buf_put(&lit, "{", 1);
    for (int i = 0; i < n; i++) {
        if (i > 0)
            cx__buf_put(&lit, ",", 1);
        cx__buf_put(&lit, "\"", 1);
        for (const char *p = items[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                cx__buf_put(&lit, "\\", 1);
            cx__buf_put(&lit, p, 1);
        }
        cx__buf_put(&lit, "\"", 1);
    }
    cx__buf_put(&lit, "}", 1);
    if (lit.failed)
        b->failed = 1;
    else
        cx__buf_copy_text(b, lit.data, lit.len);
    cx__buf_free(&lit);
    end_field(b, last);
}

void cx__buf_bytea(cx_buf *b, const void *p, size_t n, int last)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = p;
    cx__buf_put(b, "\\\\x", 3); /* COPY-escaped "\x" */
    for (size_t i = 0; i < n; i++) {
        char h[2] = {hex[s[i] >> 4], hex[s[i] & 15]};
        cx__buf_put(b, h, 2);
    }
    end_field(b, last);
}

void cx__buf_tags(cx_buf *b, const cx_tags *t, int last)
{
    cx__buf_put(b, "{", 1);
    for (int i = 0; i < t->n_assigned; i++)
        cx__buf_printf(b, "%s%s", i ? "," : "", cx_category_name(t->order[i]));
    cx__buf_put(b, "}\t{", 3);
    for (int i = 0; i < t->n_assigned; i++)
        cx__buf_printf(b, "%s%.6f", i ? "," : "", (double)t->confidence[t->order[i]]);
    cx__buf_put(b, "}\t[", 3);
    /* JSON strings, then COPY-escaped: every backslash doubles */
    for (int i = 0; i < t->n_assigned; i++) {
        cx_category c = t->order[i];
        cx__buf_put(b, i ? ",[" : "[", i ? 2 : 1);
        for (int k = 0; k < t->n_evidence[c]; k++) {
            cx__buf_put(b, k ? ",\"" : "\"", k ? 2 : 1);
            const char *s = t->evidence[c][k], *run = s;
            for (; *s; s++) {
                unsigned char ch = (unsigned char)*s;
                if (ch != '"' && ch != '\\' && ch >= 0x20)
                    continue;
                cx__buf_put(b, run, (size_t)(s - run));
                if (ch == '"')
                    cx__buf_put(b, "\\\\\"", 3);
                else if (ch == '\\')
                    cx__buf_put(b, "\\\\\\\\", 4);
                else
                    cx__buf_printf(b, "\\\\u%04x", ch);
                run = s + 1;
            }
            cx__buf_put(b, run, (size_t)(s - run));
            cx__buf_put(b, "\"", 1);
        }
        cx__buf_put(b, "]", 1);
    }
    cx__buf_put(b, "]", 1);
    end_field(b, last);
}

void cx__buf_free(cx_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
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

json_t *cx__pg_rows_json(const PGresult *r)
{
    json_t *a = json_array();
    for (int i = 0; a != NULL && i < PQntuples(r); i++) {
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
        if (o == NULL || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}
