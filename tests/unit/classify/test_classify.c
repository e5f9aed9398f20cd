/*
 * test_classify.c - the classifier: field conditions of every kind, negation,
 * sentiment per rating scale, multi-label ordering and evidence, rule-file
 * errors, and the default rules on typical contacts.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classify.h"
#include "tmpdir.h"

char dir[] = "/tmp/cxpulse-classify.XXXXXX";

void make_dir(void)
{
    cr_assert_not_null(mkdtemp(dir));
}

void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

const char *rule_file(int slot, const char *json)
{
    static char paths[4][256];
    snprintf(paths[slot], sizeof paths[slot], "%s/rules%d.json", dir, slot);
    FILE *f = fopen(paths[slot], "w");
    cr_assert_not_null(f);
    fputs(json, f);
    fclose(f);
    return paths[slot];
}

cx_classifier *build(const char *json)
{
    const char *files[] = {rule_file(0, json)};
    char err[512];
    cx_classifier *clf = NULL;
    cr_assert_eq(cx_classifier_new(&clf, files, 1, err, sizeof err), CX_OK, "%s", err);
    return clf;
}

void run(const cx_classifier *clf, const char *json, cx_tags *tags)
{
    cx_event ev;
    char err[512];
    cr_assert_eq(cx_event_parse(&ev, json, strlen(json), err, sizeof err), CX_OK, "%s", err);
    cx_classifier_classify(clf, &ev, tags);
    cx_event_clear(&ev);
}

int assigned(const cx_tags *t, cx_category c)
{
    for (int i = 0; i < t->n_assigned; i++)
        if (t->order[i] == c)
            return 1;
    return 0;
}

int has_evidence(const cx_tags *t, cx_category c, const char *ev)
{
    for (int i = 0; i < t->n_evidence[c]; i++)
        if (strcmp(t->evidence[c][i], ev) == 0)
            return 1;
    return 0;
}

TestSuite(cx_classify, .init = make_dir, .fini = remove_dir);

#define EV(extra) "{\"event_id\":\"e\",\"occurred_at\":\"2024-05-01T10:00:00Z\"," extra "}"

/* ---- Field conditions ---------------------------------------------------- */

static const char *cond_rules(const char *clauses)
{
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"category\":\"performance\",\"conditions\":[{\"name\":\"c\",\"weight\":2,"
             "\"all\":[%s]}]}",
             clauses);
    return buf;
}

/* Asserts that the condition holds for `yes` and not for `no`. */
static void check_condition(const char *clauses, const char *yes, const char *no)
{
    cx_classifier *clf = build(cond_rules(clauses));
    cx_tags t;
    run(clf, yes, &t);
    cr_assert(assigned(&t, CX_CAT_PERFORMANCE), "%s should hold for %s", clauses, yes);
    cr_assert(has_evidence(&t, CX_CAT_PERFORMANCE, "field:c"));
    run(clf, no, &t);
    cr_assert(!assigned(&t, CX_CAT_PERFORMANCE), "%s should not hold for %s", clauses, no);
    cx_classifier_free(clf);
}

Test(cx_classify, condition_eq_and_ne)
{
    check_condition("{\"field\":\"channel\",\"op\":\"eq\",\"value\":\"phone\"}",
                    EV("\"text\":\"x\",\"channel\":\"Phone\""),
                    EV("\"text\":\"x\",\"channel\":\"chat\""));
    check_condition("{\"field\":\"channel\",\"op\":\"ne\",\"value\":\"phone\"}",
                    EV("\"text\":\"x\",\"channel\":\"chat\""), EV("\"text\":\"x\""));
}

/* A rule's number written as a string is a number: it equals an event's
 * number, written either way. */
Test(cx_classify, condition_numbers_in_quotes_compare_numerically)
{
    check_condition("{\"field\":\"attributes.qty\",\"op\":\"eq\",\"value\":\"3\"}",
                    EV("\"text\":\"x\",\"attributes\":{\"qty\":3}"),
                    EV("\"text\":\"x\",\"attributes\":{\"qty\":4}"));
    /* text against a rule's text stays text: ids, postcodes */
    check_condition("{\"field\":\"customer_id\",\"op\":\"eq\","
                    "\"value\":\"12345678901234567890\"}",
                    EV("\"text\":\"x\",\"customer_id\":\"12345678901234567890\""),
                    EV("\"text\":\"x\",\"customer_id\":\"12345678901234567891\""));
    check_condition("{\"field\":\"attributes.zip\",\"op\":\"ne\",\"value\":\"00501\"}",
                    EV("\"text\":\"x\",\"attributes\":{\"zip\":\"501\"}"),
                    EV("\"text\":\"x\",\"attributes\":{\"zip\":\"00501\"}"));
    check_condition("{\"field\":\"attributes.qty\",\"op\":\"in\",\"value\":[\"3\",\"4\"]}",
                    EV("\"text\":\"x\",\"attributes\":{\"qty\":3}"),
                    EV("\"text\":\"x\",\"attributes\":{\"qty\":5}"));
    check_condition("{\"field\":\"attributes.qty\",\"op\":\"ne\",\"value\":\"3\"}",
                    EV("\"text\":\"x\",\"attributes\":{\"qty\":5}"),
                    EV("\"text\":\"x\",\"attributes\":{\"qty\":3}"));
}

Test(cx_classify, condition_in_set)
{
    check_condition("{\"field\":\"touchpoint\",\"op\":\"in\",\"value\":[\"delivery\",\"returns\"]}",
                    EV("\"text\":\"x\",\"touchpoint\":\"returns\""),
                    EV("\"text\":\"x\",\"touchpoint\":\"billing\""));
}

Test(cx_classify, condition_presence_and_absence)
{
    check_condition("{\"field\":\"attributes.carrier\",\"op\":\"present\"}",
                    EV("\"text\":\"x\",\"attributes\":{\"carrier\":\"DPD\"}"),
                    EV("\"text\":\"x\",\"attributes\":{\"carrier\":\"\"}"));
    check_condition("{\"field\":\"attributes.vendor\",\"op\":\"absent\"}", EV("\"text\":\"x\""),
                    EV("\"text\":\"x\",\"attributes\":{\"vendor\":\"Acme\"}"));
    /* an object compares with nothing: ne does not hold either */
    check_condition("{\"field\":\"attributes.carrier\",\"op\":\"eq\",\"value\":\"DHL\"}",
                    EV("\"text\":\"x\",\"attributes\":{\"carrier\":\"dhl\"}"),
                    EV("\"text\":\"x\",\"attributes\":{\"carrier\":{\"name\":\"DHL\"}}"));
    check_condition("{\"field\":\"attributes.carrier\",\"op\":\"ne\",\"value\":\"DHL\"}",
                    EV("\"text\":\"x\",\"attributes\":{\"carrier\":\"UPS\"}"),
                    EV("\"text\":\"x\",\"attributes\":{\"carrier\":{\"name\":\"DHL\"}}"));
    /* a value that is an object or a list is there too, unless empty */
    check_condition("{\"field\":\"attributes.carrier\",\"op\":\"present\"}",
                    EV("\"text\":\"x\",\"attributes\":{\"carrier\":{\"name\":\"DHL\"}}"),
                    EV("\"text\":\"x\",\"attributes\":{\"carrier\":[]}"));
    check_condition("{\"field\":\"attributes.carrier\",\"op\":\"present\"}",
                    EV("\"text\":\"x\",\"attributes\":{\"carrier\":[\"DHL\"]}"),
                    EV("\"text\":\"x\",\"attributes\":{\"carrier\":{}}"));
}

