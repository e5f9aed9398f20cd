/*
 * cmd_eval.c - `cxpulse eval LABELS.jsonl`: scores the classifier on labeled
 * events: per-category precision, recall and F1, macro-F1, how often "none"
 * is predicted, sentiment accuracy and its confusion matrix, a table per
 * value of a field (--by), and the misses; how far those figures could move
 * with other events of the same kind (bootstrap intervals), and with
 * --against the difference from another model on the same events. Exit
 * status 1 below a minimum. A line without "categories" (only its feeling is
 * known, e.g. from a star rating) counts towards the sentiment figures alone.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "commands.h"
#include "labels.h"

#define MAX_FILES 64
#define MAX_GROUPS 256
/* The last row of --by when a field has more than MAX_GROUPS - 1 values. */
#define OTHER_GROUPS "(all other values)"
/* The group of a line without the field (not "(none)": that reads as the
 * lines labeled with no category). */
#define NO_VALUE "(no value)"
/* How many distinct keys of the lines and their events are kept to suggest
 * the field meant when no line has the one --by names. */
#define MAX_KEYS 256

/* One event's labels and what each classifier said (the second: --against);
 * has_cats 0: labeled with its sentiment only. */
typedef struct outcome {
    unsigned char want, got, got2, ws, gs, gs2, has_cats;
} outcome;

/* n counts every event (the sentiment figures), n_cats those labeled with
 * their categories (every category figure). */
typedef struct tally {
    char name[161]; /* the value, cut at 160 bytes between characters */
    long n, n_cats, none_want, none_got, exact, sent_ok;
    long tp[CX_CAT_COUNT], fp[CX_CAT_COUNT], fn[CX_CAT_COUNT];
    long conf[CX_SENT_COUNT][CX_SENT_COUNT];
} tally;

static int usage(FILE *out, int rc)
{
    fprintf(out, "usage: cxpulse eval LABELS.jsonl [--by FIELD] [--model FILE] [--rules FILE]...\n"
                 "                    [--against MODEL] [--resamples N] [--min-macro-f1 X]\n"
                 "                    [--min-sentiment X] [--misses N]\n\n"
                 "Scores the classifier on labeled events, one JSON object a line (- reads\n"
                 "stdin):\n"
                 "  {\"event\": {...event.v1...}, \"categories\": [...], \"sentiment\": \"...\"}\n"
                 "Prints per-category precision, recall and F1, macro-F1, how often no\n"
                 "category is predicted and labeled, sentiment accuracy and its confusion\n"
                 "matrix, with --by FIELD the same per value of FIELD (a key of the line,\n"
                 "e.g. industry or source, or of the event, e.g. channel; given once; past\n"
                 "255 values one row counts all further ones, and the lines without it are\n"
                 "the row (no value)), and the first N\n"
                 "misses (--misses, default 20). A line without \"categories\" (only its\n"
                 "feeling is known, e.g. from a star rating) counts for sentiment alone.\n"
                 "Exits 1 when macro-F1 or sentiment accuracy is below the given minimum\n"
                 "(or --min-macro-f1 is given and no line has categories), when a line\n"
                 "cannot be read or repeats an earlier line's event_id (each is named and\n"
                 "left out), or when the file holds no labeled event.\n"
                 "--model FILE uses that model (\"none\": the rules alone; \"default\": the\n"
                 "built-in one); --rules replaces\n"
                 "the built-in rule files (\"default\" names them: --rules default --rules\n"
                 "mine.json adds to them). Without them, CXPULSE_MODEL and CXPULSE_RULES\n"
                 "are read, as run reads them.\n"
                 "The 95%% intervals come from N resamples of the events (--resamples,\n"
                 "default 1000; 0: none), drawn the same way on every run: how much the\n"
                 "figures could differ on other events of the same kind.\n"
                 "--against MODEL also scores the events with MODEL (a file, or \"none\", with\n"
                 "the same rules; \"default\": the built-in rules and model, as with nothing\n"
                 "configured) and prints the difference, with its\n"
                 "interval over the same resamples: a change is clear when the interval\n"
                 "does not include 0.\n");
    return rc;
}

