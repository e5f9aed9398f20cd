/*
 * cmd_run.c - `cxpulse run`: the service. Consumes, classifies and writes to
 * PostgreSQL until SIGTERM/SIGINT, then stores the batch in hand, leaves the
 * group and exits 0 (a signal during start-up: exits 0 before reading).
 *
 * Also the service's bootstrap, which `cxpulse demo` runs too
 * (cx_run_service): signals, the HTTP server, the ticket sender, and the
 * wiring of the Kafka consumer (ingest) to the batch engine (pipeline) with
 * one PostgreSQL sink per writer (sinks/pg), metrics counted by the engine's
 * hooks (ops/metrics).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "alerts.h"
#include "classify.h"
#include "commands.h"
#include "config.h"
#include "ingest.h"
#include "metrics.h"
#include "pg.h"
#include "pipeline.h"
#include "record.h"
#include "service_http.h"
#include "tickets.h"

/* Ends the process with status rc, saying `what` took too long, unless
 * watchdog_end() comes within ms milliseconds. */
typedef struct watchdog {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done, rc, ms, started;
    const char *what;
    pthread_t thread;
} watchdog;

static void *watchdog_main(void *arg)
{
    watchdog *w = arg;
    cx_thread_name("cx:watchdog");
    struct timespec until = cx_time_after_ms(CLOCK_MONOTONIC, w->ms);
    pthread_mutex_lock(&w->lock);
    while (!w->done && pthread_cond_timedwait(&w->cond, &w->lock, &until) == 0)
        ;
    int done = w->done;
    pthread_mutex_unlock(&w->lock);
    if (!done) {
        cx_log(CX_LOG_ERROR, "pipeline", "%s took more than %d s: exiting with status %d", w->what,
               w->ms / 1000, w->rc);
        fflush(stdout);
        fflush(stderr);
        _exit(w->rc);
    }
    return NULL;
}

static void watchdog_start(watchdog *w, int ms, int rc, const char *what)
{
    *w = (watchdog){.lock = PTHREAD_MUTEX_INITIALIZER, .rc = rc, .ms = ms, .what = what};
    cx_cond_init_monotonic(&w->cond);
    w->started = pthread_create(&w->thread, NULL, watchdog_main, w) == 0;
}

static void watchdog_end(watchdog *w)
{
    if (w->started) {
        pthread_mutex_lock(&w->lock);
        w->done = 1;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    pthread_cond_destroy(&w->cond);
}

typedef struct service {
    cx_pipeline *pipeline;
    cx_consumer *consumer;
    cx_metrics *metrics;
    cx_alerts_sender *sender; /* woken when a batch opened or updated tickets; or NULL */
    uint64_t stop_after;
    cx_run_totals totals; /* written by the engine's hooks, one at a time */
    int64_t last_report_us;
    cx_cmd_unreadable told; /* fields warned unreadable, once each */
    cx_cmd_unreadable told_language; /* languages warned not read, once each */
    int64_t cancel_at_us;   /* stopping: when writes still going on are cancelled */
    watchdog stopping;      /* from then: the stop's deadline */
    uint64_t dead_unsaid[CX_DEAD_REASON_COUNT]; /* dead letters not yet said in the log */
    int64_t dead_said_us;   /* when they were last said (0: never) */
    char dead_first[320];   /* the first unsaid one parsed: where, and why */
} service;

/* Written by the main thread and by on_signal(), which runs on the main
 * thread only (catch_stop_signals()). */
static cx_consumer *volatile running;
static volatile sig_atomic_t stop_asked; /* for the rest of the process's life */

static void on_signal(int sig)
{
    (void)sig;
    stop_asked = 1;
    if (running != NULL)
        cx_consumer_stop(running);
}

/* SIGTERM and SIGINT, blocked or unblocked in the calling thread. */
static void mask_stop_signals(int how)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(how, &set, NULL);
}

/* Catches SIGTERM and SIGINT from here on, and blocks them, before any thread
 * starts: every thread started from here inherits the block, so the handler
 * runs on the main thread alone, once it unblocks them around the consumer's
 * run (a handler on another thread could see `running` as main frees it). A
 * stop asked while the service starts up waits, pending, and is honoured as
 * the consumer starts, with a clean exit. (A process manager may start us with
 * them blocked: the mask survives exec; they are unblocked all the same.) */
