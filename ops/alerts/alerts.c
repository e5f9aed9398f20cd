/*
 * alerts.c - receivers and routes read from the configuration, the bodies
 * posted to each kind of receiver, signatures, and the outcome of an answer
 * (see alerts.h). The sender thread is in sender.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "alerts.h"
#include "alerts_int.h"
#include "classify.h"

static void receiver_clear(cx__alerts_receiver *r)
{
    free(r->name);
    free(r->url);
    free(r->secret);
}

void cx_alerts_free(cx_alerts *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n_receivers; i++)
        receiver_clear(&a->receivers[i]);
    for (size_t i = 0; i < a->n_routes; i++) {
        free(a->routes[i].owner);
        free(a->routes[i].category);
        free(a->routes[i].rule);
        free(a->routes[i].receivers);
    }
    free(a->receivers);
    free(a->routes);
    free(a->page_url);
    free(a);
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* An http:// or https:// URL with a host, as libcurl, which posts to it, reads it. */
static int is_http_url(const char *u)
{
    if (u == NULL || (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0))
        return 0;
    CURLU *h = curl_url();
    char *host = NULL;
    int ok = h != NULL && curl_url_set(h, CURLUPART_URL, u, 0) == CURLUE_OK &&
             curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK && host[0] != '\0';
    curl_free(host);
    curl_url_cleanup(h);
    return ok;
}

/* Adds a receiver; the caller checked the kind. */
static cx_status add_receiver(cx_alerts *a, const char *name, cx__alerts_kind kind,
                              const char *url, const char *secret, int shortcut,
                              const char *where, char *err, size_t errlen)
{
    if (name == NULL || name[0] == '\0')
        return cx_errf(err, errlen, CX_ERR_CONFIG, "%s: \"name\" must be a non-empty string",
                       where);
    for (size_t i = 0; i < a->n_receivers; i++)
        if (strcmp(a->receivers[i].name, name) == 0)
            return cx_errf(err, errlen, CX_ERR_CONFIG, "%s: receiver \"%s\" is defined twice",
                           where, name);
    if (!is_http_url(url))
        return cx_errf(
            err, errlen, CX_ERR_CONFIG,
            "%s: receiver \"%s\": \"url\" must be an http:// or https:// URL with a host", where,
            name);
    if (a->n_receivers == CX_ALERTS_MAX_RECEIVERS)
        return cx_errf(err, errlen, CX_ERR_CONFIG, "%s: more than %d receivers", where,
                       CX_ALERTS_MAX_RECEIVERS);
    cx__alerts_receiver *grown =
        realloc(a->receivers, (a->n_receivers + 1) * sizeof *a->receivers);
    if (grown == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
    a->receivers = grown;
    cx__alerts_receiver *r = &a->receivers[a->n_receivers];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->shortcut = shortcut;
    r->name = strdup(name);
    if (kind == CX__ALERTS_AM) {
        /* The base URL: POST /api/v2/alerts under it. */
        size_t n = strlen(url);
        while (n > 0 && url[n - 1] == '/')
            n--;
        if ((r->url = malloc(n + 16)) != NULL)
            snprintf(r->url, n + 16, "%.*s/api/v2/alerts", (int)n, url);
    } else {
        r->url = strdup(url);
    }
    r->secret = secret != NULL && secret[0] != '\0' ? strdup(secret) : NULL;
    a->n_receivers++;
    if (r->name == NULL || r->url == NULL || (secret != NULL && secret[0] && r->secret == NULL))
        return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
    return CX_OK;
}

static const char *const kind_names[] = {"alertmanager", "webhook", "slack"};

/* A receiver's value of key: o's "key", or the environment variable its
 * "key_env" names (set and not empty), or NULL when it has neither. */
static cx_status given_or_env(const json_t *o, const char *key, const char *where,
                              const char **value, char *err, size_t errlen)
{
    char env_key[32];
    snprintf(env_key, sizeof env_key, "%s_env", key);
    const char *var = json_string_value(json_object_get(o, env_key));
    *value = json_string_value(json_object_get(o, key));
    if (var == NULL)
        return CX_OK;
    if (*value != NULL)
        return cx_errf(err, errlen, CX_ERR_CONFIG, "%s: give \"%s\" or \"%s\", not both", where,
                       key, env_key);
    *value = getenv(var);
    if (*value == NULL || (*value)[0] == '\0')
        return cx_errf(err, errlen, CX_ERR_CONFIG, "%s: environment variable %s (%s) is %s", where,
                       var, env_key, *value == NULL ? "not set" : "empty");
    return CX_OK;
}

static cx_status read_receivers(cx_alerts *a, const json_t *list, char *err, size_t errlen)
{
    size_t i;
    const json_t *o;
    json_array_foreach(list, i, o)
    {
        char where[64];
        snprintf(where, sizeof where, "alerts.receivers[%zu]", i);
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)o, k, v)
        {
            if (strcmp(k, "name") != 0 && strcmp(k, "kind") != 0 && strcmp(k, "url") != 0 &&
                strcmp(k, "url_env") != 0 && strcmp(k, "secret") != 0 &&
                strcmp(k, "secret_env") != 0)
                return cx_errf(err, errlen, CX_ERR_CONFIG,
                               "%s: unknown key \"%s\" (name, kind, url, url_env, secret, "
                               "secret_env)",
                               where, k);
            if (!json_is_string(v))
                return cx_errf(err, errlen, CX_ERR_CONFIG, "%s: \"%s\" must be a string", where,
                               k);
        }
        const char *name = json_string_value(json_object_get(o, "name"));
        const char *kind = json_string_value(json_object_get(o, "kind"));
        const char *secret = json_string_value(json_object_get(o, "secret"));
        const char *secret_env = json_string_value(json_object_get(o, "secret_env"));
        int kind_i = -1;
        for (int kk = 0; kind != NULL && kk < 3; kk++)
            if (strcmp(kind, kind_names[kk]) == 0)
                kind_i = kk;
        if (kind_i < 0)
            return cx_errf(err, errlen, CX_ERR_CONFIG,
                           "%s: \"kind\"%s%.40s%s must be alertmanager, webhook or slack", where,
                           kind ? " \"" : " (missing)", kind ? kind : "", kind ? "\"" : "");
        if ((secret || secret_env) && kind_i != CX__ALERTS_WEBHOOK)
            return cx_errf(err, errlen, CX_ERR_CONFIG,
                           "%s: only a webhook receiver is signed with a secret", where);
        const char *url = NULL;
        cx_status st = given_or_env(o, "secret", where, &secret, err, errlen);
        if (st == CX_OK) /* a URL may hold a token (Slack's, Teams', a user:password@) */
            st = given_or_env(o, "url", where, &url, err, errlen);
        if (st != CX_OK)
            return st;
        /* an empty secret would send the receiver's posts unsigned */
        if (secret != NULL && secret[0] == '\0')
            return cx_errf(err, errlen, CX_ERR_CONFIG, "%s: \"secret\" is empty", where);
        st = add_receiver(a, name, (cx__alerts_kind)kind_i, url, secret, 0, where, err, errlen);
        if (st != CX_OK)
            return st;
    }
    return CX_OK;
}

