/*
 * fuzz_support.h - shared by the fuzz targets: the events they classify or
 * match, the file a loader reads the input from, what a refusal must look
 * like, and what every classification promises.
 */
#ifndef CX_FUZZ_SUPPORT_H
#define CX_FUZZ_SUPPORT_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classify.h"

/* Parses the fixed events json[0..n) into out; a target whose own events do
 * not parse is broken, not fuzzed. */
static inline void fuzz_parse_events(const char *const *json, cx_event *out, size_t n)
{
    char err[256];
    for (size_t i = 0; i < n; i++)
        if (cx_event_parse(&out[i], json[i], strlen(json[i]), err, sizeof err) != CX_OK) {
            fprintf(stderr, "fuzz: event %zu: %s\n", i, err);
            abort();
        }
}

/* An unlinked temporary file, named in path by its open descriptor (which is
 * returned): the loaders open it by that name, and it is gone when the
 * fuzzer exits, however it exits. */
static inline int fuzz_temp_file(char *path, size_t len)
{
    char name[] = "/tmp/cx-fuzz-XXXXXX";
    int fd = mkstemp(name);
    if (fd < 0)
        abort();
    unlink(name);
    snprintf(path, len, "/proc/self/fd/%d", fd);
    return fd;
}

/* Makes the file hold data[0..size). */
static inline void fuzz_rewrite(int fd, const void *data, size_t size)
{
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
}

/* Aborts unless a refusal's message is one line that starts with what was
 * refused (a file, a setting); with lines 1, each of its lines must (a rule
 * file's mistakes are a line each). */
static inline void fuzz_check_refusal_of(const char *err, const char *what, int lines)
{
    for (const char *line = err;; line++) {
        if (strncmp(line, what, strlen(what)) != 0)
            abort();
        size_t n = strcspn(line, "\r\n");
        if (line[n] == '\0')
            break;
        if (line[n] == '\r' || !lines)
            abort();
        line += n;
    }
}

static inline void fuzz_check_refusal(const char *err, const char *what)
{
    fuzz_check_refusal_of(err, what, 0);
}

/* Aborts unless the tags keep their promises: confidences in [0, 1], the
 * assigned categories exactly those at or above the threshold, highest
 * first, a valid sentiment, and evidence that is there to print. */
static inline void fuzz_check_tags(const cx_tags *t)
{
    unsigned seen = 0;
    if (t->n_assigned < 0 || t->n_assigned > CX_CAT_COUNT ||
        (unsigned)t->sentiment >= CX_SENT_COUNT || !(fabsf(t->sentiment_score) <= 1.0f))
        abort();
    for (int i = 0; i < t->n_assigned; i++) {
        cx_category c = t->order[i];
        if ((unsigned)c >= CX_CAT_COUNT || (seen >> c & 1u) ||
            t->confidence[c] < CX_CLASSIFY_THRESHOLD ||
            (i > 0 && t->confidence[c] > t->confidence[t->order[i - 1]]))
            abort();
        seen |= 1u << c;
    }
    for (int c = 0; c < CX_CAT_COUNT; c++) {
        if (!(t->confidence[c] >= 0.0f && t->confidence[c] <= 1.0f) ||
            (!(seen >> c & 1u) && t->confidence[c] >= CX_CLASSIFY_THRESHOLD) ||
            t->n_evidence[c] < 0 || t->n_evidence[c] > CX_EVIDENCE_MAX)
            abort();
        for (int k = 0; k < t->n_evidence[c]; k++)
            if (t->evidence[c][k] == NULL || t->evidence[c][k][0] == '\0')
                abort();
    }
}

/* Builds a classifier from the rule file rules and the model model (a file
 * or "none"), one of which holds the fuzzer's input: either it is built, its
 * version and warnings are there to print and it classifies each of
 * events[0..n) into tags that keep their promises, or it is refused with
 * CX_ERR_CONFIG, no classifier, and lines that start with input. */
static inline void fuzz_load_and_classify(const char *rules, const char *model, const char *input,
                                          const cx_event *events, size_t n)
{
    cx_classifier *clf = NULL;
    char err[512];
    err[0] = '\0';
    cx_status st = cx_classifier_new_model(&clf, &rules, 1, model, err, sizeof err);
    if (st != CX_OK) {
        if (st != CX_ERR_CONFIG || clf != NULL)
            abort();
        fuzz_check_refusal_of(err, input, 1);
        return;
    }
    if (cx_classifier_version(clf) == NULL)
        abort();
    for (size_t i = 0; i < cx_classifier_warning_count(clf); i++)
        if (cx_classifier_warning(clf, i) == NULL)
            abort();
    for (size_t i = 0; i < n; i++) {
        cx_tags tags;
        cx_classifier_classify(clf, &events[i], &tags);
        fuzz_check_tags(&tags);
    }
    cx_classifier_free(clf);
}

#endif /* CX_FUZZ_SUPPORT_H */
