package cli

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"wiregui/store"
	"wiregui/wg"
)

// runtimeSetting is one runtime setting for `wiregui settings get|set`: the settings admins
// otherwise change on the Settings and Rules pages. Its name is its column's, the original's.
type runtimeSetting struct {
	name string
	// value is the setting's value for JSON: nil when unset (the environment's default applies).
	value func(st store.Settings) any
	// set parses text into st; an empty text unsets a client default.
	set func(st *store.Settings, text string) error
}

// runtimeSettings are every runtime setting, in the order get prints them.
var runtimeSettings = []runtimeSetting{
	clientSetting("default_client_endpoint", func(c *store.ClientSettings) *store.Optional[string] { return &c.Endpoint },
		func(s string) (string, error) { _, _, err := wg.ParseEndpoint(s); return s, err }),
	clientSetting("default_client_dns", func(c *store.ClientSettings) *store.Optional[[]string] { return &c.DNS }, wg.ParseDNS),
	clientSetting("default_client_allowed_ips", func(c *store.ClientSettings) *store.Optional[[]netip.Prefix] { return &c.AllowedIPs },
		wg.ParseAllowedIPs),
	clientSetting("default_client_mtu", func(c *store.ClientSettings) *store.Optional[int] { return &c.MTU }, wg.ParseMTU),
	clientSetting("default_client_persistent_keepalive", func(c *store.ClientSettings) *store.Optional[int] { return &c.PersistentKeepalive },
		wg.ParseKeepalive),
	{name: "vpn_session_duration",
		value: func(st store.Settings) any { return int64(st.VPNSessionDuration / time.Second) },
		set: func(st *store.Settings, s string) error {
			d, err := parseSeconds(s)
			st.VPNSessionDuration = d
			return err
		}},
	boolSetting("allow_unprivileged_device_management", func(st *store.Settings) *bool { return &st.AllowUnprivilegedDeviceManagement }),
	boolSetting("allow_unprivileged_device_configuration", func(st *store.Settings) *bool { return &st.AllowUnprivilegedDeviceConfiguration }),
	boolSetting("passwordless_enabled", func(st *store.Settings) *bool { return &st.PasswordlessEnabled }),
	boolSetting("mfa_required", func(st *store.Settings) *bool { return &st.MFARequired }),
	boolSetting("local_auth_enabled", func(st *store.Settings) *bool { return &st.LocalAuthEnabled }),
	boolSetting("magic_link_enabled", func(st *store.Settings) *bool { return &st.MagicLinkEnabled }),
	boolSetting("allow_peer_to_peer", func(st *store.Settings) *bool { return &st.Firewall.PeerToPeer }),
	boolSetting("allow_lan_to_peers", func(st *store.Settings) *bool { return &st.Firewall.LANToPeers }),
	{name: "default_action",
		value: func(st store.Settings) any { return st.Firewall.DefaultAction },
		set: func(st *store.Settings, s string) error {
			if s != store.ActionAccept && s != store.ActionDrop {
				return fmt.Errorf("%q is neither accept nor drop", s)
			}
			st.Firewall.DefaultAction = s
			return nil
		}},
}

// clientSetting is a default client setting: unset with an empty value, so that the
// environment's default applies.
func clientSetting[T any](name string, field func(*store.ClientSettings) *store.Optional[T], parse func(string) (T, error)) runtimeSetting {
	return runtimeSetting{name: name,
		value: func(st store.Settings) any {
			o := field(&st.ClientDefaults)
			if !o.Set {
				return nil
			}
			return o.Value
		},
		set: func(st *store.Settings, s string) error {
			o := field(&st.ClientDefaults)
			if strings.TrimSpace(s) == "" {
				*o = store.Optional[T]{}
				return nil
			}
			v, err := parse(strings.TrimSpace(s))
			if err != nil {
				return err
			}
			*o = store.Some(v)
			return nil
		}}
}

func boolSetting(name string, field func(*store.Settings) *bool) runtimeSetting {
	return runtimeSetting{name: name,
		value: func(st store.Settings) any { return *field(&st) },
		set: func(st *store.Settings, s string) error {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("%q is neither true nor false", s)
			}
			*field(st) = b
			return nil
		}}
}

// parseSeconds reads a duration in seconds (86400) or with a unit (24h, 90m); 0 is never.
func parseSeconds(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d%time.Second != 0 {
		return 0, fmt.Errorf("%q is not a duration: give seconds (86400) or hours and minutes (24h, 90m); 0 never expires", s)
	}
	return d, nil
}

// settingText is a setting's value as `settings get` prints it and `settings set` reads it:
// lists joined by commas, nothing for an unset value.
func settingText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case []string:
		return strings.Join(v, ",")
	case []netip.Prefix:
		return strings.ReplaceAll(wg.FormatPrefixes(v), " ", "")
	}
	return fmt.Sprint(v)
}

// jsonValue is a setting's value for JSON: prefixes as text.
func jsonValue(v any) any {
	if ps, ok := v.([]netip.Prefix); ok {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.String()
		}
		return out
	}
	return v
}
