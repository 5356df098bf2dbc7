package devices

import (
	"errors"
	"net/netip"
	"slices"
	"testing"

	"wiregui/app/text"
	"wiregui/store"
	"wiregui/wg"
)

func TestResolvePrefersDeviceThenDatabaseThenEnvironment(t *testing.T) {
	env := ClientDefaults{EndpointHost: "vpn.example.com", EndpointPort: 51820, DNS: []string{"1.1.1.1"}, MTU: 1280,
		PersistentKeepalive: 25, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}
	var database, device store.ClientSettings
	database.MTU = store.Some(1420)
	database.DNS = store.Some([]string{"9.9.9.9"})
	database.Endpoint = store.Some("db.example.com") // no port: the environment's port applies
	device.MTU = store.Some(1380)
	device.DNS = store.Optional[[]string]{Value: []string{"8.8.8.8"}} // typed but switched off
	device.PersistentKeepalive = store.Some(0)                        // an explicit 0 disables keepalive

	got := Effective(device, database, env)
	for _, c := range []struct {
		name, gotSource, wantSource string
		ok                          bool
	}{
		{"mtu", got.MTU.Source, "device", got.MTU.Value == 1380},
		{"dns", got.DNS.Source, "database", slices.Equal(got.DNS.Value, []string{"9.9.9.9"})},
		{"endpoint", got.Endpoint.Source, "database", got.Endpoint.Value == "db.example.com:51820"},
		{"keepalive", got.PersistentKeepalive.Source, "device", got.PersistentKeepalive.Value == 0},
		{"allowed ips", got.AllowedIPs.Source, "environment", slices.Equal(got.AllowedIPs.Value, env.AllowedIPs)},
	} {
		if c.gotSource != c.wantSource || !c.ok {
			t.Errorf("%s: got %+v from %s, want from %s", c.name, got, c.gotSource, c.wantSource)
		}
	}
}

func TestResolveEndpoints(t *testing.T) {
	env := ClientDefaults{EndpointHost: "vpn.example.com", EndpointPort: 51821}
	for name, tc := range map[string]struct {
		override string
		want     string
	}{
		"environment":          {"", "vpn.example.com:51821"},
		"host only":            {"edge.example.com", "edge.example.com:51821"},
		"host with its port":   {"edge.example.com:443", "edge.example.com:443"},
		"bare IPv6":            {"2001:db8::1", "[2001:db8::1]:51821"},
		"bracketed IPv6, port": {"[2001:db8::1]:4500", "[2001:db8::1]:4500"},
	} {
		var device store.ClientSettings
		if tc.override != "" {
			device.Endpoint = store.Some(tc.override)
		}
		if got := Effective(device, store.ClientSettings{}, env).Endpoint.Value; got != tc.want {
			t.Errorf("%s: got %q, want %q", name, got, tc.want)
		}
	}
}

func TestConfigFileName(t *testing.T) {
	for in, want := range map[string]string{
		"laptop":                     "laptop.conf",
		"Alice's MacBook Pro (2024)": "Alice-s-MacBook.conf",
		"../../etc/passwd":           "etc-passwd.conf",
		"ünïcødé":                    "n-c-d.conf",
		"":                           "wiregui.conf",
		"...":                        "wiregui.conf",
	} {
		if got := ConfigFileName(in); got != want {
			t.Errorf("ConfigFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestValidateClientSettingsMeetsTheFormsRules checks values that come from the CLI or an
// API client, not through a form's parser.
func TestValidateClientSettingsMeetsTheFormsRules(t *testing.T) {
	many := func(n int) []netip.Prefix {
		ps := make([]netip.Prefix, n)
		for i := range ps {
			ps[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i % 256)}), 32)
		}
		return ps
	}
	manyDNS := func(n int) []string {
		var dns []string
		for _, p := range many(n) {
			dns = append(dns, p.Addr().String())
		}
		return dns
	}
	for _, tc := range []struct {
		name     string
		settings store.ClientSettings
		field    string // "" when valid
	}{
		{"as many allowed IPs as allowed", store.ClientSettings{AllowedIPs: store.Some(many(wg.MaxAllowedIPs))}, ""},
		{"too many allowed IPs", store.ClientSettings{AllowedIPs: store.Some(many(wg.MaxAllowedIPs + 1))}, "allowed_ips"},
		{"allowed IPs with host bits", store.ClientSettings{AllowedIPs: store.Some([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/8")})}, "allowed_ips"},
		{"no allowed IPs", store.ClientSettings{AllowedIPs: store.Some([]netip.Prefix{})}, "allowed_ips"},
		{"as many DNS entries as allowed", store.ClientSettings{DNS: store.Some(manyDNS(wg.MaxDNS))}, ""},
		{"too many DNS entries", store.ClientSettings{DNS: store.Some(manyDNS(wg.MaxDNS + 1))}, "dns"},
	} {
		err := ValidateClientSettings(tc.settings)
		var bad *text.InputError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: got %v, want no error", tc.name, err)
		case tc.field != "" && (!errors.As(err, &bad) || bad.Field != tc.field):
			t.Errorf("%s: got %v, want an error on %s", tc.name, err, tc.field)
		}
	}
}

func TestLocalEndpoint(t *testing.T) {
	for endpoint, want := range map[string]string{
		"localhost:51820":        "a loopback address",
		"LOCALHOST":              "a loopback address",
		"vpn.localhost":          "a loopback address",
		"127.0.0.1:51820":        "a loopback address",
		"[::1]:51820":            "a loopback address",
		"169.254.10.1:51820":     "a link-local address",
		"[fe80::1]:51820":        "a link-local address",
		"10.0.2.15:51820":        "a private address",
		"172.16.0.1":             "a private address",
		"192.168.1.5:51820":      "a private address",
		"[fd00::1]:51820":        "a private address",
		"203.0.113.5:51820":      "",
		"[2001:db8::1]:51820":    "",
		"100.64.0.1:51820":       "",
		"vpn.example.com:51820":  "",
		"not an endpoint!:51820": "",
	} {
		if got := LocalEndpoint(endpoint); got != want {
			t.Errorf("LocalEndpoint(%q) = %q, want %q", endpoint, got, want)
		}
	}
}

// A detected endpoint says so: it is the environment's, but no setting named it.
func TestDetectedEndpointSource(t *testing.T) {
	env := ClientDefaults{EndpointHost: "192.168.1.5", EndpointPort: 51820, EndpointDetected: true}
	if got := Effective(store.ClientSettings{}, store.ClientSettings{}, env).Endpoint; got != (Value[string]{"192.168.1.5:51820", "detected"}) {
		t.Errorf("got %+v, want 192.168.1.5:51820 detected", got)
	}
	database := store.ClientSettings{Endpoint: store.Some("vpn.example.com")}
	if got := Effective(store.ClientSettings{}, database, env).Endpoint.Source; got != "database" {
		t.Errorf("with a database default: source %q, want database", got)
	}
}
