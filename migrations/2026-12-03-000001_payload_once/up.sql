-- A policy's payload is kept once, in its current version (policies.version_count), not
-- also on the policy row; flattened settings are computed from it when asked, and only
-- their count is kept for lists. Version payloads are snapshots, read whole and never
-- queried inside by SQL: they are kept as the JSON text the import wrote from the parsed
-- (and, later, redacted) payload, as TEXT: converting to jsonb, or even checking `json`,
-- was the largest server cost of an import. lz4 TOAST compression is several times
-- faster than pglz on the large settings-catalog exports.
ALTER TABLE policies ADD COLUMN setting_count INTEGER NOT NULL DEFAULT 0;
UPDATE policies SET setting_count = jsonb_array_length(settings);
ALTER TABLE policies DROP COLUMN payload, DROP COLUMN settings;
ALTER TABLE policy_versions ALTER COLUMN payload TYPE TEXT USING payload::text,
    ALTER COLUMN payload SET COMPRESSION lz4;
