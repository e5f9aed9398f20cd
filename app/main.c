/*
 * main.c - the cxpulse entry point: dispatches to subcommands (see cli.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "event.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"run", cx_cmd_run, "consume, classify, aggregate, write to PostgreSQL until SIGTERM"},
    {"classify", cx_cmd_classify, "classify event JSON lines offline (file or stdin)"},
    {"train", cx_cmd_train, "learn a classification model from labeled events"},
    {"eval", cx_cmd_eval, "score the classifier on labeled events"},
    {"migrate", cx_cmd_migrate, "create or upgrade the cx schema in PostgreSQL"},
    {"mock-kafka", cx_cmd_mock_kafka, "start a local Kafka-protocol broker on loopback"},
    {"replay", cx_cmd_replay, "produce a JSON-lines file to Kafka"},
    {"tickets", cx_cmd_tickets, "list, acknowledge and resolve improvement tickets"},
    {"reclassify", cx_cmd_reclassify, "re-tag stored events with the current rules"},
    {"dead-letters", cx_cmd_dead_letters, "list, show and replay dead letters"},
    {"notifications", cx_cmd_notifications, "list ticket deliveries; retry failed ones"},
    {"config", cx_cmd_config, "check or print the effective configuration"},
    {"demo", cx_cmd_demo, "run the whole pipeline on one machine with sample data"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: cxpulse <command> [options]\n"
                 "       cxpulse --version | --help\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'cxpulse <command> --help' for a command's options.\n");
}

int cx_cmd_unreadable_first(cx_cmd_unreadable *u, const char *field)
{
    if (field == NULL || u->n == CX_CMD_UNREADABLE_MAX)
        return 0;
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->fields[i], field) == 0)
            return 0;
    u->fields[u->n++] = field;
    return 1;
}

int cx_cmd_read_rules_env(const char *cmd, const char **rules, size_t *n_rules, size_t max,
                          const char **model, cx_config **holder, const char **said)
{
    *said = "";
    static const char *const keys[] = {"rules.files", "rules.model"};
    char err[512];
    cx_config *cfg = *holder = cx_config_new();
    if (cfg == NULL) {
        fprintf(stderr, "cxpulse %s: out of memory\n", cmd);
        return CX_EXIT_RUNTIME;
    }
    cx_status st = cx_config_apply_env_of(cfg, keys, model != NULL ? 2 : 1, err, sizeof err);
    if (st == CX_OK && *n_rules == 0 && cfg->n_rule_files > max)
        st = cx_errf(err, sizeof err, CX_ERR_CONFIG,
                     "environment CXPULSE_RULES: more than %zu files", max);
    if (st != CX_OK) {
        fprintf(stderr, "cxpulse %s: %s\n", cmd, err);
        return cx_cmd_exit_status(st);
    }
    int took_rules = *n_rules == 0 && cfg->n_rule_files > 0,
        took_model = model != NULL && *model == NULL && cfg->rule_model != NULL;
    for (size_t i = 0; took_rules && i < cfg->n_rule_files; i++)
        rules[i] = cfg->rule_files[i];
    if (took_rules)
        *n_rules = cfg->n_rule_files;
    if (took_model)
        *model = cfg->rule_model;
    *said = took_rules && took_model ? " (named by CXPULSE_RULES and CXPULSE_MODEL)"
            : took_rules             ? " (named by CXPULSE_RULES)"
            : took_model             ? " (named by CXPULSE_MODEL)"
                                     : "";
    return 0;
}

void cx_cmd_classifier_warnings(const char *cmd, const cx_classifier *clf)
{
    for (size_t i = 0; clf != NULL && i < cx_classifier_warning_count(clf); i++)
        fprintf(stderr, "cxpulse %s: warning: %s\n", cmd, cx_classifier_warning(clf, i));
}

void cx_cmd_put_json(const json_t *json)
{
    char *s = json_dumps(json, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s == NULL)
        return;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0';) {
        size_t n = cx_terminal_control(p);
        if (n > 0) {
            size_t len;
            printf("\\u%04x", (unsigned)cx_utf8_next(p, p + n, &len));
        } else {
            putchar(*p);
            n = 1;
        }
        p += n;
    }
    putchar('\n');
    free(s);
}

FILE *cx_cmd_open_input(const char *path)
{
    return path == NULL || strcmp(path, "-") == 0 ? stdin : cx_open_read(path);
}

void cx_cmd_close_input(FILE *f)
{
    if (f != NULL && f != stdin)
        fclose(f);
}

const char *cx_cmd_json_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

void cx_cmd_print_cell(const char *raw, size_t width, int pad)
{
    size_t len = strlen(raw);
    char small[512], *big = len < sizeof small ? NULL : malloc(len + 1);
    char *s = big ? big : small; /* (no memory: the first 511 bytes, whole characters) */
    cx_printable(raw, s, big ? len + 1 : sizeof small);
    size_t bytes = strlen(s), n = cx_utf8_columns(s, bytes);
    if (n > width) { /* what fits in width - 1 columns, and "…" */
        size_t keep = cx_utf8_fit(s, bytes, width > 0 ? width - 1 : 0, &n);
        printf("%.*s…", (int)keep, s);
        n++;
    } else {
        fputs(s, stdout);
    }
    printf("%*s", pad && n < width ? (int)(width - n) : 0, "");
    free(big);
}

