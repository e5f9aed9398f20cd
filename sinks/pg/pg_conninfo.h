/*
 * pg_conninfo.h - PostgreSQL connection strings: checked before any connect
 * (an unparsable one is a configuration error, not an outage) and masked
 * wherever one is shown, by libpq's own parser.
 */
#ifndef CX_PG_CONNINFO_H
#define CX_PG_CONNINFO_H

#include <stddef.h>

#include "cx.h"

/*
 * CX_OK when conninfo is empty (libpq's environment), a database name, or a
 * URL or keyword/value string libpq can parse; else CX_ERR_CONFIG with
 * libpq's reason, every part of the string it quotes redacted.
 */
cx_status cx_pg_conninfo_check(const char *conninfo, char *err, size_t errlen);

/*
 * Writes conninfo parsed and rebuilt as a keyword/value string with the value
 * of every secret option (password, sslpassword) replaced by "****"; a
 * string that cannot be parsed becomes "****", an empty one or a database
 * name stays as it is. Cut to outlen.
 */
void cx_pg_conninfo_mask(const char *conninfo, char *out, size_t outlen);

#endif /* CX_PG_CONNINFO_H */
