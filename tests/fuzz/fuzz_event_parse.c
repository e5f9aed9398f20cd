/*
 * fuzz_event_parse.c - libFuzzer entry point for the event parser: any byte
 * string must give CX_OK or CX_ERR_INVALID with a one-line message (it goes
 * to the log and the dead letters), and leak nothing;
 * an accepted one holds what json_loadb() reads of it (attributes as the event
 * keeps them, see event.h), and its strings stay so once it drops its
 * attributes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "event_kept.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether ev's strings are the document j's. */
static int same_strings(const cx_event *ev, const json_t *j)
{
    const json_t *text = json_object_get(j, "text");
    if (strcmp(ev->event_id, json_string_value(json_object_get(j, "event_id"))) != 0 ||
        (text == NULL ? ev->text != NULL
                      : ev->text == NULL || ev->text_len != json_string_length(text) ||
                            memcmp(ev->text, json_string_value(text), ev->text_len) != 0))
        return 0;
    const struct {
        const char *name, *got;
    } strs[] = {{"occurred_at", ev->occurred_at},
                {"customer_id", ev->customer_id},
                {"channel", ev->channel},
                {"touchpoint", ev->touchpoint},
                {"language", ev->language}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        const char *want = json_string_value(json_object_get(j, strs[i].name));
        if ((want == NULL) != (strs[i].got == NULL) ||
            (want != NULL && strcmp(want, strs[i].got) != 0))
            return 0;
    }
    return 1;
}

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
        /* What it holds is what json_loadb() reads with the parser's flags. */
        json_t *j = json_loadb((const char *)data, size,
                               JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY,
                               NULL);
        if (j == NULL)
            abort();
        const json_t *attributes = json_object_get(j, "attributes");
        if (!same_strings(&ev, j))
            abort();
        if ((attributes == NULL) != (ev.attributes == NULL))
            abort();
        if (attributes != NULL) {
            json_t *kept = cx_test_kept_attributes(attributes);
            const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17);
            char *a = json_dumps(ev.attributes, flags), *b = json_dumps(kept, flags);
            json_decref(kept);
            if (a == NULL || b == NULL || strcmp(a, b) != 0)
                abort();
            free(a);
            free(b);
        }
        /* Without its attributes (as a record keeps it), the rest is as it was. */
        cx_event_drop_attributes(&ev);
        if (ev.attributes != NULL || !same_strings(&ev, j))
            abort();
        json_decref(j);
    } else if (st != CX_ERR_INVALID || err[0] == '\0' || strpbrk(err, "\n\r") != NULL ||
               ev.event_id != NULL) {
        abort();
    }
    cx_event_clear(&ev);
    return 0;
}
