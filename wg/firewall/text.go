package firewall

// Text renders the rule set as nft(8) lists the table: what the Rules page's troubleshooting
// card shows and what an operator can read or load with `nft -f`. It is rendered from the
// same description the kernel gets (see nftTable), so it says what the kernel does.
func (rs *Ruleset) Text() string { return rs.nft().text() }
