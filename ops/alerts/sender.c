/*
 * sender.c - the notification sender of `cxpulse run`: one thread and one
 * PostgreSQL connection that claim the outbox's rows one at a time (FOR UPDATE
 * SKIP LOCKED, so several instances share the work and each row goes to one of
 * them), post them to their routed receivers with libcurl, and record the
 * outcome in the same transaction; transient failures come back after an
 * exponential backoff with jitter. Every alerts.resend_seconds it also posts
 * the unresolved tickets to each Alertmanager again, before their endsAt.
 * A stop gives delivery STOP_GRACE_US in all: a post still unanswered then is
 * cut off (libcurl's progress callback) and its row stays pending.
 */
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "alerts.h"
#include "alerts_int.h"
#include "pg.h"

/* How long delivery may hold a stop: rows due then still go out, and a post
 * under way may finish, within this time from the stop; whatever
 * alerts.timeout_ms and however many receivers hang. */
#define STOP_GRACE_US 5000000
/* A claim's transaction is idle while a post is under way, for at most
 * alerts.timeout_ms (curl's limit for the whole post); the server ends a
 * session idle in it for this much longer (cx_pg_outbox_new()). */
#define IDLE_MARGIN_MS 10000

struct cx_alerts_sender {
    cx_alerts *alerts;
    cx_pg_outbox *outbox;
    cx_metrics *metrics;
    CURL *curl;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;
    int woken;                  /* cx_alerts_sender_wake() since the last pause */
    _Atomic int64_t stop_by_us; /* once stopping: when posts are cut off (monotonic) */
};

/* The time now by PostgreSQL's clock, as the writers last measured it
 * (cxpulse_clock_skew_seconds): the tickets' times are on it, so
 * Alertmanager's endsAt agrees with startsAt (opened_at) whatever this host's
 * clock says; a host behind by more than a few minutes would otherwise post
 * alerts that end before they start, which Alertmanager refuses. */
static time_t db_time(const cx_alerts_sender *s)
{
    double skew = s->metrics != NULL ? cx_metrics_get_gauge(s->metrics, CX_G_CLOCK_SKEW) : 0;
    return time(NULL) - (time_t)llround(skew);
}

/* How often a sender waiting for an Alertmanager another sender posts to
 * asks again. */
#define LOCK_POLL_MS 50

/* Whether the stop's grace period is over: nothing more may be posted.
 * Lock-free: libcurl's progress callback asks many times a second. */
static int past_grace(cx_alerts_sender *s)
{
    int64_t t = s->stop_by_us;
    return t != 0 && cx_now_mono_us() >= t;
}

/* libcurl's progress callback, called at least once a second during a
 * transfer: a non-zero answer aborts it (CURLE_ABORTED_BY_CALLBACK). */
static int cut_off_at_grace(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                            curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return past_grace(ctx);
}

/* The first bytes of an answer's body, for the record. */
typedef struct answer {
    char text[256];
    size_t len;
} answer;

static size_t keep_answer(char *p, size_t size, size_t n, void *ctx)
{
    answer *a = ctx;
    size_t take = size * n;
    if (take > sizeof a->text - 1 - a->len)
        take = sizeof a->text - 1 - a->len;
    memcpy(a->text + a->len, p, take);
    a->len += take;
    a->text[a->len] = '\0';
    return size * n;
}

/*
 * Posts body to receiver r; returns the outcome and writes what happened
 * (the status and the start of the answer, or curl's reason) into why. *cut
 * is set when the stop's grace period cut the post off before an answer
 * (then the outcome is CX_ALERTS_RETRY: the receiver may or may not have it).
 */
