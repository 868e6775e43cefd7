-- Risk acceptance: formal, expiring, four-eyes exceptions for findings, their history,
-- and the workspace's longest allowed acceptance.
ALTER TABLE workspaces ADD COLUMN exception_max_days INTEGER NOT NULL DEFAULT 365,
    ADD CONSTRAINT workspaces_exception_max_days_range CHECK (exception_max_days BETWEEN 1 AND 3650);

CREATE TABLE finding_exceptions (
    id                     UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id           UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    finding_id             UUID NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
    tenant_id              UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    scope                  TEXT NOT NULL DEFAULT 'FINDING',
    setting_path           TEXT,
    -- The finding's actual value when the exception was approved: what is accepted.
    accepted_value         JSONB,
    justification          TEXT NOT NULL,
    compensating_controls  TEXT NOT NULL DEFAULT '',
    ticket_reference       TEXT,
    requested_by           UUID NOT NULL REFERENCES users (id),
    requested_at           TIMESTAMPTZ NOT NULL,
    decided_by             UUID REFERENCES users (id),
    decided_at             TIMESTAMPTZ,
    decision_comment       TEXT,
    status                 TEXT NOT NULL DEFAULT 'PENDING',
    expires_at             TIMESTAMPTZ NOT NULL,
    renewal_of             UUID REFERENCES finding_exceptions (id),
    -- The accepted value changed while approved: the exception no longer covers the finding.
    superseded_at          TIMESTAMPTZ,
    -- When the "expiring soon" event was recorded (once per exception).
    expiry_notice_at       TIMESTAMPTZ,
    updated_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT finding_exceptions_status_known
        CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED', 'REVOKED', 'EXPIRED')),
    CONSTRAINT finding_exceptions_scope_known CHECK (scope IN ('FINDING', 'SETTING'))
);
-- One pending request per finding at a time (a renewal is a request too).
CREATE UNIQUE INDEX finding_exceptions_one_pending ON finding_exceptions (finding_id) WHERE status = 'PENDING';
CREATE INDEX finding_exceptions_workspace_idx ON finding_exceptions (workspace_id, expires_at, id);
CREATE INDEX finding_exceptions_finding_idx ON finding_exceptions (finding_id);
CREATE INDEX finding_exceptions_due_idx ON finding_exceptions (expires_at) WHERE status = 'APPROVED';

CREATE TABLE exception_history (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    exception_id  UUID NOT NULL REFERENCES finding_exceptions (id) ON DELETE CASCADE,
    workspace_id  UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    action        TEXT NOT NULL,
    actor         TEXT NOT NULL,
    comment       TEXT,
    at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX exception_history_exception_idx ON exception_history (exception_id, at, id);

-- At most one queued expiry sweep per workspace.
CREATE UNIQUE INDEX operation_runs_one_queued_sweep ON operation_runs (workspace_id)
    WHERE kind = 'EXCEPTION_EXPIRY' AND status = 'QUEUED';

INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES
    ('p', 'platform_admin', '*', 'exception', 'read'),
    ('p', 'platform_admin', '*', 'exception', 'request'),
    ('p', 'platform_admin', '*', 'exception', 'approve'),
    ('p', 'platform_operator', '*', 'exception', 'read'),
    ('p', 'owner', '*', 'exception', 'read'),
    ('p', 'owner', '*', 'exception', 'request'),
    ('p', 'owner', '*', 'exception', 'approve'),
    ('p', 'manager', '*', 'exception', 'read'),
    ('p', 'manager', '*', 'exception', 'request'),
    ('p', 'manager', '*', 'exception', 'approve'),
    ('p', 'operator', '*', 'exception', 'read'),
    ('p', 'operator', '*', 'exception', 'request'),
    ('p', 'auditor', '*', 'exception', 'read'),
    ('p', 'readonly', '*', 'exception', 'read');
