-- advisory-locks.sql - lets only cxpulse's roles take advisory locks in the
-- cx database (docs/privileges.md, "Other roles' functions and locks"):
--   psql -v ON_ERROR_STOP=1 -f deploy/sql/advisory-locks.sql URL
-- Run it as a superuser (the functions are the bootstrap superuser's) after
-- grants.sql has made the group roles, and again after those roles change or
-- a dump is restored by a role that is not a superuser; running it again
-- otherwise changes nothing.
-- PostgreSQL lets every role take advisory locks, and cxpulse orders its
-- writers with them: a session of any other role (a read-only dashboard's
-- too) holding one of cxpulse's keys would stall every batch while it held
-- it. Afterwards only cxpulse_runtime, cxpulse_owner, the cx schema's owner
-- and superusers may call the advisory-lock functions in this database; the
-- rights are the database's own, so other databases of the server keep
-- theirs. Other programs that take advisory locks in this database need a
-- grant too: GRANT EXECUTE ON FUNCTION pg_advisory_lock(bigint) TO them.
\set ON_ERROR_STOP on
BEGIN;
SET LOCAL search_path = pg_catalog, pg_temp;
DO $$
DECLARE
    f regprocedure;
    schema_owner name := (SELECT pg_get_userbyid(nspowner) FROM pg_namespace
                          WHERE nspname = 'cx');
    roles text;
BEGIN
    IF schema_owner IS NULL THEN
        RAISE EXCEPTION 'the cx schema does not exist: run cxpulse migrate and grants.sql first';
    END IF;
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'run this as a superuser: the advisory-lock functions are %''s',
            (SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'pg_advisory_lock'
             LIMIT 1);
    END IF;
    SELECT string_agg(quote_ident(r), ', ') INTO roles
      FROM (SELECT 'cxpulse_runtime' AS r UNION SELECT 'cxpulse_owner'
            UNION SELECT schema_owner) w
     WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = w.r);
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'pg_catalog'::regnamespace
                AND p.proname LIKE 'pg\_%advisory\_%' LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', f, roles);
    END LOOP;
END
$$;
COMMIT;
