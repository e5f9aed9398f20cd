/*
 * pg_migrate.h - the cx schema (docs/schema.md): creating and upgrading it.
 */
#ifndef CX_PG_MIGRATE_H
#define CX_PG_MIGRATE_H

#include <stddef.h>

#include "cx.h"

/*
 * Creates or upgrades the cx schema (migrations compiled in, recorded in
 * cx.schema_migrations, serialised by an advisory lock). *applied counts the
 * migrations applied now (0: already up to date); *version is the schema
 * version afterwards. Safe to run any number of times, concurrently.
 * CX_ERR_FATAL, changing nothing, when the schema is newer than this build
 * knows (a newer cxpulse migrated it).
 */
cx_status cx_pg_migrate(const char *conninfo, int *applied, int *version, char *err,
                        size_t errlen);

/* The schema version this build writes. */
int cx_pg_schema_version(void);

#endif /* CX_PG_MIGRATE_H */
