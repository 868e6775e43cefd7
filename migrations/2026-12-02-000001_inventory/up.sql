-- Inventory: tenant provider connections, policies with their versions, operation runs.

ALTER TABLE tenants
    ADD COLUMN connection_kind TEXT,
    ADD COLUMN export_path TEXT,
    ADD COLUMN last_synced_at TIMESTAMPTZ,
    ADD CONSTRAINT tenants_connection_kind_known
        CHECK (connection_kind IS NULL OR connection_kind IN ('EXPORT_DIRECTORY', 'MICROSOFT_GRAPH'));

CREATE TABLE policies (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id     UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    tenant_id        UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    contract_type    TEXT NOT NULL,
    external_id      TEXT NOT NULL,
    display_name     TEXT NOT NULL,
    platform         TEXT NOT NULL,
    odata_type       TEXT,
    payload          JSONB NOT NULL,
    payload_hash     TEXT NOT NULL,
    settings         JSONB NOT NULL,
    assignments      JSONB NOT NULL,
    lifecycle_state  TEXT NOT NULL DEFAULT 'ACTIVE',
    version_count    INTEGER NOT NULL DEFAULT 1,
    first_seen_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at       TIMESTAMPTZ,
    restored_at      TIMESTAMPTZ,
    -- Top-level export folder the policy was last read from: absence only means deletion
    -- when that folder was listed completely.
    source_folder    TEXT,
    CONSTRAINT policies_tenant_contract_external_key UNIQUE (tenant_id, contract_type, external_id),
    CONSTRAINT policies_lifecycle_known CHECK (lifecycle_state IN ('ACTIVE', 'DELETED'))
);
CREATE INDEX policies_workspace_idx ON policies (workspace_id, display_name, id);
CREATE INDEX policies_tenant_idx ON policies (tenant_id, display_name, id);

CREATE TABLE policy_versions (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    policy_id     UUID NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
    workspace_id  UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    payload_hash  TEXT NOT NULL,
    payload       JSONB NOT NULL,
    operation_run_id UUID,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT policy_versions_policy_version_key UNIQUE (policy_id, version)
);
CREATE INDEX policy_versions_policy_idx ON policy_versions (policy_id, version DESC);

CREATE TABLE operation_runs (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id      UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    tenant_id         UUID REFERENCES tenants (id) ON DELETE CASCADE,
    kind              TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'QUEUED',
    params            JSONB NOT NULL DEFAULT '{}',
    processed         INTEGER NOT NULL DEFAULT 0,
    total             INTEGER,
    message           TEXT,
    warnings          JSONB NOT NULL DEFAULT '[]',
    attempt           INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL DEFAULT 3,
    lease_owner       TEXT,
    lease_expires_at  TIMESTAMPTZ,
    cancel_requested  BOOLEAN NOT NULL DEFAULT false,
    created_count     INTEGER NOT NULL DEFAULT 0,
    updated_count     INTEGER NOT NULL DEFAULT 0,
    unchanged_count   INTEGER NOT NULL DEFAULT 0,
    deleted_count     INTEGER NOT NULL DEFAULT 0,
    restored_count    INTEGER NOT NULL DEFAULT 0,
    error             TEXT,
    initiated_by      TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at        TIMESTAMPTZ,
    finished_at       TIMESTAMPTZ,
    CONSTRAINT operation_runs_status_known
        CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'))
);
CREATE INDEX operation_runs_queue_idx ON operation_runs (created_at) WHERE status IN ('QUEUED', 'RUNNING');
CREATE INDEX operation_runs_workspace_idx ON operation_runs (workspace_id, created_at DESC);

INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES
    ('p', 'platform_admin', '*', 'policy', 'read'),
    ('p', 'platform_admin', '*', 'inventory', 'sync'),
    ('p', 'platform_admin', '*', 'operation_run', 'read'),
    ('p', 'platform_admin', '*', 'operation_run', 'cancel'),
    ('p', 'platform_admin', '*', 'connection', 'manage'),
    ('p', 'platform_operator', '*', 'policy', 'read'),
    ('p', 'platform_operator', '*', 'inventory', 'sync'),
    ('p', 'platform_operator', '*', 'operation_run', 'read'),
    ('p', 'platform_operator', '*', 'operation_run', 'cancel'),
    ('p', 'owner', '*', 'policy', 'read'),
    ('p', 'owner', '*', 'inventory', 'sync'),
    ('p', 'owner', '*', 'operation_run', 'read'),
    ('p', 'owner', '*', 'operation_run', 'cancel'),
    ('p', 'owner', '*', 'connection', 'manage'),
    ('p', 'manager', '*', 'policy', 'read'),
    ('p', 'manager', '*', 'inventory', 'sync'),
    ('p', 'manager', '*', 'operation_run', 'read'),
    ('p', 'manager', '*', 'operation_run', 'cancel'),
    ('p', 'manager', '*', 'connection', 'manage'),
    ('p', 'operator', '*', 'policy', 'read'),
    ('p', 'operator', '*', 'inventory', 'sync'),
    ('p', 'operator', '*', 'operation_run', 'read'),
    ('p', 'operator', '*', 'operation_run', 'cancel'),
    ('p', 'auditor', '*', 'policy', 'read'),
    ('p', 'auditor', '*', 'operation_run', 'read'),
    ('p', 'readonly', '*', 'policy', 'read'),
    ('p', 'readonly', '*', 'operation_run', 'read');
