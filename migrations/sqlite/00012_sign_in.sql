-- +goose Up
-- Sign-in hardening, email and the links it sends.

-- The failed attempts of an account, per kind of attempt ("password", "magic_link",
-- "invitation", "mfa"), so that the limit on guessing outlives a restart. An attempt counts as
-- failed from the moment it starts until it succeeds (app/limits). Addresses and names that
-- are no account's are counted in memory only: nothing an anonymous visitor sends is written.
CREATE TABLE sign_in_failures (
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    failures        INTEGER NOT NULL CHECK (failures >= 0),
    last_failure_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- The single-use tokens of magic links and invitations: an HMAC of the token under a key
-- derived from WG_SECRET_KEY, never the token, so that a copy of the database signs nobody in.
-- Using a token deletes it.
CREATE TABLE sign_in_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('magic_link', 'invitation')),
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX sign_in_tokens_user ON sign_in_tokens (user_id, purpose);
CREATE INDEX sign_in_tokens_expires ON sign_in_tokens (expires_at);

-- How people may sign in: with a password (the original's local_auth_enabled) and with a link
-- sent by email (magic_link_enabled, off until an admin has set up email).
ALTER TABLE configuration ADD COLUMN local_auth_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE configuration ADD COLUMN magic_link_enabled BOOLEAN NOT NULL DEFAULT FALSE;

-- The SMTP settings edited on the Settings page; a WG_SMTP_* variable overrides each. Empty
-- (or 0) is unset. The password is encrypted at rest (store/seal.go).
ALTER TABLE configuration ADD COLUMN smtp_host TEXT NOT NULL DEFAULT '';
ALTER TABLE configuration ADD COLUMN smtp_port INTEGER NOT NULL DEFAULT 0;
ALTER TABLE configuration ADD COLUMN smtp_username TEXT NOT NULL DEFAULT '';
ALTER TABLE configuration ADD COLUMN smtp_password TEXT NOT NULL DEFAULT '';
ALTER TABLE configuration ADD COLUMN smtp_from TEXT NOT NULL DEFAULT '';
ALTER TABLE configuration ADD COLUMN smtp_tls TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE configuration DROP COLUMN smtp_tls;
ALTER TABLE configuration DROP COLUMN smtp_from;
ALTER TABLE configuration DROP COLUMN smtp_password;
ALTER TABLE configuration DROP COLUMN smtp_username;
ALTER TABLE configuration DROP COLUMN smtp_port;
ALTER TABLE configuration DROP COLUMN smtp_host;
ALTER TABLE configuration DROP COLUMN magic_link_enabled;
ALTER TABLE configuration DROP COLUMN local_auth_enabled;
DROP TABLE sign_in_tokens;
DROP TABLE sign_in_failures;
