/*
 * test_lexicon.c - the phrase matcher: word boundaries, case, punctuation,
 * overlapping phrases, UTF-8 and stemming.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "lexicon.h"

static cx_lexicon *lex;

static void setup(void)
{
    cr_assert_eq(cx__lex_new(&lex), CX_OK);
}

static void teardown(void)
{
    cx__lex_free(lex);
}

TestSuite(cx_lexicon, .init = setup, .fini = teardown);

/* Returns how many times the phrase ending at `node` occurs in text. */
static int count(int32_t node, const char *text)
{
    int32_t ids[512];
    size_t n = cx__lex_scan(lex, text, strlen(text), ids, 512);
    int hits = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t cur = 0;
        for (size_t j = i; j < n && j < i + CX_LEX_MAX_PHRASE_WORDS; j++) {
            cur = cx__lex_step(lex, cur, ids[j]);
            if (cur < 0)
                break;
            if (cur == node)
                hits++;
        }
    }
    return hits;
}

Test(cx_lexicon, matches_whole_words_only)
{
    int32_t late;
    cr_assert_eq(cx__lex_add_phrase(lex, "late", &late, NULL), CX_OK);
    cr_assert_eq(count(late, "it was late"), 1);
    cr_assert_eq(count(late, "chocolate plate translate"), 0);
    cr_assert_eq(count(late, "late,late;LATE"), 3);
}

Test(cx_lexicon, ignores_case_and_punctuation_inside_phrases)
{
    int32_t node;
    cr_assert_eq(cx__lex_add_phrase(lex, "charged twice", &node, NULL), CX_OK);
    cr_assert_eq(count(node, "I was CHARGED TWICE!"), 1);
    cr_assert_eq(count(node, "charged-twice"), 1);
    cr_assert_eq(count(node, "charged  (twice)"), 1);
    cr_assert_eq(count(node, "charged. Twice"), 0, "a sentence break ends a phrase");
}

Test(cx_lexicon, finds_overlapping_and_nested_phrases)
{
    int32_t a, b, c;
    cr_assert_eq(cx__lex_add_phrase(lex, "on hold", &a, NULL), CX_OK);
    cr_assert_eq(cx__lex_add_phrase(lex, "put me on hold", &b, NULL), CX_OK);
    cr_assert_eq(cx__lex_add_phrase(lex, "hold music", &c, NULL), CX_OK);
    const char *t = "they put me on hold music playing";
    cr_assert_eq(count(a, t), 1);
    cr_assert_eq(count(b, t), 1);
    cr_assert_eq(count(c, t), 1);
}

Test(cx_lexicon, folds_apostrophes_latin1_and_stems)
{
    int32_t didnt, cafe, deliver, charge;
    cr_assert_eq(cx__lex_add_phrase(lex, "didn't arrive", &didnt, NULL), CX_OK);
    cr_assert_eq(cx__lex_add_phrase(lex, "café", &cafe, NULL), CX_OK);
    cr_assert_eq(cx__lex_add_phrase(lex, "delivered", &deliver, NULL), CX_OK);
    cr_assert_eq(cx__lex_add_phrase(lex, "charge", &charge, NULL), CX_OK);
    cr_assert_eq(count(didnt, "it didnt arrive"), 1);
    cr_assert_eq(count(didnt, "it didn\xe2\x80\x99t arrive"), 1, "typographic apostrophe");
    cr_assert_eq(count(cafe, "the CAFÉ and the cafe"), 2);
    cr_assert_eq(count(deliver, "delivers delivered delivering"), 3);
    cr_assert_eq(count(charge, "charges charged charging charge"), 4);
}

Test(cx_lexicon, treats_other_utf8_as_boundaries_without_crashing)
{
    int32_t node;
    cr_assert_eq(cx__lex_add_phrase(lex, "rude", &node, NULL), CX_OK);
    cr_assert_eq(count(node, "\xf0\x9f\x98\xa1rude\xf0\x9f\x98\xa1"), 1, "emoji around a word");
    cr_assert_eq(count(node, "\xe6\x97\xa5\xe6\x9c\xac rude \xff\xfe"), 1);
    cr_assert_eq(count(node, "\xc3"), 0, "truncated sequence at the end");
}

Test(cx_lexicon, rejects_empty_and_overlong_phrases)
{
    int32_t node;
    cr_assert_eq(cx__lex_add_phrase(lex, "", &node, NULL), CX_ERR_INVALID);
    cr_assert_eq(cx__lex_add_phrase(lex, " ,, ", &node, NULL), CX_ERR_INVALID);
    cr_assert_eq(
        cx__lex_add_phrase(lex, "one two three four five six seven eight nine", &node, NULL),
        CX_ERR_INVALID);
    cr_assert_eq(cx__lex_add_phrase(lex, "late. again", &node, NULL), CX_ERR_INVALID);
}

/* Letters outside Latin-1 separate words in the text, so a term holding one
 * is refused, naming the character; punctuation, symbols and emoji outside
 * it separate words as ASCII punctuation does, and are accepted. */
Test(cx_lexicon, refuses_letters_outside_latin1_in_phrases)
{
    int32_t node;
    const char *why = NULL;
    cr_assert_eq(cx__lex_add_phrase(lex,
                                    "\xc4\xb0"
                                    "ade",
                                    &node, &why),
                 CX_ERR_INVALID, "\"İade\" would match \"Lemonade? Ade!\"");
    cr_assert_str_eq(why, "has \"\xc4\xb0\" (U+0130), outside Latin-1: letters of other scripts"
                          " are not read (they separate words)");
    cr_assert_eq(cx__lex_add_phrase(lex, "przesy\xc5\x82ka", &node, &why), CX_ERR_INVALID);
    cr_assert(strstr(why, "(U+0142)") != NULL, "%s", why);
    cr_assert_eq(cx__lex_add_phrase(lex, "\xe6\x97\xa5\xe6\x9c\xac late", &node, &why),
                 CX_ERR_INVALID);
    cr_assert(strstr(why, "(U+65E5)") != NULL, "%s", why);
    cr_assert_eq(cx__lex_add_phrase(lex, "didn\xe2\x80\x99t arrive", &node, NULL), CX_OK);
    cr_assert_eq(cx__lex_add_phrase(lex, "na\xc3\xafve", &node, NULL), CX_OK);
    cr_assert_eq(cx__lex_add_phrase(lex, "e\xe2\x80\x93mail", &node, NULL), CX_OK); /* en dash */
    cr_assert_eq(cx__lex_add_phrase(lex, "rude \xf0\x9f\x98\xa1", &node, NULL), CX_OK);
}

Test(cx_lexicon, stops_at_the_callers_capacity)
{
    int32_t ids[3];
    cr_assert_eq(cx__lex_scan(lex, "a b c d e f", 11, ids, 3), 3);
}
