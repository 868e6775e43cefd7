-- Baselines (versioned snapshots of expected policies), their assignment to tenants,
-- drift findings with their workflow, and daily compliance snapshots.

CREATE TABLE baselines (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id      UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    source_tenant_id  UUID REFERENCES tenants (id) ON DELETE SET NULL,
    current_version   INTEGER NOT NULL DEFAULT 1,
    created_by        TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT baselines_name_present CHECK (length(btrim(name)) > 0)
);
CREATE UNIQUE INDEX baselines_workspace_name_key ON baselines (workspace_id, lower(name));

CREATE TABLE baseline_versions (
    baseline_id   UUID NOT NULL REFERENCES baselines (id) ON DELETE CASCADE,
    workspace_id  UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    item_count    INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (baseline_id, version)
);

-- One expected policy of one baseline version. `lineage_id` stays the same across
-- versions for the same source policy, so mappings and findings follow it.
CREATE TABLE baseline_items (
    id                  UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id        UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    baseline_id         UUID NOT NULL REFERENCES baselines (id) ON DELETE CASCADE,
    version             INTEGER NOT NULL,
    lineage_id          UUID NOT NULL,
    contract_type       TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    match_name          TEXT NOT NULL,
    template_id         TEXT,
    source_policy_id    UUID REFERENCES policies (id) ON DELETE SET NULL,
    source_version      INTEGER,
    payload_hash        TEXT NOT NULL,
    payload             TEXT NOT NULL,
    setting_count       INTEGER NOT NULL,
    -- Digest of the comparable settings: a tenant policy with the same one has no drift.
    settings_digest     TEXT NOT NULL,
    -- [{path, severity}] and [path]; a path covers its children.
    severity_overrides  JSONB NOT NULL DEFAULT '[]',
    ignored_paths       JSONB NOT NULL DEFAULT '[]',
    CONSTRAINT baseline_items_version_lineage_key UNIQUE (baseline_id, version, lineage_id)
);
ALTER TABLE baseline_items ALTER COLUMN payload SET COMPRESSION lz4;
CREATE INDEX baseline_items_baseline_idx ON baseline_items (baseline_id, version, display_name);

CREATE TABLE baseline_assignments (
    baseline_id        UUID NOT NULL REFERENCES baselines (id) ON DELETE CASCADE,
    tenant_id          UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    workspace_id       UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    assigned_by        TEXT NOT NULL,
    assigned_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- From the latest evaluation: the severity weight of everything checked.
    last_evaluated_at  TIMESTAMPTZ,
    check_count        INTEGER NOT NULL DEFAULT 0,
    check_weight       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (baseline_id, tenant_id)
);
CREATE INDEX baseline_assignments_tenant_idx ON baseline_assignments (tenant_id);

-- Explicit matches: this baseline policy is that tenant policy.
CREATE TABLE baseline_mappings (
    baseline_id   UUID NOT NULL REFERENCES baselines (id) ON DELETE CASCADE,
    lineage_id    UUID NOT NULL,
    tenant_id     UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    workspace_id  UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    policy_id     UUID NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
    mapped_by     TEXT NOT NULL,
    mapped_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (baseline_id, lineage_id, tenant_id)
);

CREATE TABLE findings (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id      UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    tenant_id         UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    baseline_id       UUID NOT NULL REFERENCES baselines (id) ON DELETE CASCADE,
    lineage_id        UUID NOT NULL,
    policy_id         UUID REFERENCES policies (id) ON DELETE SET NULL,
    fingerprint       TEXT NOT NULL,
    kind              TEXT NOT NULL,
    severity          TEXT NOT NULL,
    severity_rank     SMALLINT NOT NULL,
    weight            BIGINT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'OPEN',
    title             TEXT NOT NULL,
    setting_path      TEXT,
    expected_value    JSONB,
    actual_value      JSONB,
    first_seen_at     TIMESTAMPTZ NOT NULL,
    last_seen_at      TIMESTAMPTZ NOT NULL,
    resolved_at       TIMESTAMPTZ,
    resolution        TEXT,
    reopen_count      INTEGER NOT NULL DEFAULT 0,
    assignee_user_id  UUID REFERENCES users (id) ON DELETE SET NULL,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT findings_workspace_fingerprint_key UNIQUE (workspace_id, fingerprint),
    CONSTRAINT findings_kind_known CHECK (kind IN ('MISSING_POLICY', 'SETTING_MISMATCH', 'MISSING_SETTING',
        'UNEXPECTED_SETTING', 'GHOST_POLICY', 'AMBIGUOUS_MATCH')),
    CONSTRAINT findings_severity_known CHECK (severity IN ('CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFO')),
    CONSTRAINT findings_status_known CHECK (status IN ('OPEN', 'TRIAGED', 'IN_PROGRESS', 'RESOLVED', 'RISK_ACCEPTED'))
);
CREATE INDEX findings_workspace_idx ON findings (workspace_id, severity_rank DESC, last_seen_at DESC, id);
CREATE INDEX findings_tenant_idx ON findings (tenant_id, severity_rank DESC, last_seen_at DESC, id);
CREATE INDEX findings_policy_idx ON findings (policy_id) WHERE policy_id IS NOT NULL;

