/*
 * fuzz_support.h - shared by the fuzz targets: the file a loader reads the
 * input from, and what every classification promises.
 */
#ifndef CX_FUZZ_SUPPORT_H
#define CX_FUZZ_SUPPORT_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classify.h"

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

#endif /* CX_FUZZ_SUPPORT_H */
