-- Anonymisation (right to erasure): when and by whom a person's identifying data was erased.
-- `anonymised_by` is null when the retention job did it (actor: system).
ALTER TABLE migrants ADD COLUMN anonymised_at TIMESTAMP;
ALTER TABLE migrants ADD COLUMN anonymised_by TEXT REFERENCES users (id);
-- Why an action was taken, when the action needs one on record (an anonymisation's legal basis
-- or request reference). Never personal data: the API refuses a reason naming the person.
ALTER TABLE audit_events ADD COLUMN reason TEXT;
-- A person's referrals, for their export, their anonymisation and the retention job.
CREATE INDEX referrals_migrant_idx ON referrals (migrant_id, updated_at);