void cx_cmd_say_cut(const char *cmd, const json_t *shown, long long total, const char *noun,
                    const char *fewer)
{
    if (json_is_array(shown) && (size_t)total > json_array_size(shown))
        fprintf(stderr,
                "cxpulse %s: showing %zu of %lld %s: --limit N shows more (up to 100000), %s "
                "fewer\n",
                cmd, json_array_size(shown), total, noun, fewer);
}

int cx_cmd_exit_status(cx_status st)
{
    return st == CX_OK                                 ? CX_EXIT_OK
           : st == CX_ERR_USAGE || st == CX_ERR_CONFIG ? CX_EXIT_USAGE
                                                       : CX_EXIT_RUNTIME;
}

int cx_cmd_retry(const char *who, cx_status st, const char *err, int *failures, int retries,
                 const volatile sig_atomic_t *stop)
{
    if (st != CX_ERR_TRANSIENT || *failures >= retries || (stop != NULL && *stop != 0))
        return 0;
    int delay = *failures < 5 ? 1 << *failures : 30;
    ++*failures;
    fprintf(stderr, "%s: %s; trying again in %d s on new connections (%d of %d)\n", who, err, delay,
            *failures, retries);
    struct timespec tick = {0, 100 * 1000 * 1000};
    for (int i = 0; i < delay * 10 && (stop == NULL || *stop == 0); i++)
        nanosleep(&tick, NULL);
    return 1; /* (a stop during the wait is the caller's to see) */
}

int cx_cmd_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) /* "--": files follow */
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

int cx_cmd_pg_url(const char *cmd, const char *config_path, const char *url_flag, const char **url,
                  cx_config **cfg)
{
    char err[1024];
    *cfg = NULL;
    if (cx_config_check_env(err, sizeof err) != CX_OK) { /* CXPULSE_PG_UR: not silently libpq's */
        fprintf(stderr, "cxpulse %s: %s\n", cmd, err);
        return -1;
    }
    if (config_path != NULL && ((*cfg = cx_config_new()) == NULL ||
                                cx_config_load_file(*cfg, config_path, err, sizeof err) != CX_OK)) {
        fprintf(stderr, "cxpulse %s: %s\n", cmd, *cfg ? err : "out of memory");
        cx_config_free(*cfg);
        *cfg = NULL;
        return -1;
    }
    cx_config_warn_flag_secret("--pg", url_flag);
    const char *env = cx_config_getenv("CXPULSE_PG_URL");
    *url = url_flag != NULL ? url_flag : env != NULL ? env : *cfg != NULL ? (*cfg)->pg_url : NULL;
    return 0;
}

int cx_cmd_known_verb(const char *cmd, const char *word, const char *const *verbs)
{
    cx_typo t = CX_TYPO_INIT(word);
    for (const char *const *v = verbs; *v != NULL; v++)
        cx_typo_offer(&t, *v);
    if (t.distance == 0)
        return 1;
    char hint[160], shown[256];
    fprintf(stderr, "cxpulse %s: unknown subcommand \"%s\"%s", cmd,
            cx_config_shown(word, shown, sizeof shown), cx_typo_hint(&t, 0, hint, sizeof hint));
    if (t.best == NULL) { /* nothing near: the list */
        fprintf(stderr, " (one of");
        for (const char *const *v = verbs; *v != NULL; v++)
            fprintf(stderr, "%s %s", v == verbs ? "" : ",", *v);
        fprintf(stderr, ")");
    }
    fprintf(stderr, "\n");
    return 0;
}

