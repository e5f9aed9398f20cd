/*
 * test_pg_outbox.c - claiming the rows of the notification outbox
 * (cx.notifications) against a real PostgreSQL, as the senders of `cxpulse
 * run` do: a ticket's transitions go out in order, each once the one before
 * it is settled (sent, failed, retried, deleted), whichever of two
 * transactions commits first; senders share the tickets and never hold two
 * rows of one ticket. The rows carry their ticket's uid, which the
 * Idempotency-Keys (ops/alerts) include: a ticket that gets the id of a
 * delivered one after a restore from a backup never gets its keys.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "cxtest.h"
#include "sinktest.h"

static char url[1024];
static PGconn *conn;
static cx_pg_outbox *a, *b;

static void setup(void)
{
    char err[512];
    sinktest_fresh_db(url, sizeof url);
    conn = cx_test_pg_connect(url);
    cr_assert_eq(cx_pg_outbox_new(&a, url, 0, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_pg_outbox_new(&b, url, 0, err, sizeof err), CX_OK, "%s", err);
}

static void teardown(void)
{
    cx_pg_outbox_free(a);
    cx_pg_outbox_free(b);
    PQfinish(conn);
}

TestSuite(pg_outbox, .init = setup, .fini = teardown, .timeout = 60);

static long long q(const char *sql)
{
    return cx_test_pg_scalar(conn, sql);
}

/* Opens a ticket of rule (its transition 1, "opened"); returns its id. */
static long long new_ticket(const char *rule)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO cx.tickets (rule, category, owner) VALUES ('%s', 'external',"
             " 'carriers') RETURNING ticket_id",
             rule);
    return q(sql);
}

/* The rule fires again on ticket t: its next transition, "updated". */
static void update_ticket(PGconn *c, long long t)
{
    char sql[128];
    snprintf(sql, sizeof sql,
             "UPDATE cx.tickets SET event_count = event_count + 1 WHERE ticket_id = %lld", t);
    cx_test_pg_exec(c, sql);
}

/* An owner acknowledges, then resolves, ticket t: its next two transitions
 * (never superseded, as "updated" rows not posted yet are). */
static void ack_and_resolve(long long t)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE cx.tickets SET status = 'acknowledged' WHERE ticket_id = %lld;"
             "UPDATE cx.tickets SET status = 'resolved', resolved_at = now()"
             " WHERE ticket_id = %lld",
             t, t);
    cx_test_pg_exec(conn, sql);
}

/* The row sender o claims, holding a ticket's updates back until
 * update_seconds after its last row sent: "<ticket>:<seq>", or "-" when none
 * is due; the claim stays held (its row in *row, if row is not NULL) until
 * recorded. */
static const char *claim_every(cx_pg_outbox *o, int update_seconds, json_t **row)
{
    static char out[64];
    char err[512];
    json_t *r = NULL;
    cr_assert_eq(cx_pg_outbox_claim(o, update_seconds, &r, err, sizeof err), CX_OK, "%s", err);
    if (r == NULL)
        snprintf(out, sizeof out, "-");
    else
        snprintf(out, sizeof out, "%lld:%lld",
                 (long long)json_integer_value(json_object_get(r, "ticket_id")),
                 (long long)json_integer_value(json_object_get(r, "seq")));
    if (row != NULL)
        *row = r;
    else
        json_decref(r);
    return out;
}

/* The row sender o claims, every update as it comes. */
static const char *claim(cx_pg_outbox *o, json_t **row)
{
    return claim_every(o, 0, row);
}

static const char *at(long long t, int seq)
{
    static char out[64];
    snprintf(out, sizeof out, "%lld:%d", t, seq);
    return out;
}

/* Records the outcome of sender o's claim of row (and releases both):
 * status "sent", "failed" or "pending" (due again at once). */
static void settle(cx_pg_outbox *o, json_t *row, const char *status)
{
    char err[512];
    json_t *d = json_object();
    cr_assert_eq(cx_pg_outbox_finish(o, json_integer_value(json_object_get(row, "id")), status, d,
                                     0, NULL, err, sizeof err),
                 CX_OK, "%s", err);
    json_decref(d);
    json_decref(row);
}

