/*
 * migrate.c - the cx schema (docs/schema.md) as ordered migrations
 * compiled into the binary. Each runs in its own transaction under an
 * advisory lock and is recorded in cx.schema_migrations, so migrating is
 * idempotent and safe from several processes at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg_migrate.h"
#include "pg_int.h"

typedef struct migration {
    int version;
    const char *description;
    const char *sql;
} migration;

/* The UTC hour of a timestamptz column, as an immutable expression (an index
 * can hold it): the hour the 3-argument date_trunc(..., 'UTC') gives. */
#define EVENT_HOUR_UTC(col) "date_trunc('hour', " col " AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"

/* The analysts' hourly view (migrations 7, 10, 17 and 24: 10 and 17 changed
 * only the hour's expression, 24 the bands). A fractional rating counts as the
 * nearest whole one, a half as the better: csat 3.5 is satisfied, nps 6.5 a
 * passive and 8.5 a promoter, as the sentiment a rating decides bands them. */
#define SATISFACTION_HOURLY_SQL(hour) SATISFACTION_HOURLY_SQL_WITH(hour, "")
/* ... and columns after `ratings` (27: the counts CSAT and NPS are made of,
 * so that hours and channels add up; a view may gain columns at its end only). */
#define SATISFACTION_HOURLY_SQL_WITH(hour, more)                                                   \
    "CREATE OR REPLACE VIEW cx.satisfaction_hourly AS\n"                                           \
    "SELECT " hour " AS hour,\n"                                                                   \
    "       coalesce(t.category, 'none') AS category,\n"                                           \
    "       coalesce(e.channel, '') AS channel,\n"                                                 \
    "       count(*) AS events,\n"                                                                 \
    "       round(avg((e.sentiment = 'negative')::int), 4) AS negative_share,\n"                   \
    "       round(avg((e.rating_value >= 3.5)::int) FILTER (WHERE e.rating_scale = 'csat'), 4)\n"  \
    "         AS csat,\n"                                                                          \
    "       round(avg(e.rating_value) FILTER (WHERE e.rating_scale = 'csat'), 3) AS avg_csat,\n"   \
    "       round(100 * avg(CASE WHEN e.rating_value >= 8.5 THEN 1 WHEN e.rating_value < 6.5\n"    \
    "                            THEN -1 ELSE 0 END) FILTER (WHERE e.rating_scale = 'nps'), 1)\n"  \
    "         AS nps,\n"                                                                           \
    "       count(e.rating_value) AS ratings" more "\n"                                            \
    "FROM cx.events e LEFT JOIN LATERAL unnest(e.categories) AS t(category) ON true\n"             \
    "GROUP BY 1, 2, 3;\n"

/* cx.ticket_notify(), the trigger that writes a ticket's transitions to the
 * outbox: its opening and its end, around what 15 added between them. */
#define TICKET_NOTIFY_HEAD TICKET_NOTIFY_HEAD_WITH("")
#define TICKET_NOTIFY_HEAD_WITH(vars)                                                              \
    "CREATE OR REPLACE FUNCTION cx.ticket_notify() RETURNS trigger LANGUAGE plpgsql AS $$\n"       \
    "DECLARE tr text;" vars "\n"                                                                   \
    "BEGIN\n"                                                                                      \
    "  IF TG_OP = 'INSERT' THEN tr := 'opened';\n"                                                 \
    "  ELSIF NEW.status IS DISTINCT FROM OLD.status THEN tr := NEW.status;\n"                      \
    "  ELSIF NEW.event_count IS DISTINCT FROM OLD.event_count\n"                                   \
    "     OR NEW.reason IS DISTINCT FROM OLD.reason THEN tr := 'updated';\n"                       \
    "  ELSE RETURN NULL;\n"                                                                        \
    "  END IF;\n"                                                                                  \
    "  IF tr = 'open' THEN tr := 'updated'; END IF;\n"                                             \
    "  PERFORM pg_advisory_xact_lock(72428371, (NEW.ticket_id & 2147483647)::int);\n"
#define TICKET_NOTIFY_TAIL                                                                         \
    "  INSERT INTO cx.notifications (ticket_id, seq, transition, ticket, waiting)\n"               \
    "  SELECT NEW.ticket_id, coalesce(max(n.seq), 0) + 1, tr, to_jsonb(NEW),\n"                    \
    "    EXISTS (SELECT 1 FROM cx.notifications p\n"                                               \
    "      WHERE p.ticket_id = NEW.ticket_id AND p.status = 'pending')\n"                          \
    "  FROM cx.notifications n WHERE n.ticket_id = NEW.ticket_id;\n"                               \
    "  RETURN NULL;\n"                                                                             \
    "END $$;\n"

/* A migration is appended, never changed once released (a database records
 * it as applied). A new one is also undone by hand in
 * pg_sink/migrate_twice_is_a_no_op_and_upgrades_an_older_schema
 * (tests/integration/pg/test_pg_sink.c), which upgrades from version 1; a
 * new column of cx.events goes into CX__PG_EVENT_COLUMNS (pg_int.h), the
 * sink's rows, docs/schema.md and the column checks of test_pg_sink.c. */
