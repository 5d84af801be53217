-- The referral directory, referrals with their status history, and follow-ups.

CREATE TABLE service_providers (
    id TEXT NOT NULL PRIMARY KEY,
    -- NULL: a global entry (managed by admins), usable by every centre.
    centre_id TEXT REFERENCES centres (id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('legal_aid', 'health', 'shelter', 'employment', 'education', 'financial', 'government', 'embassy', 'ngo', 'other')),
    description TEXT,
    address TEXT,
    city TEXT,
    country TEXT,
    phone TEXT,
    email TEXT,
    website TEXT,
    opening_hours TEXT,
    accepts_referrals BOOLEAN NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX service_providers_centre_idx ON service_providers (centre_id, id);
CREATE INDEX service_providers_kind_idx ON service_providers (kind, id);
CREATE INDEX service_providers_name_key_idx ON service_providers (name_key);
CREATE INDEX service_providers_updated_at_idx ON service_providers (updated_at);

CREATE TABLE service_provider_languages (
    provider_id TEXT NOT NULL REFERENCES service_providers (id) ON DELETE CASCADE,
    language TEXT NOT NULL,
    PRIMARY KEY (provider_id, language)
);
CREATE INDEX service_provider_languages_language_idx ON service_provider_languages (language, provider_id);

CREATE TABLE referrals (
    id TEXT NOT NULL PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    centre_id TEXT NOT NULL REFERENCES centres (id),
    migrant_id TEXT NOT NULL REFERENCES migrants (id),
    provider_id TEXT NOT NULL REFERENCES service_providers (id),
    created_by TEXT NOT NULL REFERENCES users (id),
    reason TEXT NOT NULL,
    urgency TEXT NOT NULL CHECK (urgency IN ('low', 'normal', 'high', 'urgent')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'accepted', 'completed', 'declined', 'cancelled')),
    expected_response_by DATE,
    -- The referral_sharing consent the referral was made under (JSON snapshot of the consent).
    consent_given_at TIMESTAMP NOT NULL,
    consent_snapshot TEXT NOT NULL,
    outcome TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX referrals_case_idx ON referrals (case_id, id);
CREATE INDEX referrals_centre_idx ON referrals (centre_id, id);
CREATE INDEX referrals_status_idx ON referrals (centre_id, status, expected_response_by);
CREATE INDEX referrals_provider_idx ON referrals (provider_id, id);
CREATE INDEX referrals_updated_at_idx ON referrals (centre_id, updated_at);

CREATE TABLE referral_transitions (
    id TEXT NOT NULL PRIMARY KEY,
    referral_id TEXT NOT NULL REFERENCES referrals (id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_id TEXT NOT NULL REFERENCES users (id),
    note TEXT
);
CREATE INDEX referral_transitions_referral_idx ON referral_transitions (referral_id, at, id);

CREATE TABLE follow_ups (
    id TEXT NOT NULL PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    centre_id TEXT NOT NULL REFERENCES centres (id),
    assigned_to TEXT NOT NULL REFERENCES users (id),
    created_by TEXT NOT NULL REFERENCES users (id),
    due_at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('call', 'visit', 'referral_check', 'other')),
    note TEXT,
    status TEXT NOT NULL CHECK (status IN ('scheduled', 'done', 'missed', 'cancelled')),
    outcome TEXT,
    closed_at TIMESTAMP,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX follow_ups_case_idx ON follow_ups (case_id, due_at, id);
CREATE INDEX follow_ups_agenda_idx ON follow_ups (assigned_to, status, due_at, id);
CREATE INDEX follow_ups_centre_idx ON follow_ups (centre_id, status, due_at, id);
CREATE INDEX follow_ups_updated_at_idx ON follow_ups (centre_id, updated_at);
