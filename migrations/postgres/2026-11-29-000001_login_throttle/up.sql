-- Login throttling as counters updated atomically before a password is hashed (one row per
-- throttled key), replacing the per-attempt log that was checked before hashing and written
-- after it (a concurrent burst all passed the check).
DROP TABLE login_attempts;

-- `throttle_key` is an HMAC (keyed by a server secret) of what is counted: a username and client
-- address pair, a client address, or a username. What was typed into the username field is never
-- stored. `failures` counts attempts reserved since `window_started_at` (a right password gives
-- its reservation back); `throttled_at` is set once per lock, when its audit event is written.
CREATE TABLE login_throttle (
    throttle_key TEXT NOT NULL PRIMARY KEY,
    failures INTEGER NOT NULL CHECK (failures >= 0),
    window_started_at TIMESTAMP NOT NULL,
    throttled_at TIMESTAMP
);
-- Housekeeping purges counters whose window has passed, and expired sessions.
CREATE INDEX login_throttle_window_idx ON login_throttle (window_started_at);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
