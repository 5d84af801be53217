-- Ids (and the references to them) are compared byte by byte, as SQLite compares them. Under the
-- database's own collation every comparison of two ids in a B-tree went through the locale's
-- string comparison: a page of 50 cases writes 100 audit index entries keyed by ids, and a
-- walk-in's consultation goes into ten indexes, most of them keyed by ids. Ids are ASCII, so
-- their order does not change. Changing a column's collation drops its planner statistics
-- (without them the page of cases chose a slower plan), hence the ANALYZE. On an existing
-- database this rebuilds every index on these columns once, with the tables locked: minutes for
-- a large audit trail, during the upgrade's start-up.
ALTER TABLE audit_event_subjects
    ALTER COLUMN event_id TYPE text COLLATE "C",
    ALTER COLUMN migrant_id TYPE text COLLATE "C";
ALTER TABLE audit_events
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN actor_id TYPE text COLLATE "C",
    ALTER COLUMN entity_id TYPE text COLLATE "C",
    ALTER COLUMN centre_id TYPE text COLLATE "C",
    ALTER COLUMN request_id TYPE text COLLATE "C";
ALTER TABLE case_events
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN case_id TYPE text COLLATE "C",
    ALTER COLUMN actor_id TYPE text COLLATE "C",
    ALTER COLUMN assigned_to TYPE text COLLATE "C";
ALTER TABLE cases
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN migrant_id TYPE text COLLATE "C",
    ALTER COLUMN centre_id TYPE text COLLATE "C",
    ALTER COLUMN assigned_to TYPE text COLLATE "C",
    ALTER COLUMN opened_by TYPE text COLLATE "C";
ALTER TABLE centres
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE consultation_topics
    ALTER COLUMN consultation_id TYPE text COLLATE "C";
ALTER TABLE consultations
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN centre_id TYPE text COLLATE "C",
    ALTER COLUMN counsellor_id TYPE text COLLATE "C",
    ALTER COLUMN migrant_id TYPE text COLLATE "C",
    ALTER COLUMN case_id TYPE text COLLATE "C";
ALTER TABLE follow_ups
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN case_id TYPE text COLLATE "C",
    ALTER COLUMN centre_id TYPE text COLLATE "C",
    ALTER COLUMN assigned_to TYPE text COLLATE "C",
    ALTER COLUMN created_by TYPE text COLLATE "C";
ALTER TABLE group_session_attendees
    ALTER COLUMN session_id TYPE text COLLATE "C",
    ALTER COLUMN migrant_id TYPE text COLLATE "C",
    ALTER COLUMN added_by TYPE text COLLATE "C";
ALTER TABLE group_session_facilitators
    ALTER COLUMN session_id TYPE text COLLATE "C",
    ALTER COLUMN user_id TYPE text COLLATE "C";
ALTER TABLE group_session_tallies
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN session_id TYPE text COLLATE "C";
ALTER TABLE group_session_topics
    ALTER COLUMN session_id TYPE text COLLATE "C";
ALTER TABLE group_sessions
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN centre_id TYPE text COLLATE "C",
    ALTER COLUMN created_by TYPE text COLLATE "C",
    ALTER COLUMN partner_provider_id TYPE text COLLATE "C";
ALTER TABLE idempotency_keys
    ALTER COLUMN user_id TYPE text COLLATE "C";
ALTER TABLE migrant_consent_events
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN migrant_id TYPE text COLLATE "C",
    ALTER COLUMN recorded_by TYPE text COLLATE "C";
ALTER TABLE migrant_name_tokens
    ALTER COLUMN migrant_id TYPE text COLLATE "C";
ALTER TABLE migrant_vulnerabilities
    ALTER COLUMN migrant_id TYPE text COLLATE "C";
ALTER TABLE migrants
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN centre_id TYPE text COLLATE "C",
    ALTER COLUMN registered_by TYPE text COLLATE "C",
    ALTER COLUMN anonymised_by TYPE text COLLATE "C";
ALTER TABLE referral_transitions
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN referral_id TYPE text COLLATE "C",
    ALTER COLUMN actor_id TYPE text COLLATE "C";
ALTER TABLE referrals
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN case_id TYPE text COLLATE "C",
    ALTER COLUMN centre_id TYPE text COLLATE "C",
    ALTER COLUMN migrant_id TYPE text COLLATE "C",
    ALTER COLUMN provider_id TYPE text COLLATE "C",
    ALTER COLUMN created_by TYPE text COLLATE "C";
ALTER TABLE refresh_tokens
    ALTER COLUMN session_id TYPE text COLLATE "C";
ALTER TABLE service_provider_languages
    ALTER COLUMN provider_id TYPE text COLLATE "C";
ALTER TABLE service_providers
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN centre_id TYPE text COLLATE "C";
ALTER TABLE sessions
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN user_id TYPE text COLLATE "C";
ALTER TABLE users
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN centre_id TYPE text COLLATE "C";
ANALYZE;
