/*
 * record.c - parse, classify and event-level ticket rules for one message
 * (see record.h).
 */
#include "record.h"

cx_status cx_record_make(cx_record *r, cx_record_store *s, const cx_record_rules *rules,
                         const char *topic, int32_t partition, int64_t offset, const void *raw,
                         size_t len)
{
    *r = (cx_record){
        .topic = topic, .partition = partition, .offset = offset, .raw = raw, .raw_len = len};
    cx_status st = cx_event_parse(&s->ev, raw, len, s->reason, sizeof s->reason);
    if (st != CX_OK) {
        r->error = s->reason;
        return CX_ERR_INVALID;
    }
    cx_classifier_classify(rules->classifier, &s->ev, &s->tags);
    r->ev = &s->ev;
    r->tags = &s->tags;
    r->hits = s->hits;
    r->n_hits = rules->tickets == NULL ? 0
                                       : cx_ticket_rules_match(rules->tickets, &s->ev, &s->tags,
                                                               s->hits, CX_RECORD_MAX_HITS);
    cx_event_drop_attributes(&s->ev); /* read: a batch holds its records */
    return CX_OK;
}

void cx_record_release(cx_record_store *s)
{
    cx_event_clear(&s->ev);
}
