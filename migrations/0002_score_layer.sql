-- squawk-ignore-file require-concurrent-index-creation
-- (every index here is on a table created in this same migration: nothing to block)
-- Score layer (contract section 8): evaluators and their results, review
-- queues, items and annotations, and the typed scores both producers write.
-- Forward DDL only; the writers, views and grants live in sql/70_scores.sql.
-- Row-level security is switched on for every table below by the loop in
-- sql/10_tenancy.sql, which runs after every migration.

SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '10min';

SET ROLE scoreledger_owner;

-- ---------------------------------------------------------------------
-- Producers: automated
-- ---------------------------------------------------------------------

CREATE TABLE scoreledger_private.evaluators (
  tenant_id uuid NOT NULL REFERENCES scoreledger_private.tenants,
  evaluator_id uuid NOT NULL,
  name text NOT NULL CHECK (name ~ '\S'),
  -- {"field": {"type": "choice", "choices": [...]}, ...}: validated by
  -- register_evaluator; only type "choice" changes how a field is scored.
  output_schema jsonb NOT NULL CHECK (jsonb_typeof(output_schema) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, evaluator_id),
  UNIQUE (tenant_id, name)
);

CREATE TABLE scoreledger_private.evaluation_results (
  tenant_id uuid NOT NULL,
  result_id uuid NOT NULL,
  evaluator_id uuid NOT NULL,
  -- The session (a submission) the result is about; null: none, no scores.
  submission_id uuid,
  payload jsonb,
  error text CHECK (error ~ '\S'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- No FOREIGN KEYs: workers write results by the hundred thousand, and the
  -- row-by-row RI checks (each locking the referenced submission row) cost
  -- as much as the insert. The statement-level trigger
  -- tg_evaluation_results__references checks the same once per statement;
  -- submissions and evaluators are never deleted.
  PRIMARY KEY (tenant_id, result_id)
);

-- ---------------------------------------------------------------------
-- Producers: human
-- ---------------------------------------------------------------------

CREATE TABLE scoreledger_private.review_queues (
  tenant_id uuid NOT NULL REFERENCES scoreledger_private.tenants,
  queue_id uuid NOT NULL,
  name text NOT NULL CHECK (name ~ '\S'),
  form_schema jsonb NOT NULL CHECK (jsonb_typeof(form_schema) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, queue_id),
  UNIQUE (tenant_id, name)
);

CREATE TABLE scoreledger_private.review_items (
  tenant_id uuid NOT NULL,
  item_id uuid NOT NULL,
  queue_id uuid NOT NULL,
  -- A review item is about a submission, or only about a message (then its
  -- annotations have no score target and write no scores).
  submission_id uuid,
  message_ref text CHECK (message_ref ~ '\S'),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, item_id),
  FOREIGN KEY (tenant_id, queue_id) REFERENCES scoreledger_private.review_queues,
  FOREIGN KEY (tenant_id, submission_id) REFERENCES scoreledger_private.submissions,
  CHECK (submission_id IS NOT NULL OR message_ref IS NOT NULL)
);
CREATE INDEX review_items_by_queue ON scoreledger_private.review_items (tenant_id, queue_id);
CREATE INDEX review_items_by_submission ON scoreledger_private.review_items (tenant_id, submission_id)
  WHERE submission_id IS NOT NULL;

CREATE TABLE scoreledger_private.annotations (
  tenant_id uuid NOT NULL,
  annotation_id uuid NOT NULL,
  item_id uuid NOT NULL,
  reviewer_id uuid NOT NULL,
  data jsonb NOT NULL,
  status text NOT NULL CHECK (status IN ('draft', 'submitted')),
  is_authoritative boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- The last save in status submitted (kept when it goes back to draft).
  submitted_at timestamptz,
  PRIMARY KEY (tenant_id, annotation_id),
  FOREIGN KEY (tenant_id, item_id) REFERENCES scoreledger_private.review_items,
  CHECK (status = 'draft' OR submitted_at IS NOT NULL)
);
CREATE INDEX annotations_by_item ON scoreledger_private.annotations (tenant_id, item_id);

