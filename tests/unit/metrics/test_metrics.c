/*
 * test_metrics.c - what Prometheus scrapes: gauges keep every digit (an age
 * of two weeks in seconds, a backlog of millions), not six significant ones;
 * the time spent classifying adds up; the process metrics of client
 * libraries are there; the Kafka brokers connected to are left out until
 * counted; the oldest pending notification ages between readings.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cxtest.h"
#include "metrics.h"

Test(metrics, gauges_keep_every_digit)
{
    cx_metrics *m = cx_metrics_new();
    cr_assert_not_null(m);
    cx_metrics_set(m, CX_G_WRITE_SECONDS, 1234567.25);
    cx_metrics_set(m, CX_G_NOTIFY_PENDING, 12345678);
    char *text = cx_metrics_render(m, NULL, 0);
    cr_assert_not_null(text);
    cr_assert(strstr(text, "\ncxpulse_write_in_progress_seconds 1234567.25\n") != NULL, "%s", text);
    cr_assert(strstr(text, "\ncxpulse_notifications_pending 12345678\n") != NULL, "%s", text);
    free(text);
    cx_metrics_free(m);
}

/* With receivers named, deliveries are counted per receiver, each from 0,
 * its name escaped as a label value; without, one sample of the family. */
Test(metrics, notifications_are_counted_per_receiver)
{
    cx_metrics *m = cx_metrics_new();
    cr_assert_not_null(m);
    char *text = cx_metrics_render(m, NULL, 0);
    cr_assert(strstr(text, "\ncxpulse_notifications_sent_total 0\n") != NULL, "%s", text);
    free(text);
    char err[128];
    const char *names[] = {"ops", "team \"b\""};
    cr_assert_eq(cx_metrics_name_receivers(m, names, 2, err, sizeof err), CX_OK, "%s", err);
    cx_metrics_count_delivery(m, CX_M_NOTIFY_SENT, 1);
    cx_metrics_count_delivery(m, CX_M_NOTIFY_RETRIES, 0);
    cx_metrics_count_delivery(m, CX_M_NOTIFY_RETRIES, 0);
    text = cx_metrics_render(m, NULL, 0);
    cr_assert(strstr(text,
                     "\ncxpulse_notifications_sent_total{receiver=\"ops\"} 0\n"
                     "cxpulse_notifications_sent_total{receiver=\"team \\\"b\\\"\"} 1\n") != NULL,
              "%s", text);
    cr_assert(strstr(text, "\ncxpulse_notifications_retries_total{receiver=\"ops\"} 2\n") != NULL,
              "%s", text);
    cr_assert(strstr(text, "\ncxpulse_notifications_failed_total{receiver=\"ops\"} 0\n") != NULL,
              "%s", text);
    free(text);
    cx_metrics_free(m);
}

Test(metrics, classify_seconds_add_up_as_a_counter)
{
    cx_metrics *m = cx_metrics_new();
    cr_assert_not_null(m);
    cx_metrics_count_made(m, 0.25);
    cx_metrics_count_made(m, 1.5);
    char *text = cx_metrics_render(m, NULL, 0);
    cr_assert_not_null(text);
    cr_assert(strstr(text, "\n# TYPE cxpulse_classify_seconds_total counter\n"
                           "cxpulse_classify_seconds_total 1.750000\n") != NULL,
              "%s", text);
    free(text);
    cx_metrics_free(m);
}

Test(metrics, the_process_metrics_of_client_libraries_are_served)
{
    cx_metrics *m = cx_metrics_new();
    cr_assert_not_null(m);
    FILE *held[3]; /* three more descriptors than at the first scrape */
    char *before = cx_metrics_render(m, NULL, 0);
    for (int i = 0; i < 3; i++)
        cr_assert_not_null(held[i] = fopen("/dev/null", "r"));
    char *text = cx_metrics_render(m, NULL, 0);
    cr_assert(before != NULL && text != NULL);
    cr_assert(strstr(text, "\n# TYPE process_cpu_seconds_total counter\n") != NULL, "%s", text);
    cr_assert_geq(cx_test_metric(text, "process_cpu_seconds_total"), 0);
    cr_assert_gt(cx_test_metric(text, "process_resident_memory_bytes"), 1e6, "%s", text);
    cr_assert_gt(cx_test_metric(text, "process_virtual_memory_bytes"),
                 cx_test_metric(text, "process_resident_memory_bytes"));
    cr_assert_eq(cx_test_metric(text, "process_open_fds"),
                 cx_test_metric(before, "process_open_fds") + 3, "%s", text);
    cr_assert_gt(cx_test_metric(text, "process_max_fds"), cx_test_metric(text, "process_open_fds"));
    for (int i = 0; i < 3; i++)
        fclose(held[i]);
    free(before);
    free(text);
    cx_metrics_free(m);
}

