/*
 * test_cli.c - the cxpulse binary as users call it: --help, --version, exit
 * codes, and `cxpulse classify` on a file with good and bad lines.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxtest.h"

static char dir[] = "/tmp/cxpulse-cli.XXXXXX";

static void make_dir(void)
{
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    cx_test_sh("rm -rf '%s'", dir);
}

TestSuite(cli, .init = make_dir, .fini = remove_dir);

Test(cli, version_and_help)
{
    cr_assert_eq(
        cx_test_sh("%s --version | grep >/dev/null -E '^cxpulse [0-9]+\\.[0-9]+\\.[0-9]+$'",
                   cx_test_bin()),
        0);
    cr_assert_eq(cx_test_sh("%s --help | grep >/dev/null classify", cx_test_bin()), 0);
    static const char *cmds[] = {"run", "classify", "migrate", "mock-kafka", "replay",
                                 "tickets", "config", "demo", "reclassify",
                                 "dead-letters", "train", "eval"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        cr_assert_eq(cx_test_sh("%s %s --help | grep >/dev/null usage", cx_test_bin(), cmds[i]), 0,
                     "%s", cmds[i]);
    cr_assert_eq(cx_test_sh("%s frobnicate 2>/dev/null", cx_test_bin()), 2);
    cr_assert_eq(cx_test_sh("%s 2>/dev/null", cx_test_bin()), 2);
}

/* Output that cannot be written (a full disk) is a runtime failure that says
 * so, not a success with the output lost. */
Test(cli, output_that_cannot_be_written_is_a_failure)
{
    char errf[300];
    snprintf(errf, sizeof errf, "%s/err.txt", dir);
    const char *cmds[] = {"config --reference", "--version",
                          "config --print --brokers a:1 --topic t", "classify"};
    /* one line, and enough lines that classify's own writes fail, not the last flush */
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0] + 1; i++) {
        const char *cmd = i < sizeof cmds / sizeof cmds[0] ? cmds[i] : "classify";
        cr_assert_eq(cx_test_sh("yes '{\"event_id\":\"a\",\"occurred_at\":"
                                "\"2026-11-01T10:00:00Z\",\"text\":\"x\"}' | head -n %d |"
                                " %s %s > /dev/full 2> %s",
                                i < sizeof cmds / sizeof cmds[0] ? 1 : 20000, cx_test_bin(), cmd,
                                errf),
                     1, "%s", cmd);
        cr_assert_eq(cx_test_sh("grep -q 'cannot write to standard output: No space left on"
                                " device' %s",
                                errf),
                     0, "%s: no message with the reason", cmd);
    }
}

/* A row id past 2^63 - 1 is a usage error naming it, not the largest id
 * (it was read as 9223372036854775807); a command without its verb is a
 * usage error that frees what it read (the sanitizers' leak check). */
