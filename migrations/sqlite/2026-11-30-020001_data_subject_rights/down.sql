DROP INDEX referrals_migrant_idx;
ALTER TABLE audit_events DROP COLUMN reason;
ALTER TABLE migrants DROP COLUMN anonymised_by;
ALTER TABLE migrants DROP COLUMN anonymised_at;
