/*
 * test_rules_edges.c - the edges of the rule files users write: a field
 * condition of weight 1 beside the built-in model, how far a negator reaches,
 * the bounds of a weight, comparisons at equality, and how much evidence a
 * category keeps.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* ---- What a rule author gets wrong ---------------------------------------- */

/* The built-in rules, then the file json, rules alone. */
static cx_classifier *on_defaults(const char *json)
{
    const char *files[] = {CX_CLASSIFIER_BUILTIN, rule_file(1, json)};
    char err[512] = "";
    cx_classifier *clf = NULL;
    cr_assert_eq(cx_classifier_new_model(&clf, files, 2, "none", err, sizeof err), CX_OK, "%s",
                 err);
    return clf;
}

/* The warning that holds every one of a, b and c, or NULL. */
static const char *warned(const cx_classifier *clf, const char *a, const char *b, const char *c)
{
    for (size_t i = 0; i < cx_classifier_warning_count(clf); i++) {
        const char *w = cx_classifier_warning(clf, i);
        if (strstr(w, a) && strstr(w, b) && strstr(w, c))
            return w;
    }
    return NULL;
}

/* A term replaces what earlier files said of the phrase it reads as, and the
 * built-in "booking" reads as "booked": the author is told, since the
 * override reaches a term they did not write. */
Test(cx_rules_edges, a_term_that_replaces_an_earlier_term_spelt_otherwise_says_so)
{
    cx_classifier *clf = on_defaults(
        "{\"category\":\"collaborative\",\"phrases\":[{\"weight\":0.2,\"terms\":[\"booked\"]}]}");
    cx_tags t;
    run(clf, EV("\"text\":\"the booking\""), &t);
    cr_assert_float_eq(t.confidence[CX_CAT_COLLABORATIVE], 1.0f - expf(-0.2f), 1e-5);
    const char *w = warned(clf, "\"booked\" (collaborative)", "\"booking\" in ",
                           "so it replaces that too (weight 0.2 for both)");
    cr_assert_not_null(w, "%zu warnings, the first: %s", cx_classifier_warning_count(clf),
                       cx_classifier_warning_count(clf) ? cx_classifier_warning(clf, 0) : "");
    cr_assert(strstr(w, "collaborative.json") != NULL, "names the earlier file: %s", w);
    cx_classifier_free(clf);
}

/* Weight 0 is how a term or condition is switched off; one that matches
 * nothing earlier (a typo, another category, another case of a condition's
 * name) switches nothing off and is said to. A condition is switched off by
 * its name alone. */
Test(cx_rules_edges, a_weight_0_that_switches_nothing_off_is_said)
{
    cx_classifier *clf = on_defaults(
        "{\"category\":\"external\",\"phrases\":[{\"weight\":0,\"terms\":[\"carier\"]}],"
        "\"conditions\":[{\"name\":\"Carrier named\",\"weight\":0,\"all\":[{\"field\":"
        "\"attributes.carrier\",\"op\":\"present\"}]},"
        "{\"name\":\"vendor named\",\"weight\":0}]}");
    cr_assert_not_null(
        warned(clf, "\"carier\" has weight 0", "for external", "it switches nothing off"));
    cr_assert_not_null(warned(clf, "rule \"Carrier named\": condition of weight 0", "for external",
                              "it switches nothing off"));
    cr_assert_eq(cx_classifier_warning_count(clf), 2, "the vendor condition was switched off: %s",
                 cx_classifier_warning(clf, cx_classifier_warning_count(clf) - 1));
    cx_tags t;
    run(clf, EV("\"text\":\"ok\",\"attributes\":{\"carrier\":\"DHL\",\"vendor\":\"Acme\"}"), &t);
    cr_assert(has_evidence(&t, CX_CAT_EXTERNAL, "field:carrier named"), "still on");
    cr_assert(!has_evidence(&t, CX_CAT_EXTERNAL, "field:vendor named"), "switched off by name");
    cx_classifier_free(clf);
}

/* Two files that say the same in other words (white space, the order of
 * members, comments, 1 for 1.0) are one rule version: reformatting a file
 * does not make every stored event look out of date. A file named twice is
 * read once. The last file to declare a version names it. */
