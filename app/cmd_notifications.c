/*
 * cmd_notifications.c - `cxpulse notifications list|retry`: the outbox of
 * ticket transitions (cx.notifications) and what became of each delivery;
 * failed rows put back for another try.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "pg.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: cxpulse notifications list [--status S] [--ticket ID] [--limit N]\n"
                 "                                  [--json] [--pg URL] [--config FILE]\n"
                 "       cxpulse notifications retry ID|--failed [--pg URL] [--config FILE]\n\n"
                 "list shows ticket transitions, newest first, and per receiver whether it took\n"
                 "them; --status pending, sent, failed, unrouted or superseded; at most N\n"
                 "(--limit, default 100; when more match, stderr says how many). retry puts a\n"
                 "failed notification (or, with --failed, every failed one) back in the queue\n"
                 "for the receivers that refused it; --failed marks a failed update that no\n"
                 "receiver took and a later transition of its ticket has made needless\n"
                 "superseded instead (not one after a longer quiet than every later update:\n"
                 "chat's \"fired again\").\n"
                 "Without --pg: CXPULSE_PG_URL, then the\n"
                 "postgres.url of --config FILE, then libpq's environment.\n");
}

static void print_table(const json_t *rows)
{
    if (json_array_size(rows) == 0) {
        printf("no notifications\n");
        return;
    }
    printf("%-7s  %-7s  %-13s  %-9s  %-20s  %8s  %s\n", "ID", "TICKET", "TRANSITION", "STATUS",
           "CREATED (UTC)", "ATTEMPTS", "RECEIVERS");
    size_t i;
    json_t *n;
    json_array_foreach(rows, i, n)
    {
        printf("%-7lld  %-7lld  %-13s  %-9s  %-20s  %8lld  ",
               (long long)json_integer_value(json_object_get(n, "id")),
               (long long)json_integer_value(json_object_get(n, "ticket_id")),
               cx_cmd_json_str(n, "transition"), cx_cmd_json_str(n, "status"),
               cx_cmd_json_str(n, "created_at"),
               (long long)json_integer_value(json_object_get(n, "attempts")));
        const char *name;
        json_t *d;
        int first = 1;
        json_object_foreach(json_object_get(n, "deliveries"), name, d)
        {
            const char *st = cx_cmd_json_str(d, "status");
            char answer[512]; /* what a receiver wrote back: no terminal controls */
            printf("%s%s=%s", first ? "" : " ", name, st);
            if (strcmp(st, "sent") != 0)
                printf(" (%s)", cx_printable(cx_cmd_json_str(d, "answer"), answer, sizeof answer));
            first = 0;
        }
        printf("%s\n", first ? "-" : "");
    }
}

