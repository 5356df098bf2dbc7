// Package devices is the device service: it creates, changes and deletes devices, resolves
// their client settings and renders their client configurations. The web UI, the CLI and the
// API all use it, so each of those has one way, and one validation.
package devices

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"wiregui/app/text"
	"wiregui/store"
	"wiregui/wg"
)

// Store is what the device service needs from storage.
type Store interface {
	CreateDevice(ctx context.Context, d *store.Device, pools store.AddressPools) error
	UpdateDevice(ctx context.Context, id string, fn func(*store.Device) error) (*store.Device, error)
	DeleteDevice(ctx context.Context, id string) error
	ListDevices(ctx context.Context) ([]store.Device, error)
	ServerKeys(ctx context.Context) (store.ServerKeys, error)
	Settings(ctx context.Context) (store.Settings, error)
}

// ClientDefaults are the environment's client settings: the last source a value resolves
// from, after the device's override and the database default.
type ClientDefaults struct {
	EndpointHost string
	// EndpointWhy says, for the log and admins, where EndpointHost comes from.
	EndpointWhy string
	// EndpointDetected: no setting names EndpointHost; it is the server's own address.
	EndpointDetected    bool
	EndpointPort        int
	DNS                 []string
	MTU                 int
	PersistentKeepalive int
	AllowedIPs          []netip.Prefix
}

// Service creates, changes and deletes devices and renders their client configurations.
type Service struct {
	Store  Store
	Pools  store.AddressPools
	Client ClientDefaults
	// Tunnels are the tunnel networks, which relay subnets must not overlap.
	Tunnels []netip.Prefix
	// Changed is called after every change so that the reconciler applies it at once, with
	// the id of the user whose devices changed.
	Changed func(userID string)
}

// Spec is what a new device is made from.
type Spec struct {
	UserID      string
	Name        string
	Description string
	PublicKey   string // optional: the client keeps its private key
	Overrides   store.ClientSettings
	// AllowedSubnets are relay subnets behind the device; only admins may set them.
	AllowedSubnets []netip.Prefix
}

// Created is a new device with its client configuration, shown to the user once.
type Created struct {
	Device   *store.Device
	Config   string
	FileName string
	Endpoint string // the endpoint the configuration dials, host:port
}

// Value is a resolved client setting and where it came from: "device", "database" or
// "environment", or for the endpoint "detected" (the environment's, but no setting named it).
type Value[T any] struct {
	Value  T
	Source string
}

// Resolved are the client settings that go into a device's configuration.
type Resolved struct {
	AllowedIPs          Value[[]netip.Prefix]
	DNS                 Value[[]string]
	Endpoint            Value[string] // host:port, as written into the configuration
	MTU                 Value[int]
	PersistentKeepalive Value[int]
}

// Create validates nd, generates the keys the server may generate, stores the device with
// its addresses, and renders its client configuration. The private key is never stored: it
// exists only in the returned configuration.
func (d *Service) Create(ctx context.Context, nd Spec) (*Created, error) {
	dev := &store.Device{UserID: nd.UserID, Name: nd.Name, Description: nd.Description,
		Overrides: nd.Overrides, AllowedSubnets: nd.AllowedSubnets}
	if err := d.validate(ctx, dev); err != nil {
		return nil, err
	}
	var private string
	if strings.TrimSpace(nd.PublicKey) != "" {
		key, err := d.checkPublicKey(ctx, nd.PublicKey)
		if err != nil {
			return nil, err
		}
		dev.PublicKey = key.String()
	} else {
		priv, pub, err := wg.GenerateKeyPair()
		if err != nil {
			return nil, fmt.Errorf("generate device keys: %w", err)
		}
		private, dev.PublicKey = priv.String(), pub.String()
	}
	psk, err := wg.GeneratePresharedKey()
	if err != nil {
		return nil, fmt.Errorf("generate preshared key: %w", err)
	}
	dev.PresharedKey = psk.String()
	if err := d.Store.CreateDevice(ctx, dev, d.Pools); err != nil {
		if bad := nameTaken(err); bad != nil {
			return nil, bad
		}
		if errors.Is(err, store.ErrConflict) {
			return nil, &text.InputError{Field: "public_key", Message: "This public key is already used by another device."}
		}
		if errors.Is(err, wg.ErrPoolFull) {
			return nil, &text.InputError{Field: "_form", Message: text.Sentence(innermost(err).Error())}
		}
		return nil, err
	}
	d.changed(dev.UserID)
	return d.Config(ctx, dev, private)
}