static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    mask_stop_signals(SIG_BLOCK);
}

/* ---- The consumer's handler: the engine's source side ---- */

/* How long leaving the group and shutting the Kafka client down may take
 * once everything is stored. librdkafka 2.0.2 can wait without end in
 * rd_kafka_consumer_close() (a coordinator that does not answer) and in
 * rd_kafka_destroy() (once a subscribed topic has vanished from the metadata
 * for a while and come back; a plain consumer does too). Everything is
 * stored by then: past it the process exits with the status it has instead
 * of waiting to be killed (the coordinator ends the member's session after
 * session.timeout.ms). */
#define DESTROY_PATIENCE_MS 10000

/* Frees the consumer (it leaves the group), the process exiting with rc if
 * that hangs. */
static void free_consumer(cx_consumer *c, int rc)
{
    watchdog w;
    if (c != NULL)
        watchdog_start(&w, DESTROY_PATIENCE_MS, rc,
                       "leaving the consumer group and shutting the Kafka client down (librdkafka "
                       "2.0.2 can wait there without end: a coordinator that does not answer, a "
                       "topic that vanished and came back)");
    cx_consumer_free(c);
    if (c != NULL)
        watchdog_end(&w);
}

static cx_status load_offsets(void *ctx, const char *topic, const int32_t *parts, size_t n,
                              const int64_t *start, int64_t *next, char *err, size_t errlen)
{
    service *s = ctx;
    return cx_pipeline_read_offsets(s->pipeline, topic, parts, n, start, next, err, errlen);
}

/* Says so when another installation writes to the same database (a regular
 * expression among the topics: not known which topics are whose). */
static void warn_other_installations(cx_pg *pg, const cx_config *cfg)
{
    for (size_t i = 0; i < cfg->n_topics; i++)
        if (cfg->topics[i][0] == '^')
            return;
    char names[512];
    long long others = cx_pg_other_installations(pg, (const char *const *)cfg->topics,
                                                 cfg->n_topics, names, sizeof names);
    if (others > 0)
        cx_log(CX_LOG_WARN, "run",
               "another installation writes to this database: within the last day %s stored "
               "offsets%s, of topics this one does not read. Events (by event_id), signals, "
               "tickets, notifications, reclassify and dead-letter replay are shared by all "
               "that write to one database: give each installation its own "
               "(deploy/README.md, \"Several installations\")",
               names, others > 3 ? " (and more)" : "");
}

/* A window size added to signals.window_seconds starts empty: said once,
 * by the first replica that starts with it, so that nobody reads its first
 * window, or the time before, as the whole story. */
static void warn_added_window_sizes(cx_pg *pg, const cx_config *cfg)
{
    char list[256], at[64];
    size_t added = cx_pg_added_window_sizes(pg, cfg->window_seconds, cfg->n_window_seconds, list,
                                            sizeof list, at, sizeof at);
    if (added > 0)
        cx_log(CX_LOG_WARN, "run",
               "signals.window_seconds has %s s window%s that cx.signals has none of where its "
               "newest windows are (%s): a size added now starts empty. It has no windows for "
               "the time before, and the one open now holds only the events stored from now on: "
               "read it from its first full window, and an older size for the time before "
               "(docs/queries.md)",
               list, added > 1 ? "s" : "", at);
}

static cx_status advance(void *ctx, const char *topic, const int32_t *parts, size_t n,
                         const int64_t *next, char *err, size_t errlen)
{
    service *s = ctx;
    return cx_pipeline_advance_offsets(s->pipeline, topic, parts, n, next, err, errlen);
}

static cx_status submit(void *ctx, const cx_msg *msgs, size_t n, int wait_ms, char *err,
                        size_t errlen)
{
    service *s = ctx;
    return cx_pipeline_submit(s->pipeline, msgs, n, wait_ms, err, errlen);
}

/* How long a stop waits for the batches being stored before it cancels
 * their statements. A server that holds a statement without end (a COMMIT
 * waiting for a synchronous standby that is down) would otherwise hold the
 * stop until the process manager kills the process. A batch whose
 * statement is cancelled is rolled back and read again at the next start
 * (a COMMIT waiting for a standby ends committed, the server warns): nothing
 * is lost or doubled. */
#define STOP_PATIENCE_MS 10000

static cx_status drain(void *ctx, char *err, size_t errlen)
{
    service *s = ctx;
    return cx_pipeline_drain(s->pipeline, err, errlen);
}