static double f1_of(long tp, long fp, long fn)
{
    return tp ? 2.0 * (double)tp / (double)(2 * tp + fp + fn) : 0.0;
}

/* Macro-F1 over the categories that occur (labeled or predicted) in t; all four when all. */
static double macro_f1(const tally *t, int all)
{
    double sum = 0;
    int n = 0;
    for (int c = 0; c < CX_CAT_COUNT; c++) {
        if (!all && t->tp[c] + t->fp[c] + t->fn[c] == 0)
            continue;
        sum += f1_of(t->tp[c], t->fp[c], t->fn[c]);
        n++;
    }
    return n ? sum / n : 0;
}

/* Counts one event; want CX_TRAIN_NO_CATEGORIES: its sentiment only. */
static void count(tally *t, unsigned want, unsigned got, cx_sentiment ws, cx_sentiment gs)
{
    t->n++;
    t->sent_ok += ws == gs;
    t->conf[ws][gs]++;
    if (want == CX_TRAIN_NO_CATEGORIES)
        return;
    t->n_cats++;
    t->none_want += want == 0;
    t->none_got += got == 0;
    t->exact += want == got;
    for (int c = 0; c < CX_CAT_COUNT; c++) {
        int w = (want >> c) & 1u, g = (got >> c) & 1u;
        t->tp[c] += w && g;
        t->fp[c] += !w && g;
        t->fn[c] += w && !g;
    }
}

/* splitmix64: the resamples' only source of randomness, fixed so that a run
 * prints the same intervals as the last. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The middle 95% of v[n] (n > 0; sorted in place): lo to hi. */
static void middle95(double *v, size_t n, double *lo, double *hi)
{
    size_t cut = (size_t)(0.025 * (double)n); /* left out at each end */
    qsort(v, n, sizeof *v, by_value);
    *lo = v[cut];
    *hi = v[n - 1 - cut];
}

/* Percentile bootstrap over the events o[n]: each of the resamples draws n
 * events with replacement; prints the 95% interval of macro-F1 (unless no
 * event has categories: with_cats 0) and sentiment accuracy and, with
 * against, of their difference from the second classifier's (both scored on
 * the same draws). Returns -1 out of memory. */
static int print_intervals(const outcome *o, size_t n, int with_cats, size_t resamples,
                           const char *against)
{
    double *v = malloc(4 * resamples * sizeof *v);
    if (v == NULL)
        return -1;
    double *f1 = v, *sent = v + resamples, *df1 = v + 2 * resamples, *dsent = v + 3 * resamples;
    uint64_t state = 20261201;
    for (size_t b = 0; b < resamples; b++) {
        tally t1, t2;
        memset(&t1, 0, sizeof t1);
        memset(&t2, 0, sizeof t2);
        for (size_t i = 0; i < n; i++) {
            const outcome *e = &o[next_random(&state) % n];
            unsigned want = e->has_cats ? e->want : CX_TRAIN_NO_CATEGORIES;
            count(&t1, want, e->got, (cx_sentiment)e->ws, (cx_sentiment)e->gs);
            if (against != NULL)
                count(&t2, want, e->got2, (cx_sentiment)e->ws, (cx_sentiment)e->gs2);
        }
        f1[b] = macro_f1(&t1, 1);
        sent[b] = (double)t1.sent_ok / (double)n;
        if (against != NULL) {
            df1[b] = f1[b] - macro_f1(&t2, 1);
            dsent[b] = sent[b] - (double)t2.sent_ok / (double)n;
        }
    }
    double lo[4], hi[4];
    for (int k = 0; k < (against != NULL ? 4 : 2); k++)
        middle95(v + (size_t)k * resamples, resamples, &lo[k], &hi[k]);
    printf("95%% intervals (%zu resamples of the events): ", resamples);
    if (with_cats)
        printf("macro-F1 %.3f to %.3f, ", lo[0], hi[0]);
    printf("sentiment accuracy %.3f to %.3f\n", lo[1], hi[1]);
    if (against != NULL) {
        printf("  difference from %s: ", against);
        if (with_cats)
            printf("macro-F1 %+.3f to %+.3f, ", lo[2], hi[2]);
        printf("sentiment accuracy %+.3f to %+.3f\n", lo[3], hi[3]);
    }
    free(v);
    return 0;
}