Test(pg_outbox, a_ticket_s_transitions_go_out_in_order_each_once_the_one_before_is_settled)
{
    long long t = new_ticket("r");
    ack_and_resolve(t);
    json_t *row;
    cr_assert_str_eq(claim(a, &row), at(t, 1));
    cr_assert_str_eq(claim(b, NULL), "-", "2 and 3 wait while 1 is being delivered");
    settle(a, row, "pending"); /* to be tried again: it still goes first */
    cr_assert_str_eq(claim(b, &row), at(t, 1));
    settle(b, row, "sent");
    cr_assert_str_eq(claim(a, &row), at(t, 2));
    settle(a, row, "failed"); /* refused for good: the next one is not held back */
    cr_assert_str_eq(claim(a, &row), at(t, 3));
    cr_assert_str_eq(claim(b, NULL), "-");
    settle(a, row, "sent");
    cr_assert_str_eq(claim(a, NULL), "-");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE status = 'pending'"), 0);
}

/* A copy of the table kept by reading the rows changed since its last run
 * (docs/schema.md) sees a delivery: changed_at moves with each change, to
 * when it was made (a claim's transaction stays open through its posts). */
Test(pg_outbox, a_row_s_changed_at_moves_when_its_delivery_is_written)
{
    long long t = new_ticket("r");
    ack_and_resolve(t);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE changed_at = created_at"), 3,
                 "a new row is changed when it is written");
    cx_test_sleep_ms(20);
    json_t *row;
    cr_assert_str_eq(claim(a, &row), at(t, 1));
    cx_test_sleep_ms(50); /* the posts */
    settle(a, row, "sent");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE seq = 1"
                   " AND changed_at > created_at AND changed_at >= sent_at"),
                 1, "the delivery did not move changed_at to when it was written");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE seq = 2 AND NOT waiting"
                   " AND changed_at > created_at"),
                 1, "the next row, no longer waiting, changed");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE seq = 3"
                   " AND changed_at = created_at"),
                 1, "the row still waiting did not change");
}

/* A ticket fired by batch after batch gets an `updated` row when the one
 * before is in delivery; while an update waits behind it, the next firings
 * bring that row up to date instead of adding rows (a row per firing ticket
 * per batch piled up while no receiver took them). The ticket's next
 * transition supersedes the waiting update, so its resolve goes out right
 * after the row in delivery; that row (a sender holds it) is kept as it was. */
Test(pg_outbox, updates_waiting_in_the_outbox_are_merged_then_superseded_by_the_next_transition)
{
    long long t = new_ticket("r");
    json_t *row, *held;
    cr_assert_str_eq(claim(a, &row), at(t, 1));
    settle(a, row, "sent");
    update_ticket(conn, t);
    long long first = q("SELECT event_count FROM cx.tickets");
    cr_assert_str_eq(claim(b, &held), at(t, 2), "in delivery");
    for (int i = 0; i < 5; i++) /* seq 3 waiting, with the latest state */
        update_ticket(conn, t);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications"), 3, "a row per firing");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE status = 'superseded'"), 0);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM cx.notifications WHERE status = 'pending' AND seq = 3"
             " AND waiting AND (ticket ->> 'event_count')::bigint = %lld",
             first + 5);
    cr_assert_eq(q(sql), 1, "the waiting update does not hold the latest state");
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM cx.notifications WHERE status = 'pending' AND seq = 2"
             " AND NOT waiting AND (ticket ->> 'event_count')::bigint = %lld",
             first);
    cr_assert_eq(q(sql), 1, "the row in delivery was changed");
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved', resolved_at = now()");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE status = 'superseded'"
                   " AND sent_at IS NOT NULL AND transition = 'updated' AND seq = 3"),
                 1);
    cr_assert_str_eq(claim(a, NULL), "-", "the resolve overtook the row in delivery");
    settle(b, held, "sent");
    cr_assert_str_eq(claim(a, &row), at(t, 4));
    cr_assert_str_eq(json_string_value(json_object_get(row, "transition")), "resolved");
    settle(a, row, "sent");
    cr_assert_str_eq(claim(a, NULL), "-");
}

