-- What a key may do (shared/platform/tenancy.py): `ingest` writes evidence, `read` reads, `admin`
-- does both and manages standards, the tenant policy and guardians. Keys from before scopes could
-- do everything: they become `admin`, so an upgrade takes no right away. New keys name their
-- scope (no default).
ALTER TABLE api_keys
    ADD COLUMN scope text NOT NULL DEFAULT 'admin' CHECK (scope IN ('ingest', 'read', 'admin'));
ALTER TABLE api_keys ALTER COLUMN scope DROP DEFAULT;
