-- Foundation: server settings, users, workspaces, tenants, per-user preferences,
-- casbin rules (with the built-in role -> capability table) and the audit chain.

CREATE TABLE server_settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_email_lowercase CHECK (email = lower(email))
);

CREATE TABLE workspaces (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name              TEXT NOT NULL,
    slug              TEXT NOT NULL,
    environment       TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_activity_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT workspaces_slug_key UNIQUE (slug),
    CONSTRAINT workspaces_slug_format CHECK (slug ~ '^[a-z0-9-]{2,63}$'),
    CONSTRAINT workspaces_name_present CHECK (length(btrim(name)) > 0),
    CONSTRAINT workspaces_environment_known
        CHECK (environment IN ('PRODUCTION', 'STAGING', 'TEST', 'DEVELOPMENT'))
);
CREATE INDEX workspaces_name_idx ON workspaces (lower(name));
CREATE INDEX workspaces_last_activity_idx ON workspaces (last_activity_at);

CREATE TABLE tenants (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id     UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    display_name     TEXT NOT NULL,
    entra_tenant_id  UUID NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT tenants_workspace_entra_tenant_key UNIQUE (workspace_id, entra_tenant_id),
    CONSTRAINT tenants_display_name_present CHECK (length(btrim(display_name)) > 0)
);
CREATE INDEX tenants_workspace_idx ON tenants (workspace_id, display_name);

CREATE TABLE workspace_user_preferences (
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id  UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    pinned_at     TIMESTAMPTZ,
    favorited_at  TIMESTAMPTZ,
    PRIMARY KEY (user_id, workspace_id)
);

-- casbin-rs rule table (same shape as the sqlx/diesel adapters use).
CREATE TABLE casbin_rule (
    id     SERIAL PRIMARY KEY,
    ptype  VARCHAR(12) NOT NULL,
    v0     VARCHAR(320) NOT NULL DEFAULT '',
    v1     VARCHAR(320) NOT NULL DEFAULT '',
    v2     VARCHAR(320) NOT NULL DEFAULT '',
    v3     VARCHAR(320) NOT NULL DEFAULT '',
    v4     VARCHAR(320) NOT NULL DEFAULT '',
    v5     VARCHAR(320) NOT NULL DEFAULT '',
    CONSTRAINT casbin_rule_unique UNIQUE (ptype, v0, v1, v2, v3, v4, v5)
);

-- Built-in role -> capability table: p, role, domain ('*': every workspace), resource, action.
INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES
    -- platform_admin: everything
    ('p', 'platform_admin', '*', 'workspace', 'create'),
    ('p', 'platform_admin', '*', 'workspace', 'read'),
    ('p', 'platform_admin', '*', 'workspace', 'update'),
    ('p', 'platform_admin', '*', 'tenant', 'read'),
    ('p', 'platform_admin', '*', 'tenant', 'create'),
    ('p', 'platform_admin', '*', 'tenant', 'update'),
    ('p', 'platform_admin', '*', 'member', 'read'),
    ('p', 'platform_admin', '*', 'member', 'manage'),
    ('p', 'platform_admin', '*', 'audit', 'read'),
    -- platform_operator: reads everything, changes no customer's configuration or access
    ('p', 'platform_operator', '*', 'workspace', 'read'),
    ('p', 'platform_operator', '*', 'tenant', 'read'),
    ('p', 'platform_operator', '*', 'member', 'read'),
    ('p', 'platform_operator', '*', 'audit', 'read'),
    -- owner
    ('p', 'owner', '*', 'workspace', 'read'),
    ('p', 'owner', '*', 'workspace', 'update'),
    ('p', 'owner', '*', 'tenant', 'read'),
    ('p', 'owner', '*', 'tenant', 'create'),
    ('p', 'owner', '*', 'tenant', 'update'),
    ('p', 'owner', '*', 'member', 'read'),
    ('p', 'owner', '*', 'member', 'manage'),
    ('p', 'owner', '*', 'audit', 'read'),
    -- manager
    ('p', 'manager', '*', 'workspace', 'read'),
    ('p', 'manager', '*', 'workspace', 'update'),
    ('p', 'manager', '*', 'tenant', 'read'),
    ('p', 'manager', '*', 'tenant', 'create'),
    ('p', 'manager', '*', 'tenant', 'update'),
    ('p', 'manager', '*', 'member', 'read'),
    ('p', 'manager', '*', 'audit', 'read'),
    -- operator
    ('p', 'operator', '*', 'workspace', 'read'),
    ('p', 'operator', '*', 'tenant', 'read'),
    ('p', 'operator', '*', 'tenant', 'update'),
    -- auditor
    ('p', 'auditor', '*', 'workspace', 'read'),
    ('p', 'auditor', '*', 'tenant', 'read'),
    ('p', 'auditor', '*', 'member', 'read'),
    ('p', 'auditor', '*', 'audit', 'read'),
    -- readonly
    ('p', 'readonly', '*', 'workspace', 'read'),
    ('p', 'readonly', '*', 'tenant', 'read');

-- Append-only audit trail; every chain (a workspace id, or '*' for platform-level events)
-- is a hash chain: hash = sha256(prev_hash || canonical event).
CREATE TABLE audit_events (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    chain         TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    workspace_id  UUID REFERENCES workspaces (id),
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    target_type   TEXT NOT NULL,
    target_id     TEXT NOT NULL,
    before        JSONB,
    after         JSONB,
    occurred_at   TIMESTAMPTZ NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL,
    CONSTRAINT audit_events_chain_seq_key UNIQUE (chain, seq)
);
CREATE INDEX audit_events_workspace_idx ON audit_events (workspace_id, seq);

CREATE TABLE audit_chain_heads (
    chain  TEXT PRIMARY KEY,
    seq    BIGINT NOT NULL,
    hash   TEXT NOT NULL
);

CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
