/*
 * cmd_config.c - `cxpulse config --check | --print [--config FILE] [flags]`:
 * validates a configuration and its rule files, or prints the effective
 * configuration (file, then environment, then flags) with secrets masked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "classify.h"
#include "commands.h"
#include "config.h"

static int usage(FILE *out, int rc)
{
    fprintf(out, "usage: cxpulse config --check [--config FILE] [flags]\n"
                 "       cxpulse config --print [--config FILE] [flags]\n"
                 "       cxpulse config --reference\n\n"
                 "--check validates the configuration and its rule files (exit 0 or 2);\n"
                 "--print writes the effective configuration as JSON, secrets masked;\n"
                 "--reference writes the table of settings (Markdown).\n"
                 "Flags as for cxpulse run: --brokers --topic --group --pg --http\n"
                 "--log-level --rules --model --alertmanager --webhook.\n");
    return rc;
}

int cx_cmd_config(int argc, char **argv)
{
    if (cx_cmd_wants_help(argc, argv))
        return usage(stdout, CX_EXIT_OK);
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int n_rest = 0, check = 0, print = 0, reference = 0;
    char err[1024];
    cx_config *cfg = cx_config_new();
    int rc = CX_EXIT_USAGE;
    if (cfg == NULL || rest == NULL)
        goto done;
    if (cx_config_parse_cli(cfg, argc, argv, rest, &n_rest, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse config: %s\n", err);
        goto done;
    }
    for (int i = 0; i < n_rest; i++) {
        if (strcmp(rest[i], "--check") == 0)
            check = 1;
        else if (strcmp(rest[i], "--print") == 0)
            print = 1;
        else if (strcmp(rest[i], "--reference") == 0)
            reference = 1;
        else {
            cx_typo t = CX_TYPO_INIT(rest[i]);
            char hint[160];
            cx_typo_offer(&t, "--check");
            cx_typo_offer(&t, "--print");
            cx_typo_offer(&t, "--reference");
            cx_config_offer_flags(&t);
            char shown[256];
            fprintf(stderr, "cxpulse config: unexpected argument \"%s\"%s\n",
                    cx_config_shown(rest[i], shown, sizeof shown),
                    cx_typo_hint(&t, 0, hint, sizeof hint));
            usage(stderr, 0);
            goto done;
        }
    }
    if (check + print + reference != 1) {
        fprintf(stderr, "cxpulse config: give one of --check, --print and --reference%s\n",
                check + print + reference ? ", not several" : "");
        usage(stderr, 0);
        goto done;
    }
    if (reference) {
        cx_config_print_reference(stdout);
    } else if (print) {
        cx_config_print(cfg, stdout);
    } else {
        cx_classifier *clf = NULL;
        if (cx_classifier_new_model(&clf, (const char *const *)cfg->rule_files,
                                    cfg->n_rule_files, cfg->rule_model, err,
                                    sizeof err) != CX_OK) {
            fprintf(stderr, "cxpulse config: %s\n", err);
            goto done;
        }
        if (cx_config_validate_run(cfg, err, sizeof err) != CX_OK) {
            fprintf(stderr, "cxpulse config: %s\n", err);
            cx_classifier_free(clf);
            goto done;
        }
        const char **props = NULL;
        size_t n_props = 0;
        cx_status kst = cx_config_kafka_properties(cfg, &props, &n_props, err, sizeof err);
        if (kst == CX_OK) { /* librdkafka's own checks of the properties together */
            cx_consumer_config cc = cx_cmd_consumer_config(cfg, props, n_props);
            kst = cx_consumer_check(&cc, err, sizeof err);
        }
        free(props);
        if (kst != CX_OK) {
            fprintf(stderr, "cxpulse config: %s\n", err);
            cx_classifier_free(clf);
            goto done;
        }
        cx_alerts *alerts = NULL;
        if (cx_alerts_new(&alerts, cfg, err, sizeof err) != CX_OK) {
            fprintf(stderr, "cxpulse config: %s\n", err);
            cx_classifier_free(clf);
            goto done;
        }
        cx_cmd_classifier_warnings("config", clf);
        cx_ticket_rules *rules = NULL;
        char unrouted[1024];
        if (cx_ticket_rules_new(&rules, cfg->ticket_rules, cx_config_base_window(cfg), err,
                                sizeof err) == CX_OK &&
            cx_alerts_unrouted(alerts, rules, unrouted, sizeof unrouted) > 0)
            fprintf(stderr, "cxpulse config: warning: " CX_UNROUTED "\n", unrouted);
        cx_ticket_rules_free(rules);
        printf("configuration OK: brokers %s, %zu topic(s), group %s, rules %s, %zu alert "
               "receiver(s)\n",
               cfg->brokers, cfg->n_topics, cfg->group, cx_classifier_version(clf),
               cx_alerts_receiver_count(alerts));
        cx_alerts_free(alerts);
        cx_classifier_free(clf);
    }
    rc = CX_EXIT_OK;
done:
    cx_config_free(cfg);
    free(rest);
    return rc;
}
