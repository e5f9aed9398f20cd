/*
 * tickets_eval.c - the per-batch evaluation of ticket rules (inside the
 * batch's transaction, so a crash can neither lose a ticket nor open it twice).
 *
 * During a batch the sink stages, in session TEMP tables, what its new events
 * touched: per (category, channel, smallest signal window) the
 * counts and a few negative event ids (cx_stage_touched), and per event rule
 * the matching new events (cx_stage_fired). The batch's signal increments wait
 * in cx_stage_sig: pg.c applies them after this evaluation, which adds them
 * itself. One statement then, for each threshold rule, reads the signals of
 * the span it needs in one range scan and rolls its window, as running sums,
 * to end at each of the latest 120 windows the batch touched (all of them in
 * live traffic; a batch spread over weeks of event time is cut there), and
 * keeps the latest point over the threshold. Spike rules compare with the
 * usual level of the hours before the earliest of those windows that holds
 * enough negative events (the stream, any category, must have history there). It upserts one ticket per firing rule into the
 * partial unique index (one unresolved ticket per rule, category, scope and
 * owner), honours cooldowns, and sends NOTIFY cx_tickets for the tickets it
 * opened (delivered at COMMIT only).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pg_sink.h"
#include "pg_int.h"

const char *const cx__pg_tickets_stage_sql =
    "CREATE TEMP TABLE IF NOT EXISTS cx_stage_touched (category text, channel text,"
    " bucket timestamptz, negative int, csat int, nps int, ces int, stars int, samples text[])"
    " ON COMMIT DELETE ROWS;\n"
    "CREATE TEMP TABLE IF NOT EXISTS cx_stage_fired (rule int, events int, samples text[])"
    " ON COMMIT DELETE ROWS";

/* The columns of a signal row the evaluation reads. */
#define SIG_COLS                                                                              \
    "channel, events, negative, csat_count, csat_sum, nps_count, nps_sum, ces_count,"         \
    " ces_sum, stars_count, stars_sum"

