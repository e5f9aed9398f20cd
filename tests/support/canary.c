/*
 * canary.c - tests that must FAIL: one leaks memory, one reads past the end
 * of a buffer, one overflows a signed int. ctest runs each alone and expects
 * it to fail, so the suite goes red if the sanitizers, their options (see
 * scripts/test.sh) or the way Criterion reports a worker that aborts stop
 * turning such defects into failures. Built only with CX_SANITIZE.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static volatile int sink; /* keeps the compiler from removing what the tests do */

Test(canary, leaks_a_block)
{
    char *p = malloc(64);
    cr_assert_not_null(p);
    memset(p, 1, 64);
    sink = p[1];
    p = NULL; /* the only pointer is gone: LeakSanitizer reports it at exit */
}

Test(canary, reads_past_the_end)
{
    char *p = malloc(8);
    cr_assert_not_null(p);
    memset(p, 1, 8);
    int i = 8 + (sink & 0);
    sink = p[i];
    free(p);
}

Test(canary, overflows_a_signed_int)
{
    volatile int big = INT_MAX;
    sink = big + 1;
}
