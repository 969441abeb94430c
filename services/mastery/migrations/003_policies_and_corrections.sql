-- Each standard's calculation policy as the projector last saw it (from standard_defined.v1 and
-- tenant_policy_set.v1 on the attempts stream), so attempts are calculated the standard's way.
CREATE TABLE standard_policies (
    tenant_id text NOT NULL,
    standard_id text NOT NULL,
    definition jsonb NOT NULL,  -- the standard_defined.v1 event
    policy jsonb NOT NULL,      -- the effective calculation policy
    PRIMARY KEY (tenant_id, standard_id)
);

CREATE TABLE tenant_default_policies (
    tenant_id text PRIMARY KEY,
    policy jsonb NOT NULL  -- the tenant_policy_set.v1 event
);

-- Voided evidence stays (the log keeps everything) but leaves every calculation. A correction
-- applies only if it is newer in its stream than the last one applied, so a redelivered older
-- rescore cannot undo a newer one.
ALTER TABLE mastery_evidence ADD COLUMN voided boolean NOT NULL DEFAULT false;
ALTER TABLE mastery_evidence ADD COLUMN corrected_version bigint NOT NULL DEFAULT 0;