static double oldest_pending_seconds(void)
{
    cx_pg_outbox_counts c;
    char err[512];
    cr_assert_eq(cx_pg_outbox_stats(b, &c, err, sizeof err), CX_OK, "%s", err);
    return c.oldest_pending_seconds;
}

/* alerts.update_seconds: a ticket fired batch after batch is sent an update
 * at most that often (each webhook post may be a comment in someone's
 * tracker), holding its latest state; the firings meanwhile add no rows, a
 * held update is not counted as stuck, and the ticket's next transition
 * (an owner resolving it) is not held back behind it. */
Test(pg_outbox, a_ticket_s_updates_are_held_back_until_update_seconds_after_its_last_row_sent)
{
    long long t = new_ticket("r");
    json_t *row;
    cr_assert_str_eq(claim_every(a, 3600, &row), at(t, 1), "an opening is not held back");
    settle(a, row, "sent");
    for (int i = 0; i < 3; i++)
        update_ticket(conn, t);
    cr_assert_str_eq(claim_every(a, 3600, NULL), "-", "the update went out at once");
    cr_assert_str_eq(claim(b, NULL), "-", "a held update is due only when its hold ends");
    cr_assert_eq(
        q("SELECT count(*) FROM cx.notifications n WHERE seq = 2 AND status = 'pending'"
          " AND NOT waiting AND (ticket ->> 'event_count')::bigint ="
          " (SELECT event_count FROM cx.tickets) AND next_attempt_at"
          " BETWEEN (SELECT sent_at + interval '3599 s' FROM cx.notifications WHERE seq = 1)"
          " AND (SELECT sent_at + interval '3601 s' FROM cx.notifications WHERE seq = 1)"),
        1, "the held update is not the ticket's latest state, due an hour after the last");
    update_ticket(conn, t);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications"), 2, "a firing added a row");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE seq = 2 AND"
                   " (ticket ->> 'event_count')::bigint = (SELECT event_count FROM cx.tickets)"),
                 1, "the held update missed a firing");
    cr_assert_float_eq(oldest_pending_seconds(), 0, 1e-9, "a held update counted as stuck");
    cx_test_pg_exec(conn, "UPDATE cx.tickets SET status = 'resolved', resolved_at = now()");
    cr_assert_str_eq(claim_every(a, 3600, &row), at(t, 3), "the resolve waits for the hold");
    cr_assert_str_eq(json_string_value(json_object_get(row, "transition")), "resolved");
    settle(a, row, "sent");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE seq = 2 AND status = 'superseded'"),
                 1);
}

/* A ticket whose opening was sent just now by a sender holding updates for
 * an hour, and whose rule then fired again: its id. */
static long long opened_sent_then_fired(void)
{
    long long t = new_ticket("r");
    json_t *row;
    cr_assert_str_eq(claim_every(a, 3600, &row), at(t, 1), "an opening is not held back");
    settle(a, row, "sent");
    update_ticket(conn, t);
    return t;
}

/* An hour passes for ticket t's rows seq - 1 (its send) and seq (held until
 * an hour after it). */
static void an_hour_passes(long long t, int seq)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE cx.notifications SET sent_at = sent_at - interval '3601 s'"
             " WHERE ticket_id = %lld AND seq = %d;"
             "UPDATE cx.notifications SET next_attempt_at = next_attempt_at - interval '3601 s'"
             " WHERE ticket_id = %lld AND seq = %d",
             t, seq - 1, t, seq);
    cx_test_pg_exec(conn, sql);
}

/* Once the hold ends, the held update goes, with the state of the firings
 * that came meanwhile; the next one is held again from that send. */
