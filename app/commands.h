/*
 * commands.h - the subcommands of the cxpulse binary. Each takes the
 * arguments after its name (argv[0] is the subcommand name) and returns the
 * process exit status: 0 success, 1 runtime failure, 2 bad usage/configuration.
 */
#ifndef CX_COMMANDS_H
#define CX_COMMANDS_H

#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "classify.h"
#include "config.h"
#include "ingest.h"
#include "metrics.h"

#define CX_EXIT_OK 0
#define CX_EXIT_RUNTIME 1
#define CX_EXIT_USAGE 2

int cx_cmd_run(int argc, char **argv);
int cx_cmd_classify(int argc, char **argv);
int cx_cmd_train(int argc, char **argv);
int cx_cmd_eval(int argc, char **argv);
int cx_cmd_migrate(int argc, char **argv);
int cx_cmd_mock_kafka(int argc, char **argv);
int cx_cmd_replay(int argc, char **argv);
int cx_cmd_tickets(int argc, char **argv);
int cx_cmd_reclassify(int argc, char **argv);
int cx_cmd_dead_letters(int argc, char **argv);
int cx_cmd_notifications(int argc, char **argv);
int cx_cmd_config(int argc, char **argv);
int cx_cmd_demo(int argc, char **argv);

/* What a run of the service handled: complete batches' messages, and what the
 * sink's writes did. */
typedef struct cx_run_totals {
    uint64_t messages, stored, duplicates, skipped, dead_lettered, batches;
    uint64_t tickets_opened, tickets_updated;
} cx_run_totals;

/*
 * The service, shared by `cxpulse run` and `cxpulse demo` (cmd_run.c): Kafka
 * consumer -> pipeline (parse, classify, ticket rules) -> PostgreSQL, with the
 * HTTP server and the ticket sender. Runs until SIGTERM/SIGINT (handlers
 * installed here) or, when stop_after_messages > 0, until that many messages
 * were handled. Counts into metrics, which outlives the run (NULL: metrics of
 * the run's own). Returns an exit status (0 clean stop, 1 runtime failure, 2
 * configuration error) and fills *totals. What stops it is a log line at
 * level error, whatever log.level says (under systemd, journalctl -p err
 * shows it).
 */
int cx_run_service(const cx_config *cfg, uint64_t stop_after_messages, cx_metrics *metrics,
                   cx_run_totals *totals);

/* Produces each line of path ("-" = stdin; NULL: the bundled sample data
 * set, config/sample/events.jsonl) to topic, keyed by customer_id; progress
 * on stderr when asked. Returns an exit status; *delivered counts
 * acknowledged messages. */
int cx_replay_file(const char *brokers, const char *topic, const char *path, int progress,
                   uint64_t *delivered);

/* The exit status a command's failure ends with (cli.md): 2 for bad usage or
 * configuration, 1 for anything else (0 for CX_OK). */
int cx_cmd_exit_status(cx_status st);

/* After a batch of a command that writes failed with st and err: whether to
 * try it again on new connections. A transient failure (a lost connection,
 * a deadlock, a lock held past lock_timeout) is, up to `retries` times in a
 * row (*failures counts them; the caller sets it to 0 once a batch is
 * stored): the try is said on stderr after `who` ("reclassify: ...; trying
 * again in 2 s on new connections (2 of 5)"), and it waits 1, 2, 4, 8, 16,
 * then 30 s, less when *stop (may be NULL) becomes non-zero. None is made
 * once *stop is non-zero. */
int cx_cmd_retry(const char *who, cx_status st, const char *err, int *failures, int retries,
                 const volatile sig_atomic_t *stop);

/* True when argv holds "--help" or "-h"; used by every subcommand. */
int cx_cmd_wants_help(int argc, char **argv);

/* A numeric option of a subcommand: its flag, what to call its range in an
 * error ("a number of at least 0"), where its value goes, and the range
 * [min, max] it must be in (a whole number when whole). */
typedef struct cx_cmd_number {
    const char *flag, *expected;
    double *out;
    double min, max;
    int whole;
} cx_cmd_number;

