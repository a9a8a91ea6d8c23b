-- squawk-ignore-file require-concurrent-index-creation
-- (every index here is on a table created in this same migration: nothing to block)
-- Foundation: roles, schemas, content, submissions, score history, correction
-- batches. Forward DDL only; functions, views, policies and grants live in sql/
-- and are reloaded after every migration run.

-- Never queue behind a busy table for long: fail and let the operator retry.
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '10min';

-- Roles are cluster-wide and several databases may migrate at once, so creation
-- tolerates both "already exists" and the race on pg_authid's unique index.
DO $$
BEGIN
  BEGIN
    CREATE ROLE scoreledger_owner NOLOGIN;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;
  BEGIN
    CREATE ROLE scoreledger_app NOLOGIN;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;
END
$$;

-- Only when needed: two databases migrating at once would otherwise update
-- the same pg_authid rows concurrently.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname IN ('scoreledger_app', 'scoreledger_owner')
             AND (rolsuper OR rolbypassrls OR rolcreatedb OR rolcreaterole OR rolcanlogin)) THEN
    ALTER ROLE scoreledger_app NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOLOGIN;
    ALTER ROLE scoreledger_owner NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOLOGIN;
  END IF;
END
$$;

CREATE SCHEMA scoreledger AUTHORIZATION scoreledger_owner;
CREATE SCHEMA scoreledger_private AUTHORIZATION scoreledger_owner;
REVOKE ALL ON SCHEMA scoreledger_private FROM PUBLIC;
REVOKE ALL ON SCHEMA scoreledger FROM PUBLIC;
GRANT USAGE ON SCHEMA scoreledger TO scoreledger_app;

-- Every function the owner creates starts private; sql/ grants API functions
-- one by one.
ALTER DEFAULT PRIVILEGES FOR ROLE scoreledger_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

SET ROLE scoreledger_owner;

CREATE TABLE scoreledger_private.tenants (
  tenant_id uuid PRIMARY KEY,
  name text NOT NULL UNIQUE CHECK (name ~ '\S'),
  require_approval boolean NOT NULL DEFAULT false,
  enforce_capabilities boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE scoreledger_private.evaluations (
  tenant_id uuid NOT NULL REFERENCES scoreledger_private.tenants,
  evaluation_id uuid NOT NULL,
  title text NOT NULL CHECK (title ~ '\S'),
  PRIMARY KEY (tenant_id, evaluation_id)
);

CREATE TABLE scoreledger_private.evaluation_versions (
  tenant_id uuid NOT NULL,
  evaluation_version_id uuid NOT NULL,
  evaluation_id uuid NOT NULL,
  version_no integer NOT NULL CHECK (version_no > 0),
  title text NOT NULL,
  pass_mark numeric NOT NULL CHECK (pass_mark BETWEEN 0 AND 1),
  -- The normalised import document: re-imports compare against it.
  document jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, evaluation_version_id),
  UNIQUE (tenant_id, evaluation_id, version_no),
  UNIQUE (tenant_id, evaluation_version_id, evaluation_id),
  FOREIGN KEY (tenant_id, evaluation_id) REFERENCES scoreledger_private.evaluations
);

CREATE TABLE scoreledger_private.question_versions (
  tenant_id uuid NOT NULL REFERENCES scoreledger_private.tenants,
  question_version_id uuid NOT NULL,
  question_id uuid NOT NULL,
  kind text NOT NULL CHECK (kind IN ('single_choice', 'multiple_choice')),
  prompt text NOT NULL,
  options text[] NOT NULL CHECK (cardinality(options) BETWEEN 1 AND 63),
  correct text[] NOT NULL CHECK (cardinality(correct) >= 1),
  -- Option sets as bitmasks over `options` (bit i = options[i+1]): scoring a
  -- million answers is then integer arithmetic, not array set operations.
  correct_mask bigint NOT NULL CHECK (correct_mask <> 0),
  points numeric NOT NULL CHECK (points > 0),
  scoring text NOT NULL CHECK (scoring IN ('exact', 'partial')),
  PRIMARY KEY (tenant_id, question_version_id),
  CHECK (scoring = 'exact' OR kind = 'multiple_choice')
);

