-- Stream ids in byte order, for readers of the log that take every stream under a prefix (a
-- student's streams `tenant/student/`, a tenant's policy streams `tenant//`) as a range: the
-- mastery service's as-of and history reads. The unique index on stream_id follows the
-- database's collation, in which a prefix is not a range.
CREATE INDEX attempt_events_stream_bytes ON attempt_events ((stream_id COLLATE "C"), global_position);
