/*
 * fuzz_tags.h - what every classification promises, checked by the fuzz
 * targets that classify: confidences in [0, 1], the assigned categories
 * exactly those at or above the threshold, highest first, a valid
 * sentiment, and evidence that is there to print.
 */
#ifndef CX_FUZZ_TAGS_H
#define CX_FUZZ_TAGS_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"

static void fuzz_check_tags(const cx_tags *t)
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

#endif
