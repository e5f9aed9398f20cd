/*
 * test_model.c - the learned part of the classifier: features, training
 * (deterministic, learns what it is shown), the model file (round trip,
 * damaged files rejected with a clear error), the sentiment lexicons'
 * heuristics (negation, contrast, sarcasm, stated failures, caps, emoji),
 * how the model combines with field rules, ratings and evidence, and that
 * the per-thread caches of recent words never change a verdict.
 * Every text here was written for this test.
 */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classify.h"
#include "model.h"
#include "tmpdir.h"

static void parse(cx_event *ev, const char *json)
{
    char err[512];
    cr_assert_eq(cx_event_parse(ev, json, strlen(json), err, sizeof err), CX_OK, "%s: %s", json,
                 err);
}

/* An event with the given text (no rating), put in JSON as it is but for a
 * line break, which is escaped. */
static void text_event(cx_event *ev, const char *text)
{
    char json[1024], body[512];
    size_t n = 0;
    for (const char *p = text; *p && n + 2 < sizeof body; p++) {
        if (*p == '\n')
            body[n++] = '\\', body[n++] = 'n';
        else
            body[n++] = *p;
    }
    body[n] = '\0';
    snprintf(json, sizeof json,
             "{\"event_id\":\"t\",\"occurred_at\":\"2025-01-01T00:00:00Z\",\"text\":\"%s\"}", body);
    parse(ev, json);
}

/* ---- Lexicons and cues ------------------------------------------------------ */

static cx_valence *val;

static void valence_setup(void)
{
    char err[256];
    cr_assert_eq(cx__valence_new(&val, err, sizeof err), CX_OK, "%s", err);
}

static void valence_teardown(void)
{
    cx__valence_free(val);
}

static cx_valence_score score(const char *text)
{
    cx_valence_score s;
    cx__valence_score(val, text, strlen(text), &s);
    return s;
}

TestSuite(cx_valence, .init = valence_setup, .fini = valence_teardown);

Test(cx_valence, negation_flips_within_its_scope)
{
    cr_assert_gt(score("the technician was helpful").compound, 0.05f);
    cr_assert_lt(score("the technician was not helpful").compound, -0.05f);
    cr_assert_lt(score("the technician wasn't helpful").compound, -0.05f);
    /* a clause break ends the scope */
    cr_assert_gt(score("no, the technician was helpful").compound, 0.05f);
}

Test(cx_valence, contrast_weights_the_clause_after_but)
{
    cr_assert_lt(score("the lounge was lovely but the wifi was awful and slow").compound, -0.05f);
    cr_assert_gt(score("the wait was annoying but the nurse was wonderful and kind").compound,
                 0.05f);
}

Test(cx_valence, caps_exclamations_and_boosters_intensify)
{
    float plain = score("the driver was rude").compound;
    cr_assert_lt(score("the driver was RUDE").compound, plain);
    cr_assert_lt(score("the driver was rude!!!").compound, plain);
    cr_assert_lt(score("the driver was extremely rude").compound, plain);
    cr_assert_eq(score("the driver was RUDE").caps, 1);
}

Test(cx_valence, emoji_and_emoticons_count)
{
    cr_assert_lt(score("my order \xF0\x9F\x98\xA1").compound, -0.05f); /* pouting face */
    cr_assert_gt(score("got my order :)").compound, 0.05f);
    cr_assert_lt(score("got my order :(").compound, -0.05f);
}

/* U+2764 (heavy black heart) and U+2639 (frowning face) are often followed by
 * U+FE0F, the selector that asks for their emoji form; the lexicon lists them
 * with it. Read with or without it, alone, repeated or next to a word. */
Test(cx_valence, an_emoji_reads_the_same_with_its_presentation_selector)
{
#define HEART "\xE2\x9D\xA4"
#define FROWN "\xE2\x98\xB9"
#define FE0F "\xEF\xB8\x8F"
    static const char *const pairs[][2] = {
        {"the flight " HEART, "the flight " HEART FE0F},
        {"the flight " HEART HEART, "the flight " HEART FE0F HEART FE0F},
        {"the flight!" HEART, "the flight!" HEART FE0F},
        {"the flight " FROWN, "the flight " FROWN FE0F},
        {"the flight " FROWN FROWN, "the flight " FROWN FE0F FROWN FE0F},
        {"the flight!" FROWN, "the flight!" FROWN FE0F},
    };
#undef HEART
#undef FROWN
#undef FE0F
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        float bare = score(pairs[i][0]).compound, selected = score(pairs[i][1]).compound;
        if (i < 3)
            cr_expect_gt(bare, 0.05f, "%s", pairs[i][0]);
        else
            cr_expect_lt(bare, -0.05f, "%s", pairs[i][0]);
        cr_expect_float_eq(selected, bare, 1e-6f, "%s: %f, without U+FE0F %f", pairs[i][1],
                           selected, bare);
    }
}

Test(cx_valence, words_joined_by_an_ellipsis_or_a_dash_are_read_apart)
{
    /* as they are read with a space after the joint */
    const char *joined[][2] = {
        {"the food was great...the service awful", "the food was great... the service awful"},
        {"Wow--great customer service! Thank you!", "Wow-- great customer service! Thank you!"},
        {"lovely\xE2\x80\xA6thanks", "lovely\xE2\x80\xA6 thanks"},         /* horizontal ellipsis */
        {"awful\xE2\x80\x94never again", "awful\xE2\x80\x94 never again"}, /* em dash */
    };
    for (size_t i = 0; i < sizeof joined / sizeof joined[0]; i++) {
        cx_valence_score a = score(joined[i][0]), b = score(joined[i][1]);
        cr_assert_float_eq(a.compound, b.compound, 1e-6f, "%s", joined[i][0]);
        cr_assert_eq(a.pos, b.pos, "%s", joined[i][0]);
        cr_assert_eq(a.neg, b.neg, "%s", joined[i][0]);
    }
    cr_assert_gt(score("Wow--great customer service! Thank you!").compound, 0.5f);
    /* one hyphen or one dot joins a word ("well-known", "e.g") */
    cr_assert_float_eq(score("a well-known brand").compound, score("a wellknown brand").compound,
                       1e-6f);
}

Test(cx_valence, sarcasm_next_to_a_failure_is_negative)
{
    cx_valence_score s = score("Great, the shuttle is cancelled again. Wonderful.");
    cr_assert_gt(s.sarcasm, 0);
    cr_assert_eq(cx__valence_sentiment(&s, 0), CX_SENT_NEGATIVE);
    /* the same praise word without a failure is praise */
    s = score("Great, the shuttle was spotless.");
    cr_assert_eq(s.sarcasm, 0);
    cr_assert_eq(cx__valence_sentiment(&s, 0), CX_SENT_POSITIVE);
}

Test(cx_valence, a_stated_failure_is_negative_without_emotional_words)
{
    const char *texts[] = {"my suitcase never showed up", "the parcel still has not arrived",
                           "invoice came with the wrong amount", "train cancelled again"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        cx_valence_score s = score(texts[i]);
        cr_assert_eq(cx__valence_sentiment(&s, 0), CX_SENT_NEGATIVE, "%s", texts[i]);
    }
    cx_valence_score s = score("the plumber wasn't late at all");
    cr_assert_eq(s.fail, 0);
    cr_assert_gt(s.neg_fail, 0);
    s = score("where do I change my billing address");
    cr_assert_eq(cx__valence_sentiment(&s, 0), CX_SENT_NEUTRAL);
}

Test(cx_valence, durations_and_second_person_are_cues)
{
    cx_valence_score s = score("you kept me on hold for 45 minutes and then 2hrs more");
    cr_assert_eq(s.duration, 2);
    cr_assert_gt(s.you, 0);
}

/* ---- Features --------------------------------------------------------------- */

typedef struct fl {
    uint32_t b[4096];
    float v[4096];
    int n;
} fl;

static void collect(void *ctx, uint32_t bucket, cx_feature_group g, float value, const char *name,
                    size_t name_len)
{
    fl *f = ctx;
    (void)g;
    (void)name;
    (void)name_len;
    cr_assert_lt(bucket, CX_MODEL_BUCKETS);
    if (f->n < 4096) {
        f->b[f->n] = bucket;
        f->v[f->n++] = value;
    }
}

/* Gives fn(ctx, ...) each feature of an event with text (no rules). */
static void each_feature(const char *text, cx_feature_fn fn, void *ctx)
{
    cx_event ev;
    cx_rule_hits hits;
    cx_valence_score vs;
    int counts[CX_FG_COUNT];
    memset(&hits, 0, sizeof hits);
    text_event(&ev, text);
    cx__features(NULL, val, &ev, NULL, &hits, fn, NULL, ctx, counts, &vs);
    cx_event_clear(&ev);
}

static void features_of(const char *text, fl *f)
{
    memset(f, 0, sizeof *f);
    each_feature(text, collect, f);
}

