/*
 * test_tickets.c - ticket rules without services: the defaults, validation
 * messages that name the rule and key, and event-level matching.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "tickets.h"

static cx_classifier *clf;

static void setup(void)
{
    char err[512];
    cr_assert_eq(cx_classifier_new(&clf, NULL, 0, err, sizeof err), CX_OK, "%s", err);
}

static void teardown(void)
{
    cx_classifier_free(clf);
}

TestSuite(tickets, .init = setup, .fini = teardown);

static cx_ticket_rules *rules_from(const char *json, char *err, size_t errlen, cx_status *st)
{
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    cr_assert_not_null(j, "test JSON: %s", je.text);
    cx_ticket_rules *rs = NULL;
    *st = cx_ticket_rules_new(&rs, j, 60, err, errlen);
    json_decref(j);
    return rs;
}

/* Rules that must load. */
static cx_ticket_rules *rules_ok(const char *json)
{
    char err[512] = "";
    cx_status st;
    cx_ticket_rules *rs = rules_from(json, err, sizeof err, &st);
    cr_assert_eq(st, CX_OK, "%s", err);
    return rs;
}

static void assert_rejected(const char *json, const char *expected)
{
    char err[512] = "";
    cx_status st;
    cx_ticket_rules *rs = rules_from(json, err, sizeof err, &st);
    cr_assert_eq(st, CX_ERR_CONFIG, "accepted: %s", json);
    cr_assert_null(rs);
    cr_assert(strstr(err, expected) != NULL, "message \"%s\" lacks \"%s\"", err, expected);
}

Test(tickets, defaults_cover_every_category_with_an_owner)
{
    char err[512];
    cx_ticket_rules *rs;
    cr_assert_eq(cx_ticket_rules_new(&rs, NULL, 60, err, sizeof err), CX_OK, "%s", err);
    int window[CX_CAT_COUNT] = {0}, events = 0;
    for (size_t i = 0; i < cx_ticket_rules_count(rs); i++) {
        const cx_ticket_rule *r = cx_ticket_rules_get(rs, i);
        cr_assert(r->owner != NULL && r->owner[0] != '\0');
        if (r->kind == CX_TICKET_EVENT)
            events++;
        else
            window[r->category]++;
    }
    for (int c = 0; c < CX_CAT_COUNT; c++)
        cr_assert_gt(window[c], 0, "no default window rule for %s", cx_category_name(c));
    cr_assert_gt(events, 0);
    cr_assert_null(cx_ticket_rules_get(rs, cx_ticket_rules_count(rs)));
    cx_ticket_rules_free(rs);
}

/* The built-in rules are the ones docs/tickets.md lists: a spike rule per
 * category (15 minutes with at least 20 negative events and more than 2.5
 * times the usual), the NPS detractor rule and the late-delivery rule, each
 * with its owner and a 60-minute cooldown. */
