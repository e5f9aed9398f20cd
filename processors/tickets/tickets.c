/*
 * tickets.c - ticket rules: parsing, validation with messages that name the
 * rule and key, the built-in defaults, and event-level matching (tickets.h).
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickets.h"

/* Owners are named after each category's back-office team. */
/* Owners are named after each category's back-office team. Spike rules compare
 * with the same category's usual level, so they suit any traffic volume. */
static const char default_rules[] =
    "[\n"
    "  {\"name\": \"facing-negative-spike\", \"category\": \"facing\",\n"
    "   \"window_minutes\": 15, \"min_events\": 20, \"negative_spike_ratio\": 2.5,\n"
    "   \"owner\": \"frontline-operations\", \"cooldown_minutes\": 60},\n"
    "  {\"name\": \"collaborative-negative-spike\", \"category\": \"collaborative\",\n"
    "   \"window_minutes\": 15, \"min_events\": 20, \"negative_spike_ratio\": 2.5,\n"
    "   \"owner\": \"back-office\", \"cooldown_minutes\": 60},\n"
    "  {\"name\": \"external-negative-spike\", \"category\": \"external\",\n"
    "   \"window_minutes\": 15, \"min_events\": 20, \"negative_spike_ratio\": 2.5,\n"
    "   \"owner\": \"vendor-management\", \"cooldown_minutes\": 60},\n"
    "  {\"name\": \"performance-negative-spike\", \"category\": \"performance\",\n"
    "   \"window_minutes\": 15, \"min_events\": 20, \"negative_spike_ratio\": 2.5,\n"
    "   \"owner\": \"kpi-owners\", \"cooldown_minutes\": 60},\n"
    "  {\"name\": \"external-nps-detractor\", \"on\": \"event\", \"category\": \"external\",\n"
    "   \"rating_scale\": \"nps\", \"rating_below\": 6.5, \"owner\": \"vendor-management\",\n"
    "   \"cooldown_minutes\": 60},\n"
    "  {\"name\": \"late-delivery\", \"on\": \"event\", \"category\": \"performance\",\n"
    "   \"tagged\": false, \"late_days_above\": 3, \"owner\": \"logistics-planning\",\n"
    "   \"cooldown_minutes\": 60}\n"
    "]\n";

struct cx_ticket_rules {
    cx_ticket_rule *rules;
    size_t n;
    char **strings;
    size_t n_strings;
};

const char *cx_ticket_rules_default_json(void)
{
    return default_rules;
}

/* Keeps a copy of s for the rule set's lifetime; NULL on no memory. */
static const char *keep(cx_ticket_rules *rs, const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL)
        return NULL;
    rs->strings[rs->n_strings++] = copy;
    return copy;
}

static cx_status rule_err(char *err, size_t errlen, size_t i, const char *name, const char *fmt,
                          ...) __attribute__((format(printf, 5, 6)));

static cx_status rule_err(char *err, size_t errlen, size_t i, const char *name, const char *fmt,
                          ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (name != NULL)
        return cx_errf(err, errlen, CX_ERR_CONFIG, "tickets.rules[%zu] (\"%s\"): %s", i, name,
                       msg);
    return cx_errf(err, errlen, CX_ERR_CONFIG, "tickets.rules[%zu]: %s", i, msg);
}

/* Refuses rule i's string `key` when it is over max bytes (a ticket's
 * notification carries it); NULL passes. */
static cx_status at_most(char *err, size_t errlen, size_t i, const char *name, const char *key,
                         const char *value, size_t max)
{
    if (value != NULL && strlen(value) > max)
        return rule_err(err, errlen, i, name, "\"%s\" is %zu bytes; at most %zu", key,
                        strlen(value), max);
    return CX_OK;
}

/* Reads an optional number key; 1 if present (and a number), 0 if absent, -1 if not a number. */
static int number(const json_t *o, const char *key, double *out)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL)
        return 0;
    if (!json_is_number(v))
        return -1;
    *out = json_number_value(v);
    return 1;
}

