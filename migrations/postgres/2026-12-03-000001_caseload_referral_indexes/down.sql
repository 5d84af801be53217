DROP INDEX referrals_open_idx;
