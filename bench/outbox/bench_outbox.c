/*
 * bench_outbox.c - what claiming a notification costs behind a backlog of
 * blocked rows: TICKETS tickets with TRANSITIONS transitions each, written
 * through the tickets' trigger as `cxpulse run` writes them, whose first
 * transition waits for a retry a day ahead (a receiver that is down), so
 * that every later one is due but must wait behind it. Measured, for the
 * claim of this build (cx_pg_outbox_claim) and, as the baseline in the same
 * run, for the claim of schema version 10 (its query and index, copied here);
 * this build's claim both as a sender with alerts.update_seconds 0 and with
 * its default, 300 (a statement before each claim puts updates off):
 *
 *   - an idle claim: nothing can go, as a sender polls every alerts.poll_ms;
 *   - delivering FRESH new tickets' rows through the backlog: claim, record
 *     "sent", commit, one row at a time, as the sender does.
 *
 * usage: bench_outbox URL [TICKETS] [TRANSITIONS] [FRESH]   (defaults 2000 100 20)
 * URL must name a database migrated with `cxpulse migrate`; its tickets and
 * notifications are deleted.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

static void die(const char *what, const char *err)
{
    fprintf(stderr, "bench_outbox: %s: %s\n", what, err);
    exit(1);
}

static PGresult *sql(PGconn *c, const char *q)
{
    PGresult *r = PQexec(c, q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        die(q, PQerrorMessage(c));
    return r;
}

static void run(PGconn *c, const char *q)
{
    PQclear(sql(c, q));
}

static long long scalar(PGconn *c, const char *q)
{
    PGresult *r = sql(c, q);
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* The claim of schema version 10, as sinks/pg/notifications.c had it. */
static const char *const old_claim =
    "SELECT n.id FROM cx.notifications n"
    " WHERE n.status = 'pending' AND n.next_attempt_at <= now()"
    " AND NOT EXISTS (SELECT 1 FROM cx.notifications p"
    "  WHERE p.ticket_id = n.ticket_id AND p.status = 'pending'"
    "  AND p.seq < n.seq)"
    " ORDER BY n.next_attempt_at, n.id LIMIT 1 FOR UPDATE OF n SKIP LOCKED";

/* One claim with the old query; records it "sent" when it got a row (as the
 * sender's finish does) and commits. Returns whether it got one. */
static int old_claim_once(PGconn *c)
{
    run(c, "BEGIN");
    PGresult *r = sql(c, old_claim);
    int got = PQntuples(r) == 1;
    if (got) {
        const char *params[] = {PQgetvalue(r, 0, 0)};
        PGresult *u = PQexecParams(c,
                                   "UPDATE cx.notifications SET status = 'sent', deliveries ="
                                   " '{}', attempts = attempts + 1, last_error = NULL,"
                                   " sent_at = now(), next_attempt_at = now() WHERE id = $1",
                                   1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(u) != PGRES_COMMAND_OK)
            die("recording", PQerrorMessage(c));
        PQclear(u);
    }
    PQclear(r);
    run(c, got ? "COMMIT" : "ROLLBACK");
    return got;
}

/* One claim with this build's outbox, holding updates back for hold_s,
 * recorded "sent" as the sender does. */
static int new_claim_once(cx_pg_outbox *o, int hold_s)
{
    char err[1024];
    json_t *row = NULL;
    if (cx_pg_outbox_claim(o, hold_s, &row, err, sizeof err) != CX_OK)
        die("claim", err);
    if (row == NULL)
        return 0;
    json_t *d = json_object();
    if (cx_pg_outbox_finish(o, json_integer_value(json_object_get(row, "id")), "sent", d, 0, NULL,
                            err, sizeof err) != CX_OK)
        die("finish", err);
    json_decref(d);
    json_decref(row);
    return 1;
}

typedef struct figures {
    double idle_ms;    /* one claim that finds nothing */
    double deliver_ms; /* one claim + record + commit of a fresh row */
    int idle_claims;
} figures;

/* Opens `fresh` new tickets (one due row each) and times the claims: this
 * build's (o, holding updates for hold_s), or the old one (o NULL). */
