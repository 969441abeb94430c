-- The evidence each proficiency is calculated from, one row per attempt, so the proficiency row can
-- keep a constant-size running tally instead of the whole history. A new attempt that is the newest
-- evidence updates the tally; late, voided or rescored evidence replays this standard's rows.
CREATE TABLE mastery_evidence (
    tenant_id text NOT NULL,
    student_id text NOT NULL,
    standard_id text NOT NULL,
    attempt_id text NOT NULL,
    event_id text NOT NULL,
    assessed_at timestamptz NOT NULL,
    recorded_seq bigint NOT NULL,
    status text NOT NULL,
    score double precision,
    points_possible double precision,
    PRIMARY KEY (tenant_id, student_id, standard_id, attempt_id)
);

-- The state format changed (a tally instead of the evidence list): the old rows cannot be read.
-- The read model is derived data; `mastery rebuild` fills it again from the attempt event store.
DELETE FROM proficiencies;
