-- Shared helpers of the governance files (50_governance and the state
-- machine's tests): named actors. Loaded after helpers.sql.

-- The id of a named actor ('maker', 'checker', 'admin', ...).
CREATE OR REPLACE FUNCTION tests.actor(name text) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
  SELECT tests.uuid_of(name, 1)
$$;

-- Act as the application in tenant `tenant` (by number) as the named actor.
CREATE OR REPLACE FUNCTION tests.act_as(who text, tenant int DEFAULT 1) RETURNS void LANGUAGE sql AS $$
  SELECT tests.authenticate_as(tests.uuid_of('tenant', tenant), tests.actor(who))
$$;

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tests TO PUBLIC;
