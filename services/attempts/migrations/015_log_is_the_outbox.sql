-- One row per event: the event log is the outbox and the idempotency key. The relay reads
-- attempt_events itself in horizon order (shared/platform/outbox.py) from the position it keeps
-- in attempt_events_relayed, and an attempt id is taken by its `attempt_recorded` event.

-- Each event carries its transaction's id. Rows logged before get 1, below every real id: they
-- come first in the relay's order, in position order. A constant default is only recorded in
-- the catalog, so no row is rewritten (the log is append-only); the trigger sets every new one.
ALTER TABLE attempt_events ADD COLUMN tx_id xid8 NOT NULL DEFAULT '1';
ALTER TABLE attempt_events ALTER COLUMN tx_id DROP DEFAULT;

CREATE OR REPLACE FUNCTION take_log_position() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.tx_id := pg_current_xact_id();
    NEW.global_position := nextval('attempt_events_global_position_seq');
    RETURN NEW;
END;
$$;

CREATE INDEX attempt_events_relay_order ON attempt_events (tx_id, global_position);

-- Where the relay got to: every event at or before (tx_id, position) in its order is published.
CREATE TABLE attempt_events_relayed (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    tx_id xid8 NOT NULL,
    position bigint NOT NULL,
    -- The relay found nothing for a while and waits for a notification (see below).
    relay_asleep boolean NOT NULL DEFAULT false
);

-- Outbox rows not yet relayed are events not yet published: start just before the first of
-- them (an event after it that was published already goes out again; its message id makes
-- JetStream drop the copy, and every consumer applies a message once).
INSERT INTO attempt_events_relayed (tx_id, position)
SELECT '1', coalesce(
    (SELECT min(e.global_position) - 1 FROM attempts_outbox o
       JOIN attempt_events e ON e.event_id = o.msg_id::uuid),
    (SELECT max(global_position) FROM attempt_events),
    0);

DROP TABLE attempts_outbox;

-- Attempt ids: unique per tenant on the log itself. Each `attempt_recorded` event holds the
-- request it answered (the same fields) and the receipt is built from it, so the claim row
-- that stored both is gone; its rows name events already in the log.
-- The key is a column PostgreSQL derives from each `attempt_recorded` event (stored, generated:
-- nobody writes it), not an index on `data->>'attempt_id'`: under the tenant wall (row-level
-- security) a condition with a non-leakproof operator such as `->>` is checked only after the
-- policy, so it cannot be an index condition and a lookup read every event of the tenant (70 ms
-- at 100,000 events); text equality is leakproof and stays one index probe. Adding the column
-- rewrites the table once (no row trigger fires; every event is kept as it was).
ALTER TABLE attempt_events ADD COLUMN recorded_attempt_id text GENERATED ALWAYS AS (
    CASE WHEN event_type LIKE 'attempt_recorded.%' THEN data->>'attempt_id' END
) STORED;
CREATE UNIQUE INDEX attempt_events_attempt_id
    ON attempt_events (tenant_id, recorded_attempt_id)
    WHERE recorded_attempt_id IS NOT NULL;

DROP TABLE attempt_requests;

-- An idle relay sleeps until a transaction appends (one notification per transaction:
-- PostgreSQL folds identical ones), with a slow poll as a safety net. Only while it sleeps: a
-- transaction that notifies takes a database-wide lock from its commit to its end, so notifying
-- writers commit (and flush WAL) one at a time; a busy relay polls and nobody notifies.
CREATE FUNCTION wake_attempt_events_relay() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT relay_asleep FROM attempt_events_relayed) THEN
        PERFORM pg_notify('attempt_events', '');
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER attempt_events_wake_relay
    AFTER INSERT ON attempt_events
    FOR EACH STATEMENT EXECUTE FUNCTION wake_attempt_events_relay();

GRANT SELECT, UPDATE ON attempt_events_relayed TO gradebook_attempts;
