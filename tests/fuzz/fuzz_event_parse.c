/*
 * fuzz_event_parse.c - libFuzzer entry point for the event parser: any byte
 * string must give CX_OK or CX_ERR_INVALID with a message, and leak nothing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cx_event ev;
    char err[256];
    err[0] = '\0';
    cx_status st = cx_event_parse(&ev, data, size, err, sizeof err);
    if (st == CX_OK) {
        /* Touch what a consumer of the struct reads. */
        if (ev.event_id == NULL || ev.occurred_at == NULL || (ev.text == NULL && ev.rating_scale == CX_RATING_NONE))
            abort();
        if (ev.text != NULL && strlen(ev.text) > ev.text_len)
            abort();
    } else if (st != CX_ERR_INVALID || err[0] == '\0' || ev.root != NULL) {
        abort();
    }
    cx_event_clear(&ev);
    return 0;
}
