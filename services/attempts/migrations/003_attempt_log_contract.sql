-- The attempts service's read contract: the one way another service (the mastery rebuild and
-- history) reads the event log. Its columns are a promise kept across releases; the columns of
-- attempt_events behind it are the attempts service's own and may change.
--   position        the event's place in the whole log (ascending = recorded order)
--   tenant_id       the school or district
--   stream_id       tenant/student/standard for a student's attempts; standard and tenant-policy
--                   streams are not student streams (student_stream = false)
--   stream_version  the event's place in its stream (1, 2, ...)
--   event_id        the event's id (the CloudEvents id on the bus)
--   event_type      the versioned tag, e.g. attempt_recorded.v2
--   recorded_at     when the attempts service recorded it
--   data            the event as JSON, decoded with shared.contract.events.gradebook
--   student_stream  whether the stream is one student's on one standard
CREATE VIEW attempt_log AS
SELECT
    global_position AS position,
    tenant_id,
    stream_id,
    stream_version,
    event_id,
    event_type,
    recorded_at,
    data,
    stream_id NOT LIKE '%//%' AS student_stream
FROM attempt_events;

COMMENT ON VIEW attempt_log IS
    'Read contract of the attempts service: the event log, in order. Other services read this, '
    'never attempt_events.';
