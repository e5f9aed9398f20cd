/*
 * service_http.h - what `cxpulse run` serves over HTTP: /metrics, /healthz,
 * /readyz, the live page at / and its data at /api/live.
 */
#ifndef CX_SERVICE_HTTP_H
#define CX_SERVICE_HTTP_H

#include "config.h"
#include "ingest.h"
#include "metrics.h"
#include "pipeline.h"

typedef struct cx_service_http cx_service_http;

/*
 * Starts serving on cfg->http_listen, and the check of PostgreSQL every 2 s
 * behind /readyz and cxpulse_postgresql_up, which also wakes the writers
 * waiting out a backoff when PostgreSQL answers again: with "off", that check
 * alone. The metrics and consumer are borrowed and must outlive the server;
 * the consumer may be set later with cx_service_http_set_consumer().
 */
cx_status cx_service_http_start(cx_service_http **out, const cx_config *cfg, cx_metrics *m,
                                 char *err, size_t errlen);

void cx_service_http_set_consumer(cx_service_http *s, cx_consumer *c);

/* The pipeline whose writers retry at once when the listener's check sees
 * PostgreSQL answer again after it did not (borrowed: it must outlive the
 * listener, or be set back to NULL). */
void cx_service_http_set_pipeline(cx_service_http *s, cx_pipeline *p);

/* NULL-safe. */
void cx_service_http_stop(cx_service_http *s);

#endif /* CX_SERVICE_HTTP_H */
