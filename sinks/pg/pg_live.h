/*
 * pg_live.h - a read-only connection for the HTTP listener: readiness and the
 * live page's data.
 */
#ifndef CX_PG_LIVE_H
#define CX_PG_LIVE_H

#include <stddef.h>

#include "cx.h"

typedef struct cx_pg_reader cx_pg_reader;

/* Connects lazily, on first use, and again after a lost connection. Calls may
 * come from several threads: they are serialised (a call waits at most 15 s
 * for the one before), and a call gives up, whatever the server does, when
 * connecting takes over 5 s or a statement over 3 s (also the session's
 * statement_timeout); a server that hangs is dropped and connected again. */
cx_status cx_pg_reader_new(cx_pg_reader **out, const char *conninfo, char *err, size_t errlen);

/* CX_OK when the server answers a query now; else why not. When it answers,
 * *read_only is NULL if it takes writes, else why not, in words that name no
 * server, user or database: "a standby, in recovery" or
 * "default_transaction_read_only on". A read-only answer ends the session, so
 * that the next call sees what a new session would (database and role
 * settings reach new sessions only). */
cx_status cx_pg_reader_ping(cx_pg_reader *r, const char **read_only, char *err, size_t errlen);

/* Counts into *waiting the rows of cx.dead_letters of consumer group `group`
 * that are not stored yet: never replayed, or replayed and failed again; up
 * to 10,000 (more read as 10,000). */
cx_status cx_pg_reader_count_dead_letters(cx_pg_reader *r, const char *group, long long *waiting,
                                          char *err, size_t errlen);

/*
 * The live page's data as a JSON text (malloc'd): {"end", "live",
 * "window_seconds", "generated_at", "points": [60 window starts],
 * "categories": {"facing": [[events, negative], ... 60], ...}, "tickets": [...]}.
 * The hour ends now while signals are recent, else with the latest window.
 */
cx_status cx_pg_live(cx_pg_reader *r, int window_seconds, char **json, char *err, size_t errlen);

/* NULL-safe. */
void cx_pg_reader_free(cx_pg_reader *r);

#endif /* CX_PG_LIVE_H */
