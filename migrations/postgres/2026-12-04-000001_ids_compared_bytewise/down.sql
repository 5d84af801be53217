-- Ids compared under the database's collation again.
ALTER TABLE audit_event_subjects
    ALTER COLUMN event_id TYPE text COLLATE "default",
    ALTER COLUMN migrant_id TYPE text COLLATE "default";
ALTER TABLE audit_events
    ALTER COLUMN id TYPE text COLLATE "default",
    ALTER COLUMN actor_id TYPE text COLLATE "default",
    ALTER COLUMN entity_id TYPE text COLLATE "default",
    ALTER COLUMN centre_id TYPE text COLLATE "default",
    ALTER COLUMN request_id TYPE text COLLATE "default";
ALTER TABLE case_events
    ALTER COLUMN id TYPE text COLLATE "default",
    ALTER COLUMN case_id TYPE text COLLATE "default",
    ALTER COLUMN actor_id TYPE text COLLATE "default",
    ALTER COLUMN assigned_to TYPE text COLLATE "default";
ALTER TABLE cases
    ALTER COLUMN id TYPE text COLLATE "default",
    ALTER COLUMN migrant_id TYPE text COLLATE "default",
    ALTER COLUMN centre_id TYPE text COLLATE "default",
    ALTER COLUMN assigned_to TYPE text COLLATE "default",
    ALTER COLUMN opened_by TYPE text COLLATE "default";
ALTER TABLE centres
    ALTER COLUMN id TYPE text COLLATE "default";
ALTER TABLE consultation_topics
    ALTER COLUMN consultation_id TYPE text COLLATE "default";
ALTER TABLE consultations
    ALTER COLUMN id TYPE text COLLATE "default",
    ALTER COLUMN centre_id TYPE text COLLATE "default",
    ALTER COLUMN counsellor_id TYPE text COLLATE "default",
    ALTER COLUMN migrant_id TYPE text COLLATE "default",
    ALTER COLUMN case_id TYPE text COLLATE "default";
ALTER TABLE follow_ups
    ALTER COLUMN id TYPE text COLLATE "default",
    ALTER COLUMN case_id TYPE text COLLATE "default",
    ALTER COLUMN centre_id TYPE text COLLATE "default",
    ALTER COLUMN assigned_to TYPE text COLLATE "default",
    ALTER COLUMN created_by TYPE text COLLATE "default";
ALTER TABLE group_session_attendees
    ALTER COLUMN session_id TYPE text COLLATE "default",
    ALTER COLUMN migrant_id TYPE text COLLATE "default",
    ALTER COLUMN added_by TYPE text COLLATE "default";
ALTER TABLE group_session_facilitators
    ALTER COLUMN session_id TYPE text COLLATE "default",
    ALTER COLUMN user_id TYPE text COLLATE "default";
ALTER TABLE group_session_tallies
    ALTER COLUMN id TYPE text COLLATE "default",
    ALTER COLUMN session_id TYPE text COLLATE "default";
ALTER TABLE group_session_topics
    ALTER COLUMN session_id TYPE text COLLATE "default";
ALTER TABLE group_sessions
    ALTER COLUMN id TYPE text COLLATE "default",
    ALTER COLUMN centre_id TYPE text COLLATE "default",
    ALTER COLUMN created_by TYPE text COLLATE "default",
    ALTER COLUMN partner_provider_id TYPE text COLLATE "default";
ALTER TABLE idempotency_keys
    ALTER COLUMN user_id TYPE text COLLATE "default";
ALTER TABLE migrant_consent_events
    ALTER COLUMN id TYPE text COLLATE "default",
    ALTER COLUMN migrant_id TYPE text COLLATE "default",
    ALTER COLUMN recorded_by TYPE text COLLATE "default";
ALTER TABLE migrant_name_tokens
    ALTER COLUMN migrant_id TYPE text COLLATE "default";
ALTER TABLE migrant_vulnerabilities
    ALTER COLUMN migrant_id TYPE text COLLATE "default";
ALTER TABLE migrants
    ALTER COLUMN id TYPE text COLLATE "default",
    ALTER COLUMN centre_id TYPE text COLLATE "default",
    ALTER COLUMN registered_by TYPE text COLLATE "default",
    ALTER COLUMN anonymised_by TYPE text COLLATE "default";
ALTER TABLE referral_transitions
    ALTER COLUMN id TYPE text COLLATE "default",
    ALTER COLUMN referral_id TYPE text COLLATE "default",
    ALTER COLUMN actor_id TYPE text COLLATE "default";
ALTER TABLE referrals
    ALTER COLUMN id TYPE text COLLATE "default",
    ALTER COLUMN case_id TYPE text COLLATE "default",
    ALTER COLUMN centre_id TYPE text COLLATE "default",
    ALTER COLUMN migrant_id TYPE text COLLATE "default",
    ALTER COLUMN provider_id TYPE text COLLATE "default",
    ALTER COLUMN created_by TYPE text COLLATE "default";
ALTER TABLE refresh_tokens
    ALTER COLUMN session_id TYPE text COLLATE "default";
ALTER TABLE service_provider_languages
    ALTER COLUMN provider_id TYPE text COLLATE "default";
ALTER TABLE service_providers
    ALTER COLUMN id TYPE text COLLATE "default",
    ALTER COLUMN centre_id TYPE text COLLATE "default";
ALTER TABLE sessions
    ALTER COLUMN id TYPE text COLLATE "default",
    ALTER COLUMN user_id TYPE text COLLATE "default";
ALTER TABLE users
    ALTER COLUMN id TYPE text COLLATE "default",
    ALTER COLUMN centre_id TYPE text COLLATE "default";
