DROP INDEX sessions_expires_at_idx;
DROP TABLE login_throttle;

CREATE TABLE login_attempts (
    id TEXT NOT NULL PRIMARY KEY,
    username_key TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    succeeded BOOLEAN NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX login_attempts_username_idx ON login_attempts (username_key, at);
CREATE INDEX login_attempts_client_ip_idx ON login_attempts (client_ip, at);
