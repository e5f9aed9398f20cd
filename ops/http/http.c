/*
 * http.c - the HTTP server (see http.h): libmicrohttpd with a thread per
 * connection, so a slow handler or a slow client holds up only its own
 * connection. Clients are limited per IP address and idle connections are
 * closed after a few seconds, so slow or stalled clients cannot take every
 * connection the server allows. libmicrohttpd's own messages are logged, one
 * a minute at most.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

struct cx_http {
    struct MHD_Daemon *daemon;
    cx_http_handler handler;
    void *ctx;
    int port;
    unsigned max_connections;
    _Atomic int64_t logged_us; /* when libmicrohttpd's last message was logged */
    atomic_int unlogged;       /* its messages not logged since */
    int loopback;              /* listening on 127.0.0.0/8 or ::1: answers loopback names only */
    atomic_int starting;       /* in cx_http_new(), which says itself why it failed */
};

/* Whether a Host header names this machine by a loopback name or address
 * (localhost, *.localhost, 127.x.x.x, [::1], with or without a port); no
 * header (HTTP/1.0) counts as one. A page of another site that rebinds its
 * own name to 127.0.0.1 sends that name. */
static int loopback_host(const char *host)
{
    if (host == NULL)
        return 1;
    char name[256];
    size_t n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");
    if (n >= sizeof name)
        return 0;
    memcpy(name, host, n);
    name[n] = '\0';
    if (n > 0 && name[n - 1] == '.')
        name[--n] = '\0';
    struct in_addr a;
    if (inet_pton(AF_INET, name, &a) == 1)
        return (ntohl(a.s_addr) >> 24) == 127;
    if (strcmp(name, "[::1]") == 0 || strcasecmp(name, "localhost") == 0)
        return 1;
    return n > 10 && strcasecmp(name + n - 10, ".localhost") == 0;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **state)
{
    (void)version;
    (void)upload;
    (void)upload_len;
    (void)state;
    cx_http *h = cls;
    cx_http_response r = {.status = 200, .content_type = "text/plain; charset=utf-8"};
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        r.status = 405;
        r.body = strdup("only GET and HEAD\n");
    } else if (h->loopback &&
               !loopback_host(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host"))) {
        r.status = 421;
        r.body = strdup("listening on a loopback address, this server answers only requests "
                        "for localhost, *.localhost or a loopback address\n");
    } else {
        h->handler(h->ctx, url, &r);
    }
    if (r.body == NULL && r.len == 0)
        r.body = strdup("");
    if (r.body != NULL && r.len == 0)
        r.len = strlen(r.body);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r.len, r.body ? r.body : (char *)"", MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(r.body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", r.content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    /* the live page loads nothing but itself and /api/live, and is framed by
     * no other site (it would lend its look to a clickjacking page) */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; "
                            "style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; "
                            "form-action 'none'; frame-ancestors 'none'");
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)r.status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* libmicrohttpd's own messages (a connection limit reached, a thread that
 * could not start, a client's malformed request), logged as warnings at most
 * once a minute, so that clients cannot flood the log; the next one logged
 * says how many were not. */
__attribute__((format(printf, 2, 0))) static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    cx_http *h = cls;
    if (atomic_load(&h->starting))
        return;
    int64_t now = cx_now_mono_us(), last = atomic_load(&h->logged_us);
    if ((last != 0 && now - last < 60 * 1000000LL) ||
        !atomic_compare_exchange_strong(&h->logged_us, &last, now)) {
        atomic_fetch_add(&h->unlogged, 1);
        return;
    }
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    int unlogged = atomic_exchange(&h->unlogged, 0);
    if (unlogged > 0)
        cx_log(CX_LOG_WARN, "http", "libmicrohttpd: %s (and %d more since the last one logged)",
               msg, unlogged);
    else
        cx_log(CX_LOG_WARN, "http", "libmicrohttpd: %s", msg);
}

/* An address to listen on: IPv4 or IPv6. */
typedef union listen_addr {
    struct sockaddr sa;
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
} listen_addr;

static socklen_t addr_len(const listen_addr *a)
{
    return a->sa.sa_family == AF_INET6 ? sizeof a->v6 : sizeof a->v4;
}

/* Parses "ADDR:PORT" (an IPv4 address or a bracketed IPv6 one, port
 * 0..65535) into *a. A refused value is quoted back unless it looks like a
 * URL or a connection string pasted into the wrong place, which may hold a
 * password. */