Test(tickets, built_in_rules_have_the_documented_thresholds_owners_and_cooldown)
{
    static const struct {
        const char *name;
        cx_category category;
        const char *owner;
        int spike;
    } want[] = {
        {"facing-negative-spike", CX_CAT_FACING, "frontline-operations", 1},
        {"collaborative-negative-spike", CX_CAT_COLLABORATIVE, "back-office", 1},
        {"external-negative-spike", CX_CAT_EXTERNAL, "vendor-management", 1},
        {"performance-negative-spike", CX_CAT_PERFORMANCE, "kpi-owners", 1},
        {"external-nps-detractor", CX_CAT_EXTERNAL, "vendor-management", 0},
        {"late-delivery", CX_CAT_PERFORMANCE, "logistics-planning", 0},
    };
    char err[512];
    cx_ticket_rules *rs;
    cr_assert_eq(cx_ticket_rules_new(&rs, NULL, 60, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_ticket_rules_count(rs), CX_ARRAY_LEN(want), "%zu built-in rules",
                 cx_ticket_rules_count(rs));
    for (size_t i = 0; i < CX_ARRAY_LEN(want); i++) {
        const cx_ticket_rule *r = cx_ticket_rules_get(rs, i);
        cr_assert_str_eq(r->name, want[i].name, "rule %zu", i);
        cr_assert_eq(r->category, (int)want[i].category, "%s: category", r->name);
        cr_assert_str_eq(r->owner, want[i].owner, "%s: owner", r->name);
        cr_assert_eq(r->cooldown_seconds, 3600, "%s: cooldown %d s, not 60 minutes", r->name,
                     r->cooldown_seconds);
        if (want[i].spike) {
            cr_assert_eq(r->kind, CX_TICKET_NEGATIVE_SPIKE, "%s: kind", r->name);
            cr_assert_eq(r->window_seconds, 900, "%s: window %d s, not 15 minutes", r->name,
                         r->window_seconds);
            cr_assert_eq(r->min_events, 20, "%s: min_events %d", r->name, r->min_events);
            cr_assert_float_eq(r->threshold, 2.5, 1e-9, "%s: ratio %g", r->name, r->threshold);
        } else {
            cr_assert_eq(r->kind, CX_TICKET_EVENT, "%s: kind", r->name);
        }
    }
    const cx_ticket_rule *nps = cx_ticket_rules_get(rs, 4);
    cr_assert_eq(nps->scale, CX_RATING_NPS, "the detractor rule reads NPS ratings");
    cr_assert(nps->has_rating_below && nps->rating_below == 6.5, "an NPS detractor: below 6.5");
    cr_assert(nps->tagged, "the detractor rule needs the event tagged external");
    cr_assert_eq(cx_ticket_rules_get(rs, 5)->late_days_above, 3,
                 "late delivery is more than 3 days late");
    cx_ticket_rules_free(rs);
}

Test(tickets, a_window_rule_parses_into_plain_fields)
{
    cx_ticket_rules *rs =
        rules_ok("[{\"name\": \"chat-carriers\", \"category\": \"external\", \"channel\": \"chat\","
                 "  \"window_minutes\": 30.0, \"min_events\": 1.2e1, \"negative_share_above\": 0.4,"
                 "  \"owner\": \"carriers\", \"cooldown_minutes\": 90},"
                 " {\"name\": \"csat\", \"category\": \"facing\", \"avg_rating_below\": 3.5,"
                 "  \"rating_scale\": \"csat\", \"owner\": \"stores\"}]");
    const cx_ticket_rule *r = cx_ticket_rules_get(rs, 0);
    cr_assert_eq(r->kind, CX_TICKET_NEGATIVE_SHARE);
    cr_assert_eq(r->category, CX_CAT_EXTERNAL);
    cr_assert_str_eq(r->scope, "channel=chat");
    cr_assert_eq(r->window_seconds, 1800, "30.0 is a whole number, as 30 is");
    cr_assert_eq(r->min_events, 12);
    cr_assert_float_eq(r->threshold, 0.4, 1e-9);
    cr_assert_eq(r->cooldown_seconds, 5400);
    r = cx_ticket_rules_get(rs, 1);
    cr_assert_eq(r->kind, CX_TICKET_AVG_RATING);
    cr_assert_eq(r->scale, CX_RATING_CSAT);
    cr_assert_str_eq(r->scope, "");
    cr_assert_eq(r->window_seconds, 900, "the window defaults to 15 minutes");
    cx_ticket_rules_free(rs);
}

Test(tickets, mistakes_are_named_by_rule_and_key)
{
    assert_rejected("{}", "tickets.rules: must be an array");
    assert_rejected("[{\"category\": \"external\"}]", "tickets.rules[0]: \"name\"");
    assert_rejected("[{\"name\": \"a\", \"category\": \"billing\", \"owner\": \"x\","
                    " \"negative_share_above\": 0.5}]",
                    "tickets.rules[0] (\"a\"): \"category\" must be");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"negative_share_above\": 0.5}]",
                    "\"owner\"");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\"}]",
                    "give one threshold");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"negative_share_above\": 1.5}]",
                    "\"negative_share_above\" must be");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"avg_rating_below\": 3}]",
                    "needs \"rating_scale\"");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"negative_share_above\": 0.5, \"window_minutes\": 0}]",
                    "\"window_minutes\" must be an integer 1..1440");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"negative_share_above\": 0.5, \"window_minutes\": 15.5}]",
                    "\"window_minutes\" must be an integer 1..1440");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"negative_share_above\": 0.5, \"min_events\": 1e300}]",
                    "\"min_events\" must be an integer");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"negative_share_above\": 0.5, \"treshold\": 1}]",
                    "unknown key \"treshold\"");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"negative_share_above\": 0.5, \"touchpoint\": \"checkout\"}]",
                    "\"touchpoint\" is for event rules");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"negative_share_above\": 0.5},"
                    " {\"name\": \"a\", \"category\": \"facing\", \"owner\": \"y\","
                    " \"negative_share_above\": 0.7}]",
                    "tickets.rules[1] (\"a\"): the name is used by rule 0");
    assert_rejected("[{\"name\": \"e\", \"on\": \"event\", \"category\": \"facing\","
                    " \"owner\": \"x\", \"min_events\": 3}]",
                    "\"min_events\" is for window rules");
    assert_rejected("[{\"name\": \"e\", \"on\": \"event\", \"category\": \"facing\","
                    " \"tagged\": false, \"owner\": \"x\"}]",
                    "needs at least one condition");
    assert_rejected("[{\"name\": \"e\", \"on\": \"event\", \"category\": \"facing\","
                    " \"owner\": \"x\", \"rating_below\": 3}]",
                    "a rating condition needs \"rating_scale\"");
}

