-- Every mastery change as it was published, kept after its outbox row is deleted: JetStream can
-- lose acknowledged messages in a crash, and this is the log `mastery republish` sends a range of
-- again. Written in the transaction that writes the outbox row; never updated or deleted.
CREATE TABLE mastery_changes (
    position bigserial PRIMARY KEY,
    tenant_id text NOT NULL,
    subject text NOT NULL,
    msg_id text NOT NULL,
    payload bytea NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON COLUMN mastery_changes.msg_id IS 'the change id: the CloudEvents id and Nats-Msg-Id';
