/*
 * classify.h - tags an event to the operation groups that caused the
 * experience (facing, collaborative, external, performance) and decides its
 * sentiment, from rule files (phrase lexicons with weights + field conditions)
 * and a learned model (a linear model over hashed word and character n-grams,
 * the rules' hits, sentiment-lexicon sums and complaint cues; docs/model.md).
 * Field conditions stay certain; a rating decides the sentiment when present.
 *
 * Pure: no Kafka, no PostgreSQL. A classifier is built once from rule files,
 * is read-only afterwards (safe to share between threads). Classifying
 * allocates only a thread's working memory (about 1.4 MB), on its first
 * call, freed when the thread ends.
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

/* The classifier's verdict on one event: plain data, nothing to free; its
 * evidence strings belong to the classifier, so tags are read while the
 * classifier that made them lives. */
typedef struct cx_tags {
    float confidence[CX_CAT_COUNT];    /* per category, in [0,1] */
    cx_category order[CX_CAT_COUNT];   /* assigned categories, highest confidence first */
    int n_assigned;                    /* how many of order[] are assigned (0..4) */
    cx_sentiment sentiment;
    float sentiment_score;             /* in [-1,1]; <0 negative, >0 positive */
    /* Evidence per category: static strings owned by the classifier (they live
     * as long as it does), e.g. "phrase:charged twice", "field:delivered quantity short"
     * (a field condition's name) or "model:the agent". */
    const char *evidence[CX_CAT_COUNT][CX_EVIDENCE_MAX];
    int n_evidence[CX_CAT_COUNT];
    /* A field that a field condition had to compare and could not read: its
     * name ("attributes.promised_date", owned by the classifier) or NULL, and
     * what the condition needed, "a date (YYYY-MM-DD or RFC 3339)" for
     * before/after ("03/12/2024" is not) or "a number" for lt/le/gt/ge
     * ("five" is not). Such a clause does not hold, so a producer's format
     * could keep a rule from ever firing without a word: this is the word. */
    const char *unreadable, *unreadable_needs;
    /* The language of a text that the built-in model and the sentiment
     * lexicons cannot read, or NULL: its declared tag ("de") or what the text
     * shows ("zh", "cyrillic", "de"); static. With the built-in model such an
     * event is classified as if it had no text (its fields and rating still
     * count: neutral unless rated); with the rules alone the rules read it,
     * but not the lexicons. A model of your own reads every language. */
    const char *language_not_read;
    /* What decided the sentiment, static: "rating" (the event's rating),
     * "text", "customer turns" (a chat transcript's, not the agents' or the
     * bots') or "none" (no text, or none read: an automatic reply, a text in
     * a language not read; neutral). */
    const char *sentiment_from;
} cx_tags;

typedef struct cx_classifier cx_classifier;

/* Returns "facing", "collaborative", "external" or "performance" (NULL if out of range). */
const char *cx_category_name(cx_category cat);

/* The event's primary category (the most confident assigned one), or
 * CX_CAT_COUNT when none is assigned (whose cx_category_name() is NULL). */
cx_category cx_tags_primary(const cx_tags *t);

/* Finds a category by its exact name; CX_ERR_NOTFOUND if none. */
cx_status cx_category_from_name(const char *name, cx_category *out);

/* Returns "negative", "neutral" or "positive". */
const char *cx_sentiment_name(cx_sentiment s);

/* The rule-file name that stands for the built-in rule files. */
#define CX_CLASSIFIER_BUILTIN "default"

/*
 * Builds a classifier from rule files (JSON, format in docs/rules.md), read in
 * order; the name CX_CLASSIFIER_BUILTIN stands for the rule files shipped in
 * config/rules/, and n_files == 0 means just those. A later file overrides
 * what an earlier one says a phrase means for a category (or for sentiment),
 * and a condition of the same name and category; weight 0 switches it off.
 * With the built-in rules among the files, the default model
 * (config/model/) is loaded too.
 * On failure returns CX_ERR_CONFIG and names the file, the rule and the reason.
 * Returns new: free with cx_classifier_free().
 */
cx_status cx_classifier_new(cx_classifier **out, const char *const *files, size_t n_files,
                            char *err, size_t errlen);

/*
 * Like cx_classifier_new(), with a model file written by cx_trainer_write(),
 * or "none" for the rules alone. model NULL: the built-in default model
 * (config/model/default.cxm) when the built-in rules are among the files
 * (n_files == 0, or CX_CLASSIFIER_BUILTIN given); the rules alone with only
 * the caller's rule files, since a model is trained with the rules whose hits
 * are its features. A damaged or foreign model file gives CX_ERR_CONFIG
 * naming the file and the reason.
 */
cx_status cx_classifier_new_model(cx_classifier **out, const char *const *files, size_t n_files,
                                  const char *model, char *err, size_t errlen);

/* Warnings about the rule files found while loading them: a term that reads
 * as the same phrase as another one (the matcher stems words, so "shipped"
 * is "shipping") with another weight, where the larger counts for both, or
 * with another polarity, where it counts as both. Each names the file, the
 * rule and both terms. How many there are, and the i-th (borrowed, NULL past
 * the end). */