Test(pg_outbox, a_held_update_goes_when_its_hold_ends_with_the_latest_state)
{
    long long t = opened_sent_then_fired();
    json_t *row;
    cr_assert_str_eq(claim_every(a, 3600, NULL), "-");
    an_hour_passes(t, 2);
    update_ticket(conn, t); /* after the hold ended, before a sender looked */
    cr_assert_str_eq(claim_every(a, 3600, &row), at(t, 2));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(row, "ticket"), "event_count")),
                 q("SELECT event_count FROM cx.tickets"), "the update sent is not the latest");
    update_ticket(conn, t); /* behind the row in delivery */
    settle(a, row, "sent");
    cr_assert_str_eq(claim_every(a, 3600, NULL), "-", "the next update was not held");
    an_hour_passes(t, 3);
    cr_assert_str_eq(claim_every(a, 3600, &row), at(t, 3));
    settle(a, row, "sent");
}

/* An update whose post failed for a while is tried again on its backoff,
 * not held back again: the hold is for updates no receiver was sent. */
Test(pg_outbox, an_update_being_retried_is_not_held_back)
{
    long long t = opened_sent_then_fired();
    json_t *row;
    cr_assert_str_eq(claim(a, &row), at(t, 2), "a sender without a hold");
    settle(a, row, "pending"); /* a 503: due again at once */
    cr_assert_str_eq(claim_every(a, 3600, &row), at(t, 2), "the retry was held back");
    settle(a, row, "sent");
}

/* The claim itself leaves an update that is due (its hold not written yet:
 * the statement that writes it skipped the ticket, whose lock a batch held)
 * while its ticket's last row went out within the hold. */
Test(pg_outbox, an_update_due_within_the_hold_is_not_claimed)
{
    long long t = opened_sent_then_fired();
    PGconn *batch = cx_test_pg_connect(url); /* a batch's transaction holds the ticket's lock */
    char sql[160];
    snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(72428371, %lld)",
             t & 2147483647);
    cx_test_pg_exec(batch, sql);
    cr_assert_str_eq(claim_every(a, 3600, NULL), "-", "an update within the hold was claimed");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE seq = 2"
                   " AND next_attempt_at <= now()"),
                 1, "the hold was written under a batch's lock");
    cx_test_pg_exec(batch, "COMMIT");
    PQfinish(batch);
    cr_assert_str_eq(claim_every(a, 3600, NULL), "-");
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications WHERE seq = 2"
                   " AND next_attempt_at > now() + interval '3500 s'"),
                 1, "the hold is written once the lock is free");
}

Test(pg_outbox, senders_share_the_tickets_and_never_hold_two_rows_of_one)
{
    long long t1 = new_ticket("r1"), t2 = new_ticket("r2");
    update_ticket(conn, t1);
    update_ticket(conn, t2);
    json_t *ra, *rb;
    cr_assert_str_eq(claim(a, &ra), at(t1, 1), "the row due first");
    cr_assert_str_eq(claim(b, &rb), at(t2, 1), "the other sender skips the locked ticket");
    cx_pg_outbox *c;
    char err[512];
    cr_assert_eq(cx_pg_outbox_new(&c, url, 0, err, sizeof err), CX_OK, "%s", err);
    cr_assert_str_eq(claim(c, NULL), "-");
    settle(a, ra, "sent");
    cr_assert_str_eq(claim(c, NULL), at(t1, 2));
    cx_pg_outbox_rollback(c); /* released unrecorded: it stays pending */
    settle(b, rb, "sent");
    cr_assert_str_eq(claim(c, &ra), at(t1, 2));
    settle(c, ra, "sent");
    cr_assert_str_eq(claim(c, &ra), at(t2, 2));
    settle(c, ra, "sent");
    cx_pg_outbox_free(c);
}

/* `notifications retry` puts a failed transition back before the later
 * ones of its ticket that are still pending: they wait for it again. */
