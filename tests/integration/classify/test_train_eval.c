/*
 * test_train_eval.c - `cxpulse train` and `cxpulse eval` as users call them:
 * a model trained on labeled events is used through --model and scored by
 * eval, whose minimums set the exit status; a model adapted from another one
 * (--from) keeps what it knew; and a company's own model, adapted from the
 * built-in one on its earlier labeled events, clearly beats the built-in model
 * on its later ones (tests/data/company/labeled.jsonl, split by occurred_at).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxtest.h"

static char dir[] = "/tmp/cxpulse-train.XXXXXX";

static void make_dir(void)
{
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    cx_test_sh("rm -rf '%s'", dir);
}

TestSuite(train_eval, .init = make_dir, .fini = remove_dir);

/* Writes n labeled events of a made-up shop whose words the built-in model never saw. */
static void write_labels(const char *path, int n, int offset)
{
    static const struct {
        const char *text, *cats, *sent;
    } kinds[] = {
        {"the glimmerdesk person snapped at me", "\"facing\"", "negative"},
        {"glimmerdesk person was a star today", "\"facing\"", "positive"},
        {"zorbpay ledger shows a phantom debit", "\"collaborative\"", "negative"},
        {"zorbpay ledger glitch again", "\"collaborative\"", "negative"},
        {"the quillhaul van crew flung my box", "\"external\"", "negative"},
        {"quillhaul van crew were gentle", "\"external\"", "positive"},
        {"box turned up a fortnight past the slot", "\"performance\"", "negative"},
        {"slot blown, fortnight past", "\"performance\"", "negative"},
        {"the mug is a nice shade of teal", "", "positive"},
        {"which teal shades exist", "", "neutral"},
    };
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < n; i++) {
        int k = (i + offset) % 10;
        fprintf(
            f,
            "{\"event\":{\"event_id\":\"e%d\",\"occurred_at\":\"2025-03-01T10:00:00Z\","
            "\"text\":\"%s #%d\"},\"categories\":[%s],\"sentiment\":\"%s\",\"industry\":\"%s\"}\n",
            i, kinds[k].text, i, kinds[k].cats, kinds[k].sent, k < 5 ? "retail" : "shop");
    }
    fclose(f);
}

