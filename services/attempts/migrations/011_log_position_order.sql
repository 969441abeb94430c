-- Read your writes: the mastery service says how far its read model has got as a log position W
-- such that every event at or below W is applied. Positions come from a sequence, so they are
-- taken in one order and committed in another: a position below one already visible may still
-- belong to a transaction in progress. The mastery service tells those apart by transaction ids
-- (docs/architecture.md, "Reading your writes"), which needs one promise from the writer: a
-- transaction holds its id before it takes a position. PostgreSQL assigns the id at the first
-- row a transaction writes, after the row's defaults (the position among them) are computed, so a
-- trigger takes the id first and then the position.
CREATE FUNCTION take_log_position() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_current_xact_id();
    NEW.global_position := nextval('attempt_events_global_position_seq');
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
