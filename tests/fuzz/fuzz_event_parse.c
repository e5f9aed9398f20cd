/*
 * fuzz_event_parse.c - libFuzzer entry point for the event parser: any byte
 * string must give CX_OK or CX_ERR_INVALID with a message, and leak nothing;
 * an accepted one the very document json_loadb() makes of it.
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
        /* The document is the one json_loadb() makes with the parser's flags. */
        json_t *j = json_loadb((const char *)data, size,
                               JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY,
                               NULL);
        char *a = json_dumps(ev.root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
        char *b = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17))
                    : NULL;
        if (a == NULL || b == NULL || strcmp(a, b) != 0)
            abort();
        free(a);
        free(b);
        json_decref(j);
    } else if (st != CX_ERR_INVALID || err[0] == '\0' || ev.root != NULL) {
        abort();
    }
    cx_event_clear(&ev);
    return 0;
}