static cx_status read_routes(cx_alerts *a, const json_t *list, char *err, size_t errlen)
{
    size_t n = json_array_size(list);
    if (n == 0)
        return CX_OK;
    if ((a->routes = calloc(n, sizeof *a->routes)) == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
    size_t i;
    const json_t *o;
    json_array_foreach(list, i, o)
    {
        cx__alerts_route *rt = &a->routes[i];
        a->n_routes++;
        char where[64];
        snprintf(where, sizeof where, "alerts.routes[%zu]", i);
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)o, k, v)
        {
            if (strcmp(k, "receivers") == 0)
                continue;
            if (strcmp(k, "owner") != 0 && strcmp(k, "category") != 0 && strcmp(k, "rule") != 0)
                return cx_errf(err, errlen, CX_ERR_CONFIG,
                               "%s: unknown key \"%s\" (owner, category, rule, receivers)", where,
                               k);
            if (!json_is_string(v) || json_string_length(v) == 0)
                return cx_errf(err, errlen, CX_ERR_CONFIG,
                               "%s: \"%s\" must be a non-empty string", where, k);
            cx_category cat;
            if (strcmp(k, "category") == 0 &&
                cx_category_from_name(json_string_value(v), &cat) != CX_OK)
                return cx_errf(err, errlen, CX_ERR_CONFIG,
                               "%s: \"category\": \"%s\" is not one of facing, collaborative, "
                               "external, performance (it would match no ticket)",
                               where, json_string_value(v));
        }
        rt->owner = dup_or_null(json_string_value(json_object_get(o, "owner")));
        rt->category = dup_or_null(json_string_value(json_object_get(o, "category")));
        rt->rule = dup_or_null(json_string_value(json_object_get(o, "rule")));
        const json_t *recv = json_object_get(o, "receivers");
        if (!json_is_array(recv) || json_array_size(recv) == 0)
            return cx_errf(err, errlen, CX_ERR_CONFIG,
                           "%s: \"receivers\" must be a non-empty array of receiver names",
                           where);
        if ((rt->receivers = calloc(json_array_size(recv), sizeof *rt->receivers)) == NULL)
            return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
        size_t j;
        const json_t *e;
        json_array_foreach(recv, j, e)
        {
            const char *name = json_string_value(e);
            size_t r = 0;
            while (name != NULL && r < a->n_receivers && strcmp(a->receivers[r].name, name) != 0)
                r++;
            if (name == NULL || r == a->n_receivers)
                return cx_errf(err, errlen, CX_ERR_CONFIG,
                               "%s: receivers[%zu]: no receiver named \"%s\" in alerts.receivers",
                               where, j, name ? name : "(not a string)");
            rt->receivers[rt->n_receivers++] = r;
        }
    }
    return CX_OK;
}

