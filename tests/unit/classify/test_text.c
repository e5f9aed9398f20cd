/*
 * test_text.c - what the classifier reads of a text: the customer's words
 * without HTML, quoted history, signatures, disclaimers, automatic replies
 * and what a transcript's bots say; and that this decides the verdict, not the
 * boilerplate around it.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "text.h"

/* Asserts that the classifier reads expected of text. */
static void expect_read(const char *text, const char *expected)
{
    char got[1024];
    size_t n = strlen(text);
    cr_assert_lt(n, sizeof got);
    size_t m = cx__text_read(text, n, got);
    cr_assert_leq(m, n, "never longer than the text");
    got[m] = '\0';
    cr_assert_str_eq(got, expected, "reading\n%s\ngave\n%s", text, got);
}

Test(cx_text, plain_text_is_read_as_it_is)
{
    const char *texts[] = {
        "The courier left my parcel in the rain.",
        "Line one\nline two\r\n\nline four",
        "I <3 the new app, and 3 < 4 & so on; R&D; AT&T",
        "This email is my third complaint about the refund.\nNobody answers.",
        "Thanks, the replacement arrived and works.",
        "From: the app, nothing. Sent: three e-mails.",
        " (-\n[10:02\n(unclosed: time", /* no speaker's label: nothing read past the line */
        "",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        expect_read(texts[i], texts[i]);
}

Test(cx_text, html_tags_go_and_references_are_decoded)
{
    expect_read("<p>The agent didn&#39;t help and wasn&#x27;t polite.</p>",
                "\nThe agent didn't help and wasn't polite.\n");
    expect_read("the driver was not&nbsp;helpful &amp; rude", "the driver was not helpful & rude");
    expect_read("<html><head><title>Re: order</title><style>.billing{color:red}</style></head>"
                "<body>Thanks, <b>all</b> good now.</body></html>",
                " \n Thanks,  all  good now.  ");
    expect_read("Still broken.<br><blockquote>Great news! <blockquote>old</blockquote> "
                "refunded</blockquote>Nobody called.",
                "Still broken.\n\nNobody called.");
    expect_read("ok<!-- a <b>comment</b> -->fine", "ok fine");
    /* an element left open does not hide the ends of those within it, nor an
     * open comment a closed one before it */
    char got[256];
    const char *nested =
        "Still broken<blockquote>On Mon Jo wrote:<blockquote>QUOTED</blockquote> more";
    got[cx__text_read(nested, strlen(nested), got)] = '\0';
    cr_assert(strstr(got, "QUOTED") == NULL && strstr(got, "Still broken") != NULL, "%s", got);
    const char *comments = "Broken again<blockquote>x <!--[if mso]>MSOJUNK<![endif]--> y"
                           "</blockquote> <!-- truncated";
    got[cx__text_read(comments, strlen(comments), got)] = '\0';
    cr_assert(strstr(got, "MSOJUNK") == NULL && strstr(got, "Broken again") != NULL, "%s", got);
    expect_read("&unknown; &#0; &#xD800; &#99999999; &", "&unknown; &#0; &#xD800; &#99999999; &");
    expect_read("caf&eacute; &euro;5 &#128512;", "caf&eacute; \xe2\x82\xac"
                                                 "5 \xf0\x9f\x98\x80");
}

Test(cx_text, invisible_characters_that_split_words_go)
{
    expect_read("char\xe2\x80\x8bged tw\xc2\xadice\xef\xbb\xbf", "charged twice");
    /* the zero-width joiner holds an emoji sequence together */
    expect_read("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9",
                "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9");
}

/* Other keyboards' apostrophes, full-width letters and joiners inside a
 * word are read as the words they spell. */
Test(cx_text, other_forms_of_the_same_letters_are_read_plain)
{
    /* U+00B4, U+02BC, U+2018, U+FF07, U+2032; U+2019 stays as it is */
    expect_read("can\xc2\xb4t didn\xca\xbct haven\xe2\x80\x98t won\xef\xbc\x87t it\xe2\x80\xb2s",
                "can't didn't haven't won't it's");
    expect_read("wasn\xe2\x80\x99t", "wasn\xe2\x80\x99t");
    /* full-width forms and the ideographic space */
    expect_read(
        "\xef\xbd\x92\xef\xbd\x85\xef\xbd\x86\xef\xbd\x95\xef\xbd\x8e\xef\xbd\x84"
        "\xe3\x80\x80\xef\xbc\xa6\xef\xbc\xa1\xef\xbc\xa9\xef\xbc\xac\xef\xbc\xa5\xef\xbc\xa4"
        "\xef\xbc\x81",
        "refund FAILED!");
    /* the word joiner, and the zero-width joiner between letters */
    expect_read("re\xe2\x81\xa0"
                "fund re\xe2\x80\x8d"
                "fund",
                "refund refund");
    /* the same written as character references */
    expect_read("can&#180;t re&#8288;fund", "can't refund");
    /* Japanese stays as it is (U+3042, and the full stop U+3002) */
    expect_read("\xe3\x81\x82\xe3\x80\x82", "\xe3\x81\x82\xe3\x80\x82");
}

Test(cx_text, quoted_history_and_forwards_are_cut)
{
    expect_read("No, it is still not working.\n\nOn Mon, 3 Nov 2026 at 10:02, Acme Support "
                "<help@acme.com> wrote:\n> Great news! Your refund was processed.",
                "No, it is still not working.\n\n");
    expect_read("Still not working.\nOn Mon, 3 Nov 2026 at 10:02, Acme Support\n"
                "<help@acme.com> wrote:\n> Great news!",
                "Still not working.\n");
    expect_read("Works now, thanks.\r\n\r\n-----Original Message-----\r\nFrom: Support\r\n"
                "Sent: Monday\r\n\r\nSorry for the delay with your refund.",
                "Works now, thanks.\r\n\r\n");
    expect_read("Works now.\n________________________________\nFrom: Acme <a@acme.com>\n"
                "Sent: Monday, 3 November 2026\nSubject: RE: late\n\nThe courier lost it.",
                "Works now.\n________________________________\n");
    expect_read("See below.\n---------- Forwarded message ---------\nThe courier lost it.",
                "See below.\n");
    expect_read("I agree with this:\n> the courier was late\nand it is still not here.",
                "I agree with this:\nand it is still not here.");
    /* a sentence ending in "wrote:" with no date or address is the customer's */
    expect_read("Not fixed.\nMy colleague wrote:\nit keeps failing",
                "Not fixed.\nMy colleague wrote:\nit keeps failing");
}

Test(cx_text, a_message_that_is_only_a_forward_or_a_quote_is_read_whole)
{
    const char *only_forward =
        "---------- Forwarded message ---------\nThe courier lost my parcel.";
    expect_read(only_forward, only_forward);
    const char *only_quote = "> The courier lost my parcel.\n> Again.";
    expect_read(only_quote, only_quote);
}

Test(cx_text, signatures_sign_offs_and_disclaimers_are_cut)
{
    expect_read("Love the new blender.\n-- \nJo Bloggs\nSenior Account Manager | Billing",
                "Love the new blender.\n");
    expect_read("Love the new blender.\n\nKind regards,\nJo Bloggs\nHead of Shipping & Supplier "
                "Relations\n+44 20 7946 0000",
                "Love the new blender.\n\n");
    expect_read("Please cancel my subscription.\nKind regards, John",
                "Please cancel my subscription.\n");
    expect_read("Please cancel my subscription.\nThanks!", "Please cancel my subscription.\n");
    expect_read("All fine.\n\nThis e-mail and any attachments are confidential. If you have "
                "received it in error, delayed delivery ...",
                "All fine.\n\n");
    expect_read("Still broken!\n\nDiese E-Mail enth\xc3\xa4lt vertrauliche Informationen.",
                "Still broken!\n\n");
    /* a "thanks" line with more of the customer's words after it is not a sign-off */
    const char *more = "The refund came.\nThanks\nBut the courier still has my parcel and "
                       "nobody answers the phone, which is the third time this month that "
                       "this has happened to me and my family.";
    expect_read(more, more);
    /* nor one followed by sentences, or a P.S. */
    const char *sentences = "Hi team,\nThanks!\nMy order #123 never arrived on Monday.\n"
                            "Please refund me, this is a disgrace.";
    expect_read(sentences, sentences);
    const char *ps = "Works now.\nKind regards,\nJo\n\nP.S. You also charged me twice this month!";
    expect_read(ps, ps);
    /* nor a turn of a transcript */
    const char *chat = "Customer: where is my refund?\nAgent: sent today\nCustomer: Thanks\n"
                       "Customer: but the bill is still wrong";
    expect_read(chat, chat);
    /* nor lines a customer writes, without a capital, or a PS. */
    const char *informal[] = {
        "Hi\nmy order never arrived\nthanks\nstill waiting 3 weeks no reply\nworst service ever",
        "Works now.\nKind regards,\nJo\nstill no refund for the March invoice though",
        "All good.\nThanks\nPS. you charged me twice",
    };
    for (size_t i = 0; i < sizeof informal / sizeof informal[0]; i++)
        expect_read(informal[i], informal[i]);
    /* and "Thank you for nothing" is not a name */
    expect_read("Waited 3 weeks.\nThank you for nothing", "Waited 3 weeks.\nThank you for nothing");
}

/* A survey's required box filled with nothing: no text to read, as an
 * automatic reply. */
Test(cx_text, a_blank_filled_in_is_not_read)
{
    const char *blanks[] = {"-",
                            ".",
                            "...",
                            " -- ",
                            "?",
                            "!!",
                            "\u2026",
                            "\u2014",
                            "n/a",
                            "N/A.",
                            "#N/A",
                            "None.",
                            "nothing",
                            "nil",
                            "No comment",
                            "no comments!",
                            "Nothing to add.",
                            "not applicable",
                            "- none -"};
    for (size_t i = 0; i < CX_ARRAY_LEN(blanks); i++)
        expect_read(blanks[i], "");
    /* emoticons, short answers and anything more are read */
    const char *read[] = {
        ":(",        ":-)",   "<3",           "-_-",           ";)",         "No",
        "nope",      "10/10", "none arrived", "nothing works", "N/A again?", "\xF0\x9F\x91\x8E",
        "\xC3\xA7ok"};
    for (size_t i = 0; i < CX_ARRAY_LEN(read); i++)
        expect_read(read[i], read[i]);
}

Test(cx_text, an_automatic_reply_is_not_read)
{
    expect_read("Automatic reply: I am on leave.", "");
    expect_read("Thank you for your email. I'm currently out of the office until Monday with "
                "limited access to email. For billing queries contact accounts@x.com.",
                "");
    expect_read("[Auto-Reply] Out of office", "");
    /* as a forwarded one comes, under its headers */
    expect_read("From: Jo <jo@example.com>\nSubject: Out of Office: Your claim\n\nBack Monday.",
                "");
    expect_read("Subject: OOO Re: invoice 42\n\nI'm away, back on the 3rd.", "");
    /* complaints that say as much are read */
    const char *complaints[] = {
        "I am on holiday and the courier left my parcel outside.",
        "I'm on vacation in Spain and my card was blocked abroad! Your support says they will "
        "respond in 5 days. Useless.",
        "Out of office hours support is useless, nobody picks up.",
        "[Autopay] charged me twice this month",
        "Subject: Out of office hours support is useless\n\nNobody picks up after 6pm.",
        "Subject: Auto: claim 88123 still not paid\n\nThree weeks now.",
        /* a subject below the customer's words is a quoted reply's */
        "Your support never answers, only this:\nSubject: Out of Office: Your claim",
    };
    for (size_t i = 0; i < sizeof complaints / sizeof complaints[0]; i++)
        expect_read(complaints[i], complaints[i]);
}

Test(cx_text, what_a_transcripts_bots_and_system_say_goes)
{
    expect_read("Customer: where is my order?\nBot: Please choose: refund, login, billing.\n"
                "[10:02] Agent (Lina): The courier has it.\n10:03 pm System: Chat transferred\n"
                "Customer: thanks, that was quick!",
                "Customer: where is my order?\nBot:\n[10:02] Agent (Lina): The courier has it.\n"
                "10:03 pm System:\nCustomer: thanks, that was quick!");
    /* one "System:" line is not a transcript, nor are a form's fields */
    const char *one = "System: down again since Monday.\nNothing works.";
    expect_read(one, one);
    const char *form = "Client: Android app\nSystem: Pixel 7\nFeedback: I love the new update";
    expect_read(form, form);
    const char *fields =
        "Product: router\nSystem: crashes on every login\nSupport: nobody answered";
    expect_read(fields, fields);
}

/* Asserts the customer's turns of text, NULL: not such a transcript. */
static void expect_turns(const char *text, const char *expected)
{
    char got[1024];
    size_t n = strlen(text), m = cx__text_customer(text, n, got);
    if (expected == NULL) {
        cr_assert_eq(m, CX_TEXT_NOT_A_TRANSCRIPT, "turns of\n%s", text);
        return;
    }
    cr_assert_neq(m, CX_TEXT_NOT_A_TRANSCRIPT, "turns of\n%s", text);
    cr_assert_leq(m, n);
    got[m] = '\0';
    cr_assert_str_eq(got, expected, "turns of\n%s\ngave\n%s", text, got);
}

Test(cx_text, the_customers_turns_of_a_transcript_are_found)
{
    expect_turns("[10:01] Customer: My refund still hasn't arrived.\nIt's been 3 weeks.\n"
                 "Agent (Lina): Great news, it was approved today! Have a wonderful day!\n"
                 "Customer: no",
                 "My refund still hasn't arrived.\nIt's been 3 weeks.\nno");
    expect_turns("Caller: where is my parcel\nRep: the courier has it\nLina: anything else?\n"
                 "Client: no thanks",
                 "where is my parcel\nno thanks");
    /* not a transcript, or no one else's turn to leave out */
    expect_turns("Customer: the app crashed", NULL);
    expect_turns("Customer: the app crashed\nCustomer: again", NULL);
    expect_turns("Agent: called the customer\nAgent: no answer", NULL);
    expect_turns("You: hi\nYou: where is it", NULL);
    expect_turns("Client: Android app\nSystem: Pixel 7\nFeedback: I love the new update", NULL);
    expect_turns("Customer: Acme Ltd\nAgent: Sarah\nMessage: you charged us twice", NULL);
    /* a turn over several lines goes on until the next label */
    expect_turns("Customer: my refund\nstill not here\nafter 3 weeks\nAgent: Great news!\n"
                 "it was approved\nhave a lovely day!\nCustomer: ok",
                 "my refund\nstill not here\nafter 3 weeks\nok");
}

Test(cx_text, the_result_is_never_longer_on_any_bytes)
{
    static const char alphabet[] = "<>&#;x0a/!-Bb\n\r >wrote:On 1@ \xe2\x80\x8b\xc2\xad";
    char text[256], out[256];
    unsigned seed = 12345;
    for (int round = 0; round < 20000; round++) {
        size_t n = (seed = seed * 1103515245u + 12345u) % sizeof text;
        for (size_t i = 0; i < n; i++)
            text[i] = alphabet[(seed = seed * 1103515245u + 12345u) % (sizeof alphabet - 1)];
        cr_assert_leq(cx__text_read(text, n, out), n);
    }
}

/* ---- The verdict ---------------------------------------------------------- */

static cx_classifier *clf;

static void load(void)
{
    char err[512];
    cr_assert_eq(cx_classifier_new(&clf, NULL, 0, err, sizeof err), CX_OK, "%s", err);
}

static void unload(void)
{
    cx_classifier_free(clf);
}

static void classify(const char *text, cx_tags *tags)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "event_id", "t", "occurred_at",
                          "2026-11-02T09:15:00Z", "channel", "email", "text", text);
    char *json = json_dumps(o, JSON_COMPACT);
    cx_event ev;
    char err[512];
    cr_assert_eq(cx_event_parse(&ev, json, strlen(json), err, sizeof err), CX_OK, "%s", err);
    cx_classifier_classify(clf, &ev, tags);
    cx_event_clear(&ev);
    free(json);
    json_decref(o);
}