Test(train_eval, a_trained_model_is_used_and_scored)
{
    char train[300], test[300], model[300], out[300];
    snprintf(train, sizeof train, "%s/train.jsonl", dir);
    snprintf(test, sizeof test, "%s/test.jsonl", dir);
    snprintf(model, sizeof model, "%s/shop.cxm", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    write_labels(train, 200, 0);
    write_labels(test, 50, 3);
    cr_assert_eq(cx_test_sh("%s train %s --out %s > %s", cx_test_bin(), train, model, out), 0);
    cr_assert_eq(cx_test_sh("grep -q 'trained on 200 events' %s", out), 0);
    /* how many events had each category, its threshold, and the out-of-fold
     * figures: the shop's words are learned from any three quarters */
    cr_assert_eq(
        cx_test_sh("grep -Ec '^  [a-z]+ +40 labeled, threshold 0\\.[0-9]{2}, F1 1\\.00 out "
                   "of fold$' %s | grep >/dev/null -x 4 && "
                   "grep -q '^  sentiment: accuracy 1.00 out of fold$' %s",
                   out, out),
        0);
    /* the model learned the shop's words: every label right */
    cr_assert_eq(cx_test_sh("%s eval %s --model %s --by industry --min-macro-f1 0.95 "
                            "--min-sentiment 0.95 > %s",
                            cx_test_bin(), test, model, out),
                 0);
    cr_assert_eq(cx_test_sh("grep -q '^macro-F1 1.000 over 50 events' %s", out), 0);
    cr_assert_eq(cx_test_sh("grep -q '^none: predicted for 10 events, labeled for 10' %s", out), 0);
    cr_assert_eq(cx_test_sh("grep -Eq '^  retail +25 ' %s && grep -q '+cxm2-' %s", out, out), 0);
    /* with how many of each category the group's F1 rests on */
    cr_assert_eq(cx_test_sh("grep -Eq '^  retail +25 .* \\(10/10/5/0\\)$' %s", out), 0);
    /* classify uses it too, with the model's features as evidence */
    cr_assert_eq(cx_test_sh("head -1 %s | sed 's/.*\"event\":\\({[^}]*}\\).*/\\1/' | "
                            "%s classify --model %s | grep >/dev/null '\"model:'",
                            test, cx_test_bin(), model),
                 0);
    /* adapting the shop's model to 20 events keeps what it knew; 4 events of
     * a category are too few to choose its threshold from, and training says
     * so (the values kept are checked in the unit tests) */
    char few[300];
    snprintf(few, sizeof few, "%s/few.jsonl", dir);
    write_labels(few, 20, 7);
    cr_assert_eq(cx_test_sh("%s train %s --from %s --out %s.ft > %s && "
                            "%s eval %s --model %s.ft --min-macro-f1 0.95 > /dev/null",
                            cx_test_bin(), few, model, model, out, cx_test_bin(), test, model),
                 0);
    cr_assert_eq(
        cx_test_sh("grep -c \"^  [a-z]* *4 labeled, threshold 0\\.[0-9]* (the base model's: "
                   "fewer than 5 labeled)$\" %s | grep >/dev/null -x 4",
                   out),
        0);
    /* trained anew on them, each gets 0.5 */
    cr_assert_eq(cx_test_sh("%s train %s --out %s.new > %s && grep -c 'threshold 0.50 (fewer than "
                            "5 labeled)$' %s | grep >/dev/null -x 4",
                            cx_test_bin(), few, model, out, out),
                 0);
    /* below a minimum: exit 1; a damaged model: exit 2 naming the file */
    cr_assert_eq(cx_test_sh("%s eval %s --model none --min-macro-f1 0.99 > /dev/null 2>&1",
                            cx_test_bin(), test),
                 1);
    cr_assert_eq(cx_test_sh("head -c 1000 %s > %s.cut && %s eval %s --model %s.cut 2> %s", model,
                            model, cx_test_bin(), test, model, out),
                 2);
    cr_assert_eq(cx_test_sh("grep -q 'shop.cxm.cut: model checksum mismatch' %s", out), 0);
    /* a bad line is named and left out by train, which writes the model
     * without it and exits 1, saying so last (as eval fails on it) */
    cr_assert_eq(cx_test_sh("rm %s && echo 'not json' >> %s && %s train %s --out %s 2> %s > "
                            "/dev/null",
                            model, train, cx_test_bin(), train, model, out),
                 1);
    cr_assert_eq(cx_test_sh("grep -q 'train.jsonl: line 201: not JSON' %s && tail -n 1 %s | "
                            "grep -qx 'cxpulse train: 1 line was left out (named above): %s was "
                            "written without them' && test -s %s",
                            out, out, model, model),
                 0, "see %s", out);
    cr_assert_eq(cx_test_sh("sed -i '$d' %s", train), 0);
    /* --l2-sentiment holds the sentiment outputs alone: at a huge penalty the
     * shop's words teach no sentiment, and its categories are still learned */
    cr_assert_eq(cx_test_sh("%s train %s --l2-sentiment 1000 --out %s > /dev/null 2>&1",
                            cx_test_bin(), train, model),
                 0);
    cr_assert_eq(
        cx_test_sh("%s eval %s --model %s --misses 0 > %s", cx_test_bin(), test, model, out), 0);
    cr_assert_eq(cx_test_sh("grep -q '^macro-F1 1.000 over 50 events' %s", out), 0);
    cr_assert_eq(cx_test_sh("%s eval %s --model %s --min-sentiment 0.9 > /dev/null", cx_test_bin(),
                            test, model),
                 1, "sentiment was learned despite the penalty");
    /* a negative penalty is a usage error */
    cr_assert_eq(cx_test_sh("%s train %s --l2-sentiment -1 --out %s > /dev/null 2> %s",
                            cx_test_bin(), train, model, out),
                 2);
    cr_assert_eq(
        cx_test_sh("grep -q -- '--l2-sentiment \"-1\": expected a number of at least 0' %s", out),
        0);
    cr_assert_eq(cx_test_sh("%s train %s --dropout-sentiment 1 --out %s > /dev/null 2> %s",
                            cx_test_bin(), train, model, out),
                 2);
    cr_assert_eq(
        cx_test_sh("grep -q -- '--dropout-sentiment \"1\": expected a number from 0 to 0.9' %s",
                   out),
        0);
    /* each bad value is named with what the option expects */
    cr_assert_eq(
        cx_test_sh("%s train %s --out %s --epochs 2.5 2> %s", cx_test_bin(), train, model, out), 2);
    cr_assert_eq(cx_test_sh("grep -q -- '--epochs \"2.5\": expected a whole number' %s", out), 0);
    cr_assert_eq(cx_test_sh("%s train %s --out %s --seed 2> %s", cx_test_bin(), train, model, out),
                 2);
    cr_assert_eq(cx_test_sh("grep -q -- '\"--seed\" needs a value' %s", out), 0);
    cr_assert_eq(cx_test_sh("%s eval %s --min-macro-f1 high 2> %s", cx_test_bin(), test, out), 2);
    cr_assert_eq(
        cx_test_sh("grep -q -- '--min-macro-f1 \"high\": expected a number from 0 to 1' %s", out),
        0);
}

/* Reviews known only by their stars: a line without "categories" teaches the
 * feeling and nothing else. Train says how many there were and counts each
 * category as before; the words only they have carry their feeling into
 * classify and tag no category; eval scores their sentiment alone, and a
 * minimum macro-F1 over no labeled categories fails rather than passes. */
Test(train_eval, lines_without_categories_teach_the_sentiment_only)
{
    char train[300], model[300], out[300];
    snprintf(train, sizeof train, "%s/rated.jsonl", dir);
    snprintf(model, sizeof model, "%s/rated.cxm", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    write_labels(train, 200, 0);
    FILE *f = fopen(train, "a");
    cr_assert_not_null(f);
    for (int i = 0; i < 40; i++)
        fprintf(f,
                "{\"event\":{\"event_id\":\"r%d\",\"occurred_at\":\"2025-03-01T10:00:00Z\","
                "\"text\":\"the %s flavour #%d\"},\"sentiment\":\"%s\",\"stars\":%d}\n",
                i, i % 2 ? "plinkstone" : "marblecrisp", i, i % 2 ? "negative" : "positive",
                i % 2 ? 1 : 5);
    fclose(f);
    cr_assert_eq(cx_test_sh("%s train %s --out %s > %s", cx_test_bin(), train, model, out), 0);
    cr_assert_eq(
        cx_test_sh("grep -q 'trained on 240 events' %s && grep -Ec '^  [a-z]+ +40 "
                   "labeled, threshold' %s | grep >/dev/null -x 4 && grep -q '^  sentiment: "
                   "accuracy [0-9.]* out of fold (40 events labeled with their "
                   "sentiment only)$' %s",
                   out, out, out),
        0);
    cr_assert_eq(cx_test_sh("printf '%%s\\n' "
                            "'{\"event_id\":\"a\",\"occurred_at\":\"2025-04-01T10:00:00Z\","
                            "\"text\":\"the plinkstone flavour\"}' "
                            "'{\"event_id\":\"b\",\"occurred_at\":\"2025-04-01T10:00:00Z\","
                            "\"text\":\"the marblecrisp flavour\"}' | %s classify --model %s > %s",
                            cx_test_bin(), model, out),
                 0);
    cr_assert_eq(
        cx_test_sh("sed -n 1p %s | grep >/dev/null '\"categories\":\\[\\],.*\"sentiment\":"
                   "\"negative\"' && sed -n 2p %s | grep >/dev/null '\"categories\":\\[\\],"
                   ".*\"sentiment\":\"positive\"'",
                   out, out),
        0, "the stars' feeling was not learned");
    /* The 200 labeled lines classify right (as in learns_what_it_is_taught); a
     * sentiment-only line classified with the categories it does not have,
     * none, counts for its sentiment only: the category counts stay 200's. */
    cr_assert_eq(cx_test_sh("%s eval %s --model %s --misses 0 --by stars > %s", cx_test_bin(),
                            train, model, out),
                 0);
    cr_assert_eq(cx_test_sh("grep -q '^macro-F1 1.000 over 200 events (0 lines left out)' %s && "
                            "grep -q '^none: predicted for 40 events, labeled for 40$' %s && "
                            "grep -q '^sentiment accuracy 1.000 over 240 events, 40 of them "
                            "labeled with their sentiment only' %s && "
                            "grep -Eq '^  1 +20 +- +1.000 ' %s",
                            out, out, out, out),
                 0);
    /* Their sentiment is scored: with the words' feelings swapped it fails. */
    cr_assert_eq(cx_test_sh("grep -v '\"categories\"' %s | sed 's/plinkstone/@/; "
                            "s/marblecrisp/plinkstone/; s/@/marblecrisp/' > %s.swapped && "
                            "%s eval %s.swapped --model %s --misses 0 --min-sentiment 0.5 > %s",
                            train, train, cx_test_bin(), train, model, out),
                 1);
    cr_assert_eq(cx_test_sh("grep -q '^sentiment accuracy 0.000 over 40 events' %s && "
                            "grep -q '^macro-F1: no event is labeled with its categories' %s",
                            out, out),
                 0);
    /* given at all, even as 0, the minimum wants events to score */
    cr_assert_eq(cx_test_sh("%s eval %s.swapped --model %s --min-macro-f1 0 > /dev/null 2> %s",
                            cx_test_bin(), train, model, out),
                 1);
    cr_assert_eq(cx_test_sh("grep -q 'no event is labeled with its categories' %s", out), 0);
}

/* --by over a field with more values than the table holds: the first 255
 * get their own rows, the rest one row, and no event goes uncounted. A
 * value longer than a row's name is one row too. */
Test(train_eval, by_a_field_with_many_values_counts_every_event)
{
    char labels[300], out[300];
    snprintf(labels, sizeof labels, "%s/many.jsonl", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    FILE *f = fopen(labels, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 300; i++)
        fprintf(f,
                "{\"event\":{\"event_id\":\"m%d\",\"occurred_at\":\"2025-03-01T10:00:00Z\","
                "\"text\":\"the mug is teal\"},\"categories\":[],\"sentiment\":\"neutral\","
                "\"shop\":\"shop-%03d\"}\n",
                i, i);
    fclose(f);
    cr_assert_eq(cx_test_sh("%s eval %s --by shop > %s", cx_test_bin(), labels, out), 0);
    cr_assert_eq(cx_test_sh("grep -Eq '^  shop-254 +1 ' %s", out), 0);
    cr_assert_eq(cx_test_sh("grep -q '^  shop-255 ' %s", out), 1);
    cr_assert_eq(cx_test_sh("grep -Eq '^  \\(all other values\\) +45 ' %s", out), 0);
    /* a field no line has (a typo) is pointed out, with the key of the
     * lines or their events meant, and its one row is of the lines without
     * a value (not "(none)", which reads as no category) */
    cr_assert_eq(
        cx_test_sh("%s eval %s --by shpo > %s.stdout 2> %s", cx_test_bin(), labels, out, out), 0);
    cr_assert_eq(cx_test_sh("grep -qx 'cxpulse eval: warning: no line has \"shpo\" (did you mean "
                            "\"shop\"?)' %s && grep -Eq '^  \\(no value\\) +300 ' %s.stdout",
                            out, out),
                 0, "see %s", out);
    cr_assert_eq(
        cx_test_sh("%s eval %s --by evnet_id > /dev/null 2> %s", cx_test_bin(), labels, out), 0);
    cr_assert_eq(
        cx_test_sh("grep -q 'no line has \"evnet_id\" (did you mean \"event_id\"?)' %s", out), 0,
        "see %s", out);
    cr_assert_eq(cx_test_sh("%s eval %s --by zzz > /dev/null 2> %s", cx_test_bin(), labels, out),
                 0);
    cr_assert_eq(cx_test_sh("grep -q 'no line has \"zzz\" (a key of the labeled line' %s", out), 0,
                 "see %s", out);
    /* one table a run: a second --by is not taken for the first */
    cr_assert_eq(cx_test_sh("%s eval %s --by shop --by industry > %s.stdout 2> %s", cx_test_bin(),
                            labels, out, out),
                 2);
    cr_assert_eq(cx_test_sh("grep -q -- '--by given 2 times (\"shop\", \"industry\"): it takes "
                            "one field' %s",
                            out),
                 0, "see %s", out);
    cr_assert_eq(cx_test_sh("%s eval %s --by shop > /dev/null 2> %s", cx_test_bin(), labels, out),
                 0);
    cr_assert_eq(cx_test_sh("grep -q 'no line has' %s", out), 1);

    f = fopen(labels, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 5; i++)
        fprintf(f,
                "{\"event\":{\"event_id\":\"m%d\",\"occurred_at\":\"2025-03-01T10:00:00Z\","
                "\"text\":\"the mug is teal\"},\"categories\":[],\"sentiment\":\"neutral\","
                "\"shop\":\"%s\"}\n",
                i, "the-shop-with-a-name-much-longer-than-sixty-four-bytes-of-any-table-row");
    fclose(f);
    cr_assert_eq(cx_test_sh("%s eval %s --by shop > %s", cx_test_bin(), labels, out), 0);
    cr_assert_eq(cx_test_sh("grep -Eq '^  the-shop-with-a-name-much-longer[a-z-]* +5 ' %s", out), 0,
                 "five events of one long value are not one row");
}

/* A file that cannot be read (here a folder) is an error naming it and the
 * reason, not an empty set of labels. */
Test(train_eval, an_unreadable_file_is_an_error_naming_it)
{
    char out[300];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    cr_assert_eq(cx_test_sh("%s eval %s > /dev/null 2> %s", cx_test_bin(), dir, out), 1);
    cr_assert_eq(cx_test_sh("grep -q '%s: cannot open: Is a directory' %s", dir, out), 0);
    cr_assert_eq(
        cx_test_sh("%s train %s --out %s/m.cxm > /dev/null 2> %s", cx_test_bin(), dir, dir, out),
        1);
    cr_assert_eq(cx_test_sh("grep -q '%s: cannot open: Is a directory' %s", dir, out), 0);
    cr_assert_eq(cx_test_sh("%s classify %s > /dev/null 2> %s", cx_test_bin(), dir, out), 1);
    cr_assert_eq(cx_test_sh("grep -q '%s: cannot open: Is a directory' %s", dir, out), 0);
    cr_assert_eq(cx_test_sh("%s eval %s/missing.jsonl > /dev/null 2> %s", cx_test_bin(), dir, out),
                 1);
    cr_assert_eq(cx_test_sh("grep -q 'missing.jsonl: cannot open: No such file' %s", out), 0);
}

/* A labeled line's event is judged as classify and run judge it: by its own
 * bytes (a small decimal was printed back with more digits than the parser
 * takes) and with its duplicate keys refused (one of two texts was scored). */
Test(train_eval, an_event_is_judged_as_written)
{
    char labels[300], out[300];
    snprintf(labels, sizeof labels, "%s/as-written.jsonl", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    FILE *f = fopen(labels, "w");
    cr_assert_not_null(f);
    fputs("{ \"sentiment\": \"neutral\", \"event\": {\"event_id\": \"a\\\"}\", "
          "\"occurred_at\": \"2025-03-01T10:00:00Z\", \"text\": \"the mug ]} is teal\", "
          "\"attributes\": {\"weight_kg\": 1e-30}}, \"categories\": []}\n"
          "{\"event\": {\"event_id\": \"b\", \"occurred_at\": \"2025-03-01T10:00:00Z\", "
          "\"text\": \"x\", \"text\": \"y\"}, \"categories\": [], \"sentiment\": \"neutral\"}\n"
          "{\"\\u0065vent\": {\"event_id\": \"c\", \"occurred_at\": \"2025-03-01T10:00:00Z\", "
          "\"text\": \"x\"}, \"categories\": [], \"sentiment\": \"neutral\"}\n",
          f);
    fclose(f);
    cr_assert_eq(cx_test_sh("%s eval %s --resamples 0 > %s 2>&1", cx_test_bin(), labels, out), 1);
    cr_assert_eq(cx_test_sh("grep -q 'line 2: not JSON: duplicate object key' %s", out), 0);
    cr_assert_eq(cx_test_sh("grep -q 'over 2 events (1 lines left out)' %s", out), 0,
                 "the small decimal, or the key written with an escape, was refused");

    /* a place in the event is named by its byte in the line */
    f = fopen(labels, "w");
    cr_assert_not_null(f);
    fputs("{\"source\":\"s\",\"event\":{\"event_id\":\"b\",\"occurred_at\":"
          "\"2024-05-01T10:00:00Z\",\"text\":\"x\",\"attributes\":{\"n\":1e50}},"
          "\"categories\":[],\"sentiment\":\"neutral\"}\n",
          f);
    fclose(f);
    cr_assert_eq(cx_test_sh("%s eval %s --resamples 0 > %s 2>&1", cx_test_bin(), labels, out), 1);
    cr_assert_eq(cx_test_sh("grep -q 'line 1: number 1e50 at byte 105 has more than' %s", out), 0);
}

/* A rule file of one's own: "courier" is external, version own-1. */
static void write_own_rules(const char *path)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"version\": \"own-1\", \"category\": \"external\","
          " \"phrases\": [{\"weight\": 2, \"terms\": [\"courier\"]}]}",
          f);
    fclose(f);
}

/* --against default is the built-in rules and model, whatever --rules names
 * (it was the caller's rules with no model: the rules alone). */
Test(train_eval, against_default_is_the_built_in_model_whatever_the_rules)
{
    char labels[300], rules[300], out[300];
    snprintf(labels, sizeof labels, "%s/against.jsonl", dir);
    snprintf(rules, sizeof rules, "%s/own-rules.json", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    write_labels(labels, 20, 0);
    write_own_rules(rules);
    cr_assert_eq(cx_test_sh("%s eval %s --rules %s --against default --resamples 0 > %s",
                            cx_test_bin(), labels, rules, out),
                 0);
    cr_assert_eq(cx_test_sh("grep -q '^against default (rule set [^)]*+cxm2-' %s", out), 0,
                 "the comparison had no model");
}

/* A file with no labeled event to score (empty, or every line refused) is
 * an error naming it, not a report of zeros. */
Test(train_eval, a_file_with_nothing_to_score_is_an_error_naming_it)
{
    char out[300], empty[300], refused[300];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(empty, sizeof empty, "%s/empty.jsonl", dir);
    snprintf(refused, sizeof refused, "%s/refused.jsonl", dir);
    cr_assert_eq(cx_test_sh(": > %s && printf '%%s\\n' '{\"event\": {\"event_id\": \"a\", "
                            "\"occurred_at\": \"2026-01-01T00:00:00Z\", \"text\": \"x\"}, "
                            "\"categories\": [\"facin\"], \"sentiment\": \"negative\"}' > %s",
                            empty, refused),
                 0);
    cr_assert_eq(cx_test_sh("%s eval %s > %s.stdout 2> %s", cx_test_bin(), empty, out, out), 1);
    cr_assert_eq(cx_test_sh("grep -q 'empty.jsonl: no labeled event in it' %s", out), 0);
    cr_assert_eq(cx_test_sh("%s eval %s > %s.stdout 2> %s", cx_test_bin(), refused, out, out), 1);
    cr_assert_eq(cx_test_sh("grep -q 'refused.jsonl: line 1: \"facin\" is not a category (they "
                            "are facing, collaborative, external and performance)' %s && "
                            "grep -q 'refused.jsonl: no labeled event could be read' %s",
                            out, out),
                 0);
    /* no figures over nothing */
    cr_assert_neq(cx_test_sh("grep -q 'accuracy' %s.stdout", out), 0);
}

Test(train_eval, a_company_model_beats_the_default_on_later_events, .timeout = 600)
{
    char data[512], train[300], test[300], model[300];
    cx_test_source_path("tests/data/company/labeled.jsonl", data, sizeof data);
    cr_assert_eq(access(data, R_OK), 0, "no company data set at %s", data);
    snprintf(train, sizeof train, "%s/train.jsonl", dir);
    snprintf(test, sizeof test, "%s/test.jsonl", dir);
    snprintf(model, sizeof model, "%s/company.cxm", dir);
    /* the earlier 60% by occurred_at to train, the later 40% to score */
    cr_assert_eq(
        cx_test_sh("python3 -c 'import json,sys\n"
                   "rows=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]\n"
                   "rows.sort(key=lambda r: r[\"event\"][\"occurred_at\"])\n"
                   "k=len(rows)*6//10\n"
                   "open(sys.argv[2],\"w\").writelines(json.dumps(r)+\"\\n\" for r in rows[:k])\n"
                   "open(sys.argv[3],\"w\").writelines(json.dumps(r)+\"\\n\" for r in rows[k:])' "
                   "%s %s %s",
                   data, train, test),
        0);
    /* adapted from the built-in model, as docs/model.md advises for a few hundred events */
    char trained[300];
    snprintf(trained, sizeof trained, "%s/trained.txt", dir);
    cr_assert_eq(cx_test_sh("%s train %s --from default --out %s > %s", cx_test_bin(), train, model,
                            trained),
                 0);
    char cmd[1200];
    double f1[2], exact[2], oof = 0;
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd,
                 "%s eval %s --misses 0 %s%s | awk '/^macro-F1/ {sub(\"%%\", \"\", $NF); print $2, "
                 "$NF}'",
                 cx_test_bin(), test, k ? "--model " : "", k ? model : "");
        FILE *p = popen(cmd, "r");
        cr_assert_not_null(p);
        cr_assert_eq(fscanf(p, "%lf %lf", &f1[k], &exact[k]), 2, "%s", cmd);
        pclose(p);
    }
    cr_log_info("on the later events: built-in model macro-F1 %.3f, %.1f%% exact label sets; "
                "company model %.3f, %.1f%%",
                f1[0], exact[0], f1[1], exact[1]);
    /* what train said of the company's model foretells its later events: the
     * mean of its out-of-fold F1s (0.865 to 0.873 with --seed 1 to 5) was 0.02
     * to 0.04 above their macro-F1 */
    snprintf(cmd, sizeof cmd,
             "awk '/ F1 .* out of fold$/ {s += $(NF - 3); n++} END {if (n == 4) print s / n}' %s",
             trained);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_eq(fscanf(p, "%lf", &oof), 1, "%s", cmd);
    pclose(p);
    cr_assert_leq(fabs(oof - f1[1]), 0.06, "train's out-of-fold F1 %.3f, later events %.3f", oof,
                  f1[1]);
    /* clearly better: in macro-F1, and in how many events get every tag right.
     * Training's order alone moves the exact label sets by several points on
     * these 180 events: with --seed 1 to 5 the company model got 2.8 to 6.1
     * points more than the built-in (4.4 to 7.2 before the built-in model was
     * last retrained, 4.4 to 7.7 before adapting stepped a quarter of the
     * rate, 2.8 to 7.8 before balanced training, 3.3 to 7.2 before the
     * pros-and-cons feature, 2.2 to 6.6 before 2^20 buckets; 3.3 at the
     * default seed this test trains with), so the bar is 3 points, and the
     * interval below decides. */
    cr_assert_geq(f1[1], f1[0] + 0.03, "company model %.3f does not clearly beat the built-in %.3f",
                  f1[1], f1[0]);
    cr_assert_geq(exact[1], exact[0] + 3.0,
                  "company model gets %.1f%% of label sets right, the built-in %.1f%%", exact[1],
                  exact[0]);
    /* and not by the luck of these events: the difference's interval over
     * resamples of them lies above 0 */
    snprintf(cmd, sizeof cmd,
             "%s eval %s --misses 0 --model %s --against default | sed -n "
             "'s/^  difference from default: macro-F1 \\([-+.0-9]*\\) to \\([-+.0-9]*\\),.*/\\1 "
             "\\2/p'",
             cx_test_bin(), test, model);
    double lo, hi;
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_eq(fscanf(p, "%lf %lf", &lo, &hi), 2, "%s", cmd);
    pclose(p);
    cr_log_info("company model minus built-in, 95%% interval: %+.3f to %+.3f", lo, hi);
    cr_assert_gt(lo, 0.0, "the company model's gain could be chance: %+.3f to %+.3f", lo, hi);
}

/* The intervals: the same on every run, around the figure they qualify,
 * drawn from the same resamples for both models (a model against itself
 * differs by exactly 0 in every draw), and left out with --resamples 0. */
Test(train_eval, intervals_are_reproducible_and_paired)
{
    char data[512], out[300], out2[300];
    cx_test_source_path("tests/data/company/labeled.jsonl", data, sizeof data);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(out2, sizeof out2, "%s/out2.txt", dir);
    cr_assert_eq(
        cx_test_sh("%s eval %s --misses 0 --against default > %s", cx_test_bin(), data, out), 0);
    cr_assert_eq(
        cx_test_sh("%s eval %s --misses 0 --against default > %s", cx_test_bin(), data, out2), 0);
    cr_assert_eq(cx_test_sh("cmp -s %s %s", out, out2), 0, "two runs print different intervals");
    cr_assert_eq(cx_test_sh("grep -q '^  difference from default: macro-F1 +0.000 to +0.000, "
                            "sentiment accuracy +0.000 to +0.000$' %s",
                            out),
                 0);
    double f1, lo, hi;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "awk '/^macro-F1/ {f=$2} /^95%% intervals/ {print f, $9, $11}' %s",
             out);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_eq(fscanf(p, "%lf %lf %lf", &f1, &lo, &hi), 3, "%s", cmd);
    pclose(p);
    cr_assert(lo < f1 && f1 < hi, "macro-F1 %.3f outside its interval %.3f to %.3f", f1, lo, hi);
    char plain[1024];
    snprintf(plain, sizeof plain, "%s/plain.txt", dir); /* not beside the data: the source tree */
    cr_assert_eq(cx_test_sh("%s eval %s --misses 0 --resamples 0 > %s && grep -q macro-F1 %s",
                            cx_test_bin(), data, plain, plain),
                 0);
    cr_assert_eq(cx_test_sh("grep -q '95%%' %s", plain), 1, "--resamples 0 printed an interval");
    /* a model that cannot be read is named */
    cr_assert_eq(cx_test_sh("%s eval %s --against %s/no.cxm > /dev/null 2> %s", cx_test_bin(), data,
                            dir, out),
                 2);
    cr_assert_eq(cx_test_sh("grep -q 'no.cxm' %s", out), 0);
}

