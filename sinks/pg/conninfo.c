/*
 * conninfo.c - PostgreSQL connection strings without leaking their secrets
 * (see pg.h): checked and masked by parsing them as libpq does
 * (PQconninfoParse) and rebuilding them, and libpq's messages redacted before
 * they reach a log or an HTTP answer, since libpq quotes parts of the string.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "pg_int.h"

#define REDACTED "****"

/* libpq's test for "a connection string, not a database name" (expand_dbname). */
static int is_conninfo(const char *s)
{
    return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0 ||
           strchr(s, '=') != NULL;
}

/* Options whose values are secrets: libpq marks them with dispchar "*". */
static int secret_option(const PQconninfoOption *o)
{
    return (o->dispchar != NULL && o->dispchar[0] == '*') || strcmp(o->keyword, "password") == 0 ||
           strcmp(o->keyword, "sslpassword") == 0;
}

/* Whether word (n bytes) is the name of a libpq connection option. */
static int is_keyword(const char *word, size_t n)
{
    PQconninfoOption *opts = PQconninfoParse("", NULL);
    int found = 0;
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL && !found; o++)
        found = strlen(o->keyword) == n && strncmp(o->keyword, word, n) == 0;
    PQconninfoFree(opts);
    return found;
}

/* Appends s to out[outlen] at *at (cut, NUL-terminated). */
static void put(char *out, size_t outlen, size_t *at, const char *s, size_t n)
{
    if (*at >= outlen)
        return;
    size_t room = outlen - 1 - *at;
    if (n > room)
        n = room;
    memcpy(out + *at, s, n);
    *at += n;
    out[*at] = '\0';
}

/* Whether t[n] is libpq's ending ` for connection option "KEYWORD"` (nothing
 * after it): copied to out, as it names no value. */
static int libpq_tail(const char *t, size_t n, char *out, size_t outlen)
{
    static const char lead[] = " for connection option \"";
    const size_t k = sizeof lead - 1;
    if (n <= k + 1 || n - k - 1 >= outlen || memcmp(t, lead, k) != 0 || t[n - 1] != '"' ||
        !is_keyword(t + k, n - k - 1))
        return 0;
    memcpy(out, t, n);
    out[n] = '\0';
    return 1;
}

/* When msg says an option's name is unknown ("invalid connection option
 * "x"", "invalid URI query parameter: "x""; q: its opening quote), the
 * option it probably meant, as " (did you mean "sslmode"?)", into out. */
static int mistyped_option(const char *msg, const char *q, const char *name, size_t n, char *out,
                           size_t outlen)
{
    static const char *const leads[] = {"invalid connection option ",
                                        "invalid URI query parameter: "};
    int named = 0;
    for (size_t i = 0; i < sizeof leads / sizeof leads[0]; i++) {
        size_t k = strlen(leads[i]);
        named |= (size_t)(q - msg) >= k && memcmp(q - k, leads[i], k) == 0;
    }
    char word[64];
    if (!named || n == 0 || n >= sizeof word)
        return 0;
    memcpy(word, name, n);
    word[n] = '\0';
    cx_typo t = CX_TYPO_INIT(word);
    PQconninfoOption *opts = PQconninfoParse("", NULL);
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
        cx_typo_offer(&t, o->keyword);
    char hint[96];
    snprintf(out, outlen, "%s", cx_typo_hint(&t, 1, hint, sizeof hint));
    PQconninfoFree(opts);
    return out[0] != '\0';
}

/*
 * Copies msg (one line) into out, each "quoted" part replaced by "****" unless
 * keep() accepts it. libpq quotes the offending part of a connection string in
 * its messages, and that part can hold a password.
 */
