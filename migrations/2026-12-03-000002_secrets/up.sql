-- Secret classification: where each policy (and each version) holds secrets, which
-- secrets changed from the previous version, and who may list them workspace-wide.
-- Values are never stored: payloads hold marker objects with HMAC fingerprints.
ALTER TABLE policies
    ADD COLUMN secret_fields JSONB NOT NULL DEFAULT '[]',
    ADD COLUMN redaction_count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX policies_secrets_idx ON policies (workspace_id, display_name, id) WHERE redaction_count > 0 OR secret_fields <> '[]';
ALTER TABLE policy_versions
    ADD COLUMN secret_fields JSONB NOT NULL DEFAULT '[]',
    ADD COLUMN secret_changes JSONB NOT NULL DEFAULT '[]';

INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES
    ('p', 'platform_admin', '*', 'secret.inventory', 'read'),
    ('p', 'platform_operator', '*', 'secret.inventory', 'read'),
    ('p', 'owner', '*', 'secret.inventory', 'read'),
    ('p', 'manager', '*', 'secret.inventory', 'read'),
    ('p', 'operator', '*', 'secret.inventory', 'read'),
    ('p', 'auditor', '*', 'secret.inventory', 'read');
