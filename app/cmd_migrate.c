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
    const char *url = getenv("CXPULSE_PG_URL");
    if (cx_cmd_wants_help(argc, argv)) {
        printf("usage: cxpulse migrate [--pg URL]\n\n"
               "Creates or upgrades the cx schema (version %d). Without --pg, uses\n"
               "CXPULSE_PG_URL, then libpq's environment (PGHOST, PGDATABASE, ...).\n",
               cx_pg_schema_version());
        return CX_EXIT_OK;
    }
    const cx_cmd_string strs[] = {{"--pg", &url, NULL, 0}};
    const cx_cmd_spec spec = {.strs = strs, .n_strs = CX_ARRAY_LEN(strs)};
    if (cx_cmd_parse_options("migrate", argv + 1, argc - 1, &spec) != 0)
        return CX_EXIT_USAGE;
    char err[1024];
    int applied, version;
    cx_status st = cx_pg_migrate(url, &applied, &version, err, sizeof err);
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
