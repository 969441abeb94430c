-- Family emails in people's words and language.

-- A student's name as families know it (set over the API; a roster import will write it too).
CREATE TABLE student_names (
    tenant_id text NOT NULL,
    student_id text NOT NULL,
    display_name text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, student_id)
);

-- Each guardian's language (a BCP 47 tag) and how they want news: `off` plans nothing; the
-- digests plan rows held for a digest job (`held_for_digest` below) that does not exist yet.
ALTER TABLE guardians
    ADD COLUMN language text NOT NULL DEFAULT 'en',
    ADD COLUMN delivery text NOT NULL DEFAULT 'immediate'
        CHECK (delivery IN ('immediate', 'daily_digest', 'weekly_digest', 'off'));

-- The school's mail settings: the zone its dates are shown in, its portal link, its Reply-To.
CREATE TABLE mail_settings (
    tenant_id text PRIMARY KEY,
    time_zone text NOT NULL DEFAULT 'UTC',
    portal_url_template text NOT NULL DEFAULT '',
    reply_to text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every change notify consumed, as received: what `mastery notify preview` renders, and what a
-- digest will gather. Notify may not read mastery's change log.
CREATE TABLE notified_changes (
    tenant_id text NOT NULL,
    change_id text NOT NULL,
    student_id text NOT NULL,
    standard_id text NOT NULL,
    changed_at timestamptz NOT NULL,
    event jsonb NOT NULL,
    PRIMARY KEY (tenant_id, change_id)
);
CREATE INDEX notified_changes_latest
    ON notified_changes (tenant_id, student_id, standard_id, changed_at DESC);

-- The email as planned: its HTML part, language and Reply-To beside the text; rows of digest
-- guardians wait as `held_for_digest`, which the mailer never claims.
ALTER TABLE notifications
    ADD COLUMN html text NOT NULL DEFAULT '',
    ADD COLUMN language text NOT NULL DEFAULT 'en',
    ADD COLUMN reply_to text NOT NULL DEFAULT '',
    ADD COLUMN delivery text NOT NULL DEFAULT 'immediate';
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'held_for_digest'));

GRANT SELECT, INSERT, UPDATE ON student_names, mail_settings TO gradebook_notify;
GRANT SELECT, INSERT ON notified_changes TO gradebook_notify;

ALTER TABLE student_names ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON student_names
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE mail_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON mail_settings
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');

ALTER TABLE notified_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON notified_changes
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');
