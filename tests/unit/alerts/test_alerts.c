/*
 * test_alerts.c - receivers and routes from the configuration (errors name the
 * place), routing, the bodies each kind of receiver gets, the webhook
 * signature, what an HTTP answer means, the backoff, and secrets masked when
 * the configuration is printed (alerts_int.h: the URL a receiver is posted at).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "alerts_int.h"
#include "config.h"

static cx_config *cfg;
static cx_alerts *alerts;

static void setup(void)
{
    cfg = cx_config_new();
    cr_assert_not_null(cfg);
    alerts = NULL;
}

static void teardown(void)
{
    cx_alerts_free(alerts);
    cx_config_free(cfg);
}

TestSuite(alerts, .init = setup, .fini = teardown);

static void set(const char *key, const char *value)
{
    char err[512];
    cr_assert_eq(cx_config_set(cfg, key, value, err, sizeof err), CX_OK, "%s", err);
}

static void load(void)
{
    char err[512];
    cr_assert_eq(cx_alerts_new(&alerts, cfg, err, sizeof err), CX_OK, "%s", err);
}

static void refused(const char *receivers, const char *routes, const char *want)
{
    char err[512] = "";
    if (receivers != NULL)
        set("alerts.receivers", receivers);
    if (routes != NULL)
        set("alerts.routes", routes);
    cr_assert_eq(cx_alerts_new(&alerts, cfg, err, sizeof err), CX_ERR_CONFIG,
                 "accepted, expected: %s", want);
    cr_assert(strstr(err, want) != NULL, "error \"%s\" does not say \"%s\"", err, want);
}

static const char *const receivers =
    "[{\"name\": \"ops\", \"kind\": \"alertmanager\", \"url\": \"http://am:9093/\"},"
    " {\"name\": \"billing-chat\", \"kind\": \"slack\","
    "  \"url\": \"https://hooks.slack.example/services/T0/B0/XYZ\"},"
    " {\"name\": \"crm\", \"kind\": \"webhook\", \"url\": \"https://crm.example/hook\","
    "  \"secret\": \"k3y\"}]";

Test(alerts, bad_receivers_and_routes_are_refused_naming_the_place)
{
    refused("[{\"name\": \"x\", \"kind\": \"pager\", \"url\": \"http://a/\"}]", NULL,
            "alerts.receivers[0]: \"kind\" \"pager\" must be alertmanager, webhook or slack");
    refused("[{\"name\": \"x\", \"url\": \"http://a/\"}]", NULL,
            "alerts.receivers[0]: \"kind\" (missing) must be alertmanager, webhook or slack");
}

/* A ticket is routed to at most 32 receivers: a 33rd is refused, not silently
 * left without the tickets routes promise it. */
Test(alerts, more_receivers_than_a_ticket_can_go_to_are_refused)
{
    char list[8192] = "[";
    for (int i = 0; i < 33; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list),
                 "%s{\"name\": \"r%d\", \"kind\": \"slack\", \"url\": \"https://chat.example/%d\"}",
                 i ? ", " : "", i, i);
    strcat(list, "]");
    refused(list, NULL, "alerts.receivers[32]: more than 32 receivers");
}

Test(alerts, a_receiver_without_an_http_url_is_refused)
{
    /* the host is needed: "http://a" is an address, "http://u:pw@" is not */
    const char *urls[] = {"ftp://a/", "http://u:secret@", "http://"};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        char list[256];
        snprintf(list, sizeof list, "[{\"name\": \"x\", \"kind\": \"webhook\", \"url\": \"%s\"}]",
                 urls[i]);
        refused(list, NULL,
                "alerts.receivers[0]: receiver \"x\": \"url\" must be an http:// or https:// URL "
                "with a host");
    }
    char err[512];
    set("alerts.receivers", "[{\"name\": \"x\", \"kind\": \"webhook\", \"url\": \"http://a\"}]");
    cr_assert_eq(cx_alerts_new(&alerts, cfg, err, sizeof err), CX_OK, "http://a refused: %s", err);
}

Test(alerts, a_receiver_defined_twice_is_refused)
{
    refused("[{\"name\": \"x\", \"kind\": \"webhook\", \"url\": \"http://a/\"},"
            " {\"name\": \"x\", \"kind\": \"slack\", \"url\": \"http://b/\"}]",
            NULL, "alerts.receivers[1]: receiver \"x\" is defined twice");
}

Test(alerts, only_webhooks_have_secrets)
{
    refused("[{\"name\": \"x\", \"kind\": \"slack\", \"url\": \"http://a/\", \"secret\": \"s\"}]",
            NULL, "only a webhook receiver is signed with a secret");
}

Test(alerts, a_secret_env_that_is_not_set_is_refused)
{
    unsetenv("CXPULSE_TEST_NO_SUCH_SECRET");
    refused("[{\"name\": \"x\", \"kind\": \"webhook\", \"url\": \"http://a/\","
            " \"secret_env\": \"CXPULSE_TEST_NO_SUCH_SECRET\"}]",
            NULL, "environment variable CXPULSE_TEST_NO_SUCH_SECRET (secret_env) is not set");
}