static unsigned groups(const cx_tags *t)
{
    unsigned g = 0;
    for (int i = 0; i < t->n_assigned; i++)
        g |= 1u << t->order[i];
    return g;
}

/* Asserts that wrapped is classified as bare is. */
static void same_verdict(const char *bare, const char *wrapped)
{
    cx_tags a, b;
    classify(bare, &a);
    classify(wrapped, &b);
    cr_assert_eq(groups(&b), groups(&a), "groups of\n%s", wrapped);
    cr_assert_eq(b.sentiment, a.sentiment, "sentiment of\n%s: %s, not %s", wrapped,
                 cx_sentiment_name(b.sentiment), cx_sentiment_name(a.sentiment));
}

TestSuite(cx_text_verdict, .init = load, .fini = unload);

Test(cx_text_verdict, the_boilerplate_around_the_customers_words_changes_nothing)
{
    const char *complaint = "No, it is still not working. Third time I am writing.";
    same_verdict(complaint, "No, it is still not working. Third time I am writing.\n\nOn Mon, 3 "
                            "Nov 2026 at 10:02, Acme Support <help@acme.com> wrote:\n> Great "
                            "news! Your refund has been processed and your new router was "
                            "delivered on time by our courier.");
    const char *praise = "Thanks, the replacement arrived yesterday and works perfectly. Happy "
                         "customer!";
    same_verdict(praise, "Thanks, the replacement arrived yesterday and works perfectly. Happy "
                         "customer!\r\n\r\n-----Original Message-----\r\nFrom: Acme Support "
                         "<support@acme.com>\r\nSent: Monday, 3 November 2026 10:02\r\n\r\nWe "
                         "are sorry for the delay with your refund. The courier lost your "
                         "parcel and the delivery was cancelled.");
    same_verdict(praise, "Thanks, the replacement arrived yesterday and works perfectly. Happy "
                         "customer!\n\nKind regards,\nJo Bloggs\nSenior Account Manager | "
                         "Payments & Billing\n\nThis e-mail and any attachments are "
                         "confidential and may be subject to delayed delivery.");
    same_verdict("The agent didn't help and wasn't polite.",
                 "<p>The agent didn&#39;t help and wasn&#39;t polite.</p>");
    same_verdict("The agent wasn't helpful and the app didn't work.",
                 "The agent wasn\xca\xbct helpful and the app didn\xc2\xb4t work.");
    same_verdict("The courier was rude and my refund is still missing.",
                 "\xef\xbc\xb4\xef\xbd\x88\xef\xbd\x85\xe3\x80\x80\xef\xbd\x83\xef\xbd\x8f"
                 "\xef\xbd\x95\xef\xbd\x92\xef\xbd\x89\xef\xbd\x85\xef\xbd\x92 was rude and my "
                 "re\xe2\x81\xa0"
                 "fund is still missing.");
    same_verdict("Still broken. Nobody called back!",
                 "Still broken. Nobody called back!\n\nDiese E-Mail enth\xc3\xa4lt vertrauliche "
                 "Informationen und ist nur f\xc3\xbcr den Adressaten bestimmt. Wenn Sie nicht "
                 "der richtige Adressat sind, informieren Sie bitte sofort den Absender.");
}