int cx_cmd_read_number(const char *cmd, const cx_cmd_number *num, const char *value)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (end == value || *end != '\0' || errno != 0 || !(v >= num->min && v <= num->max) ||
        (num->whole && v != (double)(long long)v)) {
        char shown[256];
        fprintf(stderr, "cxpulse %s: %s \"%s\": expected %s\n", cmd, num->flag,
                cx_config_shown(value, shown, sizeof shown), num->expected);
        return -1;
    }
    *num->out = v;
    return 0;
}

long long cx_cmd_id(const char *s)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return 0;
    errno = 0;
    long long id = strtoll(s, &end, 10);
    return *end == '\0' && errno == 0 ? id : 0;
}

int cx_cmd_parse_options(const char *cmd, char **args, int n, const cx_cmd_spec *spec)
{
    int options = 1; /* until "--": what follows it is positional ("-x.jsonl" a file) */
    for (int i = 0; i < n; i++) {
        const char *a = args[i];
        if (options && strcmp(a, "--") == 0) {
            options = 0;
            continue;
        }
        if (!options || a[0] != '-' || a[1] == '\0') { /* "-" names stdin */
            if (spec->max_pos == 0 || *spec->n_pos == spec->max_pos) {
                char takes[48] = "options only";
                if (spec->max_pos > 0)
                    snprintf(takes, sizeof takes, "%zu besides options", spec->max_pos);
                char shown[256];
                fprintf(stderr, "cxpulse %s: unexpected argument \"%s\" (it takes %s)\n", cmd,
                        cx_config_shown(a, shown, sizeof shown), takes);
                return -1;
            }
            spec->pos[(*spec->n_pos)++] = a;
            continue;
        }
        size_t k = 0, j = 0, f = 0;
        while (k < spec->n_strs && strcmp(a, spec->strs[k].flag) != 0)
            k++;
        while (j < spec->n_nums && strcmp(a, spec->nums[j].flag) != 0)
            j++;
        while (f < spec->n_flags && strcmp(a, spec->flags[f].flag) != 0)
            f++;
        if (f < spec->n_flags) {
            *spec->flags[f].out = 1;
            continue;
        }
        if (k == spec->n_strs && j == spec->n_nums) {
            cx_typo t = CX_TYPO_INIT(a);
            for (size_t o = 0; o < spec->n_strs; o++)
                cx_typo_offer(&t, spec->strs[o].flag);
            for (size_t o = 0; o < spec->n_nums; o++)
                cx_typo_offer(&t, spec->nums[o].flag);
            for (size_t o = 0; o < spec->n_flags; o++)
                cx_typo_offer(&t, spec->flags[o].flag);
            if (spec->config_flags)
                cx_config_offer_flags(&t);
            char hint[160], shown[256];
            fprintf(stderr, "cxpulse %s: unknown option \"%s\"%s\n", cmd,
                    cx_config_shown(a, shown, sizeof shown),
                    cx_typo_hint(&t, 0, hint, sizeof hint));
            return -1;
        }
        if (i + 1 >= n) {
            fprintf(stderr, "cxpulse %s: \"%s\" needs a value\n", cmd, a);
            return -1;
        }
        const char *v = args[++i];
        if (j < spec->n_nums) {
            if (cx_cmd_read_number(cmd, &spec->nums[j], v) != 0)
                return -1;
            continue;
        }
        const cx_cmd_string *o = &spec->strs[k];
        static const char *const paths[] = {"--rules", "--model",  "--out",    "--from",
                                            "--data",  "--config", "--against"};
        size_t p = 0; /* a path may be any bytes; the rest goes to PostgreSQL or Kafka */
        while (p < CX_ARRAY_LEN(paths) && strcmp(a, paths[p]) != 0)
            p++;
        if (p == CX_ARRAY_LEN(paths) && !cx_utf8_valid(v, strlen(v))) {
            fprintf(stderr,
                    "cxpulse %s: %s: not UTF-8 text (is the terminal in another encoding?)\n", cmd,
                    a);
            return -1;
        }
        if (o->n == NULL)
            *o->out = v;
        else if (*o->n < o->max)
            o->out[(*o->n)++] = v;
        else {
            fprintf(stderr, "cxpulse %s: more than %zu %s\n", cmd, o->max, a);
            return -1;
        }
    }
    return 0;
}