Test(cx_classify, condition_numbers_against_constant_and_field)
{
    check_condition("{\"field\":\"attributes.qty_delivered\",\"op\":\"lt\","
                    "\"other\":\"attributes.qty_ordered\"}",
                    EV("\"text\":\"x\",\"attributes\":{\"qty_ordered\":5,\"qty_delivered\":\"3\"}"),
                    EV("\"text\":\"x\",\"attributes\":{\"qty_ordered\":5,\"qty_delivered\":5}"));
    check_condition("{\"field\":\"rating.value\",\"op\":\"le\",\"value\":2}",
                    EV("\"rating\":{\"scale\":\"csat\",\"value\":2}"),
                    EV("\"rating\":{\"scale\":\"csat\",\"value\":3}"));
    check_condition("{\"field\":\"attributes.days_late\",\"op\":\"gt\",\"value\":3}",
                    EV("\"text\":\"x\",\"attributes\":{\"days_late\":4}"),
                    EV("\"text\":\"x\",\"attributes\":{\"days_late\":\"soon\"}"));
    check_condition("{\"field\":\"attributes.days_late\",\"op\":\"ge\",\"value\":3}",
                    EV("\"text\":\"x\",\"attributes\":{\"days_late\":3}"),
                    EV("\"text\":\"x\",\"attributes\":{\"days_late\":2.5}"));
}

Test(cx_classify, condition_dates_against_field_and_constant)
{
    check_condition("{\"field\":\"attributes.delivered_date\",\"op\":\"after\","
                    "\"other\":\"attributes.promised_date\"}",
                    EV("\"text\":\"x\",\"attributes\":{\"promised_date\":\"2024-04-28\","
                       "\"delivered_date\":\"2024-05-01T09:00:00Z\"}"),
                    EV("\"text\":\"x\",\"attributes\":{\"promised_date\":\"2024-04-28\","
                       "\"delivered_date\":\"2024-04-28\"}"));
    /* delivered in the morning of the promised day is not after it */
    check_condition("{\"field\":\"attributes.delivered_date\",\"op\":\"after\","
                    "\"other\":\"attributes.promised_date\"}",
                    EV("\"text\":\"x\",\"attributes\":{\"promised_date\":\"2024-04-28\","
                       "\"delivered_date\":\"2024-04-29T00:30:00+02:00\"}"),
                    EV("\"text\":\"x\",\"attributes\":{\"promised_date\":\"2024-04-28\","
                       "\"delivered_date\":\"2024-04-28T09:00:00Z\"}"));
    check_condition("{\"field\":\"attributes.shipped\",\"op\":\"before\",\"value\":\"2024-01-01\"}",
                    EV("\"text\":\"x\",\"attributes\":{\"shipped\":\"2023-12-31\"}"),
                    EV("\"text\":\"x\",\"attributes\":{\"shipped\":\"not a date\"}"));
}

/* A value a comparison cannot read does not satisfy it, and the tags name the
 * field and what it needed, so a producer's format is not silently ignored. */
Test(cx_classify, a_field_a_condition_cannot_read_is_named)
{
    cx_classifier *clf =
        build(cond_rules("{\"field\":\"attributes.delivered_date\",\"op\":\"after\","
                         "\"other\":\"attributes.promised_date\"}"));
    cx_tags t;
    run(clf,
        EV("\"text\":\"x\",\"attributes\":{\"promised_date\":\"04/28/2024\","
           "\"delivered_date\":\"2024-05-01\"}"),
        &t);
    cr_assert(!assigned(&t, CX_CAT_PERFORMANCE));
    cr_assert_str_eq(t.unreadable, "attributes.promised_date");
    cr_assert_str_eq(t.unreadable_needs, "a date (YYYY-MM-DD or RFC 3339)");
    run(clf,
        EV("\"text\":\"x\",\"attributes\":{\"promised_date\":\"2024-04-28\","
           "\"delivered_date\":20240501}"),
        &t);
    cr_assert_str_eq(t.unreadable, "attributes.delivered_date", "a number is not a date");
    /* readable, or missing (nothing to read): nothing named */
    run(clf,
        EV("\"text\":\"x\",\"attributes\":{\"promised_date\":\"2024-04-28\","
           "\"delivered_date\":\"2024-05-01\"}"),
        &t);
    cr_assert(assigned(&t, CX_CAT_PERFORMANCE));
    cr_assert_null(t.unreadable);
    run(clf, EV("\"text\":\"x\",\"attributes\":{\"delivered_date\":\"2024-05-01\"}"), &t);
    cr_assert_null(t.unreadable);
    cx_classifier_free(clf);

    clf = build(cond_rules("{\"field\":\"attributes.qty_delivered\",\"op\":\"lt\","
                           "\"other\":\"attributes.qty_ordered\"}"));
    run(clf, EV("\"text\":\"x\",\"attributes\":{\"qty_ordered\":\"five\",\"qty_delivered\":3}"),
        &t);
    cr_assert(!assigned(&t, CX_CAT_PERFORMANCE));
    cr_assert_str_eq(t.unreadable, "attributes.qty_ordered");
    cr_assert_str_eq(t.unreadable_needs, "a number");
    run(clf, EV("\"text\":\"x\",\"attributes\":{\"qty_ordered\":\"5\",\"qty_delivered\":3}"), &t);
    cr_assert(assigned(&t, CX_CAT_PERFORMANCE), "a numeric string is a number");
    cr_assert_null(t.unreadable);
    cx_classifier_free(clf);
}

Test(cx_classify, condition_needs_every_clause)
{
    check_condition("{\"field\":\"channel\",\"op\":\"eq\",\"value\":\"web\"},"
                    "{\"field\":\"attributes.carrier\",\"op\":\"present\"}",
                    EV("\"text\":\"x\",\"channel\":\"web\",\"attributes\":{\"carrier\":\"UPS\"}"),
                    EV("\"text\":\"x\",\"channel\":\"web\""));
}

/* ---- Phrases, negation, multi-label ------------------------------------- */

static const char *phrase_rules =
    "{\"category\":\"facing\",\"phrases\":["
    "{\"weight\":0.9,\"terms\":[\"agent\"]},"
    "{\"weight\":1.0,\"polarity\":-1,\"terms\":[\"rude\",\"on hold\"]}]}";

