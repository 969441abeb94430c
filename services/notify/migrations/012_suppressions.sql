-- Addresses a mail server refused for good (a 5xx to RCPT TO: no such user, mailbox disabled).
-- Mail to a suppressed address is not sent again: a later email to it is marked `suppressed`
-- instead of sending, until an administrator lifts the suppression (the address was fixed, say).
-- Per tenant, as guardians are: one school's bounce says nothing to another school.
CREATE TABLE suppressions (
    tenant_id text NOT NULL,
    address text NOT NULL,  -- lower case: mail servers treat the domain, and in practice the
                            -- local part, without regard to case
    reason text NOT NULL,   -- the server's reply, e.g. "550 5.1.1 <x@y>: no such user"
    change_id text,         -- the email whose refusal added it
    suppressed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, address)
);

-- A new status beside those of 002 and 011 (held_for_digest):
--   suppressed  not sent: its address was on the tenant's suppression list when it came due
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'held_for_digest', 'suppressed'));

-- The mailer adds and reads suppressions; an administrator's lift deletes one.
GRANT SELECT, INSERT, DELETE ON suppressions TO gradebook_notify;

ALTER TABLE suppressions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON suppressions
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');
