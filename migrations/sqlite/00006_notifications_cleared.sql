-- +goose Up
-- When an admin cleared a notification; NULL while it is open. A cleared notification stays,
-- so that its dedupe_key keeps the event it reports from being raised again.
ALTER TABLE notifications ADD COLUMN cleared_at TIMESTAMP;

-- +goose Down
ALTER TABLE notifications DROP COLUMN cleared_at;
