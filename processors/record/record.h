/*
 * record.h - one message made into what the sink stores, the same way for
 * `cxpulse run`, dead-letter replay and reclassification: the message value
 * is parsed (processors/event), classified (processors/classify) and tested
 * against the event-level ticket rules (processors/tickets), or becomes a dead
 * letter with the parser's reason.
 *
 * Pure: no Kafka, no PostgreSQL. A record borrows the message and points
 * into a cx_record_store the caller provides, one per record, so a batch
 * needs no allocation per message beyond the parser's.
 */
#ifndef CX_RECORD_H
#define CX_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "classify.h"
#include "cx.h"
#include "event.h"
#include "tickets.h"

/* Event-level ticket rules one record keeps the matches of: all there can be. */
#define CX_RECORD_MAX_HITS CX_TICKET_MAX_EVENT_RULES
/* Room for a dead letter's reason, in bytes with the NUL (the parser's reasons
 * quote at most 40 bytes of a value, and fit). */
#define CX_RECORD_REASON_MAX 256

/* One consumed message, parsed and classified or not. Borrowed pointers. */
typedef struct cx_record {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *raw; /* the message value, byte for byte */
    size_t raw_len;
    const cx_event *ev;   /* parsed event, or NULL for a dead letter */
    const cx_tags *tags;  /* classification of ev (non-NULL iff ev) */
    const char *error;    /* readable reason when ev == NULL */
    const uint16_t *hits; /* event-level ticket rules the event matched (indices) */
    size_t n_hits;
} cx_record;

/* What records are made with; borrowed, and must outlive the records. */
typedef struct cx_record_rules {
    const cx_classifier *classifier; /* required */
    const cx_ticket_rules *tickets;  /* NULL: no event-level rules are tested */
} cx_record_rules;

/* What a record points into: its event, tags, rule matches and reason. */
typedef struct cx_record_store {
    cx_event ev;
    cx_tags tags;
    uint16_t hits[CX_RECORD_MAX_HITS];
    char reason[CX_RECORD_REASON_MAX];
} cx_record_store;

/*
 * Makes *r from one message value raw[len] read at topic/partition/offset
 * (topic may be NULL, and partition and offset -1, when the message has no
 * Kafka coordinates). Returns CX_OK for an event: r->ev, r->tags, r->hits
 * point into *s, and r->ev has no attributes (NULL: only classifying and the
 * ticket rules read them, and they can take many times the message's bytes,
 * cx_event_drop_attributes()). Returns CX_ERR_INVALID for a dead letter: r->error is the
 * parser's reason (in *s). Either way r->raw borrows raw, and *s holds what
 * cx_record_release() frees before *s is used again. Thread-safe for
 * different stores.
 */
cx_status cx_record_make(cx_record *r, cx_record_store *s, const cx_record_rules *rules,
                         const char *topic, int32_t partition, int64_t offset, const void *raw,
                         size_t len);

/* Releases what cx_record_make() put in *s (records pointing into it become
 * invalid); idempotent. */
void cx_record_release(cx_record_store *s);

#endif /* CX_RECORD_H */
