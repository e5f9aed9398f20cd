/*
 * test_cx.c - the error-buffer helper: a message is one line whatever the
 * input it quotes, fits its buffer, and never ends in half an escape; typo
 * distances; opening a file to read; the growable buffer.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cx.h"

Test(cx_errf, formats_and_returns_the_status)
{
    char err[64];
    cr_assert_eq(cx_errf(err, sizeof err, CX_ERR_CONFIG, "%s: rule \"%s\"", "f.json", "late"),
                 CX_ERR_CONFIG);
    cr_assert_str_eq(err, "f.json: rule \"late\"");
    cr_assert_eq(cx_errf(NULL, 0, CX_ERR_USAGE, "ignored %d", 1), CX_ERR_USAGE);
}

Test(cx_errf, escapes_the_control_bytes_of_quoted_input)
{
    char err[128];
    cx_errf(err, sizeof err, CX_ERR_INVALID, "term \"%s\"", "game\nch\tanger\r\x1b[31m\x7f");
    cr_assert_str_eq(err, "term \"game\\nch\\tanger\\r\\x1b[31m\\x7f\"");
    /* non-ASCII text is left as it is */
    cx_errf(err, sizeof err, CX_ERR_INVALID, "%s", "caf\xc3\xa9");
    cr_assert_str_eq(err, "caf\xc3\xa9");
}

Test(cx_errf, cuts_a_long_message_between_escapes)
{
    char err[6];
    cx_errf(err, sizeof err, CX_ERR_INVALID, "%s", "ab\ncdef");
    cr_assert_str_eq(err, "ab\\nc");
    char small[4];
    cx_errf(small, sizeof small, CX_ERR_INVALID, "%s", "ab\ncd");
    cr_assert_str_eq(small, "ab", "no half of \\n at the end");
    char five[5];
    cx_errf(five, sizeof five, CX_ERR_INVALID, "%s", "abc\x01");
    cr_assert_str_eq(five, "abc", "the control byte that does not fit is cut, not kept raw");
}

Test(cx_common, typo_distance_counts_edits_up_to_three)
{
    cr_assert_eq(cx_typo_distance("--brokers", "--brokers"), 0);
    cr_assert_eq(cx_typo_distance("--brokr", "--brokers"), 2);
    cr_assert_eq(cx_typo_distance("clasify", "classify"), 1);
    cr_assert_eq(cx_typo_distance("--agianst", "--against"), 2, "a swap is two edits");
    cr_assert_eq(cx_typo_distance("", "ab"), 2);
    cr_assert_eq(cx_typo_distance("kitten", "sitting"), 3);
    cr_assert_eq(cx_typo_distance("a", "abcd"), 3, "lengths three apart");
    char long_word[200];
    memset(long_word, 'x', sizeof long_word - 1);
    long_word[sizeof long_word - 1] = '\0';
    cr_assert_eq(cx_typo_distance(long_word, long_word), 3, "too long to compare");
}

/* A mistyped word is offered the nearest candidate, the first of equally
 * near ones (the order a caller lists them in), and a word that is one of
 * the candidates gets no "did you mean". */
Test(cx_common, typo_hint_offers_the_first_nearest_and_nothing_for_an_exact_word)
{
    char hint[64];
    cx_typo t = CX_TYPO_INIT("cat");
    cx_typo_offer(&t, "bat");
    cx_typo_offer(&t, "hat");
    cx_typo_offer(&t, "dog");
    cr_assert_str_eq(t.best, "bat");
    cr_assert_eq(t.distance, 1);
    cr_assert_str_eq(cx_typo_hint(&t, 1, hint, sizeof hint), " (did you mean \"bat\"?)");
    cx_typo exact = CX_TYPO_INIT("run");
    cx_typo_offer(&exact, "rum");
    cx_typo_offer(&exact, "run");
    cr_assert_eq(exact.distance, 0);
    cr_assert_str_eq(cx_typo_hint(&exact, 0, hint, sizeof hint), "");
}

/* Numbers in messages are written as read back, whole ones as their digits:
 * 10 is "10", not "1e+01", and 100 is "100". */
