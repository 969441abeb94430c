-- Least privilege: the notify service replaces a student's guardians (delete, then insert),
-- plans notifications and updates their sending state; it never deletes a notification.
GRANT SELECT, INSERT, DELETE ON guardians TO gradebook_notify;
GRANT SELECT, INSERT, UPDATE ON notifications TO gradebook_notify;

-- The tenant wall (see attempts/010): rows of the connection's tenant, or all with '*'.
ALTER TABLE guardians ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON guardians
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON notifications
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');
