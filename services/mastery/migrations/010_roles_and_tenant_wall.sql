-- Least privilege: the mastery service reads the attempts log through its contract view (granted
-- in attempts/010), upserts its read model and policies, appends to its change log (never edited)
-- and deletes outbox rows once its relay has published them. `mastery rebuild` empties the read
-- model with TRUNCATE, which row-level security does not cover: it runs as the owner.
GRANT SELECT, INSERT, UPDATE
    ON proficiencies, mastery_evidence, standard_policies, tenant_default_policies
    TO gradebook_mastery;
GRANT SELECT, INSERT ON mastery_changes TO gradebook_mastery;
GRANT SELECT, INSERT, DELETE ON mastery_outbox TO gradebook_mastery;
GRANT USAGE ON SEQUENCE mastery_outbox_position_seq, mastery_changes_position_seq
    TO gradebook_mastery;

-- The tenant wall (see attempts/010): rows of the connection's tenant, or all with '*'.
ALTER TABLE proficiencies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON proficiencies
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE mastery_evidence ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON mastery_evidence
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE standard_policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON standard_policies
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE tenant_default_policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON tenant_default_policies
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE mastery_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON mastery_changes
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE mastery_outbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON mastery_outbox
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');
