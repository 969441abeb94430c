-- The W3C trace context (`traceparent`) of the event that caused each mastery change, as its
-- envelope carried it (null when it carried none, and for changes logged before). The payload
-- the relay publishes carries it too, as the CloudEvents distributed-tracing extension; this
-- column lets the log be searched by trace.
ALTER TABLE mastery_changes ADD COLUMN traceparent text;
