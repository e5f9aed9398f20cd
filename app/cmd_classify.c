/*
 * cmd_classify.c - `cxpulse classify [--rules FILE]... [--model FILE] [FILE]`:
 * classifies event JSON lines offline. One output line per input line: the
 * verdict, or {"line":N,"error":"..."} for a line that is not a valid event
 * (also reported on stderr); processing always continues. Blocks of lines
 * are classified on several threads and written in input order; from a pipe
 * or a terminal, a block ends when no further line is waiting, so each
 * verdict is written as soon as its line has come.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classify.h"
#include "commands.h"

#define MAX_RULE_FILES 64
/* Lines per block, and most threads (the classifier is shared read-only). */
#define BLOCK_LINES 2048
#define MAX_THREADS 8

static int usage(FILE *out, int rc)
{
    fprintf(out, "usage: cxpulse classify [--rules FILE]... [--model FILE] [FILE]\n"
                 "       cxpulse classify [--rules FILE]... [--model FILE] --rule-version\n\n"
                 "Reads event JSON lines from FILE (or stdin) and writes one JSON line per input\n"
                 "line to stdout:\n"
                 "  {\"event_id\":...,\"categories\":[...],\"scores\":{...},\"sentiment\":...,"
                 "\"evidence\":{...},\n"
                 "   \"sentiment_from\":...}\n"
                 "Categories are ordered by confidence. sentiment_from says what decided the\n"
                 "sentiment: \"rating\", \"text\", \"customer turns\" (a chat transcript's)\n"
                 "or \"none\" (no text read: neutral). A text the built-in model and the\n"
                 "sentiment lexicons cannot read (not English: its \"language\" says so, or its\n"
                 "script or words do) adds \"language_not_read\":\"de\" and counts as no text.\n"
                 "An invalid line yields\n"
                 "{\"line\":N,\"error\":\"...\"} and a message on stderr; processing continues,\n"
                 "and the exit status stays 0 (1: the input cannot be read; 2: a usage error\n"
                 "or rules or a model that cannot be read).\n"
                 "--rules replaces the built-in rule files (repeat it for several files, read\n"
                 "in order; \"default\" names the built-in ones, so --rules default --rules\n"
                 "mine.json adds to them and overrides what mine.json redefines).\n"
                 "--model FILE classifies with a model from cxpulse train (\"none\": the rules\n"
                 "alone; \"default\": the built-in one); the default is the built-in model\n"
                 "when the built-in rules are used. Without the flags, CXPULSE_RULES and\n"
                 "CXPULSE_MODEL are read, as run reads them.\n"
                 "--rule-version prints the rule version those rules and that model give, as\n"
                 "run and reclassify record it (each event's rule_version, cx.rule_sets), and\n"
                 "reads no events.\n");
    return rc;
}

static void puts_(cx_buf *b, const char *s)
{
    cx_buf_put(b, s, strlen(s));
}

/* Writes s as a JSON string (quoted, escaped). */
static void put_str(cx_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    cx_buf_put(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        cx_buf_put(b, run, (size_t)(s - run));
        run = s + 1;
        /* JSON's short escape where it has one, else \u00XX (c is not '\0' here) */
        static const char with_short[] = "\"\\\n\r\t\b\f", short_of[] = "\"\\nrtbf";
        const char *k = strchr(with_short, c);
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        if (k != NULL)
            esc[1] = short_of[k - with_short];
        cx_buf_put(b, esc, k ? 2 : 6);
    }
    cx_buf_put(b, run, (size_t)(s - run));
    cx_buf_put(b, "\"", 1);
}

