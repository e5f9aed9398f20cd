/*
 * classify.h - tags an event to the operation groups that caused the
 * experience (facing, collaborative, external, performance) and decides its
 * sentiment, from rule files (phrase lexicons with weights + field conditions).
 *
 * Pure: no Kafka, no PostgreSQL. A classifier is built once from rule files,
 * is read-only afterwards (safe to share between threads), and classifies
 * without allocating.
 */
#ifndef CX_CLASSIFY_H
#define CX_CLASSIFY_H

#include <stddef.h>

#include "cx.h"
#include "event.h"

typedef enum cx_category {
    CX_CAT_FACING = 0,
    CX_CAT_COLLABORATIVE,
    CX_CAT_EXTERNAL,
    CX_CAT_PERFORMANCE,
    CX_CAT_COUNT
} cx_category;

typedef enum cx_sentiment {
    CX_SENT_NEGATIVE = 0,
    CX_SENT_NEUTRAL,
    CX_SENT_POSITIVE,
    CX_SENT_COUNT
} cx_sentiment;

/* Confidence at or above which a category is assigned. */
#define CX_CLASSIFY_THRESHOLD 0.5f

/* Most evidence items kept per category (matched phrases and field rules). */
#define CX_EVIDENCE_MAX 8

/* The classifier's verdict on one event: plain data, no pointers to free. */
typedef struct cx_tags {
    float confidence[CX_CAT_COUNT];    /* per category, in [0,1] */
    cx_category order[CX_CAT_COUNT];   /* assigned categories, highest confidence first */
    int n_assigned;                    /* how many of order[] are assigned (0..4) */
    cx_sentiment sentiment;
    float sentiment_score;             /* in [-1,1]; <0 negative, >0 positive */
    /* Evidence per category: static strings owned by the classifier (they live
     * as long as it does), e.g. "phrase:charged twice" or "field:qty_delivered<qty_ordered". */
    const char *evidence[CX_CAT_COUNT][CX_EVIDENCE_MAX];
    int n_evidence[CX_CAT_COUNT];
} cx_tags;

typedef struct cx_classifier cx_classifier;

/* Returns "facing", "collaborative", "external" or "performance" (NULL if out of range). */
const char *cx_category_name(cx_category cat);

/* Finds a category by its exact name; CX_ERR_NOTFOUND if none. */
cx_status cx_category_from_name(const char *name, cx_category *out);

/* Returns "negative", "neutral" or "positive". */
const char *cx_sentiment_name(cx_sentiment s);

/*
 * Builds a classifier from rule files (JSON, format in docs/rules.md). With
 * n_files == 0, loads the default rule files shipped in config/rules/.
 * On failure returns CX_ERR_CONFIG and names the file, the rule and the reason.
 * Returns new: free with cx_classifier_free().
 */
cx_status cx_classifier_new(cx_classifier **out, const char *const *files, size_t n_files,
                            char *err, size_t errlen);

/* Classifies *ev into *tags (fully overwritten). Never allocates; thread-safe. */
void cx_classifier_classify(const cx_classifier *clf, const cx_event *ev, cx_tags *tags);

/* Longest declared rule-set "version", in characters (rule files reject longer ones). */
#define CX_CLASSIFIER_VERSION_MAX_CHARS 64

/* The rule set's version: "<declared version>+<FNV-1a hash of the rule files>";
 * borrowed, lives as long as clf. */
const char *cx_classifier_version(const cx_classifier *clf);

/* The rule files as loaded, a JSON array of {"file": name, "rules": document}
 * (what cx.rule_sets keeps). Returns new (malloc'd; NULL on no memory). */
char *cx_classifier_rules_json(const cx_classifier *clf);

/* NULL-safe. */
void cx_classifier_free(cx_classifier *clf);

#endif /* CX_CLASSIFY_H */
