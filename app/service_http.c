/*
 * service_http.c - the routes of `cxpulse run`'s HTTP listener (see
 * service_http.h). Each request runs on its connection's own thread.
 * /healthz answers at once. /readyz answers from state kept here and by the
 * pipeline, with no query per request: partitions assigned (so the member has
 * joined its group through a reachable broker), the last batch write not
 * failing, and PostgreSQL answering the monitor thread's check, made every
 * CHECK_MS, as a server that takes writes (not a standby, nor with
 * default_transaction_read_only on). /api/live queries PostgreSQL on its own
 * connection, within a few seconds, and adds what this process knows of its
 * own storing: ready or why not, the messages waiting, a write going on.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "pg.h"
#include "service_http.h"

extern const char cx_live_page[];
extern const size_t cx_live_page_len;

#define MAX_LAG_PARTITIONS 4096
#define CHECK_MS 2000 /* how often the monitor checks that PostgreSQL answers and takes writes */
#define DEAD_LETTERS_CHECKS 15 /* dead letters waiting are counted every 15th check (30 s), */
                               /* and at the next check after this process stored some */
#define SLOW_WRITE_S 10        /* a batch write taking this long is said in the log */
#define WAITING_MS 2000        /* /api/live counts the messages waiting at most this often */

struct cx_service_http {
    cx_http *http;
    cx_metrics *metrics;
    cx_consumer *_Atomic consumer;
    cx_pipeline *_Atomic pipeline; /* told when PostgreSQL answers again */
    cx_pg_reader *reader;  /* /api/live */
    cx_pg_reader *checker; /* the monitor's */
    char *group;           /* the consumer group, whose dead letters are counted */
    int window_seconds;
    pthread_mutex_t scratch_lock; /* lags, waiting, waiting_at_us */
    cx_partition_lag *lags;
    long long waiting;     /* messages of this member's partitions not stored, -1: not known */
    int64_t waiting_at_us; /* when waiting was counted (0: never) */
    pthread_mutex_t lock;  /* pg_checked, pg_read_only, pg_error, quit, live_warned_us */
    int pg_checked;        /* 1: PostgreSQL answered the last check */
    int pg_answered;       /* it answered a check once: a failure before is the writers' to log */
    const char *pg_read_only; /* NULL, or why it answered that it takes no writes */
    int64_t live_warned_us; /* when /api/live last logged a failure (0: never) */
    char pg_error[512];     /* why it did not answer (libpq's message, redacted) */
    char dead_error[512];   /* why dead letters could not be counted last time ("" if they were) */
    int64_t pg_failing_since_us; /* when it stopped answering or taking writes */
    double slow_write_said;      /* seconds of the write said slow, 0: none said */
    pthread_t monitor;
    int monitor_started;
    int locks; /* lock and wake are initialised */
    pthread_cond_t wake;
    int quit;
};

/* Answers with the text a followed by b (NULL: nothing). */
static void text(cx_http_response *r, int status, const char *a, const char *b)
{
    size_t n = strlen(a) + (b ? strlen(b) : 0) + 1;
    r->status = status;
    r->body = malloc(n);
    if (r->body != NULL)
        snprintf(r->body, n, "%s%s", a, b ? b : "");
}

static void metrics_route(cx_service_http *s, cx_http_response *r)
{
    cx_consumer *c = atomic_load(&s->consumer);
    pthread_mutex_lock(&s->scratch_lock);
    size_t n = c ? cx_consumer_lag(c, s->lags, MAX_LAG_PARTITIONS) : 0;
    if (c != NULL) { /* now, not as of the last batch */
        cx_metrics_set(s->metrics, CX_G_ASSIGNED, cx_consumer_assigned(c));
        cx_metrics_set(s->metrics, CX_G_PAUSED, cx_consumer_paused(c));
    }
    cx_pipeline *p = atomic_load(&s->pipeline);
    cx_metrics_set(s->metrics, CX_G_WRITE_SECONDS, p != NULL ? cx_pipeline_write_seconds(p) : 0);
    cx_metrics_set(s->metrics, CX_G_WRITE_BLOCKED_SECONDS,
                   p != NULL ? cx_pipeline_blocked_seconds(p) : 0);
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    r->body = cx_metrics_render(s->metrics, s->lags, n);
    pthread_mutex_unlock(&s->scratch_lock);
    if (r->body == NULL)
        text(r, 500, "out of memory\n", NULL);
}