/* a and b are the same features, in the same order, with the same values. */
static void assert_same_features(const fl *a, const fl *b)
{
    cr_assert_eq(a->n, b->n);
    cr_assert_eq(memcmp(a->b, b->b, sizeof(uint32_t) * (size_t)a->n), 0);
    cr_assert_eq(memcmp(a->v, b->v, sizeof(float) * (size_t)a->n), 0);
}

static int shared(const fl *a, const fl *b)
{
    int n = 0;
    for (int i = 0; i < a->n; i++)
        for (int j = 0; j < b->n; j++)
            if (a->b[i] == b->b[j]) {
                n++;
                break;
            }
    return n;
}

Test(cx_valence, features_are_deterministic_and_robust_to_inflection)
{
    static fl a, b, c;
    features_of("the courier delayed my parcels", &a);
    features_of("the courier delayed my parcels", &b);
    assert_same_features(&a, &b);
    /* "delays"/"parcel" share character n-grams with "delayed"/"parcels" */
    features_of("the courier delays my parcel", &c);
    cr_assert_gt(shared(&a, &c), a.n / 2);
    cr_assert_lt(shared(&a, &c), a.n);
}

Test(cx_valence, a_word_counts_once_however_often_it_recurs)
{
    /* numbers fold to "00": a list of them is one word, one pair and the
     * word's character n-grams, as often as it recurs */
    static fl two, many;
    features_of("lines: 12 34", &two);
    features_of("lines: 12 34 56 78 90 13 57 91 35 79 24 68", &many);
    assert_same_features(&many, &two);
}

Test(cx_valence, the_word_after_a_link_is_read_whole)
{
    /* a link cut off inside a multi-byte character ("https\u2026") is skipped
     * like any other, up to the next space: the next word is read whole and
     * the character's bytes are no emoji */
    static fl cut, whole;
    features_of("truncated https\xE2\x80\xA6 great, the courier lost it", &cut);
    features_of("truncated https://x.example/a great, the courier lost it", &whole);
    assert_same_features(&cut, &whole);
}

Test(cx_valence, a_negated_word_is_a_different_feature)
{
    static fl pos, neg;
    features_of("late", &pos);
    features_of("not late", &neg);
    /* "late" as a word appears in the first, only "not late"'s negated form in the second */
    int plain_late_in_neg = 0;
    for (int i = 0; i < pos.n; i++)
        for (int j = 0; j < neg.n; j++)
            plain_late_in_neg += pos.b[i] == neg.b[j];
    cr_assert_lt(plain_late_in_neg, pos.n);
}

/* ctx: a name to look for, and whether a feature of that name was emitted. */
typedef struct name_hunt {
    const char *name;
    int found;
} name_hunt;

static void hunt(void *ctx, uint32_t bucket, cx_feature_group g, float value, const char *name,
                 size_t name_len)
{
    name_hunt *h = ctx;
    (void)bucket, (void)g, (void)value;
    if (name != NULL && name_len == strlen(h->name) && memcmp(name, h->name, name_len) == 0)
        h->found = 1;
}

/* True when the features of text include one named name. */
static int has_feature(const char *text, const char *name)
{
    name_hunt h = {name, 0};
    each_feature(text, hunt, &h);
    return h.found;
}

Test(cx_valence, a_negating_prefix_reads_as_not)
{
    /* "unsatisfied" is "not satisfied" to the model as well as itself: its
     * character n-grams are those of "satisfied", which alone read as praise */
    static const char *const negations[][3] = {
        {"very unsatisfied", "unsatisfied", "not:satisfied"},
        {"Dissatisfied.", "dissatisfied", "not:satisfied"},
        {"unhelpful staff", "unhelpful", "not:helpful"},
        {"an impolite agent", "impolite", "not:polite"},
        {"UNCOMFORTABLE seats", "uncomfortable", "not:comfortable"}};
    for (size_t i = 0; i < sizeof negations / sizeof negations[0]; i++) {
        const char *text = negations[i][0], *word = negations[i][1], *negation = negations[i][2];
        cr_assert(has_feature(text, negation), "%s: no %s", text, negation);
        cr_assert(has_feature(text, word), "%s: no %s", text, word);
    }
    /* the same shape that negates nothing, or a word not of positive feeling */
    static const char *const others[][2] = {
        {"the display is great", "not:play"}, {"my insurer", "not:surer"},
        {"unlike the last one", "not:like"},  {"unlimited data", "not:limited"},
        {"an unusual smell", "not:usual"},    {"intense", "not:tense"}};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        cr_assert_not(has_feature(others[i][0], others[i][1]), "%s: has %s", others[i][0],
                      others[i][1]);
    /* negated already: "not unhappy" is not read as "not happy" */
    cr_assert_not(has_feature("not unhappy", "not:happy"));
    cr_assert(has_feature("not unhappy", "not:unhappy"));
}

/* Every readable feature's name is whole UTF-8 (it is evidence, which
 * PostgreSQL takes as text): a long value is cut between characters. ctx
 * counts the names that hold the value's character. */
static void collect_utf8(void *ctx, uint32_t bucket, cx_feature_group g, float value,
                         const char *name, size_t name_len)
{
    (void)bucket, (void)g, (void)value;
    if (name == NULL) /* a feature without a readable name: nothing to check */
        return;
    for (size_t i = 0; i + 3 <= name_len; i++)
        if (memcmp(name + i, "\xe5\xae\xa2", 3) == 0) {
            ++*(int *)ctx;
            break;
        }
    const unsigned char *p = (const unsigned char *)name, *end = p + name_len;
    while (p < end) {
        size_t n = *p < 0x80 ? 1 : cx_utf8_sequence(p, end);
        cr_assert_neq(n, 0, "%.*s is cut inside a character", (int)name_len, name);
        p += n;
    }
}

Test(cx_valence, a_long_field_value_is_named_in_whole_characters)
{
    char json[1024] = "{\"event_id\":\"t\",\"occurred_at\":\"2025-01-01T00:00:00Z\","
                      "\"text\":\"x\",\"touchpoint\":\"";
    for (int i = 0; i < 55; i++)
        strcat(json, "\xe5\xae\xa2"); /* 客 */
    strcat(json, "\"}");
    cx_event ev;
    cx_rule_hits hits;
    cx_valence_score vs;
    int counts[CX_FG_COUNT];
    memset(&hits, 0, sizeof hits);
    parse(&ev, json);
    int named = 0;
    cx__features(NULL, val, &ev, NULL, &hits, collect_utf8, NULL, &named, counts, &vs);
    cr_assert_gt(named, 0, "no feature named after the touchpoint: nothing was checked");
    cx_event_clear(&ev);
}

/* The "sections:" feature cx__features() emits for text, or "" for none. */
static char section_seen[64];

static void collect_section(void *ctx, uint32_t bucket, cx_feature_group g, float value,
                            const char *name, size_t name_len)
{
    (void)ctx, (void)bucket, (void)g, (void)value;
    if (name != NULL && name_len > 9 && memcmp(name, "sections:", 9) == 0) {
        cr_assert_eq(section_seen[0], '\0', "two section features");
        cr_assert_lt(name_len, sizeof section_seen);
        memcpy(section_seen, name, name_len);
        section_seen[name_len] = '\0';
    }
}

static const char *section_feature(const char *text)
{
    section_seen[0] = '\0';
    each_feature(text, collect_section, NULL);
    return section_seen;
}

Test(cx_valence, a_pros_and_cons_text_gives_the_balance_of_its_parts)
{
    /* the headers say which part is which, whatever the words in it */
    cr_assert_str_eq(
        section_feature("Liked: Location Disliked: Cost for car parking and the long wait"),
        "sections:cons longer");
    cr_assert_str_eq(section_feature("PROS: quiet, big screen. CONS: battery"),
                     "sections:pros a bit longer");
    cr_assert_str_eq(section_feature("Pros: fast delivery Cons: pricey packaging"),
                     "sections:even");
    /* a part that says only "nothing" is empty */
    cr_assert_str_eq(section_feature("Liked: Nothing Disliked: the room was not cleaned once in a "
                                     "week and nobody at the desk cared"),
                     "sections:cons much longer");
    cr_assert_str_eq(section_feature("Liked: Staff were lovely Disliked: nothing at all"),
                     "sections:pros longer");
    /* one header alone, a header without its colon, or none: no such feature */
    cr_assert_str_eq(section_feature("Disliked: the noise from the bar"), "");
    cr_assert_str_eq(section_feature("I liked the room but disliked the noise"), "");
    cr_assert_str_eq(section_feature("good service, bad coffee"), "");
}

/* ---- Training and the model file ------------------------------------------ */

