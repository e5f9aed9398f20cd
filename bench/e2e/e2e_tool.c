/*
 * e2e_tool.c - helpers of bench/e2e/run.sh.
 *   e2e_tool gen N [scattered|random]     N event lines (~300 B) on stdout, in event-time
 *                                         order over October 2026 (as a topic carries
 *                                         them), or scattered: consecutive events days
 *                                         apart, the worst case for signals and tickets,
 *                                         or random: uniformly over 20 days (seed fixed);
 *                                         with TEXT_BYTES=B in the environment each text
 *                                         is its sentence repeated to at least B bytes,
 *                                         and with ATTRS=K each event has K more small
 *                                         attributes ("x1":1, ...: at most 60000)
 *   e2e_tool paced BROKERS TOPIC RATE S [scattered]
 *                                         produce RATE events/s for S seconds, each
 *                                         carrying attributes.sent_us (wall clock at send)
 *                                         and occurring now (or scattered)
 *   e2e_tool wait PGURL GROUP N           block until GROUP's stored offsets sum to N
 *                                         (one connection polled every 20 ms, so the
 *                                         waiting costs the measured run nothing)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_events.h"
#include "ingest.h"
#include <libpq-fe.h>

/* Repeats the event in buf's text (one sentence) to at least bytes; the
 * event must fit in cap. */
static void lengthen_text(char *buf, size_t cap, long bytes)
{
    char *text = strstr(buf, "\"text\":\"");
    char *end = text ? strstr(text + 8, "\",\"") : NULL;
    if (end == NULL || bytes <= end - (text + 8))
        return;
    static char out[1 << 16];
    size_t one = (size_t)(end - (text + 8)), at = (size_t)(text + 8 - buf);
    memcpy(out, buf, at);
    for (long n = 0; n < bytes && at + one + 1 < sizeof out / 2; n += (long)one + 1) {
        memcpy(out + at, text + 8, one);
        at += one;
        out[at++] = ' ';
    }
    snprintf(out + at - 1, sizeof out - at, "%s", end);
    snprintf(buf, cap, "%s", out);
}

/* Writes the event in buf with k more attributes "x1":1 .. "xk":k to stdout. */
static void put_with_attributes(const char *buf, long k)
{
    const char *at = strstr(buf, "\"attributes\":{");
    if (at == NULL || k <= 0) {
        puts(buf);
        return;
    }
    at += strlen("\"attributes\":{");
    fwrite(buf, 1, (size_t)(at - buf), stdout);
    for (long j = 1; j <= k; j++)
        printf("\"x%ld\":%ld,", j, j);
    puts(at);
}

int main(int argc, char **argv)
{
    static char buf[1 << 16];
    char err[512];
    int random_time = argc > 1 && strcmp(argv[argc - 1], "random") == 0;
    argc -= random_time;
    int scattered = argc > 1 && strcmp(argv[argc - 1], "scattered") == 0;
    argc -= scattered;
    if (argc == 3 && strcmp(argv[1], "gen") == 0) {
        long n = strtol(argv[2], NULL, 10);
        const long long start = 1790812800LL * 1000000, month = 31LL * 86400 * 1000000;
        long text_bytes = getenv("TEXT_BYTES") ? strtol(getenv("TEXT_BYTES"), NULL, 10) : 0;
        if (text_bytes > 16000) { /* an event's text may have 16,384 characters */
            fprintf(stderr, "e2e_tool: TEXT_BYTES %ld: at most 16000\n", text_bytes);
            return 2;
        }
        long attrs = getenv("ATTRS") ? strtol(getenv("ATTRS"), NULL, 10) : 0;
        if (attrs > 60000) { /* an event may have 1 MiB */
            fprintf(stderr, "e2e_tool: ATTRS %ld: at most 60000\n", attrs);
            return 2;
        }
        srand48(42);
        for (long i = 0; i < n; i++) {
            if (random_time)
                cx_bench_event_at(buf, sizeof buf, "bulk", i, 0,
                                  start + (long long)(drand48() * 20 * 86400) * 1000000);
            else if (scattered)
                cx_bench_event(buf, sizeof buf, "bulk", i, 0);
            else
                cx_bench_event_at(buf, sizeof buf, "bulk", i, 0, start + month / n * i);
            if (text_bytes > 0)
                lengthen_text(buf, sizeof buf, text_bytes);
            put_with_attributes(buf, attrs);
        }
        return 0;
    }
    if (argc == 6 && strcmp(argv[1], "paced") == 0) {
        long rate = strtol(argv[4], NULL, 10), secs = strtol(argv[5], NULL, 10);
        cx_producer *p;
        if (cx_producer_new(&p, argv[2], err, sizeof err) != CX_OK) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        int64_t start = cx_now_mono_us();
        for (long i = 0; i < rate * secs; i++) {
            int64_t due = start + i * 1000000LL / rate;
            while (cx_now_mono_us() < due) {
                struct timespec ts = {0, 200000};
                nanosleep(&ts, NULL);
            }
            long long now = (long long)cx_now_wall_us();
            int n = scattered ? cx_bench_event(buf, sizeof buf, "paced", i, now)
                              : cx_bench_event_at(buf, sizeof buf, "paced", i, now, now);
            if (cx_producer_send(p, argv[3], NULL, 0, buf, (size_t)n, 0, err, sizeof err) !=
                CX_OK) {
                fprintf(stderr, "%s\n", err);
                return 1;
            }
        }
        uint64_t delivered;
        cx_status st = cx_producer_flush(p, 30000, &delivered, err, sizeof err);
        cx_producer_free(p);
        fprintf(stderr, "paced: %llu delivered\n", (unsigned long long)delivered);
        return st == CX_OK ? 0 : 1;
    }
    if (argc == 5 && strcmp(argv[1], "wait") == 0) {
        long long want = strtoll(argv[4], NULL, 10);
        PGconn *c = PQconnectdb(argv[2]);
        if (PQstatus(c) != CONNECTION_OK) {
            fprintf(stderr, "wait: %s", PQerrorMessage(c));
            PQfinish(c);
            return 1;
        }
        const char *params[1] = {argv[3]};
        long long have = 0;
        for (int i = 0; i < 30000 && have < want; i++) { /* at most 10 minutes */
            PGresult *r = PQexecParams(c,
                                       "SELECT coalesce(sum(next_offset), 0) FROM "
                                       "cx.consumer_offsets WHERE consumer_group = $1",
                                       1, NULL, params, NULL, NULL, 0);
            if (PQresultStatus(r) == PGRES_TUPLES_OK)
                have = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
            PQclear(r);
            if (have < want) {
                struct timespec ts = {0, 20 * 1000000L};
                nanosleep(&ts, NULL);
            }
        }
        PQfinish(c);
        if (have < want) {
            fprintf(stderr, "wait: %lld of %lld stored after 10 minutes\n", have, want);
            return 1;
        }
        return 0;
    }
    fprintf(stderr, "usage: e2e_tool gen N [scattered|random] | paced BROKERS TOPIC RATE SECONDS "
                    "[scattered] | wait PGURL GROUP N\n");
    return 2;
}
