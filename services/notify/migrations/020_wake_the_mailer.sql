-- The mailer sleeps until a transaction writes notifications (one NOTIFY per transaction:
-- PostgreSQL folds identical ones), with a slow poll for due times and as a safety net.
CREATE FUNCTION wake_mailer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('notifications', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER notifications_wake_mailer
    AFTER INSERT ON notifications
    FOR EACH STATEMENT EXECUTE FUNCTION wake_mailer();
