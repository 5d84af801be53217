-- Indexes for the list filters a busy centre uses most, each led by the scope column.
CREATE INDEX cases_centre_status_idx ON cases (centre_id, status, id);
CREATE INDEX cases_centre_priority_idx ON cases (centre_id, priority, id);
CREATE INDEX consultations_centre_channel_idx ON consultations (centre_id, channel, occurred_at);
CREATE INDEX migrants_centre_nationality_idx ON migrants (centre_id, nationality, id);
CREATE INDEX migrants_centre_status_idx ON migrants (centre_id, migration_status, id);
CREATE INDEX users_role_idx ON users (role, id);
CREATE INDEX service_providers_city_idx ON service_providers (city, id);
-- Caseloads count each counsellor's open cases by priority with the oldest opening date: an
-- index-only aggregate with this one.
CREATE INDEX cases_caseload_idx ON cases (assigned_to, status, priority, opened_at);
CREATE INDEX idempotency_keys_user_created_idx ON idempotency_keys (user_id, created_at);
