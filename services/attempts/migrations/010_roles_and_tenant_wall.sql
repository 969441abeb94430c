-- Least privilege: the attempts service appends events and claims attempt ids (never updates or
-- deletes them: corrections are new events), upserts the current standards and policy beside
-- their events, and deletes outbox rows once its relay has published them.
GRANT SELECT, INSERT ON attempt_events, attempt_requests TO gradebook_attempts;
GRANT SELECT, INSERT, UPDATE ON standards, tenant_policies TO gradebook_attempts;
GRANT SELECT, INSERT, DELETE ON attempts_outbox TO gradebook_attempts;
GRANT USAGE ON SEQUENCE attempt_events_global_position_seq, attempts_outbox_position_seq
    TO gradebook_attempts;

-- The read contract. A view reads its tables with its owner's rights, and the owner is exempt
-- from row-level security, so the view would hand every tenant's events to any reader:
-- security_invoker makes it read with the reader's rights, under the reader's tenant wall. That
-- needs SELECT on the table behind it too; mastery's code still reads only the view (a test
-- checks that no other service names the attempts tables), and it can write neither.
ALTER VIEW attempt_log SET (security_invoker = true);
GRANT SELECT ON attempt_log, attempt_events TO gradebook_mastery;

-- The tenant wall, behind every query's own `tenant_id` filter: a service role sees and writes
-- only rows of the tenant its connection is set to (`app.tenant_id`, shared/platform/
-- tenant_scope.py), or every row when it is '*' (the workers' pool). Unset: no rows. The
-- sub-selects make PostgreSQL read the setting once per statement, not once per row.
ALTER TABLE attempt_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON attempt_events
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE attempt_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON attempt_requests
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE standards ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON standards
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE tenant_policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON tenant_policies
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE attempts_outbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON attempts_outbox
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');