/* Synthetic labeled events: each category has its own vocabulary. */
static const struct {
    const char *text;
    unsigned cats;
    cx_sentiment sent;
} samples[] = {
    {"the clerk at the counter was rude to me", 1u << CX_CAT_FACING, CX_SENT_NEGATIVE},
    {"friendly clerk, very patient with my questions", 1u << CX_CAT_FACING, CX_SENT_POSITIVE},
    {"the receptionist ignored us for ages", 1u << CX_CAT_FACING, CX_SENT_NEGATIVE},
    {"lovely receptionist, thank you", 1u << CX_CAT_FACING, CX_SENT_POSITIVE},
    {"my statement shows a double fee", 1u << CX_CAT_COLLABORATIVE, CX_SENT_NEGATIVE},
    {"the portal rejects my password every time", 1u << CX_CAT_COLLABORATIVE, CX_SENT_NEGATIVE},
    {"statement fee reversed quickly, nice", 1u << CX_CAT_COLLABORATIVE, CX_SENT_POSITIVE},
    {"portal update makes paying easy", 1u << CX_CAT_COLLABORATIVE, CX_SENT_POSITIVE},
    {"the haulier dented the crate", 1u << CX_CAT_EXTERNAL, CX_SENT_NEGATIVE},
    {"haulier crew dropped the pallet", 1u << CX_CAT_EXTERNAL, CX_SENT_NEGATIVE},
    {"the subcontractor left rubble everywhere", 1u << CX_CAT_EXTERNAL, CX_SENT_NEGATIVE},
    {"subcontractor team was careful", 1u << CX_CAT_EXTERNAL, CX_SENT_POSITIVE},
    {"shipment came nine days behind schedule", 1u << CX_CAT_PERFORMANCE, CX_SENT_NEGATIVE},
    {"only four of ten boxes showed up", 1u << CX_CAT_PERFORMANCE, CX_SENT_NEGATIVE},
    {"service window missed twice this month", 1u << CX_CAT_PERFORMANCE, CX_SENT_NEGATIVE},
    {"behind schedule again, nine days", 1u << CX_CAT_PERFORMANCE, CX_SENT_NEGATIVE},
    {"the soup tasted of nothing much", 0, CX_SENT_NEUTRAL},
    {"what time do you open on sundays", 0, CX_SENT_NEUTRAL},
};

static void add_all(cx_trainer *t, int rounds)
{
    char err[256], text[256];
    static const char *const filler[] = {"", " today", " honestly", " this week", " again"};
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
            cx_event ev;
            snprintf(text, sizeof text, "%s%s", samples[i].text, filler[r % 5]);
            text_event(&ev, text);
            cr_assert_eq(cx_trainer_add(t, &ev, samples[i].cats, samples[i].sent, err, sizeof err),
                         CX_OK, "%s", err);
            cx_event_clear(&ev);
        }
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char *buf = malloc(8 << 20);
    *len = fread(buf, 1, 8 << 20, f);
    fclose(f);
    return buf;
}

/* A trainer with opt (NULL: the defaults) over no rules, given the samples
 * five times; *rules must outlive it (free both). */
static cx_trainer *sample_trainer(cx_classifier **rules, const cx_train_options *opt)
{
    cx_trainer *t = NULL;
    char err[256];
    *rules = NULL;
    cr_assert_eq(cx_classifier_new_model(rules, NULL, 0, "none", err, sizeof err), CX_OK, "%s",
                 err);
    cr_assert_eq(cx_trainer_new(&t, *rules, opt, err, sizeof err), CX_OK, "%s", err);
    add_all(t, 5);
    cr_assert_eq(cx_trainer_count(t), 5 * sizeof samples / sizeof samples[0]);
    return t;
}

/* Trains on the samples with opt (NULL: the defaults) into path. */
static void train_with(const char *path, const cx_train_options *opt)
{
    cx_classifier *rules;
    cx_trainer *t = sample_trainer(&rules, opt);
    char err[256];
    cr_assert_eq(cx_trainer_write(t, path, err, sizeof err), CX_OK, "%s", err);
    cx_trainer_free(t);
    cx_classifier_free(rules);
}

/* The weights of the model file at path, CX_MODEL_BUCKETS x CX_MODEL_STRIDE
 * (free them). */
static float *weights_of(const char *path)
{
    cx_model *m;
    char err[512];
    cr_assert_eq(cx__model_read(&m, path, err, sizeof err), CX_OK, "%s", err);
    float *w = malloc((size_t)CX_MODEL_BUCKETS * CX_MODEL_STRIDE * sizeof *w);
    cr_assert_not_null(w);
    cx__model_weights(m, w);
    cx__model_free(m);
    return w;
}

/* The feature buckets of text that other lacks, in *own. */
static void own_features(const char *text, const char *other, fl *own)
{
    static fl a, b;
    char err[256];
    cr_assert_eq(cx__valence_new(&val, err, sizeof err), CX_OK, "%s", err);
    features_of(text, &a);
    features_of(other, &b);
    cx__valence_free(val);
    val = NULL;
    own->n = 0;
    for (int i = 0; i < a.n; i++) {
        int in_both = 0;
        for (int k = 0; k < b.n && !in_both; k++)
            in_both = a.b[i] == b.b[k];
        if (!in_both)
            own->b[own->n++] = a.b[i];
    }
}

TestSuite(cx_model, .init = make_dir, .fini = remove_dir);

Test(cx_model, training_is_deterministic)
{
    char a[256], b[256];
    snprintf(a, sizeof a, "%s/a.cxm", dir);
    snprintf(b, sizeof b, "%s/b.cxm", dir);
    train_with(a, NULL);
    train_with(b, NULL);
    size_t la, lb;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    cr_assert_eq(la, lb);
    cr_assert_eq(memcmp(x, y, la), 0, "two trainings on the same data differ");
    cr_assert_lt(la, (size_t)3 << 20);
    free(x);
    free(y);
}

/* Trains on the samples with options a and with options b, and counts the
 * category and the sentiment weights that differ between the two models. */
static void weights_moved(const cx_train_options *a, const cx_train_options *b, size_t *cat_diff,
                          size_t *sent_diff)
{
    char pa[256], pb[256];
    snprintf(pa, sizeof pa, "%s/a.cxm", dir);
    snprintf(pb, sizeof pb, "%s/b.cxm", dir);
    train_with(pa, a);
    train_with(pb, b);
    size_t cells = (size_t)CX_MODEL_BUCKETS * CX_MODEL_STRIDE;
    float *wa = weights_of(pa), *wb = weights_of(pb);
    *cat_diff = *sent_diff = 0;
    for (size_t i = 0; i < cells; i++)
        if (wa[i] != wb[i])
            *(i % CX_MODEL_STRIDE < CX_CAT_COUNT ? cat_diff : sent_diff) += 1;
    free(wa);
    free(wb);
}

/* Asserts that cx_trainer_new refuses opt with exactly the message want. */
static void expect_refused(const cx_train_options *opt, const char *want)
{
    char err[256];
    cx_classifier *rules = NULL;
    cx_trainer *t = NULL;
    cr_assert_eq(cx_classifier_new_model(&rules, NULL, 0, "none", err, sizeof err), CX_OK, "%s",
                 err);
    cr_assert_eq(cx_trainer_new(&t, rules, opt, err, sizeof err), CX_ERR_USAGE);
    cr_assert_str_eq(err, want);
    cx_classifier_free(rules);
}

/* Dropout changes how the feeling is learned, not the categories: the
 * category weights are the same with and without it, the sentiment ones not;
 * a share outside [0, 0.9] is refused by name. */
Test(cx_model, sentiment_dropout_leaves_the_categories_alone)
{
    cx_train_options plain, dropout;
    cx_train_options_default(&plain);
    plain.dropout_sent = 0;
    dropout = plain;
    dropout.dropout_sent = 0.5f;
    size_t cat_diff, sent_diff;
    weights_moved(&plain, &dropout, &cat_diff, &sent_diff);
    cr_assert_eq(cat_diff, 0, "%zu category weights moved with sentiment dropout", cat_diff);
    cr_assert_gt(sent_diff, 0, "sentiment dropout changed nothing");
    dropout.dropout_sent = 0.95f;
    expect_refused(&dropout, "sentiment dropout 0.95 is not from 0 to 0.9");
}

/* Balancing weighs each category's own events, not the feeling: with it the
 * category weights differ from plain training and the sentiment ones are the
 * same; a balance outside [0, 1] is refused by name. */
Test(cx_model, balance_weighs_the_categories_and_leaves_the_sentiment_alone)
{
    cx_train_options plain, balanced;
    cx_train_options_default(&balanced);
    cr_assert_eq(balanced.balance, 1.0f, "training is balanced by default");
    plain = balanced;
    plain.balance = 0;
    size_t cat_diff, sent_diff;
    weights_moved(&plain, &balanced, &cat_diff, &sent_diff);
    cr_assert_gt(cat_diff, 0, "balance changed no category weight");
    cr_assert_eq(sent_diff, 0, "%zu sentiment weights moved with balance", sent_diff);
    balanced.balance = 1.5f;
    expect_refused(&balanced, "balance 1.5 is not from 0 to 1");
}

/* The report estimates, out of fold, how the model does on more events like
 * the ones it learned from: on events each category's words tell apart, it
 * finds each category and the feeling. */
