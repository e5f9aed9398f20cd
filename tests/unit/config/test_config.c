/*
 * test_config.c - configuration: file, environment and flag precedence,
 * errors that name the key, secrets masked when printed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char dir[] = "/tmp/cxpulse-config.XXXXXX";
static char path[300];

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/cxpulse.json", dir);
    unsetenv("CXPULSE_BROKERS");
    unsetenv("CXPULSE_GROUP");
    unsetenv("CXPULSE_TOPICS");
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

TestSuite(cx_config, .init = setup, .fini = teardown);

static void write_file(const char *json)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(json, f);
    fclose(f);
}

/* A configuration loaded from a file holding json, which must load. */
static cx_config *loaded(const char *json)
{
    write_file(json);
    cx_config *cfg = cx_config_new();
    char err[512] = "";
    cr_assert_eq(cx_config_load_file(cfg, path, err, sizeof err), CX_OK, "%s", err);
    return cfg;
}

static void expect_file_error(const char *json, const char *want)
{
    write_file(json);
    cx_config *cfg = cx_config_new();
    char err[512] = "";
    cr_assert_eq(cx_config_load_file(cfg, path, err, sizeof err), CX_ERR_CONFIG, "%s", json);
    cr_assert(strstr(err, path) != NULL && strstr(err, want) != NULL, "\"%s\" lacks \"%s\"", err,
              want);
    cx_config_free(cfg);
}

/* What cx_config_print() writes for cfg (free it). */
static char *printed(const cx_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    cx_config_print(cfg, f);
    fclose(f);
    return buf;
}

Test(cx_config, defaults)
{
    cx_config *cfg = cx_config_new();
    cr_assert_str_eq(cfg->group, "cxpulse");
    cr_assert_eq(cfg->batch_max_messages, 7000);
    cr_assert_eq(cfg->n_window_seconds, 1);
    cr_assert_eq(cfg->window_seconds[0], 60);
    cr_assert_str_eq(cfg->http_listen, "127.0.0.1:9464");
    cr_assert(cfg->synchronous_commit);
    cx_config_free(cfg);
}

/* Writes text to dir/rel, making its folder. */
static void write_at(const char *rel, const char *text)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    cr_assert(mkdir(p, 0700) == 0 || errno == EEXIST);
    *slash = '/';
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* Two files given by relative paths (--config a/first.json --config
 * b/second.json): the second, which names no rule or model file, leaves the
 * first one's where they are (it had moved them to b/a/). */
Test(cx_config, a_second_file_does_not_move_the_first_ones_paths)
{
    write_at("a/first.json", "{\"rules\": {\"files\": [\"x.json\"], \"model\": \"m.cxm\"}}");
    write_at("b/second.json", "{\"batch\": {\"max_messages\": 100}}");
    char cwd[1024], err[512];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    cr_assert_eq(chdir(dir), 0);
    cx_config *cfg = cx_config_new();
    cx_status st1 = cx_config_load_file(cfg, "a/first.json", err, sizeof err);
    cx_status st2 = st1 == CX_OK ? cx_config_load_file(cfg, "b/second.json", err, sizeof err) : st1;
    cr_assert_eq(chdir(cwd), 0);
    cr_assert_eq(st2, CX_OK, "%s", err);
    cr_assert_eq(cfg->batch_max_messages, 100);
    cr_assert_str_eq(cfg->rule_files[0], "a/x.json");
    cr_assert_str_eq(cfg->rule_model, "a/m.cxm");
    cx_config_free(cfg);
    char p[400];
    const char *files[] = {"a/first.json", "b/second.json", "a", "b"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        remove(p);
    }
}

/* "default" and "none" name a model, not a file beside the configuration:
 * they stay names ("default" was read as FOLDER/default). */
Test(cx_config, the_model_names_stay_names)
{
    static const char *const names[] = {"default", "none"};
    for (size_t i = 0; i < 2; i++) {
        char json[100];
        snprintf(json, sizeof json, "{\"rules\": {\"model\": \"%s\"}}", names[i]);
        cx_config *cfg = loaded(json);
        cr_assert_str_eq(cfg->rule_model, names[i]);
        cx_config_free(cfg);
    }
}

/* null unsets a list as it does any setting: a second file's null rule
 * files leave the built-in rules, as [] does. */