// checkPublicKey validates a public key a user supplied for a device: a WireGuard key that a
// peer can have (see wg.ParsePublicKey) and not the server's own, which is in every client
// configuration and would make the interface refuse the whole peer list.
func (d *Service) checkPublicKey(ctx context.Context, s string) (wgtypes.Key, error) {
	key, err := wg.ParsePublicKey(s)
	if err != nil {
		return key, &text.InputError{Field: "public_key", Message: text.Sentence(err.Error())}
	}
	server, err := d.Store.ServerKeys(ctx)
	if err != nil {
		return key, fmt.Errorf("server keys: %w", err)
	}
	if key.String() == server.PublicKey {
		return key, &text.InputError{Field: "public_key", Message: "This is the server's public key. Paste the public key of your device."}
	}
	return key, nil
}

// Update applies edit to the device with id, validates the result and stores it; nothing is
// written when edit or the validation fails.
func (d *Service) Update(ctx context.Context, id string, edit func(*store.Device) error) (*store.Device, error) {
	dev, err := d.Store.UpdateDevice(ctx, id, func(dev *store.Device) error {
		if dev.Problem != "" {
			// Writing it back would store what did not read as empty.
			return &text.InputError{Field: "_form", Message: text.Sentence("this device's stored data is damaged (" + dev.Problem +
				"); delete it and add it again")}
		}
		if err := edit(dev); err != nil {
			return err
		}
		return d.validate(ctx, dev)
	})
	if bad := nameTaken(err); bad != nil {
		return nil, bad
	}
	if err != nil {
		return nil, err
	}
	d.changed(dev.UserID)
	return dev, nil
}

// nameTaken turns the store's answer to a name the user's devices have already into the
// message on the name field; nil for any other error.
func nameTaken(err error) *text.InputError {
	var taken *store.DeviceNameTakenError
	if !errors.As(err, &taken) {
		return nil
	}
	msg := fmt.Sprintf("A device named “%s” exists already for this user. Choose another name.", taken.Name)
	if taken.Existing != "" && taken.Existing != taken.Name {
		msg = fmt.Sprintf("A device named “%s” exists already for this user, and names that differ only in upper and lower case count as the same. Choose another name.",
			taken.Existing)
	}
	return &text.InputError{Field: "name", Message: msg, Err: err}
}

// Delete removes dev; its peer goes at once.
func (d *Service) Delete(ctx context.Context, dev *store.Device) error {
	if err := d.Store.DeleteDevice(ctx, dev.ID); err != nil {
		return err
	}
	d.changed(dev.UserID)
	return nil
}

// changed reports a change to userID's devices or VPN session; "" means it may concern
// every user (settings).
func (d *Service) changed(userID string) {
	if d.Changed != nil {
		d.Changed(userID)
	}
}

// Config renders dev's client configuration; an empty privateKey writes a placeholder line.
func (d *Service) Config(ctx context.Context, dev *store.Device, privateKey string) (*Created, error) {
	server, err := d.Store.ServerKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("server keys: %w", err)
	}
	res, err := d.Resolve(ctx, dev)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Prefix
	for _, a := range []netip.Addr{dev.IPv4, dev.IPv6} {
		if a.IsValid() {
			addrs = append(addrs, wg.HostPrefix(a))
		}
	}
	cfg := wg.ClientConfig{
		PrivateKey:          privateKey,
		Addresses:           addrs,
		DNS:                 res.DNS.Value,
		MTU:                 res.MTU.Value,
		ServerPublicKey:     server.PublicKey,
		PresharedKey:        dev.PresharedKey,
		AllowedIPs:          res.AllowedIPs.Value,
		Endpoint:            res.Endpoint.Value,
		PersistentKeepalive: res.PersistentKeepalive.Value,
	}
	return &Created{Device: dev, Config: string(cfg.Render()), FileName: ConfigFileName(dev.Name), Endpoint: res.Endpoint.Value}, nil
}

