/*
 * allocated_bytes.h - bytes handed out by the allocator and not given back,
 * for tests that check memory does not grow: the sanitizer's count under ASan
 * or TSan (their allocators leave mallinfo2() at 0), else
 * glibc's mallinfo2(). Header only, as event_kept.h.
 */
#ifndef CX_ALLOCATED_BYTES_H
#define CX_ALLOCATED_BYTES_H

#include <malloc.h>
#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

static inline size_t cx_test_allocated_bytes(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
#endif
}

#endif