Test(cx_model, the_report_says_what_training_made_of_the_events)
{
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/m.cxm", dir);
    cx_classifier *rules;
    cx_trainer *t = sample_trainer(&rules, NULL);
    cx_train_report rep;
    cx_trainer_report(t, &rep);
    cr_assert_eq(rep.sentiment_accuracy, -1.0f, "no figures before training");
    cr_assert_eq(cx_trainer_write(t, path, err, sizeof err), CX_OK, "%s", err);
    cx_trainer_report(t, &rep);
    for (int c = 0; c < CX_CAT_COUNT; c++) {
        cr_assert_eq(rep.labeled[c], 20, "%s", cx_category_name((cx_category)c));
        cr_assert_eq(rep.chosen[c], 1);
        cr_assert_geq(rep.f1[c], 0.9f, "%s: F1 %f", cx_category_name((cx_category)c), rep.f1[c]);
    }
    cr_assert_geq(rep.sentiment_accuracy, 0.9f, "%f", rep.sentiment_accuracy);
    cx_trainer_free(t);
    cx_classifier_free(rules);
}

/* Events whose categories nobody labeled (a review known by its stars) teach
 * the feeling alone: the words only they have get sentiment weights and no
 * category weight, and the report's category counts leave them out. */
Test(cx_model, events_labeled_with_sentiment_only_teach_the_feeling_alone)
{
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/m.cxm", dir);
    cx_classifier *rules;
    cx_trainer *t = sample_trainer(&rules, NULL);
    for (int i = 0; i < 10; i++) {
        cx_event ev;
        text_event(&ev, i % 2 ? "ok zqxv" : "zqxv zqxv");
        cr_assert_eq(
            cx_trainer_add(t, &ev, CX_TRAIN_NO_CATEGORIES, CX_SENT_NEGATIVE, err, sizeof err),
            CX_OK, "%s", err);
        cx_event_clear(&ev);
    }
    cr_assert_eq(cx_trainer_write(t, path, err, sizeof err), CX_OK, "%s", err);
    cx_train_report rep;
    cx_trainer_report(t, &rep);
    cr_assert_eq(rep.sentiment_only, 10);
    for (int c = 0; c < CX_CAT_COUNT; c++) {
        cr_assert_eq(rep.labeled[c], 20, "%s", cx_category_name((cx_category)c));
        cr_assert_geq(rep.f1[c], 0.9f, "%s: F1 %f", cx_category_name((cx_category)c), rep.f1[c]);
    }
    cx_trainer_free(t);
    cx_classifier_free(rules);

    /* the buckets of "zqxv": the features "ok zqxv" has and "ok" has not */
    static fl own;
    own_features("ok zqxv", "ok", &own);
    float *w = weights_of(path);
    int sent_weights = 0;
    for (int i = 0; i < own.n; i++) {
        const float *wb = w + (size_t)own.b[i] * CX_MODEL_STRIDE;
        for (int k = 0; k < CX_CAT_COUNT; k++)
            cr_assert_eq(wb[k], 0.0f, "a category weight of a sentiment-only word: %f", wb[k]);
        for (int k = CX_CAT_COUNT; k < CX_MODEL_OUT; k++)
            sent_weights += wb[k] != 0.0f;
    }
    cr_assert_gt(own.n, 0, "no features of their own");
    cr_assert_gt(sent_weights, 0, "the sentiment-only events taught no sentiment");
    free(w);
}

/* A chat transcript teaches the categories from the whole exchange and the
 * feeling from the customer's turns: a word only the agent says gets
 * category weights and no sentiment weight. It counts as one event. */
Test(cx_model, a_transcript_teaches_the_feeling_from_the_customers_turns)
{
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/m.cxm", dir);
    cx_classifier *rules;
    cx_trainer *t = sample_trainer(&rules, NULL);
    size_t before = cx_trainer_count(t);
    for (int i = 0; i < 10; i++) {
        cx_event ev;
        text_event(&ev, "Customer: wkjh\nAgent: zqxv zqxv\nCustomer: wkjh wkjh");
        cr_assert_eq(cx_trainer_add(t, &ev, 1u << CX_CAT_FACING, CX_SENT_NEGATIVE, err, sizeof err),
                     CX_OK, "%s", err);
        cx_event_clear(&ev);
    }
    cr_assert_eq(cx_trainer_count(t), before + 10);
    cr_assert_eq(cx_trainer_write(t, path, err, sizeof err), CX_OK, "%s", err);
    cx_train_report rep;
    cx_trainer_report(t, &rep);
    cr_assert_eq(rep.sentiment_only, 0);
    cr_assert_eq(rep.labeled[CX_CAT_FACING], 30);
    cx_trainer_free(t);
    cx_classifier_free(rules);

    /* the buckets of the agent's "zqxv" that the customer's turn lacks */
    static fl own;
    own_features("zqxv zqxv", "wkjh wkjh", &own);
    float *w = weights_of(path);
    int cat_weights = 0;
    for (int i = 0; i < own.n; i++) {
        const float *wb = w + (size_t)own.b[i] * CX_MODEL_STRIDE;
        cat_weights += wb[CX_CAT_FACING] != 0.0f;
        for (int k = CX_CAT_COUNT; k < CX_MODEL_OUT; k++)
            cr_assert_eq(wb[k], 0.0f, "a sentiment weight of the agent's word: %f", wb[k]);
    }
    cr_assert_gt(own.n, 0, "no features of their own");
    cr_assert_gt(cat_weights, 0, "the agent's words taught no category");
    free(w);
}

/* A threshold is chosen for a category only from enough events that have it:
 * adapting on fewer keeps the base model's, training anew gives 0.5; either
 * way the trainer's report says which, and counts each category's events. */
Test(cx_model, a_category_too_few_events_have_keeps_its_base_threshold)
{
    char base[256], adapted[256], err[512];
    snprintf(base, sizeof base, "%s/base.cxm", dir);
    snprintf(adapted, sizeof adapted, "%s/adapted.cxm", dir);
    /* a base model whose thresholds are far from 0.5 */
    train_with(base, NULL);
    float *w = weights_of(base);
    const char **names = calloc(CX_MODEL_BUCKETS, sizeof *names);
    cr_assert_not_null(names);
    const float base_th[CX_CAT_COUNT] = {0.6f, 0.7f, 0.8f, 0.9f};
    cr_assert_eq(cx__model_write(base, w, base_th, names, 0, 0, err, sizeof err), CX_OK, "%s", err);
    free(w);
    free(names);
    cx_classifier *clf = NULL;
    cr_assert_eq(cx_classifier_new_model(&clf, NULL, 0, base, err, sizeof err), CX_OK, "%s", err);
    for (int from = 1; from >= 0; from--) {
        cx_train_options opt;
        cx_train_options_default(&opt);
        opt.from_model = from;
        cx_trainer *t = NULL;
        cr_assert_eq(cx_trainer_new(&t, clf, &opt, err, sizeof err), CX_OK, "%s", err);
        cx_train_report rep;
        cx_trainer_report(t, &rep);
        cr_assert_eq(rep.threshold[CX_CAT_FACING], -1.0f);
        /* the samples once (4 events of each category), then 6 more facing ones */
        add_all(t, 1);
        for (int i = 0; i < 6; i++) {
            cx_event ev;
            text_event(&ev, samples[i % 2].text);
            cr_assert_eq(
                cx_trainer_add(t, &ev, samples[i % 2].cats, samples[i % 2].sent, err, sizeof err),
                CX_OK, "%s", err);
            cx_event_clear(&ev);
        }
        cx_trainer_report(t, &rep);
        cr_assert_eq(rep.labeled[CX_CAT_FACING], 10);
        cr_assert_eq(rep.labeled[CX_CAT_EXTERNAL], 4);
        cr_assert_eq(cx_trainer_write(t, adapted, err, sizeof err), CX_OK, "%s", err);
        cx_trainer_report(t, &rep);
        cr_assert_eq(rep.chosen[CX_CAT_FACING], 1);
        for (int c = CX_CAT_COLLABORATIVE; c < CX_CAT_COUNT; c++) {
            float want = from ? base_th[c] : 0.5f;
            cr_assert_eq(rep.chosen[c], 0, "%s", cx_category_name((cx_category)c));
            cr_assert_float_eq(rep.threshold[c], want, 1e-5f, "%s: %f, not %f",
                               cx_category_name((cx_category)c), rep.threshold[c], want);
        }
        cx_trainer_free(t);
    }
    cx_classifier_free(clf);
}

