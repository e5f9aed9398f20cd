/*
 * test_grants.c - least privilege: on a database where PUBLIC may do nothing,
 * the schema's owner migrates and applies deploy/sql/grants.sql; then
 * `cxpulse run`, the `tickets` commands, `reclassify` and `dead-letters list`
 * work as a login role whose only privileges are cxpulse_runtime's, the
 * `tickets` and `notifications` commands as a cxpulse_owner member, who can
 * write no notification or ticket text of their own, and a cxpulse_analyst
 * member reads every table and view but writes nothing.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxtest.h"
#include "ingest.h"

static char url[1024], owner_url[1024], runtime_url[1024], analyst_url[1024], oncall_url[1024];
static char out[512];
static PGconn *conn; /* the test server's superuser, on the test database */

/* A keyword/value URL for role on the test database. */
static void url_as(const char *role, char *buf, size_t buflen)
{
    PQconninfoOption *opts = PQconninfoParse(url, NULL);
    cr_assert_not_null(opts);
    const char *host = "", *port = "", *db = "";
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            db = o->val;
    }
    snprintf(buf, buflen, "host=%s port=%s dbname=%s user=%s", host, port, db, role);
    PQconninfoFree(opts);
}

/* The group roles, as an administrator creates them (they are the cluster's:
 * another test may have made them). */
#define GROUP_ROLES_SQL                                                                            \
    "DO $$ BEGIN"                                                                                  \
    "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cxpulse_runtime') THEN"                \
    "    CREATE ROLE cxpulse_runtime NOLOGIN; END IF;"                                             \
    "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cxpulse_analyst') THEN"                \
    "    CREATE ROLE cxpulse_analyst NOLOGIN; END IF;"                                             \
    "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cxpulse_owner') THEN"                  \
    "    CREATE ROLE cxpulse_owner NOLOGIN; END IF;"                                               \
    "END $$;"

/* A new database, conn on it as the superuser, and the output file. */
static void fresh_db(void)
{
    cx_test_pg_new_db(url, sizeof url);
    snprintf(out, sizeof out, "/tmp/cxpulse-grants-%ld.out", (long)getpid());
    conn = cx_test_pg_connect(url);
}

/* Runs deploy/sql/grants.sql with psql as the schema's owner (output in out);
 * returns psql's exit status. */
static int apply_grants(void)
{
    char grants[512];
    cx_test_source_path("deploy/sql/grants.sql", grants, sizeof grants);
    return cx_test_sh("psql -X -q -v ON_ERROR_STOP=1 -f '%s' '%s' >'%s' 2>&1", grants, owner_url,
                      out);
}

/* Runs `cxpulse ARGS --pg URL` (output in out); returns its exit status. */
static int cxpulse(const char *args, const char *pg)
{
    return cx_test_sh("timeout 60 %s %s --pg '%s' >'%s' 2>&1", cx_test_bin(), args, pg, out);
}

static void show_out(void)
{
    cx_test_sh("cat '%s' >&2", out);
}

/* The SQLSTATE of sql run as the role of pg_url, or "" when it succeeds. */
static void try_as(const char *pg_url, const char *sql, char *state, size_t len)
{
    PGconn *a = cx_test_pg_connect(pg_url);
    PGresult *r = PQexec(a, sql);
    const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(state, len, "%s", s ? s : "");
    PQclear(r);
    PQfinish(a);
}

