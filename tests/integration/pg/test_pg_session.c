/*
 * test_pg_session.c - what every connection of ours sets up in its session: a
 * wait for a lock ends after 30 s (lock_timeout), so that another session's
 * lock cannot hold a batch, a stop or a migration without a word; the server
 * probes a silent client (tcp_keepalives_*); a value the database, the role
 * or the URL sets is kept. A migrate still waits for a concurrent one however
 * long that takes.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cxtest.h"
#include "pg_int.h"
#include "pg_migrate.h"

static char url[1024];

TestSuite(pg_session, .timeout = 60);

/* A setting as a connection made with cx__pg_connect(conninfo) has it (static). */
static const char *setting_of(const char *conninfo, const char *name)
{
    static char value[64];
    char err[512], sql[128];
    PGconn *conn;
    cr_assert_eq(cx__pg_connect(conninfo, &conn, err, sizeof err), CX_OK, "%s", err);
    snprintf(sql, sizeof sql, "SHOW %s", name);
    PGresult *res = PQexec(conn, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
    snprintf(value, sizeof value, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(conn);
    return value;
}

Test(pg_session, a_wait_for_a_lock_ends_after_30_s_unless_the_user_set_a_limit)
{
    cx_test_pg_new_db(url, sizeof url);
    cr_assert_str_eq(setting_of(url, "lock_timeout"), "30s");

    char with_options[sizeof url + 64];
    snprintf(with_options, sizeof with_options, "%s?options=-c%%20lock_timeout%%3D7s", url);
    cr_assert_str_eq(setting_of(with_options, "lock_timeout"), "7s", "the URL's own is kept");
    snprintf(with_options, sizeof with_options, "%s?options=-c%%20lock_timeout%%3D0", url);
    cr_assert_str_eq(setting_of(with_options, "lock_timeout"), "0",
                     "no limit, when asked, is kept");

    PGconn *admin = cx_test_pg_connect(url);
    cx_test_pg_exec(admin, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET lock_timeout = "
                           "''5s''', current_database()); END $$");
    PQfinish(admin);
    cr_assert_str_eq(setting_of(url, "lock_timeout"), "5s", "the database's own is kept");
}

/* The server probes our end of the connection every 5 s after 10 s of
 * silence and gives up after 3 unanswered probes, so a session whose machine
 * died mid-statement lets go of its locks within about 25 s; a keepalive
 * setting of the user's is kept. */
Test(pg_session, the_server_probes_a_silent_client_unless_the_user_set_keepalives)
{
    cx_test_pg_new_db(url, sizeof url);
    cr_assert_str_eq(setting_of(url, "tcp_keepalives_idle"), "10");
    cr_assert_str_eq(setting_of(url, "tcp_keepalives_interval"), "5");
    cr_assert_str_eq(setting_of(url, "tcp_keepalives_count"), "3");

    char with_options[sizeof url + 64];
    snprintf(with_options, sizeof with_options, "%s?options=-c%%20tcp_keepalives_idle%%3D60", url);
    cr_assert_str_eq(setting_of(with_options, "tcp_keepalives_idle"), "60",
                     "the URL's own is kept");
    cr_assert_str_eq(setting_of(with_options, "tcp_keepalives_count"), "3");
}

typedef struct migrate_run {
    cx_status st;
    int applied, version;
    char err[512];
} migrate_run;

static void *migrate_fn(void *arg)
{
    migrate_run *m = arg;
    m->st = cx_pg_migrate(url, &m->applied, &m->version, m->err, sizeof m->err);
    return NULL;
}

/* Another migrate holds the migrations' lock for longer than lock_timeout
 * (here the database's, 1 s): this one waits for it, then migrates. */
Test(pg_session, a_migrate_waits_for_a_concurrent_one_beyond_lock_timeout)
{
    cx_test_pg_new_db(url, sizeof url);
    PGconn *other = cx_test_pg_connect(url);
    cx_test_pg_exec(other, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET lock_timeout = "
                           "''1s''', current_database()); END $$");
    cx_test_pg_exec(other, "SELECT pg_advisory_lock(7242837001)"); /* migrate's */
    migrate_run m = {.st = CX_ERR_INVALID};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, migrate_fn, &m), 0);
    cx_test_sleep_ms(3000);
    cx_test_pg_exec(other, "SELECT pg_advisory_unlock(7242837001)");
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(m.st, CX_OK, "%s", m.err);
    cr_assert_eq(m.version, cx_pg_schema_version());
    cr_assert_gt(m.applied, 0);
    PQfinish(other);
}

/* Several migrates started at once on a database that has no cx schema yet
 * (a Kubernetes Job retried, two deploys): each succeeds, and the
 * migrations are applied once between them. */
Test(pg_session, migrates_started_at_once_on_a_fresh_database_all_succeed)
{
    for (int round = 0; round < 4; round++) {
        cx_test_pg_new_db(url, sizeof url);
        migrate_run m[3] = {{.st = CX_ERR_INVALID}, {.st = CX_ERR_INVALID}, {.st = CX_ERR_INVALID}};
        pthread_t th[3];
        for (int i = 0; i < 3; i++)
            cr_assert_eq(pthread_create(&th[i], NULL, migrate_fn, &m[i]), 0);
        int applied = 0;
        for (int i = 0; i < 3; i++) {
            cr_assert_eq(pthread_join(th[i], NULL), 0);
            cr_assert_eq(m[i].st, CX_OK, "round %d, migrate %d: %s", round, i, m[i].err);
            cr_assert_eq(m[i].version, cx_pg_schema_version());
            applied += m[i].applied;
        }
        cr_assert_eq(applied, cx_pg_schema_version(), "each migration applied once");
    }
}