/* Reads value, the value given to num's flag, into *num->out and returns 0;
 * or prints "cxpulse CMD: FLAG "VALUE": expected ..." to stderr and returns
 * -1 when it is not a number in num's range and nothing else. */
int cx_cmd_read_number(const char *cmd, const cx_cmd_number *num, const char *value);

/* The row id written in s (a ticket, notification or dead letter: a whole
 * number from 1 to 2^63 - 1, digits only), or 0 when s is not one. */
long long cx_cmd_id(const char *s);

/* A string option of a subcommand: its flag and where its value goes; with
 * n, a repeatable option whose values fill out[0..max), counted in *n. */
typedef struct cx_cmd_string {
    const char *flag;
    const char **out;
    size_t *n, max;
} cx_cmd_string;

/* An option of a subcommand without a value ("--json"): *out becomes 1. */
typedef struct cx_cmd_flag {
    const char *flag;
    int *out;
} cx_cmd_flag;

/* What a subcommand's arguments may be: numeric and string options, each
 * "--flag VALUE", options without a value, and up to max_pos other
 * arguments, into pos (counted in *n_pos; pos and n_pos may be NULL when
 * max_pos is 0). */
typedef struct cx_cmd_spec {
    const cx_cmd_number *nums;
    size_t n_nums;
    const cx_cmd_string *strs;
    size_t n_strs;
    const cx_cmd_flag *flags;
    size_t n_flags;
    const char **pos;
    size_t max_pos, *n_pos;
    int config_flags; /* the configuration flags were read before: offer them too */
} cx_cmd_spec;

/* The option part of a cx_cmd_spec initializer, from the arrays nums and strs. */
#define CX_CMD_OPTIONS(nums_, strs_)                                                               \
    .nums = (nums_), .n_nums = CX_ARRAY_LEN(nums_), .strs = (strs_), .n_strs = CX_ARRAY_LEN(strs_)

/* The PostgreSQL URL of a command that reads no other setting: url_flag
 * (--pg), else CXPULSE_PG_URL, else the postgres.url of the configuration
 * file config_path (--config; NULL: none); NULL: libpq's environment. *url
 * may point into *cfg (free with cx_config_free). Returns 0, or -1 after
 * printing "cxpulse CMD: ..." when the file cannot be read or a CXPULSE_
 * variable is a setting's name mistyped (cx_config_check_env). */
int cx_cmd_pg_url(const char *cmd, const char *config_path, const char *url_flag, const char **url,
                  cx_config **cfg);

/* Whether word is one of verbs (NULL-terminated: a command's subcommands).
 * If not, returns 0 after printing "cxpulse CMD: unknown subcommand" with
 * the one probably meant, or the list of them, to stderr. */
int cx_cmd_known_verb(const char *cmd, const char *word, const char *const *verbs);

/* Reads args[0..n) by spec; an argument not starting with '-', "-" (stdin),
 * and every argument after "--" is a positional one. Returns 0, or -1 after printing "cxpulse CMD:
 * ..." naming the argument to stderr: an unknown option (with the one probably meant), a missing or
 * bad value, or more values than a list or the other arguments hold. */
int cx_cmd_parse_options(const char *cmd, char **args, int n, const cx_cmd_spec *spec);

/* cx_cmd_parse_options() for a command with verbs ("tickets ack ID"): the
 * first other argument is the verb, one of verbs (NULL-terminated; *verb NULL
 * when none is given), the second a row id, which only the verbs of id_verbs
 * take (*id NULL when none is given). spec's positional fields are not used.
 * Returns 0, or -1 after printing what is wrong to stderr. */
int cx_cmd_parse_verb(const char *cmd, char **args, int n, cx_cmd_spec spec,
                      const char *const *verbs, const char *const *id_verbs, const char **verb,
                      const char **id);

/* The fields that field conditions could not read (cx_tags.unreadable) told
 * so far: each is told once, as the first event that has it is met. */
#define CX_CMD_UNREADABLE_MAX 16
typedef struct cx_cmd_unreadable {
    const char *fields[CX_CMD_UNREADABLE_MAX];
    size_t n;
} cx_cmd_unreadable;