cx_status cx_alerts_new(cx_alerts **out, const cx_config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    cx_alerts *a = calloc(1, sizeof *a);
    if (a == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
    a->timeout_ms = cfg->alerts_timeout_ms;
    a->retry_min_ms = cfg->alerts_retry_min_ms;
    a->retry_max_ms = cfg->alerts_retry_max_ms;
    a->resend_seconds = cfg->alerts_resend_seconds;
    a->update_seconds = cfg->alerts_update_seconds;
    a->chat_quiet_s = cfg->alerts_chat_quiet_minutes * 60;
    a->poll_ms = cfg->alerts_poll_ms;
    cx_status st = CX_OK;
    if (cfg->alerts_page_url != NULL && cfg->alerts_page_url[0] != '\0') {
        if (!is_http_url(cfg->alerts_page_url))
            st = cx_errf(err, errlen, CX_ERR_CONFIG,
                         "alerts.page_url: must be an http:// or https:// URL");
        else if ((a->page_url = strdup(cfg->alerts_page_url)) == NULL)
            st = cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
    }
    if (st == CX_OK && cfg->alert_receivers != NULL)
        st = read_receivers(a, cfg->alert_receivers, err, errlen);
    if (st == CX_OK && cfg->alert_routes != NULL)
        st = read_routes(a, cfg->alert_routes, err, errlen);
    if (st == CX_OK && a->n_routes > 0 && a->n_receivers == 0)
        st = cx_errf(err, errlen, CX_ERR_CONFIG, "alerts.routes: no receivers are configured");
    if (st == CX_OK && cfg->alerts_alertmanager != NULL && cfg->alerts_alertmanager[0] != '\0')
        st = add_receiver(a, "alertmanager", CX__ALERTS_AM, cfg->alerts_alertmanager, NULL, 1,
                          "alerts.alertmanager (--alertmanager, CXPULSE_ALERTMANAGER)", err,
                          errlen);
    if (st == CX_OK && cfg->alerts_webhook != NULL && cfg->alerts_webhook[0] != '\0')
        st = add_receiver(a, "webhook", CX__ALERTS_WEBHOOK, cfg->alerts_webhook,
                          cfg->alerts_webhook_secret, 1,
                          "alerts.webhook (--webhook, CXPULSE_WEBHOOK)", err, errlen);
    if (st == CX_OK && cfg->alerts_webhook_secret != NULL && cfg->alerts_webhook_secret[0] &&
        (cfg->alerts_webhook == NULL || cfg->alerts_webhook[0] == '\0'))
        st = cx_errf(err, errlen, CX_ERR_CONFIG,
                     "alerts.webhook_secret (CXPULSE_WEBHOOK_SECRET) is set but alerts.webhook "
                     "(--webhook, CXPULSE_WEBHOOK) is not");
    if (st == CX_OK && a->retry_max_ms < a->retry_min_ms)
        st = cx_errf(err, errlen, CX_ERR_CONFIG,
                     "alerts.retry_max_ms (%d) is below alerts.retry_min_ms (%d)",
                     a->retry_max_ms, a->retry_min_ms);
    if (st != CX_OK) {
        cx_alerts_free(a);
        return st;
    }
    *out = a;
    return CX_OK;
}

size_t cx_alerts_receiver_count(const cx_alerts *a)
{
    return a->n_receivers;
}

const char *cx_alerts_receiver_name(const cx_alerts *a, size_t i)
{
    return a->receivers[i].name;
}

static int field_matches(const char *want, const char *have)
{
    return want == NULL || (have != NULL && strcmp(want, have) == 0);
}

size_t cx_alerts_route(const cx_alerts *a, const char *owner, const char *category,
                       const char *rule, size_t *idx, size_t max)
{
    size_t n = 0;
    int routed = 0;
    for (size_t i = 0; i < a->n_routes && !routed; i++) {
        const cx__alerts_route *rt = &a->routes[i];
        if (!field_matches(rt->owner, owner) || !field_matches(rt->category, category) ||
            !field_matches(rt->rule, rule))
            continue;
        routed = 1;
        for (size_t j = 0; j < rt->n_receivers && n < max; j++)
            idx[n++] = rt->receivers[j];
    }
    for (size_t i = 0; i < a->n_receivers && n < max; i++) {
        int take = a->receivers[i].shortcut || a->n_routes == 0;
        for (size_t j = 0; take && j < n; j++)
            take = idx[j] != i;
        if (take)
            idx[n++] = i;
    }
    /* configuration order, each once (a route may name one twice): a few, so
     * an insertion sort */
    size_t kept = 0;
    for (size_t k = 0; k < n; k++) {
        size_t v = idx[k], j = kept;
        while (j > 0 && idx[j - 1] > v)
            j--;
        if (j > 0 && idx[j - 1] == v)
            continue;
        memmove(&idx[j + 1], &idx[j], (kept - j) * sizeof *idx);
        idx[j] = v;
        kept++;
    }
    return kept;
}

size_t cx_alerts_unrouted(const cx_alerts *a, const cx_ticket_rules *rules, char *msg,
                          size_t msglen)
{
    size_t bad = 0, used = 0;
    if (msglen > 0)
        msg[0] = '\0';
    if (a->n_receivers == 0)
        return 0;
    for (size_t i = 0; i < cx_ticket_rules_count(rules); i++) {
        const cx_ticket_rule *r = cx_ticket_rules_get(rules, i);
        const char *cat = cx_category_name((cx_category)r->category);
        size_t idx[CX_ALERTS_MAX_RECEIVERS];
        if (cx_alerts_route(a, r->owner, cat, r->name, idx, CX_ALERTS_MAX_RECEIVERS) > 0)
            continue;
        if (used < msglen) { /* else cut: msg + used would point past it */
            int n = snprintf(msg + used, msglen - used, "%s%s (owner %s, category %s)",
                             bad ? ", " : "", r->name, r->owner, cat);
            used += n > 0 ? (size_t)n : 0;
        }
        bad++;
    }
    return bad;
}

/* The ticket's uid in the row (its "ticket" object), or NULL when the row
 * was written by a release before schema version 20, whose tickets had none. */
static const char *ticket_uid(const json_t *row)
{
    const char *uid = json_string_value(json_object_get(json_object_get(row, "ticket"), "uid"));
    return uid != NULL && uid[0] != '\0' ? uid : NULL;
}

/* Writes into out the first 12 hex digits of the ticket's uid (lower case,
 * dashes left out: 48 random bits of a version 4 UUID), or "" when the row
 * has no uid. */
static void uid_prefix(const json_t *row, char out[13])
{
    size_t n = 0;
    for (const char *u = ticket_uid(row); u != NULL && *u != '\0' && n < 12; u++)
        if (isxdigit((unsigned char)*u))
            out[n++] = (char)tolower((unsigned char)*u);
    out[n] = '\0';
}

void cx_alerts_idempotency_key(const json_t *row, char *out, size_t outlen)
{
    char uid[13];
    uid_prefix(row, uid);
    snprintf(out, outlen, "%lld-%s-%lld%s%s",
             (long long)json_integer_value(json_object_get(row, "ticket_id")),
             json_string_value(json_object_get(row, "transition")),
             (long long)json_integer_value(json_object_get(row, "seq")), uid[0] ? "-" : "", uid);
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* The sample event ids, comma-separated: those that fit whole (a cut one
 * could end inside a character). */
static void samples_text(const json_t *ticket, char *out, size_t outlen)
{
    size_t i, used = 0;
    const json_t *e;
    out[0] = '\0';
    json_array_foreach(json_object_get(ticket, "sample_event_ids"), i, e)
    {
        int n = snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", json_string_value(e));
        if (n < 0 || (size_t)n >= outlen - used) {
            out[used] = '\0';
            break;
        }
        used += (size_t)n;
    }
}

json_t *cx__alerts_am_alert(const cx_alerts *a, const json_t *row, time_t now)
{
    const json_t *t = json_object_get(row, "ticket");
    char samples[1024], ends[32], id[32];
    samples_text(t, samples, sizeof samples);
    snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(t, "ticket_id")));
    int resolved = strcmp(str(row, "transition"), "resolved") == 0;
    /* Firing: valid for a few re-posting intervals; resolved: ended now. */
    cx_utc_text(resolved ? now : now + 4 * (time_t)a->resend_seconds, ends, sizeof ends);
    /* with when the ticket last moved and how many events it holds: an alert
     * firing for days says whether anything happened since */
    char count[32];
    snprintf(count, sizeof count, "%lld",
             (long long)json_integer_value(json_object_get(t, "event_count")));
    json_t *annotations =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "summary", str(t, "reason"), "description",
                  str(t, "reason"), "sample_event_ids", samples, "ticket_id", id, "ticket_status",
                  str(t, "status"), "updated_at", str(t, "updated_at"), "event_count", count);
    if (annotations != NULL && json_is_string(json_object_get(t, "window_end")))
        json_object_set_new(annotations, "window_end", json_string(str(t, "window_end")));
    /* Alertmanager tells alerts apart by their labels alone: without the
     * ticket, the next ticket of a rule and owner would be the same alert, and
     * the previous one's resolution would end it. The ticket's uid too: after
     * a restore from a backup, a new ticket can get the id of one delivered
     * before it. Rows of older releases have none, and keep the labels their
     * alert was posted with. */
    json_t *alert =
        json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s}, s:o, s:s, s:s}", "labels", "alertname",
                  str(t, "rule"), "owner", str(t, "owner"), "category", str(t, "category"), "scope",
                  str(t, "scope"), "ticket_id", id, "severity", "warning", "service", "cxpulse",
                  "annotations", annotations, "startsAt", str(t, "opened_at"), "endsAt", ends);
    if (alert != NULL && ticket_uid(row) != NULL &&
        json_object_set_new(json_object_get(alert, "labels"), "ticket_uid",
                            json_string(ticket_uid(row))) != 0) {
        json_decref(alert);
        return NULL;
    }
    if (alert != NULL && a->page_url != NULL) {
        json_object_set_new(annotations, "page_url", json_string(a->page_url));
        json_object_set_new(alert, "generatorURL", json_string(a->page_url));
    }
    return alert;
}

