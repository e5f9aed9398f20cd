/*
 * tickets_eval.c - the per-batch evaluation of ticket rules, inside the
 * batch's transaction (a crash can neither lose a ticket nor open it twice),
 * before the batch's signal increments are added to cx.signals (so that
 * parallel writers hold the signal rows' locks briefly): the figures are the
 * stored signals plus those increments, added here.
 *
 * C over three small statements, named below:
 *   window_sums_sql  per rule's scope (category, optionally one channel) and
 *                    smallest window, the stored signals over the spans the
 *                    rules' windows need: here each rule's window is rolled
 *                    over every end at which it holds a smallest window the
 *                    batch's events touched in its scope (choose_ends: near
 *                    the live edge, and further back where the
 *                    batch alone brings enough), and the latest one over the
 *                    threshold that the batch pushes toward it or brings
 *                    over it (batch_fires) is the one that fires;
 *   baseline_sql     a spike rule with enough negative events in some of those
 *                    windows: per such window, the usual level of the hours
 *                    before it (the stream, any category, must have history
 *                    there: a category that was quiet has a usual level of 0),
 *                    read in one statement: the scope's rows over the spans
 *                    those hours cover, and per window a probe for the first
 *                    window of the stream in its hours;
 *   upsert_sql       one ticket per firing rule, in the partial unique index
 *                    (one unresolved ticket per rule, category, scope and
 *                    owner), cooldown honoured, its reason written from the
 *                    window's figures; NOTIFY cx_tickets for an opened one
 *                    (delivered at COMMIT only).
 * Comparisons with thresholds are made in double precision, as PostgreSQL
 * compares a numeric with a float8; rating sums are exact to 20 decimals (a
 * rating with more counts, in the batch's own figures, with a value of 0).
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_sink.h"
#include "pg_int.h"

/* Per scope and smallest window, the stored signals in the given spans.
 * $1, $2: spans (lo, hi] of window starts, seconds since the epoch, disjoint
 * and in order (one index range scan each); $3 the scopes' categories, $4
 * their channels (NULL: all), the scope being the position in them; $5 the
 * smallest window, seconds. */
static const char *const window_sums_sql =
    "SELECT k.scope, extract(epoch FROM s.window_start)::bigint, sum(s.events),\n"
    "  sum(s.negative), sum(s.csat_count), sum(s.csat_sum), sum(s.nps_count), sum(s.nps_sum),\n"
    "  sum(s.ces_count), sum(s.ces_sum), sum(s.stars_count), sum(s.stars_sum)\n"
    "FROM unnest($1::bigint[], $2::bigint[]) AS p(lo, hi)\n"
    "CROSS JOIN LATERAL (\n"
    "  SELECT * FROM cx.signals WHERE window_start > to_timestamp(p.lo)\n"
    "    AND window_start <= to_timestamp(p.hi) AND window_seconds = $5::int\n"
    "    AND category = ANY ($3::text[])\n"
    "  OFFSET 0) s\n" /* a range scan per span, not a join over the table */
    "JOIN unnest($3::text[], $4::text[]) WITH ORDINALITY AS k(category, channel, scope)\n"
    "  ON s.category = k.category AND (k.channel IS NULL OR s.channel = k.channel)\n"
    "GROUP BY 1, 2 ORDER BY 1, 2";

/* The usual levels before spikes, as stored. Rows 0: per smallest window
 * starting in the spans ($1, $2 as in window_sums_sql), the scope's ($3, $4)
 * negative events there, where there are any. Rows 1: for each window's
 * hours before it ($6, $7: (from, to], seconds since the epoch), its
 * position and the first smallest window with events of any category
 * there (NULL: none), one probe of the primary key each. $5 the smallest
 * window, seconds. Only the scope's rows are summed: the stream's other
 * rows (all categories, all channels) are what made one statement over
 * every row of those hours slow. */
static const char *const baseline_sql =
    "SELECT 0, extract(epoch FROM s.window_start)::bigint, sum(s.negative)\n"
    "FROM unnest($1::bigint[], $2::bigint[]) AS p(lo, hi)\n"
    "CROSS JOIN LATERAL (\n"
    "  SELECT window_start, negative FROM cx.signals\n"
    "  WHERE window_start > to_timestamp(p.lo) AND window_start <= to_timestamp(p.hi)\n"
    "    AND window_seconds = $5::int AND category = $3\n"
    "    AND ($4::text IS NULL OR channel = $4) AND negative > 0\n"
    "  OFFSET 0) s\n"
    "GROUP BY 2\n"
    "UNION ALL\n"
    "SELECT 1, f.i, (SELECT extract(epoch FROM window_start)::bigint FROM cx.signals\n"
    "  WHERE window_start > to_timestamp(f.lo) AND window_start <= to_timestamp(f.hi)\n"
    "    AND window_seconds = $5::int ORDER BY window_start LIMIT 1)\n"
    "FROM unnest($6::bigint[], $7::bigint[]) WITH ORDINALITY AS f(lo, hi, i)";

/* One firing: $1..$4 the ticket's identity, $5 kind, $6 the rule's window (s),
 * $7 threshold, $8 rating scale, $9..$12 the window's events, negative events,
 * ratings and rating sum, $13 the window's end (epoch s; the reason names it,
 * window_start and window_end hold it, and fired_event_at), $14 and $15 the usual
 * level's negative events and seconds (spike rules), $16 the rule's
 * description, $17 its cooldown (s), $18 the batch's matching events,
 * $19 sample event ids, $21 the rule's channel (NULL: every one), $20 where
 * the batch's firing began (firing.first_at): how long the rule had been quiet
 * before, in event time, is from the ticket's fired_event_at to it
 * (quiet_before; 0 when a window that fired ends just before the batch's
 * first, however long the windows are). An open ticket keeps naming
 * the latest window that fired it: late events of an earlier one add to its
 * count, but its reason and window do not go back in time (OLDER_WINDOW).
 * Without one, a firing opens a ticket unless a resolved one is within its
 * cooldown or fired for windows that the firing's ends among (from the start
 * of the earliest, $22, first_window_start, to the end of the latest, but
 * no later than the resolve and the allowance after it): late
 * events of an incident resolved do not open it again, from any part of it
 * (and a resolved ticket of a window dated ahead, a producer's clock, holds
 * back nothing new: not the windows before it, nor those after the resolve
 * up to it). A time dated more than CX__PG_TICKETS_AHEAD_S
 * after the clock (a producer's clock, fast or in the wrong zone) does not
 * stick to a ticket: fired_event_at, and where quiet_before ends, stop at
 * that edge, and a window that ends past it gives way to the next that
 * fires, earlier or not. */
#define AHEAD_ALLOWANCE "make_interval(secs => " CX_XSTR(CX__PG_TICKETS_AHEAD_S) ")"
#define AHEAD_SQL "(now() + " AHEAD_ALLOWANCE ")"
#define OLDER_WINDOW "excluded.window_end < t.window_end AND t.window_end <= " AHEAD_SQL
/* A window rule's new ticket counts the window's matching events, not only
 * the batch's (praise, or another batch, may have brought the window over),
 * and its samples are the batch's negative events, then the window's others,
 * newest first, found among its latest WINDOW_SAMPLES_READ events. */
