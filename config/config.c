/*
 * config.c - the settings table and everything it drives (see config.h).
 */
#include "config.h"
#include "classify.h"
#include "http.h"
#include "pg.h"
#include "tickets.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <librdkafka/rdkafka.h>
#include <regex.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum kind { T_STRING, T_INT, T_BOOL, T_STRINGS, T_INTS, T_PROPS, T_OBJECTS } kind;

typedef struct setting {
    const char *key;     /* dotted path in the JSON file */
    kind type;
    size_t off;          /* field in cx_config */
    size_t count_off;    /* list length field (T_STRINGS, T_INTS) */
    long min, max;       /* T_INT and T_INTS elements */
    const char *choices; /* "a|b|c" for T_STRING, or NULL */
    const char *env;     /* environment variable, or NULL */
    const char *flag;    /* command-line flag, or NULL */
    int secret;          /* masked when printed: 1 a PostgreSQL conninfo, 2 all of it,
                          * 3 the password in an HTTP URL, 4 that and its path (a
                          * webhook's, which is often its token) */
    const char *dflt;    /* default, as a flag would give it */
    const char *help;
} setting;

#define F(field) offsetof(cx_config, field)

static const setting settings[] = {
    {"kafka.brokers", T_STRING, F(brokers), 0, 0, 0, NULL, "CXPULSE_BROKERS", "--brokers", 0, NULL,
     "bootstrap servers, host:port[,host:port...]"},
    {"kafka.topics", T_STRINGS, F(topics), F(n_topics), 0, 0, NULL, "CXPULSE_TOPICS", "--topic", 0,
     NULL, "topics to consume (comma-separated in the environment; --topic repeats)"},
    {"kafka.group", T_STRING, F(group), 0, 0, 0, NULL, "CXPULSE_GROUP", "--group", 0, "cxpulse",
     "consumer group id: processes with the same group share the partitions"},
    {"kafka.auto_offset_reset", T_STRING, F(auto_offset_reset), 0, 0, 0, "earliest|latest",
     "CXPULSE_AUTO_OFFSET_RESET", NULL, 0, "earliest",
     "where a partition with no offset stored in PostgreSQL starts (latest: its end when the "
     "group is first assigned it, stored then, so a restart before the first batch is stored "
     "starts there again; if the end cannot be had within 10 s, e.g. its leader is down, the "
     "partition starts at its end when fetching begins, with a warning, and that is not "
     "stored). A stored offset is always read on from: if retention deleted messages there "
     "before they were read, from the oldest message held, with a warning naming how many "
     "were lost; past the partition's end, `run` stops (`docs/schema.md`, "
     "`cx.consumer_offsets`)"},
    {"kafka.properties", T_PROPS, F(kafka_properties), 0, 0, 0, NULL, NULL, NULL, 0, NULL,
     "librdkafka properties passed through as they are (TLS, SASL, timeouts); \"NAME_env\": "
     "\"VAR\" sets NAME from the environment variable VAR. Not those cxpulse sets: "
     "bootstrap.servers, group.id, auto.offset.reset, enable.auto.commit, ... (\"Kafka "
     "properties\" above)"},
    {"batch.max_messages", T_INT, F(batch_max_messages), 0, 1, 1000000, NULL,
     "CXPULSE_BATCH_MAX_MESSAGES", NULL, 0, CX_XSTR(CX_BATCH_MAX_MESSAGES_DEFAULT),
     "most messages in one batch (transaction)"},
    {"batch.max_ms", T_INT, F(batch_max_ms), 0, 1, 60000, NULL, "CXPULSE_BATCH_MAX_MS", NULL, 0,
     "100", "longest wait for a batch to fill, in milliseconds (a stop stores it at once)"},
    {"batch.max_bytes", T_INT, F(batch_max_bytes), 0, 65536, 1073741824, NULL,
     "CXPULSE_BATCH_MAX_BYTES", NULL, 0, "16777216",
     "message bytes at which a batch is submitted, whatever its count (its last message may "
     "pass it): large messages make smaller batches, not gigabytes held"},
    {"postgres.url", T_STRING, F(pg_url), 0, 0, 0, NULL, "CXPULSE_PG_URL", "--pg", 1, NULL,
     "PostgreSQL URL or conninfo; empty: libpq's environment (PGHOST, ...)"},
    {"postgres.synchronous_commit", T_BOOL, F(synchronous_commit), 0, 0, 0, NULL,
     "CXPULSE_PG_SYNCHRONOUS_COMMIT", NULL, 0, "true",
     "false trades the last ~0.6 s of commits on a server crash for speed: run then stops (exit 1) "
     "and, restarted, reads them again; still exactly-once. A batch that opens or updates a "
     "ticket still commits synchronously, so a ticket and its notifications, once announced, are "
     "never lost and announced again"},
    {"postgres.writers", T_INT, F(pg_writers), 0, 1, 16, NULL, "CXPULSE_PG_WRITERS", NULL, 0, "2",
     "connections writing each batch in parallel, partitions split between them"},
    {"rules.files", T_STRINGS, F(rule_files), F(n_rule_files), 0, 0, NULL, "CXPULSE_RULES",
     "--rules", 0, NULL,
     "rule files, read in order, replacing the built-in rules; \"default\" names those, so "
     "[\"default\", \"mine.json\"] adds to them (docs/rules.md); none ([] or null): the "
     "built-in rules"},
    {"rules.model", T_STRING, F(rule_model), 0, 0, 0, NULL, "CXPULSE_MODEL", "--model", 0, NULL,
     "model file from cxpulse train (docs/model.md); unset: the built-in model when the built-in "
     "rules are used (rules.files unset or naming \"default\"), else none; none: the rules "
     "alone; default: the built-in model"},
    {"signals.window_seconds", T_INTS, F(window_seconds), F(n_window_seconds), 1, 86400, NULL,
     "CXPULSE_WINDOW_SECONDS", NULL, 0, "60",
     "tumbling window sizes of cx.signals, in seconds; the smallest must divide every ticket "
     "rule's window (the built-in rules' are 15 minutes) and is the live page's step (its "
     "charts show 60 steps: the last hour with 60)"},
    {"tickets.rules", T_OBJECTS, F(ticket_rules), 0, 0, 0, NULL, NULL, NULL, 0, NULL,
     "ticket rules (docs/tickets.md); unset: the built-in defaults; [] for none"},
    {"tickets.max_age_minutes", T_INT, F(tickets_max_age_minutes), 0, 0, 525600, NULL,
     "CXPULSE_TICKETS_MAX_AGE_MINUTES", NULL, 0, CX_XSTR(CX_TICKETS_MAX_AGE_MINUTES_DEFAULT),
     "a window that ended, or an event dated, longer ago than this by PostgreSQL's clock "
     "opens and updates no ticket (history being read); 0: any age"},
    {"http.listen", T_STRING, F(http_listen), 0, 0, 0, NULL, "CXPULSE_HTTP", "--http", 0,
     "127.0.0.1:9464", "metrics, health and live page address, or off"},
    {"log.level", T_STRING, F(log_level), 0, 0, 0, "debug|info|warn|error", "CXPULSE_LOG_LEVEL",
     "--log-level", 0, "info", "least severe level logged"},
    {"alerts.receivers", T_OBJECTS, F(alert_receivers), 0, 0, 0, NULL, NULL, NULL, 0, NULL,
     "where tickets are delivered: {name, kind: alertmanager|webhook|slack, url, secret} "
     "(docs/alerts.md)"},
    {"alerts.routes", T_OBJECTS, F(alert_routes), 0, 0, 0, NULL, NULL, NULL, 0, NULL,
     "which receivers get a ticket: {owner, category, rule, receivers}, the first match wins; "
     "none: every receiver"},
    {"alerts.page_url", T_STRING, F(alerts_page_url), 0, 0, 0, NULL, "CXPULSE_PAGE_URL", NULL, 3,
     NULL, "the live page's public address, linked from alerts and messages"},
    {"alerts.alertmanager", T_STRING, F(alerts_alertmanager), 0, 0, 0, NULL, "CXPULSE_ALERTMANAGER",
     "--alertmanager", 3, NULL, "shortcut: every ticket goes to this Alertmanager (base URL)"},
    {"alerts.webhook", T_STRING, F(alerts_webhook), 0, 0, 0, NULL, "CXPULSE_WEBHOOK", "--webhook",
     4, NULL, "shortcut: every ticket transition is posted to this URL"},
    {"alerts.webhook_secret", T_STRING, F(alerts_webhook_secret), 0, 0, 0, NULL,
     "CXPULSE_WEBHOOK_SECRET", NULL, 2, NULL,
     "HMAC-SHA256 key signing the shortcut webhook's requests"},
    {"alerts.timeout_ms", T_INT, F(alerts_timeout_ms), 0, 100, 120000, NULL, NULL, NULL, 0, "5000",
     "longest time one delivery may take (connecting included), in milliseconds"},
    {"alerts.retry_min_ms", T_INT, F(alerts_retry_min_ms), 0, 10, 3600000, NULL, NULL, NULL, 0,
     "1000", "first retry delay after a failed delivery; doubles with each attempt"},
    {"alerts.retry_max_ms", T_INT, F(alerts_retry_max_ms), 0, 10, 86400000, NULL, NULL, NULL, 0,
     "300000", "longest retry delay"},
    {"alerts.resend_seconds", T_INT, F(alerts_resend_seconds), 0, 1, 3600, NULL, NULL, NULL, 0,
     "60", "how often unresolved tickets are posted to Alertmanager again"},
    {"alerts.update_seconds", T_INT, F(alerts_update_seconds), 0, 0, 86400, NULL, NULL, NULL, 0,
     "300",
     "a ticket's updates go out at most this often, each with its latest state; 0: every one"},
    {"alerts.chat_quiet_minutes", T_INT, F(alerts_chat_quiet_minutes), 0, 0, 10080, NULL, NULL,
     NULL, 0, "60",
     "chat receivers get a ticket's update when its rule had not fired for this long before, in "
     "event time (it fired again after a quiet spell); 0: never"},
    {"alerts.poll_ms", T_INT, F(alerts_poll_ms), 0, 10, 60000, NULL, NULL, NULL, 0, "1000",
     "how often the sender looks for new notifications when idle (a batch of this process "
     "that opens or updates tickets wakes it at once; this paces the rest: other processes' "
     "tickets, owners' changes, retries and updates held back coming due)"},
};