static void redact_quoted(const char *msg, int (*keep)(const char *, size_t, void *), void *ctx,
                          char *out, size_t outlen)
{
    size_t at = 0;
    if (outlen == 0)
        return;
    out[0] = '\0';
    for (const char *p = msg; *p != '\0' && *p != '\n';) {
        const char *q = strchr(p, '"');
        const char *nl = strchr(p, '\n');
        if (q == NULL || (nl != NULL && q > nl)) {
            put(out, outlen, &at, p, nl ? (size_t)(nl - p) : strlen(p));
            break;
        }
        put(out, outlen, &at, p, (size_t)(q - p) + 1);
        const char *end = q + 1;
        while (*end != '\0' && *end != '\n' && *end != '"')
            end++;
        size_t n = (size_t)(end - q - 1);
        if (keep(q + 1, n, ctx)) {
            put(out, outlen, &at, q + 1, n);
        } else {
            /* The quoted input may hold quotes of its own: what follows is not
             * known to be libpq's words, so nothing more of the line is shown,
             * but for libpq's own ending naming the option and a guess at
             * the option a mistyped name meant (not echoing it). */
            put(out, outlen, &at, REDACTED "\"", strlen(REDACTED) + 1);
            char tail[96];
            const char *t = end + (*end == '"'), *eol = t + strcspn(t, "\n");
            if (libpq_tail(t, (size_t)(eol - t), tail, sizeof tail) ||
                mistyped_option(msg, q, q + 1, n, tail, sizeof tail))
                put(out, outlen, &at, tail, strlen(tail));
            break;
        }
        if (*end != '"')
            break;
        put(out, outlen, &at, "\"", 1);
        p = end + 1;
    }
}

/* A parse error keeps only quoted option names and the "=" libpq expects. */
static int keep_in_parse_error(const char *s, size_t n, void *ctx)
{
    (void)ctx;
    return (n == 1 && strchr("=:/]", s[0]) != NULL) || is_keyword(s, n);
}

/* Whether hosts[0..n) ("h1:5432,[::1]:5433") names a port that is not a
 * number. */
static int port_not_number(const char *hosts, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = strcspn(hosts + i, ","), h = 0;
        if (len > n - i)
            len = n - i;
        if (hosts[i] == '[') /* an IPv6 address: its colons are not a port's */
            while (h < len && hosts[i + h] != ']')
                h++;
        const char *colon = memchr(hosts + i + h, ':', len - h);
        if (colon != NULL) {
            size_t digits = 0, after = (size_t)(hosts + i + len - colon - 1);
            while (digits < after && colon[1 + digits] >= '0' && colon[1 + digits] <= '9')
                digits++;
            if (digits == 0 || digits < after)
                return 1;
        }
        i += len + 1;
    }
    return 0;
}

/* Whether a URL holds a password with an unencoded '@' or '/', which libpq
 * splits into the host, port or database name that its errors and the masked
 * form show. libpq takes the user part up to the first '@' or '/':
 * "cx:p@ss@db/x" leaves an '@' among the hosts; "cx:hunter/2@db/x" has no user
 * part, a port that is not a number ("hunter") and an '@' after it. An '@'
 * in a database name ("db/team@eu") is not one of these. */
static int stray_at(const char *conninfo)
{
    const char *p = strstr(conninfo, "://");
    if (strncmp(conninfo, "postgres", 8) != 0 || p == NULL)
        return 0; /* keywords and values */
    p += 3;
    size_t user = strcspn(p, "@/");
    if (p[user] == '@') {
        const char *hosts = p + user + 1;
        return memchr(hosts, '@', strcspn(hosts, "/?")) != NULL;
    }
    return p[user] == '/' && memchr(p, '@', strcspn(p, "?")) != NULL &&
           port_not_number(p, user);
}

cx_status cx_pg_conninfo_check(const char *conninfo, char *err, size_t errlen)
{
    if (conninfo == NULL || !is_conninfo(conninfo))
        return CX_OK; /* empty: libpq's environment; a word: a database name */
    if (stray_at(conninfo))
        return cx_errf(err, errlen, CX_ERR_CONFIG,
                       "\"postgres.url\" has an '@' where libpq reads a host, port or database "
                       "name: a '/' or '@' in the user name or password must be percent-encoded "
                       "(%%2F, %%40)");
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
    if (opts != NULL) {
        PQconninfoFree(opts);
        return CX_OK;
    }
    char safe[512];
    redact_quoted(msg ? msg : "out of memory", keep_in_parse_error, NULL, safe, sizeof safe);
    PQfreemem(msg);
    return cx_errf(err, errlen, CX_ERR_CONFIG,
                   "\"postgres.url\" is not a valid PostgreSQL URL or connection string: %s", safe);
}

