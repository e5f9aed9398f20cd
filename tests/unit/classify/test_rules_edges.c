/*
 * test_rules_edges.c - the edges of the rule files users write: a field
 * condition of weight 1 beside the built-in model, how far a negator reaches,
 * the bounds of a weight, comparisons at equality, and how much evidence a
 * category keeps.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "tmpdir.h"

TestSuite(cx_rules_edges, .init = make_dir, .fini = remove_dir);

#define EV(extra) "{\"event_id\":\"e\",\"occurred_at\":\"2024-05-01T10:00:00Z\"," extra "}"

/* Builds a classifier from the given rule files (the rules alone unless
 * "default" is among them). */
static cx_classifier *build_files(const char *const *files, size_t n)
{
    char err[512] = "";
    cx_classifier *clf = NULL;
    cr_assert_eq(cx_classifier_new_model(&clf, files, n, NULL, err, sizeof err), CX_OK, "%s", err);
    return clf;
}

/* ---- A field condition beside the built-in model ------------------------ */

/* A user's field condition of weight 1 (confidence 1 - e^-1 = 0.632) tags its
 * category even when the model, reading only the text, sees nothing of it:
 * field conditions are certain. */
Test(cx_rules_edges, a_field_condition_of_weight_1_tags_beside_the_built_in_model)
{
    const char *files[] = {
        CX_CLASSIFIER_BUILTIN,
        rule_file(0, "{\"category\":\"collaborative\",\"conditions\":[{\"name\":\"vip customer\","
                     "\"weight\":1,\"all\":[{\"field\":\"attributes.tier\",\"op\":\"eq\","
                     "\"value\":\"vip\"}]}]}")};
    cx_classifier *clf = build_files(files, 2);
    cx_tags t;
    run(clf, EV("\"text\":\"Thanks, lovely day\""), &t);
    cr_assert(!assigned(&t, CX_CAT_COLLABORATIVE),
              "the text alone must not tag collaborative (confidence %.3f)",
              (double)t.confidence[CX_CAT_COLLABORATIVE]);
    run(clf, EV("\"text\":\"Thanks, lovely day\",\"attributes\":{\"tier\":\"vip\"}"), &t);
    cr_assert(assigned(&t, CX_CAT_COLLABORATIVE),
              "the vip condition did not tag collaborative (confidence %.3f)",
              (double)t.confidence[CX_CAT_COLLABORATIVE]);
    cr_assert_geq(t.confidence[CX_CAT_COLLABORATIVE], 0.63f, "confidence %.3f below 1 - e^-1",
                  (double)t.confidence[CX_CAT_COLLABORATIVE]);
    cx_classifier_free(clf);
}

/* ---- How far a negator reaches ------------------------------------------- */

static cx_classifier *rude_rules(void)
{
    const char *files[] = {rule_file(0, "{\"category\":\"facing\",\"phrases\":["
                                        "{\"weight\":1.0,\"polarity\":-1,\"terms\":[\"rude\"]}]}"),
                           rule_file(1, "{\"sentiment\":{\"negators\":[\"not\",\"no\",\"never\"],"
                                        "\"clause_breaks\":[\"but\"]}}")};
    return build_files(files, 2);
}

/* A negator reaches the next 3 words: "not at all rude" is no complaint. */
Test(cx_rules_edges, a_negator_three_words_before_a_complaint_negates_it)
{
    cx_classifier *clf = rude_rules();
    cx_tags t;
    run(clf, EV("\"text\":\"They were not at all rude\""), &t);
    cr_assert(!has_evidence(&t, CX_CAT_FACING, "phrase:rude"),
              "\"not\" 3 words before \"rude\" must negate it");
    cr_assert(!assigned(&t, CX_CAT_FACING), "a negated complaint tagged facing");
    cx_classifier_free(clf);
}

/* ... and no further: 5 words on, "rude" is a complaint again. */
Test(cx_rules_edges, a_negator_five_words_before_a_complaint_does_not_reach_it)
{
    cx_classifier *clf = rude_rules();
    cx_tags t;
    run(clf, EV("\"text\":\"They were not even a little bit rude\""), &t);
    cr_assert(has_evidence(&t, CX_CAT_FACING, "phrase:rude"),
              "\"not\" 5 words before \"rude\" must not negate it");
    cx_classifier_free(clf);
}

/* ---- Weights --------------------------------------------------------------- */

