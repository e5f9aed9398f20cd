/*
 * event_kept.h - the attributes of a message as cx_event keeps them (see
 * event.h), restated for tests from json_loadb()'s reading of the message: each
 * object or list inside attributes empty, or holding one null when it was not.
 * Header only: the fuzzers, which do not link the test support, use it too.
 */
#ifndef CX_EVENT_KEPT_H
#define CX_EVENT_KEPT_H

#include <jansson.h>

/* Returns new (json_decref() it). */
static inline json_t *cx_test_kept_attributes(const json_t *attributes)
{
    json_t *kept = json_deep_copy(attributes);
    const char *key;
    json_t *v;
    json_object_foreach(kept, key, v)
    {
        if (json_is_object(v) && json_object_size(v) > 0)
            json_object_set_new(kept, key, json_pack("{s:n}", ""));
        else if (json_is_array(v) && json_array_size(v) > 0)
            json_object_set_new(kept, key, json_pack("[n]"));
    }
    return kept;
}

#endif
