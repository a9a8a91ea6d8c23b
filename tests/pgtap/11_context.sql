-- Issue 12 item 14: only set_context establishes a tenant context. The
-- settings it writes are honoured only together with the marker it sets
-- for its own transaction; anything else reads as no context (views empty,
-- SL401), never as another tenant and never as a cast error.
BEGIN;
SELECT plan(8);

SELECT scoreledger.create_tenant('context tenant', tests.uuid_of('tenant', 1101));
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1101), tests.uuid_of('actor', 1101));
SELECT tests.make_evaluation(1101);
SELECT tests.clear_context();

SET LOCAL ROLE scoreledger_app;
SELECT set_config('scoreledger.tenant_id', tests.uuid_of('tenant', 1101)::text, false);
SELECT set_config('scoreledger.actor_id', tests.uuid_of('actor', 1101)::text, false);
SELECT is(scoreledger.current_tenant(), NULL, 'a tenant set by SET (session level) is no context');
SELECT is(scoreledger.current_actor(), NULL, 'nor is an actor set that way');
SELECT is_empty($$SELECT * FROM scoreledger.evaluation_versions$$, 'the views show nothing under it');
SELECT tests.throws_code_like($$SELECT scoreledger.list_correction_batches()$$, 'SL401', '%no tenant context%',
                              'and the API refuses with SL401');

SELECT scoreledger.set_context(tests.uuid_of('tenant', 1101), tests.uuid_of('actor', 1101));
SELECT is(scoreledger.current_tenant(), tests.uuid_of('tenant', 1101), 'set_context establishes it');
SELECT isnt_empty($$SELECT * FROM scoreledger.evaluation_versions$$, 'and the tenant''s rows show');

SET LOCAL scoreledger.tenant_id = 'not-a-uuid';
SELECT is_empty($$SELECT * FROM scoreledger.evaluation_versions$$,
                'a malformed tenant setting shows no rows (not 22P02)');
SELECT tests.throws_code_like($$SELECT scoreledger.list_correction_batches()$$, 'SL401', '%no tenant context%',
                              'and the API says there is no context');

SELECT * FROM finish();
ROLLBACK;
