DROP INDEX cases_assignee_idx;
DROP INDEX referrals_open_idx;