/* "on" is "window" (the default) or "event": a misspelt one is an error, not
 * a window rule. */
Test(tickets, an_on_other_than_window_or_event_is_refused)
{
    assert_rejected("[{\"name\": \"a\", \"on\": \"evnt\", \"category\": \"facing\","
                    " \"owner\": \"x\", \"negative_share_above\": 0.5}]",
                    "tickets.rules[0] (\"a\"): \"on\" must be \"window\" or \"event\"");
    cx_ticket_rules *rs = rules_ok("[{\"name\": \"a\", \"on\": \"window\", \"category\": "
                                   "\"facing\", \"owner\": \"x\", \"negative_share_above\": 0.5}]");
    cr_assert_eq(cx_ticket_rules_get(rs, 0)->kind, CX_TICKET_NEGATIVE_SHARE);
    cx_ticket_rules_free(rs);
}

/* A threshold that could never or would always fire is refused at load, in
 * the rule's own words: a share is below 1 (all events negative is never
 * "above" 1), a spike ratio above 1, and a rule has one threshold only. */
Test(tickets, thresholds_out_of_their_range_or_two_at_once_are_refused)
{
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"negative_share_above\": 1}]",
                    "tickets.rules[0] (\"a\"): \"negative_share_above\" must be at least 0 and "
                    "below 1");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"negative_spike_ratio\": 1}]",
                    "tickets.rules[0] (\"a\"): \"negative_spike_ratio\" must be above 1 (and at "
                    "most 1000)");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"negative_share_above\": 0.5, \"negative_spike_ratio\": 2}]",
                    "tickets.rules[0] (\"a\"): give one threshold");
}

/* A share threshold of 0 is allowed: a window with any negative event fires. */
Test(tickets, a_negative_share_threshold_of_0_is_accepted)
{
    cx_ticket_rules *rs = rules_ok("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                                   " \"negative_share_above\": 0}]");
    const cx_ticket_rule *r = cx_ticket_rules_get(rs, 0);
    cr_assert_eq(r->kind, CX_TICKET_NEGATIVE_SHARE);
    cr_assert_float_eq(r->threshold, 0.0, 1e-12, "threshold %g", r->threshold);
    cx_ticket_rules_free(rs);
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"negative_share_above\": -0.1}]",
                    "\"negative_share_above\" must be at least 0 and below 1");
}

