/*
 * metrics.c - counters, gauges and histograms behind one mutex (updated per
 * batch, not per event, so contention is nil), and their Prometheus text.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"

static const double size_bounds[] = {1, 10, 100, 500, 1000, 2500, 5000, 10000, 50000};
static const double seconds_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
/* from a message's Kafka timestamp to its commit: a live stream's fraction of a
 * second up to a backlog's hour */
static const double latency_bounds[] = {0.05, 0.1, 0.25, 0.5, 1,   2.5, 5,
                                        10,   30,  60,   300, 900, 3600};

typedef struct histogram {
    uint64_t buckets[16]; /* cumulative counts are computed when rendering */
    uint64_t count;
    double sum;
} histogram;

struct cx_metrics {
    pthread_mutex_t lock;
    uint64_t counters[CX_M_COUNTER_COUNT];
    double gauges[CX_G_GAUGE_COUNT];
    uint64_t classified[CX_CAT_COUNT + 1][CX_SENT_COUNT];
    uint64_t dead_by[CX_DEAD_REASON_COUNT]; /* counters[CX_M_DEAD_LETTERS], by reason */
    char *receivers[CX_METRICS_MAX_RECEIVERS]; /* cx_metrics_name_receivers() */
    size_t n_receivers;
    uint64_t delivered[CX_METRICS_MAX_RECEIVERS][3]; /* CX_M_NOTIFY_*, by receiver */
    histogram batch_size, batch_seconds, latency;
    double set_at[CX_G_GAUGE_COUNT]; /* mono_now() when each gauge was last set (0: never) */
    double classify_seconds;         /* cxpulse_classify_seconds_total */
    int write_failing;               /* a write failed and none has succeeded since */
    double started;                  /* Unix time of cx_metrics_new() */
    char rules[256];                 /* the rule version, for cxpulse_build_info */
};

static const struct {
    const char *name, *help;
} counter_info[CX_M_COUNTER_COUNT] = {
    [CX_M_CONSUMED] = {"cxpulse_messages_consumed_total",
                       "Kafka messages handled: their writes to PostgreSQL committed."},
    [CX_M_STORED] = {"cxpulse_events_stored_total", "New events stored in PostgreSQL."},
    [CX_M_DUPLICATES] = {"cxpulse_duplicates_skipped_total",
                         "Events not stored again: their event_id was already stored."},
    [CX_M_SKIPPED] = {"cxpulse_replayed_skipped_total",
                      "Messages below the stored offset, already applied (replays)."},
    [CX_M_DEAD_LETTERS] = {"cxpulse_dead_letters_total",
                           "Messages stored in cx.dead_letters instead of cx.events, by "
                           "reason: invalid (not a valid event), event_id_reused (another "
                           "event is stored under its event_id), rejected (PostgreSQL "
                           "refused its row)."},
    [CX_M_PG_RETRIES] = {"cxpulse_pg_retries_total",
                         "Writes of a batch's share that failed transiently and were tried "
                         "again (each writer's, each try)."},
    [CX_M_TICKETS_OPENED] = {"cxpulse_tickets_opened_total", "Improvement tickets opened."},
    [CX_M_TICKETS_UPDATED] = {"cxpulse_tickets_updated_total",
                              "Firings that updated an unresolved ticket."},
    [CX_M_TICKETS_HELD] = {"cxpulse_tickets_held_total",
                           "Firings that opened no ticket: a resolved ticket of the rule held them "
                           "back (its cooldown, or the windows it fired for)."},
    [CX_M_NOTIFY_SENT] = {"cxpulse_notifications_sent_total",
                          "Ticket notifications a receiver accepted (this process)."},
    [CX_M_NOTIFY_FAILED] = {"cxpulse_notifications_failed_total",
                            "Ticket notifications a receiver refused for good (this process)."},
    [CX_M_NOTIFY_RETRIES] = {"cxpulse_notifications_retries_total",
                             "Deliveries that failed transiently and wait for a retry."},
    [CX_M_UNREADABLE] = {"cxpulse_unreadable_fields_total",
                         "Messages with a field a field condition could not compare: not a "
                         "date or not a number, as the condition needs (a message read again "
                         "counts again)."},
    [CX_M_NOT_READ] = {"cxpulse_text_not_read_total",
                       "Messages whose text is in a language the built-in model and the "
                       "sentiment lexicons do not read (English only): classified by their "
                       "fields and rating alone (a message read again counts again)."},
    [CX_M_LOST] = {"cxpulse_messages_lost_total",
                   "Kafka messages deleted by retention before they were read (found when "
                   "partitions are assigned or while reading): never stored, never "
                   "dead-lettered; each gap is also logged."},
    [CX_M_DATED_AHEAD] = {"cxpulse_events_dated_ahead_total",
                          "New events dated more than 10 minutes after PostgreSQL's clock (a "
                          "producer's clock ahead, or local time written as UTC): stored and "
                          "counted, but not where their partition is for the ticket rules."},
    [CX_M_TICKETS_HISTORY] = {"cxpulse_tickets_history_events_total",
                              "New events that met an event rule's conditions but fired it not, "
                              "being history: dated more than two hours behind their partition (a "
                              "straggler) or more than tickets.max_age_minutes before PostgreSQL's "
                              "clock."},
};

