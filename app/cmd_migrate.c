/*
 * cmd_migrate.c - `cxpulse migrate --pg URL`: creates or upgrades the cx
 * schema; safe to run again (and from several processes at once).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "pg.h"

int cx_cmd_migrate(int argc, char **argv)
{
    const char *url_flag = NULL, *config_path = NULL;
    if (cx_cmd_wants_help(argc, argv)) {
        printf("usage: cxpulse migrate [--pg URL] [--config FILE]\n\n"
               "Creates or upgrades the cx schema (version %d). Without --pg, uses\n"
               "CXPULSE_PG_URL, then the postgres.url of --config FILE, then libpq's\n"
               "environment (PGHOST, PGDATABASE, ...).\n",
               cx_pg_schema_version());
        return CX_EXIT_OK;
    }
    const cx_cmd_string strs[] = {{"--pg", &url_flag, NULL, 0},
                                  {"--config", &config_path, NULL, 0}};
    const cx_cmd_spec spec = {.strs = strs, .n_strs = CX_ARRAY_LEN(strs)};
    cx_config *cfg;
    const char *url;
    if (cx_cmd_parse_options("migrate", argv + 1, argc - 1, &spec) != 0 ||
        cx_cmd_pg_url("migrate", config_path, url_flag, &url, &cfg) != 0)
        return CX_EXIT_USAGE;
    char err[1024];
    int applied, version;
    cx_status st = cx_pg_migrate(url, &applied, &version, err, sizeof err);
    cx_config_free(cfg);
    if (st != CX_OK) {
        fprintf(stderr, "cxpulse migrate: %s\n", err);
        return cx_cmd_exit_status(st);
    }
    if (applied == 0)
        printf("schema is up to date (version %d)\n", version);
    else
        printf("applied %d migration%s: schema is at version %d\n", applied,
               applied == 1 ? "" : "s", version);
    return CX_EXIT_OK;
}
