-- Idempotency-Key replays read the resource again instead of returning a stored copy: the store
-- keeps the first response's status and the resource's path, never a response body (bodies held
-- tokens and personal data). Remembered responses from before cannot be replayed without their
-- path, so they go too: a retry spanning the upgrade runs anew.
DELETE FROM idempotency_keys;
ALTER TABLE idempotency_keys DROP COLUMN response_body;
ALTER TABLE idempotency_keys DROP COLUMN response_etag;
ALTER TABLE idempotency_keys ADD COLUMN content_location TEXT;
-- Expired keys are purged for all users at once, by idempotency_keys_created_at_idx.
DROP INDEX idempotency_keys_user_created_idx;