/* Reads an optional integer key in lo..hi (default dflt). */
static cx_status integer(const json_t *o, const char *key, int lo, int hi, int dflt, int *out,
                         size_t i, const char *name, char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    *out = dflt;
    if (v == NULL)
        return CX_OK;
    /* 15, 15.0 and 1.5e1 alike: JSON does not tell them apart */
    double d = json_number_value(v);
    if (!json_is_number(v) || !(d >= lo && d <= hi) || d != (double)(int)d)
        return rule_err(err, errlen, i, name, "\"%s\" must be an integer %d..%d", key, lo, hi);
    *out = (int)d;
    return CX_OK;
}

static const char *const known_keys[] = {"name",
                                         "on",
                                         "category",
                                         "tagged",
                                         "channel",
                                         "touchpoint",
                                         "owner",
                                         "window_minutes",
                                         "min_events",
                                         "negative_share_above",
                                         "avg_rating_below",
                                         "avg_rating_above",
                                         "negative_spike_ratio",
                                         "baseline_hours",
                                         "rating_scale",
                                         "rating_below",
                                         "rating_above",
                                         "sentiment",
                                         "late_days_above",
                                         "cooldown_minutes",
                                         "description"};

static cx_status parse_rule(cx_ticket_rules *rs, const json_t *o, size_t i, int base_window,
                            char *err, size_t errlen)
{
    cx_ticket_rule *r = &rs->rules[i];
    cx_status st;
    if (!json_is_object(o))
        return rule_err(err, errlen, i, NULL, "must be an object");
    const char *name = json_string_value(json_object_get(o, "name"));
    if (name == NULL || name[0] == '\0')
        return rule_err(err, errlen, i, NULL, "\"name\" must be a non-empty string");
    if ((st = at_most(err, errlen, i, NULL, "name", name, CX_TICKET_NAME_MAX)) != CX_OK)
        return st;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)o, key, val)
    {
        size_t k;
        for (k = 0; k < CX_ARRAY_LEN(known_keys); k++)
            if (strcmp(key, known_keys[k]) == 0)
                break;
        if (k == CX_ARRAY_LEN(known_keys))
            return rule_err(err, errlen, i, name, "unknown key \"%s\" (see docs/tickets.md)",
                            key);
    }
    for (size_t j = 0; j < i; j++)
        if (strcmp(rs->rules[j].name, name) == 0)
            return rule_err(err, errlen, i, name, "the name is used by rule %zu too", j);
    const char *on = json_string_value(json_object_get(o, "on"));
    if (json_object_get(o, "on") != NULL && (on == NULL || (strcmp(on, "event") != 0 &&
                                                            strcmp(on, "window") != 0)))
        return rule_err(err, errlen, i, name, "\"on\" must be \"window\" or \"event\"");
    int event = on != NULL && strcmp(on, "event") == 0;

    *r = (cx_ticket_rule){.category = -1, .sentiment = -1, .late_days_above = -1};
    r->name = keep(rs, name);
    const char *owner = json_string_value(json_object_get(o, "owner"));
    if (owner == NULL || owner[0] == '\0')
        return rule_err(err, errlen, i, name, "\"owner\" must be a non-empty string (a team)");
    if (isspace((unsigned char)owner[0]) || isspace((unsigned char)owner[strlen(owner) - 1]))
        return rule_err(err, errlen, i, name,
                        "\"owner\" \"%s\" begins or ends with a space (routes match owners "
                        "exactly)",
                        owner);
    if ((st = at_most(err, errlen, i, name, "owner", owner, CX_TICKET_NAME_MAX)) != CX_OK)
        return st;
    r->owner = keep(rs, owner);

    const char *cat = json_string_value(json_object_get(o, "category"));
    cx_category c;
    if (cat == NULL || cx_category_from_name(cat, &c) != CX_OK)
        return rule_err(err, errlen, i, name,
                        "\"category\" must be facing, collaborative, external or performance");
    r->category = (int)c;
    const json_t *tg = json_object_get(o, "tagged");
    if (tg != NULL && !json_is_boolean(tg))
        return rule_err(err, errlen, i, name, "\"tagged\" must be true or false");
    if (tg != NULL && !event)
        return rule_err(err, errlen, i, name, "\"tagged\" is for event rules (\"on\": \"event\")");
    r->tagged = event && (tg == NULL || json_is_true(tg));

    char scope[16 + 4 * CX_EVENT_MAX_SCOPE_CHARS] = ""; /* "touchpoint=" and the value, UTF-8 */
    const json_t *ch = json_object_get(o, "channel"), *tp = json_object_get(o, "touchpoint");
    if ((ch != NULL && !json_is_string(ch)) || (tp != NULL && !json_is_string(tp)))
        return rule_err(err, errlen, i, name, "\"channel\" and \"touchpoint\" must be strings");
    const char *scope_key = ch != NULL ? "channel" : "touchpoint";
    const char *scope_val = json_string_value(ch != NULL ? ch : tp);
    size_t chars = scope_val ? cx_utf8_length(scope_val, strlen(scope_val)) : 0;
    if (scope_val != NULL && (chars < 1 || chars > CX_EVENT_MAX_SCOPE_CHARS))
        return rule_err(err, errlen, i, name,
                        "\"%s\" must be 1..%d characters (an event's %s is at most that)",
                        scope_key, CX_EVENT_MAX_SCOPE_CHARS, scope_key);
    if (ch != NULL && tp != NULL)
        return rule_err(err, errlen, i, name, "give \"channel\" or \"touchpoint\", not both");
    if (tp != NULL && !event)
        return rule_err(err, errlen, i, name,
                        "\"touchpoint\" is for event rules: signals are kept per channel");
    if (ch != NULL) {
        r->channel = keep(rs, json_string_value(ch));
        snprintf(scope, sizeof scope, "channel=%s", r->channel);
    } else if (tp != NULL) {
        r->touchpoint = keep(rs, json_string_value(tp));
        snprintf(scope, sizeof scope, "touchpoint=%s", r->touchpoint);
    }
    r->scope = keep(rs, scope);

    int minutes;
    if ((st = integer(o, "cooldown_minutes", 0, 10080, 0, &minutes, i, name, err, errlen)) !=
        CX_OK)
        return st;
    r->cooldown_seconds = minutes * 60;

    const char *scale = json_string_value(json_object_get(o, "rating_scale"));
    if (json_object_get(o, "rating_scale") != NULL) {
        static const cx_rating_scale scales[] = {CX_RATING_CSAT, CX_RATING_NPS, CX_RATING_CES,
                                                 CX_RATING_STARS};
        for (size_t k = 0; scale != NULL && k < CX_ARRAY_LEN(scales); k++)
            if (strcmp(scale, cx_rating_scale_name(scales[k])) == 0)
                r->scale = scales[k];
        if (r->scale == CX_RATING_NONE)
            return rule_err(err, errlen, i, name,
                            "\"rating_scale\" must be csat, nps, ces or stars");
    }

    double lo, hi; /* the scale's values */
    cx_rating_scale_range(r->scale, &lo, &hi);
    char desc[512];
    if (!event) {
        double share, avg, avg_above, ratio;
        int has_share = number(o, "negative_share_above", &share);
        int has_avg = number(o, "avg_rating_below", &avg);
        int has_above = number(o, "avg_rating_above", &avg_above);
        int has_ratio = number(o, "negative_spike_ratio", &ratio);
        if (has_share < 0 || has_avg < 0 || has_above < 0 || has_ratio < 0 ||
            has_share + has_avg + has_above + has_ratio != 1)
            return rule_err(err, errlen, i, name,
                            "give one threshold: \"negative_share_above\" (at least 0, below 1), "
                            "\"negative_spike_ratio\" (above 1), \"avg_rating_below\" with "
                            "\"rating_scale\" csat, nps or stars, or \"avg_rating_above\" with "
                            "\"rating_scale\": \"ces\"");
        int hours;
        if ((st = integer(o, "baseline_hours", 1, 168, 24, &hours, i, name, err, errlen)) != CX_OK)
            return st;
        if (json_object_get(o, "baseline_hours") != NULL && !has_ratio)
            return rule_err(err, errlen, i, name,
                            "\"baseline_hours\" is for \"negative_spike_ratio\" rules");
        static const char *const event_only[] = {"rating_below", "rating_above", "sentiment",
                                                 "late_days_above"};
        for (size_t m = 0; m < CX_ARRAY_LEN(event_only); m++)
            if (json_object_get(o, event_only[m]) != NULL)
                return rule_err(err, errlen, i, name,
                                "\"%s\" is for event rules (\"on\": \"event\")", event_only[m]);
        if (r->scale != CX_RATING_NONE && !has_avg && !has_above)
            return rule_err(err, errlen, i, name,
                            "\"rating_scale\" is for \"avg_rating_below\" and "
                            "\"avg_rating_above\" (and event rules' rating conditions)");
        if (has_share) {
            if (!(share >= 0 && share < 1))
                return rule_err(err, errlen, i, name,
                                "\"negative_share_above\" must be at least 0 and below 1");
            r->kind = CX_TICKET_NEGATIVE_SHARE;
            r->threshold = share;
            snprintf(desc, sizeof desc, "negative share above %g%%", share * 100);
        } else if (has_ratio) {
            if (!(ratio > 1 && ratio <= 1000))
                return rule_err(err, errlen, i, name,
                                "\"negative_spike_ratio\" must be above 1 (and at most 1000)");
            r->kind = CX_TICKET_NEGATIVE_SPIKE;
            r->threshold = ratio;
            r->baseline_seconds = hours * 3600;
            snprintf(desc, sizeof desc, "negative events above %g times the usual", ratio);
        } else {
            /* the worse side of the scale: below on csat, nps and stars, above on
             * ces, where a higher rating is more effort */
            const char *thr_key = has_above ? "avg_rating_above" : "avg_rating_below";
            if (has_above)
                avg = avg_above;
            if (r->scale == CX_RATING_NONE)
                return rule_err(err, errlen, i, name, "\"%s\" needs \"rating_scale\"", thr_key);
            if (has_above && r->scale != CX_RATING_CES)
                return rule_err(err, errlen, i, name,
                                "\"avg_rating_above\" is for the ces scale, where a higher "
                                "rating is more effort; on the %s scale a lower rating is the "
                                "worse one: use \"avg_rating_below\"",
                                scale);
            if (!has_above && r->scale == CX_RATING_CES)
                return rule_err(err, errlen, i, name,
                                "on the ces scale a higher rating is more effort, the worse "
                                "one: \"avg_rating_below\" would fire on easy contacts; use "
                                "\"avg_rating_above\"");
            if (has_above ? !(avg >= lo && avg < hi) : !(avg > lo && avg <= hi))
                return rule_err(err, errlen, i, name,
                                "\"%s\" must be %s %g and %s %g on the %s scale (%g..%g): %g "
                                "would %s",
                                thr_key, has_above ? "at least" : "above", lo,
                                has_above ? "below" : "at most", hi, scale, lo, hi, avg,
                                (has_above ? avg < lo : avg > hi) ? "always fire" : "never fire");
            r->kind = CX_TICKET_AVG_RATING;
            r->threshold = avg;
            snprintf(desc, sizeof desc, "average %s rating %s %g", cx_rating_scale_name(r->scale),
                     has_above ? "above" : "below", avg);
        }
        if ((st = integer(o, "window_minutes", 1, 1440, 15, &minutes, i, name, err, errlen)) !=
            CX_OK)
            return st;
        r->window_seconds = minutes * 60;
        if (r->kind == CX_TICKET_NEGATIVE_SPIKE && r->baseline_seconds < 4 * r->window_seconds)
            return rule_err(err, errlen, i, name,
                            "\"baseline_hours\" must cover at least four windows");
        if (r->window_seconds % base_window != 0)
            return rule_err(err, errlen, i, name,
                            "\"window_minutes\" must be a multiple of the smallest signal "
                            "window (%d s)",
                            base_window);
        if ((st = integer(o, "min_events", 1, 1000000, 20, &r->min_events, i, name, err,
                          errlen)) != CX_OK)
            return st;
    } else {
        static const char *const window_only[] = {
            "negative_share_above", "avg_rating_below", "avg_rating_above", "negative_spike_ratio",
            "baseline_hours",       "window_minutes",   "min_events"};
        for (size_t m = 0; m < CX_ARRAY_LEN(window_only); m++)
            if (json_object_get(o, window_only[m]) != NULL)
                return rule_err(err, errlen, i, name,
                                "\"%s\" is for window rules, not \"on\": \"event\"",
                                window_only[m]);
        r->kind = CX_TICKET_EVENT;
        size_t used = (size_t)snprintf(desc, sizeof desc, "%s", r->tagged ? "tagged " : "");
        if (r->tagged)
            used += (size_t)snprintf(desc + used, sizeof desc - used, "%s", cat);
        int h;
        if ((h = number(o, "rating_below", &r->rating_below)) < 0 ||
            (r->has_rating_below = h, h = number(o, "rating_above", &r->rating_above)) < 0)
            return rule_err(err, errlen, i, name, "\"rating_below\"/\"rating_above\" must be "
                                                  "numbers");
        r->has_rating_above = h;
        if ((r->has_rating_below || r->has_rating_above) && r->scale == CX_RATING_NONE)
            return rule_err(err, errlen, i, name, "a rating condition needs \"rating_scale\"");
        if (r->scale != CX_RATING_NONE && !r->has_rating_below && !r->has_rating_above)
            return rule_err(err, errlen, i, name,
                            "\"rating_scale\" needs \"rating_below\" or \"rating_above\"");
        /* a rating in [lo, hi] below `below` and above `above`: none would match */
        if ((r->has_rating_below && !(r->rating_below > lo)) ||
            (r->has_rating_above && !(r->rating_above < hi)) ||
            (r->has_rating_below && r->has_rating_above && !(r->rating_above < r->rating_below))) {
            char cond[128] = "";
            if (r->has_rating_below)
                snprintf(cond, sizeof cond, " below %g", r->rating_below);
            if (r->has_rating_above)
                snprintf(cond + strlen(cond), sizeof cond - strlen(cond), "%s above %g",
                         r->has_rating_below ? " and" : "", r->rating_above);
            return rule_err(err, errlen, i, name,
                            "no %s rating (%g..%g) is%s: the rule would never fire", scale, lo, hi,
                            cond);
        }
        if (r->has_rating_below)
            used += (size_t)snprintf(desc + used, sizeof desc - used, "%s%s rating below %g",
                                     used ? ", " : "", scale, r->rating_below);
        if (r->has_rating_above)
            used += (size_t)snprintf(desc + used, sizeof desc - used, "%s%s rating above %g",
                                     used ? ", " : "", scale, r->rating_above);
        const char *sent = json_string_value(json_object_get(o, "sentiment"));
        if (json_object_get(o, "sentiment") != NULL) {
            for (int s = 0; sent != NULL && s < CX_SENT_COUNT; s++)
                if (strcmp(sent, cx_sentiment_name((cx_sentiment)s)) == 0)
                    r->sentiment = s;
            if (r->sentiment < 0)
                return rule_err(err, errlen, i, name,
                                "\"sentiment\" must be negative, neutral or positive");
            used += (size_t)snprintf(desc + used, sizeof desc - used, "%s%s", used ? ", " : "",
                                     sent);
        }
        if ((st = integer(o, "late_days_above", 0, 3650, -1, &r->late_days_above, i, name, err,
                          errlen)) != CX_OK)
            return st;
        if (r->late_days_above >= 0)
            used += (size_t)snprintf(desc + used, sizeof desc - used,
                                     "%sdelivered more than %d days late", used ? ", " : "",
                                     r->late_days_above);
        if (r->channel || r->touchpoint)
            snprintf(desc + used, sizeof desc - used, "%s%s", used ? ", " : "", scope);
        if (!r->tagged && !r->has_rating_below && !r->has_rating_above && r->sentiment < 0 &&
            r->late_days_above < 0 && r->channel == NULL && r->touchpoint == NULL)
            return rule_err(err, errlen, i, name, "an event rule needs at least one condition");
    }
    const char *given = json_string_value(json_object_get(o, "description"));
    if ((st = at_most(err, errlen, i, name, "description", given, CX_TICKET_DESCRIPTION_MAX)) !=
        CX_OK)
        return st;
    r->description = keep(rs, given != NULL ? given : desc);
    if (r->name == NULL || r->owner == NULL || r->scope == NULL || r->description == NULL ||
        (r->channel == NULL && ch != NULL) || (r->touchpoint == NULL && tp != NULL))
        return cx_errf(err, errlen, CX_ERR_NOMEM, "ticket rules: out of memory");
    return CX_OK;
}