#define FIELD(cfg, off, type) ((type *)((char *)(cfg) + (off)))

static const setting *find(const char *key)
{
    for (size_t i = 0; i < CX_ARRAY_LEN(settings); i++)
        if (strcmp(settings[i].key, key) == 0)
            return &settings[i];
    return NULL;
}

/* " (did you mean "<key>"?)" for the setting within two edits of key, else
 * one whose last part is key's ("topics" for "kafka.topics"), into buf; ""
 * if none: what a typo or a setting in the wrong section meant. */
static const char *suggestion(const char *key, char *buf, size_t len)
{
    cx_typo t = CX_TYPO_INIT(key);
    for (size_t i = 0; i < CX_ARRAY_LEN(settings); i++)
        cx_typo_offer(&t, settings[i].key);
    const char *last = strrchr(key, '.');
    last = last ? last + 1 : key;
    for (size_t i = 0; i < CX_ARRAY_LEN(settings) && t.best == NULL; i++) {
        const char *k = strrchr(settings[i].key, '.');
        if (k != NULL && strcmp(k + 1, last) == 0)
            t.best = settings[i].key;
    }
    return cx_typo_hint(&t, 1, buf, len);
}

void cx_config_offer_flags(cx_typo *t)
{
    for (size_t i = 0; i < CX_ARRAY_LEN(settings); i++)
        cx_typo_offer(t, settings[i].flag);
    cx_typo_offer(t, "--config");
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

void cx_config_free(cx_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < CX_ARRAY_LEN(settings); i++) {
        const setting *s = &settings[i];
        switch (s->type) {
        case T_STRING:
            free(*FIELD(cfg, s->off, char *));
            break;
        case T_STRINGS:
            free_list(*FIELD(cfg, s->off, char **), *FIELD(cfg, s->count_off, size_t));
            break;
        case T_INTS:
            free(*FIELD(cfg, s->off, int *));
            break;
        case T_PROPS:
        case T_OBJECTS:
            json_decref(*FIELD(cfg, s->off, json_t *));
            break;
        case T_INT:
        case T_BOOL:
            break;
        }
    }
    json_decref(cfg->origins);
    free(cfg);
}

/* A JSON number as a whole number: 7000, 7e3 and 7000.0 alike, since JSON
 * does not tell them apart (jansson reads the last two as reals). A whole real
 * beyond long long's range is clamped, which the range checks then refuse;
 * *text gets the number as written, for those messages. 0: not whole. */
static int whole_number(const json_t *v, long long *out, char *text, size_t textlen)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        snprintf(text, textlen, "%lld", *out);
        return 1;
    }
    if (!json_is_real(v))
        return 0;
    double d = json_real_value(v);
    snprintf(text, textlen, "%.15g", d);
    if (d >= 9.2e18 || d <= -9.2e18) {
        *out = d > 0 ? LLONG_MAX : LLONG_MIN;
        return 1;
    }
    *out = (long long)d;
    return (double)*out == d;
}

