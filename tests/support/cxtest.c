/*
 * cxtest.c - see cxtest.h.
 */
#include "cxtest.h"

#include "cx.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Reads PG_URL from the state file named by CX_TEST_PG_STATE. */
static void server_url(char *url, size_t urllen)
{
    const char *state = getenv("CX_TEST_PG_STATE");
    cr_assert(state != NULL,
              "CX_TEST_PG_STATE is not set: run the tests through ctest, or start a server with"
              " deploy/local/pg-start.sh --state /tmp/pg.env and run CX_TEST_PG_STATE=/tmp/pg.env"
              " <test binary> --filter 'suite/case*' (README, \"Running one test\")");
    FILE *f = fopen(state, "r");
    cr_assert(f != NULL, "no PostgreSQL test server (state file %s missing)", state);
    char line[1024];
    url[0] = '\0';
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "PG_URL=", 7) == 0) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(url, urllen, "%s", line + 7);
        }
    }
    fclose(f);
    cr_assert(url[0] != '\0', "state file %s has no PG_URL", state);
}

/* Drops what the server says besides results (NOTICE, WARNING): the tests'
 * own statements are checked by their results, and stderr is the program's. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

PGconn *cx_test_pg_connect(const char *url)
{
    PGconn *conn = PQconnectdb(url);
    cr_assert(PQstatus(conn) == CONNECTION_OK, "cannot connect to %s: %s", url,
              PQerrorMessage(conn));
    PQsetNoticeProcessor(conn, ignore_notice, NULL);
    return conn;
}

void cx_test_pg_exec(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql,
              PQerrorMessage(conn));
    PQclear(res);
}

long long cx_test_pg_scalar(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    cr_assert(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(conn));
    cr_assert(PQntuples(res) == 1 && PQnfields(res) == 1 && !PQgetisnull(res, 0, 0),
              "%s: expected one non-null value", sql);
    long long v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

void cx_test_pg_new_db(char *url, size_t urllen)
{
    static unsigned seq;
    char base[1024], name[64], sql[128];
    server_url(base, sizeof base);
    snprintf(name, sizeof name, "cxtest_%ld_%u", (long)getpid(), seq++);
    PGconn *conn = cx_test_pg_connect(base);
    /* one left by a test process that died with this pid, which it no longer has */
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    cx_test_pg_exec(conn, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    cx_test_pg_exec(conn, sql);
    PQfinish(conn);
    /* base ends in "/postgres": swap the database name. */
    char *slash = strrchr(base, '/');
    cr_assert(slash != NULL);
    *slash = '\0';
    snprintf(url, urllen, "%s/%s", base, name);
}

static int pg_stopped; /* by this test process, not started since */

int cx_test_pg_ctl(const char *action)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s/deploy/local/pg-ctl.sh --state '%s' %s", CX_SOURCE_DIR,
             getenv("CX_TEST_PG_STATE"), action);
    int rc = system(cmd);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    if (rc == 0)
        pg_stopped = strncmp(action, "stop", 4) == 0;
    return rc;
}

void cx_test_pg_restart_if_stopped(void)
{
    if (pg_stopped && cx_test_pg_ctl("start") != 0)
        fprintf(stderr, "cxtest: the test server could not be started again\n");
}

void cx_test_pg_down(PGconn **conn)
{
    cr_assert_eq(cx_test_pg_ctl("stop immediate"), 0);
    PQfinish(*conn);
    *conn = NULL;
}

void cx_test_pg_back(PGconn **conn, const char *url)
{
    cr_assert_eq(cx_test_pg_ctl("start"), 0);
    *conn = cx_test_pg_connect(url);
}

const char *cx_test_source_path(const char *rel, char *buf, size_t buflen)
{
    snprintf(buf, buflen, "%s/%s", CX_SOURCE_DIR, rel);
    return buf;
}

char *cx_test_read_file(const char *path, char *buf, size_t buflen)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    buf[fread(buf, 1, buflen - 1, f)] = '\0';
    fclose(f);
    return buf;
}

