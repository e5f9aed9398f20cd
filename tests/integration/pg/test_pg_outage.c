/*
 * test_pg_outage.c - the server stops in the middle of a run (immediate
 * shutdown: in-flight transactions are lost) and comes back: the sink
 * reports transient failures, never dead-letters because of them, and once
 * the server is back every event is stored exactly once. Also a COMMIT
 * whose answer never comes: committed or not, the batch written again is
 * stored once.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cxtest.h"
#include "sinktest.h"

static sinktest_batch batch;

static void teardown(void)
{
    cx_test_pg_restart_if_stopped();
}

Test(pg_outage, server_restart_mid_run_loses_and_doubles_nothing, .timeout = 240, .fini = teardown)
{
    char url[1024], err[1024];
    sinktest_fresh_db(url, sizeof url);
    cx_pg *pg = sinktest_sink(url);
    const int batches = 20, per_batch = 200;
    int transient = 0;
    for (int k = 0; k < batches; k++) {
        sinktest_clear(&batch);
        for (int i = 0; i < per_batch; i++) {
            long id = (long)k * per_batch + i;
            sinktest_add_event(&batch, "t", (int)(id % 4), id / 4, id);
        }
        if (k == 5)
            cr_assert_eq(cx_test_pg_ctl("stop immediate"), 0);
        cx_pg_result res;
        int tries = 0;
        cx_status st;
        while ((st = cx_pg_write_batch(pg, batch.recs, batch.n, &res, err, sizeof err)) ==
               CX_ERR_TRANSIENT) {
            transient++;
            cr_assert(++tries < 100, "still failing: %s", err);
            if (tries == 3)
                cr_assert_eq(cx_test_pg_ctl("start"), 0);
            cx_test_sleep_ms(50);
        }
        cr_assert_eq(st, CX_OK, "%s", err);
        cr_assert_eq(res.stored, (size_t)per_batch);
    }
    cr_assert(transient >= 3, "the outage was not noticed");
    PGconn *conn = cx_test_pg_connect(url);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), batches * per_batch);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(DISTINCT event_id) FROM cx.events"),
                 batches * per_batch);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"), 0);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT sum(next_offset) FROM cx.consumer_offsets"),
                 batches * per_batch);
    cx_test_assert_signals_exact(conn);
    PQfinish(conn);
    cx_pg_free(pg);
    sinktest_clear(&batch);
}

Test(pg_outage, a_connection_killed_mid_batch_is_retried_without_loss, .timeout = 60)
{
    char url[1024], err[1024];
    sinktest_fresh_db(url, sizeof url);
    cx_pg *pg = sinktest_sink(url);
    PGconn *conn = cx_test_pg_connect(url);
    for (long i = 0; i < 500; i++)
        sinktest_add_event(&batch, "t", 0, i, i);
    cx_pg_result res;
    cr_assert_eq(cx_pg_write_batch(pg, batch.recs, 250, &res, err, sizeof err), CX_OK, "%s", err);
    /* pg_terminate_backend on the sink's session, as an operator might */
    cx_test_pg_exec(conn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'cxpulse'");
    cx_status st = cx_pg_write_batch(pg, batch.recs, 500, &res, err, sizeof err);
    cr_assert_eq(st, CX_ERR_TRANSIENT, "%s", err);
    st = cx_pg_write_batch(pg, batch.recs, 500, &res, err, sizeof err);
    cr_assert_eq(st, CX_OK, "%s", err);
    cr_assert_eq(res.skipped, 250);
    cr_assert_eq(res.stored, 250);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), 500);
    cx_test_assert_signals_exact(conn);
    PQfinish(conn);
    cx_pg_free(pg);
    sinktest_clear(&batch);
}

/* ---- A COMMIT whose answer is lost ---------------------------------------
 * A proxy between the sink and PostgreSQL that, once armed, cuts the
 * connection at the sink's COMMIT (a simple query, "Q" len "COMMIT\0"):
 * either before passing it on (the server rolls back) or after the server
 * has answered it, without passing the answer on (the server committed).
 * Either way the sink sees a broken connection and cannot know which. */

enum cut { CUT_NONE, CUT_BEFORE_COMMIT, CUT_AFTER_COMMIT };

typedef struct cutter {
    atomic_int armed; /* enum cut, for the next COMMIT; CUT_NONE once done */
    atomic_int cuts;  /* connections cut */
    atomic_int lost;  /* answers to COMMIT that did not come (cut after it) */
} cutter;

static int cut_at_commit(void *ctx, int up, const char *buf, size_t n)
{
    cutter *c = ctx;
    int seen = cx_test_pg_sent_query(buf, n, "COMMIT");
    int mode = seen ? atomic_exchange(&c->armed, CUT_NONE) : CUT_NONE;
    if (mode == CUT_NONE)
        return 1;
    if (mode == CUT_AFTER_COMMIT && cx_test_proxy_swallow_answer(up, buf, n) != 0)
        c->lost++;
    c->cuts++;
    return 0;
}

/* Writes 300 events, cuts the connection at the COMMIT of the next 300, and
 * writes those again as the pipeline does after a transient failure. */
static void lose_commit_answer(enum cut mode)
{
    char url[1024], via[1100], err[1024];
    sinktest_fresh_db(url, sizeof url);
    static cutter c; /* outlives this function should an assertion end it early */
    c = (cutter){0};
    cx_test_proxy *px = cx_test_pg_proxy(url, cut_at_commit, &c, via, sizeof via);
    cx_pg *pg = sinktest_sink(via);
    for (long i = 0; i < 600; i++)
        sinktest_add_event(&batch, "t", (int)(i % 3), i / 3, i);
    cx_pg_result res;
    cr_assert_eq(cx_pg_write_batch(pg, batch.recs, 300, &res, err, sizeof err), CX_OK, "%s", err);
    /* records 300..599: the next offsets of each partition */
    c.armed = mode;
    cx_status st = cx_pg_write_batch(pg, batch.recs + 300, 300, &res, err, sizeof err);
    cr_assert_eq(st, CX_ERR_TRANSIENT, "the lost answer is a transient failure: %s", err);
    cr_assert_eq(c.cuts, 1, "the connection was cut at COMMIT");
    cr_assert_eq(c.lost, 0, "the server did not answer the COMMIT");
    st = cx_pg_write_batch(pg, batch.recs + 300, 300, &res, err, sizeof err);
    cr_assert_eq(st, CX_OK, "%s", err);
    /* committed: every record is below the stored offsets; not: all are new */
    cr_assert_eq(res.stored, mode == CUT_AFTER_COMMIT ? 0 : 300);
    cr_assert_eq(res.skipped, mode == CUT_AFTER_COMMIT ? 300 : 0);
    cr_assert_eq(res.duplicates, 0);
    PGconn *conn = cx_test_pg_connect(url);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(DISTINCT event_id) FROM cx.events"), 600);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.events"), 600);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT count(*) FROM cx.dead_letters"), 0);
    cr_assert_eq(cx_test_pg_scalar(conn, "SELECT sum(next_offset) FROM cx.consumer_offsets"), 600);
    cx_test_assert_signals_exact(conn);
    PQfinish(conn);
    cx_pg_free(pg);
    cx_test_proxy_stop(px);
    sinktest_clear(&batch);
}

Test(pg_outage, a_commit_cut_off_before_the_server_got_it_is_written_again, .timeout = 60)
{
    lose_commit_answer(CUT_BEFORE_COMMIT);
}

Test(pg_outage, a_commit_whose_answer_was_lost_is_not_written_twice, .timeout = 60)
{
    lose_commit_answer(CUT_AFTER_COMMIT);
}