enum { SLACK_RAW, SLACK_TEXT, SLACK_URL };

/* The most characters a chat message's text has: Slack advises at most 4,000
 * (and cuts a text past 40,000); Rocket.Chat's default limit is 5,000
 * (docs/alerts.md). */
#define SLACK_MAX_CHARS 4000

/* What byte c becomes in Slack's message format (as slack_put() writes it):
 * as text, &, < and > as entities (an owner or a reason saying "<!channel>"
 * is shown, not a mention of everyone); in a link's address, & as an entity
 * and <, > and | percent-encoded; raw, as it is. NULL: c itself. */
static const char *slack_escape(char c, int how)
{
    if (how != SLACK_RAW && c == '&')
        return "&amp;";
    if (how == SLACK_TEXT && (c == '<' || c == '>'))
        return c == '<' ? "&lt;" : "&gt;";
    if (how == SLACK_URL && (c == '<' || c == '>' || c == '|'))
        return c == '<' ? "%3C" : c == '>' ? "%3E" : "%7C";
    return NULL;
}

/* The characters that the character starting at s (UTF-8) takes once escaped. */
static size_t slack_chars_of(const char *s, int how)
{
    const char *e = slack_escape(*s, how);
    return e != NULL ? strlen(e) : 1;
}

/* Appends s[0..n) to b, escaped as `how`. */
static void slack_put(cx_buf *b, const char *s, size_t n, int how)
{
    for (size_t i = 0; i < n; i++) {
        const char *e = slack_escape(s[i], how);
        cx_buf_put(b, e != NULL ? e : s + i, e != NULL ? strlen(e) : 1);
    }
}

