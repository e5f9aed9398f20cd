-- grants.sql - the privileges cxpulse needs, and no more, for three group roles:
--
--   cxpulse_runtime  `cxpulse run`, `reclassify`, `tickets`, `notifications`, `dead-letters`:
--                    reads and writes the rows of the cx schema's tables (no
--                    DDL, no TRUNCATE, DELETE only on cx.signals, where
--                    reclassification removes emptied signal rows), reads
--                    cx.schema_migrations, and creates TEMP tables: each
--                    connection stages a batch in session-local temporary
--                    tables, so the role needs TEMP on the database.
--   cxpulse_analyst  read-only: SELECT on every table and view of cx.
--   cxpulse_owner    the owners' and on-call's commands, `cxpulse tickets` and
--                    `cxpulse notifications`: reads tickets and notifications,
--                    changes a ticket's status and queues a notification
--                    again, and nothing else (no events, no new notifications,
--                    no ticket text). Created when missing if this role may;
--                    else skipped with a warning.
--
-- Login roles get these by membership, e.g.
--   CREATE ROLE cxpulse LOGIN PASSWORD '...' IN ROLE cxpulse_runtime;
--   CREATE ROLE grafana_reader LOGIN PASSWORD '...' IN ROLE cxpulse_analyst;
--
-- Run it with psql, connected to the cx database as the owner of the cx schema
-- (the role `cxpulse migrate` connects as) or a superuser, after every
-- `cxpulse migrate`; it is idempotent. Tables a later migration creates get
-- the same privileges as the tables of their kind here through default
-- privileges, until this file runs again. The runtime and analyst roles are created when
-- missing, which needs CREATEROLE; an administrator can create them first
-- (CREATE ROLE cxpulse_runtime NOLOGIN; CREATE ROLE cxpulse_analyst NOLOGIN).
-- docs/privileges.md explains each grant.

\set ON_ERROR_STOP on

-- All or nothing, one run at a time, and none while `cxpulse migrate` runs:
-- it waits for a migrate's whole run (its first lock, which migrate holds to
-- its end: between two migrations the schema is half made), then takes the
-- migrations' lock (two sessions granting at once fail with "tuple
-- concurrently updated"). The locks are the transaction's, released at its
-- end: a session lock would stay held after psql ends when a
-- transaction-mode pooler (PgBouncer) keeps the server connection, and hold
-- every later migrate up.
BEGIN;
-- names are looked up in pg_catalog alone: a function another role put in
-- public that fits a call here more closely would otherwise run as you
SET LOCAL search_path = pg_catalog, pg_temp;
SELECT pg_advisory_xact_lock(7242837003) AS migrated \gset
SELECT pg_advisory_xact_lock(7242837001) AS locked \gset

DO $$
DECLARE
    missing text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cxpulse_runtime') THEN
        CREATE ROLE cxpulse_runtime NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cxpulse_analyst') THEN
        CREATE ROLE cxpulse_analyst NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cxpulse_owner') THEN
        IF (SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            CREATE ROLE cxpulse_owner NOLOGIN;
        ELSE
            RAISE WARNING 'role cxpulse_owner does not exist and % may not create it: its grants'
                          ' are skipped (an administrator can CREATE ROLE cxpulse_owner NOLOGIN'
                          ' and run this file again)', current_user;
        END IF;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'cx') THEN
        RAISE EXCEPTION 'the cx schema does not exist: run cxpulse migrate first';
    END IF;
    -- The database: connect; the runtime also creates temporary staging tables.
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO cxpulse_runtime, cxpulse_analyst',
                   current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO cxpulse_runtime', current_database());
    -- A schema owner that does not own the database may not grant on it, and
    -- PostgreSQL then only warns: say what is missing instead of leaving a
    -- runtime role that cannot connect or stage a batch.
    SELECT string_agg(format('%s has no %s on database %I', r, p, current_database()), '; ')
      INTO missing
      FROM (VALUES ('cxpulse_runtime', 'CONNECT'), ('cxpulse_runtime', 'TEMPORARY'),
                   ('cxpulse_analyst', 'CONNECT')) AS w(r, p)
     WHERE NOT has_database_privilege(r, current_database(), p);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION '%', missing
          USING HINT = format('the database''s owner or a superuser can grant it:'
                              ' GRANT CONNECT, TEMPORARY ON DATABASE %1$I TO cxpulse_runtime;'
                              ' GRANT CONNECT ON DATABASE %1$I TO cxpulse_analyst',
                              current_database());
    END IF;
    -- Tables later migrations create, by the schema's owner.
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA cx'
                   ' GRANT SELECT, INSERT, UPDATE ON TABLES TO cxpulse_runtime',
                   (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'cx'));
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA cx'
                   ' GRANT SELECT ON TABLES TO cxpulse_analyst',
                   (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'cx'));
END
$$;

GRANT USAGE ON SCHEMA cx TO cxpulse_runtime, cxpulse_analyst;

-- The runtime: rows only.
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA cx TO cxpulse_runtime;
GRANT DELETE ON cx.signals TO cxpulse_runtime;  -- reclassify: emptied signal rows
REVOKE INSERT, UPDATE, DELETE ON cx.schema_migrations FROM cxpulse_runtime;  -- migrate's own

-- The analyst: reads everything, writes nothing.
GRANT SELECT ON ALL TABLES IN SCHEMA cx TO cxpulse_analyst;

-- Owners and on-call: tickets and their notifications, by column. The outbox's
-- triggers write the notifications a status change makes (with their owner's
-- rights, since schema version 18), so no INSERT: nobody with this role can
-- make the sender post a notification of their own.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'cxpulse_owner') THEN
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO cxpulse_owner', current_database());
        -- a warning, not an error: an upgrade where nobody has granted it yet
        -- keeps the service's grants
        IF NOT has_database_privilege('cxpulse_owner', current_database(), 'CONNECT') THEN
            RAISE WARNING 'cxpulse_owner has no CONNECT on database %: its members cannot'
                          ' connect until the database''s owner or a superuser runs'
                          ' GRANT CONNECT ON DATABASE % TO cxpulse_owner',
                          current_database(), quote_ident(current_database());
        END IF;
        GRANT USAGE ON SCHEMA cx TO cxpulse_owner;
        GRANT SELECT ON cx.tickets, cx.open_tickets, cx.notifications, cx.schema_migrations
          TO cxpulse_owner;
        GRANT UPDATE (status, updated_at, resolved_at) ON cx.tickets TO cxpulse_owner;
        GRANT UPDATE (status, next_attempt_at, attempts, sent_at, deliveries)
          ON cx.notifications TO cxpulse_owner;
    END IF;
END
$$;

COMMIT;