/* Sets s from a JSON value; `where` prefixes errors (file name or "flag --x"). */
static cx_status set_json(cx_config *cfg, const setting *s, const json_t *v, const char *where,
                          int append, char *err, size_t errlen)
{
#define BAD(...)                                                                                   \
    do {                                                                                           \
        char why_[256];                                                                            \
        snprintf(why_, sizeof why_, __VA_ARGS__);                                                  \
        return cx_errf(err, errlen, CX_ERR_CONFIG, "%s%s\"%s\": %s", where ? where : "",           \
                       where ? ": " : "", s->key, why_);                                           \
    } while (0)
    /* null: unset, as `config --print` shows a setting with no value */
    if (json_is_null(v) && s->dflt == NULL &&
        (s->type == T_STRING || s->type == T_PROPS || s->type == T_OBJECTS)) {
        if (s->type == T_STRING) {
            free(*FIELD(cfg, s->off, char *));
            *FIELD(cfg, s->off, char *) = NULL;
        } else {
            json_decref(*FIELD(cfg, s->off, json_t *));
            *FIELD(cfg, s->off, json_t *) = NULL;
        }
        return CX_OK;
    }
    switch (s->type) {
    case T_STRING: {
        if (!json_is_string(v))
            BAD("must be a string");
        const char *str = json_string_value(v);
        if (s->choices != NULL) { /* one of the |-separated words, whole */
            size_t n = strlen(str);
            int found = 0;
            for (const char *c = s->choices; !found && *c; c += *c == '|') {
                size_t w = strcspn(c, "|");
                found = w == n && strncmp(c, str, n) == 0;
                c += w;
            }
            char shown[128];
            if (!found)
                BAD("\"%s\" is not one of %s", cx_config_shown(str, shown, sizeof shown),
                    s->choices);
        }
        char *copy = strdup(str);
        if (copy == NULL)
            return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
        free(*FIELD(cfg, s->off, char *));
        *FIELD(cfg, s->off, char *) = copy;
        return CX_OK;
    }
    case T_INT: {
        long long x;
        char text[32];
        if (!whole_number(v, &x, text, sizeof text))
            BAD("must be a whole number");
        if (x < s->min)
            BAD("%s is below the minimum %ld", text, s->min);
        if (x > s->max)
            BAD("%s is above the maximum %ld", text, s->max);
        *FIELD(cfg, s->off, int) = (int)x;
        return CX_OK;
    }
    case T_BOOL:
        if (!json_is_boolean(v))
            BAD("must be true or false");
        *FIELD(cfg, s->off, int) = json_is_true(v);
        return CX_OK;
    case T_STRINGS: {
        char ***list = FIELD(cfg, s->off, char **);
        size_t *n = FIELD(cfg, s->count_off, size_t);
        if (!json_is_array(v) && !json_is_null(v)) /* null: none, as [] */
            BAD("must be an array of strings");
        if (!append) {
            free_list(*list, *n);
            *list = NULL;
            *n = 0;
        }
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e) || json_string_length(e) == 0)
                BAD("element %zu must be a non-empty string", i);
            char **grown = realloc(*list, (*n + 1) * sizeof **list);
            if (grown == NULL || (grown[*n] = strdup(json_string_value(e))) == NULL) {
                if (grown != NULL)
                    *list = grown;
                return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
            }
            *list = grown;
            (*n)++;
        }
        return CX_OK;
    }
    case T_INTS: {
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 16)
            BAD("must be an array of 1 to 16 whole numbers");
        int *vals = calloc(json_array_size(v), sizeof *vals);
        if (vals == NULL)
            return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
        {
            long long x;
            char text[32];
            const char *why = !whole_number(e, &x, text, sizeof text) ? "is not a whole number"
                              : x < s->min || x > s->max              ? "is out of range"
                                                                      : NULL;
            for (size_t j = 0; why == NULL && j < i; j++)
                if (vals[j] == x)
                    why = "is listed twice";
            if (why != NULL) {
                free(vals);
                BAD("element %zu %s (allowed %ld..%ld, each once)", i, why, s->min, s->max);
            }
            vals[i] = (int)x;
        }
        free(*FIELD(cfg, s->off, int *));
        *FIELD(cfg, s->off, int *) = vals;
        *FIELD(cfg, s->count_off, size_t) = json_array_size(v);
        return CX_OK;
    }
    case T_PROPS: {
        if (!json_is_object(v))
            BAD("must be an object of librdkafka properties");
        json_t *props = json_object();
        const char *k;
        const json_t *e;
        json_object_foreach((json_t *)v, k, e)
        {
            char buf[64];
            const char *val = json_string_value(e);
            if (json_is_integer(e)) {
                snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(e));
                val = buf;
            } else if (json_is_real(e)) { /* 0.5, and 45000.0 as 45000 */
                snprintf(buf, sizeof buf, "%.15g", json_real_value(e));
                val = buf;
            } else if (json_is_boolean(e)) {
                val = json_is_true(e) ? "true" : "false";
            }
            if (val == NULL) {
                json_decref(props);
                BAD("property \"%s\" must be a string, number or boolean", k);
            }
            json_object_set_new(props, k, json_string(val));
        }
        json_decref(*FIELD(cfg, s->off, json_t *));
        *FIELD(cfg, s->off, json_t *) = props;
        return CX_OK;
    }
    case T_OBJECTS: {
        size_t i;
        const json_t *e;
        if (!json_is_array(v))
            BAD("must be an array of objects");
        json_array_foreach(v, i, e) if (!json_is_object(e)) BAD("element %zu must be an object", i);
        json_decref(*FIELD(cfg, s->off, json_t *));
        *FIELD(cfg, s->off, json_t *) = json_deep_copy(v);
        return CX_OK;
    }
    }
#undef BAD
    return CX_OK;
}

/* Remembers what gave s its value (where; NULL: cxpulse itself), for
 * cx_config_validate_run()'s messages. */
static void note_origin(cx_config *cfg, const setting *s, const char *where)
{
    if (cfg->origins == NULL)
        cfg->origins = json_object();
    if (cfg->origins == NULL)
        return; /* out of memory: messages say less */
    if (where != NULL)
        json_object_set_new(cfg->origins, s->key, json_string(where));
    else
        json_object_del(cfg->origins, s->key);
}

/* The error for a value of setting key, given in where, that is not UTF-8. */
static cx_status not_utf8(const char *where, const char *key, char *err, size_t errlen)
{
    return cx_errf(err, errlen, CX_ERR_CONFIG,
                   "%s%s\"%s\": not UTF-8 text (is the terminal or file in another encoding?)",
                   where ? where : "", where ? ": " : "", key);
}

/* Sets s from its text form (a flag's or a variable's); where: what gave it,
 * for messages ("--group", "environment CXPULSE_GROUP"), or NULL. */
static cx_status set_text(cx_config *cfg, const setting *s, const char *value, const char *where,
                          char *err, size_t errlen)
{
    const char *key = s->key;
    json_t *v = NULL;
    if (!cx_utf8_valid(value, strlen(value))) /* json_string() would take it for no string */
        return not_utf8(where, key, err, errlen);
    switch (s->type) {
    case T_STRING:
        v = json_string(value);
        break;
    case T_INT:
    case T_BOOL:
    case T_PROPS:
    case T_OBJECTS: {
        json_error_t jerr = {0};
        v = json_loads(value, JSON_DECODE_ANY, &jerr);
        char shown[256];
        /* what is expected, as set_json() would say it of a JSON value */
        char want[96] = "is not a valid value";
        if (s->type == T_INT)
            snprintf(want, sizeof want, "is not a whole number from %ld to %ld", s->min, s->max);
        else if (s->type == T_BOOL)
            snprintf(want, sizeof want, "is not true or false");
        if (v == NULL || (s->type == T_INT && !json_is_number(v)) ||
            (s->type == T_BOOL && !json_is_boolean(v))) {
            json_decref(v);
            return cx_errf(err, errlen, CX_ERR_CONFIG, "%s%s\"%s\": \"%s\" %s", where ? where : "",
                           where ? ": " : "", key, cx_config_shown(value, shown, sizeof shown),
                           want);
        }
        break;
    }
    case T_STRINGS:
    case T_INTS: {
        v = json_array();
        char *copy = strdup(value), *save = NULL;
        for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok != NULL;
             tok = strtok_r(NULL, ",", &save)) {
            /* "a, b", "a ,b" and a CRLF env file's "b\r" mean a and b */
            while (*tok == ' ' || *tok == '\t')
                tok++;
            for (size_t n = strlen(tok); n > 0 && strchr(" \t\r\n", tok[n - 1]); n--)
                tok[n - 1] = '\0';
            if (s->type == T_INTS) {
                char *end;
                long long x = strtoll(tok, &end, 10);
                json_array_append_new(v, *end == '\0' && end != tok ? json_integer(x)
                                                                    : json_string(tok));
            } else {
                json_array_append_new(v, json_string(tok));
            }
        }
        free(copy);
        break;
    }
    }
    cx_status st = set_json(cfg, s, v, where, 0, err, errlen);
    json_decref(v);
    if (st == CX_OK)
        note_origin(cfg, s, where);
    return st;
}

