-- The stream version each proficiency reflects, beside the state that holds it: a rebuild into
-- shadow tables compares it between the live read model and the shadow (a column compare, no
-- JSON parse of every state) to find what the projector applied while the shadow was built.
ALTER TABLE proficiencies ADD COLUMN last_version bigint NOT NULL DEFAULT 0;
UPDATE proficiencies SET last_version = coalesce((state->>'last_version')::bigint, 0);