static cx_alerts_outcome post(cx_alerts_sender *s, const cx__alerts_receiver *r, const char *body,
                              const char *idem_key, int *cut, char *why, size_t whylen)
{
    CURL *c = s->curl;
    struct curl_slist *h = NULL;
    char line[256], ts[32], sig[72];
    answer ans = {.len = 0};
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "User-Agent: cxpulse/" CX_VERSION);
    if (idem_key != NULL) {
        snprintf(line, sizeof line, "Idempotency-Key: %s", idem_key);
        h = curl_slist_append(h, line);
    }
    if (r->kind == CX__ALERTS_WEBHOOK) {
        snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
        snprintf(line, sizeof line, "X-Cxpulse-Timestamp: %s", ts);
        h = curl_slist_append(h, line);
        if (r->secret != NULL) {
            if (cx_alerts_sign(r->secret, ts, body, strlen(body), sig) != CX_OK) {
                curl_slist_free_all(h);
                *cut = 0;
                snprintf(why, whylen, "cannot sign the request: out of memory");
                return CX_ALERTS_RETRY; /* not sent unsigned: refused for good, for nothing */
            }
            snprintf(line, sizeof line, "X-Cxpulse-Signature: %s", sig);
            h = curl_slist_append(h, line);
        }
    }
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)s->alerts->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)s->alerts->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_answer);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &ans);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, cut_off_at_grace);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
    CURLcode rc = past_grace(s) ? CURLE_ABORTED_BY_CALLBACK : curl_easy_perform(c);
    *cut = rc == CURLE_ABORTED_BY_CALLBACK;
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    cx_utf8_mend(ans.text, ans.len); /* another encoding, or cut at 255 bytes */
    /* one line, and nothing a terminal acts on (ESC, CSI, RLO) */
    size_t n = strlen(cx_printable(ans.text, ans.text, sizeof ans.text));
    while (n > 0 && ans.text[n - 1] == ' ')
        ans.text[--n] = '\0';
    if (*cut)
        snprintf(why, whylen, "no answer: cut off by the stop");
    else if (rc != CURLE_OK)
        snprintf(why, whylen, "no answer: %s", curl_easy_strerror(rc));
    else
        snprintf(why, whylen, "HTTP %ld%s%s", status, n ? ": " : "", ans.text);
    return cx_alerts_classify(status);
}

static void set_delivery(json_t *deliveries, const char *name, const char *status, int attempts,
                         const char *answer_text)
{
    /* to the millisecond: the row's created_at has microseconds, and an
     * answer within the second must not read as before it */
    char at[40];
    struct tm tm;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(at + n, sizeof at - n, ".%03ldZ", now.tv_nsec / 1000000);
    json_object_set_new(deliveries, name,
                        json_pack("{s:s, s:i, s:s, s:s}", "status", status, "attempts", attempts,
                                  "answer", answer_text, "at", at));
}

/* Takes the lock that makes posts to Alertmanager r go one at a time across
 * senders (a re-post of a firing ticket must not overtake its resolution),
 * waiting while another sender posts to it, but not past a stop's grace
 * period. 1: taken; 0: the grace period ended first; -1: PostgreSQL failed
 * (err says why). */
static int lock_receiver(cx_alerts_sender *s, const cx__alerts_receiver *r, char *err,
                         size_t errlen)
{
    int got = 0;
    while (cx_pg_outbox_lock(s->outbox, r->name, &got, err, errlen) == CX_OK) {
        if (got)
            return 1;
        if (past_grace(s))
            return 0;
        nanosleep(&(struct timespec){0, LOCK_POLL_MS * 1000000L}, NULL);
    }
    return -1;
}

/* Delivers the claimed row to each receiver routed to that has not taken it yet,
 * and records the outcome. A post cut off by the stop leaves that receiver's
 * delivery as it was, posts to no further receiver, and keeps the row pending,
 * due at once (for the next sender, here after a restart or elsewhere). */
/* Whether receiver `name` took a later transition of the claimed row's
 * ticket (the claim's later_sent): told this one after it, an Alertmanager
 * would page again. */
static int took_later(const json_t *row, const char *name)
{
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(row, "later_sent"), i, r)
    {
        if (json_is_string(r) && strcmp(json_string_value(r), name) == 0)
            return 1;
    }
    return 0;
}