Test(cx_classify, negation_keeps_a_complaint_from_counting)
{
    const char *files[] = {rule_file(0, phrase_rules),
                           rule_file(1, "{\"sentiment\":{\"negators\":[\"not\",\"no\",\"never\"],"
                                        "\"clause_breaks\":[\"but\"]}}")};
    char err[512];
    cx_classifier *clf;
    cr_assert_eq(cx_classifier_new(&clf, files, 2, err, sizeof err), CX_OK, "%s", err);
    cx_tags t;
    run(clf, EV("\"text\":\"They were rude\""), &t);
    cr_assert(has_evidence(&t, CX_CAT_FACING, "phrase:rude"));
    cr_assert_eq(t.sentiment, CX_SENT_NEGATIVE);
    run(clf, EV("\"text\":\"They were not rude at all\""), &t);
    cr_assert(!has_evidence(&t, CX_CAT_FACING, "phrase:rude"), "negated complaint counted");
    cr_assert_neq(t.sentiment, CX_SENT_NEGATIVE);
    /* a clause break ends the negation */
    run(clf, EV("\"text\":\"not great but rude\""), &t);
    cr_assert(has_evidence(&t, CX_CAT_FACING, "phrase:rude"));
    /* a negator too far away does not reach */
    run(clf, EV("\"text\":\"no idea why they were so very rude\""), &t);
    cr_assert(has_evidence(&t, CX_CAT_FACING, "phrase:rude"));
    /* a negated mention does not use up the term: the later complaint counts */
    run(clf, EV("\"text\":\"They were not rude at first, later they were rude\""), &t);
    cr_assert(has_evidence(&t, CX_CAT_FACING, "phrase:rude"), "the second rude was not counted");
    cr_assert_eq(t.sentiment, CX_SENT_NEGATIVE);
    cx_classifier_free(clf);
}

Test(cx_classify, confidence_grows_with_evidence_and_orders_categories)
{
    cx_classifier *clf = NULL;
    char err[512];
    cr_assert_eq(cx_classifier_new(&clf, NULL, 0, err, sizeof err), CX_OK, "%s", err);
    cx_tags t;
    run(clf, EV("\"text\":\"The agent was rude. Also the courier lost my parcel.\""), &t);
    cr_assert(assigned(&t, CX_CAT_FACING) && assigned(&t, CX_CAT_EXTERNAL));
    cr_assert_eq(t.n_assigned, 2);
    for (int i = 1; i < t.n_assigned; i++)
        cr_assert(t.confidence[t.order[i - 1]] >= t.confidence[t.order[i]]);
    for (int c = 0; c < CX_CAT_COUNT; c++)
        cr_assert(t.confidence[c] >= 0 && t.confidence[c] <= 1);
    run(clf, EV("\"text\":\"ok\""), &t);
    cr_assert_eq(t.n_assigned, 0, "no category for a contact that names no operation");
    /* more of the same evidence, more confidence */
    run(clf, EV("\"text\":\"The courier came.\""), &t);
    float one = t.confidence[CX_CAT_EXTERNAL];
    run(clf,
        EV("\"text\":\"The courier lost my parcel, the carrier's driver threw it and the "
           "delivery firm never answered.\""),
        &t);
    cr_assert(assigned(&t, CX_CAT_EXTERNAL));
    cr_assert_gt(t.confidence[CX_CAT_EXTERNAL], one, "three carrier cues: %.3f, one: %.3f",
                 t.confidence[CX_CAT_EXTERNAL], one);
    cx_classifier_free(clf);
}

/* ---- Default rules on typical contacts -------------------------------------- */

Test(cx_classify, default_rules_tag_the_four_groups)
{
    static const struct {
        const char *json;
        cx_category cat;
    } cases[] = {
        {EV("\"text\":\"Waited 40 minutes in the queue and the cashier was rude\""), CX_CAT_FACING},
        {EV("\"text\":\"I was charged twice and the refund never came\""), CX_CAT_COLLABORATIVE},
        {EV("\"text\":\"The website crashed at checkout\""), CX_CAT_COLLABORATIVE},
        {EV("\"text\":\"Sales promised a date the factory could not meet\""), CX_CAT_COLLABORATIVE},
        {EV("\"text\":\"The courier left it in the rain\""), CX_CAT_EXTERNAL},
        {EV("\"text\":\"The supplier part was defective\""), CX_CAT_EXTERNAL},
        {EV("\"text\":\"Arrived a week late\""), CX_CAT_PERFORMANCE},
        {EV("\"text\":\"Only 3 of 5 items delivered\""), CX_CAT_PERFORMANCE},
        {EV("\"rating\":{\"scale\":\"csat\",\"value\":1},\"attributes\":{"
            "\"promised_date\":\"2024-04-20\",\"delivered_date\":\"2024-04-25\"}"),
         CX_CAT_PERFORMANCE},
    };
    cx_classifier *clf = NULL;
    char err[512];
    cr_assert_eq(cx_classifier_new(&clf, NULL, 0, err, sizeof err), CX_OK, "%s", err);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cx_tags t;
        run(clf, cases[i].json, &t);
        cr_assert(assigned(&t, cases[i].cat), "%s: not tagged %s", cases[i].json,
                  cx_category_name(cases[i].cat));
        cr_assert_eq(t.sentiment, CX_SENT_NEGATIVE, "%s", cases[i].json);
    }
    cr_assert(strchr(cx_classifier_version(clf), '+') != NULL);
    cx_classifier_free(clf);
}

/* ---- Sentiment per rating scale ------------------------------------------- */