Test(cx_text_verdict, a_transcripts_feeling_is_the_customers)
{
    cx_tags t;
    classify("Customer: My refund still hasn't arrived after 3 weeks.\nAgent: Thank you for "
             "your patience! I completely understand. I'm happy to help. Great news, I can see it "
             "was approved today. Is there anything else I can help you with? Have a wonderful "
             "day!\nCustomer: no\nSystem: Customer left the chat",
             &t);
    cr_assert_eq(t.sentiment, CX_SENT_NEGATIVE, "%s", cx_sentiment_name(t.sentiment));
    classify("Customer: Got it, cheers!\nAgent: Apologies again for the long wait and the "
             "billing error, I'm really sorry about the trouble.\nCustomer: ok",
             &t);
    cr_assert_eq(t.sentiment, CX_SENT_POSITIVE, "%s", cx_sentiment_name(t.sentiment));
    /* a customer who says nothing feels nothing the text shows */
    classify("Agent: Hello, sorry for the long wait, how can I help you today?\nCustomer:\n"
             "Agent: Are you still there? Sorry again about the delay.\nCustomer:",
             &t);
    cr_assert_eq(t.sentiment, CX_SENT_NEUTRAL, "%s", cx_sentiment_name(t.sentiment));
}

/* Each verdict says what decided its sentiment, so that "why neutral?" has
 * an answer in the output. */
