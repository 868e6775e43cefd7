DELETE FROM casbin_rule WHERE ptype = 'p' AND v2 = 'secret.inventory';
ALTER TABLE policy_versions DROP COLUMN secret_changes, DROP COLUMN secret_fields;
DROP INDEX policies_secrets_idx;
ALTER TABLE policies DROP COLUMN redaction_count, DROP COLUMN secret_fields;
