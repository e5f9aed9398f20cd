/*
 * cmd_dead_letters.c - `cxpulse dead-letters list|show ID|replay`: read why
 * messages were not stored, and send them through the run's record path
 * (parse, classify, event-level ticket rules) and the sink again once the
 * cause is gone. A replayed message that is stored is
 * marked with the event it became; one that fails again keeps its row with
 * the new reason; replaying twice stores nothing twice (events are keyed by
 * event_id, and stored rows are not selected again).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "commands.h"
#include "config.h"
#include "event.h"
#include "pg.h"
#include "record.h"
#include "tickets.h"

#define REPLAY_BATCH 500

static int usage(FILE *out, int rc)
{
    fprintf(out, "usage: cxpulse dead-letters list [--since T] [--reason TEXT] [--limit N]\n"
                 "                                 [--containing TEXT] [--json] [--pg URL]\n"
                 "                                 [--config FILE]\n"
                 "       cxpulse dead-letters show ID [--json] [--pg URL] [--config FILE]\n"
                 "       cxpulse dead-letters replay (--id ID | --since T | --all) [--rules FILE]\n"
                 "                                   [--model FILE] [--retries N] [--pg URL]\n"
                 "                                   [--config FILE]\n\n"
                 "list: newest first, at most N (--limit, default 50; when more match, stderr\n"
                 "says how many), with the consumer group that read each; --reason keeps\n"
                 "those whose reason holds TEXT, whatever the case; --containing those whose\n"
                 "message holds TEXT as written (an event_id, a customer_id: where a\n"
                 "customer's message went).\n"
                 "show: one row with its raw bytes. replay: parse, classify and store again\n"
                 "the dead letters not stored yet, as `run` does (ticket rules included); each\n"
                 "row records when it was replayed and the event it became, or the new reason;\n"
                 "exits 1 when some failed again. A lost connection, a deadlock or a lock held\n"
                 "too long is retried on new connections after 1, 2, 4, ... s (at most 30 s),\n"
                 "up to --retries times in a row (default 5; 0: stop at the first error).\n");
    return rc;
}

static void print_list(const json_t *rows)
{
    if (json_array_size(rows) == 0) {
        printf("no dead letters\n");
        return;
    }
    printf("%-7s  %-20s  %-12s  %-24s  %-7s  %s\n", "ID", "RECEIVED (UTC)", "GROUP", "MESSAGE",
           "REPLAYS", "REASON");
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        char where[128], result[256];
        snprintf(where, sizeof where, "%s[%lld]@%lld", cx_cmd_json_str(r, "kafka_topic"),
                 (long long)json_integer_value(json_object_get(r, "kafka_partition")),
                 (long long)json_integer_value(json_object_get(r, "kafka_offset")));
        /* an event_id in a reason or result is the producer's: shown harmless */
        cx_printable(cx_cmd_json_str(r, "replay_result"), result, sizeof result);
        printf("%-7lld  %-20s  ", (long long)json_integer_value(json_object_get(r, "id")),
               cx_cmd_json_str(r, "received_at"));
        cx_cmd_print_cell(cx_cmd_json_str(r, "consumer_group"), 12, 1);
        printf("  %-24s  %-7lld  ", cx_printable(where, where, sizeof where),
               (long long)json_integer_value(json_object_get(r, "replay_count")));
        cx_cmd_print_cell(cx_cmd_json_str(r, "error"), 100, 0);
        printf("%s%s\n", result[0] && strncmp(result, "failed", 6) ? " -> " : "",
               result[0] && strncmp(result, "failed", 6) ? result : "");
    }
}

/* What a replay makes records with, as `cxpulse run` does. */
typedef struct replay_rules {
    cx_classifier *clf;
    cx_ticket_rules *tickets;
    char *rules_json;
} replay_rules;

/* Loads the configured rules and model into *r; 0, or -1 after saying why. */
static int replay_rules_load(const cx_config *cfg, replay_rules *r)
{
    char err[1024];
    if (cx_classifier_new_model(&r->clf, (const char *const *)cfg->rule_files, cfg->n_rule_files,
                                cfg->rule_model, err, sizeof err) != CX_OK ||
        (r->rules_json = cx_classifier_rules_json(r->clf)) == NULL ||
        cx_ticket_rules_new(&r->tickets, cfg->ticket_rules, cx_config_base_window(cfg), err,
                            sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse dead-letters: %s\n",
                r->clf && !r->rules_json ? "out of memory" : err);
        return -1;
    }
    return 0;
}