Test(cx_config, a_null_list_is_no_list)
{
    cx_config *cfg = loaded("{\"rules\": {\"files\": [\"a.json\"]}}");
    cr_assert_eq(cfg->n_rule_files, 1);
    write_file("{\"rules\": {\"files\": null}}");
    char err[512] = "";
    cr_assert_eq(cx_config_load_file(cfg, path, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cfg->n_rule_files, 0);
    cx_config_free(cfg);
    expect_file_error("{\"rules\": {\"files\": \"a.json\"}}", "must be an array of strings");
}

Test(cx_config, reads_a_file_with_every_kind_of_setting)
{
    cx_config *cfg =
        loaded("{\"kafka\": {\"brokers\": \"k:9092\", \"topics\": [\"a\", \"b\"],"
               " \"properties\": {\"security.protocol\": \"SASL_SSL\", \"sasl.password\": \"pw\","
               " \"fetch.min.bytes\": 1024}},"
               " \"batch\": {\"max_messages\": 500}, \"postgres\": {\"synchronous_commit\": false},"
               " \"rules\": {\"files\": [\"rules/x.json\", \"/abs/y.json\", \"default\"],"
               " \"model\": \"m/my.cxm\"},"
               " \"signals\": {\"window_seconds\": [60, 3600]},"
               " \"tickets\": {\"rules\": [{\"name\": \"r\"}]}}");
    cr_assert_str_eq(cfg->brokers, "k:9092");
    cr_assert_eq(cfg->n_topics, 2);
    cr_assert_str_eq(cfg->topics[1], "b");
    cr_assert_str_eq(json_string_value(json_object_get(cfg->kafka_properties, "fetch.min.bytes")),
                     "1024");
    cr_assert_eq(cfg->batch_max_messages, 500);
    cr_assert_eq(cfg->synchronous_commit, 0);
    char want[400];
    snprintf(want, sizeof want, "%s/rules/x.json", dir);
    cr_assert_str_eq(cfg->rule_files[0], want, "relative to the file's folder");
    cr_assert_str_eq(cfg->rule_files[1], "/abs/y.json");
    cr_assert_str_eq(cfg->rule_files[2], "default", "the built-in rules' name stays a name");
    snprintf(want, sizeof want, "%s/m/my.cxm", dir);
    cr_assert_str_eq(cfg->rule_model, want, "the model file too");
    cr_assert_eq(cfg->n_window_seconds, 2);
    cr_assert_eq(cfg->window_seconds[1], 3600);
    cr_assert_eq(json_array_size(cfg->ticket_rules), 1);

    cx_config_free(cfg);
}

/* JSON does not tell 7000 from 7e3 or 7000.0 (jansson reads the last two as
 * reals): a whole number written either way is that number; a fraction is
 * refused, and a number too large for any setting is named as written. A
 * librdkafka property may be any number (the last two were refused, as not
 * "a string, number or boolean"). */
Test(cx_config, a_whole_number_may_be_written_as_a_real)
{
    cx_config *cfg = loaded("{\"batch\": {\"max_messages\": 5e2, \"max_ms\": 250.0},"
                            " \"signals\": {\"window_seconds\": [6e1, 3600.0]},"
                            " \"kafka\": {\"properties\": {\"fetch.wait.max.ms\": 1e2,"
                            " \"retry.backoff.ms\": 100.0}}}");
    cr_assert_eq(cfg->batch_max_messages, 500);
    cr_assert_eq(cfg->batch_max_ms, 250);
    cr_assert_eq(cfg->n_window_seconds, 2);
    cr_assert_eq(cfg->window_seconds[0], 60);
    cr_assert_eq(cfg->window_seconds[1], 3600);
    const json_t *props = cfg->kafka_properties;
    cr_assert_str_eq(json_string_value(json_object_get(props, "fetch.wait.max.ms")), "100");
    cr_assert_str_eq(json_string_value(json_object_get(props, "retry.backoff.ms")), "100");
    cx_config_free(cfg);

    expect_file_error("{\"batch\": {\"max_messages\": 2.5}}",
                      "\"batch.max_messages\": must be a whole number");
    expect_file_error("{\"batch\": {\"max_messages\": 1e300}}",
                      "\"batch.max_messages\": 1e+300 is above the maximum");
    expect_file_error("{\"batch\": {\"max_messages\": -1e300}}",
                      "\"batch.max_messages\": -1e+300 is below the minimum");
    expect_file_error("{\"signals\": {\"window_seconds\": [60, 90.5]}}",
                      "element 1 is not a whole number");
}

Test(cx_config, errors_name_the_file_and_key)
{
    expect_file_error("{\"batch\": {\"max_ms\": 0}}", "\"batch.max_ms\": 0 is below the minimum 1");
    expect_file_error("{\"batch\": {\"max_messages\": \"many\"}}",
                      "\"batch.max_messages\": must be a whole number");
    expect_file_error("{\"kafka\": {\"gruop\": \"g\"}}",
                      "\"kafka.gruop\": unknown setting (did you mean \"kafka.group\"?)");
    expect_file_error("{\"kafka\": {\"broker\": \"b\"}}",
                      "\"kafka.broker\": unknown setting (did you mean \"kafka.brokers\"?)");
    expect_file_error("{\"topics\": [\"t\"]}",
                      "\"topics\": unknown setting (did you mean \"kafka.topics\"?)");
    /* nothing near: no guess */
    write_file("{\"kafka\": {\"compression\": \"lz4\"}}");
    cx_config *cfg = cx_config_new();
    char err[512] = "";
    cr_assert_eq(cx_config_load_file(cfg, path, err, sizeof err), CX_ERR_CONFIG);
    cr_assert(strstr(err, "\"kafka.compression\": unknown setting") != NULL, "%s", err);
    cr_assert(strstr(err, "did you mean") == NULL, "%s", err);
    cx_config_free(cfg);
    expect_file_error("{\"kafka\": {\"auto_offset_reset\": \"middle\"}}",
                      "\"middle\" is not one of earliest|latest");
    expect_file_error("{\"signals\": {\"window_seconds\": [60, 60]}}", "is listed twice");
    expect_file_error("{\"kafka\": {\"topics\": \"t\"}}", "must be an array of strings");
    expect_file_error("{\"log\": {\"level\": \"loud\"}}", "is not one of");
    expect_file_error("{\"log\": {\"level\": \"debug|info\"}}", "is not one of");
    expect_file_error("{\"kafka\": {\"auto_offset_reset\": \"earliest|latest\"}}", "is not one of");
    expect_file_error("{\"log\": {\"level\": \"in\"}}", "is not one of");
    expect_file_error("{\"kafka\": {\"brokers\": \"x\",}}", ":1:");
}

/* At most 16 PostgreSQL writers (the engine's writer threads): 17 is refused
 * with the maximum, 16 accepted. */
Test(cx_config, more_than_16_postgres_writers_are_refused)
{
    expect_file_error("{\"postgres\": {\"writers\": 17}}",
                      "\"postgres.writers\": 17 is above the maximum 16");
    cx_config_free(loaded("{\"postgres\": {\"writers\": 16}}"));
}

/* A window is at most a day: a list element beyond 86400 s is refused, named
 * with the range, as one below 1 is. */
Test(cx_config, a_signal_window_longer_than_a_day_is_refused)
{
    expect_file_error("{\"signals\": {\"window_seconds\": [60, 86401]}}",
                      "\"signals.window_seconds\": element 1 is out of range (allowed 1..86400, "
                      "each once)");
    expect_file_error("{\"signals\": {\"window_seconds\": [0]}}",
                      "element 0 is out of range (allowed 1..86400");
    cx_config_free(loaded("{\"signals\": {\"window_seconds\": [60, 86400]}}"));
}

/* A file that is not there, and a directory, are named with the reason (a
 * directory used to be "'[' or '{' expected near end of file"). */
Test(cx_config, a_file_that_cannot_be_read_is_named_with_the_reason)
{
    cx_config *cfg = cx_config_new();
    char err[512] = "";
    cr_assert_eq(cx_config_load_file(cfg, path, err, sizeof err), CX_ERR_CONFIG);
    cr_assert(strstr(err, "cxpulse.json: cannot open: No such file or directory") != NULL, "%s",
              err);
    cr_assert_eq(cx_config_load_file(cfg, dir, err, sizeof err), CX_ERR_CONFIG);
    cr_assert(strstr(err, ": cannot open: Is a directory") != NULL, "%s", err);
    cx_config_free(cfg);
}

Test(cx_config, environment_beats_file_and_flags_beat_environment)
{
    write_file("{\"kafka\": {\"brokers\": \"file:1\", \"group\": \"file-group\","
               " \"topics\": [\"file-topic\"]}}");
    setenv("CXPULSE_BROKERS", "env:1", 1);
    setenv("CXPULSE_GROUP", "env-group", 1);
    char *argv[] = {"run", "--group", "flag-group", "--config", path, "--topic", "t1", "--topic",
                    "t2", "--extra", NULL};
    char *rest[11];
    int n_rest;
    char err[512];
    cx_config *cfg = cx_config_new();
    cr_assert_eq(cx_config_parse_cli(cfg, 10, argv, rest, &n_rest, err, sizeof err), CX_OK, "%s",
                 err);
    cr_assert_str_eq(cfg->brokers, "env:1");
    cr_assert_str_eq(cfg->group, "flag-group");
    cr_assert_eq(cfg->n_topics, 2, "repeated --topic adds up and replaces the file's list");
    cr_assert_str_eq(cfg->topics[0], "t1");
    cr_assert_eq(n_rest, 1);
    cr_assert_str_eq(rest[0], "--extra");
    cr_assert_eq(cx_config_validate_run(cfg, err, sizeof err), CX_OK, "%s", err);
    cx_config_free(cfg);
}

Test(cx_config, a_mistyped_environment_variable_is_an_error_naming_the_meant_one)
{
    char err[512];
    cx_config *cfg = cx_config_new();
    setenv("CXPULSE_MODEL_BUILD", "elsewhere", 1); /* not near a setting: left be */
    cr_assert_eq(cx_config_apply_env(cfg, err, sizeof err), CX_OK, "%s", err);
    setenv("CXPULSE_PG_WRITER", "4", 1);
    cr_assert_eq(cx_config_apply_env(cfg, err, sizeof err), CX_ERR_CONFIG);
    unsetenv("CXPULSE_PG_WRITER");
    unsetenv("CXPULSE_MODEL_BUILD");
    cr_assert(strstr(err, "environment CXPULSE_PG_WRITER: not a setting (did you mean "
                          "CXPULSE_PG_WRITERS?)") != NULL,
              "%s", err);
    cx_config_free(cfg);
}

Test(cx_config, validation_says_what_run_is_missing)
{
    cx_config *cfg = cx_config_new();
    char err[512];
    cr_assert_eq(cx_config_validate_run(cfg, err, sizeof err), CX_ERR_CONFIG);
    cr_assert(strstr(err, "kafka.brokers") != NULL, "%s", err);
    cx_config_free(cfg);
}

/* The built-in rules' 15-minute windows with hourly signals: the message says
 * whose rules those are and what to do, not only a rule nobody wrote. */
Test(cx_config, the_built_in_ticket_rules_that_do_not_fit_the_windows_are_named_as_such)
{
    cx_config *cfg = loaded("{\"kafka\": {\"brokers\": \"b:9092\", \"topics\": [\"t\"]},"
                            " \"signals\": {\"window_seconds\": [3600]}}");
    char err[1024];
    cr_assert_eq(cx_config_validate_run(cfg, err, sizeof err), CX_ERR_CONFIG);
    cr_assert(strstr(err,
                     "the built-in ticket rules (\"tickets.rules\" is not set) do not fit the"
                     " signal windows: tickets.rules[0] (\"facing-negative-spike\")") != NULL &&
                  strstr(err, "set \"tickets.rules\" (\"[]\" for none) or add 60 to "
                              "\"signals.window_seconds\"") != NULL,
              "%s", err);
    cx_config_free(cfg);
}

Test(cx_config, validation_checks_the_ticket_rules)
{
    cx_config *cfg =
        loaded("{\"kafka\": {\"brokers\": \"b:9092\", \"topics\": [\"t\"]},"
               " \"signals\": {\"window_seconds\": [300]},"
               " \"tickets\": {\"rules\": [{\"name\": \"fast\", \"category\": \"external\","
               " \"owner\": \"o\", \"negative_share_above\": 0.5, \"window_minutes\": 7}]}}");
    char err[512];
    cr_assert_eq(cx_config_validate_run(cfg, err, sizeof err), CX_ERR_CONFIG);
    cr_assert(strstr(err, "tickets.rules[0] (\"fast\")") && strstr(err, "(300 s)"), "%s", err);
    cx_config_free(cfg);
}

Test(cx_config, secrets_are_masked_when_printed)
{
    cx_config *cfg =
        loaded("{\"postgres\": {\"url\": \"postgresql://app:s3cret@db/cx\"},"
               " \"kafka\": {\"properties\": {\"sasl.password\": \"s3cret\","
               " \"ssl.key.password\": \"s3cret\", \"security.protocol\": \"SASL_SSL\","
               " \"sasl.oauthbearer.token.endpoint.url\": \"https://id:s3cret@idp/token\","
               " \"sasl.oauthbearer.extensions\": \"traceId=1,token=s3cret\","
               " \"sasl.jaas.config\": \"PlainLoginModule required password=\\\"s3cret\\\";\"}},"
               " \"alerts\": {\"webhook\":"
               " \"https://hook:s3cret@example.com/in?token=s3cret&a=1\","
               " \"page_url\": \"https://cx.example.com/?access_token=s3cret\"}}");
    char *buf = printed(cfg);
    cr_assert(strstr(buf, "s3cret") == NULL, "a secret was printed:\n%s", buf);
    cr_assert(strstr(buf, "SASL_SSL") != NULL);
    cr_assert(strstr(buf, "\"user=app password=**** dbname=cx host=db\"") != NULL, "%s", buf);
    cr_assert(strstr(buf, "\"https://hook:****@example.com/****?token=****&a=1\"") != NULL, "%s",
              buf);
    cr_assert(strstr(buf, "\"https://id:****@idp/token\"") != NULL, "%s", buf);
    cr_assert(strstr(buf, "\"https://cx.example.com/?access_token=****\"") != NULL, "%s", buf);
    free(buf);
    cx_config_free(cfg);
}

Test(cx_config, a_decimal_prints_as_written)
{
    cx_config *cfg =
        loaded("{\"tickets\": {\"rules\": [{\"name\": \"r\", \"category\": \"external\","
               " \"owner\": \"o\", \"negative_share_above\": 0.8}]}}");
    char *buf = printed(cfg);
    cr_assert(strstr(buf, "\"negative_share_above\": 0.8\n") != NULL, "%s", buf);
    free(buf);
    cx_config_free(cfg);
}

Test(cx_config, a_url_shown_masks_a_password_with_an_at_and_stays_in_its_buffer)
{
    /* cut inside a masked value: nothing read or written past the buffer */
    char small[32];
    cx_config_shown("https://example.com/in?a=1&sig=0123456789&token=98765", small, sizeof small);
    cr_assert_str_eq(small, "https://example.com/in?a=1&sig=");
    char buf[96];
    cr_assert_str_eq(cx_config_shown("https://hook:p@ss@example.com/in?code=xyz1", buf, sizeof buf),
                     "https://hook:****@example.com/in?code=****");
    cr_assert_str_eq(cx_config_shown("postgresql://cx:hunter/2secret@db/cx", buf, sizeof buf),
                     "postgresql://cx:****@db/cx");
    cr_assert_str_eq(cx_config_shown("https://example.com/in/@team", buf, sizeof buf),
                     "https://example.com/in/@team");
}

Test(cx_config, check_rejects_what_run_would_reject_without_showing_the_password)
{
    cx_config *cfg = cx_config_new();
    char err[512];
    cr_assert_eq(cx_config_set(cfg, "kafka.brokers", "k:9092", err, sizeof err), CX_OK);
    cr_assert_eq(cx_config_set(cfg, "kafka.topics", "t", err, sizeof err), CX_OK);
    cr_assert_eq(cx_config_validate_run(cfg, err, sizeof err), CX_OK, "%s", err);

    cr_assert_eq(cx_config_set(cfg, "postgres.url", "host=db password=sec retpw", err, sizeof err),
                 CX_OK);
    cr_assert_eq(cx_config_validate_run(cfg, err, sizeof err), CX_ERR_CONFIG);
    cr_assert(strstr(err, "postgres.url") && !strstr(err, "retpw"), "%s", err);
    cr_assert_eq(
        cx_config_set(cfg, "postgres.url", "postgresql://a:secret%zzpw@db/cx", err, sizeof err),
        CX_OK);
    cr_assert_eq(cx_config_validate_run(cfg, err, sizeof err), CX_ERR_CONFIG);
    cr_assert(strstr(err, "secret") == NULL && strstr(err, "zzpw") == NULL, "%s", err);
    cr_assert_eq(cx_config_set(cfg, "postgres.url", "", err, sizeof err), CX_OK);

    const char *bad[] = {"127.0.0.1:99999", "127.0.0.1:-1", "127.0.0.1", "localhost:9464",
                         "127.0.0.1:80x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(cx_config_set(cfg, "http.listen", bad[i], err, sizeof err), CX_OK);
        cr_expect_eq(cx_config_validate_run(cfg, err, sizeof err), CX_ERR_CONFIG, "%s", bad[i]);
        cr_expect(strstr(err, "http.listen") != NULL, "%s", err);
    }
    /* a connection string pasted into the wrong setting is not quoted back */
    cr_assert_eq(cx_config_set(cfg, "http.listen", "postgresql://u:hunter2@db/cx", err, sizeof err),
                 CX_OK);
    cr_expect_eq(cx_config_validate_run(cfg, err, sizeof err), CX_ERR_CONFIG);
    cr_expect(strstr(err, "http.listen") != NULL && strstr(err, "hunter2") == NULL, "%s", err);
    cr_assert_eq(cx_config_set(cfg, "http.listen", "off", err, sizeof err), CX_OK);
    cr_assert_eq(cx_config_validate_run(cfg, err, sizeof err), CX_OK, "%s", err);
    cx_config_free(cfg);
}

/* What run refuses is named with what gave it: the file, the variable or the flag. */
Test(cx_config, a_refused_value_is_named_with_where_it_came_from)
{
    write_file("{\"kafka\": {\"brokers\": \"kafka:abc\", \"topics\": [\"t\"]}}");
    char *argv[] = {"run", "--config", path, NULL};
    char *rest[4];
    int n_rest;
    char err[512];
    cx_config *cfg = cx_config_new();
    cr_assert_eq(cx_config_parse_cli(cfg, 3, argv, rest, &n_rest, err, sizeof err), CX_OK, "%s",
                 err);
    cr_assert_eq(cx_config_validate_run(cfg, err, sizeof err), CX_ERR_CONFIG);
    char want[sizeof path + 8];
    snprintf(want, sizeof want, "(from %s)", path);
    cr_expect(strstr(err, "kafka.brokers") != NULL && strstr(err, want) != NULL, "%s", err);

    setenv("CXPULSE_HTTP", "127.0.0.1:99999", 1);
    cr_assert_eq(cx_config_set(cfg, "kafka.brokers", "k:9092", err, sizeof err), CX_OK);
    cr_assert_eq(cx_config_apply_env(cfg, err, sizeof err), CX_OK, "%s", err);
    unsetenv("CXPULSE_HTTP");
    cr_assert_eq(cx_config_validate_run(cfg, err, sizeof err), CX_ERR_CONFIG);
    cr_expect(strstr(err, "(from environment CXPULSE_HTTP)") != NULL, "%s", err);

    char *argv2[] = {"run", "--topic", "^(", NULL};
    cr_assert_eq(cx_config_set(cfg, "http.listen", "off", err, sizeof err), CX_OK);
    cr_assert_eq(cx_config_parse_cli(cfg, 3, argv2, rest, &n_rest, err, sizeof err), CX_OK, "%s",
                 err);
    cr_assert_eq(cx_config_validate_run(cfg, err, sizeof err), CX_ERR_CONFIG);
    cr_expect(strstr(err, "(from --topic)") != NULL, "%s", err);
    cx_config_free(cfg);

    /* a default came from no one: nothing is appended */
    cfg = cx_config_new();
    cr_assert_eq(cx_config_validate_run(cfg, err, sizeof err), CX_ERR_CONFIG);
    cr_expect(strstr(err, "(from") == NULL, "%s", err);
    cx_config_free(cfg);
}

/* A variable's text that is no number or no boolean says what is expected. */
Test(cx_config, a_variable_that_is_not_a_number_says_what_is_expected)
{
    char err[512];
    cx_config *cfg = cx_config_new();
    setenv("CXPULSE_BATCH_MAX_MS", "1s", 1);
    cr_expect_eq(cx_config_apply_env(cfg, err, sizeof err), CX_ERR_CONFIG);
    unsetenv("CXPULSE_BATCH_MAX_MS");
    cr_expect(strstr(err, "environment CXPULSE_BATCH_MAX_MS: \"batch.max_ms\": \"1s\" is not a "
                          "whole number from 1 to") != NULL,
              "%s", err);
    setenv("CXPULSE_PG_SYNCHRONOUS_COMMIT", "yes", 1);
    cr_expect_eq(cx_config_apply_env(cfg, err, sizeof err), CX_ERR_CONFIG);
    unsetenv("CXPULSE_PG_SYNCHRONOUS_COMMIT");
    cr_expect(strstr(err, "\"yes\" is not true or false") != NULL, "%s", err);
    cx_config_free(cfg);
}

/* A syntax error inside a secret is placed by line and column, without
 * quoting the text around it (jansson's "near '...'" would show the secret). */
Test(cx_config, a_syntax_error_does_not_quote_a_secret)
{
    const char *files[] = {"{\"kafka\":{\"properties\":{\"sasl.password\":\"Sup3r\\Secret\"}}}",
                           "{\"postgres\":{\"password\":\"hunter2\tx\"}}"};
    for (size_t i = 0; i < 2; i++) {
        write_file(files[i]);
        cx_config *cfg = cx_config_new();
        char err[512] = "";
        cr_assert_eq(cx_config_load_file(cfg, path, err, sizeof err), CX_ERR_CONFIG);
        cr_assert(strstr(err, "Sup3r") == NULL && strstr(err, "hunter2") == NULL,
                  "the error quotes the secret: %s", err);
        cr_assert(strstr(err, ":1:") != NULL, "the error names no place: %s", err);
        cx_config_free(cfg);
    }
}

/* What the consumer would refuse at start-up, validation refuses first (so
 * config --check does): a property librdkafka does not take, a topic twice. */
Test(cx_config, validation_refuses_what_the_consumer_would)
{
    const char *files[][2] = {
        {"{\"kafka\": {\"brokers\": \"b:9092\", \"topics\": [\"t\"],"
         " \"properties\": {\"session.timeout.ms\": \"abc\"}}}",
         "kafka property \"session.timeout.ms\""},
        {"{\"kafka\": {\"brokers\": \"b:9092\", \"topics\": [\"t\"],"
         " \"properties\": {\"sesion.timeout.ms\": \"45000\"}}}",
         "kafka property \"sesion.timeout.ms\""},
        {"{\"kafka\": {\"brokers\": \"b:9092\", \"topics\": [\"t\", \"u\", \"t\"]}}",
         "\"kafka.topics\": \"t\" is listed twice"},
        /* librdkafka refuses it at subscribe, "Local: Invalid argument or configuration" */
        {"{\"kafka\": {\"brokers\": \"b:9092\", \"topics\": [\"t\", \"^cx\\\\.[a-\"]}}",
         "\"kafka.topics\": \"^cx\\.[a-\" starts with ^ but is not a regular expression "
         "(POSIX extended): "},
        /* librdkafka logs these and waits without end for brokers it cannot name
         * (or names, and never connects to) */
        {"{\"kafka\": {\"brokers\": \"b:9092,http://k:9092\", \"topics\": [\"t\"]}}",
         "\"kafka.brokers\": \"http://k:9092\" is not [PROTOCOL://]HOST[:PORT]: librdkafka reads "
         "PLAINTEXT://"},
        {"{\"kafka\": {\"brokers\": \"SSL://b:9093\", \"topics\": [\"t\"]}}",
         "its protocol must be kafka.properties' security.protocol (plaintext)"},
        {"{\"kafka\": {\"brokers\": \"b:90920\", \"topics\": [\"t\"]}}",
         "its port is not 1 to 65535"},
        {"{\"kafka\": {\"brokers\": \"b:\", \"topics\": [\"t\"]}}", "its port is not 1 to 65535"},
        {"{\"kafka\": {\"brokers\": \"b:9092 c:9093\", \"topics\": [\"t\"]}}",
         "\"b:9092 c:9093\" is not [PROTOCOL://]HOST[:PORT]: a space inside it"},
        {"{\"kafka\": {\"brokers\": \" , \", \"topics\": [\"t\"]}}", "names no broker"},
        /* two brokers taken for one bare IPv6 address */
        {"{\"kafka\": {\"brokers\": \"kafka-1:9092;kafka-2:9092\", \"topics\": [\"t\"]}}",
         "a ';' inside it (separate brokers with commas)"},
        /* cxpulse's own: a property would override the settings (the group the
         * offsets in PostgreSQL are kept for, where partitions start) */
        {"{\"kafka\": {\"brokers\": \"b:9092\", \"topics\": [\"t\"],"
         " \"properties\": {\"group.id\": \"other\"}}}",
         "kafka property \"group.id\" is set by cxpulse: set \"kafka.group\" instead"},
        {"{\"kafka\": {\"brokers\": \"b:9092\", \"topics\": [\"t\"],"
         " \"properties\": {\"auto.offset.reset\": \"latest\"}}}",
         "set \"kafka.auto_offset_reset\" instead"},
        {"{\"kafka\": {\"brokers\": \"b:9092\", \"topics\": [\"t\"],"
         " \"properties\": {\"bootstrap.servers\": \"elsewhere:9092\"}}}",
         "set \"kafka.brokers\" instead"},
        {"{\"kafka\": {\"brokers\": \"b:9092\", \"topics\": [\"t\"],"
         " \"properties\": {\"enable.auto.commit\": true}}}",
         "\"enable.auto.commit\" is set by cxpulse: offsets are stored in PostgreSQL"},
        /* librdkafka reads the leading digits: 45 ms, and 1 */
        {"{\"kafka\": {\"brokers\": \"b:9092\", \"topics\": [\"t\"],"
         " \"properties\": {\"session.timeout.ms\": \"45 s\"}}}",
         "kafka property \"session.timeout.ms\": \"45 s\" would be read as 45: write the number "
         "alone"},
        {"{\"kafka\": {\"brokers\": \"b:9092\", \"topics\": [\"t\"],"
         " \"properties\": {\"fetch.wait.max.ms\": \"1e3\"}}}",
         "\"1e3\" would be read as 1:"},
    };
    /* what librdkafka reads, with the security.protocol given */
    const char *brokers[][2] = {{"b", "plaintext"},
                                {"b:9092", "plaintext"},
                                {"b:9092, c:9093 ,d", "plaintext"},
                                {"[::1]:9092", "plaintext"},
                                {"::1", "plaintext"},
                                {":9092", "plaintext"},
                                {"PLAINTEXT://10.0.0.1:9092/", "plaintext"},
                                {"SSL://b:9093,ssl://c:9094", "SSL"},
                                {"sasl_ssl://b:9093", "SASL_SSL"}};
    /* numbers as people write them, read as written: spaces, a real for a
     * property librdkafka reads as one, JSON numbers */
    const char *numbers = "\"session.timeout.ms\": \" 45000 \", \"linger.ms\": \"0.5\","
                          " \"fetch.wait.max.ms\": 100.0, \"fetch.min.bytes\": 1024,"
                          " \"enable.ssl.certificate.verification\": true,"
                          /* not numbers, whatever librdkafka reads them as */
                          " \"acks\": \"all\", \"sasl.username\": \"Nan\"";
    for (size_t i = 0; i < sizeof brokers / sizeof brokers[0]; i++) {
        char file[512], err[512];
        snprintf(file, sizeof file,
                 "{\"kafka\": {\"brokers\": \"%s\", \"topics\": [\"t\"],"
                 " \"properties\": {\"security.protocol\": \"%s\", %s}}}",
                 brokers[i][0], brokers[i][1], numbers);
        write_file(file);
        cx_config *cfg = cx_config_new();
        cr_assert_eq(cx_config_load_file(cfg, path, err, sizeof err), CX_OK, "%s", err);
        cr_assert_eq(cx_config_validate_run(cfg, err, sizeof err), CX_OK, "%s: %s", brokers[i][0],
                     err);
        cx_config_free(cfg);
    }
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        cx_config *cfg = loaded(files[i][0]);
        char err[512];
        cr_assert_eq(cx_config_validate_run(cfg, err, sizeof err), CX_ERR_CONFIG, "%s",
                     files[i][0]);
        cr_assert(strstr(err, files[i][1]) != NULL, "%s", err);
        cx_config_free(cfg);
    }
}