cx_status cx_config_set(cx_config *cfg, const char *key, const char *value, char *err,
                        size_t errlen)
{
    const setting *s = find(key);
    char hint[160];
    if (s == NULL)
        return cx_errf(err, errlen, CX_ERR_CONFIG, "unknown setting \"%s\"%s", key,
                       suggestion(key, hint, sizeof hint));
    cx_status st = set_text(cfg, s, value, s->flag, err, errlen);
    if (st == CX_OK) /* a value set by cxpulse itself came from no one */
        note_origin(cfg, s, NULL);
    return st;
}

cx_config *cx_config_new(void)
{
    cx_config *cfg = calloc(1, sizeof *cfg);
    char err[256];
    if (cfg == NULL)
        return NULL;
    for (size_t i = 0; i < CX_ARRAY_LEN(settings); i++)
        if (settings[i].dflt != NULL &&
            cx_config_set(cfg, settings[i].key, settings[i].dflt, err, sizeof err) != CX_OK) {
            cx_config_free(cfg);
            return NULL;
        }
    json_decref(cfg->origins); /* the defaults came from no one */
    cfg->origins = NULL;
    return cfg;
}

/* Makes the relative path *file relative to the folder of path (which ends at slash). */
static cx_status in_folder_of(const char *path, const char *slash, char **file, char *err,
                              size_t errlen)
{
    if ((*file)[0] == '/')
        return CX_OK;
    size_t n = (size_t)(slash - path) + strlen(*file) + 2;
    char *full = malloc(n);
    if (full == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
    snprintf(full, n, "%.*s/%s", (int)(slash - path), path, *file);
    free(*file);
    *file = full;
    return CX_OK;
}

/* Rule files and the model file that a configuration file names (s, just set
 * from it) are relative to its folder (path NULL: a file that is not in one,
 * /dev/stdin say: to the current folder); those set before, by another file,
 * stay. */
static cx_status relative_to(cx_config *cfg, const setting *s, const char *path, char *err,
                             size_t errlen)
{
    const char *slash = path != NULL ? strrchr(path, '/') : NULL;
    cx_status st = CX_OK;
    if (slash != NULL && strcmp(s->key, "rules.files") == 0) {
        for (size_t i = 0; st == CX_OK && i < cfg->n_rule_files; i++)
            if (strcmp(cfg->rule_files[i], CX_CLASSIFIER_BUILTIN) != 0)
                st = in_folder_of(path, slash, &cfg->rule_files[i], err, errlen);
    } else if (slash != NULL && strcmp(s->key, "rules.model") == 0 && cfg->rule_model != NULL &&
               strcmp(cfg->rule_model, "none") != 0 &&
               strcmp(cfg->rule_model, CX_CLASSIFIER_BUILTIN) != 0) {
        st = in_folder_of(path, slash, &cfg->rule_model, err, errlen);
    }
    return st;
}

/* What a file sets while it is read: a setting it names twice (as
 * "kafka.brokers" and inside "kafka") is a mistake, not a choice of the later. */
typedef struct file_read {
    const char *file; /* for messages */
    const char *base; /* where its relative paths start, or NULL (relative_to) */
    const setting *set[CX_ARRAY_LEN(settings)];
    size_t n_set;
} file_read;

/* Walks a JSON object, matching dotted paths against the table. */
static cx_status apply_object(cx_config *cfg, const json_t *obj, const char *prefix, file_read *fr,
                              char *err, size_t errlen)
{
    const char *file = fr->file;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        char key[128];
        snprintf(key, sizeof key, "%s%s%s", prefix, prefix[0] ? "." : "", k);
        const setting *s = find(key);
        if (s != NULL) {
            for (size_t i = 0; i < fr->n_set; i++)
                if (fr->set[i] == s)
                    return cx_errf(err, errlen, CX_ERR_CONFIG,
                                   "%s: \"%s\" is set twice (once as a dotted key, once inside "
                                   "its section)",
                                   file, key);
            fr->set[fr->n_set++] = s;
            cx_status st = set_json(cfg, s, v, file, 0, err, errlen);
            if (st == CX_OK)
                st = relative_to(cfg, s, fr->base, err, errlen);
            if (st == CX_OK)
                note_origin(cfg, s, file);
            if (st != CX_OK)
                return st;
            continue;
        }
        size_t n = strlen(key);
        int is_prefix = 0;
        for (size_t i = 0; i < CX_ARRAY_LEN(settings); i++)
            is_prefix |= strncmp(settings[i].key, key, n) == 0 && settings[i].key[n] == '.';
        char hint[160];
        if (is_prefix && !json_is_object(v))
            return cx_errf(err, errlen, CX_ERR_CONFIG,
                           "%s: \"%s\": a section of settings, must be a JSON object"
                           " ({\"%s\": {...}})",
                           file, key, k);
        if (!is_prefix)
            return cx_errf(err, errlen, CX_ERR_CONFIG, "%s: \"%s\": unknown setting%s", file, key,
                           suggestion(key, hint, sizeof hint));
        cx_status st = apply_object(cfg, v, key, fr, err, errlen);
        if (st != CX_OK)
            return st;
    }
    return CX_OK;
}

cx_status cx_config_load_file(cx_config *cfg, const char *path, char *err, size_t errlen)
{
    json_error_t jerr = {0};
    FILE *f = cx_open_read(path);
    if (f == NULL)
        return cx_errf(err, errlen, CX_ERR_CONFIG, "%s: cannot open: %s", path, strerror(errno));
    /* a byte order mark some editors write is passed over, as RFC 8259 allows */
    int c = fgetc(f);
    if (c != 0xEF) {
        ungetc(c, f);
    } else if (fgetc(f) != 0xBB || fgetc(f) != 0xBF) { /* no JSON text starts so */
        fclose(f);
        return cx_errf(err, errlen, CX_ERR_CONFIG, "%s:1:1: not UTF-8 JSON (byte 0xEF)", path);
    }
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    int bad = ferror(f), why = errno;
    struct stat st_f;
    int regular = fstat(fileno(f), &st_f) == 0 && S_ISREG(st_f.st_mode);
    fclose(f);
    if (bad)
        return cx_errf(err, errlen, CX_ERR_CONFIG, "%s: cannot read: %s", path, strerror(why));
    if (root == NULL) {
        /* the place, not jansson's quote of the text there: it may be a secret */
        char *near = strstr(jerr.text, " near '");
        if (near != NULL)
            *near = '\0';
        return cx_errf(err, errlen, CX_ERR_CONFIG, "%s:%d:%d: %s", path, jerr.line, jerr.column,
                       jerr.text);
    }
    file_read fr = {.file = path, .base = regular ? path : NULL};
    cx_status st = json_is_object(root)
                       ? apply_object(cfg, root, "", &fr, err, errlen)
                       : cx_errf(err, errlen, CX_ERR_CONFIG, "%s: must be a JSON object", path);
    json_decref(root);
    return st;
}

