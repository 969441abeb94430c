-- Read your writes: a client holds the log position of its write and asks the mastery service
-- whether its read model has applied everything up to a position. Positions come from a sequence,
-- so they are taken in one order and committed in another: a position below one already visible
-- may still belong to a transaction in progress. Each event therefore records, beside its
-- position, a transaction id below which every transaction that took a smaller position lies:
-- once every transaction below it has finished (`pg_snapshot_xmin` of a reader's snapshot is at
-- or above it), every position below this event is either visible or will never be.
--
-- Why a trigger: the transaction must hold its id before it takes the position (so an earlier
-- position's transaction has an id below the horizon taken afterwards), and the horizon must be
-- read after the position is taken, from a fresh snapshot (a plpgsql expression in a volatile
-- function takes one in READ COMMITTED; the statement's own snapshot would be too old).
ALTER TABLE attempt_events ADD COLUMN position_horizon xid8;

CREATE FUNCTION take_log_position() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_current_xact_id();
    NEW.global_position := nextval('attempt_events_global_position_seq');
    NEW.position_horizon := pg_snapshot_xmax(pg_current_snapshot());
    RETURN NEW;
END;
$$;

CREATE TRIGGER attempt_events_take_position
    BEFORE INSERT ON attempt_events
    FOR EACH ROW EXECUTE FUNCTION take_log_position();

-- The trigger takes every position; a default would only waste one per row.
ALTER TABLE attempt_events ALTER COLUMN global_position DROP DEFAULT;

-- The mastery service walks one tenant's log forward from the position its read model reached.
CREATE INDEX attempt_events_tenant_position ON attempt_events (tenant_id, global_position);

-- The read contract gains one column (appended: the others keep their places and meaning):
--   position_horizon  a transaction id; every event with a smaller position was written by a
--                     transaction with a smaller id. NULL for events written before it was kept
--                     (their transactions have all finished).
CREATE OR REPLACE VIEW attempt_log WITH (security_invoker = true) AS
SELECT
    global_position AS position,
    tenant_id,
    stream_id,
    stream_version,
    event_id,
    event_type,
    recorded_at,
    data,
    stream_id NOT LIKE '%//%' AS student_stream,
    position_horizon
FROM attempt_events;
