-- Least privilege (the roles come from `mastery db roles`, shared/platform/roles.py): each service
-- authenticates a request by reading its key, nothing more. Tenants and keys are created by the
-- operator's tools, as the owner. Neither table has row-level security: the key is looked up
-- before the tenant is known, and its tenant is what the lookup answers.
GRANT SELECT ON api_keys TO gradebook_attempts, gradebook_mastery, gradebook_notify;
