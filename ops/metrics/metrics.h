/*
 * metrics.h - the service's counters, gauges and histograms, rendered in the
 * Prometheus text exposition format (version 0.0.4). Thread-safe: the
 * pipeline's hooks add after each stored batch, the HTTP thread renders.
 */
#ifndef CX_METRICS_H
#define CX_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "classify.h"
#include "cx.h"
#include "pipeline.h"

typedef enum cx_counter {
    CX_M_CONSUMED,     /* messages handed to the pipeline in stored batches */
    CX_M_STORED,       /* new events stored */
    CX_M_DUPLICATES,   /* events whose event_id was already stored */
    CX_M_SKIPPED,      /* messages below the stored offset (already applied) */
    CX_M_DEAD_LETTERS, /* invalid messages and rows PostgreSQL rejected */
    CX_M_PG_RETRIES,   /* batches that failed transiently and were retried */
    CX_M_TICKETS_OPENED,
    CX_M_TICKETS_UPDATED,
    CX_M_TICKETS_HELD,   /* firings a resolved ticket held back */
    CX_M_NOTIFY_SENT,    /* ticket notifications a receiver took */
    CX_M_NOTIFY_FAILED,  /* deliveries refused for good (kept as failed) */
    CX_M_NOTIFY_RETRIES, /* deliveries that failed transiently, to be retried */
    CX_M_UNREADABLE,     /* events a field condition could not compare (cx_tags.unreadable) */
    CX_M_NOT_READ,       /* events whose text's language was not read (cx_tags.language_not_read) */
    CX_M_LOST,           /* Kafka messages deleted by retention before they were read */
    CX_M_DATED_AHEAD,    /* new events dated more than 10 minutes after the database's clock */
    CX_M_TICKETS_HISTORY, /* new events an event rule matched that were history */
    CX_M_COUNTER_COUNT
} cx_counter;

typedef enum cx_gauge {
    CX_G_ASSIGNED,              /* partitions assigned to this member */
    CX_G_PAUSED,                /* 1 while fetching is paused (a batch waits for room) */
    CX_G_PG_UP,                 /* 1 while PostgreSQL takes writes (cx_metrics_pg_checked) */
    CX_G_NOTIFY_PENDING,        /* rows of cx.notifications waiting for delivery */
    CX_G_NOTIFY_FAILED_ROWS,    /* rows of cx.notifications marked failed */
    CX_G_NOTIFY_OLDEST_SECONDS, /* age of the oldest pending row */
    CX_G_WRITE_SECONDS,         /* how long the oldest write going on has taken */
    CX_G_WRITE_BLOCKED_SECONDS, /* how long writes have been held up by another's lock */
    CX_G_DEAD_LETTERS_WAITING,  /* rows of cx.dead_letters of this group not stored yet */
    CX_G_NEWEST_EVENT,          /* the newest stored event's occurred_at (Unix seconds) */
    CX_G_KAFKA_CONNECTIONS_UP,  /* Kafka connections up; left out until first set */
    CX_G_NEWEST_MESSAGE,        /* the newest stored message's Kafka timestamp (Unix seconds) */
    CX_G_CLOCK_SKEW,            /* this host's clock minus PostgreSQL's (seconds) */
    CX_G_GAUGE_COUNT
} cx_gauge;

typedef struct cx_metrics cx_metrics;

/* Returns new (NULL on no memory): cx_metrics_free(). */
cx_metrics *cx_metrics_new(void);

void cx_metrics_add(cx_metrics *m, cx_counter c, uint64_t n);

/* Receivers of ticket notifications the counters can tell apart. */
#define CX_METRICS_MAX_RECEIVERS 32

/* Names the receivers of ticket notifications, names[0..n) (copied; n at most
 * CX_METRICS_MAX_RECEIVERS): the notification counters are then served per
 * receiver (label `receiver`), each from 0. Call before counting deliveries.
 * CX_ERR_NOMEM, or CX_ERR_INVALID for too many. */
cx_status cx_metrics_name_receivers(cx_metrics *m, const char *const *names, size_t n, char *err,
                                    size_t errlen);

/* Adds one to notification counter c (CX_M_NOTIFY_SENT, _FAILED or _RETRIES)
 * of receiver i, as cx_metrics_name_receivers() named them. */
void cx_metrics_count_delivery(cx_metrics *m, cx_counter c, size_t i);

void cx_metrics_set(cx_metrics *m, cx_gauge g, double v);

/* Counts a batch the pipeline is done with: messages consumed (those of the
 * writes that succeeded: what was given up is read again), what its writes
 * stored, its records by category and sentiment, its size and time;
 * PostgreSQL up after a complete one. */
void cx_metrics_count_batch(cx_metrics *m, const cx_pipeline_report *r);

/* Adds seconds spent making records (parsing and classifying: the
 * pipeline's made hook) to cxpulse_classify_seconds_total. */
void cx_metrics_count_made(cx_metrics *m, double seconds);

/* Counts a write that failed transiently, to be retried; server_failing:
 * PostgreSQL counts as not taking writes until a write succeeds (0: the
 * server is fine, another session held a lock past lock_timeout). */
void cx_metrics_count_retry(cx_metrics *m, int server_failing);

/* The outcome of a check that PostgreSQL takes writes: down when it did not
 * answer, or answered as a server that takes none (a standby,
 * default_transaction_read_only on); when it takes them, up again, unless a
 * write failed and none has succeeded since (a write that is failing says
 * more than a check). */
void cx_metrics_pg_checked(cx_metrics *m, int takes_writes);

/* The rule version (rules and model) the process tags with, for
 * cxpulse_build_info; copied. */
void cx_metrics_set_rules(cx_metrics *m, const char *rule_version);

/* Reads a gauge (readiness). */
double cx_metrics_get_gauge(const cx_metrics *m, cx_gauge g);

/* Reads a counter. */
uint64_t cx_metrics_get_counter(const cx_metrics *m, cx_counter c);

/*
 * Renders every metric, plus the lag of lags[0..n), as Prometheus text.
 * Returns a malloc'd NUL-terminated string (NULL on no memory).
 */
char *cx_metrics_render(cx_metrics *m, const cx_partition_lag *lags, size_t n);

/* NULL-safe. */
void cx_metrics_free(cx_metrics *m);

#endif /* CX_METRICS_H */