/* How long a stop may take in all: a server that answers neither the
 * statements nor their cancel (a frozen machine: its kernel keeps the
 * connections open; a network that drops packets) would hold writers and
 * the cancel itself without end, and the stop until the process manager
 * kills the process (systemd's and Kubernetes' default: after 90 and 30 s;
 * deploy/ gives 60). The batches not stored are read again at the next
 * start: nothing is lost or doubled. */
#define STOP_DEADLINE_MS 40000

/* The engine's cancel_at hook: STOP_PATIENCE_MS after a stop was first seen
 * by a drain (one already waiting included); none for a rebalance, whose
 * batches are stored however long it takes. On the draining (main) thread. */
static int64_t cancel_at(void *ctx)
{
    service *s = ctx;
    if (stop_asked && s->cancel_at_us == 0) {
        s->cancel_at_us = cx_now_mono_us() + (int64_t)STOP_PATIENCE_MS * 1000;
        watchdog_start(&s->stopping, STOP_DEADLINE_MS, CX_EXIT_OK,
                       "the stop (postgresql answered neither the batches being stored nor the "
                       "cancel of their statements: a frozen server, or a network that drops "
                       "its packets; what was not stored is read again at the next start)");
    }
    return s->cancel_at_us;
}

/* ---- The engine's hooks: metrics, totals, Kafka commits ---- */

/* reason, a dead letter's, in out (len bytes) with the values it quotes
 * left out: a double-quoted text that is not a field's name ("field
 * \"occurred_at\"", "missing required field \"x\"") becomes "...", and
 * so does the token a JSON error is "near". */
static const char *without_values(const char *reason, char *out, size_t len)
{
    size_t n = 0;
    for (const char *p = reason; *p != '\0' && n + 8 < len;) {
        int field = p - reason >= 6 && strncmp(p - 6, "field ", 6) == 0;
        char close = *p == '"'                                                          ? '"'
                     : *p == '\'' && p - reason >= 5 && strncmp(p - 5, "near ", 5) == 0 ? '\''
                                                                                        : 0;
        const char *end = close ? strchr(p + 1, close) : NULL;
        if (end == NULL || field) { /* a field's name is copied whole */
            size_t k = end != NULL ? (size_t)(end + 1 - p) : 1;
            if (n + k + 8 >= len)
                break;
            memcpy(out + n, p, k);
            n += k;
            p += k;
            continue;
        }
        n += (size_t)snprintf(out + n, len - n, "%c...%c", close, close);
        p = end + 1;
    }
    out[n] = '\0';
    return out;
}

static void made(void *ctx, int writer, size_t n, double seconds)
{
    (void)writer, (void)n;
    cx_metrics_count_made(((service *)ctx)->metrics, seconds);
}

