/*
 * test_metrics.c - what Prometheus scrapes: gauges keep every digit (an age
 * of two weeks in seconds, a backlog of millions), not six significant ones.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

Test(metrics, gauges_keep_every_digit)
{
    cx_metrics *m = cx_metrics_new();
    cr_assert_not_null(m);
    cx_metrics_set(m, CX_G_NOTIFY_OLDEST_SECONDS, 1234567.25);
    cx_metrics_set(m, CX_G_NOTIFY_PENDING, 12345678);
    char *text = cx_metrics_render(m, NULL, 0);
    cr_assert_not_null(text);
    cr_assert(strstr(text, "\ncxpulse_notifications_oldest_pending_seconds 1234567.25\n") != NULL,
              "%s", text);
    cr_assert(strstr(text, "\ncxpulse_notifications_pending 12345678\n") != NULL, "%s", text);
    free(text);
    cx_metrics_free(m);
}
