-- The referrals report reads the referrals created in a period, of one centre or of all.
CREATE INDEX referrals_created_at_idx ON referrals (created_at);
CREATE INDEX referrals_centre_created_at_idx ON referrals (centre_id, created_at);
-- The follow-ups report reads the follow-ups due in a period, of one centre or of all.
CREATE INDEX follow_ups_due_at_idx ON follow_ups (due_at);
CREATE INDEX follow_ups_centre_due_at_idx ON follow_ups (centre_id, due_at);
