-- Standards and the tenant's default policy are event-sourced in attempt_events (streams
-- `<tenant>//standards/<id>` and `<tenant>//policy`); these rows are their current state, written
-- in the same transaction as each event, for validation on every write and for GET.
CREATE TABLE standards (
    tenant_id text NOT NULL,
    standard_id text NOT NULL,
    definition jsonb NOT NULL,
    version integer NOT NULL,
    PRIMARY KEY (tenant_id, standard_id)
);

CREATE TABLE tenant_policies (
    tenant_id text PRIMARY KEY,
    policy jsonb NOT NULL,
    version integer NOT NULL
);

-- Where each attempt id lives, for voids and rescores addressed by attempt id alone.
ALTER TABLE attempt_requests ADD COLUMN student_id text;
ALTER TABLE attempt_requests ADD COLUMN standard_id text;
UPDATE attempt_requests
   SET student_id = request->>'student_id', standard_id = request->>'standard_id';
ALTER TABLE attempt_requests ALTER COLUMN student_id SET NOT NULL;
ALTER TABLE attempt_requests ALTER COLUMN standard_id SET NOT NULL;