/* Lists from the environment as people write them: spaces around commas, and
 * the carriage return a CRLF env file leaves at the end. */
Test(cx_config, list_variables_are_trimmed_at_both_ends)
{
    char err[512];
    cx_config *cfg = cx_config_new();
    setenv("CXPULSE_TOPICS", "cx.events ,\tother\r", 1);
    setenv("CXPULSE_WINDOW_SECONDS", "60 ,300\r", 1);
    cx_status st = cx_config_apply_env(cfg, err, sizeof err);
    unsetenv("CXPULSE_TOPICS");
    unsetenv("CXPULSE_WINDOW_SECONDS");
    cr_assert_eq(st, CX_OK, "%s", err);
    cr_assert_eq(cfg->n_topics, 2);
    cr_assert_str_eq(cfg->topics[0], "cx.events");
    cr_assert_str_eq(cfg->topics[1], "other");
    cr_assert_eq(cfg->n_window_seconds, 2);
    cr_assert_eq(cfg->window_seconds[1], 300);
    cx_config_free(cfg);
}

/* One setting written twice in a file, dotted and inside its section: the
 * file is refused, not read as whichever came last. */
Test(cx_config, a_setting_written_twice_in_a_file_is_refused)
{
    expect_file_error("{\"kafka\": {\"brokers\": \"a:1\"}, \"kafka.brokers\": \"b:2\"}",
                      "\"kafka.brokers\" is set twice");
}