#define WINDOW_SAMPLES_READ "100000"
static const char *const upsert_sql =
    "WITH f AS (\n"
    "  SELECT $1::text AS rule, $2::text AS category, $3::text AS scope, $4::text AS owner,\n"
    "    $5::text AS kind, $6::int AS window_s, $7::float8 AS threshold, $8::text AS scale,\n"
    "    CASE $6::int WHEN 60 THEN 'minute' ELSE $6::int / 60 || ' minutes' END AS span,\n"
    "    $9::bigint AS events, $10::bigint AS negative, $11::bigint AS ratings,\n"
    "    $12::numeric AS rating_sum,\n"
    "    to_char(to_timestamp($13::bigint) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS till,\n"
    "    $14::bigint AS base_negative, $15::numeric AS base_s, $16::text AS description,\n"
    "    $17::int AS cooldown_s, $18::int AS event_count, $19::text[] AS samples,\n"
    "    CASE WHEN $5 <> 'event' THEN to_timestamp($13::bigint - $6::int) END AS window_start,\n"
    "    CASE WHEN $5 <> 'event' THEN to_timestamp($13::bigint) END AS window_end,\n"
    "    CASE $5 WHEN 'event' THEN $18::bigint WHEN 'avg_rating' THEN $11::bigint\n"
    "      ELSE $10::bigint END AS window_count,\n"
    "    EXISTS (SELECT 1 FROM cx.tickets o WHERE o.rule = $1 AND o.category = $2\n"
    "            AND o.scope = $3 AND o.owner = $4 AND o.status <> 'resolved') AS unresolved\n"
    "), c AS (\n"
    "  SELECT f.*, CASE kind\n"
    "    WHEN 'negative_share' THEN\n"
    "      format('negative share %s%% (%s of %s events) in the %s to %s UTC,'\n"
    "             ' above %s%%', CASE WHEN round(100.0 * negative / events, 1) > share_shown\n"
    "               THEN round(100.0 * negative / events, 1)\n"
    "               WHEN round(100.0 * negative / events, 4) > share_shown\n"
    "               THEN trim_scale(round(100.0 * negative / events, 4))\n"
    "               ELSE trim_scale(round(100.0 * negative / events, 12)) END,\n"
    "             negative, events, span, till, share_shown)\n"
    "    WHEN 'negative_spike' THEN\n"
    "      format('%s negative events in the %s to %s UTC, %s times the usual %s'\n"
    "             ' (the %s hours before)', negative, span, till,\n"
    "             CASE WHEN base_negative = 0 THEN 'many' ELSE round(negative * base_s\n"
    "               / (base_negative * window_s)::numeric, 1)::text END,\n"
    "             round((base_negative * window_s / base_s)::numeric, 1),\n"
    "             round((base_s / 3600)::numeric, 1))\n"
    "    WHEN 'avg_rating' THEN\n"
    "      format('average %s rating %s over %s ratings in the %s to %s UTC, %s %s',\n"
    "             scale, CASE WHEN (scale = 'ces' AND round(rating_sum / ratings, 2) > threshold)\n"
    "                 OR (scale <> 'ces' AND round(rating_sum / ratings, 2) < threshold)\n"
    "               THEN round(rating_sum / ratings, 2)\n"
    "               WHEN (scale = 'ces' AND round(rating_sum / ratings, 4) > threshold)\n"
    "                 OR (scale <> 'ces' AND round(rating_sum / ratings, 4) < threshold)\n"
    "               THEN trim_scale(round(rating_sum / ratings, 4))\n"
    "               ELSE trim_scale(round(rating_sum / ratings, 12)) END,\n"
    "             ratings, span, till,\n"
    "             CASE scale WHEN 'ces' THEN 'above' ELSE 'below' END, threshold)\n"
    "    ELSE format('%s: %s matching event(s) arrived (the newest dated %s UTC)',\n"
    "                description, event_count, till)\n"
    "    END AS reason\n"
    /* the threshold as the reason shows it; the figure shown with more
     * places where one would show it on the threshold (33.3% above 33.3%) */
    "  FROM f, LATERAL (SELECT CASE WHEN round(100 * threshold::numeric, 1)\n"
    "      = round(100 * threshold::numeric, 4) THEN round(100 * threshold::numeric, 1)\n"
    "      ELSE trim_scale(round(100 * threshold::numeric, 4)) END AS share_shown) sh\n"
    "), up AS (\n"
    "  INSERT INTO cx.tickets AS t (rule, category, scope, owner, reason, event_count,\n"
    "    sample_event_ids, window_start, window_end, fired_event_at, first_window_start)\n"
    "  SELECT c.rule, c.category, c.scope, c.owner, c.reason, c.window_count,\n"
    "    CASE WHEN c.window_start IS NULL OR cardinality(c.samples) >= 10 OR c.unresolved\n"
    "    THEN c.samples\n"
    "    ELSE (c.samples || ARRAY(SELECT w.event_id FROM (SELECT e.event_id, e.occurred_at,\n"
    "        e.sentiment, e.categories, e.channel FROM cx.events e\n"
    "        WHERE e.occurred_at >= c.window_start AND e.occurred_at < c.window_end\n"
    "        ORDER BY e.occurred_at DESC LIMIT " WINDOW_SAMPLES_READ ") w\n"
    "      WHERE w.sentiment = 'negative' AND c.category = ANY (w.categories)\n"
    "        AND ($21::text IS NULL OR w.channel = $21::text) AND w.event_id <> ALL (c.samples)\n"
    "      ORDER BY w.occurred_at DESC, w.event_id LIMIT 10))[1:10] END,\n"
    "    c.window_start, c.window_end, least(to_timestamp($13::bigint), " AHEAD_SQL "),\n"
    "    to_timestamp($22::bigint) FROM c\n"
    "  WHERE c.unresolved\n"
    "     OR NOT EXISTS (SELECT 1 FROM cx.tickets o WHERE o.rule = c.rule\n"
    "                AND o.category = c.category AND o.scope = c.scope AND o.owner = c.owner\n"
    "                AND o.status = 'resolved'\n"
    "                AND ((c.cooldown_s > 0\n"
    "                      AND o.resolved_at > now() - make_interval(secs => c.cooldown_s))\n"
    "                     OR (coalesce(o.first_window_start, o.window_start) < c.window_end\n"
    "                         AND o.window_end >= c.window_end\n"
    "                         AND c.window_end <= o.resolved_at + " AHEAD_ALLOWANCE ")))\n"
    "  ON CONFLICT (rule, category, scope, owner) WHERE status <> 'resolved' DO UPDATE SET\n"
    "    updated_at = now(),\n"
    "    reason = CASE WHEN " OLDER_WINDOW " THEN t.reason ELSE excluded.reason END,\n"
    "    window_start = CASE WHEN " OLDER_WINDOW " THEN t.window_start\n"
    "      ELSE excluded.window_start END,\n"
    "    window_end = CASE WHEN " OLDER_WINDOW " THEN t.window_end ELSE excluded.window_end END,\n"
    "    fired_event_at = greatest(t.fired_event_at, excluded.fired_event_at),\n"
    "    first_window_start = least(coalesce(t.first_window_start, t.window_start),\n"
    "      excluded.first_window_start),\n"
    "    quiet_before = greatest(least(to_timestamp($20::bigint), " AHEAD_SQL ")\n"
    "      - t.fired_event_at, interval '0'),\n"
    "    event_count = t.event_count + $18::int,\n"
    "    sample_event_ids = ($19::text[] || t.sample_event_ids)[1:10]\n"
    "  RETURNING t.ticket_id, t.rule, t.owner, t.reason, t.xmax = 0 AS opened, t.category,\n"
    "    t.scope\n"
    ")\n"
    "SELECT ticket_id, rule, owner, reason, opened,\n"
    "  CASE WHEN opened THEN pg_notify('cx_tickets', json_build_object('ticket_id', ticket_id,\n"
    "    'rule', rule, 'category', category, 'scope', scope, 'owner', owner,\n"
    "    'reason', reason)::text) END\n"
    "FROM up";