static void stored(void *ctx, const cx_pipeline_report *r)
{
    service *s = ctx;
    cx_metrics_count_batch(s->metrics, r);
    cx_run_totals *t = &s->totals;
    t->stored += r->counts.stored;
    t->duplicates += r->counts.duplicates;
    t->skipped += r->counts.skipped;
    t->dead_lettered += r->counts.dead_lettered;
    t->tickets_opened += r->counts.tickets_opened;
    t->tickets_updated += r->counts.tickets_updated;
    t->messages += r->written;
    if (r->counts.tickets_opened + r->counts.tickets_updated > 0)
        cx_alerts_sender_wake(s->sender); /* their notifications are due now */
    if (!r->complete)
        return;
    t->batches++;
    /* a producer's date or number format would keep a rule from firing without a
     * word: said once per field (the metric counts every event) */
    for (size_t i = 0; i < r->n; i++) {
        const cx_record *rec = &r->recs[i];
        if (rec->tags != NULL && cx_cmd_unreadable_first(&s->told, rec->tags->unreadable))
            cx_log(CX_LOG_WARN, "classify",
                   CX_CMD_UNREADABLE_FMT
                   ": first at topic %s partition %d offset %lld; said once "
                   "per field, cxpulse_unreadable_fields_total counts the events",
                   rec->tags->unreadable, rec->tags->unreadable_needs, rec->topic,
                   (int)rec->partition, (long long)rec->offset);
        if (rec->tags != NULL &&
            cx_cmd_unreadable_first(&s->told_language, rec->tags->language_not_read))
            cx_log(CX_LOG_WARN, "classify",
                   "text in language \"%s\" is not read: the built-in model and the sentiment "
                   "lexicons read English, so such events get categories from their fields "
                   "alone and a sentiment from their rating alone (neutral without one); a "
                   "model trained on your own events reads their languages (docs/model.md): "
                   "first at topic %s partition %d offset %lld; said once per language, "
                   "cxpulse_text_not_read_total counts the events",
                   rec->tags->language_not_read, rec->topic, (int)rec->partition,
                   (long long)rec->offset);
    }
    /* each dead letter is stored with its reason, and said at debug level: a
     * stream of them is said at warn, once a minute at most, with the first,
     * its values left out (a customer's text can be one: docs/privacy.md) */
    uint64_t unsaid = 0;
    for (int k = 0; k < CX_DEAD_REASON_COUNT; k++)
        unsaid += s->dead_unsaid[k] += r->counts.dead_by[k];
    for (size_t i = 0; i < r->n && s->dead_first[0] == '\0' && r->counts.dead_lettered > 0; i++)
        if (r->recs[i].ev == NULL && r->recs[i].error != NULL) {
            char why[256];
            snprintf(s->dead_first, sizeof s->dead_first, ", the first invalid %s[%d]@%lld: %s",
                     r->recs[i].topic, (int)r->recs[i].partition, (long long)r->recs[i].offset,
                     without_values(r->recs[i].error, why, sizeof why));
        }
    int64_t now = cx_now_mono_us();
    if (unsaid > 0 && (s->dead_said_us == 0 || now - s->dead_said_us >= 60000000LL)) {
        char by[128] = "";
        for (int k = 0, n = 0; k < CX_DEAD_REASON_COUNT; k++)
            if (s->dead_unsaid[k] > 0)
                n += snprintf(by + n, sizeof by - (size_t)n, "%s%s %llu", n ? ", " : "",
                              cx_dead_reason_name((cx_dead_reason)k),
                              (unsigned long long)s->dead_unsaid[k]);
        cx_log(CX_LOG_WARN, "pipeline",
               "%llu message(s) dead-lettered%s (%s)%s (cxpulse dead-letters list shows every "
               "reason; said once a minute at most)",
               (unsigned long long)unsaid, s->dead_said_us ? " since the last such line" : "", by,
               s->dead_first);
        memset(s->dead_unsaid, 0, sizeof s->dead_unsaid);
        s->dead_first[0] = '\0';
        s->dead_said_us = now;
    }
    cx_consumer_stored(s->consumer, r->msgs, r->n);
    if (cx_now_mono_us() - s->last_report_us > 10 * 1000000LL) {
        cx_log(CX_LOG_INFO, "pipeline",
               "messages=%llu stored=%llu duplicates=%llu skipped=%llu dead_letters=%llu",
               (unsigned long long)t->messages, (unsigned long long)t->stored,
               (unsigned long long)t->duplicates, (unsigned long long)t->skipped,
               (unsigned long long)t->dead_lettered);
        s->last_report_us = cx_now_mono_us();
    }
    if (s->stop_after > 0 && t->messages >= s->stop_after)
        cx_consumer_stop(s->consumer);
}

cx_consumer_config cx_cmd_consumer_config(const cx_config *cfg, const char **props, size_t n_props)
{
    return (cx_consumer_config){.brokers = cfg->brokers,
                                .topics = (const char *const *)cfg->topics,
                                .n_topics = cfg->n_topics,
                                .group = cfg->group,
                                .batch_max_messages = cfg->batch_max_messages,
                                .batch_max_ms = cfg->batch_max_ms,
                                .batch_max_bytes = cfg->batch_max_bytes,
                                .auto_offset_reset = cfg->auto_offset_reset,
                                .props = props,
                                .n_props = n_props};
}

static void brokers(void *ctx, int up)
{
    cx_metrics_set(((service *)ctx)->metrics, CX_G_KAFKA_CONNECTIONS_UP, up);
}

static void lost(void *ctx, const char *topic, int32_t partition, uint64_t n)
{
    (void)topic;
    (void)partition; /* the consumer's log line names them */
    service *s = ctx;
    cx_metrics_add(s->metrics, CX_M_LOST, n);
}