cx_status cx_ticket_rules_new(cx_ticket_rules **out, const json_t *rules,
                              int base_window_seconds, char *err, size_t errlen)
{
    json_t *own = NULL;
    *out = NULL;
    if (rules == NULL) {
        json_error_t je = {0};
        rules = own = json_loads(default_rules, 0, &je);
        if (own == NULL)
            return cx_errf(err, errlen, CX_ERR_FATAL, "built-in ticket rules: %s", je.text);
    }
    if (!json_is_array(rules))
        return cx_errf(err, errlen, CX_ERR_CONFIG, "tickets.rules: must be an array of rules");
    if (base_window_seconds <= 0)
        base_window_seconds = 60;
    size_t n = json_array_size(rules);
    cx_ticket_rules *rs = calloc(1, sizeof *rs);
    cx_status st = cx_errf(err, errlen, CX_ERR_NOMEM, "ticket rules: out of memory");
    if (rs == NULL)
        goto done;
    rs->rules = calloc(n + 1, sizeof *rs->rules);
    rs->strings = calloc(8 * n + 1, sizeof *rs->strings); /* at most 8 kept per rule */
    if (rs->rules == NULL || rs->strings == NULL)
        goto done;
    if (n > UINT16_MAX) {
        st = cx_errf(err, errlen, CX_ERR_CONFIG, "tickets.rules: at most %d rules", UINT16_MAX);
        goto done;
    }
    st = CX_OK;
    size_t events = 0;
    for (size_t i = 0; i < n && st == CX_OK; i++, rs->n = i) {
        st = parse_rule(rs, json_array_get(rules, i), i, base_window_seconds, err, errlen);
        events += st == CX_OK && rs->rules[i].kind == CX_TICKET_EVENT;
    }
    if (st == CX_OK && events > CX_TICKET_MAX_EVENT_RULES)
        st = cx_errf(err, errlen, CX_ERR_CONFIG,
                     "tickets.rules: %zu event rules (\"on\": \"event\"); at most %d", events,
                     CX_TICKET_MAX_EVENT_RULES);
done:
    json_decref(own);
    if (st != CX_OK) {
        cx_ticket_rules_free(rs);
        return st;
    }
    *out = rs;
    return CX_OK;
}