/* Appends the verdict line for one classified event. */
static void put_verdict(cx_buf *b, const cx_event *ev, const cx_tags *tags)
{
    char num[32];
    puts_(b, "{\"event_id\":");
    put_str(b, ev->event_id);
    puts_(b, ",\"categories\":[");
    for (int i = 0; i < tags->n_assigned; i++) {
        if (i)
            cx_buf_put(b, ",", 1);
        put_str(b, cx_category_name(tags->order[i]));
    }
    puts_(b, "],\"scores\":{");
    for (int c = 0; c < CX_CAT_COUNT; c++) {
        /* confidence in [0, 1] to 3 decimals, as 0.0, 0.5, 0.25, 0.125, 1.0 */
        int m = (int)(tags->confidence[c] * 1000 + 0.5f), n = 0;
        m = m < 0 ? 0 : m > 1000 ? 1000 : m;
        num[n++] = m == 1000 ? '1' : '0';
        num[n++] = '.';
        int d[3] = {m % 1000 / 100, m % 100 / 10, m % 10}, last = 0;
        for (int k = 0; k < 3; k++)
            if (d[k])
                last = k;
        for (int k = 0; k <= last; k++)
            num[n++] = (char)('0' + d[k]);
        num[n] = '\0';
        cx_buf_put(b, c ? ",\"" : "\"", c ? 2 : 1);
        puts_(b, cx_category_name((cx_category)c));
        puts_(b, "\":");
        cx_buf_put(b, num, (size_t)n);
    }
    puts_(b, "},\"sentiment\":");
    put_str(b, cx_sentiment_name(tags->sentiment));
    puts_(b, ",\"evidence\":{");
    int first = 1;
    for (int c = 0; c < CX_CAT_COUNT; c++) {
        if (tags->n_evidence[c] == 0)
            continue;
        if (!first)
            cx_buf_put(b, ",", 1);
        first = 0;
        put_str(b, cx_category_name((cx_category)c));
        puts_(b, ":[");
        for (int k = 0; k < tags->n_evidence[c]; k++) {
            if (k)
                cx_buf_put(b, ",", 1);
            put_str(b, tags->evidence[c][k]);
        }
        cx_buf_put(b, "]", 1);
    }
    puts_(b, "}");
    puts_(b, ",\"sentiment_from\":");
    put_str(b, tags->sentiment_from);
    if (tags->language_not_read != NULL) {
        puts_(b, ",\"language_not_read\":");
        put_str(b, tags->language_not_read);
    }
    puts_(b, "}\n");
}

/* A block of input lines and what classifying them wrote. */
typedef struct block {
    const cx_classifier *clf;
    const char *where; /* "FILE: " or "" (stdin), for messages */
    cx_buf in;      /* the lines, each ended by '\0' */
    size_t *starts; /* offsets of lines in in.data */
    size_t n;
    unsigned long first; /* line number of the first line */
    cx_buf out, err;
    /* the block's unreadable fields, each with its first line and need */
    cx_cmd_unreadable unread;
    unsigned long unread_line[CX_CMD_UNREADABLE_MAX];
    const char *unread_needs[CX_CMD_UNREADABLE_MAX];
} block;

static void *classify_block(void *arg)
{
    block *bl = arg;
    char msg[1024], line_no[64];
    for (size_t i = 0; i < bl->n; i++) {
        const char *line = bl->in.data + bl->starts[i];
        size_t n = (i + 1 < bl->n ? bl->starts[i + 1] : bl->in.len) - bl->starts[i] - 1;
        cx_event ev;
        cx_tags tags;
        if (cx_event_parse(&ev, line, n, msg, sizeof msg) != CX_OK) {
            snprintf(line_no, sizeof line_no, "%lu", bl->first + i);
            puts_(&bl->out, "{\"line\":");
            puts_(&bl->out, line_no);
            puts_(&bl->out, ",\"error\":");
            put_str(&bl->out, msg);
            puts_(&bl->out, "}\n");
            puts_(&bl->err, "cxpulse classify: ");
            puts_(&bl->err, bl->where);
            puts_(&bl->err, "line ");
            puts_(&bl->err, line_no);
            puts_(&bl->err, ": ");
            puts_(&bl->err, msg);
            if (strstr(msg, "missing required field \"event_id\"") != NULL &&
                strstr(line, "\"event\"") != NULL)
                puts_(&bl->err, " (a labeled example? classify reads events, not "
                                "{\"event\": ...} lines: cxpulse eval scores those)");
            puts_(&bl->err, "\n");
            continue;
        }
        cx_classifier_classify(bl->clf, &ev, &tags);
        if (cx_cmd_unreadable_first(&bl->unread, tags.unreadable)) {
            bl->unread_line[bl->unread.n - 1] = bl->first + i;
            bl->unread_needs[bl->unread.n - 1] = tags.unreadable_needs;
        }
        put_verdict(&bl->out, &ev, &tags);
        cx_event_clear(&ev);
    }
    return NULL;
}

/* The input, read with read(2) so that what is buffered is known. */
typedef struct reader {
    int fd, regular, eof, err;
    char *p;
    size_t start, len, cap; /* the unread bytes are p[start..len) */
} reader;

