/*
 * consumer.c - the consumer-group member (see ingest.h).
 *
 * One thread. Batches are accumulated over rd_kafka_consumer_poll() (not
 * rd_kafka_consume_batch_queue(), which librdkafka 2.0 documents as unsafe
 * against concurrent rebalances). Offsets come from the application (which
 * keeps them in PostgreSQL with the data); Kafka commits follow each stored
 * batch (cx_consumer_stored) for lag tools only.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ingest.h"
#include "ingest_int.h"

/* How often a condition that lasts is logged again: the application's
 * offsets that cannot be read, a consumer error that repeats. */
#define WARN_EVERY_MS 60000
#define WARN_PARTITIONS 8 /* partitions named a minute per kind of consumer error */
/* How long asking where the partitions of an assignment end may take, and
 * each try (between them, a stop is seen). */
#define ENDS_PATIENCE_MS 10000
#define END_QUERY_MS 2000
/* While fetching is paused, how long asking the partitions' ends for the lag
 * may take (no fetch brings them then). */
#define LAG_ENDS_MS 2000
/* At most this often, while idle, offsets read past without a message are stored
 * (advance_idle) */
#define ADVANCE_EVERY_MS 1000

struct cx_consumer {
    rd_kafka_t *rk;
    cx_consumer_handler h;
    int batch_max, linger_ms;
    size_t bytes_max, bytes; /* the batch's message bytes: submitted once it holds bytes_max */
    int64_t reset; /* RD_KAFKA_OFFSET_BEGINNING or _END */
    rd_kafka_message_t **batch;
    cx_msg *msgs; /* the batch as the application sees it: batch[i] is msgs[i] */
    size_t n, cap;
    int64_t first_us; /* when the batch's first message arrived */
    atomic_int stop;  /* set by a signal handler or another thread (cx_consumer_stop) */
    int fatal;
    int unread; /* stopped while offsets could not be read: the batch in hand is not stored */
    _Atomic int paused; /* also read by other threads: cx_consumer_paused() */
    char fatal_err[1024];
    _Atomic int assigned; /* partitions assigned now; also read by other threads */
    /* Where each partition is stored up to (its offset: the next to store;
     * RD_KAFKA_OFFSET_INVALID: not known), for the lag: from assignment
     * (load_offsets) and each stored batch (cx_consumer_stored, any thread). */
    pthread_mutex_t stored_lock;
    rd_kafka_topic_partition_list_t *stored;
    /* Where what was submitted ends, per partition (its offset: the next
     * after the last submitted); on run()'s thread only. */
    rd_kafka_topic_partition_list_t *submitted;
    int64_t advanced_us; /* when advance_idle() last looked */
    struct said_lost { /* the messages said lost (say_lost; under stored_lock) */
        char *topic;
        int32_t partition;
        int64_t from, to; /* offsets from..to-1; a partition's ranges do not touch */
    } * said;
    size_t n_said, said_cap;
    struct warned { /* consumer errors logged lately (warn_error) */
        rd_kafka_resp_err_t err;
        const rd_kafka_topic_t *rkt;
        int32_t partition;
        int64_t us; /* when last logged */
        long again; /* times it came since, not logged */
    } warned[32];
    struct warned_kind { /* per kind of error: how many partitions' lines this minute */
        rd_kafka_resp_err_t err;
        int64_t since_us; /* the minute's start (0: unused) */
        int lines;        /* lines said in it */
        long held;        /* reports not said in it, past WARN_PARTITIONS lines */
        int n_held;       /* partitions among them, up to WARN_PARTITIONS named in ... */
        char held_names[WARN_PARTITIONS * 48];             /* "topic[p], topic[q]" */
        const rd_kafka_topic_t *held_rkt[WARN_PARTITIONS]; /* (compared, never used) */
        int32_t held_part[WARN_PARTITIONS];
        int more; /* partitions held past those named */
    } kinds[8];
    int held; /* kinds holding something back (warn_flush) */
};

/* Stops the consumer for good, keeping the first reason given (what run()
 * returns): a later failure is a consequence of the first. */
static void __attribute__((format(printf, 2, 3))) fail(cx_consumer *c, const char *fmt, ...)
{
    if (!c->fatal) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->fatal_err, sizeof c->fatal_err, fmt, ap);
        va_end(ap);
    }
    c->fatal = 1;
    c->stop = 1;
}

/* Notes that topic[partition] is stored up to next (RD_KAFKA_OFFSET_INVALID:
 * not known); with forward_only, only if later than what is noted. */
static void note_stored(cx_consumer *c, const char *topic, int32_t partition, int64_t next,
                        int forward_only)
{
    pthread_mutex_lock(&c->stored_lock);
    rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(c->stored, topic, partition);
    if (p == NULL)
        p = rd_kafka_topic_partition_list_add(c->stored, topic, partition); /* offset: INVALID */
    if (!forward_only || next > p->offset)
        p->offset = next;
    pthread_mutex_unlock(&c->stored_lock);
}

/* A commit to Kafka is for lag tools (the offsets that count are
 * PostgreSQL's), and one a rebalance cuts short is followed by the next:
 * without it librdkafka warns of each ("COMMITFAIL"). */
static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk, (void)offsets, (void)opaque;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        cx_log(CX_LOG_DEBUG, "kafka", "committing offsets to Kafka: %s", rd_kafka_err2str(err));
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void drop_batch(cx_consumer *c)
{
    for (size_t i = 0; i < c->n; i++)
        rd_kafka_message_destroy(c->batch[i]);
    c->n = 0;
    c->bytes = 0;
}

static void set_paused(cx_consumer *c, int pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(c->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts != NULL) {
        if (pause)
            rd_kafka_pause_partitions(c->rk, parts);
        else
            rd_kafka_resume_partitions(c->rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
    }
    c->paused = pause;
}

/* Lets go of the batch in hand (it is read again from the stored offsets).
 * Paused only while a batch waits for room: with none in hand, nothing else
 * would resume fetching. Resumes before partitions are let go of, since
 * librdkafka keeps a partition's pause across assignments. */
static void let_go_of_batch(cx_consumer *c)
{
    drop_batch(c);
    if (c->paused)
        set_paused(c, 0);
}

/* How long a submit waits for room before the partitions are paused: about
 * what a healthy write of a full batch takes, so that a sink that is merely
 * busy does not make every batch stop and restart fetching. */
#define SUBMIT_WAIT_MS 1000

/* Raises each partition of list to where msgs[0..n) end in it (the offset
 * after its last message), adding those it lacks. */
static void raise_to_ends(rd_kafka_topic_partition_list_t *list, const cx_msg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const cx_msg *m = &msgs[i];
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(list, m->topic, m->partition);
        if (p == NULL)
            p = rd_kafka_topic_partition_list_add(list, m->topic, m->partition);
        if (m->offset + 1 > p->offset)
            p->offset = m->offset + 1;
    }
}

/* Notes the offsets of list as stored, and commits them to Kafka for lag
 * tools (the offsets that count are PostgreSQL's). */
static void stored_up_to(cx_consumer *c, rd_kafka_topic_partition_list_t *list)
{
    for (int i = 0; i < list->cnt; i++)
        note_stored(c, list->elems[i].topic, list->elems[i].partition, list->elems[i].offset, 1);
    if (list->cnt > 0)
        rd_kafka_commit(c->rk, list, 1);
}

void cx_consumer_stored(cx_consumer *c, const cx_msg *msgs, size_t n)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(16);
    raise_to_ends(list, msgs, n);
    stored_up_to(c, list);
    rd_kafka_topic_partition_list_destroy(list);
}

/*
 * Submits the batch in hand. While the application is busy (storing earlier
 * batches, or retrying them) the batch stays in hand and every partition is
 * paused; polling goes on, so rebalances are served and the member stays in
 * the group. Resumes once a batch is taken.
 */