/* Routes match owners exactly, so an owner with a space at either end, which
 * no route would match as meant, is refused. */
Test(tickets, an_owner_with_a_space_at_either_end_is_refused)
{
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"billing \","
                    " \"negative_share_above\": 0.5}]",
                    "\"owner\" \"billing \" begins or ends with a space");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"billing\\t\","
                    " \"negative_share_above\": 0.5}]",
                    "begins or ends with a space");
    cx_ticket_rules_free(rules_ok("[{\"name\": \"a\", \"category\": \"facing\","
                                  " \"owner\": \"billing team\", \"negative_share_above\": 0.5}]"));
}

/* Rating conditions no rating on their scale could meet (or every one
 * would), a scale no condition uses, and an owner no route could match as
 * written are refused at load. */
Test(tickets, rating_conditions_that_could_never_or_always_fire_are_refused)
{
    assert_rejected(
        "[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
        " \"avg_rating_below\": 50, \"rating_scale\": \"csat\"}]",
        "\"avg_rating_below\" must be above 1 and at most 5 on the csat scale (1..5): 50 "
        "would always fire");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"avg_rating_below\": 1, \"rating_scale\": \"csat\"}]",
                    "1 would never fire");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"on\": \"event\", \"rating_scale\": \"nps\", \"rating_below\": 0}]",
                    "no nps rating (0..10) is below 0: the rule would never fire");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"on\": \"event\", \"rating_scale\": \"nps\", \"rating_below\": 3,"
                    " \"rating_above\": 8}]",
                    "no nps rating (0..10) is below 3 and above 8");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"on\": \"event\", \"rating_scale\": \"stars\", \"rating_above\": 5}]",
                    "no stars rating (1..5) is above 5");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"on\": \"event\", \"rating_scale\": \"nps\", \"sentiment\": \"negative\"}]",
                    "\"rating_scale\" needs \"rating_below\" or \"rating_above\"");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"negative_share_above\": 0.5, \"rating_scale\": \"csat\"}]",
                    "\"rating_scale\" is for \"avg_rating_below\"");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \" billing\","
                    " \"negative_share_above\": 0.5}]",
                    "\"owner\" \" billing\" begins or ends with a space");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"avg_rating_above\": 7, \"rating_scale\": \"ces\"}]",
                    "\"avg_rating_above\" must be at least 1 and below 7 on the ces scale (1..7): "
                    "7 would never fire");
    /* ces runs the other way: a higher rating is more effort, the worse one */
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"avg_rating_below\": 3, \"rating_scale\": \"ces\"}]",
                    "on the ces scale a higher rating is more effort, the worse one: "
                    "\"avg_rating_below\" would fire on easy contacts; use \"avg_rating_above\"");
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"avg_rating_above\": 3, \"rating_scale\": \"csat\"}]",
                    "\"avg_rating_above\" is for the ces scale, where a higher rating is more "
                    "effort; on the csat scale a lower rating is the worse one: use "
                    "\"avg_rating_below\"");
    /* the edges that can fire are accepted */
    cx_ticket_rules *ces = rules_ok("[{\"name\": \"c\", \"category\": \"facing\","
                                    " \"owner\": \"x\", \"avg_rating_above\": 1,"
                                    " \"rating_scale\": \"ces\"}]");
    /* 1 is the lowest ces rating: an average above it can happen */
    cr_assert_eq(cx_ticket_rules_get(ces, 0)->scale, CX_RATING_CES);
    cr_assert_str_eq(cx_ticket_rules_get(ces, 0)->description, "average ces rating above 1");
    cx_ticket_rules_free(ces);
    cx_ticket_rules_free(rules_ok("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                                  " \"avg_rating_below\": 5, \"rating_scale\": \"csat\"},"
                                  " {\"name\": \"b\", \"category\": \"facing\", \"owner\": \"x\","
                                  " \"on\": \"event\", \"rating_scale\": \"nps\","
                                  " \"rating_below\": 0.5, \"rating_above\": 0}]"));
}

