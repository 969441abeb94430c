-- What a key may do (shared/platform/tenancy.py): `ingest` writes evidence, `read` reads, `admin`
-- does both and manages standards, the tenant policy and guardians. Keys from before scopes could
-- do everything: they become `admin`, so an upgrade takes no right away. New keys name their
-- scope (no default).
ALTER TABLE api_keys
    ADD COLUMN scope text NOT NULL DEFAULT 'admin' CHECK (scope IN ('ingest', 'read', 'admin'));
ALTER TABLE api_keys ALTER COLUMN scope DROP DEFAULT;

-- Every service process caches the keys it verified. A change to a key (revoked, relabelled,
-- deleted) is announced on `api_keys_changed` when its transaction commits, so each process
-- drops the key at once, however the change was made; the payload is the key id, '' for all.
CREATE FUNCTION announce_api_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('api_keys_changed', '');
    ELSE
        PERFORM pg_notify('api_keys_changed', OLD.key_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_changed AFTER UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION announce_api_key_change();
CREATE TRIGGER api_keys_truncated AFTER TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION announce_api_key_change();