/* How a gauge is shown, beyond its value as set. */
enum {
    G_UNTIL_SET = 1, /* left out until first set: not known before */
    G_AGES = 2,      /* an age: it grows with the clock from when it was set */
};

static const struct {
    const char *name, *help;
    int flags;
} gauge_info[CX_G_GAUGE_COUNT] = {
    [CX_G_ASSIGNED] = {"cxpulse_partitions_assigned",
                       "Kafka partitions assigned to this member; 0 while it waits for their "
                       "stored offsets.",
                       0},
    [CX_G_PAUSED] = {"cxpulse_consumption_paused",
                     "1 while fetching is paused: a batch waits for the writers to have room.", 0},
    [CX_G_PG_UP] = {"cxpulse_postgresql_up",
                    "1 while PostgreSQL takes writes: it answers checks as a server that "
                    "takes them (not a standby, nor with default_transaction_read_only on), "
                    "and the last write succeeded or none has failed.",
                    0},
    [CX_G_NOTIFY_PENDING] = {"cxpulse_notifications_pending",
                             "Rows of cx.notifications waiting for delivery (every instance); "
                             "0 in a process without receivers configured.",
                             0},
    [CX_G_NOTIFY_FAILED_ROWS] = {"cxpulse_notifications_failed",
                                 "Rows of cx.notifications marked failed (every instance); 0 in "
                                 "a process without receivers configured.",
                                 0},
    [CX_G_WRITE_SECONDS] = {"cxpulse_write_in_progress_seconds",
                            "How long the oldest batch write going on now has taken (0 with "
                            "none): one waiting on a lock or on a synchronous standby grows "
                            "while the other metrics stand still.",
                            0},
    [CX_G_WRITE_BLOCKED_SECONDS] = {"cxpulse_write_blocked_seconds",
                                    "How long a writer's batch writes have failed in a row "
                                    "waiting for a lock another session holds (lock_timeout), "
                                    "retries and backoffs included; 0 when none is.",
                                    0},
    [CX_G_NEWEST_EVENT] = {"cxpulse_newest_event_timestamp_seconds",
                           "The occurred_at of the newest event this process stored, as "
                           "Unix time (events dated more than 10 minutes after PostgreSQL's "
                           "clock left out): time() minus it is how far behind in event time the "
                           "stream is, as a backfill catches up; 0 until one is stored.",
                           0},
    [CX_G_DEAD_LETTERS_WAITING] = {"cxpulse_dead_letters_waiting",
                                   "Rows of cx.dead_letters of this consumer group not stored "
                                   "yet (never replayed, or replayed and failed again), counted "
                                   "every 30 s and after this member stores one; they stay "
                                   "until replayed or deleted.",
                                   0},
    [CX_G_KAFKA_CONNECTIONS_UP] = {"cxpulse_kafka_connections_up",
                                   "Connections to Kafka brokers this member has up, bootstrap "
                                   "and group coordinator included (every 5 s): 0 while Kafka is "
                                   "out of its reach.",
                                   G_UNTIL_SET},
    [CX_G_NEWEST_MESSAGE] = {"cxpulse_newest_message_timestamp_seconds",
                             "The Kafka timestamp of the newest message this process stored, "
                             "as Unix time (more than 10 minutes after PostgreSQL's clock left "
                             "out): time() minus it is how old the newest stored data is.",
                             G_UNTIL_SET},
    [CX_G_CLOCK_SKEW] = {"cxpulse_clock_skew_seconds",
                         "How far this host's clock is ahead of PostgreSQL's (negative: "
                         "behind), measured with each batch that stores events; ticket rules, "
                         "latency and freshness go by PostgreSQL's clock. A minute or more "
                         "is logged: is NTP running on both?",
                         G_UNTIL_SET},
    [CX_G_NOTIFY_OLDEST_SECONDS] = {"cxpulse_notifications_oldest_pending_seconds",
                                    "Age of the oldest pending row of cx.notifications; 0 in a "
                                    "process without receivers configured.",
                                    G_AGES},
};

