-- The mastery read model: current proficiency per tenant + student + standard.
-- `state` is the projector's full fold state; the other columns are what queries read.
CREATE TABLE proficiencies (
    tenant_id text NOT NULL,
    student_id text NOT NULL,
    standard_id text NOT NULL,
    score double precision,
    level double precision,
    level_label text,
    mastered boolean NOT NULL,
    method text NOT NULL,
    evidence_count integer NOT NULL,
    last_assessed_at timestamptz,
    last_bus_sequence bigint NOT NULL,
    state jsonb NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, student_id, standard_id)
);

-- Where each projector got to on its stream; written in the same transaction as the read model.
CREATE TABLE projector_checkpoints (
    projector text PRIMARY KEY,
    last_sequence bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mastery_outbox (
    position bigserial PRIMARY KEY,
    tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    tenant_id text NOT NULL,
    subject text NOT NULL,
    msg_id text NOT NULL,
    payload bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX mastery_outbox_horizon ON mastery_outbox (tx_id, position);