Test(cx_classify, sentiment_follows_each_rating_scale)
{
    static const struct {
        const char *scale;
        double value;
        cx_sentiment want;
    } cases[] = {
        {"csat", 1, CX_SENT_NEGATIVE},    {"csat", 2, CX_SENT_NEGATIVE},
        {"csat", 3, CX_SENT_NEUTRAL},     {"csat", 4, CX_SENT_POSITIVE},
        {"csat", 5, CX_SENT_POSITIVE},    {"stars", 1, CX_SENT_NEGATIVE},
        {"stars", 3, CX_SENT_NEUTRAL},    {"stars", 5, CX_SENT_POSITIVE},
        {"nps", 0, CX_SENT_NEGATIVE},     {"nps", 6, CX_SENT_NEGATIVE},
        {"nps", 7, CX_SENT_NEUTRAL},      {"nps", 8, CX_SENT_NEUTRAL},
        {"nps", 9, CX_SENT_POSITIVE},     {"nps", 10, CX_SENT_POSITIVE},
        {"ces", 1, CX_SENT_POSITIVE},     {"ces", 3, CX_SENT_POSITIVE},
        {"ces", 4, CX_SENT_NEUTRAL},      {"ces", 5, CX_SENT_NEGATIVE},
        {"ces", 7, CX_SENT_NEGATIVE},     {"stars", 2.5, CX_SENT_NEUTRAL},
        {"stars", 3.6, CX_SENT_POSITIVE}, {"nps", 6.3, CX_SENT_NEGATIVE},
        {"nps", 8.7, CX_SENT_POSITIVE},   {"ces", 4.6, CX_SENT_NEGATIVE},
    };
    cx_classifier *clf = NULL;
    char err[512], json[256];
    cr_assert_eq(cx_classifier_new(&clf, NULL, 0, err, sizeof err), CX_OK, "%s", err);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(json, sizeof json, EV("\"rating\":{\"scale\":\"%s\",\"value\":%g}"),
                 cases[i].scale, cases[i].value);
        cx_tags t;
        run(clf, json, &t);
        cr_assert_eq(t.sentiment, cases[i].want, "%s %g: got %s", cases[i].scale, cases[i].value,
                     cx_sentiment_name(t.sentiment));
        /* the score's sign says the same (classify.h) */
        int sign = (t.sentiment_score > 0) - (t.sentiment_score < 0);
        int want = cases[i].want == CX_SENT_POSITIVE   ? 1
                   : cases[i].want == CX_SENT_NEGATIVE ? -1
                                                       : 0;
        cr_assert_eq(sign, want, "%s %g: score %g", cases[i].scale, cases[i].value,
                     t.sentiment_score);
    }
    cx_classifier_free(clf);
}

/* An empty text tells no feeling: neutral, by the model or the rules alone,
 * unless a rating tells one. */
Test(cx_classify, an_empty_text_is_neutral_unless_rated)
{
    static const struct {
        const char *fields;
        cx_sentiment want;
    } cases[] = {
        {"\"text\":\"\"", CX_SENT_NEUTRAL},
        {"\"text\":\" \\n\\t \"", CX_SENT_NEUTRAL},
        {"\"text\":\"\",\"rating\":{\"scale\":\"csat\",\"value\":1}", CX_SENT_NEGATIVE},
        {"\"text\":\" \",\"rating\":{\"scale\":\"nps\",\"value\":10}", CX_SENT_POSITIVE},
    };
    for (int m = 0; m < 2; m++) {
        cx_classifier *clf = NULL;
        char err[512], json[256];
        cr_assert_eq(cx_classifier_new_model(&clf, NULL, 0, m ? NULL : "none", err, sizeof err),
                     CX_OK, "%s", err);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            snprintf(json, sizeof json, EV("%s"), cases[i].fields);
            cx_tags t;
            run(clf, json, &t);
            cr_assert_eq(t.sentiment, cases[i].want, "%s, %s: got %s", json,
                         m ? "with the model" : "rules alone", cx_sentiment_name(t.sentiment));
            cr_assert_eq(t.n_assigned, 0, "%s", json);
        }
        cx_classifier_free(clf);
    }
}

Test(cx_classify, sentiment_from_text_with_negation_and_intensifiers)
{
    cx_classifier *clf = NULL;
    char err[512];
    cr_assert_eq(cx_classifier_new(&clf, NULL, 0, err, sizeof err), CX_OK, "%s", err);
    cx_tags t, u;
    run(clf, EV("\"text\":\"Great service, thank you\""), &t);
    cr_assert_eq(t.sentiment, CX_SENT_POSITIVE);
    run(clf, EV("\"text\":\"The service was not good\""), &t);
    cr_assert_eq(t.sentiment, CX_SENT_NEGATIVE);
    /* (a question, not "I have a question about ...": the real complaints the
     * default model learned from use "question" in anger) */
    run(clf, EV("\"text\":\"What time does the store open on Sunday?\""), &t);
    cr_assert_eq(t.sentiment, CX_SENT_NEUTRAL);
    run(clf, EV("\"text\":\"very bad\""), &u);
    cr_assert_eq(u.sentiment, CX_SENT_NEGATIVE);
    /* text and rating blend: a glowing text does not hide a csat of 1 */
    run(clf, EV("\"text\":\"great\",\"rating\":{\"scale\":\"csat\",\"value\":1}"), &t);
    cr_assert_eq(t.sentiment, CX_SENT_NEGATIVE);
    cx_classifier_free(clf);
    /* An intensifier strengthens the lexicons' score (the rules alone give it;
     * the model weighs it among its features, and "very" is also a word of
     * praise, so its score for "very bad" is not always below "bad"'s) */
    cr_assert_eq(cx_classifier_new_model(&clf, NULL, 0, "none", err, sizeof err), CX_OK, "%s", err);
    run(clf, EV("\"text\":\"bad\""), &t);
    run(clf, EV("\"text\":\"very bad\""), &u);
    cr_assert(u.sentiment_score < t.sentiment_score, "an intensifier strengthens: %f, %f",
              u.sentiment_score, t.sentiment_score);
    run(clf, EV("\"text\":\"not good\""), &t);
    cr_assert_eq(t.sentiment, CX_SENT_NEGATIVE);
    cx_classifier_free(clf);
}

/* ---- Rule-file errors ------------------------------------------------------- */

static void expect_rule_error(const char *json, const char *want)
{
    const char *files[] = {rule_file(2, json)};
    char err[512] = "";
    cx_classifier *clf = NULL;
    cr_assert_eq(cx_classifier_new(&clf, files, 1, err, sizeof err), CX_ERR_CONFIG, "%s", json);
    cr_assert_null(clf);
    cr_assert(strstr(err, files[0]) != NULL, "error names no file: %s", err);
    cr_assert(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err, want);
}

