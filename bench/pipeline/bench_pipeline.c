/*
 * bench_pipeline.c - does parsing and classifying overlap the writes? The
 * batch engine driven as `run` drives it, with the real classifier, and a
 * sink that stands for a PostgreSQL server on other cores: each write sleeps
 * US microseconds per record (off this process's CPU), as a server's work
 * and round trips do.
 *
 * Measured in the same run, best of 3 rounds each, in turns:
 *   make only    : the engine with a sink that returns at once (parse,
 *                  classify, copy: M seconds);
 *   taking turns : the sleeping sink, nothing made ahead (ahead_bytes < 0:
 *                  each share made when its turn comes, as before makers);
 *   overlapped   : the sleeping sink, with the makers (the default 4 MiB).
 * The sink's own time per writer is S = N * US / writers; overlapped at best
 * takes max(M, S). Printed: each time, and the gain of overlapped over
 * taking turns.
 *
 * usage: bench_pipeline [N_EVENTS [US_PER_RECORD [WRITERS [EVENTS.jsonl]]]]
 *        (defaults 200000 20 2)
 * The events are bench/common's (about 300 bytes, varied text) unless a file
 * of events, one per line, is given: its lines are taken in turn until there
 * are N. Real feedback costs several times as much to classify as bench/common's
 * events, e.g. `jq -c .event tests/data/real/dev.jsonl > /tmp/real.jsonl`.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_events.h"
#include "classify.h"
#include "pipeline.h"

#define PARTS 16
#define BATCH 7000

static int us_per_record;
static _Atomic size_t stored;

static cx_sink_result sleepy_write(void *ctx, const cx_record *recs, size_t n,
                                   cx_sink_counts *counts, char *err, size_t errlen)
{
    (void)ctx, (void)recs, (void)err, (void)errlen;
    long long us = (long long)n * us_per_record;
    struct timespec d = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    while (us > 0 && nanosleep(&d, &d) != 0)
        ;
    *counts = (cx_sink_counts){.stored = n};
    return CX_SINK_OK;
}

static cx_status no_offsets(void *ctx, const char *topic, const int32_t *parts, size_t n,
                            const int64_t *start, int64_t *next, char *err, size_t errlen)
{
    (void)ctx, (void)topic, (void)parts, (void)start, (void)err, (void)errlen;
    for (size_t i = 0; i < n; i++)
        next[i] = -1;
    return CX_OK;
}

static void on_stored(void *ctx, const cx_pipeline_report *r)
{
    (void)ctx;
    atomic_fetch_add(&stored, r->counts.stored);
}

/* Submits all n messages in batches as a consumer does; seconds taken until
 * the last is stored. */
