/*
 * bench_events.c - see bench_events.h.
 */
#include "bench_events.h"

#include <stdio.h>
#include <time.h>

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

static int event(char *buf, size_t cap, const char *prefix, long i, long long sent_us,
                 const char *occurred_at)
{
    return snprintf(buf, cap,
                    "{\"event_id\":\"%s-%ld\",\"occurred_at\":\"%s\","
                    "\"customer_id\":\"c%ld\",\"channel\":\"%s\",\"touchpoint\":\"delivery\","
                    "\"text\":\"%s\",\"rating\":{\"scale\":\"csat\",\"value\":%ld},"
                    "\"attributes\":{\"order_id\":\"o%ld\",\"sent_us\":%lld}}",
                    prefix, i, occurred_at, i % 9973, channels[i % 6], texts[i % 8], 1 + i % 5,
                    i, sent_us);
}

int cx_bench_event(char *buf, size_t cap, const char *prefix, long i, long long sent_us)
{
    char when[32];
    snprintf(when, sizeof when, "2026-10-%02ldT%02ld:%02ld:%02ldZ", 1 + i % 28, i % 24, i % 60,
             (i / 60) % 60);
    return event(buf, cap, prefix, i, sent_us, when);
}

int cx_bench_event_at(char *buf, size_t cap, const char *prefix, long i, long long sent_us,
                      long long occurred_us)
{
    char when[32];
    time_t t = (time_t)(occurred_us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return event(buf, cap, prefix, i, sent_us, when);
}
