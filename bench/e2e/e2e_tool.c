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

#include "ingest.h"

static const char *const texts[] = {
    "The agent on the phone was rude and kept me on hold for forty minutes before hanging up.",
    "I was charged twice for my order and the refund still has not arrived after two weeks.",
    "The courier left the parcel in the rain and the box was crushed when I found it.",
    "Order arrived a week late and only 3 of the 5 items were in the box, very disappointed.",
    "Lovely staff at the store, very helpful and friendly, thank you so much!",
    "Website crashed at checkout twice, then the password reset link never came through.",
    "No problems with the delivery this time, driver was polite and it came on time.",
    "Just a question about my contract renewal date, nothing urgent.",
};
static const char *const channels[] = {"store", "phone", "chat", "email", "web", "app"};

static int line(char *buf, size_t cap, const char *prefix, long i, long long sent_us)
{
    return snprintf(buf, cap,
                    "{\"event_id\":\"%s-%ld\",\"occurred_at\":\"2026-10-%02ldT%02ld:%02ld:%02ldZ\","
                    "\"customer_id\":\"c%ld\",\"channel\":\"%s\",\"touchpoint\":\"delivery\","
                    "\"text\":\"%s\",\"rating\":{\"scale\":\"csat\",\"value\":%ld},"
                    "\"attributes\":{\"order_id\":\"o%ld\",\"sent_us\":%lld}}",
                    prefix, i, 1 + i % 28, i % 24, i % 60, (i / 60) % 60, i % 9973,
                    channels[i % 6], texts[i % 8], 1 + i % 5, i, sent_us);
}

int main(int argc, char **argv)
{
    char buf[1024], err[512];
    if (argc == 3 && strcmp(argv[1], "gen") == 0) {
        long n = strtol(argv[2], NULL, 10);
        for (long i = 0; i < n; i++) {
            line(buf, sizeof buf, "bulk", i, 0);
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
            int n = line(buf, sizeof buf, "paced", i, (long long)cx_now_wall_us());
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