static void deliver(cx_alerts_sender *s, json_t *row)
{
    char err[1024], key[96];
    const json_t *t = json_object_get(row, "ticket");
    long long id = json_integer_value(json_object_get(row, "id"));
    int attempts = (int)json_integer_value(json_object_get(row, "attempts"));
    json_t *deliveries = json_deep_copy(json_object_get(row, "deliveries"));
    if (!json_is_object(deliveries)) {
        json_decref(deliveries);
        deliveries = json_object();
    }
    size_t idx[CX_ALERTS_MAX_RECEIVERS];
    size_t n = cx_alerts_route(s->alerts, json_string_value(json_object_get(t, "owner")),
                               json_string_value(json_object_get(t, "category")),
                               json_string_value(json_object_get(t, "rule")), idx,
                               CX_ALERTS_MAX_RECEIVERS);
    int pending = 0, failed = 0, lost = 0, cut = 0;
    int retry_ms = cx_alerts_backoff_ms(s->alerts, attempts); /* if one waits for a retry */
    char last[320] = "";
    cx_alerts_idempotency_key(row, key, sizeof key);
    for (size_t k = 0; k < n && !lost && !cut; k++) {
        const cx__alerts_receiver *r = &s->alerts->receivers[idx[k]];
        const json_t *d = json_object_get(deliveries, r->name);
        const char *done = json_string_value(json_object_get(d, "status"));
        if (done != NULL && (strcmp(done, "sent") == 0 || strcmp(done, "failed") == 0)) {
            failed |= strcmp(done, "failed") == 0;
            continue;
        }
        if (done != NULL && strcmp(done, "skipped") == 0)
            continue;
        if (took_later(row, r->name)) {
            set_delivery(deliveries, r->name, "skipped", 0,
                         "a later transition was delivered to it");
            continue;
        }
        /* Chat gets what a person acts on, not every batch that adds events:
         * an update only when its ticket fired again after a quiet spell. */
        if (r->kind == CX__ALERTS_SLACK &&
            strcmp(json_string_value(json_object_get(row, "transition")), "updated") == 0 &&
            !cx__alerts_after_quiet(s->alerts, row)) {
            set_delivery(deliveries, r->name, "skipped", 0,
                         s->alerts->chat_quiet_s > 0
                             ? "chat receivers get opened, acknowledged and resolved, and an "
                               "update after alerts.chat_quiet_minutes without one"
                             : "chat receivers get opened, acknowledged and resolved "
                               "(alerts.chat_quiet_minutes is 0)");
            continue;
        }
        int tries = (int)json_integer_value(json_object_get(d, "attempts")) + 1;
        char why[300];
        cx_alerts_outcome oc = CX_ALERTS_RETRY;
        int locked = r->kind == CX__ALERTS_AM ? lock_receiver(s, r, err, sizeof err) : 1;
        if (locked < 0) {
            cx_log(CX_LOG_WARN, "alerts", "notification %lld: %s", id, err);
            lost = 1;
            break;
        }
        if (locked == 0) { /* as a post cut off */
            cut = 1;
            snprintf(why, sizeof why, "stopped while another sender posted to it");
        } else {
            char *body = cx_alerts_render(s->alerts, idx[k], row, db_time(s));
            if (body == NULL)
                snprintf(why, sizeof why, "out of memory");
            else
                oc = post(s, r, body, key, &cut, why, sizeof why);
            free(body);
        }
        if (cut) {
            pending = 1;
            snprintf(last, sizeof last, "%s: %s", r->name, why);
            cx_log(CX_LOG_INFO, "alerts", "notification %s to %s stays pending: %s", key, r->name,
                   why);
            break;
        }
        const char *status = oc == CX_ALERTS_SENT ? "sent"
                             : oc == CX_ALERTS_RETRY ? "pending"
                                                     : "failed";
        set_delivery(deliveries, r->name, status, tries, why);
        if (oc == CX_ALERTS_SENT) {
            cx_metrics_count_delivery(s->metrics, CX_M_NOTIFY_SENT, idx[k]);
            cx_log(CX_LOG_INFO, "alerts", "notification %s sent to %s", key, r->name);
        } else {
            snprintf(last, sizeof last, "%s: %s", r->name, why);
            cx_utf8_mend(last, strlen(last)); /* cut, maybe inside a character */
            if (oc == CX_ALERTS_RETRY) {
                pending = 1;
                cx_metrics_count_delivery(s->metrics, CX_M_NOTIFY_RETRIES, idx[k]);
                cx_log(CX_LOG_WARN, "alerts",
                       "notification %s to %s will be retried in %d s (attempt %d failed): %s", key,
                       r->name, (retry_ms + 999) / 1000, tries, why);
            } else {
                failed = 1;
                cx_metrics_count_delivery(s->metrics, CX_M_NOTIFY_FAILED, idx[k]);
                cx_log(CX_LOG_ERROR, "alerts", "notification %s to %s failed for good: %s", key,
                       r->name, why);
            }
        }
    }
    if (n == 0) /* config --check and the start warn once per rule; this is per row */
        cx_log(CX_LOG_DEBUG, "alerts",
               "notification %s goes to no receiver: no route in alerts.routes matches owner %s, "
               "category %s, rule %s (kept as unrouted)",
               key, json_string_value(json_object_get(t, "owner")),
               json_string_value(json_object_get(t, "category")),
               json_string_value(json_object_get(t, "rule")));
    if (!lost) {
        const char *status = pending ? "pending" : failed ? "failed" : n == 0 ? "unrouted" : "sent";
        int retry = pending && !cut ? retry_ms : 0;
        if (cx_pg_outbox_finish(s->outbox, id, status, deliveries, retry,
                                last[0] ? last : NULL, err, sizeof err) != CX_OK)
            cx_log(CX_LOG_WARN, "alerts", "notification %s: %s (it will be sent again)", key,
                   err);
    }
    cx_pg_outbox_rollback(s->outbox);
    json_decref(deliveries);
}