/* clang-format off */
static const migration migrations[] = {
    {1, "contract tables, indexes and views",
     "CREATE SCHEMA IF NOT EXISTS cx;\n"
     "CREATE TABLE cx.events (\n"
     "  event_id text PRIMARY KEY,\n"
     "  occurred_at timestamptz NOT NULL,\n"
     "  ingested_at timestamptz NOT NULL DEFAULT now(),\n"
     "  customer_id text, channel text, touchpoint text, language text,\n"
     "  body text,\n"
     "  rating_scale text CHECK (rating_scale IN ('csat','nps','ces','stars')),\n"
     "  rating_value numeric,\n"
     "  sentiment text NOT NULL CHECK (sentiment IN ('negative','neutral','positive')),\n"
     "  primary_category text\n"
     "    CHECK (primary_category IN ('facing','collaborative','external','performance')),\n"
     "  payload jsonb NOT NULL,\n"
     "  kafka_topic text, kafka_partition int, kafka_offset bigint\n"
     ");\n"
     "CREATE INDEX events_occurred_at_idx ON cx.events (occurred_at);\n"
     "CREATE INDEX events_category_time_idx ON cx.events (primary_category, occurred_at);\n"
     "CREATE INDEX events_channel_time_idx ON cx.events (channel, occurred_at);\n"
     "CREATE TABLE cx.event_tags (\n"
     "  event_id text NOT NULL REFERENCES cx.events ON DELETE CASCADE,\n"
     "  category text NOT NULL\n"
     "    CHECK (category IN ('facing','collaborative','external','performance')),\n"
     "  confidence real NOT NULL CHECK (confidence >= 0 AND confidence <= 1),\n"
     "  evidence text[] NOT NULL DEFAULT '{}',\n"
     "  PRIMARY KEY (event_id, category)\n"
     ");\n"
     "CREATE INDEX event_tags_category_idx ON cx.event_tags (category);\n"
     "CREATE TABLE cx.signals (\n"
     "  window_start timestamptz NOT NULL,\n"
     "  window_seconds int NOT NULL,\n"
     "  category text NOT NULL,\n"
     "  channel text NOT NULL DEFAULT '',\n"
     "  events int NOT NULL DEFAULT 0,\n"
     "  negative int NOT NULL DEFAULT 0,\n"
     "  neutral int NOT NULL DEFAULT 0,\n"
     "  positive int NOT NULL DEFAULT 0,\n"
     "  rating_count int NOT NULL DEFAULT 0,\n"
     "  rating_sum numeric NOT NULL DEFAULT 0,\n"
     "  PRIMARY KEY (window_start, window_seconds, category, channel)\n"
     ");\n"
     "CREATE INDEX signals_category_time_idx ON cx.signals (category, window_seconds, "
     "window_start);\n"
     "CREATE TABLE cx.tickets (\n"
     "  ticket_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
     "  rule text NOT NULL, category text NOT NULL, scope text NOT NULL DEFAULT '',\n"
     "  owner text NOT NULL,\n"
     "  status text NOT NULL DEFAULT 'open'\n"
     "    CHECK (status IN ('open','acknowledged','resolved')),\n"
     "  opened_at timestamptz NOT NULL DEFAULT now(),\n"
     "  updated_at timestamptz NOT NULL DEFAULT now(),\n"
     "  resolved_at timestamptz,\n"
     "  reason text NOT NULL DEFAULT '',\n"
     "  event_count int NOT NULL DEFAULT 0,\n"
     "  sample_event_ids text[] NOT NULL DEFAULT '{}'\n"
     ");\n"
     "CREATE UNIQUE INDEX tickets_one_unresolved_idx ON cx.tickets (rule, category, scope, owner)\n"
     "  WHERE status <> 'resolved';\n"
     "CREATE INDEX tickets_owner_status_idx ON cx.tickets (owner, status);\n"
     "CREATE TABLE cx.dead_letters (\n"
     "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
     "  received_at timestamptz NOT NULL DEFAULT now(),\n"
     "  kafka_topic text, kafka_partition int, kafka_offset bigint,\n"
     "  error text NOT NULL,\n"
     "  raw bytea NOT NULL\n"
     ");\n"
     /* A guard: one message is dead-lettered at most once (per group since 5). */
     "CREATE UNIQUE INDEX dead_letters_coordinates_idx\n"
     "  ON cx.dead_letters (kafka_topic, kafka_partition, kafka_offset);\n"
     "CREATE INDEX dead_letters_received_idx ON cx.dead_letters (received_at);\n"
     "CREATE TABLE cx.consumer_offsets (\n"
     "  consumer_group text NOT NULL, topic text NOT NULL, partition int NOT NULL,\n"
     "  next_offset bigint NOT NULL,\n"
     "  updated_at timestamptz NOT NULL DEFAULT now(),\n"
     "  PRIMARY KEY (consumer_group, topic, partition)\n"
     ");\n"
     /* Per hour, category (or 'none') and channel. negative_share is the share of
      * negative events; csat is the share of csat ratings that are 4 or 5, and
      * avg_csat their mean (other scales are not averaged together: a mean over
      * mixed scales means nothing); nps is promoters minus detractors in percent. */
     "CREATE VIEW cx.satisfaction_hourly AS\n"
     "SELECT date_trunc('hour', e.occurred_at) AS hour,\n"
     "       coalesce(t.category, 'none') AS category,\n"
     "       coalesce(e.channel, '') AS channel,\n"
     "       count(*) AS events,\n"
     "       round(avg((e.sentiment = 'negative')::int), 4) AS negative_share,\n"
     "       round(avg((e.rating_value >= 4)::int) FILTER (WHERE e.rating_scale = 'csat'), 4)\n"
     "         AS csat,\n"
     "       round(avg(e.rating_value) FILTER (WHERE e.rating_scale = 'csat'), 3) AS avg_csat,\n"
     "       round(100 * avg(CASE WHEN e.rating_value >= 9 THEN 1 WHEN e.rating_value <= 6\n"
     "                            THEN -1 ELSE 0 END) FILTER (WHERE e.rating_scale = 'nps'), 1)\n"
     "         AS nps,\n"
     "       count(e.rating_value) AS ratings\n"
     "FROM cx.events e LEFT JOIN cx.event_tags t USING (event_id)\n"
     "GROUP BY 1, 2, 3;\n"
     "CREATE VIEW cx.open_tickets AS\n"
     "SELECT * FROM cx.tickets WHERE status <> 'resolved' ORDER BY opened_at DESC;\n"},
    {2, "rule version of each stored event",
     "ALTER TABLE cx.events ADD COLUMN rule_version text;\n"},
    /* rating_count/rating_sum mix scales; average-rating ticket rules (and
     * analysts) need them per scale. Existing rows are recomputed from events. */
    {3, "per-scale rating sums in cx.signals",
     "ALTER TABLE cx.signals\n"
     "  ADD COLUMN csat_count int NOT NULL DEFAULT 0, ADD COLUMN csat_sum numeric NOT NULL DEFAULT "
     "0,\n"
     "  ADD COLUMN nps_count int NOT NULL DEFAULT 0, ADD COLUMN nps_sum numeric NOT NULL DEFAULT "
     "0,\n"
     "  ADD COLUMN ces_count int NOT NULL DEFAULT 0, ADD COLUMN ces_sum numeric NOT NULL DEFAULT "
     "0,\n"
     "  ADD COLUMN stars_count int NOT NULL DEFAULT 0,\n"
     "  ADD COLUMN stars_sum numeric NOT NULL DEFAULT 0;\n"
     "UPDATE cx.signals s SET csat_count = x.cc, csat_sum = x.cs, nps_count = x.nc,\n"
     "  nps_sum = x.ns, ces_count = x.ec, ces_sum = x.es, stars_count = x.sc, stars_sum = x.ss\n"
     "FROM (SELECT to_timestamp((floor(extract(epoch FROM e.occurred_at) / w.w) * w.w)::float8)\n"
     "         AS ws, w.w, coalesce(t.category, 'none') AS category,\n"
     "         coalesce(e.channel, '') AS channel,\n"
     "         count(*) FILTER (WHERE e.rating_scale = 'csat') AS cc,\n"
     "         coalesce(sum(e.rating_value) FILTER (WHERE e.rating_scale = 'csat'), 0) AS cs,\n"
     "         count(*) FILTER (WHERE e.rating_scale = 'nps') AS nc,\n"
     "         coalesce(sum(e.rating_value) FILTER (WHERE e.rating_scale = 'nps'), 0) AS ns,\n"
     "         count(*) FILTER (WHERE e.rating_scale = 'ces') AS ec,\n"
     "         coalesce(sum(e.rating_value) FILTER (WHERE e.rating_scale = 'ces'), 0) AS es,\n"
     "         count(*) FILTER (WHERE e.rating_scale = 'stars') AS sc,\n"
     "         coalesce(sum(e.rating_value) FILTER (WHERE e.rating_scale = 'stars'), 0) AS ss\n"
     "      FROM cx.events e LEFT JOIN cx.event_tags t USING (event_id)\n"
     "      CROSS JOIN (SELECT DISTINCT window_seconds AS w FROM cx.signals) w\n"
     "      GROUP BY 1, 2, 3, 4) x\n"
     "WHERE s.window_start = x.ws AND s.window_seconds = x.w AND s.category = x.category\n"
     "  AND s.channel = x.channel;\n"},
    {4, "rule sets, and the replay history of dead letters",
     "CREATE TABLE cx.rule_sets (\n"
     "  version text PRIMARY KEY,\n"
     "  loaded_at timestamptz NOT NULL DEFAULT now(),\n"
     "  rules jsonb NOT NULL\n"
     ");\n"
     "ALTER TABLE cx.dead_letters\n"
     "  ADD COLUMN original_error text,\n"
     "  ADD COLUMN replayed_at timestamptz,\n"
     "  ADD COLUMN replay_count int NOT NULL DEFAULT 0,\n"
     "  ADD COLUMN replay_result text;\n"},
    /* The transactional outbox: a trigger writes one row per ticket transition in
     * the transaction that makes it (the batch's, or `tickets ack|resolve`); the
     * sender of `cxpulse run` delivers the rows and records the outcome. The
     * ticket row's lock serialises transitions, so seq is gap-free per ticket. */
    {5, "notification outbox of ticket transitions",
     "CREATE TABLE cx.notifications (\n"
     "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
     "  ticket_id bigint NOT NULL REFERENCES cx.tickets ON DELETE CASCADE,\n"
     "  seq int NOT NULL,\n"
     "  transition text NOT NULL\n"
     "    CHECK (transition IN ('opened','updated','acknowledged','resolved')),\n"
     "  created_at timestamptz NOT NULL DEFAULT now(),\n"
     "  ticket jsonb NOT NULL,\n"
     "  status text NOT NULL DEFAULT 'pending'\n"
     "    CHECK (status IN ('pending','sent','failed','unrouted')),\n"
     "  attempts int NOT NULL DEFAULT 0,\n"
     "  next_attempt_at timestamptz NOT NULL DEFAULT now(),\n"
     "  sent_at timestamptz,\n"
     "  last_error text,\n"
     "  deliveries jsonb NOT NULL DEFAULT '{}',\n"
     "  UNIQUE (ticket_id, seq)\n"
     ");\n"
     "CREATE INDEX notifications_pending_idx ON cx.notifications (id) WHERE status = 'pending';\n"
     "CREATE INDEX notifications_failed_idx ON cx.notifications (id) WHERE status = 'failed';\n"
     "CREATE FUNCTION cx.ticket_notify() RETURNS trigger LANGUAGE plpgsql AS $$\n"
     "DECLARE tr text;\n"
     "BEGIN\n"
     "  IF TG_OP = 'INSERT' THEN tr := 'opened';\n"
     "  ELSIF NEW.status IS DISTINCT FROM OLD.status THEN tr := NEW.status;\n"
     "  ELSIF NEW.event_count IS DISTINCT FROM OLD.event_count\n"
     "     OR NEW.reason IS DISTINCT FROM OLD.reason THEN tr := 'updated';\n"
     "  ELSE RETURN NULL;\n"
     "  END IF;\n"
     "  IF tr = 'open' THEN tr := 'updated'; END IF;\n"
     "  INSERT INTO cx.notifications (ticket_id, seq, transition, ticket)\n"
     "  SELECT NEW.ticket_id, coalesce(max(n.seq), 0) + 1, tr, to_jsonb(NEW)\n"
     "  FROM cx.notifications n WHERE n.ticket_id = NEW.ticket_id;\n"
     "  RETURN NULL;\n"
     "END $$;\n"
     "CREATE TRIGGER tickets_notify AFTER INSERT OR UPDATE ON cx.tickets\n"
     "  FOR EACH ROW EXECUTE FUNCTION cx.ticket_notify();\n"},
    /* Consumer groups are independent: each keeps the dead letters of the
     * messages it read. Older rows get the topic's only group, or '' when
     * several groups read it. */
    {6, "dead letters per consumer group",
     "ALTER TABLE cx.dead_letters ADD COLUMN consumer_group text NOT NULL DEFAULT '';\n"
     "UPDATE cx.dead_letters d SET consumer_group = o.g\n"
     "FROM (SELECT topic, min(consumer_group) AS g FROM cx.consumer_offsets GROUP BY topic\n"
     "      HAVING count(DISTINCT consumer_group) = 1) o\n"
     "WHERE o.topic = d.kafka_topic;\n"
     "DROP INDEX cx.dead_letters_coordinates_idx;\n"
     "CREATE UNIQUE INDEX dead_letters_coordinates_idx\n"
     "  ON cx.dead_letters (consumer_group, kafka_topic, kafka_partition, kafka_offset);\n"
     "CREATE INDEX dead_letters_message_idx\n"
     "  ON cx.dead_letters (kafka_topic, kafka_partition, kafka_offset);\n"},
    /* An event's tags live on its row (categories, confidences and evidence in
     * the same order, the primary category first): a batch is one COPY, with
     * no row per tag and no foreign-key check per row. cx.event_tags stays, as
     * a view with the same columns. The indexes of cx.events by (category, time)
     * and (channel, time) go: every write paid for them, and queries over a time
     * range are served by events_occurred_at_idx. So is cx.signals' index by
     * (category, window_seconds, window_start): the primary key, which starts
     * with window_start, serves the same ranges. Signal rows are updated in
     * place: room on their pages keeps those updates HOT. */
    {7, "tags on the event row, cx.event_tags a view",
     "ALTER TABLE cx.events\n"
     "  ADD COLUMN IF NOT EXISTS categories text[] NOT NULL DEFAULT '{}',\n"
     "  ADD COLUMN IF NOT EXISTS confidences real[] NOT NULL DEFAULT '{}',\n"
     "  ADD COLUMN IF NOT EXISTS evidence jsonb NOT NULL DEFAULT '[]';\n"
     "DO $$ BEGIN\n"
     "IF EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'cx' AND tablename = 'event_tags')\n"
     "THEN\n"
     "  UPDATE cx.events e SET categories = t.c, confidences = t.f, evidence = t.ev\n"
     "  FROM (SELECT t.event_id,\n"
     "          array_agg(t.category ORDER BY t.category = e.primary_category DESC,\n"
     "                    t.confidence DESC, t.category) AS c,\n"
     "          array_agg(t.confidence ORDER BY t.category = e.primary_category DESC,\n"
     "                    t.confidence DESC, t.category) AS f,\n"
     "          jsonb_agg(to_jsonb(t.evidence) ORDER BY t.category = e.primary_category DESC,\n"
     "                    t.confidence DESC, t.category) AS ev\n"
     "        FROM cx.event_tags t JOIN cx.events e USING (event_id) GROUP BY t.event_id) t\n"
     "  WHERE e.event_id = t.event_id;\n"
     /* who may read them now may read the views that replace them */
     "  CREATE TEMP TABLE cx_m7_readers ON COMMIT DROP AS\n"
     "  SELECT c.relname, a.grantee FROM pg_class c, aclexplode(c.relacl) a\n"
     "  WHERE c.relnamespace = 'cx'::regnamespace\n"
     "    AND c.relname IN ('event_tags', 'satisfaction_hourly')\n"
     "    AND a.privilege_type = 'SELECT' AND a.grantee <> c.relowner;\n"
     "  DROP VIEW cx.satisfaction_hourly;\n"
     "  DROP TABLE cx.event_tags;\n"
     "END IF;\n"
     "END $$;\n"
     "CREATE OR REPLACE VIEW cx.event_tags AS\n"
     "SELECT e.event_id, t.category, t.confidence,\n"
     "       ARRAY(SELECT jsonb_array_elements_text(e.evidence -> (t.i::int - 1)))::text[]\n"
     "         AS evidence\n"
     "FROM cx.events e,\n"
     "     unnest(e.categories, e.confidences) WITH ORDINALITY AS t(category, confidence, i);\n"
     SATISFACTION_HOURLY_SQL("date_trunc('hour', e.occurred_at)")
     "ALTER TABLE cx.events DROP CONSTRAINT IF EXISTS events_tags_aligned;\n"
     "ALTER TABLE cx.events ADD CONSTRAINT events_tags_aligned CHECK\n"
     "  (cardinality(confidences) = cardinality(categories)\n"
     "   AND jsonb_array_length(evidence) = cardinality(categories)\n"
     "   AND categories <@ '{facing,collaborative,external,performance}'::text[]);\n"
     "DO $$ DECLARE g record; BEGIN\n"
     "IF to_regclass('pg_temp.cx_m7_readers') IS NOT NULL THEN\n"
     "  FOR g IN SELECT * FROM cx_m7_readers LOOP\n"
     "    EXECUTE format('GRANT SELECT ON cx.%I TO %s', g.relname, CASE WHEN g.grantee = 0\n"
     "      THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(g.grantee)) END);\n"
     "  END LOOP;\n"
     "END IF;\n"
     "END $$;\n"
     "DROP INDEX IF EXISTS cx.events_category_time_idx;\n"
     "DROP INDEX IF EXISTS cx.events_channel_time_idx;\n"
     "DROP INDEX IF EXISTS cx.signals_category_time_idx;\n"
     "ALTER TABLE cx.signals SET (fillfactor = 70);\n"},
    /* Reclassification pages through events in (occurred_at, event_id) order.
     * With an index on occurred_at alone, every page re-read and re-sorted the
     * events that share the page's first instant (5,000 per second at 5,000
     * events/s with whole-second times; all of them for a day imported with
     * its date only): quadratic in the size of such a group. The index on
     * both serves every range of occurred_at the old one did. */
    {8, "events indexed by (occurred_at, event_id)",
     "CREATE INDEX IF NOT EXISTS events_occurred_at_event_id_idx\n"
     "  ON cx.events (occurred_at, event_id);\n"
     "DROP INDEX IF EXISTS cx.events_occurred_at_idx;\n"},
    /* The sender claims the pending row due first: without an index in that
     * order, each claim read and sorted every pending row (383 ms a claim at
     * 200,000 pending, a backlog cleared in quadratic time). */
    {9, "pending notifications indexed by when they are due",
     "CREATE INDEX notifications_due_idx ON cx.notifications (next_attempt_at, id)\n"
     "  WHERE status = 'pending';\n"},
    /* An hour was the reader's local hour: at +05:30 it began at :30 UTC, so
     * two analysts in different zones saw different rows. Hours are UTC hours,
     * as the signals' windows are. The column keeps its type. */
    {10, "satisfaction_hourly in UTC hours",
     SATISFACTION_HOURLY_SQL("date_trunc('hour', e.occurred_at, 'UTC')")},
    /* A claim read, in the due order of notifications_due_idx, every row that
     * was due but waited behind an earlier pending row of its ticket (a
     * receiver down, its backlog growing): 0.5 to 1.3 s a claim, idle polls
     * included, behind 200,000 such rows (bench/outbox; under 1 ms now).
     * Such a row is now marked waiting when it is written, and the claim's
     * index holds the rows that are not: a ticket's first pending row.
     * Settling a pending row (any change of its status, or deleting it)
     * unmarks the next one of its ticket; the ticket's outbox lock (advisory,
     * taken by the writing trigger and by the settling one) makes each see
     * the other's committed row whichever commits first. A row is never
     * marked without an earlier pending row, so a claim that also checks for
     * one (it does) picks exactly the rows it picked before; rows of older
     * releases, unmarked, only cost a look. An older release's sender, until
     * replaced, claims without notifications_due_idx: correctly, slowly. */
    {11, "pending notifications behind an earlier one of their ticket marked waiting",
     "ALTER TABLE cx.notifications ADD COLUMN waiting boolean NOT NULL DEFAULT false;\n"
     "CREATE INDEX notifications_ticket_pending_idx ON cx.notifications (ticket_id, seq)\n"
     "  WHERE status = 'pending';\n"
     "UPDATE cx.notifications n SET waiting = true\n"
     "WHERE n.status = 'pending' AND EXISTS (SELECT 1 FROM cx.notifications p\n"
     "  WHERE p.ticket_id = n.ticket_id AND p.status = 'pending' AND p.seq < n.seq);\n"
     "CREATE INDEX notifications_ready_idx ON cx.notifications (next_attempt_at, id)\n"
     "  WHERE status = 'pending' AND NOT waiting;\n"
     "DROP INDEX IF EXISTS cx.notifications_due_idx;\n" TICKET_NOTIFY_HEAD TICKET_NOTIFY_TAIL
     "CREATE FUNCTION cx.notification_settled() RETURNS trigger LANGUAGE plpgsql AS $$\n"
     "BEGIN\n"
     "  PERFORM pg_advisory_xact_lock(72428371, (OLD.ticket_id & 2147483647)::int);\n"
     "  UPDATE cx.notifications SET waiting = false\n"
     "  WHERE id = (SELECT id FROM cx.notifications\n"
     "    WHERE ticket_id = OLD.ticket_id AND status = 'pending' ORDER BY seq LIMIT 1)\n"
     "  AND waiting;\n"
     "  RETURN NULL;\n"
     "END $$;\n"
     "CREATE TRIGGER notifications_settled AFTER UPDATE OF status ON cx.notifications\n"
     "  FOR EACH ROW WHEN (OLD.status = 'pending' AND NEW.status <> 'pending')\n"
     "  EXECUTE FUNCTION cx.notification_settled();\n"
     "CREATE TRIGGER notifications_deleted AFTER DELETE ON cx.notifications\n"
     "  FOR EACH ROW WHEN (OLD.status = 'pending')\n"
     "  EXECUTE FUNCTION cx.notification_settled();\n"
     /* a row settled, or queued again (`notifications retry`), waits for nothing */
     "CREATE FUNCTION cx.notification_unmark() RETURNS trigger LANGUAGE plpgsql AS $$\n"
     "BEGIN NEW.waiting := false; RETURN NEW; END $$;\n"
     "CREATE TRIGGER notifications_status BEFORE UPDATE OF status ON cx.notifications\n"
     "  FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status)\n"
     "  EXECUTE FUNCTION cx.notification_unmark();\n"},
    /* A topic deleted and made again puts new messages at old places: a bad
     * one where the old topic left another dead letter is kept beside it.
     * Unique per place, a group that read the new topic from the start
     * stopped at that message on every start. The same bytes at the same
     * place are still stored once. */
    {12, "dead letters unique per message, not per place",
     "DROP INDEX cx.dead_letters_coordinates_idx;\n"
     "CREATE UNIQUE INDEX dead_letters_coordinates_idx ON cx.dead_letters\n"
     "  (consumer_group, kafka_topic, kafka_partition, kafka_offset, md5(raw));\n"},
    /* What the table cx.event_tags was held to before it became a view (7):
     * one row per (event, category), confidences in [0, 1], and the primary
     * category first. Checked for new rows at once; the rows already there
     * are checked by 14, in a transaction of its own that lets writes on
     * (VALIDATE takes no lock that blocks them). At most four categories,
     * so distinct in pairs without a function call per row. */
    {13, "tags: distinct categories, confidences in [0, 1], the primary one first",
     "ALTER TABLE cx.events DROP CONSTRAINT IF EXISTS events_tags_valid,\n"
     "  ADD CONSTRAINT events_tags_valid CHECK (\n"
     "  cardinality(categories) <= 4\n"
     "  AND coalesce(array_ndims(categories), 1) = 1 AND coalesce(array_lower(categories, 1), 1) = "
     "1\n"
     "  AND (cardinality(categories) < 2 OR categories[1] <> ALL (categories[2:]))\n"
     "  AND (cardinality(categories) < 3 OR categories[2] <> ALL (categories[3:]))\n"
     "  AND (cardinality(categories) < 4 OR categories[3] <> categories[4])\n"
     "  AND 0 <= ALL (confidences) AND 1 >= ALL (confidences)\n"
     "  AND array_position(confidences, NULL) IS NULL\n"
     "  AND primary_category IS NOT DISTINCT FROM categories[1]) NOT VALID;\n"},
    {14, "the rows stored before 13 checked by it",
     "ALTER TABLE cx.events VALIDATE CONSTRAINT events_tags_valid;\n"},
    /* A ticket a backlog keeps firing gets an `updated` row per batch, each
     * delivered in turn: a resolve queued behind them reached its receivers
     * minutes late, after a stream of stale updates. Now a new transition
     * marks the pending `updated` rows of its ticket that wait behind an
     * earlier one (no sender holds those) superseded: what is delivered is
     * the row in delivery, then the latest state. Under the ticket's lock,
     * as the settling trigger, so a row made ready meanwhile is kept. */
    {15, "waiting updates superseded by a later transition of their ticket",
     /* wider than the check it replaces, which every row met: not scanned */
     "ALTER TABLE cx.notifications DROP CONSTRAINT notifications_status_check,\n"
     "  ADD CONSTRAINT notifications_status_check\n"
     "  CHECK (status IN ('pending','sent','failed','unrouted','superseded')) NOT "
     "VALID;\n" TICKET_NOTIFY_HEAD
     "  UPDATE cx.notifications SET status = 'superseded', sent_at = now()\n"
     "  WHERE ticket_id = NEW.ticket_id AND status = 'pending' AND waiting\n"
     "    AND transition = 'updated';\n" TICKET_NOTIFY_TAIL},
    /* The window a window rule's reason names, as columns: an analyst joins
     * a ticket to its window's events without parsing the reason. No rows
     * are rewritten (an UPDATE would notify every ticket's receivers): the
     * tickets before it keep null. Adding nullable columns rewrites nothing. */
    {16, "the window each window rule's ticket names, in cx.tickets",
     "ALTER TABLE cx.tickets ADD COLUMN window_start timestamptz,\n"
     "  ADD COLUMN window_end timestamptz;\n"
     "CREATE OR REPLACE VIEW cx.open_tickets AS\n"
     "SELECT * FROM cx.tickets WHERE status <> 'resolved' ORDER BY opened_at DESC;\n"},
    /* A filter on satisfaction_hourly's hour read every event (the 3-argument
     * date_trunc is only stable): 2 to 7 s for a day or a week of 5 million
     * events. The same UTC hour, from immutable functions, and an index on
     * it: 0.4 and 1.5 s. Building the index holds writes (about 10 s per 5
     * million events here), as 8's did. */
    {17, "satisfaction_hourly's hour indexed",
     "CREATE INDEX IF NOT EXISTS events_hour_utc_idx\n"
     "  ON cx.events ((" EVENT_HOUR_UTC("occurred_at") "));\n"
     SATISFACTION_HOURLY_SQL(EVENT_HOUR_UTC("e.occurred_at"))},
    /* The outbox's triggers write with their owner's rights, so that a role
     * that may only change a ticket's status or queue a notification again
     * (cxpulse_owner in deploy/sql/grants.sql) needs no INSERT on
     * cx.notifications: it cannot write a notification the sender would post,
     * signed, to a receiver. A later CREATE OR REPLACE of either function
     * must say SECURITY DEFINER again. */
    {18, "the outbox's triggers run as the schema's owner",
     "ALTER FUNCTION cx.ticket_notify() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;\n"
     "ALTER FUNCTION cx.notification_settled() SECURITY DEFINER\n"
     "  SET search_path = pg_catalog, pg_temp;\n"},
    /* What the commands never do, for every role: a resolved ticket stays
     * resolved (a new firing opens a new ticket), and a notification that was
     * sent, unrouted or superseded stays so (only a failed one is queued
     * again). A role that may change statuses (cxpulse_owner) can thus
     * neither reopen a ticket nor have the sender post an old notification
     * again, after its later ones. */
    {19, "resolved tickets and settled notifications are final",
     "CREATE FUNCTION cx.status_final() RETURNS trigger LANGUAGE plpgsql AS $$\n"
     "BEGIN\n"
     "  IF TG_TABLE_NAME = 'tickets' THEN\n"
     "    RAISE EXCEPTION 'ticket % is resolved: a resolved ticket stays resolved',\n"
     "      OLD.ticket_id USING ERRCODE = 'check_violation';\n"
     "  END IF;\n"
     "  RAISE EXCEPTION 'notification % is %: only a failed one is queued again',\n"
     "    OLD.id, OLD.status USING ERRCODE = 'check_violation';\n"
     "END $$;\n"
     "CREATE TRIGGER tickets_resolved_final BEFORE UPDATE OF status ON cx.tickets\n"
     "  FOR EACH ROW WHEN (OLD.status = 'resolved' AND NEW.status <> 'resolved')\n"
     "  EXECUTE FUNCTION cx.status_final();\n"
     "CREATE TRIGGER notifications_settled_final BEFORE UPDATE OF status ON cx.notifications\n"
     "  FOR EACH ROW WHEN (OLD.status IN ('sent', 'unrouted', 'superseded')\n"
     "    AND NEW.status <> OLD.status)\n"
     "  EXECUTE FUNCTION cx.status_final();\n"},
    /* A ticket's id comes from a sequence, which a restore from a backup sets
     * back: tickets opened after it got the ids of tickets opened (and
     * delivered) after the backup was taken, and receivers the same
     * Idempotency-Keys and Alertmanager labels for another ticket. A random
     * uid is never reused; the trigger copies the row (to_jsonb(NEW)), so
     * the outbox rows carry it, and the senders put it in the keys and labels
     * (ops/alerts). The tickets there get one each (the table is rewritten,
     * under its lock, without firing the outbox trigger); their rows written
     * before keep their keys. A role that may update a ticket's status
     * (cxpulse_owner) may not update it. */
    {20, "tickets identified by a uid a restore cannot reuse",
     "ALTER TABLE cx.tickets ADD COLUMN uid uuid NOT NULL DEFAULT gen_random_uuid();\n"
     "CREATE UNIQUE INDEX tickets_uid_idx ON cx.tickets (uid);\n"
     "CREATE OR REPLACE VIEW cx.open_tickets AS\n"
     "SELECT * FROM cx.tickets WHERE status <> 'resolved' ORDER BY opened_at DESC;\n"},
    /* A ticket fired by batch after batch wrote an `updated` row each time,
     * and superseded the one waiting before it: with no receiver taking them
     * (none configured, or one down), a row per firing ticket per batch, kept
     * for good. The ticket's latest row, when it is an update waiting behind
     * an earlier one (no sender holds those), takes the new state instead:
     * what is delivered is the same (the row in delivery, then the latest
     * state), and a ticket has at most two rows waiting. SECURITY DEFINER
     * again (18): CREATE OR REPLACE resets it. */
    {21, "a waiting update of a ticket takes its next state instead of a new row",
     TICKET_NOTIFY_HEAD
     "  IF tr = 'updated' THEN\n"
     "    UPDATE cx.notifications SET ticket = to_jsonb(NEW), created_at = now()\n"
     "    WHERE ticket_id = NEW.ticket_id AND status = 'pending' AND waiting\n"
     "      AND transition = 'updated' AND seq = (SELECT max(seq) FROM cx.notifications\n"
     "                                            WHERE ticket_id = NEW.ticket_id);\n"
     "    IF FOUND THEN RETURN NULL; END IF;\n"
     "  END IF;\n"
     "  UPDATE cx.notifications SET status = 'superseded', sent_at = now()\n"
     "  WHERE ticket_id = NEW.ticket_id AND status = 'pending' AND waiting\n"
     "    AND transition = 'updated';\n" TICKET_NOTIFY_TAIL
     "ALTER FUNCTION cx.ticket_notify() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;\n"},
    /* A sender with alerts.update_seconds puts off a ticket's update until
     * that long after its last row sent: the update waits first in line, not
     * behind another row, so 21's merge and 15's supersede would miss it (a
     * row per firing behind it, and a resolve held up until it is due). They
     * now take every update of the ticket no receiver was posted yet
     * (attempts = 0, no deliveries: `notifications retry` sets attempts back
     * but keeps the deliveries) that no sender holds (SKIP LOCKED: a sender
     * holds the row it posts, and the batch must not wait for the post; the
     * sender's hold statement takes this lock before it locks a row). A row
     * whose post went out but whose outcome was lost with the sender's
     * connection looks the same: its receivers may get it again with a later
     * state, under the key they have seen (they keep the first), until the
     * next row. SECURITY DEFINER again (18). */
    {22, "held and waiting updates of a ticket merged and superseded alike",
     TICKET_NOTIFY_HEAD
     "  IF tr = 'updated' THEN\n"
     "    UPDATE cx.notifications SET ticket = to_jsonb(NEW), created_at = now()\n"
     "    WHERE id = (SELECT id FROM cx.notifications\n"
     "                WHERE ticket_id = NEW.ticket_id AND status = 'pending' AND attempts = 0\n"
     "                  AND deliveries = '{}' AND transition = 'updated' AND seq = (SELECT max(seq)\n"
     "                    FROM cx.notifications WHERE ticket_id = NEW.ticket_id)\n"
     "                FOR UPDATE SKIP LOCKED);\n"
     "    IF FOUND THEN RETURN NULL; END IF;\n"
     "  END IF;\n"
     "  UPDATE cx.notifications SET status = 'superseded', sent_at = now()\n"
     "  WHERE id IN (SELECT id FROM cx.notifications\n"
     "               WHERE ticket_id = NEW.ticket_id AND status = 'pending' AND attempts = 0\n"
     "                 AND deliveries = '{}' AND transition = 'updated'\n"
     "               FOR UPDATE SKIP LOCKED);\n" TICKET_NOTIFY_TAIL
     "ALTER FUNCTION cx.ticket_notify() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;\n"},
    /* A ticket left open after its incident (nobody resolved it) took the
     * next incident, days later, as an update, which chat receivers skip:
     * the channel heard nothing. A ticket now keeps the event time its latest
     * firing was about (fired_event_at: the end of the window a window rule
     * judged, the newest matching event of an event rule) and, written by the
     * firing, how long its rule had been quiet before it in event time
     * (quiet_before: from the fired_event_at before to the earliest window or
     * event of the firing, so that an incident that went on while the service
     * was stopped, read after in one batch, is not quiet, and an
     * acknowledgement meanwhile changes nothing). An update row takes it
     * from the firing; a merge keeps the longest, and a new row takes it from
     * the updates it supersedes. The sender posts an update quiet for
     * alerts.chat_quiet_minutes to chat too. SECURITY DEFINER again (18). */
    {23, "an update row keeps how long its ticket had been quiet",
     "ALTER TABLE cx.tickets ADD COLUMN fired_event_at timestamptz,\n"
     "  ADD COLUMN quiet_before interval;\n"
     "CREATE OR REPLACE VIEW cx.open_tickets AS\n"
     "SELECT * FROM cx.tickets WHERE status <> 'resolved' ORDER BY opened_at DESC;\n"
     "ALTER TABLE cx.notifications ADD COLUMN quiet_before interval;\n"
     TICKET_NOTIFY_HEAD_WITH(" quiet interval; carried interval;")
     "  IF tr = 'updated' THEN\n"
     "    IF NEW.event_count IS DISTINCT FROM OLD.event_count\n"
     "       OR NEW.reason IS DISTINCT FROM OLD.reason THEN\n"
     "      quiet := NEW.quiet_before; -- a firing's (null: last fired before version 23)\n"
     "    END IF;\n"
     "    UPDATE cx.notifications SET ticket = to_jsonb(NEW), created_at = now(),\n"
     "      quiet_before = greatest(quiet_before, quiet)\n"
     "    WHERE id = (SELECT id FROM cx.notifications\n"
     "                WHERE ticket_id = NEW.ticket_id AND status = 'pending' AND attempts = 0\n"
     "                  AND deliveries = '{}' AND transition = 'updated' AND seq = (SELECT max(seq)\n"
     "                    FROM cx.notifications WHERE ticket_id = NEW.ticket_id)\n"
     "                FOR UPDATE SKIP LOCKED);\n"
     "    IF FOUND THEN RETURN NULL; END IF;\n"
     "  END IF;\n"
     "  WITH s AS (\n"
     "    UPDATE cx.notifications SET status = 'superseded', sent_at = now()\n"
     "    WHERE id IN (SELECT id FROM cx.notifications\n"
     "                 WHERE ticket_id = NEW.ticket_id AND status = 'pending' AND attempts = 0\n"
     "                   AND deliveries = '{}' AND transition = 'updated'\n"
     "                 FOR UPDATE SKIP LOCKED)\n"
     "    RETURNING quiet_before)\n"
     "  SELECT max(quiet_before) INTO carried FROM s;\n"
     "  INSERT INTO cx.notifications (ticket_id, seq, transition, ticket, waiting, quiet_before)\n"
     "  SELECT NEW.ticket_id, coalesce(max(n.seq), 0) + 1, tr, to_jsonb(NEW),\n"
     "    EXISTS (SELECT 1 FROM cx.notifications p\n"
     "      WHERE p.ticket_id = NEW.ticket_id AND p.status = 'pending'),\n"
     "    CASE WHEN tr = 'updated' THEN greatest(carried, quiet) END\n"
     "  FROM cx.notifications n WHERE n.ticket_id = NEW.ticket_id;\n"
     "  RETURN NULL;\n"
     "END $$;\n"
     "ALTER FUNCTION cx.ticket_notify() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;\n"},
    /* A fractional rating was a detractor by the sentiment (6.4: negative)
     * and not in the view's nps (<= 6), and csat 3.6 positive but not
     * satisfied (>= 4): the view now bands ratings as the sentiment does. */
    {24, "satisfaction_hourly bands a fractional rating as the sentiment does",
     SATISFACTION_HOURLY_SQL(EVENT_HOUR_UTC("e.occurred_at"))},
    /* Owners may be let read their tickets' samples (their text) without
     * reading every event: the view runs with its owner's rights, and as a
     * security barrier, so that a reader's own conditions (a failing cast
     * that quotes a value) see only its rows, never other events'. */
    {25, "ticket_samples: a ticket's sample events with their text and tags",
     "CREATE OR REPLACE VIEW cx.ticket_samples WITH (security_barrier) AS\n"
     "SELECT k.ticket_id, s.position::int AS position, e.event_id, e.occurred_at,\n"
     "  e.channel, e.touchpoint, e.sentiment, e.categories, e.evidence, e.body\n"
     "FROM cx.tickets k\n"
     "CROSS JOIN LATERAL unnest(k.sample_event_ids) WITH ORDINALITY AS s(event_id, position)\n"
     "JOIN cx.events e ON e.event_id = s.event_id;\n"},
    /* For a warehouse's incremental sync: reclassify rewrites tags in place.
     * Added without a value for the rows there (no rewrite of the table),
     * then defaulted, so every writer, an older replica's too, sets it. */
    {26, "events.tagged_at: when an event's tags were last written",
     "ALTER TABLE cx.events ADD COLUMN IF NOT EXISTS tagged_at timestamptz;\n"
     "ALTER TABLE cx.events ALTER COLUMN tagged_at SET DEFAULT now();\n"},
    /* CSAT and NPS are shares: an average of the hours' or channels' figures
     * is not the figure of their sum; these counts add up. */
    {27, "satisfaction_hourly keeps the counts its csat and nps are made of",
     SATISFACTION_HOURLY_SQL_WITH(EVENT_HOUR_UTC("e.occurred_at"),
     ",\n"
     "       count(*) FILTER (WHERE e.rating_scale = 'csat') AS csat_ratings,\n"
     "       count(*) FILTER (WHERE e.rating_scale = 'csat' AND e.rating_value >= 3.5)\n"
     "         AS csat_satisfied,\n"
     "       count(*) FILTER (WHERE e.rating_scale = 'nps') AS nps_ratings,\n"
     "       count(*) FILTER (WHERE e.rating_scale = 'nps' AND e.rating_value >= 8.5)\n"
     "         AS nps_promoters,\n"
     "       count(*) FILTER (WHERE e.rating_scale = 'nps' AND e.rating_value < 6.5)\n"
     "         AS nps_detractors")},
    /* what decided the sentiment: an analyst leaves out automatic replies
     * and empty texts (neutral, from none) where they would dilute a share */
    {28, "events.sentiment_from: what decided an event's sentiment",
     "ALTER TABLE cx.events ADD COLUMN IF NOT EXISTS sentiment_from text;\n"},
    /* a firing with no unresolved ticket looked for the resolved one holding
     * it back among all of the owner's tickets (tickets_owner_status_idx),
     * inside the ticket rules' turn; the dead-letter gauge counted the whole
     * table. The index on window_end costs each firing of an open ticket
     * (which moves window_end) its HOT update, about 0.03 ms and an entry in
     * each index; without it, a rule with many resolved tickets read them all
     * (10 ms at 5,000) at every firing a resolved window held back. */
    {29, "indexes for a firing's resolved tickets and for dead letters waiting",
     "CREATE INDEX IF NOT EXISTS tickets_resolved_at_idx\n"
     "  ON cx.tickets (rule, category, scope, owner, resolved_at) WHERE status = 'resolved';\n"
     "CREATE INDEX IF NOT EXISTS tickets_resolved_window_idx\n"
     "  ON cx.tickets (rule, category, scope, owner, window_end) WHERE status = 'resolved';\n"
     "CREATE INDEX IF NOT EXISTS dead_letters_waiting_idx ON cx.dead_letters (consumer_group)\n"
     "  WHERE " CX__PG_DEAD_NOT_STORED("") ";\n"},
    /* a copy kept by reading what changed since its last run could not tell
     * which notifications had changed: their delivery is written in place.
     * The statement's time, not the transaction's: a sender's claim stays
     * open through its posts (minutes, with slow receivers), and an erasure
     * edits the rows after its long scans. */
    {30, "notifications.changed_at: when a notification last changed",
     "ALTER TABLE cx.notifications ADD COLUMN IF NOT EXISTS changed_at timestamptz;\n"
     "ALTER TABLE cx.notifications ALTER COLUMN changed_at SET DEFAULT now();\n"
     "CREATE OR REPLACE FUNCTION cx.notification_changed() RETURNS trigger\n"
     "  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$\n"
     "BEGIN NEW.changed_at := clock_timestamp(); RETURN NEW; END $$;\n"
     "DROP TRIGGER IF EXISTS notifications_changed ON cx.notifications;\n"
     "CREATE TRIGGER notifications_changed BEFORE UPDATE ON cx.notifications\n"
     "  FOR EACH ROW EXECUTE FUNCTION cx.notification_changed();\n"},
    /* a resolved ticket held back late events dated in the last window it
     * named only: those of the incident's earlier windows (a partition more
     * than a cooldown behind) opened it again */
    {31, "tickets.first_window_start: where a window rule's ticket began",
     "ALTER TABLE cx.tickets ADD COLUMN IF NOT EXISTS first_window_start timestamptz;\n"
     "CREATE OR REPLACE VIEW cx.open_tickets AS\n"
     "SELECT * FROM cx.tickets WHERE status <> 'resolved' ORDER BY opened_at DESC;\n"},
    /* A role that may change a notification's delivery columns only to queue
     * a failed one again (cxpulse_owner: notifications retry, which may also
     * supersede it) could also mark one sent, with a receiver's answer of its
     * own, skip a receiver, or put the next attempt off for a year: nobody
     * would be told, and the table would say they were. Such a role has no
     * INSERT on the table; the sender's role, the outbox's triggers (run as
     * the schema's owner) and the owner have. Others change a failed row as
     * retry does: queued again at once, each receiver pending or as it was
     * (or skipped, when a later transition of the ticket was sent to it), or
     * superseded with its deliveries as they were. */
    {32, "only the sender records a delivery; others may only retry a failed one",
     "CREATE OR REPLACE FUNCTION cx.notification_delivery() RETURNS trigger\n"
     "  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$\n"
     "BEGIN\n"
     "  IF has_table_privilege('cx.notifications', 'INSERT') THEN\n"
     "    RETURN NEW;\n"
     "  END IF;\n"
     "  IF OLD.status = 'failed' AND NEW.status = 'pending' AND NEW.attempts = 0\n"
     "     AND NEW.sent_at IS NULL AND NEW.next_attempt_at <= now()\n"
     "     AND NOT EXISTS (SELECT 1 FROM jsonb_each(NEW.deliveries) AS d(k, v)\n"
     "       WHERE v->>'status' IS DISTINCT FROM 'pending'\n"
     "         AND v->>'status' IS DISTINCT FROM OLD.deliveries->k->>'status'\n"
     "         AND NOT (v->>'status' = 'skipped' AND EXISTS (SELECT 1\n"
     "           FROM cx.notifications l WHERE l.ticket_id = NEW.ticket_id\n"
     "           AND l.seq > NEW.seq AND l.deliveries->k->>'status' = 'sent'))) THEN\n"
     "    RETURN NEW;\n"
     "  END IF;\n"
     "  IF OLD.status = 'failed' AND NEW.status = 'superseded'\n"
     "     AND NEW.deliveries = OLD.deliveries AND NEW.attempts = OLD.attempts\n"
     "     AND NEW.next_attempt_at IS NOT DISTINCT FROM OLD.next_attempt_at THEN\n"
     "    RETURN NEW;\n"
     "  END IF;\n"
     "  RAISE EXCEPTION 'notification % is %: only cxpulse''s sender records its delivery',\n"
     "    OLD.id, OLD.status USING ERRCODE = 'insufficient_privilege',\n"
     "    HINT = 'a failed one is queued again by cxpulse notifications retry';\n"
     "END $$;\n"
     "DROP TRIGGER IF EXISTS notifications_delivery ON cx.notifications;\n"
     "CREATE TRIGGER notifications_delivery\n"
     "  BEFORE UPDATE OF status, deliveries, attempts, next_attempt_at, sent_at\n"
     "  ON cx.notifications FOR EACH ROW\n"
     "  WHEN ((OLD.status, OLD.deliveries, OLD.attempts, OLD.next_attempt_at, OLD.sent_at)\n"
     "        IS DISTINCT FROM\n"
     "        (NEW.status, NEW.deliveries, NEW.attempts, NEW.next_attempt_at, NEW.sent_at))\n"
     "  EXECUTE FUNCTION cx.notification_delivery();\n"},
    /* an owner told "resolved" could not tell who resolved it, nor could the
     * table: the login role that changed the status (session_user: the
     * person's, not the outbox trigger's owner), kept by every other update */
    {33, "tickets.status_by: who acknowledged or resolved a ticket",
     "ALTER TABLE cx.tickets ADD COLUMN IF NOT EXISTS status_by text;\n"
     "CREATE OR REPLACE FUNCTION cx.ticket_status_by() RETURNS trigger\n"
     "  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$\n"
     "BEGIN\n"
     "  NEW.status_by := CASE WHEN NEW.status IS DISTINCT FROM OLD.status\n"
     "    THEN session_user::text ELSE OLD.status_by END;\n"
     "  RETURN NEW;\n"
     "END $$;\n"
     "DROP TRIGGER IF EXISTS tickets_status_by ON cx.tickets;\n"
     "CREATE TRIGGER tickets_status_by BEFORE UPDATE ON cx.tickets\n"
     "  FOR EACH ROW EXECUTE FUNCTION cx.ticket_status_by();\n"
     "CREATE OR REPLACE VIEW cx.open_tickets AS\n"
     "SELECT * FROM cx.tickets WHERE status <> 'resolved' ORDER BY opened_at DESC;\n"},
};
/* clang-format on */

