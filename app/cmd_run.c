/*
 * cmd_run.c - `cxpulse run`: the service. Consumes, classifies and writes to
 * PostgreSQL until SIGTERM/SIGINT, then stores the batch in hand, leaves the
 * group and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "config.h"
#include "pipeline.h"

static int usage(FILE *out, int rc)
{
    fprintf(out,
            "usage: cxpulse run [--config FILE] [--brokers B] [--topic T]... [--group G]\n"
            "                   [--pg URL] [--rules FILE]... [--model FILE] [--http ADDR:PORT|off]\n"
            "                   [--log-level debug|info|warn|error]\n\n"
            "Consumes the topics as a member of the consumer group, classifies every\n"
            "event and writes events, tags, signals, dead letters and offsets to\n"
            "PostgreSQL in one transaction per batch. Environment: CXPULSE_BROKERS,\n"
            "CXPULSE_TOPICS, CXPULSE_GROUP, CXPULSE_PG_URL, ... (cxpulse config --reference).\n");
    return rc;
}

int cx_cmd_run(int argc, char **argv)
{
    if (cx_cmd_wants_help(argc, argv))
        return usage(stdout, CX_EXIT_OK);
    char err[1024];
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int n_rest = 0, rc = CX_EXIT_USAGE;
    cx_config *cfg = cx_config_new();
    if (cfg == NULL || rest == NULL)
        goto done;
    if (cx_config_parse_cli(cfg, argc, argv, rest, &n_rest, err, sizeof err) != CX_OK ||
        cx_config_validate_run(cfg, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse run: %s\n", err);
        goto done;
    }
    if (n_rest > 0) {
        fprintf(stderr, "cxpulse run: unexpected argument \"%s\"\n", rest[0]);
        usage(stderr, 0);
        goto done;
    }
    cx_log_set_level(cfg->log_level);
    cx_pipeline_totals totals;
    rc = cx_pipeline_run(cfg, 0, &totals);
done:
    cx_config_free(cfg);
    free(rest);
    return rc;
}
