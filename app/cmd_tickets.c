/*
 * cmd_tickets.c - `cxpulse tickets list|show ID|ack ID|resolve ID [--pg URL]`:
 * the owners' view of improvement tickets, as a table or as JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "event.h"
#include "pg.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: cxpulse tickets list [--owner TEAM] [--status S] [--limit N] [--json]\n"
                 "                            [--pg URL] [--config FILE]\n"
                 "       cxpulse tickets show ID [--json] [--pg URL] [--config FILE]\n"
                 "       cxpulse tickets ack ID [--json] [--pg URL] [--config FILE]\n"
                 "       cxpulse tickets resolve ID [--json] [--pg URL] [--config FILE]\n\n"
                 "list shows unresolved tickets (open and acknowledged), newest first; --status\n"
                 "open, acknowledged, resolved, unresolved or all; at most N (--limit, default\n"
                 "1000; when more match, stderr says how many). show prints one ticket with\n"
                 "its sample events: their text, tags and evidence (for a role that may read\n"
                 "cx.ticket_samples). ack and resolve move a ticket on; a resolved ticket\n"
                 "stays resolved, and the rule opens a new one when it fires again (after its\n"
                 "cooldown). Without --pg: CXPULSE_PG_URL, then the postgres.url of --config\n"
                 "FILE, then libpq's environment.\n");
}

/* Prints raw made printable in width terminal columns (cut to it, with "…")
 * and two spaces. */
static void cell(const char *raw, int width)
{
    cx_cmd_print_cell(raw, (size_t)width, 1);
    fputs("  ", stdout);
}

/* The columns whose width follows their longest value, up to a limit. */
enum { OWNER, RULE, CATEGORY, DELIVERED, WIDE_COLUMNS };

/* Ticket t's values of those columns, made printable, in cells[]. */
static void wide_cells(const json_t *t, char cells[WIDE_COLUMNS][512])
{
    cx_printable(cx_cmd_json_str(t, "owner"), cells[OWNER], sizeof cells[OWNER]);
    cx_printable(cx_cmd_json_str(t, "rule"), cells[RULE], sizeof cells[RULE]);
    char cat[512];
    const char *scope = cx_cmd_json_str(t, "scope");
    snprintf(cat, sizeof cat, "%s%s%s", cx_cmd_json_str(t, "category"), scope[0] ? " " : "", scope);
    cx_printable(cat, cells[CATEGORY], sizeof cells[CATEGORY]);
    /* Per receiver of the latest transition: name=sent|pending|failed|skipped,
     * and when not sent, the latest transition it took ("chat=skipped (took
     * opened)"). */
    char delivered[512] = "-";
    const json_t *d = json_object_get(json_object_get(t, "delivery"), "receivers");
    const json_t *took = json_object_get(json_object_get(t, "delivery"), "took");
    const char *name;
    json_t *v;
    size_t used = 0;
    json_object_foreach((json_t *)d, name, v)
    {
        const char *st = json_string_value(v),
                   *last = json_string_value(json_object_get(took, name));
        char then[64] = "";
        if (last != NULL && st != NULL && strcmp(st, "sent") != 0)
            snprintf(then, sizeof then, " (took %s)", last);
        int n = snprintf(delivered + used, sizeof delivered - used, "%s%s=%s%s", used ? " " : "",
                         name, st ? st : "", then);
        if (n < 0 || (size_t)n >= sizeof delivered - used)
            break;
        used += (size_t)n;
    }
    if (used == 0 && json_is_object(json_object_get(t, "delivery")))
        snprintf(delivered, sizeof delivered, "%s",
                 cx_cmd_json_str(json_object_get(t, "delivery"), "status"));
    cx_printable(delivered, cells[DELIVERED], sizeof cells[DELIVERED]);
}

