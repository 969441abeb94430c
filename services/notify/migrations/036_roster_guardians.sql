-- Students' names and guardians from the school's roster (stream ROSTERS, mastery's roster log).

-- Notify's copy of the roster's people: enough to resolve a student's guardian links whichever
-- of the student and the guardian arrives first. `number` is the roster log number of the newest
-- event applied (an older one redelivered changes nothing); a removed person stays as a marker.
CREATE TABLE roster_contacts (
    tenant_id text NOT NULL,
    person_id text NOT NULL,
    number bigint NOT NULL,
    role text NOT NULL,
    display_name text NOT NULL,
    email text,
    language text,
    guardian_ids text[] NOT NULL DEFAULT '{}',
    removed boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, person_id)
);
-- The students a guardian is linked to.
CREATE INDEX roster_contacts_by_guardian ON roster_contacts USING gin (guardian_ids);

-- A guardian row from the roster names the roster person it came from; one set through the API
-- has none, and a roster import never changes or removes it.
ALTER TABLE guardians ADD COLUMN roster_person_id text;

GRANT SELECT, INSERT, UPDATE ON roster_contacts TO gradebook_notify;
-- A roster import refreshes the name and language of its own guardian rows; the delivery a
-- family chose is no column it may update.
GRANT UPDATE (name, language, roster_person_id) ON guardians TO gradebook_notify;

ALTER TABLE roster_contacts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON roster_contacts
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');