static void retrying(void *ctx, int writer, int attempt, long long failing_s, int delay_ms,
                     int blocked, const char *err)
{
    service *s = ctx;
    cx_log(CX_LOG_WARN, "sink.pg",
           "writer %d: batch not stored, retrying in %d ms (attempt %d, failing for %lld s): %s",
           writer, delay_ms, attempt, failing_s, err);
    /* a lock another session held past lock_timeout (an analyst's LOCK TABLE)
     * is not PostgreSQL failing: readiness and cxpulse_postgresql_up stay */
    cx_metrics_count_retry(s->metrics, !blocked);
}

/* Raises the soft open-file limit to the hard one, as Go programs and most
 * servers do: systemd starts a service at 1024 with a hard limit of 524288,
 * and every broker, PostgreSQL and HTTP connection holds a descriptor.
 * Nothing here waits with select(), so descriptors above 1024 are safe. */
static void raise_open_file_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int cx_run_service(const cx_config *cfg, uint64_t stop_after_messages, cx_metrics *metrics,
                   cx_run_totals *totals)
{
    char err[1024];
    service s = {.stop_after = stop_after_messages, .metrics = metrics};
    cx_pg *pg[CX_PIPELINE_MAX_SINKS] = {0};
    cx_pg_seen *seen = NULL; /* the offsets the writers know stored, shared */
    cx_sink sinks[CX_PIPELINE_MAX_SINKS];
    cx_classifier *clf = NULL;
    cx_ticket_rules *rules = NULL;
    const char **props = NULL;
    cx_service_http *http = NULL;
    cx_alerts_sender *sender = NULL;
    char *rules_json = NULL;
    int rc = CX_EXIT_RUNTIME;
    cx_status st;
    size_t cap = (size_t)cfg->batch_max_messages;
    int writers = cfg->pg_writers < 1                       ? 1
                  : cfg->pg_writers > CX_PIPELINE_MAX_SINKS ? CX_PIPELINE_MAX_SINKS
                                                            : cfg->pg_writers;

    memset(totals, 0, sizeof *totals);
    catch_stop_signals();
    raise_open_file_limit();
    if (cx_classifier_new_model(&clf, (const char *const *)cfg->rule_files, cfg->n_rule_files,
                                cfg->rule_model, err, sizeof err) != CX_OK) {
        cx_log_write(CX_LOG_ERROR, "run", "%s", err);
        return CX_EXIT_USAGE;
    }
    for (size_t i = 0; i < cx_classifier_warning_count(clf); i++)
        cx_log(CX_LOG_WARN, "rules", "%s", cx_classifier_warning(clf, i));
    size_t n_props;
    if (cx_config_kafka_properties(cfg, &props, &n_props, err, sizeof err) != CX_OK) {
        cx_log_write(CX_LOG_ERROR, "run", "%s", err);
        rc = CX_EXIT_USAGE;
        goto done;
    }

    if (cx_ticket_rules_new(&rules, cfg->ticket_rules, cx_config_base_window(cfg), err,
                            sizeof err) != CX_OK) {
        cx_log_write(CX_LOG_ERROR, "run", "%s", err);
        rc = CX_EXIT_USAGE;
        goto done;
    }
    if ((rules_json = cx_classifier_rules_json(clf)) == NULL) {
        cx_log_write(CX_LOG_ERROR, "run", "out of memory");
        goto done;
    }
    if ((seen = cx_pg_seen_new()) == NULL) {
        cx_log_write(CX_LOG_ERROR, "run", "out of memory");
        goto done;
    }
    cx_pg_options po = {.ticket_rules = rules,
                        .ticket_max_age_seconds = cfg->tickets_max_age_minutes * 60,
                        .seen = seen,
                        .rule_set_json = rules_json,
                        .conninfo = cfg->pg_url,
                        .group = cfg->group,
                        .window_seconds = cfg->window_seconds,
                        .n_windows = cfg->n_window_seconds,
                        .rule_version = cx_classifier_version(clf),
                        .synchronous_commit = cfg->synchronous_commit};
    if (s.metrics == NULL && (s.metrics = cx_metrics_new()) == NULL) {
        cx_log_write(CX_LOG_ERROR, "run", "out of memory");
        goto done;
    }
    /* The listener first: /healthz answers while the writers connect. */
    if ((st = cx_service_http_start(&http, cfg, s.metrics, err, sizeof err)) != CX_OK) {
        cx_log_write(CX_LOG_ERROR, "run", "%s", err);
        rc = cx_cmd_exit_status(st);
        goto done;
    }
    int pg_up = 1;
    for (int w = 0; w < writers; w++) {
        st = cx_pg_new(&pg[w], &po, err, sizeof err);
        pg_up &= st == CX_OK;
        if (st == CX_ERR_TRANSIENT && w == 0) {
            cx_log(CX_LOG_WARN, "sink.pg", "postgresql not usable yet, will retry: %s", err);
            /* the others connect when they first write, not each here for up to
             * connect_timeout per host while a stop waits */
            po.connect_later = 1;
        } else if (st != CX_OK && st != CX_ERR_TRANSIENT) {
            cx_log_write(CX_LOG_ERROR, "run", "%s", err);
            rc = cx_cmd_exit_status(st);
            goto done;
        }
        cx_pg_sink(pg[w], &sinks[w]);
    }
    cx_metrics_set(s.metrics, CX_G_PG_UP, pg_up);
    if (pg_up) {
        warn_other_installations(pg[0], cfg);
        warn_added_window_sizes(pg[0], cfg);
    }
    cx_record_rules record_rules = {.classifier = clf, .tickets = rules};
    cx_pipeline_options o = {.sinks = sinks,
                             .n_sinks = writers,
                             .rules = &record_rules,
                             .batch_max = cap,
                             .hooks = {.ctx = &s,
                                       .stored = stored,
                                       .retrying = retrying,
                                       .made = made,
                                       .cancel_at = cancel_at}};
    if (cx_pipeline_new(&s.pipeline, &o, err, sizeof err) != CX_OK) {
        cx_log_write(CX_LOG_ERROR, "run", "%s", err);
        goto done;
    }
    if ((st = cx_alerts_sender_start(&sender, cfg, s.metrics, err, sizeof err)) != CX_OK) {
        cx_log_write(CX_LOG_ERROR, "run", "%s", err);
        rc = cx_cmd_exit_status(st);
        goto done;
    }
    s.sender = sender;
    char unrouted[1024];
    if (sender != NULL &&
        cx_alerts_unrouted(cx_alerts_sender_alerts(sender), rules, unrouted, sizeof unrouted) > 0)
        cx_log(CX_LOG_WARN, "alerts", CX_UNROUTED, unrouted);
    cx_consumer_config cc = cx_cmd_consumer_config(cfg, props, n_props);
    cx_consumer_handler h = {.ctx = &s,
                             .load_offsets = load_offsets,
                             .advance = advance,
                             .submit = submit,
                             .drain = drain,
                             .lost = lost,
                             .brokers = brokers};
    cx_status joined = cx_consumer_new(&s.consumer, &cc, &h, err, sizeof err);
    if (joined != CX_OK) {
        cx_log_write(CX_LOG_ERROR, "run", "%s", err);
        rc = cx_cmd_exit_status(joined); /* 2 for a bad Kafka property, 1 out of memory */
        goto done;
    }
    cx_service_http_set_consumer(http, s.consumer);
    cx_service_http_set_pipeline(http, s.pipeline);
    running = s.consumer;
    mask_stop_signals(SIG_UNBLOCK); /* one asked during start-up is handled here: the
                                       consumer leaves before reading */
    if (stop_asked)                 /* a stop asked of an earlier run of this process (demo) */
        cx_consumer_stop(s.consumer);
    char topics[512] = "", where[512];
    for (size_t i = 0, used = 0; i < cfg->n_topics && used < sizeof topics; i++)
        used += (size_t)snprintf(topics + used, sizeof topics - used, "%s%s", i ? "," : "",
                                 cfg->topics[i]);
    cx_pg_conninfo_mask(cfg->pg_url ? cfg->pg_url : "", where, sizeof where);
    cx_metrics_set_rules(s.metrics, cx_classifier_version(clf));
    struct sigaction hup; /* ignored by run, not by the demo */
    sigaction(SIGHUP, NULL, &hup);
    cx_log(CX_LOG_INFO, "pipeline",
           "consuming %s from kafka %s as group %s into postgresql %s, rules %s; SIGTERM or "
           "SIGINT stops it%s",
           topics, cfg->brokers, cfg->group, where[0] ? where : "(libpq's environment)",
           cx_classifier_version(clf), hup.sa_handler == SIG_IGN ? ", SIGHUP is ignored" : "");
    s.last_report_us = cx_now_mono_us();
    st = cx_consumer_run(s.consumer, err, sizeof err);
    mask_stop_signals(SIG_BLOCK); /* the threads of the shutdown inherit the block */
    running = NULL;
    if (st != CX_OK) {
        cx_log_write(CX_LOG_ERROR, "pipeline", "stopping: %s", err);
    } else {
        rc = CX_EXIT_OK;
        cx_log(CX_LOG_INFO, "pipeline",
               "stopped cleanly: messages=%llu stored=%llu duplicates=%llu skipped=%llu "
               "dead_letters=%llu",
               (unsigned long long)s.totals.messages, (unsigned long long)s.totals.stored,
               (unsigned long long)s.totals.duplicates, (unsigned long long)s.totals.skipped,
               (unsigned long long)s.totals.dead_lettered);
    }
done:
    cx_service_http_stop(http);    /* before the consumer and metrics it reads */
    free_consumer(s.consumer, rc); /* leaving, it drains the pipeline: still there */
    s.consumer = NULL;
    cx_pipeline_free(s.pipeline);  /* drained by the consumer: the writers stop */
    cx_alerts_sender_stop(sender); /* up to 5 s: after the partitions are let go, and
                                      after the writers that wake it */
    *totals = s.totals;
    if (s.metrics != metrics)
        cx_metrics_free(s.metrics);
    for (int w = 0; w < writers; w++)
        cx_pg_free(pg[w]);
    cx_pg_seen_free(seen);
    cx_classifier_free(clf);
    free(rules_json);
    cx_ticket_rules_free(rules);
    free(props);
    if (s.cancel_at_us != 0)
        watchdog_end(&s.stopping);
    return rc;
}

