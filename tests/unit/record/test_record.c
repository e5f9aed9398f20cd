/*
 * test_record.c - one message made into a record, as run, dead-letter replay
 * and reclassification all make it: parsed, classified with the rules given,
 * matched against the event-level ticket rules, or a dead letter with the
 * parser's reason.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "allocated_bytes.h"
#include "record.h"

static cx_classifier *clf;
static cx_ticket_rules *tickets;
static cx_record_store store;

static void setup(void)
{
    char err[512];
    cr_assert_eq(cx_classifier_new(&clf, NULL, 0, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_ticket_rules_new(&tickets, NULL, 60, err, sizeof err), CX_OK, "%s", err);
}

static void teardown(void)
{
    cx_record_release(&store);
    cx_ticket_rules_free(tickets);
    cx_classifier_free(clf);
}

TestSuite(cx_record, .init = setup, .fini = teardown);

/* An NPS detractor blaming the carrier: the built-in rule external-nps-detractor. */
static const char detractor[] =
    "{\"event_id\":\"d1\",\"occurred_at\":\"2026-11-01T10:00:30Z\",\"channel\":\"survey\","
    "\"text\":\"the courier left my parcel in the rain\",\"rating\":{\"scale\":\"nps\",\"value\":2}}";

/* The index of the built-in rule called name. */
static size_t rule_index(const char *name)
{
    for (size_t i = 0; i < cx_ticket_rules_count(tickets); i++)
        if (strcmp(cx_ticket_rules_get(tickets, i)->name, name) == 0)
            return i;
    cr_assert_fail("no rule %s", name);
    return 0;
}

Test(cx_record, an_event_is_parsed_classified_and_matched_against_event_rules)
{
    cx_record r;
    cx_record_rules rules = {.classifier = clf, .tickets = tickets};
    cr_assert_eq(
        cx_record_make(&r, &store, &rules, "cx.events", 3, 42, detractor, strlen(detractor)),
        CX_OK);
    cr_assert_str_eq(r.topic, "cx.events");
    cr_assert_eq(r.partition, 3);
    cr_assert_eq(r.offset, 42);
    cr_assert_eq(r.raw, detractor, "the message is borrowed, byte for byte");
    cr_assert_eq(r.raw_len, strlen(detractor));
    cr_assert_null(r.error);
    cr_assert_str_eq(r.ev->event_id, "d1");
    cr_assert_eq(r.tags->n_assigned, 1);
    cr_assert_eq(r.tags->order[0], CX_CAT_EXTERNAL);
    cr_assert_eq(r.tags->sentiment, CX_SENT_NEGATIVE);
    cr_assert_eq(r.n_hits, 1);
    cr_assert_eq(r.hits[0], rule_index("external-nps-detractor"));

    /* Without ticket rules (reclassification): the same verdict, no matches. */
    cx_record_release(&store);
    rules.tickets = NULL;
    cr_assert_eq(cx_record_make(&r, &store, &rules, NULL, -1, -1, detractor, strlen(detractor)),
                 CX_OK);
    cr_assert_null(r.topic);
    cr_assert_eq(r.tags->order[0], CX_CAT_EXTERNAL);
    cr_assert_eq(r.n_hits, 0);
}

Test(cx_record, an_invalid_message_is_a_dead_letter_with_the_parsers_reason)
{
    cx_record r;
    cx_record_rules rules = {.classifier = clf, .tickets = tickets};
    const char bad[] = "{\"event_id\":\"x\",\"occurred_at\":\"0001-01-01T00:00:00+23:59\","
                       "\"text\":\"hi\"}";
    cr_assert_eq(cx_record_make(&r, &store, &rules, "t", 0, 7, bad, strlen(bad)), CX_ERR_INVALID);
    cr_assert_null(r.ev);
    cr_assert_null(r.tags);
    cr_assert_eq(r.n_hits, 0);
    cr_assert_eq(r.offset, 7);
    cr_assert_eq(r.raw, bad);
    cr_assert(strstr(r.error, "field \"occurred_at\"") != NULL, "%s", r.error);
    cr_assert_null(store.ev.event_id, "a dead letter holds nothing to release");
}

/* A long-running consumer makes and releases a record per message, reusing
 * one store: what the parser held for each is given back, so memory does
 * not grow with the number of messages. (The parser keeps a chunk or two of
 * 64 KiB for the next messages, taken in the warm-up; holding every event
 * would take a chunk per ~600 of them.) */