// Defaults returns the client settings a device without overrides gets.
func (d *Service) Defaults(ctx context.Context) (Resolved, error) {
	return d.Resolve(ctx, &store.Device{})
}

// Resolve returns dev's effective client settings: its override, else the database default,
// else the environment's.
func (d *Service) Resolve(ctx context.Context, dev *store.Device) (Resolved, error) {
	st, err := d.Store.Settings(ctx)
	if err != nil {
		return Resolved{}, err
	}
	return Effective(dev.Overrides, st.ClientDefaults, d.Client), nil
}

// Effective resolves each client setting: the device's override, else the database default,
// else the environment's.
func Effective(device, database store.ClientSettings, env ClientDefaults) Resolved {
	endpoint := pick(device.Endpoint, database.Endpoint, env.EndpointHost)
	endpoint.Value = joinEndpoint(endpoint.Value, env.EndpointPort)
	if endpoint.Source == "environment" && env.EndpointDetected {
		endpoint.Source = "detected"
	}
	return Resolved{
		AllowedIPs:          pick(device.AllowedIPs, database.AllowedIPs, env.AllowedIPs),
		DNS:                 pick(device.DNS, database.DNS, env.DNS),
		Endpoint:            endpoint,
		MTU:                 pick(device.MTU, database.MTU, env.MTU),
		PersistentKeepalive: pick(device.PersistentKeepalive, database.PersistentKeepalive, env.PersistentKeepalive),
	}
}

// LocalEndpoint says why a client on another network cannot dial endpoint ("host" or
// "host:port"): "a loopback address", "a link-local address" or "a private address". It is
// "" for any other address, and for a host name other than localhost, which may well be
// public: WireGUI does not resolve it.
func LocalEndpoint(endpoint string) string {
	host, _, err := wg.ParseEndpoint(endpoint)
	if err != nil {
		return ""
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return "a loopback address"
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return ""
	case ip.Unmap().IsLoopback():
		return "a loopback address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip.Unmap().IsPrivate():
		return "a private address"
	}
	return ""
}

// EndpointFix is how an admin gives clients an endpoint they can reach.
const EndpointFix = "set WG_WG_ENDPOINT_HOST to this server's public IP address or host name (or the Endpoint default on the Settings page)"

// EndpointWarning says, after words that name it ("This configuration dials "), what is wrong
// with an endpoint that clients on other networks cannot dial, and to an admin how to fix it;
// "" for one they can. The banner, a new device's configuration and the CLI say it.
func EndpointWarning(endpoint string, admin bool) string {
	local := LocalEndpoint(endpoint)
	if local == "" {
		return ""
	}
	msg := endpoint + ", " + local + ": devices on other networks cannot connect."
	if admin {
		return msg + " To fix it, " + EndpointFix + "."
	}
	return msg + " An administrator can set the server's public address."
}

// joinEndpoint completes an endpoint ("host" or "host:port") with the default port when it
// names none; a port given with the host wins.
func joinEndpoint(endpoint string, defaultPort int) string {
	host, port, err := wg.ParseEndpoint(endpoint)
	if err != nil {
		return endpoint // stored values were validated on save
	}
	if port == 0 {
		port = defaultPort
	}
	return wg.JoinEndpoint(host, port)
}

func pick[T any](device, database store.Optional[T], env T) Value[T] {
	switch {
	case device.Set:
		return Value[T]{Value: device.Value, Source: "device"}
	case database.Set:
		return Value[T]{Value: database.Value, Source: "database"}
	default:
		return Value[T]{Value: env, Source: "environment"}
	}
}