/* A spike is judged against the usual level of at least four windows: a
 * baseline shorter than that is refused, four windows exactly are enough. */
Test(tickets, a_spike_baseline_shorter_than_four_windows_is_refused)
{
    assert_rejected("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                    " \"negative_spike_ratio\": 2, \"baseline_hours\": 1,"
                    " \"window_minutes\": 30}]",
                    "tickets.rules[0] (\"a\"): \"baseline_hours\" must cover at least four "
                    "windows");
    cx_ticket_rules *rs = rules_ok("[{\"name\": \"a\", \"category\": \"facing\","
                                   " \"owner\": \"x\", \"negative_spike_ratio\": 2,"
                                   " \"baseline_hours\": 1, \"window_minutes\": 15}]");
    cr_assert_eq(cx_ticket_rules_get(rs, 0)->baseline_seconds, 3600);
    cx_ticket_rules_free(rs);
}

/* A spike rule given only its ratio waits for 20 negative events in a window
 * and compares with the 24 hours before it (docs/tickets.md). */
Test(tickets, a_spike_rule_defaults_to_20_events_against_24_hours)
{
    cx_ticket_rules *rs = rules_ok("[{\"name\": \"a\", \"category\": \"facing\","
                                   " \"owner\": \"x\", \"negative_spike_ratio\": 2}]");
    const cx_ticket_rule *r = cx_ticket_rules_get(rs, 0);
    cr_assert_eq(r->kind, CX_TICKET_NEGATIVE_SPIKE);
    cr_assert_eq(r->min_events, 20);
    cr_assert_eq(r->baseline_seconds, 86400);
    cr_assert_eq(r->window_seconds, 900);
    cx_ticket_rules_free(rs);
}

Test(tickets, window_must_be_a_multiple_of_the_smallest_signal_window)
{
    char err[512];
    cx_ticket_rules *rs;
    json_t *j = json_loads("[{\"name\": \"a\", \"category\": \"facing\", \"owner\": \"x\","
                           " \"negative_share_above\": 0.5, \"window_minutes\": 5}]",
                           0, NULL);
    cr_assert_eq(cx_ticket_rules_new(&rs, j, 3600, err, sizeof err), CX_ERR_CONFIG);
    cr_assert(strstr(err, "multiple of the smallest signal window (3600 s)") != NULL, "%s", err);
    cr_assert_eq(cx_ticket_rules_new(&rs, j, 300, err, sizeof err), CX_OK, "%s", err);
    cx_ticket_rules_free(rs);
    json_decref(j);
}

/* Parses and classifies one event, and returns how many rules it matched. */
static size_t match(const cx_ticket_rules *rs, const char *json, uint16_t *hits)
{
    char err[512];
    cx_event ev;
    cx_tags tags;
    cr_assert_eq(cx_event_parse(&ev, json, strlen(json), err, sizeof err), CX_OK, "%s", err);
    cx_classifier_classify(clf, &ev, &tags);
    size_t n = cx_ticket_rules_match(rs, &ev, &tags, hits, 8);
    cx_event_clear(&ev);
    return n;
}

