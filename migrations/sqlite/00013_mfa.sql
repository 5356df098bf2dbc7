-- +goose Up
-- Second factors: a user's TOTP authenticators and WebAuthn credentials (security keys and
-- passkeys), and their recovery codes.

-- An MFA method. A TOTP method keeps its secret sealed (AES-GCM, the store's key) and the last
-- time step a code was accepted for: a code of that step or an earlier one is refused, so that
-- no code works twice. A WebAuthn method keeps its credential (id, public key, flags; the
-- library's record as JSON), the authenticator's signature counter, and whether the
-- credential is discoverable (a passkey, which may sign in alone).
CREATE TABLE mfa_methods (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('totp', 'webauthn')),
    name           TEXT NOT NULL,
    secret         TEXT NOT NULL DEFAULT '',
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    credential_id  TEXT UNIQUE,
    credential     TEXT NOT NULL DEFAULT '',
    sign_count     BIGINT NOT NULL DEFAULT 0,
    discoverable   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMP NOT NULL,
    last_used_at   TIMESTAMP,
    CHECK (kind = 'totp' AND secret <> '' AND credential_id IS NULL
        OR kind = 'webauthn' AND credential_id IS NOT NULL AND credential <> '')
);
CREATE INDEX mfa_methods_user ON mfa_methods (user_id, created_at);

-- A recovery code, stored as the SHA-256 of its text (80 random bits: no slow hash needed);
-- used_at is set when it signs the user in, once.
CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP,
    PRIMARY KEY (user_id, code_hash)
);

-- Passwordless sign-in with a passkey, and MFA required for local sign-in: both off.
ALTER TABLE configuration ADD COLUMN passwordless_enabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE configuration ADD COLUMN mfa_required BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE configuration DROP COLUMN mfa_required;
ALTER TABLE configuration DROP COLUMN passwordless_enabled;
DROP TABLE recovery_codes;
DROP TABLE mfa_methods;