Test(cx_record, releasing_a_record_gives_its_memory_back)
{
    enum { WARM_UP = 1000, N = 10000 };
    cx_record r;
    cx_record_rules rules = {.classifier = clf, .tickets = tickets};
    size_t before = 0;
    for (int i = 0; i < WARM_UP + N; i++) {
        if (i == WARM_UP)
            before = cx_test_allocated_bytes();
        cr_assert_eq(
            cx_record_make(&r, &store, &rules, "cx.events", 0, i, detractor, strlen(detractor)),
            CX_OK);
        cx_record_release(&store);
    }
    size_t after = cx_test_allocated_bytes();
    cr_assert_lt(after, before + 64 * 1024, "%zu bytes more held after %d records", after - before,
                 N);
    cr_assert_null(store.ev.event_id, "released, the store holds no event");
}

/* Every event rule a configuration may have can fire on one event: each
 * opens its owner's ticket. */
Test(cx_record, an_event_keeps_the_matches_of_every_event_rule)
{
    static char json[64 * 1024];
    size_t used = (size_t)snprintf(json, sizeof json, "[");
    for (int i = 0; i < CX_TICKET_MAX_EVENT_RULES; i++)
        used += (size_t)snprintf(json + used, sizeof json - used,
                                 "%s{\"name\": \"r%d\", \"on\": \"event\", \"category\": "
                                 "\"external\", \"sentiment\": \"negative\", \"owner\": "
                                 "\"team-%d\"}",
                                 i ? ", " : "", i, i);
    snprintf(json + used, sizeof json - used, "]");
    json_error_t je;
    json_t *conf = json_loads(json, 0, &je);
    cr_assert_not_null(conf, "%s", je.text);
    char err[512];
    cx_ticket_rules *many;
    cr_assert_eq(cx_ticket_rules_new(&many, conf, 60, err, sizeof err), CX_OK, "%s", err);
    json_decref(conf);
    cx_record r;
    cx_record_rules rules = {.classifier = clf, .tickets = many};
    cr_assert_eq(
        cx_record_make(&r, &store, &rules, "cx.events", 0, 1, detractor, strlen(detractor)), CX_OK);
    cr_assert_eq(r.n_hits, CX_TICKET_MAX_EVENT_RULES);
    cr_assert_eq(r.hits[CX_TICKET_MAX_EVENT_RULES - 1], CX_TICKET_MAX_EVENT_RULES - 1);
    cx_record_release(&store);
    cx_ticket_rules_free(many);
}

/* The rules read an event's attributes before its record lets go of them: a
 * delivery 5 days late among 20,000 other attributes is tagged performance
 * and matches the late-delivery ticket rule; the record keeps no attributes
 * (they take many times the message's bytes parsed). */
Test(cx_record, the_rules_read_the_attributes_that_the_record_does_not_keep)
{
    enum { ATTRS = 20 * 1000 };
    size_t cap = 16 * ATTRS + 400;
    char *msg = malloc(cap);
    cr_assert_not_null(msg);
    size_t off = (size_t)sprintf(
        msg, "{\"event_id\":\"late1\",\"occurred_at\":\"2026-11-01T10:00:30Z\","
             "\"text\":\"where is my order\",\"attributes\":{\"promised_date\":\"2026-10-20\","
             "\"delivered_date\":\"2026-10-25\"");
    for (int k = 0; k < ATTRS; k++)
        off += (size_t)sprintf(msg + off, ",\"x%d\":%d", k, k);
    off += (size_t)sprintf(msg + off, "}}");
    cx_record r;
    cx_record_rules rules = {.classifier = clf, .tickets = tickets};
    cr_assert_eq(cx_record_make(&r, &store, &rules, "cx.events", 0, 1, msg, off), CX_OK);
    cr_assert_null(r.ev->attributes);
    cr_assert_str_eq(r.ev->event_id, "late1");
    cr_assert_str_eq(r.ev->text, "where is my order");
    int performance = 0;
    for (int k = 0; k < r.tags->n_assigned; k++)
        performance |= r.tags->order[k] == CX_CAT_PERFORMANCE;
    cr_assert(performance, "tagged %d categories, not performance", r.tags->n_assigned);
    size_t late = rule_index("late-delivery"), n = 0;
    for (size_t i = 0; i < r.n_hits; i++)
        n += r.hits[i] == late;
    cr_assert_eq(n, 1, "the late-delivery rule matched %zu times", n);
    cx_record_release(&store);
    free(msg);
}