/* Posts every unresolved ticket routed to Alertmanager receiver i again. */
static void refresh(cx_alerts_sender *s, size_t i)
{
    const cx__alerts_receiver *r = &s->alerts->receivers[i];
    char err[1024], why[300];
    json_t *rows = NULL;
    if (cx_pg_outbox_firing(s->outbox, r->name, &rows, err, sizeof err) != CX_OK) {
        cx_log(CX_LOG_WARN, "alerts", "re-posting to %s: %s", r->name, err);
        cx_pg_outbox_rollback(s->outbox);
        return;
    }
    if (rows == NULL) { /* another sender is posting to it: its turn comes next time */
        cx_pg_outbox_rollback(s->outbox);
        return;
    }
    json_t *alerts = json_array();
    size_t k;
    json_t *row;
    time_t now = db_time(s);
    json_array_foreach(rows, k, row)
    {
        const json_t *t = json_object_get(row, "ticket");
        size_t idx[CX_ALERTS_MAX_RECEIVERS];
        size_t n = cx_alerts_route(s->alerts, json_string_value(json_object_get(t, "owner")),
                                   json_string_value(json_object_get(t, "category")),
                                   json_string_value(json_object_get(t, "rule")), idx,
                                   CX_ALERTS_MAX_RECEIVERS);
        int routed = 0;
        for (size_t j = 0; j < n; j++)
            routed |= idx[j] == i;
        const char *done = json_string_value(
            json_object_get(json_object_get(json_object_get(row, "deliveries"), r->name), "status"));
        if (routed && done != NULL && strcmp(done, "sent") == 0)
            json_array_append_new(alerts, cx__alerts_am_alert(s->alerts, row, now));
    }
    if (json_array_size(alerts) > 0) {
        char *body = json_dumps(alerts, JSON_COMPACT);
        int cut;
        if (body != NULL && post(s, r, body, NULL, &cut, why, sizeof why) != CX_ALERTS_SENT)
            cx_log(CX_LOG_WARN, "alerts", "re-posting %zu alert(s) to %s: %s",
                   json_array_size(alerts), r->name, why);
        free(body);
    }
    cx_pg_outbox_rollback(s->outbox);
    json_decref(alerts);
    json_decref(rows);
}

static void update_gauges(cx_alerts_sender *s)
{
    char err[1024];
    cx_pg_outbox_counts c;
    if (cx_pg_outbox_stats(s->outbox, &c, err, sizeof err) != CX_OK)
        return;
    cx_metrics_set(s->metrics, CX_G_NOTIFY_PENDING, (double)c.pending);
    cx_metrics_set(s->metrics, CX_G_NOTIFY_FAILED_ROWS, (double)c.failed);
    cx_metrics_set(s->metrics, CX_G_NOTIFY_OLDEST_SECONDS, c.oldest_pending_seconds);
}

/* Waits ms or until stopped or woken; returns 1 when stopped. */
static int pause_ms(cx_alerts_sender *s, int ms)
{
    struct timespec until = cx_time_after_ms(CLOCK_MONOTONIC, ms);
    pthread_mutex_lock(&s->lock);
    while (!s->stop && !s->woken && pthread_cond_timedwait(&s->cond, &s->lock, &until) == 0)
        ;
    s->woken = 0;
    int stop = s->stop;
    pthread_mutex_unlock(&s->lock);
    return stop;
}