int cx_pg_schema_version(void)
{
    return migrations[CX_ARRAY_LEN(migrations) - 1].version;
}

#define LOCK_WAIT_MS 2000 /* a migration's wait for a lock, at a time, */
#define LOCK_TRIES 150     /* ... tried this many times, */
#define LOCK_PAUSE_MS 1000 /* with this long between: 7.5 minutes in all */

/* Runs a migration's sql in the open transaction. A statement that asks for
 * a table's lock (ALTER TABLE, CREATE INDEX) while another session holds a
 * conflicting one (an analyst's long query, a pg_dump) waits in the lock's
 * queue, and every write of the service queues behind it: for the whole
 * lock_timeout of 30 s, again at each retry. So it waits LOCK_WAIT_MS at a
 * time, whatever lock_timeout says, and between its tries the writers go on;
 * the holder gets LOCK_TRIES chances to finish. A try that had worked for a
 * while before it waited (a migration that rewrites a table, then needs
 * another's lock) is not redone: it fails, as any other statement would. */
static cx_status run_waiting_briefly(PGconn *conn, const char *sql, const char *what, char *err,
                                     size_t errlen)
{
    char set[96];
    snprintf(set, sizeof set, "SAVEPOINT cx_migration; SET LOCAL lock_timeout = %d", LOCK_WAIT_MS);
    cx_status st = CX_OK;
    for (int attempt = 1; attempt <= LOCK_TRIES; attempt++) {
        int64_t began = cx_now_mono_us();
        if ((st = cx__pg_exec(conn, set, what, err, errlen)) != CX_OK ||
            (st = cx__pg_exec(conn, sql, what, err, errlen)) == CX_OK ||
            !cx__pg_lock_timed_out(err) || attempt == LOCK_TRIES ||
            cx_now_mono_us() - began > 2 * LOCK_WAIT_MS * 1000LL)
            return st;
        if (attempt == 1 || attempt % 15 == 0)
            cx_log(CX_LOG_WARN, "migrate",
                   "%s; trying again every %d s, letting the service's writes go on between "
                   "tries (try %d of %d)",
                   err, (LOCK_WAIT_MS + LOCK_PAUSE_MS) / 1000, attempt, LOCK_TRIES);
        if ((st = cx__pg_exec(conn,
                              "ROLLBACK TO SAVEPOINT cx_migration;"
                              " RELEASE SAVEPOINT cx_migration",
                              what, err, errlen)) != CX_OK)
            return st;
        nanosleep(&(struct timespec){LOCK_PAUSE_MS / 1000, (LOCK_PAUSE_MS % 1000) * 1000000L},
                  NULL);
    }
    return st;
}

