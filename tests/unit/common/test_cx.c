/*
 * test_cx.c - the error-buffer helper: a message is one line whatever the
 * input it quotes, fits its buffer, and never ends in half an escape; typo
 * distances; opening a file to read; the growable buffer.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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