Test(grants, run_tickets_and_reclassify_work_with_exactly_the_shipped_grants, .timeout = 240)
{
    fresh_db();
    char db[64], owner[96], runtime[96], analyst[96], oncall[96], sql[2048];
    snprintf(db, sizeof db, "%s", PQdb(conn));
    snprintf(owner, sizeof owner, "%s_owner", db);
    snprintf(runtime, sizeof runtime, "%s_app", db);
    snprintf(analyst, sizeof analyst, "%s_analyst", db);
    snprintf(oncall, sizeof oncall, "%s_oncall", db);

    /* An administrator: PUBLIC may do nothing on the database; the owner is
     * no superuser; the group roles exist; two login roles are members. */
    snprintf(sql, sizeof sql,
             "REVOKE ALL ON DATABASE %s FROM PUBLIC;"
             "REVOKE ALL ON SCHEMA public FROM PUBLIC;"
             "CREATE ROLE %s LOGIN;"
             "ALTER DATABASE %s OWNER TO %s;" GROUP_ROLES_SQL
             "CREATE ROLE %s LOGIN IN ROLE cxpulse_runtime;"
             "CREATE ROLE %s LOGIN IN ROLE cxpulse_analyst;"
             "CREATE ROLE %s LOGIN IN ROLE cxpulse_owner",
             db, owner, db, owner, runtime, analyst, oncall);
    cx_test_pg_exec(conn, sql);
    url_as(owner, owner_url, sizeof owner_url);
    url_as(runtime, runtime_url, sizeof runtime_url);
    url_as(analyst, analyst_url, sizeof analyst_url);
    url_as(oncall, oncall_url, sizeof oncall_url);

    /* The owner migrates and applies the shipped grants (twice: idempotent). */
    cr_assert_eq(cxpulse("migrate", owner_url), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(apply_grants(), 0, "grants.sql failed");
    /* and a superuser keeps advisory locks to cxpulse's roles (twice too) */
    char locks[512];
    cx_test_source_path("deploy/sql/advisory-locks.sql", locks, sizeof locks);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(
            cx_test_sh("psql -X -q -v ON_ERROR_STOP=1 -f '%s' '%s' >'%s' 2>&1", locks, url, out), 0,
            "advisory-locks.sql failed");
    cr_assert_eq(cxpulse("migrate", owner_url), 0, "the schema's owner may not lock to migrate");
    /* No TRUNCATE (nor DDL, below) for the runtime role. */
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM pg_class c JOIN pg_namespace n"
                                         " ON n.oid = c.relnamespace WHERE n.nspname = 'cx'"
                                         " AND has_table_privilege('cxpulse_runtime', c.oid,"
                                         " 'TRUNCATE')"),
                 0);

    /* `cxpulse run` as the runtime role: events, a dead letter, an event-level ticket. */
    char err[512];
    cx_mock *mock;
    cx_producer *producer;
    cr_assert_eq(cx_mock_new(&mock, 1, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_mock_create_topic(mock, "cx.events", 2, err, sizeof err), CX_OK);
    cr_assert_eq(cx_producer_new(&producer, cx_mock_bootstraps(mock), err, sizeof err), CX_OK);
    for (int i = 0; i < 40; i++) {
        char v[400];
        int len = i == 39 ? snprintf(v, sizeof v, "{\"event_id\":\"bad-1\"}")
                          : snprintf(v, sizeof v,
                                     "{\"event_id\":\"g-%d\",\"occurred_at\":"
                                     "\"2026-11-01T10:%02d:00Z\",\"channel\":\"survey\","
                                     "\"text\":\"%s\",\"rating\":{\"scale\":\"nps\",\"value\":%d}}",
                                     i, i, i % 2 ? "the courier lost my parcel" : "great agent",
                                     i % 2 ? 2 : 10);
        cr_assert_eq(
            cx_producer_send(producer, "cx.events", NULL, 0, v, (size_t)len, 0, err, sizeof err),
            CX_OK, "%s", err);
    }
    uint64_t delivered;
    cr_assert_eq(cx_producer_flush(producer, 30000, &delivered, err, sizeof err), CX_OK, "%s", err);
    char *argv[] = {(char *)cx_test_bin(),
                    "run",
                    "--brokers",
                    (char *)cx_mock_bootstraps(mock),
                    "--topic",
                    "cx.events",
                    "--group",
                    "grants",
                    "--pg",
                    runtime_url,
                    "--http",
                    "off",
                    "--log-level",
                    "warn",
                    NULL};
    int fd;
    /* the events are dated in November 2026: tickets as for live ones */
    setenv("CXPULSE_TICKETS_MAX_AGE_MINUTES", "0", 1);
    pid_t pid = cx_test_spawn(argv, &fd);
    unsetenv("CXPULSE_TICKETS_MAX_AGE_MINUTES");
    close(fd);
    long long handled = 0;
    for (int i = 0; i < 600 && handled < 40; i++, cx_test_sleep_ms(100))
        handled = cx_test_pg_scalar(conn, "SELECT coalesce(sum(next_offset), 0)"
                                          " FROM cx.consumer_offsets");
    int rc = cx_test_stop(pid, SIGTERM, 30000);
    cx_producer_free(producer);
    cx_mock_free(mock);
    cr_assert_eq(handled, 40, "run as the runtime role did not store the batch");
    cr_assert_eq(rc, 0);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), 39);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"), 1);
    long long ticket = cx_test_pg_scalar(conn, "SELECT min(ticket_id) FROM cx.tickets"
                                               " WHERE rule = 'external-nps-detractor'");

    /* The tickets and notifications commands, as the service's role and as
     * an owner on call, whose status changes still notify. */
    char args[128];
    cr_assert_eq(cxpulse("tickets list --json", runtime_url), 0);
    cr_assert_eq(cxpulse("tickets list --json", oncall_url), 0);
    snprintf(args, sizeof args, "tickets ack %lld", ticket);
    cr_assert_eq(cxpulse(args, runtime_url), 0);
    snprintf(args, sizeof args, "tickets resolve %lld", ticket);
    cr_assert_eq(cxpulse(args, oncall_url), 0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM cx.tickets t WHERE ticket_id = %lld AND status = 'resolved'"
             " AND status_by = '%s' AND (SELECT count(*) FROM cx.notifications n"
             " WHERE n.ticket_id = t.ticket_id AND transition IN ('acknowledged', 'resolved')"
             " AND n.ticket->>'status_by' = CASE transition WHEN 'resolved' THEN '%s'"
             " ELSE '%s' END) = 2",
             ticket, oncall, oncall, runtime);
    cr_assert_eq(cx_test_pg_scalar(conn, sql), 1);
    cx_test_pg_exec(conn,
                    "UPDATE cx.notifications SET status = 'failed' WHERE transition = 'opened'");
    cr_assert_eq(cxpulse("notifications list --status failed", oncall_url), 0);
    cr_assert_eq(cxpulse("notifications retry --failed", oncall_url), 0);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.notifications"
                                         " WHERE status = 'failed'"),
                 0);
    cr_assert_gt(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.notifications"
                                         " WHERE status = 'pending'"),
                 0, "no notification waits: the forgeries below would change nothing");
    cx_test_pg_exec(conn, "UPDATE cx.notifications SET status = 'failed'"
                          " WHERE id = (SELECT max(id) FROM cx.notifications"
                          " WHERE status = 'pending')");
    /* ... and nothing else: no notification, ticket text or event of their
     * own, and no delivery the sender did not make (a row marked sent with a
     * receiver's answer of their own, or put off for a year) */
    const char *oncall_denied[] = {
        "UPDATE cx.notifications SET status = 'sent', sent_at = now() WHERE status = 'pending'",
        ("UPDATE cx.notifications SET deliveries = '{\"hook\": {\"status\": \"sent\","
         " \"answer\": \"HTTP 200\"}}' WHERE status = 'pending'"),
        ("UPDATE cx.notifications SET next_attempt_at = now() + interval '1 year'"
         " WHERE status = 'pending'"),
        "UPDATE cx.notifications SET status = 'sent' WHERE status = 'failed'",
        ("UPDATE cx.notifications SET status = 'pending', attempts = 0, sent_at = NULL,"
         " next_attempt_at = now() + interval '1 year' WHERE status = 'failed'"),
        ("UPDATE cx.notifications SET status = 'pending', attempts = 0, sent_at = NULL,"
         " next_attempt_at = now(), deliveries = '{\"crm\": {\"status\": \"sent\","
         " \"answer\": \"200 forged\"}}' WHERE status = 'failed'"),
        ("UPDATE cx.notifications SET status = 'pending', attempts = 0, sent_at = NULL,"
         " next_attempt_at = now(), deliveries = '{\"crm\": {\"status\": \"skipped\"}}'"
         " WHERE status = 'failed'"),
        ("UPDATE cx.notifications SET status = 'superseded', sent_at = now(),"
         " deliveries = '{\"crm\": {\"status\": \"sent\"}}' WHERE status = 'failed'"),
        ("INSERT INTO cx.notifications (ticket_id, seq, transition, ticket)"
         " VALUES (1, 999, 'opened', '{\"reason\": \"wire money now\"}')"),
        "UPDATE cx.notifications SET ticket = '{}'",
        "UPDATE cx.tickets SET reason = 'wire money now'",
        "DELETE FROM cx.tickets",
        "SELECT count(*) FROM cx.events",
        "UPDATE cx.consumer_offsets SET next_offset = next_offset + 1000"};
    char state[8];
    for (size_t i = 0; i < sizeof oncall_denied / sizeof *oncall_denied; i++) {
        try_as(oncall_url, oncall_denied[i], state, sizeof state);
        cr_expect_str_eq(state, "42501", "an owner on call may: %s", oncall_denied[i]);
    }
    /* the status it may change, only as the commands do: a resolved ticket stays resolved */
    snprintf(sql, sizeof sql, "UPDATE cx.tickets SET status = 'open' WHERE ticket_id = %lld",
             ticket);
    try_as(oncall_url, sql, state, sizeof state);
    cr_expect_str_eq(state, "23514", "an owner on call reopened a resolved ticket");
    cr_assert_eq(cxpulse("dead-letters list", runtime_url), 0);
    /* an owner sees a ticket's samples' text only when let (cx.ticket_samples) */
    snprintf(args, sizeof args, "tickets show %lld", ticket);
    cr_assert_eq(cxpulse(args, oncall_url), 0);
    cr_assert_eq(cx_test_sh("grep -q 'samples: not readable with this role.*GRANT SELECT ON"
                            " cx.ticket_samples TO cxpulse_owner' '%s'",
                            out),
                 0, "not told why the samples are not shown");
    try_as(oncall_url, "SELECT body FROM cx.ticket_samples", state, sizeof state);
    cr_expect_str_eq(state, "42501", "an owner read samples' text by default");
    cx_test_pg_exec(conn, "GRANT SELECT ON cx.ticket_samples TO cxpulse_owner");
    cr_assert_eq(cxpulse(args, oncall_url), 0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM cx.ticket_samples WHERE ticket_id = %lld AND body <> ''",
             ticket);
    long long samples = cx_test_pg_scalar(conn, sql);
    cr_assert_gt(samples, 0);
    cr_assert_eq(cx_test_sh("test \"$(grep -c '^    evidence:' '%s')\" = %lld", out, samples), 0,
                 "granted, the owner sees every sample");
    try_as(oncall_url, "SELECT count(*) FROM cx.events", state, sizeof state);
    cr_expect_str_eq(state, "42501", "the view let an owner read every event");
    /* nor through a condition of the owner's that runs on every event before
     * the view narrows them to samples, a cast that fails quoting the value */
    char leak[1024];
    PGresult *other = PQexec(conn, "SELECT event_id FROM cx.events WHERE event_id NOT IN"
                                   " (SELECT unnest(sample_event_ids) FROM cx.tickets)"
                                   " AND body <> '' LIMIT 1");
    cr_assert_eq(PQntuples(other), 1);
    snprintf(leak, sizeof leak,
             "SET enable_nestloop = off; SET enable_mergejoin = off;"
             " SELECT 1 FROM cx.ticket_samples"
             " WHERE (CASE WHEN event_id = '%s' THEN body::int ELSE 0 END) = 1",
             PQgetvalue(other, 0, 0));
    PQclear(other);
    try_as(oncall_url, leak, state, sizeof state);
    cr_expect_str_eq(state, "", "an owner's condition read an event that is no sample");

    /* reclassify: every event re-tagged (its tags replaced, signals corrected). */
    cx_test_pg_exec(conn, "UPDATE cx.events SET rule_version = 'older'");
    int reclassified = cxpulse("reclassify --batch 7", runtime_url);
    if (reclassified != 0)
        show_out();
    cr_assert_eq(reclassified, 0, "reclassify failed as the runtime role");
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"
                                         " WHERE rule_version = 'older'"),
                 0, "reclassify as the runtime role left events");
    cx_test_assert_signals_exact(conn);

    /* The analyst reads every table and view and writes nothing. */
    const char *reads[] = {"events",      "event_tags",        "signals",
                           "tickets",     "dead_letters",      "consumer_offsets",
                           "rule_sets",   "schema_migrations", "satisfaction_hourly",
                           "open_tickets"};
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM cx.%s", reads[i]);
        try_as(analyst_url, sql, state, sizeof state);
        cr_expect_str_eq(state, "", "the analyst cannot read cx.%s", reads[i]);
    }
    try_as(analyst_url, "UPDATE cx.tickets SET status = 'open'", state, sizeof state);
    cr_expect_str_eq(state, "42501");
    try_as(analyst_url, "CREATE TEMP TABLE t (x int)", state, sizeof state);
    cr_expect_str_eq(state, "42501");
    /* nor takes the lock the writers take turns with, which would stall them */
    try_as(analyst_url, "SELECT pg_advisory_lock(7512860309426239849)", state, sizeof state);
    cr_expect_str_eq(state, "42501", "the analyst may hold up every batch");
    try_as(analyst_url, "SELECT pg_advisory_lock_shared(7512860309426239849)", state, sizeof state);
    cr_expect_str_eq(state, "42501", "the analyst may hold up every batch");

    /* The runtime role writes rows, nothing more. */
    PGconn *app = cx_test_pg_connect(runtime_url);
    const char *denied[] = {"TRUNCATE cx.events",
                            "DELETE FROM cx.events",
                            "DROP TABLE cx.signals",
                            "CREATE TABLE cx.x (y int)",
                            "ALTER TABLE cx.events ADD COLUMN z int",
                            "INSERT INTO cx.schema_migrations VALUES (99, 'x')"};
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
        PGresult *r = PQexec(app, denied[i]);
        const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        cr_expect(s != NULL && strcmp(s, "42501") == 0, "the runtime role may: %s (%s)", denied[i],
                  s ? s : "allowed");
        PQclear(r);
    }
    PQfinish(app);
    PQfinish(conn);
    unlink(out);
}

