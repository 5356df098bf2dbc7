-- +goose Up
-- The device tables sort by name, case-insensitively, by default. These two indexes hand
-- them a page in name order without sorting every device: all devices, and one owner's (or,
-- owner after owner, all devices by owner). The id makes the order total, as the queries
-- want it. The second starts with user_id, so it serves every lookup devices_user_id did.
-- No index on rx_total, tx_total or latest_handshake: the collector rewrites them for every
-- device every few seconds, and each index would make that write dearer.
CREATE INDEX devices_name_lower ON devices (lower(name), id);
CREATE INDEX devices_user_name ON devices (user_id, lower(name), id);
DROP INDEX devices_user_id;

-- +goose Down
CREATE INDEX devices_user_id ON devices (user_id);
DROP INDEX devices_user_name;
DROP INDEX devices_name_lower;