Test(tickets, event_rules_match_all_their_conditions_and_nothing_else)
{
    char err[512];
    cx_ticket_rules *rs;
    cr_assert_eq(cx_ticket_rules_new(&rs, NULL, 60, err, sizeof err), CX_OK, "%s", err);
    size_t detractor = 0, late = 0;
    for (size_t i = 0; i < cx_ticket_rules_count(rs); i++) {
        if (!strcmp(cx_ticket_rules_get(rs, i)->name, "external-nps-detractor"))
            detractor = i;
        if (!strcmp(cx_ticket_rules_get(rs, i)->name, "late-delivery"))
            late = i;
    }
    cr_assert(detractor != late, "a built-in rule is missing");
    uint16_t hits[8];
    /* An NPS detractor blaming the carrier. */
    cr_assert_eq(match(rs, "{\"event_id\":\"a\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                           "\"text\":\"the courier lost my parcel\","
                           "\"rating\":{\"scale\":\"nps\",\"value\":2}}",
                       hits),
                 1);
    cr_assert_eq(hits[0], detractor);
    /* A detractor is 0-6, a fractional rating counting as the nearest whole
     * one: a passive's 7, or 6.8, is not a detractor; a 6, or 6.4, is. */
    cr_assert_eq(match(rs,
                       "{\"event_id\":\"a68\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                       "\"text\":\"the courier lost my parcel\","
                       "\"rating\":{\"scale\":\"nps\",\"value\":6.8}}",
                       hits),
                 0);
    cr_assert_eq(match(rs,
                       "{\"event_id\":\"a64\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                       "\"text\":\"the courier lost my parcel\","
                       "\"rating\":{\"scale\":\"nps\",\"value\":6.4}}",
                       hits),
                 1);
    cr_assert_eq(match(rs,
                       "{\"event_id\":\"a7\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                       "\"text\":\"the courier lost my parcel\","
                       "\"rating\":{\"scale\":\"nps\",\"value\":7}}",
                       hits),
                 0);
    cr_assert_eq(match(rs,
                       "{\"event_id\":\"a6\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                       "\"text\":\"the courier lost my parcel\","
                       "\"rating\":{\"scale\":\"nps\",\"value\":6}}",
                       hits),
                 1);
    cr_assert_eq(hits[0], detractor);
    /* The same text from a promoter, and a detractor about something else: no. */
    cr_assert_eq(match(rs, "{\"event_id\":\"b\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                           "\"text\":\"the courier lost my parcel\","
                           "\"rating\":{\"scale\":\"nps\",\"value\":9}}",
                       hits),
                 0);
    cr_assert_eq(match(rs, "{\"event_id\":\"c\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                           "\"text\":\"hello\",\"rating\":{\"scale\":\"nps\",\"value\":2}}",
                       hits),
                 0);
    /* Delivered five days after the promised date; two days is within the rule. */
    cr_assert_eq(match(rs, "{\"event_id\":\"d\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                           "\"text\":\"where is it\",\"attributes\":{\"promised_date\":\"2026-10-20\","
                           "\"delivered_date\":\"2026-10-25\"}}",
                       hits),
                 1);
    cr_assert_eq(hits[0], late);
    cr_assert_eq(match(rs, "{\"event_id\":\"e\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                           "\"text\":\"where is it\",\"attributes\":{\"promised_date\":\"2026-10-20\","
                           "\"delivered_date\":\"2026-10-22T18:00:00Z\"}}",
                       hits),
                 0);
    cr_assert_eq(match(rs, "{\"event_id\":\"f\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                           "\"text\":\"where is it\",\"attributes\":{\"promised_date\":\"2026-10-20\"}}",
                       hits),
                 0, "not delivered yet: lateness unknown");
    /* A date-time against a bare date counts calendar days, whichever side is
     * which: three days late is not more than three, a fourth day is. */
    cr_assert_eq(match(rs,
                       "{\"event_id\":\"g\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                       "\"text\":\"where is it\",\"attributes\":{\"promised_date\":\"2026-10-20\","
                       "\"delivered_date\":\"2026-10-23T09:00:00Z\"}}",
                       hits),
                 0, "the same as delivered 2026-10-23");
    cr_assert_eq(match(rs,
                       "{\"event_id\":\"h\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                       "\"text\":\"where is it\",\"attributes\":{\"promised_date\":"
                       "\"2026-10-20T20:00:00-05:00\",\"delivered_date\":\"2026-10-24\"}}",
                       hits),
                 1, "promised on the 20th where it was promised, delivered the 24th");
    cx_ticket_rules_free(rs);
}

/* Writes n event rules that all match a negative event into buf. */
static void many_event_rules(char *buf, size_t len, int n)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < n; i++)
        used +=
            (size_t)snprintf(buf + used, len - used,
                             "%s{\"name\": \"r%d\", \"on\": \"event\", \"category\": \"facing\","
                             " \"tagged\": false, \"sentiment\": \"negative\", \"owner\": "
                             "\"team-%d\"}",
                             i ? ", " : "", i, i);
    snprintf(buf + used, len - used, "]");
}