/* The characters of UTF-8 text s[0..n) once escaped as `how`. */
static size_t slack_chars(const char *s, size_t n, int how)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            chars += slack_chars_of(s + i, how);
    return chars;
}

/* Appends reason (UTF-8) to b as text in at most `room` characters: whole
 * when it fits, else its start and its end (where a reason has its figures)
 * with "…" between, cut between characters (never inside an entity). */
static void slack_put_middle_cut(cx_buf *b, const char *reason, size_t room)
{
    size_t n = strlen(reason);
    if (slack_chars(reason, n, SLACK_TEXT) <= room) {
        slack_put(b, reason, n, SLACK_TEXT);
        return;
    }
    room = room > 0 ? room - 1 : 0; /* for "…" */
    size_t end_room = room / 2, start_room = room - end_room, used = 0, head = 0, tail = n;
    while (head < n && used + slack_chars_of(reason + head, SLACK_TEXT) <= start_room) {
        used += slack_chars_of(reason + head, SLACK_TEXT);
        for (head++; head < n && ((unsigned char)reason[head] & 0xC0) == 0x80; head++)
            ;
    }
    for (used = 0; tail > head;) {
        size_t at = tail - 1;
        while (at > head && ((unsigned char)reason[at] & 0xC0) == 0x80)
            at--;
        if (used + slack_chars_of(reason + at, SLACK_TEXT) > end_room)
            break;
        used += slack_chars_of(reason + at, SLACK_TEXT);
        tail = at;
    }
    slack_put(b, reason, head, SLACK_TEXT);
    cx_buf_put(b, "…", strlen("…"));
    slack_put(b, reason + tail, n - tail, SLACK_TEXT);
}

