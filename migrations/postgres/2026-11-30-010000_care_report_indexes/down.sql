DROP INDEX follow_ups_centre_due_at_idx;
DROP INDEX follow_ups_due_at_idx;
DROP INDEX referrals_centre_created_at_idx;
DROP INDEX referrals_created_at_idx;
