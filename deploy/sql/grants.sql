-- grants.sql - the privileges cxpulse needs, and no more, for two group roles:
--
--   cxpulse_runtime  `cxpulse run`, `reclassify`, `tickets`, `notifications`, `dead-letters`:
--                    reads and writes the rows of the cx schema's tables (no
--                    DDL, no TRUNCATE, DELETE only on cx.signals, where
--                    reclassification removes emptied signal rows), reads
--                    cx.schema_migrations, and creates TEMP tables: each
--                    connection stages a batch in session-local temporary
--                    tables, so the role needs TEMP on the database.
--   cxpulse_analyst  read-only: SELECT on every table and view of cx.
--
-- Login roles get these by membership, e.g.
--   CREATE ROLE cxpulse LOGIN PASSWORD '...' IN ROLE cxpulse_runtime;
--   CREATE ROLE grafana_reader LOGIN PASSWORD '...' IN ROLE cxpulse_analyst;
--
-- Run it with psql, connected to the cx database as the owner of the cx schema
-- (the role `cxpulse migrate` connects as) or a superuser, after every
-- `cxpulse migrate`; it is idempotent. Tables a later migration creates get
-- the same privileges as the tables of their kind here through default
-- privileges, until this file runs again. The two roles are created when
-- missing, which needs CREATEROLE; an administrator can create them first
-- (CREATE ROLE cxpulse_runtime NOLOGIN; CREATE ROLE cxpulse_analyst NOLOGIN).
-- docs/privileges.md explains each grant.

\set ON_ERROR_STOP on

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
