package collector

import (
	"wiregui/store"
	"wiregui/wg"
)

// What production passes as the Poller's Reader and Store.
var (
	_ PeerReader = (*wg.Reader)(nil)
	_ PeerReader = (*wg.Interface)(nil)
	_ StatsStore = (*store.Store)(nil)
)