extern char **environ;

cx_status cx_config_check_env(char *err, size_t errlen)
{
    /* A variable a letter or two from a setting's is a typo that would
     * otherwise be ignored without a word (other CXPULSE_ names are left be). */
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        char name[128];
        if (strncmp(*e, "CXPULSE_", 8) != 0 || eq == NULL || (size_t)(eq - *e) >= sizeof name)
            continue;
        memcpy(name, *e, (size_t)(eq - *e));
        name[eq - *e] = '\0';
        cx_typo t = CX_TYPO_INIT(name);
        for (size_t i = 0; i < CX_ARRAY_LEN(settings); i++)
            cx_typo_offer(&t, settings[i].env);
        char hint[160];
        if (t.best != NULL && t.distance > 0)
            return cx_errf(err, errlen, CX_ERR_CONFIG, "environment %s: not a setting%s", name,
                           cx_typo_hint(&t, 0, hint, sizeof hint));
    }
    return CX_OK;
}

const char *cx_config_getenv(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

cx_status cx_config_apply_env_of(cx_config *cfg, const char *const *keys, size_t n, char *err,
                                 size_t errlen)
{
    cx_status st = CX_OK;
    for (size_t i = 0; i < CX_ARRAY_LEN(settings); i++) {
        const char *v = settings[i].env ? cx_config_getenv(settings[i].env) : NULL;
        size_t k = 0;
        while (keys != NULL && k < n && strcmp(keys[k], settings[i].key) != 0)
            k++;
        if (v == NULL || (keys != NULL && k == n))
            continue;
        char where[96];
        snprintf(where, sizeof where, "environment %s", settings[i].env);
        if ((st = set_text(cfg, &settings[i], v, where, err, errlen)) != CX_OK)
            return st;
    }
    return CX_OK;
}

cx_status cx_config_apply_env(cx_config *cfg, char *err, size_t errlen)
{
    cx_status st = cx_config_check_env(err, errlen);
    return st != CX_OK ? st : cx_config_apply_env_of(cfg, NULL, 0, err, errlen);
}

void cx_config_warn_flag_secret(const char *flag, const char *value)
{
    const setting *s = NULL;
    for (size_t k = 0; k < CX_ARRAY_LEN(settings); k++)
        if (settings[k].flag && strcmp(flag, settings[k].flag) == 0)
            s = &settings[k];
    if (s == NULL || value == NULL)
        return;
    char masked[1024];
    int secret = 0;
    if (s->off == F(pg_url)) {
        cx_pg_conninfo_mask(value, masked, sizeof masked);
        secret = strstr(masked, "password=****") != NULL;
    } else if (s->off == F(alerts_webhook) || s->off == F(alerts_alertmanager)) {
        secret = strstr(cx_config_shown(value, masked, sizeof masked), "****") != NULL;
    }
    if (secret)
        cx_log(CX_LOG_WARN, "config",
               "%s holds a password or token, which every local user can read in the process "
               "list (ps): give it in %s%s instead",
               s->flag, s->env,
               s->off == F(pg_url) ? ", PGPASSWORD or ~/.pgpass" : " or the configuration file");
}

cx_status cx_config_parse_cli(cx_config *cfg, int argc, char **argv, char **rest,
                              int *n_rest, char *err, size_t errlen)
{
    cx_status st;
    *n_rest = 0;
    /* The file first, then the environment, then the flags. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc)
                return cx_errf(err, errlen, CX_ERR_USAGE, "--config needs a file");
            if ((st = cx_config_load_file(cfg, argv[i + 1], err, errlen)) != CX_OK)
                return st;
        }
    if ((st = cx_config_apply_env(cfg, err, errlen)) != CX_OK)
        return st;
    int seen_topic = 0, seen_rules = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            i++;
            continue;
        }
        const setting *s = NULL;
        for (size_t k = 0; k < CX_ARRAY_LEN(settings); k++)
            if (settings[k].flag && strcmp(argv[i], settings[k].flag) == 0)
                s = &settings[k];
        if (s == NULL) {
            rest[(*n_rest)++] = argv[i];
            continue;
        }
        if (i + 1 >= argc)
            return cx_errf(err, errlen, CX_ERR_USAGE, "%s needs a value", argv[i]);
        const char *value = argv[++i];
        if (s->type == T_STRINGS) {
            /* Repeated list flags add up; the first replaces file and environment. */
            int *seen = s->off == F(topics) ? &seen_topic : &seen_rules;
            if (!cx_utf8_valid(value, strlen(value)))
                return not_utf8(s->flag, s->key, err, errlen);
            json_t *one = json_pack("[s]", value);
            st = set_json(cfg, s, one, s->flag, (*seen)++ > 0, err, errlen);
            json_decref(one);
        } else {
            st = set_text(cfg, s, value, s->flag, err, errlen);
        }
        if (st != CX_OK)
            return st;
        note_origin(cfg, s, s->flag);
        cx_config_warn_flag_secret(s->flag, value);
    }
    return CX_OK;
}

int cx_config_base_window(const cx_config *cfg)
{
    int w = 0;
    for (size_t i = 0; i < cfg->n_window_seconds; i++)
        if (w == 0 || cfg->window_seconds[i] < w)
            w = cfg->window_seconds[i];
    return w > 0 ? w : 60;
}

/* Whether a property's value is a secret, shown as **** wherever it is shown. */
static int secret_property(const char *k)
{
    return strstr(k, "password") || strstr(k, "secret") || strstr(k, "sasl.oauthbearer.config") ||
           strstr(k, "sasl.oauthbearer.extensions") || strstr(k, "ssl.key.pem") ||
           strstr(k, "ssl_key") ||
           strstr(k, "jaas"); /* a Java client's sasl.jaas.config holds the password */
}

/* Whether a key names an environment variable holding the value ("secret_env",
 * "sasl.password_env"), not the value itself. */
static int names_a_variable(const char *key)
{
    size_t len = strlen(key);
    return len > 4 && strcmp(key + len - 4, "_env") == 0;
}

/* Properties cxpulse sets itself (ingest/consumer.c, base[]): a value of the
 * user's would quietly change what the rest of the configuration says (the
 * group the offsets in PostgreSQL are kept for, where a partition starts, who
 * stores offsets). */
static const char *const owned_properties[][2] = {
    {"bootstrap.servers", "set \"kafka.brokers\" instead"},
    {"metadata.broker.list", "set \"kafka.brokers\" instead"},
    {"group.id", "set \"kafka.group\" instead"},
    {"auto.offset.reset",
     "set \"kafka.auto_offset_reset\" instead (an offset retention deleted unread is always "
     "read on from the oldest message held)"},
    {"enable.auto.commit", "offsets are stored in PostgreSQL with each batch"},
    {"enable.auto.offset.store", "offsets are stored in PostgreSQL with each batch"},
    {"enable.partition.eof", "cxpulse does not read partitions' ends as messages"},
    {"isolation.level",
     "cxpulse reads transactional producers' messages once committed (read_committed), never "
     "an aborted transaction's"},
};

/* Whether s begins with a number, spaces aside ("45", "-1", "1e3", not
 * "nan"): *x its value, *rest what follows it (spaces skipped). */