/* $1: the rules as JSON (see rules_json); $2: the smallest signal window, seconds. */
static const char *const evaluate_sql =
    "WITH r AS (\n"
    "  SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(idx int, name text, kind text,\n"
    "    category text, channel text, scope text, owner text, window_s int, min_events int,\n"
    "    threshold float8, scale text, cooldown_s int, description text, baseline_s int)\n"
    "), pts AS (\n" /* the latest 120 touched windows of each threshold rule, and their news */
    /* lo: where the window ending with the bucket starts; a plain value, so that
     * the signals index serves the range */
    "  SELECT idx, category, channel, scale, bucket,\n"
    "    bucket - make_interval(secs => window_s) AS lo, new_events FROM (\n"
    "    SELECT r.idx, r.category, r.channel, r.scale, r.window_s, t.bucket,\n"
    "      sum(CASE WHEN r.kind <> 'avg_rating' THEN t.negative\n"
    "      ELSE CASE r.scale WHEN 'csat' THEN t.csat WHEN 'nps' THEN t.nps\n"
    "      WHEN 'ces' THEN t.ces ELSE t.stars END END) AS new_events,\n"
    "      row_number() OVER (PARTITION BY r.idx ORDER BY t.bucket DESC) AS latest\n"
    "    FROM r JOIN cx_stage_touched t ON t.category = r.category\n"
    "      AND (r.channel IS NULL OR t.channel = r.channel)\n"
    "    WHERE r.kind <> 'event'\n"
    "    GROUP BY r.idx, r.category, r.channel, r.scale, r.window_s, t.bucket) x\n"
    "  WHERE latest <= 120\n"
    /* this batch's increments, applied to cx.signals only after the evaluation (so
     * that parallel writers hold the signal rows' locks for as short as can be),
     * per smallest window */
    "), pend AS (\n"
    "  SELECT window_start, " SIG_COLS ", category\n"
    "  FROM cx_stage_sig WHERE window_seconds = $2::int\n"
    "), span AS (\n" /* per rule: from the start of its first window to its latest */
    "  SELECT idx, min(category) AS category, min(channel) AS channel, min(scale) AS scale,\n"
    "    min(lo) AS lo, max(bucket) AS hi FROM pts GROUP BY idx\n"
    /* per rule and smallest window, summed over channels: one index range scan */
    "), g AS (\n"
    "  SELECT sp.idx, w.* FROM span sp CROSS JOIN LATERAL (\n"
    "    SELECT s.window_start, sum(s.events) AS events, sum(s.negative) AS negative,\n"
    "      sum(CASE sp.scale WHEN 'csat' THEN s.csat_count WHEN 'nps' THEN s.nps_count\n"
    "        WHEN 'ces' THEN s.ces_count WHEN 'stars' THEN s.stars_count END) AS ratings,\n"
    "      sum(CASE sp.scale WHEN 'csat' THEN s.csat_sum WHEN 'nps' THEN s.nps_sum\n"
    "        WHEN 'ces' THEN s.ces_sum WHEN 'stars' THEN s.stars_sum END) AS rating_sum\n"
    "    FROM (SELECT window_start, " SIG_COLS " FROM cx.signals\n"
    "          WHERE category = sp.category AND window_seconds = $2::int\n"
    "            AND window_start > sp.lo AND window_start <= sp.hi\n"
    "          UNION ALL SELECT window_start, " SIG_COLS " FROM pend\n"
    "          WHERE category = sp.category AND window_start > sp.lo\n"
    "            AND window_start <= sp.hi) s\n"
    "    WHERE sp.channel IS NULL OR s.channel = sp.channel\n"
    "    GROUP BY s.window_start) w\n"
    "), cum AS (\n" /* running sums over every smallest window of the span */
    "  SELECT sp.idx, k.ws AS window_start,\n"
    "    sum(coalesce(g.events, 0)) OVER w AS events,\n"
    "    sum(coalesce(g.negative, 0)) OVER w AS negative,\n"
    "    sum(coalesce(g.ratings, 0)) OVER w AS ratings,\n"
    "    sum(coalesce(g.rating_sum, 0)) OVER w AS rating_sum\n"
    "  FROM span sp\n"
    "  CROSS JOIN LATERAL generate_series(sp.lo, sp.hi, make_interval(secs => $2::int)) AS k(ws)\n"
    "  LEFT JOIN g ON g.idx = sp.idx AND g.window_start = k.ws\n"
    "  WINDOW w AS (PARTITION BY sp.idx ORDER BY k.ws)\n"
    "), val AS (\n" /* the rule's window ending with each touched one: (lo, bucket] */
    "  SELECT p.idx, p.bucket, c.events - l.events AS events,\n"
    "    c.negative - l.negative AS negative, c.ratings - l.ratings AS ratings,\n"
    "    c.rating_sum - l.rating_sum AS rating_sum\n"
    "  FROM pts p JOIN cum c ON c.idx = p.idx AND c.window_start = p.bucket\n"
    "  JOIN cum l ON l.idx = p.idx AND l.window_start = p.lo\n"
    /* spike rules with enough negative events somewhere: the usual level, from
     * the hours before the earliest such window (read only when it can matter).
     * The history is the stream's, from its first signal of any category in
     * those hours: a category that was quiet there has a usual level of 0. */
    "), base AS (\n"
    "  SELECT p.idx, coalesce(b.negative, 0) AS base_negative,\n"
    "    coalesce(extract(epoch FROM p.hi + make_interval(secs => $2::int)\n"
    "      - least((SELECT min(window_start) FROM cx.signals WHERE window_seconds = $2::int\n"
    "                 AND window_start > p.lo AND window_start <= p.hi),\n"
    "              (SELECT min(window_start) FROM pend WHERE window_start > p.lo\n"
    "                 AND window_start <= p.hi))), 0) AS base_s\n"
    "  FROM (SELECT idx, category, channel, first - make_interval(secs => window_s) AS hi,\n"
    "          first - make_interval(secs => window_s + baseline_s) AS lo\n"
    "        FROM (SELECT v.idx, min(r.category) AS category, min(r.channel) AS channel,\n"
    "                min(v.bucket) AS first, min(r.window_s) AS window_s,\n"
    "                min(r.baseline_s) AS baseline_s\n"
    "              FROM val v JOIN r USING (idx)\n"
    "              WHERE r.kind = 'negative_spike' AND v.negative >= r.min_events\n"
    "              GROUP BY v.idx) f) p\n"
    "  CROSS JOIN LATERAL (\n"
    "    SELECT sum(s.negative) AS negative\n"
    "    FROM (SELECT window_start, channel, negative FROM cx.signals\n"
    "          WHERE category = p.category AND window_seconds = $2::int\n"
    "            AND window_start > p.lo AND window_start <= p.hi\n"
    "          UNION ALL SELECT window_start, channel, negative FROM pend\n"
    "          WHERE category = p.category AND window_start > p.lo\n"
    "            AND window_start <= p.hi) s\n"
    "    WHERE p.channel IS NULL OR s.channel = p.channel) b\n"
    "), hit AS (\n" /* the latest window over the threshold, per rule */
    "  SELECT DISTINCT ON (v.idx) v.idx,\n"
    "    CASE WHEN r.kind = 'negative_share' THEN\n"
    "      format('negative share %s%% (%s of %s events) in the %s minutes to %s UTC,'\n"
    "             ' above %s%%', round(100.0 * v.negative / v.events, 1), v.negative,\n"
    "             v.events, r.window_s / 60, to_char((v.bucket + make_interval(secs => $2::int))\n"
    "             AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), round(100 * r.threshold::numeric, 1))\n"
    "    WHEN r.kind = 'negative_spike' THEN\n"
    "      format('%s negative events in the %s minutes to %s UTC, %s times the usual %s'\n"
    "             ' (the %s hours before)', v.negative, r.window_s / 60,\n"
    "             to_char((v.bucket + make_interval(secs => $2::int)) AT TIME ZONE 'UTC',\n"
    "             'YYYY-MM-DD HH24:MI'),\n"
    "             CASE WHEN b.base_negative = 0 THEN 'many' ELSE round(v.negative * b.base_s\n"
    "               / (b.base_negative * r.window_s)::numeric, 1)::text END,\n"
    "             round((b.base_negative * r.window_s / b.base_s)::numeric, 1),\n"
    "             round((b.base_s / 3600)::numeric, 1))\n"
    "    ELSE\n"
    "      format('average %s rating %s over %s ratings in the %s minutes to %s UTC, below %s',\n"
    "             r.scale, round(v.rating_sum / v.ratings, 2), v.ratings, r.window_s / 60,\n"
    "             to_char((v.bucket + make_interval(secs => $2::int)) AT TIME ZONE 'UTC',\n"
    "             'YYYY-MM-DD HH24:MI'), r.threshold)\n"
    "    END AS reason\n"
    "  FROM val v JOIN r USING (idx) LEFT JOIN base b USING (idx)\n"
    "  WHERE (r.kind = 'negative_share' AND v.events >= r.min_events\n"
    "         AND v.negative > r.threshold * v.events)\n"
    "     OR (r.kind = 'avg_rating' AND v.ratings >= r.min_events\n"
    "         AND v.rating_sum < r.threshold * v.ratings)\n"
    /* a spike needs four windows of history to compare with */
    "     OR (r.kind = 'negative_spike' AND v.negative >= r.min_events\n"
    "         AND b.base_s >= 4 * r.window_s\n"
    "         AND v.negative * b.base_s > r.threshold * b.base_negative * r.window_s)\n"
    "  ORDER BY v.idx, v.bucket DESC\n"
    "), cand AS (\n"
    "  SELECT r.name, r.category, r.scope, r.owner, h.reason, r.cooldown_s,\n"
    "    (SELECT coalesce(sum(p.new_events), 0) FROM pts p WHERE p.idx = h.idx)::int AS events,\n"
    "    coalesce((SELECT (array_agg(u.id))[1:10] FROM cx_stage_touched t,\n"
    "                unnest(t.samples) AS u(id) WHERE t.category = r.category\n"
    "                AND (r.channel IS NULL OR t.channel = r.channel)), '{}') AS samples\n"
    "  FROM hit h JOIN r USING (idx)\n"
    "  UNION ALL\n"
    "  SELECT r.name, r.category, r.scope, r.owner,\n"
    "    format('%s: %s matching event(s) in the latest batch', r.description, f.events),\n"
    "    r.cooldown_s, f.events,\n"
    "    (SELECT (array_agg(u.id))[1:10] FROM cx_stage_fired g, unnest(g.samples) AS u(id)\n"
    "      WHERE g.rule = f.rule)\n"
    "  FROM (SELECT rule, sum(events)::int AS events FROM cx_stage_fired GROUP BY rule) f\n"
    "  JOIN r ON r.idx = f.rule\n"
    "), up AS (\n"
    "  INSERT INTO cx.tickets AS t (rule, category, scope, owner, reason, event_count,\n"
    "    sample_event_ids)\n"
    "  SELECT c.name, c.category, c.scope, c.owner, c.reason, c.events, c.samples FROM cand c\n"
    "  WHERE c.cooldown_s = 0\n"
    "     OR EXISTS (SELECT 1 FROM cx.tickets o WHERE o.rule = c.name\n"
    "                AND o.category = c.category AND o.scope = c.scope AND o.owner = c.owner\n"
    "                AND o.status <> 'resolved')\n"
    "     OR NOT EXISTS (SELECT 1 FROM cx.tickets o WHERE o.rule = c.name\n"
    "                AND o.category = c.category AND o.scope = c.scope AND o.owner = c.owner\n"
    "                AND o.status = 'resolved'\n"
    "                AND o.resolved_at > now() - make_interval(secs => c.cooldown_s))\n"
    "  ORDER BY 1, 2, 3, 4\n" /* one lock order for parallel writers */
    "  ON CONFLICT (rule, category, scope, owner) WHERE status <> 'resolved' DO UPDATE SET\n"
    "    updated_at = now(), reason = excluded.reason,\n"
    "    event_count = t.event_count + excluded.event_count,\n"
    "    sample_event_ids = (excluded.sample_event_ids || t.sample_event_ids)[1:10]\n"
    "  RETURNING t.ticket_id, t.rule, t.owner, t.reason, t.xmax = 0 AS opened, t.category,\n"
    "    t.scope\n"
    ")\n"
    "SELECT ticket_id, rule, owner, reason, opened,\n"
    "  CASE WHEN opened THEN pg_notify('cx_tickets', json_build_object('ticket_id', ticket_id,\n"
    "    'rule', rule, 'category', category, 'scope', scope, 'owner', owner,\n"
    "    'reason', reason)::text) END\n"
    "FROM up";

