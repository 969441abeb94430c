-- Tenants (schools or districts) and the API keys that map a caller to exactly one tenant.
CREATE TABLE tenants (
    tenant_id text PRIMARY KEY CHECK (tenant_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Only a SHA-256 digest of the secret is stored; the key is shown once, at creation.
CREATE TABLE api_keys (
    key_id text PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tenants (tenant_id),
    secret_sha256 bytea NOT NULL,
    label text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