/* Fills why with the reasons this process is not ready, one per line, in
 * words of ours ("" when ready). */
static void not_ready(cx_service_http *s, char *why, size_t len)
{
    why[0] = '\0';
    cx_consumer *c = atomic_load(&s->consumer);
    if (c == NULL || cx_consumer_assigned(c) == 0)
        snprintf(why, len,
                 "no kafka partitions assigned (none given yet, the brokers are out of reach, "
                 "other members hold them all, or their stored offsets cannot be read from "
                 "postgresql yet: the log says which)\n");
    pthread_mutex_lock(&s->lock);
    /* libpq's reason names the server, the user and the database: the log
     * has it, not an endpoint anyone who reaches the port may read */
    if (!s->pg_checked)
        snprintf(why + strlen(why), len - strlen(why), "postgresql: %s\n",
                 s->pg_error[0] ? "not answering, or refusing this service (the log says why)"
                                : "not checked yet");
    else if (s->pg_read_only != NULL) /* words of ours, naming nothing */
        snprintf(why + strlen(why), len - strlen(why), "postgresql: read-only (%s)\n",
                 s->pg_read_only);
    else if (cx_metrics_get_gauge(s->metrics, CX_G_PG_UP) == 0)
        snprintf(why + strlen(why), len - strlen(why), "postgresql: the last batch write failed\n");
    pthread_mutex_unlock(&s->lock);
}

static void ready_route(cx_service_http *s, cx_http_response *r)
{
    char why[1024];
    not_ready(s, why, sizeof why);
    if (why[0] == '\0')
        text(r, 200, "ready\n", NULL);
    else
        text(r, 503, "not ready: ", why);
}

/* Sets cxpulse_dead_letters_waiting from PostgreSQL; a failure keeps the last
 * figure and is logged once per new reason (a cx.dead_letters too large
 * to count within the reader's statement timeout is one). Called by the
 * monitor only, without s->lock. */
static void count_dead_letters(cx_service_http *s)
{
    char err[512];
    long long waiting = 0;
    if (cx_pg_reader_count_dead_letters(s->checker, s->group, &waiting, err, sizeof err) == CX_OK) {
        cx_metrics_set(s->metrics, CX_G_DEAD_LETTERS_WAITING, (double)waiting);
        s->dead_error[0] = '\0';
    } else if (strcmp(s->dead_error, err) != 0) {
        cx_log(CX_LOG_WARN, "http", "cxpulse_dead_letters_waiting not updated: %s", err);
        snprintf(s->dead_error, sizeof s->dead_error, "%s", err);
    }
}

/* Checks every CHECK_MS that PostgreSQL answers and takes writes, for
 * /readyz and cxpulse_postgresql_up; logs each change (a new reason once), and
 * when it takes writes again after it did not, wakes the writers waiting out
 * a backoff. */
