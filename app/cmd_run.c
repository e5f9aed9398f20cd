/*
 * cmd_run.c - `cxpulse run` (see cli.md). Not built yet: it says so and
 * exits 1 rather than pretending to work.
 */
#include <stdio.h>

#include "commands.h"

int cx_cmd_run(int argc, char **argv)
{
    if (cx_cmd_wants_help(argc, argv)) {
        printf("usage: cxpulse run (not available in this version yet)\n");
        return CX_EXIT_OK;
    }
    fprintf(stderr, "cxpulse run: not available in this version yet\n");
    return CX_EXIT_RUNTIME;
}
