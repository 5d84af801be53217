-- Migrants, their consent history and vulnerabilities, cases with their history, and
-- consultations with their topics. Sets are join tables; enums are text with CHECK constraints.

-- The migrant a record concerns, so a person's access log is one indexed query.
ALTER TABLE audit_events ADD COLUMN subject_id TEXT;
CREATE INDEX audit_events_subject_idx ON audit_events (subject_id, id);

CREATE TABLE migrants (
    id TEXT NOT NULL PRIMARY KEY,
    centre_id TEXT NOT NULL REFERENCES centres (id),
    registered_by TEXT NOT NULL REFERENCES users (id),
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    patronymic TEXT,
    sex TEXT NOT NULL CHECK (sex IN ('female', 'male', 'other', 'undisclosed')),
    date_of_birth DATE,
    birth_year INTEGER,
    nationality TEXT NOT NULL CHECK (length(nationality) = 2),
    region_of_origin TEXT,
    phone TEXT,
    preferred_language TEXT,
    migration_status TEXT NOT NULL CHECK (migration_status IN ('prospective', 'current_abroad', 'returnee', 'family_member', 'other')),
    destination_country TEXT,
    consent_services_given_at TIMESTAMP,
    consent_services_withdrawn_at TIMESTAMP,
    consent_referral_sharing_given_at TIMESTAMP,
    consent_referral_sharing_withdrawn_at TIMESTAMP,
    consent_statistics_given_at TIMESTAMP,
    consent_statistics_withdrawn_at TIMESTAMP,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX migrants_centre_idx ON migrants (centre_id, id);
CREATE INDEX migrants_registered_by_idx ON migrants (registered_by);
CREATE INDEX migrants_updated_at_idx ON migrants (centre_id, updated_at);

-- Normalised name tokens (Cyrillic transliterated, lower-cased, diacritics folded, spelling
-- variants merged): search and duplicate detection are range scans on this index. Byte order
-- (COLLATE "C") whatever the database's collation, so a prefix is a contiguous key range.
CREATE TABLE migrant_name_tokens (
    migrant_id TEXT NOT NULL REFERENCES migrants (id) ON DELETE CASCADE,
    token TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (migrant_id, token)
);
CREATE INDEX migrant_name_tokens_token_idx ON migrant_name_tokens (token, migrant_id);

CREATE TABLE migrant_vulnerabilities (
    migrant_id TEXT NOT NULL REFERENCES migrants (id) ON DELETE CASCADE,
    flag TEXT NOT NULL CHECK (flag IN ('unaccompanied_minor', 'disability', 'chronic_illness', 'pregnancy', 'single_parent', 'trafficking_survivor', 'violence_survivor', 'stranded_abroad', 'undocumented', 'debt_bondage', 'older_person', 'other')),
    PRIMARY KEY (migrant_id, flag)
);

-- Every consent given or withdrawn, per scope: withdrawal is recorded, never a deletion.
CREATE TABLE migrant_consent_events (
    id TEXT NOT NULL PRIMARY KEY,
    migrant_id TEXT NOT NULL REFERENCES migrants (id) ON DELETE CASCADE,
    scope TEXT NOT NULL CHECK (scope IN ('services', 'referral_sharing', 'statistics')),
    given BOOLEAN NOT NULL,
    at TIMESTAMP NOT NULL,
    recorded_by TEXT NOT NULL REFERENCES users (id)
);
CREATE INDEX migrant_consent_events_migrant_idx ON migrant_consent_events (migrant_id, at);

CREATE TABLE cases (
    id TEXT NOT NULL PRIMARY KEY,
    migrant_id TEXT NOT NULL REFERENCES migrants (id),
    centre_id TEXT NOT NULL REFERENCES centres (id),
    assigned_to TEXT NOT NULL REFERENCES users (id),
    opened_by TEXT NOT NULL REFERENCES users (id),
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    priority TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    summary TEXT NOT NULL,
    opened_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP,
    closure_reason TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX cases_centre_idx ON cases (centre_id, id);
CREATE INDEX cases_assigned_idx ON cases (assigned_to, status, id);
CREATE INDEX cases_migrant_idx ON cases (migrant_id, status);
CREATE INDEX cases_updated_at_idx ON cases (centre_id, updated_at);
CREATE INDEX cases_opened_at_idx ON cases (centre_id, opened_at);

-- Assignments, closures and reopenings with who, when and why (part of the case timeline).
CREATE TABLE case_events (
    id TEXT NOT NULL PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    at TIMESTAMP NOT NULL,
    actor_id TEXT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('opened', 'assigned', 'closed', 'reopened')),
    assigned_to TEXT REFERENCES users (id),
    note TEXT
);
CREATE INDEX case_events_case_idx ON case_events (case_id, at, id);

CREATE TABLE consultations (
    id TEXT NOT NULL PRIMARY KEY,
    centre_id TEXT NOT NULL REFERENCES centres (id),
    counsellor_id TEXT NOT NULL REFERENCES users (id),
    migrant_id TEXT REFERENCES migrants (id),
    case_id TEXT REFERENCES cases (id),
    anonymous_sex TEXT CHECK (anonymous_sex IN ('female', 'male', 'other', 'undisclosed')),
    anonymous_age_band TEXT CHECK (anonymous_age_band IN ('0-17', '18-24', '25-34', '35-49', '50+')),
    anonymous_nationality TEXT,
    anonymous_migration_status TEXT CHECK (anonymous_migration_status IN ('prospective', 'current_abroad', 'returnee', 'family_member', 'other')),
    occurred_at TIMESTAMP NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('walk_in', 'phone', 'online', 'outreach')),
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 1 AND 600),
    language TEXT NOT NULL,
    notes TEXT NOT NULL,
    outcome TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((migrant_id IS NULL) = (anonymous_sex IS NOT NULL))
);
CREATE INDEX consultations_centre_idx ON consultations (centre_id, occurred_at, id);
CREATE INDEX consultations_counsellor_idx ON consultations (counsellor_id, occurred_at, id);
CREATE INDEX consultations_migrant_idx ON consultations (migrant_id, counsellor_id);
CREATE INDEX consultations_case_idx ON consultations (case_id, occurred_at, id);
CREATE INDEX consultations_updated_at_idx ON consultations (centre_id, updated_at);

CREATE TABLE consultation_topics (
    consultation_id TEXT NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
    topic TEXT NOT NULL CHECK (topic IN ('pre_departure', 'employment_abroad', 'labour_rights', 'legal_documents', 'remittances', 'health', 'education', 'return_reintegration', 'trafficking_risk', 'family', 'other')),
    PRIMARY KEY (consultation_id, topic)
);
CREATE INDEX consultation_topics_topic_idx ON consultation_topics (topic, consultation_id);