int cx__alerts_after_quiet(const cx_alerts *a, const json_t *row)
{
    const json_t *q = json_object_get(row, "quiet_seconds"); /* null: not an update, or written
                                                                before schema version 23 */
    return a->chat_quiet_s > 0 && json_is_integer(q) && json_integer_value(q) >= a->chat_quiet_s;
}

/* " again after 2 d 3 h quiet": how long a ticket's rule had not fired, to
 * the minute; acked: "(still acknowledged)" after it. */
static void quiet_text(long long s, int acked, char *buf, size_t len)
{
    long long m = s / 60, d = m / 1440, h = m % 1440 / 60;
    char span[48];
    m %= 60;
    if (d > 0 && h > 0)
        snprintf(span, sizeof span, "%lld d %lld h", d, h);
    else if (d > 0)
        snprintf(span, sizeof span, "%lld d", d);
    else if (h > 0 && m > 0)
        snprintf(span, sizeof span, "%lld h %lld min", h, m);
    else if (h > 0)
        snprintf(span, sizeof span, "%lld h", h);
    else
        snprintf(span, sizeof span, "%lld min", m);
    snprintf(buf, len, " again after %s quiet%s", span, acked ? " (still acknowledged)" : "");
}

char *cx_alerts_render(const cx_alerts *a, size_t i, const json_t *row, time_t now)
{
    const cx__alerts_receiver *r = &a->receivers[i];
    const json_t *t = json_object_get(row, "ticket");
    json_t *doc = NULL;
    if (r->kind == CX__ALERTS_AM) {
        json_t *alert = cx__alerts_am_alert(a, row, now);
        doc = alert != NULL ? json_array() : NULL; /* never an empty list, which posts nothing */
        if (doc != NULL && json_array_append_new(doc, alert) != 0) {
            json_decref(doc);
            doc = NULL;
        }
    } else if (r->kind == CX__ALERTS_WEBHOOK) {
        char key[96];
        cx_alerts_idempotency_key(row, key, sizeof key);
        doc = json_pack("{s:s, s:s, s:I, s:I, s:s, s:O, s:o}", "idempotency_key", key,
                        "transition", str(row, "transition"), "seq",
                        json_integer_value(json_object_get(row, "seq")), "notification_id",
                        json_integer_value(json_object_get(row, "id")), "created_at",
                        str(row, "created_at"), "ticket", t, "page_url",
                        a->page_url ? json_string(a->page_url) : json_null());
    } else {
        char id[32], quiet[96] = "";
        cx_buf text = {0}, link = {0};
        snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(t, "ticket_id")));
        int fired =
            strcmp(str(row, "transition"), "updated") == 0 && cx__alerts_after_quiet(a, row);
        if (fired) /* the only update chat gets; an acknowledgement stands, said */
            quiet_text(json_integer_value(json_object_get(row, "quiet_seconds")),
                       strcmp(str(t, "status"), "acknowledged") == 0, quiet, sizeof quiet);
        /* an acknowledgement or a resolve says who, and that the reason is
         * the last firing's, not news */
        int acted = strcmp(str(t, "status"), "open") != 0 &&
                    strcmp(str(row, "transition"), "opened") != 0 &&
                    strcmp(str(row, "transition"), "updated") != 0;
        const char *by = acted ? str(t, "status_by") : "";
        const char *parts[][2] = {{"cxpulse: ticket ", id},
                                  {" ", fired ? "fired" : str(row, "transition")},
                                  {quiet, ""},
                                  {" for *", str(t, "owner")},
                                  {"* (rule ", str(t, "rule")},
                                  {", ", str(t, "category")},
                                  {str(t, "scope")[0] ? " " : "", str(t, "scope")},
                                  {")", ""},
                                  {by[0] ? " by " : "", by},
                                  {acted ? "; last firing: " : ": ", ""}};
        for (size_t k = 0; k < CX_ARRAY_LEN(parts); k++) {
            slack_put(&text, parts[k][0], strlen(parts[k][0]), SLACK_RAW);
            slack_put(&text, parts[k][1], strlen(parts[k][1]), SLACK_TEXT);
        }
        if (a->page_url != NULL) {
            slack_put(&link, " <", 2, SLACK_RAW);
            slack_put(&link, a->page_url, strlen(a->page_url), SLACK_URL);
            slack_put(&link, "|live page>", strlen("|live page>"), SLACK_RAW);
        }
        /* The reason gets the room the rest leaves: a long one loses its
         * middle, never its figures at the end nor the link after it. */
        size_t rest = slack_chars(text.data, text.len, SLACK_RAW) +
                      slack_chars(link.data, link.len, SLACK_RAW);
        slack_put_middle_cut(&text, str(t, "reason"),
                             rest < SLACK_MAX_CHARS ? SLACK_MAX_CHARS - rest : 0);
        cx_buf_put(&text, link.data, link.len);
        const char *s = cx_buf_str(&text);
        doc = s != NULL ? json_pack("{s:s}", "text", s) : NULL;
        cx_buf_free(&text);
        cx_buf_free(&link);
    }
    char *body = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    return body;
}