Test(cx_model, a_trained_model_round_trips_and_classifies_what_it_learned)
{
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/m.cxm", dir);
    train_with(path, NULL);
    cx_classifier *clf = NULL;
    cr_assert_eq(cx_classifier_new_model(&clf, NULL, 0, path, err, sizeof err), CX_OK, "%s", err);
    cr_assert_not_null(strstr(cx_classifier_version(clf), "+cxm2-"), "%s",
                       cx_classifier_version(clf));
    static const struct {
        const char *text;
        cx_category cat;
    } probes[] = {
        {"that clerk was rude", CX_CAT_FACING},
        {"a double fee on my statement", CX_CAT_COLLABORATIVE},
        {"the haulier dropped it", CX_CAT_EXTERNAL},
        {"boxes came behind schedule", CX_CAT_PERFORMANCE},
    };
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        cx_event ev;
        cx_tags tags;
        text_event(&ev, probes[i].text);
        cx_classifier_classify(clf, &ev, &tags);
        cr_assert_geq(tags.confidence[probes[i].cat], CX_CLASSIFY_THRESHOLD, "%s", probes[i].text);
        cr_assert_eq(tags.order[0], probes[i].cat, "%s", probes[i].text);
        /* the model's strongest features are the evidence */
        cr_assert_gt(tags.n_evidence[probes[i].cat], 0, "%s", probes[i].text);
        int model_evidence = 0;
        for (int k = 0; k < tags.n_evidence[probes[i].cat]; k++)
            model_evidence |= strncmp(tags.evidence[probes[i].cat][k], "model:", 6) == 0;
        cr_assert(model_evidence, "%s", probes[i].text);
        cx_event_clear(&ev);
    }
    /* a different model gives a different rule version */
    cx_classifier *plain = NULL;
    cr_assert_eq(cx_classifier_new_model(&plain, NULL, 0, "none", err, sizeof err), CX_OK);
    cr_assert_null(strstr(cx_classifier_version(plain), "cxm"));
    cr_assert_str_neq(cx_classifier_version(plain), cx_classifier_version(clf));
    cx_classifier_free(plain);
    cx_classifier_free(clf);
}

static void expect_rejected(const char *path, const char *needle)
{
    cx_classifier *clf = NULL;
    char err[512] = "";
    cr_assert_eq(cx_classifier_new_model(&clf, NULL, 0, path, err, sizeof err), CX_ERR_CONFIG);
    cr_assert_null(clf);
    cr_assert_not_null(strstr(err, path), "%s", err);
    cr_assert_not_null(strstr(err, needle), "%s", err);
}

/* Writes len bytes of buf to path. */
static void write_bytes(const char *path, const char *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

Test(cx_model, damaged_model_files_are_rejected_with_a_clear_error)
{
    char path[256], bad[256];
    snprintf(path, sizeof path, "%s/m.cxm", dir);
    snprintf(bad, sizeof bad, "%s/bad.cxm", dir);
    train_with(path, NULL);
    size_t len;
    char *buf = slurp(path, &len);
    /* one flipped bit in the weights */
    buf[len / 2] ^= 0x10;
    write_bytes(bad, buf, len);
    expect_rejected(bad, "checksum mismatch");
    buf[len / 2] ^= 0x10;
    /* cut short */
    write_bytes(bad, buf, len - 100);
    expect_rejected(bad, "checksum mismatch");
    /* something else entirely */
    const char *json = "{\"version\": 1}";
    write_bytes(bad, json, strlen(json));
    expect_rejected(bad, "not a cxpulse model file");
    /* a newer format */
    char format = buf[8];
    buf[8] = 9;
    write_bytes(bad, buf, len);
    expect_rejected(bad, "model format 9");
    buf[8] = format;
    /* trained by a cxpulse that hashed into fewer buckets */
    char bits = buf[12];
    buf[12] = (char)(CX_MODEL_BITS - 2);
    write_bytes(bad, buf, len);
    char want[64];
    snprintf(want, sizeof want, "model has %d hash bits", CX_MODEL_BITS - 2);
    expect_rejected(bad, want);
    expect_rejected(bad, "retrain it with cxpulse train");
    buf[12] = bits;
    /* a scale that is not a positive number, under a checksum that matches:
     * it would flip or erase an output's weights; or one so large that an
     * event's sums overflow (its sentiment came out not a number) */
    const size_t scale_at = 8 + 4 * 3 + 4 * CX_CAT_COUNT; /* the first output's scale */
    const float scales[] = {0.0f, -1.0f, 3e38f, 1.5f};
    float scale;
    memcpy(&scale, buf + scale_at, sizeof scale);
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
        memcpy(buf + scale_at, &scales[s], sizeof scales[s]); /* little-endian, as the file */
        uint64_t h = cx__model_checksum((const unsigned char *)buf, len - 8);
        for (int i = 0; i < 8; i++)
            buf[len - 8 + (size_t)i] = (char)(h >> (8 * i));
        write_bytes(bad, buf, len);
        expect_rejected(bad, "model scale not a number in (0, 1]");
    }
    memcpy(buf + scale_at, &scale, sizeof scale);
    /* a feature name (the last one, before the checksum) that is not UTF-8:
     * names become evidence, stored as text */
    size_t at = len - 9;
    while (at > 0 && !(buf[at] >= 'a' && buf[at] <= 'z'))
        at--;
    buf[at] = (char)0xff;
    uint64_t h = cx__model_checksum((const unsigned char *)buf, len - 8);
    for (int i = 0; i < 8; i++)
        buf[len - 8 + (size_t)i] = (char)(h >> (8 * i));
    write_bytes(bad, buf, len);
    expect_rejected(bad, "is not UTF-8 text");
    snprintf(bad, sizeof bad, "%s/missing.cxm", dir);
    expect_rejected(bad, "cannot open model file");
    /* a directory: refused with the reason */
    expect_rejected(dir, strerror(EISDIR));
    free(buf);
}

/* Training that diverges (a rate far too high) says so and writes nothing,
 * rather than a file the loader would refuse. */
Test(cx_model, training_that_diverges_writes_no_file)
{
    char err[256], path[256];
    snprintf(path, sizeof path, "%s/diverged.cxm", dir);
    cx_train_options opt;
    cx_train_options_default(&opt);
    opt.rate = 1e9f;
    opt.l2 = 1e30f;
    cx_classifier *rules;
    cx_trainer *t = sample_trainer(&rules, &opt);
    cx_status st = cx_trainer_write(t, path, err, sizeof err);
    cr_assert_eq(st, CX_ERR_INVALID, "%s: %s", cx_status_name(st), err);
    cr_assert_not_null(strstr(err, "training diverged"), "%s", err);
    cr_assert_neq(access(path, F_OK), 0);
    cx_trainer_free(t);
    cx_classifier_free(rules);
}

Test(cx_model, too_few_events_to_train)
{
    cx_classifier *rules = NULL;
    cx_trainer *t = NULL;
    char err[256], path[256];
    snprintf(path, sizeof path, "%s/few.cxm", dir);
    cr_assert_eq(cx_classifier_new_model(&rules, NULL, 0, "none", err, sizeof err), CX_OK);
    cr_assert_eq(cx_trainer_new(&t, rules, NULL, err, sizeof err), CX_OK);
    cr_assert_eq(cx_trainer_write(t, path, err, sizeof err), CX_ERR_INVALID);
    cr_assert_not_null(strstr(err, "at least 10"), "%s", err);
    cr_assert_neq(access(path, F_OK), 0);
    cx_trainer_free(t);
    cx_classifier_free(rules);
}

/* ---- The default classifier: rules, model, ratings -------------------------- */

Test(cx_model, field_rules_stay_certain_and_ratings_decide_sentiment)
{
    cx_classifier *clf = NULL;
    char err[512];
    cr_assert_eq(cx_classifier_new(&clf, NULL, 0, err, sizeof err), CX_OK, "%s", err);
    cx_event ev;
    cx_tags tags;
    parse(&ev,
          "{\"event_id\":\"f\",\"occurred_at\":\"2025-01-01T00:00:00Z\","
          "\"text\":\"ok I guess, thanks\",\"rating\":{\"scale\":\"stars\",\"value\":1},"
          "\"attributes\":{\"promised_date\":\"2025-01-02\",\"delivered_date\":\"2025-01-09\"}}");
    cx_classifier_classify(clf, &ev, &tags);
    cr_assert_geq(tags.confidence[CX_CAT_PERFORMANCE], CX_CLASSIFY_THRESHOLD);
    cr_assert_eq(tags.sentiment, CX_SENT_NEGATIVE, "1 star decides");
    cx_event_clear(&ev);
    parse(&ev, "{\"event_id\":\"g\",\"occurred_at\":\"2025-01-01T00:00:00Z\","
               "\"text\":\"the bag never showed up\",\"rating\":{\"scale\":\"nps\",\"value\":10}}");
    cx_classifier_classify(clf, &ev, &tags);
    cr_assert_eq(tags.sentiment, CX_SENT_POSITIVE, "an NPS of 10 decides");
    cx_event_clear(&ev);
    cx_classifier_free(clf);
}

Test(cx_model, a_list_of_numbers_does_not_outweigh_the_sentence)
{
    /* an order's lines pasted under a courier's failure */
    static const char sentence[] = "The courier left the parcel in the rain and the box was "
                                   "soaked through.";
    char json[1024], text[600];
    int n = snprintf(text, sizeof text, "%s Order lines:", sentence);
    for (int i = 0; i < 50; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, " %d", 10 + (i * 37) % 90);
    snprintf(json, sizeof json,
             "{\"event_id\":\"o\",\"occurred_at\":\"2025-01-01T00:00:00Z\",\"text\":\"%s\"}", text);
    cx_classifier *clf = NULL;
    char err[512];
    cr_assert_eq(cx_classifier_new(&clf, NULL, 0, err, sizeof err), CX_OK, "%s", err);
    cx_event ev;
    cx_tags alone, listed;
    text_event(&ev, sentence);
    cx_classifier_classify(clf, &ev, &alone);
    cx_event_clear(&ev);
    parse(&ev, json);
    cx_classifier_classify(clf, &ev, &listed);
    cx_event_clear(&ev);
    cr_assert_geq(alone.confidence[CX_CAT_EXTERNAL], CX_CLASSIFY_THRESHOLD);
    for (int c = 0; c < CX_CAT_COUNT; c++)
        cr_assert_eq(listed.confidence[c] >= CX_CLASSIFY_THRESHOLD,
                     alone.confidence[c] >= CX_CLASSIFY_THRESHOLD, "%s: %.3f alone, %.3f listed",
                     cx_category_name((cx_category)c), alone.confidence[c], listed.confidence[c]);
    cx_classifier_free(clf);
}

