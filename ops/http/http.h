/*
 * http.h - a small HTTP/1.1 server (libmicrohttpd, a thread per connection)
 * for the service's metrics, health checks and live page. Only GET and HEAD;
 * the application answers each path through one handler, which may be called
 * on several threads at once. Every response carries
 * X-Content-Type-Options: nosniff and Cache-Control: no-store. Listening on
 * a loopback address, it answers only requests whose Host is a loopback name
 * or address (421 otherwise), so a web page that rebinds its own name to
 * 127.0.0.1 cannot read it through the operator's browser.
 */
#ifndef CX_HTTP_H
#define CX_HTTP_H

#include <stddef.h>

#include "cx.h"

/* What the handler answers; body is malloc'd and freed by the server. */
typedef struct cx_http_response {
    int status;               /* 200 unless set */
    const char *content_type; /* static string; "text/plain; charset=utf-8" unless set */
    char *body;
    size_t len;
} cx_http_response;

/* Limits: connections in all, connections from one IP address, and seconds a
 * connection may stay silent (while sending its request or kept alive). A low
 * open-file limit (ulimit -n below 576) lowers the first: see
 * cx_http_max_connections(). */
#define CX_HTTP_MAX_CONNECTIONS 256
#define CX_HTTP_MAX_PER_CLIENT 16
#define CX_HTTP_IDLE_SECONDS 5

/* Descriptors a low open-file limit leaves to the rest of the process (Kafka,
 * PostgreSQL, the ticket sender) before HTTP clients get any, and the limit
 * from which all CX_HTTP_MAX_CONNECTIONS are served. */
#define CX_HTTP_RESERVED_FDS 64
#define CX_HTTP_FULL_NOFILE (CX_HTTP_RESERVED_FDS + 2 * CX_HTTP_MAX_CONNECTIONS)

/* Called for every GET/HEAD on the connection's own thread (so concurrently
 * with other requests); path excludes the query. */
typedef void (*cx_http_handler)(void *ctx, const char *path, cx_http_response *res);

typedef struct cx_http cx_http;

/*
 * Starts serving on `listen` ("ADDR:PORT": an IPv4 address, or an IPv6 one
 * in brackets, "[::1]:9464", which listens for IPv6 only; port 0 picks a
 * free one). CX_ERR_CONFIG for a malformed address, CX_ERR_IO if it cannot
 * be bound (the message names it). Returns new: cx_http_free().
 */
cx_status cx_http_new(cx_http **out, const char *listen, cx_http_handler handler, void *ctx,
                      char *err, size_t errlen);

/* CX_OK when listen is a valid "ADDR:PORT" for cx_http_new, else CX_ERR_CONFIG
 * naming what is wrong. */
cx_status cx_http_check_listen(const char *listen, char *err, size_t errlen);

/* The port actually bound. */
int cx_http_port(const cx_http *h);

/* Connections served at once: CX_HTTP_MAX_CONNECTIONS, or fewer when the
 * open-file limit at cx_http_new() was low, so that HTTP clients cannot take
 * the descriptors that Kafka and PostgreSQL connections need: half of what
 * is left after 64, at least 1. Further clients are turned away. */
unsigned cx_http_max_connections(const cx_http *h);

/* Stops serving (waits for a request in progress); NULL-safe. */
void cx_http_free(cx_http *h);

#endif /* CX_HTTP_H */
