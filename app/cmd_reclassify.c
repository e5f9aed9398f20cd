/*
 * cmd_reclassify.c - `cxpulse reclassify --pg URL [--since T] [--until T]
 * [--rules FILE] [--batch N]`: re-tags stored events with the current rules in
 * bounded batches, correcting cx.signals in the same transactions. Safe to
 * interrupt and to run again (events already on the rules' version are
 * skipped), and safe while `cxpulse run` is writing. SIGINT or SIGTERM stops
 * it after the pages in hand are stored, saying how far it got.
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
                 "                          [--model FILE] [--batch N] [--config FILE]\n\n"
                 "Re-tags the events that occurred in [since, until) (RFC 3339, or a date: its\n"
                 "midnight UTC; open when left out) with the current rules (--rules, rules.files,\n"
                 "or the built-in ones) and model (--model, rules.model, or the built-in one):\n"
                 "tags, primary category, sentiment and rule version, with cx.signals corrected,\n"
                 "N events per transaction (default 5000). Events already tagged by this rule\n"
                 "version are skipped, so an interrupted run can simply be run again. Ctrl-C\n"
                 "(SIGINT) or SIGTERM stops it once the batches in hand are stored (exit 1).\n"
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
    double batch_d = batch;
    const cx_cmd_number nums[] = {
        {"--batch", "a whole number from 1 to 100000", &batch_d, 1, 100000, 1},
    };
    const cx_cmd_string strs[] = {{"--since", &since, NULL, 0}, {"--until", &until, NULL, 0}};
    const cx_cmd_spec spec = {CX_CMD_OPTIONS(nums, strs), .config_flags = 1};
    if (cx_cmd_parse_options("reclassify", rest, n_rest, &spec) != 0)
        goto done;
    batch = (int)batch_d;
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
    long long todo;
    cx_status st = cx_pg_history_new(&h, cfg->pg_url, cfg->window_seconds, cfg->n_window_seconds,
                                     err, sizeof err);
    if (st != CX_OK) { /* a connection option libpq refuses: 2 */
        fprintf(stderr, "cxpulse reclassify: %s\n", err);
        rc = cx_cmd_exit_status(st);
        goto done;
    }
    if ((st = cx_pg_history_check_windows(h, err, sizeof err)) != CX_OK) {
        fprintf(stderr, "cxpulse reclassify: %s\n", err);
        rc = cx_cmd_exit_status(st);
        goto done;
    }
    if (cx_pg_reclassify_begin(h, version, rules_json, err, sizeof err) != CX_OK ||
        cx_pg_reclassify_count(h, since, until, &todo, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse reclassify: %s\n", err);
        goto done;
    }
    fprintf(stderr, "reclassify: %lld events to re-tag with rules %s\n", todo, version);
    int builtin = cfg->n_rule_files == 0;
    for (size_t i = 0; i < cfg->n_rule_files; i++)
        builtin |= strcmp(cfg->rule_files[i], CX_CLASSIFIER_BUILTIN) == 0;
    if (!builtin && cfg->rule_model == NULL) /* cx_classifier_new_model(): the rules alone */
        fprintf(stderr, "reclassify: the built-in rules and model are not used, only the rule "
                        "files named (to add yours to them: --rules default --rules FILE)\n");
    long long done_n = 0, unparsed = 0;
    cx_pg_reclassified total = {0};
    cx_cmd_unreadable told = {0};
    catch_stop_signals();
    for (;;) {
        size_t n, m = 0;
        cx_pg_reclassified changed;
        if (stop_signal != 0) {
            if (cx_pg_reclassify_wait(h, err, sizeof err) != CX_OK) {
                fprintf(stderr, "cxpulse reclassify: %s%s\n", err, AGAIN);
                goto done;
            }
            fprintf(stderr,
                    "reclassify: stopped by %s after %lld of %lld events, all stored; the "
                    "same command again re-tags the rest\n",
                    stop_signal == SIGINT ? "SIGINT" : "SIGTERM", done_n, todo);
            goto done;
        }
        if (cx_pg_reclassify_next(h, since, until, batch, &n, err, sizeof err) != CX_OK) {
            fprintf(stderr, "cxpulse reclassify: %s%s\n", err, AGAIN);
            goto done;
        }
        if (n == 0)
            break;
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
                unparsed++;
                continue;
            }
            if (cx_record_make(&rec, &stores[m], &rr, NULL, -1, -1, payload, len) != CX_OK) {
                /* Stored under an older, laxer parser: its tags stay as they are. */
                cx_log(CX_LOG_WARN, "reclassify", "event %s left as it was: %s", id, rec.error);
                unparsed++;
                continue;
            }
            if (cx_cmd_unreadable_first(&told, rec.tags->unreadable))
                cx_log(CX_LOG_WARN, "reclassify",
                       CX_CMD_UNREADABLE_FMT ": first in event %s; said once per field",
                       rec.tags->unreadable, rec.tags->unreadable_needs, rec.ev->event_id);
            ev_ptrs[m] = rec.ev;
            tag_ptrs[m] = rec.tags;
            m++;
        }
        st = cx_pg_reclassify_apply(h, since, until, ev_ptrs, tag_ptrs, m, &changed, err,
                                    sizeof err);
        for (size_t i = 0; i < m; i++)
            cx_record_release(&stores[i]);
        if (st != CX_OK) {
            fprintf(stderr, "cxpulse reclassify: %s%s\n", err, AGAIN);
            goto done;
        }
        done_n += (long long)n;
        total.retagged += changed.retagged;
        total.categories += changed.categories;
        total.primary += changed.primary;
        total.sentiment += changed.sentiment;
        /* events stored since the count (a run writing meanwhile) are re-tagged too */
        if (done_n > todo)
            todo = done_n;
        fprintf(stderr, "reclassify: %lld/%lld events, %zu changed categories\n", done_n, todo,
                total.categories);
    }
    /* those it re-tagged itself: another run at once re-tags some of the
     * events this one read, and they are that one's */
    printf("reclassified %zu events with rules %s: %zu changed categories (%zu their primary "
           "one), %zu their sentiment",
           total.retagged, version, total.categories, total.primary, total.sentiment);
    if (unparsed > 0)
        printf("; %lld could not be parsed and kept their tags (the warnings name them)", unparsed);
    printf("\n");
    /* A service storing with other rules meanwhile leaves events behind the
     * pages read: the run did not re-tag everything in the range. */
    long long left;
    if (cx_pg_reclassify_count(h, since, until, &left, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse reclassify: %s\n", err);
        goto done;
    }
    if (left > unparsed)
        fprintf(stderr,
                "reclassify: %lld events in the range are still on other rules, stored "
                "meanwhile (a cxpulse run with other rules?); run the same command again once "
                "every service runs these rules\n",
                left - unparsed);
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