static int leading_number(const char *s, double *x, const char **rest)
{
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s) && (*s == '\0' || strchr("+-.", *s) == NULL))
        return 0;
    char *end;
    *x = strtod(s, &end);
    if (end == s || isnan(*x) || isinf(*x))
        return 0;
    while (isspace((unsigned char)*end))
        end++;
    *rest = end;
    return 1;
}

const char *cx_config_kafka_property(const cx_config *cfg, const char *name)
{
    const char *v = json_string_value(json_object_get(cfg->kafka_properties, name));
    char key[256];
    snprintf(key, sizeof key, "%s_env", name);
    const char *var = json_string_value(json_object_get(cfg->kafka_properties, key));
    return v != NULL ? v : var != NULL ? cx_config_getenv(var) : NULL;
}

cx_status cx_config_kafka_properties(const cx_config *cfg, const char ***out, size_t *n, char *err,
                                     size_t errlen)
{
    *out = NULL;
    *n = cfg->kafka_properties ? json_object_size(cfg->kafka_properties) : 0;
    size_t names = 0;
    const char *key;
    json_t *val;
    json_object_foreach(cfg->kafka_properties, key, val) names += strlen(key) + 1;
    /* the pairs, then the names of NAME_env properties without their _env */
    const char **kv = malloc(2 * *n * sizeof *kv + names + 1);
    if (kv == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
    char *name = (char *)(kv + 2 * *n);
    size_t i = 0;
    json_object_foreach(cfg->kafka_properties, key, val)
    {
        const char *k = key, *v = json_string_value(val); /* key walks the object */
        size_t len = strlen(key);
        if (names_a_variable(key)) {
            memcpy(name, key, len - 4);
            name[len - 4] = '\0';
            const char *var = v;
            cx_status st = CX_OK;
            if (json_object_get(cfg->kafka_properties, name) != NULL)
                st = cx_errf(err, errlen, CX_ERR_CONFIG,
                             "\"kafka.properties\": \"%s\" and \"%s\" are both set: keep one", name,
                             key);
            else if ((v = cx_config_getenv(var)) == NULL)
                st = cx_errf(err, errlen, CX_ERR_CONFIG,
                             "\"kafka.properties\": \"%s\" names the environment variable %s, "
                             "which is not set or empty",
                             key, var);
            if (st != CX_OK) {
                free(kv);
                return st;
            }
            k = name;
            name += len - 3;
        }
        kv[i++] = k;
        kv[i++] = v;
    }
    *out = kv;
    return CX_OK;
}

/* librdkafka's own check of each kafka.properties entry (name and value), as
 * the consumer will set them: config --check sees what run would refuse. And
 * ours: none that cxpulse sets itself, no number with words after it. */
static cx_status check_kafka_properties(const cx_config *cfg, char *err, size_t errlen)
{
    const char **kv;
    size_t n;
    cx_status st = cx_config_kafka_properties(cfg, &kv, &n, err, errlen);
    if (st != CX_OK || n == 0) {
        free(kv);
        return st;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf == NULL) {
        free(kv);
        return cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
    }
    char why[512], back[512];
    for (size_t i = 0; st == CX_OK && i < n; i++) {
        const char *key = kv[2 * i], *v = kv[2 * i + 1];
        for (size_t k = 0; k < CX_ARRAY_LEN(owned_properties); k++)
            if (strcmp(key, owned_properties[k][0]) == 0)
                st = cx_errf(err, errlen, CX_ERR_CONFIG,
                             "kafka property \"%s\" is set by cxpulse: %s", key,
                             owned_properties[k][1]);
        if (st != CX_OK)
            break;
        if (rd_kafka_conf_set(conf, key, v, why, sizeof why) != RD_KAFKA_CONF_OK) {
            st = cx_errf(err, errlen, CX_ERR_CONFIG, "kafka property \"%s\": %s", key, why);
            break;
        }
        /* librdkafka reads a number's leading digits and drops the rest:
         * "45 s" is 45, milliseconds for session.timeout.ms, and "1e3" is 1.
         * What it reads otherwise ("all" for acks -1) is its business. */
        size_t blen = sizeof back;
        double want, got;
        const char *rest, *back_rest;
        if (rd_kafka_conf_get(conf, key, back, &blen) == RD_KAFKA_CONF_OK && strcmp(back, v) != 0 &&
            leading_number(v, &want, &rest) &&
            (*rest != '\0' ||
             (leading_number(back, &got, &back_rest) && *back_rest == '\0' && got != want))) {
            char shown[256];
            int secret = secret_property(key);
            st = cx_errf(err, errlen, CX_ERR_CONFIG,
                         "kafka property \"%s\": \"%s\" would be read as %s: write the number "
                         "alone (its unit is the property's: .ms milliseconds, .bytes bytes)",
                         key, secret ? "****" : cx_config_shown(v, shown, sizeof shown),
                         secret ? "****" : back);
        }
    }
    rd_kafka_conf_destroy(conf);
    free(kv);
    return st;
}

/*
 * What is wrong with one entry of kafka.brokers, b[n] (spaces around it
 * trimmed), read as librdkafka 2.0.2 reads it (rd_kafka_broker_name_parse):
 * [PROTOCOL://]HOST[:PORT][/anything], the protocol that of security.protocol
 * (proto), an IPv6 HOST bare or in brackets, an empty HOST localhost. Stricter
 * where librdkafka would take the entry and never connect: a port that is not
 * 1..65535 in digits, a space, tab or ';' inside. NULL when nothing is.
 */
static const char *broker_wrong(const char *b, size_t n, const char *proto, char *why,
                                size_t whylen)
{
    const char *end = b + n, *sep = NULL;
    for (const char *p = b; p < end; p++)
        if (*p == ' ' || *p == '\t')
            return "a space inside it";
        else if (*p == ';')
            return "a ';' inside it (separate brokers with commas)";
    for (const char *p = b; sep == NULL && p + 3 <= end; p++)
        if (memcmp(p, "://", 3) == 0)
            sep = p;
    if (sep != NULL) {
        static const char *const known[] = {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl"};
        size_t len = (size_t)(sep - b), i = 0;
        while (i < CX_ARRAY_LEN(known) &&
               !(len == strlen(known[i]) && strncasecmp(b, known[i], len) == 0))
            i++;
        if (i == CX_ARRAY_LEN(known))
            return "librdkafka reads PLAINTEXT://, SSL://, SASL_PLAINTEXT:// or SASL_SSL:// "
                   "there, or no protocol";
        if (strlen(proto) != len || strncasecmp(b, proto, len) != 0) {
            snprintf(why, whylen,
                     "its protocol must be kafka.properties' security.protocol (%s) or left out",
                     proto);
            return why;
        }
        b = sep + 3;
        const char *path = memchr(b, '/', (size_t)(end - b)); /* librdkafka drops it */
        if (path != NULL)
            end = path;
    }
    const char *first = memchr(b, ':', (size_t)(end - b)), *last = NULL;
    for (const char *p = b; p < end; p++)
        if (*p == ':')
            last = p;
    if (last == NULL || (last != first && last[-1] != ']'))
        return NULL; /* no port (9092), or a bare IPv6 address */
    long port = 0;
    const char *p = last + 1;
    while (p < end && *p >= '0' && *p <= '9' && port <= 65535)
        port = port * 10 + (*p++ - '0');
    return p == end && p > last + 1 && port >= 1 && port <= 65535 ? NULL
                                                                  : "its port is not 1 to 65535";
}

/* cx_config_validate_run() but for the origin; *key: the setting refused. */
static cx_status validate_run(const cx_config *cfg, const char **key, char *err, size_t errlen)
{
    *key = "kafka.brokers";
    if (cfg->brokers == NULL || cfg->brokers[0] == '\0')
        return cx_errf(err, errlen, CX_ERR_CONFIG,
                       "\"kafka.brokers\" is not set (--brokers or CXPULSE_BROKERS)");
    const char *proto = cx_config_kafka_property(cfg, "security.protocol");
    size_t named = 0;
    for (const char *b = cfg->brokers; *b != '\0';) {
        b += strspn(b, ", ");
        size_t n = strcspn(b, ",");
        while (n > 0 && b[n - 1] == ' ')
            n--;
        char why[160];
        const char *wrong =
            n > 0 ? broker_wrong(b, n, proto ? proto : "plaintext", why, sizeof why) : NULL;
        if (wrong != NULL) {
            char entry[256], shown[256];
            snprintf(entry, sizeof entry, "%.*s", (int)n, b);
            return cx_errf(err, errlen, CX_ERR_CONFIG,
                           "\"kafka.brokers\": \"%s\" is not [PROTOCOL://]HOST[:PORT]: %s",
                           cx_config_shown(entry, shown, sizeof shown), wrong);
        }
        named += n > 0;
        b += strcspn(b, ",");
    }
    if (named == 0)
        return cx_errf(err, errlen, CX_ERR_CONFIG,
                       "\"kafka.brokers\" names no broker (host:port, comma-separated)");
    *key = "kafka.topics";
    if (cfg->n_topics == 0)
        return cx_errf(err, errlen, CX_ERR_CONFIG,
                       "\"kafka.topics\" is empty (--topic or CXPULSE_TOPICS)");
    for (size_t i = 0; i < cfg->n_topics; i++) {
        regex_t re; /* librdkafka compiles a "^" topic as POSIX extended, refusing at subscribe */
        int rc =
            cfg->topics[i][0] == '^' ? regcomp(&re, cfg->topics[i], REG_EXTENDED | REG_NOSUB) : 0;
        if (rc != 0) {
            char shown[256], why[128];
            regerror(rc, &re, why, sizeof why);
            return cx_errf(err, errlen, CX_ERR_CONFIG,
                           "\"kafka.topics\": \"%s\" starts with ^ but is not a regular "
                           "expression (POSIX extended): %s",
                           cx_config_shown(cfg->topics[i], shown, sizeof shown), why);
        }
        if (cfg->topics[i][0] == '^')
            regfree(&re);
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->topics[i], cfg->topics[j]) == 0) {
                char shown[256];
                return cx_errf(err, errlen, CX_ERR_CONFIG,
                               "\"kafka.topics\": \"%s\" is listed twice",
                               cx_config_shown(cfg->topics[i], shown, sizeof shown));
            }
    }
    *key = "kafka.group";
    if (cfg->group == NULL || cfg->group[0] == '\0')
        return cx_errf(err, errlen, CX_ERR_CONFIG, "\"kafka.group\" must not be empty");
    *key = "kafka.properties";
    cx_status st = check_kafka_properties(cfg, err, errlen);
    if (st != CX_OK)
        return st;
    *key = "postgres.url";
    st = cx_pg_conninfo_check(cfg->pg_url, err, errlen);
    if (st != CX_OK)
        return st;
    *key = "http.listen";
    if (cfg->http_listen != NULL && strcmp(cfg->http_listen, "off") != 0 &&
        (st = cx_http_check_listen(cfg->http_listen, err, errlen)) != CX_OK)
        return st;
    *key = cfg->ticket_rules != NULL ? "tickets.rules" : "signals.window_seconds";
    cx_ticket_rules *rules;
    st = cx_ticket_rules_new(&rules, cfg->ticket_rules, cx_config_base_window(cfg), err, errlen);
    cx_ticket_rules_free(rules);
    if (st != CX_OK && cfg->ticket_rules == NULL) { /* rules nobody wrote here */
        char why[512];
        snprintf(why, sizeof why, "%s", err);
        cx_errf(err, errlen, st,
                "the built-in ticket rules (\"tickets.rules\" is not set) do not fit the signal "
                "windows: %s; set \"tickets.rules\" (\"[]\" for none) or add 60 to "
                "\"signals.window_seconds\"",
                why);
    }
    return st;
}

