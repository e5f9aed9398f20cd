/*
 * test_http_listen.c - the HTTP server's refusals: an address it cannot
 * listen on is named with the reason the system gave, and a value that is no
 * address is refused without quoting what may be a secret; IPv6 addresses in
 * brackets, served and guarded as IPv4 ones. Loopback only.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

static void nothing(void *ctx, const char *path, cx_http_response *res)
{
    (void)ctx;
    (void)path;
    (void)res;
}

Test(http_listen, a_port_in_use_is_named_with_the_reason)
{
    cx_http *h = NULL;
    char err[512], listen[64];
    cr_assert_eq(cx_http_new(&h, "127.0.0.1:0", nothing, NULL, err, sizeof err), CX_OK, "%s", err);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", cx_http_port(h));
    cx_http *second = NULL;
    cr_expect_eq(cx_http_new(&second, listen, nothing, NULL, err, sizeof err), CX_ERR_IO);
    cr_expect_null(second);
    cr_expect(strstr(err, listen) != NULL, "%s", err);
    cr_expect(strstr(err, strerror(EADDRINUSE)) != NULL, "%s", err);
    cx_http_free(h);
}

Test(http_listen, an_address_of_no_interface_here_is_said_to_be_so)
{
    /* 192.0.2.1: TEST-NET-1 (RFC 5737), never assigned to a machine */
    cx_http *h = NULL;
    char err[512];
    cr_expect_eq(cx_http_new(&h, "192.0.2.1:9464", nothing, NULL, err, sizeof err), CX_ERR_IO);
    cr_expect(strstr(err, "not an address of this machine") != NULL, "%s", err);
    cr_expect(strstr(err, "in use") == NULL, "not a guess at another cause: %s", err);
}

Test(http_listen, a_value_that_is_no_address_is_refused_without_quoting_a_secret)
{
    char err[512];
    cr_expect_eq(cx_http_check_listen("https://user:s3cret@host/x", err, sizeof err),
                 CX_ERR_CONFIG);
    cr_expect(strstr(err, "s3cret") == NULL && strstr(err, "ADDR:PORT") != NULL, "%s", err);
    cr_expect_eq(cx_http_check_listen("localhost:9464", err, sizeof err), CX_ERR_CONFIG);
    cr_expect(strstr(err, "\"localhost:9464\"") != NULL && strstr(err, "127.0.0.1") != NULL, "%s",
              err);
}

Test(http_listen, an_ipv6_address_is_taken_in_brackets)
{
    char err[512];
    cr_expect_eq(cx_http_check_listen("[::1]:9464", err, sizeof err), CX_OK, "%s", err);
    cr_expect_eq(cx_http_check_listen("[::]:0", err, sizeof err), CX_OK, "%s", err);
    cr_expect_eq(cx_http_check_listen("[2001:db8::7]:65535", err, sizeof err), CX_OK, "%s", err);
    /* without brackets the port cannot be told from the address */
    cr_expect_eq(cx_http_check_listen("::1:9464", err, sizeof err), CX_ERR_CONFIG);
    cr_expect(strstr(err, "IPv6 one in brackets") != NULL && strstr(err, "[::1]") != NULL, "%s",
              err);
    cr_expect_eq(cx_http_check_listen("[::1]", err, sizeof err), CX_ERR_CONFIG);
    cr_expect(strstr(err, "ADDR:PORT") != NULL, "%s", err);
    cr_expect_eq(cx_http_check_listen("[127.0.0.1]:9464", err, sizeof err), CX_ERR_CONFIG);
    cr_expect_eq(cx_http_check_listen("[fe80::1%eth0]:9464", err, sizeof err), CX_ERR_CONFIG);
}

static void hello(void *ctx, const char *path, cx_http_response *res)
{
    (void)ctx;
    res->body = strdup(strcmp(path, "/hello") == 0 ? "hello over IPv6\n" : "?\n");
}

/* GET path with Host: host from [::1]:port; the response, or "" if none. */
static void get_v6(int port, const char *host, const char *path, char *resp, size_t len)
{
    struct sockaddr_in6 to = {.sin6_family = AF_INET6,
                              .sin6_port = htons((uint16_t)port),
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0, "%s", strerror(errno));
    cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof to), 0, "%s", strerror(errno));
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                     path, host);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < len && (r = read(fd, resp + got, len - 1 - got)) > 0)
        got += (size_t)r;
    resp[got] = '\0';
    close(fd);
}

Test(http_listen, an_ipv6_loopback_address_is_served_and_guarded)
{
    /* a machine with IPv6 turned off has no ::1 to listen on */
    int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 lo = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int has_v6 = probe >= 0 && bind(probe, (struct sockaddr *)&lo, sizeof lo) == 0;
    if (probe >= 0)
        close(probe);
    if (!has_v6)
        cr_skip_test("no IPv6 loopback address on this machine");
    cx_http *h = NULL;
    char err[512], resp[4096], host[64];
    cr_assert_eq(cx_http_new(&h, "[::1]:0", hello, NULL, err, sizeof err), CX_OK, "%s", err);
    int port = cx_http_port(h);
    cr_assert_gt(port, 0);
    snprintf(host, sizeof host, "[::1]:%d", port);
    get_v6(port, host, "/hello", resp, sizeof resp);
    cr_expect(strncmp(resp, "HTTP/1.1 200", 12) == 0 && strstr(resp, "hello over IPv6") != NULL,
              "%s", resp);
    /* a loopback listener answers loopback names only, as on 127.0.0.1 */
    get_v6(port, "rebound.example", "/hello", resp, sizeof resp);
    cr_expect(strncmp(resp, "HTTP/1.1 421", 12) == 0, "%s", resp);
    /* and a second listener on the same port is told why it cannot */
    cx_http *second = NULL;
    cr_expect_eq(cx_http_new(&second, host, hello, NULL, err, sizeof err), CX_ERR_IO);
    cr_expect(strstr(err, strerror(EADDRINUSE)) != NULL, "%s", err);
    cx_http_free(h);
}
