package app

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"wiregui/app/devices"
	"wiregui/app/text"
	"wiregui/store"
	"wiregui/wg"
)

// clientField is one of the five client settings as the forms show it: its input, and the
// value in effect with where that value comes from, in words.
type clientField struct {
	Name        string // the form field: "endpoint", "dns", "allowed_ips", "mtu", "persistent_keepalive"
	Label       string
	Hint        string
	Placeholder string
	Effective   string // e.g. "1280"
	Source      string // e.g. "default from settings"
	// Default says Effective is the default an empty input uses (the Settings page), not the
	// value in effect.
	Default bool
}

// clientFieldInfo is the fixed part of each client field, in the order the forms show them.
var clientFieldInfo = []struct{ name, label, hint string }{
	{"endpoint", "Endpoint", "Host name or IP address the client connects to, optionally with :port."},
	{"dns", "DNS servers", "Comma-separated IP addresses or search domains."},
	{"allowed_ips", "Allowed IPs", "Comma-separated networks the client sends through the tunnel; 0.0.0.0/0, ::/0 sends everything."},
	{"mtu", "MTU", "Bytes, e.g. 1280."},
	{"persistent_keepalive", "Persistent keepalive", "Seconds between keepalive packets; 0 turns them off."},
}

// clientFields describes res for a form; words turns a source ("device", "database",
// "environment") into the words shown next to the value.
func clientFields(res devices.Resolved, words func(source string) string) []clientField {
	effective := map[string][2]string{
		"endpoint":             {orWord(res.Endpoint.Value, "not set"), res.Endpoint.Source},
		"dns":                  {orWord(strings.Join(res.DNS.Value, ", "), "none"), res.DNS.Source},
		"allowed_ips":          {orWord(wg.FormatPrefixes(res.AllowedIPs.Value), "none"), res.AllowedIPs.Source},
		"mtu":                  {orWord(mtuText(res.MTU.Value), "not set"), res.MTU.Source},
		"persistent_keepalive": {keepaliveWords(res.PersistentKeepalive.Value), res.PersistentKeepalive.Source},
	}
	fields := make([]clientField, 0, len(clientFieldInfo))
	for _, info := range clientFieldInfo {
		e := effective[info.name]
		fields = append(fields, clientField{Name: info.name, Label: info.label, Hint: info.hint,
			Effective: e[0], Source: words(e[1])})
	}
	return fields
}

// deviceSourceWords says where a device's setting comes from.
func deviceSourceWords(source string) string {
	switch source {
	case "device":
		return "set for this device"
	case "database":
		return "default from settings"
	case "detected":
		return "default: the server's address on its default route"
	default:
		return "default from the server environment"
	}
}

// resolvedTexts is res as the text of each client field's input.
func resolvedTexts(res devices.Resolved) map[string]string {
	return map[string]string{
		"endpoint":             res.Endpoint.Value,
		"dns":                  strings.Join(res.DNS.Value, ", "),
		"allowed_ips":          wg.FormatPrefixes(res.AllowedIPs.Value),
		"mtu":                  mtuText(res.MTU.Value),
		"persistent_keepalive": strconv.Itoa(res.PersistentKeepalive.Value),
	}
}

// settingTexts is each client setting of cs as input text, and whether it is set.
func settingTexts(cs store.ClientSettings) (texts map[string]string, set map[string]bool) {
	texts = map[string]string{
		"endpoint":             cs.Endpoint.Value,
		"dns":                  strings.Join(cs.DNS.Value, ", "),
		"allowed_ips":          wg.FormatPrefixes(cs.AllowedIPs.Value),
		"mtu":                  mtuText(cs.MTU.Value),
		"persistent_keepalive": strconv.Itoa(cs.PersistentKeepalive.Value),
	}
	set = map[string]bool{
		"endpoint":             cs.Endpoint.Set,
		"dns":                  cs.DNS.Set,
		"allowed_ips":          cs.AllowedIPs.Set,
		"mtu":                  cs.MTU.Set,
		"persistent_keepalive": cs.PersistentKeepalive.Set,
	}
	if !cs.PersistentKeepalive.Set && cs.PersistentKeepalive.Value == 0 {
		texts["persistent_keepalive"] = "" // nothing was kept: 0 is only the zero value
	}
	return texts, set
}

// fillOverrides puts a device's overrides into f: a set override shows its value; an unset one
// is ticked "Use default" and shows the value typed before, or else the default in effect.
func fillOverrides(f *Form, overrides store.ClientSettings, defaults devices.Resolved) {
	texts, set := settingTexts(overrides)
	def := resolvedTexts(defaults)
	for _, info := range clientFieldInfo {
		f.Values[info.name] = texts[info.name]
		if !set[info.name] {
			f.Values["use_default_"+info.name] = "on"
			if texts[info.name] == "" {
				f.Values[info.name] = def[info.name]
			}
		}
	}
}

