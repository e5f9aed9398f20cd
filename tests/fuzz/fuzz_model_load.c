/*
 * fuzz_model_load.c - libFuzzer entry point for model files (`--model FILE`,
 * `rules.model`), which a user may bring from anywhere: any byte string,
 * read as a model file, must give a classifier or CX_ERR_CONFIG with one
 * line naming the file, and leak nothing. The input's last 8 bytes are set
 * to its checksum first, so the fuzzer gets past that check into the sizes,
 * thresholds, scales, weights and names behind it (a damaged file is caught
 * by the checksum; unit tests cover that). A classifier built with it
 * classifies a few events into tags that keep their promises.
 */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "classify.h"
#include "fuzz_support.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const EVENTS[] = {
    "{\"event_id\":\"a\",\"occurred_at\":\"2026-01-05T10:00:00Z\",\"channel\":\"email\","
    "\"text\":\"The courier was NOT friendly, parcel damaged and charged twice. Very bad!!! "
    "\\ud83d\\ude21 still no refund\",\"attributes\":{\"carrier\":\"DHL\"}}",
    "{\"event_id\":\"b\",\"occurred_at\":\"2026-01-05T10:00:00Z\",\"channel\":\"survey\","
    "\"rating\":{\"scale\":\"nps\",\"value\":9},\"text\":\"great, another delay\"}",
};
#define N_EVENTS (sizeof EVENTS / sizeof EVENTS[0])

/* A small rule file, so that building a classifier per input stays quick. */
static const char RULES[] = "{\"category\":\"external\",\"phrases\":[{\"terms\":[\"courier\"]}],"
                            "\"conditions\":[{\"name\":\"carrier named\",\"weight\":0.5,"
                            "\"all\":[{\"field\":\"attributes.carrier\",\"op\":\"present\"}]}]}";

static cx_event events[N_EVENTS];
static int rules_fd = -1, model_fd = -1;
static char rules_path[64], model_path[64]; /* the files, by their open descriptors */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (rules_fd < 0) {
        fuzz_parse_events(EVENTS, events, N_EVENTS);
        rules_fd = fuzz_temp_file(rules_path, sizeof rules_path);
        model_fd = fuzz_temp_file(model_path, sizeof model_path);
        fuzz_rewrite(rules_fd, RULES, sizeof RULES - 1);
    }
    fuzz_rewrite(model_fd, data, size);
    if (size >= 8) { /* the checksum of the bytes before it */
        uint64_t sum = cx__model_checksum(data, size - 8);
        unsigned char le[8];
        for (int i = 0; i < 8; i++)
            le[i] = (unsigned char)(sum >> (8 * i));
        if (pwrite(model_fd, le, 8, (off_t)(size - 8)) != 8)
            abort();
    }
    fuzz_load_and_classify(rules_path, model_path, model_path, events, N_EVENTS);
    return 0;
}