/* --by groups by every kind of value (numbers with a fraction, true and
 * false) and by the whole of a long one; the misses are one line each and
 * valid UTF-8, a long text cut between characters. */
Test(train_eval, by_values_and_misses_are_read_as_written)
{
    char labels[300], out[300];
    snprintf(labels, sizeof labels, "%s/kinds.jsonl", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    FILE *f = fopen(labels, "w");
    cr_assert_not_null(f);
    char text[260];
    memset(text, 'a', 199);
    snprintf(text + 199, sizeof text - 199, "\xc3\xa9 and\\nthe courier lost it");
    for (int i = 0; i < 6; i++)
        fprintf(f,
                "{\"event\":{\"event_id\":\"k%d\",\"occurred_at\":\"2025-03-01T10:00:00Z\","
                "\"text\":\"%s\"},\"categories\":[\"facing\"],\"sentiment\":\"positive\","
                "\"score\":%s,\"verified\":%s,\"region\":\"%s-%s\"}\n",
                i, text, i % 2 ? "4.5" : "3", i % 3 ? "true" : "false",
                "a-region-whose-name-runs-on-well-past-sixty-four-bytes-before-it-ends",
                i % 2 ? "north" : "south");
    fclose(f);
    cr_assert_eq(cx_test_sh("%s eval %s --resamples 0 --by score > %s", cx_test_bin(), labels, out),
                 0);
    cr_assert_eq(cx_test_sh("grep -Eq '^  4.5 +3 ' %s && grep -Eq '^  3 +3 ' %s", out, out), 0);
    cr_assert_eq(
        cx_test_sh("%s eval %s --resamples 0 --by verified > %s 2>&1", cx_test_bin(), labels, out),
        0);
    cr_assert_eq(cx_test_sh("grep -Eq '^  true +4 ' %s && grep -Eq '^  false +2 ' %s", out, out),
                 0);
    cr_assert_eq(
        cx_test_sh("%s eval %s --resamples 0 --by region > %s", cx_test_bin(), labels, out), 0);
    cr_assert_eq(cx_test_sh("grep -Eq -- '-north +3 ' %s && grep -Eq -- '-south +3 ' %s", out, out),
                 0, "two long values that differ at their end are one row");
    /* each miss on one line: 6 misses, cut after the 199 a's */
    cr_assert_eq(cx_test_sh("test $(grep -c '^  k[0-9]: ' %s) = 6", out), 0);
    cr_assert_eq(cx_test_sh("grep -q 'the courier' %s", out), 1, "a miss ran past 200 bytes");
    cr_assert_eq(cx_test_sh("iconv -f UTF-8 -t UTF-8 %s > /dev/null", out), 0,
                 "the report is not valid UTF-8");
}

/* A labeled file saved on Windows (CRLF) reads as it does with LF: its blank
 * lines are skipped, not unreadable. */
Test(train_eval, blank_lines_of_a_crlf_file_are_skipped)
{
    char labels[300], out[300];
    snprintf(labels, sizeof labels, "%s/crlf.jsonl", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    FILE *f = fopen(labels, "w");
    cr_assert_not_null(f);
    fputs("{\"event\":{\"event_id\":\"a\",\"occurred_at\":\"2025-03-01T10:00:00Z\",\"text\":"
          "\"the agent was rude\"},\"categories\":[\"facing\"],\"sentiment\":\"negative\"}\r\n"
          "\r\n \t\r\n"
          "{\"event\":{\"event_id\":\"b\",\"occurred_at\":\"2025-03-01T10:00:00Z\",\"text\":"
          "\"the mug is teal\"},\"categories\":[],\"sentiment\":\"neutral\"}\r\n",
          f);
    fclose(f);
    cr_assert_eq(cx_test_sh("%s eval %s --resamples 0 > %s 2>&1", cx_test_bin(), labels, out), 0);
    cr_assert_eq(cx_test_sh("grep -q '(0 lines left out)' %s", out), 0, "see %s", out);
}

/* A labeled line holds what run accepts: an integer past 2^63 (an order
 * number) in the event or beside it is read, not "too big integer"; a whole
 * number still names its --by row as written. */
Test(train_eval, integers_past_64_bits_are_read_as_run_reads_them)
{
    char labels[300], out[300];
    snprintf(labels, sizeof labels, "%s/big.jsonl", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    FILE *f = fopen(labels, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 4; i++)
        fprintf(f,
                "{\"event\":{\"event_id\":\"b%d\",\"occurred_at\":\"2025-03-01T10:00:00Z\","
                "\"text\":\"the courier lost it\",\"attributes\":{\"order_no\":"
                "123456789012345678901234567890}},\"categories\":[\"external\"],"
                "\"sentiment\":\"negative\",\"round\":2,\"ref\":99999999999999999999}\n",
                i);
    fclose(f);
    cr_assert_eq(
        cx_test_sh("%s eval %s --resamples 0 --by round > %s 2>&1", cx_test_bin(), labels, out), 0,
        "see %s", out);
    cr_assert_eq(cx_test_sh("grep -q 'over 4 events (0 lines left out)' %s", out), 0, "see %s",
                 out);
    cr_assert_eq(cx_test_sh("grep -Eq '^  2 +4 ' %s", out), 0, "see %s", out);
}

/* Adapting a model in place (--from M --out M) on a disk that fills up fails
 * saying so, and leaves the model that was there, whole. */
Test(train_eval, a_model_that_cannot_be_written_leaves_the_old_one)
{
    char data[512], model[512], copy[512];
    snprintf(data, sizeof data, "%s/in-place.jsonl", dir);
    snprintf(model, sizeof model, "%s/in-place.cxm", dir);
    snprintf(copy, sizeof copy, "%s/in-place.copy", dir);
    write_labels(data, 40, 0);
    cr_assert_eq(cx_test_sh("%s train %s --out %s --epochs 2 >/dev/null 2>&1 && cp %s %s",
                            cx_test_bin(), data, model, model, copy),
                 0);
    /* a file size limit of 1 KiB stands for the full disk */
    cr_assert_eq(cx_test_sh("ulimit -f 1; trap '' XFSZ; %s train %s --from %s --out %s "
                            "--epochs 2 >/dev/null 2>%s.err",
                            cx_test_bin(), data, model, model, data),
                 1);
    cr_assert_eq(cx_test_sh("grep -q 'cannot write model file: File too large' %s.err", data), 0);
    cr_assert_eq(cx_test_sh("cmp -s %s %s", model, copy), 0, "the old model was damaged");
    cr_assert_eq(cx_test_sh("test $(ls %s | grep -c 'in-place.cxm') -eq 1", dir), 0,
                 "a temporary file was left beside it");
}

/* --out through a link replaces the file it names, keeping its mode; a
 * pipe, or where stdout goes, is refused (exit 2) rather than written into or
 * waited on. */
Test(train_eval, the_model_goes_where_a_link_points_and_only_to_a_file)
{
    char data[512], d[512];
    snprintf(data, sizeof data, "%s/where.jsonl", dir);
    snprintf(d, sizeof d, "%s/where", dir);
    write_labels(data, 40, 0);
    cr_assert_eq(cx_test_sh("mkdir -p %s/models && touch %s/models/m.cxm && chmod 640 "
                            "%s/models/m.cxm && ln -s models/m.cxm %s/link.cxm",
                            d, d, d, d),
                 0);
    cr_assert_eq(cx_test_sh("umask 077; %s train %s --out %s/link.cxm --epochs 2 >/dev/null",
                            cx_test_bin(), data, d),
                 0);
    cr_assert_eq(cx_test_sh("test -L %s/link.cxm && test -s %s/models/m.cxm && "
                            "test \"$(stat -c %%a %s/models/m.cxm)\" = 640 && "
                            "test $(ls %s/models | wc -l) -eq 1",
                            d, d, d, d),
                 0, "the link was replaced, the mode changed or a file was left beside it");
    /* a pipe: refused at once, not waited on */
    cr_assert_eq(cx_test_sh("timeout 60 %s train %s --out /dev/stdout --epochs 2 2>%s.err | cat "
                            ">/dev/null; test ${PIPESTATUS[0]} -eq 2",
                            cx_test_bin(), data, d),
                 0);
    cr_assert_eq(cx_test_sh("grep -q 'is not a file (a pipe or a device): a model is written to "
                            "a file of its own' %s.err",
                            d),
                 0);
    cr_assert_eq(cx_test_sh("%s train %s --out /dev/stdout --epochs 2 >%s.out 2>%s.err; "
                            "test $? -eq 2 && grep -q 'is where stdout goes' %s.err",
                            cx_test_bin(), data, d, d, d),
                 0);
    /* retrained by another user, who may not give it the service's owner and
     * group: the service can still read it */
    if (geteuid() != 0)
        return; /* only root can play both users */
    cr_assert_eq(
        cx_test_sh("chown nobody %s/models && chmod 755 %s %s %s/models && chmod 644 %s && "
                   "chown postgres:postgres %s/models/m.cxm && chmod 640 %s/models/m.cxm "
                   "&& setpriv --reuid=nobody --regid=nogroup --clear-groups %s train %s "
                   "--out %s/models/m.cxm --epochs 2 >/dev/null && "
                   "test $(stat -c %%U %s/models/m.cxm) = nobody && "
                   "runuser -u postgres -- head -c 4 %s/models/m.cxm >/dev/null",
                   d, dir, d, d, data, d, d, cx_test_bin(), data, d, d, d),
        0, "the service's user cannot read the model another user retrained");
}

/* --out naming one of the inputs (by another name too: a link, stdin
 * redirected from it) is refused before anything is read, and the file is
 * left as it was; another model may still be replaced. */
Test(train_eval, the_model_never_overwrites_an_input)
{
    char labels[300], rules[300], model[300], out[300];
    snprintf(labels, sizeof labels, "%s/own.jsonl", dir);
    snprintf(rules, sizeof rules, "%s/own-rules.json", dir);
    snprintf(model, sizeof model, "%s/own.cxm", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    write_labels(labels, 40, 0);
    write_own_rules(rules);
    cr_assert_eq(cx_test_sh("cp %s %s.copy && cp %s %s.copy && ln -s own.jsonl %s/link.jsonl",
                            labels, labels, rules, rules, dir),
                 0);
    cr_assert_eq(
        cx_test_sh("%s train %s --out %s > /dev/null 2> %s", cx_test_bin(), labels, labels, out),
        2);
    cr_assert_eq(cx_test_sh("grep -q -- '--out %s is the label file %s: the model would "
                            "overwrite it' %s",
                            labels, labels, out),
                 0);
    cr_assert_eq(cx_test_sh("%s train %s --out %s/link.jsonl > /dev/null 2> %s", cx_test_bin(),
                            labels, dir, out),
                 2);
    cr_assert_eq(cx_test_sh("%s train - --out %s/./own.jsonl < %s > /dev/null 2> %s", cx_test_bin(),
                            dir, labels, out),
                 2);
    cr_assert_eq(cx_test_sh("grep -q 'is the label file read from stdin' %s", out), 0);
    cr_assert_eq(cx_test_sh("%s train %s --rules default --rules %s --out %s > /dev/null 2> %s",
                            cx_test_bin(), labels, rules, rules, out),
                 2);
    cr_assert_eq(cx_test_sh("grep -q 'is the rule file %s' %s", rules, out), 0);
    cr_assert_eq(cx_test_sh("cmp -s %s %s.copy && cmp -s %s %s.copy", labels, labels, rules, rules),
                 0, "an input was overwritten");
    /* another model, and the one adapted from, may be replaced */
    cr_assert_eq(cx_test_sh("%s train %s --out %s --epochs 2 > /dev/null 2>&1 && %s train %s "
                            "--out %s --epochs 2 > /dev/null 2>&1 && %s train %s --from %s --out "
                            "%s --epochs 2 > /dev/null 2>&1",
                            cx_test_bin(), labels, model, cx_test_bin(), labels, model,
                            cx_test_bin(), labels, model, model),
                 0);
}

/* A label key spelled a little wrong would be ignored, the line read as
 * labeled with its sentiment only or as having no event: it is refused,
 * naming the line and the key meant. Keys of the line's own (industry,
 * agent, stars: for eval --by) are still read past. */
Test(train_eval, a_misspelled_label_key_is_named)
{
    char labels[300], out[300];
    snprintf(labels, sizeof labels, "%s/keys.jsonl", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    FILE *f = fopen(labels, "w");
    cr_assert_not_null(f);
    /* each line: its event's key, then what follows the event */
    static const char *const lines[][2] = {
        {"event", "\"category\":[\"facing\"],\"sentiment\":\"negative\""},
        {"event", "\"categorie\":[\"facing\"],\"sentiment\":\"negative\""},
        {"event", "\"categories\":[\"facing\"],\"sentement\":\"negative\""},
        {"event",
         "\"categories\":[\"facing\"],\"sentiment\":\"negative\",\"Sentiment\":\"neutral\""},
        {"evnet", "\"categories\":[],\"sentiment\":\"neutral\""},
        {"event", "\"categories\":[\"facing\"],\"sentiment\":\"negative\",\"agent\":\"Ann\","
                  "\"industry\":\"retail\",\"stars\":1,\"categories_note\":\"x\""},
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        fprintf(f,
                "{\"%s\":{\"event_id\":\"k%zu\",\"occurred_at\":\"2025-03-01T10:00:00Z\","
                "\"text\":\"the agent was rude\"},%s}\n",
                lines[i][0], i, lines[i][1]);
    fclose(f);
    cr_assert_eq(
        cx_test_sh("%s eval %s --resamples 0 --by agent > %s 2>&1", cx_test_bin(), labels, out), 1);
    cr_assert_eq(
        cx_test_sh("grep -q 'keys.jsonl: line 1: key \"category\" would be ignored (did you mean "
                   "\"categories\"?)' %s && "
                   "grep -q 'line 2: key \"categorie\" would be ignored (did you mean "
                   "\"categories\"?)' %s && "
                   "grep -q 'line 3: key \"sentement\" would be ignored (did you mean "
                   "\"sentiment\"?)' %s && "
                   "grep -q 'line 4: key \"Sentiment\" would be ignored (did you mean "
                   "\"sentiment\"?)' %s && "
                   "grep -q 'line 5: key \"evnet\" would be ignored (did you mean \"event\"?)' %s",
                   out, out, out, out, out),
        0, "see %s", out);
    cr_assert_eq(cx_test_sh("grep -q 'over 1 events (5 lines left out)' %s && "
                            "grep -Eq '^  Ann +1 ' %s && ! grep -q 'line 6' %s",
                            out, out, out),
                 0, "see %s", out);
}

/* ["none"], in any case, is the labeling guide's "None": no category, as []
 * is (each such line was refused); beside a category it is a mistake. */
Test(train_eval, categories_none_alone_is_no_category)
{
    char labels[300], out[300];
    snprintf(labels, sizeof labels, "%s/none.jsonl", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    FILE *f = fopen(labels, "w");
    cr_assert_not_null(f);
    static const char *const cats[] = {"\"none\"", "\"None\"", "", "\"facing\"",
                                       "\"facing\", \"NONE\""};
    for (size_t i = 0; i < sizeof cats / sizeof *cats; i++)
        fprintf(f,
                "{\"event\":{\"event_id\":\"n%zu\",\"occurred_at\":\"2025-03-01T10:00:00Z\","
                "\"text\":\"the mug is teal\"},\"categories\":[%s],\"sentiment\":\"neutral\"}\n",
                i, cats[i]);
    fclose(f);
    cr_assert_eq(cx_test_sh("%s eval %s --resamples 0 > %s 2>&1", cx_test_bin(), labels, out), 1);
    cr_assert_eq(cx_test_sh("grep -q 'over 4 events (1 lines left out)' %s && "
                            "grep -q '^none: predicted for [0-9]* events, labeled for 3$' %s && "
                            "grep -qF 'none.jsonl: line 5: \"NONE\" means no category and goes "
                            "alone ([\"none\"] or []), not beside a category' %s",
                            out, out, out),
                 0, "see %s", out);
}

/* An event labeled on two lines (a file given twice) counts once: each later
 * line is named with the first and left out, in train and eval alike, and
 * both exit 1. Its figures would otherwise rise: the copy of an event in one
 * fold was scored by a model trained on the other. */
Test(train_eval, an_event_labeled_twice_counts_once)
{
    char labels[300], again[300], model[300], out[300];
    snprintf(labels, sizeof labels, "%s/once.jsonl", dir);
    snprintf(again, sizeof again, "%s/again.jsonl", dir);
    snprintf(model, sizeof model, "%s/once.cxm", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    write_labels(labels, 40, 0);
    /* the same events again, e3 with another sentiment */
    cr_assert_eq(cx_test_sh("sed '4s/\"sentiment\":\"[a-z]*\"/\"sentiment\":\"neutral\"/' %s > %s",
                            labels, again),
                 0);
    cr_assert_eq(cx_test_sh("%s train %s %s --out %s > %s.stdout 2> %s", cx_test_bin(), labels,
                            again, model, out, out),
                 1);
    cr_assert_eq(cx_test_sh("grep -q 'trained on 40 events (40 lines left out)' %s.stdout && "
                            "grep -qx 'cxpulse train: %s: line 1: event_id e0 is already on "
                            "line 1 of %s: left out' %s && "
                            "grep -qx 'cxpulse train: %s: line 4: event_id e3 is already on "
                            "line 4 of %s with other labels: left out' %s && "
                            "grep -q 'line 5: event_id e4 is already on line 5 of %s: left out' "
                            "%s && tail -n 1 %s | grep >/dev/null '40 lines were left out'",
                            out, again, labels, out, again, labels, out, labels, out, out),
                 0, "see %s", out);
    /* the same per-category counts as from the file alone */
    cr_assert_eq(
        cx_test_sh("grep -Ec '^  [a-z]+ +8 labeled' %s.stdout | grep >/dev/null -x 4", out), 0);
    /* eval: one file holding the events twice */
    cr_assert_eq(cx_test_sh("cat %s %s > %s.both && %s eval %s.both --resamples 0 --misses 0 > "
                            "%s.stdout 2> %s",
                            labels, again, labels, cx_test_bin(), labels, out, out),
                 1);
    cr_assert_eq(
        cx_test_sh("grep -q 'over 40 events (40 lines left out)' %s.stdout && "
                   "grep -qx 'cxpulse eval: %s.both: line 44: event_id e3 is already on "
                   "line 4 with other labels: left out' %s && "
                   "tail -n 1 %s | grep >/dev/null -x 'cxpulse eval: 40 lines were left out (named "
                   "above)'",
                   out, labels, out, out),
        0, "see %s", out);
}

/* --model default is the built-in model, as --rules default, --from default
 * and --against default name the built-in ones (it was a file "default"):
 * the same figures and rule set as no --model at all. */
Test(train_eval, model_default_is_the_built_in_model)
{
    char labels[300], out[300];
    snprintf(labels, sizeof labels, "%s/default.jsonl", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    write_labels(labels, 20, 0);
    cr_assert_eq(cx_test_sh("%s eval %s --resamples 0 > %s.plain 2>&1 && %s eval %s --model "
                            "default --resamples 0 > %s 2>&1",
                            cx_test_bin(), labels, out, cx_test_bin(), labels, out),
                 0, "see %s", out);
    cr_assert_eq(
        cx_test_sh("cmp -s %s %s.plain && grep -q '^rule set [^ ]*+cxm2-' %s", out, out, out), 0,
        "see %s", out);
    /* classify takes it too, with the model's evidence */
    cr_assert_eq(cx_test_sh("printf '%%s\\n' '{\"event_id\":\"a\",\"occurred_at\":"
                            "\"2025-04-01T10:00:00Z\",\"text\":\"the courier lost my parcel "
                            "again\"}' | %s classify --model default > %s 2>&1 && "
                            "grep -q '\"model:' %s",
                            cx_test_bin(), out, out),
                 0, "see %s", out);
}

/* A label file saved by an editor that opens it with a byte order mark, or
 * in another encoding than UTF-8, is told so (jansson's "'[' or '{' expected
 * near ''" and "unable to decode byte 0xff" said nothing of it); the
 * other lines are read as ever. */
Test(train_eval, a_file_not_saved_as_plain_utf8_is_told)
{
    char labels[300], out[300];
    snprintf(labels, sizeof labels, "%s/encoded.jsonl", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    static const char line[] =
        "{\"event\":{\"event_id\":\"%s\",\"occurred_at\":\"2025-03-01T10:00:00Z\","
        "\"text\":\"the caf%s was cold\"},\"categories\":[],\"sentiment\":\"negative\"}\n";
    FILE *f = fopen(labels, "w");
    cr_assert_not_null(f);
    fputs("\xef\xbb\xbf", f);
    fprintf(f, line, "a", "\xc3\xa9");
    fprintf(f, line, "b", "\xe9"); /* Latin-1 */
    fprintf(f, line, "c", "\xc3\xa9");
    fclose(f);
    cr_assert_eq(cx_test_sh("%s eval %s --resamples 0 > %s 2>&1", cx_test_bin(), labels, out), 1);
    cr_assert_eq(cx_test_sh("grep -qx 'cxpulse eval: %s: line 1: starts with a UTF-8 byte order "
                            "mark (bytes EF BB BF): save it as UTF-8 without one' %s && "
                            "grep -qF 'encoded.jsonl: line 2: not UTF-8 (is the file saved as "
                            "UTF-16 or Latin-1?): byte 0xe9 at byte 78' %s && "
                            "grep -q 'over 1 events (2 lines left out)' %s",
                            labels, out, out, out),
                 0, "see %s", out);
    /* UTF-16, as Windows tools save "Unicode" text: FF FE, then a NUL after every ASCII byte */
    f = fopen(labels, "w");
    cr_assert_not_null(f);
    fputs("\xff\xfe", f);
    char text[400];
    snprintf(text, sizeof text, line, "a", "e");
    for (size_t i = 0; text[i] != '\0'; i++) {
        fputc(text[i], f);
        fputc(0, f);
    }
    fclose(f);
    cr_assert_eq(
        cx_test_sh("%s train %s --out %s.cxm > %s 2>&1", cx_test_bin(), labels, labels, out), 1);
    cr_assert_eq(cx_test_sh("grep -qF 'encoded.jsonl: line 1: not UTF-8 (is the file saved as "
                            "UTF-16 or Latin-1?): byte 0xff at byte 1' %s",
                            out),
                 0, "see %s", out);
}

/* What the labels cannot teach is warned about, naming the category: one
 * that no event labeled with categories has (learned only as absent), and
 * one set of categories on every event (nothing tells when it applies).
 * Lines with their sentiment only teach no category and are no reason. */
Test(train_eval, categories_the_labels_cannot_teach_are_warned_about)
{
    char labels[300], model[300], out[300];
    snprintf(labels, sizeof labels, "%s/lacking.jsonl", dir);
    snprintf(model, sizeof model, "%s/lacking.cxm", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    write_labels(labels, 60, 0);
    cr_assert_eq(cx_test_sh("grep -v '\"performance\"' %s > %s.some && %s train %s.some --out %s "
                            "> /dev/null 2> %s",
                            labels, labels, cx_test_bin(), labels, model, out),
                 0);
    cr_assert_eq(cx_test_sh("grep -qx 'cxpulse train: warning: none of the 48 events labeled with "
                            "categories has performance: the model learns it only as absent and "
                            "will seldom if ever tag it' %s && test $(grep -c warning %s) = 1",
                            out, out),
                 0, "see %s", out);
    cr_assert_eq(cx_test_sh("grep '\"facing\"' %s > %s.one && %s train %s.one --out %s > /dev/null "
                            "2> %s",
                            labels, labels, cx_test_bin(), labels, model, out),
                 0);
    cr_assert_eq(cx_test_sh("grep -qx 'cxpulse train: warning: all 12 events labeled with "
                            "categories have the same ones, facing: nothing in them tells the "
                            "model when facing applies and when not' %s && "
                            "grep -q 'none of the 12 events labeled with categories has "
                            "collaborative' %s",
                            out, out),
                 0, "see %s", out);
    /* every category there: no warning */
    cr_assert_eq(cx_test_sh("%s train %s --out %s > /dev/null 2> %s && ! grep -q warning %s",
                            cx_test_bin(), labels, model, out, out),
                 0, "see %s", out);
}
