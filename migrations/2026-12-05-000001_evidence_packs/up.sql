-- Evidence packs: immutable, signed bundles for auditors, and the public halves of the
-- keys that sign them (private halves live in the data directory, never in the database).
CREATE TABLE evidence_signing_keys (
    id          TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL DEFAULT 'Ed25519',
    public_key  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    retired_at  TIMESTAMPTZ
);

CREATE TABLE evidence_packs (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id      UUID NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    title             TEXT NOT NULL,
    tenant_ids        UUID[] NOT NULL,
    period_start      TIMESTAMPTZ NOT NULL,
    period_end        TIMESTAMPTZ NOT NULL,
    status            TEXT NOT NULL DEFAULT 'QUEUED',
    created_by        UUID REFERENCES users (id),
    created_by_actor  TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    built_at          TIMESTAMPTZ,
    operation_run_id  UUID REFERENCES operation_runs (id) ON DELETE SET NULL,
    -- Where the storage keeps the ZIP (a key of the storage, not a server path).
    storage_key       TEXT,
    size_bytes        BIGINT,
    sha256            TEXT,
    manifest          JSONB,
    signing_key_id    TEXT REFERENCES evidence_signing_keys (id),
    error             TEXT,
    CONSTRAINT evidence_packs_status_known CHECK (status IN ('QUEUED', 'BUILDING', 'READY', 'FAILED')),
    CONSTRAINT evidence_packs_period_ordered CHECK (period_end >= period_start),
    CONSTRAINT evidence_packs_title_present CHECK (length(btrim(title)) > 0)
);
CREATE INDEX evidence_packs_workspace_idx ON evidence_packs (workspace_id, created_at DESC, id DESC);

-- A READY or FAILED pack never changes (only its deletion removes it), and only a build
-- makes one READY.
CREATE FUNCTION evidence_packs_ready_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('READY', 'FAILED') OR (NEW.status = 'READY' AND OLD.status <> 'BUILDING') THEN
        RAISE EXCEPTION 'evidence pack % (%) cannot change to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'evidence_packs_ready_immutable';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER evidence_packs_ready_immutable BEFORE UPDATE ON evidence_packs
    FOR EACH ROW EXECUTE FUNCTION evidence_packs_ready_immutable();

INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES
    ('p', 'platform_admin', '*', 'evidence_pack', 'read'),
    ('p', 'platform_admin', '*', 'evidence_pack', 'create'),
    ('p', 'platform_admin', '*', 'evidence_pack', 'download'),
    ('p', 'platform_admin', '*', 'evidence_pack', 'delete'),
    ('p', 'platform_operator', '*', 'evidence_pack', 'read'),
    ('p', 'platform_operator', '*', 'evidence_pack', 'create'),
    ('p', 'platform_operator', '*', 'evidence_pack', 'download'),
    ('p', 'owner', '*', 'evidence_pack', 'read'),
    ('p', 'owner', '*', 'evidence_pack', 'create'),
    ('p', 'owner', '*', 'evidence_pack', 'download'),
    ('p', 'owner', '*', 'evidence_pack', 'delete'),
    ('p', 'manager', '*', 'evidence_pack', 'read'),
    ('p', 'manager', '*', 'evidence_pack', 'create'),
    ('p', 'manager', '*', 'evidence_pack', 'download'),
    ('p', 'operator', '*', 'evidence_pack', 'read'),
    ('p', 'auditor', '*', 'evidence_pack', 'read'),
    ('p', 'auditor', '*', 'evidence_pack', 'create'),
    ('p', 'auditor', '*', 'evidence_pack', 'download'),
    ('p', 'readonly', '*', 'evidence_pack', 'read');