static void replay_rules_free(replay_rules *r)
{
    cx_ticket_rules_free(r->tickets);
    cx_classifier_free(r->clf);
    free(r->rules_json);
}

/* Replays the selected dead letters in batches; prints what became of them. */
static int replay(const cx_config *cfg, const replay_rules *rules, cx_pg_history **hp, long long id,
                  const char *since, int retries)
{
    cx_pg_history *h = *hp;
    char err[1024];
    cx_pg *sink = NULL;
    int rc = CX_EXIT_RUNTIME;
    cx_record recs[REPLAY_BATCH];
    cx_record_store *stores = calloc(REPLAY_BATCH, sizeof *stores);
    long long ids[REPLAY_BATCH];
    const char *event_ids[REPLAY_BATCH];
    if (stores == NULL) {
        fprintf(stderr, "cxpulse dead-letters: out of memory\n");
        goto done;
    }
    cx_status checked = cx_pg_history_check_windows(h, err, sizeof err);
    if (checked != CX_OK) {
        fprintf(stderr, "cxpulse dead-letters: %s\n", err);
        rc = cx_cmd_exit_status(checked);
        goto done;
    }
    /* Records are made as `cxpulse run` makes them, and tickets evaluated as it does. */
    const cx_record_rules rr = {.classifier = rules->clf, .tickets = rules->tickets};
    cx_pg_options po = {.ticket_rules = rules->tickets,
                        .ticket_max_age_seconds = cfg->tickets_max_age_minutes * 60,
                        .conninfo = cfg->pg_url,
                        .group = cfg->group,
                        .window_seconds = cfg->window_seconds,
                        .n_windows = cfg->n_window_seconds,
                        .rule_version = cx_classifier_version(rules->clf),
                        .rule_set_json = rules->rules_json,
                        .synchronous_commit = 1,
                        .replay = 1};
    if (cx_pg_new(&sink, &po, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse dead-letters: %s\n", err);
        goto done;
    }
    if (cx_pg_dead_letters_replay_begin(h, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse dead-letters: %s\n", err);
        goto done;
    }
    long long after = 0, stored = 0, duplicates = 0, failed = 0;
    for (int failures = 0;;) {
        cx_dead_letter *d;
        size_t n, m = 0;
        cx_status st =
            cx_pg_dead_letters_select(h, id, since, after, REPLAY_BATCH, &d, &n, err, sizeof err);
        if (st != CX_OK)
            goto page_failed;
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++)
            cx_record_make(&recs[i], &stores[i], &rr, d[i].topic, d[i].partition, d[i].offset,
                           d[i].raw, d[i].len); /* a record that fails is a dead letter again */
        cx_pg_result res;
        st = cx_pg_write_batch(sink, recs, n, &res, err, sizeof err);
        /* those that are events now, or duplicates of one stored */
        for (size_t i = 0; st == CX_OK && i < n; i++) {
            if (!cx_pg_dead_lettered(sink, i)) {
                ids[m] = d[i].id;
                event_ids[m++] = recs[i].ev->event_id;
            }
        }
        if (st == CX_OK)
            st = cx_pg_dead_letters_mark(h, ids, event_ids, m, err, sizeof err);
        for (size_t i = 0; i < n; i++)
            cx_record_release(&stores[i]);
        long long last = d[n - 1].id;
        cx_pg_dead_letters_free(d, n);
        if (st != CX_OK)
            goto page_failed;
        after = last;
        failures = 0;
        /* (a page stored before its marks failed counts as already stored
         * when it is replayed again) */
        stored += (long long)res.stored;
        duplicates += (long long)res.duplicates;
        failed += (long long)res.dead_lettered;
        if (n == REPLAY_BATCH) /* more may follow: how far it is */
            fprintf(stderr,
                    "cxpulse dead-letters: replaying: %lld stored, %lld already stored, %lld "
                    "still failing so far\n",
                    stored, duplicates, failed);
        continue;
    page_failed: /* the page is rolled back: replayed again on new connections, or the end */
        cx_pg_history_free(h);
        *hp = h = NULL;
        if (!cx_cmd_retry("cxpulse dead-letters", st, err, &failures, retries, NULL)) {
            fprintf(stderr,
                    "cxpulse dead-letters: %s (the pages replayed before it are stored; the "
                    "same command again replays the rest)\n",
                    err);
            goto done;
        }
        st = cx_pg_history_new(&h, cfg->pg_url, cfg->window_seconds, cfg->n_window_seconds, err,
                               sizeof err);
        *hp = h;
        if (st == CX_OK)
            st = cx_pg_dead_letters_replay_begin(h, err, sizeof err);
        if (st != CX_OK)
            goto page_failed;
    }
    json_t *row = NULL;
    if (stored + duplicates + failed == 0 && id > 0 &&
        cx_pg_dead_letter_show(h, id, &row, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse dead-letters: %s\n", err); /* no such dead letter, say */
        goto done;
    }
    if (failed > 0 && id > 0 && row == NULL) { /* the one asked for: why it fails now */
        if (cx_pg_dead_letter_show(h, id, &row, err, sizeof err) == CX_OK) {
            const char *why = json_string_value(json_object_get(row, "error"));
            fprintf(stderr, "cxpulse dead-letters: %lld still fails: %s\n", id, why ? why : "?");
        } else {
            fprintf(stderr, "cxpulse dead-letters: %lld still fails (its reason: %s)\n", id, err);
        }
    }
    json_decref(row);
    if (stored + duplicates + failed == 0)
        printf("nothing to replay%s\n", id > 0 ? " (already stored)" : "");
    else
        printf("replayed %lld dead letters: %lld stored as events, %lld were already stored, "
               "%lld still failing (see cxpulse dead-letters list)\n",
               stored + duplicates + failed, stored, duplicates, failed);
    rc = failed > 0 ? CX_EXIT_RUNTIME : CX_EXIT_OK; /* a script can tell "all stored" apart */
done:
    cx_pg_free(sink);
    free(stores);
    return rc;
}

int cx_cmd_dead_letters(int argc, char **argv)
{
    if (cx_cmd_wants_help(argc, argv))
        return usage(stdout, CX_EXIT_OK);
    char err[1024];
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int n_rest = 0, rc = CX_EXIT_USAGE, as_json = 0, all = 0;
    const char *verb = NULL, *since = NULL;
    long long id = 0, total = 0;
    cx_config *cfg = cx_config_new();
    cx_pg_history *h = NULL;
    json_t *out = NULL;
    replay_rules rules = {0};
    if (cfg == NULL || rest == NULL)
        goto done;
    if (cx_config_parse_cli(cfg, argc, argv, rest, &n_rest, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse dead-letters: %s\n", err);
        goto done;
    }
    const char *id_s = NULL, *id_flag = NULL, *reason = NULL, *containing = NULL;
    double limit = 0, retries = -1; /* not given: 50, 5 */
    const cx_cmd_number nums[] = {
        {"--limit", "a whole number from 1 to 100000", &limit, 1, 100000, 1},
        {"--retries", "a whole number from 0 to 1000", &retries, 0, 1000, 1}};
    const cx_cmd_string strs[] = {{"--since", &since, NULL, 0},
                                  {"--id", &id_flag, NULL, 0},
                                  {"--reason", &reason, NULL, 0},
                                  {"--containing", &containing, NULL, 0}};
    const cx_cmd_flag flags[] = {{"--json", &as_json}, {"--all", &all}};
    const cx_cmd_spec spec = {CX_CMD_OPTIONS(nums, strs), .flags = flags,
                              .n_flags = CX_ARRAY_LEN(flags), .config_flags = 1};
    static const char *const verbs[] = {"list", "show", "replay", NULL},
                             *id_verbs[] = {"show", NULL};
    if (cx_cmd_parse_verb("dead-letters", rest, n_rest, spec, verbs, id_verbs, &verb, &id_s) != 0)
        goto done;
    char shown[256];
    int64_t since_us;
    if (since != NULL && cx_time_parse_date(since, &since_us) != CX_OK) {
        fprintf(stderr,
                "cxpulse dead-letters: --since \"%s\": expected an RFC 3339 date-time or "
                "a date\n",
                cx_config_shown(since, shown, sizeof shown));
        goto done;
    }
    if (id_flag != NULL && (id = cx_cmd_id(id_flag)) <= 0) {
        fprintf(stderr, "cxpulse dead-letters: --id \"%s\": expected an id\n",
                cx_config_shown(id_flag, shown, sizeof shown));
        goto done;
    }
    if (id_s != NULL && (id = cx_cmd_id(id_s)) <= 0) {
        fprintf(stderr, "cxpulse dead-letters show: expected an id, got \"%s\"\n",
                cx_config_shown(id_s, shown, sizeof shown));
        goto done;
    }
    if (verb == NULL) {
        usage(stderr, CX_EXIT_USAGE);
        goto done;
    }
    if (strcmp(verb, "show") == 0 && id == 0) {
        fprintf(stderr, "cxpulse dead-letters show: expected an id\n");
        goto done;
    }
    /* an option the verb does not use would be ignored, and the command do
     * something else than asked (list everything for `list --id 3`) */
    int listing = strcmp(verb, "list") == 0, replaying = strcmp(verb, "replay") == 0;
    const char *unused = !listing && reason != NULL       ? "--reason filters list only"
                         : !listing && containing != NULL ? "--containing filters list only"
                         : !listing && limit != 0         ? "--limit is for list"
                         : replaying && as_json           ? "--json is for list and show"
                         : !replaying && all              ? "--all is for replay"
                         : !replaying && id_flag          ? "--id is for replay (show takes the id)"
                         : !replaying && retries >= 0     ? "--retries is for replay"
                         : strcmp(verb, "show") == 0 && since ? "--since is for list and replay"
                                                              : NULL;
    if (unused != NULL) {
        fprintf(stderr, "cxpulse dead-letters %s: %s\n", verb, unused);
        goto done;
    }
    if (limit == 0)
        limit = 50;
    if (retries < 0)
        retries = 5;
    if (strcmp(verb, "replay") == 0 && (id > 0) + (since != NULL) + all != 1) {
        fprintf(stderr, "cxpulse dead-letters replay: give one of --id ID, --since T, --all\n");
        goto done;
    }
    cx_log_set_level(cfg->log_level);
    /* a bad rule file is a configuration error, whether the database answers or not */
    if (strcmp(verb, "replay") == 0 && replay_rules_load(cfg, &rules) != 0)
        goto done;
    if (cx_pg_conninfo_check(cfg->pg_url, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse dead-letters: %s\n", err);
        goto done;
    }
    cx_status st = cx_pg_history_new(&h, cfg->pg_url, cfg->window_seconds, cfg->n_window_seconds,
                                     err, sizeof err);
    rc = cx_cmd_exit_status(st); /* a connection option libpq refuses: 2 */
    if (st != CX_OK) {
        fprintf(stderr, "cxpulse dead-letters: %s\n", err);
        goto done;
    }
    rc = CX_EXIT_RUNTIME;
    if (strcmp(verb, "replay") == 0) {
        rc = replay(cfg, &rules, &h, id, since, (int)retries);
        goto done;
    } else if (strcmp(verb, "list") == 0) {
        st = cx_pg_dead_letters_list(h, since, reason, containing, (int)limit, &out, &total, err,
                                     sizeof err);
    } else {
        st = cx_pg_dead_letter_show(h, id, &out, err, sizeof err);
    }
    if (st != CX_OK) {
        fprintf(stderr, "cxpulse dead-letters: %s\n", err);
        goto done;
    }
    if (as_json || json_is_object(out)) {
        cx_cmd_put_json(out);
    } else {
        print_list(out);
    }
    cx_cmd_say_cut("dead-letters", out, total, "dead letters", "--since, --reason or --containing");
    rc = CX_EXIT_OK;
done:
    json_decref(out);
    replay_rules_free(&rules);
    cx_pg_history_free(h);
    cx_config_free(cfg);
    free(rest);
    return rc;
}