const char *cx_test_bin(void)
{
    return CX_BIN;
}

pid_t cx_test_spawn(char *const argv[], int *out_fd)
{
    int fds[2];
    cr_assert(pipe(fds) == 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    *out_fd = fds[0];
    return pid;
}

void cx_test_read_line(int fd, char *buf, size_t buflen, int timeout_ms)
{
    size_t n = 0;
    int64_t deadline = cx_now_mono_us() + (int64_t)timeout_ms * 1000;
    while (n + 1 < buflen) {
        int left = (int)((deadline - cx_now_mono_us()) / 1000);
        struct pollfd pfd = {fd, POLLIN, 0};
        cr_assert(left > 0 && poll(&pfd, 1, left) == 1, "no line within %d ms", timeout_ms);
        char c;
        cr_assert(read(fd, &c, 1) == 1, "the process closed its output");
        if (c == '\n')
            break;
        buf[n++] = c;
    }
    buf[n] = '\0';
}

/* Prints what each thread of pid is doing (name, state, what it waits on in
 * the kernel, and its stack where gdb is installed): the first clue to where
 * a process that would not exit hung. */
static void print_threads(pid_t pid)
{
    fprintf(stderr, "process %d has not exited; its threads:\n", (int)pid);
    cx_test_sh("for t in /proc/%d/task/*; do printf '  thread %%s %%s %%s waiting in %%s\\n' "
               "\"${t##*/}\" \"$(cat $t/comm)\" \"$(grep '^State:' $t/status)\" "
               "\"$(cat $t/wchan)\"; done >&2; ! command -v gdb >/dev/null || "
               "timeout 30 gdb -p %d -batch -ex 'thread apply all bt' >&2 2>&1",
               (int)pid, (int)pid);
}

int cx_test_stop(pid_t pid, int sig, int timeout_ms)
{
    int status;
    if (sig != 0)
        kill(pid, sig);
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        cx_test_sleep_ms(10);
    }
    print_threads(pid);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    cr_assert_fail("process %d did not exit within %d ms of signal %d", (int)pid, timeout_ms, sig);
    return -1;
}

void cx_test_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Starts bash with pipefail on the formatted command line; its process. */
__attribute__((format(printf, 1, 0))) static pid_t sh_start(const char *fmt, va_list ap)
{
    char cmd[8192];
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/bash", "bash", "-o", "pipefail", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int cx_test_sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pid_t pid = sh_start(fmt, ap);
    va_end(ap);
    return pid < 0 ? -1 : cx_test_sh_wait(pid, -1);
}

pid_t cx_test_sh_start(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pid_t pid = sh_start(fmt, ap);
    va_end(ap);
    return pid;
}

int cx_test_sh_wait(pid_t pid, int ms)
{
    for (int waited = 0;; waited += 20) {
        int rc;
        pid_t got = waitpid(pid, &rc, ms < 0 ? 0 : WNOHANG);
        if (got == pid)
            return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
        if (got < 0)
            return -1;
        if (waited >= ms)
            return -2;
        cx_test_sleep_ms(20);
    }
}

