-- The W3C trace context (`traceparent`) the mastery change's envelope carried, kept on each
-- notification planned from it (null: none carried, or planned before): the mailer's send span,
-- minutes later in another process, links to the trace of the request that caused the email.
ALTER TABLE notifications ADD COLUMN traceparent text;
