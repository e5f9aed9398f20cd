-- Roles for the compose installation; run once by the postgres image when its
-- data volume is first initialized (/docker-entrypoint-initdb.d), as the
-- superuser, in the database cx.
--   cxpulse         owns the cx schema: `cxpulse migrate` creates and upgrades
--                   it, `cxpulse run` writes to it. Not a superuser.
--   grafana_reader  what Grafana connects as: read-only on the cx schema,
--                   including the tables and views migrations add later.
-- The passwords match compose.yaml and the Grafana datasource; change all three
-- together for anything but a local trial.
CREATE ROLE cxpulse LOGIN PASSWORD 'cxpulse';
ALTER DATABASE cx OWNER TO cxpulse;
CREATE SCHEMA cx AUTHORIZATION cxpulse;

CREATE ROLE grafana_reader LOGIN PASSWORD 'grafana_reader';
ALTER ROLE grafana_reader SET default_transaction_read_only = on;
ALTER ROLE grafana_reader SET statement_timeout = '30s';
GRANT CONNECT ON DATABASE cx TO grafana_reader;
GRANT USAGE ON SCHEMA cx TO grafana_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE cxpulse IN SCHEMA cx GRANT SELECT ON TABLES TO grafana_reader;
