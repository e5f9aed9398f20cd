/*
 * bench_events.h - the synthetic events every benchmark uses: varied text
 * (all four operation groups, praise, neutral questions), channels, csat
 * ratings and attributes, about 300 bytes each, deterministic in i.
 */
#ifndef CX_BENCH_EVENTS_H
#define CX_BENCH_EVENTS_H

#include <stddef.h>

/* Writes event number i (event_id "<prefix>-<i>", attributes.sent_us = sent_us)
 * into buf[cap]; returns its length. Its occurred_at is scattered over October
 * (consecutive events a day, an hour and a minute apart). */
int cx_bench_event(char *buf, size_t cap, const char *prefix, long i, long long sent_us);

/* The same event, occurring at occurred_us (microseconds since the epoch). */
int cx_bench_event_at(char *buf, size_t cap, const char *prefix, long i, long long sent_us,
                      long long occurred_us);

#endif
