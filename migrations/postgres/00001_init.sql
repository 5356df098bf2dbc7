-- +goose Up
CREATE TABLE users (
    id                    TEXT PRIMARY KEY,
    email                 TEXT NOT NULL UNIQUE CHECK (email = lower(email)),
    password_hash         TEXT NOT NULL DEFAULT '',
    role                  TEXT NOT NULL DEFAULT 'unprivileged' CHECK (role IN ('admin', 'unprivileged')),
    disabled_at           TIMESTAMPTZ,
    last_signed_in_at     TIMESTAMPTZ,
    last_signed_in_method TEXT NOT NULL DEFAULT '',
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);

CREATE TABLE devices (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    public_key       TEXT NOT NULL UNIQUE,
    preshared_key    TEXT NOT NULL DEFAULT '',
    ipv4             TEXT UNIQUE,
    ipv6             TEXT UNIQUE,
    rx_bytes         BIGINT NOT NULL DEFAULT 0,
    tx_bytes         BIGINT NOT NULL DEFAULT 0,
    latest_handshake TIMESTAMPTZ,
    remote_endpoint  TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX devices_user_id ON devices (user_id);

-- The configuration is a singleton: the CHECK makes a second row impossible.
CREATE TABLE configuration (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    server_private_key TEXT NOT NULL DEFAULT '',
    server_public_key  TEXT NOT NULL DEFAULT '',
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    token  TEXT PRIMARY KEY,
    data   BYTEA NOT NULL,
    expiry TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expiry);

-- +goose Down
DROP TABLE sessions;
DROP TABLE configuration;
DROP TABLE devices;
DROP TABLE users;