cx_metrics *cx_metrics_new(void)
{
    cx_metrics *m = calloc(1, sizeof *m);
    if (m != NULL && pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    struct timespec now;
    if (m != NULL && clock_gettime(CLOCK_REALTIME, &now) == 0)
        m->started = (double)now.tv_sec + (double)(now.tv_nsec / 1000000) / 1000.0;
    return m;
}

void cx_metrics_set_rules(cx_metrics *m, const char *rule_version)
{
    pthread_mutex_lock(&m->lock);
    snprintf(m->rules, sizeof m->rules, "%s", rule_version ? rule_version : "");
    pthread_mutex_unlock(&m->lock);
}

void cx_metrics_add(cx_metrics *m, cx_counter c, uint64_t n)
{
    pthread_mutex_lock(&m->lock);
    m->counters[c] += n;
    pthread_mutex_unlock(&m->lock);
}

cx_status cx_metrics_name_receivers(cx_metrics *m, const char *const *names, size_t n, char *err,
                                    size_t errlen)
{
    if (n > CX_METRICS_MAX_RECEIVERS)
        return cx_errf(err, errlen, CX_ERR_INVALID, "metrics: %zu receivers, at most %d", n,
                       CX_METRICS_MAX_RECEIVERS);
    char *copies[CX_METRICS_MAX_RECEIVERS];
    for (size_t i = 0; i < n; i++)
        if ((copies[i] = strdup(names[i])) == NULL) {
            while (i-- > 0)
                free(copies[i]);
            return cx_errf(err, errlen, CX_ERR_NOMEM, "metrics: out of memory");
        }
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n_receivers; i++)
        free(m->receivers[i]);
    memcpy(m->receivers, copies, n * sizeof *copies);
    m->n_receivers = n;
    memset(m->delivered, 0, sizeof m->delivered);
    pthread_mutex_unlock(&m->lock);
    return CX_OK;
}

void cx_metrics_count_delivery(cx_metrics *m, cx_counter c, size_t i)
{
    pthread_mutex_lock(&m->lock);
    m->counters[c]++;
    if (i < m->n_receivers && c >= CX_M_NOTIFY_SENT && c <= CX_M_NOTIFY_RETRIES)
        m->delivered[i][c - CX_M_NOTIFY_SENT]++;
    pthread_mutex_unlock(&m->lock);
}

/* The time now, Unix seconds (to the millisecond). */
static double wall_now(void)
{
    return (double)(cx_now_wall_us() / 1000) / 1000.0;
}

/* The monotonic clock, seconds, above 0: when a gauge was set, for an age
 * that grows from then (a step of the wall clock would add or freeze it). */
static double mono_now(void)
{
    return 1.0 + (double)cx_now_mono_us() / 1e6;
}

/* Sets gauge g to v, set at now (mono_now(); how gauge_info's flags show it). Under the lock. */
static void set_locked(cx_metrics *m, cx_gauge g, double v, double now)
{
    m->gauges[g] = v;
    m->set_at[g] = now;
}

void cx_metrics_set(cx_metrics *m, cx_gauge g, double v)
{
    double now = mono_now();
    pthread_mutex_lock(&m->lock);
    set_locked(m, g, v, now);
    pthread_mutex_unlock(&m->lock);
}

double cx_metrics_get_gauge(const cx_metrics *m, cx_gauge g)
{
    pthread_mutex_lock((pthread_mutex_t *)&m->lock);
    double v = m->gauges[g];
    pthread_mutex_unlock((pthread_mutex_t *)&m->lock);
    return v;
}

uint64_t cx_metrics_get_counter(const cx_metrics *m, cx_counter c)
{
    pthread_mutex_lock((pthread_mutex_t *)&m->lock);
    uint64_t v = m->counters[c];
    pthread_mutex_unlock((pthread_mutex_t *)&m->lock);
    return v;
}