-- ---------------------------------------------------------------------
-- Scores: one typed value per (artefact, name), the artefact being an
-- evaluation result (automated) or an annotation (human).
-- ---------------------------------------------------------------------

CREATE TABLE scoreledger_private.scores (
  tenant_id uuid NOT NULL,
  -- Cached per session: a bulk write takes a thousand ids per sequence
  -- access instead of one.
  score_id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1000),
  submission_id uuid NOT NULL,
  -- At most 200 characters: the writers skip longer names with a warning
  -- (a name is part of an index key, and those have a size limit).
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  data_type text NOT NULL CHECK (data_type IN ('BOOLEAN', 'NUMERIC', 'CATEGORICAL')),
  value_numeric numeric,
  value_string text,
  evaluation_result_id uuid,
  annotation_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Keyed by an increasing number: every insert appends to the same few
  -- index pages. (Keyed by submission, each bulk write touched a page
  -- per session all over an index bigger than the buffer cache.)
  PRIMARY KEY (tenant_id, score_id),
  CHECK (num_nonnulls(evaluation_result_id, annotation_id) = 1),
  CHECK (CASE data_type
           WHEN 'CATEGORICAL' THEN value_string IS NOT NULL AND value_numeric IS NULL
           WHEN 'BOOLEAN' THEN value_numeric IN (0, 1) AND value_string IS NULL
           ELSE value_numeric IS NOT NULL AND value_string IS NULL
         END)
);
-- "The scores of a session": duplicate keys, which B-tree deduplication
-- stores once with a list of rows (a tenth of the size of a unique key per
-- row, so the index stays in memory while bulk writes spread over every
-- session).
CREATE INDEX scores_by_submission ON scoreledger_private.scores (tenant_id, submission_id);
-- The idempotency keys (ADR-0012/0013): one score per artefact and name.
-- Partial, so each is keyed by its own artefact column only.
CREATE UNIQUE INDEX scores_one_per_result_and_name ON scoreledger_private.scores (tenant_id, evaluation_result_id, name)
  WHERE evaluation_result_id IS NOT NULL;
CREATE UNIQUE INDEX scores_one_per_annotation_and_name ON scoreledger_private.scores (tenant_id, annotation_id, name)
  WHERE annotation_id IS NOT NULL;

-- Keys a writer skipped (null, array or object values, blank or overlong
-- names), per artefact; replaced with the artefact's scores. Keyed by a
-- number, not by name: a skipped name may be too long for an index.
CREATE TABLE scoreledger_private.score_write_warnings (
  tenant_id uuid NOT NULL,
  source_kind text NOT NULL CHECK (source_kind IN ('evaluation_result', 'annotation')),
  source_id uuid NOT NULL,
  warning_id bigint GENERATED ALWAYS AS IDENTITY,
  name text NOT NULL,
  submission_id uuid,
  json_type text NOT NULL,
  warning text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, source_kind, source_id, warning_id)
);

-- Writer failures: at most one open (unresolved) row per artefact; the next
-- successful write of the artefact sets resolved_at.
CREATE TABLE scoreledger_private.score_write_failures (
  tenant_id uuid NOT NULL,
  failure_id bigint GENERATED ALWAYS AS IDENTITY,
  source_kind text NOT NULL CHECK (source_kind IN ('evaluation_result', 'annotation')),
  source_id uuid NOT NULL,
  error text NOT NULL,
  sqlstate text,
  attempts integer NOT NULL DEFAULT 1 CHECK (attempts > 0),
  first_occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  resolved_at timestamptz,
  PRIMARY KEY (tenant_id, failure_id)
);
CREATE UNIQUE INDEX score_write_failures_one_open ON scoreledger_private.score_write_failures
  (tenant_id, source_kind, source_id) WHERE resolved_at IS NULL;

-- Where a forced backfill (--force) stopped, per tenant and producer, so
-- that a rerun after an interruption resumes instead of starting over.
CREATE TABLE scoreledger_private.score_backfill_cursors (
  tenant_id uuid NOT NULL REFERENCES scoreledger_private.tenants,
  source_kind text NOT NULL CHECK (source_kind IN ('evaluation_result', 'annotation')),
  last_id uuid NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (tenant_id, source_kind)
);

RESET ROLE;
