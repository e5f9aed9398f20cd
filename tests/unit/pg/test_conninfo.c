/*
 * test_conninfo.c - PostgreSQL connection strings and their secrets: every
 * form libpq accepts (URL, keyword/value, quoting, escaping, percent-encoding,
 * query parameters, service files) is masked when printed, and no error about
 * a connection string, parse error or failed connection, shows a password.
 * No server is needed: the connections go to a closed port.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg.h"

static long long total; /* what cx_pg_tickets_list counts (it fails here) */

typedef struct form {
    const char *conninfo;
    const char *masked;  /* what printing shows */
    const char *secrets; /* none of these |-separated fragments may be shown */
} form;

static const form forms[] = {
    /* URLs */
    {"postgresql://app:s3cret@db:5432/cx", "user=app password=**** dbname=cx host=db port=5432",
     "s3cret"},
    {"postgres://app:s3%63r%20et@db/cx", "user=app password=**** dbname=cx host=db",
     "s3cr et|s3%63r|%20et"},
    {"postgresql://app@db/cx?password=s3cret&sslmode=require",
     "user=app password=**** dbname=cx host=db sslmode=require", "s3cret"},
    {"postgresql://app@db/cx?sslpassword=k3ypw&sslkey=/etc/k.pem",
     "user=app dbname=cx host=db sslkey=/etc/k.pem sslpassword=****", "k3ypw"},
    {"postgresql://app:pw%27q@[::1]:5433,db2/cx?application_name=a%20b",
     "user=app password=**** dbname=cx host=::1,db2 port=5433, application_name='a b'",
     "pw'q|pw%27q"},
    /* an '@' in a database name is the database's */
    {"postgresql://app:s3cret@db:5432/team@eu",
     "user=app password=**** dbname=team@eu host=db port=5432", "s3cret"},
    {"postgresql://[::1]:5433/a@b", "dbname=a@b host=::1 port=5433", "s3cret"},
    /* keyword/value, spaces, quoting, escaping */
    {"host=db user=app password=s3cret dbname=cx", "user=app password=**** dbname=cx host=db",
     "s3cret"},
    {"host=db password = s3cret", "password=**** host=db", "s3cret"},
    {"password='s3 cret' host=db", "password=**** host=db", "s3 cret|s3|cret"},
    {"password=s3\\ cret host=db", "password=**** host=db", "s3|cret"},
    {"password='it\\'s \\\\ x' host=db", "password=**** host=db", "it|'s"},
    {"sslpassword=k3ypw host=db sslmode=verify-full",
     "host=db sslmode=verify-full sslpassword=****", "k3ypw"},
    {"host=db options='-c search_path=cx' password=s3cret",
     "password=**** host=db options='-c search_path=cx'", "s3cret"},
    /* a service file holds the password: only the service's name is shown */
    {"service=cxsvc dbname=cx", "service=cxsvc dbname=cx", "svc-s3cret"},
    /* libpq's environment, a database name */
    {"", "", "@"},
    {"cx", "cx", "@"},
};

static void assert_no_secret(const char *text, const char *secrets, const char *what)
{
    char copy[256];
    snprintf(copy, sizeof copy, "%s", secrets);
    char *save = NULL;
    for (char *s = strtok_r(copy, "|", &save); s != NULL; s = strtok_r(NULL, "|", &save))
        cr_assert(strstr(text, s) == NULL, "%s shows \"%s\": %s", what, s, text);
}

Test(conninfo, every_form_is_masked_by_parsing_and_rebuilding)
{
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char out[512];
        cx_pg_conninfo_mask(forms[i].conninfo, out, sizeof out);
        cr_expect_str_eq(out, forms[i].masked, "masking %s", forms[i].conninfo);
        assert_no_secret(out, forms[i].secrets, forms[i].conninfo);
        char err[512] = "";
        cr_expect_eq(cx_pg_conninfo_check(forms[i].conninfo, err, sizeof err), CX_OK, "%s: %s",
                     forms[i].conninfo, err);
    }
}