Test(cx_text_verdict, the_sentiment_says_what_decided_it)
{
    cx_tags t;
    classify("The courier lost my parcel again.", &t);
    cr_assert_str_eq(t.sentiment_from, "text");
    classify("Customer: the courier lost it\nAgent: so sorry, refund sent\nCustomer: ok", &t);
    cr_assert_str_eq(t.sentiment_from, "customer turns");
    classify("Automatic reply: I am on leave until Monday.", &t);
    cr_assert_str_eq(t.sentiment_from, "none");
    cr_assert_eq(t.sentiment, CX_SENT_NEUTRAL);
    const char *rated = "{\"event_id\":\"r\",\"occurred_at\":\"2026-11-02T09:15:00Z\","
                        "\"text\":\"great\",\"rating\":{\"scale\":\"csat\",\"value\":1}}";
    cx_event ev;
    char err[256];
    cr_assert_eq(cx_event_parse(&ev, rated, strlen(rated), err, sizeof err), CX_OK, "%s", err);
    cx_classifier_classify(clf, &ev, &t);
    cx_event_clear(&ev);
    cr_assert_str_eq(t.sentiment_from, "rating");
}

/* "-" or "n/a" in a survey's box tells no feeling: it is not a complaint
 * (the model's leaning with nothing to read) and says so. */
