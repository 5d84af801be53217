-- Centres, staff accounts, sessions, login throttling and the append-only audit trail.
-- Portable types only (see DESIGN.md): ids are UUIDv7 text, timestamps are UTC without zone,
-- enums are text with CHECK constraints.

CREATE TABLE centres (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    city TEXT NOT NULL,
    country TEXT NOT NULL CHECK (length(country) = 2),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX centres_name_key ON centres (name);
CREATE INDEX centres_updated_at_idx ON centres (updated_at);

CREATE TABLE users (
    id TEXT NOT NULL PRIMARY KEY,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL,
    full_name TEXT NOT NULL,
    email TEXT,
    role TEXT NOT NULL CHECK (role IN ('counsellor', 'supervisor', 'admin')),
    centre_id TEXT REFERENCES centres (id),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    must_change_password BOOLEAN NOT NULL DEFAULT TRUE,
    password_hash TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((role = 'admin' AND centre_id IS NULL) OR (role <> 'admin' AND centre_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_username_key_key ON users (username_key);
CREATE INDEX users_centre_id_idx ON users (centre_id, id);
CREATE INDEX users_updated_at_idx ON users (updated_at);

-- A login session: the refresh-token family. Revoking it ends every token issued under it.
CREATE TABLE sessions (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_reason TEXT
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Refresh tokens, stored only as SHA-256 hashes. A token is used once; a second use revokes its session.
CREATE TABLE refresh_tokens (
    token_hash TEXT NOT NULL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

CREATE TABLE login_attempts (
    id TEXT NOT NULL PRIMARY KEY,
    username_key TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    succeeded BOOLEAN NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX login_attempts_username_idx ON login_attempts (username_key, at);
CREATE INDEX login_attempts_client_ip_idx ON login_attempts (client_ip, at);

CREATE TABLE audit_events (
    id TEXT NOT NULL PRIMARY KEY,
    at TIMESTAMP NOT NULL,
    actor_id TEXT,
    actor_username TEXT,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT,
    centre_id TEXT,
    request_id TEXT,
    client_ip TEXT,
    changed_fields TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX audit_events_centre_idx ON audit_events (centre_id, id);
CREATE INDEX audit_events_entity_idx ON audit_events (entity_type, entity_id, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id);

CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- Responses remembered for Idempotency-Key retries, per user, for 24 hours.
CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL REFERENCES users (id),
    idempotency_key TEXT NOT NULL,
    request_fingerprint TEXT NOT NULL,
    response_status INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    response_etag TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idempotency_key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