Test(cx_classify, rule_file_errors_name_file_rule_and_reason)
{
    expect_rule_error("{\"category\":\"facing\",\"phrases\":[{\"terms\":[]}]}",
                      "rule \"phrases[0]\": \"terms\" must be a non-empty array");
    expect_rule_error("{\"category\":\"facing\",\"phrases\":[{\"weight\":9,\"terms\":[\"x\"]}]}",
                      "rule \"phrases[0]\": \"weight\" must be a number in [0, 3]");
    expect_rule_error("{\"category\":\"facing\",\"phrases\":[{\"terms\":[\"ok\",\"  \"]}]}",
                      "term \"  \" is empty");
    expect_rule_error("{\"category\":\"billing\",\"phrases\":[{\"terms\":[\"x\"]}]}",
                      "\"category\" must be one of");
    expect_rule_error("{\"category\":\"facing\",\"conditions\":[{\"name\":\"late\",\"all\":["
                      "{\"field\":\"attributes.d\",\"op\":\"later\",\"value\":1}]}]}",
                      "rule \"late\", clause all[0]: unknown operator \"later\"");
    expect_rule_error("{\"category\":\"facing\",\"conditions\":[{\"name\":\"p\",\"all\":["
                      "{\"field\":\"payload.x\",\"op\":\"present\"}]}]}",
                      "rule \"p\", clause all[0]: bad field path \"payload.x\"");
    expect_rule_error("{\"category\":\"facing\",\"conditions\":[{\"name\":\"n\",\"all\":["
                      "{\"field\":\"attributes.q\",\"op\":\"lt\",\"value\":\"five\"}]}]}",
                      "rule \"n\", clause all[0]: operator \"lt\" needs a number");
    expect_rule_error("{\"category\":\"facing\",\"conditions\":[{\"name\":\"a\",\"all\":["
                      "{\"field\":\"channel\",\"op\":\"present\"}]},{\"all\":[]}]}",
                      "rule \"conditions[1]\": every condition needs a \"name\"");
    /* a typo in a condition or a clause is an error too, not a default */
    expect_rule_error("{\"category\":\"facing\",\"conditions\":[{\"name\":\"c\",\"wieght\":0.2,"
                      "\"all\":[{\"field\":\"attributes.carrier\",\"op\":\"present\"}]}]}",
                      "rule \"c\": unknown key \"wieght\" (did you mean \"weight\"?)");
    expect_rule_error("{\"category\":\"facing\",\"conditions\":[{\"name\":\"c\",\"all\":["
                      "{\"field\":\"attributes.carrier\",\"opp\":\"present\"}]}]}",
                      "rule \"c\", clause all[0]: unknown key \"opp\" (did you mean \"op\"?)");
    expect_rule_error(
        "{\"category\":\"facing\",\"conditions\":[{\"name\":\"b\",\"all\":["
        "{\"field\":\"attributes.vip\",\"op\":\"eq\",\"value\":true}]}]}",
        "rule \"b\", clause all[0]: operator \"eq\": \"value\" must be a string or a number");
    expect_rule_error(
        "{\"category\":\"facing\",\"conditions\":[{\"name\":\"i\",\"all\":["
        "{\"field\":\"channel\",\"op\":\"in\",\"value\":[\"chat\",null]}]}]}",
        "rule \"i\", clause all[0]: operator \"in\": \"value\"[1] must be a string or a number");
    /* a clause that says two things, or more than its operator reads, would
     * be read as one of them without a word */
    expect_rule_error("{\"category\":\"facing\",\"conditions\":[{\"name\":\"s\",\"all\":["
                      "{\"field\":\"channel\",\"op\":\"present\"},{\"field\":\"attributes.d\","
                      "\"op\":\"lt\",\"value\":100,\"other\":\"attributes.o\"}]}]}",
                      "rule \"s\", clause all[1]: give \"value\" or \"other\", not both");
    expect_rule_error("{\"category\":\"facing\",\"conditions\":[{\"name\":\"p\",\"all\":["
                      "{\"field\":\"attributes.d\",\"op\":\"present\",\"value\":\"x\"}]}]}",
                      "rule \"p\", clause all[0]: operator \"present\" takes no \"value\"");
    expect_rule_error("{\"category\":\"facing\",\"conditions\":[{\"name\":\"i\",\"all\":["
                      "{\"field\":\"channel\",\"op\":\"in\",\"other\":\"touchpoint\"}]}]}",
                      "operator \"in\" compares with \"value\" only");
    /* within one file two conditions of one name would both count */
    expect_rule_error("{\"category\":\"facing\",\"conditions\":["
                      "{\"name\":\"x\",\"all\":[{\"field\":\"attributes.d\",\"op\":\"present\"}]},"
                      "{\"name\":\"x\",\"weight\":0.3,\"all\":[{\"field\":\"attributes.e\","
                      "\"op\":\"present\"}]}]}",
                      "rule \"x\": another condition of this file has that name");
    /* a misspelled category is refused even in a file of sentiment terms only */
    expect_rule_error("{\"category\":\"logistcs\",\"sentiment\":{\"positive\":[{\"terms\":"
                      "[\"sorted\"]}]}}",
                      "\"category\" must be one of");
    expect_rule_error("{\"sentiment\":{\"negators\":[\"not at all\"]}}",
                      "rule \"sentiment.negators\": entry \"not at all\" is not a single word");
    expect_rule_error("{\"category\":\"facing\",\"phrasez\":[]}",
                      "unknown top-level key \"phrasez\" (did you mean \"phrases\"?)");
    expect_rule_error("{\"category\": \"facing\",\n \"phrases\": [,]}", ":2:");
    /* a term with a line break is quoted on the error's one line */
    expect_rule_error("{\"category\":\"facing\",\"phrases\":[{\"terms\":[\"game\\nchanger\"]}]}",
                      "term \"game\\nchanger\" has sentence punctuation");
    /* each reason a term is refused is told as it is */
    expect_rule_error("{\"category\":\"facing\",\"phrases\":[{\"terms\":[\"a b c d e f g h i\"]}]}",
                      "term \"a b c d e f g h i\" is longer than 8 words");
    expect_rule_error(
        "{\"category\":\"facing\",\"phrases\":[{\"terms\":[\"Rindfleischetikettierungs"
        "ueberwachungsaufgabenuebertragungsgesetz\"]}]}",
        "has a word longer than 48 letters");
    /* a letter of another script separates words in the text: a term holding
     * one would match other words ("İade" matched "Lemonade? Ade!") */
    expect_rule_error(
        "{\"category\":\"facing\",\"phrases\":[{\"terms\":[\"\u043a\u0443\u0440\"]}]}",
        "term \"\u043a\u0443\u0440\" has \"\u043a\" (U+043A), outside Latin-1: letters of other"
        " scripts are not read");
    expect_rule_error(
        "{\"category\":\"facing\",\"phrases\":[{\"terms\":[\"iade\",\"\u0130ade\"]}]}",
        "rule \"phrases[0]\": term \"\u0130ade\" has \"\u0130\" (U+0130), outside Latin-1");
    expect_rule_error("{\"category\":\"external\",\"phrases\":[{\"terms\":[\"przesy\u0142ka\"]}]}",
                      "term \"przesy\u0142ka\" has \"\u0142\" (U+0142), outside Latin-1");
    expect_rule_error("{\"category\":\"facing\",\"phrases\":[{\"terms\":[\"cafe\u0301s\"]}]}",
                      "(U+0301), outside Latin-1");
}

/* A rule author sees every mistake of a file in one run, not one a run: a
 * line each, in the file's order, and their count. */
