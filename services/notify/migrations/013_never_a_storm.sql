-- Never a storm: a grace delay that coalesces a student's changes into one email (and sends
-- nothing for a change undone within it), a flap window, policy changes as a summary or not at
-- all, quiet hours, and the digest hour and weekday. Each per tenant, beside its mail settings.
ALTER TABLE mail_settings
    ADD COLUMN grace_seconds double precision NOT NULL DEFAULT 600
        CHECK (grace_seconds >= 0 AND grace_seconds <= 86400),
    ADD COLUMN flap_window_hours double precision NOT NULL DEFAULT 24
        CHECK (flap_window_hours >= 0 AND flap_window_hours <= 720),
    ADD COLUMN policy_changes text NOT NULL DEFAULT 'summary'
        CHECK (policy_changes IN ('silent', 'summary')),
    -- Local wall times in time_zone; both null: no quiet hours.
    ADD COLUMN quiet_start time DEFAULT '20:00',
    ADD COLUMN quiet_end time DEFAULT '07:00',
    ADD COLUMN digest_hour integer NOT NULL DEFAULT 17 CHECK (digest_hour BETWEEN 0 AND 23),
    ADD COLUMN digest_weekday integer NOT NULL DEFAULT 4 CHECK (digest_weekday BETWEEN 0 AND 6),
    ADD CONSTRAINT mail_settings_quiet_both CHECK ((quiet_start IS NULL) = (quiet_end IS NULL));

-- A planned row waits `grace_seconds` (next_attempt_at) uncomposed; when it comes due the mailer
-- composes it with every other uncomposed row of its group (one student of one guardian; a
-- guardian's policy changes form one group): one row carries the email, the others become
--   coalesced  not sent on its own: netted into another row's email (last_error says which), or
--              undone within the grace delay, or held back by the flap window or a silent policy
-- They are kept, never deleted.
-- Rows from before, and rows written as finished emails, are composed already; the planner
-- writes composed = false.
ALTER TABLE notifications
    ADD COLUMN composed boolean NOT NULL DEFAULT true,
    ADD COLUMN group_key text NOT NULL DEFAULT '';
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'held_for_digest', 'suppressed',
                      'coalesced'));
-- The digest job looks for held rows on every pass.
CREATE INDEX notifications_held ON notifications (tenant_id, guardian_email)
    WHERE status = 'held_for_digest';
CREATE INDEX notifications_uncomposed ON notifications (next_attempt_at)
    WHERE status = 'pending' AND NOT composed;

-- What each guardian was last told about a student's standard, and when: the flap window.
CREATE TABLE last_emailed (
    tenant_id text NOT NULL,
    guardian_email text NOT NULL,
    student_id text NOT NULL,
    standard_id text NOT NULL,
    mastered boolean NOT NULL,
    crossed boolean NOT NULL,  -- that email said mastery was reached or lost
    emailed_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, guardian_email, student_id, standard_id)
);

GRANT SELECT, INSERT, UPDATE ON last_emailed TO gradebook_notify;

ALTER TABLE last_emailed ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON last_emailed
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');
