/*
 * fuzz_config_load.c - libFuzzer entry point for the configuration file
 * (docs/configuration.md), which users write by hand: any byte string, read
 * as a configuration file, must be applied or refused with one line naming
 * the file, and leak nothing. One that applies is checked as `run` checks it
 * (a refusal is one line too) and printed as `config --print` prints it:
 * valid JSON, with the webhook secret masked.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64]; /* the file, by its open descriptor */
static int fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fd < 0)
        fd = fuzz_temp_file(path, sizeof path);
    fuzz_rewrite(fd, data, size);
    cx_config *cfg = cx_config_new();
    if (cfg == NULL)
        abort();
    char err[512];
    err[0] = '\0';
    cx_status st = cx_config_load_file(cfg, path, err, sizeof err);
    if (st != CX_OK) {
        if (st != CX_ERR_CONFIG && st != CX_ERR_USAGE)
            abort();
        fuzz_check_refusal(err, path);
        cx_config_free(cfg);
        return 0;
    }
    err[0] = '\0';
    if (cx_config_validate_run(cfg, err, sizeof err) != CX_OK &&
        (err[0] == '\0' || strpbrk(err, "\n\r") != NULL))
        abort();
    char *printed = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&printed, &len);
    if (out == NULL)
        abort();
    cx_config_print(cfg, out);
    if (fclose(out) != 0)
        abort();
    json_t *j = json_loadb(printed, len, 0, NULL);
    if (j == NULL)
        abort();
    const char *secret = json_string_value(json_object_get(j, "alerts.webhook_secret"));
    if (cfg->alerts_webhook_secret != NULL && cfg->alerts_webhook_secret[0] != '\0' &&
        (secret == NULL || strcmp(secret, "****") != 0))
        abort();
    json_decref(j);
    free(printed);
    cx_config_free(cfg);
    return 0;
}
