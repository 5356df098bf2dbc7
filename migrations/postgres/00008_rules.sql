-- +goose Up
-- The gateway firewall: access rules, the network policies, the default action, and the
-- policy tests that every change to them must keep passing.

-- A rule decides new connections from a user's devices (user_id NULL: from everyone's, before
-- each user's own rules). Rules apply by priority, lowest first; of equal priority the one
-- created first (seq) comes first. port_from = port_to = 0 is every port; ports go with tcp
-- and udp only. The destination is a network in its masked form (10.0.0.0/24).
CREATE TABLE rules (
    id          TEXT PRIMARY KEY,
    user_id     TEXT REFERENCES users (id) ON DELETE CASCADE,
    action      TEXT NOT NULL CHECK (action IN ('accept', 'drop')),
    destination TEXT NOT NULL,
    protocol    TEXT NOT NULL DEFAULT 'any' CHECK (protocol IN ('any', 'tcp', 'udp', 'icmp')),
    port_from   INTEGER NOT NULL DEFAULT 0 CHECK (port_from BETWEEN 0 AND 65535),
    port_to     INTEGER NOT NULL DEFAULT 0 CHECK (port_to BETWEEN 0 AND 65535),
    priority    INTEGER NOT NULL,
    seq         BIGINT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CHECK (port_from = 0 AND port_to = 0 OR protocol IN ('tcp', 'udp') AND port_from > 0 AND port_from <= port_to)
);
-- One scope's rules in order; it also serves the cascade of a user's deletion.
CREATE INDEX rules_user_order ON rules (user_id, priority, seq);

-- An expectation an admin saved: a new connection from the device to destination (by TCP or
-- UDP to a port, or ICMP) must meet expect. Deleting the device deletes its tests.
CREATE TABLE policy_tests (
    id          TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    destination TEXT NOT NULL,
    protocol    TEXT NOT NULL CHECK (protocol IN ('tcp', 'udp', 'icmp')),
    port        INTEGER NOT NULL DEFAULT 0 CHECK (port BETWEEN 0 AND 65535),
    expect      TEXT NOT NULL CHECK (expect IN ('accept', 'drop')),
    description TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    CHECK (protocol = 'icmp' AND port = 0 OR protocol <> 'icmp' AND port > 0)
);
CREATE INDEX policy_tests_device ON policy_tests (device_id);

-- The network policies, off by default, and the default action for what no rule decides:
-- accept, so that an upgrade changes nothing.
ALTER TABLE configuration ADD COLUMN allow_peer_to_peer BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE configuration ADD COLUMN allow_lan_to_peers BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE configuration ADD COLUMN default_action TEXT NOT NULL DEFAULT 'accept' CHECK (default_action IN ('accept', 'drop'));
-- A user's own default action; NULL: the configuration's.
ALTER TABLE users ADD COLUMN default_action TEXT CHECK (default_action IN ('accept', 'drop'));

-- +goose Down
ALTER TABLE users DROP COLUMN default_action;
ALTER TABLE configuration DROP COLUMN default_action;
ALTER TABLE configuration DROP COLUMN allow_lan_to_peers;
ALTER TABLE configuration DROP COLUMN allow_peer_to_peer;
DROP TABLE policy_tests;
DROP TABLE rules;