/* A configuration may have as many event rules as a record keeps matches
 * of; one more is refused at load, not dropped when events match. */
Test(tickets, event_rules_are_limited_at_load)
{
    static char json[64 * 1024];
    many_event_rules(json, sizeof json, CX_TICKET_MAX_EVENT_RULES);
    cx_ticket_rules *rs = rules_ok(json);
    cx_ticket_rules_free(rs);
    many_event_rules(json, sizeof json, CX_TICKET_MAX_EVENT_RULES + 1);
    assert_rejected(json, "tickets.rules: 33 event rules (\"on\": \"event\"); at most 32");
}

/* What a ticket's notification carries is bounded, so PostgreSQL never
 * refuses it (8000 bytes) and the batch with it. */
Test(tickets, long_names_and_descriptions_are_refused_at_load)
{
    static char json[8192], big[1100];
    memset(big, 'x', 1001);
    big[1001] = '\0';
    snprintf(json, sizeof json,
             "[{\"name\": \"e\", \"on\": \"event\", \"category\": \"facing\", \"owner\": \"x\","
             " \"sentiment\": \"negative\", \"description\": \"%s\"}]",
             big);
    assert_rejected(json, "\"description\" is 1001 bytes; at most 1000");
    big[201] = '\0';
    snprintf(json, sizeof json,
             "[{\"name\": \"e\", \"category\": \"facing\", \"owner\": \"%s\","
             " \"negative_share_above\": 0.5}]",
             big);
    assert_rejected(json, "\"owner\" is 201 bytes; at most 200");
}

/* 200 bytes is the documented limit of "name" and "owner": 200 bytes load,
 * 201 do not. */
Test(tickets, names_and_owners_of_200_bytes_are_accepted)
{
    static char json[2048], name[202], owner[202];
    memset(name, 'n', 200);
    memset(owner, 'o', 200);
    snprintf(json, sizeof json,
             "[{\"name\": \"%s\", \"category\": \"facing\", \"owner\": \"%s\","
             " \"negative_share_above\": 0.5}]",
             name, owner);
    cx_ticket_rules *rs = rules_ok(json);
    cr_assert_eq(strlen(cx_ticket_rules_get(rs, 0)->name), 200);
    cr_assert_eq(strlen(cx_ticket_rules_get(rs, 0)->owner), 200);
    cx_ticket_rules_free(rs);
    name[200] = 'n';
    snprintf(json, sizeof json,
             "[{\"name\": \"%s\", \"category\": \"facing\", \"owner\": \"x\","
             " \"negative_share_above\": 0.5}]",
             name);
    assert_rejected(json, "tickets.rules[0]: \"name\" is 201 bytes; at most 200");
}

Test(tickets, scope_conditions_restrict_event_rules)
{
    cx_ticket_rules *rs = rules_ok(
        "[{\"name\": \"checkout-anger\", \"on\": \"event\", \"category\": \"collaborative\","
        "  \"tagged\": false, \"touchpoint\": \"checkout\", \"sentiment\": \"negative\","
        "  \"owner\": \"web-team\"}]");
    cr_assert_str_eq(cx_ticket_rules_get(rs, 0)->scope, "touchpoint=checkout");
    uint16_t hits[8];
    cr_assert_eq(match(rs, "{\"event_id\":\"a\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                           "\"touchpoint\":\"checkout\",\"text\":\"terrible, awful, it crashed\"}",
                       hits),
                 1);
    cr_assert_eq(match(rs, "{\"event_id\":\"b\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                           "\"touchpoint\":\"delivery\",\"text\":\"terrible, awful, it crashed\"}",
                       hits),
                 0);
    cr_assert_eq(match(rs, "{\"event_id\":\"c\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                           "\"touchpoint\":\"checkout\",\"text\":\"lovely, thanks\"}",
                       hits),
                 0);
    cx_ticket_rules_free(rs);
}