/* The resolved ticket that holds a firing back (what upsert_sql's insert
 * excludes): $1-$4 the rule's identity, $5 its cooldown in seconds, $6 the
 * firing's window end (NULL for an event rule, which has none). */
static const char *const held_sql =
    "SELECT o.ticket_id::text,\n"
    "  to_char(o.resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),\n"
    "  $5::int > 0 AND o.resolved_at > now() - make_interval(secs => $5::int)\n"
    "FROM cx.tickets o WHERE o.rule = $1 AND o.category = $2 AND o.scope = $3\n"
    "  AND o.owner = $4 AND o.status = 'resolved'\n"
    "  AND (($5::int > 0 AND o.resolved_at > now() - make_interval(secs => $5::int))\n"
    "       OR (coalesce(o.first_window_start, o.window_start) < to_timestamp($6::bigint)\n"
    "           AND o.window_end >= to_timestamp($6::bigint)\n"
    "           AND to_timestamp($6::bigint) <= o.resolved_at + " AHEAD_ALLOWANCE "))\n"
    "ORDER BY o.resolved_at DESC LIMIT 1";

#define MAX_SAMPLES 10

typedef __int128 i128;

/* A window's figures: one smallest window, or a rule's window rolled over them. */
typedef struct figures {
    long long events, negative, ratings;
    i128 rating_sum;
} figures;

/* One smallest window of a scope, as stored, with the sums of every earlier
 * window read for the scope added (so a rolled window is one subtraction). */
typedef struct stored {
    long long start; /* seconds since the epoch */
    figures f[CX_RATING_STARS + 1]; /* ratings and rating_sum per scale; counts in [0] */
} stored;

/* What a threshold rule reads: a category, optionally one channel. */
typedef struct scope {
    int category;
    const char *channel;
    int width;          /* the widest window of its rules, seconds */
    long long *buckets; /* smallest windows the batch touched, sorted, distinct; then those
                           its rules evaluate */
    size_t n_buckets;
    size_t n_cells;     /* the batch's cells in the scope */
    stored *rows;       /* per smallest window, in order: the batch's figures, then the
                           stored ones (window_sums_sql) plus the batch's */
    size_t n_rows;
} scope;

/* The smallest windows a threshold rule evaluates (ends of its window). */
typedef struct ends {
    long long *at;
    size_t n;
} ends;

/* A firing rule, ready for upsert_sql. */
typedef struct firing {
    const cx_ticket_rule *rule;
    figures f;
    long long window_end, base_negative, base_s, event_count;
    /* where the firing began, in event time: the start of the newest signal
     * window of the earliest rule window that fired (the rule window before
     * it ends there: a ticket fired for that one was not quiet in between),
     * or the earliest matching event */
    long long first_at;
    long long first_start; /* the start of the earliest rule window that fired */
    const char *samples[MAX_SAMPLES];
    int n_samples;
} firing;

static const char *const kind_names[] = {"negative_share", "avg_rating", "negative_spike",
                                         "event"};

/* Parses a decimal ("12.5", "-3") into units of 10^-CX_WINDOW_SCALE, as processors/window
 * sums ratings (further digits dropped). */
static i128 parse_sum(const char *s)
{
    int neg = *s == '-';
    s += neg || *s == '+';
    i128 v = 0;
    int frac = -1;
    for (; *s; s++) {
        if (*s == '.') {
            frac = 0;
        } else if (*s >= '0' && *s <= '9' && frac < CX_WINDOW_SCALE) {
            v = v * 10 + (*s - '0');
            frac += frac >= 0;
        }
    }
    for (frac = frac < 0 ? 0 : frac; frac < CX_WINDOW_SCALE; frac++)
        v *= 10;
    return neg ? -v : v;
}

/* Writes a sum as plain decimal text (cx_window_sum_format, signed); buf needs 48 bytes. */
static void format_sum(i128 v, char *buf)
{
    unsigned __int128 u = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;
    buf[0] = '-';
    cx_window_sum_format((cx_window_sum){(uint64_t)(u >> 64), (uint64_t)u}, buf + (v < 0),
                         47);
}

