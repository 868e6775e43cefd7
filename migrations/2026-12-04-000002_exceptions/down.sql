DELETE FROM casbin_rule WHERE ptype = 'p' AND v2 = 'exception';
DROP INDEX operation_runs_one_queued_sweep;
DROP TABLE exception_history;
DROP TABLE finding_exceptions;
ALTER TABLE workspaces DROP CONSTRAINT workspaces_exception_max_days_range, DROP COLUMN exception_max_days;