/* The next line, without its line break, in *line[*n] (valid until the next
 * call): 1; 0 at the end of the input; -1 when it cannot be read (r->err). */
static int next_line(reader *r, char **line, size_t *n)
{
    for (;;) {
        char *nl = r->len > r->start ? memchr(r->p + r->start, '\n', r->len - r->start) : NULL;
        if (nl != NULL || (r->eof && r->len > r->start)) {
            size_t end = nl != NULL ? (size_t)(nl - r->p) : r->len;
            *line = r->p + r->start;
            *n = end - r->start;
            r->start = nl != NULL ? end + 1 : end;
            return 1;
        }
        if (r->eof || r->err)
            return r->err ? -1 : 0;
        if (r->start > 0) { /* what is left of a line to the front */
            memmove(r->p, r->p + r->start, r->len - r->start);
            r->len -= r->start;
            r->start = 0;
        }
        if (r->cap - r->len < 65536) {
            size_t cap = r->cap < 65536 ? 131072 : 2 * r->cap;
            char *p = realloc(r->p, cap);
            if (p == NULL) {
                r->err = ENOMEM;
                return -1;
            }
            r->p = p;
            r->cap = cap;
        }
        ssize_t got = read(r->fd, r->p + r->len, r->cap - r->len);
        if (got < 0 && errno != EINTR)
            r->err = errno;
        else if (got == 0)
            r->eof = 1;
        else if (got > 0)
            r->len += (size_t)got;
    }
}

/* Whether no further line is waiting: none is buffered and none can be read
 * at once (never for a regular file, whose lines are all there). */
static int no_line_waiting(const reader *r)
{
    if (r->regular || r->eof || r->err ||
        (r->len > r->start && memchr(r->p + r->start, '\n', r->len - r->start) != NULL))
        return 0;
    struct pollfd pfd = {r->fd, POLLIN, 0};
    return poll(&pfd, 1, 0) == 0;
}

/* Reads up to BLOCK_LINES lines into bl, fewer when no further line is
 * waiting (*waiting set); returns how many. */
static size_t read_block(reader *r, block *bl, unsigned long *lineno, int *waiting)
{
    char *line;
    size_t n;
    bl->in.len = bl->out.len = bl->err.len = 0;
    bl->n = bl->unread.n = 0;
    bl->first = *lineno + 1;
    while (bl->n < BLOCK_LINES) {
        if (bl->n > 0 && no_line_waiting(r)) {
            *waiting = 1;
            break;
        }
        if (next_line(r, &line, &n) <= 0)
            break;
        ++*lineno;
        while (n > 0 && line[n - 1] == '\r')
            n--;
        bl->starts[bl->n++] = bl->in.len;
        cx_buf_put(&bl->in, line, n);
        cx_buf_put(&bl->in, "", 1);
    }
    return bl->n;
}

