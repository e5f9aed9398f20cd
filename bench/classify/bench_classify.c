/*
 * bench_classify.c - parse+classify throughput against parse-only throughput,
 * measured in the same run on one core, and allocations per event for both.
 *
 * usage: bench_classify [N_EVENTS]   (default 1000000)
 * Events are generated in memory (bench/common: ~300 bytes each, varied
 * text, ratings and attributes), so the figures measure CPU only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_events.h"
#include "classify.h"

/* Counting allocator: interposes malloc for the whole process (jansson too). */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static unsigned long long n_allocs;

void *malloc(size_t n)
{
    n_allocs++;
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    n_allocs++;
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    n_allocs++;
    return __libc_realloc(p, n);
}


static double now_s(void)
{
    return (double)cx_now_mono_us() / 1e6;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    size_t n = argc > 1 ? strtoul(argv[1], &end, 10) : 1000000;
    if (argc > 2 || n == 0 || (end != NULL && *end != '\0')) {
        fprintf(stderr, "usage: bench_classify [N_EVENTS]   (default 1000000, at least 1)\n");
        return 2;
    }
    /* Build the events into one buffer. */
    size_t cap = n * 420, used = 0;
    char *buf = malloc(cap);
    size_t *off = malloc((n + 1) * sizeof *off);
    if (buf == NULL || off == NULL)
        return 1;
    for (size_t i = 0; i < n; i++) {
        off[i] = used;
        int k = cx_bench_event(buf + used, cap - used, "ev", (long)i, 0);
        used += (size_t)k;
    }
    off[n] = used;

    char err[512];
    cx_classifier *clf;
    if (cx_classifier_new(&clf, NULL, 0, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    unsigned long long checksum = 0;
    double best_parse = 1e9, best_both = 1e9;
    unsigned long long allocs_parse = 0, allocs_both = 0;
    for (int round = 0; round < 3; round++) {
        unsigned long long a0 = n_allocs;
        double t0 = now_s();
        for (size_t i = 0; i < n; i++) {
            cx_event ev;
            if (cx_event_parse(&ev, buf + off[i], off[i + 1] - off[i], err, sizeof err) == CX_OK)
                checksum += ev.text_len;
            cx_event_clear(&ev);
        }
        double t1 = now_s();
        unsigned long long a1 = n_allocs;
        for (size_t i = 0; i < n; i++) {
            cx_event ev;
            cx_tags tags;
            if (cx_event_parse(&ev, buf + off[i], off[i + 1] - off[i], err, sizeof err) == CX_OK) {
                cx_classifier_classify(clf, &ev, &tags);
                checksum += (unsigned)tags.n_assigned;
            }
            cx_event_clear(&ev);
        }
        double t2 = now_s();
        allocs_parse = a1 - a0;
        allocs_both = n_allocs - a1;
        if (t1 - t0 < best_parse)
            best_parse = t1 - t0;
        if (t2 - t1 < best_both)
            best_both = t2 - t1;
    }
    double mb = (double)used / 1e6;
    printf("events: %zu, %.0f bytes each on average (best of 3 rounds, one core)\n", n,
           (double)used / (double)n);
    printf("parse only      : %9.0f events/s  %6.1f MB/s  %.2f allocations/event\n",
           (double)n / best_parse, mb / best_parse, (double)allocs_parse / (double)n);
    printf("parse + classify: %9.0f events/s  %6.1f MB/s  %.2f allocations/event\n",
           (double)n / best_both, mb / best_both, (double)allocs_both / (double)n);
    printf("ratio (parse+classify / parse only): %.2f   classify alone: %.0f events/s\n",
           best_parse / best_both, (double)n / (best_both - best_parse));
    printf("checksum %llu\n", checksum);
    cx_classifier_free(clf);
    free(buf);
    free(off);
    return 0;
}