/* The schema's owner needs CREATE on the database to make the schema, the
 * first time only: a DBA who revokes it afterwards can still upgrade. The
 * owner's name needs quoting in SQL, which grants.sql must do once. This
 * owner does not own the database, so the DBA grants on the database. */
Test(grants, migrate_needs_create_on_the_database_the_first_time_only)
{
    fresh_db();
    char owner[96], sql[512];
    snprintf(owner, sizeof owner, "Cx-Owner-%s", PQdb(conn));
    snprintf(sql, sizeof sql,
             "REVOKE ALL ON DATABASE %s FROM PUBLIC; CREATE ROLE \"%s\" LOGIN;"
             " GRANT CONNECT, CREATE, TEMPORARY ON DATABASE %s TO \"%s\"",
             PQdb(conn), owner, PQdb(conn), owner);
    cx_test_pg_exec(conn, sql);
    url_as(owner, owner_url, sizeof owner_url);
    cr_assert_eq(cxpulse("migrate", owner_url), 0);
    snprintf(sql, sizeof sql, "REVOKE CREATE ON DATABASE %s FROM \"%s\"", PQdb(conn), owner);
    cx_test_pg_exec(conn, sql);
    cr_assert_eq(cxpulse("migrate", owner_url), 0, "an up-to-date schema needed CREATE");
    cr_assert_eq(cx_test_sh("grep -q 'schema is up to date' '%s'", out), 0);
    cx_test_pg_exec(conn, GROUP_ROLES_SQL);
    /* the owner of the database grants on it (grants.sql cannot, as this
     * owner does not own the database) */
    snprintf(sql, sizeof sql,
             "GRANT CONNECT, TEMPORARY ON DATABASE %s TO cxpulse_runtime;"
             "GRANT CONNECT ON DATABASE %s TO cxpulse_analyst",
             PQdb(conn), PQdb(conn));
    cx_test_pg_exec(conn, sql);
    cr_assert_eq(apply_grants(), 0, "grants.sql failed for an owner whose name needs quoting");
    /* cxpulse_owner, newer than the installation, not granted CONNECT yet:
     * the service's grants are made all the same, and the file says so */
    cr_assert_eq(cx_test_sh("grep -q 'cxpulse_owner has no CONNECT on database' '%s'", out), 0);
    unlink(out);
    PQfinish(conn);
}