int cx_cmd_classify(int argc, char **argv)
{
    const char *rules[MAX_RULE_FILES];
    size_t n_rules = 0;
    const char *path = NULL, *model = NULL;
    int print_version = 0;
    char err[1024];

    if (cx_cmd_wants_help(argc, argv))
        return usage(stdout, CX_EXIT_OK);
    const cx_cmd_string strs[] = {{"--rules", rules, &n_rules, MAX_RULE_FILES},
                                  {"--model", &model, NULL, 0}};
    const cx_cmd_flag flags[] = {{"--rule-version", &print_version}};
    size_t n_paths = 0;
    const cx_cmd_spec spec = {.strs = strs,
                              .n_strs = CX_ARRAY_LEN(strs),
                              .flags = flags,
                              .n_flags = CX_ARRAY_LEN(flags),
                              .pos = &path,
                              .max_pos = 1,
                              .n_pos = &n_paths};
    if (cx_cmd_parse_options("classify", argv + 1, argc - 1, &spec) != 0)
        return usage(stderr, CX_EXIT_USAGE);
    if (print_version && n_paths > 0) {
        fprintf(stderr, "cxpulse classify: --rule-version reads no events\n");
        return CX_EXIT_USAGE;
    }

    cx_config *env = NULL; /* CXPULSE_RULES and CXPULSE_MODEL, as run reads them */
    const char *said;
    int bad =
        cx_cmd_read_rules_env("classify", rules, &n_rules, MAX_RULE_FILES, &model, &env, &said);
    cx_classifier *clf = NULL;
    if (bad == 0 &&
        cx_classifier_new_model(&clf, rules, n_rules, model, err, sizeof err) != CX_OK) {
        fprintf(stderr, "cxpulse classify: %s%s\n", err, said);
        bad = CX_EXIT_USAGE;
    }
    cx_config_free(env);
    if (bad != 0)
        return bad;
    cx_cmd_classifier_warnings("classify", clf);
    if (print_version) { /* what run and reclassify record, from these rules and model */
        printf("%s\n", cx_classifier_version(clf));
        cx_classifier_free(clf);
        return CX_EXIT_OK;
    }
    FILE *in = cx_cmd_open_input(path);
    if (in == NULL) {
        cx_cmd_file_error("classify", path, "cannot open", errno);
        cx_classifier_free(clf);
        return CX_EXIT_RUNTIME;
    }

    char where[1024] = "";
    if (path != NULL && strcmp(path, "-") != 0) { /* "name: " */
        cx_cmd_quote_path(path, where, sizeof where - 2);
        strcat(where, ": ");
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int n_threads = cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : (int)cpus;
    block blocks[MAX_THREADS];
    memset(blocks, 0, sizeof blocks);
    int rc = CX_EXIT_OK;
    for (int t = 0; t < n_threads; t++) {
        blocks[t].clf = clf;
        blocks[t].where = where;
        if ((blocks[t].starts = malloc(BLOCK_LINES * sizeof(size_t))) == NULL)
            rc = CX_EXIT_RUNTIME;
    }
    struct stat st_in;
    reader r = {.fd = fileno(in)};
    r.regular = fstat(r.fd, &st_in) == 0 && S_ISREG(st_in.st_mode);
    unsigned long lineno = 0;
    cx_cmd_unreadable told = {0};
    while (rc == CX_EXIT_OK) {
        int used = 0, waiting = 0;
        while (used < n_threads && !waiting && read_block(&r, &blocks[used], &lineno, &waiting) > 0)
            used++;
        if (used == 0)
            break;
        pthread_t th[MAX_THREADS];
        int started[MAX_THREADS] = {0};
        for (int t = 1; t < used; t++)
            started[t] = pthread_create(&th[t], NULL, classify_block, &blocks[t]) == 0;
        classify_block(&blocks[0]);
        for (int t = 1; t < used; t++) {
            if (started[t])
                pthread_join(th[t], NULL);
            else
                classify_block(&blocks[t]);
        }
        for (int t = 0; t < used; t++) {
            if (blocks[t].in.failed || blocks[t].out.failed || blocks[t].err.failed) {
                fprintf(stderr, "cxpulse classify: out of memory\n");
                rc = CX_EXIT_RUNTIME;
                break;
            }
            if (blocks[t].err.len > 0)
                fwrite(blocks[t].err.data, 1, blocks[t].err.len, stderr);
            for (size_t u = 0; u < blocks[t].unread.n; u++)
                if (cx_cmd_unreadable_first(&told, blocks[t].unread.fields[u]))
                    fprintf(stderr,
                            "cxpulse classify: %sline %lu: warning: " CX_CMD_UNREADABLE_FMT
                            " (said once per field)\n",
                            where, blocks[t].unread_line[u], blocks[t].unread.fields[u],
                            blocks[t].unread_needs[u]);
            if (blocks[t].out.len > 0 &&
                fwrite(blocks[t].out.data, 1, blocks[t].out.len, stdout) != blocks[t].out.len) {
                cx_cmd_stdout_failed(errno);
                rc = CX_EXIT_RUNTIME;
            }
        }
        if (waiting && fflush(stdout) != 0) { /* the verdicts of the lines that came */
            cx_cmd_stdout_failed(errno);
            rc = CX_EXIT_RUNTIME;
        }
        if (!waiting && used < n_threads)
            break; /* the end */
    }
    if (r.err != 0) {
        cx_cmd_file_error("classify", path ? path : "stdin", "cannot read", r.err);
        rc = CX_EXIT_RUNTIME;
    }
    if (fflush(stdout) != 0) {
        cx_cmd_stdout_failed(errno);
        rc = CX_EXIT_RUNTIME;
    }
    for (int t = 0; t < n_threads; t++) {
        free(blocks[t].starts);
        cx_buf_free(&blocks[t].in);
        cx_buf_free(&blocks[t].out);
        cx_buf_free(&blocks[t].err);
    }
    free(r.p);
    cx_cmd_close_input(in);
    cx_classifier_free(clf);
    return rc;
}