static figures measure(PGconn *c, cx_pg_outbox *o, int hold_s, int fresh)
{
    figures f = {0};
    /* idle: at least 3 claims, for about 2 s */
    int64_t t0 = cx_now_mono_us(), t;
    do {
        if (o != NULL ? new_claim_once(o, hold_s) : old_claim_once(c))
            die("idle claim", "a blocked row was claimed");
        f.idle_claims++;
        t = cx_now_mono_us();
    } while (f.idle_claims < 3 || (t - t0 < 2000000 && f.idle_claims < 1000));
    f.idle_ms = (double)(t - t0) / 1e3 / f.idle_claims;

    char q[256];
    snprintf(q, sizeof q,
             "INSERT INTO cx.tickets (rule, category, owner)"
             " SELECT 'fresh-' || g, 'external', 'carriers' FROM generate_series(1, %d) g",
             fresh);
    run(c, q);
    t0 = cx_now_mono_us();
    int n = 0;
    while (o != NULL ? new_claim_once(o, hold_s) : old_claim_once(c))
        n++;
    f.deliver_ms = (double)(cx_now_mono_us() - t0) / 1e3 / (n ? n : 1);
    if (n != fresh)
        die("delivering", "not every fresh row was claimed");
    run(c, "DELETE FROM cx.tickets WHERE rule LIKE 'fresh-%'");
    return f;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_outbox URL [TICKETS] [TRANSITIONS] [FRESH]\n");
        return 2;
    }
    const char *url = argv[1];
    int tickets = argc > 2 ? atoi(argv[2]) : 2000;
    int transitions = argc > 3 ? atoi(argv[3]) : 100;
    int fresh = argc > 4 ? atoi(argv[4]) : 20;
    char err[1024], q[512];
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (tickets < 1 || transitions < 2 || fresh < 1)
        die("arguments", "TICKETS >= 1, TRANSITIONS >= 2, FRESH >= 1");

    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        die("connect", PQerrorMessage(c));
    run(c, "SET client_min_messages = warning");
    run(c, "DELETE FROM cx.tickets");
    run(c, "VACUUM cx.notifications, cx.tickets");

    /* The backlog, through the trigger: each statement a transition of every
     * ticket, committed by itself as a batch would. */
    int64_t t0 = cx_now_mono_us();
    snprintf(q, sizeof q,
             "INSERT INTO cx.tickets (rule, category, owner)"
             " SELECT 'blocked-' || g, 'external', 'carriers' FROM generate_series(1, %d) g",
             tickets);
    run(c, q);
    run(c, "UPDATE cx.notifications SET attempts = 1,"
           " next_attempt_at = now() + interval '1 day'");
    for (int i = 1; i < transitions; i++)
        run(c, "UPDATE cx.tickets SET event_count = event_count + 1");
    run(c, "VACUUM ANALYZE cx.notifications, cx.tickets");
    double fill_s = (double)(cx_now_mono_us() - t0) / 1e6;
    long long rows = scalar(c, "SELECT count(*) FROM cx.notifications WHERE status = 'pending'");
    long long due = scalar(c, "SELECT count(*) FROM cx.notifications WHERE status = 'pending'"
                              " AND next_attempt_at <= now()");
    printf("backlog: %d tickets x %d transitions = %lld pending rows (%lld due, all blocked"
           " behind their ticket's first), written in %.1f s\n",
           tickets, transitions, rows, due, fill_s);

    /* This build's claim. The old index is kept aside while it runs (a
     * schema older than version 11 has it; the claim then uses it). */
    int had_old_index = scalar(c, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'cx'"
                                  " AND indexname = 'notifications_due_idx'") == 1;
    cx_pg_outbox *o;
    if (cx_pg_outbox_new(&o, url, 0, err, sizeof err) != CX_OK)
        die("outbox", err);
    figures now_f = {0}, held = {0}, base = {0};
    figures best_now = {1e12, 1e12, 0}, best_held = {1e12, 1e12, 0}, best_base = {1e12, 1e12, 0};
    for (int round = 0; round < 2; round++) {
        now_f = measure(c, o, 0, fresh);
        held = measure(c, o, 300, fresh);
        if (!had_old_index)
            run(c, "CREATE INDEX notifications_due_idx ON cx.notifications"
                   " (next_attempt_at, id) WHERE status = 'pending'");
        base = measure(c, NULL, 0, fresh);
        if (!had_old_index)
            run(c, "DROP INDEX cx.notifications_due_idx");
        printf("round %d: idle claim %.3f ms (holding updates %.3f ms, baseline %.3f ms),"
               " delivering a row %.3f ms (holding updates %.3f ms, baseline %.3f ms)\n",
               round + 1, now_f.idle_ms, held.idle_ms, base.idle_ms, now_f.deliver_ms,
               held.deliver_ms, base.deliver_ms);
        if (now_f.idle_ms < best_now.idle_ms)
            best_now.idle_ms = now_f.idle_ms;
        if (now_f.deliver_ms < best_now.deliver_ms)
            best_now.deliver_ms = now_f.deliver_ms;
        if (held.idle_ms < best_held.idle_ms)
            best_held.idle_ms = held.idle_ms;
        if (held.deliver_ms < best_held.deliver_ms)
            best_held.deliver_ms = held.deliver_ms;
        if (base.idle_ms < best_base.idle_ms)
            best_base.idle_ms = base.idle_ms;
        if (base.deliver_ms < best_base.deliver_ms)
            best_base.deliver_ms = base.deliver_ms;
    }
    printf("idle claim (nothing can go)        : %10.3f ms, baseline (schema 10) %10.3f ms,"
           " ratio %.0fx\n",
           best_now.idle_ms, best_base.idle_ms, best_base.idle_ms / best_now.idle_ms);
    printf("claim + record + commit of one row : %10.3f ms, baseline (schema 10) %10.3f ms,"
           " ratio %.0fx\n",
           best_now.deliver_ms, best_base.deliver_ms, best_base.deliver_ms / best_now.deliver_ms);
    printf("the same holding updates (alerts.update_seconds 300): idle %.3f ms (%.2fx of"
           " without), one row %.3f ms (%.2fx)\n",
           best_held.idle_ms, best_held.idle_ms / best_now.idle_ms, best_held.deliver_ms,
           best_held.deliver_ms / best_now.deliver_ms);
    cx_pg_outbox_free(o);
    run(c, "DELETE FROM cx.tickets");
    PQfinish(c);
    return 0;
}
