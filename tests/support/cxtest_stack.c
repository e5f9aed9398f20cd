/*
 * cxtest_stack.c - the database, mock cluster and producer that the service's
 * integration tests (run, http, alerts) all start from.
 */
#include "cxtest_stack.h"

#include <criterion/criterion.h>

#include "cxtest.h"

void cx_test_stack_new(char *url, size_t urllen, PGconn **conn, cx_mock **mock,
                       cx_producer **producer, int partitions)
{
    char err[512];
    cx_test_pg_new_db(url, urllen);
    cr_assert_eq(cx_test_sh("%s migrate --pg '%s' >/dev/null", cx_test_bin(), url), 0);
    *conn = cx_test_pg_connect(url);
    cr_assert_eq(cx_mock_new(mock, 1, err, sizeof err), CX_OK, "%s", err);
    cr_assert_eq(cx_mock_create_topic(*mock, "cx.events", partitions, err, sizeof err), CX_OK,
                 "%s", err);
    cr_assert_eq(cx_producer_new(producer, cx_mock_bootstraps(*mock), err, sizeof err), CX_OK,
                 "%s", err);
}

void cx_test_stack_free(PGconn *conn, cx_mock *mock, cx_producer *producer)
{
    cx_producer_free(producer);
    cx_mock_free(mock);
    PQfinish(conn);
    cx_test_pg_restart_if_stopped();
}