static void print_cats(unsigned set)
{
    int any = 0;
    printf("[");
    for (int c = 0; c < CX_CAT_COUNT; c++)
        if ((set >> c) & 1u)
            printf("%s%s", any++ ? " " : "", cx_category_name((cx_category)c));
    printf("]");
}

/* Prints s[0..n) on the current line: line breaks and other control
 * characters as spaces, so that a miss stays one line. */
static void put_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        putchar((unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i]);
}

/* The value of FIELD for a line: a key of the line, then of its event. */
static const char *group_of(const json_t *doc, const char *field, char *buf, size_t len)
{
    const json_t *v = json_object_get(doc, field);
    if (v == NULL)
        v = json_object_get(json_object_get(doc, "event"), field);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_real(v)) { /* every number: the lines are read with JSON_DECODE_INT_AS_REAL */
        snprintf(buf, len, "%.15g", json_real_value(v));
        return buf;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return NO_VALUE;
}

/* Adds the keys of o not yet in keys[0..*n) (up to MAX_KEYS), borrowed from
 * o: keys outlive it only as copies, so each new one is copied. Returns -1
 * out of memory. */
static int note_keys(const json_t *o, char **keys, size_t *n)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        size_t i;
        for (i = 0; i < *n && strcmp(keys[i], k) != 0; i++)
            ;
        if (i == *n && *n < MAX_KEYS && (keys[(*n)++] = strdup(k)) == NULL)
            return -1;
    }
    return 0;
}

static void free_keys(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
}

