-- Writers refuse at SERIALIZABLE (contract section 10); reads work. The body is
-- shared with the other isolation level's file.
BEGIN ISOLATION LEVEL SERIALIZABLE;
SET LOCAL client_min_messages = warning;
\ir shared/isolation_refusals.psql
ROLLBACK;