Test(cx_model, negated_problems_give_no_label_with_the_rules_alone)
{
    cx_classifier *clf = NULL;
    char err[512];
    cr_assert_eq(cx_classifier_new_model(&clf, NULL, 0, "none", err, sizeof err), CX_OK, "%s", err);
    cx_event ev;
    cx_tags tags;
    text_event(&ev, "the delivery was not late at all");
    cx_classifier_classify(clf, &ev, &tags);
    cr_assert_lt(tags.confidence[CX_CAT_PERFORMANCE], CX_CLASSIFY_THRESHOLD);
    cx_event_clear(&ev);
    cx_classifier_free(clf);
}

Test(cx_model, every_tag_of_the_default_classifier_keeps_evidence)
{
    static const char *const texts[] = {
        "the night porter shouted at my kids",
        "my loyalty points vanished after the site update",
        "the haulage firm dented every crate",
        "parcel arrived nine days after the promised date",
        "great, the ferry is cancelled again",
        "love the new colour of the mugs",
        "where do I find my invoice number",
        "the plumber they subcontracted never showed and nobody answers the phone",
    };
    cx_classifier *clf = NULL;
    char err[512];
    cr_assert_eq(cx_classifier_new(&clf, NULL, 0, err, sizeof err), CX_OK, "%s", err);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        cx_event ev;
        cx_tags tags;
        text_event(&ev, texts[i]);
        cx_classifier_classify(clf, &ev, &tags);
        for (int k = 0; k < tags.n_assigned; k++)
            cr_assert_gt(tags.n_evidence[tags.order[k]], 0, "%s: %s without evidence", texts[i],
                         cx_category_name(tags.order[k]));
        cx_event_clear(&ev);
    }
    cx_classifier_free(clf);
}

/* The model's evidence names what a reader can follow: not a number or a
 * word starting with one ("model:0", "model:0pm", after digits fold to 0)
 * nor a function word ("model:me", "model:at"); the next readable feature
 * is shown instead, and the scores are the same. */
Test(cx_model, evidence_passes_over_numbers_and_function_words)
{
    static const char *const texts[] = {
        "order 12345 for me at 9am was late by 3 days",
        "my 2 bags never came off the 10pm flight",
        "I called at 5pm for my refund of 20 and the agent hung up on me",
        "we waited 45 minutes in the queue and it was our 3rd visit",
        "you said it would be with us on the 14th",
    };
    static const char *const nothing[] = {
        "a",  "an", "the", "me", "my", "i",   "at",  "for",  "of",   "to",   "in",   "on", "and",
        "or", "is", "was", "it", "we", "you", "our", "your", "this", "that", "with", "be", "are"};
    cx_classifier *clf = NULL;
    char err[512];
    cr_assert_eq(cx_classifier_new(&clf, NULL, 0, err, sizeof err), CX_OK, "%s", err);
    int model_items = 0;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        cx_event ev;
        cx_tags tags;
        text_event(&ev, texts[i]);
        cx_classifier_classify(clf, &ev, &tags);
        for (int c = 0; c < CX_CAT_COUNT; c++)
            for (int k = 0; k < tags.n_evidence[c]; k++) {
                const char *e = tags.evidence[c][k];
                if (strncmp(e, "model:", 6) != 0)
                    continue;
                model_items++;
                cr_assert(!(e[6] >= '0' && e[6] <= '9'), "%s: evidence %s", texts[i], e);
                for (size_t w = 0; w < sizeof nothing / sizeof nothing[0]; w++)
                    cr_assert_str_neq(e + 6, nothing[w], "%s: evidence %s", texts[i], e);
            }
        cx_event_clear(&ev);
    }
    cr_assert_gt(model_items, 5, "the model gave hardly any evidence");
    cx_classifier_free(clf);
}

/* ---- Caches of recent words ------------------------------------------------- */

static const char *const cache_texts[] = {
    "the courier LOST my parcel again!!! 3 days late",
    "The Courier lost my parcel, didn't call, never arrived",
    "Große Bestellung: café crème arrived cold \xF0\x9F\x99\x84",
    "supercalifragilisticexpialidociousandthensomemoreletters was wrong",
    "supercalifragilisticexpialidociousandthensomemoreletterz was wrong",
    "great, another delay :( thanks a lot @airline http://example.com/x",
    "not late at all, the agent was lovely and sorted it",
};

static void same_tags(const cx_tags *a, const cx_tags *b, const char *text)
{
    cr_assert_eq(memcmp(a->confidence, b->confidence, sizeof a->confidence), 0, "%s", text);
    cr_assert_eq(a->n_assigned, b->n_assigned, "%s", text);
    cr_assert_eq(memcmp(a->order, b->order, sizeof a->order[0] * (size_t)a->n_assigned), 0, "%s",
                 text);
    cr_assert_eq(a->sentiment, b->sentiment, "%s", text);
    cr_assert_eq(memcmp(&a->sentiment_score, &b->sentiment_score, sizeof(float)), 0, "%s", text);
    for (int c = 0; c < CX_CAT_COUNT; c++) {
        cr_assert_eq(a->n_evidence[c], b->n_evidence[c], "%s", text);
        for (int k = 0; k < a->n_evidence[c]; k++)
            cr_assert_str_eq(a->evidence[c][k], b->evidence[c][k], "%s", text);
    }
}

static void classify_text(const cx_classifier *clf, const char *text, cx_tags *tags)
{
    cx_event ev;
    text_event(&ev, text);
    cx_classifier_classify(clf, &ev, tags);
    cx_event_clear(&ev);
}

#define N_CACHE_TEXTS (sizeof cache_texts / sizeof cache_texts[0])

/* Classifies a text of ~2,500 made-up words of 3 to 6 letters, so that
 * the slots of the word caches are taken by other words of common lengths. */
static void flood(const cx_classifier *clf, unsigned seed)
{
    static char text[14000];
    size_t n = 0;
    for (unsigned i = 0; n + 12 < sizeof text; i++) {
        unsigned x = i * 2654435761u + seed, len = 3 + i % 4;
        for (unsigned k = 0; k < len; k++, x /= 26)
            text[n++] = (char)('a' + x % 26);
        text[n++] = ' ';
    }
    text[n] = '\0';
    char *json = malloc(n + 128);
    cr_assert_not_null(json);
    snprintf(json, n + 128,
             "{\"event_id\":\"f\",\"occurred_at\":\"2025-01-01T00:00:00Z\",\"text\":\"%s\"}", text);
    cx_event ev;
    cx_tags tags;
    parse(&ev, json);
    cx_classifier_classify(clf, &ev, &tags);
    cx_event_clear(&ev);
    free(json);
}

typedef struct cache_run {
    const cx_classifier *clf;
    cx_tags tags[N_CACHE_TEXTS];
} cache_run;

static void *classify_all(void *arg)
{
    cache_run *r = arg;
    for (size_t i = 0; i < N_CACHE_TEXTS; i++)
        classify_text(r->clf, cache_texts[i], &r->tags[i]);
    return NULL;
}