/* A URL with a token in it may come from the environment (url_env), as a
 * secret does; unset, empty or beside a url it is refused. */
Test(alerts, a_receiver_url_may_come_from_the_environment)
{
    setenv("CXPULSE_TEST_CHAT_URL", "https://hooks.chat.example/services/T0/B0/TOKEN", 1);
    set("alerts.receivers", "[{\"name\": \"chat\", \"kind\": \"slack\","
                            " \"url_env\": \"CXPULSE_TEST_CHAT_URL\"}]");
    load();
    cr_assert_str_eq(alerts->receivers[0].url, "https://hooks.chat.example/services/T0/B0/TOKEN");
    cx_alerts_free(alerts);
    alerts = NULL;
    refused("[{\"name\": \"chat\", \"kind\": \"slack\", \"url\": \"http://a/\","
            " \"url_env\": \"CXPULSE_TEST_CHAT_URL\"}]",
            NULL, "give \"url\" or \"url_env\", not both");
    setenv("CXPULSE_TEST_CHAT_URL", "", 1);
    refused("[{\"name\": \"chat\", \"kind\": \"slack\", \"url_env\": \"CXPULSE_TEST_CHAT_URL\"}]",
            NULL, "environment variable CXPULSE_TEST_CHAT_URL (url_env) is empty");
    unsetenv("CXPULSE_TEST_CHAT_URL");
    refused("[{\"name\": \"chat\", \"kind\": \"slack\", \"url_env\": \"CXPULSE_TEST_CHAT_URL\"}]",
            NULL, "environment variable CXPULSE_TEST_CHAT_URL (url_env) is not set");
}

/* An empty secret would leave the receiver's posts unsigned without a word
 * (an env file's "CRM_HOOK_SECRET=", say). */
Test(alerts, an_empty_secret_is_refused)
{
    setenv("CXPULSE_TEST_EMPTY_SECRET", "", 1);
    refused("[{\"name\": \"x\", \"kind\": \"webhook\", \"url\": \"http://a/\","
            " \"secret_env\": \"CXPULSE_TEST_EMPTY_SECRET\"}]",
            NULL,
            "alerts.receivers[0]: environment variable"
            " CXPULSE_TEST_EMPTY_SECRET (secret_env) is empty");
    unsetenv("CXPULSE_TEST_EMPTY_SECRET");
    refused("[{\"name\": \"x\", \"kind\": \"webhook\", \"url\": \"http://a/\","
            " \"secret\": \"\"}]",
            NULL, "alerts.receivers[0]: \"secret\" is empty");
}

Test(alerts, a_route_to_an_unknown_receiver_is_refused)
{
    refused(receivers, "[{\"owner\": \"billing\", \"receivers\": [\"pagerduty\"]}]",
            "alerts.routes[0]: receivers[0]: no receiver named \"pagerduty\"");
}

Test(alerts, a_route_with_an_unknown_key_is_refused)
{
    refused(receivers, "[{\"team\": \"billing\", \"receivers\": [\"ops\"]}]",
            "alerts.routes[0]: unknown key \"team\"");
}

Test(alerts, a_route_for_a_category_that_does_not_exist_is_refused)
{
    refused(receivers, "[{\"category\": \"externel\", \"receivers\": [\"ops\"]}]",
            "alerts.routes[0]: \"category\": \"externel\" is not one of facing, "
            "collaborative, external, performance");
}

/* The built-in ticket rules with routes that miss some of them: those are
 * named, and a default route or a shortcut receiver leaves none out. */
Test(alerts, ticket_rules_no_route_matches_are_named)
{
    char err[512], msg[1024];
    cx_ticket_rules *rules = NULL;
    cr_assert_eq(cx_ticket_rules_new(&rules, NULL, 60, err, sizeof err), CX_OK, "%s", err);
    set("alerts.receivers", receivers);
    set("alerts.routes", "[{\"owner\": \"Vendor-Management\", \"receivers\": [\"ops\"]},"
                         " {\"owner\": \"back-office\", \"receivers\": [\"billing-chat\"]}]");
    load();
    size_t routed = 0;
    for (size_t i = 0; i < cx_ticket_rules_count(rules); i++)
        routed += strcmp(cx_ticket_rules_get(rules, i)->owner, "back-office") == 0;
    cr_assert_gt(routed, 0);
    size_t n = cx_alerts_unrouted(alerts, rules, msg, sizeof msg);
    cr_assert_eq(n, cx_ticket_rules_count(rules) - routed, "%s", msg);
    cr_assert(strstr(msg, "(owner vendor-management, category external)") != NULL, "%s", msg);
    cr_assert(strstr(msg, "owner back-office") == NULL, "%s", msg);
    cx_alerts_free(alerts);
    set("alerts.webhook", "http://127.0.0.1:9/all"); /* a shortcut takes every ticket */
    load();
    cr_assert_eq(cx_alerts_unrouted(alerts, rules, msg, sizeof msg), 0, "%s", msg);
    cx_ticket_rules_free(rules);
}

