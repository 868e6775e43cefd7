DELETE FROM casbin_rule WHERE ptype = 'p' AND v2 = 'evidence_pack';
DROP TRIGGER evidence_packs_ready_immutable ON evidence_packs;
DROP FUNCTION evidence_packs_ready_immutable();
DROP TABLE evidence_packs;
DROP TABLE evidence_signing_keys;