int cx_cmd_parse_verb(const char *cmd, char **args, int n, cx_cmd_spec spec,
                      const char *const *verbs, const char *const *id_verbs, const char **verb,
                      const char **id)
{
    const char *pos[2];
    size_t n_pos = 0;
    spec.pos = pos;
    spec.max_pos = 2;
    spec.n_pos = &n_pos;
    if (cx_cmd_parse_options(cmd, args, n, &spec) != 0)
        return -1;
    *verb = n_pos > 0 ? pos[0] : NULL;
    *id = n_pos > 1 ? pos[1] : NULL;
    if (*verb != NULL && !cx_cmd_known_verb(cmd, *verb, verbs))
        return -1;
    int takes_id = 0;
    for (size_t k = 0; *id != NULL && id_verbs[k] != NULL; k++)
        takes_id |= strcmp(id_verbs[k], *verb) == 0;
    if (*id != NULL && !takes_id) {
        char shown[256];
        fprintf(stderr, "cxpulse %s %s: unexpected argument \"%s\"\n", cmd, *verb,
                cx_config_shown(*id, shown, sizeof shown));
        return -1;
    }
    return 0;
}

const char *cx_cmd_quote_path(const char *path, char *buf, size_t len)
{
    snprintf(buf, len, "%s", path);
    return cx_escape_controls(buf, len);
}

void cx_cmd_file_error(const char *cmd, const char *path, const char *what, int why)
{
    char shown[1024];
    fprintf(stderr, "cxpulse %s: %s: %s: %s\n", cmd, cx_cmd_quote_path(path, shown, sizeof shown),
            what, strerror(why));
}

static int stdout_errno; /* why a command's write to stdout failed (cx_cmd_stdout_failed) */

void cx_cmd_stdout_failed(int why)
{
    if (stdout_errno == 0)
        stdout_errno = why;
}

/* Output that could not be written (a full disk, a file system gone) is a
 * failure, whatever the command did. */
static int output_written(const char *cmd, int rc)
{
    int flushed = fflush(stdout) == 0, why = errno;
    if (flushed && stdout_errno != 0) { /* an earlier write failed, its buffer dropped */
        flushed = 0;
        why = stdout_errno;
    }
    if (!flushed || ferror(stdout)) {
        fprintf(stderr, "cxpulse%s%s: cannot write to standard output%s%s\n", cmd ? " " : "",
                cmd ? cmd : "", flushed ? "" : ": ", flushed ? "" : strerror(why));
        return rc == CX_EXIT_OK ? CX_EXIT_RUNTIME : rc;
    }
    return rc;
}

static int dispatch(int argc, char **argv);

/* Standard streams the caller closed are opened on /dev/null the wrong way
 * round, so the libraries' own files (librdkafka's wake-up pipe) never take
 * their numbers, and reading stdin or writing stdout still fails, saying so
 * ("Bad file descriptor"), as it would closed. */
static void hold_closed_streams(void)
{
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF &&
            open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY) != fd)
            return;
}

/* "--name=value" is the same as "--name value": argv again, with such
 * arguments cut in two in place (their '=' becomes the end of the name).
 * NULL when memory runs out. */
static char **split_equals(int argc, char **argv, int *n)
{
    char **out = malloc(((size_t)argc * 2 + 1) * sizeof *out);
    if (out == NULL)
        return NULL;
    *n = 0;
    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        out[(*n)++] = argv[i];
        if (i > 0 && strncmp(argv[i], "--", 2) == 0 && eq != NULL && eq > argv[i] + 2) {
            *eq = '\0';
            out[(*n)++] = eq + 1;
        }
    }
    out[*n] = NULL;
    return out;
}

int main(int argc, char **argv)
{
    hold_closed_streams();
    cx_event_global_init(); /* before any thread uses jansson */
    int n_args;
    char **args = split_equals(argc, argv, &n_args);
    if (args == NULL) {
        fprintf(stderr, "cxpulse: out of memory\n");
        return CX_EXIT_RUNTIME;
    }
    int rc = dispatch(n_args, args);
    free(args);
    return rc;
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CX_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return output_written(NULL, CX_EXIT_OK);
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("cxpulse %s\n", CX_VERSION);
        return output_written(NULL, CX_EXIT_OK);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return output_written(commands[i].name, commands[i].fn(argc - 1, argv + 1));
    cx_typo t = CX_TYPO_INIT(argv[1]);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        cx_typo_offer(&t, commands[i].name);
    char hint[160], shown[256];
    fprintf(stderr, "cxpulse: unknown command \"%s\"%s\n",
            cx_config_shown(argv[1], shown, sizeof shown),
            t.best ? cx_typo_hint(&t, 0, hint, sizeof hint) : " (see cxpulse --help)");
    return CX_EXIT_USAGE;
}