Test(alerts, a_webhook_secret_without_a_webhook_is_refused)
{
    set("alerts.webhook_secret", "s");
    refused(NULL, NULL, "alerts.webhook_secret (CXPULSE_WEBHOOK_SECRET) is set");
}

Test(alerts, no_receivers_is_valid_and_delivers_nowhere)
{
    load();
    cr_assert_eq(cx_alerts_receiver_count(alerts), 0);
}

static size_t route(const char *owner, const char *category, const char *rule, char *names,
                    size_t len)
{
    size_t idx[8];
    size_t n = cx_alerts_route(alerts, owner, category, rule, idx, 8);
    names[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(names + strlen(names), len - strlen(names), "%s%s", i ? "," : "",
                 cx_alerts_receiver_name(alerts, idx[i]));
    return n;
}

Test(alerts, the_first_matching_route_wins_and_shortcuts_get_every_ticket)
{
    set("alerts.receivers", receivers);
    set("alerts.routes", "[{\"owner\": \"billing\", \"category\": \"collaborative\","
                         "   \"receivers\": [\"billing-chat\", \"ops\"]},"
                         " {\"owner\": \"billing\", \"receivers\": [\"crm\"]},"
                         " {\"rule\": \"carrier-spike\", \"receivers\": [\"ops\"]}]");
    set("alerts.webhook", "http://127.0.0.1:9/all");
    load();
    char names[256];
    route("billing", "collaborative", "chat-billing-share", names, sizeof names);
    cr_assert_str_eq(names, "ops,billing-chat,webhook", "in the configuration's order");
    route("billing", "external", "x", names, sizeof names);
    cr_assert_str_eq(names, "crm,webhook");
    route("vendor-management", "external", "carrier-spike", names, sizeof names);
    cr_assert_str_eq(names, "ops,webhook");
    route("logistics", "performance", "late-delivery", names, sizeof names);
    cr_assert_str_eq(names, "webhook", "no route matches: the shortcut alone");
}

/* Two tickets routed to the same receivers in opposite orders get them in
 * one order, each once: two senders never wait on each other's receiver. */
Test(alerts, receivers_come_in_the_configuration_s_order_each_once)
{
    set("alerts.receivers", receivers);
    set("alerts.routes", "[{\"owner\": \"a\", \"receivers\": [\"crm\", \"ops\", \"crm\"]},"
                         " {\"owner\": \"b\", \"receivers\": [\"ops\", \"crm\"]}]");
    load();
    char names[256];
    cr_assert_eq(route("a", "facing", "r", names, sizeof names), 2);
    cr_assert_str_eq(names, "ops,crm");
    route("b", "facing", "r", names, sizeof names);
    cr_assert_str_eq(names, "ops,crm");
}

Test(alerts, a_route_without_conditions_is_the_default)
{
    set("alerts.receivers", receivers);
    set("alerts.routes", "[{\"owner\": \"billing\", \"receivers\": [\"billing-chat\"]},"
                         " {\"receivers\": [\"ops\"]}]");
    load();
    char names[256];
    route("logistics", "performance", "late-delivery", names, sizeof names);
    cr_assert_str_eq(names, "ops");
}

Test(alerts, without_routes_every_receiver_gets_every_ticket)
{
    set("alerts.receivers", receivers);
    load();
    char names[256];
    route("anyone", "facing", "r", names, sizeof names);
    cr_assert_str_eq(names, "ops,billing-chat,crm");
}

static json_t *row(const char *transition, const char *status)
{
    json_t *r = json_pack(
        "{s:i, s:i, s:i, s:s, s:s, s:i, s:{}, s:{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s,"
        " s:i, s:[s, s]}}",
        "id", 7, "ticket_id", 42, "seq", 3, "transition", transition, "created_at",
        "2026-11-01T10:05:00Z", "attempts", 0, "deliveries", "ticket", "ticket_id", 42, "rule",
        "carrier-spike", "category", "external", "scope", "", "owner", "vendor-management",
        "status", status, "reason", "25 negative events in the 15 minutes to 10:15 UTC",
        "opened_at", "2026-11-01T10:00:00Z", "updated_at", "2026-11-01T10:05:00Z", "event_count",
        25, "sample_event_ids", "e-1", "e-2");
    cr_assert_not_null(r);
    return r;
}

static size_t receiver(const char *name)
{
    for (size_t i = 0; i < cx_alerts_receiver_count(alerts); i++)
        if (strcmp(cx_alerts_receiver_name(alerts, i), name) == 0)
            return i;
    cr_assert_fail("no receiver %s", name);
    return 0;
}

/* With no receiver at all, tickets are only kept in the database: that is a
 * choice, not a mistake, so no ticket rule is named as unrouted. */
Test(alerts, without_receivers_no_ticket_rule_is_called_unrouted)
{
    char err[512], msg[1024];
    cx_ticket_rules *rules = NULL;
    cr_assert_eq(cx_ticket_rules_new(&rules, NULL, 60, err, sizeof err), CX_OK, "%s", err);
    load();
    cr_assert_eq(cx_alerts_unrouted(alerts, rules, msg, sizeof msg), 0,
                 "rules named unrouted without receivers: %s", msg);
    cr_assert_str_eq(msg, "", "the message should be empty");
    cx_ticket_rules_free(rules);
}

/* A retry cap below the first retry's delay is a contradiction, refused with
 * both values. */
Test(alerts, a_retry_max_below_the_retry_min_is_refused)
{
    set("alerts.retry_min_ms", "1000");
    set("alerts.retry_max_ms", "500");
    refused(NULL, NULL, "alerts.retry_max_ms (500) is below alerts.retry_min_ms (1000)");
}

/* An Alertmanager receiver's URL is the base: alerts are posted to
 * <base>/api/v2/alerts, with no doubled slash when the base ends in one. */
Test(alerts, alertmanager_posts_under_its_base_url_with_or_without_a_trailing_slash)
{
    set("alerts.receivers",
        "[{\"name\": \"slash\", \"kind\": \"alertmanager\", \"url\": \"http://am:9093/\"},"
        " {\"name\": \"slashes\", \"kind\": \"alertmanager\", \"url\": \"http://am:9093//\"},"
        " {\"name\": \"bare\", \"kind\": \"alertmanager\", \"url\": \"http://am:9093\"},"
        " {\"name\": \"path\", \"kind\": \"alertmanager\", \"url\": \"http://am:9093/am/\"}]");
    load();
    cr_assert_str_eq(alerts->receivers[receiver("slash")].url, "http://am:9093/api/v2/alerts");
    cr_assert_str_eq(alerts->receivers[receiver("slashes")].url, "http://am:9093/api/v2/alerts");
    cr_assert_str_eq(alerts->receivers[receiver("bare")].url, "http://am:9093/api/v2/alerts");
    cr_assert_str_eq(alerts->receivers[receiver("path")].url, "http://am:9093/am/api/v2/alerts");
}

static json_t *render(const char *name, const json_t *r, time_t now)
{
    char *body = cx_alerts_render(alerts, receiver(name), r, now);
    cr_assert_not_null(body);
    json_t *doc = json_loads(body, 0, NULL);
    cr_assert_not_null(doc, "not JSON: %s", body);
    free(body);
    return doc;
}

Test(alerts, alertmanager_gets_the_labels_annotations_and_an_end_ahead)
{
    set("alerts.receivers", receivers);
    set("alerts.page_url", "https://cx.example/live");
    set("alerts.resend_seconds", "60");
    load();
    json_t *r = row("opened", "open");
    time_t now = 1796119200; /* 2026-12-01T10:00:00Z */
    json_t *doc = render("ops", r, now);
    cr_assert_eq(json_array_size(doc), 1);
    json_t *a = json_array_get(doc, 0), *l = json_object_get(a, "labels");
    cr_assert_str_eq(json_string_value(json_object_get(l, "alertname")), "carrier-spike");
    cr_assert_str_eq(json_string_value(json_object_get(l, "owner")), "vendor-management");
    cr_assert_str_eq(json_string_value(json_object_get(l, "category")), "external");
    cr_assert_str_eq(json_string_value(json_object_get(l, "scope")), "");
    cr_assert_str_eq(json_string_value(json_object_get(l, "severity")), "warning");
    cr_assert_str_eq(json_string_value(json_object_get(l, "service")), "cxpulse");
    json_t *an = json_object_get(a, "annotations");
    cr_assert_str_eq(json_string_value(json_object_get(an, "summary")),
                     "25 negative events in the 15 minutes to 10:15 UTC");
    cr_assert_str_eq(json_string_value(json_object_get(an, "sample_event_ids")), "e-1, e-2");
    cr_assert_str_eq(json_string_value(json_object_get(an, "updated_at")), "2026-11-01T10:05:00Z");
    cr_assert_str_eq(json_string_value(json_object_get(an, "event_count")), "25");
    cr_assert_null(json_object_get(an, "window_end"), "none in the ticket: none here");
    cr_assert_str_eq(json_string_value(json_object_get(an, "page_url")), "https://cx.example/live");
    cr_assert_str_eq(json_string_value(json_object_get(a, "generatorURL")),
                     "https://cx.example/live");
    cr_assert_str_eq(json_string_value(json_object_get(a, "startsAt")), "2026-11-01T10:00:00Z");
    cr_assert_str_eq(json_string_value(json_object_get(a, "endsAt")), "2026-12-01T10:04:00Z",
                     "four re-posting intervals ahead");
    json_decref(doc);
    json_decref(r);
    r = row("resolved", "resolved");
    doc = render("ops", r, now);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(doc, 0), "endsAt")),
                     "2026-12-01T10:00:00Z", "a resolved ticket ends now");
    json_decref(doc);
    json_decref(r);
}