size_t cx_ticket_rules_count(const cx_ticket_rules *rs)
{
    return rs ? rs->n : 0;
}

const cx_ticket_rule *cx_ticket_rules_get(const cx_ticket_rules *rs, size_t i)
{
    return i < rs->n ? &rs->rules[i] : NULL;
}

/* Days between the event's promised_date and delivered_date; NAN if either is missing. */
static double days_late(const cx_event *ev)
{
    const char *promised = json_string_value(json_object_get(ev->attributes, "promised_date"));
    const char *delivered = json_string_value(json_object_get(ev->attributes, "delivered_date"));
    double days;
    int bad;
    return cx_time_days_between(promised, delivered, &days, &bad) == CX_OK ? days : NAN;
}

static int has_tag(const cx_tags *t, int category)
{
    for (int k = 0; k < t->n_assigned; k++)
        if ((int)t->order[k] == category)
            return 1;
    return 0;
}

size_t cx_ticket_rules_match(const cx_ticket_rules *rs, const cx_event *ev, const cx_tags *tags,
                             uint16_t *hits, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; rs != NULL && i < rs->n && n < max; i++) {
        const cx_ticket_rule *r = &rs->rules[i];
        if (r->kind != CX_TICKET_EVENT)
            continue;
        if (r->tagged && !has_tag(tags, r->category))
            continue;
        if (r->sentiment >= 0 && (int)tags->sentiment != r->sentiment)
            continue;
        if ((r->has_rating_below || r->has_rating_above) &&
            (ev->rating_scale != r->scale ||
             (r->has_rating_below && !(ev->rating_value < r->rating_below)) ||
             (r->has_rating_above && !(ev->rating_value > r->rating_above))))
            continue;
        if (r->channel != NULL && (ev->channel == NULL || strcmp(ev->channel, r->channel) != 0))
            continue;
        if (r->touchpoint != NULL &&
            (ev->touchpoint == NULL || strcmp(ev->touchpoint, r->touchpoint) != 0))
            continue;
        if (r->late_days_above >= 0 && !(days_late(ev) > r->late_days_above))
            continue;
        hits[n++] = (uint16_t)i;
    }
    return n;
}

void cx_ticket_rules_free(cx_ticket_rules *rs)
{
    if (rs == NULL)
        return;
    for (size_t i = 0; i < rs->n_strings; i++)
        free(rs->strings[i]);
    free(rs->strings);
    free(rs->rules);
    free(rs);
}
