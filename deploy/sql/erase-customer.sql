-- erase-customer.sql - erases one customer's events from the cx schema, in one
-- transaction, keeping every promise the schema makes (docs/privacy.md):
--   psql -v ON_ERROR_STOP=1 -v cid='c-123' -f deploy/sql/erase-customer.sql URL
-- Run it as the cx schema's owner (the service's role may not delete events);
-- `cxpulse run` may keep running. It
--   1. takes the events whose customer_id is the given one;
--   2. deletes the dead letters whose message names the customer or one of
--      the events (the raw bytes parsed as JSON);
--   3. lists the dead letters that are not JSON but hold the customer's id
--      among their bytes, for a person to judge (delete them by id);
--   4. takes the events' counts out of cx.signals (rows left empty are
--      deleted), so that the signals still equal the events kept;
--   5. takes their ids out of the tickets' sample_event_ids, moving their
--      updated_at (so a copy that reads changed tickets by it drops the ids
--      too), and out of the copies of the tickets in cx.notifications (no
--      notification is sent: the outbox's trigger ignores both columns);
--   6. deletes the events and prints how many it erased.
-- Events of the customer stored while it runs are not among them: run it
-- again (docs/privacy.md says when else).
-- What it cannot reach (Kafka, backups, receivers, other customers' text,
-- trained models) is in docs/privacy.md.
-- Beside a running service it takes its locks in an order that waits for no
-- one in a circle: the customer's events (ordered as reclassify orders them),
-- then the ticket rules' turn (which a batch takes before it opens a ticket,
-- so none is opened naming these events meanwhile; the slow scans are done
-- before it, so batches wait for it briefly), then signal rows in the
-- service's key order. Erasures run one at a time; one refuses to start while
-- a `cxpulse dead-letters replay` runs (which could store again what it
-- deletes), and it gives up after 10 s waiting for a lock (a notification
-- being posted to a slow receiver, another erasure) rather than hold up the
-- service's batches: run it again then. Either way nothing was erased.
\set ON_ERROR_STOP on
BEGIN;
SET LOCAL lock_timeout = '10s';
-- names are looked up in pg_catalog alone (and this session's temporary
-- tables): a function another role put in public that fits a call here more
-- closely than the built-in one would otherwise run as the schema's owner
SET LOCAL search_path = pg_catalog, pg_temp;

-- one erasure at a time, and no replay of dead letters meanwhile (cxpulse
-- holds the second number shared for one)
SELECT pg_advisory_xact_lock(7242837004) AS erasing \gset
DO $$
BEGIN
  IF NOT pg_try_advisory_xact_lock(7242837002) THEN
    RAISE EXCEPTION 'a cxpulse dead-letters replay is running: run this again once it has ended';
  END IF;
END $$;

CREATE FUNCTION pg_temp.as_json(b bytea) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN convert_from(b, 'UTF8')::jsonb;
EXCEPTION WHEN others THEN
  RETURN NULL;
END $$;

-- 1. the events, locked until the end (in the order reclassify locks them)
CREATE TEMP TABLE gone ON COMMIT DROP AS
SELECT event_id, occurred_at, channel, categories, sentiment, rating_scale, rating_value
FROM cx.events WHERE customer_id = :'cid' ORDER BY occurred_at, event_id FOR UPDATE;

-- 2. the dead letters naming the customer or the events (each parsed once:
--    OFFSET 0 keeps the planner from copying the parse into both tests)
DELETE FROM cx.dead_letters d WHERE d.id IN (
  SELECT id FROM (SELECT id, pg_temp.as_json(raw) AS j FROM cx.dead_letters OFFSET 0) x
  WHERE x.j ->> 'customer_id' = :'cid' OR x.j ->> 'event_id' IN (SELECT event_id FROM gone));

-- 3. the dead letters a person has to judge: not JSON, the customer's id among their bytes
SELECT id AS dead_letter_to_judge, consumer_group, kafka_topic, kafka_partition, kafka_offset,
       left(error, 80) AS error
FROM cx.dead_letters
WHERE pg_temp.as_json(raw) IS NULL AND position(convert_to(:'cid', 'UTF8') IN raw) > 0;

-- the ticket rules' turn: no batch opens a ticket with these events as samples meanwhile
SELECT pg_advisory_xact_lock(7512860309426239849) AS turn \gset