/* A configuration read from a pipe (--config /dev/stdin) has no folder of
 * its own: the files it names are relative to the current one, not to /dev. */
Test(cx_config, files_named_by_a_configuration_on_stdin_are_relative_to_the_current_folder)
{
    static const char json[] =
        "{\"rules\": {\"files\": [\"mine.json\"], \"model\": \"models/m.cxm\"}}";
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(write(fds[1], json, sizeof json - 1), (ssize_t)(sizeof json - 1));
    close(fds[1]);
    cr_assert_eq(dup2(fds[0], STDIN_FILENO), STDIN_FILENO);
    close(fds[0]);
    char err[512];
    cx_config *cfg = cx_config_new();
    cr_assert_eq(cx_config_load_file(cfg, "/dev/stdin", err, sizeof err), CX_OK, "%s", err);
    cr_assert_str_eq(cfg->rule_files[0], "mine.json");
    cr_assert_str_eq(cfg->rule_model, "models/m.cxm");
    cx_config_free(cfg);
}

/* Messages name what the user wrote: the variable, not a flag nobody passed;
 * a section given a value, as a section. A byte order mark is passed over. */
Test(cx_config, messages_name_what_was_written_and_a_bom_is_passed_over)
{
    char err[512];
    cx_config *cfg = cx_config_new();
    setenv("CXPULSE_LOG_LEVEL", "verbose", 1);
    cx_status st = cx_config_apply_env(cfg, err, sizeof err);
    unsetenv("CXPULSE_LOG_LEVEL");
    cr_assert_eq(st, CX_ERR_CONFIG);
    cr_assert(strncmp(err, "environment CXPULSE_LOG_LEVEL: \"log.level\": \"verbose\"", 53) == 0,
              "%s", err);
    cx_config_free(cfg);
    expect_file_error("{\"kafka\": \"x\"}",
                      "\"kafka\": a section of settings, must be a JSON object");

    cfg = loaded("\xEF\xBB\xBF{\"kafka\": {\"group\": \"bom\"}}");
    cr_assert_str_eq(cfg->group, "bom");
    cx_config_free(cfg);
}

