-- +goose Up
-- Monotonic traffic totals per device. rx_bytes/tx_bytes are WireGuard's raw counters as
-- last read, which restart at 0 when the interface or the peer is re-created; the totals
-- keep growing across those resets and collector restarts.
ALTER TABLE devices ADD COLUMN rx_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN tx_total INTEGER NOT NULL DEFAULT 0;
UPDATE devices SET rx_total = rx_bytes, tx_total = tx_bytes;

-- +goose Down
ALTER TABLE devices DROP COLUMN tx_total;
ALTER TABLE devices DROP COLUMN rx_total;