static void *monitor_main(void *arg)
{
    cx_service_http *s = arg;
    cx_thread_name("cx:http-monitor");
    unsigned checks = 0;
    uint64_t dead_counted = 0; /* cxpulse_dead_letters_total at the last count */
    pthread_mutex_lock(&s->lock);
    while (!s->quit) {
        pthread_mutex_unlock(&s->lock);
        char err[512];
        const char *read_only = NULL;
        cx_status st = cx_pg_reader_ping(s->checker, &read_only, err, sizeof err);
        int writable = st == CX_OK && read_only == NULL;
        pthread_mutex_lock(&s->lock);
        int was_read_only = s->pg_read_only != NULL;
        int was_failing = s->pg_error[0] != '\0' || was_read_only;
        /* once per new reason; at the start the writers and the consumer,
         * connecting, say why themselves */
        if (st != CX_OK && strcmp(s->pg_error, err) != 0) {
            if (s->pg_answered)
                cx_log(CX_LOG_WARN, "http", "not ready: postgresql: %s", err);
        } else if (read_only != NULL && read_only != s->pg_read_only) { /* once per change */
            cx_log(CX_LOG_WARN, "http",
                   "not ready: postgresql is read-only (%s): it answers, but batches wait "
                   "until it takes writes (with several hosts in the URL, "
                   "target_session_attrs=read-write connects to the primary)",
                   read_only);
        }
        s->pg_answered |= st == CX_OK;
        if (writable && was_failing) { /* its end, said as its start was */
            cx_log(CX_LOG_INFO, "http", "postgresql %s again after %lld s",
                   was_read_only ? "takes writes" : "answers",
                   (long long)((cx_now_mono_us() - s->pg_failing_since_us) / 1000000));
            cx_pipeline *p = atomic_load(&s->pipeline);
            if (p != NULL) /* writers waiting out a backoff need not */
                cx_pipeline_retry_now(p);
        }
        if (!writable && !was_failing)
            s->pg_failing_since_us = cx_now_mono_us();
        s->pg_checked = st == CX_OK;
        s->pg_read_only = read_only;
        cx_metrics_pg_checked(s->metrics, writable); /* up unless writes are failing */
        snprintf(s->pg_error, sizeof s->pg_error, "%s", st == CX_OK ? "" : err);
        /* a write that waits (a lock an analyst holds, a synchronous standby
         * that is down) moves nothing else: said once, and its end */
        cx_pipeline *wp = atomic_load(&s->pipeline);
        double writing = wp != NULL ? cx_pipeline_write_seconds(wp) : 0;
        if (writing >= SLOW_WRITE_S && s->slow_write_said == 0) {
            cx_log(CX_LOG_WARN, "http",
                   "a batch write has taken %.0f s and goes on: waiting for a lock another "
                   "session holds (see \"Waiting for locks\" in docs/configuration.md), for a "
                   "synchronous standby, or writing a batch larger than postgresql stores in "
                   "that time? The wait_event of cxpulse's sessions in pg_stat_activity says "
                   "which. Nothing is stored meanwhile",
                   writing);
            s->slow_write_said = writing;
        } else if (writing < s->slow_write_said) {
            cx_log(CX_LOG_INFO, "http", "the slow batch write ended (failed or stored)");
            s->slow_write_said = 0;
        } else if (s->slow_write_said > 0) {
            s->slow_write_said = writing;
        }
        uint64_t dead = cx_metrics_get_counter(s->metrics, CX_M_DEAD_LETTERS);
        if (writable && (checks++ % DEAD_LETTERS_CHECKS == 0 || dead != dead_counted)) {
            pthread_mutex_unlock(&s->lock);
            count_dead_letters(s);
            dead_counted = dead; /* a count that failed (too many to count in time) is tried
                                    again at the 30 s cadence, not at every check */
            pthread_mutex_lock(&s->lock);
        }
        struct timespec until = cx_time_after_ms(CLOCK_MONOTONIC, CHECK_MS);
        while (!s->quit && pthread_cond_timedwait(&s->wake, &s->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* The messages of this member's partitions not stored yet (-1: not known,
 * for some partition: its end is not known, say its leader is down), counted
 * at most every WAITING_MS after the last count ended: while fetching is
 * paused a count asks the leaders, and every open live page polls. */
static long long waiting(cx_service_http *s)
{
    cx_consumer *c = atomic_load(&s->consumer);
    pthread_mutex_lock(&s->scratch_lock);
    if (s->waiting_at_us == 0 || cx_now_mono_us() - s->waiting_at_us >= WAITING_MS * 1000LL) {
        int assigned = c ? cx_consumer_assigned(c) : 0;
        size_t n = c ? cx_consumer_lag(c, s->lags, MAX_LAG_PARTITIONS) : 0;
        long long sum = n > 0 && n >= (size_t)assigned ? 0 : -1;
        for (size_t i = 0; sum >= 0 && i < n; i++)
            sum += s->lags[i].lag;
        s->waiting = sum;
        s->waiting_at_us = cx_now_mono_us();
    }
    long long w = s->waiting;
    pthread_mutex_unlock(&s->scratch_lock);
    return w;
}

/* live's object with "service" added: what this process knows of its own
 * storing, for the page to say when its figures may stop short of now
 * (NULL: out of memory; live is freed either way). */
static char *with_service(cx_service_http *s, char *live)
{
    char lines[1024], why[1024];
    size_t k = 0;
    not_ready(s, lines, sizeof lines);
    for (const char *q = lines; *q != '\0' && k + 3 < sizeof why; q++)
        if (*q != '\n')
            why[k++] = *q;
        else if (q[1] != '\0') /* one line: the reasons joined by "; " */
            why[k++] = ';', why[k++] = ' ';
    why[k] = '\0';
    cx_consumer *c = atomic_load(&s->consumer);
    cx_pipeline *p = atomic_load(&s->pipeline);
    long long w = waiting(s);
    /* how old the newest message this process stored is, from its Kafka
     * timestamp, by PostgreSQL's clock (as the page's other times) */
    double newest = cx_metrics_get_gauge(s->metrics, CX_G_NEWEST_MESSAGE);
    double age =
        (double)cx_now_wall_us() / 1e6 - cx_metrics_get_gauge(s->metrics, CX_G_CLOCK_SKEW) - newest;
    json_t *o =
        json_pack("{s:b, s:s?, s:I, s:o, s:f, s:f, s:o}", "ready", why[0] == '\0', "not_ready",
                  why[0] ? why : NULL, "partitions", (json_int_t)(c ? cx_consumer_assigned(c) : 0),
                  "waiting", w >= 0 ? json_integer(w) : json_null(), "write_seconds",
                  p ? cx_pipeline_write_seconds(p) : 0.0, "blocked_seconds",
                  p ? cx_pipeline_blocked_seconds(p) : 0.0, "newest_age_seconds",
                  newest > 0 ? json_real(age > 0 ? age : 0) : json_null());
    char *svc = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    size_t n = strlen(live), cap = n + (svc ? strlen(svc) : 0) + 16;
    char *out = svc && n > 0 && live[n - 1] == '}' ? malloc(cap) : NULL;
    if (out != NULL)
        snprintf(out, cap, "%.*s, \"service\" : %s}", (int)(n - 1), live, svc);
    free(svc);
    free(live);
    return out;
}

static void live_route(cx_service_http *s, cx_http_response *r)
{
    char err[512];
    char *json;
    if (cx_pg_live(s->reader, s->window_seconds, &json, err, sizeof err) != CX_OK) {
        /* every open live page asks every 2 s: a warning a minute at most */
        pthread_mutex_lock(&s->lock);
        int64_t now = cx_now_mono_us();
        int say = s->live_warned_us == 0 || now - s->live_warned_us >= 60 * 1000000LL;
        if (say)
            s->live_warned_us = now;
        pthread_mutex_unlock(&s->lock);
        cx_log(say ? CX_LOG_WARN : CX_LOG_DEBUG, "http", "live data: %s%s", err,
               say ? " (said at most once a minute)" : "");
        text(r, 503, "{\"error\":\"postgresql unavailable\"}", NULL);
    } else if ((r->body = with_service(s, json)) == NULL) {
        text(r, 500, "{\"error\":\"out of memory\"}", NULL);
    }
    r->content_type = "application/json";
}

static void route(void *ctx, const char *path, cx_http_response *r)
{
    cx_service_http *s = ctx;
    if (strcmp(path, "/metrics") == 0) {
        metrics_route(s, r);
    } else if (strcmp(path, "/healthz") == 0) {
        text(r, 200, "ok\n", NULL);
    } else if (strcmp(path, "/readyz") == 0) {
        ready_route(s, r);
    } else if (strcmp(path, "/api/live") == 0) {
        live_route(s, r);
    } else if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
        r->content_type = "text/html; charset=utf-8";
        r->body = malloc(cx_live_page_len + 1);
        if (r->body != NULL) {
            memcpy(r->body, cx_live_page, cx_live_page_len + 1);
            r->len = cx_live_page_len;
        }
    } else {
        text(r, 404, "not found (try /, /metrics, /healthz, /readyz, /api/live): ", path);
    }
}

cx_status cx_service_http_start(cx_service_http **out, const cx_config *cfg, cx_metrics *m,
                                 char *err, size_t errlen)
{
    *out = NULL;
    int listen = cfg->http_listen != NULL && strcmp(cfg->http_listen, "off") != 0;
    cx_service_http *s = calloc(1, sizeof *s);
    cx_status st = cx_errf(err, errlen, CX_ERR_NOMEM, "http: out of memory");
    if (s == NULL || (s->lags = calloc(MAX_LAG_PARTITIONS, sizeof *s->lags)) == NULL)
        goto fail;
    s->metrics = m;
    s->window_seconds = cx_config_base_window(cfg);
    if ((s->group = strdup(cfg->group ? cfg->group : "")) == NULL)
        goto fail;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->scratch_lock, NULL);
    cx_cond_init_monotonic(&s->wake);
    s->locks = 1;
    if ((st = cx_pg_reader_new(&s->checker, cfg->pg_url, err, errlen)) != CX_OK ||
        (listen && (st = cx_pg_reader_new(&s->reader, cfg->pg_url, err, errlen)) != CX_OK) ||
        (listen && (st = cx_http_new(&s->http, cfg->http_listen, route, s, err, errlen)) != CX_OK))
        goto fail;
    if (pthread_create(&s->monitor, NULL, monitor_main, s) != 0) {
        st = cx_errf(err, errlen, CX_ERR_FATAL, "http: cannot start a thread");
        goto fail;
    }
    s->monitor_started = 1;
    *out = s;
    if (!listen)
        return CX_OK;
    cx_log(CX_LOG_INFO, "http", "serving metrics, health and the live page on http://%.*s:%d/",
           (int)(strrchr(cfg->http_listen, ':') - cfg->http_listen), cfg->http_listen,
           cx_http_port(s->http));
    if (cx_http_max_connections(s->http) < CX_HTTP_MAX_CONNECTIONS)
        cx_log(CX_LOG_WARN, "http",
               "the open-file limit is low: at most %u HTTP connection%s at once instead of "
               "%d, so that Kafka and PostgreSQL keep their descriptors; raise it to %d or "
               "more (ulimit -n; systemd: LimitNOFILE=)",
               cx_http_max_connections(s->http), cx_http_max_connections(s->http) == 1 ? "" : "s",
               CX_HTTP_MAX_CONNECTIONS, CX_HTTP_FULL_NOFILE);
    return CX_OK;
fail:
    cx_service_http_stop(s);
    return st;
}

void cx_service_http_set_consumer(cx_service_http *s, cx_consumer *c)
{
    if (s != NULL)
        atomic_store(&s->consumer, c);
}

void cx_service_http_set_pipeline(cx_service_http *s, cx_pipeline *p)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock); /* the monitor calls it under the lock */
    atomic_store(&s->pipeline, p);
    pthread_mutex_unlock(&s->lock);
}

void cx_service_http_stop(cx_service_http *s)
{
    if (s == NULL)
        return;
    cx_http_free(s->http); /* first: no request runs after this */
    if (s->monitor_started) {
        pthread_mutex_lock(&s->lock);
        s->quit = 1;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->monitor, NULL);
    }
    if (s->locks) {
        pthread_mutex_destroy(&s->lock);
        pthread_mutex_destroy(&s->scratch_lock);
        pthread_cond_destroy(&s->wake);
    }
    cx_pg_reader_free(s->reader);
    cx_pg_reader_free(s->checker);
    free(s->group);
    free(s->lags);
    free(s);
}