cx_status cx_pg_migrate(const char *conninfo, int *applied, int *version, char *err,
                        size_t errlen)
{
    PGconn *conn = NULL;
    cx_status st = cx__pg_connect(conninfo, &conn, err, errlen);
    *applied = 0;
    *version = 0;
    if (st != CX_OK)
        return st;
    /* Under the migrations' lock (below), or two first migrates at once both
     * create the schema and one fails. The run's own lock, held by the session
     * to its end, is what deploy/sql/grants.sql waits for: between two
     * migrations it would otherwise grant on a schema half made (its tables
     * not there yet, or made after it without its grants). Taken first, as
     * grants.sql takes it, so the two never wait for each other in a circle. */
    if ((st = cx__pg_exec(conn,
                          "SET client_min_messages = warning;"
                          "BEGIN;"
                          "SET LOCAL lock_timeout = 0;"
                          "SELECT pg_advisory_lock(7242837003);"
                          "SELECT pg_advisory_xact_lock(7242837001);"
                          /* CREATE SCHEMA IF NOT EXISTS needs CREATE on the database
                           * even when the schema is there: the first time only */
                          "DO $$BEGIN IF to_regnamespace('cx') IS NULL THEN CREATE SCHEMA cx;"
                          " END IF; END$$;"
                          "CREATE TABLE IF NOT EXISTS cx.schema_migrations ("
                          " version int PRIMARY KEY, description text NOT NULL,"
                          " applied_at timestamptz NOT NULL DEFAULT now());"
                          "COMMIT",
                          "creating cx.schema_migrations", err, errlen)) != CX_OK) {
        PQclear(PQexec(conn, "ROLLBACK"));
        goto done;
    }
    /* A newer cxpulse migrated this database: what its schema is, this one
     * cannot tell (calling it up to date at our version would be false). */
    PGresult *latest = PQexec(conn, "SELECT coalesce(max(version), 0) FROM cx.schema_migrations");
    st = cx__pg_check(conn, latest, "reading the schema version", err, errlen);
    int found = st == CX_OK ? (int)strtol(PQgetvalue(latest, 0, 0), NULL, 10) : 0;
    PQclear(latest);
    if (st == CX_OK && found > cx_pg_schema_version())
        st = cx_errf(err, errlen, CX_ERR_FATAL,
                     "the cx schema is at version %d, newer than this cxpulse knows (%d): use a "
                     "cxpulse at least as new as the one that migrated it",
                     found, cx_pg_schema_version());
    if (st != CX_OK)
        goto done;
    for (size_t i = 0; i < CX_ARRAY_LEN(migrations); i++) {
        const migration *m = &migrations[i];
        char version_s[16], what[128];
        const char *params[2] = {version_s, m->description};
        snprintf(version_s, sizeof version_s, "%d", m->version);
        snprintf(what, sizeof what, "migration %d (%s)", m->version, m->description);
        /* The advisory lock makes a concurrent migrate wait, then see the row:
         * for as long as the other takes (lock_timeout 0); the session's
         * lock_timeout, kept in cx.lock_timeout, is back for the migration. */
        if ((st =
                 cx__pg_exec(conn,
                             "BEGIN;"
                             "SELECT set_config('cx.lock_timeout', current_setting('lock_timeout'),"
                             " true);"
                             "SET LOCAL lock_timeout = 0;"
                             "SELECT pg_advisory_xact_lock(7242837001);"
                             "SELECT set_config('lock_timeout', current_setting('cx.lock_timeout'),"
                             " true)",
                             what, err, errlen)) != CX_OK)
            goto done;
        PGresult *res = PQexecParams(conn, "SELECT 1 FROM cx.schema_migrations WHERE version = $1",
                                     1, NULL, params, NULL, NULL, 0);
        st = cx__pg_check(conn, res, what, err, errlen);
        int done_already = st == CX_OK && PQntuples(res) == 1;
        PQclear(res);
        if (st == CX_OK && !done_already) {
            if ((st = run_waiting_briefly(conn, m->sql, what, err, errlen)) == CX_OK) {
                res = PQexecParams(conn,
                                   "INSERT INTO cx.schema_migrations (version, description) "
                                   "VALUES ($1, $2)",
                                   2, NULL, params, NULL, NULL, 0);
                st = cx__pg_check(conn, res, what, err, errlen);
                PQclear(res);
            }
        }
        if (st != CX_OK) {
            PQclear(PQexec(conn, "ROLLBACK"));
            goto done;
        }
        if ((st = cx__pg_exec(conn, "COMMIT", what, err, errlen)) != CX_OK)
            goto done;
        *applied += !done_already;
        *version = m->version;
    }
done:
    /* the run's lock, let go of here rather than with the connection: one
     * kept by a pooler's server connection would hold grants.sql up */
    PQclear(PQexec(conn, "SELECT pg_advisory_unlock_all()"));
    PQfinish(conn);
    return st;
}