/* Alertmanager tells alerts apart by their labels alone: two tickets of one
 * rule and owner (the first resolved, the rule firing again) must be two
 * alerts, or the first one's resolution ends the second's alert. */
Test(alerts, two_tickets_of_one_rule_are_two_alertmanager_alerts)
{
    set("alerts.receivers", receivers);
    load();
    json_t *first = row("resolved", "resolved"), *second = row("opened", "open");
    json_object_set_new(json_object_get(second, "ticket"), "ticket_id", json_integer(43));
    json_object_set_new(second, "ticket_id", json_integer(43));
    json_t *resolved = render("ops", first, 0), *opened = render("ops", second, 0);
    json_t *l1 = json_object_get(json_array_get(resolved, 0), "labels");
    json_t *l2 = json_object_get(json_array_get(opened, 0), "labels");
    cr_assert_str_eq(json_string_value(json_object_get(l1, "alertname")),
                     json_string_value(json_object_get(l2, "alertname")));
    cr_assert_str_eq(json_string_value(json_object_get(l1, "owner")),
                     json_string_value(json_object_get(l2, "owner")));
    cr_assert_not(json_equal(l1, l2), "one label set for two tickets: %s",
                  json_dumps(l1, JSON_COMPACT));
    cr_assert_str_eq(json_string_value(json_object_get(l1, "ticket_id")), "42",
                     "the resolution names its own ticket");
    cr_assert_str_eq(json_string_value(json_object_get(l2, "ticket_id")), "43");
    json_decref(resolved);
    json_decref(opened);
    json_decref(first);
    json_decref(second);
}