static void print_table(const json_t *tickets)
{
    if (json_array_size(tickets) == 0) {
        printf("no tickets\n");
        return;
    }
    static const char *const heads[WIDE_COLUMNS] = {"OWNER", "RULE", "CATEGORY", "DELIVERED"};
    static const int limits[WIDE_COLUMNS] = {32, 40, 40, 120};
    int width[WIDE_COLUMNS];
    char cells[WIDE_COLUMNS][512];
    size_t i;
    json_t *t;
    for (int c = 0; c < WIDE_COLUMNS; c++)
        width[c] = (int)strlen(heads[c]);
    json_array_foreach(tickets, i, t)
    {
        wide_cells(t, cells);
        for (int c = 0; c < WIDE_COLUMNS; c++) {
            int n = (int)cx_utf8_columns(cells[c], strlen(cells[c]));
            width[c] = n > limits[c] ? limits[c] : n > width[c] ? n : width[c];
        }
    }
    printf("%-6s  %-12s  ", "ID", "STATUS");
    cell(heads[OWNER], width[OWNER]);
    cell(heads[RULE], width[RULE]);
    cell(heads[CATEGORY], width[CATEGORY]);
    printf("%-20s  %6s  ", "OPENED (UTC)", "EVENTS");
    cell(heads[DELIVERED], width[DELIVERED]);
    printf("REASON\n");
    json_array_foreach(tickets, i, t)
    {
        wide_cells(t, cells);
        printf("%-6lld  ", (long long)json_integer_value(json_object_get(t, "ticket_id")));
        cell(cx_cmd_json_str(t, "status"), 12);
        cell(cells[OWNER], width[OWNER]);
        cell(cells[RULE], width[RULE]);
        cell(cells[CATEGORY], width[CATEGORY]);
        cell(cx_cmd_json_str(t, "opened_at"), 20);
        printf("%6lld  ", (long long)json_integer_value(json_object_get(t, "event_count")));
        cell(cells[DELIVERED], width[DELIVERED]);
        cx_cmd_print_cell(cx_cmd_json_str(t, "reason"), SIZE_MAX, 0); /* whole */
        putchar('\n');
    }
}

/* Prints ticket t (cx_pg_ticket_show()) for a reader: its figures, then each
 * sample event with its tags, evidence and text. */
static void print_ticket(const json_t *t)
{
    char cells[WIDE_COLUMNS][512];
    wide_cells(t, cells);
    printf("ticket %lld  %s  owner %s  rule %s  %s\n",
           (long long)json_integer_value(json_object_get(t, "ticket_id")),
           cx_cmd_json_str(t, "status"), cells[OWNER], cells[RULE], cells[CATEGORY]);
    printf("opened %s  updated %s", cx_cmd_json_str(t, "opened_at"),
           cx_cmd_json_str(t, "updated_at"));
    if (json_is_string(json_object_get(t, "resolved_at")))
        printf("  resolved %s", cx_cmd_json_str(t, "resolved_at"));
    printf("  events %lld\n", (long long)json_integer_value(json_object_get(t, "event_count")));
    if (json_is_string(json_object_get(t, "window_start")))
        printf("window %s to %s\n", cx_cmd_json_str(t, "window_start"),
               cx_cmd_json_str(t, "window_end"));
    const json_t *quiet = json_object_get(t, "quiet_before_seconds");
    if (json_is_integer(quiet) && json_integer_value(quiet) > 0)
        printf("quiet for %.1f hours before its latest firing\n",
               (double)json_integer_value(quiet) / 3600.0);
    fputs("reason: ", stdout);
    cx_cmd_print_cell(cx_cmd_json_str(t, "reason"), SIZE_MAX, 0);
    printf("\ndelivered: %s\n", cells[DELIVERED]);
    const json_t *samples = json_object_get(t, "samples");
    if (!json_is_array(samples)) {
        printf("samples: not readable with this role (%s; the schema's owner can let owners "
               "read them: GRANT SELECT ON cx.ticket_samples TO cxpulse_owner, "
               "docs/privileges.md); their ids:",
               cx_cmd_json_str(t, "samples_not_readable"));
        size_t i;
        json_t *id;
        json_array_foreach(json_object_get(t, "sample_event_ids"), i, id)
        {
            putchar(' ');
            cx_cmd_print_cell(json_string_value(id), SIZE_MAX, 0);
        }
        putchar('\n');
        return;
    }
    printf("samples (%zu, the latest firing's first):\n", json_array_size(samples));
    size_t i;
    json_t *s;
    json_array_foreach(samples, i, s)
    {
        fputs("  ", stdout);
        cx_cmd_print_cell(cx_cmd_json_str(s, "event_id"), SIZE_MAX, 0);
        printf("  %s  ", cx_cmd_json_str(s, "occurred_at"));
        cx_cmd_print_cell(cx_cmd_json_str(s, "channel"), 24, 0);
        printf("  %s ", cx_cmd_json_str(s, "sentiment"));
        size_t k;
        json_t *c;
        json_array_foreach(json_object_get(s, "categories"), k, c)
            printf(" %s", json_string_value(c));
        fputs("\n    evidence:", stdout); /* per category, in the order of categories */
        json_array_foreach(json_object_get(s, "evidence"), k, c)
        {
            const char *cat =
                json_string_value(json_array_get(json_object_get(s, "categories"), k));
            printf("%s %s:", k > 0 ? ";" : "", cat ? cat : "?");
            size_t e;
            json_t *item;
            json_array_foreach(c, e, item)
            {
                fputs(e > 0 ? ", " : " ", stdout);
                cx_cmd_print_cell(json_string_value(item), SIZE_MAX, 0);
            }
        }
        fputs("\n    ", stdout);
        cx_cmd_print_cell(cx_cmd_json_str(s, "body"), SIZE_MAX, 0);
        putchar('\n');
    }
}