/* The schema's owner need not own the database; but then it cannot grant
 * CONNECT and TEMPORARY on it, and grants.sql says so and fails instead of
 * leaving a runtime role that cannot stage a batch. */
Test(grants, grants_sql_fails_when_it_cannot_grant_on_the_database)
{
    fresh_db();
    char db[64], owner[96], sql[1024];
    snprintf(db, sizeof db, "%s", PQdb(conn));
    snprintf(owner, sizeof owner, "%s_schema_owner", db);
    snprintf(sql, sizeof sql,
             "REVOKE ALL ON DATABASE %s FROM PUBLIC;"
             "CREATE ROLE %s LOGIN;"
             "GRANT CREATE, CONNECT, TEMPORARY ON DATABASE %s TO %s;" GROUP_ROLES_SQL,
             db, owner, db, owner);
    cx_test_pg_exec(conn, sql);
    url_as(owner, owner_url, sizeof owner_url);
    cr_assert_eq(cxpulse("migrate", owner_url), 0);
    cr_assert_neq(apply_grants(), 0);
    cr_assert_eq(cx_test_sh("grep -q 'cxpulse_runtime has no TEMPORARY on database' '%s'", out), 0,
                 "grants.sql did not name what is missing");
    PQfinish(conn);
}

/* Two jobs apply grants.sql at once (two installations' jobs, or one retried
 * while the first still runs, with a migration going on): each waits for the
 * other and succeeds, where two sessions granting at once fail with "tuple
 * concurrently updated". */