char *cx__pg_tickets_rules_json(const cx_ticket_rules *rules)
{
    static const char *const kinds[] = {"negative_share", "avg_rating", "negative_spike",
                                        "event"};
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < cx_ticket_rules_count(rules); i++) {
        const cx_ticket_rule *r = cx_ticket_rules_get(rules, i);
        json_t *o = json_pack(
            "{s:i, s:s, s:s, s:s, s:o, s:s, s:s, s:i, s:i, s:f, s:o, s:i, s:s, s:i}", "idx", (int)i,
            "name", r->name, "kind", kinds[r->kind], "category",
            cx_category_name((cx_category)r->category), "channel",
            r->channel ? json_string(r->channel) : json_null(), "scope", r->scope, "owner",
            r->owner, "window_s", r->window_seconds, "min_events", r->min_events, "threshold",
            r->threshold, "scale",
            r->scale != CX_RATING_NONE ? json_string(cx_rating_scale_name(r->scale))
                                       : json_null(),
            "cooldown_s", r->cooldown_seconds, "description", r->description, "baseline_s",
            r->baseline_seconds);
        if (o == NULL || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return s;
}

cx_status cx__pg_tickets_evaluate(PGconn *conn, const char *rules_json, int base_window,
                                  cx_pg_result *res, char *err, size_t errlen)
{
    char base[16];
    snprintf(base, sizeof base, "%d", base_window);
    const char *params[] = {rules_json, base};
    PGresult *r = PQexecParams(conn, evaluate_sql, 2, NULL, params, NULL, NULL, 0);
    cx_status st = cx__pg_check(conn, r, "evaluating ticket rules", err, errlen);
    for (int i = 0; st == CX_OK && i < PQntuples(r); i++) {
        int opened = PQgetvalue(r, i, 4)[0] == 't';
        if (opened) {
            res->tickets_opened++;
            cx_log(CX_LOG_INFO, "tickets", "ticket %s for %s (rule %s): %s",
                   PQgetvalue(r, i, 0), PQgetvalue(r, i, 2), PQgetvalue(r, i, 1),
                   PQgetvalue(r, i, 3));
        } else {
            res->tickets_updated++;
        }
    }
    PQclear(r);
    /* A statement over our own rules and tables: no row of the data is at fault. */
    return st == CX_ERR_INVALID ? CX_ERR_FATAL : st;
}
