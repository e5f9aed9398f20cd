/*
 * cmd_reclassify.c - `cxpulse reclassify --pg URL [--since T] [--until T]
 * [--rules FILE] [--batch N] [--retries N]`: re-tags stored events with the
 * current rules in bounded batches, correcting cx.signals in the same
 * transactions. Safe to interrupt and to run again (events already on the
 * rules' version are skipped), and safe while `cxpulse run` is writing; a
 * transient failure mid-run is retried on new connections. SIGINT or SIGTERM
 * stops it after the pages in hand are stored, saying how far it got.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "commands.h"
#include "config.h"
#include "event.h"
#include "pg.h"
#include "record.h"

static int usage(FILE *out, int rc)
{
    fprintf(out, "usage: cxpulse reclassify [--pg URL] [--since T] [--until T] [--rules FILE]...\n"
                 "                          [--model FILE] [--batch N] [--retries N]\n"
                 "                          [--config FILE]\n\n"
                 "Re-tags the events that occurred in [since, until) (RFC 3339, or a date: its\n"
                 "midnight UTC; open when left out) with the current rules (--rules, rules.files,\n"
                 "or the built-in ones) and model (--model, rules.model, or the built-in one):\n"
                 "tags, primary category, sentiment and rule version, with cx.signals corrected,\n"
                 "N events per transaction (default 5000). Events already tagged by this rule\n"
                 "version are skipped, so an interrupted run can simply be run again. Ctrl-C\n"
                 "(SIGINT) or SIGTERM stops it once the batches in hand are stored (exit 1).\n"
                 "A lost connection, a deadlock or a lock held too long is retried on new\n"
                 "connections after 1, 2, 4, ... s (at most 30 s), up to --retries times in a\n"
                 "row (default 5; 0: stop at the first error).\n"
                 "Use the same signals.window_seconds as `cxpulse run`.\n");
    return rc;
}

/* Checks a time bound into *us; NULL stays NULL (open, *us untouched). */
static int valid_time(const char *flag, const char *t, int64_t *us)
{
    if (t == NULL || cx_time_parse_date(t, us) == CX_OK)
        return 1;
    char shown[256];
    fprintf(stderr, "cxpulse reclassify: %s \"%s\": expected an RFC 3339 date-time or a date\n",
            flag, cx_config_shown(t, shown, sizeof shown));
    return 0;
}

/* The stop signal that arrived (SIGINT, SIGTERM), or 0. */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* Stops at the next page on SIGINT or SIGTERM; a second one ends the process
 * at once (SA_RESETHAND), losing nothing but the pages in flight. A SIGINT
 * ignored when the command started (`cxpulse reclassify ... &` from a script,
 * nohup) stays ignored, as the shell meant. */
static void catch_stop_signals(void)
{
    struct sigaction sa, was;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, NULL, &was) == 0 && was.sa_handler != SIG_IGN)
        sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* What an error mid-run leaves: the pages before it are stored. */
#define AGAIN                                                                                      \
    " (the events re-tagged before it are stored; the same command again re-tags the rest)"

/* What one pass over the range needs and counts. */
typedef struct pass {
    const char *since, *until;
    int batch;
    const cx_record_rules *rr;
    cx_record_store *stores;
    const cx_event **ev_ptrs;
    const cx_tags **tag_ptrs;
    const cx_pg_reclassified *earlier; /* what the passes before stored, for progress */
    long long read;                    /* events read by this pass */
    long long unparsed;  /* of them, left as they were */
} pass;

/* Re-tags every page left in the range on h, until none is left or a stop
 * signal arrives (*stopped set); *todo is for the progress lines. */
