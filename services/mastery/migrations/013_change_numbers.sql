-- Each mastery change is numbered within its student-standard: 1, 2, ... in the order the change
-- log appends them. The number is the CloudEvents `streamversion` of the message (its subject is
-- `tenant/student/standard`), so an SIS can tell a duplicate (a number it has) from a gap (one
-- it skipped). The change log is never rebuilt, so a rebuild of the read model cannot renumber.
ALTER TABLE mastery_changes ADD COLUMN student_id text;
ALTER TABLE mastery_changes ADD COLUMN standard_id text;
ALTER TABLE mastery_changes ADD COLUMN change_number bigint;

-- Changes logged before: their ids and numbers are read off their own payloads and positions.
UPDATE mastery_changes c
SET student_id = numbered.student_id, standard_id = numbered.standard_id,
    change_number = numbered.n
FROM (
    SELECT position,
           convert_from(payload, 'UTF8')::jsonb #>> '{data,student_id}' AS student_id,
           convert_from(payload, 'UTF8')::jsonb #>> '{data,standard_id}' AS standard_id,
           row_number() OVER (
               PARTITION BY tenant_id,
                            convert_from(payload, 'UTF8')::jsonb #>> '{data,student_id}',
                            convert_from(payload, 'UTF8')::jsonb #>> '{data,standard_id}'
               ORDER BY position
           ) AS n
    FROM mastery_changes
    WHERE change_number IS NULL
) AS numbered
WHERE c.position = numbered.position;

-- Their messages said `"streamversion": null`; a republish sends the number instead, and so does
-- an outbox row not yet relayed. The only edit of the change log: the change stays the same.
UPDATE mastery_changes
SET payload = convert_to(
    jsonb_set(convert_from(payload, 'UTF8')::jsonb, '{streamversion}', to_jsonb(change_number))::text,
    'UTF8')
WHERE convert_from(payload, 'UTF8')::jsonb -> 'streamversion' = 'null'::jsonb;

UPDATE mastery_outbox o SET payload = c.payload
FROM mastery_changes c
WHERE o.msg_id = c.msg_id AND o.tenant_id = c.tenant_id;

ALTER TABLE mastery_changes ALTER COLUMN student_id SET NOT NULL;
ALTER TABLE mastery_changes ALTER COLUMN standard_id SET NOT NULL;
ALTER TABLE mastery_changes ALTER COLUMN change_number SET NOT NULL;

-- The next number of a student-standard is one index look-up.
CREATE INDEX mastery_changes_by_student_standard
    ON mastery_changes (tenant_id, student_id, standard_id, change_number);
