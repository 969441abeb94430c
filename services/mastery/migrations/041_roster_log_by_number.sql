-- `mastery republish --kind rosters` reads the roster log by number across tenants (numbers are
-- each tenant's own), a batch at a time: one index range per batch instead of a scan and a sort.
CREATE INDEX roster_log_by_number ON roster_log (number, tenant_id);
