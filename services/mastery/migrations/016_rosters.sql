-- Rosters: each tenant's roster log (append-only, numbered 1, 2, ... per tenant) and its
-- projection, one table per kind of entity. A row's `data` is the entity's newest `*_defined`
-- event (shared/contract/events/roster.py); the columns queries join on are generated from it.
CREATE TABLE roster_log (
    tenant_id text NOT NULL,
    number bigint NOT NULL,
    event_type text NOT NULL,
    data jsonb NOT NULL,
    recorded_at timestamptz NOT NULL,
    -- The transaction that appended it: a relay that publishes the log reads it in horizon order.
    tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (tenant_id, number)
);

CREATE TABLE roster_orgs (
    tenant_id text NOT NULL,
    entity_id text NOT NULL,
    data jsonb NOT NULL,
    PRIMARY KEY (tenant_id, entity_id)
);

CREATE TABLE roster_terms (
    tenant_id text NOT NULL,
    entity_id text NOT NULL,
    data jsonb NOT NULL,
    PRIMARY KEY (tenant_id, entity_id)
);

CREATE TABLE roster_classes (
    tenant_id text NOT NULL,
    entity_id text NOT NULL,
    data jsonb NOT NULL,
    PRIMARY KEY (tenant_id, entity_id)
);

CREATE TABLE roster_people (
    tenant_id text NOT NULL,
    entity_id text NOT NULL,
    data jsonb NOT NULL,
    role text GENERATED ALWAYS AS (data ->> 'role') STORED,
    PRIMARY KEY (tenant_id, entity_id)
);

CREATE TABLE roster_enrollments (
    tenant_id text NOT NULL,
    entity_id text NOT NULL,
    data jsonb NOT NULL,
    class_id text GENERATED ALWAYS AS (data ->> 'class_id') STORED,
    person_id text GENERATED ALWAYS AS (data ->> 'person_id') STORED,
    role text GENERATED ALWAYS AS (data ->> 'role') STORED,
    PRIMARY KEY (tenant_id, entity_id)
);
CREATE INDEX roster_enrollments_by_class ON roster_enrollments (tenant_id, class_id, person_id);

-- The log is appended to and never edited; the projection follows it.
GRANT SELECT, INSERT ON roster_log TO gradebook_mastery;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON roster_orgs, roster_terms, roster_classes, roster_people, roster_enrollments
    TO gradebook_mastery;

-- The tenant wall (see attempts/010): rows of the connection's tenant, or all with '*'.
ALTER TABLE roster_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON roster_log
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE roster_orgs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON roster_orgs
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE roster_terms ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON roster_terms
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE roster_classes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON roster_classes
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE roster_people ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON roster_people
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE roster_enrollments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON roster_enrollments
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');