/* Strings libpq cannot parse: a configuration error that quotes none of it. */
static const form broken[] = {
    /* an unencoded '/' or '@' in the password: libpq reads the rest as host, port or database */
    {"postgresql://cx:hunter/2secret@db.internal:5432/cxpulse", NULL, "hunter|2secret"},
    {"postgresql://cx:pa@ssword9@db.internal/cxpulse", NULL, "ssword9"},
    {"postgresql://cx:hunter/2secret@db.internal", NULL, "hunter|2secret"},
    {"postgresql://cx:pw?x9@hunter7@db/cx", NULL, "hunter7"},
    {"postgresql://app:secret%zzpw@db/cx", NULL, "secret|zzpw"},
    {"host=db password=sec retpw", NULL, "retpw"},
    {"host=db secretpw", NULL, "secretpw"},
    {"host=db password='secret pw", NULL, "secret"},
    {"postgresql://app@db/cx?pass=secretpw", NULL, "pass=|secretpw"},
    {"postgresql://app@db/cx?password=secret=pw", NULL, "secret"},
    {"postgresql://app:secretpw@[::1/cx", NULL, "secretpw"},
    {"postgresql://app@db/cx?password=%00secretpw", NULL, "secretpw"},
    {"host=db pasword=secretpw", NULL, "secretpw"},
    /* quotes inside the quoted input: the password between them is not libpq's words */
    {"postgresql://admin:s3\"hunter2\"x@[::1/cx", NULL, "hunter2"},
};

Test(conninfo, an_unparsable_string_is_a_configuration_error_that_quotes_none_of_it)
{
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        char err[512] = "", out[512];
        cr_expect_eq(cx_pg_conninfo_check(broken[i].conninfo, err, sizeof err), CX_ERR_CONFIG, "%s",
                     broken[i].conninfo);
        cr_expect(strstr(err, "postgres.url") != NULL, "%s", err);
        assert_no_secret(err, broken[i].secrets, "the error");
        cx_pg_conninfo_mask(broken[i].conninfo, out, sizeof out);
        cr_expect_str_eq(out, "****");
        /* connecting says the same at once (not a connection failure to retry) */
        json_t *rows = NULL;
        cr_expect_eq(cx_pg_tickets_list(broken[i].conninfo, NULL, NULL, 1000, &rows, &total, err,
                                        sizeof err),
                     CX_ERR_CONFIG, "%s: %s", broken[i].conninfo, err);
        assert_no_secret(err, broken[i].secrets, "the connection error");
    }
    /* what is quoted but safe stays, so the message still helps */
    char err[512];
    cx_pg_conninfo_check("host=db pasword=secretpw", err, sizeof err);
    cr_expect(strstr(err, "invalid connection option") != NULL, "%s", err);
    cx_pg_conninfo_check("host=db password", err, sizeof err);
    cr_expect(strstr(err, "missing \"=\" after \"password\"") != NULL, "%s", err);
    /* a mistyped option's name is not quoted (it may be a secret), but the
     * option it probably meant is named */
    cx_pg_conninfo_check("host=db pasword=secretpw", err, sizeof err);
    cr_expect(strstr(err, "(did you mean \"password\"?)") != NULL, "%s", err);
    cr_expect(strstr(err, "pasword") == NULL && strstr(err, "secretpw") == NULL, "%s", err);
    cx_pg_conninfo_check("postgresql://db/cx?sslmod=require", err, sizeof err);
    cr_expect(strstr(err, "(did you mean \"sslmode\"?)") != NULL, "%s", err);
    cx_pg_conninfo_check("host=db zzqxw=1", err, sizeof err);
    cr_expect(strstr(err, "did you mean") == NULL, "nothing near: %s", err);
}

