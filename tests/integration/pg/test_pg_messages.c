/*
 * test_pg_messages.c - what PostgreSQL says reaches the user whole and in the
 * program's own format: a server WARNING or NOTICE on a connection of ours is
 * a logfmt line, never libpq's raw "WARNING:  ..." on stderr; an error keeps
 * its DETAIL and HINT (which view blocks a migration) on one line.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxtest.h"
#include "pg_int.h"

static char url[1024];
static PGconn *conn; /* made by cx__pg_connect, as every command's */

static void setup(void)
{
    char err[512];
    cx_test_pg_new_db(url, sizeof url);
    cr_assert_eq(cx__pg_connect(url, &conn, err, sizeof err), CX_OK, "%s", err);
}

static void teardown(void)
{
    PQfinish(conn);
}

TestSuite(pg_messages, .init = setup, .fini = teardown, .timeout = 60);

/* Runs sql on conn with cx__pg_exec() (it must succeed) while stderr (fd 2)
 * goes to a file; returns what was written there (static). */
static const char *stderr_of(const char *sql)
{
    static char text[8192];
    char path[] = "/tmp/cxpulse-stderr.XXXXXX", err[512];
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    fflush(stderr);
    int saved = dup(2);
    cr_assert_geq(saved, 0);
    dup2(fd, 2);
    cx_status st = cx__pg_exec(conn, sql, "running the test's statement", err, sizeof err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    unlink(path);
    text[n > 0 ? n : 0] = '\0';
    cr_assert_eq(st, CX_OK, "%s", err);
    return text;
}

/* Nonzero when a line of text starts with prefix. */
static int has_line_starting(const char *text, const char *prefix)
{
    for (const char *p = text; p != NULL; p = strchr(p, '\n')) {
        p += *p == '\n';
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            return 1;
    }
    return 0;
}

Test(pg_messages, server_warnings_and_notices_are_log_lines_not_raw_text)
{
    const char *text =
        stderr_of("DO $$ BEGIN RAISE WARNING 'disk nearly full'"
                  " USING DETAIL = 'tablespace cx_data', HINT = 'free some space'; END $$");
    cr_assert_not(has_line_starting(text, "WARNING:"), "raw libpq text on stderr:\n%s", text);
    cr_assert(strstr(text, "level=warn component=pg msg=\"") != NULL, "not logged:\n%s", text);
    cr_assert(strstr(text, "disk nearly full") != NULL, "%s", text);
    cr_assert(strstr(text, "tablespace cx_data") != NULL, "the detail is lost:\n%s", text);
    cr_assert(strstr(text, "free some space") != NULL, "the hint is lost:\n%s", text);
    cr_assert_eq(strchr(text, '\n'), text + strlen(text) - 1, "one line:\n%s", text);

    text = stderr_of("DO $$ BEGIN RAISE NOTICE 'table kept'; END $$");
    cr_assert_not(has_line_starting(text, "NOTICE:"), "raw libpq text on stderr:\n%s", text);
    cr_assert(strstr(text, "level=info component=pg msg=\"") != NULL, "not logged:\n%s", text);
    cr_assert(strstr(text, "table kept") != NULL, "%s", text);
}

/* A migration that changes a column an analyst's view reads fails; which
 * view blocks it is said only in the error's DETAIL. */
Test(pg_messages, an_error_names_what_its_detail_and_hint_say_on_one_line)
{
    char err[512];
    cx_test_pg_exec(conn, "CREATE TABLE public.answers (score int);"
                          "CREATE VIEW public.analyst_v AS SELECT score FROM public.answers");
    cr_assert_eq(cx__pg_exec(conn, "ALTER TABLE public.answers ALTER COLUMN score TYPE numeric",
                             "migration 11 (scores as numeric)", err, sizeof err),
                 CX_ERR_FATAL, "%s", err);
    cr_assert(strstr(err, "migration 11 (scores as numeric): ") == err, "%s", err);
    cr_assert(strstr(err, "cannot alter type of a column used by a view or rule") != NULL, "%s",
              err);
    cr_assert(strstr(err, "analyst_v") != NULL, "the blocking view is not named: %s", err);
    cr_assert(strstr(err, "(SQLSTATE 0A000)") != NULL, "%s", err);

    cr_assert_eq(cx__pg_exec(conn,
                             "DO $$ BEGIN RAISE EXCEPTION 'no room left'"
                             " USING DETAIL = E'tablespace cx_data\\nis full',"
                             " HINT = 'free some space'; END $$",
                             "storing", err, sizeof err),
                 CX_ERR_INVALID, "%s", err); /* P0001: as a trigger's refusal of a row */
    cr_assert_str_eq(err, "storing: ERROR:  no room left (detail: tablespace cx_data is full;"
                          " hint: free some space) (SQLSTATE P0001)");

    /* the detail of a row's error quotes its values (feedback text): not said */
    cx_test_pg_exec(conn,
                    "CREATE TABLE public.feedback (id text, text text NOT NULL CHECK (id <> ''))");
    cr_assert_neq(cx__pg_exec(conn,
                              "INSERT INTO public.feedback VALUES ('', 'my card number is 4111')",
                              "storing", err, sizeof err),
                  CX_OK);
    cr_assert(strstr(err, "feedback_id_check") != NULL, "%s", err);
    cr_assert(strstr(err, "4111") == NULL, "a row's values in the message: %s", err);

    /* cut to the buffer, never past it */
    char small[40];
    cr_assert_eq(cx__pg_exec(conn, "ALTER TABLE public.answers ALTER COLUMN score TYPE numeric",
                             "migration 11 (scores as numeric)", small, sizeof small),
                 CX_ERR_FATAL);
    cr_assert_eq(strlen(small), sizeof small - 1, "%s", small);
}