/* Lists tickets (at most limit; 0: the default), or shows, acknowledges or
 * resolves one, on url; the exit status. */
static int tickets_on(const char *url, const char *verb, const char *id_s, const char *owner,
                      const char *status, int limit, int as_json)
{
    char err[1024];
    json_t *out = NULL;
    long long total = 0;
    cx_status st;
    if (verb != NULL && strcmp(verb, "list") == 0) {
        st = cx_pg_tickets_list(url, owner, status, limit ? limit : 1000, &out, &total, err,
                                sizeof err);
    } else if (verb != NULL && (strcmp(verb, "ack") == 0 || strcmp(verb, "resolve") == 0 ||
                                strcmp(verb, "show") == 0)) {
        long long id = cx_cmd_id(id_s);
        if (id <= 0) {
            char shown[256];
            if (id_s == NULL)
                fprintf(stderr, "cxpulse tickets %s: needs a ticket id (cxpulse tickets %s ID)\n",
                        verb, verb);
            else
                fprintf(stderr, "cxpulse tickets %s: expected a ticket id, got \"%s\"\n", verb,
                        cx_config_shown(id_s, shown, sizeof shown));
            return CX_EXIT_USAGE;
        }
        if (owner != NULL || status != NULL || limit != 0) {
            fprintf(stderr, "cxpulse tickets %s: --owner, --status and --limit are for list\n",
                    verb);
            return CX_EXIT_USAGE;
        }
        st = strcmp(verb, "show") == 0
                 ? cx_pg_ticket_show(url, id, &out, err, sizeof err)
                 : cx_pg_ticket_set_status(url, id, verb[0] == 'a' ? "acknowledged" : "resolved",
                                           &out, err, sizeof err);
    } else {
        usage(stderr);
        return CX_EXIT_USAGE;
    }
    if (st != CX_OK) {
        fprintf(stderr, "cxpulse tickets: %s\n", err);
        return cx_cmd_exit_status(st);
    }
    if (as_json) {
        cx_cmd_put_json(out);
    } else if (json_is_array(out)) {
        print_table(out);
    } else if (strcmp(verb, "show") == 0) {
        print_ticket(out);
    } else {
        printf("ticket %lld is %s%s\n", (long long)json_integer_value(json_object_get(out, "ticket_id")),
               cx_cmd_json_str(out, "status"),
               json_is_true(json_object_get(out, "changed")) ? "" : " (unchanged)");
    }
    cx_cmd_say_cut("tickets", out, total, "tickets", "--owner and --status");
    json_decref(out);
    return CX_EXIT_OK;
}

int cx_cmd_tickets(int argc, char **argv)
{
    if (cx_cmd_wants_help(argc, argv)) {
        usage(stdout);
        return CX_EXIT_OK;
    }
    const char *url_flag = NULL, *config_path = NULL, *owner = NULL, *status = NULL, *verb = NULL,
               *id_s = NULL;
    int as_json = 0;
    double limit = 0; /* not given */
    const cx_cmd_number nums[] = {
        {"--limit", "a whole number from 1 to 100000", &limit, 1, 100000, 1}};
    const cx_cmd_string strs[] = {
        {"--pg", &url_flag, NULL, 0},
        {"--config", &config_path, NULL, 0},
        {"--owner", &owner, NULL, 0},
        {"--status", &status, NULL, 0},
    };
    const cx_cmd_flag flags[] = {{"--json", &as_json}};
    const cx_cmd_spec spec = {CX_CMD_OPTIONS(nums, strs), .flags = flags,
                              .n_flags = CX_ARRAY_LEN(flags)};
    static const char *const verbs[] = {"list", "show", "ack", "resolve", NULL};
    /* verbs + 1: the verbs that take an id */
    if (cx_cmd_parse_verb("tickets", argv + 1, argc - 1, spec, verbs, verbs + 1, &verb, &id_s) != 0)
        return CX_EXIT_USAGE;
    static const char *const statuses[] = {"open", "acknowledged", "resolved", "unresolved", "all"};
    int known = status == NULL;
    for (size_t k = 0; !known && k < CX_ARRAY_LEN(statuses); k++)
        known = strcmp(status, statuses[k]) == 0;
    if (!known) {
        char shown[256];
        fprintf(stderr,
                "cxpulse tickets: --status \"%s\": expected open, acknowledged, "
                "resolved, unresolved or all\n",
                cx_config_shown(status, shown, sizeof shown));
        return CX_EXIT_USAGE;
    }
    cx_config *cfg;
    const char *url;
    if (cx_cmd_pg_url("tickets", config_path, url_flag, &url, &cfg) != 0)
        return CX_EXIT_USAGE;
    int rc = tickets_on(url, verb, id_s, owner, status, (int)limit, as_json);
    cx_config_free(cfg);
    return rc;
}
