-- Group sessions: pre-departure orientations, awareness sessions and outreach events, with
-- their registered attendees (people of the centre) and anonymous tallies (people who did not
-- register), which add up to the session's attendance.

CREATE TABLE group_sessions (
    id TEXT NOT NULL PRIMARY KEY,
    centre_id TEXT NOT NULL REFERENCES centres (id),
    created_by TEXT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('pre_departure_orientation', 'awareness', 'job_fair', 'school', 'community_outreach', 'online', 'returnee_reintegration', 'other')),
    title TEXT NOT NULL,
    starts_at TIMESTAMP NOT NULL,
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 1 AND 1440),
    -- The place: all null for an online session, a city at least otherwise.
    city TEXT,
    district TEXT,
    venue TEXT,
    language TEXT NOT NULL,
    partner_provider_id TEXT REFERENCES service_providers (id),
    notes TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((kind = 'online') = (city IS NULL))
);
CREATE INDEX group_sessions_centre_idx ON group_sessions (centre_id, starts_at, id);
CREATE INDEX group_sessions_updated_at_idx ON group_sessions (centre_id, updated_at);
CREATE INDEX group_sessions_starts_at_idx ON group_sessions (starts_at, centre_id);

CREATE TABLE group_session_topics (
    session_id TEXT NOT NULL REFERENCES group_sessions (id) ON DELETE CASCADE,
    topic TEXT NOT NULL CHECK (topic IN ('pre_departure', 'employment_abroad', 'labour_rights', 'legal_documents', 'remittances', 'health', 'education', 'return_reintegration', 'trafficking_risk', 'family', 'other')),
    PRIMARY KEY (session_id, topic)
);
CREATE INDEX group_session_topics_topic_idx ON group_session_topics (topic, session_id);

CREATE TABLE group_session_facilitators (
    session_id TEXT NOT NULL REFERENCES group_sessions (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (session_id, user_id)
);
CREATE INDEX group_session_facilitators_user_idx ON group_session_facilitators (user_id, session_id);

-- A registered person's attendance: erased (the row goes, the tally gains them) when the person
-- is anonymised.
CREATE TABLE group_session_attendees (
    session_id TEXT NOT NULL REFERENCES group_sessions (id) ON DELETE CASCADE,
    migrant_id TEXT NOT NULL REFERENCES migrants (id),
    added_by TEXT NOT NULL REFERENCES users (id),
    added_at TIMESTAMP NOT NULL,
    PRIMARY KEY (session_id, migrant_id)
);
CREATE INDEX group_session_attendees_migrant_idx ON group_session_attendees (migrant_id, session_id);

-- People who attended without registering, counted by sex, age band (null: not recorded) and
-- migration status: one row per combination.
CREATE TABLE group_session_tallies (
    id TEXT NOT NULL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES group_sessions (id) ON DELETE CASCADE,
    sex TEXT NOT NULL CHECK (sex IN ('female', 'male', 'other', 'undisclosed')),
    age_band TEXT CHECK (age_band IN ('0-17', '18-24', '25-34', '35-49', '50+')),
    migration_status TEXT NOT NULL CHECK (migration_status IN ('prospective', 'current_abroad', 'returnee', 'family_member', 'other')),
    count INTEGER NOT NULL CHECK (count >= 0)
);
CREATE UNIQUE INDEX group_session_tallies_combination_idx
    ON group_session_tallies (session_id, sex, COALESCE(age_band, ''), migration_status);