static int usage(FILE *out, int rc)
{
    fprintf(out,
            "usage: cxpulse run [--config FILE] [--brokers B] [--topic T]... [--group G]\n"
            "                   [--pg URL] [--rules FILE]... [--model FILE]\n"
            "                   [--http ADDR:PORT|off] [--log-level debug|info|warn|error]\n"
            "                   [--alertmanager URL] [--webhook URL]\n\n"
            "Consumes the topics as a member of the consumer group, classifies every\n"
            "event and writes events, tags, signals, dead letters and offsets to\n"
            "PostgreSQL in one transaction per batch, and delivers ticket transitions\n"
            "to the configured receivers (docs/alerts.md). Environment: CXPULSE_BROKERS,\n"
            "CXPULSE_TOPICS, CXPULSE_GROUP, CXPULSE_PG_URL, ... (cxpulse config --reference).\n");
    return rc;
}

int cx_cmd_run(int argc, char **argv)
{
    if (cx_cmd_wants_help(argc, argv))
        return usage(stdout, CX_EXIT_OK);
    char err[1024];
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int n_rest = 0, rc = CX_EXIT_USAGE;
    cx_config *cfg = cx_config_new();
    if (cfg == NULL || rest == NULL)
        goto done;
    if (cx_config_parse_cli(cfg, argc, argv, rest, &n_rest, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse run: %s\n", err);
        goto done;
    }
    if (n_rest > 0) { /* before validation: a mistyped flag explains what is missing */
        cx_typo t = CX_TYPO_INIT(rest[0]);
        char hint[160], shown[256];
        cx_config_offer_flags(&t);
        fprintf(stderr, "cxpulse run: unknown argument \"%s\"%s\n",
                cx_config_shown(rest[0], shown, sizeof shown),
                cx_typo_hint(&t, 0, hint, sizeof hint));
        usage(stderr, 0);
        goto done;
    }
    if (cx_config_validate_run(cfg, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse run: %s\n", err);
        goto done;
    }
    cx_log_set_level(cfg->log_level);
    cx_run_totals totals;
    /* A reload or a log rotation's habit (kill -HUP) would otherwise end the
     * service at once, with the batch in hand and no line said: there is
     * nothing to reload (the configuration is read at start) or reopen (the
     * log is stderr). (The demo, in a terminal, ends with it.) A reader of the
     * log that goes away (`| grep -m1`, a logger that dies) would end it
     * likewise at its next line: as systemd does for its services, SIGPIPE
     * is ignored, and lines written to nobody are lost. */
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    rc = cx_run_service(cfg, 0, NULL, &totals);
done:
    cx_config_free(cfg);
    free(rest);
    return rc;
}