Test(cli, ids_are_read_whole_and_a_missing_verb_is_told)
{
    const char *cmds[] = {"tickets ack 99999999999999999999",
                          "tickets resolve +5",
                          "notifications retry 99999999999999999999",
                          "notifications list --ticket 99999999999999999999",
                          "dead-letters show 99999999999999999999",
                          "dead-letters replay --id 99999999999999999999",
                          "dead-letters --json"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        cr_assert_eq(cx_test_sh("%s %s --pg postgresql://u@127.0.0.1:1/db >/dev/null 2>&1",
                                cx_test_bin(), cmds[i]),
                     2, "%s", cmds[i]);
}

Test(cli, classify_writes_one_line_per_input_line)
{
    char in[300], out[300], errf[300];
    snprintf(in, sizeof in, "%s/in.jsonl", dir);
    snprintf(out, sizeof out, "%s/out.jsonl", dir);
    snprintf(errf, sizeof errf, "%s/err.txt", dir);
    FILE *f = fopen(in, "w");
    fputs("{\"event_id\":\"a\",\"occurred_at\":\"2024-05-01T10:00:00Z\","
          "\"text\":\"I was charged twice and the agent was rude\"}\n"
          "not json at all\n"
          "{\"event_id\":\"b\\\"\\\\x\",\"occurred_at\":\"2024-05-01T10:00:00Z\",\"text\":\"ok\"}\n"
          "{\"event_id\":\"c\",\"occurred_at\":\"2024-02-30T10:00:00Z\",\"text\":\"x\"}\n",
          f);
    fclose(f);
    cr_assert_eq(cx_test_sh("%s classify %s > %s 2> %s", cx_test_bin(), in, out, errf), 0);
    cr_assert_eq(cx_test_sh("test $(wc -l < %s) -eq 4", out), 0);
    /* line 1: both categories (ordered by the model's confidence), negative */
    cr_assert_eq(cx_test_sh("sed -n 1p %s | grep >/dev/null -E '\"event_id\":\"a\",\"categories\":"
                            "\\[(\"collaborative\",\"facing\"|\"facing\",\"collaborative\")\\]'",
                            out),
                 0);
    cr_assert_eq(cx_test_sh("sed -n 1p %s | grep >/dev/null '\"sentiment\":\"negative\"'", out), 0);
    cr_assert_eq(cx_test_sh("sed -n 1p %s | grep >/dev/null 'phrase:charged twice'", out), 0);
    /* bad lines: numbered errors on stdout and stderr, processing continued */
    cr_assert_eq(
        cx_test_sh("sed -n 2p %s | grep >/dev/null '^{\"line\":2,\"error\":\"invalid JSON'", out),
        0);
    cr_assert_eq(cx_test_sh("sed -n 4p %s | grep >/dev/null '\"line\":4,\"error\":\"field "
                            "\\\\\"occurred_at\\\\\"'",
                            out),
                 0);
    cr_assert_eq(cx_test_sh("grep -q 'line 2' %s && grep -q 'line 4' %s", errf, errf), 0);
    /* a hostile event_id is escaped: the output line is still JSON */
    cr_assert_eq(cx_test_sh("sed -n 3p %s | grep >/dev/null -F '\"event_id\":\"b\\\"\\\\x\"'", out),
                 0);
}

Test(cli, classify_reads_stdin_and_rejects_bad_rules)
{
    cr_assert_eq(cx_test_sh("echo '{\"event_id\":\"s\",\"occurred_at\":\"2024-05-01T10:00:00Z\","
                            "\"text\":\"the courier lost my parcel\"}' | %s classify | "
                            "grep -q '\"categories\":\\[\"external\"'",
                            cx_test_bin()),
                 0);
    /* "-" names stdin too, for eval as well */
    cr_assert_eq(cx_test_sh("printf '%%s\\n' '{\"event\":{\"event_id\":\"s\",\"occurred_at\":"
                            "\"2024-05-01T10:00:00Z\",\"text\":\"the courier lost my parcel\"},"
                            "\"categories\":[\"external\"],\"sentiment\":\"negative\"}' | "
                            "%s eval - --resamples 0 | grep >/dev/null 'over 1 events (0 lines "
                            "left out); exact label sets 100.0%%'",
                            cx_test_bin()),
                 0);
    /* "-" names stdin too */
    cr_assert_eq(
        cx_test_sh("echo '{\"event_id\":\"s\",\"occurred_at\":\"2024-05-01T10:00:00Z\","
                   "\"text\":\"the courier lost my parcel\"}' | %s classify --model none - | "
                   "grep -q '\"categories\":\\[\"external\"'",
                   cx_test_bin()),
        0);
    char rules[300];
    snprintf(rules, sizeof rules, "%s/bad.json", dir);
    FILE *f = fopen(rules, "w");
    fputs("{\"category\":\"facing\",\"conditions\":[{\"name\":\"x\",\"all\":[{\"field\":"
          "\"channel\",\"op\":\"like\"}]}]}",
          f);
    fclose(f);
    cr_assert_eq(cx_test_sh("%s classify --rules %s </dev/null 2>%s.err", cx_test_bin(), rules,
                            rules),
                 2);
    cr_assert_eq(
        cx_test_sh(
            "grep -qF 'bad.json: rule \"x\", clause all[0]: unknown operator \"like\"' %s.err",
            rules),
        0);
}

/* Events piped in one at a time (kcat ... | cxpulse classify) get their
 * verdicts as they come, not once thousands of lines have filled a block. */
Test(cli, classify_from_a_pipe_answers_each_line_as_it_comes)
{
    static const char ev[] = "{\"event_id\":\"p\",\"occurred_at\":\"2024-05-01T10:00:00Z\","
                             "\"text\":\"the courier lost my parcel\"}\n";
    int in[2], out[2];
    cr_assert_eq(pipe(in), 0);
    cr_assert_eq(pipe(out), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        execl(cx_test_bin(), cx_test_bin(), "classify", "-", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    char line[4096];
    for (int i = 0; i < 3; i++) { /* the pipe stays open: more may come */
        cr_assert_eq(write(in[1], ev, sizeof ev - 1), (ssize_t)(sizeof ev - 1));
        cx_test_read_line(out[0], line, sizeof line, 5000);
        cr_assert(strstr(line, "\"categories\":[\"external\"]") != NULL, "%s", line);
    }
    close(in[1]);
    cr_assert_eq(cx_test_stop(pid, 0, 10000), 0);
    close(out[0]);
}

/* A date or number the built-in field rules cannot read is told once per
 * field, with the line it was first on; the verdicts still come. */
Test(cli, classify_tells_a_field_the_rules_cannot_read_once)
{
    char in[300], errf[300];
    snprintf(in, sizeof in, "%s/dates.jsonl", dir);
    snprintf(errf, sizeof errf, "%s/dates.err", dir);
    FILE *f = fopen(in, "w");
    cr_assert_not_null(f);
    for (int i = 1; i <= 4; i++)
        fprintf(f,
                "{\"event_id\":\"d%d\",\"occurred_at\":\"2024-05-01T10:00:00Z\",\"text\":"
                "\"ok\",\"attributes\":{\"promised_date\":\"%s\",\"delivered_date\":"
                "\"2024-05-03\"}}\n",
                i, i == 1 ? "2024-05-01" : "05/01/2024");
    fclose(f);
    cr_assert_eq(cx_test_sh("%s classify %s 2> %s | grep -c event_id | grep >/dev/null -x 4",
                            cx_test_bin(), in, errf),
                 0);
    cr_assert_eq(cx_test_sh("grep -qx 'cxpulse classify: %s: line 2: warning: "
                            "\"attributes.promised_date\" is not a date (YYYY-MM-DD or RFC "
                            "3339), so the field conditions that compare it do not hold (said "
                            "once per field)' %s",
                            in, errf),
                 0);
    cr_assert_eq(cx_test_sh("test $(wc -l < %s) -eq 1", errf), 0, "told more than once");
}

/* An invalid line's message names the file and line; a labeled example
 * ({"event": ...}, what eval reads) is recognised as one. */
Test(cli, classify_names_the_file_and_line_of_an_invalid_event)
{
    char in[300], errf[300];
    snprintf(in, sizeof in, "%s/labeled.jsonl", dir);
    snprintf(errf, sizeof errf, "%s/labeled.err", dir);
    FILE *f = fopen(in, "w");
    cr_assert_not_null(f);
    fprintf(f, "{\"event_id\":\"a\",\"occurred_at\":\"2024-05-01T10:00:00Z\",\"text\":\"ok\"}\n"
               "{\"event\":{\"event_id\":\"b\",\"occurred_at\":\"2024-05-01T10:00:00Z\","
               "\"text\":\"late\"},\"categories\":[],\"sentiment\":\"negative\"}\n");
    fclose(f);
    cr_assert_eq(cx_test_sh("%s classify %s 2> %s >/dev/null", cx_test_bin(), in, errf), 0);
    cr_assert_eq(cx_test_sh("grep -qx 'cxpulse classify: %s: line 2: missing required field "
                            "\"event_id\" (a labeled example? classify reads events, not "
                            "{\"event\": ...} lines: cxpulse eval scores those)' %s",
                            in, errf),
                 0, "see %s", errf);
}

Test(cli, secrets_never_reach_the_logs)
{
    /* Debug logging, a password in the URL and in a Kafka property, and both
     * services unreachable, so the errors (which name what failed) are logged. */
    char log[512], cfg[512];
    snprintf(log, sizeof log, "%s/run.log", dir);
    snprintf(cfg, sizeof cfg, "%s/sasl.json", dir);
    FILE *f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fputs("{\"kafka\": {\"properties\": {\"security.protocol\": \"sasl_plaintext\","
          " \"sasl.mechanisms\": \"PLAIN\", \"sasl.username\": \"u\","
          " \"sasl.password\": \"k-s3cret\"}}}",
          f);
    fclose(f);
    cr_assert_eq(cx_test_sh("CXPULSE_LOG_LEVEL=debug timeout --preserve-status -s INT 4 %s run"
                            " --config %s --brokers 127.0.0.1:1 --topic t"
                            " --pg 'postgresql://cx:pg-s3cret@127.0.0.1:1/cx?connect_timeout=1'"
                            " --http off >'%s' 2>&1",
                            cx_test_bin(), cfg, log),
                 0, "run did not stop cleanly on SIGINT");
    /* the errors that name what failed were logged: PostgreSQL's (whose URL
     * holds one password) and Kafka's (whose properties hold the other) */
    cr_assert_eq(
        cx_test_sh("grep 'component=sink.pg' '%s' | grep >/dev/null -F 'user \\\"cx\\\", database'",
                   log),
        0, "the PostgreSQL connection failure was not logged");
    cr_assert_eq(cx_test_sh("grep -q 'component=kafka .*sasl_plaintext://127.0.0.1:1' '%s'", log),
                 0, "the Kafka connection failure was not logged");
    cr_assert_eq(cx_test_sh("grep -q 'pg-s3cret\\|k-s3cret' '%s'", log), 1,
                 "a password was logged");
}

/* Writes text to DIR/name, its path in path[300]. */
static void write_file(char *path, const char *name, const char *text)
{
    snprintf(path, 300, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* Runs `cxpulse config --check` with `flag path` (stderr in path.err); returns its exit status. */
static int config_check(const char *flag, const char *path)
{
    return cx_test_sh("%s config --check --brokers k:9092 --topic t %s %s 2>%s.err >/dev/null",
                      cx_test_bin(), flag, path, path);
}

/* Whether path.err has a line matching the grep pattern. */
static int check_said(const char *path, const char *pattern)
{
    return cx_test_sh("grep -q -e '%s' %s.err", pattern, path) == 0;
}

/* config --check refuses what `run` would refuse of the Kafka properties
 * taken together (librdkafka's own checks), and takes larger messages with
 * the fetch sizes they need. */
Test(cli, config_check_sees_kafka_properties_as_run_does)
{
    char cfg[300];
    write_file(cfg, "sasl.json",
               "{\"kafka\": {\"properties\": {\"security.protocol\": \"SASL_SSL\","
               " \"sasl.mechanisms\": \"SCRAM-SHA-512\"}}}");
    cr_assert_eq(config_check("--config", cfg), 2);
    cr_assert(check_said(cfg, "kafka consumer: .*sasl.username"), "see %s.err", cfg);
    write_file(cfg, "big.json",
               "{\"kafka\": {\"properties\": {\"message.max.bytes\": \"10000000\"}}}");
    cr_assert_eq(config_check("--config", cfg), 0, "see %s.err", cfg);
    write_file(cfg, "recv.json",
               "{\"kafka\": {\"properties\": {\"receive.message.max.bytes\": \"2000000\"}}}");
    cr_assert_eq(config_check("--config", cfg), 0, "see %s.err", cfg);
    write_file(cfg, "odd.json",
               "{\"kafka\": {\"properties\": {\"fetch.max.bytes\": \"1000000\","
               " \"message.max.bytes\": \"2000000\"}}}");
    cr_assert_eq(config_check("--config", cfg), 2);
    cr_assert(check_said(cfg, "fetch.max.bytes"), "see %s.err", cfg);
}

Test(cli, config_check_rejects_a_rule_version_run_could_not_record)
{
    char rules[300], text[512] = "{\"version\":\"";
    for (int i = 0; i < 65; i++) /* 65 characters, 130 bytes */
        strcat(text, "\xC3\xA9");
    strcat(text, "\",\"category\":\"facing\",\"phrases\":[{\"terms\":[\"rude\"]}]}");
    write_file(rules, "version.json", text);
    cr_assert_eq(config_check("--rules", rules), 2);
    cr_assert(check_said(rules, "version.json: \"version\" must be a string of 1..64 characters"));
}

Test(cli, config_check_warns_about_terms_that_read_as_one_phrase)
{
    char rules[300];
    write_file(rules, "external.json",
               "{\"category\":\"external\",\"phrases\":[{\"terms\":[\"shipped\"]},"
               "{\"weight\":0.4,\"terms\":[\"shipping\"]}]}");
    /* a warning, not an error: the configuration is usable */
    cr_assert_eq(config_check("--rules", rules), 0);
    cr_assert(check_said(rules, "warning: .*external.json: rule \"phrases\\[1\\]\": "
                                "\"shipping\" (external mention, weight 0.4) reads as the same "
                                "phrase as \"shipped\" (weight 1): weight 1 counts for both"));
}

/* Routes that no ticket rule's tickets match (a misspelt owner) are told of:
 * those tickets would be kept but sent nowhere. */
Test(cli, config_check_warns_about_tickets_no_route_takes)
{
    char cfg[300];
    write_file(cfg, "routes.json",
               "{\"alerts\": {\"receivers\": [{\"name\": \"hook\", \"kind\": \"webhook\","
               " \"url\": \"http://127.0.0.1:9/h\"}], \"routes\": [{\"owner\": "
               "\"Vendor-Management\", \"receivers\": [\"hook\"]}]}}");
    cr_assert_eq(config_check("--config", cfg), 0);
    cr_assert(check_said(cfg, "warning: no route in alerts.routes matches the tickets of"
                              " .*external-nps-detractor (owner vendor-management, category"
                              " external).*sent nowhere"));
}

/* Runs `cxpulse ARGS` (shell words) with output in DIR/out; returns its exit status. */
static int run_cli(const char *args)
{
    return cx_test_sh("timeout 30 %s %s >'%s/out' 2>&1", cx_test_bin(), args, dir);
}

static int out_has(const char *text)
{
    return cx_test_sh("grep -qF -- '%s' '%s/out'", text, dir) == 0;
}

/* `cxpulse ARGS` exits 2 (a usage or configuration error) and says `says`. */
static void expect_refused(const char *args, const char *says)
{
    cr_expect_eq(run_cli(args), 2, "cxpulse %s: exit status is not 2", args);
    cr_expect(out_has(says), "cxpulse %s does not say %s", args, says);
}

/* classify, eval and train read CXPULSE_RULES and CXPULSE_MODEL as run does
 * (an offline check in the service's environment gives the service's
 * verdicts); their flags come first, and a bad file names the variable. */
Test(cli, offline_commands_read_the_rules_and_model_variables)
{
    const char *ev = "echo '{\"event_id\":\"s\",\"occurred_at\":\"2024-05-01T10:00:00Z\","
                     "\"text\":\"the courier lost my parcel\"}' | ";
    cr_assert_eq(cx_test_sh("%s %s classify | grep >/dev/null 'model:'", ev, cx_test_bin()), 0,
                 "the built-in model gives no model evidence: this test tells nothing");
    cr_assert_eq(cx_test_sh("%s CXPULSE_MODEL=none %s classify >'%s/out' &&"
                            " grep -q '\"external\":\\[\"phrase:courier' '%s/out' &&"
                            " ! grep -q 'model:' '%s/out'",
                            ev, cx_test_bin(), dir, dir, dir),
                 0, "CXPULSE_MODEL=none is not the rules alone");
    cr_assert_eq(cx_test_sh("%s CXPULSE_MODEL=/nonexistent.cxm %s classify --model default |"
                            " grep -q 'model:'",
                            ev, cx_test_bin()),
                 0, "the flag does not come first");
    const char *cmds[] = {"classify /dev/null", "eval /dev/null", "train /dev/null --out m.cxm"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char args[160];
        snprintf(args, sizeof args, "%s", cmds[i]);
        cr_expect_eq(cx_test_sh("CXPULSE_RULES=/nonexistent/rules.json timeout 30 %s %s"
                                " >'%s/out' 2>&1",
                                cx_test_bin(), args, dir),
                     2, "%s", cmds[i]);
        cr_expect(out_has("/nonexistent/rules.json: cannot open rule file") &&
                      out_has("(named by CXPULSE_RULES)"),
                  "%s does not name the file and the variable", cmds[i]);
    }
}

/* A file name or an option holding a line break or a terminal's escape
 * sequence is quoted escaped: the error stays one line and colours nothing. */
Test(cli, names_with_control_characters_are_quoted_escaped)
{
    const char *cmds[][2] = {
        {"classify $'/nonexistent/a\\e[31mred\\nnext'",
         "/nonexistent/a\\x1b[31mred\\nnext: cannot open"},
        {"eval $'/nonexistent/a\\e[31m'", "/nonexistent/a\\x1b[31m: cannot open"},
        {"train $'/nonexistent/a\\e[31m' --out m.cxm", "/nonexistent/a\\x1b[31m: cannot open"},
        {"classify $'--x\\e[31m'", "unknown option \"--x\\x1b[31m\""},
        {"tickets ack $'1\\e[31m' --pg 'host=127.0.0.1 port=1'", "\"1\\x1b[31m\""}};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        cr_expect_neq(run_cli(cmds[i][0]), 0, "%s", cmds[i][0]);
        cr_expect(out_has(cmds[i][1]), "cxpulse %s does not say %s", cmds[i][0], cmds[i][1]);
        cr_expect_eq(cx_test_sh("! grep -q $'\\e' '%s/out'", dir), 0,
                     "%s: an escape reached stderr", cmds[i][0]);
    }
}

/* A password on the command line is in the process list for every local
 * user: each command that takes --pg says so, naming the variable to use. */
Test(cli, a_password_in_a_flag_is_warned_about)
{
    const char *cmds[] = {"tickets list", "notifications list", "dead-letters list", "migrate"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char args[256];
        snprintf(args, sizeof args, "%s --pg postgresql://app:S3cretPW@127.0.0.1:1/cx", cmds[i]);
        run_cli(args);
        cr_expect(out_has("--pg holds a password or token, which every local user can read in the"
                          " process list (ps): give it in CXPULSE_PG_URL, PGPASSWORD or"),
                  "cxpulse %s: no warning", cmds[i]);
        cr_expect(!out_has("S3cretPW"), "cxpulse %s shows the password", cmds[i]);
        snprintf(args, sizeof args, "%s --pg postgresql://app@127.0.0.1:1/cx", cmds[i]);
        run_cli(args);
        cr_expect(!out_has("holds a password"), "cxpulse %s: a warning without one", cmds[i]);
    }
    run_cli("config --check --brokers k:9092 --topic t --webhook https://crm.example/h?token=abc");
    cr_expect(out_has("--webhook holds a password or token"));
}

Test(cli, an_unparsable_postgres_url_is_a_configuration_error_at_once)
{
    /* Not retried as if PostgreSQL were down: exit 2 at once, the password not shown. */
    const char *urls[] = {"'host=db password=sec retpw'", "'postgresql://app:secret%zzpw@db/cx'"};
    for (size_t i = 0; i < 2; i++) {
        char args[256];
        snprintf(args, sizeof args, "run --brokers 127.0.0.1:1 --topic t --http off --pg %s",
                 urls[i]);
        cr_expect_eq(run_cli(args), 2, "%s", urls[i]);
        cr_expect(out_has("postgres.url"), "%s", urls[i]);
        cr_expect(!out_has("retpw") && !out_has("secret") && !out_has("zzpw"), "%s", urls[i]);
        snprintf(args, sizeof args, "config --check --brokers b --topic t --pg %s", urls[i]);
        cr_expect_eq(run_cli(args), 2, "config --check accepted %s", urls[i]);
        cr_expect(!out_has("retpw") && !out_has("secret") && !out_has("zzpw"), "%s", urls[i]);
    }
    /* every command that connects says so, exit 2, no retry */
    const char *commands[] = {"migrate",
                              "tickets list",
                              "reclassify",
                              "dead-letters list",
                              "notifications list",
                              "demo --data " CX_SOURCE_DIR "/config/sample/events.jsonl"};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char args[256];
        snprintf(args, sizeof args, "%s --pg 'host=db password=sec retpw'", commands[i]);
        cr_expect_eq(run_cli(args), 2, "%s", commands[i]);
        cr_expect(out_has("postgres.url") && !out_has("retpw"), "%s", commands[i]);
    }
    /* a value libpq refuses before it connects: exit 2 at its first connection,
     * not retried as if PostgreSQL were down */
    const char *values[] = {"sslmode=bogus", "gssencmode=maybe", "connect_timeout=abc",
                            "hostaddr=notanip"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char args[256];
        snprintf(args, sizeof args, "migrate --pg 'postgresql://u:s3cret@127.0.0.1:1/db?%s'",
                 values[i]);
        cr_expect_eq(run_cli(args), 2, "%s", args);
        snprintf(args, sizeof args,
                 "run --brokers 127.0.0.1:1 --topic t --http off --pg "
                 "'postgresql://u:s3cret@127.0.0.1:1/db?%s'",
                 values[i]);
        cr_expect_eq(run_cli(args), 2, "%s", args);
        cr_expect(!out_has("s3cret"), "%s", args);
        const char *others[] = {"dead-letters list", "reclassify", "tickets list"};
        for (size_t k = 0; k < sizeof others / sizeof others[0]; k++) {
            snprintf(args, sizeof args, "%s --pg 'postgresql://u:s3cret@127.0.0.1:1/db?%s'",
                     others[k], values[i]);
            cr_expect_eq(run_cli(args), 2, "%s", args);
        }
    }
    /* the same through the environment and printed */
    char printed[512];
    snprintf(printed, sizeof printed, "%s/printed.json", dir);
    cr_assert_eq(cx_test_sh("CXPULSE_PG_URL='host=db password = s3cret sslpassword=k3y' "
                            "%s config --print > %s && grep -qF 'sslpassword=****' %s",
                            cx_test_bin(), printed, printed),
                 0, "config --print failed or did not print the masked setting");
    cr_expect_eq(cx_test_sh("grep -q 's3cret\\|k3y' %s", printed), 1,
                 "config --print showed a password");
}

/* An argument a command does not take is quoted back with its credentials
 * masked (a URL given without --pg, a mistyped --pg=URL), and --name=value
 * is read as --name value. */
Test(cli, arguments_quoted_in_errors_never_show_a_password)
{
    static const struct {
        const char *args, *says;
    } cases[] = {
        {"migrate postgresql://app:S3cretPW@127.0.0.1:1/cx",
         "unexpected argument \"postgresql://app:****@127.0.0.1:1/cx\""},
        {"tickets list postgresql://app:S3cretPW@127.0.0.1:1/cx", "postgresql://app:****@"},
        {"run --brokers b:1 --topic t --pgg=postgresql://app:S3cretPW@db/cx",
         "unknown argument \"--pgg\" (did you mean --pg?)"},
        {"reclassify --pg=x --rules=/nonexistent.json --sincee=postgresql://app:S3cretPW@db/cx",
         "unknown option \"--sincee\""},
        {"'host=db password=S3cretPW'", "unknown command \"password=**** host=db\""},
        {"dead-letters list 'host=db password=S3cretPW'", "password=****"},
        /* the verb or the id forgotten, a URL where a value goes */
        {"tickets postgresql://app:S3cretPW@127.0.0.1:1/cx",
         "unknown subcommand \"postgresql://app:****@"},
        {"tickets ack postgresql://app:S3cretPW@127.0.0.1:1/cx",
         "expected a ticket id, got \"postgresql://app:****@"},
        {"dead-letters show postgresql://app:S3cretPW@127.0.0.1:1/cx",
         "expected an id, got \"postgresql://app:****@"},
        {"tickets list --limit 'host=db password=S3cretPW'", "--limit \"password=****"},
        {"tickets list --status 'host=db password=S3cretPW'", "--status \"password=****"},
        {"reclassify --since 'host=db password=S3cretPW'", "--since \"password=****"},
        {"dead-letters list --since 'host=db password=S3cretPW'", "--since \"password=****"},
        {"dead-letters replay --id postgresql://app:S3cretPW@127.0.0.1:1/cx",
         "--id \"postgresql://app:****@"},
        {"mock-kafka postgresql://app:S3cretPW@127.0.0.1:1/cx", "\"postgresql://app:****@"},
        /* a setting's value that is not one */
        {"run --log-level postgresql://app:S3cretPW@db/cx", "\"postgresql://app:****@db/cx\" is not one of"},
        {"run --brokers b:1 --group g --pg x --topic postgresql://app:S3cretPW@db/cx"
         " --topic postgresql://app:S3cretPW@db/cx",
         "\"postgresql://app:****@db/cx\" is listed twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_expect_eq(run_cli(cases[i].args), 2, "%s", cases[i].args);
        cr_expect(out_has(cases[i].says), "%s: does not say %s", cases[i].args, cases[i].says);
        cr_expect(!out_has("S3cretPW"), "%s: the password was shown", cases[i].args);
    }
    cr_assert_eq(setenv("CXPULSE_BATCH_MAX_MESSAGES", "postgresql://app:S3cretPW@db/cx", 1), 0);
    expect_refused("config --print",
                   "\"postgresql://app:****@db/cx\" is not a whole number from 1 to");
    cr_expect(!out_has("S3cretPW"), "an environment value's password was shown");
    unsetenv("CXPULSE_BATCH_MAX_MESSAGES");
    cr_assert_eq(run_cli("config --print --pg=postgresql://app:S3cretPW@db/cx --brokers=b:1"
                         " --topic=t"),
                 0);
    cr_expect(out_has("\"kafka.brokers\": \"b:1\"") && out_has("\"t\"") &&
              out_has("\"postgres.url\": \"") && !out_has("S3cretPW"));
}

/* What cannot work is said at once: empty settings, output that cannot be
 * written, a closed standard input. */
Test(cli, what_cannot_work_is_refused_at_once)
{
    /* empty is missing (an env file's CXPULSE_BROKERS=), not 60 s of waiting */
    expect_refused("replay --brokers '' --topic t /dev/null", "--brokers is missing or empty");
    expect_refused("replay --brokers 127.0.0.1:1 --topic '' /dev/null",
                   "--topic is missing or empty");
    expect_refused("mock-kafka --topic ''", "--topic must not be empty");
    expect_refused("demo --pg 'host=127.0.0.1 port=1' --serve --http off",
                   "--serve serves the live page");
    /* a rule file that cannot be read, before the database is tried */
    expect_refused("dead-letters replay --all --rules /nonexistent/rules.json"
                   " --pg 'host=127.0.0.1 port=1'",
                   "/nonexistent/rules.json");
    /* an input that cannot be read is a runtime failure, as for classify */
    cr_expect_eq(run_cli("demo --data /nonexistent/events.jsonl --pg 'host=127.0.0.1 port=1'"
                         " --http off"),
                 1);
    cr_expect(out_has("--data /nonexistent/events.jsonl: No such file"));
    /* the HTTP port taken (a second cxpulse on the machine): says how to choose */
    int port, fd = cx_test_listen(&port);
    char args[160];
    snprintf(args, sizeof args,
             "run --brokers 127.0.0.1:1 --topic t --pg 'host=127.0.0.1 port=1' --http 127.0.0.1:%d",
             port);
    cr_expect_eq(run_cli(args), 1);
    cr_expect(out_has("give another with --http ADDR:PORT (http.listen), or --http off"));
    close(fd);
    /* mock-kafka's address is its output: unwritten, it stops at once */
    cr_expect_eq(cx_test_sh("timeout 20 %s mock-kafka > /dev/full 2>'%s/out'", cx_test_bin(), dir),
                 1);
    cr_expect(out_has("cannot write to standard output"));
    /* a closed standard input is read as one: not as another file taking its number */
    cr_expect_eq(run_cli("replay --brokers 127.0.0.1:1 --topic t - <&-"), 1);
    cr_expect(out_has("cxpulse replay: -: cannot read: Bad file descriptor"));
    cr_expect(!out_has("produced 0 messages"), "a count of nothing tried");
}

Test(cli, a_connection_error_names_the_user_and_database_never_the_password)
{
    cr_expect_eq(run_cli("tickets list --pg 'postgresql://bob:hunter2x@127.0.0.1:1/cxdb'"), 1);
    cr_expect(out_has("127.0.0.1") && out_has("user \"bob\", database \"cxdb\""));
    cr_expect(!out_has("hunter2x"));
    /* the URL from a configuration file, for the commands that read nothing else of it */
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/pg-only.json", dir);
    FILE *f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fputs("{\"postgres\": {\"url\": \"postgresql://bob:hunter2x@127.0.0.1:1/cxdb\"}}", f);
    fclose(f);
    const char *commands[] = {"tickets list", "notifications list", "migrate"};
    for (size_t i = 0; i < 3; i++) {
        char args[1024];
        snprintf(args, sizeof args, "%s --config %s", commands[i], cfg);
        cr_expect_eq(run_cli(args), 1, "%s", commands[i]);
        cr_expect(out_has("user \"bob\", database \"cxdb\"") && !out_has("hunter2x"), "%s",
                  commands[i]);
    }
    cr_expect_eq(run_cli("migrate --config /nonexistent/cx.json"), 2);
    cr_expect(out_has("/nonexistent/cx.json: cannot open"));
}

/* What config --print shows (settings with no value as null) loads back as
 * the same configuration. */
Test(cli, config_print_loads_back_as_the_same_configuration)
{
    char first[512], again[512];
    snprintf(first, sizeof first, "%s/printed-1.json", dir);
    snprintf(again, sizeof again, "%s/printed-2.json", dir);
    cr_assert_eq(cx_test_sh("%s config --print --brokers b:1 --topic t --pg postgresql://u@h/db"
                            " > %s && %s config --print --config %s > %s",
                            cx_test_bin(), first, cx_test_bin(), first, again),
                 0);
    cr_assert_eq(
        cx_test_sh("grep -q '\"alerts.webhook\": null' %s && cmp -s %s %s", first, first, again), 0,
        "%s and %s differ", first, again);
}

/* docs/configuration.md's settings table is config --reference's, and stays so. */
Test(cli, the_documented_settings_are_the_reference)
{
    char ref[512], doc[512];
    snprintf(ref, sizeof ref, "%s/reference.md", dir);
    snprintf(doc, sizeof doc, "%s/documented.md", dir);
    cr_assert_eq(cx_test_sh("%s config --reference > %s", cx_test_bin(), ref), 0);
    cr_assert_eq(cx_test_sh("test $(grep -c '^| `' %s) -ge 20", ref), 0,
                 "config --reference printed no settings table");
    /* both ways: every setting is documented, and every documented row exists */
    cr_expect_eq(cx_test_sh("grep -vxF -f %s/docs/configuration.md %s", CX_SOURCE_DIR, ref), 1,
                 "a line of config --reference is not in docs/configuration.md");
    cr_assert_eq(cx_test_sh("grep '^| `[a-z_]*\\.[a-z_.]*` |' %s/docs/configuration.md > %s",
                            CX_SOURCE_DIR, doc),
                 0);
    cr_expect_eq(cx_test_sh("grep -vxF -f %s %s", ref, doc), 1,
                 "docs/configuration.md documents a setting config --reference does not have");
}

Test(cli, flags_are_checked_before_the_settings)
{
    expect_refused("run --bogus", "unknown argument \"--bogus\"");
    cr_expect(!out_has("brokers\" is not set"));
    expect_refused("run --brokr b:9092", "unknown argument \"--brokr\" (did you mean --brokers?)");
    expect_refused("config --check --brokers b --topic t --http 127.0.0.1:99999",
                   "http.listen \"127.0.0.1:99999\"");
    cr_expect_eq(run_cli("config --check --brokers b --topic t --http 127.0.0.1:9464"), 0);
}

/* A bad number is refused at once, named with what the option takes (it was
 * read as 0 or its leading digits before: "--batch 5x" ran with 5). */
Test(cli, bad_numbers_are_named_with_what_the_option_takes)
{
    expect_refused("reclassify --batch 5x",
                   "--batch \"5x\": expected a whole number from 1 to 100000");
    expect_refused("dead-letters list --limit -3",
                   "--limit \"-3\": expected a whole number from 1 to 100000");
    expect_refused("train x.jsonl --out m.cxm --rate fast",
                   "--rate \"fast\": expected a number above 0");
}

/* A model that could not be written is said before the training, not after it. */
Test(cli, a_model_folder_that_does_not_exist_is_refused_before_training)
{
    expect_refused("train " CX_SOURCE_DIR "/tests/data/company/labeled.jsonl --out "
                   "/nonexistent/m.cxm",
                   "--out /nonexistent/m.cxm: folder /nonexistent does not exist");
    cr_expect(!out_has("trained on"), "it trained first");
}

/* An option without its value, and one that does not exist, are told apart
 * wherever they stand, the last argument too. */
Test(cli, a_missing_value_and_an_unknown_option_are_told_apart)
{
    expect_refused("train x.jsonl --out m.cxm --seed", "\"--seed\" needs a value");
    expect_refused("train x.jsonl --out m.cxm --sead",
                   "unknown option \"--sead\" (did you mean --seed?)");
    expect_refused("eval x.jsonl --agianst none --misses 0",
                   "unknown option \"--agianst\" (did you mean --against?)");
    expect_refused("eval x.jsonl --frobnicate 1", "unknown option \"--frobnicate\"");
    cr_expect(!out_has("did you mean"), "a guess for an option nothing is near");
    /* every command reads its options the same way */
    expect_refused("classify --modle none", "unknown option \"--modle\" (did you mean --model?)");
    expect_refused("classify --rules", "\"--rules\" needs a value");
    expect_refused("classify a.jsonl b.jsonl",
                   "unexpected argument \"b.jsonl\" (it takes 1 besides options)");
    expect_refused("replay --brokers b --topik t x.jsonl",
                   "unknown option \"--topik\" (did you mean --topic?)");
    expect_refused("migrate --pgg x", "unknown option \"--pgg\" (did you mean --pg?)");
    expect_refused("migrate cx", "unexpected argument \"cx\" (it takes options only)");
    /* reclassify also reads the configuration flags: they are guessed too */
    expect_refused("reclassify --confg cx.json",
                   "unknown option \"--confg\" (did you mean --config?)");
    /* an empty time range, and a config command without its one mode */
    expect_refused(
        "reclassify --since 2027-01-01 --until 2026-01-01 --pg postgresql://u@127.0.0.1:1/x",
        "--since 2027-01-01 is not before --until 2026-01-01");
    expect_refused("config", "give one of --check, --print and --reference");
    expect_refused("config --check --print",
                   "give one of --check, --print and --reference, not several");
    /* and the owners' commands, with options that take no value */
    expect_refused("tickets list --pg", "\"--pg\" needs a value");
    expect_refused("notifications list --ticket", "\"--ticket\" needs a value");
    expect_refused("dead-letters list --limit", "\"--limit\" needs a value");
    expect_refused("dead-letters list --lmit 3",
                   "unknown option \"--lmit\" (did you mean --limit?)");
    expect_refused("demo --data", "\"--data\" needs a value");
    /* after "--", a name starting with "-" is a file */
    cr_expect_eq(cx_test_sh("cd '%s' && echo '{\"event_id\":\"d\",\"occurred_at\":"
                            "\"2024-05-01T10:00:00Z\",\"text\":\"x\"}' > ./-x.jsonl &&"
                            " %s classify -- -x.jsonl | grep >/dev/null '\"event_id\":\"d\"'",
                            dir, cx_test_bin()),
                 0, "classify -- -x.jsonl does not read the file");
    expect_refused("classify -x.jsonl", "unknown option \"-x.jsonl\"");
    expect_refused("mock-kafka --topic", "\"--topic\" needs a value");
    expect_refused("mock-kafka --bogus", "unknown option \"--bogus\"");
    /* text in another encoding is a usage error naming the option, not
     * PostgreSQL's "invalid byte sequence" at exit 1 (which says: retry) */
    expect_refused("tickets list --owner $'\\xff\\xfe' --pg 'host=127.0.0.1 port=1'",
                   "--owner: not UTF-8 text");
    expect_refused("dead-letters list --reason $'caf\\xe9' --pg 'host=127.0.0.1 port=1'",
                   "--reason: not UTF-8 text");
    expect_refused("config --check --brokers h:1 --topic $'t\\xff' --group g",
                   "--topic: \"kafka.topics\": not UTF-8 text");
    expect_refused("config --check --brokers h:1 --topic t --group $'g\\xff'",
                   "--group: \"kafka.group\": not UTF-8 text");
    expect_refused("tickets list --jsno", "unknown option \"--jsno\" (did you mean --json?)");
    expect_refused("notifications retry --faild",
                   "unknown option \"--faild\" (did you mean --failed?)");
    /* an option of another verb is named, not taken for a missing id */
    expect_refused("notifications retry --failed --status sent --pg 'host=127.0.0.1 port=1'",
                   "--status, --ticket and --limit are for list");
    expect_refused("notifications retry --failed --json --pg 'host=127.0.0.1 port=1'",
                   "--json is for list");
    expect_refused("notifications retry --pg 'host=127.0.0.1 port=1'",
                   "expected a notification id or --failed");
}

/* A mistyped command or subcommand names the one meant; a word near none
 * gets no guess (a subcommand: the list of them). */
Test(cli, a_mistyped_command_names_the_one_meant)
{
    expect_refused("clasify", "unknown command \"clasify\" (did you mean classify?)");
    expect_refused("frobnicate", "unknown command \"frobnicate\" (see cxpulse --help)");
    expect_refused("config --chek", "unexpected argument \"--chek\" (did you mean --check?)");
    expect_refused("tickets lst", "tickets: unknown subcommand \"lst\" (did you mean list?)");
    expect_refused("dead-letters shwo 3",
                   "dead-letters: unknown subcommand \"shwo\" (did you mean show?)");
    expect_refused("notifications frob",
                   "notifications: unknown subcommand \"frob\" (one of list, retry)");
    /* a mistyped setting's name in the environment, also where only the URL is read:
     * not libpq's defaults, which may reach another database */
    const char *pg_only[] = {"migrate", "tickets list", "notifications list", "dead-letters list"};
    cr_assert_eq(setenv("CXPULSE_PG_UR", "postgresql://u@127.0.0.1:1/x", 1), 0);
    for (size_t k = 0; k < sizeof pg_only / sizeof pg_only[0]; k++)
        expect_refused(pg_only[k],
                       "environment CXPULSE_PG_UR: not a setting (did you mean CXPULSE_PG_URL?)");
    unsetenv("CXPULSE_PG_UR");
}

/* A refusal says what was given, or that nothing was, and what is expected. */
Test(cli, refusals_say_what_was_given_or_missing)
{
    expect_refused("classify --rules ''", "name is empty: give a path, or default");
    expect_refused("classify --model ''", "name is empty: give a path, default (the built-in");
    expect_refused("tickets ack", "needs a ticket id (cxpulse tickets ack ID)");
    expect_refused("notifications list --status bogus --pg x",
                   "--status \"bogus\": expected pending, sent");
    expect_refused("notifications list --ticket abc --pg x",
                   "--ticket \"abc\": expected a ticket id");
    expect_refused("replay --topic t /dev/null", "--brokers is missing or empty");
    /* a rule file saved as UTF-16 is said to be so */
    cr_assert_eq(cx_test_sh("printf '\\377\\376{\\000}\\000' >'%s/r16.json'", dir), 0);
    char args[600];
    snprintf(args, sizeof args, "classify --rules '%s/r16.json' </dev/null", dir);
    expect_refused(args, "this one is UTF-16");
    /* a label line's sentiment is quoted, or said to be missing */
    cr_assert_eq(cx_test_sh("printf '%%s\\n' '{\"event\":{\"event_id\":\"a\",\"occurred_at\":"
                            "\"2024-05-01T10:00:00Z\",\"text\":\"x\"},\"categories\":[],"
                            "\"sentiment\":\"Negative\"}' '{\"event\":{\"event_id\":\"b\","
                            "\"occurred_at\":\"2024-05-01T10:00:00Z\",\"text\":\"x\"},"
                            "\"categories\":[]}' >'%s/l.jsonl'",
                            dir),
                 0);
    snprintf(args, sizeof args, "eval '%s/l.jsonl'", dir);
    cr_expect_neq(run_cli(args), 0);
    cr_expect(out_has("line 1: \"sentiment\" \"Negative\": it must be negative, neutral or "
                      "positive (in lower case)"));
    cr_expect(out_has("line 2: \"sentiment\" is missing"));
}
