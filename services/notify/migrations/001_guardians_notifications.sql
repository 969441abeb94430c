-- Guardians' contact details stay here: they never travel on the bus.
CREATE TABLE guardians (
    tenant_id text NOT NULL,
    student_id text NOT NULL,
    email text NOT NULL,
    name text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, student_id, email)
);

-- The notification outbox: one row per (change, guardian), so each change is emailed once.
CREATE TABLE notifications (
    tenant_id text NOT NULL,
    change_id text NOT NULL,
    guardian_email text NOT NULL,
    student_id text NOT NULL,
    standard_id text NOT NULL,
    subject text NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    send_attempts integer NOT NULL DEFAULT 0,
    last_error text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    PRIMARY KEY (tenant_id, change_id, guardian_email)
);

CREATE INDEX notifications_pending ON notifications (next_attempt_at) WHERE sent_at IS NULL;