size_t cx_classifier_warning_count(const cx_classifier *clf);
const char *cx_classifier_warning(const cx_classifier *clf, size_t i);

/* Classifies *ev into *tags (fully overwritten). Thread-safe. Allocates
 * nothing but the calling thread's working memory on its first call; when
 * even that cannot be had the process aborts, as it cannot give a result. */
void cx_classifier_classify(const cx_classifier *clf, const cx_event *ev, cx_tags *tags);

/* Longest declared rule-set "version", in characters (rule files reject longer ones). */
#define CX_CLASSIFIER_VERSION_MAX_CHARS 64

/* The rule set's version: "<declared version>+<FNV-1a hash of the rule files>",
 * then "+<model version>" when a model is loaded ("cxm2-<checksum>");
 * borrowed, lives as long as clf. */
const char *cx_classifier_version(const cx_classifier *clf);

/* The rule files as loaded, a JSON array of {"file": name, "rules": document}
 * (what cx.rule_sets keeps). Returns new (malloc'd; NULL on no memory). */
char *cx_classifier_rules_json(const cx_classifier *clf);

/* NULL-safe. */
void cx_classifier_free(cx_classifier *clf);

/* ---- Training (the same features as classification) --------------------- */

typedef struct cx_train_options {
    int epochs;     /* passes over the data */
    float rate;     /* AdaGrad learning rate (a quarter of it when adapting: from_model) */
    float l2;       /* L2 penalty of the category outputs */
    float l2_sent;  /* L2 penalty of the sentiment outputs */
    /* Share of each example's features, in [0, 0.9], hidden from the sentiment
     * outputs in each pass (the others scaled up to make up for them), so
     * that no few words decide the feeling alone. */
    float dropout_sent;
    /* In [0, 1]: each category's positive examples weigh (negatives /
     * positives)^balance, at least 1, so a rare category's few examples are
     * not outweighed by the many without it (1: fully balanced; 0: every
     * example weighs the same). The sentiment outputs are not weighted. */
    float balance;
    int min_df;     /* features seen in fewer events are left out */
    unsigned seed;  /* training order */
    int from_model; /* start from the classifier's model and keep near it (fine-tuning) */
} cx_train_options;

/* The defaults cxpulse train uses. */
void cx_train_options_default(cx_train_options *opt);

typedef struct cx_trainer cx_trainer;

/* Starts training with clf's rules as features; clf must outlive the trainer.
 * With opt->from_model, training starts from clf's model (which must be set)
 * and its L2 penalty pulls toward that model's weights instead of zero, so a
 * few hundred events adapt it rather than replace it. opt NULL: the defaults. */
cx_status cx_trainer_new(cx_trainer **out, const cx_classifier *clf, const cx_train_options *opt,
                         char *err, size_t errlen);

/* The categories of an event labeled with its sentiment only. */
#define CX_TRAIN_NO_CATEGORIES (~0u)

/* Adds one labeled event: categories is a bit set of (1u << cx_category), or
 * CX_TRAIN_NO_CATEGORIES for an event whose categories nobody labeled (such
 * as a review known only by its star rating): it teaches the sentiment
 * outputs and leaves the categories, their thresholds and their report
 * alone. */
cx_status cx_trainer_add(cx_trainer *t, const cx_event *ev, unsigned categories,
                         cx_sentiment sentiment, char *err, size_t errlen);

/* Labeled events added so far. */
size_t cx_trainer_count(const cx_trainer *t);

/* Fewest events labeled with a category from which training chooses that
 * category's threshold. With fewer there is nothing to choose it from: a
 * model adapted from another (opt->from_model) keeps that model's threshold,
 * a new model gets 0.5. */
#define CX_TRAIN_MIN_LABELED 5

/* Learns the model (deterministic: the same events in the same order give the
 * same file) and writes it to path. Needs at least 10 events. */
cx_status cx_trainer_write(cx_trainer *t, const char *path, char *err, size_t errlen);

/* What training made of the events. Out of fold: each event classified as
 * cx_classifier_classify() would, by a model trained on the other three
 * quarters of the events (so a fair estimate of how the model does on more
 * events like them, a little high where a category has few: its threshold
 * is chosen on these same predictions). */
typedef struct cx_train_report {
    size_t labeled[CX_CAT_COUNT];  /* events that have each category */
    size_t sentiment_only;         /* events added with CX_TRAIN_NO_CATEGORIES */
    float threshold[CX_CAT_COUNT]; /* the written model's: its probability at or
                                      above which the category is tagged */
    int chosen[CX_CAT_COUNT];      /* 1: chosen from the events; 0: fewer than
                                      CX_TRAIN_MIN_LABELED have the category */
    float f1[CX_CAT_COUNT];        /* out of fold; -1 if no event has or got it */
    float sentiment_accuracy;      /* out of fold */
} cx_train_report;

/* Fills *out: the counts at any time, the rest after cx_trainer_write()
 * (-1 before). */
void cx_trainer_report(const cx_trainer *t, cx_train_report *out);

/* NULL-safe. */
void cx_trainer_free(cx_trainer *t);

#endif /* CX_CLASSIFY_H */