/* An event rule limited to a channel opens tickets for that channel's
 * events only. */
Test(tickets, a_channel_limits_an_event_rule_to_that_channel)
{
    cx_ticket_rules *rs =
        rules_ok("[{\"name\": \"chat-anger\", \"on\": \"event\", \"category\": \"facing\","
                 "  \"tagged\": false, \"channel\": \"chat\", \"sentiment\": \"negative\","
                 "  \"owner\": \"chat-team\"}]");
    uint16_t hits[8];
    cr_assert_eq(match(rs,
                       "{\"event_id\":\"a\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                       "\"channel\":\"chat\",\"text\":\"terrible, awful, it crashed\"}",
                       hits),
                 1);
    cr_assert_eq(hits[0], 0);
    cr_assert_eq(match(rs,
                       "{\"event_id\":\"b\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                       "\"channel\":\"web\",\"text\":\"terrible, awful, it crashed\"}",
                       hits),
                 0, "a web event does not open the chat team's ticket");
    cr_assert_eq(match(rs,
                       "{\"event_id\":\"c\",\"occurred_at\":\"2026-11-01T10:00:00Z\","
                       "\"text\":\"terrible, awful, it crashed\"}",
                       hits),
                 0, "nor does an event without a channel");
    cx_ticket_rules_free(rs);
}

/* "rating_above" and "rating_below" are strict, together a range, and on their scale only. */
Test(tickets, rating_bounds_are_strict_and_on_their_scale)
{
    cx_ticket_rules *rs =
        rules_ok("[{\"name\": \"lukewarm\", \"on\": \"event\", \"category\": \"facing\","
                 "  \"tagged\": false, \"rating_scale\": \"csat\", \"rating_above\": 2,"
                 "  \"rating_below\": 4, \"owner\": \"stores\"}]");
    static const struct {
        const char *scale, *value;
        size_t matches;
    } cases[] = {{"csat", "2", 0}, {"csat", "2.5", 1}, {"csat", "3", 1},
                 {"csat", "4", 0}, {"csat", "5", 0},   {"ces", "3", 0}};
    uint16_t hits[8];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"event_id\":\"r\",\"occurred_at\":\"2026-11-01T10:00:00Z\",\"text\":\"ok\","
                 "\"rating\":{\"scale\":\"%s\",\"value\":%s}}",
                 cases[i].scale, cases[i].value);
        cr_assert_eq(match(rs, json, hits), cases[i].matches, "%s %s", cases[i].scale,
                     cases[i].value);
    }
    cx_ticket_rules_free(rs);
}

Test(tickets, a_scope_is_kept_whole_or_the_rule_is_rejected)
{
    /* 64 two-byte characters: the longest channel an event can carry, kept whole
     * in the scope (tickets store it as text). */
    char ch[512] = "", json[1024];  /* up to 130 two-byte characters */
    for (int i = 0; i < 64; i++)
        strcat(ch, "\xC3\xA9");
    snprintf(json, sizeof json, "[{\"name\": \"c\", \"on\": \"event\", \"category\": \"external\", \"channel\": \"%s\","
             " \"owner\": \"o\"}]", ch);
    cx_ticket_rules *rs = rules_ok(json);
    const cx_ticket_rule *r = cx_ticket_rules_get(rs, 0);
    cr_assert(strncmp(r->scope, "channel=", 8) == 0 && strcmp(r->scope + 8, ch) == 0,
              "scope \"%s\" is not the whole channel", r->scope);
    cx_ticket_rules_free(rs);
    /* A longer one can match no event: an error, as `config --check` shows it (130
     * such characters no longer fit the scope, which was cut inside a character). */
    for (int i = 64; i < 130; i++)
        strcat(ch, "\xC3\xA9");
    snprintf(json, sizeof json, "[{\"name\": \"c\", \"on\": \"event\", \"category\": \"external\", \"touchpoint\": \"%s\","
             " \"owner\": \"o\"}]", ch);
    assert_rejected(json, "\"touchpoint\" must be 1..64 characters");
}