cx_status cx_alerts_sign(const char *secret, const char *timestamp, const char *body, size_t len,
                         char out[72])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    size_t tlen = strlen(timestamp);
    unsigned char *msg = malloc(tlen + 1 + len);
    out[0] = '\0';
    if (msg == NULL)
        return CX_ERR_NOMEM;
    memcpy(msg, timestamp, tlen);
    msg[tlen] = '.';
    memcpy(msg + tlen + 1, body, len);
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, tlen + 1 + len, mac, &mac_len) !=
        NULL) {
        memcpy(out, "sha256=", 7);
        for (unsigned int k = 0; k < mac_len && k < 32; k++)
            snprintf(out + 7 + 2 * k, 3, "%02x", mac[k]);
    }
    free(msg);
    return out[0] ? CX_OK : CX_ERR_NOMEM;
}

cx_alerts_outcome cx_alerts_classify(long http_status)
{
    if (http_status >= 200 && http_status < 300)
        return CX_ALERTS_SENT;
    if (http_status == 0 || http_status == 408 || http_status == 429 || http_status >= 500)
        return CX_ALERTS_RETRY;
    return CX_ALERTS_PERMANENT;
}

int cx_alerts_backoff_ms(const cx_alerts *a, int attempts)
{
    double d = a->retry_min_ms;
    for (int i = 0; i < attempts && d < a->retry_max_ms; i++)
        d *= 2;
    if (d > a->retry_max_ms)
        d = a->retry_max_ms;
    /* Jitter: half to all of it, so senders that failed together spread out. */
    return (int)(d / 2 + (d / 2) * ((double)rand() / RAND_MAX));
}
