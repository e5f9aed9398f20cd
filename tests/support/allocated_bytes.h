/*
 * allocated_bytes.h - bytes handed out by the allocator and not given back,
 * for tests that check memory does not grow: ASan's count under ASan, else
 * glibc's mallinfo2(). Header only, as event_kept.h.
 */
#ifndef CX_ALLOCATED_BYTES_H
#define CX_ALLOCATED_BYTES_H

#include <malloc.h>
#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

static inline size_t cx_test_allocated_bytes(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
#endif
}

#endif