Test(cx_classify, every_error_of_a_rule_file_is_told_at_once)
{
    const char *files[] = {
        rule_file(2, "{\"category\":\"facing\",\"phrasez\":[],\"phrases\":["
                     "{\"terms\":[\"rude\"],\"weight\":9},{\"terms\":[\"fine\"]},"
                     "{\"terms\":[\"ok\",\"a b c d e f g h i\",7]}],"
                     "\"conditions\":[{\"name\":\"late\",\"all\":[{\"field\":\"channel\","
                     "\"op\":\"later\"},{\"field\":\"payload.x\",\"op\":\"present\"}]}],"
                     "\"sentiment\":{\"negators\":[\"not at all\"]}}")};
    char err[2048] = "";
    cx_classifier *clf = NULL;
    cr_assert_eq(cx_classifier_new(&clf, files, 1, err, sizeof err), CX_ERR_CONFIG);
    cr_assert_null(clf);
    static const char *const want[] = {
        "unknown top-level key \"phrasez\"",
        "rule \"phrases[0]\": \"weight\" must be a number in [0, 3]",
        "rule \"phrases[2]\": term \"a b c d e f g h i\" is longer than 8 words",
        "rule \"phrases[2]\": every term must be a string",
        "rule \"late\", clause all[0]: unknown operator \"later\"",
        "rule \"late\", clause all[1]: bad field path \"payload.x\"",
        "rule \"sentiment.negators\": entry \"not at all\" is not a single word",
        "7 errors"};
    const char *at = err;
    for (size_t i = 0; i < CX_ARRAY_LEN(want); i++) {
        const char *line = strstr(at, want[i]);
        cr_assert_not_null(line, "\"%s\" not told (in this order) in:\n%s", want[i], err);
        cr_assert(line == err || line[-1] == '\n' ||
                      strncmp(line - strlen(files[0]) - 2, files[0], strlen(files[0])) == 0,
                  "not a line of its own, naming the file:\n%s", err);
        at = line + strlen(want[i]);
    }
    cr_assert_eq(strchr(at, '\n'), NULL, "more than told:\n%s", err);
    /* more than fit: the count says how many were told */
    char many[4096] = "{\"category\":\"facing\",\"phrases\":[";
    for (int i = 0; i < 25; i++)
        strcat(many, i ? ",{\"terms\":[\"x\"],\"weight\":9}" : "{\"terms\":[\"x\"],\"weight\":9}");
    strcat(many, "]}");
    files[0] = rule_file(3, many);
    char small[1024] = "";
    cr_assert_eq(cx_classifier_new(&clf, files, 1, small, sizeof small), CX_ERR_CONFIG);
    int lines = 1;
    for (const char *c = small; (c = strchr(c, '\n')) != NULL; c++)
        lines++;
    char count[64];
    snprintf(count, sizeof count, ": 25 errors, the first %d told", lines - 1);
    cr_assert(lines > 2 && lines <= 21 && strstr(small, count) != NULL, "%s", small);
}

/* The warning that mentions both terms, or NULL. */
static const char *warning_about(const cx_classifier *clf, const char *a, const char *b)
{
    for (size_t i = 0; i < cx_classifier_warning_count(clf); i++) {
        const char *w = cx_classifier_warning(clf, i);
        if (strstr(w, a) != NULL && strstr(w, b) != NULL)
            return w;
    }
    return NULL;
}

