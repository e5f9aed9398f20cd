/*
 * http.h - a small HTTP/1.1 server (libmicrohttpd, one internal thread) for
 * the service's metrics, health checks and live page. Only GET and HEAD; the
 * application answers each path through one handler.
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

/* Called on the server's thread for every GET/HEAD; path excludes the query. */
typedef void (*cx_http_handler)(void *ctx, const char *path, cx_http_response *res);

typedef struct cx_http cx_http;

/*
 * Starts serving on `listen` ("ADDR:PORT", an IPv4 address; port 0 picks a
 * free one). CX_ERR_CONFIG for a malformed address, CX_ERR_IO if it cannot
 * be bound (the message names it). Returns new: cx_http_free().
 */
cx_status cx_http_new(cx_http **out, const char *listen, cx_http_handler handler, void *ctx,
                      char *err, size_t errlen);

/* The port actually bound. */
int cx_http_port(const cx_http *h);

/* Stops serving (waits for a request in progress); NULL-safe. */
void cx_http_free(cx_http *h);

#endif /* CX_HTTP_H */