static double sum_as_double(i128 v)
{
    char buf[48];
    format_sum(v, buf);
    return strtod(buf, NULL);
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static int in_scope(const scope *sc, const cx_window_cell *c)
{
    return c->category == sc->category &&
           (sc->channel == NULL || strcmp(c->channel, sc->channel) == 0);
}

/* Finds or adds the scope of a threshold rule. */
static scope *scope_of(scope *scopes, size_t *n, const cx_ticket_rule *r)
{
    for (size_t i = 0; i < *n; i++)
        if (scopes[i].category == r->category &&
            (scopes[i].channel == NULL
                 ? r->channel == NULL
                 : r->channel != NULL && strcmp(scopes[i].channel, r->channel) == 0)) {
            if (r->window_seconds > scopes[i].width)
                scopes[i].width = r->window_seconds;
            return &scopes[i];
        }
    scopes[*n] = (scope){.category = r->category, .channel = r->channel,
                         .width = r->window_seconds};
    return &scopes[(*n)++];
}

static int cmp_span(const void *a, const void *b)
{
    const long long *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

static int cmp_stored(const void *a, const void *b)
{
    long long x = ((const stored *)a)->start, y = ((const stored *)b)->start;
    return (x > y) - (x < y);
}

static i128 cell_sum(const cx_window_cell *c, int k)
{
    return (i128)(((unsigned __int128)c->rating_sum[k].hi << 64) | c->rating_sum[k].lo);
}

static void add_stored(stored *to, const stored *from)
{
    for (int k = 0; k <= CX_RATING_STARS; k++) {
        to->f[k].events += from->f[k].events;
        to->f[k].negative += from->f[k].negative;
        to->f[k].ratings += from->f[k].ratings;
        to->f[k].rating_sum += from->f[k].rating_sum;
    }
}

/* The scope's figures per smallest window: the stored ones (rows[0..n_rows),
 * from window_sums_sql, allocated with room for the cells) plus the batch's
 * cells, one row per window, in order, then summed up from the first. */
static void add_cells(scope *sc, const cx_window *cells)
{
    for (size_t i = 0; i < cx_window_count(cells); i++) {
        const cx_window_cell *c = cx_window_get(cells, i);
        if (!in_scope(sc, c))
            continue;
        stored *s = &sc->rows[sc->n_rows++];
        memset(s, 0, sizeof *s);
        s->start = c->start_us / 1000000;
        s->f[0].events = c->events;
        s->f[0].negative = c->sentiment[CX_SENT_NEGATIVE];
        for (int k = CX_RATING_CSAT; k <= CX_RATING_STARS; k++) {
            s->f[k].ratings = c->ratings[k];
            s->f[k].rating_sum = cell_sum(c, k);
        }
    }
    qsort(sc->rows, sc->n_rows, sizeof *sc->rows, cmp_stored);
    size_t m = 0;
    for (size_t i = 0; i < sc->n_rows; i++) {
        if (m > 0 && sc->rows[m - 1].start == sc->rows[i].start)
            add_stored(&sc->rows[m - 1], &sc->rows[i]);
        else
            sc->rows[m++] = sc->rows[i];
    }
    sc->n_rows = m;
    for (size_t i = 1; i < m; i++)
        add_stored(&sc->rows[i], &sc->rows[i - 1]);
}

/* The smallest windows the batch touched in each scope, and the batch's own
 * figures there (rows). */
static cx_status touched(scope *scopes, size_t n, const cx_window *cells)
{
    size_t n_cells = cx_window_count(cells);
    for (size_t k = 0; k < n; k++) {
        scope *sc = &scopes[k];
        for (size_t i = 0; i < n_cells; i++)
            sc->n_cells += in_scope(sc, cx_window_get(cells, i));
        sc->buckets = malloc((sc->n_cells ? sc->n_cells : 1) * sizeof *sc->buckets);
        sc->rows = malloc((sc->n_cells ? sc->n_cells : 1) * sizeof *sc->rows);
        if (sc->buckets == NULL || sc->rows == NULL)
            return CX_ERR_NOMEM;
        add_cells(sc, cells); /* one row per smallest window touched, in order */
        for (size_t i = 0; i < sc->n_rows; i++)
            sc->buckets[sc->n_buckets++] = sc->rows[i].start;
    }
    return CX_OK;
}

/* window_sums_sql over the spans the scopes' windows need, (bucket - width,
 * bucket], merged across scopes; the batch's own figures added. */
static cx_status read_scopes(PGconn *conn, scope *scopes, size_t n, const cx_window *cells,
                             int base, char *err, size_t errlen)
{
    size_t n_spans = 0, n_ends = 0;
    for (size_t k = 0; k < n; k++)
        n_ends += scopes[k].n_buckets;
    long long *spans = malloc((n_ends ? n_ends : 1) * 2 * sizeof *spans);
    cx_buf cat = {0}, chan = {0}, lo = {0}, hi = {0};
    cx_status st = spans != NULL ? CX_OK : CX_ERR_NOMEM;
    cx_buf_put(&cat, "{", 1);
    cx_buf_put(&chan, "{", 1);
    for (size_t k = 0; st == CX_OK && k < n; k++) {
        scope *sc = &scopes[k];
        for (size_t i = 0; i < sc->n_buckets; i++, n_spans++) {
            spans[2 * n_spans] = sc->buckets[i] - sc->width;
            spans[2 * n_spans + 1] = sc->buckets[i];
        }
        cx__pg_array_text(&cat, cx_category_name((cx_category)sc->category));
        cx__pg_array_text(&chan, sc->channel);
    }
    /* one span per run of overlapping windows, whatever their scope */
    if (st == CX_OK)
        qsort(spans, n_spans, 2 * sizeof *spans, cmp_span);
    cx_buf_put(&lo, "{", 1);
    cx_buf_put(&hi, "{", 1);
    for (size_t i = 0; st == CX_OK && i < n_spans;) {
        long long from = spans[2 * i], to = spans[2 * i + 1];
        while (++i < n_spans && spans[2 * i] <= to)
            if (spans[2 * i + 1] > to)
                to = spans[2 * i + 1];
        cx__pg_array_int(&lo, from);
        cx__pg_array_int(&hi, to);
    }
    free(spans);
    cx_buf_put(&cat, "}", 2);
    cx_buf_put(&chan, "}", 2);
    cx_buf_put(&lo, "}", 2);
    cx_buf_put(&hi, "}", 2);
    if (cat.failed || chan.failed || lo.failed || hi.failed)
        st = CX_ERR_NOMEM;
    PGresult *r = NULL;
    if (st == CX_OK && n_spans > 0) {
        char base_s[16];
        snprintf(base_s, sizeof base_s, "%d", base);
        const char *params[] = {lo.data, hi.data, cat.data, chan.data, base_s};
        r = PQexecParams(conn, window_sums_sql, 5, NULL, params, NULL, NULL, 0);
        st = cx__pg_check(conn, r, "reading signals for ticket rules", err, errlen);
    }
    int rows = st == CX_OK && r != NULL ? PQntuples(r) : 0;
    size_t *count = calloc(n, sizeof *count); /* rows per scope */
    for (int i = 0; count != NULL && i < rows; i++) {
        long k = strtol(PQgetvalue(r, i, 0), NULL, 10) - 1; /* WITH ORDINALITY counts from 1 */
        if (k >= 0 && (size_t)k < n)
            count[k]++;
    }
    for (size_t k = 0; st == CX_OK && k < n; k++) {
        size_t room = (count ? count[k] : 0) + scopes[k].n_cells;
        free(scopes[k].rows); /* the batch's own figures: added again below */
        scopes[k].n_rows = 0;
        scopes[k].rows = count ? malloc((room ? room : 1) * sizeof *scopes[k].rows) : NULL;
        if (scopes[k].rows == NULL)
            st = CX_ERR_NOMEM;
    }
    for (int i = 0; i < rows && st == CX_OK; i++) {
        long k = strtol(PQgetvalue(r, i, 0), NULL, 10) - 1;
        if (k < 0 || (size_t)k >= n)
            continue;
        stored *s = &scopes[k].rows[scopes[k].n_rows++];
        memset(s, 0, sizeof *s);
        s->start = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        s->f[0].events = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        s->f[0].negative = strtoll(PQgetvalue(r, i, 3), NULL, 10);
        for (int j = CX_RATING_CSAT; j <= CX_RATING_STARS; j++) {
            s->f[j].ratings = strtoll(PQgetvalue(r, i, 4 + 2 * (j - CX_RATING_CSAT)), NULL, 10);
            s->f[j].rating_sum = parse_sum(PQgetvalue(r, i, 5 + 2 * (j - CX_RATING_CSAT)));
        }
    }
    for (size_t k = 0; st == CX_OK && k < n; k++)
        add_cells(&scopes[k], cells);
    free(count);
    PQclear(r);
    cx_buf_free(&cat);
    cx_buf_free(&chan);
    cx_buf_free(&lo);
    cx_buf_free(&hi);
    if (st == CX_ERR_NOMEM)
        return cx_errf(err, errlen, st, "evaluating ticket rules: out of memory");
    return st;
}

/* How many of the scope's rows start at or before t. */
static size_t rows_upto(const scope *sc, long long t)
{
    size_t lo = 0, hi = sc->n_rows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sc->rows[mid].start <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Whether the scope has events in the smallest window starting at t (stored or the
 * batch's): the windows judged end at one. */
static int has_row(const scope *sc, long long t)
{
    size_t to = rows_upto(sc, t);
    return to > 0 && sc->rows[to - 1].start == t;
}

/* The rule's window ending with the smallest window `bucket`: (bucket - W, bucket]. */
static figures window_at(const scope *sc, const cx_ticket_rule *r, long long bucket)
{
    figures f = {0};
    size_t to = rows_upto(sc, bucket), from = rows_upto(sc, bucket - r->window_seconds);
    if (to == 0 || to <= from)
        return f;
    int k = r->kind == CX_TICKET_AVG_RATING ? (int)r->scale : 0;
    const stored *last = &sc->rows[to - 1], *before = from > 0 ? &sc->rows[from - 1] : NULL;
    f.events = last->f[0].events - (before ? before->f[0].events : 0);
    f.negative = last->f[0].negative - (before ? before->f[0].negative : 0);
    if (k != 0) {
        f.ratings = last->f[k].ratings - (before ? before->f[k].ratings : 0);
        f.rating_sum = last->f[k].rating_sum - (before ? before->f[k].rating_sum : 0);
    }
    return f;
}

/* One smallest window before spikes: its start, and the scope's negative events
 * in it and every earlier one read (so a usual level is one subtraction). */
typedef struct usual {
    long long start, negative;
} usual;

static int cmp_usual(const void *a, const void *b)
{
    long long x = ((const usual *)a)->start, y = ((const usual *)b)->start;
    return (x > y) - (x < y);
}

/* How many of the n smallest windows in u start at or before t. */
static size_t usual_upto(const usual *u, size_t n, long long t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (u[mid].start <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The usual level before each of the spike rule's windows ending with at[0..n)
 * (sorted): the scope's negative events in the baseline hours before the
 * window, negative[i], and the seconds from the stream's first window there (any
 * category) to their end, seconds[i] (0: no history); stored (baseline_sql: the
 * scope's rows over the spans those hours cover, and a probe for each
 * window's first) plus the batch's own. */
static cx_status baselines(PGconn *conn, const cx_ticket_rule *r, const scope *sc,
                           const cx_window *cells, const long long *at, size_t n, int base,
                           long long *negative, long long *seconds, char *err, size_t errlen)
{
    long long w = r->window_seconds, b = r->baseline_seconds;
    cx_buf lo = {0}, hi = {0}, from = {0}, to = {0};
    cx_buf_put(&lo, "{", 1);
    cx_buf_put(&hi, "{", 1);
    for (size_t i = 0; i < n;) { /* (at - w - b, at - w], overlapping ones merged */
        long long f = at[i] - w - b, t = at[i] - w;
        while (++i < n && at[i] - w - b <= t)
            t = at[i] - w;
        cx__pg_array_int(&lo, f);
        cx__pg_array_int(&hi, t);
    }
    cx_buf_put(&lo, "}", 2);
    cx_buf_put(&hi, "}", 2);
    cx_buf_put(&from, "{", 1);
    cx_buf_put(&to, "{", 1);
    for (size_t i = 0; i < n; i++) { /* each window's own hours */
        cx__pg_array_int(&from, at[i] - w - b);
        cx__pg_array_int(&to, at[i] - w);
    }
    cx_buf_put(&from, "}", 2);
    cx_buf_put(&to, "}", 2);
    cx_status st = lo.failed || hi.failed || from.failed || to.failed ? CX_ERR_NOMEM : CX_OK;
    PGresult *res = NULL;
    if (st == CX_OK) {
        char base_s[16];
        snprintf(base_s, sizeof base_s, "%d", base);
        const char *params[] = {lo.data,    hi.data, cx_category_name((cx_category)r->category),
                                r->channel, base_s,  from.data,
                                to.data};
        res = PQexecParams(conn, baseline_sql, 7, NULL, params, NULL, NULL, 0);
        st = cx__pg_check(conn, res, "reading the usual level for a spike rule", err, errlen);
    }
    size_t rows = st == CX_OK ? (size_t)PQntuples(res) : 0, n_cells = cx_window_count(cells), m = 0;
    usual *u = st == CX_OK ? malloc((rows + 2 * n_cells + 1) * sizeof *u) : NULL;
    usual *starts = u != NULL ? u + rows + n_cells : NULL; /* the batch's windows, any category */
    if (st == CX_OK && u == NULL)
        st = CX_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        seconds[i] = LLONG_MAX; /* the first window's start, once known (it may be < 0) */
    for (size_t i = 0; st == CX_OK && i < rows; i++) {
        long long key = strtoll(PQgetvalue(res, (int)i, 1), NULL, 10);
        if (strcmp(PQgetvalue(res, (int)i, 0), "0") == 0)
            u[m++] = (usual){key, strtoll(PQgetvalue(res, (int)i, 2), NULL, 10)};
        else if (key >= 1 && (size_t)key <= n && !PQgetisnull(res, (int)i, 2))
            seconds[key - 1] = strtoll(PQgetvalue(res, (int)i, 2), NULL, 10);
    }
    for (size_t i = 0; st == CX_OK && i < n_cells; i++) { /* and the batch's own */
        const cx_window_cell *c = cx_window_get(cells, i);
        long long start = c->start_us / 1000000;
        if (in_scope(sc, c) && c->sentiment[CX_SENT_NEGATIVE] > 0)
            u[m++] = (usual){start, (long long)c->sentiment[CX_SENT_NEGATIVE]};
        starts[i] = (usual){start, 0};
    }
    if (st == CX_OK) {
        qsort(starts, n_cells, sizeof *starts, cmp_usual);
        for (size_t k = 0; k < n; k++) { /* the batch's first window in the hours before */
            size_t first = usual_upto(starts, n_cells, at[k] - w - b);
            if (first < n_cells && starts[first].start <= at[k] - w &&
                starts[first].start < seconds[k])
                seconds[k] = starts[first].start;
        }
        qsort(u, m, sizeof *u, cmp_usual);
        for (size_t i = 1; i < m; i++)
            u[i].negative += u[i - 1].negative;
        for (size_t i = 0; i < n; i++) {
            long long t = at[i] - w, f = t - b; /* the hours (f, t] */
            size_t upto = usual_upto(u, m, t), before = usual_upto(u, m, f);
            negative[i] = upto > before
                              ? u[upto - 1].negative - (before > 0 ? u[before - 1].negative : 0)
                              : 0;
            /* from the stream's first window there to the end of the hours before */
            seconds[i] = seconds[i] == LLONG_MAX ? 0 : t + base - seconds[i];
        }
    }
    free(u);
    PQclear(res);
    cx_buf_free(&lo);
    cx_buf_free(&hi);
    cx_buf_free(&from);
    cx_buf_free(&to);
    if (st == CX_ERR_NOMEM)
        return cx_errf(err, errlen, st, "evaluating ticket rules: out of memory");
    return st;
}

/* Cells by window start, the latest first. */
static int newest_first(const void *a, const void *b)
{
    int64_t x = (*(const cx_window_cell *const *)a)->start_us;
    int64_t y = (*(const cx_window_cell *const *)b)->start_us;
    return (x < y) - (x > y);
}

/* What the batch adds to the scope in the window [end - the rule's window,
 * end): its events, negative events, and ratings of the rule's scale and
 * their sum. With in, also the batch's cells there (room for all the batch's
 * cells). */
typedef struct added {
    long long events, negative, ratings;
    i128 rating_sum;
} added;

static added batch_added(const cx_ticket_rule *r, const scope *sc, const cx_window *cells,
                         long long end, const cx_window_cell **in, size_t *n_in)
{
    added a = {0, 0, 0, 0};
    for (size_t i = 0, n_cells = cx_window_count(cells); i < n_cells; i++) {
        const cx_window_cell *c = cx_window_get(cells, i);
        long long start = c->start_us / 1000000; /* exact: a multiple of the width */
        if (!in_scope(sc, c) || start < end - r->window_seconds || start >= end)
            continue;
        a.events += c->events;
        a.negative += c->sentiment[CX_SENT_NEGATIVE];
        a.ratings += c->ratings[r->scale];
        a.rating_sum += cell_sum(c, r->scale);
        if (in != NULL)
            in[(*n_in)++] = c;
    }
    return a;
}

/* Whether a window of these events is over a negative-share rule's threshold. */
static int share_over(const cx_ticket_rule *r, long long events, long long negative)
{
    return events > 0 && events >= r->min_events &&
           (double)negative / (double)events > r->threshold;
}

/* Whether these ratings average below an average-rating rule's threshold
 * (above it on ces, where higher is worse), with at least min of them. */
static int average_over(const cx_ticket_rule *r, long long ratings, i128 sum, long long min)
{
    if (ratings <= 0 || ratings < min)
        return 0;
    double mean = sum_as_double(sum) / (double)ratings;
    return r->scale == CX_RATING_CES ? mean > r->threshold : mean < r->threshold;
}

/* Whether the batch's part b of a window f that is over the threshold fires
 * it: what b adds pulls toward the threshold (negative events; ratings
 * averaging on its worse side), or the window was not over it without b (a share's
 * minimum counts every event, an average's every rating). */
static int batch_fires(const cx_ticket_rule *r, const figures *f, const added *b)
{
    switch (r->kind) {
    case CX_TICKET_NEGATIVE_SHARE:
        return b->negative > 0 || !share_over(r, f->events - b->events, f->negative - b->negative);
    case CX_TICKET_AVG_RATING:
        return average_over(r, b->ratings, b->rating_sum, 1) ||
               (b->ratings > 0 && !average_over(r, f->ratings - b->ratings,
                                                f->rating_sum - b->rating_sum, r->min_events));
    default: /* a spike: its minimum counts negative events */
        return b->negative > 0;
    }
}

/* Evaluates a threshold rule over its scope; *fired set when it fires: on
 * the latest window over its threshold that the batch pushes toward it or
 * brings over it (batch_fires). Praise into a window already over it, or a
 * window's figures read again, fires nothing. */
static cx_status evaluate_rule(PGconn *conn, const cx_ticket_rule *r, const scope *sc,
                               const ends *e, const cx_window *cells, int base, firing *out,
                               int *fired, char *err, size_t errlen)
{
    *fired = 0;
    if (e->n == 0)
        return CX_OK;
    /* spike rules: the windows with enough negative events, each with the usual
     * level of the hours before it */
    long long *spiky = NULL, *base_neg = NULL, *base_s = NULL;
    size_t n_spiky = 0, j = 0;
    if (r->kind == CX_TICKET_NEGATIVE_SPIKE) {
        spiky = malloc(e->n * 3 * sizeof *spiky);
        if (spiky == NULL)
            return cx_errf(err, errlen, CX_ERR_NOMEM, "evaluating ticket rules: out of memory");
        for (size_t i = 0; i < e->n; i++)
            if (has_row(sc, e->at[i]) && window_at(sc, r, e->at[i]).negative >= r->min_events)
                spiky[n_spiky++] = e->at[i];
        base_neg = spiky + e->n;
        base_s = base_neg + e->n;
        cx_status st = n_spiky == 0 ? CX_OK
                                    : baselines(conn, r, sc, cells, spiky, n_spiky, base, base_neg,
                                                base_s, err, errlen);
        if (st != CX_OK || n_spiky == 0) {
            free(spiky);
            return st; /* or no window holds enough negative events */
        }
        j = n_spiky;
    }
    /* the latest window over it fires, and names it; the earliest says where
     * this firing began (a backlog's hours of one incident are one firing) */
    int hit = 0;
    for (size_t i = e->n; i-- > 0;) {
        *fired = 0;
        if (!has_row(sc, e->at[i]))
            continue; /* ends where the scope has no events: a part of a window judged */
        figures f = window_at(sc, r, e->at[i]);
        /* Each figure is compared as a division, which comes out as the
         * threshold written in the rule when it equals it (for whole counts
         * and rating sums): 29 of 100 is not above 0.29 (29 > 0.29 * 100
         * held, the product rounding to 28.999999999999996). */
        switch (r->kind) {
        case CX_TICKET_NEGATIVE_SHARE:
            *fired = share_over(r, f.events, f.negative);
            break;
        case CX_TICKET_AVG_RATING:
            *fired = average_over(r, f.ratings, f.rating_sum, r->min_events);
            break;
        case CX_TICKET_NEGATIVE_SPIKE:
            if (j == 0 || spiky[j - 1] != e->at[i])
                break; /* too few negative events */
            j--;
            /* a spike needs four windows of history to compare with; its
             * figure is the window's negative events over the usual number in
             * as long (none usually: any is a spike) */
            *fired = base_s[j] >= 4LL * r->window_seconds &&
                     (base_neg[j] == 0
                          ? f.negative > 0
                          : (double)(f.negative * base_s[j]) /
                                    ((double)base_neg[j] * (double)r->window_seconds) >
                                r->threshold);
            break;
        default:
            break;
        }
        if (*fired) {
            added b = batch_added(r, sc, cells, e->at[i] + base, NULL, NULL);
            *fired = batch_fires(r, &f, &b);
        }
        if (*fired && !hit)
            *out = (firing){.rule = r,
                            .f = f,
                            .window_end = e->at[i] + base,
                            .base_negative = base_neg ? base_neg[j] : 0,
                            .base_s = base_s ? base_s[j] : 0};
        if (*fired) {
            out->first_at = e->at[i];
            out->first_start = e->at[i] + base - r->window_seconds;
        }
        hit |= *fired;
    }
    *fired = hit;
    free(spiky);
    if (!*fired)
        return CX_OK;
    /* The batch's matching events in the window that fired (a batch with
     * hours of backlog has more, which are not this window's evidence), and
     * the ids of negative ones, newest window first. */
    size_t n_cells = cx_window_count(cells), n_in = 0;
    const cx_window_cell **in = malloc((n_cells ? n_cells : 1) * sizeof *in);
    if (in == NULL)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "evaluating ticket rules: out of memory");
    added b = batch_added(r, sc, cells, out->window_end, in, &n_in);
    out->event_count = r->kind == CX_TICKET_AVG_RATING ? b.ratings : b.negative;
    qsort(in, n_in, sizeof *in, newest_first);
    for (size_t i = 0; i < n_in; i++)
        for (int k = 0; k < in[i]->n_samples && out->n_samples < MAX_SAMPLES; k++)
            out->samples[out->n_samples++] = in[i]->samples[k];
    free(in);
    return CX_OK;
}

static int cmp_firing(const void *a, const void *b)
{
    const cx_ticket_rule *x = ((const firing *)a)->rule, *y = ((const firing *)b)->rule;
    int c = strcmp(x->name, y->name);
    if (c == 0)
        c = strcmp(cx_category_name((cx_category)x->category),
                   cx_category_name((cx_category)y->category));
    if (c == 0)
        c = strcmp(x->scope, y->scope);
    return c != 0 ? c : strcmp(x->owner, y->owner);
}

/* Counts a firing that a resolved ticket held back (upsert_sql opened and
 * updated nothing), and says which ticket and why, once a minute at most in
 * the process: a stream of late complaints about a resolved incident fires
 * with every batch. params: upsert_sql's. */
static cx_status held(PGconn *conn, const firing *fr, const char *const *params, cx_pg_result *res,
                      char *err, size_t errlen)
{
    static cx__pg_minutely said;
    const cx_ticket_rule *r = fr->rule;
    const char *held_params[] = {params[0],  params[1],
                                 params[2],  params[3],
                                 params[16], r->kind != CX_TICKET_EVENT ? params[12] : NULL};
    PGresult *q = PQexecParams(conn, held_sql, 6, NULL, held_params, NULL, NULL, 0);
    cx_status st =
        cx__pg_check(conn, q, "finding the ticket that holds a firing back", err, errlen);
    if (st == CX_OK) {
        res->tickets_held++;
        int again;
        unsigned long long n = cx__pg_minutely_due(&said, 1, PQntuples(q) == 1, &again);
        if (n > 0) {
            cx_log(CX_LOG_INFO, "tickets",
                   "rule %s%s%s fired but opened no ticket: ticket %s, resolved at %s UTC, "
                   "holds it back (%s); %llu firing(s) held back%s (cxpulse_tickets_held_total "
                   "counts them; said once a minute at most)",
                   r->name, r->scope[0] ? ", " : "", r->scope, PQgetvalue(q, 0, 0),
                   PQgetvalue(q, 0, 1),
                   PQgetvalue(q, 0, 2)[0] == 't'
                       ? "its cooldown_minutes after resolving are not over"
                       : "the firing's window ends within the windows it fired for: late "
                         "events of that incident",
                   n, again ? " since the last such line" : "");
        }
    }
    PQclear(q);
    return st;
}

/* Opens or updates the ticket of a firing rule (upsert_sql). */
static cx_status upsert(PGconn *conn, const firing *fr, cx_pg_result *res, char *err,
                        size_t errlen)
{
    const cx_ticket_rule *r = fr->rule;
    char win[16], thr[40], ev[24], neg[24], rat[24], sum[48], end[24], bneg[24], bs[24], cool[16],
        count[24], first[24], first_start[24];
    cx_buf samples = {0};
    snprintf(win, sizeof win, "%d", r->window_seconds);
    snprintf(thr, sizeof thr, "%.17g", r->threshold);
    snprintf(ev, sizeof ev, "%lld", fr->f.events);
    snprintf(neg, sizeof neg, "%lld", fr->f.negative);
    snprintf(rat, sizeof rat, "%lld", fr->f.ratings);
    format_sum(fr->f.rating_sum, sum);
    snprintf(end, sizeof end, "%lld", fr->window_end);
    snprintf(bneg, sizeof bneg, "%lld", fr->base_negative);
    snprintf(bs, sizeof bs, "%lld", fr->base_s);
    snprintf(cool, sizeof cool, "%d", r->cooldown_seconds);
    snprintf(count, sizeof count, "%lld", fr->event_count);
    snprintf(first, sizeof first, "%lld", fr->first_at);
    snprintf(first_start, sizeof first_start, "%lld", fr->first_start);
    cx_buf_put(&samples, "{", 1);
    for (int i = 0; i < fr->n_samples; i++)
        cx__pg_array_text(&samples, fr->samples[i]);
    cx_buf_put(&samples, "}", 2);
    if (samples.failed) {
        cx_buf_free(&samples);
        return cx_errf(err, errlen, CX_ERR_NOMEM, "evaluating ticket rules: out of memory");
    }
    const char *scale = r->scale != CX_RATING_NONE ? cx_rating_scale_name(r->scale) : NULL;
    const char *params[] = {r->name,
                            cx_category_name((cx_category)r->category),
                            r->scope,
                            r->owner,
                            kind_names[r->kind],
                            win,
                            thr,
                            scale,
                            ev,
                            neg,
                            rat,
                            sum,
                            end,
                            bneg,
                            bs,
                            r->description,
                            cool,
                            count,
                            samples.data,
                            first,
                            r->channel,
                            r->kind != CX_TICKET_EVENT ? first_start : NULL};
    PGresult *q = PQexecParams(conn, upsert_sql, 22, NULL, params, NULL, NULL, 0);
    cx_status st = cx__pg_check(conn, q, "opening or updating a ticket", err, errlen);
    if (st == CX_OK && PQntuples(q) == 0) /* a resolved ticket held it back */
        st = held(conn, fr, params, res, err, errlen);
    for (int i = 0; st == CX_OK && i < PQntuples(q); i++) {
        if (PQgetvalue(q, i, 4)[0] == 't') {
            res->tickets_opened++;
            cx_log(CX_LOG_INFO, "tickets", "ticket %s for %s (rule %s): %s",
                   PQgetvalue(q, i, 0), PQgetvalue(q, i, 2), PQgetvalue(q, i, 1),
                   PQgetvalue(q, i, 3));
        } else {
            res->tickets_updated++;
        }
    }
    PQclear(q);
    cx_buf_free(&samples);
    return st;
}

/* What a rule counts: negative events, events, or ratings of its scale. */
static long long measure(const cx_ticket_rule *r, const figures *f)
{
    return r->kind == CX_TICKET_AVG_RATING     ? f->ratings
           : r->kind == CX_TICKET_NEGATIVE_SHARE ? f->events
                                                 : f->negative;
}

/*
 * The windows a threshold rule evaluates: every one that holds a smallest
 * window the batch touched in its scope, i.e. ends there or up to the rule's
 * window later, at a smallest window with events of the scope (evaluate_rule
 * skips the others once the signals are read): so the window a late event
 * completes is judged, whatever the order the events came in. Those holding
 * one within TICKETS_LIVE_S up to the live edge (where a spike builds up over
 * many batches: cx__pg_tickets_evaluate), or within as long (or the rule's
 * window, if longer) from `seam`, where the batch's partitions were before it
 * (the earliest of them: a backlog read in batches of hours each has a spike
 * that straddles two batches there), and ending no later than `ahead`
 * (events dated more than CX__PG_TICKETS_AHEAD_S after the clock) are all
 * evaluated; elsewhere (further back, or after the edge), those in which the
 * batch's own events already reach the rule's min_events (a spike a backlog
 * carries). None that ended at or before `oldest` (history, by the clock). A spike further back
 * assembled from a few events of each of many batches is not seen: reading the stored signals
 * around every window of a batch scattered over weeks would cost a scan of the table per batch. The
 * ends come out sorted and distinct, as many as the minutes the touched windows' windows cover (not
 * one per touched window and minute).
 */
#define TICKETS_LIVE_S 7200

/* Whether an event dated `at` is history to event rules: over
 * TICKETS_LIVE_S before where its partition was (`before`: a straggler; a
 * partition catching up is not behind where it was, however far behind the
 * others), or at or before `oldest` (tickets.max_age_minutes, by the clock). */
static int history_event(long long at, long long before, long long oldest)
{
    return at <= before - TICKETS_LIVE_S || at <= oldest;
}
static cx_status choose_ends(const cx_ticket_rule *r, const scope *sc, long long latest,
                             long long seam, long long ahead, long long oldest, int base, ends *e)
{
    const long long *b = sc->buckets, w = r->window_seconds;
    size_t n = sc->n_buckets, lo = 0, hi, lo2 = 0, hi2;
    while (lo < n && b[lo] + base <= latest - TICKETS_LIVE_S)
        lo++;
    for (hi = lo; hi < n && b[hi] <= latest; hi++)
        ; /* the live ones: b[lo..hi) */
    while (lo2 < n && b[lo2] + base <= seam)
        lo2++;
    for (hi2 = lo2; hi2 < n && b[hi2] < seam + (w > TICKETS_LIVE_S ? w : TICKETS_LIVE_S); hi2++)
        ; /* and those after the seam: b[lo2..hi2) */
    size_t cap = 0;
    long long next = LLONG_MIN; /* ends before it are done */
    for (size_t i = 0; i < n; i++) {
        long long from = b[i] > next ? b[i] : next;
        cap += from < b[i] + w ? (size_t)((b[i] + w - from) / base) : 0;
        next = b[i] + w;
    }
    e->at = malloc((cap ? cap : 1) * sizeof *e->at);
    if (e->at == NULL)
        return CX_ERR_NOMEM;
    size_t first = 0, last = 0; /* the touched windows the window ending at `end` holds */
    next = LLONG_MIN;
    for (size_t i = 0; i < n; i++) {
        for (long long end = b[i] > next ? b[i] : next; end < b[i] + w; end += base) {
            while (last < n && b[last] <= end)
                last++;
            while (first < last && b[first] <= end - w)
                first++;
            figures own;
            if (end + base > oldest && /* `end`: its last smallest window's start */
                ((((first > lo ? first : lo) < (last < hi ? last : hi) ||
                   (first > lo2 ? first : lo2) < (last < hi2 ? last : hi2)) &&
                  end <= ahead) ||
                 (own = window_at(sc, r, end), measure(r, &own) >= r->min_events)))
                e->at[e->n++] = end;
        }
        next = b[i] + w;
    }
    return CX_OK;
}

/* The ends the scope's rules evaluate, sorted and distinct, become its buckets
 * (what read_scopes reads around). */
static cx_status scope_ends(scope *sc, const cx_ticket_rules *rules, const size_t *scope_of_rule,
                            const ends *rule_ends, size_t k)
{
    size_t n = cx_ticket_rules_count(rules), total = 0;
    for (size_t i = 0; i < n; i++)
        if (cx_ticket_rules_get(rules, i)->kind != CX_TICKET_EVENT && scope_of_rule[i] == k)
            total += rule_ends[i].n;
    long long *at = malloc((total ? total : 1) * sizeof *at);
    if (at == NULL)
        return CX_ERR_NOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (cx_ticket_rules_get(rules, i)->kind != CX_TICKET_EVENT && scope_of_rule[i] == k)
            for (size_t j = 0; j < rule_ends[i].n; j++)
                at[m++] = rule_ends[i].at[j];
    qsort(at, m, sizeof *at, cmp_ll);
    size_t kept = 0;
    for (size_t j = 0; j < m; j++)
        if (kept == 0 || at[kept - 1] != at[j])
            at[kept++] = at[j];
    free(sc->buckets);
    sc->buckets = at;
    sc->n_buckets = kept;
    return CX_OK;
}

cx_status cx__pg_tickets_evaluate(PGconn *conn, const cx_ticket_rules *rules, int base_window,
                                  int max_age, long long now, long long edge,
                                  const long long *before, const cx_window *cells,
                                  const cx_record *recs, const size_t *idx, size_t m,
                                  cx_pg_result *res, char *err, size_t errlen)
{
    size_t n = cx_ticket_rules_count(rules), n_scopes = 0, n_fired = 0;
    scope *scopes = calloc(n ? n : 1, sizeof *scopes);
    size_t *scope_of_rule = calloc(n ? n : 1, sizeof *scope_of_rule);
    ends *rule_ends = calloc(n ? n : 1, sizeof *rule_ends);
    firing *fired = calloc(n ? n : 1, sizeof *fired);
    cx_status st = scopes && scope_of_rule && rule_ends && fired ? CX_OK : CX_ERR_NOMEM;
    for (size_t i = 0; st == CX_OK && i < n; i++) {
        const cx_ticket_rule *r = cx_ticket_rules_get(rules, i);
        if (r->kind != CX_TICKET_EVENT)
            scope_of_rule[i] = (size_t)(scope_of(scopes, &n_scopes, r) - scopes);
    }
    /* edge: where the batch's partitions are (see pg_int.h), so a straggler
     * days late, alone in its batch, is judged as a backlog is, as beside its
     * partition's other events: it neither re-opens an old incident's
     * resolved ticket nor gives an open one an old window's reason */
    long long ahead = now + CX__PG_TICKETS_AHEAD_S;
    long long oldest = max_age > 0 ? now - max_age : LLONG_MIN;
    /* where the earliest of the batch's partitions that go on from where
     * they were (an event within two hours of it: not a straggler, nor the
     * first event of a partition quiet for hours) was */
    long long seam = LLONG_MAX;
    for (size_t j = 0; j < m; j++) {
        long long at = recs[idx[j]].ev->occurred_at_us / 1000000;
        if (before[j] > LLONG_MIN / 2 && before[j] < seam && at > before[j] - TICKETS_LIVE_S &&
            at <= before[j] + TICKETS_LIVE_S)
            seam = before[j];
        /* an event an event rule matched that fires it not: counted
         * (cxpulse_tickets_history_events_total), so that an owner's missing
         * ticket has a figure to find it by */
        res->tickets_history += recs[idx[j]].n_hits > 0 && history_event(at, before[j], oldest);
    }
    /* history read (a first deployment, a backfill): said once per process,
     * as no ticket it opens tells anyone */
    static atomic_int told_history;
    for (size_t j = 0; n > 0 && max_age > 0 && j < m && !atomic_load(&told_history); j++) {
        long long at = recs[idx[j]].ev->occurred_at_us / 1000000;
        if (at <= oldest && !atomic_exchange(&told_history, 1)) {
            time_t t = (time_t)at;
            struct tm tm;
            char when[32] = "?";
            if (gmtime_r(&t, &tm) != NULL)
                strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
            cx_log(CX_LOG_INFO, "tickets",
                   "events dated more than tickets.max_age_minutes (%d) before PostgreSQL's clock, "
                   "the "
                   "first at %s, are stored and counted but open and update no ticket: history, "
                   "not news (docs/tickets.md); said once",
                   max_age / 60, when);
        }
    }
    if (st == CX_OK && n_scopes > 0)
        st = touched(scopes, n_scopes, cells);
    for (size_t i = 0; st == CX_OK && i < n; i++) {
        const cx_ticket_rule *r = cx_ticket_rules_get(rules, i);
        if (r->kind != CX_TICKET_EVENT)
            st = choose_ends(r, &scopes[scope_of_rule[i]], edge, seam, ahead, oldest, base_window,
                             &rule_ends[i]);
    }
    for (size_t k = 0; st == CX_OK && k < n_scopes; k++) /* what the scope's rules need */
        st = scope_ends(&scopes[k], rules, scope_of_rule, rule_ends, k);
    if (st == CX_ERR_NOMEM)
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "evaluating ticket rules: out of memory");
    /* A batch of history only (every window it touches ended, and every
     * event dated, before tickets.max_age_minutes: a backfill) has nothing
     * to judge: no turn to take, nothing to read. */
    int recent = 0, judged = 0;
    for (size_t j = 0; j < m && !recent; j++)
        recent = recs[idx[j]].ev->occurred_at_us / 1000000 > oldest;
    for (size_t i = 0; st == CX_OK && i < n && !judged; i++)
        judged =
            cx_ticket_rules_get(rules, i)->kind == CX_TICKET_EVENT ? recent : rule_ends[i].n > 0;
    /* one batch at a time from here to COMMIT, every writer and process: what
     * is read below includes every earlier batch's increments */
    if (st == CX_OK && judged)
        st = cx__pg_exec(conn, CX__PG_TICKETS_LOCK_SQL, "waiting for the ticket rules' turn", err,
                         errlen);
    if (st == CX_OK && judged && n_scopes > 0)
        st = read_scopes(conn, scopes, n_scopes, cells, base_window, err, errlen);
    for (size_t i = 0; st == CX_OK && judged && i < n; i++) {
        const cx_ticket_rule *r = cx_ticket_rules_get(rules, i);
        int hit = 0;
        if (r->kind != CX_TICKET_EVENT) {
            st = evaluate_rule(conn, r, &scopes[scope_of_rule[i]], &rule_ends[i], cells,
                               base_window, &fired[n_fired], &hit, err, errlen);
        } else { /* the batch's new events that met its conditions, but stragglers */
            firing *f = &fired[n_fired];
            *f = (firing){.rule = r, .window_end = LLONG_MIN, .first_at = LLONG_MAX};
            for (size_t j = m; j-- > 0;) { /* the newest first */
                const cx_event *ev = recs[idx[j]].ev;
                long long at = ev->occurred_at_us / 1000000;
                if (history_event(at, before[j], oldest))
                    continue; /* a straggler, or history by the clock: not news */
                for (size_t k = 0; k < recs[idx[j]].n_hits; k++)
                    if (recs[idx[j]].hits[k] == i) {
                        if (f->event_count++ < MAX_SAMPLES)
                            f->samples[f->n_samples++] = ev->event_id;
                        f->window_end = at > f->window_end ? at : f->window_end;
                        f->first_at = at < f->first_at ? at : f->first_at;
                    }
            }
            hit = f->event_count > 0;
        }
        n_fired += hit;
    }
    /* one lock order for parallel writers */
    if (fired != NULL)
        qsort(fired, n_fired, sizeof *fired, cmp_firing);
    for (size_t i = 0; st == CX_OK && i < n_fired; i++)
        st = upsert(conn, &fired[i], res, err, errlen);
    for (size_t k = 0; scopes != NULL && k < n_scopes; k++) {
        free(scopes[k].buckets);
        free(scopes[k].rows);
    }
    for (size_t i = 0; rule_ends != NULL && i < n; i++)
        free(rule_ends[i].at);
    free(scopes);
    free(scope_of_rule);
    free(rule_ends);
    free(fired);
    /* statements over our own rules and tables: no row of the data is at fault */
    return st == CX_ERR_INVALID ? CX_ERR_FATAL : st;
}