int cx_cmd_eval(int argc, char **argv)
{
    const char *path = NULL, *rules[MAX_FILES], *model = NULL, *bys[MAX_FILES], *by = NULL,
               *against = NULL;
    size_t n_rules = 0, n_by = 0;
    double min_f1 = -1, min_sent = -1, misses = 20, resamples = 1000; /* -1: not given */
    char err[1024];
    if (cx_cmd_wants_help(argc, argv))
        return usage(stdout, CX_EXIT_OK);
    const cx_cmd_number nums[] = {
        {"--min-macro-f1", "a number from 0 to 1", &min_f1, 0, 1, 0},
        {"--min-sentiment", "a number from 0 to 1", &min_sent, 0, 1, 0},
        {"--misses", "a whole number from 0 to 1000000000", &misses, 0, 1e9, 1},
        {"--resamples", "a whole number from 0 to 100000", &resamples, 0, 1e5, 1},
    };
    const cx_cmd_string strs[] = {
        {"--model", &model, NULL, 0},
        {"--by", bys, &n_by, MAX_FILES},
        {"--against", &against, NULL, 0},
        {"--rules", rules, &n_rules, MAX_FILES},
    };
    size_t n_paths = 0;
    const cx_cmd_spec spec = {CX_CMD_OPTIONS(nums, strs), .pos = &path, .max_pos = 1,
                              .n_pos = &n_paths};
    if (cx_cmd_parse_options("eval", argv + 1, argc - 1, &spec) != 0)
        return usage(stderr, CX_EXIT_USAGE);
    if (path == NULL) {
        fprintf(stderr, "cxpulse eval: needs LABELS.jsonl\n");
        return usage(stderr, CX_EXIT_USAGE);
    }
    if (n_by > 1) {
        fprintf(stderr,
                "cxpulse eval: --by given %zu times (\"%s\", \"%s\"%s): it takes one field\n", n_by,
                bys[0], bys[1], n_by > 2 ? ", ..." : "");
        return usage(stderr, CX_EXIT_USAGE);
    }
    by = n_by ? bys[0] : NULL;
    char *keys[MAX_KEYS]; /* the keys seen, for --by */
    size_t n_keys = 0;
    cx_classifier *clf = NULL, *other = NULL;
    cx_config *env = NULL; /* CXPULSE_RULES and CXPULSE_MODEL, as run reads them */
    const char *said;
    int env_rc = cx_cmd_read_rules_env("eval", rules, &n_rules, MAX_FILES, &model, &env, &said);
    if (env_rc != 0) {
        cx_config_free(env);
        return env_rc;
    }
    if (cx_classifier_new_model(&clf, rules, n_rules, model, err, sizeof err) != CX_OK ||
        /* "default": what cxpulse does with nothing configured, the built-in
         * rules and model, whatever --rules names */
        (against != NULL && (strcmp(against, "default") == 0
                                 ? cx_classifier_new_model(&other, NULL, 0, NULL, err, sizeof err)
                                 : cx_classifier_new_model(&other, rules, n_rules, against, err,
                                                           sizeof err)) != CX_OK)) {
        fprintf(stderr, "cxpulse eval: %s%s\n", err, said);
        cx_classifier_free(clf);
        cx_config_free(env);
        return CX_EXIT_USAGE;
    }
    cx_config_free(env);
    cx_cmd_classifier_warnings("eval", clf);
    cx_cmd_classifier_warnings("eval", other);
    FILE *f = cx_cmd_open_input(path);
    if (f == NULL) {
        cx_cmd_file_error("eval", path, "cannot open", errno);
        cx_classifier_free(clf);
        cx_classifier_free(other);
        return CX_EXIT_RUNTIME;
    }
    static tally groups[MAX_GROUPS];
    size_t n_groups = 0;
    tally all, all2;
    memset(&all, 0, sizeof all);
    memset(&all2, 0, sizeof all2);
    outcome *seen = NULL; /* every event's outcome, for the intervals */
    size_t n_seen = 0, cap_seen = 0;
    int oom = 0;
    unsigned long lineno = 0, bad = 0; /* bad: lines left out, unreadable or repeated */
    cx_label_ids *ids = cx_label_ids_new();
    cx_label_line l;
    int r;
    if (ids == NULL)
        oom = 1;
    int listed = 0; /* misses printed, under a header printed with the first */
    while (!oom && (r = cx_label_next(f, path, &lineno, &l, err, sizeof err)) != 0) {
        int left_out = r < 0 ? 1 : cx_label_ids_seen(ids, &l, path, lineno, err, sizeof err);
        if (left_out != 0) {
            if (left_out > 0)
                fprintf(stderr, "cxpulse eval: %s\n", err);
            oom |= left_out < 0;
            bad += left_out > 0;
            cx_label_line_clear(&l);
            continue;
        }
        cx_tags tags;
        cx_classifier_classify(clf, &l.ev, &tags);
        unsigned got = 0;
        for (int k = 0; k < tags.n_assigned; k++)
            got |= 1u << tags.order[k];
        count(&all, l.categories, got, l.sentiment, tags.sentiment);
        int has_cats = l.categories != CX_TRAIN_NO_CATEGORIES;
        outcome o = {.want = has_cats ? (unsigned char)l.categories : 0,
                     .got = (unsigned char)got,
                     .ws = (unsigned char)l.sentiment,
                     .gs = (unsigned char)tags.sentiment,
                     .has_cats = (unsigned char)has_cats};
        if (other != NULL) {
            cx_tags t2;
            cx_classifier_classify(other, &l.ev, &t2);
            for (int k = 0; k < t2.n_assigned; k++)
                o.got2 |= (unsigned char)(1u << t2.order[k]);
            o.gs2 = (unsigned char)t2.sentiment;
            count(&all2, l.categories, o.got2, l.sentiment, t2.sentiment);
        }
        if (resamples > 0 && !oom) {
            if (n_seen == cap_seen) {
                size_t cap = cap_seen ? 2 * cap_seen : 4096;
                outcome *grown = realloc(seen, cap * sizeof *grown);
                if (grown == NULL)
                    oom = 1;
                else {
                    seen = grown;
                    cap_seen = cap;
                }
            }
            if (!oom)
                seen[n_seen++] = o;
        }
        if (by != NULL && (note_keys(l.doc, keys, &n_keys) != 0 ||
                           note_keys(json_object_get(l.doc, "event"), keys, &n_keys) != 0))
            oom = 1;
        if (by != NULL) {
            char buf[32], g[sizeof groups[0].name]; /* a value as its row names it */
            const char *v = group_of(l.doc, by, buf, sizeof buf);
            snprintf(g, sizeof g, "%.*s", (int)cx_utf8_cut(v, strnlen(v, sizeof g - 1)), v);
            size_t k;
            for (k = 0; k < n_groups && strcmp(groups[k].name, g) != 0; k++)
                ;
            if (k == n_groups && n_groups < MAX_GROUPS - 1) {
                memcpy(groups[n_groups++].name, g, sizeof g);
            } else if (k == n_groups) { /* past the table: one row for all further values */
                k = MAX_GROUPS - 1;
                if (n_groups < MAX_GROUPS)
                    snprintf(groups[n_groups++].name, sizeof groups[k].name, "%s", OTHER_GROUPS);
            }
            count(&groups[k], l.categories, got, l.sentiment, tags.sentiment);
        }
        if (misses > 0 && ((has_cats && got != l.categories) || l.sentiment != tags.sentiment)) {
            misses--;
            if (listed++ == 0)
                printf("misses (labeled -> predicted, sentiment labeled -> predicted):\n");
            printf("  ");
            put_line(l.ev.event_id, strlen(l.ev.event_id));
            printf(": ");
            if (has_cats)
                print_cats(l.categories);
            else
                printf("(not labeled)");
            printf(" -> ");
            print_cats(got);
            printf(", %s -> %s: ", cx_sentiment_name(l.sentiment),
                   cx_sentiment_name(tags.sentiment));
            size_t len =
                l.ev.text ? cx_utf8_cut(l.ev.text, l.ev.text_len > 200 ? 200 : l.ev.text_len) : 0;
            put_line(l.ev.text, len);
            printf("%s\n", len < l.ev.text_len ? "..." : "");
        }
        cx_label_line_clear(&l);
    }
    /* no scores over what was read before an error, nor a report of zeros */
    char shown[1024];
    if (oom)
        fprintf(stderr, "cxpulse eval: out of memory after %ld events\n", all.n);
    else if (ferror(f))
        cx_cmd_file_error("eval", path, "cannot read", errno);
    else if (all.n == 0)
        fprintf(stderr, "cxpulse eval: %s: no labeled event%s\n",
                cx_cmd_quote_path(path, shown, sizeof shown),
                bad > 0 ? " could be read" : " in it");
    int failed = oom || ferror(f) || all.n == 0;
    cx_cmd_close_input(f);
    cx_label_ids_free(ids);
    if (failed) {
        free_keys(keys, n_keys);
        free(seen);
        cx_classifier_free(clf);
        cx_classifier_free(other);
        return CX_EXIT_RUNTIME;
    }

    printf("\n");
    if (all.n_cats > 0)
        printf("%-14s %9s %9s %9s %8s %8s\n", "category", "precision", "recall", "f1", "labeled",
               "predicted");
    for (int c = 0; c < CX_CAT_COUNT && all.n_cats > 0; c++) {
        long tp = all.tp[c], fp = all.fp[c], fn = all.fn[c];
        printf("%-14s %9.3f %9.3f %9.3f %8ld %8ld\n", cx_category_name((cx_category)c),
               tp + fp ? (double)tp / (double)(tp + fp) : 0,
               tp + fn ? (double)tp / (double)(tp + fn) : 0, f1_of(tp, fp, fn), tp + fn, tp + fp);
    }
    double macro = macro_f1(&all, 1);
    double sent = all.n ? (double)all.sent_ok / (double)all.n : 0;
    if (all.n_cats > 0) {
        printf("macro-F1 %.3f over %ld events (%lu lines left out); exact label sets %.1f%%\n",
               macro, all.n_cats, bad, 100.0 * (double)all.exact / (double)all.n_cats);
        printf("none: predicted for %ld events, labeled for %ld\n", all.none_got, all.none_want);
    } else
        printf("macro-F1: no event is labeled with its categories (%lu lines left out)\n", bad);
    printf("sentiment accuracy %.3f", sent);
    if (all.n > all.n_cats) /* the lines labeled with their feeling alone count here only */
        printf(" over %ld events, %ld of them labeled with their sentiment only", all.n,
               all.n - all.n_cats);
    printf(" (rows labeled, columns predicted)\n");
    printf("  %-9s %8s %8s %8s\n", "", "negative", "neutral", "positive");
    for (int a = 0; a < CX_SENT_COUNT; a++)
        printf("  %-9s %8ld %8ld %8ld\n", cx_sentiment_name((cx_sentiment)a), all.conf[a][0],
               all.conf[a][1], all.conf[a][2]);
    if (other != NULL) {
        double sent2 = all2.n ? (double)all2.sent_ok / (double)all2.n : 0;
        printf("against %s (rule set %s): ", against, cx_classifier_version(other));
        if (all2.n_cats > 0)
            printf("macro-F1 %.3f (difference %+.3f), exact label sets %.1f%%, ",
                   macro_f1(&all2, 1), macro - macro_f1(&all2, 1),
                   100.0 * (double)all2.exact / (double)all2.n_cats);
        printf("sentiment accuracy %.3f (difference %+.3f)\n", sent2, sent - sent2);
    }
    if (n_seen > 0 &&
        print_intervals(seen, n_seen, all.n_cats > 0, (size_t)resamples, against) != 0)
        fprintf(stderr, "cxpulse eval: out of memory for the intervals: left out\n");
    free(seen);
    if (by != NULL) {
        printf("\nby %s (macro-F1 over the categories that occur in the group):\n", by);
        printf("  %-24s %6s %8s %9s %6s %6s  %s\n", by, "events", "macro-F1", "sentiment", "none",
               "none*", "F1 facing/collab/external/perf (labeled)");
        for (size_t k = 0; k < n_groups; k++) {
            const tally *t = &groups[k];
            char name[256];
            printf("  %-24s %6ld ", cx_printable(t->name, name, sizeof name), t->n);
            if (t->n_cats > 0)
                printf("%8.3f", macro_f1(t, 0));
            else
                printf("%8s", "-"); /* sentiment only */
            printf(" %9.3f %6ld %6ld ", t->n ? (double)t->sent_ok / (double)t->n : 0, t->none_got,
                   t->none_want);
            for (int c = 0; c < CX_CAT_COUNT; c++) {
                if (t->tp[c] + t->fp[c] + t->fn[c] == 0)
                    printf("     -");
                else
                    printf(" %5.2f", f1_of(t->tp[c], t->fp[c], t->fn[c]));
            }
            /* how many events each F1 rests on: a category with a few has a coarse F1 */
            printf("  (%ld/%ld/%ld/%ld)\n", t->tp[0] + t->fn[0], t->tp[1] + t->fn[1],
                   t->tp[2] + t->fn[2], t->tp[3] + t->fn[3]);
        }
        printf("  (none: predicted; none*: labeled%s)\n",
               all.n > all.n_cats ? "; macro-F1 -: no event with categories" : "");
    }
    printf("rule set %s\n", cx_classifier_version(clf));
    if (by != NULL && n_groups == 1 && strcmp(groups[0].name, NO_VALUE) == 0) {
        cx_typo t = CX_TYPO_INIT(by);
        char hint[300];
        for (size_t k = 0; k < n_keys; k++)
            cx_typo_offer(&t, keys[k]);
        const char *meant = cx_typo_hint(&t, 1, hint, sizeof hint);
        fprintf(stderr, "cxpulse eval: warning: no line has \"%s\"%s\n", by,
                meant[0] ? meant
                         : " (a key of the labeled line, such as industry or source, or of its "
                           "event, such as channel)");
    }
    free_keys(keys, n_keys);
    cx_classifier_free(clf);
    cx_classifier_free(other);
    int rc = CX_EXIT_OK;
    if (bad > 0) {
        fprintf(stderr, "cxpulse eval: %lu line%s left out (named above)\n", bad,
                bad == 1 ? " was" : "s were");
        rc = CX_EXIT_RUNTIME;
    }
    if (min_f1 >= 0 && all.n_cats == 0) {
        fprintf(
            stderr,
            "cxpulse eval: --min-macro-f1 given, but no event is labeled with its categories\n");
        rc = CX_EXIT_RUNTIME;
    } else if (macro < min_f1) {
        fprintf(stderr, "cxpulse eval: macro-F1 %.3f below the required %.3f\n", macro, min_f1);
        rc = CX_EXIT_RUNTIME;
    }
    if (sent < min_sent) {
        fprintf(stderr, "cxpulse eval: sentiment accuracy %.3f below the required %.3f\n", sent,
                min_sent);
        rc = CX_EXIT_RUNTIME;
    }
    return rc;
}
