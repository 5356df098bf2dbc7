package cli

import (
	"net/netip"
)

// deviceFlags names the flag each field of the device service's InputErrors comes from.
var deviceFlags = map[string]string{"name": "name", "public_key": "public-key", "description": "description"}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