-- 4. their counts out of every window they are counted in, the rows locked in
--    key order first (as every writer locks them)
CREATE TEMP TABLE counts ON COMMIT DROP AS
WITH ws AS (SELECT DISTINCT window_seconds AS s FROM cx.signals)
  SELECT to_timestamp(floor(extract(epoch FROM g.occurred_at) / ws.s) * ws.s) AS window_start,
         ws.s AS window_seconds, coalesce(c.cat, 'none') AS category,
         coalesce(g.channel, '') AS channel,
         count(*) AS events,
         count(*) FILTER (WHERE sentiment = 'negative') AS negative,
         count(*) FILTER (WHERE sentiment = 'neutral') AS neutral,
         count(*) FILTER (WHERE sentiment = 'positive') AS positive,
         count(rating_value) AS rating_count, coalesce(sum(rating_value), 0) AS rating_sum,
         count(*) FILTER (WHERE rating_scale = 'csat') AS csat_count,
         coalesce(sum(rating_value) FILTER (WHERE rating_scale = 'csat'), 0) AS csat_sum,
         count(*) FILTER (WHERE rating_scale = 'nps') AS nps_count,
         coalesce(sum(rating_value) FILTER (WHERE rating_scale = 'nps'), 0) AS nps_sum,
         count(*) FILTER (WHERE rating_scale = 'ces') AS ces_count,
         coalesce(sum(rating_value) FILTER (WHERE rating_scale = 'ces'), 0) AS ces_sum,
         count(*) FILTER (WHERE rating_scale = 'stars') AS stars_count,
         coalesce(sum(rating_value) FILTER (WHERE rating_scale = 'stars'), 0) AS stars_sum
  FROM gone g CROSS JOIN ws
  LEFT JOIN LATERAL unnest(CASE WHEN cardinality(g.categories) > 0 THEN g.categories END)
    AS c(cat) ON true
  GROUP BY 1, 2, 3, 4;
SELECT count(*) AS signal_rows_locked FROM (
  SELECT 1 FROM cx.signals s JOIN counts USING (window_start, window_seconds, category, channel)
  ORDER BY s.window_start, s.window_seconds, s.category COLLATE "C", s.channel COLLATE "C"
  FOR UPDATE OF s) l \gset
UPDATE cx.signals s
SET events = s.events - d.events, negative = s.negative - d.negative,
    neutral = s.neutral - d.neutral, positive = s.positive - d.positive,
    rating_count = s.rating_count - d.rating_count, rating_sum = s.rating_sum - d.rating_sum,
    csat_count = s.csat_count - d.csat_count, csat_sum = s.csat_sum - d.csat_sum,
    nps_count = s.nps_count - d.nps_count, nps_sum = s.nps_sum - d.nps_sum,
    ces_count = s.ces_count - d.ces_count, ces_sum = s.ces_sum - d.ces_sum,
    stars_count = s.stars_count - d.stars_count, stars_sum = s.stars_sum - d.stars_sum
FROM counts d
WHERE (s.window_start, s.window_seconds, s.category, s.channel)
    = (d.window_start, d.window_seconds, d.category, d.channel);
DELETE FROM cx.signals s USING counts d
WHERE (s.window_start, s.window_seconds, s.category, s.channel)
    = (d.window_start, d.window_seconds, d.category, d.channel) AND s.events = 0;

-- 5. their ids out of the tickets and the outbox's copies of them
UPDATE cx.tickets t
SET sample_event_ids = ARRAY(SELECT x FROM unnest(t.sample_event_ids) WITH ORDINALITY AS a(x, o)
                             WHERE x NOT IN (SELECT event_id FROM gone) ORDER BY o),
    updated_at = greatest(t.updated_at, clock_timestamp()) -- now() is before the scans
WHERE t.sample_event_ids && ARRAY(SELECT event_id FROM gone);
UPDATE cx.notifications n
SET ticket = jsonb_set(n.ticket, '{sample_event_ids}',
                       coalesce((SELECT jsonb_agg(x ORDER BY o)
                                 FROM jsonb_array_elements_text(n.ticket -> 'sample_event_ids')
                                      WITH ORDINALITY AS a(x, o)
                                 WHERE x NOT IN (SELECT event_id FROM gone)), '[]'))
WHERE n.ticket -> 'sample_event_ids' ?| ARRAY(SELECT event_id FROM gone);

-- 6. the events, and how many
DELETE FROM cx.events WHERE event_id IN (SELECT event_id FROM gone);
SELECT count(*) AS events_erased FROM gone;

COMMIT;
