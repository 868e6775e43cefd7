DELETE FROM casbin_rule WHERE ptype = 'p' AND ((v2 = 'baseline' AND v3 IN ('read', 'manage'))
    OR (v2 = 'finding' AND v3 IN ('read', 'triage')) OR (v2 = 'drift' AND v3 = 'evaluate'));
DROP INDEX operation_runs_one_queued_evaluation;
ALTER TABLE policy_versions DROP COLUMN template_id, DROP COLUMN settings_digest;
DROP TABLE compliance_snapshots;
DROP TABLE finding_history;
DROP TABLE finding_comments;
DROP TABLE findings;
DROP TABLE baseline_mappings;
DROP TABLE baseline_assignments;
DROP TABLE baseline_items;
DROP TABLE baseline_versions;
DROP TABLE baselines;