Test(cx_text_verdict, a_blank_filled_in_tells_no_feeling)
{
    const char *blanks[] = {"-", "...", "n/a", "None.", "no comment", "Nothing to add."};
    for (size_t i = 0; i < CX_ARRAY_LEN(blanks); i++) {
        cx_tags t;
        classify(blanks[i], &t);
        cr_assert_eq(t.n_assigned, 0, "%s", blanks[i]);
        cr_assert_eq(t.sentiment, CX_SENT_NEUTRAL, "%s: %s", blanks[i],
                     cx_sentiment_name(t.sentiment));
        cr_assert_str_eq(t.sentiment_from, "none", "%s", blanks[i]);
    }
    cx_tags t;
    classify(":(", &t); /* an emoticon is a feeling */
    cr_assert_eq(t.sentiment, CX_SENT_NEGATIVE, "%s", cx_sentiment_name(t.sentiment));
    cr_assert_str_eq(t.sentiment_from, "text");
}

/* The model learned from words: its lean, toward complaints, must not speak
 * for a text that holds none. The lexicons read emoticons. */
Test(cx_text_verdict, digits_and_signs_alone_are_read_by_the_lexicons)
{
    static const struct {
        const char *text;
        cx_sentiment want;
    } cases[] = {{"+1", CX_SENT_NEUTRAL},  {"0", CX_SENT_NEUTRAL},     {"5*", CX_SENT_NEUTRAL},
                 {"1/5", CX_SENT_NEUTRAL}, {"<3", CX_SENT_POSITIVE},   {":-)", CX_SENT_POSITIVE},
                 {":(", CX_SENT_NEGATIVE}, {" :'( ", CX_SENT_NEGATIVE}};
    for (size_t i = 0; i < CX_ARRAY_LEN(cases); i++) {
        cx_tags t;
        classify(cases[i].text, &t);
        cr_assert_eq(t.n_assigned, 0, "%s: tagged %s", cases[i].text, cx_category_name(t.order[0]));
        cr_assert_eq(t.sentiment, cases[i].want, "%s: %s", cases[i].text,
                     cx_sentiment_name(t.sentiment));
        cr_assert_str_eq(t.sentiment_from, "text", "%s", cases[i].text);
    }
    cx_tags t; /* a word among them: the model reads it all */
    classify("+1 the parcel never came", &t);
    cr_assert_eq(t.sentiment, CX_SENT_NEGATIVE, "%s", cx_sentiment_name(t.sentiment));
    cr_assert_neq(t.n_assigned, 0);
}