void cx_alerts_sender_wake(cx_alerts_sender *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->woken = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static int stopping(cx_alerts_sender *s)
{
    pthread_mutex_lock(&s->lock);
    int stop = s->stop;
    pthread_mutex_unlock(&s->lock);
    return stop;
}

static void *sender_main(void *arg)
{
    cx_alerts_sender *s = arg;
    char err[1024];
    cx_thread_name("cx:alerts");
    int64_t next_gauges = 0, next_refresh = cx_now_mono_us();
    int warned = 0;
    while (!stopping(s)) {
        int64_t now = cx_now_mono_us();
        if (now >= next_gauges) {
            update_gauges(s);
            next_gauges = now + 1000000;
        }
        if (now >= next_refresh) {
            for (size_t i = 0; i < s->alerts->n_receivers; i++)
                if (s->alerts->receivers[i].kind == CX__ALERTS_AM)
                    refresh(s, i);
            next_refresh = now + (int64_t)s->alerts->resend_seconds * 1000000;
        }
        json_t *row = NULL;
        cx_status st =
            cx_pg_outbox_claim(s->outbox, s->alerts->update_seconds, &row, err, sizeof err);
        if (st != CX_OK) {
            if (!warned++)
                cx_log(CX_LOG_WARN, "alerts", "notifications wait: %s", err);
            if (pause_ms(s, s->alerts->poll_ms))
                break;
            continue;
        }
        warned = 0;
        if (row == NULL) {
            if (pause_ms(s, s->alerts->poll_ms))
                break;
            continue;
        }
        deliver(s, row);
        json_decref(row);
    }
    /* Stopping: what is due now goes out first (the last batch's tickets, say),
     * within the grace period; the rest waits for the next sender. */
    while (!past_grace(s)) {
        json_t *row = NULL;
        if (cx_pg_outbox_claim(s->outbox, s->alerts->update_seconds, &row, err, sizeof err) !=
                CX_OK ||
            row == NULL)
            break;
        deliver(s, row);
        json_decref(row);
    }
    cx_pg_outbox_rollback(s->outbox);
    return NULL;
}

const cx_alerts *cx_alerts_sender_alerts(const cx_alerts_sender *s)
{
    return s->alerts;
}

cx_status cx_alerts_sender_start(cx_alerts_sender **out, const cx_config *cfg, cx_metrics *m,
                                 char *err, size_t errlen)
{
    *out = NULL;
    cx_alerts *a = NULL;
    cx_status st = cx_alerts_new(&a, cfg, err, errlen);
    if (st != CX_OK)
        return st;
    if (a->n_receivers == 0) {
        cx_alerts_free(a);
        return CX_OK;
    }
    cx_alerts_sender *s = calloc(1, sizeof *s);
    if (s == NULL) {
        cx_alerts_free(a);
        return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
    }
    s->alerts = a;
    s->metrics = m;
    const char *names[CX_ALERTS_MAX_RECEIVERS];
    for (size_t i = 0; i < a->n_receivers; i++)
        names[i] = cx_alerts_receiver_name(a, i);
    if (m != NULL &&
        (st = cx_metrics_name_receivers(m, names, a->n_receivers, err, errlen)) != CX_OK) {
        cx_alerts_free(a);
        free(s);
        return st;
    }
    pthread_mutex_init(&s->lock, NULL);
    cx_cond_init_monotonic(&s->cond);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if ((st = cx_pg_outbox_new(&s->outbox, cfg->pg_url, a->timeout_ms + IDLE_MARGIN_MS, err,
                               errlen)) != CX_OK)
        goto fail;
    if ((s->curl = curl_easy_init()) == NULL) {
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "cannot start libcurl");
        goto fail;
    }
    srand((unsigned)cx_now_mono_us());
    if (pthread_create(&s->thread, NULL, sender_main, s) != 0) {
        st = cx_errf(err, errlen, CX_ERR_IO, "cannot start the notification sender thread");
        goto fail;
    }
    for (size_t i = 0; i < a->n_receivers; i++)
        cx_log(CX_LOG_INFO, "alerts", "delivering tickets to %s (%s)", a->receivers[i].name,
               a->receivers[i].kind == CX__ALERTS_AM        ? "alertmanager"
               : a->receivers[i].kind == CX__ALERTS_WEBHOOK ? "webhook"
                                                            : "slack");
    *out = s;
    return CX_OK;
fail:
    curl_easy_cleanup(s->curl);
    cx_pg_outbox_free(s->outbox);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    curl_global_cleanup();
    cx_alerts_free(a);
    free(s);
    return st;
}

void cx_alerts_sender_stop(cx_alerts_sender *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    s->stop_by_us = cx_now_mono_us() + STOP_GRACE_US;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    curl_easy_cleanup(s->curl);
    cx_pg_outbox_free(s->outbox);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    curl_global_cleanup();
    cx_alerts_free(s->alerts);
    free(s);
}
