-- Roles for the compose installation; run once by the postgres image when its
-- data volume is first initialized (/docker-entrypoint-initdb.d), as the
-- superuser, in the database cx.
--   cxpulse_admin   owns the database and the cx schema: `cxpulse migrate`
--                   creates and upgrades it, and the `grants` service applies
--                   deploy/sql/grants.sql after it. Not a superuser.
--   cxpulse         what `cxpulse run` connects as: a member of
--                   cxpulse_runtime (rows of cx, TEMP tables; no DDL).
--   grafana_reader  what Grafana connects as: a member of cxpulse_analyst
--                   (read-only on the cx schema).
-- The group roles and their privileges are in deploy/sql/grants.sql
-- (docs/privileges.md). The passwords match compose.yaml and the Grafana
-- datasource; change them together for anything but a local trial.
CREATE ROLE cxpulse_admin LOGIN PASSWORD 'cxpulse_admin';
ALTER DATABASE cx OWNER TO cxpulse_admin;
CREATE SCHEMA cx AUTHORIZATION cxpulse_admin;
-- PostgreSQL 15 no longer lets every role create objects in schema public;
-- the same for TEMP tables on this database: only the roles granted it.
REVOKE TEMPORARY ON DATABASE cx FROM PUBLIC;

CREATE ROLE cxpulse_runtime NOLOGIN;
CREATE ROLE cxpulse_analyst NOLOGIN;
CREATE ROLE cxpulse_owner NOLOGIN;   -- for people: `cxpulse tickets`, `notifications`

CREATE ROLE cxpulse LOGIN PASSWORD 'cxpulse' IN ROLE cxpulse_runtime;

CREATE ROLE grafana_reader LOGIN PASSWORD 'grafana_reader' IN ROLE cxpulse_analyst;
ALTER ROLE grafana_reader SET default_transaction_read_only = on;
ALTER ROLE grafana_reader SET statement_timeout = '30s';