/* A survey's one-word answer with a negating prefix is a complaint: the
 * character n-grams of "unsatisfied" are those of "satisfied", which read as
 * praise on their own. */
Test(cx_text_verdict, a_negating_prefix_is_not_praise)
{
    const char *answers[] = {"unsatisfied", "Very unsatisfied", "dissatisfied.", "Unhelpful",
                             "uncomfortable"};
    for (size_t i = 0; i < CX_ARRAY_LEN(answers); i++) {
        cx_tags t;
        classify(answers[i], &t);
        cr_assert_eq(t.sentiment, CX_SENT_NEGATIVE, "%s: %s", answers[i],
                     cx_sentiment_name(t.sentiment));
    }
    cx_tags t; /* their positive words are still praise */
    classify("Very satisfied", &t);
    cr_assert_eq(t.sentiment, CX_SENT_POSITIVE, "%s", cx_sentiment_name(t.sentiment));
}

Test(cx_text_verdict, an_automatic_reply_has_no_group_and_no_feeling)
{
    cx_tags t;
    classify("Thank you for your email. I am out of the office until Monday 10 November with "
             "limited access to email. For urgent billing or invoice queries please contact "
             "accounts@northwind.com. I will respond as soon as possible on my return.",
             &t);
    cr_assert_eq(t.n_assigned, 0);
    cr_assert_eq(t.sentiment, CX_SENT_NEUTRAL);
}