CREATE TABLE scoreledger_private.items (
  tenant_id uuid NOT NULL,
  evaluation_version_id uuid NOT NULL,
  question_version_id uuid NOT NULL,
  position integer NOT NULL CHECK (position > 0),
  PRIMARY KEY (tenant_id, evaluation_version_id, question_version_id),
  UNIQUE (tenant_id, evaluation_version_id, position),
  FOREIGN KEY (tenant_id, evaluation_version_id) REFERENCES scoreledger_private.evaluation_versions,
  FOREIGN KEY (tenant_id, question_version_id) REFERENCES scoreledger_private.question_versions
);

CREATE TABLE scoreledger_private.assignments (
  tenant_id uuid NOT NULL,
  assignment_id uuid NOT NULL,
  title text NOT NULL CHECK (title ~ '\S'),
  evaluation_id uuid NOT NULL,
  programme text,
  attempt_policy text NOT NULL CHECK (attempt_policy IN ('highest', 'latest', 'first')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, assignment_id),
  UNIQUE (tenant_id, assignment_id, evaluation_id),
  FOREIGN KEY (tenant_id, evaluation_id) REFERENCES scoreledger_private.evaluations
);

-- One row per (user, evaluation): the row lock serialises concurrent
-- recorders of the same learner so attempt numbers never collide.
CREATE TABLE scoreledger_private.attempt_counters (
  tenant_id uuid NOT NULL,
  evaluation_id uuid NOT NULL,
  user_id uuid NOT NULL,
  attempts integer NOT NULL CHECK (attempts >= 0),
  PRIMARY KEY (tenant_id, evaluation_id, user_id),
  FOREIGN KEY (tenant_id, evaluation_id) REFERENCES scoreledger_private.evaluations
);

CREATE TABLE scoreledger_private.submissions (
  tenant_id uuid NOT NULL,
  submission_id uuid NOT NULL,
  evaluation_version_id uuid NOT NULL,
  evaluation_id uuid NOT NULL,
  user_id uuid NOT NULL,
  assignment_id uuid,
  attempt_no integer NOT NULL CHECK (attempt_no > 0),
  submitted_at timestamptz NOT NULL,
  -- How many raw answers the submission has: answers inserted later than
  -- the recording would not match it (see tg_answers__complete_at_recording).
  answer_count integer NOT NULL CHECK (answer_count > 0),
  -- Set only by the score-history trigger: the latest history row's values.
  score numeric,
  max_score numeric,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, submission_id),
  UNIQUE (tenant_id, evaluation_id, user_id, attempt_no),
  FOREIGN KEY (tenant_id, evaluation_version_id, evaluation_id)
    REFERENCES scoreledger_private.evaluation_versions (tenant_id, evaluation_version_id, evaluation_id),
  FOREIGN KEY (tenant_id, assignment_id, evaluation_id)
    REFERENCES scoreledger_private.assignments (tenant_id, assignment_id, evaluation_id),
  CHECK ((score IS NULL) = (max_score IS NULL))
);
CREATE INDEX submissions_by_assignment ON scoreledger_private.submissions (tenant_id, assignment_id, user_id)
  WHERE assignment_id IS NOT NULL;

CREATE TABLE scoreledger_private.answers (
  tenant_id uuid NOT NULL,
  submission_id uuid NOT NULL,
  question_version_id uuid NOT NULL,
  selected text[] NOT NULL,
  selected_mask bigint NOT NULL,
  -- No FOREIGN KEY to submissions: a bulk recording writes a million rows
  -- here, and the row-by-row RI check cost more than the insert itself. The
  -- statement-level trigger complete_at_recording checks the same thing
  -- once per statement (sql/40_submissions.sql).
  PRIMARY KEY (tenant_id, submission_id, question_version_id)
);
-- Remediation finds the answers to one item without touching the others.
-- Keyed by question only: equal keys are ordered by heap position, so new
-- rows land at the end of each question's run (about 20 hot pages) instead
-- of at random uuid positions all over a large index.
CREATE INDEX answers_by_question ON scoreledger_private.answers (tenant_id, question_version_id);