Test(grants, grants_sql_run_by_two_sessions_at_once_succeeds_in_both, .timeout = 180)
{
    fresh_db();
    cx_test_pg_exec(conn, GROUP_ROLES_SQL);
    snprintf(owner_url, sizeof owner_url, "%s", url); /* the superuser */
    cr_assert_eq(cxpulse("migrate", owner_url), 0);
    char grants[512];
    cx_test_source_path("deploy/sql/grants.sql", grants, sizeof grants);
    for (int round = 0; round < 4; round++) {
        int st = cx_test_sh("psql -X -q -v ON_ERROR_STOP=1 -f '%s' '%s' >'%s' 2>&1 & a=$!;"
                            "psql -X -q -v ON_ERROR_STOP=1 -f '%s' '%s' >>'%s' 2>&1 & b=$!;"
                            "%s migrate --pg '%s' >>'%s' 2>&1 & c=$!;"
                            "wait $a && wait $b && wait $c",
                            grants, url, out, grants, url, out, cx_test_bin(), url, out);
        if (st != 0)
            show_out();
        cr_assert_eq(st, 0, "round %d: grants.sql or migrate failed beside another", round);
    }
    unlink(out);
    PQfinish(conn);
}

/* grants.sql waits for a migrate's whole run (the lock migrate holds from
 * its start to its end; here a session holds it), not only for the
 * migration going on: between two migrations the schema is half made. */
