/*
 * event.c - parser for event.v1 messages (placeholder until the parser lands).
 */
#include "event.h"

#include <string.h>

cx_status cx_event_parse(cx_event *ev, const void *data, size_t len, char *err, size_t errlen)
{
    (void)data;
    (void)len;
    memset(ev, 0, sizeof *ev);
    return cx_errf(err, errlen, CX_ERR_INVALID, "parser not built yet");
}

void cx_event_clear(cx_event *ev)
{
    if (ev == NULL)
        return;
    json_decref(ev->root);
    memset(ev, 0, sizeof *ev);
}