void cx_test_assert_signals_exact(PGconn *conn)
{
    const char *recomputed =
        "SELECT to_timestamp((floor(extract(epoch FROM e.occurred_at) / w) * w)::float8),"
        " w, coalesce(t.category, 'none'), coalesce(e.channel, ''), count(*)::int,"
        " (count(*) FILTER (WHERE e.sentiment = 'negative'))::int,"
        " (count(*) FILTER (WHERE e.sentiment = 'neutral'))::int,"
        " (count(*) FILTER (WHERE e.sentiment = 'positive'))::int,"
        " count(e.rating_value)::int, coalesce(sum(e.rating_value), 0),"
        " (count(*) FILTER (WHERE e.rating_scale = 'csat'))::int,"
        " coalesce(sum(e.rating_value) FILTER (WHERE e.rating_scale = 'csat'), 0),"
        " (count(*) FILTER (WHERE e.rating_scale = 'nps'))::int,"
        " coalesce(sum(e.rating_value) FILTER (WHERE e.rating_scale = 'nps'), 0),"
        " (count(*) FILTER (WHERE e.rating_scale = 'ces'))::int,"
        " coalesce(sum(e.rating_value) FILTER (WHERE e.rating_scale = 'ces'), 0),"
        " (count(*) FILTER (WHERE e.rating_scale = 'stars'))::int,"
        " coalesce(sum(e.rating_value) FILTER (WHERE e.rating_scale = 'stars'), 0)"
        " FROM cx.events e LEFT JOIN cx.event_tags t USING (event_id)"
        " CROSS JOIN (SELECT window_seconds AS w FROM cx.signals UNION SELECT 60) ws"
        " GROUP BY 1, 2, 3, 4";
    const char *stored = "SELECT window_start, window_seconds, category, channel, events,"
                         " negative, neutral, positive, rating_count, rating_sum, csat_count,"
                         " csat_sum, nps_count, nps_sum, ces_count, ces_sum, stars_count,"
                         " stars_sum FROM cx.signals";
    char sql[4096];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM ((%s EXCEPT ALL %s) UNION ALL (%s EXCEPT ALL %s)) d",
             recomputed, stored, stored, recomputed);
    cr_assert_eq(cx_test_pg_scalar(conn, sql), 0, "cx.signals differ from the sum over events");
}