static cx_status retag_pages(cx_pg_history *h, pass *p, long long *todo, int *stopped, char *err,
                             size_t errlen)
{
    cx_cmd_unreadable told = {0};
    for (;;) {
        size_t n, m = 0;
        if (stop_signal != 0) {
            *stopped = 1;
            return cx_pg_reclassify_wait(h, err, errlen);
        }
        cx_status st = cx_pg_reclassify_next(h, p->since, p->until, p->batch, &n, err, errlen);
        if (st != CX_OK || n == 0)
            return st;
        for (size_t i = 0; i < n; i++) {
            size_t len;
            const char *id;
            const char *payload = cx_pg_reclassify_payload(h, i, &len, &id);
            cx_record rec;
            if (payload == NULL) {
                cx_log(CX_LOG_WARN, "reclassify",
                       "event %s left as it was: its payload holds "
                       "a number with more than %d digits in decimal form, not read",
                       id, CX_EVENT_MAX_NUMBER_DIGITS);
                p->unparsed++;
                continue;
            }
            if (cx_record_make(&rec, &p->stores[m], p->rr, NULL, -1, -1, payload, len) != CX_OK) {
                /* Stored under an older, laxer parser: its tags stay as they are. */
                cx_log(CX_LOG_WARN, "reclassify", "event %s left as it was: %s", id, rec.error);
                p->unparsed++;
                continue;
            }
            if (cx_cmd_unreadable_first(&told, rec.tags->unreadable))
                cx_log(CX_LOG_WARN, "reclassify",
                       CX_CMD_UNREADABLE_FMT ": first in event %s; said once per field",
                       rec.tags->unreadable, rec.tags->unreadable_needs, rec.ev->event_id);
            p->ev_ptrs[m] = rec.ev;
            p->tag_ptrs[m] = rec.tags;
            m++;
        }
        st = cx_pg_reclassify_apply(h, p->since, p->until, p->ev_ptrs, p->tag_ptrs, m, err, errlen);
        for (size_t i = 0; i < m; i++)
            cx_record_release(&p->stores[i]);
        if (st != CX_OK)
            return st;
        p->read += (long long)n;
        /* events stored since the count (a run writing meanwhile) are re-tagged too */
        long long done_n = (long long)p->earlier->retagged + p->read;
        if (done_n > *todo)
            *todo = done_n;
        fprintf(stderr,
                "reclassify: %lld/%lld events read; stored so far, %zu with changed "
                "categories\n",
                done_n, *todo, p->earlier->categories + cx_pg_reclassify_stored(h).categories);
    }
}

/* Adds what h stored to *total; returns how many events that is. */
static size_t add_stored(cx_pg_reclassified *total, const cx_pg_history *h)
{
    cx_pg_reclassified s = cx_pg_reclassify_stored(h);
    total->retagged += s.retagged;
    total->categories += s.categories;
    total->primary += s.primary;
    total->sentiment += s.sentiment;
    return s.retagged;
}

