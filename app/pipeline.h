/*
 * pipeline.h - the service itself, shared by `cxpulse run` and `cxpulse demo`:
 * Kafka consumer -> parse -> classify -> PostgreSQL sink.
 */
#ifndef CX_PIPELINE_H
#define CX_PIPELINE_H

#include <stdint.h>

#include "config.h"

typedef struct cx_pipeline_totals {
    uint64_t messages, stored, duplicates, skipped, dead_lettered, batches;
    uint64_t tickets_opened, tickets_updated;
} cx_pipeline_totals;

/*
 * Runs until SIGTERM/SIGINT (handlers installed here) or, when
 * stop_after_messages > 0, until that many messages were handled. Returns an
 * exit status (0 clean stop, 1 runtime failure, 2 configuration error) and
 * fills *totals.
 */
int cx_pipeline_run(const cx_config *cfg, uint64_t stop_after_messages,
                    cx_pipeline_totals *totals);

#endif /* CX_PIPELINE_H */