static double run_once(const cx_classifier *clf, int writers, long ahead,
                       const cx_pipeline_msg *msgs, size_t n)
{
    static const cx_sink_ops ops = {.write = sleepy_write, .read_offsets = no_offsets};
    cx_sink sinks[CX_PIPELINE_MAX_SINKS];
    for (int w = 0; w < writers; w++)
        sinks[w] = (cx_sink){.ops = &ops};
    cx_record_rules rules = {.classifier = clf};
    cx_pipeline_options o = {.sinks = sinks,
                             .n_sinks = writers,
                             .rules = &rules,
                             .batch_max = BATCH,
                             .ahead_bytes = ahead,
                             .hooks = {.stored = on_stored}};
    char err[512];
    cx_pipeline *p;
    if (cx_pipeline_new(&p, &o, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    atomic_store(&stored, 0);
    int64_t t0 = cx_now_mono_us();
    for (size_t at = 0; at < n;) {
        size_t k = n - at < BATCH ? n - at : BATCH;
        cx_status st = cx_pipeline_submit(p, msgs + at, k, 1000, err, sizeof err);
        if (st == CX_OK)
            at += k;
        else if (st != CX_ERR_TRANSIENT) {
            fprintf(stderr, "%s\n", err);
            exit(1);
        }
    }
    if (cx_pipeline_drain(p, err, sizeof err) != CX_OK || atomic_load(&stored) != n) {
        fprintf(stderr, "not all stored: %zu of %zu (%s)\n", atomic_load(&stored), n, err);
        exit(1);
    }
    double s = (double)(cx_now_mono_us() - t0) / 1e6;
    cx_pipeline_free(p);
    return s;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    us_per_record = argc > 2 ? atoi(argv[2]) : 20;
    int writers = argc > 3 ? atoi(argv[3]) : 2;
    if (argc > 5 || n == 0 || us_per_record < 0 || writers < 1 || writers > CX_PIPELINE_MAX_SINKS) {
        fprintf(stderr,
                "usage: bench_pipeline [N_EVENTS [US_PER_RECORD [WRITERS [EVENTS.jsonl]]]]\n");
        return 2;
    }
    char *file = NULL; /* the events file's lines, or NULL */
    size_t file_len = 0;
    if (argc > 4) {
        FILE *f = fopen(argv[4], "rb");
        if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (file_len = (size_t)ftell(f)) == 0 ||
            fseek(f, 0, SEEK_SET) != 0 || (file = malloc(file_len + 1)) == NULL ||
            fread(file, 1, file_len, f) != file_len) {
            fprintf(stderr, "bench_pipeline: cannot read %s\n", argv[4]);
            return 1;
        }
        fclose(f);
        file[file_len] = '\n';
    }
    char *buf = file != NULL ? NULL : malloc(n * 420);
    cx_pipeline_msg *msgs = malloc(n * sizeof *msgs);
    if ((buf == NULL && file == NULL) || msgs == NULL)
        return 1;
    size_t used = 0, at = 0;
    long long pos[PARTS] = {0};
    for (size_t i = 0; i < n; i++) {
        int32_t part = (int32_t)(i % PARTS);
        const char *v;
        size_t len;
        if (file != NULL) { /* the next line, around to the first after the last */
            if (at >= file_len)
                at = 0;
            char *eol = memchr(file + at, '\n', file_len + 1 - at);
            v = file + at;
            len = (size_t)(eol - v);
            at += len + 1;
        } else {
            v = buf + used;
            len = (size_t)cx_bench_event(buf + used, 420, "ev", (long)i, 0);
            used += len;
        }
        msgs[i] = (cx_pipeline_msg){"cx.events", part, pos[part]++, v, len, 0};
    }
    char err[512];
    cx_event_global_init();
    cx_classifier *clf;
    if (cx_classifier_new(&clf, NULL, 0, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int us = us_per_record;
    double make = 1e9, turns = 1e9, with = 1e9;
    for (int round = 0; round < 3; round++) { /* best of 3, in turns */
        us_per_record = 0;
        double m = run_once(clf, writers, 0, msgs, n);
        us_per_record = us;
        double t = run_once(clf, writers, -1, msgs, n);
        double w = run_once(clf, writers, 0, msgs, n);
        make = m < make ? m : make;
        turns = t < turns ? t : turns;
        with = w < with ? w : with;
    }
    double sink = (double)n * us / 1e6 / writers, best = make > sink ? make : sink;
    printf("events: %zu%s%s, %d writers, sink %d us per record (best of 3 rounds)\n", n,
           file != NULL ? " from " : "", file != NULL ? argv[4] : "", writers, us);
    printf("make only (instant sink)  : %6.2f s  %9.0f events/s\n", make, (double)n / make);
    printf("sink's own time per writer: %6.2f s\n", sink);
    printf("taking turns (no makers)  : %6.2f s  %9.0f events/s\n", turns, (double)n / turns);
    printf("overlapped (makers)       : %6.2f s  %9.0f events/s (at best %.2f s)\n", with,
           (double)n / with, best);
    printf("gain over taking turns    : %.2fx\n", turns / with);
    cx_classifier_free(clf);
    free(buf);
    free(file);
    free(msgs);
    return 0;
}
