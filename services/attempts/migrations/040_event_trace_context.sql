-- The W3C trace context (`traceparent`, version 00 form) of the request that appended each event,
-- null for events appended before traces were kept or outside a request. The relay sends it on
-- as the CloudEvents distributed-tracing extension, so the projector's and the notifier's spans
-- join the request's trace. Still one row per event: it lives on the event's own row.
ALTER TABLE attempt_events ADD COLUMN traceparent text;

-- The read contract gains it as its last column (a new column, so its promise still holds):
--   traceparent     the W3C trace context the event was appended in, or null
-- `mastery republish` sends it again on each event's envelope, as the relay did. Replacing a view
-- replaces its options, so `security_invoker` (migration 010) is given again; grants are kept.
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
    traceparent
FROM attempt_events;