// validate checks every field a user can set, normalising what means the same.
func (d *Service) validate(ctx context.Context, dev *store.Device) error {
	name, err := CheckName(dev.Name)
	if err != nil {
		return err
	}
	description, err := deviceDescription.Clean(dev.Description)
	if err != nil {
		return &text.InputError{Field: "description", Message: text.Sentence(err.Error())}
	}
	dev.Name, dev.Description = name, description
	if err := ValidateClientSettings(dev.Overrides); err != nil {
		return err
	}
	if len(dev.AllowedSubnets) == 0 {
		return nil
	}
	devices, err := d.Store.ListDevices(ctx)
	if err != nil {
		return err
	}
	others := map[string][]netip.Prefix{}
	for _, o := range devices {
		if o.ID != dev.ID && len(o.AllowedSubnets) > 0 {
			others[o.Name] = append(others[o.Name], o.AllowedSubnets...)
		}
	}
	if err := wg.CheckRelaySubnets(dev.AllowedSubnets, d.Tunnels, others); err != nil {
		return &text.InputError{Field: "allowed_subnets", Message: text.Sentence(err.Error())}
	}
	return nil
}

// ValidateClientSettings checks the set values of s (device overrides or database defaults),
// so that input from the CLI or an API client meets the rules of the web forms.
func ValidateClientSettings(s store.ClientSettings) error {
	if s.AllowedIPs.Set {
		if len(s.AllowedIPs.Value) == 0 {
			return &text.InputError{Field: "allowed_ips", Message: "Enter at least one network, e.g. 0.0.0.0/0."}
		}
		if _, err := wg.ParseAllowedIPs(wg.FormatPrefixes(s.AllowedIPs.Value)); err != nil {
			return &text.InputError{Field: "allowed_ips", Message: text.Sentence(err.Error())}
		}
	}
	if s.DNS.Set {
		if _, err := wg.ParseDNS(strings.Join(s.DNS.Value, ",")); err != nil {
			return &text.InputError{Field: "dns", Message: text.Sentence(err.Error())}
		}
	}
	if s.Endpoint.Set {
		if _, _, err := wg.ParseEndpoint(s.Endpoint.Value); err != nil {
			return &text.InputError{Field: "endpoint", Message: text.Sentence(err.Error())}
		}
	}
	if s.MTU.Set {
		if _, err := wg.ParseMTU(strconv.Itoa(s.MTU.Value)); err != nil {
			return &text.InputError{Field: "mtu", Message: text.Sentence(err.Error())}
		}
	}
	if s.PersistentKeepalive.Set {
		if _, err := wg.ParseKeepalive(strconv.Itoa(s.PersistentKeepalive.Value)); err != nil {
			return &text.InputError{Field: "persistent_keepalive", Message: text.Sentence(err.Error())}
		}
	}
	return nil
}

// The text fields of a device, under the rule every text field meets (package text).
var (
	deviceName        = text.Field{Name: "a device name", Max: store.MaxDeviceName}
	deviceDescription = text.Field{Name: "a description", Max: 500, MultiLine: true}
)

// CheckName returns a device name as it is stored, or an InputError on "name".
func CheckName(name string) (string, error) {
	name, err := deviceName.Clean(name)
	switch {
	case err != nil:
		return "", &text.InputError{Field: "name", Message: text.Sentence(err.Error())}
	case name == "":
		return "", &text.InputError{Field: "name", Message: "Enter a name for the device."}
	}
	return name, nil
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9_=+.-]+`)

// ConfigFileName derives the .conf file name from a device name. wg-quick uses the file name
// as the interface name, so it keeps to the characters and the 15-character limit of one.
func ConfigFileName(deviceName string) string {
	base := strings.Trim(unsafeFileChars.ReplaceAllString(deviceName, "-"), "-.")
	if len(base) > 15 {
		base = strings.TrimRight(base[:15], "-.")
	}
	if base == "" {
		base = "wiregui"
	}
	return base + ".conf"
}

// innermost returns the error at the end of err's chain: the one that says what happened.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
