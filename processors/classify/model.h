/*
 * model.h - private to processors/classify: the sentiment lexicons, the
 * feature extractor shared by classification and training, and the model
 * file (a linear model over hashed features).
 *
 * One extractor turns an event (and the rule engine's hits on it) into
 * hashed features; classification sums their weights, training learns the
 * weights from the same calls, so serving and training cannot drift apart.
 */
#ifndef CX_MODEL_H
#define CX_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "classify.h"
#include "lexicon.h"

/* Hashed feature space: 2^CX_MODEL_BITS buckets. 2^20 rather than 2^18: the
 * character n-grams of the training data collide less, and held-out macro-F1
 * and sentiment rose on more rows of the real sources and on new authors'
 * written feedback over three seeds (docs/model.md); in memory the weights take
 * 16 MB (16-bit, as in the file), the file stores only buckets with weights. */
#define CX_MODEL_BITS 20
#define CX_MODEL_BUCKETS (1u << CX_MODEL_BITS)
/* How much the rules' phrase evidence for a category adds to the model's score,
 * in logits, when classifying and when training chooses the thresholds (not
 * when it fits the weights, which would learn it away): complaint and praise
 * phrases fully, mentions by half, as the confidence 1 - exp(-weights). Word
 * features fit the training authors' wording closely; this keeps the rules'
 * broader vocabulary in play (author-split cross-validation on the dev corpus:
 * macro-F1 0.751 without, 0.756-0.758 with 1 to 2). */
#define CX_RULE_OFFSET 1.5f

/* Outputs per bucket: the four categories, then negative/neutral/positive. */
#define CX_MODEL_OUT 7
#define CX_MODEL_STRIDE 8
/* Named features kept per category as evidence, most weight first. */
#define CX_MODEL_TOP 3

/* ---- Lexicons and cues -------------------------------------------------- */

typedef struct cx_valence cx_valence;

/* Builds the lexicon tables from the built-in lexicons (VADER, AFINN-165, emoji). */
cx_status cx__valence_new(cx_valence **out, char *err, size_t errlen);
void cx__valence_free(cx_valence *v);

/* What the lexicons and the cue rules read in one text. */
typedef struct cx_valence_score {
    float compound;  /* VADER-style compound score in [-1, 1] */
    float pos, neg;  /* sums of positive and (absolute) negative valences */
    float afinn;     /* AFINN-165 sum (negation flips) */
    float emoji;     /* emoji and emoticon valence sum */
    int caps;        /* ALL-CAPS words among mixed-case text */
    int exclaim;     /* '!' count */
    int question;    /* '?' count */
    int sarcasm;     /* praise words used ironically next to a failure ("great, another delay") */
    int fail;        /* stated failures: problem words not negated ("lost", "cancelled") */
    int neg_fail;    /* negated problem words ("wasn't late") */
    int still_again; /* "still", "again", "yet another" */
    int neg_verb;    /* negated service verbs ("never arrived", "didn't work") */
    int duration;    /* durations ("3 days", "2hrs") */
    int you;         /* second-person address */
    int resolved;    /* a problem reported solved or a customer satisfied ("refunded", "thanked") */
} cx_valence_score;

/* Scores text[len]; never allocates. */
void cx__valence_score(const cx_valence *v, const char *text, size_t len, cx_valence_score *out);

/* True when w[n] (folded) is a negator ("not", "never", "didnt"). */
int cx__valence_negator(const cx_valence *v, const char *w, size_t n);

/* The length of w[n]'s negating prefix ("un", "in", "im", "dis", "non")
 * when the rest, of 4 letters or more, is a word of positive feeling in the
 * lexicons and w is not ("unhelpful", "dissatisfied", "impolite"), so that w
 * reads as "not <rest>"; 0 otherwise, and for the few words of that shape
 * that negate nothing ("display", "insurer", "unlike"). w is folded. */
size_t cx__valence_negating_prefix(const cx_valence *v, const char *w, size_t n);

/* The sentiment the lexicons and cues give on their own (no model):
 * a stated failure is negative, then the compound score decides. */
cx_sentiment cx__valence_sentiment(const cx_valence_score *s, float rule_sentiment);

/* ---- Features ----------------------------------------------------------- */