cx_status cx_config_validate_run(const cx_config *cfg, char *err, size_t errlen)
{
    const char *key;
    cx_status st = validate_run(cfg, &key, err, errlen);
    const json_t *from = st != CX_OK && cfg->origins ? json_object_get(cfg->origins, key) : NULL;
    if (from != NULL && err != NULL && errlen > 0) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, " (from %s)", json_string_value(from));
    }
    return st;
}

/* Whether a URL's query parameter key[n] names a credential: it contains, in
 * any case, pass, secret, token, key, sig, auth, code or credential (password=,
 * access_token=, api_key=, X-Amz-Signature=, auth=, Azure Functions' code=). */
static int secret_param(const char *key, size_t n)
{
    static const char *const words[] = {"pass", "secret", "token", "key",
                                        "sig",  "auth",   "code",  "credential"};
    char low[64];
    if (n >= sizeof low)
        n = sizeof low - 1;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)key[i]);
    low[n] = '\0';
    for (size_t i = 0; i < CX_ARRAY_LEN(words); i++)
        if (strstr(low, words[i]) != NULL)
            return 1;
    return 0;
}

/* Copies an HTTP URL into out with its user part masked (scheme://user:****@host,
 * or ****@host when a token stands alone there) and the values of query
 * parameters naming credentials (secret_param) replaced by ****. */
static void mask_url_password(const char *url, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", url);
    char tail[1024];
    char *host = strstr(out, "://");
    if (host != NULL) {
        host += 3;
        /* The user part ends at the last '@' before the query: a password may
         * hold an unencoded '@' or '/' ("cx:hunter/2@db"). An '@' in the path
         * of a URL without one ("host/in/@team") is left alone. */
        char *end = host + strcspn(host, "?#"), *at = NULL;
        for (char *c = host; c < end; c++)
            if (*c == '@')
                at = c;
        char *slash = at ? memchr(host, '/', (size_t)(at - host)) : NULL;
        char *colon = at ? memchr(host, ':', (size_t)((slash ? slash : at) - host)) : NULL;
        if (at != NULL && (slash == NULL || colon != NULL)) {
            char *from = colon != NULL && colon < at ? colon + 1 : host;
            snprintf(tail, sizeof tail, "%s", at);
            snprintf(from, outlen - (size_t)(from - out), "****%s", tail);
        }
    }
    char *q = strchr(out, '?');
    for (char *p = q ? q + 1 : NULL; p != NULL && *p != '\0' && *p != '#';) {
        size_t len = strcspn(p, "&#"), klen = strcspn(p, "=&#");
        if (klen < len && secret_param(p, klen)) {
            char *v = p + klen + 1;
            snprintf(tail, sizeof tail, "%s", p + len);
            snprintf(v, outlen - (size_t)(v - out), "****%s", tail);
            size_t shown = strlen(v); /* less than "****" when out was cut there */
            len = klen + 1 + (shown < 4 ? shown : 4);
        }
        p += len;
        p += *p == '&';
    }
}

