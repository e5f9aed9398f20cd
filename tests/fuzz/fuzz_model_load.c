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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void set_up(void)
{
    char err[256];
    for (size_t i = 0; i < N_EVENTS; i++)
        if (cx_event_parse(&events[i], EVENTS[i], strlen(EVENTS[i]), err, sizeof err) != CX_OK) {
            fprintf(stderr, "fuzz_model_load: event %zu: %s\n", i, err);
            abort();
        }
    rules_fd = fuzz_temp_file(rules_path, sizeof rules_path);
    model_fd = fuzz_temp_file(model_path, sizeof model_path);
    fuzz_rewrite(rules_fd, RULES, sizeof RULES - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (rules_fd < 0)
        set_up();
    unsigned char *copy = malloc(size ? size : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    if (size >= 8) {
        uint64_t sum = cx__model_checksum(copy, size - 8);
        for (int i = 0; i < 8; i++)
            copy[size - 8 + (size_t)i] = (unsigned char)(sum >> (8 * i));
    }
    fuzz_rewrite(model_fd, copy, size);
    free(copy);
    const char *files[] = {rules_path};
    cx_classifier *clf = NULL;
    char err[512];
    err[0] = '\0';
    cx_status st = cx_classifier_new_model(&clf, files, 1, model_path, err, sizeof err);
    if (st != CX_OK) {
        /* one line, naming the file */
        if (st != CX_ERR_CONFIG || strncmp(err, model_path, strlen(model_path)) != 0 ||
            strchr(err, '\n'))
            abort();
        return 0;
    }
    if (cx_classifier_version(clf) == NULL)
        abort();
    for (size_t i = 0; i < N_EVENTS; i++) {
        cx_tags tags;
        cx_classifier_classify(clf, &events[i], &tags);
        fuzz_check_tags(&tags);
    }
    cx_classifier_free(clf);
    return 0;
}