/* A migration that needs a table's lock while an analyst's transaction holds
 * a lock on it (here migration 20, adding cx.tickets.uid, made to run
 * again) does not keep the service's statements on that table waiting behind
 * it until the analyst is done: it waits a short while at a time, and between
 * its tries they go on. It migrates once the analyst is done. */
Test(pg_session, a_migration_waiting_for_a_lock_lets_other_sessions_go_on_between_tries)
{
    cx_test_pg_new_db(url, sizeof url);
    migrate_run m = {.st = CX_ERR_INVALID};
    migrate_fn(&m);
    cr_assert_eq(m.st, CX_OK, "%s", m.err);
    PGconn *analyst = cx_test_pg_connect(url), *service = cx_test_pg_connect(url);
    cx_test_pg_exec(analyst, "DROP VIEW cx.open_tickets;"
                             "ALTER TABLE cx.tickets DROP COLUMN uid;"
                             "CREATE VIEW cx.open_tickets AS SELECT * FROM cx.tickets"
                             " WHERE status <> 'resolved' ORDER BY opened_at DESC;"
                             "DELETE FROM cx.schema_migrations WHERE version = 20");
    cx_test_pg_exec(analyst, "BEGIN; SELECT count(*) FROM cx.tickets"); /* holds ACCESS SHARE */
    m = (migrate_run){.st = CX_ERR_INVALID};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, migrate_fn, &m), 0);
    for (int i = 0; i < 100; i++, cx_test_sleep_ms(50)) /* until it waits for its lock */
        if (cx_test_pg_scalar(service, "SELECT count(*) FROM pg_locks WHERE NOT granted"
                                       " AND relation = 'cx.tickets'::regclass") > 0)
            break;
    cr_assert_gt(cx_test_pg_scalar(service, "SELECT count(*) FROM pg_locks WHERE NOT granted"
                                            " AND relation = 'cx.tickets'::regclass"),
                 0, "the migration never asked for the table's lock: this test tells nothing");
    cr_assert_eq(PQsendQuery(service, "SELECT count(*) FROM cx.tickets"), 1);
    int answered = 0;
    for (int i = 0; i < 100 && !answered; i++) { /* 10 s, the analyst's lock held throughout */
        cr_assert_eq(PQconsumeInput(service), 1);
        if (!PQisBusy(service))
            answered = 1;
        else
            cx_test_sleep_ms(100);
    }
    cx_test_pg_exec(analyst, "COMMIT");
    cr_assert(answered, "the service's read waited behind the migration's lock request");
    PQclear(PQgetResult(service));
    PQclear(PQgetResult(service));
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(m.st, CX_OK, "%s", m.err);
    cr_assert_eq(m.applied, 1);
    cr_assert_eq(cx_test_pg_scalar(service, "SELECT count(*) FROM information_schema.columns"
                                            " WHERE table_schema = 'cx' AND table_name ="
                                            " 'tickets' AND column_name = 'uid'"),
                 1);
    PQfinish(analyst);
    PQfinish(service);
}

/* A database in SQL_ASCII converts no text, so no batch could be stored:
 * every connection of ours refuses it at once, saying what to do. Another
 * encoding (LATIN1) is taken (pg_sink's
 * text_is_stored_right_in_a_database_that_is_not_utf8), as is UTF8. */
Test(pg_session, a_database_in_sql_ascii_is_refused_with_what_to_do)
{
    cx_test_pg_new_db(url, sizeof url);
    PGconn *admin = cx_test_pg_connect(url);
    const char *const encodings[] = {"SQL_ASCII", "LATIN1"};
    for (size_t i = 0; i < 2; i++) {
        char sql[256], other[sizeof url + 32], err[1024];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS cxtest_enc_%d WITH (FORCE)",
                 (int)getpid());
        cx_test_pg_exec(admin, sql);
        snprintf(sql, sizeof sql,
                 "CREATE DATABASE cxtest_enc_%d ENCODING '%s' LC_COLLATE 'C' LC_CTYPE 'C'"
                 " TEMPLATE template0",
                 (int)getpid(), encodings[i]);
        cx_test_pg_exec(admin, sql);
        snprintf(other, sizeof other, "%.*s/cxtest_enc_%d", (int)(strrchr(url, '/') - url), url,
                 (int)getpid());
        PGconn *conn = NULL;
        cx_status st = cx__pg_connect(other, &conn, err, sizeof err);
        int applied = -1, version;
        cx_status mst = cx_pg_migrate(other, &applied, &version, err, sizeof err);
        if (i == 0) {
            cr_assert_eq(st, CX_ERR_CONFIG, "SQL_ASCII taken");
            cr_assert_null(conn);
            cr_assert_eq(mst, CX_ERR_CONFIG, "SQL_ASCII migrated");
            cr_assert_eq(applied, 0);
            cr_assert(strstr(err, "is in encoding SQL_ASCII, which converts no text") &&
                          strstr(err, "ENCODING 'UTF8' TEMPLATE template0"),
                      "%s", err);
        } else {
            cr_assert_eq(st, CX_OK, "LATIN1 refused");
            PQfinish(conn);
            cr_assert_eq(mst, CX_OK, "%s", err);
        }
        snprintf(sql, sizeof sql, "DROP DATABASE cxtest_enc_%d WITH (FORCE)", (int)getpid());
        cx_test_pg_exec(admin, sql);
    }
    PQfinish(admin);
}