Test(pg_outbox, a_retried_transition_goes_before_the_later_ones_of_its_ticket)
{
    long long t = new_ticket("r");
    update_ticket(conn, t);
    json_t *row;
    cr_assert_str_eq(claim(a, &row), at(t, 1));
    long long first = json_integer_value(json_object_get(row, "id"));
    settle(a, row, "failed");
    cr_assert_str_eq(claim(a, NULL), at(t, 2));
    cx_pg_outbox_rollback(a);
    long long n;
    char err[512];
    long long superseded;
    cr_assert_eq(cx_pg_notifications_retry(url, first, &n, &superseded, err, sizeof err), CX_OK,
                 "%s", err);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(claim(a, &row), at(t, 1));
    cr_assert_str_eq(claim(b, NULL), "-");
    settle(a, row, "sent");
    cr_assert_str_eq(claim(a, &row), at(t, 2));
    settle(a, row, "sent");
}

/* An operator deletes a pending row (or the whole ticket): the next one
 * goes. */
Test(pg_outbox, a_deleted_pending_row_lets_the_next_one_go)
{
    long long t = new_ticket("r"), u = new_ticket("s");
    update_ticket(conn, t);
    update_ticket(conn, u);
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM cx.notifications WHERE ticket_id = %lld AND seq = 1", t);
    cx_test_pg_exec(conn, sql);
    snprintf(sql, sizeof sql, "DELETE FROM cx.tickets WHERE ticket_id = %lld", u);
    cx_test_pg_exec(conn, sql);
    json_t *row;
    cr_assert_str_eq(claim(a, &row), at(t, 2));
    settle(a, row, "sent");
    cr_assert_str_eq(claim(a, NULL), "-");
}

/* The pruning query of docs/alerts.md deletes settled rows but each ticket's
 * newest: a transition after it is numbered after every row ever written, so
 * no Idempotency-Key is used twice. */
Test(pg_outbox, the_documented_pruning_keeps_transitions_numbered_after_every_row)
{
    static const char prune[] =
        "DELETE FROM cx.notifications n WHERE n.status <> 'pending' AND n.created_at < now() -"
        " interval '90 days' AND n.seq < (SELECT max(m.seq) FROM cx.notifications m WHERE"
        " m.ticket_id = n.ticket_id);";
    char path[1024];
    static char doc[1 << 16];
    cx_test_read_file(cx_test_source_path("docs/alerts.md", path, sizeof path), doc, sizeof doc);
    cr_assert(strstr(doc, prune) != NULL, "docs/alerts.md no longer shows: %s", prune);
    long long t = new_ticket("r");
    ack_and_resolve(t);
    json_t *row;
    for (int seq = 1; seq <= 3; seq++) {
        cr_assert_str_eq(claim(a, &row), at(t, seq));
        settle(a, row, "sent");
    }
    cx_test_pg_exec(conn, "UPDATE cx.notifications SET created_at = now() - interval '100 days'");
    cx_test_pg_exec(conn, prune);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications"), 1, "the newest row is kept");
    update_ticket(conn, t);
    cr_assert_str_eq(claim(a, &row), at(t, 4), "numbered after every row ever written");
    settle(a, row, "sent");
}

/* The one value sql returns, as text, into out. */
static void text(const char *sql, char *out, size_t outlen)
{
    PGresult *r = PQexec(conn, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(conn));
    cr_assert_eq(PQntuples(r), 1, "%s", sql);
    snprintf(out, outlen, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* Sender a claims the row due, which must be transition seq of ticket t; its
 * Idempotency-Key goes into key, its ticket's uid (or "" when none) into
 * uid, and it is recorded sent. */
static void deliver(long long t, int seq, char key[64], char uid[64])
{
    json_t *row;
    cr_assert_str_eq(claim(a, &row), at(t, seq));
    cx_alerts_idempotency_key(row, key, 64);
    const char *u = json_string_value(json_object_get(json_object_get(row, "ticket"), "uid"));
    snprintf(uid, 64, "%s", u != NULL ? u : "");
    settle(a, row, "sent");
}

/* Ticket t's Idempotency-Key of transition seq as docs/alerts.md gives it:
 * "<ticket_id>-<transition>-<seq>-" and the first 12 hex digits of its uid
 * in cx.tickets. */
static void documented_key(long long t, const char *transition, int seq, char *out, size_t outlen)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT '%lld-%s-%d-' || left(replace(uid::text, '-', ''), 12) FROM cx.tickets"
             " WHERE ticket_id = %lld",
             t, transition, seq, t);
    text(sql, out, outlen);
}

