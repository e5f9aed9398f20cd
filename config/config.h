/*
 * config.h - cxpulse's configuration: one declarative table of settings
 * (key, type, default, range, environment variable, flag, secret?) drives
 * the JSON file, the environment, the flags, validation and printing.
 *
 * Precedence: defaults < file (--config) < environment (CXPULSE_*) < flags.
 * libpq's own environment (PGHOST, PGPASSWORD, ...) keeps working: an empty
 * postgres.url means "libpq defaults".
 */
#ifndef CX_CONFIG_H
#define CX_CONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "cx.h"

/* Default of batch.max_messages (a demo that wants small batches checks it). */
#define CX_BATCH_MAX_MESSAGES_DEFAULT 7000
/* tickets.max_age_minutes unless set: a day */
#define CX_TICKETS_MAX_AGE_MINUTES_DEFAULT 1440

/* The effective settings: plain data, owned by the cx_config that holds them. */
typedef struct cx_config {
    char *brokers;
    char **topics;
    size_t n_topics;
    char *group;
    char *auto_offset_reset;   /* "earliest" or "latest" */
    json_t *kafka_properties;  /* object of string -> string (cx_config_kafka_properties) */
    int batch_max_messages;
    int batch_max_ms;
    int batch_max_bytes;
    char *pg_url;
    int synchronous_commit;
    int pg_writers;
    char **rule_files;
    size_t n_rule_files;
    char *rule_model;          /* model file; NULL: the built-in model; "none": rules alone */
    int *window_seconds;
    size_t n_window_seconds;
    json_t *ticket_rules;      /* array of objects, interpreted by the tickets module */
    int tickets_max_age_minutes; /* 0: tickets for windows and events of any age */
    char *http_listen;         /* "ADDR:PORT" or "off" */
    char *log_level;
    json_t *alert_receivers;   /* array of objects, interpreted by ops/alerts */
    json_t *alert_routes;      /* array of objects, interpreted by ops/alerts */
    char *alerts_page_url;
    char *alerts_alertmanager; /* shortcut: every ticket to this Alertmanager */
    char *alerts_webhook;      /* shortcut: every ticket to this webhook */
    char *alerts_webhook_secret;
    int alerts_timeout_ms;
    int alerts_retry_min_ms;
    int alerts_retry_max_ms;
    int alerts_resend_seconds;
    int alerts_update_seconds;
    int alerts_chat_quiet_minutes;
    int alerts_poll_ms;
    json_t *origins; /* setting key -> what gave its value (a file, "environment X", "--x") */
} cx_config;

/* Returns new defaults (free with cx_config_free), or NULL when out of memory. */
cx_config *cx_config_new(void);

/* NULL-safe. */
void cx_config_free(cx_config *cfg);

/* Applies a JSON configuration file. Errors name the file, the key and the reason;
 * relative rule file paths are taken relative to the file's folder. */
cx_status cx_config_load_file(cx_config *cfg, const char *path, char *err, size_t errlen);

/* Offers the configuration flags (--brokers, ..., --config) to t: what a
 * mistyped argument probably meant. */
void cx_config_offer_flags(cx_typo *t);

/* Checks the environment's CXPULSE_* names: one within two letters of a
 * setting's (CXPULSE_BROKER) is an error naming that one. */
cx_status cx_config_check_env(char *err, size_t errlen);

/* The environment variable name's value, or NULL when it is unset or empty:
 * an env file's "CXPULSE_PG_URL=" leaves the setting as the file has it. */
const char *cx_config_getenv(const char *name);

/* Applies CXPULSE_* environment variables (cx_config_getenv), after cx_config_check_env(). */
cx_status cx_config_apply_env(cx_config *cfg, char *err, size_t errlen);

/* Applies the variables of the settings keys[0..n) alone ("rules.files":
 * CXPULSE_RULES), for a command that reads no others (keys NULL: every
 * setting's); errors name the variable. */
cx_status cx_config_apply_env_of(cx_config *cfg, const char *const *keys, size_t n, char *err,
                                 size_t errlen);

/* Sets one setting by its dotted key from a string (as flags and the environment give it). */
cx_status cx_config_set(cx_config *cfg, const char *key, const char *value, char *err,
                        size_t errlen);

/*
 * Parses the shared flags of run, demo and config: --config FILE, --brokers,
 * --topic (repeatable), --group, --pg, --http, --log-level, --rules
 * (repeatable), --alertmanager, --webhook. Loads the file first and the environment next, whatever the
 * flags' order, then the flags. Arguments it does not know are left for the
 * caller in rest[0..*n_rest) (rest must hold argc entries).
 */
cx_status cx_config_parse_cli(cx_config *cfg, int argc, char **argv, char **rest,
                              int *n_rest, char *err, size_t errlen);

/* The smallest of signals.window_seconds (60 when none is set): ticket rules and
 * the live page work on windows of this size. */
int cx_config_base_window(const cx_config *cfg);

/* Checks what `run` needs (brokers, topics, each once, group), that
 * postgres.url can be parsed, http.listen is an address and librdkafka takes
 * each of kafka.properties as written (none that cxpulse sets itself, such as
 * group.id; no number with words after it, such as "45 s"), and the ticket rules.
 * The error names what gave the value refused (the file, variable or flag). */
cx_status cx_config_validate_run(const cx_config *cfg, char *err, size_t errlen);

/* The librdkafka properties to set, as pairs in (*out)[0..2 * *n): key, value.
 * They are kafka.properties', where "NAME_env": "VAR" sets NAME to the value of
 * the environment variable VAR (a SASL password kept out of the file). Free
 * *out; its strings live as long as cfg and the environment. Fails naming the
 * property when VAR is unset or empty, or NAME is given as well. */
cx_status cx_config_kafka_properties(const cx_config *cfg, const char ***out, size_t *n, char *err,
                                     size_t errlen);

/* The librdkafka property name as kafka.properties sets it: its value, or that
 * of the variable "NAME_env" names; NULL when neither is set. */
const char *cx_config_kafka_property(const cx_config *cfg, const char *name);

/* Writes the effective configuration as JSON, secrets masked ("****"; postgres.url
 * rebuilt as a keyword/value string, see cx_pg_conninfo_mask). */
void cx_config_print(const cx_config *cfg, FILE *out);

/* arg as an error message may quote it, in buf (cut to len): control bytes
 * escaped (cx_escape_controls), credentials masked, in a URL (its user part, query parameters
 * naming a credential) and in a PostgreSQL conninfo string (password=). Returns buf. */
const char *cx_config_shown(const char *arg, char *buf, size_t len);

/* Warns (log) when the value given to flag (--pg, --webhook, --alertmanager)
 * holds a password or token: every local user can read a process's
 * arguments. The warning names the variable to use instead. */
void cx_config_warn_flag_secret(const char *flag, const char *value);

/* Writes the table of settings (key, env, flag, default, meaning) as Markdown. */
void cx_config_print_reference(FILE *out);

#endif /* CX_CONFIG_H */