Test(conninfo, a_bad_value_is_not_quoted_but_its_option_is_named)
{
    char err[512];
    json_t *rows = NULL;
    cr_assert_neq(cx_pg_tickets_list("host=127.0.0.1 port=1 connect_timeout=s3cret", NULL, NULL,
                                     1000, &rows, &total, err, sizeof err),
                  CX_OK);
    cr_expect(strstr(err, "s3cret") == NULL, "%s", err);
    cr_expect(strstr(err, "for connection option \"connect_timeout\"") != NULL, "%s", err);
    /* a value made to look like libpq's ending shows nothing after it */
    cr_assert_neq(cx_pg_tickets_list("host=127.0.0.1 port=1 connect_timeout='s3cret\" for "
                                     "connection option \"sslmode'",
                                     NULL, NULL, 1000, &rows, &total, err, sizeof err),
                  CX_OK);
    cr_expect(strstr(err, "s3cret") == NULL && strstr(err, "sslmode") == NULL, "%s", err);
}

Test(conninfo, a_failed_connection_names_the_server_but_no_secret)
{
    /* A value libpq rejects only when connecting, with a password slipped into it. */
    char err[512];
    json_t *rows = NULL;
    cr_assert_neq(cx_pg_tickets_list("host=127.0.0.1 port=1 sslmode= password=s3cret user=app",
                                     NULL, NULL, 1000, &rows, &total, err, sizeof err),
                  CX_OK);
    cr_expect(strstr(err, "s3cret") == NULL, "%s", err);
    cr_expect(strstr(err, "sslmode") != NULL, "%s", err);
    /* Refused: the host and port are named. */
    cr_assert_eq(cx_pg_tickets_list("postgresql://app:s3cret@127.0.0.1:1/cx?connect_timeout=2",
                                    NULL, NULL, 1000, &rows, &total, err, sizeof err),
                 CX_ERR_TRANSIENT, "%s", err);
    cr_expect(strstr(err, "\"127.0.0.1\"") != NULL && strstr(err, "s3cret") == NULL, "%s", err);

    /* No server at a socket: the socket file tried is named. */
    char sock[] = "/tmp/cxpulse-nosock.XXXXXX", want[300];
    cr_assert_not_null(mkdtemp(sock));
    char conninfo[300];
    snprintf(conninfo, sizeof conninfo, "host=%s port=1 password=s3cret", sock);
    cr_assert_neq(cx_pg_tickets_list(conninfo, NULL, NULL, 1000, &rows, &total, err, sizeof err),
                  CX_OK);
    snprintf(want, sizeof want, "\"%s/.s.PGSQL.1\"", sock);
    cr_expect(strstr(err, want) != NULL && strstr(err, "s3cret") == NULL, "%s", err);
    /* No URL at all: libpq's environment is used, and the message says so. */
    setenv("PGHOST", sock, 1);
    cr_assert_neq(cx_pg_tickets_list(NULL, NULL, NULL, 1000, &rows, &total, err, sizeof err),
                  CX_OK);
    unsetenv("PGHOST");
    rmdir(sock);
    cr_expect(strstr(err, sock) != NULL && strstr(err, "no URL given with --pg") != NULL, "%s",
              err);

    /* A service file with the password: its name is shown, never the password. */
    char dir[] = "/tmp/cxpulse-svc.XXXXXX", file[300];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/pg_service.conf", dir);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fprintf(f, "[cxsvc]\nhost=127.0.0.1\nport=1\nuser=app\npassword=svc-s3cret\n"
               "sslmode=svc-s3cret\nconnect_timeout=2\n");
    fclose(f);
    setenv("PGSERVICEFILE", file, 1);
    cx_status st = cx_pg_tickets_list("service=cxsvc dbname=cx", NULL, NULL, 1000, &rows, &total,
                                      err, sizeof err);
    cx_status st2 =
        cx_pg_tickets_list("service=nosuch", NULL, NULL, 1000, &rows, &total, err + 256, 256);
    unsetenv("PGSERVICEFILE");
    unlink(file);
    rmdir(dir);
    cr_expect_neq(st, CX_OK);
    cr_expect(strstr(err, "svc-s3cret") == NULL, "%s", err);
    cr_expect_neq(st2, CX_OK);
    cr_expect(strstr(err + 256, "\"nosuch\"") != NULL, "%s", err + 256);
}
