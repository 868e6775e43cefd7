ALTER TABLE policy_versions ALTER COLUMN payload TYPE JSONB USING payload::jsonb,
    ALTER COLUMN payload SET COMPRESSION default;
ALTER TABLE policies ADD COLUMN payload JSONB, ADD COLUMN settings JSONB NOT NULL DEFAULT '[]';
UPDATE policies p SET payload = v.payload::jsonb
    FROM policy_versions v WHERE v.policy_id = p.id AND v.version = p.version_count;
UPDATE policies SET payload = '{}' WHERE payload IS NULL;
ALTER TABLE policies ALTER COLUMN payload SET NOT NULL, ALTER COLUMN settings DROP DEFAULT;
ALTER TABLE policies DROP COLUMN setting_count;