Test(cx_rules_edges, the_rule_version_follows_what_the_rules_say_not_how_they_are_written)
{
    const char *a =
        "{\"category\":\"external\",\"phrases\":[{\"weight\":1.0,\"terms\":[\"haulier\"]"
        "}],\"version\":\"nordfreight-1\"}";
    const char *b = "{\n  \"version\": \"nordfreight-1\",\n  \"comment\": \"hauliers we hire\",\n"
                    "  \"phrases\": [ { \"terms\": [ \"haulier\" ], \"weight\": 1 } ],\n"
                    "  \"category\": \"external\"\n}\n";
    const char *c =
        "{\"category\":\"external\",\"phrases\":[{\"weight\":1.1,\"terms\":[\"haulier\"]"
        "}],\"version\":\"nordfreight-1\"}";
    const char *files[] = {CX_CLASSIFIER_BUILTIN, rule_file(1, a), rule_file(1, a)};
    char err[512] = "", va[160], vb[160];
    cx_classifier *clf = NULL;
    cr_assert_eq(cx_classifier_new_model(&clf, files, 2, "none", err, sizeof err), CX_OK, "%s",
                 err);
    snprintf(va, sizeof va, "%s", cx_classifier_version(clf));
    cr_assert(strncmp(va, "nordfreight-1+", 14) == 0, "the last declared version: %s", va);
    cx_classifier_free(clf);

    files[1] = rule_file(2, b);
    cr_assert_eq(cx_classifier_new_model(&clf, files, 2, "none", err, sizeof err), CX_OK, "%s",
                 err);
    snprintf(vb, sizeof vb, "%s", cx_classifier_version(clf));
    cr_assert_str_eq(vb, va, "reformatted");
    cx_classifier_free(clf);

    files[1] = rule_file(1, a); /* files[2] names it again */
    cr_assert_eq(cx_classifier_new_model(&clf, files, 3, "none", err, sizeof err), CX_OK, "%s",
                 err);
    cr_assert_str_eq(cx_classifier_version(clf), va, "named twice");
    cr_assert_not_null(warned(clf, files[1], "is named twice", "read once"));
    cx_classifier_free(clf);

    files[1] = rule_file(2, c);
    cr_assert_eq(cx_classifier_new_model(&clf, files, 2, "none", err, sizeof err), CX_OK, "%s",
                 err);
    cr_assert_str_neq(cx_classifier_version(clf), va, "another weight is another version");
    cx_classifier_free(clf);
}

/* What an author writes by habit: a term padded with spaces is shown as the
 * phrase it is; a term written as a pattern is warned about; a file saved
 * with a byte order mark, or read from a pipe, loads. */
Test(cx_rules_edges, a_term_as_an_author_writes_it_and_a_file_as_it_is_saved)
{
    cx_classifier *clf = build("{\"category\":\"external\",\"phrases\":[{\"terms\":["
                               "\"  linehaul \\t  partner  \",\"3pl|4pl\"]}]}");
    cx_tags t;
    run(clf, EV("\"text\":\"our linehaul partner lost it\""), &t);
    cr_assert(has_evidence(&t, CX_CAT_EXTERNAL, "phrase:linehaul partner"), "%s",
              t.n_evidence[CX_CAT_EXTERNAL] ? t.evidence[CX_CAT_EXTERNAL][0] : "no evidence");
    cr_assert_not_null(warned(clf, "term \"3pl|4pl\" has \"|\"", "not patterns", "rules"));
    cx_classifier_free(clf);

    clf = build("\xEF\xBB\xBF{\"category\":\"external\",\"phrases\":[{\"terms\":[\"haulier\"]}]}");
    run(clf, EV("\"text\":\"the haulier\""), &t);
    cr_assert(has_evidence(&t, CX_CAT_EXTERNAL, "phrase:haulier"));
    cx_classifier_free(clf);

    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    const char *json = "{\"category\":\"external\",\"phrases\":[{\"terms\":[\"haulier\"]}]}";
    cr_assert_eq(write(fds[1], json, strlen(json)), (ssize_t)strlen(json));
    close(fds[1]);
    char path[64], err[512] = "";
    snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
    const char *files[] = {path};
    clf = NULL;
    cr_assert_eq(cx_classifier_new_model(&clf, files, 1, "none", err, sizeof err), CX_OK, "%s",
                 err);
    close(fds[0]);
    run(clf, EV("\"text\":\"the haulier\""), &t);
    cr_assert(has_evidence(&t, CX_CAT_EXTERNAL, "phrase:haulier"));
    cx_classifier_free(clf);
}
