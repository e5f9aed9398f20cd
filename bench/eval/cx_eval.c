/*
 * cx_eval.c - scores the classifier on a labeled set: per-category precision,
 * recall and F1, macro-F1, sentiment accuracy and the most common misses.
 *
 * usage: cx_eval FILE [--rules FILE]... [--min-macro-f1 X] [--show-misses N]
 * Each line of FILE: {"event": {...event.v1...}, "categories": [...], "sentiment": "..."}.
 * Exit status 1 when macro-F1 is below --min-macro-f1 (default 0: never).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"

int main(int argc, char **argv)
{
    const char *path = NULL, *rules[32];
    size_t n_rules = 0;
    double min_f1 = 0;
    int show = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc && n_rules < 32)
            rules[n_rules++] = argv[++i];
        else if (strcmp(argv[i], "--min-macro-f1") == 0 && i + 1 < argc)
            min_f1 = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--show-misses") == 0 && i + 1 < argc)
            show = (int)strtol(argv[++i], NULL, 10);
        else
            path = argv[i];
    }
    if (path == NULL) {
        fprintf(stderr, "usage: cx_eval FILE [--rules FILE]... [--min-macro-f1 X] "
                        "[--show-misses N]\n");
        return 2;
    }
    char err[1024];
    cx_classifier *clf;
    if (cx_classifier_new(&clf, rules, n_rules, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cx_eval: %s\n", err);
        return 2;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "cx_eval: cannot open %s\n", path);
        return 2;
    }
    long tp[CX_CAT_COUNT] = {0}, fp[CX_CAT_COUNT] = {0}, fn[CX_CAT_COUNT] = {0};
    long n = 0, sent_ok = 0, exact = 0, bad = 0;
    long sent_conf[CX_SENT_COUNT][CX_SENT_COUNT] = {{0}};
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t jerr;
        json_t *doc = json_loads(line, 0, &jerr);
        json_t *evj = json_object_get(doc, "event");
        char *raw = evj ? json_dumps(evj, JSON_COMPACT) : NULL;
        cx_event ev;
        if (raw == NULL || cx_event_parse(&ev, raw, strlen(raw), err, sizeof err) != CX_OK) {
            fprintf(stderr, "cx_eval: line %ld: %s\n", n + bad + 1, raw ? err : "bad line");
            bad++;
            free(raw);
            json_decref(doc);
            continue;
        }
        cx_tags tags;
        cx_classifier_classify(clf, &ev, &tags);
        int want[CX_CAT_COUNT] = {0}, got[CX_CAT_COUNT] = {0}, same = 1;
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(doc, "categories"), i, c)
        {
            cx_category cat;
            if (cx_category_from_name(json_string_value(c), &cat) == CX_OK)
                want[cat] = 1;
        }
        for (int k = 0; k < tags.n_assigned; k++)
            got[tags.order[k]] = 1;
        for (int k = 0; k < CX_CAT_COUNT; k++) {
            tp[k] += want[k] && got[k];
            fp[k] += !want[k] && got[k];
            fn[k] += want[k] && !got[k];
            same &= want[k] == got[k];
        }
        const char *ws = json_string_value(json_object_get(doc, "sentiment"));
        int wi = ws == NULL ? 1 : strcmp(ws, "negative") == 0 ? 0 : strcmp(ws, "positive") == 0 ? 2 : 1;
        sent_conf[wi][tags.sentiment]++;
        sent_ok += wi == (int)tags.sentiment;
        exact += same;
        if (!same && show > 0) {
            show--;
            printf("miss: want [");
            for (int k = 0; k < CX_CAT_COUNT; k++)
                if (want[k])
                    printf(" %s", cx_category_name((cx_category)k));
            printf(" ] got [");
            for (int k = 0; k < CX_CAT_COUNT; k++)
                if (got[k])
                    printf(" %s", cx_category_name((cx_category)k));
            printf(" ] %s\n", ev.text ? ev.text : "(no text)");
        }
        n++;
        cx_event_clear(&ev);
        free(raw);
        json_decref(doc);
    }
    free(line);
    fclose(f);

    double macro = 0;
    printf("%-14s %9s %9s %9s %7s\n", "category", "precision", "recall", "f1", "support");
    for (int k = 0; k < CX_CAT_COUNT; k++) {
        double p = tp[k] + fp[k] ? (double)tp[k] / (double)(tp[k] + fp[k]) : 0;
        double r = tp[k] + fn[k] ? (double)tp[k] / (double)(tp[k] + fn[k]) : 0;
        double f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
        macro += f1 / CX_CAT_COUNT;
        printf("%-14s %9.3f %9.3f %9.3f %7ld\n", cx_category_name((cx_category)k), p, r, f1,
               tp[k] + fn[k]);
    }
    printf("macro-F1 %.3f over %ld events (%ld unreadable); exact label sets %.1f%%\n", macro,
           n, bad, n ? 100.0 * (double)exact / (double)n : 0);
    printf("sentiment accuracy %.3f (rows = labeled neg/neu/pos, columns = predicted)\n",
           n ? (double)sent_ok / (double)n : 0);
    for (int a = 0; a < CX_SENT_COUNT; a++)
        printf("  %-9s %5ld %5ld %5ld\n", cx_sentiment_name((cx_sentiment)a), sent_conf[a][0],
               sent_conf[a][1], sent_conf[a][2]);
    printf("rule set %s\n", cx_classifier_version(clf));
    cx_classifier_free(clf);
    if (bad > 0 || macro < min_f1) {
        fprintf(stderr, "cx_eval: macro-F1 %.3f below the required %.3f or unreadable lines\n",
                macro, min_f1);
        return 1;
    }
    return 0;
}
