-- The default letters became level bands (3.5/3/2.5/2 on the 1-4 scale, as positions on any
-- scale) instead of 90/80/70/60 % of the maximum. The projector stored the old default, written
-- out, in each standard's effective policy and each state's policy: where the standard's own
-- definition names no letters, those were the default and become the new one. A standard whose
-- definition carries letters keeps them, whatever they are. (The tenant's letters are new: no
-- stored policy took them yet.)
UPDATE standard_policies
SET policy = jsonb_set(policy, '{letters}', '[{"letter":"A","min_fraction":null,"min_score":null,"min_position":0.8333333333333334},{"letter":"B","min_fraction":null,"min_score":null,"min_position":0.6666666666666666},{"letter":"C","min_fraction":null,"min_score":null,"min_position":0.5},{"letter":"D","min_fraction":null,"min_score":null,"min_position":0.3333333333333333},{"letter":"F","min_fraction":null,"min_score":null,"min_position":0.0}]'::jsonb)
WHERE policy -> 'letters' = '[{"letter":"A","min_fraction":0.9},{"letter":"B","min_fraction":0.8},{"letter":"C","min_fraction":0.7},{"letter":"D","min_fraction":0.6},{"letter":"F","min_fraction":0.0}]'::jsonb
  AND jsonb_typeof(definition -> 'letters') IS DISTINCT FROM 'array';

UPDATE proficiencies p
SET state = jsonb_set(p.state::jsonb, '{policy,letters}', '[{"letter":"A","min_fraction":null,"min_score":null,"min_position":0.8333333333333334},{"letter":"B","min_fraction":null,"min_score":null,"min_position":0.6666666666666666},{"letter":"C","min_fraction":null,"min_score":null,"min_position":0.5},{"letter":"D","min_fraction":null,"min_score":null,"min_position":0.3333333333333333},{"letter":"F","min_fraction":null,"min_score":null,"min_position":0.0}]'::jsonb)::json
WHERE p.state::jsonb -> 'policy' -> 'letters' = '[{"letter":"A","min_fraction":0.9},{"letter":"B","min_fraction":0.8},{"letter":"C","min_fraction":0.7},{"letter":"D","min_fraction":0.6},{"letter":"F","min_fraction":0.0}]'::jsonb
  AND NOT EXISTS (
      SELECT 1 FROM standard_policies s
      WHERE s.tenant_id = p.tenant_id AND s.standard_id = p.standard_id
        AND jsonb_typeof(s.definition -> 'letters') = 'array'
  );