Test(alerts, a_webhook_gets_the_transition_and_the_ticket)
{
    set("alerts.receivers", receivers);
    load();
    json_t *r = row("acknowledged", "acknowledged");
    json_t *doc = render("crm", r, 0);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "idempotency_key")),
                     "42-acknowledged-3");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "transition")), "acknowledged");
    cr_assert_eq(json_integer_value(json_object_get(doc, "seq")), 3);
    cr_assert(json_equal(json_object_get(doc, "ticket"), json_object_get(r, "ticket")));
    cr_assert(json_is_null(json_object_get(doc, "page_url")));
    char key[64];
    cx_alerts_idempotency_key(r, key, sizeof key);
    cr_assert_str_eq(key, "42-acknowledged-3");
    json_decref(doc);
    json_decref(r);
}

/* A row as the outbox gives it since schema version 20: its ticket has a uid. */
static json_t *row_with_uid(const char *transition, const char *status, const char *uid)
{
    json_t *r = row(transition, status);
    json_object_set_new(json_object_get(r, "ticket"), "uid", json_string(uid));
    return r;
}

/* The key of a row, and that the webhook's body carries the same. */
static void key_of(const json_t *r, char *key, size_t keylen)
{
    cx_alerts_idempotency_key(r, key, keylen);
    json_t *doc = render("crm", r, 0);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "idempotency_key")), key);
    json_decref(doc);
}

/* The key ends with the start of the ticket's uid (its first 12 hex digits),
 * and the webhook's body has the whole uid in its ticket. */
Test(alerts, a_ticket_s_key_includes_its_uid)
{
    set("alerts.receivers", receivers);
    load();
    json_t *r =
        row_with_uid("acknowledged", "acknowledged", "3F2A9C1E-7B04-4D6E-9A51-0C8B2F7E6D13");
    char key[64];
    key_of(r, key, sizeof key);
    cr_assert_str_eq(key, "42-acknowledged-3-3f2a9c1e7b04");
    json_t *doc = render("crm", r, 0);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "ticket"), "uid")),
                     "3F2A9C1E-7B04-4D6E-9A51-0C8B2F7E6D13");
    json_decref(doc);
    json_decref(r);
}

/* After a restore from a backup, a new ticket can get the id of a ticket
 * delivered after the backup was taken: with another uid, each transition
 * of it has a key of its own, and an Alertmanager alert of its own. */
Test(alerts, two_tickets_with_one_id_and_different_uids_get_different_keys_and_alerts)
{
    set("alerts.receivers", receivers);
    load();
    json_t *before = row_with_uid("opened", "open", "3f2a9c1e-7b04-4d6e-9a51-0c8b2f7e6d13");
    json_t *after = row_with_uid("opened", "open", "c0ffee00-1234-4abc-8def-0123456789ab");
    char k1[64], k2[64];
    key_of(before, k1, sizeof k1);
    key_of(after, k2, sizeof k2);
    cr_assert_str_eq(k1, "42-opened-3-3f2a9c1e7b04");
    cr_assert_str_eq(k2, "42-opened-3-c0ffee001234");
    json_t *a1 = render("ops", before, 0), *a2 = render("ops", after, 0);
    json_t *l1 = json_object_get(json_array_get(a1, 0), "labels");
    json_t *l2 = json_object_get(json_array_get(a2, 0), "labels");
    cr_assert_str_eq(json_string_value(json_object_get(l1, "ticket_id")), "42");
    cr_assert_str_eq(json_string_value(json_object_get(l2, "ticket_id")), "42");
    cr_assert_str_eq(json_string_value(json_object_get(l1, "ticket_uid")),
                     "3f2a9c1e-7b04-4d6e-9a51-0c8b2f7e6d13");
    cr_assert_str_eq(json_string_value(json_object_get(l2, "ticket_uid")),
                     "c0ffee00-1234-4abc-8def-0123456789ab");
    cr_assert_not(json_equal(l1, l2), "one label set for two tickets: %s",
                  json_dumps(l1, JSON_COMPACT));
    json_decref(a1);
    json_decref(a2);
    json_decref(before);
    json_decref(after);
}