Test(cx_common, double_text_is_the_shortest_that_reads_back_whole_numbers_as_digits)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {{10, "10"},
                 {1, "1"},
                 {4.3, "4.3"},
                 {0.1, "0.1"},
                 {5.0000001, "5.0000001"},
                 {100, "100"},
                 {-2500, "-2500"},
                 {1e20, "1e+20"},
                 {0.30000000000000004, "0.30000000000000004"}};
    char buf[32];
    for (size_t i = 0; i < CX_ARRAY_LEN(cases); i++) {
        cx_double_text(cases[i].v, buf, sizeof buf);
        cr_assert_str_eq(buf, cases[i].text);
    }
}

/* Text is well-formed UTF-8 (PostgreSQL stores nothing else): a surrogate
 * (ED A0 80) and overlong forms (E0 80 AF, C0 AF: "/" in disguise) are no
 * sequence; their nearest well-formed neighbours are. */
Test(cx_common, utf8_sequence_refuses_surrogates_and_overlong_forms)
{
    static const struct {
        const char *bytes;
        size_t n, want;
    } cases[] = {
        {"\xED\xA0\x80", 3, 0},     {"\xED\xBF\xBF", 3, 0},     {"\xED\x9F\xBF", 3, 3},
        {"\xE0\x80\xAF", 3, 0},     {"\xE0\x9F\xBF", 3, 0},     {"\xE0\xA0\x80", 3, 3},
        {"\xE1\x80\x80", 3, 3},     {"\xC0\xAF", 2, 0},         {"\xC1\xBF", 2, 0},
        {"\xC2\x80", 2, 2},         {"\xF0\x8F\xBF\xBF", 4, 0}, {"\xF0\x90\x80\x80", 4, 4},
        {"\xF4\x90\x80\x80", 4, 0}, {"\xE2\x82", 2, 0},         {"\x80", 1, 0},
    };
    for (size_t i = 0; i < CX_ARRAY_LEN(cases); i++) {
        const unsigned char *p = (const unsigned char *)cases[i].bytes;
        cr_assert_eq(cx_utf8_sequence(p, p + cases[i].n), cases[i].want, "case %zu", i);
    }
}

/* Every byte after the lead of a 3- or 4-byte sequence must be a continuation
 * byte (10xxxxxx): "\xE2\x82" followed by "A" is no character, whatever the
 * second byte was. */
Test(cx_common, utf8_sequence_refuses_a_bad_continuation_byte_after_the_second)
{
    static const struct {
        const char *bytes;
        size_t n, want;
    } cases[] = {
        {"\xE2\x82\x41", 3, 0},     {"\xE2\x82\xAC", 3, 3},     {"\xF0\x90\x41\x80", 4, 0},
        {"\xF0\x90\x80\x41", 4, 0}, {"\xF0\x90\x80\x80", 4, 4},
    };
    for (size_t i = 0; i < CX_ARRAY_LEN(cases); i++) {
        const unsigned char *p = (const unsigned char *)cases[i].bytes;
        cr_assert_eq(cx_utf8_sequence(p, p + cases[i].n), cases[i].want,
                     "case %zu: %zu bytes, expected %zu", i, cx_utf8_sequence(p, p + cases[i].n),
                     cases[i].want);
    }
}

/* F4 is the last lead byte (U+10FFFF is the last code point): F5 and above
 * would begin code points Unicode does not have, so they begin nothing. */
Test(cx_common, utf8_sequence_refuses_lead_bytes_above_f4)
{
    static const char *const leads[] = {"\xF5\x80\x80\x80", "\xF6\x80\x80\x80", "\xF7\xBF\xBF\xBF",
                                        "\xF8\x80\x80\x80"};
    for (size_t i = 0; i < CX_ARRAY_LEN(leads); i++) {
        const unsigned char *p = (const unsigned char *)leads[i];
        cr_assert_eq(cx_utf8_sequence(p, p + 4), 0, "lead byte %02X accepted", p[0]);
    }
    const unsigned char last[] = {0xF4, 0x8F, 0xBF, 0xBF};
    cr_assert_eq(cx_utf8_sequence(last, last + 4), 4, "U+10FFFF must stay a character");
}