Test(cx_model, verdicts_do_not_depend_on_what_the_thread_classified_before)
{
    cx_classifier *a = NULL, *b = NULL, *rules_only = NULL;
    char err[512];
    cr_assert_eq(cx_classifier_new(&a, NULL, 0, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_classifier_new(&b, NULL, 0, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_classifier_new_model(&rules_only, NULL, 0, "none", err, sizeof err), CX_OK,
                 "%s", err);
    /* each text first in a fresh thread, before anything else saw its words (the
     * thread's working memory is freed when it ends: LeakSanitizer would tell) */
    cache_run fresh = {.clf = a};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, classify_all, &fresh), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
    /* then interleaved with other classifiers and other words in this thread */
    for (unsigned round = 0; round < 3; round++)
        for (size_t i = 0; i < N_CACHE_TEXTS; i++) {
            cx_tags x, y, z;
            flood(b, round * 7919u + (unsigned)i);
            classify_text(b, cache_texts[i], &y);
            classify_text(rules_only, cache_texts[N_CACHE_TEXTS - 1 - i], &z);
            flood(a, round * 7919u + (unsigned)i + 1);
            classify_text(a, cache_texts[i], &x);
            same_tags(&fresh.tags[i], &x, cache_texts[i]);
            same_tags(&fresh.tags[i], &y, cache_texts[i]);
        }
    /* the lexicon scores of two instances agree too */
    cx_valence *other;
    cr_assert_eq(cx__valence_new(&other, err, sizeof err), CX_OK, "%s", err);
    for (size_t i = 0; i < N_CACHE_TEXTS; i++) {
        cx_valence_score s1, s2;
        cx__valence_score(cx__classifier_valence(a), cache_texts[i], strlen(cache_texts[i]), &s1);
        cx__valence_score(other, cache_texts[i], strlen(cache_texts[i]), &s2);
        cr_assert_eq(memcmp(&s1, &s2, sizeof s1), 0, "%s", cache_texts[i]);
    }
    cx__valence_free(other);
    cx_classifier_free(rules_only);
    cx_classifier_free(b);
    cx_classifier_free(a);
}

/* ---- One pass over the text for the rules and the features ------------------ */

/* Texts where the features' reading of the text differs from the rules' own:
 * digits, words longer than either keeps, links (whose address the features
 * skip and the rules read), handles, emoji and punctuation next to words. */
static const char *const pass_texts[] = {
    "charged twice for order 12345, 3rd time!!! refund still missing",
    "see https://example.com/late/delivery?x=1 rude agent. never again",
    "see https://acme.com/delivery\ndriver was rude",
    "http://x.co/a\xE2\x80\xA6 great service, not",
    "truncated https\xE2\x80\xA6 great, the courier lost it",
    "link http://a.b/c\xF0\x9F\x98\xA1 late delivery on hold",
    "@courier_help /billing/overcharged double charged;on hold:again",
    "aaaaaaaaaabbbbbbbbbbccccccccccdd late aaaaaaaaaabbbbbbbbbbccccccccccddd rude",
    ("aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeee charged "
     "aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeee twice"), /* one text */
    "didn\xE2\x80\x99t arrive \xE2\x80\x99 caf\xC3\xA9 cr\xC3\xA8me, the agent\xE2\x80\x99s fault",
    "\xF0\x9F\x98\xA1\xF0\x9F\x98\xA1late\xE2\x9C\x88\xEF\xB8\x8F delayed. cancelled? NOT on time",
    "it was not. late, and not\\nrude; never: charged twice",
};

/* The words the features' pass reads for the rules are the rules' own scan,
 * token for token with their flags, for every one of pass_texts. */
static void same_words_both_ways(const cx_classifier *clf, size_t i)
{
    static cx_lex_words w1, w2;
    const char *text = pass_texts[i];
    cr_assert(cx__features_words(clf, text, strlen(text), &w1), "%s: the pass left the words",
              text);
    cx__lex_words(cx__classifier_lexicon(clf), text, strlen(text), &w2);
    cr_assert_eq(w1.n, w2.n, "%s: %zu tokens, the scan %zu", text, w1.n, w2.n);
    for (size_t k = 0; k < w1.n; k++) {
        cr_assert_eq(w1.id[k], w2.id[k], "%s: token %zu", text, k);
        cr_assert_eq(w1.flags[k], w2.flags[k], "%s: flags of token %zu", text, k);
    }
}

/* The rule engine's results on ev: from the features' pass (via cx__features
 * with the classifier) and from its own scan must be the same. */
static void same_rules_both_ways(const cx_classifier *clf, const char *text)
{
    cx_event ev;
    cx_tags t1, t2;
    cx_rule_hits h1, h2;
    cx_valence_score vs;
    int counts[CX_FG_COUNT];
    fl f;
    memset(&f, 0, sizeof f);
    text_event(&ev, text);
    cx__features(clf, cx__classifier_valence(clf), &ev, &t1, &h1, collect, NULL, &f, counts, &vs);
    cx__classifier_rules(clf, &ev, NULL, &t2, &h2);
    cx_event_clear(&ev);
    cr_assert_eq(memcmp(h1.phrase, h2.phrase, sizeof h1.phrase), 0, "%s", text);
    cr_assert_eq(memcmp(h1.by_polarity, h2.by_polarity, sizeof h1.by_polarity), 0, "%s", text);
    cr_assert_eq(memcmp(&h1.sentiment, &h2.sentiment, sizeof h1.sentiment), 0, "%s", text);
    cr_assert_eq(h1.n_hit, h2.n_hit, "%s", text);
    for (int k = 0; k < h1.n_hit; k++)
        cr_assert_str_eq(h1.hit[k], h2.hit[k], "%s", text);
    same_tags(&t1, &t2, text);
}

/* A word's id in the lexicon of clf (stemmed as the scan does). */
static int32_t word_id(const cx_classifier *clf, const char *word)
{
    char w[64];
    snprintf(w, sizeof w, "%s", word);
    return cx__lex_find(cx__classifier_lexicon(clf), w, strlen(w));
}

Test(cx_model, the_rules_read_the_same_words_from_the_features_pass)
{
    /* b's own small rule file: a lexicon of other words, in another order,
     * so that ids cached for a's lexicon are wrong for b's */
    char err[512];
    const char *own[] = {rule_file(0, "{\"category\":\"facing\",\"phrases\":[{\"polarity\":-1,"
                                      "\"terms\":[\"twice\",\"on hold\",\"rude agent\","
                                      "\"courier lost\"]}]}")};
    cx_classifier *a = NULL, *b = NULL;
    cr_assert_eq(cx_classifier_new(&a, NULL, 0, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_classifier_new_model(&b, own, 1, "none", err, sizeof err), CX_OK, "%s", err);
    static const char *const words[] = {"twice", "hold", "rude", "courier", "late"};
    for (size_t i = 0; i < CX_ARRAY_LEN(words); i++)
        cr_assert_neq(word_id(a, words[i]), word_id(b, words[i]),
                      "\"%s\" has the same id in both lexicons: the test would not tell them apart",
                      words[i]);
    /* twice each, alternating the two classifiers: the second time from the
     * thread's cache of words */
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < sizeof pass_texts / sizeof pass_texts[0]; i++) {
            same_words_both_ways(a, i);
            same_words_both_ways(b, i);
            same_rules_both_ways(a, pass_texts[i]);
            same_rules_both_ways(b, pass_texts[i]);
        }
    cx_classifier_free(b);
    cx_classifier_free(a);
}

/* ---- Names of buckets ---------------------------------------------------------- */

Test(cx_model, every_bucket_gets_its_own_name_and_no_other)
{
    /* named buckets at the edges of the index's blocks and far apart, one
     * weighted bucket without a name; every other bucket has neither */
    static const uint32_t named[] = {0, 1, 255, 256, 257, 511, 70000, CX_MODEL_BUCKETS - 1};
    float *w = calloc((size_t)CX_MODEL_BUCKETS * CX_MODEL_STRIDE, sizeof *w);
    const char **names = calloc(CX_MODEL_BUCKETS, sizeof *names);
    char text[CX_ARRAY_LEN(named)][24];
    cr_assert(w != NULL && names != NULL);
    for (size_t i = 0; i < CX_ARRAY_LEN(named); i++) {
        snprintf(text[i], sizeof text[i], "n%u", (unsigned)named[i]);
        names[named[i]] = text[i];
        w[(size_t)named[i] * CX_MODEL_STRIDE] = 1.0f;
    }
    w[300 * CX_MODEL_STRIDE + 1] = -0.5f;
    float thresholds[CX_CAT_COUNT] = {0.5f, 0.5f, 0.5f, 0.5f};
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/names.cxm", dir);
    cr_assert_eq(cx__model_write(path, w, thresholds, names, 0, 0, err, sizeof err), CX_OK, "%s",
                 err);
    cx_model *m = NULL;
    cr_assert_eq(cx__model_read(&m, path, err, sizeof err), CX_OK, "%s", err);
    size_t found = 0;
    for (uint32_t b = 0; b < CX_MODEL_BUCKETS; b++) {
        const char *got = cx__model_name(m, b);
        if (names[b] == NULL) {
            cr_assert_null(got, "bucket %u: %s", (unsigned)b, got);
            continue;
        }
        char want[32];
        snprintf(want, sizeof want, "model:%s", names[b]);
        cr_assert_not_null(got, "bucket %u has no name", (unsigned)b);
        cr_assert_str_eq(got, want, "bucket %u", (unsigned)b);
        found++;
    }
    cr_assert_eq(found, CX_ARRAY_LEN(named));
    cr_assert_null(cx__model_name(m, CX_MODEL_BUCKETS), "past the last bucket");
    cx__model_free(m);
    free(names);
    free(w);
}

/* The bucket of a one-word text's word as the model reads it. */
typedef struct word_bucket {
    const char *word;
    uint32_t bucket;
    int found;
} word_bucket;

static void word_bucket_fn(void *ctx, uint32_t bucket, cx_feature_group g, float value,
                           const char *name, size_t n)
{
    word_bucket *wb = ctx;
    (void)value;
    if (g == CX_FG_WORD && name != NULL && n == strlen(wb->word) &&
        memcmp(name, wb->word, n) == 0) {
        wb->bucket = bucket;
        wb->found = 1;
    }
}

Test(cx_model, evidence_never_names_a_word_the_event_lacks)
{
    /* two words whose hashes share a bucket: the model keeps the first's name */
    cx_valence *v = NULL;
    char err[512];
    cr_assert_eq(cx__valence_new(&v, err, sizeof err), CX_OK, "%s", err);
    uint32_t *seen = calloc(CX_MODEL_BUCKETS, sizeof *seen); /* word index + 1 */
    char words[26 * 26 * 26][5];
    int a = -1, b = -1;
    for (int i = 0; i < 26 * 26 * 26 && a < 0; i++) {
        snprintf(words[i], sizeof words[i], "q%c%c%c", 'a' + i / 676, 'a' + i / 26 % 26,
                 'a' + i % 26);
        cx_event ev;
        cx_tags tags;
        cx_rule_hits hits;
        cx_valence_score vs;
        int counts[CX_FG_COUNT];
        word_bucket wb = {words[i], 0, 0};
        char text[sizeof words[i]];
        memcpy(text, words[i], sizeof text);
        memset(&hits, 0, sizeof hits);
        text_event(&ev, text);
        cx__features(NULL, v, &ev, &tags, &hits, word_bucket_fn, NULL, &wb, counts, &vs);
        cx_event_clear(&ev);
        cr_assert(wb.found, "%s: no word feature", words[i]);
        if (seen[wb.bucket] != 0) {
            a = (int)seen[wb.bucket] - 1;
            b = i;
        }
        seen[wb.bucket] = (uint32_t)i + 1;
    }
    cr_assert(a >= 0, "no two words share a bucket");
    uint32_t bucket = 0;
    for (uint32_t k = 0; k < CX_MODEL_BUCKETS; k++)
        if (seen[k] == (uint32_t)b + 1)
            bucket = k;
    free(seen);
    cx__valence_free(v);

    /* a model in which only that bucket weighs, for facing, named after words[a] */
    float *w = calloc((size_t)CX_MODEL_BUCKETS * CX_MODEL_STRIDE, sizeof *w);
    const char **names = calloc(CX_MODEL_BUCKETS, sizeof *names);
    cr_assert(w != NULL && names != NULL);
    w[(size_t)bucket * CX_MODEL_STRIDE + CX_CAT_FACING] = 2.0f;
    names[bucket] = words[a];
    float thresholds[CX_CAT_COUNT] = {0.5f, 0.5f, 0.5f, 0.5f};
    char path[4096];
    snprintf(path, sizeof path, "%s/collide.cxm", dir);
    cr_assert_eq(cx__model_write(path, w, thresholds, names, 0, 0, err, sizeof err), CX_OK, "%s",
                 err);
    free(w);
    free(names);
    cx_classifier *clf = NULL;
    cr_assert_eq(cx_classifier_new_model(&clf, NULL, 0, path, err, sizeof err), CX_OK, "%s", err);

    char want[16];
    snprintf(want, sizeof want, "model:%s", words[a]);
    for (int i = 0; i < 2; i++) {
        char word[sizeof words[0]];
        memcpy(word, words[i == 0 ? a : b], sizeof word);
        cx_event ev;
        cx_tags tags;
        text_event(&ev, word);
        cx_classifier_classify(clf, &ev, &tags);
        cx_event_clear(&ev);
        /* the same weight tags both */
        cr_assert_geq(tags.confidence[CX_CAT_FACING], CX_CLASSIFY_THRESHOLD, "%s", word);
        int named = 0;
        for (int k = 0; k < tags.n_evidence[CX_CAT_FACING]; k++)
            named |= strcmp(tags.evidence[CX_CAT_FACING][k], want) == 0;
        if (i == 0) {
            cr_assert(named, "\"%s\" is not named in its own evidence", word);
        } else {
            cr_assert(!named, "\"%s\" is given as evidence for \"%s\"", want, word);
            cr_assert_eq(tags.n_evidence[CX_CAT_FACING], 1, "%s", word);
            cr_assert_str_eq(tags.evidence[CX_CAT_FACING][0], "model:character n-grams");
        }
    }
    cx_classifier_free(clf);
}

/* A model of your own was trained on your events, in whatever language they
 * are: it reads every text (the built-in model reads English only). */
Test(cx_model, a_model_of_your_own_reads_every_language)
{
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/own.cxm", dir);
    train_with(path, NULL);
    cx_classifier *clf = NULL;
    cr_assert_eq(cx_classifier_new_model(&clf, NULL, 0, path, err, sizeof err), CX_OK, "%s", err);
    cx_event ev;
    parse(&ev, "{\"event_id\":\"e\",\"occurred_at\":\"2024-05-01T10:00:00Z\",\"language\":\"de\","
               "\"text\":\"Der Kurier hat das Paket verloren\"}");
    cx_tags t;
    cx_classifier_classify(clf, &ev, &t);
    cr_assert_null(t.language_not_read);
    cx_event_clear(&ev);
    cx_classifier_free(clf);
}

/* A model keeps the hash of the rule files it was trained with; used with
 * other rule files (whose hits mean other things to it) it is warned about,
 * with the rules it was trained with it is not. */
Test(cx_model, a_model_used_with_other_rules_than_its_own_is_warned_about)
{
    char path[256], rules[256], err[512];
    snprintf(path, sizeof path, "%s/own.cxm", dir);
    snprintf(rules, sizeof rules, "%s/mine.json", dir);
    train_with(path, NULL); /* with the built-in rules */
    FILE *f = fopen(rules, "w");
    cr_assert_not_null(f);
    fputs("{\"version\": \"mine\", \"category\": \"external\", \"phrases\": [{\"weight\": 1,"
          " \"terms\": [\"parcel locker\"]}]}",
          f);
    fclose(f);
    cx_classifier *same = NULL, *other = NULL;
    cr_assert_eq(cx_classifier_new_model(&same, NULL, 0, path, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_classifier_warning_count(same), 0, "%s", cx_classifier_warning(same, 0));
    const char *files[] = {"default", rules};
    cr_assert_eq(cx_classifier_new_model(&other, files, 2, path, err, sizeof err), CX_OK, "%s",
                 err);
    int said = 0;
    for (size_t i = 0; i < cx_classifier_warning_count(other); i++)
        said |=
            strstr(cx_classifier_warning(other, i), "was trained with other rule files") != NULL;
    cr_assert(said, "no warning about the rules");
    cx_classifier_free(same);
    cx_classifier_free(other);
}

/* The built-in model was trained with the features this build makes: a
 * change to what the extractor, the lexicons or the reading of text make of
 * an event needs the model retrained (scripts/train-model.sh) in the same
 * change, or the weights would be read against features they were not
 * learned from. */
Test(cx_model, the_built_in_model_was_trained_with_these_features)
{
    char err[512], now[17];
    cx_classifier *clf = NULL;
    cr_assert_eq(cx_classifier_new(&clf, NULL, 0, err, sizeof err), CX_OK, "%s", err);
    uint64_t fp = cx__features_fingerprint(cx__classifier_valence(clf));
    cr_assert_neq(fp, 0, "a probe event of the fingerprint does not parse");
    cr_assert_eq(fp, cx__features_fingerprint(cx__classifier_valence(clf)));
    snprintf(now, sizeof now, "%016llx", (unsigned long long)fp);
    const char *made = cx__model_features(cx__classifier_model(clf));
    cr_assert_not_null(made, "the built-in model keeps no fingerprint of its features");
    cr_assert_str_eq(made, now,
                     "config/model/default.cxm was trained with other features than this build "
                     "makes: rebuild it with scripts/train-model.sh");
    cr_assert_eq(cx_classifier_warning_count(clf), 0, "%s", cx_classifier_warning(clf, 0));
    cx_classifier_free(clf);
}

/* A model whose fingerprint is not this build's is warned about. */
Test(cx_model, a_model_trained_with_other_features_is_warned_about)
{
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/own.cxm", dir);
    train_with(path, NULL);
    cx_classifier *same = NULL, *other = NULL;
    cr_assert_eq(cx_classifier_new_model(&same, NULL, 0, path, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_classifier_warning_count(same), 0, "%s", cx_classifier_warning(same, 0));
    cx_classifier_free(same);

    /* as a cxpulse whose extractor differs would have written it */
    size_t len;
    char *buf = slurp(path, &len);
    char *at = memmem(buf, len, "features:", 9);
    cr_assert_not_null(at, "the model keeps no fingerprint of its features");
    memcpy(at + 9, "0123456789abcdef", 16);
    uint64_t h = cx__model_checksum((const unsigned char *)buf, len - 8);
    for (int i = 0; i < 8; i++)
        buf[len - 8 + (size_t)i] = (char)(h >> (8 * i));
    write_bytes(path, buf, len);
    free(buf);

    cr_assert_eq(cx_classifier_new_model(&other, NULL, 0, path, err, sizeof err), CX_OK, "%s", err);
    int said = 0;
    for (size_t i = 0; i < cx_classifier_warning_count(other); i++)
        said |= strstr(cx_classifier_warning(other, i), "made other features of the same text") !=
                    NULL &&
                strstr(cx_classifier_warning(other, i), "0123456789abcdef") != NULL;
    cr_assert(said, "no warning about the features");
    cx_classifier_free(other);
}