/* The outbox's rows carry their ticket's uid (the trigger copies the row),
 * and each row's key ends with the start of it. */
Test(pg_outbox, a_ticket_s_rows_carry_its_uid_and_their_keys_include_it)
{
    long long t = new_ticket("r");
    update_ticket(conn, t);
    char key[64], uid[64], want[128], sql[128];
    snprintf(sql, sizeof sql, "SELECT uid FROM cx.tickets WHERE ticket_id = %lld", t);
    text(sql, want, sizeof want);
    deliver(t, 1, key, uid);
    cr_assert_str_eq(uid, want, "the opening's row has the ticket's uid");
    documented_key(t, "opened", 1, want, sizeof want);
    cr_assert_str_eq(key, want);
    deliver(t, 2, key, uid);
    documented_key(t, "updated", 2, want, sizeof want);
    cr_assert_str_eq(key, want);
}

/* A restore from a backup sets the ticket_id sequence back: the tickets
 * opened (and delivered) after the backup are gone, and the next ticket gets
 * the id of one of them. Simulated: that ticket deleted, the sequence set
 * back to its id. The new ticket's transitions have keys of their own, so a
 * receiver does not drop them as ones it has seen. */
Test(pg_outbox, a_ticket_id_reused_after_a_restore_gets_keys_of_its_own)
{
    long long gone = new_ticket("r");
    char key1[64], uid1[64], key2[64], uid2[64], sql[256], prefix[64];
    deliver(gone, 1, key1, uid1);
    snprintf(sql, sizeof sql,
             "DELETE FROM cx.tickets WHERE ticket_id = %lld;"
             "SELECT setval(pg_get_serial_sequence('cx.tickets', 'ticket_id'), %lld, false)",
             gone, gone);
    cx_test_pg_exec(conn, sql);
    long long t = new_ticket("r");
    cr_assert_eq(t, gone, "the restore gave the new ticket the old one's id");
    deliver(t, 1, key2, uid2);
    cr_assert_str_neq(uid1, uid2);
    cr_assert_str_neq(key1, key2, "both tickets' openings have the key %s", key1);
    snprintf(prefix, sizeof prefix, "%lld-opened-1-", t);
    cr_assert(strncmp(key1, prefix, strlen(prefix)) == 0, "%s", key1);
    cr_assert(strncmp(key2, prefix, strlen(prefix)) == 0, "%s", key2);
}

/* A row written before schema version 20 (its ticket had no uid) is
 * delivered with the key it had: a delivery pending across the upgrade is
 * retried under the key a receiver may have seen. The upgrade gives the
 * ticket a uid without writing a row, and its next transition's key has it. */