/* A negative weight is refused, like one above 3: weights are in [0, 3]. */
Test(cx_rules_edges, a_negative_weight_is_refused)
{
    const char *json = "{\"category\":\"facing\",\"phrases\":[{\"weight\":-1,\"terms\":[\"x\"]}]}";
    const char *files[] = {rule_file(2, json)};
    char err[512] = "";
    cx_classifier *clf = NULL;
    cr_assert_eq(cx_classifier_new(&clf, files, 1, err, sizeof err), CX_ERR_CONFIG,
                 "weight -1 accepted");
    cr_assert_null(clf);
    cr_assert(strstr(err, "rule \"phrases[0]\": \"weight\" must be a number in [0, 3]") != NULL,
              "error \"%s\" does not say the weight's range", err);
}

/* ---- Comparisons at equality ---------------------------------------------- */

/* A performance rule of weight 2 with the one clause given. */
static cx_classifier *condition(const char *clause)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"category\":\"performance\",\"conditions\":[{\"name\":\"c\",\"weight\":2,"
             "\"all\":[%s]}]}",
             clause);
    return build(json);
}

/* gt is strictly greater: 3 days late is not more than 3. */
Test(cx_rules_edges, gt_does_not_hold_for_an_equal_number)
{
    cx_classifier *clf =
        condition("{\"field\":\"attributes.days_late\",\"op\":\"gt\",\"value\":3}");
    cx_tags t;
    run(clf, EV("\"text\":\"x\",\"attributes\":{\"days_late\":3}"), &t);
    cr_assert(!assigned(&t, CX_CAT_PERFORMANCE), "days_late 3 counted as gt 3");
    cr_assert(!has_evidence(&t, CX_CAT_PERFORMANCE, "field:c"));
    run(clf, EV("\"text\":\"x\",\"attributes\":{\"days_late\":3.5}"), &t);
    cr_assert(assigned(&t, CX_CAT_PERFORMANCE), "days_late 3.5 not counted as gt 3");
    cx_classifier_free(clf);
}

/* before is strictly earlier: a date is not before itself. */
Test(cx_rules_edges, before_does_not_hold_for_the_same_date)
{
    cx_classifier *clf =
        condition("{\"field\":\"attributes.shipped\",\"op\":\"before\",\"value\":\"2024-01-01\"}");
    cx_tags t;
    run(clf, EV("\"text\":\"x\",\"attributes\":{\"shipped\":\"2024-01-01\"}"), &t);
    cr_assert(!assigned(&t, CX_CAT_PERFORMANCE), "2024-01-01 counted as before 2024-01-01");
    cr_assert_null(t.unreadable, "the date was readable");
    run(clf, EV("\"text\":\"x\",\"attributes\":{\"shipped\":\"2023-12-31\"}"), &t);
    cr_assert(assigned(&t, CX_CAT_PERFORMANCE), "2023-12-31 not counted as before 2024-01-01");
    cx_classifier_free(clf);
}

/* ---- Evidence ---------------------------------------------------------------- */

/* A category keeps at most CX_EVIDENCE_MAX (8) evidence items, and all 8 when
 * more matched: 10 distinct terms in one text give exactly 8. */
Test(cx_rules_edges, a_category_keeps_exactly_8_evidence_items_when_more_match)
{
    cx_classifier *clf =
        build("{\"category\":\"external\",\"phrases\":[{\"weight\":0.2,\"terms\":["
              "\"alpha\",\"bravo\",\"charlie\",\"delta\",\"echo\",\"foxtrot\",\"golf\","
              "\"hotel\",\"india\",\"juliet\"]}]}");
    cx_tags t;
    run(clf, EV("\"text\":\"alpha bravo charlie delta echo foxtrot golf hotel india juliet\""), &t);
    cr_assert(assigned(&t, CX_CAT_EXTERNAL), "10 terms of weight 0.2 did not tag external");
    cr_assert_eq(CX_EVIDENCE_MAX, 8);
    cr_assert_eq(t.n_evidence[CX_CAT_EXTERNAL], 8, "%d evidence items kept, not 8",
                 t.n_evidence[CX_CAT_EXTERNAL]);
    for (int i = 0; i < t.n_evidence[CX_CAT_EXTERNAL]; i++)
        cr_assert(strncmp(t.evidence[CX_CAT_EXTERNAL][i], "phrase:", 7) == 0, "item %d is %s", i,
                  t.evidence[CX_CAT_EXTERNAL][i]);
    cx_classifier_free(clf);
}