Test(metrics, the_brokers_up_are_left_out_until_counted_then_kept_at_0_too)
{
    cx_metrics *m = cx_metrics_new();
    cr_assert_not_null(m);
    char *before = cx_metrics_render(m, NULL, 0);
    cx_metrics_set(m, CX_G_KAFKA_CONNECTIONS_UP, 0);
    char *after = cx_metrics_render(m, NULL, 0);
    cr_assert(before != NULL && after != NULL);
    cr_assert_null(strstr(before, "cxpulse_kafka_connections_up"), "%s", before);
    cr_assert_not_null(strstr(after, "\ncxpulse_kafka_connections_up 0\n"), "%s", after);
    free(before);
    free(after);
    cx_metrics_free(m);
}

/* The oldest pending notification's age keeps growing between the sender's
 * readings (none while PostgreSQL is out of reach), and 0 stays 0. */
Test(metrics, the_oldest_pending_notification_ages_between_readings)
{
    cx_metrics *m = cx_metrics_new();
    cr_assert_not_null(m);
    cx_metrics_set(m, CX_G_NOTIFY_OLDEST_SECONDS, 0);
    char *none = cx_metrics_render(m, NULL, 0);
    cx_metrics_set(m, CX_G_NOTIFY_OLDEST_SECONDS, 900);
    char *read = cx_metrics_render(m, NULL, 0);
    struct timespec wait = {1, 200000000};
    nanosleep(&wait, NULL);
    char *later = cx_metrics_render(m, NULL, 0);
    cr_assert(none != NULL && read != NULL && later != NULL);
    cr_assert_eq(cx_test_metric(none, "cxpulse_notifications_oldest_pending_seconds"), 0, "%s",
                 none);
    double at_read = cx_test_metric(read, "cxpulse_notifications_oldest_pending_seconds");
    double after = cx_test_metric(later, "cxpulse_notifications_oldest_pending_seconds");
    cr_assert(at_read >= 900 && at_read < 901, "%f", at_read);
    cr_assert_geq(after, at_read + 1.0, "%s", later);
    free(none);
    free(read);
    free(later);
    cx_metrics_free(m);
}

/* Freshness: each stored message's time from its Kafka timestamp to the
 * commit, and the newest one stored (left out until one is: a restart does
 * not read as data decades old). A producer's clock ahead counts 0, and one
 * far ahead does not make the newest. */
Test(metrics, stored_messages_tell_their_latency_and_the_newest_one)
{
    cx_metrics *m = cx_metrics_new();
    cr_assert_not_null(m);
    char *before = cx_metrics_render(m, NULL, 0);
    cr_assert_not_null(before);
    cr_assert_null(strstr(before, "cxpulse_newest_message_timestamp_seconds"), "%s", before);
    int64_t now = cx_now_wall_us() / 1000;
    cx_pipeline_msg msgs[4] = {
        {"t", 0, 1, "x", 1, now - 2000},        /* 2 s ago */
        {"t", 0, 2, "x", 1, now - 400 * 1000},  /* read from a backlog */
        {"t", 0, 3, "x", 1, now + 3600 * 1000}, /* a producer's clock an hour ahead */
        {"t", 0, 4, "x", 1, 0},                 /* no timestamp */
    };
    cx_record recs[4] = {{0}};
    cx_pipeline_report r = {.msgs = msgs, .n = 4, .recs = recs, .written = 4, .complete = 1};
    cx_metrics_count_batch(m, &r);
    char *text = cx_metrics_render(m, NULL, 0);
    cr_assert_not_null(text);
    cr_assert_eq(cx_test_metric(text, "cxpulse_message_latency_seconds_count"), 3, "%s", text);
    cr_assert_eq(cx_test_metric(text, "cxpulse_message_latency_seconds_bucket{le=\"0.05\"}"), 1);
    cr_assert_eq(cx_test_metric(text, "cxpulse_message_latency_seconds_bucket{le=\"1\"}"), 1);
    cr_assert_eq(cx_test_metric(text, "cxpulse_message_latency_seconds_bucket{le=\"2.5\"}"), 2);
    cr_assert_eq(cx_test_metric(text, "cxpulse_message_latency_seconds_bucket{le=\"300\"}"), 2);
    cr_assert_eq(cx_test_metric(text, "cxpulse_message_latency_seconds_bucket{le=\"900\"}"), 3);
    double newest = cx_test_metric(text, "cxpulse_newest_message_timestamp_seconds");
    cr_assert(newest > (double)(now - 2000) / 1000 - 0.01 && newest < (double)now / 1000 - 1.9,
              "newest %f, now %f", newest, (double)now / 1000);
    free(before);
    free(text);
    cx_metrics_free(m);
}
