/*
 * sinktest.c - see sinktest.h.
 */
#include "sinktest.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxtest.h"

/* The default rules alone: the sink tests check what is stored, with verdicts
 * that do not move when the default model is retrained. */
static cx_classifier *classifier(void)
{
    static cx_classifier *clf;
    char err[512];
    if (clf == NULL)
        cr_assert_eq(cx_classifier_new_model(&clf, NULL, 0, "none", err, sizeof err), CX_OK, "%s",
                     err);
    return clf;
}

void sinktest_add(sinktest_batch *b, const char *topic, int partition, long long offset,
                  const char *raw, size_t len)
{
    cr_assert(b->n < SINKTEST_MAX);
    size_t i = b->n++;
    b->raws[i] = malloc(len + 1);
    memcpy(b->raws[i], raw, len);
    b->raws[i][len] = '\0';
    const cx_record_rules rules = {.classifier = classifier()};
    cx_record_make(&b->recs[i], &b->stores[i], &rules, topic, partition, offset, b->raws[i], len);
}

void sinktest_add_event(sinktest_batch *b, const char *topic, int partition, long long offset,
                        long id)
{
    static const char *const texts[] = {
        "the agent was rude and kept me on hold", "charged twice for one order",
        "the courier left it in the rain", "arrived a week late", "thanks, all good",
        "just a question about my contract"};
    static const char *const channels[] = {"phone", "web", "store", "chat"};
    char raw[512];
    int n = snprintf(raw, sizeof raw,
                     "{\"event_id\":\"ev-%ld\",\"occurred_at\":\"2026-11-0%ldT%02ld:%02ld:%02ldZ\","
                     "\"channel\":\"%s\",\"text\":\"%s\"%s}",
                     id, 1 + id % 3, id % 24, id % 60, (id * 7) % 60, channels[id % 4],
                     texts[id % 6], id % 3 == 0 ? ",\"rating\":{\"scale\":\"csat\",\"value\":2}" : "");
    sinktest_add(b, topic, partition, offset, raw, (size_t)n);
}

void sinktest_clear(sinktest_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        cx_record_release(&b->stores[i]);
        free(b->raws[i]);
    }
    b->n = 0;
}

void sinktest_fresh_db(char *url, size_t urllen)
{
    char err[512];
    int applied, version;
    cx_test_pg_new_db(url, urllen);
    cr_assert_eq(cx_pg_migrate(url, &applied, &version, err, sizeof err), CX_OK, "%s", err);
}

cx_pg *sinktest_sink(const char *url)
{
    return sinktest_sink_rules(url, NULL);
}

cx_pg_options sinktest_options(const char *url)
{
    static const int windows[] = {60};
    return (cx_pg_options){.conninfo = url,
                           .group = "g",
                           .window_seconds = windows,
                           .n_windows = 1,
                           .rule_version = "test+1",
                           .synchronous_commit = 1};
}

static cx_pg *sink(const char *url, const cx_ticket_rules *rules, int replay)
{
    cx_pg_options o = sinktest_options(url);
    o.ticket_rules = rules;
    o.replay = replay;
    cx_pg *pg = NULL;
    char err[512];
    cr_assert_eq(cx_pg_new(&pg, &o, err, sizeof err), CX_OK, "%s", err);
    return pg;
}

cx_pg *sinktest_sink_rules(const char *url, const cx_ticket_rules *rules)
{
    return sink(url, rules, 0);
}

cx_pg *sinktest_sink_replay(const char *url, const cx_ticket_rules *rules)
{
    return sink(url, rules, 1);
}

int sinktest_cmd_split(const char *url, const char *args, size_t *lines, json_t **json, char *errs,
                       size_t errlen)
{
    char out[300], err[300];
    snprintf(out, sizeof out, "%s/cmd-out-%d.txt", CX_BINARY_DIR, (int)getpid());
    snprintf(err, sizeof err, "%s/cmd-err-%d.txt", CX_BINARY_DIR, (int)getpid());
    int st = cx_test_sh("%s %s --pg '%s' >'%s' 2>'%s'", cx_test_bin(), args, url, out, err);
    *json = json_load_file(out, 0, NULL);
    FILE *f = fopen(out, "r");
    cr_assert_not_null(f);
    int c;
    for (*lines = 0; (c = getc(f)) != EOF;)
        *lines += c == '\n';
    fclose(f);
    f = fopen(err, "r");
    cr_assert_not_null(f);
    errs[fread(errs, 1, errlen - 1, f)] = '\0';
    fclose(f);
    unlink(out);
    unlink(err);
    return st;
}

void sinktest_assert_cut_short(const char *url, const char *list, const char *noun, size_t shown,
                               size_t total)
{
    size_t lines;
    json_t *a;
    char args[256], errs[1024], told[128];
    snprintf(args, sizeof args, "%s --json", list);
    cr_assert_eq(sinktest_cmd_split(url, args, &lines, &a, errs, sizeof errs), 0, "%s", errs);
    cr_assert_eq(json_array_size(a), shown);
    json_decref(a);
    snprintf(told, sizeof told, "showing %zu of %zu %s", shown, total, noun);
    cr_assert(strstr(errs, told) != NULL, "not told: \"%s\"", errs);
    cr_assert(strstr(errs, "--limit") != NULL, "%s", errs);

    snprintf(args, sizeof args, "%s --limit 5", list);
    cr_assert_eq(sinktest_cmd_split(url, args, &lines, &a, errs, sizeof errs), 0, "%s", errs);
    cr_assert_eq(lines, 1 + 5, "a header and five %s", noun);
    snprintf(told, sizeof told, "showing 5 of %zu %s", total, noun);
    cr_assert(strstr(errs, told) != NULL, "not told: \"%s\"", errs);

    snprintf(args, sizeof args, "%s --limit %zu --json", list, total);
    cr_assert_eq(sinktest_cmd_split(url, args, &lines, &a, errs, sizeof errs), 0, "%s", errs);
    cr_assert_eq(json_array_size(a), total);
    json_decref(a);
    cr_assert_str_eq(errs, "", "every one of the %s is shown", noun);
}
