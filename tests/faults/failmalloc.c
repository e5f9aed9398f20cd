/*
 * failmalloc.c - an LD_PRELOAD library that makes one allocation fail: the
 * CX_FAIL_AT-th call of malloc, calloc or realloc (counting from 1) returns
 * NULL with errno ENOMEM, every other call succeeds. With CX_FAIL_COUNT set,
 * the number of calls is written to stderr at exit. alloc_failures.sh runs
 * a command once per failing call to check that none turns into a wrong
 * answer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static long calls, fail_at = -1;

__attribute__((constructor)) static void start(void)
{
    const char *s = getenv("CX_FAIL_AT");
    if (s != NULL)
        fail_at = atol(s);
}

static int fails(void)
{
    if (++calls != fail_at)
        return 0;
    errno = ENOMEM;
    return 1;
}

void *malloc(size_t n)
{
    return fails() ? NULL : __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    return fails() ? NULL : __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    return fails() ? NULL : __libc_realloc(p, n);
}

__attribute__((destructor)) static void finish(void)
{
    if (getenv("CX_FAIL_COUNT") != NULL) {
        char line[32];
        int n = snprintf(line, sizeof line, "%ld\n", calls);
        if (write(2, line, (size_t)n) < 0)
            return;
    }
}