static cx_status parse_listen(const char *listen, listen_addr *a, char *err, size_t errlen)
{
    char host[64];
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    memset(a, 0, sizeof *a);
    char shown[96]; /* the value quoted, or a word why not */
    if (listen != NULL && (strstr(listen, "://") || strchr(listen, '@') || strchr(listen, '=')))
        snprintf(shown, sizeof shown, "(not shown: it looks like a URL or a connection string)");
    else
        snprintf(shown, sizeof shown, "\"%.80s\"", listen ? listen : "");
    if (colon == NULL || (size_t)(colon - listen) >= sizeof host || end == colon + 1 ||
        *end != '\0' || port < 0 || port > 65535)
        return cx_errf(err, errlen, CX_ERR_CONFIG,
                       "http.listen %s: expected ADDR:PORT (port 0 to 65535), e.g. "
                       "127.0.0.1:9464",
                       shown);
    size_t n = (size_t)(colon - listen);
    memcpy(host, listen, n);
    host[n] = '\0';
    if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
        host[n - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a->v6.sin6_addr) == 1) {
            a->v6.sin6_family = AF_INET6;
            a->v6.sin6_port = htons((uint16_t)port);
            return CX_OK;
        }
    } else if (inet_pton(AF_INET, host, &a->v4.sin_addr) == 1) {
        a->v4.sin_family = AF_INET;
        a->v4.sin_port = htons((uint16_t)port);
        return CX_OK;
    }
    return cx_errf(err, errlen, CX_ERR_CONFIG,
                   "http.listen %s: the part before the port is neither an IPv4 address nor an "
                   "IPv6 one in brackets (names such as localhost are not looked up: "
                   "127.0.0.1 or [::1] is this machine only, 0.0.0.0 every IPv4 address, [::] "
                   "every IPv6 one)",
                   shown);
}

/* A connection thread's stack: ample for the handler. */
#define THREAD_STACK (512 * 1024)

/* Connections in all: CX_HTTP_MAX_CONNECTIONS, or half of what the open-file
 * limit leaves after CX_HTTP_RESERVED_FDS, at least 1. Each connection holds a
 * descriptor; without this cap, clients could take the last ones, so that
 * no broker or database connection could open, and libmicrohttpd's listener
 * spins on accept() failing with EMFILE. */
static unsigned connection_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur >= CX_HTTP_FULL_NOFILE)
        return CX_HTTP_MAX_CONNECTIONS;
    return rl.rlim_cur > CX_HTTP_RESERVED_FDS + 2
               ? (unsigned)(rl.rlim_cur - CX_HTTP_RESERVED_FDS) / 2
               : 1;
}

cx_status cx_http_check_listen(const char *listen, char *err, size_t errlen)
{
    listen_addr a;
    return parse_listen(listen, &a, err, errlen);
}

/* Why libmicrohttpd could not listen at sa, which it does not tell: the
 * address is bound here as it would bind it (SO_REUSEADDR) to find out. */
static const char *why_not_listening(const listen_addr *a, char *buf, size_t len)
{
    int fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1, e = 0;
    if (fd < 0)
        e = errno;
    else if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
             (a->sa.sa_family == AF_INET6 &&
              setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) ||
             bind(fd, &a->sa, addr_len(a)) != 0 || listen(fd, 1) != 0)
        e = errno;
    if (fd >= 0)
        close(fd);
    const char *hint = e == EADDRINUSE      ? " (perhaps another cxpulse on this machine)"
                       : e == EADDRNOTAVAIL ? " (not an address of this machine)"
                       : e == EAFNOSUPPORT  ? " (IPv6 is off on this machine)"
                       : e == EACCES        ? " (a port below 1024 needs privileges)"
                                            : "";
    if (e == 0)
        snprintf(buf, len, "no thread could start (the address itself is free)");
    else
        snprintf(buf, len, "%s%s", strerror(e), hint);
    return buf;
}

cx_status cx_http_new(cx_http **out, const char *listen, cx_http_handler handler, void *ctx,
                      char *err, size_t errlen)
{
    *out = NULL;
    listen_addr a;
    cx_status st = parse_listen(listen, &a, err, errlen);
    if (st != CX_OK)
        return st;
    cx_http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "http: out of memory");
    h->handler = handler;
    h->ctx = ctx;
    int v6 = a.sa.sa_family == AF_INET6;
    h->loopback =
        v6 ? IN6_IS_ADDR_LOOPBACK(&a.v6.sin6_addr) : (ntohl(a.v4.sin_addr.s_addr) >> 24) == 127;
    h->max_connections = connection_limit();
    atomic_store(&h->starting, 1);
    uint16_t port = ntohs(v6 ? a.v6.sin6_port : a.v4.sin_port);
    /* (an IPv6 address listens for IPv6 only: [::] is not 0.0.0.0 too) */
    h->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                     MHD_USE_POLL | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0),
                                 port, NULL, NULL, answer, h, MHD_OPTION_EXTERNAL_LOGGER, log_mhd,
                                 h, MHD_OPTION_SOCK_ADDR, &a.sa, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)CX_HTTP_IDLE_SECONDS, MHD_OPTION_CONNECTION_LIMIT,
                                 h->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                 (unsigned)CX_HTTP_MAX_PER_CLIENT, MHD_OPTION_THREAD_STACK_SIZE,
                                 (size_t)THREAD_STACK, MHD_OPTION_END);
    atomic_store(&h->starting, 0);
    if (h->daemon == NULL) {
        free(h);
        char why[160];
        return cx_errf(err, errlen, CX_ERR_IO,
                       "http: cannot listen on %s: %s: give another with --http ADDR:PORT "
                       "(http.listen), or --http off",
                       listen, why_not_listening(&a, why, sizeof why));
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : (int)port;
    *out = h;
    return CX_OK;
}

int cx_http_port(const cx_http *h)
{
    return h->port;
}

unsigned cx_http_max_connections(const cx_http *h)
{
    return h->max_connections;
}

void cx_http_free(cx_http *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