static cx_status submit(cx_consumer *c, int wait_ms, char *err, size_t errlen)
{
    cx_status st = c->h.submit(c->h.ctx, c->msgs, c->n, wait_ms, err, errlen);
    if (st == CX_ERR_TRANSIENT) {
        if (!c->paused) {
            cx_log(CX_LOG_DEBUG, "ingest", "pausing consumption: %s", err);
            set_paused(c, 1);
        }
        return CX_OK;
    }
    if (st == CX_OK)
        raise_to_ends(c->submitted, c->msgs, c->n);
    drop_batch(c);
    if (st == CX_OK && c->paused)
        set_paused(c, 0);
    return st;
}

/* Waits until the application has stored (or given up on) what it took. */
static cx_status drain(cx_consumer *c, char *err, size_t errlen)
{
    return c->h.drain != NULL ? c->h.drain(c->h.ctx, err, errlen) : CX_OK;
}

/* Says what kind k held back, if anything, and begins it anew for err at now. */
static void warn_held(cx_consumer *c, struct warned_kind *k, rd_kafka_resp_err_t err, int64_t now)
{
    if (k->held > 0)
        cx_log(CX_LOG_WARN, "ingest",
               "kafka: %s: also at %s%s: %ld report(s) in the last %lld s not said one by one "
               "(%d partitions are named a minute at most; cxpulse_consumer_lag shows which "
               "stand still)",
               rd_kafka_err2str(k->err), k->held_names, k->more ? " and other partitions" : "",
               k->held, (long long)((now - k->since_us) / 1000000), WARN_PARTITIONS);
    c->held -= k->held > 0;
    *k = (struct warned_kind){.err = err, .since_us = now};
}

/* The kind entry of err, begun anew a minute after its start (what it held
 * said first); a new kind takes the least lately begun entry. */
static struct warned_kind *warn_kind(cx_consumer *c, rd_kafka_resp_err_t err, int64_t now)
{
    struct warned_kind *k = &c->kinds[0];
    for (size_t i = 0; i < CX_ARRAY_LEN(c->kinds); i++) {
        if (c->kinds[i].err == err && c->kinds[i].since_us != 0) {
            k = &c->kinds[i];
            break;
        }
        if (c->kinds[i].since_us < k->since_us)
            k = &c->kinds[i];
    }
    if (k->err != err || k->since_us == 0 || now - k->since_us >= WARN_EVERY_MS * 1000LL)
        warn_held(c, k, err, now);
    return k;
}

/* Says what every kind held back for a minute or more (all, with force: the
 * consumer is closing). Called at every poll: nothing to do, nothing read. */
static void warn_flush(cx_consumer *c, int force)
{
    if (c->held == 0)
        return;
    int64_t now = cx_now_mono_us();
    for (size_t i = 0; i < CX_ARRAY_LEN(c->kinds); i++)
        if (c->kinds[i].held > 0 && (force || now - c->kinds[i].since_us >= WARN_EVERY_MS * 1000LL))
            warn_held(c, &c->kinds[i], c->kinds[i].err, now);
}

/* Logs a consumer error, once a minute at most while the same one repeats
 * (for a partition, or the handle): librdkafka reports a batch it cannot
 * decode (corrupt on the broker, or compressed with a codec this build
 * lacks) at every fetch of it, twice a second, and the partition reads
 * nothing past it until it can be read. Many partitions with the same
 * error (such batches on every partition a producer writes to) get a line
 * each for WARN_PARTITIONS of them a minute; the others are named together
 * in one line a minute. */
static void warn_error(cx_consumer *c, const rd_kafka_message_t *m)
{
    int32_t part = m->rkt != NULL ? m->partition : -1;
    int64_t now = cx_now_mono_us();
    struct warned *w = &c->warned[0];
    int same = 0;
    for (size_t k = 0; k < CX_ARRAY_LEN(c->warned) && !same; k++) {
        struct warned *x = &c->warned[k];
        if ((same = x->err == m->err && x->rkt == m->rkt && x->partition == part) ||
            x->us < w->us) /* else the least lately logged gives way */
            w = x;
    }
    if (same && now - w->us < WARN_EVERY_MS * 1000LL) {
        w->again++;
        return;
    }
    struct warned_kind *kind = warn_kind(c, m->err, now);
    if (kind->lines >= WARN_PARTITIONS) {
        c->held += kind->held++ == 0;
        int known = 0;
        for (int i = 0; i < kind->n_held && !known; i++)
            known = kind->held_rkt[i] == m->rkt && kind->held_part[i] == part;
        if (!known && kind->n_held == WARN_PARTITIONS) {
            kind->more = 1;
        } else if (!known) {
            size_t used = strlen(kind->held_names);
            snprintf(kind->held_names + used, sizeof kind->held_names - used, "%s%s[%d]",
                     used ? ", " : "", m->rkt ? rd_kafka_topic_name(m->rkt) : "?", (int)part);
            kind->held_rkt[kind->n_held] = m->rkt;
            kind->held_part[kind->n_held++] = part;
        }
        return;
    }
    kind->lines++;
    char again[64] = "";
    if (same && w->again > 0)
        snprintf(again, sizeof again, " (%ld more time(s) since last said)", w->again);
    if (part >= 0 &&
        (m->err == RD_KAFKA_RESP_ERR__BAD_MSG || m->err == RD_KAFKA_RESP_ERR__BAD_COMPRESSION ||
         /* librdkafka 2.0.2's word for a codec it does not know or was built without */
         m->err == RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED))
        cx_log(CX_LOG_WARN, "ingest",
               "kafka: %s[%d] cannot be read at offset %lld: %s; nothing past it is read "
               "until it can be (see \"A partition that cannot be read\" in deploy/README.md)%s",
               rd_kafka_topic_name(m->rkt), (int)part, (long long)m->offset,
               rd_kafka_message_errstr(m), again);
    else
        cx_log(CX_LOG_WARN, "ingest", "kafka: %s%s", rd_kafka_message_errstr(m), again);
    *w = (struct warned){m->err, m->rkt, part, now, 0};
}

static void out_of_range(cx_consumer *c, const rd_kafka_message_t *m);

/* Adds a message to the batch (or handles a consumer error). */
static void accept_message(cx_consumer *c, rd_kafka_message_t *m)
{
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
        /* The handle cannot go on (a static member fenced by another with
         * its group.instance.id): stop, with librdkafka's reason. */
        char why[512];
        rd_kafka_fatal_error(c->rk, why, sizeof why);
        fail(c, "kafka: %s", why);
        rd_kafka_message_destroy(m);
        return;
    }
    if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && m->rkt != NULL) {
        out_of_range(c, m);
        rd_kafka_message_destroy(m);
        return;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* Other consumer errors are informational: librdkafka retries by itself. */
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            warn_error(c, m);
        rd_kafka_message_destroy(m);
        return;
    }
    if (c->n == c->cap) {
        /* Not expected: a batch is full in hand only while every partition
         * is paused, pausing discards what was fetched ahead (librdkafka's
         * version barrier), and an assignment lets go of the batch first.
         * Should a message come anyway, it is put back to be fetched again
         * later; when that fails, reading on would skip it: stop, with the
         * reason (it is read again from the stored offsets on the next
         * start). No test reaches this. */
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
            m->offset;
        rd_kafka_error_t *e = rd_kafka_seek_partitions(c->rk, l, 1000);
        const char *why = e != NULL ? rd_kafka_error_string(e)
                          : l->elems[0].err ? rd_kafka_err2str(l->elems[0].err)
                                            : NULL;
        if (why != NULL)
            fail(c, "putting back %s[%d]@%lld: %s", rd_kafka_topic_name(m->rkt), (int)m->partition,
                 (long long)m->offset, why);
        if (e != NULL)
            rd_kafka_error_destroy(e);
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_message_destroy(m);
        return;
    }
    if (c->n == 0)
        c->first_us = cx_now_mono_us();
    c->msgs[c->n] =
        (cx_msg){rd_kafka_topic_name(m->rkt),        m->partition, m->offset, m->payload, m->len,
                 rd_kafka_message_timestamp(m, NULL)};
    c->batch[c->n++] = m;
    c->bytes += m->len;
}

