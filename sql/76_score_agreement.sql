-- =====================================================================
-- Score layer, part 7: agreement between raters (contract section 13).
-- Krippendorff's alpha over any number of raters with missing values, at
-- four levels of measurement, and Cohen's kappa per pair of raters, for
-- one score name -- computed in one statement, set-based: the coincidence
-- matrix is a GROUP BY over the values of each unit, never a loop.
-- No tables of its own: it reads the scores the writers keep.
--
-- Notation (Krippendorff, "Computing Krippendorff's Alpha-Reliability",
-- 2011): a unit u (a submission) holds m_u pairable values (m_u >= 2),
-- n_uc of them equal to c; the coincidence matrix is
--   o_ck = sum_u n_uc * (n_uk - [c = k]) / (m_u - 1),
-- its marginals n_c = sum_k o_ck = sum_u n_uc, n = sum_c n_c, and
--   alpha = 1 - (n - 1) * sum_ck o_ck d2(c,k) / sum_ck n_c n_k d2(c,k)
-- with d2 the level's squared distance (agreement_levels below).
-- =====================================================================

-- The levels of measurement, as data: their names, whether they need
-- numbers, and the distance they compare values by. The function below
-- and its error messages read this list; nothing else names the levels.
CREATE OR REPLACE FUNCTION scoreledger_private.agreement_levels()
RETURNS TABLE (level text, needs_numbers boolean, needs_non_negative boolean, distance text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  VALUES
    ('nominal', false, false, 'equal or not: 0 or 1'),
    ('ordinal', true, false, '(values ranked between the two, counting the two halfway)^2'),
    ('interval', true, false, '(c - k)^2'),
    ('ratio', true, true, '((c - k) / (c + k))^2, 0 when both are 0')
$$;

-- A score as a number for the numeric levels: numbers and booleans (1, 0)
-- as stored, strings that are decimal numbers (a choice field declared
-- with choices "1".."5") as those numbers; other strings: null.
CREATE OR REPLACE FUNCTION scoreledger_private.score_number(value_numeric numeric, value_string text)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT coalesce(value_numeric,
                  CASE WHEN value_string ~ '^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$'
                       THEN value_string::numeric END)
$$;

-- The squared distance d2(c,k) of two values at a level, written once: the
-- observed disagreement sums it over the coincidence matrix, the expected
-- one over all pairs of values (or its closed form, see score_agreement).
-- c and k are the values' keys (equal keys: distance 0), x_c and x_k their
-- positions on the level's scale (the number, or the ordinal mid-rank).
-- Ratio values are never negative here (score_agreement refuses them), so
-- c + k is 0 only when both are 0, and then they are equal.
CREATE OR REPLACE FUNCTION scoreledger_private.agreement_distance(level text, c text, k text, x_c numeric, x_k numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE
           WHEN c = k THEN 0
           WHEN level = 'nominal' THEN 1
           WHEN level = 'ratio' THEN ((x_c - x_k) / nullif(x_c + x_k, 0)) * ((x_c - x_k) / nullif(x_c + x_k, 0))
           ELSE (x_c - x_k) * (x_c - x_k)
         END
$$;

-- The ratings of one score name: one value per (unit, rater). A reviewer's
-- value for a submission is the score of that name from the latest
-- submitted annotation (authoritative or not) of theirs that carries it;
-- an evaluator's, from its most recently written result that carries it.
-- With a queue, only that queue's annotations count, and only submissions
-- that are items of the queue are units for the evaluators too.
-- Raters are keyed by id: a reviewer's user id, an evaluator's id.
CREATE OR REPLACE FUNCTION scoreledger_private.agreement_ratings(tenant uuid, score_name text, queue uuid,
                                                                 include_automated boolean)
RETURNS TABLE (unit uuid, rater uuid, source text, evaluator text, data_type text, value_text text,
               value_number numeric)
LANGUAGE sql STABLE
AS $$
  SELECT h.submission_id, h.reviewer_id, 'human', NULL::text, h.data_type,
         scoreledger_private.score_text(h.value_numeric, h.value_string),
         scoreledger_private.score_number(h.value_numeric, h.value_string)
  FROM (
    SELECT DISTINCT ON (s.submission_id, a.reviewer_id)
           s.submission_id, a.reviewer_id, s.data_type, s.value_numeric, s.value_string
    FROM scoreledger_private.scores s
    JOIN scoreledger_private.annotations a ON a.tenant_id = s.tenant_id AND a.annotation_id = s.annotation_id
    WHERE s.tenant_id = tenant AND s.name = score_name AND s.annotation_id IS NOT NULL
      AND a.status = 'submitted'
      AND (queue IS NULL OR EXISTS (SELECT 1 FROM scoreledger_private.review_items i
                                    WHERE i.tenant_id = a.tenant_id AND i.item_id = a.item_id AND i.queue_id = queue))
    ORDER BY s.submission_id, a.reviewer_id, a.submitted_at DESC, s.score_id DESC
  ) h
  UNION ALL
  SELECT m.submission_id, m.evaluator_id, 'automated', e.name, m.data_type,
         scoreledger_private.score_text(m.value_numeric, m.value_string),
         scoreledger_private.score_number(m.value_numeric, m.value_string)
  FROM (
    SELECT DISTINCT ON (s.submission_id, r.evaluator_id)
           s.submission_id, r.evaluator_id, s.data_type, s.value_numeric, s.value_string
    FROM scoreledger_private.scores s
    JOIN scoreledger_private.evaluation_results r ON r.tenant_id = s.tenant_id AND r.result_id = s.evaluation_result_id
    WHERE include_automated AND s.tenant_id = tenant AND s.name = score_name AND s.evaluation_result_id IS NOT NULL
      AND (queue IS NULL OR EXISTS (SELECT 1 FROM scoreledger_private.review_items i
                                    WHERE i.tenant_id = s.tenant_id AND i.queue_id = queue
                                      AND i.submission_id = s.submission_id))
    ORDER BY s.submission_id, r.evaluator_id, r.updated_at DESC, s.score_id DESC
  ) m
  JOIN scoreledger_private.evaluators e ON e.tenant_id = tenant AND e.evaluator_id = m.evaluator_id
$$;

CREATE OR REPLACE FUNCTION scoreledger.score_agreement(name text, level text DEFAULT NULL, queue_id uuid DEFAULT NULL,
                                                       include_automated boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- The statement's estimated cost passes jit_above_cost from a few tens of
-- thousands of ratings on; compiled, 10,000 ratings took 3 s instead of
-- 0.12 s (all JIT thresholds at 0, measured).
SET jit = off
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  -- As given: a score's name is its JSON key, spaces and all.
  score_name text := score_agreement.name;
  document jsonb;
  problem text;
BEGIN
  -- A read: one statement, so one snapshot at any isolation level.
  IF score_name IS NULL OR btrim(score_name, E' \t\r\n') = '' THEN
    PERFORM scoreledger_private.fail('SL422', 'name: must be a non-empty string');
  END IF;
  PERFORM scoreledger_private.require_text_within('name', score_name, scoreledger_private.input_limit('name_chars'));
  IF level IS NOT NULL AND NOT EXISTS (SELECT 1 FROM scoreledger_private.agreement_levels() l
                                       WHERE l.level = score_agreement.level) THEN
    PERFORM scoreledger_private.fail('SL422', format('level: must be one of %s (or null: nominal for choices and booleans, interval for numbers)',
      (SELECT string_agg(l.level, ', ' ORDER BY l.level = 'ratio', l.level = 'interval', l.level = 'ordinal')
       FROM scoreledger_private.agreement_levels() l)));
  END IF;
  IF include_automated IS NULL THEN
    PERFORM scoreledger_private.fail('SL422', 'include_automated: must be true or false');
  END IF;
  IF queue_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM scoreledger_private.review_queues q
                                          WHERE q.tenant_id = tenant AND q.queue_id = score_agreement.queue_id) THEN
    PERFORM scoreledger_private.fail('SL404', format('queue_id: review queue %s does not exist', queue_id));
  END IF;
  IF NOT EXISTS (SELECT 1 FROM scoreledger_private.scores s WHERE s.tenant_id = tenant AND s.name = score_name) THEN
    PERFORM scoreledger_private.fail('SL404', format('name: no score named %L in this tenant', score_name));
  END IF;

  WITH ratings AS MATERIALIZED (
    SELECT * FROM scoreledger_private.agreement_ratings(tenant, score_name, score_agreement.queue_id,
                                                        score_agreement.include_automated)
  ), chosen AS (
    -- Contract: nominal for CATEGORICAL and BOOLEAN, interval for NUMERIC;
    -- names whose values mix types (or have none) are nominal.
    SELECT l.level, l.needs_numbers, l.needs_non_negative
    FROM scoreledger_private.agreement_levels() l
    WHERE l.level = coalesce(score_agreement.level,
                             (SELECT CASE WHEN bool_and(r.data_type = 'NUMERIC') THEN 'interval' ELSE 'nominal' END
                              FROM ratings r))
  ), keyed AS (
    -- Each value in the level's terms: `key` decides equality (the text
    -- without trailing zeros at nominal level, the number otherwise),
    -- `number` the distances of the numeric levels.
    SELECT r.unit, r.rater,
           CASE WHEN c.needs_numbers THEN trim_scale(r.value_number)::text ELSE r.value_text END AS key,
           r.value_number AS number
    FROM ratings r CROSS JOIN chosen c
  ), unusable AS (
    SELECT format('level: %s needs %s; a value of %L is %L (submission %s)', c.level,
                  CASE WHEN c.needs_non_negative THEN 'numbers of at least 0' ELSE 'numbers' END,
                  score_name, r.value_text, r.unit) AS problem
    FROM ratings r CROSS JOIN chosen c
    WHERE (c.needs_numbers AND r.value_number IS NULL) OR (c.needs_non_negative AND r.value_number < 0)
    ORDER BY r.unit, r.rater
    LIMIT 1
  ), unit_values AS (
    -- n_uc per pairable unit (m_u >= 2 values), with m_u.
    SELECT v.unit, v.key, v.number, v.n_uc, sum(v.n_uc) OVER (PARTITION BY v.unit) AS m_u
    FROM (SELECT k.unit, k.key, min(k.number) AS number, count(*) AS n_uc
          FROM keyed k
          WHERE NOT EXISTS (SELECT 1 FROM unusable)
          GROUP BY k.unit, k.key) v
  ), pairable AS (
    SELECT * FROM unit_values u WHERE u.m_u >= 2
  ), coincidences AS (
    -- The coincidence matrix o_ck (only the cells that occur).
    SELECT a.key AS c, b.key AS k,
           sum(a.n_uc * (b.n_uc - CASE WHEN a.key = b.key THEN 1 ELSE 0 END)::numeric / (a.m_u - 1)) AS o
    FROM pairable a JOIN pairable b ON b.unit = a.unit
    GROUP BY a.key, b.key
  ), marginals AS (
    -- n_c = sum_k o_ck = sum_u n_uc, exactly; x_c the value's position on
    -- the level's scale: the number (interval, ratio) or, for ordinal, its
    -- mid-rank among all pairable values (the values below it plus half
    -- of its own) -- the ordinal distance of Krippendorff's table is the
    -- squared difference of these positions.
    SELECT p.key, p.number, p.n_c,
           CASE WHEN c.level = 'ordinal' THEN sum(p.n_c) OVER (ORDER BY p.number) - p.n_c / 2.0 ELSE p.number END AS x
    FROM (SELECT u.key, min(u.number) AS number, sum(u.n_uc) AS n_c FROM pairable u GROUP BY u.key) p
    CROSS JOIN chosen c
  ), totals AS (
    SELECT sum(m.n_c) AS n, sum(m.n_c * m.n_c) AS sum_sq, sum(m.n_c * m.x) / nullif(sum(m.n_c), 0) AS mean_x
    FROM marginals m
  ), disagreement AS (
    SELECT
      -- observed: sum_ck o_ck d2(c,k), over the cells of the matrix
      (SELECT coalesce(sum(o.o * scoreledger_private.agreement_distance(c.level, o.c, o.k, mc.x, mk.x)), 0)
       FROM coincidences o
       JOIN marginals mc ON mc.key = o.c JOIN marginals mk ON mk.key = o.k) AS observed,
      -- expected: sum_ck n_c n_k d2(c,k), in closed form where the metric
      -- allows it (one pass over the marginals instead of V^2 pairs):
      -- nominal n^2 - sum n_c^2; interval and ordinal 2n sum n_c (x_c - mean)^2.
      CASE c.level
        WHEN 'nominal' THEN (SELECT t.n * t.n - t.sum_sq FROM totals t)
        WHEN 'ratio' THEN (SELECT coalesce(sum(mc.n_c * mk.n_c
                                               * scoreledger_private.agreement_distance(c.level, mc.key, mk.key, mc.x, mk.x)), 0)
                           FROM marginals mc CROSS JOIN marginals mk)
        ELSE (SELECT 2 * max(t.n) * sum(m.n_c * (m.x - t.mean_x) * (m.x - t.mean_x)) FROM marginals m CROSS JOIN totals t)
      END AS expected,
      (SELECT sum(o.o) FILTER (WHERE o.c = o.k) FROM coincidences o) AS matching
    FROM chosen c
  ), rater_list AS (
    SELECT r.rater, min(r.source) AS source, min(r.evaluator) AS evaluator, count(*) AS units
    FROM ratings r GROUP BY r.rater
  ), pair_units AS (
    SELECT a.rater AS rater_a, b.rater AS rater_b, a.key AS key_a, b.key AS key_b
    FROM keyed a JOIN keyed b ON b.unit = a.unit AND b.rater > a.rater
    WHERE NOT EXISTS (SELECT 1 FROM unusable)
  ), pair_totals AS (
    SELECT p.rater_a, p.rater_b, count(*) AS units, count(*) FILTER (WHERE p.key_a = p.key_b) AS agreeing
    FROM pair_units p GROUP BY p.rater_a, p.rater_b
  ), pair_chance AS (
    -- sum_c (units where a said c) * (units where b said c): N^2 times
    -- the chance agreement of Cohen's kappa.
    SELECT ma.rater_a, ma.rater_b, sum(ma.n * mb.n) AS chance
    FROM (SELECT p.rater_a, p.rater_b, p.key_a AS key, count(*) AS n FROM pair_units p GROUP BY 1, 2, 3) ma
    JOIN (SELECT p.rater_a, p.rater_b, p.key_b AS key, count(*) AS n FROM pair_units p GROUP BY 1, 2, 3) mb
      ON mb.rater_a = ma.rater_a AND mb.rater_b = ma.rater_b AND mb.key = ma.key
    GROUP BY ma.rater_a, ma.rater_b
  )
  SELECT (SELECT u.problem FROM unusable u),
         jsonb_build_object(
           'name', score_name,
           'level', c.level,
           'queue_id', score_agreement.queue_id,
           'include_automated', score_agreement.include_automated,
           'units', (SELECT count(DISTINCT r.unit) FROM ratings r),
           'pairable_units', (SELECT count(DISTINCT p.unit) FROM pairable p),
           'raters', (SELECT count(*) FROM rater_list),
           'pairable_values', coalesce(t.n, 0),
           'alpha', CASE WHEN d.expected > 0 THEN 1 - (t.n - 1) * d.observed / d.expected END,
           'observed_agreement', CASE WHEN t.n > 0 THEN coalesce(d.matching, 0) / t.n END,
           'rater_list', coalesce((SELECT jsonb_agg(jsonb_build_object('rater', l.rater, 'source', l.source,
                                                                       'evaluator', l.evaluator, 'units', l.units)
                                                    ORDER BY l.source DESC, l.evaluator, l.rater)
                                   FROM rater_list l), '[]'),
           'pairs', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                       'rater_a', p.rater_a, 'rater_b', p.rater_b, 'units', p.units,
                                       'kappa', CASE WHEN p.units * p.units > coalesce(x.chance, 0)
                                                     THEN (p.agreeing * p.units - coalesce(x.chance, 0))::numeric
                                                          / (p.units * p.units - coalesce(x.chance, 0)) END,
                                       'agreement', p.agreeing::numeric / p.units)
                                     ORDER BY p.rater_a, p.rater_b)
                              FROM pair_totals p
                              -- no row: the two never used a common value (chance agreement 0)
                              LEFT JOIN pair_chance x ON x.rater_a = p.rater_a AND x.rater_b = p.rater_b), '[]'))
    INTO problem, document
  FROM chosen c CROSS JOIN totals t CROSS JOIN disagreement d;

  IF problem IS NOT NULL THEN
    PERFORM scoreledger_private.fail('SL422', problem);
  END IF;
  RETURN document;
END
$$;
COMMENT ON FUNCTION scoreledger.score_agreement(text, text, uuid, boolean) IS
  'Agreement between raters on one score name: Krippendorff''s alpha at level nominal|ordinal|interval|ratio (default nominal for choices and booleans, interval for numbers; any number of raters, missing values allowed), observed_agreement (the share of pairable value pairs that are equal), and Cohen''s kappa with raw agreement for every pair of raters that rated a unit in common. Units are submissions; a reviewer''s value is from their latest submitted annotation carrying the name (authoritative or not); with include_automated each evaluator is a rater too (its latest result); queue_id limits to that queue''s annotations and items. Figures unrounded, null where undefined. SL422 for a bad name or level (or values the level cannot compare), SL404 for an unknown queue or a name no score has.';
GRANT EXECUTE ON FUNCTION scoreledger.score_agreement(text, text, uuid, boolean) TO scoreledger_app;