Test(pg_outbox, a_row_written_before_tickets_had_a_uid_keeps_its_key_across_the_upgrade)
{
    cx_test_pg_exec(conn, "DROP VIEW cx.open_tickets;"
                          "ALTER TABLE cx.tickets DROP COLUMN uid;"
                          "CREATE VIEW cx.open_tickets AS SELECT * FROM cx.tickets"
                          " WHERE status <> 'resolved' ORDER BY opened_at DESC;"
                          "DELETE FROM cx.schema_migrations WHERE version = 20");
    long long t = new_ticket("r");
    char err[512], key[64], uid[64], want[128];
    int applied, version;
    cr_assert_eq(cx_pg_migrate(url, &applied, &version, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(applied, 1);
    cr_assert_eq(q("SELECT count(*) FROM cx.notifications"), 1, "the upgrade wrote no row");
    cr_assert_eq(q("SELECT count(*) FROM cx.tickets WHERE uid IS NOT NULL"), 1);
    deliver(t, 1, key, uid);
    snprintf(want, sizeof want, "%lld-opened-1", t);
    cr_assert_str_eq(key, want, "the pending row's key changed across the upgrade");
    cr_assert_str_eq(uid, "");
    update_ticket(conn, t);
    deliver(t, 2, key, uid);
    documented_key(t, "updated", 2, want, sizeof want);
    cr_assert_str_eq(key, want);
}

/* Something done on a thread of its own: settling a claimed row, or a
 * ticket's transition on a connection of its own. */
typedef struct on_thread {
    cx_pg_outbox *o;
    json_t *row;      /* settle this claim as sent, or */
    long long ticket; /* update this ticket */
    int done;
    pthread_mutex_t lock;
} on_thread;

static void *run_on_thread(void *arg)
{
    on_thread *w = arg;
    if (w->o != NULL) {
        settle(w->o, w->row, "sent");
    } else {
        cx_test_sleep_ms(300);
        PGconn *c = cx_test_pg_connect(url);
        update_ticket(c, w->ticket);
        PQfinish(c);
    }
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Starts w, and returns once it has finished or waits for a lock. */
static void start_and_let_wait(on_thread *w, pthread_t *th)
{
    pthread_mutex_init(&w->lock, NULL);
    /* Watched from a connection of its own outside any transaction: inside
     * one (conn may be in one), pg_stat_activity is read once and kept, so a
     * session that connects later would never be seen waiting. */
    PGconn *c = cx_test_pg_connect(url);
    cr_assert_eq(pthread_create(th, NULL, run_on_thread, w), 0);
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&w->lock);
        int done = w->done;
        pthread_mutex_unlock(&w->lock);
        /* a session of this test's database waits (other tests' databases
         * share the server, and their sessions may wait too) */
        if (done || cx_test_pg_scalar(c, "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity"
                                         " a USING (pid) WHERE NOT l.granted AND a.datname ="
                                         " current_database()") > 0) {
            PQfinish(c);
            return;
        }
        cx_test_sleep_ms(50);
    }
    /* what the database's sessions were doing, for whoever reads the failure */
    PGresult *r = PQexec(c, "SELECT pid, state, wait_event_type, wait_event, left(query, 120)"
                            " FROM pg_stat_activity WHERE datname = current_database()");
    for (int i = 0; i < PQntuples(r); i++)
        fprintf(stderr, "session %s: %s, waiting %s %s: %s\n", PQgetvalue(r, i, 0),
                PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
    PQclear(r);
    PQfinish(c);
    cr_assert_fail("neither finished nor waiting after 5 s (the sessions are above)");
}

/* The ticket's next transition commits while its previous one is being
 * settled, in either order: it is claimed next, never left waiting behind
 * a row that is no longer pending. */
Test(pg_outbox, a_transition_committed_while_the_one_before_is_settled_is_not_left_waiting)
{
    /* The transition's transaction first: the sender records "sent" meanwhile. */
    long long t = new_ticket("r");
    json_t *row;
    cr_assert_str_eq(claim(a, &row), at(t, 1));
    cx_test_pg_exec(conn, "BEGIN");
    update_ticket(conn, t);
    on_thread w = {.o = a, .row = row};
    pthread_t th;
    start_and_let_wait(&w, &th);
    cx_test_pg_exec(conn, "COMMIT");
    pthread_join(th, NULL);
    cr_assert_str_eq(claim(b, &row), at(t, 2));
    settle(b, row, "sent");

    /* The settling transaction first: the transition is written meanwhile. */
    long long u = new_ticket("s");
    char sql[160];
    snprintf(sql, sizeof sql,
             "UPDATE cx.notifications SET status = 'sent' WHERE ticket_id = %lld AND seq = 1", u);
    cx_test_pg_exec(conn, "BEGIN");
    cx_test_pg_exec(conn, sql);
    on_thread w2 = {.ticket = u};
    start_and_let_wait(&w2, &th);
    cx_test_pg_exec(conn, "COMMIT");
    pthread_join(th, NULL);
    cr_assert_str_eq(claim(b, &row), at(u, 2));
    settle(b, row, "sent");
    cr_assert_str_eq(claim(a, NULL), "-");
}