/* Whether field (a cx_tags.unreadable) is new to u, which then remembers it:
 * 0 for NULL, a field told before, or one past CX_CMD_UNREADABLE_MAX. */
int cx_cmd_unreadable_first(cx_cmd_unreadable *u, const char *field);

/* How it is told, from cx_tags.unreadable and unreadable_needs. */
#define CX_CMD_UNREADABLE_FMT                                                                      \
    "\"%s\" is not %s, so the field conditions that compare it do not hold"

/* The input a command reads: stdin for "-" (or NULL), else the file opened by
 * cx_open_read (NULL with errno on failure). cx_cmd_close_input() closes
 * it unless it is stdin. */
FILE *cx_cmd_open_input(const char *path);

/* The rule files and model of an offline command (classify, eval, train)
 * when its flags give none: CXPULSE_RULES into rules[0..max) and *n_rules
 * when *n_rules is 0, and with model non-NULL CXPULSE_MODEL into *model when
 * it is NULL, as `run` reads them. *holder keeps the strings: free it with
 * cx_config_free(). *said is "" or, for an error about the files, which
 * variables named them (" (named by CXPULSE_RULES)"). Returns 0, or after
 * saying why on stderr, the exit status. */
int cx_cmd_read_rules_env(const char *cmd, const char **rules, size_t *n_rules, size_t max,
                          const char **model, cx_config **holder, const char **said);

/* Says on stderr "cxpulse <cmd>: <path>: <what>: <strerror(why)>", path
 * quoted as cx_cmd_quote_path() does ("cannot open", "cannot read"). */
void cx_cmd_file_error(const char *cmd, const char *path, const char *what, int why);

/* path as a message may quote it, in buf (cut to len): control bytes
 * escaped (a name holding a line break or a terminal's escape sequence stays
 * one line and does nothing). Returns buf. */
const char *cx_cmd_quote_path(const char *path, char *buf, size_t len);

/* Records why a write to stdout failed (errno), for the message the command
 * ends with ("cannot write to standard output: No space left on device"). */
void cx_cmd_stdout_failed(int why);

/* Prints each of clf's warnings (about its rule files and model) to stderr
 * as "cxpulse <cmd>: warning: ...". */
void cx_cmd_classifier_warnings(const char *cmd, const cx_classifier *clf);

/* The Kafka consumer `run` starts for cfg, with the librdkafka properties
 * props (cx_config_kafka_properties: n_props pairs). */
cx_consumer_config cx_cmd_consumer_config(const cx_config *cfg, const char **props, size_t n_props);

/* Prints json (indented, keys in order) and a newline to stdout. C1 controls
 * and bidirectional formatting characters that event text or a receiver's
 * answer may hold are written as \u escapes: the same JSON for a program,
 * nothing a terminal acts on (reordering the text around them). */
void cx_cmd_put_json(const json_t *json);
void cx_cmd_close_input(FILE *f);

/* The string at key of a JSON object, or "" (for printing tables). */
const char *cx_cmd_json_str(const json_t *o, const char *key);

/* Prints raw made printable (cx_printable: control characters as spaces) in
 * at most `width` terminal columns (cx_utf8_columns(): CJK and emoji take 2,
 * combining marks and joiners none): when it is wider, cut where a character
 * sequence ends (cx_utf8_fit(): an accent stays with its letter, a ZWJ emoji
 * and a flag whole) and ended with "…" (one column); then, when pad, spaces up
 * to width. */
void cx_cmd_print_cell(const char *raw, size_t width, int pad);

/* When a list shows fewer of its rows than match (a JSON array `shown` of
 * `total`), says so on stderr, where a script reading stdout does not see it:
 * "cxpulse CMD: showing N of M NOUN: --limit N shows more (up to 100000),
 * FEWER fewer" (FEWER: the options that narrow the list). */
void cx_cmd_say_cut(const char *cmd, const json_t *shown, long long total, const char *noun,
                    const char *fewer);

#endif /* CX_COMMANDS_H */