/* Appends value quoted as a keyword/value connection string needs it. */
static void put_value(char *out, size_t outlen, size_t *at, const char *v)
{
    int plain = v[0] != '\0';
    for (const char *c = v; *c && plain; c++)
        plain = *c != ' ' && *c != '\'' && *c != '\\' && *c != '\t' && *c != '\n' && *c != '\r' &&
                *c != '\f' && *c != '\v';
    if (plain) {
        put(out, outlen, at, v, strlen(v));
        return;
    }
    put(out, outlen, at, "'", 1);
    for (const char *c = v; *c; c++) {
        if (*c == '\'' || *c == '\\')
            put(out, outlen, at, "\\", 1);
        put(out, outlen, at, c, 1);
    }
    put(out, outlen, at, "'", 1);
}

void cx_pg_conninfo_mask(const char *conninfo, char *out, size_t outlen)
{
    size_t at = 0;
    if (outlen == 0)
        return;
    out[0] = '\0';
    if (conninfo == NULL || !is_conninfo(conninfo)) {
        put(out, outlen, &at, conninfo ? conninfo : "", conninfo ? strlen(conninfo) : 0);
        return;
    }
    PQconninfoOption *opts = stray_at(conninfo) ? NULL : PQconninfoParse(conninfo, NULL);
    if (opts == NULL) { /* nothing of it can be shown safely */
        put(out, outlen, &at, REDACTED, strlen(REDACTED));
        return;
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (at > 0)
            put(out, outlen, &at, " ", 1);
        put(out, outlen, &at, o->keyword, strlen(o->keyword));
        put(out, outlen, &at, "=", 1);
        if (secret_option(o))
            put(out, outlen, &at, REDACTED, strlen(REDACTED));
        else
            put_value(out, outlen, &at, o->val);
    }
    PQconninfoFree(opts);
}

/* The options a connection used (or would have), for keep_in_connect_error. */
typedef struct known {
    PQconninfoOption *effective; /* PQconninfo() of the failed connection, or NULL */
    PQconninfoOption *given;     /* the parsed connection string, or NULL */
} known;

/* Whether s[n] contains the string needle. */
static int contains(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; k <= n && i + k <= n; i++)
        if (memcmp(s + i, needle, k) == 0)
            return 1;
    return 0;
}

/* Whether s[n] is a secret's value or holds one. */
static int holds_secret(const PQconninfoOption *opts, const char *s, size_t n)
{
    for (const PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
        if (o->val != NULL && o->val[0] != '\0' && secret_option(o) && contains(s, n, o->val))
            return 1;
    return 0;
}

/* Whether s[n] is a server's socket file, "<directory>/.s.PGSQL.<port>" (the
 * directory may be libpq's default, which no option names). */
static int is_socket_path(const char *s, size_t n)
{
    static const char tail[] = "/.s.PGSQL.";
    const size_t k = sizeof tail - 1;
    size_t i = n; /* where the port's digits start */
    while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
        i--;
    return i < n && i >= k && (s[0] == '/' || s[0] == '@') && memcmp(s + i - k, tail, k) == 0;
}

/*
 * A connection error keeps the quoted host, port, user, database and service
 * names it was given (what tells the reader which server refused whom), the
 * socket file it tried, and option names; anything else quoted (a mistyped
 * value can be a password that slipped into another option) is redacted.
 */
static int keep_in_connect_error(const char *s, size_t n, void *ctx)
{
    static const char *const names[] = {"host",   "hostaddr", "port", "user",
                                        "dbname", "service",  NULL};
    const known *k = ctx;
    if (holds_secret(k->given, s, n) || holds_secret(k->effective, s, n) ||
        contains(s, n, "password"))
        return 0;
    if (is_keyword(s, n) || is_socket_path(s, n))
        return 1;
    const PQconninfoOption *lists[] = {k->effective, k->given};
    for (int l = 0; l < 2; l++)
        for (const PQconninfoOption *o = lists[l]; o != NULL && o->keyword != NULL; o++)
            for (int i = 0; names[i] != NULL; i++)
                if (o->val != NULL && strcmp(o->keyword, names[i]) == 0 && strlen(o->val) == n &&
                    strncmp(o->val, s, n) == 0)
                    return 1;
    return 0;
}

void cx__pg_redact(const char *conninfo, PGconn *conn, const char *msg, char *out, size_t outlen)
{
    known k = {.effective = conn ? PQconninfo(conn) : NULL,
               .given = conninfo && is_conninfo(conninfo) ? PQconninfoParse(conninfo, NULL) : NULL};
    redact_quoted(msg, keep_in_connect_error, &k, out, outlen);
    PQconninfoFree(k.effective);
    PQconninfoFree(k.given);
}