/* What the rule engine found in an event (input to the features). */
#define CX_HITS_MAX 24
typedef struct cx_rule_hits {
    float phrase[CX_CAT_COUNT];         /* summed phrase weights, negated complaints left out */
    float by_polarity[CX_CAT_COUNT][3]; /* the same split by polarity: complaint, mention, praise */
    float field[CX_CAT_COUNT];          /* summed field-condition weights */
    float sentiment;                    /* the rules' own sentiment sum */
    const char *hit[CX_HITS_MAX];       /* evidence strings of matched phrases and conditions */
    int n_hit;
} cx_rule_hits;

/* The rules' offset to category c's score (see CX_RULE_OFFSET). */
float cx__rule_offset(const cx_rule_hits *hits, int c);

/* How sure the field rules that matched make category c, in [0, 1): at or
 * above CX_CLASSIFY_THRESHOLD they tag it whatever the model says. */
float cx__field_confidence(const cx_rule_hits *hits, int c);

/* The sentiment a model decides: the rating's (rated, unless CX_SENT_COUNT),
 * else the one of score[negative, neutral, positive] that is highest, ties
 * going to negative, then neutral. The scores may be the logits or their
 * softmax. */
cx_sentiment cx__model_sentiment(cx_sentiment rated, const float score[3]);

/* Feature groups: a group's values are scaled together once its size is known. */
typedef enum cx_feature_group {
    CX_FG_DENSE = 0,
    CX_FG_WORD,
    CX_FG_CHAR,
    CX_FG_COUNT
} cx_feature_group;

/* Receives one feature: its bucket, group, raw value and, for readable
 * features, a name (NULL for character n-grams). */
typedef void (*cx_feature_fn)(void *ctx, uint32_t bucket, cx_feature_group g, float value,
                              const char *name, size_t name_len);

/* Takes over a word's character n-grams (e.g. from a cache); returns how many
 * features they are. key is the word's FNV-1a hash with its lowest bit set. */
typedef int (*cx_chars_fn)(void *ctx, const char *word, size_t n, uint64_t key);

/* Calls fn once per feature of ev; fills counts[] (features per group) and *vs.
 * With chars, each word's character n-grams go to chars instead of fn.
 * With rules, the rule engine of that classifier runs on the words the text
 * features read (one pass over the text for both) and fills *tags and *hits
 * before the features that use them; without, *hits are the caller's (tags
 * unused). */
void cx__features(const cx_classifier *rules, const cx_valence *val, const cx_event *ev,
                  cx_tags *tags, cx_rule_hits *hits, cx_feature_fn fn, cx_chars_fn chars, void *ctx,
                  int counts[CX_FG_COUNT], cx_valence_score *vs);

/* The words of text[len] as the features' pass reads them for the rules of
 * that classifier, into *words; 0 when that pass leaves them to the rules'
 * own scan (cx__features() then scans), 1 otherwise. For tests. */
int cx__features_words(const cx_classifier *rules, const char *text, size_t len,
                       cx_lex_words *words);

/* Calls fn for each character n-gram of word[n]; returns how many. */
int cx__char_ngrams(const char *word, size_t n, cx_feature_fn fn, void *ctx);

/* The factor applied to every value of group g given the group sizes. */
float cx__feature_scale(cx_feature_group g, const int counts[CX_FG_COUNT]);

/* ---- Model -------------------------------------------------------------- */

typedef struct cx_model cx_model;

/* Reads a model file from memory; origin names it in errors. Rejects a bad
 * magic, version, size or checksum with a message naming origin. */
cx_status cx__model_load(cx_model **out, const unsigned char *data, size_t len, const char *origin,
                         char *err, size_t errlen);
/* Reads a model file from path (see cx__model_load); CX_CLASSIFIER_BUILTIN
 * ("default") is the built-in model (*out NULL when none was built in). */
cx_status cx__model_read(cx_model **out, const char *path, char *err, size_t errlen);
void cx__model_free(cx_model *m);

/* The FNV-1a 64-bit checksum that ends a model file, of its n bytes before it. */
uint64_t cx__model_checksum(const unsigned char *p, size_t n);

/* "cxm<format>-<12 hex digits of the checksum>"; borrowed. */
const char *cx__model_version(const cx_model *m);

/* Fills w (CX_MODEL_BUCKETS x CX_MODEL_STRIDE floats) with the model's
 * weights. */
void cx__model_weights(const cx_model *m, float *w);
/* The readable name of a bucket ("model:<name>") or NULL. */
const char *cx__model_name(const cx_model *m, uint32_t bucket);

/* The logit of a category's decision threshold on its probability. */
float cx__model_threshold_logit(const cx_model *m, int cat);