int cx_cmd_reclassify(int argc, char **argv)
{
    if (cx_cmd_wants_help(argc, argv))
        return usage(stdout, CX_EXIT_OK);
    char err[1024];
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int n_rest = 0, rc = CX_EXIT_USAGE, batch = 5000;
    const char *since = NULL, *until = NULL;
    cx_config *cfg = cx_config_new();
    cx_classifier *clf = NULL;
    cx_pg_history *h = NULL;
    cx_record_store *stores = NULL;
    const cx_event **ev_ptrs = NULL;
    const cx_tags **tag_ptrs = NULL;
    char *rules_json = NULL;
    if (cfg == NULL || rest == NULL)
        goto done;
    if (cx_config_parse_cli(cfg, argc, argv, rest, &n_rest, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse reclassify: %s\n", err);
        goto done;
    }
    double batch_d = batch, retries_d = 5;
    const cx_cmd_number nums[] = {
        {"--batch", "a whole number from 1 to 100000", &batch_d, 1, 100000, 1},
        {"--retries", "a whole number from 0 to 1000", &retries_d, 0, 1000, 1},
    };
    const cx_cmd_string strs[] = {{"--since", &since, NULL, 0}, {"--until", &until, NULL, 0}};
    const cx_cmd_spec spec = {CX_CMD_OPTIONS(nums, strs), .config_flags = 1};
    if (cx_cmd_parse_options("reclassify", rest, n_rest, &spec) != 0)
        goto done;
    batch = (int)batch_d;
    int retries = (int)retries_d;
    int64_t from = 0, to = 0;
    if (!valid_time("--since", since, &from) || !valid_time("--until", until, &to))
        goto done;
    if (since != NULL && until != NULL && from >= to) {
        fprintf(stderr,
                "cxpulse reclassify: --since %s is not before --until %s: no event "
                "is in that range\n",
                since, until);
        goto done;
    }
    cx_log_set_level(cfg->log_level);
    if (cx_classifier_new_model(&clf, (const char *const *)cfg->rule_files, cfg->n_rule_files,
                                cfg->rule_model, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse reclassify: %s\n", err);
        goto done;
    }
    cx_cmd_classifier_warnings("reclassify", clf);
    if (cx_pg_conninfo_check(cfg->pg_url, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse reclassify: %s\n", err);
        goto done;
    }
    rc = CX_EXIT_RUNTIME;
    stores = calloc((size_t)batch, sizeof *stores);
    ev_ptrs = calloc((size_t)batch, sizeof *ev_ptrs);
    tag_ptrs = calloc((size_t)batch, sizeof *tag_ptrs);
    rules_json = cx_classifier_rules_json(clf);
    if (stores == NULL || ev_ptrs == NULL || tag_ptrs == NULL || rules_json == NULL) {
        fprintf(stderr, "cxpulse reclassify: out of memory\n");
        goto done;
    }
    const char *version = cx_classifier_version(clf);
    /* Events are re-made as `cxpulse run` makes them; tickets are not re-evaluated. */
    const cx_record_rules rr = {.classifier = clf, .tickets = NULL};
    long long todo = 0;
    int builtin = cfg->n_rule_files == 0;
    for (size_t i = 0; i < cfg->n_rule_files; i++)
        builtin |= strcmp(cfg->rule_files[i], CX_CLASSIFIER_BUILTIN) == 0;
    cx_pg_reclassified total = {0};
    pass p = {.since = since,
              .until = until,
              .batch = batch,
              .rr = &rr,
              .stores = stores,
              .ev_ptrs = ev_ptrs,
              .tag_ptrs = tag_ptrs,
              .earlier = &total};
    catch_stop_signals();
    for (int failures = 0, first = 1;; first = 0) {
        cx_status st = cx_pg_history_new(&h, cfg->pg_url, cfg->window_seconds,
                                         cfg->n_window_seconds, err, sizeof err);
        if (st == CX_OK)
            st = cx_pg_history_check_windows(h, err, sizeof err);
        if (first && st != CX_OK) { /* a connection option libpq refuses, a window size: 2 */
            fprintf(stderr, "cxpulse reclassify: %s\n", err);
            rc = cx_cmd_exit_status(st);
            goto done;
        }
        if (st == CX_OK)
            st = cx_pg_reclassify_begin(h, version, rules_json, err, sizeof err);
        if (first) {
            if (st != CX_OK ||
                (st = cx_pg_reclassify_count(h, since, until, &todo, err, sizeof err)) != CX_OK) {
                fprintf(stderr, "cxpulse reclassify: %s\n", err);
                goto done;
            }
            fprintf(stderr, "reclassify: %lld events to re-tag with rules %s\n", todo, version);
            if (!builtin && cfg->rule_model == NULL) /* cx_classifier_new_model(): rules alone */
                fprintf(stderr, "reclassify: the built-in rules and model are not used, only the "
                                "rule files named (to add yours to them: --rules default --rules "
                                "FILE)\n");
        }
        int stopped = 0;
        p.read = p.unparsed = 0; /* a pass reads every event left, those it cannot parse too */
        if (st == CX_OK)
            st = retag_pages(h, &p, &todo, &stopped, err, sizeof err);
        if (st != CX_OK && h != NULL) { /* the pages still in flight may commit yet */
            char later[512];
            cx_pg_reclassify_wait(h, later, sizeof later);
        }
        size_t stored_now = h != NULL ? add_stored(&total, h) : 0;
        if (st == CX_OK && stopped) {
            fprintf(stderr,
                    "reclassify: stopped by %s after %zu of %lld events, all stored; the "
                    "same command again re-tags the rest\n",
                    stop_signal == SIGINT ? "SIGINT" : "SIGTERM", total.retagged, todo);
            goto done;
        }
        if (st == CX_OK)
            break;
        if (stored_now > 0)
            failures = 0;
        /* the pages rolled back are read again, on new connections (cx_cmd_retry()) */
        cx_pg_history_free(h);
        h = NULL;
        if (!cx_cmd_retry("reclassify", st, err, &failures, retries, &stop_signal)) {
            fprintf(stderr, "cxpulse reclassify: %s%s\n", err, AGAIN);
            goto done;
        }
    }
    /* those it re-tagged itself: another run at once re-tags some of the
     * events this one read, and they are that one's */
    printf("reclassified %zu events with rules %s: %zu changed categories (%zu their primary "
           "one), %zu their sentiment",
           total.retagged, version, total.categories, total.primary, total.sentiment);
    if (p.unparsed > 0)
        printf("; %lld could not be parsed and kept their tags (the warnings name them)",
               p.unparsed);
    printf("\n");
    /* A service storing with other rules meanwhile leaves events behind the
     * pages read: the run did not re-tag everything in the range. */
    long long left;
    if (cx_pg_reclassify_count(h, since, until, &left, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse reclassify: %s\n", err);
        goto done;
    }
    if (left > p.unparsed)
        fprintf(stderr,
                "reclassify: %lld events in the range are still on other rules, stored "
                "meanwhile (a cxpulse run with other rules?); run the same command again once "
                "every service runs these rules\n",
                left - p.unparsed);
    rc = CX_EXIT_OK;
done:
    cx_pg_history_free(h);
    cx_classifier_free(clf);
    cx_config_free(cfg);
    free(rules_json);
    free(stores);
    free(ev_ptrs);
    free(tag_ptrs);
    free(rest);
    return rc;
}
