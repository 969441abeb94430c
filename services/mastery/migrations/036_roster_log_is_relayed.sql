-- The roster log goes on the bus (stream ROSTERS, `rosters.<tenant>.changed`), so notify learns
-- students' names and guardian links: the log is the outbox, as mastery_changes is (mastery/020).
-- Each row already carries its transaction's id (mastery/016); one transaction appends to one
-- tenant's log, so (tx_id, number) orders the whole log.
CREATE INDEX roster_log_relay_order ON roster_log (tx_id, number);

-- Where the relay got to: every row at or before (tx_id, position) in its order is published.
-- It starts before the first row: the log recorded so far goes out too.
CREATE TABLE roster_log_relayed (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    tx_id xid8 NOT NULL,
    position bigint NOT NULL,
    relay_asleep boolean NOT NULL DEFAULT false
);
INSERT INTO roster_log_relayed (tx_id, position) VALUES ('0', 0);

-- An idle relay sleeps until a transaction appends (see attempts/015 for why only then).
CREATE FUNCTION wake_roster_log_relay() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT relay_asleep FROM roster_log_relayed) THEN
        PERFORM pg_notify('roster_log', '');
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER roster_log_wake_relay
    AFTER INSERT ON roster_log
    FOR EACH STATEMENT EXECUTE FUNCTION wake_roster_log_relay();

GRANT SELECT, UPDATE ON roster_log_relayed TO gradebook_mastery;