// parseOverrides reads a device's five overrides from the form into f (what was typed, and a
// message for each bad field). Each has a "Use default" box (use_default_<field>): ticked, the
// override is unset but keeps a typed value that differs from the default's text (defaults),
// so that unticking the box later brings it back; a value that does not parse is then dropped
// without a message, since it is not used.
func parseOverrides(r *http.Request, f *Form, defaults map[string]string) store.ClientSettings {
	return store.ClientSettings{
		Endpoint:            parseSetting(r, f, "endpoint", defaults, parseEndpointText),
		DNS:                 parseSetting(r, f, "dns", defaults, wg.ParseDNS),
		AllowedIPs:          parseSetting(r, f, "allowed_ips", defaults, wg.ParseAllowedIPs),
		MTU:                 parseSetting(r, f, "mtu", defaults, wg.ParseMTU),
		PersistentKeepalive: parseSetting(r, f, "persistent_keepalive", defaults, wg.ParseKeepalive),
	}
}

// parseDefaults reads the database defaults of the five client settings (the Settings page)
// over saved: an empty input leaves a setting unset, so that the environment's default
// applies; a setting the form does not send keeps its saved value.
func parseDefaults(r *http.Request, f *Form, saved store.ClientSettings) store.ClientSettings {
	cs := parseOverrides(r, f, nil)
	keep := func(field string) bool { _, sent := r.PostForm[field]; return !sent }
	if keep("endpoint") {
		cs.Endpoint = saved.Endpoint
	}
	if keep("dns") {
		cs.DNS = saved.DNS
	}
	if keep("allowed_ips") {
		cs.AllowedIPs = saved.AllowedIPs
	}
	if keep("mtu") {
		cs.MTU = saved.MTU
	}
	if keep("persistent_keepalive") {
		cs.PersistentKeepalive = saved.PersistentKeepalive
	}
	return cs
}

// parseSetting reads one client setting; defaults nil means the form has no "Use default"
// boxes and an empty input means unset. A field missing from the form is unset.
func parseSetting[T any](r *http.Request, f *Form, field string, defaults map[string]string,
	parse func(string) (T, error)) store.Optional[T] {
	typed := r.PostFormValue(field)
	if _, sent := r.PostForm[field]; !sent {
		return store.Optional[T]{} // a form without the field (a script, an older page) keeps the default
	}
	f.Values[field] = typed
	value := strings.TrimSpace(typed)
	useDefault := defaults == nil && value == ""
	if defaults != nil && r.PostFormValue("use_default_"+field) != "" {
		useDefault = true
		f.Values["use_default_"+field] = "on"
	}
	if useDefault && (value == "" || value == defaults[field]) {
		return store.Optional[T]{}
	}
	v, err := parse(value)
	if err != nil {
		if !useDefault {
			f.Errors[field] = text.Sentence(err.Error())
		}
		return store.Optional[T]{}
	}
	return store.Optional[T]{Value: v, Set: !useDefault}
}

// parseRelaySubnets reads the relay subnets field (allowed_subnets); empty means none.
func parseRelaySubnets(r *http.Request, f *Form) []netip.Prefix {
	typed := r.PostFormValue("allowed_subnets")
	f.Values["allowed_subnets"] = typed
	if strings.TrimSpace(typed) == "" {
		return nil
	}
	subnets, err := wg.ParseAllowedIPs(typed)
	if err != nil {
		f.Errors["allowed_subnets"] = text.Sentence(err.Error())
		return nil
	}
	return subnets
}

// parseEndpointText checks an endpoint ("host" or "host:port") and keeps it as written.
func parseEndpointText(s string) (string, error) {
	if _, _, err := wg.ParseEndpoint(s); err != nil {
		return "", err
	}
	return s, nil
}

// fieldError records a service's InputErrors on f (one, or several joined: a message for
// each field); it reports false for any other error.
func fieldError(f *Form, err error) bool {
	bad := text.InputErrors(err)
	for _, b := range bad {
		f.Errors[b.Field] = b.Message
	}
	return len(bad) > 0
}

// mtuText is an MTU as input text; 0 (leave the MTU to the client) is empty.
func mtuText(mtu int) string {
	if mtu == 0 {
		return ""
	}
	return strconv.Itoa(mtu)
}

func keepaliveWords(seconds int) string {
	switch seconds {
	case 0:
		return "off"
	case 1:
		return "1 second"
	}
	return strconv.Itoa(seconds) + " seconds"
}

func orWord(s, word string) string {
	if s == "" {
		return word
	}
	return s
}
