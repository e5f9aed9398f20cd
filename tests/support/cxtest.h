/*
 * cxtest.h - helpers shared by the test suites: fresh PostgreSQL databases on
 * the throwaway server started by deploy/local/pg-start.sh, control of that
 * server for outage tests, and running the cxpulse binary.
 */
#ifndef CX_TEST_H
#define CX_TEST_H

#include <libpq-fe.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Creates a new, empty database with a unique name on the test server and
 * writes its URL into url[urllen]. Aborts the test (cr_assert) when the test
 * server is not running.
 */
void cx_test_pg_new_db(char *url, size_t urllen);

/* Connects to url or fails the test. Returns new: PQfinish() it. */
PGconn *cx_test_pg_connect(const char *url);

/* Runs one SQL statement expected to return one row, one column; returns it
 * as a long long (fails the test on error or NULL). */
long long cx_test_pg_scalar(PGconn *conn, const char *sql);

/* Runs one SQL statement expected to succeed (fails the test otherwise). */
void cx_test_pg_exec(PGconn *conn, const char *sql);

/* Asserts that cx.signals equals its recomputation from cx.events and
 * cx.event_tags, for each window size it holds (and 60 s): the invariant
 * analysts rely on. */
void cx_test_assert_signals_exact(PGconn *conn);

/* Stops ("stop fast", "stop immediate") or starts ("start") the test server
 * through deploy/local/pg-ctl.sh. Returns the script's exit status. */
int cx_test_pg_ctl(const char *action);

/* Starts the test server again when this test stopped it and failed before
 * starting it (a teardown's job: the later tests need it). */
void cx_test_pg_restart_if_stopped(void);

/* An outage: stops the test server at once ("stop immediate") and closes
 * *conn (NULL after); cx_test_pg_back() starts it and connects *conn to url. */
void cx_test_pg_down(PGconn **conn);
void cx_test_pg_back(PGconn **conn, const char *url);

/* Path of a file under the source tree, e.g. "tests/data/x.json". */
const char *cx_test_source_path(const char *rel, char *buf, size_t buflen);

/* The text of the file at path in buf (at most buflen - 1 bytes, then NUL);
 * fails the test if it cannot be opened. Returns buf. */
char *cx_test_read_file(const char *path, char *buf, size_t buflen);

/* Path of the cxpulse binary built alongside the tests. */
const char *cx_test_bin(void);

/* Starts argv[0] with argv (NULL-terminated) in a child process whose stdout
 * is a pipe; returns its pid and the pipe's read end in *out_fd. */
pid_t cx_test_spawn(char *const argv[], int *out_fd);

/* Reads one line (without the newline) from fd within timeout_ms; fails the test otherwise. */
void cx_test_read_line(int fd, char *buf, size_t buflen, int timeout_ms);

/* Sends sig to pid and waits up to timeout_ms for it to exit; returns its exit
 * status (128+signal if killed), or fails the test on time-out. */
int cx_test_stop(pid_t pid, int sig, int timeout_ms);

/* GETs http://127.0.0.1:port/path; returns the status code (-1 if unreachable)
 * and the body, NUL-terminated, in body[bodylen] (cut if longer). */
int cx_test_http_get(int port, const char *path, char *body, size_t bodylen);

/* A TCP port that was free a moment ago on 127.0.0.1, from 10000 to 19999:
 * below the kernel's range for outgoing connections, one of which could
 * otherwise take it before the test's server listens on it (and below the
 * test PostgreSQL servers' 20000 and up). Never the same one twice in a
 * process. */
int cx_test_free_port(void);

/* The value of the sample `name` (with its labels, exactly) in Prometheus
 * text such as /metrics answers; -1 when there is none. */
double cx_test_metric(const char *text, const char *name);

/* A socket listening on 127.0.0.1 at a free port (written to *port) that
 * accepts nobody: connections to it complete and are never answered (a hung
 * server), or the port is simply taken. Returns the socket: close() it. */
int cx_test_listen(int *port);

/*
 * A TCP proxy on 127.0.0.1 in front of 127.0.0.1:upstream, one thread per
 * connection passing bytes both ways. Each chunk read from the client goes
 * through on_client(ctx, up, buf, n) first, when set: it may wait, count, or
 * write to the server itself (up); it returns 1 to pass the chunk on, 0 to
 * close the connection without passing it. Hooks run on the proxy's threads.
 */
typedef struct cx_test_proxy cx_test_proxy;
typedef int (*cx_test_proxy_hook)(void *ctx, int up, const char *buf, size_t n);
cx_test_proxy *cx_test_proxy_start(int upstream, cx_test_proxy_hook on_client, void *ctx);
int cx_test_proxy_port(const cx_test_proxy *px);
/* Stops accepting, closes every connection (waiting for their threads) and frees px. */
void cx_test_proxy_stop(cx_test_proxy *px);

/* A proxy (as above) in front of the test server that url points to; writes
 * the URL of url's database reached through it into via[vialen]. */
cx_test_proxy *cx_test_pg_proxy(const char *url, cx_test_proxy_hook on_client, void *ctx, char *via,
                                size_t vialen);

/* True when buf[n], bytes a client sent to PostgreSQL, holds the simple-query
 * message for exactly sql ("COMMIT", "BEGIN"). */
int cx_test_pg_sent_query(const char *buf, size_t n, const char *sql);

/* For a proxy hook: passes buf[n] on to the server (up) and reads the
 * server's answer without passing it on, so the client never sees it.
 * Returns 0 when an answer came within 10 s, -1 otherwise. */
int cx_test_proxy_swallow_answer(int up, const char *buf, size_t n);

/* Sleeps ms milliseconds. */
void cx_test_sleep_ms(int ms);

/* Runs a command line in bash with pipefail and returns its exit status (-1
 * if killed by a signal): a pipeline fails when any of its commands does, so
 * `cxpulse ... | grep >/dev/null x` fails when cxpulse does (a sanitizer's
 * abort included), and its status is the rightmost failing command's. So a
 * grep that ends a pipeline reads to the end (output to /dev/null, not -q):
 * `grep -q` stops at its first match, and the command before it, still
 * writing, then dies of SIGPIPE, which fails the pipeline now and then. A
 * check that expects grep to find nothing should write the output to a file
 * first and check the command's own status. */
int cx_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* cx_test_sh() without waiting: the command's process, for cx_test_sh_wait(). */
pid_t cx_test_sh_start(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Waits up to ms (< 0: as long as it takes) for a cx_test_sh_start()
 * command to end: its exit status as cx_test_sh() gives it, or -2 while it
 * still runs (then wait again). */
int cx_test_sh_wait(pid_t pid, int ms);

#endif /* CX_TEST_H */
