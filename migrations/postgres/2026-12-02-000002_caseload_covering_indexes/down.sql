DROP INDEX consultations_counsellor_centre_idx;
DROP INDEX cases_caseload_idx;
CREATE INDEX cases_caseload_idx ON cases (assigned_to, status, priority, opened_at);