Test(cx_common, utf8_valid_takes_well_formed_text_only)
{
    static const char *const good[] = {"", "ascii", "caf\xC3\xA9", "\xF0\x9F\x98\x80 ok"};
    static const char *const bad[] = {"\xFF\xFE", "caf\xE9", "cut \xC3", "\xED\xA0\x80"};
    for (size_t i = 0; i < CX_ARRAY_LEN(good); i++)
        cr_assert(cx_utf8_valid(good[i], strlen(good[i])), "\"%s\" refused", good[i]);
    for (size_t i = 0; i < CX_ARRAY_LEN(bad); i++)
        cr_assert(!cx_utf8_valid(bad[i], strlen(bad[i])), "bad text %zu taken", i);
}

/* Each level name sets that level, so "warn" hides info and shows warnings. */
Test(cx_common, each_log_level_name_sets_that_level)
{
    static const struct {
        const char *name;
        cx_log_level level;
    } cases[] = {{"debug", CX_LOG_DEBUG},
                 {"info", CX_LOG_INFO},
                 {"warn", CX_LOG_WARN},
                 {"error", CX_LOG_ERROR},
                 {"off", CX_LOG_OFF}};
    cx_log_level saved = cx_log_threshold;
    for (size_t i = 0; i < CX_ARRAY_LEN(cases); i++) {
        cr_assert_eq(cx_log_set_level(cases[i].name), CX_OK);
        cr_assert_eq(cx_log_threshold, cases[i].level, "%s", cases[i].name);
    }
    cr_assert_eq(cx_log_set_level("warn"), CX_OK);
    cr_assert_eq(cx_log_set_level("verbose"), CX_ERR_USAGE);
    cr_assert_eq(cx_log_threshold, CX_LOG_WARN, "an unknown name changes nothing");
    cx_log_threshold = saved;
}

/* Logs an error line saying msg and an info line with stderr sent to a
 * file, and with JOURNAL_STREAM naming that file (the journal) or set to js;
 * returns what the file got (static). */
static const char *logged_with_journal_stream(int same_file, const char *js, const char *msg)
{
    static char got[1024];
    char path[] = "/tmp/cx-log.XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    char named[64];
    snprintf(named, sizeof named, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    fflush(stderr);
    int saved = dup(2);
    cr_assert_geq(saved, 0);
    dup2(fd, 2);
    setenv("JOURNAL_STREAM", same_file ? named : js, 1);
    cx_log_write(CX_LOG_ERROR, "test", "%s", msg);
    cx_log_write(CX_LOG_INFO, "test", "fine");
    fflush(stderr);
    unsetenv("JOURNAL_STREAM");
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, got, sizeof got - 1, 0);
    cr_assert_gt(n, 0);
    got[n] = '\0';
    close(fd);
    unlink(path);
    return got;
}

/* Under systemd, journalctl -p err shows the errors: each line starts with
 * the syslog priority journald takes as the entry's; anywhere else (a file,
 * a terminal, a child that inherited the variable) the line is plain logfmt. */
Test(cx_common, a_log_line_to_the_journal_carries_its_priority)
{
    const char *got = logged_with_journal_stream(1, NULL, "broken");
    cr_assert(strncmp(got, "<3>ts=", 6) == 0, "%s", got);
    cr_assert_not_null(strstr(got, "\n<6>ts="), "%s", got);
    cr_assert_not_null(strstr(got, "level=error component=test msg=\"broken\"\n"), "%s", got);
    got = logged_with_journal_stream(0, "1:2", "broken");
    cr_assert(strncmp(got, "ts=", 3) == 0 && strstr(got, "\nts=") != NULL, "%s", got);
    cr_assert_null(strchr(got, '<'), "%s", got);
}

/* A log line quotes event data (a bad field's value, a rule's term): what a
 * terminal or a log viewer would act on instead of showing is escaped, DEL,
 * the C1 controls (U+009B is CSI), the marks that turn text around (U+202E)
 * and bytes that are not UTF-8 (a lone 0x9B, CSI to an 8-bit terminal) as
 * much as ESC; other text is left as it is. */
Test(cx_common, a_log_line_escapes_what_a_terminal_would_act_on)
{
    const char *got = logged_with_journal_stream(0, "1:2",
                                                 "not a date \x1b[31m \xc2\x9b"
                                                 "31m \xe2\x80\xae"
                                                 "gnp.exe \x7f caf\xc3\xa9 \xe2\x82\xac \x9b"
                                                 "2J \xe2\x82");
    cr_assert_not_null(strstr(got, "msg=\"not a date \\x1b[31m \\u009b31m \\u202egnp.exe \\x7f"
                                   " caf\xc3\xa9 \xe2\x82\xac \\x9b2J \\xe2\\x82\"\n"),
                       "%s", got);
}