/* A row written by a release before schema version 20 has no uid in its
 * ticket: it keeps the key it had (a delivery pending across the upgrade is
 * retried under the key the receiver may have seen), and its alert the
 * labels it was posted with. */
Test(alerts, a_row_without_a_uid_keeps_the_key_and_labels_of_older_releases)
{
    set("alerts.receivers", receivers);
    load();
    json_t *r = row("updated", "open");
    char key[64];
    key_of(r, key, sizeof key);
    cr_assert_str_eq(key, "42-updated-3");
    json_t *doc = render("ops", r, 0);
    json_t *l = json_object_get(json_array_get(doc, 0), "labels");
    cr_assert_eq(json_object_size(l), 7, "labels: %s", json_dumps(l, JSON_COMPACT));
    cr_assert_null(json_object_get(l, "ticket_uid"));
    json_decref(doc);
    json_decref(r);
}

/* The longest key (the largest ticket id and seq, the longest transition)
 * fits the 56 characters alerts.h promises. */
Test(alerts, the_longest_key_has_56_characters)
{
    json_t *r =
        row_with_uid("acknowledged", "acknowledged", "3f2a9c1e-7b04-4d6e-9a51-0c8b2f7e6d13");
    json_object_set_new(r, "ticket_id", json_integer(9223372036854775807LL));
    json_object_set_new(r, "seq", json_integer(2147483647));
    char key[96];
    cx_alerts_idempotency_key(r, key, sizeof key);
    cr_assert_str_eq(key, "9223372036854775807-acknowledged-2147483647-3f2a9c1e7b04");
    cr_assert_eq(strlen(key), 56);
    json_decref(r);
}

Test(alerts, chat_gets_a_short_text_with_owner_reason_and_link)
{
    set("alerts.receivers", receivers);
    set("alerts.page_url", "https://cx.example/live");
    load();
    json_t *r = row("opened", "open");
    json_t *doc = render("billing-chat", r, 0);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "text")),
                     "cxpulse: ticket 42 opened for *vendor-management* (rule carrier-spike,"
                     " external): 25 negative events in the 15 minutes to 10:15 UTC"
                     " <https://cx.example/live|live page>");
    json_decref(doc);
    json_decref(r);
}

/* An update reaches chat only when its ticket had been quiet for
 * alerts.chat_quiet_minutes (default 60) before it fired again, and says
 * how long, to the minute; 0 turns it off. */
Test(alerts, chat_gets_an_update_only_after_a_quiet_spell_and_says_how_long)
{
    set("alerts.receivers", receivers);
    load();
    json_t *r = row("updated", "open");
    cr_assert(!cx__alerts_after_quiet(alerts, r), "a row of an older release has no quiet");
    const struct {
        long long quiet;
        int chat;
        const char *said;
    } cases[] = {{59 * 60 + 59, 0, NULL},
                 {3600, 1, "fired again after 1 h quiet"},
                 {3 * 3600 + 20 * 60 + 59, 1, "fired again after 3 h 20 min quiet"},
                 {2 * 86400 + 5 * 3600 + 7 * 60, 1, "fired again after 2 d 5 h quiet"},
                 {3 * 86400 + 59 * 60, 1, "fired again after 3 d quiet"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        json_object_set_new(r, "quiet_seconds", json_integer(cases[k].quiet));
        cr_assert_eq(cx__alerts_after_quiet(alerts, r), cases[k].chat, "quiet %lld s",
                     cases[k].quiet);
        if (!cases[k].chat)
            continue;
        json_t *doc = render("billing-chat", r, 0);
        char want[256];
        snprintf(want, sizeof want,
                 "cxpulse: ticket 42 %s for *vendor-management* (rule carrier-spike,"
                 " external): 25 negative events in the 15 minutes to 10:15 UTC",
                 cases[k].said);
        cr_assert_str_eq(json_string_value(json_object_get(doc, "text")), want);
        json_decref(doc);
    }
    /* an acknowledgement stands: the owner is told someone may be on it */
    json_object_set_new(json_object_get(r, "ticket"), "status", json_string("acknowledged"));
    json_t *doc = render("billing-chat", r, 0);
    cr_assert(strstr(json_string_value(json_object_get(doc, "text")),
                     " fired again after 3 d quiet (still acknowledged) for *vendor-management*") !=
              NULL);
    json_decref(doc);
    cx_alerts_free(alerts);
    alerts = NULL;
    set("alerts.chat_quiet_minutes", "0");
    load();
    cr_assert(!cx__alerts_after_quiet(alerts, r), "0: chat never gets an update");
    json_decref(r);
}

/* Slack reads &, < and > as markup: an owner or reason quoting "<!channel>"
 * must be shown as written, not ping everyone; a "|" or ">" in the page's
 * address must not end the link. */
Test(alerts, chat_text_is_escaped_so_nothing_in_a_ticket_becomes_markup)
{
    set("alerts.receivers", receivers);
    set("alerts.page_url", "https://cx.example/live?a=1&b=x|y>z");
    load();
    json_t *r = row("opened", "open");
    json_t *t = json_object_get(r, "ticket");
    json_object_set_new(t, "owner", json_string("R&D <ops>"));
    json_object_set_new(t, "reason", json_string("<!channel> ratings <3 & falling"));
    json_t *doc = render("billing-chat", r, 0);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "text")),
                     "cxpulse: ticket 42 opened for *R&amp;D &lt;ops&gt;* (rule carrier-spike,"
                     " external): &lt;!channel&gt; ratings &lt;3 &amp; falling"
                     " <https://cx.example/live?a=1&amp;b=x%7Cy%3Ez|live page>");
    json_decref(doc);
    json_decref(r);
}

