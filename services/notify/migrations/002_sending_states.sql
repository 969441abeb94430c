-- Each notification's sending state, so an email is sent at most once unless a mailer dies while
-- its SMTP session is open, and a refused one is parked rather than retried for ever.
--   pending  due at next_attempt_at (new, or waiting after a transient failure)
--   sending  leased to a mailer until next_attempt_at, a lease of seconds renewed while its SMTP
--            session lasts; a row whose lease ran out is sent again, with the same Message-ID
--   sent     the SMTP server accepted it at sent_at
--   failed   the SMTP server refused the recipient or the message for good (a 5xx reply): parked
--            with the reason in last_error at failed_at; nothing retries it on its own
ALTER TABLE notifications
    ADD COLUMN status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    ADD COLUMN failed_at timestamptz;

UPDATE notifications SET status = 'sent' WHERE sent_at IS NOT NULL;

DROP INDEX notifications_pending;
CREATE INDEX notifications_due ON notifications (next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX notifications_failed ON notifications (tenant_id, failed_at)
    WHERE status = 'failed';