const char *cx_config_shown(const char *arg, char *buf, size_t len)
{
    if (strstr(arg, "://") != NULL)
        mask_url_password(arg, buf, len);
    else if (strchr(arg, '=') != NULL)
        cx_pg_conninfo_mask(arg, buf, len);
    else
        snprintf(buf, len, "%s", arg);
    return cx_escape_controls(buf, len); /* one line, and nothing a terminal acts on */
}

/* Copies a webhook's URL into out, masked as mask_url_password() does and its
 * path too: Slack's, Discord's, Teams' and many others' webhook URLs hold
 * their token there (hooks.slack.com/services/T.../B.../TOKEN). */
static void mask_webhook_url(const char *url, char *out, size_t outlen)
{
    mask_url_password(url, out, outlen);
    char *host = strstr(out, "://");
    char *path = host != NULL ? host + 3 + strcspn(host + 3, "/?#") : NULL;
    if (path != NULL && *path == '/' && strchr("?#", path[1]) == NULL) { /* "/" alone stays */
        char tail[1024];
        snprintf(tail, sizeof tail, "%s", path + strcspn(path, "?#"));
        snprintf(path, outlen - (size_t)(path - out), "/****%s", tail);
    }
}

/* Receivers' secrets, passwords in URLs, and webhook URLs' paths (often the
 * token) are masked in place. */
static void mask_objects(json_t *list)
{
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o)
    {
        const char *k;
        json_t *e;
        const char *recv_kind = json_string_value(json_object_get(o, "kind"));
        int hook = recv_kind != NULL && strcmp(recv_kind, "alertmanager") != 0;
        json_object_foreach(o, k, e)
        {
            const char *str = json_string_value(e);
            if (str == NULL)
                continue;
            if (!names_a_variable(k) && (secret_property(k) || strstr(k, "token"))) {
                json_string_set(e, "****");
            } else if (strcmp(k, "url") == 0) {
                char masked[1024];
                (hook ? mask_webhook_url : mask_url_password)(str, masked, sizeof masked);
                json_string_set(e, masked);
            }
        }
    }
}

/* A rule or model file's path as --print shows it: relative ones (to the
 * current folder, as flags give them and files are made) with the current
 * folder before them, so that the output loads back from anywhere. The
 * built-in rules, "none" and a path too long for buf stay as they are. */
static const char *absolute(const char *path, char *buf, size_t len)
{
    char cwd[PATH_MAX];
    if (path[0] == '/' || strcmp(path, CX_CLASSIFIER_BUILTIN) == 0 || strcmp(path, "none") == 0 ||
        getcwd(cwd, sizeof cwd) == NULL)
        return path;
    int n = snprintf(buf, len, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, path);
    return n > 0 && (size_t)n < len ? buf : path;
}

void cx_config_print(const cx_config *cfg, FILE *out)
{
    json_t *root = json_object();
    for (size_t i = 0; i < CX_ARRAY_LEN(settings); i++) {
        const setting *s = &settings[i];
        json_t *v = NULL;
        switch (s->type) {
        case T_STRING: {
            const char *str = *FIELD(cfg, s->off, char *);
            char masked[1024];
            if (str != NULL && s->secret == 2) {
                str = str[0] ? "****" : "";
            } else if (str != NULL && (s->secret == 3 || s->secret == 4)) {
                (s->secret == 4 ? mask_webhook_url : mask_url_password)(str, masked, sizeof masked);
                str = masked;
            } else if (str != NULL && s->off == F(rule_model)) {
                str = absolute(str, masked, sizeof masked);
            } else if (str != NULL && s->secret) {
                cx_pg_conninfo_mask(str, masked, sizeof masked);
                str = masked;
            }
            v = str ? json_string(str) : json_null();
            break;
        }
        case T_INT:
            v = json_integer(*FIELD(cfg, s->off, int));
            break;
        case T_BOOL:
            v = json_boolean(*FIELD(cfg, s->off, int));
            break;
        case T_STRINGS:
            v = json_array();
            for (size_t k = 0; k < *FIELD(cfg, s->count_off, size_t); k++) {
                const char *str = (*FIELD(cfg, s->off, char **))[k];
                char full[1024];
                if (s->off == F(rule_files))
                    str = absolute(str, full, sizeof full);
                json_array_append_new(v, json_string(str));
            }
            break;
        case T_INTS:
            v = json_array();
            for (size_t k = 0; k < *FIELD(cfg, s->count_off, size_t); k++)
                json_array_append_new(v, json_integer((*FIELD(cfg, s->off, int *))[k]));
            break;
        case T_PROPS: {
            v = json_object();
            const char *k;
            json_t *e;
            json_object_foreach(*FIELD(cfg, s->off, json_t *), k, e)
            {
                char masked[1024]; /* a URL's user part: sasl.oauthbearer.token.endpoint.url */
                const char *str = json_string_value(e);
                json_t *shown;
                if (secret_property(k) && !names_a_variable(k)) {
                    shown = json_string("****");
                } else if (str != NULL && strstr(str, "://") != NULL) {
                    mask_url_password(str, masked, sizeof masked);
                    shown = json_string(masked);
                } else {
                    shown = json_copy(e);
                }
                json_object_set_new(v, k, shown);
            }
            break;
        }
        case T_OBJECTS: {
            /* Unset ticket rules are the built-in ones: print what is in effect. */
            json_t *o = *FIELD(cfg, s->off, json_t *);
            v = o                           ? json_deep_copy(o)
                : s->off == F(ticket_rules) ? json_loads(cx_ticket_rules_default_json(), 0, NULL)
                                            : NULL;
            if (v == NULL)
                v = json_array();
            mask_objects(v);
            break;
        }
        }
        json_object_set_new(root, s->key, v);
    }
    /* 15 digits: a decimal written in a file (0.8) prints as written, not as the
     * double nearest to it (0.80000000000000004) */
    json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    fputc('\n', out);
    json_decref(root);
}

/* Writes text into a Markdown table cell: a | would end the cell. */
static void put_cell(FILE *out, const char *text)
{
    for (const char *c = text; *c; c++) {
        if (*c == '|')
            fputc('\\', out);
        fputc(*c, out);
    }
}

void cx_config_print_reference(FILE *out)
{
    fprintf(out, "| key | environment | flag | default | meaning |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < CX_ARRAY_LEN(settings); i++) {
        const setting *s = &settings[i];
        fprintf(out, "| `%s` | %s%s%s | %s%s%s | %s%s%s | ", s->key, s->env ? "`" : "",
                s->env ? s->env : "", s->env ? "`" : "", s->flag ? "`" : "", s->flag ? s->flag : "",
                s->flag ? "`" : "", s->dflt ? "`" : "", s->dflt ? s->dflt : "", s->dflt ? "`" : "");
        put_cell(out, s->help);
        if (s->choices != NULL) {
            fputs(": ", out);
            put_cell(out, s->choices);
        }
        if (s->type == T_INT || s->type == T_INTS)
            fprintf(out, "; allowed: %s%ld to %ld", s->type == T_INTS ? "each " : "", s->min,
                    s->max);
        fputs(" |\n", out);
    }
}