/* Long texts are cut to fit, never inside a character: the alert still goes
 * out (an id cut inside "é" made it invalid, and an empty list was posted). */
Test(alerts, long_non_ascii_texts_are_cut_between_characters)
{
    set("alerts.receivers", receivers);
    load();
    json_t *r = row("opened", "open");
    json_t *t = json_object_get(r, "ticket"), *ids = json_array();
    char id[200], reason[3000] = "";
    for (int i = 0; i < 10; i++) {
        int n = snprintf(id, sizeof id, "commandes-%d-", i);
        for (int k = 0; k < 55; k++)
            n += snprintf(id + n, sizeof id - (size_t)n, "\xc3\xa9");
        json_array_append_new(ids, json_string(id));
    }
    json_object_set_new(t, "sample_event_ids", ids);
    for (int k = 0; k < 1200; k++)
        strcat(reason, "\xc3\xa9");
    json_object_set_new(t, "reason", json_string(reason));
    json_t *doc = render("ops", r, 0);
    cr_assert_eq(json_array_size(doc), 1, "the alert was left out");
    const char *samples = json_string_value(json_object_get(
        json_object_get(json_array_get(doc, 0), "annotations"), "sample_event_ids"));
    cr_assert(samples != NULL && strncmp(samples, "commandes-0-", 12) == 0);
    cr_assert(strlen(samples) < 1024 && (strlen(samples) + 2) % 124 == 0, "an id cut: %s", samples);
    json_decref(doc);
    doc = render("billing-chat", r, 0);
    cr_assert_not_null(json_object_get(doc, "text"));
    json_decref(doc);
    json_decref(r);
}

/* A chat message too long for Slack (4,000 characters) loses the middle of
 * its reason, marked with "…": the ticket line, the figures at the reason's
 * end and the link are kept, no character or entity is cut, and no "?"
 * stands for a cut character. */
Test(alerts, a_long_chat_message_keeps_its_start_figures_and_link)
{
    set("alerts.receivers", receivers);
    set("alerts.page_url", "https://cx.example/live");
    load();
    static const char *const fills[] = {"\xe3\x82\xb0", "&", "<b>"}; /* グ, then markup */
    for (size_t f = 0; f < CX_ARRAY_LEN(fills); f++) {
        json_t *r = row("opened", "open");
        json_t *t = json_object_get(r, "ticket");
        char *reason = malloc(20000);
        size_t n = 0;
        for (int k = 0; k < 5000; k++)
            n += (size_t)sprintf(reason + n, "%s", fills[f]);
        sprintf(reason + n, ": 7 matching event(s) arrived (the newest dated 10:05 UTC)");
        json_object_set_new(t, "reason", json_string(reason));
        free(reason);
        json_t *doc = render("billing-chat", r, 0);
        const char *text = json_string_value(json_object_get(doc, "text"));
        cr_assert_not_null(text);
        size_t chars = 0;
        for (const char *p = text; *p; p++)
            chars += ((unsigned char)*p & 0xC0) != 0x80;
        cr_expect_leq(chars, 4000, "fill %zu: %zu characters", f, chars);
        cr_expect_geq(chars, 3990, "fill %zu: %zu characters", f, chars);
        cr_expect(strncmp(text,
                          "cxpulse: ticket 42 opened for *vendor-management* (rule carrier-spike,"
                          " external): ",
                          80) == 0,
                  "fill %zu: %.120s", f, text);
        const char *end = ": 7 matching event(s) arrived (the newest dated 10:05 UTC)"
                          " <https://cx.example/live|live page>";
        cr_expect(strlen(text) > strlen(end) && strcmp(text + strlen(text) - strlen(end), end) == 0,
                  "fill %zu: the end was lost: ...%s", f,
                  text + (strlen(text) > 200 ? strlen(text) - 200 : 0));
        cr_expect(strstr(text, "…") != NULL && strchr(text, '?') == NULL, "fill %zu", f);
        for (const char *p = strchr(text, '&'); p != NULL; p = strchr(p + 1, '&'))
            cr_assert(strncmp(p, "&amp;", 5) == 0 || strncmp(p, "&lt;", 4) == 0 ||
                          strncmp(p, "&gt;", 4) == 0,
                      "fill %zu: an entity was cut: %.12s", f, p);
        json_decref(doc);
        json_decref(r);
    }
}

