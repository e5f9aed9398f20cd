/*
 * cmd_classify.c - `cxpulse classify [--rules FILE]... [--model FILE] [FILE]`: classifies
 * event JSON lines offline. One output line per input line: the verdict, or
 * {"line":N,"error":"..."} for a line that is not a valid event (also
 * reported on stderr); processing always continues.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "commands.h"

#define MAX_RULE_FILES 64

static int usage(FILE *out, int rc)
{
    fprintf(out,
            "usage: cxpulse classify [--rules FILE]... [--model FILE] [FILE]\n\n"
            "Reads event JSON lines from FILE (or stdin) and writes one JSON line per input\n"
            "line to stdout:\n"
            "  {\"event_id\":...,\"categories\":[...],\"scores\":{...},\"sentiment\":...,"
            "\"evidence\":{...}}\n"
            "Categories are ordered by confidence. An invalid line yields\n"
            "{\"line\":N,\"error\":\"...\"} and a message on stderr; processing continues.\n"
            "--rules replaces the built-in rule files (repeat it for several files).\n"
            "--model FILE classifies with a model from cxpulse train (\"none\": the rules\n"
            "alone); the default is the built-in model.\n");
    return rc;
}

/* Builds the output object for one classified event. Returns new. */
static json_t *verdict_json(const cx_event *ev, const cx_tags *tags)
{
    json_t *cats = json_array(), *scores = json_object(), *evidence = json_object();
    for (int i = 0; i < tags->n_assigned; i++)
        json_array_append_new(cats, json_string(cx_category_name(tags->order[i])));
    for (int c = 0; c < CX_CAT_COUNT; c++) {
        json_object_set_new(scores, cx_category_name((cx_category)c),
                            json_real((double)(int)(tags->confidence[c] * 1000 + 0.5) / 1000));
        if (tags->n_evidence[c] == 0)
            continue;
        json_t *list = json_array();
        for (int k = 0; k < tags->n_evidence[c]; k++)
            json_array_append_new(list, json_string(tags->evidence[c][k]));
        json_object_set_new(evidence, cx_category_name((cx_category)c), list);
    }
    return json_pack("{s:s, s:o, s:o, s:s, s:o}", "event_id", ev->event_id, "categories", cats,
                     "scores", scores, "sentiment", cx_sentiment_name(tags->sentiment),
                     "evidence", evidence);
}

static void emit(json_t *obj)
{
    char *line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(4));
    if (line != NULL) {
        puts(line);
        free(line);
    }
    json_decref(obj);
}

int cx_cmd_classify(int argc, char **argv)
{
    const char *rules[MAX_RULE_FILES];
    size_t n_rules = 0;
    const char *path = NULL, *model = NULL;
    char err[1024];

    if (cx_cmd_wants_help(argc, argv))
        return usage(stdout, CX_EXIT_OK);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc && n_rules < MAX_RULE_FILES)
            rules[n_rules++] = argv[++i];
        else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
            model = argv[++i];
        else if ((argv[i][0] != '-' || strcmp(argv[i], "-") == 0) && path == NULL)
            path = argv[i];
        else {
            fprintf(stderr, "cxpulse classify: unexpected argument \"%s\"\n", argv[i]);
            return usage(stderr, CX_EXIT_USAGE);
        }
    }

    cx_classifier *clf = NULL;
    if (cx_classifier_new_model(&clf, rules, n_rules, model, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse classify: %s\n", err);
        return CX_EXIT_USAGE;
    }
    FILE *in = path == NULL || strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (in == NULL) {
        fprintf(stderr, "cxpulse classify: %s: cannot open\n", path);
        cx_classifier_free(clf);
        return CX_EXIT_RUNTIME;
    }

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0;
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        cx_event ev;
        cx_tags tags;
        if (cx_event_parse(&ev, line, (size_t)n, err, sizeof err) != CX_OK) {
            fprintf(stderr, "cxpulse classify: line %lu: %s\n", lineno, err);
            emit(json_pack("{s:i, s:s}", "line", (json_int_t)lineno, "error", err));
            continue;
        }
        cx_classifier_classify(clf, &ev, &tags);
        emit(verdict_json(&ev, &tags));
        cx_event_clear(&ev);
    }
    int rc = ferror(in) ? CX_EXIT_RUNTIME : CX_EXIT_OK;
    free(line);
    if (in != stdin)
        fclose(in);
    cx_classifier_free(clf);
    return rc;
}