static void observe(histogram *h, const double *bounds, size_t nb, double v)
{
    size_t i = 0;
    while (i < nb && v > bounds[i])
        i++;
    h->buckets[i]++; /* i == nb: only in +Inf */
    h->count++;
    h->sum += v;
}

void cx_metrics_count_batch(cx_metrics *m, const cx_pipeline_report *r)
{
    const cx_sink_counts *c = &r->counts;
    uint64_t unreadable = 0, not_read = 0;
    for (size_t i = 0; r->complete && i < r->n; i++) {
        const cx_tags *t = r->recs[i].tags;
        unreadable += t != NULL && t->unreadable != NULL;
        not_read += t != NULL && t->language_not_read != NULL;
    }
    double now = wall_now(), mono = mono_now();
    /* one critical section: a scrape sees the whole batch or none of it */
    pthread_mutex_lock(&m->lock);
    m->counters[CX_M_CONSUMED] += r->written;
    m->counters[CX_M_STORED] += c->stored;
    m->counters[CX_M_DUPLICATES] += c->duplicates;
    m->counters[CX_M_SKIPPED] += c->skipped;
    m->counters[CX_M_DEAD_LETTERS] += c->dead_lettered;
    for (int k = 0; k < CX_DEAD_REASON_COUNT; k++)
        m->dead_by[k] += c->dead_by[k];
    m->counters[CX_M_TICKETS_OPENED] += c->tickets_opened;
    m->counters[CX_M_TICKETS_UPDATED] += c->tickets_updated;
    m->counters[CX_M_TICKETS_HELD] += c->tickets_held;
    m->counters[CX_M_DATED_AHEAD] += c->dated_ahead;
    m->counters[CX_M_TICKETS_HISTORY] += c->tickets_history;
    for (int k = 0; k <= CX_CAT_COUNT; k++)
        for (int s = 0; s < CX_SENT_COUNT; s++)
            m->classified[k][s] += c->classified[k][s];
    if (r->complete) {
        m->counters[CX_M_UNREADABLE] += unreadable;
        m->counters[CX_M_NOT_READ] += not_read;
        observe(&m->batch_size, size_bounds, CX_ARRAY_LEN(size_bounds), (double)r->n);
        observe(&m->batch_seconds, seconds_bounds, CX_ARRAY_LEN(seconds_bounds), r->seconds);
        m->gauges[CX_G_PG_UP] = 1;
        m->write_failing = 0;
        if ((double)c->newest_event_s > m->gauges[CX_G_NEWEST_EVENT])
            m->gauges[CX_G_NEWEST_EVENT] = (double)c->newest_event_s;
        if (c->clock_known)
            set_locked(m, CX_G_CLOCK_SKEW, c->clock_skew_s, mono);
        /* each message from its Kafka timestamp (a producer's clock ahead
         * of PostgreSQL's: 0) to now, its batch committed, by PostgreSQL's
         * clock as last measured: this host's may be off */
        double db_now = now - m->gauges[CX_G_CLOCK_SKEW], newest = 0;
        for (size_t i = 0; i < r->n; i++) {
            double ts = (double)r->msgs[i].timestamp_ms / 1000.0;
            if (ts <= 0)
                continue;
            observe(&m->latency, latency_bounds, CX_ARRAY_LEN(latency_bounds),
                    ts < db_now ? db_now - ts : 0);
            if (ts > newest && ts <= db_now + 600)
                newest = ts;
        }
        if (newest > m->gauges[CX_G_NEWEST_MESSAGE])
            set_locked(m, CX_G_NEWEST_MESSAGE, newest, mono);
    }
    pthread_mutex_unlock(&m->lock);
}

void cx_metrics_count_made(cx_metrics *m, double seconds)
{
    pthread_mutex_lock(&m->lock);
    m->classify_seconds += seconds;
    pthread_mutex_unlock(&m->lock);
}

void cx_metrics_count_retry(cx_metrics *m, int server_failing)
{
    cx_metrics_add(m, CX_M_PG_RETRIES, 1);
    if (!server_failing)
        return;
    pthread_mutex_lock(&m->lock);
    m->gauges[CX_G_PG_UP] = 0;
    m->write_failing = 1;
    pthread_mutex_unlock(&m->lock);
}