Test(alerts, the_signature_is_the_hmac_sha256_of_timestamp_dot_body)
{
    char sig[72];
    /* The value Python's hmac module gives for the same key and message. */
    cr_assert_eq(cx_alerts_sign("s3cr3t", "1700000000", "{\"a\":1}", 7, sig), CX_OK);
    cr_assert_str_eq(sig,
                     "sha256=8dbbbbf4523b10bbb793e74d854144c45acccc2d233667b1c06b805b6ded8a84");
}

Test(alerts, answers_other_than_408_429_and_5xx_are_permanent)
{
    cr_assert_eq(cx_alerts_classify(200), CX_ALERTS_SENT);
    cr_assert_eq(cx_alerts_classify(204), CX_ALERTS_SENT);
    cr_assert_eq(cx_alerts_classify(0), CX_ALERTS_RETRY);
    cr_assert_eq(cx_alerts_classify(408), CX_ALERTS_RETRY);
    cr_assert_eq(cx_alerts_classify(429), CX_ALERTS_RETRY);
    cr_assert_eq(cx_alerts_classify(500), CX_ALERTS_RETRY);
    cr_assert_eq(cx_alerts_classify(503), CX_ALERTS_RETRY);
    cr_assert_eq(cx_alerts_classify(400), CX_ALERTS_PERMANENT);
    cr_assert_eq(cx_alerts_classify(401), CX_ALERTS_PERMANENT);
    cr_assert_eq(cx_alerts_classify(404), CX_ALERTS_PERMANENT);
    cr_assert_eq(cx_alerts_classify(301), CX_ALERTS_PERMANENT);
}

Test(alerts, backoff_doubles_with_jitter_up_to_the_cap)
{
    set("alerts.retry_min_ms", "100");
    set("alerts.retry_max_ms", "1000");
    load();
    for (int i = 0; i < 200; i++) {
        int first = cx_alerts_backoff_ms(alerts, 0), third = cx_alerts_backoff_ms(alerts, 2),
            late = cx_alerts_backoff_ms(alerts, 30);
        cr_assert(first >= 50 && first <= 100, "%d", first);
        cr_assert(third >= 200 && third <= 400, "%d", third);
        cr_assert(late >= 500 && late <= 1000, "%d", late);
    }
}

Test(alerts, secrets_are_masked_when_the_configuration_is_printed)
{
    set("alerts.receivers",
        "[{\"name\": \"chat\", \"kind\": \"slack\","
        "  \"url\": \"https://hooks.slack.example/services/T0/B0/SLACKTOKEN\"},"
        " {\"name\": \"crm\", \"kind\": \"webhook\", \"url\": \"https://u:PASSWD@crm.example/\","
        "  \"secret\": \"HOOKSECRET\"},"
        " {\"name\": \"am\", \"kind\": \"alertmanager\", \"url\":"
        "  \"https://am.example/?access_token=TOPSECRET&team=ops&api_key=KEY123&Token=TT#x\"},"
        " {\"name\": \"gh\", \"kind\": \"webhook\", \"url\": \"https://USERTOKEN@gh.example/h\"}]");
    set("alerts.webhook", "https://user:URLPASS@hooks.example/x");
    set("alerts.webhook_secret", "ENVSECRET");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cx_config_print(cfg, f);
    fclose(f);
    for (const char *const *s =
             (const char *const[]){"SLACKTOKEN", "PASSWD", "HOOKSECRET", "URLPASS", "ENVSECRET",
                                   "TOPSECRET", "KEY123", "=TT", "USERTOKEN", NULL};
         *s != NULL; s++)
        cr_assert(strstr(buf, *s) == NULL, "%s was printed:\n%s", *s, buf);
    cr_assert(strstr(buf, "https://hooks.slack.example/****") != NULL, "%s", buf);
    cr_assert(
        strstr(buf, "https://am.example/?access_token=****&team=ops&api_key=****&Token=****#x") !=
            NULL,
        "%s", buf);
    cr_assert(strstr(buf, "https://u:****@crm.example/\"") != NULL, "%s", buf);
    /* a webhook's path is often its token (Discord's, Teams') */
    cr_assert(strstr(buf, "https://****@gh.example/****") != NULL, "%s", buf);
    cr_assert(strstr(buf, "https://user:****@hooks.example/****") != NULL, "%s", buf);
    cr_assert(strstr(buf, "\"alerts.webhook_secret\": \"****\"") != NULL, "%s", buf);
    free(buf);
}