/* Reads (with start: stores, see cx_consumer_handler) topic's stored
 * offsets, retrying while the application's store cannot be reached, for as
 * long as it cannot (or until a stop): no partition is fetched before its
 * offset is known. The wait is inside a rebalance callback, in the poll,
 * which max.poll.interval.ms does not count, so the member stays in the group
 * however long the store is out of reach; librdkafka's heartbeats go on. */
static cx_status read_stored(cx_consumer *c, const char *topic, const int32_t *ids, size_t n,
                             const int64_t *start, int64_t *next, char *err, size_t errlen)
{
    cx_status st;
    int64_t began = cx_now_mono_us(), warned = 0;
    int delay = 100;
    while ((st = c->h.load_offsets(c->h.ctx, topic, ids, n, start, next, err, errlen)) ==
               CX_ERR_TRANSIENT &&
           !c->stop) {
        int64_t now = cx_now_mono_us();
        if (warned == 0 || now - warned >= WARN_EVERY_MS * 1000LL) {
            char since[40] = ""; /* none on the first warning */
            if (warned != 0)
                snprintf(since, sizeof since, ", for %lld s now",
                         (long long)((now - began) / 1000000));
            cx_log(CX_LOG_WARN, "ingest",
                   "reading stored offsets of %s: %s (retrying until it can%s)", topic, err, since);
            warned = now;
        }
        sleep_ms(delay);
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
    if (st == CX_OK && warned != 0)
        cx_log(CX_LOG_INFO, "ingest", "read stored offsets of %s after %lld s", topic,
               (long long)((cx_now_mono_us() - began) / 1000000));
    return st;
}

/* Asks where each partition of l starts or ends (which: "starts" or "ends",
 * as the offsets in l: RD_KAFKA_OFFSET_BEGINNING or _END), in tries of
 * END_QUERY_MS until `until` or a stop; rd_kafka_offsets_for_times() keeps
 * its timeout, where librdkafka 2.0.2's rd_kafka_query_watermark_offsets()
 * waits for a leader that is down without end. Fills at[k] for ids[k] (-1:
 * not known); a partition not known, unless for a stop, is logged with
 * librdkafka's reason and `then`, what follows from it. Returns the
 * request's error (per partition ones aside). */
static rd_kafka_resp_err_t ask_offsets(cx_consumer *c, rd_kafka_topic_partition_list_t *l,
                                       const char *which, int64_t until, const int32_t *ids,
                                       size_t n, int64_t *at, const char *then)
{
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    int64_t left;
    while (l->cnt > 0 && !c->stop && (left = (until - cx_now_mono_us()) / 1000) > 0 &&
           (e = rd_kafka_offsets_for_times(c->rk, l,
                                           left < END_QUERY_MS ? (int)left : END_QUERY_MS)) ==
               RD_KAFKA_RESP_ERR__TIMED_OUT)
        ;
    for (size_t k = 0; k < n; k++)
        at[k] = -1;
    for (int i = 0; i < l->cnt && !c->stop; i++) {
        const rd_kafka_topic_partition_t *p = &l->elems[i];
        rd_kafka_resp_err_t pe = e != RD_KAFKA_RESP_ERR_NO_ERROR ? e : p->err;
        if (pe != RD_KAFKA_RESP_ERR_NO_ERROR) {
            cx_log(CX_LOG_WARN, "ingest", "where %s[%d] %s is not known (%s): %s", p->topic,
                   (int)p->partition, which, rd_kafka_err2str(pe), then);
            continue;
        }
        for (size_t k = 0; k < n; k++)
            if (ids[k] == p->partition)
                at[k] = p->offset;
    }
    return e;
}

/* Notes that topic[id]'s messages from..to-1 were said lost (merged with
 * the ranges of it said before, which it overlaps or touches); returns how
 * many of them were said before. Under stored_lock. */
static int64_t note_lost(cx_consumer *c, const char *topic, int32_t id, int64_t from, int64_t to)
{
    int64_t before = 0, lo = from, hi = to;
    for (size_t i = 0; i < c->n_said;) {
        struct said_lost *r = &c->said[i];
        if (r->partition != id || strcmp(r->topic, topic) != 0 || r->to < lo || r->from > hi) {
            i++;
            continue;
        }
        int64_t a = r->from > from ? r->from : from, b = r->to < to ? r->to : to;
        before += b > a ? b - a : 0;
        lo = r->from < lo ? r->from : lo; /* merged into the new range, in place of r */
        hi = r->to > hi ? r->to : hi;
        free(r->topic);
        c->said[i] = c->said[--c->n_said];
    }
    if (c->n_said == c->said_cap) {
        size_t cap = c->said_cap ? 2 * c->said_cap : 8;
        struct said_lost *more = realloc(c->said, cap * sizeof *more);
        if (more == NULL)
            return before; /* not kept: a loss found again would be counted again */
        c->said = more;
        c->said_cap = cap;
    }
    char *name = strdup(topic);
    if (name != NULL)
        c->said[c->n_said++] = (struct said_lost){name, id, lo, hi};
    return before;
}

/* Says that topic[id]'s messages from..to-1 were deleted by retention
 * before they were read, and tells the application how many of them were
 * not said lost before: a loss found again (retention deleting more of a
 * paused partition, a batch given up and read again) counts once. */
static void say_lost(cx_consumer *c, const char *topic, int32_t id, int64_t from, int64_t to)
{
    pthread_mutex_lock(&c->stored_lock);
    int64_t before = note_lost(c, topic, id, from, to);
    pthread_mutex_unlock(&c->stored_lock);
    int64_t n = to - from - before;
    if (n <= 0)
        return;
    if (before == 0)
        cx_log(CX_LOG_WARN, "ingest",
               "%s[%d]: messages %lld to %lld were deleted by retention before they were read "
               "(%lld lost); reading on from %lld",
               topic, (int)id, (long long)from, (long long)to - 1, (long long)n, (long long)to);
    else
        cx_log(CX_LOG_WARN, "ingest",
               "%s[%d]: messages %lld to %lld were deleted by retention before they were read "
               "(%lld lost, besides %lld said lost before); reading on from %lld",
               topic, (int)id, (long long)from, (long long)to - 1, (long long)n, (long long)before,
               (long long)to);
    if (c->h.lost != NULL)
        c->h.lost(c->h.ctx, topic, id, (uint64_t)n);
}

/* The error for a partition whose next offset (what: how it was found) is
 * past its end (CX_ERR_FATAL): each message up to it would be taken as
 * stored already. */
static cx_status past_end(char *err, size_t errlen, const char *topic, int32_t id, const char *what,
                          int64_t next, int64_t end)
{
    return cx_errf(err, errlen, CX_ERR_FATAL,
                   "%s[%d]: %s %lld is past the partition's end (%lld): the topic was deleted "
                   "and created again, or lost messages it had acknowledged, or the offsets are "
                   "another Kafka cluster's (another installation with this kafka.group on this "
                   "database: give each its own group, or its own database); if it is a new "
                   "topic, delete the group's offsets of it from cx.consumer_offsets to read it "
                   "from its start",
                   topic, (int)id, what, (long long)next, (long long)end);
}

/* The offset where c has stored topic[partition] up to (-1: not known). */
static int64_t stored_at(cx_consumer *c, const char *topic, int32_t partition)
{
    pthread_mutex_lock(&c->stored_lock);
    const rd_kafka_topic_partition_t *p =
        rd_kafka_topic_partition_list_find(c->stored, topic, partition);
    int64_t at = p != NULL && p->offset >= 0 ? p->offset : -1;
    pthread_mutex_unlock(&c->stored_lock);
    return at;
}

/*
 * Fetches topic[id] of the assignment `mine` again from `from`, once
 * librdkafka has stopped fetching it (its offset out of range), which a seek
 * cannot undo: assigned again, alone (cooperative), or with the rest of the
 * assignment at the positions read up to (eager: an assignment replaces the
 * whole of it). Pauses stay as they were. 0, with the reason in why, when
 * it cannot be done. (Cooperative: should librdkafka have begun a rebalance
 * whose callback is not served yet, the unassignment here can let it go on
 * before the callback drains the partitions it revokes. The stored offsets
 * keep that from storing anything twice: the worst is a member stopping on
 * offsets another stored, and its restart.)
 */
static int refetch(cx_consumer *c, const rd_kafka_topic_partition_list_t *mine, const char *topic,
                   int32_t id, int64_t from, char *why, size_t whylen)
{
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t re = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_t *l;
    if (strcmp(rd_kafka_rebalance_protocol(c->rk), "COOPERATIVE") == 0) {
        l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, id)->offset = from;
        if ((e = rd_kafka_incremental_unassign(c->rk, l)) == NULL)
            e = rd_kafka_incremental_assign(c->rk, l);
    } else {
        l = rd_kafka_topic_partition_list_copy(mine);
        re = rd_kafka_position(c->rk, l);
        for (int i = 0; re == RD_KAFKA_RESP_ERR_NO_ERROR && i < l->cnt; i++) {
            rd_kafka_topic_partition_t *p = &l->elems[i];
            if (p->partition == id && strcmp(p->topic, topic) == 0)
                p->offset = from;
            else if (p->offset < 0) /* nothing read since it was assigned */
                p->offset = stored_at(c, p->topic, p->partition);
            if (p->offset < 0)
                p->offset = c->reset;
            p->err = RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        if (re == RD_KAFKA_RESP_ERR_NO_ERROR)
            re = rd_kafka_assign(c->rk, l);
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (e != NULL) {
        snprintf(why, whylen, "%s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return 0;
    }
    if (re != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(why, whylen, "%s", rd_kafka_err2str(re));
        return 0;
    }
    if (c->paused)
        set_paused(c, 1);
    return 1;
}

/*
 * A partition read past what its brokers hold: auto.offset.reset is "error",
 * so librdkafka stops fetching it and says so here, at the offset it was to
 * fetch (at). Retention deleted messages there before they were read: it
 * reads on from the oldest held, saying how many were lost since the last
 * message this member read (messages fetched ahead of it are let go of), as
 * an assignment does. The partition holds less than that (deleted and created again, or
 * truncated): the consumer stops, as an assignment would, since every
 * message up to `at` would be skipped as stored. Where the partition starts
 * is not known in time (its leader is out of reach): it is fetched from `at`
 * again, and told again. A partition no longer assigned is left alone.
 */
static void out_of_range(cx_consumer *c, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    int32_t id = m->partition;
    int64_t at = m->offset, lo = -1, hi = -1;
    rd_kafka_topic_partition_list_t *mine = NULL, *l = rd_kafka_topic_partition_list_new(1);
    if (rd_kafka_assignment(c->rk, &mine) != RD_KAFKA_RESP_ERR_NO_ERROR || mine == NULL ||
        rd_kafka_topic_partition_list_find(mine, topic, id) == NULL || at < 0)
        goto done;
    int64_t until = cx_now_mono_us() + ENDS_PATIENCE_MS * 1000LL;
    rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_add(l, topic, id);
    p->offset = RD_KAFKA_OFFSET_BEGINNING;
    if (ask_offsets(c, l, "starts", until, &id, 1, &lo, "it is fetched again where it was") ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        lo >= 0) {
        p->offset = RD_KAFKA_OFFSET_END;
        p->err = RD_KAFKA_RESP_ERR_NO_ERROR;
        ask_offsets(c, l, "ends", until, &id, 1, &hi, "it is fetched again where it was");
    }
    /* where this member has read up to: messages fetched ahead of it but not
     * read are let go of by the new assignment, and need fetching again */
    l->elems[0].offset = RD_KAFKA_OFFSET_INVALID;
    int64_t from = rd_kafka_position(c->rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR
                       ? l->elems[0].offset
                       : RD_KAFKA_OFFSET_INVALID;
    if (from < 0) /* nothing read since it was assigned */
        from = stored_at(c, topic, id);
    if (from < 0 || from > at)
        from = at;
    char why[512];
    if (hi >= 0 && at > hi) { /* checked first, as at an assignment */
        past_end(why, sizeof why, topic, id, "the next offset to read", at, hi);
        fail(c, "%s", why);
        goto done;
    } else if (lo > from) {
        say_lost(c, topic, id, from, lo);
        from = lo;
    } else {
        warn_error(c, m); /* not known, or held again: librdkafka's reason */
    }
    if (!refetch(c, mine, topic, id, from, why, sizeof why)) /* else it stays unread, unsaid */
        fail(c, "reading %s[%d] on from %lld: %s", topic, (int)id, (long long)from, why);
done:
    if (mine != NULL)
        rd_kafka_topic_partition_list_destroy(mine);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Checks where each partition of topic starts (next[k], -1: nothing stored)
 * against what the brokers hold, asked within ENDS_PATIENCE_MS:
 * - stored before the oldest message held: the messages between were
 *   deleted by retention; it starts at the oldest, saying how many were lost
 *   unread (so auto_offset_reset, for partitions with nothing stored, never
 *   decides it). Those below the offset the group committed to Kafka
 *   (committed[k], -1: none or not known) were read before (an offset set
 *   back by hand to read a topic again, or a database restored from a
 *   backup): said, not counted lost;
 * - stored past the end: the topic was deleted and created again under its
 *   name, or lost messages it had acknowledged, and each message up to the
 *   stored offset would be taken as stored already: fails (CX_ERR_FATAL),
 *   naming the partition;
 * - nothing stored, with auto_offset_reset "latest": stores the end as where
 *   it starts and reads next again, so a restart before the first stored
 *   batch starts there, not at the end as it is then.
 * What is not known in time, or once asked to stop, stays as it is (-1 is
 * the end as librdkafka finds it when fetching begins). */
static cx_status check_ranges(cx_consumer *c, const char *topic, const int32_t *ids, size_t n,
                              const int64_t *committed, int64_t *next, char *err, size_t errlen)
{
    int64_t *lo = malloc(n * sizeof *lo), *hi = malloc(n * sizeof *hi);
    int64_t *start = malloc(n * sizeof *start);
    rd_kafka_topic_partition_list_t *starts = rd_kafka_topic_partition_list_new((int)n);
    rd_kafka_topic_partition_list_t *ends = rd_kafka_topic_partition_list_new((int)n);
    cx_status st = CX_OK;
    if (lo == NULL || hi == NULL || start == NULL || starts == NULL || ends == NULL) {
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t missing = 0;
    for (size_t k = 0; k < n; k++) {
        rd_kafka_topic_partition_list_add(ends, topic, ids[k])->offset = RD_KAFKA_OFFSET_END;
        if (next[k] >= 0)
            rd_kafka_topic_partition_list_add(starts, topic, ids[k])->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        else
            missing++;
    }
    if (starts->cnt == 0 && c->reset != RD_KAFKA_OFFSET_END)
        goto done; /* nothing to check, nothing to store */
    int64_t until = cx_now_mono_us() + ENDS_PATIENCE_MS * 1000LL;
    rd_kafka_resp_err_t e =
        ask_offsets(c, ends, "ends", until, ids, n, hi,
                    c->reset == RD_KAFKA_OFFSET_END
                        ? "a stored offset is not checked against it; with none stored, it starts "
                          "at the end when fetching begins, and that is not stored"
                        : "a stored offset is not checked against it");
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        ask_offsets(c, starts, "starts", until, ids, n, lo,
                    "its stored offset is not checked against it");
    else /* the same would be said again */
        for (size_t k = 0; k < n; k++)
            lo[k] = -1;
    if (missing > 0 && c->reset == RD_KAFKA_OFFSET_END && !c->stop) {
        for (size_t k = 0; k < n; k++)
            start[k] = next[k] < 0 ? hi[k] : -1; /* read_stored() stores those >= 0 */
        if ((st = read_stored(c, topic, ids, n, start, next, err, errlen)) != CX_OK)
            goto done;
    }
    for (size_t k = 0; k < n && !c->stop; k++) {
        if (next[k] >= 0 && hi[k] >= 0 && next[k] > hi[k]) {
            st = past_end(err, errlen, topic, ids[k], "the stored offset", next[k], hi[k]);
            goto done;
        }
        /* behind the group's commit: what lies between, as far as the topic
         * still holds it, is read again */
        int64_t again = lo[k] > next[k] ? lo[k] : next[k];
        if (next[k] >= 0 && committed[k] > again)
            cx_log(CX_LOG_WARN, "ingest",
                   "%s[%d]: the offset stored in postgresql (%lld) is behind the one this "
                   "group committed to kafka (%lld): the database restored from a backup, "
                   "or the offset set back by hand? Messages %lld to %lld are read again "
                   "(events stored are stored once; see docs/recovery.md)",
                   topic, (int)ids[k], (long long)next[k], (long long)committed[k],
                   (long long)again, (long long)committed[k] - 1);
        if (next[k] >= 0 && lo[k] > next[k]) {
            int64_t read = committed[k] > next[k] ? committed[k] : next[k];
            if (read > lo[k])
                read = lo[k];
            if (read > next[k])
                cx_log(CX_LOG_WARN, "ingest",
                       "%s[%d]: messages %lld to %lld were deleted by retention after this group "
                       "read them (it committed offset %lld to kafka): they are not read again; "
                       "their events are stored unless the database was restored from a backup "
                       "older than them (see docs/recovery.md)",
                       topic, (int)ids[k], (long long)next[k], (long long)read - 1,
                       (long long)committed[k]);
            if (lo[k] > read)
                say_lost(c, topic, ids[k], read, lo[k]);
            next[k] = lo[k];
        }
    }
done:
    if (starts != NULL)
        rd_kafka_topic_partition_list_destroy(starts);
    if (ends != NULL)
        rd_kafka_topic_partition_list_destroy(ends);
    free(lo);
    free(hi);
    free(start);
    return st;
}

/*
 * Reads the offsets the group committed to Kafka into committed[k] (-1:
 * none, or not known: what Kafka does not answer within ENDS_PATIENCE_MS),
 * which follow the application's store (next[k], -1: none; committed after
 * each stored batch, for lag tools) and never decide where it reads. A
 * commit ahead of the store (the store was restored from a backup, or set
 * back by hand): check_ranges() says what is read again and what retention
 * deleted since. None at all where the store has one: a new Kafka cluster,
 * whose messages below the stored offset would be skipped, or the group's
 * offsets expired on the brokers: logged here, once per assignment.
 */
static void compare_commits(cx_consumer *c, const char *topic, const int32_t *ids, size_t n,
                            const int64_t *next, int64_t *committed)
{
    for (size_t k = 0; k < n; k++)
        committed[k] = -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t k = 0; k < n; k++)
        if (next[k] >= 0)
            rd_kafka_topic_partition_list_add(l, topic, ids[k]);
    if (l->cnt > 0 && !c->stop &&
        rd_kafka_committed(c->rk, l, ENDS_PATIENCE_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < l->cnt; i++) {
            const rd_kafka_topic_partition_t *p = &l->elems[i];
            int64_t stored = -1;
            for (size_t k = 0; k < n; k++)
                if (ids[k] == p->partition) {
                    stored = next[k];
                    if (p->err == RD_KAFKA_RESP_ERR_NO_ERROR)
                        committed[k] = p->offset >= 0 ? p->offset : -1;
                }
            if (p->err != RD_KAFKA_RESP_ERR_NO_ERROR || stored < 0)
                continue;
            if (p->offset < 0 && stored > 0) /* 0: a group that starts empty */
                cx_log(CX_LOG_WARN, "ingest",
                       "%s[%d]: postgresql stores offset %lld but this group has committed "
                       "none to kafka: a new kafka cluster (its messages below %lld are "
                       "skipped), or the group was away longer than the brokers keep "
                       "offsets; see docs/recovery.md",
                       topic, (int)p->partition, (long long)stored, (long long)stored);
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Sets each partition's starting offset from the application's store. 0 when
 * it cannot, and the consumer stops: failed, with the reason (c->fatal), or
 * asked to stop while the store could not be reached (nothing was read yet,
 * so it leaves as cleanly as at any other time). */
static int load_offsets(cx_consumer *c, rd_kafka_topic_partition_list_t *parts)
{
    int32_t *ids = malloc((size_t)parts->cnt * sizeof *ids);
    int64_t *next = malloc((size_t)parts->cnt * sizeof *next);
    int64_t *committed = malloc((size_t)parts->cnt * sizeof *committed);
    int ok = ids != NULL && next != NULL && committed != NULL;
    if (!ok)
        fail(c, "cannot read stored offsets: out of memory");
    for (int i = 0; ok && i < parts->cnt; i++) {
        const char *topic = parts->elems[i].topic;
        int done = 0;
        for (int j = 0; j < i; j++)
            done |= strcmp(parts->elems[j].topic, topic) == 0;
        if (done)
            continue;
        size_t n = 0;
        for (int j = i; j < parts->cnt; j++)
            if (strcmp(parts->elems[j].topic, topic) == 0)
                ids[n++] = parts->elems[j].partition;
        char err[512];
        cx_status st = read_stored(c, topic, ids, n, NULL, next, err, sizeof err);
        int read = st == CX_OK;
        if (read) {
            compare_commits(c, topic, ids, n, next, committed);
            st = check_ranges(c, topic, ids, n, committed, next, err, sizeof err);
        }
        if (st != CX_OK) {
            if (st != CX_ERR_TRANSIENT) /* else a stop */
                fail(c, "%s%s",
                     read && st == CX_ERR_FATAL ? "" : "cannot read stored offsets: ", err);
            c->unread = 1;
            ok = 0;
            break;
        }
        size_t k = 0;
        for (int j = i; j < parts->cnt; j++)
            if (strcmp(parts->elems[j].topic, topic) == 0) {
                parts->elems[j].offset = next[k] >= 0 ? next[k] : c->reset;
                note_stored(c, topic, parts->elems[j].partition,
                            next[k] >= 0 ? next[k] : RD_KAFKA_OFFSET_INVALID, 0);
                if (next[k] >= 0)
                    cx_log(CX_LOG_INFO, "ingest", "assigned %s[%d] from offset %lld", topic,
                           parts->elems[j].partition, (long long)next[k]);
                else
                    cx_log(CX_LOG_INFO, "ingest",
                           "assigned %s[%d] from its %s (no offset stored: "
                           "kafka.auto_offset_reset %s)",
                           topic, parts->elems[j].partition,
                           c->reset == RD_KAFKA_OFFSET_END ? "end" : "oldest message",
                           c->reset == RD_KAFKA_OFFSET_END ? "latest" : "earliest");
                k++;
            }
    }
    free(ids);
    free(next);
    free(committed);
    if (!ok)
        c->stop = 1;
    return ok;
}

/*
 * After a cooperative revocation or assignment: the batch in hand, and what
 * the application gave up while draining, may have held messages of
 * partitions kept; they are read again from the stored offsets (what is
 * stored is not read twice). When that cannot be done, reading on would skip
 * them: the consumer stops, with the reason, and they are read again on the
 * next start.
 */
static void rewind_kept(cx_consumer *c)
{
    if (c->fatal) /* stopping anyway, for the reason already given */
        return;
    rd_kafka_topic_partition_list_t *kept = NULL;
    rd_kafka_resp_err_t ae = rd_kafka_assignment(c->rk, &kept);
    const char *why = ae != RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_err2str(ae) : NULL;
    rd_kafka_error_t *e = NULL;
    if (why == NULL && kept != NULL && kept->cnt > 0 && load_offsets(c, kept)) {
        /* a busy broker (or machine) can take longer than one wait: a
         * timed-out seek is tried again, 30 s in all, before it is fatal */
        for (int tries = 0;
             (e = rd_kafka_seek_partitions(c->rk, kept, 5000)) != NULL &&
             rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__TIMED_OUT && tries < 5 && !c->stop;
             tries++)
            rd_kafka_error_destroy(e);
        if (e != NULL) {
            why = rd_kafka_error_string(e);
        } else {
            for (int i = 0; why == NULL && i < kept->cnt; i++)
                if (kept->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
                    why = rd_kafka_err2str(kept->elems[i].err);
        }
    }
    if (why != NULL)
        fail(c, "rewinding kept partitions: %s", why);
    if (e != NULL)
        rd_kafka_error_destroy(e);
    if (kept != NULL)
        rd_kafka_topic_partition_list_destroy(kept);
}

/* Sets c->assigned to the partitions librdkafka fetches for this member now
 * (after a close's revocation of partitions never assigned, counting by
 * difference went below 0). */
static void count_assigned(cx_consumer *c)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(c->rk, &l) == RD_KAFKA_RESP_ERR_NO_ERROR && l != NULL)
        c->assigned = l->cnt;
    if (l != NULL)
        rd_kafka_topic_partition_list_destroy(l);
}

/* Commits to Kafka where each partition of parts (just assigned) starts, as
 * stored: Kafka's commits then follow the store from the first assignment on,
 * a partition nothing was stored of yet included (so that compare_commits()
 * finds a commit wherever the group has read before on this cluster). */
static void commit_starts(cx_consumer *c, const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].offset >= 0)
            rd_kafka_topic_partition_list_add(l, parts->elems[i].topic, parts->elems[i].partition)
                ->offset = parts->elems[i].offset;
    if (l->cnt > 0)
        rd_kafka_commit(c->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
}

static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    cx_consumer *c = opaque;
    int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (cooperative) {
            /* Reading the new partitions' offsets drains the engine, which
             * gives up what it cannot store yet, partitions kept included:
             * those are read again from the stored offsets, with the batch
             * in hand (what is stored is not read twice). */
            let_go_of_batch(c);
            rewind_kept(c);
            if (c->fatal)
                return;
        }
        rd_kafka_topic_partition_list_t *copy = rd_kafka_topic_partition_list_copy(parts);
        if (!load_offsets(c, copy)) {
            rd_kafka_topic_partition_list_destroy(copy);
            if (!cooperative)
                rd_kafka_assign(rk, NULL);
            return;
        }
        rd_kafka_error_t *e = NULL;
        rd_kafka_resp_err_t ae = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (cooperative)
            e = rd_kafka_incremental_assign(rk, copy);
        else
            ae = rd_kafka_assign(rk, copy);
        if (e != NULL || ae != RD_KAFKA_RESP_ERR_NO_ERROR) /* never fetched: stop, saying why */
            fail(c, "assigning partitions: %s",
                 e != NULL ? rd_kafka_error_string(e) : rd_kafka_err2str(ae));
        count_assigned(c);
        if (e == NULL && ae == RD_KAFKA_RESP_ERR_NO_ERROR)
            commit_starts(c, copy);
        if (e != NULL)
            rd_kafka_error_destroy(e);
        rd_kafka_topic_partition_list_destroy(copy);
        return;
    }
    /* Revoked (or lost): the batch in hand was not taken (it is read again from
     * the stored offsets, by the new owner or, for partitions kept, by
     * rewind_kept); let what was taken be stored, then let go. */
    char e[512];
    let_go_of_batch(c);
    if (drain(c, e, sizeof e) != CX_OK)
        fail(c, "%s", e);
    if (cooperative) {
        rd_kafka_error_t *x = rd_kafka_incremental_unassign(rk, parts);
        if (x != NULL)
            rd_kafka_error_destroy(x);
        rewind_kept(c);
    } else {
        rd_kafka_assign(rk, NULL);
    }
    count_assigned(c);
    cx_log(CX_LOG_INFO, "ingest", "%d partition(s) revoked", parts->cnt);
}

/* The value the caller's properties give name (the last, as librdkafka
 * takes it), or NULL. */
static const char *prop(const cx_consumer_config *cfg, const char *name)
{
    for (size_t i = cfg->n_props; i-- > 0;)
        if (strcmp(cfg->props[2 * i], name) == 0)
            return cfg->props[2 * i + 1];
    return NULL;
}

/* librdkafka's statistics (served by the consumer's poll): tells the
 * handler how many of its broker connections are up ("UP"): the bootstrap
 * addresses and the group coordinator's connection count, since a member
 * with no partitions may reach Kafka through those alone; librdkafka's
 * internal queue broker does not. */
static int stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    cx_consumer *c = opaque;
    json_t *root = c->h.brokers != NULL ? json_loadb(json, len, 0, NULL) : NULL;
    json_t *brokers = json_object_get(root, "brokers");
    if (json_is_object(brokers)) {
        int up = 0;
        const char *name;
        json_t *b;
        json_object_foreach(brokers, name, b)
        {
            const char *source = json_string_value(json_object_get(b, "source"));
            const char *state = json_string_value(json_object_get(b, "state"));
            up += source != NULL && strcmp(source, "internal") != 0 && state != NULL &&
                  strcmp(state, "UP") == 0;
        }
        c->h.brokers(c->h.ctx, up);
    }
    json_decref(root);
    return 0; /* librdkafka frees json */
}

/* Sets conf as a member of cfg is configured: cxpulse's defaults, then the
 * caller's properties, then what cxpulse needs (the configuration refuses
 * properties that would change those, naming the settings to use). */
static cx_status set_properties(rd_kafka_conf_t *conf, const cx_consumer_config *cfg, char *err,
                                size_t errlen)
{
    /* 4 MB a fetch, unless set: at least message.max.bytes, and within
     * receive.message.max.bytes, as librdkafka checks */
    const char *message = prop(cfg, "message.max.bytes");
    const char *receive = prop(cfg, "receive.message.max.bytes");
    long long fetch = 4194304, size;
    if (message != NULL && (size = strtoll(message, NULL, 10)) > fetch)
        fetch = size;
    if (receive != NULL && (size = strtoll(receive, NULL, 10) - 512) < fetch && size > 0)
        fetch = size;
    char fetch_text[24];
    snprintf(fetch_text, sizeof fetch_text, "%lld", fetch);
    char client_id[128] = "cxpulse";
    char host[64];
    if (gethostname(host, sizeof host) == 0) { /* brokers' logs and group tools name members */
        host[sizeof host - 1] = '\0';
        snprintf(client_id, sizeof client_id, "cxpulse-%s", host);
    }
    const char *defaults[][2] = {
        /* Bounded memory whatever the backlog: at most 8 MB queued ahead (all
         * partitions together: they feed one consumer queue) and 4 MB per
         * fetch response (the defaults allow 64 MB and 50 MB). Not less: once
         * the queue is full, librdkafka 2.0 fetches again only up to ~1 s
         * after it has room (no fetch.queue.backoff.ms before 2.2), so the
         * queue must last that long; at ~300 B per event 8 MB is ~0.75 s of
         * consumption. With 4 MB the writers waited for messages a quarter
         * of the time (bench/e2e: end to end 0.66-0.92 of a plain COPY, with
         * 8 MB 0.81-1.24). */
        {"queued.max.messages.kbytes", "8192"},
        {"fetch.max.bytes", prop(cfg, "fetch.max.bytes") ? NULL : fetch_text},
        {"log_level", "4"},
        {"client.id", client_id},
        {"statistics.interval.ms", "5000"}, /* stats(): the brokers connected to */
    };
    /* Set last, so that no property of the caller's changes them. */
    const char *base[][2] = {{"bootstrap.servers", cfg->brokers},
                             {"group.id", cfg->group},
                             /* a partition with nothing stored is assigned
                                c->reset; one whose offset falls out of range
                                while read is told here (out_of_range()) */
                             {"auto.offset.reset", "error"},
                             {"enable.auto.commit", "false"}, /* PostgreSQL holds the offsets */
                             /* nothing is stored before PostgreSQL has it */
                             {"enable.auto.offset.store", "false"},
                             {"enable.partition.eof", "false"},
                             /* a transaction's messages once it commits, never
                                an aborted one's */
                             {"isolation.level", "read_committed"}};
    size_t n_defaults = CX_ARRAY_LEN(defaults), n_set = n_defaults + cfg->n_props;
    char errstr[512];
    for (size_t i = 0; i < n_set + CX_ARRAY_LEN(base); i++) {
        const char *k, *v;
        if (i < n_defaults) {
            k = defaults[i][0];
            v = defaults[i][1];
        } else if (i < n_set) {
            k = cfg->props[2 * (i - n_defaults)];
            v = cfg->props[2 * (i - n_defaults) + 1];
        } else {
            k = base[i - n_set][0];
            v = base[i - n_set][1];
        }
        if (v != NULL && rd_kafka_conf_set(conf, k, v, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
            return cx_errf(err, errlen, CX_ERR_CONFIG, "kafka property \"%s\": %s", k, errstr);
    }
    return CX_OK;
}

/* librdkafka's refusal of a configuration, with what it leaves unsaid: a
 * SASL security.protocol without sasl.mechanisms is Kerberos (GSSAPI), which
 * a build without it refuses in Kerberos' words. */
static cx_status refused(const char *errstr, char *err, size_t errlen)
{
    int kerberos = strstr(errstr, "sasl.kerberos") != NULL;
    return cx_errf(err, errlen, CX_ERR_CONFIG, "kafka consumer: %s%s", errstr,
                   kerberos ? " (with a SASL security.protocol, sasl.mechanisms is GSSAPI, "
                              "Kerberos, unless set: set it to PLAIN, SCRAM-SHA-256, "
                              "SCRAM-SHA-512 or OAUTHBEARER in kafka.properties)"
                            : "");
}

cx_status cx_consumer_check(const cx_consumer_config *cfg, char *err, size_t errlen)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "consumer: out of memory");
    cx_status st = set_properties(conf, cfg, err, errlen);
    if (st == CX_OK && /* quiet: it is not meant to reach the brokers */
        rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        st = cx_errf(err, errlen, CX_ERR_CONFIG, "kafka property \"log_level\": %s", errstr);
    if (st != CX_OK) {
        rd_kafka_conf_destroy(conf);
        return st;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return refused(errstr, err, errlen);
    }
    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    return CX_OK;
}

cx_status cx_consumer_new(cx_consumer **out, const cx_consumer_config *cfg,
                          const cx_consumer_handler *handler, char *err, size_t errlen)
{
    char errstr[512];
    cx_consumer *c = calloc(1, sizeof *c);
    if (c != NULL)
        pthread_mutex_init(&c->stored_lock, NULL);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf != NULL)
        cx__kafka_log_to_cx(conf);
    rd_kafka_topic_partition_list_t *topics = NULL;
    cx_status st = cx_errf(err, errlen, CX_ERR_NOMEM, "consumer: out of memory");
    if (c == NULL || conf == NULL)
        goto fail;
    c->h = *handler;
    c->batch_max = cfg->batch_max_messages > 0 ? cfg->batch_max_messages : 10000;
    c->linger_ms = cfg->batch_max_ms > 0 ? cfg->batch_max_ms : 100;
    c->bytes_max = cfg->batch_max_bytes > 0 ? (size_t)cfg->batch_max_bytes : 16u << 20;
    c->reset = cfg->auto_offset_reset && !strcmp(cfg->auto_offset_reset, "latest")
                   ? RD_KAFKA_OFFSET_END
                   : RD_KAFKA_OFFSET_BEGINNING;
    c->cap = (size_t)c->batch_max;
    if ((c->batch = malloc(c->cap * sizeof *c->batch)) == NULL ||
        (c->msgs = malloc(c->cap * sizeof *c->msgs)) == NULL ||
        (c->stored = rd_kafka_topic_partition_list_new(16)) == NULL ||
        (c->submitted = rd_kafka_topic_partition_list_new(16)) == NULL)
        goto fail;
    if ((st = set_properties(conf, cfg, err, errlen)) != CX_OK)
        goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance);
    rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
    rd_kafka_conf_set_stats_cb(conf, stats);
    rd_kafka_conf_set_opaque(conf, c);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (c->rk == NULL) {
        st = refused(errstr, err, errlen);
        goto fail;
    }
    conf = NULL;
    rd_kafka_poll_set_consumer(c->rk);
    topics = rd_kafka_topic_partition_list_new((int)cfg->n_topics);
    for (size_t i = 0; i < cfg->n_topics; i++)
        rd_kafka_topic_partition_list_add(topics, cfg->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        char names[512] = "";
        for (size_t i = 0, used = 0; i < cfg->n_topics && used < sizeof names; i++)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s\"%s\"", i ? ", " : "",
                                     cfg->topics[i]);
        st = cx_errf(err, errlen, CX_ERR_CONFIG, "subscribing to kafka.topics %s: %s", names,
                     rd_kafka_err2str(e));
        goto fail;
    }
    *out = c;
    return CX_OK;
fail:
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    cx_consumer_free(c);
    return st;
}

/*
 * Idle, stores where each assigned partition has been read past its stored
 * offset (or its start, with none stored) without a message: the offsets
 * between hold none (a transaction's
 * marker, which a transactional producer leaves after each transaction;
 * messages of aborted transactions; messages deleted unread, said lost). Left
 * so, the lag would never reach 0 and a restart would count those deleted
 * messages lost again. Only partitions all of whose submitted messages are
 * stored, only when the application holds nothing (its advance answers
 * CX_ERR_TRANSIENT otherwise), at most every ADVANCE_EVERY_MS.
 */
static void advance_idle(cx_consumer *c)
{
    int64_t now = cx_now_mono_us();
    if (c->h.advance == NULL || now - c->advanced_us < ADVANCE_EVERY_MS * 1000LL)
        return;
    c->advanced_us = now;
    rd_kafka_topic_partition_list_t *parts = NULL, *past = NULL;
    if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || parts == NULL)
        return;
    rd_kafka_position(c->rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t stored = stored_at(c, p->topic, p->partition);
        const rd_kafka_topic_partition_t *sub =
            rd_kafka_topic_partition_list_find(c->submitted, p->topic, p->partition);
        /* nothing read past (from the start, with none stored), or messages
         * of it submitted and not all stored */
        if (p->offset <= (stored > 0 ? stored : 0) ||
            (sub != NULL && (stored < 0 || sub->offset > stored)))
            continue;
        if (past == NULL && (past = rd_kafka_topic_partition_list_new(parts->cnt)) == NULL)
            break;
        rd_kafka_topic_partition_list_add(past, p->topic, p->partition)->offset = p->offset;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    if (past == NULL)
        return;
    /* per topic, as the application stores offsets */
    rd_kafka_topic_partition_list_sort(past, NULL, NULL);
    rd_kafka_topic_partition_list_t *done = rd_kafka_topic_partition_list_new(past->cnt);
    for (int i = 0, end; i < past->cnt; i = end) {
        const char *topic = past->elems[i].topic;
        int32_t ids[256];
        int64_t next[256];
        size_t n = 0;
        for (end = i; end < past->cnt && n < 256 && strcmp(past->elems[end].topic, topic) == 0;
             end++, n++) {
            ids[n] = past->elems[end].partition;
            next[n] = past->elems[end].offset;
        }
        char err[512];
        if (c->h.advance(c->h.ctx, topic, ids, n, next, err, sizeof err) != CX_OK) {
            cx_log(CX_LOG_DEBUG, "ingest", "offsets read past not stored yet: %s", err);
            break; /* busy, or the store out of reach: the next idle look tries again */
        }
        for (int k = i; k < end; k++)
            rd_kafka_topic_partition_list_add(done, topic, past->elems[k].partition)->offset =
                past->elems[k].offset;
    }
    if (done->cnt > 0)
        cx_log(CX_LOG_DEBUG, "ingest",
               "stored the offsets of %d partition(s) read past without a message "
               "(transaction markers, messages aborted or deleted)",
               done->cnt);
    stored_up_to(c, done);
    rd_kafka_topic_partition_list_destroy(done);
    rd_kafka_topic_partition_list_destroy(past);
}

cx_status cx_consumer_run(cx_consumer *c, char *err, size_t errlen)
{
    cx_status st = CX_OK;
    while (!c->stop) {
        /* Never 0: librdkafka 2.0.2 counts the time spent in a rebalance
         * callback (read_stored() may wait there for as long as an outage
         * lasts) against max.poll.interval.ms only in a poll without time
         * to wait. At most 100 ms: a stop is seen within that, however long
         * batch.max_ms lets a batch wait for more messages. */
        int wait = 100;
        if (c->n > 0) {
            int64_t left = c->first_us + (int64_t)c->linger_ms * 1000 - cx_now_mono_us();
            if (left < wait * 1000LL)
                wait = left <= 0 ? 1 : (int)(left / 1000) + 1;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, wait);
        if (m != NULL)
            accept_message(c, m);
        warn_flush(c, 0);
        if (c->fatal) /* from a rebalance in this poll: nothing more is submitted */
            break;
        if (c->n > 0 && ((int)c->n >= c->batch_max || c->bytes >= c->bytes_max ||
                         cx_now_mono_us() - c->first_us >= (int64_t)c->linger_ms * 1000)) {
            if ((st = submit(c, SUBMIT_WAIT_MS, err, errlen)) != CX_OK)
                break;
        } else if (c->n == 0 && m == NULL) {
            if ((st = c->h.submit(c->h.ctx, NULL, 0, 0, err, errlen)) != CX_OK)
                break; /* idle: the application failed for good */
            advance_idle(c);
        }
    }
    char e[512];
    if (st == CX_OK && !c->fatal && !c->unread) {
        /* the batch in hand: room for it, store it (cx_consumer_free() leaves) */
        st = drain(c, err, errlen);
        if (st == CX_OK && c->n > 0)
            st = submit(c, 0, err, errlen);
        if (st == CX_OK && c->n > 0) /* still in hand: the store could not take it */
            cx_log(CX_LOG_WARN, "ingest",
                   "stopping with %zu message(s) in hand not stored: they are read again "
                   "from the stored offsets at the next start",
                   c->n);
    }
    drop_batch(c);
    cx_status ds = drain(c, e, sizeof e);
    if (st == CX_OK && !c->fatal && ds != CX_OK)
        st = cx_errf(err, errlen, ds, "%s", e);
    if (c->fatal && st == CX_OK)
        st = cx_errf(err, errlen, CX_ERR_FATAL, "%s", c->fatal_err);
    return st;
}

void cx_consumer_stop(cx_consumer *c)
{
    c->stop = 1;
}

int cx_consumer_assigned(const cx_consumer *c)
{
    return c->assigned;
}

int cx_consumer_paused(const cx_consumer *c)
{
    return c->paused;
}

size_t cx_consumer_lag(cx_consumer *c, cx_partition_lag *out, size_t max)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    size_t n = 0;
    if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || parts == NULL)
        return 0;
    rd_kafka_position(c->rk, parts);
    /* Paused, nothing is fetched and the last fetch's ends stand still while
     * messages arrive: the leaders are asked, in one request bounded by
     * LAG_ENDS_MS (rd_kafka_offsets_for_times() keeps its timeout, where
     * librdkafka 2.0.2's rd_kafka_query_watermark_offsets() waits for a
     * leader that is down without end). */
    rd_kafka_topic_partition_list_t *ends = c->paused ? rd_kafka_topic_partition_list_copy(parts)
                                                      : NULL;
    for (int i = 0; ends != NULL && i < ends->cnt; i++)
        ends->elems[i].offset = RD_KAFKA_OFFSET_END;
    if (ends != NULL &&
        rd_kafka_offsets_for_times(c->rk, ends, LAG_ENDS_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_destroy(ends);
        ends = NULL;
    }
    for (int i = 0; i < parts->cnt && n < max; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo, hi; /* -1: not known */
        if (rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &lo, &hi) !=
            RD_KAFKA_RESP_ERR_NO_ERROR)
            lo = hi = -1;
        /* (the copy's order: offsets_for_times() updates it in place) */
        if (ends != NULL && ends->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
            ends->elems[i].offset >= 0)
            hi = ends->elems[i].offset;
        /* behind from what is stored (messages read and not yet stored
         * count); with nothing stored yet, from the oldest message when that
         * is where reading began, else from what is read */
        pthread_mutex_lock(&c->stored_lock);
        const rd_kafka_topic_partition_t *s =
            rd_kafka_topic_partition_list_find(c->stored, p->topic, p->partition);
        int64_t from = s != NULL && s->offset >= 0 ? s->offset
                       : c->reset == RD_KAFKA_OFFSET_BEGINNING && lo >= 0 ? lo
                                                                          : p->offset;
        pthread_mutex_unlock(&c->stored_lock);
        if (hi < 0 || (from < 0 && hi != lo))
            continue; /* not known yet */
        snprintf(out[n].topic, sizeof out[n].topic, "%s", p->topic);
        out[n].partition = p->partition;
        /* nothing read from an empty partition: no lag */
        out[n].lag = from < 0 ? 0 : hi > from ? hi - from : 0;
        n++;
    }
    if (ends != NULL)
        rd_kafka_topic_partition_list_destroy(ends);
    rd_kafka_topic_partition_list_destroy(parts);
    return n;
}

void cx_consumer_free(cx_consumer *c)
{
    if (c == NULL)
        return;
    drop_batch(c);
    warn_flush(c, 1);
    if (c->rk != NULL) {
        rd_kafka_consumer_close(c->rk); /* leaves the group, revocations drained */
        rd_kafka_destroy(c->rk);
    }
    free(c->batch);
    free(c->msgs);
    if (c->stored != NULL)
        rd_kafka_topic_partition_list_destroy(c->stored);
    if (c->submitted != NULL)
        rd_kafka_topic_partition_list_destroy(c->submitted);
    for (size_t i = 0; i < c->n_said; i++)
        free(c->said[i].topic);
    free(c->said);
    pthread_mutex_destroy(&c->stored_lock);
    free(c);
}
