-- +goose Up
-- Per-device client overrides: each value is used only when its use_default_* switch is off.
-- Lists are stored as canonical comma-separated text.
ALTER TABLE devices ADD COLUMN use_default_allowed_ips BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE devices ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN use_default_dns BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE devices ADD COLUMN dns TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN use_default_endpoint BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE devices ADD COLUMN endpoint TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN use_default_mtu BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE devices ADD COLUMN mtu INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN use_default_persistent_keepalive BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE devices ADD COLUMN persistent_keepalive INTEGER NOT NULL DEFAULT 0;
-- Relay (site-to-site) subnets routed to this device on the server side.
ALTER TABLE devices ADD COLUMN allowed_subnets TEXT NOT NULL DEFAULT '';

-- Client defaults set by admins; NULL means the environment's default applies.
ALTER TABLE configuration ADD COLUMN default_client_endpoint TEXT;
ALTER TABLE configuration ADD COLUMN default_client_dns TEXT;
ALTER TABLE configuration ADD COLUMN default_client_allowed_ips TEXT;
ALTER TABLE configuration ADD COLUMN default_client_mtu INTEGER;
ALTER TABLE configuration ADD COLUMN default_client_persistent_keepalive INTEGER;
-- Seconds a sign-in keeps the user's devices connected; 0 = forever.
ALTER TABLE configuration ADD COLUMN vpn_session_duration BIGINT NOT NULL DEFAULT 0;
ALTER TABLE configuration ADD COLUMN allow_unprivileged_device_management BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE configuration ADD COLUMN allow_unprivileged_device_configuration BOOLEAN NOT NULL DEFAULT TRUE;

-- Events for admins. dedupe_key makes an event (a session expiry, say) be raised once.
CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    message    TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE notifications;
ALTER TABLE configuration DROP COLUMN allow_unprivileged_device_configuration;
ALTER TABLE configuration DROP COLUMN allow_unprivileged_device_management;
ALTER TABLE configuration DROP COLUMN vpn_session_duration;
ALTER TABLE configuration DROP COLUMN default_client_persistent_keepalive;
ALTER TABLE configuration DROP COLUMN default_client_mtu;
ALTER TABLE configuration DROP COLUMN default_client_allowed_ips;
ALTER TABLE configuration DROP COLUMN default_client_dns;
ALTER TABLE configuration DROP COLUMN default_client_endpoint;
ALTER TABLE devices DROP COLUMN allowed_subnets;
ALTER TABLE devices DROP COLUMN persistent_keepalive;
ALTER TABLE devices DROP COLUMN use_default_persistent_keepalive;
ALTER TABLE devices DROP COLUMN mtu;
ALTER TABLE devices DROP COLUMN use_default_mtu;
ALTER TABLE devices DROP COLUMN endpoint;
ALTER TABLE devices DROP COLUMN use_default_endpoint;
ALTER TABLE devices DROP COLUMN dns;
ALTER TABLE devices DROP COLUMN use_default_dns;
ALTER TABLE devices DROP COLUMN allowed_ips;
ALTER TABLE devices DROP COLUMN use_default_allowed_ips;
