-- Read your writes and resync: how far the read model has got in the attempt log.
-- `log_position` (per tenant) is a watermark W: every event of the tenant's attempt log at or
-- below W has been applied. `pending_position` and `pending_horizon` are a claim waiting to be
-- proved: every position at or below pending_position was taken by a transaction with an id
-- below pending_horizon, so once every transaction below it has ended, nothing at or below
-- pending_position can still commit. The projector raises them after each batch; reads go
-- further on their own without writing (docs/architecture.md, "Reading your writes").
CREATE TABLE read_model_positions (
    tenant_id text PRIMARY KEY,
    log_position bigint NOT NULL,
    pending_position bigint NOT NULL,
    pending_horizon bigint NOT NULL,  -- a full (64-bit) transaction id
    updated_at timestamptz NOT NULL
);

-- Student streams say how far they got in their state (`last_version`); standard and tenant
-- policy streams say it here: the highest version of each the projector has applied.
CREATE TABLE applied_policy_versions (
    tenant_id text NOT NULL,
    stream_id text NOT NULL,
    stream_version integer NOT NULL,
    PRIMARY KEY (tenant_id, stream_id)
);

-- A tenant's newest mastery change, for the resync's change-log position.
CREATE INDEX mastery_changes_tenant_position ON mastery_changes (tenant_id, position);

GRANT SELECT, INSERT, UPDATE ON read_model_positions, applied_policy_versions TO gradebook_mastery;

ALTER TABLE read_model_positions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON read_model_positions
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE applied_policy_versions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON applied_policy_versions
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');
