-- +goose Up
-- The Account page: each user's colour theme, and sessions that name their user.

-- light, dark, or "system": the browser's prefers-color-scheme decides.
ALTER TABLE users ADD COLUMN theme TEXT NOT NULL DEFAULT 'system' CHECK (theme IN ('system', 'light', 'dark'));

-- A session names its user (NULL for one that has none), when they signed in and when it was
-- last used, so that a user's sessions are listed and ended by an indexed query and go with
-- the user. The sessions stored until now say their user only inside the encoded data, which
-- SQL cannot read: they end, and users sign in once more.
DELETE FROM sessions;
ALTER TABLE sessions ADD COLUMN user_id TEXT REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE sessions ADD COLUMN signed_in_at TIMESTAMP;
ALTER TABLE sessions ADD COLUMN seen_at TIMESTAMP;
CREATE INDEX sessions_user_id ON sessions (user_id);

-- +goose Down
-- SQLite drops no column that a foreign key names: the sessions table is made anew, empty.
DROP TABLE sessions;
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    data       BLOB NOT NULL,
    expiry     TIMESTAMP NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expiry);
ALTER TABLE users DROP COLUMN theme;