int cx_test_http_get(int port, const char *path, char *body, size_t bodylen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    body[0] = '\0';
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    static char buf[1 << 20];
    size_t len = 0;
    ssize_t got;
    while (len < sizeof buf - 1 && (got = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)got;
    close(fd);
    buf[len] = '\0';
    int status = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    char *start = strstr(buf, "\r\n\r\n");
    snprintf(body, bodylen, "%s", start ? start + 4 : "");
    return status;
}

double cx_test_metric(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

int cx_test_free_port(void)
{
    enum { LOW = 10000, SPAN = 10000 };
    static atomic_uint handed;                         /* ports handed out by this process */
    unsigned start = (unsigned)getpid() * 2654435761u; /* processes start apart */
    for (int tries = 0; tries < SPAN; tries++) {
        int port = LOW + (int)((start + atomic_fetch_add(&handed, 1)) % SPAN);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert(fd >= 0);
        int ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(fd);
        if (ok)
            return port;
    }
    cr_assert_fail("no free port from %d to %d on 127.0.0.1", LOW, LOW + SPAN - 1);
    return -1;
}

int cx_test_listen(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 128) == 0 &&
              getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* ---- A TCP proxy for fault and timing tests ----------------------------- */

struct cx_test_proxy {
    int listen_fd, port, upstream;
    cx_test_proxy_hook on_client;
    void *ctx;
    atomic_int stop;
    atomic_int conns; /* connection threads running */
    pthread_t thread;
};

typedef struct proxy_conn {
    cx_test_proxy *px;
    int client;
} proxy_conn;

static int write_all(int fd, const char *buf, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t w = write(fd, buf + done, n - done);
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

static void *proxy_conn_main(void *arg)
{
    proxy_conn job = *(proxy_conn *)arg;
    free(arg);
    cx_test_proxy *px = job.px;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)px->upstream)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int up = socket(AF_INET, SOCK_STREAM, 0);
    int open = up >= 0 && connect(up, (struct sockaddr *)&sa, sizeof sa) == 0;
    static const size_t cap = 1 << 16;
    char *buf = malloc(cap);
    while (open && buf != NULL && !px->stop) {
        struct pollfd fds[2] = {{job.client, POLLIN, 0}, {up, POLLIN, 0}};
        if (poll(fds, 2, 100) <= 0)
            continue;
        for (int k = 0; k < 2 && open; k++) {
            if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(fds[k].fd, buf, cap);
            open =
                n > 0 &&
                (k == 1 || px->on_client == NULL || px->on_client(px->ctx, up, buf, (size_t)n)) &&
                write_all(fds[1 - k].fd, buf, (size_t)n) == 0;
        }
    }
    free(buf);
    if (up >= 0)
        close(up);
    close(job.client);
    px->conns--;
    return NULL;
}

static void *proxy_main(void *arg)
{
    cx_test_proxy *px = arg;
    while (!px->stop) {
        struct pollfd pfd = {px->listen_fd, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        int fd = accept(px->listen_fd, NULL, NULL);
        proxy_conn *job = fd >= 0 ? malloc(sizeof *job) : NULL;
        pthread_t t;
        if (job != NULL) {
            *job = (proxy_conn){px, fd};
            px->conns++;
            if (pthread_create(&t, NULL, proxy_conn_main, job) == 0) {
                pthread_detach(t);
                continue;
            }
            px->conns--;
        }
        free(job);
        if (fd >= 0)
            close(fd);
    }
    return NULL;
}

cx_test_proxy *cx_test_proxy_start(int upstream, cx_test_proxy_hook on_client, void *ctx)
{
    cx_test_proxy *px = calloc(1, sizeof *px);
    cr_assert_not_null(px);
    px->upstream = upstream;
    px->on_client = on_client;
    px->ctx = ctx;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    px->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(bind(px->listen_fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
              listen(px->listen_fd, 16) == 0 &&
              getsockname(px->listen_fd, (struct sockaddr *)&sa, &len) == 0);
    px->port = ntohs(sa.sin_port);
    cr_assert_eq(pthread_create(&px->thread, NULL, proxy_main, px), 0);
    return px;
}

int cx_test_proxy_port(const cx_test_proxy *px)
{
    return px->port;
}

void cx_test_proxy_stop(cx_test_proxy *px)
{
    px->stop = 1;
    pthread_join(px->thread, NULL);
    close(px->listen_fd);
    /* each connection thread sees the stop within its 100 ms poll, unless a
     * hook holds it: waited for, within bounds */
    for (int i = 0; px->conns > 0 && i < 600; i++)
        cx_test_sleep_ms(100);
    cr_assert_eq(px->conns, 0, "a proxy connection did not end");
    free(px);
}

cx_test_proxy *cx_test_pg_proxy(const char *url, cx_test_proxy_hook on_client, void *ctx, char *via,
                                size_t vialen)
{
    const char *host = strstr(url, "@127.0.0.1:");
    cr_assert_not_null(host, "not a loopback URL: %s", url);
    const char *db = strchr(host + 11, '/');
    cr_assert_not_null(db);
    cx_test_proxy *px = cx_test_proxy_start(atoi(host + 11), on_client, ctx);
    snprintf(via, vialen, "%.*s@127.0.0.1:%d%s?sslmode=disable", (int)(host - url), url,
             cx_test_proxy_port(px), db);
    return px;
}

int cx_test_pg_sent_query(const char *buf, size_t n, const char *sql)
{
    /* 'Q', the length (itself, the text and its NUL) big-endian, the text, NUL */
    char msg[64];
    size_t len = strlen(sql);
    cr_assert(len + 6 <= sizeof msg);
    uint32_t be = htonl((uint32_t)(len + 5));
    msg[0] = 'Q';
    memcpy(msg + 1, &be, 4);
    memcpy(msg + 5, sql, len + 1);
    for (size_t i = 0; i + len + 6 <= n; i++)
        if (memcmp(buf + i, msg, len + 6) == 0)
            return 1;
    return 0;
}

int cx_test_proxy_swallow_answer(int up, const char *buf, size_t n)
{
    char answer[256];
    struct pollfd pfd = {up, POLLIN, 0};
    return write_all(up, buf, n) == 0 && poll(&pfd, 1, 10000) == 1 &&
                   read(up, answer, sizeof answer) > 0
               ? 0
               : -1;
}
