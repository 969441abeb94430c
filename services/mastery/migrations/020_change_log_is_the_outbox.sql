-- One row per change: the change log is the outbox. The relay reads mastery_changes itself in
-- horizon order (shared/platform/outbox.py) from the position it keeps in
-- mastery_changes_relayed; nothing is inserted into, or deleted from, an outbox any more.

-- Changes logged before get transaction id 1, below every real one, so they come first in the
-- relay's order, in position order (a constant default rewrites no row).
ALTER TABLE mastery_changes ADD COLUMN tx_id xid8 NOT NULL DEFAULT '1';
ALTER TABLE mastery_changes ALTER COLUMN tx_id SET DEFAULT pg_current_xact_id();

CREATE INDEX mastery_changes_relay_order ON mastery_changes (tx_id, position);

-- Where the relay got to: every change at or before (tx_id, position) in its order is published.
CREATE TABLE mastery_changes_relayed (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    tx_id xid8 NOT NULL,
    position bigint NOT NULL,
    -- The relay found nothing for a while and waits for a notification (see below).
    relay_asleep boolean NOT NULL DEFAULT false
);

-- Outbox rows not yet relayed are changes not yet published: start just before the first of
-- them (a change after it published already goes out again with its id, which JetStream drops
-- as a duplicate).
INSERT INTO mastery_changes_relayed (tx_id, position)
SELECT '1', coalesce(
    (SELECT min(c.position) - 1 FROM mastery_outbox o
       JOIN mastery_changes c ON c.msg_id = o.msg_id AND c.tenant_id = o.tenant_id),
    (SELECT max(position) FROM mastery_changes),
    0);

DROP TABLE mastery_outbox;

-- An idle relay sleeps until a transaction logs changes (one notification per transaction), with
-- a slow poll as a safety net; only while it sleeps, since notifying transactions commit one at a
-- time (see attempts/015).
CREATE FUNCTION wake_mastery_changes_relay() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT relay_asleep FROM mastery_changes_relayed) THEN
        PERFORM pg_notify('mastery_changes', '');
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER mastery_changes_wake_relay
    AFTER INSERT ON mastery_changes
    FOR EACH STATEMENT EXECUTE FUNCTION wake_mastery_changes_relay();

GRANT SELECT, UPDATE ON mastery_changes_relayed TO gradebook_mastery;
