/*
 * test_http_listen.c - the HTTP server's refusals: an address it cannot
 * listen on is named with the reason the system gave, and a value that is no
 * address is refused without quoting what may be a secret. Loopback only.
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