/* Lists notifications, or queues failed ones again, on url; the exit status. */
static int notifications_on(const char *url, const char *verb, const char *id_s, const char *status,
                            const char *ticket_s, const char *limit_s, int as_json, int all_failed)
{
    char err[1024];
    cx_status st;
    if (verb != NULL && strcmp(verb, "list") == 0) {
        static const char *const statuses[] = {"pending", "sent", "failed", "unrouted",
                                               "superseded"};
        int known = status == NULL;
        for (size_t k = 0; !known && k < CX_ARRAY_LEN(statuses); k++)
            known = strcmp(status, statuses[k]) == 0;
        long long ticket = ticket_s ? cx_cmd_id(ticket_s) : 0;
        int bad_ticket = ticket_s != NULL && ticket <= 0;
        double limit = 100;
        const cx_cmd_number num = {"--limit", "a whole number from 1 to 100000", &limit, 1, 100000,
                                   1};
        if (limit_s != NULL && cx_cmd_read_number("notifications list", &num, limit_s) != 0)
            return CX_EXIT_USAGE;
        char shown[256];
        if (!known)
            fprintf(stderr,
                    "cxpulse notifications list: --status \"%s\": expected pending, sent, "
                    "failed, unrouted or superseded\n",
                    cx_config_shown(status, shown, sizeof shown));
        else if (bad_ticket)
            fprintf(stderr,
                    "cxpulse notifications list: --ticket \"%s\": expected a ticket id (a whole "
                    "number above 0)\n",
                    cx_config_shown(ticket_s, shown, sizeof shown));
        else if (all_failed)
            fprintf(stderr, "cxpulse notifications list: --failed is for retry\n");
        if (!known || bad_ticket || all_failed)
            return CX_EXIT_USAGE;
        json_t *out = NULL;
        long long total = 0;
        st = cx_pg_notifications_list(url, status, ticket, (int)limit, &out, &total, err,
                                      sizeof err);
        if (st == CX_OK && as_json) {
            cx_cmd_put_json(out);
        } else if (st == CX_OK) {
            print_table(out);
        }
        if (st == CX_OK)
            cx_cmd_say_cut("notifications", out, total, "notifications", "--status and --ticket");
        json_decref(out);
    } else if (verb != NULL && strcmp(verb, "retry") == 0) {
        long long id = id_s ? cx_cmd_id(id_s) : 0;
        const char *wrong = status != NULL || ticket_s != NULL || limit_s != NULL
                                ? "--status, --ticket and --limit are for list"
                            : as_json ? "--json is for list"
                            : (id_s == NULL) == !all_failed || (id_s != NULL && id <= 0)
                                ? "expected a notification id or --failed (one of them)"
                                : NULL;
        if (wrong != NULL) {
            fprintf(stderr, "cxpulse notifications retry: %s\n", wrong);
            return CX_EXIT_USAGE;
        }
        long long n = 0, superseded = 0;
        st = cx_pg_notifications_retry(url, id, &n, &superseded, err, sizeof err);
        if (st == CX_OK && superseded > 0)
            printf("%lld notification(s) queued again; %lld failed update(s) superseded by a "
                   "later transition of their ticket, not sent again\n",
                   n, superseded);
        else if (st == CX_OK)
            printf("%lld notification(s) queued again\n", n);
    } else {
        usage(stderr);
        return CX_EXIT_USAGE;
    }
    if (st != CX_OK) {
        fprintf(stderr, "cxpulse notifications: %s\n", err);
        return cx_cmd_exit_status(st);
    }
    return CX_EXIT_OK;
}

int cx_cmd_notifications(int argc, char **argv)
{
    if (cx_cmd_wants_help(argc, argv)) {
        usage(stdout);
        return CX_EXIT_OK;
    }
    const char *url_flag = NULL, *config_path = NULL, *status = NULL, *verb = NULL, *id_s = NULL,
               *ticket_s = NULL, *limit_s = NULL;
    int as_json = 0, all_failed = 0;
    const cx_cmd_string strs[] = {
        {"--pg", &url_flag, NULL, 0},   {"--config", &config_path, NULL, 0},
        {"--status", &status, NULL, 0}, {"--ticket", &ticket_s, NULL, 0},
        {"--limit", &limit_s, NULL, 0},
    };
    const cx_cmd_flag flags[] = {{"--json", &as_json}, {"--failed", &all_failed}};
    const cx_cmd_spec spec = {
        .strs = strs, .n_strs = CX_ARRAY_LEN(strs), .flags = flags, .n_flags = CX_ARRAY_LEN(flags)};
    static const char *const verbs[] = {"list", "retry", NULL};
    /* verbs + 1: the verbs that take an id */
    if (cx_cmd_parse_verb("notifications", argv + 1, argc - 1, spec, verbs, verbs + 1, &verb,
                          &id_s) != 0)
        return CX_EXIT_USAGE;
    cx_config *cfg;
    const char *url;
    if (cx_cmd_pg_url("notifications", config_path, url_flag, &url, &cfg) != 0)
        return CX_EXIT_USAGE;
    int rc = notifications_on(url, verb, id_s, status, ticket_s, limit_s, as_json, all_failed);
    cx_config_free(cfg);
    return rc;
}
