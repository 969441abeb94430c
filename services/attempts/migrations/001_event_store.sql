-- The attempts service's event store: append-only, one stream per tenant + student + standard.
CREATE TABLE attempt_events (
    global_position bigserial PRIMARY KEY,
    tenant_id text NOT NULL,
    stream_id text NOT NULL,
    stream_version integer NOT NULL CHECK (stream_version > 0),
    event_id uuid NOT NULL UNIQUE,
    event_type text NOT NULL,
    data jsonb NOT NULL,
    recorded_at timestamptz NOT NULL,
    UNIQUE (stream_id, stream_version)
);

-- Events are facts: corrections are new events, never edits.
CREATE FUNCTION refuse_event_mutation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'attempt_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER attempt_events_append_only
    BEFORE UPDATE OR DELETE ON attempt_events
    FOR EACH ROW EXECUTE FUNCTION refuse_event_mutation();

CREATE TRIGGER attempt_events_no_truncate
    BEFORE TRUNCATE ON attempt_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_event_mutation();

-- Idempotency by the client's attempt id: the request as first accepted and the response given.
CREATE TABLE attempt_requests (
    tenant_id text NOT NULL,
    attempt_id text NOT NULL,
    request jsonb NOT NULL,
    response jsonb NOT NULL,
    event_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, attempt_id)
);

-- Transactional outbox, drained by the relay (see shared/outbox.py for the horizon rule).
CREATE TABLE attempts_outbox (
    position bigserial PRIMARY KEY,
    tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    tenant_id text NOT NULL,
    subject text NOT NULL,
    msg_id text NOT NULL,
    payload bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX attempts_outbox_horizon ON attempts_outbox (tx_id, position);