Test(grants, grants_sql_waits_for_a_migrate_run_to_end)
{
    fresh_db();
    cx_test_pg_exec(conn, GROUP_ROLES_SQL);
    snprintf(owner_url, sizeof owner_url, "%s", url); /* the superuser */
    cr_assert_eq(cxpulse("migrate", owner_url), 0);
    PGconn *migrating = cx_test_pg_connect(url);
    cx_test_pg_exec(migrating, "SELECT pg_advisory_lock(7242837003)");
    char grants[512];
    cx_test_source_path("deploy/sql/grants.sql", grants, sizeof grants);
    pid_t g = cx_test_sh_start("psql -X -q -v ON_ERROR_STOP=1 -f '%s' '%s' >'%s' 2>&1", grants,
                               owner_url, out);
    cr_assert_eq(cx_test_sh_wait(g, 700), -2, "grants.sql did not wait for the migrate");
    PQfinish(migrating); /* the migrate ends */
    int st = cx_test_sh_wait(g, 60000);
    if (st != 0)
        show_out();
    cr_assert_eq(st, 0);

    /* and migrate holds that lock while it runs: here held up at its first
     * migration by a session that holds the migrations' lock (an advisory
     * lock is the database's: other tests migrate theirs meanwhile) */
    PGconn *m = cx_test_pg_connect(url);
    cx_test_pg_exec(m, "DROP SCHEMA cx CASCADE; BEGIN; SELECT pg_advisory_xact_lock(7242837001)");
    pid_t mig = cx_test_sh_start("%s migrate --pg '%s' >'%s' 2>&1", cx_test_bin(), owner_url, out);
    long long held = 0;
    for (int i = 0; i < 250 && held == 0; i++, cx_test_sleep_ms(20))
        held = cx_test_pg_scalar(conn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                       " AND granted AND objsubid = 1 AND database ="
                                       " (SELECT oid FROM pg_database"
                                       "  WHERE datname = current_database())"
                                       " AND (classid::bigint << 32 | objid::bigint) = 7242837003");
    cx_test_pg_exec(m, "COMMIT");
    PQfinish(m);
    st = cx_test_sh_wait(mig, 60000);
    if (st != 0)
        show_out();
    cr_assert_eq(st, 0);
    cr_assert_eq(held, 1, "migrate ran without the lock grants.sql waits for");
    unlink(out);
    PQfinish(conn);
}