/* A SASL password kept out of the file: "sasl.password_env" names the
 * variable that holds it. It is read when the properties are set (a missing
 * one named), printed as written, and cannot be given twice. */
Test(cx_config, a_kafka_property_may_come_from_the_environment)
{
    cx_config *cfg = loaded("{\"kafka\": {\"brokers\": \"b:9092\", \"topics\": [\"t\"],"
                            " \"properties\": {\"security.protocol\": \"SASL_SSL\","
                            " \"sasl.mechanisms\": \"PLAIN\", \"sasl.username\": \"cx\","
                            " \"sasl.password_env\": \"CX_TEST_KAFKA_PASSWORD\"}}}");
    char err[512];
    unsetenv("CX_TEST_KAFKA_PASSWORD");
    cr_assert_eq(cx_config_validate_run(cfg, err, sizeof err), CX_ERR_CONFIG);
    cr_assert(strstr(err, "\"sasl.password_env\" names the environment variable "
                          "CX_TEST_KAFKA_PASSWORD, which is not set or empty") != NULL,
              "%s", err);
    setenv("CX_TEST_KAFKA_PASSWORD", "s3cret", 1);
    cr_assert_eq(cx_config_validate_run(cfg, err, sizeof err), CX_OK, "%s", err);
    const char **kv;
    size_t n;
    cr_assert_eq(cx_config_kafka_properties(cfg, &kv, &n, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(kv[6], "sasl.password");
    cr_assert_str_eq(kv[7], "s3cret");
    cr_assert_str_eq(kv[0], "security.protocol");
    free(kv);

    char *buf = printed(cfg);
    cr_assert(strstr(buf, "\"sasl.password_env\": \"CX_TEST_KAFKA_PASSWORD\"") != NULL, "%s", buf);
    cr_assert(strstr(buf, "s3cret") == NULL, "%s", buf);
    free(buf);
    cx_config_free(cfg);

    cfg = loaded("{\"kafka\": {\"properties\": {\"sasl.password\": \"a\","
                 " \"sasl.password_env\": \"CX_TEST_KAFKA_PASSWORD\"}}}");
    cr_assert_eq(cx_config_kafka_properties(cfg, &kv, &n, err, sizeof err), CX_ERR_CONFIG);
    cr_assert(strstr(err, "\"sasl.password\" and \"sasl.password_env\" are both set") != NULL, "%s",
              err);
    unsetenv("CX_TEST_KAFKA_PASSWORD");
    cx_config_free(cfg);

    /* the brokers are checked against the protocol a variable gives */
    cfg = loaded("{\"kafka\": {\"brokers\": \"sasl_ssl://b:9093\", \"topics\": [\"t\"],"
                 " \"properties\": {\"security.protocol_env\": \"CX_TEST_KAFKA_PROTOCOL\"}}}");
    setenv("CX_TEST_KAFKA_PROTOCOL", "SASL_SSL", 1);
    cx_status st = cx_config_validate_run(cfg, err, sizeof err);
    unsetenv("CX_TEST_KAFKA_PROTOCOL");
    cr_assert_eq(st, CX_OK, "%s", err);
    cx_config_free(cfg);
}

/* An env file's "CXPULSE_PG_URL=" (or compose's ${UNSET}) leaves the file's
 * setting: it replaced it with an empty URL, libpq's defaults. */
Test(cx_config, an_empty_variable_leaves_the_setting_as_it_is)
{
    cx_config *cfg =
        loaded("{\"postgres\": {\"url\": \"postgresql://db/cx\"}, \"kafka\": {\"group\": \"g\"}}");
    char err[512];
    setenv("CXPULSE_PG_URL", "", 1);
    setenv("CXPULSE_GROUP", "", 1);
    cx_status st = cx_config_apply_env(cfg, err, sizeof err);
    unsetenv("CXPULSE_PG_URL");
    unsetenv("CXPULSE_GROUP");
    cr_assert_eq(st, CX_OK, "%s", err);
    cr_assert_str_eq(cfg->pg_url, "postgresql://db/cx");
    cr_assert_str_eq(cfg->group, "g");
    cx_config_free(cfg);
}

/* Webhook URLs hold their token in the path (Slack's, Discord's, Teams'):
 * masked for every receiver that is not Alertmanager, whose path is its API. */
Test(cx_config, webhook_paths_are_masked_when_printed)
{
    cx_config *cfg = loaded(
        "{\"alerts\": {\"webhook\": \"https://hooks.slack.com/services/T0/B0/TOKEN1\","
        " \"receivers\": ["
        "{\"name\": \"d\", \"kind\": \"webhook\","
        " \"url\": \"https://discord.com/api/webhooks/123/TOKEN2?wait=true\"},"
        "{\"name\": \"s\", \"kind\": \"slack\", \"url\": \"https://hooks.slack.com/x/TOKEN3\"},"
        "{\"name\": \"am\", \"kind\": \"alertmanager\", \"url\": \"http://am:9093/base\"}]}}");
    char *buf = printed(cfg);
    cr_assert(strstr(buf, "TOKEN") == NULL, "a token was printed:\n%s", buf);
    cr_assert(strstr(buf, "\"https://hooks.slack.com/****\"") != NULL, "%s", buf);
    cr_assert(strstr(buf, "\"https://discord.com/****?wait=true\"") != NULL, "%s", buf);
    cr_assert(strstr(buf, "\"http://am:9093/base\"") != NULL, "%s", buf);
    free(buf);
    cx_config_free(cfg);
}

/* What --print writes loads back from anywhere: a relative rule or model path
 * (relative to the current folder, as a file in sub/ or a flag makes it) is
 * printed with the current folder before it. */
Test(cx_config, printed_paths_load_back_from_another_folder)
{
    write_at("sub/c.json",
             "{\"rules\": {\"files\": [\"default\", \"r.json\"], \"model\": \"m.cxm\"}}");
    char cwd[1024], err[512];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    cr_assert_eq(chdir(dir), 0);
    cx_config *cfg = cx_config_new();
    cx_status st = cx_config_load_file(cfg, "sub/c.json", err, sizeof err);
    char *buf = st == CX_OK ? printed(cfg) : NULL;
    cr_assert_eq(chdir(cwd), 0);
    cr_assert_eq(st, CX_OK, "%s", err);
    cx_config_free(cfg);
    write_at("sub/printed.json", buf);
    free(buf);

    char printed[400], want[400];
    snprintf(printed, sizeof printed, "%s/sub/printed.json", dir);
    cfg = cx_config_new();
    cr_assert_eq(cx_config_load_file(cfg, printed, err, sizeof err), CX_OK, "%s", err);
    cr_assert_str_eq(cfg->rule_files[0], "default");
    snprintf(want, sizeof want, "%s/sub/r.json", dir);
    cr_assert_str_eq(cfg->rule_files[1], want);
    snprintf(want, sizeof want, "%s/sub/m.cxm", dir);
    cr_assert_str_eq(cfg->rule_model, want);
    cx_config_free(cfg);
    const char *made[] = {"sub/c.json", "sub/printed.json", "sub"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(want, sizeof want, "%s/%s", dir, made[i]);
        remove(want);
    }
}
