/*
 * cxtest.c - see cxtest.h.
 */
#include "cxtest.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Reads PG_URL from the state file named by CX_TEST_PG_STATE. */
static void server_url(char *url, size_t urllen)
{
    const char *state = getenv("CX_TEST_PG_STATE");
    cr_assert(state != NULL, "CX_TEST_PG_STATE is not set: run the tests through ctest");
    FILE *f = fopen(state, "r");
    cr_assert(f != NULL, "no PostgreSQL test server (state file %s missing)", state);
    char line[1024];
    url[0] = '\0';
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "PG_URL=", 7) == 0) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(url, urllen, "%s", line + 7);
        }
    }
    fclose(f);
    cr_assert(url[0] != '\0', "state file %s has no PG_URL", state);
}

PGconn *cx_test_pg_connect(const char *url)
{
    PGconn *conn = PQconnectdb(url);
    cr_assert(PQstatus(conn) == CONNECTION_OK, "cannot connect to %s: %s", url,
              PQerrorMessage(conn));
    PQsetNoticeProcessor(conn, NULL, NULL);
    return conn;
}

void cx_test_pg_exec(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql,
              PQerrorMessage(conn));
    PQclear(res);
}

long long cx_test_pg_scalar(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    cr_assert(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(conn));
    cr_assert(PQntuples(res) == 1 && PQnfields(res) == 1 && !PQgetisnull(res, 0, 0),
              "%s: expected one non-null value", sql);
    long long v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

void cx_test_pg_new_db(char *url, size_t urllen)
{
    static unsigned seq;
    char base[1024], name[64], sql[128];
    server_url(base, sizeof base);
    snprintf(name, sizeof name, "cxtest_%ld_%u", (long)getpid(), seq++);
    PGconn *conn = cx_test_pg_connect(base);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    cx_test_pg_exec(conn, sql);
    PQfinish(conn);
    /* base ends in "/postgres": swap the database name. */
    char *slash = strrchr(base, '/');
    cr_assert(slash != NULL);
    *slash = '\0';
    snprintf(url, urllen, "%s/%s", base, name);
}

int cx_test_pg_ctl(const char *action)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s/deploy/local/pg-ctl.sh --state '%s' %s", CX_SOURCE_DIR,
             getenv("CX_TEST_PG_STATE"), action);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

const char *cx_test_source_path(const char *rel, char *buf, size_t buflen)
{
    snprintf(buf, buflen, "%s/%s", CX_SOURCE_DIR, rel);
    return buf;
}

const char *cx_test_bin(void)
{
    return CX_BIN;
}