/* The model's verdict on one event. */
typedef struct cx_model_out {
    float z[CX_MODEL_OUT];                    /* raw scores */
    /* the strongest readable features: buckets and prints of their names */
    uint32_t top[CX_CAT_COUNT][CX_MODEL_TOP];
    uint32_t print[CX_CAT_COUNT][CX_MODEL_TOP];
    int n_top[CX_CAT_COUNT];
    cx_valence_score vs;
} cx_model_out;

/* The name of out's k-th strongest readable feature for category cat
 * ("model:<name>"), or NULL when the model has no name for its bucket or keeps
 * the name of another feature that shares the bucket. */
const char *cx__model_top_name(const cx_model *m, const cx_model_out *out, int cat, int k);

/* Scores ev with clf's model (which must be set), running clf's rules on the
 * way (into *tags and *hits, as cx__classifier_rules()); never allocates. */
void cx__model_score(const cx_classifier *clf, const cx_event *ev, cx_tags *tags,
                     cx_rule_hits *hits, cx_model_out *out);

/* Writes a model file: weights w[CX_MODEL_BUCKETS * CX_MODEL_STRIDE], the
 * thresholds, names[] (NULL where unknown) for evidence, the hash of the
 * rule files whose hits were its features (cx__classifier_rules_hash(); 0:
 * not said) and the fingerprint of the feature extractor that made them
 * (cx__features_fingerprint(); 0: not said). */
cx_status cx__model_write(const char *path, const float *w, const float thresholds[CX_CAT_COUNT],
                          const char *const *names, uint64_t rules_hash, uint64_t features,
                          char *err, size_t errlen);

/* The hash of the rule files the model was trained with, as 16 hex digits,
 * or NULL for a model that does not say (the built-in one, and models
 * written before the file kept it). */
const char *cx__model_rules(const cx_model *m);

/* The fingerprint of the feature extractor the model was trained with, as
 * 16 hex digits, or NULL for a model written before the file kept it. */
const char *cx__model_features(const cx_model *m);

/* A fingerprint of what the feature extractor, and the reading of text
 * before it, make of a fixed set of events: the same for every build of the
 * same code and lexicons, another when either changes what the model is
 * given. A model trained with another one was given other features than it
 * is now: its weights mean other things. */
uint64_t cx__features_fingerprint(const cx_valence *val);

/* The hash of clf's rule files (their text, in order), which a model trained
 * with them keeps. */
uint64_t cx__classifier_rules_hash(const cx_classifier *clf);

/* ---- Inside the classifier ---------------------------------------------- */

/* The files with per-thread working memory, a part each. */
typedef enum cx_scratch_part {
    CX_SCRATCH_RULES,    /* classify.c */
    CX_SCRATCH_FEATURES, /* features.c */
    CX_SCRATCH_VALENCE,  /* valence.c */
    CX_SCRATCH_MODEL,    /* model.c */
    CX_SCRATCH_TEXT,     /* text.c: what is read of a text */
    CX_SCRATCH_TURNS,    /* text.c: a transcript's customer turns */
    CX_SCRATCH_PARTS
} cx_scratch_part;

/* The calling thread's `part` (`size` bytes, the same at every call for a
 * part): zeroed when the thread first asks for it, freed when the thread
 * ends, so threads that never classify (HTTP connections, librdkafka's)
 * carry none of it. Never NULL: when it cannot be allocated the process
 * ends with a message, as classifying promises a result. */
void *cx__scratch(cx_scratch_part part, size_t size);

/* Runs the rule files over ev: fills *hits and the rule part of *tags.
 * words: ev's text as cx__lex_words() scans it with clf's lexicon, or NULL
 * (then the text is scanned here). */
void cx__classifier_rules(const cx_classifier *clf, const cx_event *ev, const cx_lex_words *words,
                          cx_tags *tags, cx_rule_hits *hits);
const cx_lexicon *cx__classifier_lexicon(const cx_classifier *clf);
const cx_valence *cx__classifier_valence(const cx_classifier *clf);
/* The classifier's model, or NULL. */
const cx_model *cx__classifier_model(const cx_classifier *clf);
/* The rating's sentiment by the labeling guide's table; CX_SENT_COUNT if the
 * event has no rating (the rating feature's band is the same). */
cx_sentiment cx__rating_sentiment(const cx_event *ev);

#endif /* CX_MODEL_H */
