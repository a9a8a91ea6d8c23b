-- squawk-ignore-file require-concurrent-index-creation
-- (yoyo runs a migration in one transaction, where CONCURRENTLY cannot run;
-- items are content, thousands of rows per tenant, not submissions.)
-- Item tags (contract section 12): an item of a published version may carry
-- tags, part of its immutable document, so a correction can target every
-- item carrying one. Existing items carry none. The two indexes serve the
-- expansion of a corrections document at batch creation: every version
-- containing a question version, every item carrying a tag.
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '10min';

SET ROLE scoreledger_owner;

ALTER TABLE scoreledger_private.items ADD COLUMN tags text[] NOT NULL DEFAULT '{}';

CREATE INDEX items_by_question ON scoreledger_private.items (tenant_id, question_version_id);
CREATE INDEX items_by_tag ON scoreledger_private.items USING gin (tags);

RESET ROLE;