/* Times in log lines and Alertmanager's endsAt: UTC whatever the zone, and a
 * time no calendar holds says so rather than printing garbage. */
Test(cx_common, utc_text_is_rfc3339_in_utc_and_a_question_mark_past_the_calendar)
{
    char buf[32];
    cr_assert_str_eq(cx_utc_text(1793327832, buf, sizeof buf), "2026-10-30T02:37:12Z");
    cr_assert_str_eq(cx_utc_text(INT64_MAX, buf, sizeof buf), "?");
}

/* fopen opens a directory for reading and only a read fails; cx_open_read
 * refuses it at once, with a reason strerror can name. */
Test(cx_common, open_read_refuses_a_directory)
{
    char dir[] = "/tmp/cx-open.XXXXXX", file[64];
    cr_assert_not_null(mkdtemp(dir));
    errno = 0;
    cr_assert_null(cx_open_read(dir));
    cr_assert_eq(errno, EISDIR);
    snprintf(file, sizeof file, "%s/f", dir);
    cr_assert_null(cx_open_read(file));
    cr_assert_eq(errno, ENOENT);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("x", f);
    fclose(f);
    f = cx_open_read(file);
    cr_assert_not_null(f);
    cr_assert_eq(fgetc(f), 'x');
    fclose(f);
    unlink(file);
    rmdir(dir);
}

Test(cx_buf, appends_and_formats_past_any_fixed_size)
{
    cx_buf b = {0};
    cr_assert_str_eq(cx_buf_str(&b), "", "an empty buffer is an empty string");
    cx_buf_put(&b, "ab", 2);
    cx_buf_put(&b, NULL, 0);
    cx_buf_printf(&b, "-%d-", 42);
    char long_arg[1000];
    memset(long_arg, 'x', sizeof long_arg - 1);
    long_arg[sizeof long_arg - 1] = '\0';
    cx_buf_printf(&b, "[%s]", long_arg); /* longer than any stack copy */
    cr_assert_eq(b.len, 2 + 4 + 1 + 999 + 1);
    const char *s = cx_buf_str(&b);
    cr_assert_not_null(s);
    cr_assert_eq(strncmp(s, "ab-42-[xxx", 10), 0);
    cr_assert_str_eq(s + b.len - 4, "xxx]");
    cr_assert_eq(b.failed, 0);
    /* growth past the first block keeps what was there */
    for (int i = 0; i < 100000; i++)
        cx_buf_put(&b, "0123456789", 10);
    cr_assert_eq(b.len, 1007 + 1000000);
    cr_assert_eq(memcmp(b.data, "ab-42-[", 7), 0);
    cr_assert_eq(memcmp(b.data + b.len - 10, "0123456789", 10), 0);
    cx_buf_free(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
}

/* Formatted text of exactly the size of the stack copy (256 bytes) is kept
 * whole, its last character too. */
Test(cx_buf, printf_of_exactly_256_characters_keeps_them_all)
{
    char arg[257];
    memset(arg, 'y', 256);
    arg[255] = 'Z';
    arg[256] = '\0';
    cx_buf b = {0};
    cx_buf_printf(&b, "%s", arg);
    cr_assert_eq(b.len, 256);
    const char *s = cx_buf_str(&b);
    cr_assert_not_null(s);
    cr_assert_eq(strlen(s), 256);
    cr_assert_eq(s[255], 'Z');
    cx_buf_free(&b);
}

Test(cx_buf, a_size_nothing_can_hold_fails_once_and_stays_failed)
{
    cx_buf b = {0};
    cx_buf_put(&b, "ab", 2);
    cr_assert_null(cx_buf_reserve(&b, SIZE_MAX - 1));
    cr_assert_eq(b.failed, 1);
    cx_buf_put(&b, "cd", 2); /* dropped */
    cr_assert_eq(b.len, 2);
    cr_assert_null(cx_buf_str(&b), "a failed buffer is not handed out as complete");
    cx_buf_free(&b);
    cr_assert_eq(b.failed, 0, "freed, it can be used again");
}