Test(cx_classify, terms_that_read_as_one_phrase_are_reported)
{
    /* "shipped" and "shipping" are one phrase after stemming: the larger
     * weight counts for every "shipping" */
    cx_classifier *clf = build("{\"category\":\"external\",\"phrases\":["
                               "{\"weight\":1.0,\"terms\":[\"courier\",\"shipped\"]},"
                               "{\"weight\":0.4,\"terms\":[\"shipping\",\"ships\"]},"
                               "{\"weight\":1.1,\"polarity\":-1,\"terms\":[\"couriers\"]},"
                               "{\"weight\":1.0,\"terms\":[\"carrier\",\"carriers\"]}]}");
    cx_tags t;
    run(clf, EV("\"text\":\"free shipping on everything\""), &t);
    cr_assert(assigned(&t, CX_CAT_EXTERNAL), "the merged phrase counts with weight 1.0");
    const char *w = warning_about(clf, "\"shipping\"", "\"shipped\"");
    cr_assert_not_null(w, "no warning about shipping/shipped");
    cr_assert(strstr(w, "rule \"phrases[1]\"") != NULL && strstr(w, "weight 1 counts for both"),
              "%s", w);
    /* a mention that is also a complaint counts twice */
    w = warning_about(clf, "\"couriers\" (external complaint)", "\"courier\" (external mention)");
    cr_assert_not_null(w, "no warning about courier/couriers");
    cr_assert(strstr(w, "rules0.json: rule \"phrases[2]\"") != NULL, "%s", w);
    /* the same meaning under two inflections changes nothing: no warning */
    cr_assert_null(warning_about(clf, "carrier", "carriers"));
    cr_assert_eq(cx_classifier_warning_count(clf), 3, "ships is shipped too: %zu warnings",
                 cx_classifier_warning_count(clf));
    cx_classifier_free(clf);

    /* a sentiment term listed both ways */
    clf = build("{\"sentiment\":{\"positive\":[{\"terms\":[\"sick\"]}],"
                "\"negative\":[{\"terms\":[\"sick\"]}]}}");
    cr_assert_not_null(warning_about(clf, "(sentiment negative)", "(sentiment positive)"));
    cx_classifier_free(clf);

    /* a file with 150 such terms: 99 are named, the 100th says the rest are left out */
    char terms[150 * 8] = "", json[sizeof terms * 2 + 100];
    for (int i = 0; i < 150; i++)
        sprintf(terms + strlen(terms), "%s\"zq%c%c\"", i ? "," : "", 'a' + i / 26, 'a' + i % 26);
    snprintf(json, sizeof json,
             "{\"sentiment\":{\"positive\":[{\"terms\":[%s]}],\"negative\":[{\"terms\":[%s]}]}}",
             terms, terms);
    clf = build(json);
    cr_assert_eq(cx_classifier_warning_count(clf), 100);
    cr_assert_not_null(
        strstr(cx_classifier_warning(clf, 98), "(sentiment negative) reads as the same"), "%s",
        cx_classifier_warning(clf, 98));
    cr_assert_str_eq(cx_classifier_warning(clf, 99), "further warnings are left out");
    cx_classifier_free(clf);

    /* the built-in rule files have none */
    char err[512];
    cr_assert_eq(cx_classifier_new(&clf, NULL, 0, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_classifier_warning_count(clf), 0, "built-in rules: %s",
                 cx_classifier_warning_count(clf) ? cx_classifier_warning(clf, 0) : "");
    cx_classifier_free(clf);
}

/* A classifier from the built-in rules and then the given file, rules alone
 * (model "none") or as loaded by default (model NULL). */
static cx_classifier *build_on_defaults(const char *json, const char *model)
{
    const char *files[] = {CX_CLASSIFIER_BUILTIN, rule_file(1, json)};
    char err[512];
    cx_classifier *clf = NULL;
    cr_assert_eq(cx_classifier_new_model(&clf, files, 2, model, err, sizeof err), CX_OK, "%s", err);
    return clf;
}

Test(cx_classify, own_rule_files_add_to_and_override_the_built_in_ones)
{
    cx_classifier *clf =
        build_on_defaults("{\"category\":\"external\",\"phrases\":["
                          "{\"weight\":1.0,\"terms\":[\"stevedores\"]},"
                          "{\"weight\":0,\"terms\":[\"builder\"]},"
                          "{\"weight\":0.2,\"terms\":[\"courier\"]}],"
                          "\"conditions\":[{\"name\":\"carrier named\",\"weight\":0,"
                          "\"all\":[{\"field\":\"attributes.carrier\",\"op\":\"present\"}]}]}",
                          "none");
    cx_tags t;
    /* added: a term the built-in rules lack */
    run(clf, EV("\"text\":\"the stevedores dropped our container\""), &t);
    cr_assert(assigned(&t, CX_CAT_EXTERNAL));
    cr_assert(has_evidence(&t, CX_CAT_EXTERNAL, "phrase:stevedores"));
    /* the built-in terms still count, in every category */
    run(clf, EV("\"text\":\"the agent was rude and the carrier lost my parcel\""), &t);
    cr_assert(assigned(&t, CX_CAT_FACING) && assigned(&t, CX_CAT_EXTERNAL));
    /* switched off: no evidence, nothing added */
    run(clf, EV("\"text\":\"the builder\""), &t);
    cr_assert(!has_evidence(&t, CX_CAT_EXTERNAL, "phrase:builder"));
    cr_assert_float_eq(t.confidence[CX_CAT_EXTERNAL], 0.0f, 1e-6);
    /* overridden: the later weight counts, not the larger one */
    run(clf, EV("\"text\":\"the courier\""), &t);
    cr_assert(has_evidence(&t, CX_CAT_EXTERNAL, "phrase:courier"));
    cr_assert_float_eq(t.confidence[CX_CAT_EXTERNAL], 1.0f - expf(-0.2f), 1e-5);
    /* a condition switched off by name */
    run(clf, EV("\"text\":\"ok\",\"attributes\":{\"carrier\":\"DHL\"}"), &t);
    cr_assert(!has_evidence(&t, CX_CAT_EXTERNAL, "field:carrier named"));
    /* a later file overriding an earlier one is what it is for: no warning */
    cr_assert_eq(cx_classifier_warning_count(clf), 0, "%s",
                 cx_classifier_warning_count(clf) ? cx_classifier_warning(clf, 0) : "");
    cx_classifier_free(clf);

    /* without the override the built-in terms and condition count */
    clf =
        build_on_defaults("{\"category\":\"external\",\"phrases\":[{\"terms\":[\"x\"]}]}", "none");
    run(clf, EV("\"text\":\"the builder\""), &t);
    cr_assert(has_evidence(&t, CX_CAT_EXTERNAL, "phrase:builder"));
    run(clf, EV("\"text\":\"ok\",\"attributes\":{\"carrier\":\"DHL\"}"), &t);
    cr_assert(has_evidence(&t, CX_CAT_EXTERNAL, "field:carrier named"));
    cx_classifier_free(clf);

    /* with the built-in rules named, the built-in model comes with them */
    clf = build_on_defaults("{\"category\":\"external\",\"phrases\":[{\"terms\":[\"x\"]}]}", NULL);
    cr_assert(strstr(cx_classifier_version(clf), "+cxm") != NULL, "%s", cx_classifier_version(clf));
    cx_classifier_free(clf);
}

Test(cx_classify, missing_rule_file_is_reported)
{
    const char *files[] = {"/nonexistent/rules.json"};
    char err[512];
    cx_classifier *clf = NULL;
    cr_assert_eq(cx_classifier_new(&clf, files, 1, err, sizeof err), CX_ERR_CONFIG);
    cr_assert(strstr(err, "/nonexistent/rules.json: cannot open") != NULL, "%s", err);
    /* a directory is named as one (it used to be a bare "cannot read rule file") */
    const char *dirs[] = {"/tmp"};
    cr_assert_eq(cx_classifier_new(&clf, dirs, 1, err, sizeof err), CX_ERR_CONFIG);
    cr_assert(strstr(err, "/tmp: cannot open rule file: Is a directory") != NULL, "%s", err);
}

Test(cx_classify, names_categories_and_sentiments)
{
    cx_category c;
    cr_assert_eq(cx_category_from_name("external", &c), CX_OK);
    cr_assert_eq(c, CX_CAT_EXTERNAL);
    cr_assert_eq(cx_category_from_name("none", &c), CX_ERR_NOTFOUND);
    cr_assert_str_eq(cx_category_name(CX_CAT_COLLABORATIVE), "collaborative");
    cr_assert_null(cx_category_name(CX_CAT_COUNT));
    cr_assert_str_eq(cx_sentiment_name(CX_SENT_NEUTRAL), "neutral");
}

Test(cx_classify, keeps_a_declared_version_whole_or_rejects_it)
{
    /* 30 two-byte characters: 60 bytes, kept whole (it is stored as text). */
    char version[128] = "", json[512];
    for (int i = 0; i < 30; i++)
        strcat(version, "\xC3\xA9");
    snprintf(json, sizeof json, "{\"version\":\"%s\",\"category\":\"facing\","
             "\"phrases\":[{\"terms\":[\"rude\"]}]}", version);
    cx_classifier *clf = build(json);
    const char *v = cx_classifier_version(clf);
    cr_assert(strncmp(v, version, strlen(version)) == 0 && v[strlen(version)] == '+',
              "version \"%s\" does not start with the declared one", v);
    cx_classifier_free(clf);
    /* Longer than the limit, or not a string: an error, as `config --check` shows it. */
    char longer[256] = "";
    for (int i = 0; i < CX_CLASSIFIER_VERSION_MAX_CHARS + 1; i++)
        strcat(longer, "\xC3\xA9");
    snprintf(json, sizeof json, "{\"version\":\"%s\",\"category\":\"facing\"}", longer);
    expect_rule_error(json, "\"version\" must be a string of 1..64 characters");
    expect_rule_error("{\"version\":2,\"category\":\"facing\"}",
                      "\"version\" must be a string of 1..64 characters");
}

/* A text at the schema's length cap is read to its end, whatever it is made
 * of: an e-mail with a pasted table (two tokens every three characters) or a
 * run of "!" (a token each) still has its complaint found after it, with the
 * rules alone and with the model. */
Test(cx_classify, a_text_at_the_length_cap_is_read_to_its_end)
{
    const char *fills[] = {"table", "!"};
    for (size_t f = 0; f < 2; f++) {
        static char text[20000], json[20200];
        size_t n = (size_t)snprintf(text, sizeof text, "Order lines:\\n");
        while (n < 16300)
            n += f ? (size_t)snprintf(text + n, sizeof text - n, "!")
                   : (size_t)snprintf(text + n, sizeof text - n, "%02d;", (int)(n % 100));
        snprintf(text + n, sizeof text - n, "\\nThe agent was rude.");
        snprintf(json, sizeof json, EV("\"text\":\"%s\""), text);
        for (int m = 0; m < 2; m++) {
            cx_classifier *clf = NULL;
            char err[512];
            cr_assert_eq(cx_classifier_new_model(&clf, NULL, 0, m ? NULL : "none", err, sizeof err),
                         CX_OK, "%s", err);
            cx_tags t;
            run(clf, json, &t);
            cr_assert(has_evidence(&t, CX_CAT_FACING, "phrase:rude"),
                      "fill %s, %s: the complaint after it was not read", fills[f],
                      m ? "with the model" : "rules alone");
            cx_classifier_free(clf);
        }
    }
}

/* Text the built-in model and the lexicons cannot read (not English) is named
 * and counts as no text: no category from its words, no sentiment from them
 * (neutral unless rated), its fields still count. English stays read. */
Test(cx_classify, text_in_another_language_is_named_and_not_read)
{
    static const struct {
        const char *fields, *language; /* NULL: read */
    } cases[] = {
        {"\"language\":\"de-AT\",\"text\":\"the courier lost my parcel\"", "de"},
        {"\"language\":\"und\",\"text\":\"Der Support war super, das Problem mit der Rechnung"
         " wurde sofort gelöst.\"",
         "de"},
        {"\"text\":\"El agente fue muy amable y resolvió mi problema con la factura.\"", "es"},
        {"\"text\":\"Çok kötü hizmet, kargo geç geldi ve bir hafta bekledim\"", "tr"},
        {"\"text\":\"Nie jest źle, ale dostawa była bardzo późno\"", "pl"},
        {"\"text\":\"非常好，谢谢！\"", "zh"},
        {"\"text\":\"配達がとても遅かったです\"", "ja"},
        {"\"text\":\"Очень плохой сервис, посылка потерялась\"", "cyrillic"},
        /* a Latin product name in a CJK sentence: each character is about a word */
        {"\"text\":\"Amazon Prime Video のサポートは最悪\"", "ja"},
        {"\"text\":\"Samsung Galaxy S24 Ultra 到货太慢了\"", "zh"},
        {"\"text\":\"iPhone 15 Pro Max の配送が遅い\"", "ja"},
        /* three-letter codes (ISO 639-2, either form) */
        {"\"language\":\"deu\",\"text\":\"Sehr gut, schnelle Lieferung.\"", "de"},
        {"\"language\":\"GER\",\"text\":\"the courier lost my parcel\"", "de"},
        {"\"language\":\"spa\",\"text\":\"Excelente atención, muy rápido.\"", "es"},
        {"\"language\":\"jpn\",\"text\":\"the courier lost my parcel\"", "ja"},
        {"\"text\":\"خدمة ممتازة شكرا جزيلا\"", "arabic"},
        /* English, with a foreign name or two, or declared */
        {"\"text\":\"The El Paso store was rude, la la land\"", NULL},
        {"\"text\":\"Ordered the Le Creuset pan, it came broken 😡\"", NULL},
        {"\"text\":\"my order 注文 #12 never came\"", NULL},
        {"\"text\":\"The sushi bar 寿司屋 was great, staff friendly and quick\"", NULL},
        {"\"text\":\"张伟明 was rude\"", NULL},
        {"\"language\":\"en-GB\",\"text\":\"der das und ist nicht mit sehr\"", NULL},
        {"\"text\":\"late again\"", NULL},
        {"\"text\":\"Ordered on shop.com, parcel never arrived. Emailed help@shop.com twice,"
         " no reply\"",
         NULL},
        {"\"text\":\"AI assistant useless, do better\"", NULL},
        {"\"text\":\"Los Angeles store staff rude. LA branch needs help\"", NULL},
        {"\"language\":\"English\",\"text\":\"the courier lost my parcel\"", NULL},
        {"\"language\":\"eng\",\"text\":\"the courier lost my parcel\"", NULL},
        {"\"language\":\"klingon\",\"text\":\"the courier lost my parcel\"", NULL},
        {"\"text\":\"ÇOK KÖTÜ HİZMET, BİR HAFTA BEKLEDİM, DEĞİL Mİ\"", "tr"},
    };
    for (int m = 0; m < 3; m++) { /* rules alone, the built-in model, named "default" */
        cx_classifier *clf = NULL;
        char err[512], json[512];
        const char *const model[] = {"none", NULL, "default"};
        cr_assert_eq(cx_classifier_new_model(&clf, NULL, 0, model[m], err, sizeof err), CX_OK, "%s",
                     err);
        for (size_t i = 0; i < CX_ARRAY_LEN(cases); i++) {
            snprintf(json, sizeof json, EV("%s"), cases[i].fields);
            cx_tags t;
            run(clf, json, &t);
            if (cases[i].language == NULL)
                cr_assert_null(t.language_not_read, "%s: read as %s", json, t.language_not_read);
            else
                cr_assert(t.language_not_read != NULL &&
                              strcmp(t.language_not_read, cases[i].language) == 0,
                          "%s: %s, not %s", json, t.language_not_read, cases[i].language);
        }
        /* with the model, as if there were no text; the rules alone still
         * read their phrases (a company's own terms), not the lexicons */
        cx_tags t;
        run(clf, EV("\"language\":\"de\",\"text\":\"the courier lost my parcel, awful\""), &t);
        cr_assert_eq(t.sentiment, m ? CX_SENT_NEUTRAL : CX_SENT_NEGATIVE);
        if (m)
            cr_assert_eq(t.n_assigned, 0, "the model read the text");
        run(clf, EV("\"text\":\"非常好，谢谢！\",\"rating\":{\"scale\":\"csat\",\"value\":1}"), &t);
        cr_assert_eq(t.sentiment, CX_SENT_NEGATIVE, "the rating decides");
        run(clf,
            EV("\"language\":\"pl\",\"text\":\"dostawa spóźniona\",\"attributes\":"
               "{\"promised_date\":\"2024-05-01\",\"delivered_date\":\"2024-05-09\"}"),
            &t);
        cr_assert(assigned(&t, CX_CAT_PERFORMANCE), "the field condition holds");
        cx_classifier_free(clf);
    }
}

/* The lexicons look up words as written: a letter beyond ASCII is not dropped
 * to make another word ("Çok" is not "ok", "Şüpheli" not "pheli"). */
Test(cx_classify, a_word_with_letters_beyond_ascii_is_not_read_as_another)
{
    cx_classifier *clf = NULL;
    char err[512];
    cr_assert_eq(cx_classifier_new_model(&clf, NULL, 0, "none", err, sizeof err), CX_OK, "%s", err);
    cx_tags t;
    run(clf, EV("\"text\":\"Çok kötü hizmet\""), &t);
    cr_assert_eq(t.sentiment, CX_SENT_NEUTRAL, "read as %s", cx_sentiment_name(t.sentiment));
    run(clf, EV("\"text\":\"ok\""), &t);
    cr_assert_eq(t.sentiment, CX_SENT_POSITIVE, "the English word still counts");
    cx_classifier_free(clf);
}
