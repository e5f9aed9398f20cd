/*
 * sink_ops.c - the PostgreSQL sink as the pipeline's sink (cx_sink_ops): a
 * batch write answers OK, RETRY (transient: nothing was written), BLOCKED (a
 * lock another session holds: nothing was written, the server works),
 * TOO_LARGE (a statement_timeout or a configured limit ended it: nothing was
 * written, fewer records may pass) or ERROR.
 */
#include "pg.h"
#include "pg_int.h"
#include "pipeline.h"

static cx_sink_result write_records(void *ctx, const cx_record *recs, size_t n,
                                    cx_sink_counts *counts, char *err, size_t errlen)
{
    cx_status st = cx_pg_write_batch(ctx, recs, n, counts, err, errlen);
    if (st == CX_ERR_TRANSIENT)
        return cx__pg_lock_timed_out(err)     ? CX_SINK_BLOCKED
               : cx__pg_refused_for_size(ctx) ? CX_SINK_TOO_LARGE
                                              : CX_SINK_RETRY;
    return st == CX_OK ? CX_SINK_OK : CX_SINK_ERROR;
}

static cx_status read_offsets(void *ctx, const char *topic, const int32_t *parts, size_t n,
                              const int64_t *start, int64_t *next, char *err, size_t errlen)
{
    return cx_pg_read_offsets(ctx, topic, parts, n, start, next, err, errlen);
}

static cx_status advance_offsets(void *ctx, const char *topic, const int32_t *parts, size_t n,
                                 const int64_t *next, char *err, size_t errlen)
{
    return cx_pg_advance_offsets(ctx, topic, parts, n, next, err, errlen);
}

static cx_status cancel(void *ctx, char *err, size_t errlen)
{
    return cx_pg_cancel(ctx, err, errlen);
}

static const cx_sink_ops pg_sink_ops = {.write = write_records,
                                        .read_offsets = read_offsets,
                                        .advance_offsets = advance_offsets,
                                        .cancel = cancel};

void cx_pg_sink(cx_pg *pg, struct cx_sink *out)
{
    *out = (cx_sink){.ops = &pg_sink_ops, .ctx = pg};
}
