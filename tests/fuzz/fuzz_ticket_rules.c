/*
 * fuzz_ticket_rules.c - libFuzzer entry point for ticket rules (the
 * configuration's "tickets.rules", docs/tickets.md), which users write by
 * hand: any JSON value must give rules or CX_ERR_CONFIG with one line naming
 * tickets.rules, and leak nothing. Rules that load are whole (a name, an
 * owner, a readable description; threshold windows a multiple of the signal
 * window) and are matched against a few classified events.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_support.h"
#include "tickets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BASE_WINDOW 60

static const char *const EVENTS[] = {
    "{\"event_id\":\"a\",\"occurred_at\":\"2026-01-05T10:00:00Z\",\"channel\":\"chat\","
    "\"touchpoint\":\"delivery\",\"rating\":{\"scale\":\"nps\",\"value\":3},\"text\":\"late\","
    "\"attributes\":{\"promised_date\":\"2026-01-01\",\"delivered_date\":\"2026-01-09\"}}",
    "{\"event_id\":\"b\",\"occurred_at\":\"2026-01-05T10:00:00Z\",\"channel\":\"email\","
    "\"rating\":{\"scale\":\"csat\",\"value\":5},\"text\":\"fine\"}",
};
#define N_EVENTS (sizeof EVENTS / sizeof EVENTS[0])

static cx_event events[N_EVENTS];
static cx_tags tags[N_EVENTS];
static int ready;

static void set_up(void)
{
    fuzz_parse_events(EVENTS, events, N_EVENTS);
    /* the first tagged external and performance, negative; the second untagged, positive */
    tags[0].order[0] = CX_CAT_EXTERNAL;
    tags[0].order[1] = CX_CAT_PERFORMANCE;
    tags[0].n_assigned = 2;
    tags[0].confidence[CX_CAT_EXTERNAL] = tags[0].confidence[CX_CAT_PERFORMANCE] = 0.9f;
    tags[0].sentiment = CX_SENT_NEGATIVE;
    tags[0].sentiment_score = -0.8f;
    tags[1].sentiment = CX_SENT_POSITIVE;
    tags[1].sentiment_score = 0.7f;
    ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        set_up();
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (j == NULL)
        return 0; /* the configuration's JSON parser has its say first */
    cx_ticket_rules *rs = NULL;
    char err[512];
    err[0] = '\0';
    cx_status st = cx_ticket_rules_new(&rs, j, BASE_WINDOW, err, sizeof err);
    json_decref(j);
    if (st != CX_OK) {
        if (st != CX_ERR_CONFIG || rs != NULL)
            abort();
        fuzz_check_refusal(err, "tickets.rules");
        return 0;
    }
    size_t n = cx_ticket_rules_count(rs);
    for (size_t i = 0; i < n; i++) {
        const cx_ticket_rule *r = cx_ticket_rules_get(rs, i);
        if (r == NULL || r->name == NULL || r->name[0] == '\0' || r->owner == NULL ||
            r->owner[0] == '\0' || r->description == NULL || r->scope == NULL)
            abort();
        if (r->kind != CX_TICKET_EVENT &&
            (r->window_seconds <= 0 || r->window_seconds % BASE_WINDOW != 0 || r->category < 0 ||
             r->category >= CX_CAT_COUNT))
            abort();
    }
    for (size_t i = 0; i < N_EVENTS; i++) {
        uint16_t hits[8];
        size_t m = cx_ticket_rules_match(rs, &events[i], &tags[i], hits, 8);
        if (m > 8)
            abort();
        for (size_t k = 0; k < m; k++)
            if (hits[k] >= n || cx_ticket_rules_get(rs, hits[k])->kind != CX_TICKET_EVENT)
                abort();
    }
    cx_ticket_rules_free(rs);
    return 0;
}