CREATE TABLE finding_comments (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    finding_id    UUID NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
    workspace_id  UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    author        TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX finding_comments_finding_idx ON finding_comments (finding_id, created_at);

-- Every change of a finding: detections, status changes, assignment, comments.
CREATE TABLE finding_history (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    finding_id    UUID NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
    workspace_id  UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    action        TEXT NOT NULL,
    actor         TEXT NOT NULL,
    from_status   TEXT,
    to_status     TEXT,
    comment       TEXT,
    at            TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX finding_history_finding_idx ON finding_history (finding_id, at);

-- One row per scope and day (tenant_id NULL: the whole workspace); the latest write of a
-- day wins. Trends read these.
CREATE TABLE compliance_snapshots (
    workspace_id     UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    tenant_id        UUID REFERENCES tenants (id) ON DELETE CASCADE,
    day              DATE NOT NULL,
    score            INTEGER,
    total_weight     BIGINT NOT NULL,
    drift_weight     BIGINT NOT NULL,
    accepted_weight  BIGINT NOT NULL,
    open_critical    INTEGER NOT NULL,
    open_high        INTEGER NOT NULL,
    open_medium      INTEGER NOT NULL,
    open_low         INTEGER NOT NULL,
    open_info        INTEGER NOT NULL,
    accepted_count   INTEGER NOT NULL,
    taken_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT compliance_snapshots_scope_day_key UNIQUE NULLS NOT DISTINCT (workspace_id, tenant_id, day)
);

-- At most one queued evaluation per tenant: it sees everything that happened before it
-- starts, so a second one would only repeat it.
CREATE UNIQUE INDEX operation_runs_one_queued_evaluation ON operation_runs (tenant_id)
    WHERE kind = 'DRIFT_EVALUATION' AND status = 'QUEUED';

-- Drift metadata of a version, computed by the first evaluation that reads it (versions
-- never change): its settings digest and its settings catalog template id.
ALTER TABLE policy_versions
    ADD COLUMN settings_digest TEXT,
    ADD COLUMN template_id TEXT;

INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES
    ('p', 'platform_admin', '*', 'baseline', 'read'),
    ('p', 'platform_admin', '*', 'baseline', 'manage'),
    ('p', 'platform_admin', '*', 'finding', 'read'),
    ('p', 'platform_admin', '*', 'finding', 'triage'),
    ('p', 'platform_admin', '*', 'drift', 'evaluate'),
    ('p', 'platform_operator', '*', 'baseline', 'read'),
    ('p', 'platform_operator', '*', 'finding', 'read'),
    ('p', 'platform_operator', '*', 'finding', 'triage'),
    ('p', 'platform_operator', '*', 'drift', 'evaluate'),
    ('p', 'owner', '*', 'baseline', 'read'),
    ('p', 'owner', '*', 'baseline', 'manage'),
    ('p', 'owner', '*', 'finding', 'read'),
    ('p', 'owner', '*', 'finding', 'triage'),
    ('p', 'owner', '*', 'drift', 'evaluate'),
    ('p', 'manager', '*', 'baseline', 'read'),
    ('p', 'manager', '*', 'baseline', 'manage'),
    ('p', 'manager', '*', 'finding', 'read'),
    ('p', 'manager', '*', 'finding', 'triage'),
    ('p', 'manager', '*', 'drift', 'evaluate'),
    ('p', 'operator', '*', 'baseline', 'read'),
    ('p', 'operator', '*', 'finding', 'read'),
    ('p', 'operator', '*', 'finding', 'triage'),
    ('p', 'operator', '*', 'drift', 'evaluate'),
    ('p', 'auditor', '*', 'baseline', 'read'),
    ('p', 'auditor', '*', 'finding', 'read'),
    ('p', 'readonly', '*', 'baseline', 'read'),
    ('p', 'readonly', '*', 'finding', 'read');
