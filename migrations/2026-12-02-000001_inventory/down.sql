DELETE FROM casbin_rule WHERE ptype = 'p' AND v2 IN ('policy', 'inventory', 'operation_run', 'connection');
DROP TABLE IF EXISTS operation_runs;
DROP TABLE IF EXISTS policy_versions;
DROP TABLE IF EXISTS policies;
ALTER TABLE tenants
    DROP CONSTRAINT IF EXISTS tenants_connection_kind_known,
    DROP COLUMN IF EXISTS last_synced_at,
    DROP COLUMN IF EXISTS export_path,
    DROP COLUMN IF EXISTS connection_kind;