void cx_metrics_pg_checked(cx_metrics *m, int takes_writes)
{
    pthread_mutex_lock(&m->lock);
    if (!takes_writes)
        m->gauges[CX_G_PG_UP] = 0;
    else if (!m->write_failing)
        m->gauges[CX_G_PG_UP] = 1;
    pthread_mutex_unlock(&m->lock);
}

static void put_histogram(cx_buf *t, const char *name, const char *help, const histogram *h,
                          const double *bounds, size_t nb)
{
    cx_buf_printf(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < nb; i++) {
        cum += h->buckets[i];
        cx_buf_printf(t, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
    }
    cx_buf_printf(t, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->count);
    cx_buf_printf(t, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name,
                  (unsigned long long)h->count);
}

/* Label values escaped as the format requires (backslash, quote, newline). */
static void put_label(cx_buf *t, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            cx_buf_printf(t, "\\%c", *v);
        else if (*v == '\n')
            cx_buf_printf(t, "\\n");
        else
            cx_buf_printf(t, "%c", *v);
    }
}

/* The process metrics every Prometheus client library exports, read from
 * /proc/self (Linux); each is left out when it cannot be read. */
static void put_process(cx_buf *t)
{
    char line[1024];
    unsigned long utime, stime, vsize;
    long rss;
    FILE *f = fopen("/proc/self/stat", "r");
    int got = f != NULL && fgets(line, sizeof line, f) != NULL;
    if (f != NULL)
        fclose(f);
    const char *after = got ? strrchr(line, ')') : NULL; /* the name may hold anything */
    if (after != NULL && sscanf(after + 1,
                                " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d "
                                "%*d %*d %*d %*u %lu %ld",
                                &utime, &stime, &vsize, &rss) == 4) {
        long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
        cx_buf_printf(t,
                      "# HELP process_cpu_seconds_total Total user and system CPU time spent in "
                      "seconds.\n# TYPE process_cpu_seconds_total counter\n"
                      "process_cpu_seconds_total %.2f\n",
                      (double)(utime + stime) / (double)(tick > 0 ? tick : 100));
        cx_buf_printf(t,
                      "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                      "# TYPE process_resident_memory_bytes gauge\n"
                      "process_resident_memory_bytes %lld\n"
                      "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                      "# TYPE process_virtual_memory_bytes gauge\n"
                      "process_virtual_memory_bytes %lu\n",
                      (long long)rss * (page > 0 ? page : 4096), vsize);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d != NULL) {
        long open_fds = -1; /* not counting the one reading the folder */
        for (struct dirent *e; (e = readdir(d)) != NULL;)
            open_fds += e->d_name[0] != '.';
        closedir(d);
        cx_buf_printf(t,
                      "# HELP process_open_fds Number of open file descriptors.\n"
                      "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n",
                      open_fds);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        cx_buf_printf(t,
                      "# HELP process_max_fds Maximum number of open file descriptors.\n"
                      "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n",
                      (unsigned long long)rl.rlim_cur);
}

char *cx_metrics_render(cx_metrics *m, const cx_partition_lag *lags, size_t n)
{
    cx_buf t = {0};
    double now = mono_now();
    pthread_mutex_lock(&m->lock);
    for (int c = 0; c < CX_M_COUNTER_COUNT; c++) {
        cx_buf_printf(&t, "# HELP %s %s\n# TYPE %s counter\n", counter_info[c].name,
                      counter_info[c].help, counter_info[c].name);
        if (c >= CX_M_NOTIFY_SENT && c <= CX_M_NOTIFY_RETRIES && m->n_receivers > 0) {
            for (size_t k = 0; k < m->n_receivers; k++) {
                cx_buf_printf(&t, "%s{receiver=\"", counter_info[c].name);
                put_label(&t, m->receivers[k]);
                cx_buf_printf(&t, "\"} %llu\n",
                              (unsigned long long)m->delivered[k][c - CX_M_NOTIFY_SENT]);
            }
        } else if (c != CX_M_DEAD_LETTERS) {
            cx_buf_printf(&t, "%s %llu\n", counter_info[c].name,
                          (unsigned long long)m->counters[c]);
        } else /* every reason from the start: a rate of a series that appears is lost */
            for (int k = 0; k < CX_DEAD_REASON_COUNT; k++)
                cx_buf_printf(&t, "%s{reason=\"%s\"} %llu\n", counter_info[c].name,
                              cx_dead_reason_name((cx_dead_reason)k),
                              (unsigned long long)m->dead_by[k]);
    }
    cx_buf_printf(&t,
                  "# HELP cxpulse_classify_seconds_total CPU time spent parsing and classifying "
                  "messages, summed over the threads that do it.\n# TYPE "
                  "cxpulse_classify_seconds_total counter\ncxpulse_classify_seconds_total %.6f\n",
                  m->classify_seconds);
    cx_buf_printf(&t, "# HELP cxpulse_events_classified_total Events stored (new), by primary "
                      "category and sentiment.\n# TYPE cxpulse_events_classified_total counter\n");
    for (int c = 0; c <= CX_CAT_COUNT; c++)
        for (int s = 0; s < CX_SENT_COUNT; s++)
            cx_buf_printf(
                &t, "cxpulse_events_classified_total{category=\"%s\",sentiment=\"%s\"} %llu\n",
                c < CX_CAT_COUNT ? cx_category_name((cx_category)c) : "none",
                cx_sentiment_name((cx_sentiment)s), (unsigned long long)m->classified[c][s]);
    for (int g = 0; g < CX_G_GAUGE_COUNT; g++) {
        if ((gauge_info[g].flags & G_UNTIL_SET) && m->set_at[g] == 0)
            continue; /* not known yet (the Kafka connections: no statistics yet) */
        double value = m->gauges[g];
        /* an age grows until it is read again: while PostgreSQL is out of
         * reach no notification is delivered, and the oldest one's age read
         * before it went keeps growing instead of standing still */
        if ((gauge_info[g].flags & G_AGES) && value > 0 && now > m->set_at[g])
            value += now - m->set_at[g];
        char v[40]; /* every digit it takes: %g's six rounded 1,234,567 s to 1.23457e+06 */
        cx_double_text(value, v, sizeof v);
        cx_buf_printf(&t, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", gauge_info[g].name,
                      gauge_info[g].help, gauge_info[g].name, gauge_info[g].name, v);
    }
    put_histogram(&t, "cxpulse_batch_messages", "Messages per stored batch.", &m->batch_size,
                  size_bounds, CX_ARRAY_LEN(size_bounds));
    put_histogram(&t, "cxpulse_batch_commit_seconds",
                  "Time from a batch's hand-off to its commit: waiting for the writers, "
                  "parse, classify, PostgreSQL, and retries through an outage.",
                  &m->batch_seconds, seconds_bounds, CX_ARRAY_LEN(seconds_bounds));
    put_histogram(&t, "cxpulse_message_latency_seconds",
                  "Time from each stored message's Kafka timestamp to the commit that stored "
                  "it: producing, waiting in Kafka, batching and writing (a message read "
                  "again counts again).",
                  &m->latency, latency_bounds, CX_ARRAY_LEN(latency_bounds));
    char started[40];
    cx_double_text(m->started, started, sizeof started);
    cx_buf_printf(&t, "# HELP cxpulse_build_info The running cxpulse: its version, and the rule "
                      "version (rules and model) it tags events with; always 1.\n"
                      "# TYPE cxpulse_build_info gauge\ncxpulse_build_info{version=\"");
    put_label(&t, CX_VERSION);
    cx_buf_printf(&t, "\",rules=\"");
    put_label(&t, m->rules);
    cx_buf_printf(&t,
                  "\"} 1\n# HELP process_start_time_seconds When the process started (Unix "
                  "time, seconds): a restart shows as a new value.\n"
                  "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %s\n",
                  started);
    pthread_mutex_unlock(&m->lock);
    put_process(&t);
    cx_buf_printf(&t, "# HELP cxpulse_consumer_lag Messages of the partition not yet stored (read "
                      "or not): from its stored offset to its end.\n"
                      "# TYPE cxpulse_consumer_lag gauge\n");
    for (size_t i = 0; i < n; i++) {
        cx_buf_printf(&t, "cxpulse_consumer_lag{topic=\"");
        put_label(&t, lags[i].topic);
        cx_buf_printf(&t, "\",partition=\"%d\"} %lld\n", lags[i].partition, (long long)lags[i].lag);
    }
    char *text = cx_buf_str(&t);
    if (text == NULL)
        cx_buf_free(&t);
    return text;
}

void cx_metrics_free(cx_metrics *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n_receivers; i++)
        free(m->receivers[i]);
    pthread_mutex_destroy(&m->lock);
    free(m);
}
