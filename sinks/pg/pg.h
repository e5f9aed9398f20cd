/*
 * pg.h - everything of the PostgreSQL module, one header per concern:
 *   pg_sink.h     batches written with exactly-once effect (pg.c)
 *   pg_migrate.h  the cx schema, created and upgraded (migrate.c)
 *   pg_tickets.h  the owners' commands on tickets (tickets.c)
 *   pg_history.h  reclassification and dead letters (history.c)
 *   pg_live.h     the HTTP thread's reader (live.c)
 *   pg_outbox.h   the notification outbox (notifications.c)
 *   pg_conninfo.h connection strings checked and masked (conninfo.c)
 * Private to the module: pg_int.h (connections, COPY encoding, signal
 * increments, ticket evaluation).
 */
#ifndef CX_PG_H
#define CX_PG_H

#include "pg_conninfo.h"
#include "pg_history.h"
#include "pg_live.h"
#include "pg_migrate.h"
#include "pg_outbox.h"
#include "pg_sink.h"
#include "pg_tickets.h"

#endif /* CX_PG_H */