CREATE TABLE scoreledger_private.correction_batches (
  tenant_id uuid NOT NULL REFERENCES scoreledger_private.tenants,
  batch_id uuid NOT NULL,
  status text NOT NULL CHECK (status IN
    ('draft', 'pending_review', 'approved', 'applied', 'reverted', 'rejected', 'discarded')),
  reason text NOT NULL CHECK (reason ~ '\S'),
  payload jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'array'),
  created_by uuid NOT NULL,
  -- clock_timestamp: batches created in one transaction still list in order.
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  applied_at timestamptz,
  applied_by uuid,
  -- Orders applies: the most recently applied replace_key wins.
  applied_seq bigint,
  apply_result jsonb,
  reverts_batch_id uuid,
  reverted_by_batch_id uuid,
  PRIMARY KEY (tenant_id, batch_id),
  UNIQUE (tenant_id, applied_seq),
  FOREIGN KEY (tenant_id, reverts_batch_id) REFERENCES scoreledger_private.correction_batches,
  FOREIGN KEY (tenant_id, reverted_by_batch_id) REFERENCES scoreledger_private.correction_batches,
  CHECK ((status IN ('applied', 'reverted')) = (applied_seq IS NOT NULL)),
  CHECK ((status IN ('applied', 'reverted')) = (applied_at IS NOT NULL AND applied_by IS NOT NULL)),
  CHECK ((status = 'reverted') = (reverted_by_batch_id IS NOT NULL)),
  CHECK (reverts_batch_id IS NULL OR status = 'applied')
);
CREATE SEQUENCE scoreledger_private.apply_seq;

-- The payload, normalised: one row per correction.
CREATE TABLE scoreledger_private.corrections (
  tenant_id uuid NOT NULL,
  batch_id uuid NOT NULL,
  ordinal integer NOT NULL,
  correction_type text NOT NULL CHECK (correction_type IN ('replace_key', 'drop_item', 'mark_correct')),
  evaluation_version_id uuid NOT NULL,
  question_version_id uuid NOT NULL,
  correct text[],
  correct_mask bigint,
  -- mark_correct limited to the submissions in correction_submissions.
  scoped boolean NOT NULL DEFAULT false,
  PRIMARY KEY (tenant_id, batch_id, ordinal),
  UNIQUE (tenant_id, batch_id, evaluation_version_id, question_version_id, correction_type),
  FOREIGN KEY (tenant_id, batch_id) REFERENCES scoreledger_private.correction_batches,
  FOREIGN KEY (tenant_id, evaluation_version_id, question_version_id) REFERENCES scoreledger_private.items,
  CHECK ((correction_type = 'replace_key') = (correct_mask IS NOT NULL)),
  CHECK (NOT scoped OR correction_type = 'mark_correct')
);
CREATE INDEX corrections_by_item ON scoreledger_private.corrections
  (tenant_id, evaluation_version_id, question_version_id);

CREATE TABLE scoreledger_private.correction_submissions (
  tenant_id uuid NOT NULL,
  batch_id uuid NOT NULL,
  ordinal integer NOT NULL,
  submission_id uuid NOT NULL,
  PRIMARY KEY (tenant_id, batch_id, ordinal, submission_id),
  FOREIGN KEY (tenant_id, batch_id, ordinal) REFERENCES scoreledger_private.corrections,
  FOREIGN KEY (tenant_id, submission_id) REFERENCES scoreledger_private.submissions
);

CREATE TABLE scoreledger_private.batch_events (
  tenant_id uuid NOT NULL,
  event_id bigint GENERATED ALWAYS AS IDENTITY,
  batch_id uuid NOT NULL,
  from_status text,
  to_status text NOT NULL,
  actor_id uuid,
  occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  note text,
  PRIMARY KEY (tenant_id, batch_id, event_id),
  FOREIGN KEY (tenant_id, batch_id) REFERENCES scoreledger_private.correction_batches
);

CREATE TABLE scoreledger_private.score_history (
  tenant_id uuid NOT NULL,
  history_id bigint GENERATED ALWAYS AS IDENTITY,
  submission_id uuid NOT NULL,
  correction_batch_id uuid,
  score numeric NOT NULL,
  max_score numeric NOT NULL CHECK (max_score >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Keyed by submission first: "latest row of a submission" is one index probe.
  -- Its references (submission, batch) are checked per statement by the
  -- trigger that moves the scores, not row by row (see answers).
  PRIMARY KEY (tenant_id, submission_id, history_id)
);

-- Which sql/ definitions are loaded, for `db status`. Not tenant data.
CREATE TABLE scoreledger_private.sql_definitions (
  file_name text PRIMARY KEY,
  sha256 text NOT NULL,
  loaded_at timestamptz NOT NULL
);

RESET ROLE;
