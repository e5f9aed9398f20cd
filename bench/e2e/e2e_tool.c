/*
 * e2e_tool.c - helpers of bench/e2e/run.sh.
 *   e2e_tool gen N                        N event lines (~350 B) on stdout
 *   e2e_tool paced BROKERS TOPIC RATE S   produce RATE events/s for S seconds, each
 *                                         carrying attributes.sent_us (wall clock at send)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_events.h"
#include "ingest.h"


int main(int argc, char **argv)
{
    char buf[1024], err[512];
    if (argc == 3 && strcmp(argv[1], "gen") == 0) {
        long n = strtol(argv[2], NULL, 10);
        for (long i = 0; i < n; i++) {
            cx_bench_event(buf, sizeof buf, "bulk", i, 0);
            puts(buf);
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
            int n = cx_bench_event(buf, sizeof buf, "paced", i, (long long)cx_now_wall_us());
            if (cx_producer_send(p, argv[3], NULL, 0, buf, (size_t)n, err, sizeof err) != CX_OK) {
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
    fprintf(stderr, "usage: e2e_tool gen N | e2e_tool paced BROKERS TOPIC RATE SECONDS\n");
    return 2;
}
