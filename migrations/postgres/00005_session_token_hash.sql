-- +goose Up
-- The sessions table keeps a SHA-256 hash of each session token, never the token itself, so
-- that a copy of the database (a backup, a leaked dump) signs nobody in. The tokens stored
-- until now cannot be hashed in SQL portably, so those sessions end: users sign in once more.
DELETE FROM sessions;
ALTER TABLE sessions RENAME COLUMN token TO token_hash;

-- +goose Down
DELETE FROM sessions;
ALTER TABLE sessions RENAME COLUMN token_hash TO token;
