-- 0060_audit: the audit log of key, token, member, project and CORS operations
-- (src/platform/platform_audit.c). Append-only: a record is inserted in the transaction of the
-- operation it describes (so it exists if and only if the operation committed) and never updated
-- or deleted (the trigger refuses both). No foreign key to platform_projects: a deleted project's
-- records, its deletion included, stay. project_id is NULL for account-level records (personal
-- access tokens), which carry account_id instead. Never a secret: actors are a user id + email
-- (or a key's visible prefix), details hold names, roles, kinds and key prefixes only.
CREATE TABLE platform_audit (
    id bigserial PRIMARY KEY,
    project_id text,
    account_id text,
    actor_kind text NOT NULL,
    actor_id text,
    actor_label text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    detail text NOT NULL DEFAULT '{}',
    outcome text NOT NULL DEFAULT 'success',
    request_id text NOT NULL DEFAULT '',
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (project_id IS NOT NULL OR account_id IS NOT NULL)
);
CREATE INDEX platform_audit_project ON platform_audit(project_id, id) WHERE project_id IS NOT NULL;
CREATE INDEX platform_audit_account ON platform_audit(account_id, id) WHERE account_id IS NOT NULL;

CREATE FUNCTION platform_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'platform_audit is append-only';
END
$$;
CREATE TRIGGER platform_audit_append_only BEFORE UPDATE OR DELETE ON platform_audit
    FOR EACH ROW EXECUTE FUNCTION platform_audit_append_only();
