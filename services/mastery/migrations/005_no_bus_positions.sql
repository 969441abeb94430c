-- The read model keeps no bus positions: the projector acks only after its transaction commits,
-- so the durable JetStream consumer's ack floor is the committed low-water mark, and its pending
-- count is the projector's lag (reported by readiness). The checkpoint table was written but
-- never read, and with two batches in flight it could pass a batch that had not committed.
DROP TABLE projector_checkpoints;
ALTER TABLE proficiencies DROP COLUMN last_bus_sequence;
