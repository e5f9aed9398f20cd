/*
 * fuzz_rules_load.c - libFuzzer entry point for rule files (docs/rules.md),
 * which users write by hand: any byte string, read as a rule file, must give
 * a classifier or CX_ERR_CONFIG with a line for each mistake, each naming
 * the file, and leak nothing. A classifier built from it classifies a few
 * events (text with negation, ratings, attribute dates and numbers, so
 * phrases, sentiment terms and every kind of condition run) into tags that
 * keep their promises.
 */
#include <stdint.h>

#include "classify.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const EVENTS[] = {
    "{\"event_id\":\"a\",\"occurred_at\":\"2026-01-05T10:00:00Z\",\"channel\":\"email\","
    "\"touchpoint\":\"delivery\",\"language\":\"en\",\"customer_id\":\"c1\","
    "\"text\":\"The courier was NOT friendly, parcel damaged in transit and charged twice. "
    "Very bad!!! but the agent didn't help; caf\\u00e9 \\ud83d\\ude21 still no refund\","
    "\"attributes\":{\"carrier\":\"DHL\",\"promised_date\":\"2026-01-02\","
    "\"delivered_date\":\"2026-01-04T08:00:00Z\",\"qty_ordered\":3,\"qty_delivered\":\"2\"}}",
    "{\"event_id\":\"b\",\"occurred_at\":\"2026-01-05T10:00:00Z\",\"channel\":\"survey\","
    "\"rating\":{\"scale\":\"nps\",\"value\":9},\"text\":\"great, another delay. kind of ok\"}",
    "{\"event_id\":\"c\",\"occurred_at\":\"2026-01-05T10:00:00Z\",\"channel\":\"web\","
    "\"rating\":{\"scale\":\"csat\",\"value\":2}}",
};
#define N_EVENTS (sizeof EVENTS / sizeof EVENTS[0])

static cx_event events[N_EVENTS];
static char path[64]; /* the rule file, by its open descriptor */
static int fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fd < 0) {
        fuzz_parse_events(EVENTS, events, N_EVENTS);
        fd = fuzz_temp_file(path, sizeof path);
    }
    fuzz_rewrite(fd, data, size);
    fuzz_load_and_classify(path, "none", path, events, N_EVENTS);
    return 0;
}
