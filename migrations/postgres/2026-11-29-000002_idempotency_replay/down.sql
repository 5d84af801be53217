CREATE INDEX idempotency_keys_user_created_idx ON idempotency_keys (user_id, created_at);
ALTER TABLE idempotency_keys DROP COLUMN content_location;
ALTER TABLE idempotency_keys ADD COLUMN response_etag TEXT;
ALTER TABLE idempotency_keys ADD COLUMN response_body TEXT NOT NULL DEFAULT '';
