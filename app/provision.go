package app

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"wiregui/store"
	"wiregui/wg"
)

// DeviceStore is what device provisioning needs from storage.
type DeviceStore interface {
	CreateDevice(ctx context.Context, d *store.Device, pools store.AddressPools) error
	ServerKeys(ctx context.Context) (store.ServerKeys, error)
}

// ClientDefaults are the values written into every client configuration.
type ClientDefaults struct {
	EndpointHost        string
	EndpointPort        int
	DNS                 []string
	MTU                 int
	PersistentKeepalive int
	AllowedIPs          []netip.Prefix
}

// Devices creates devices and their client configurations. The web UI and the CLI both use
// it, so there is one way to make a device.
type Devices struct {
	Store  DeviceStore
	Pools  store.AddressPools
	Client ClientDefaults
	// Changed is called after every change so that the reconciler applies it at once.
	Changed func()
}

// NewDevice is a request to create a device.
type NewDevice struct {
	UserID      string
	Name        string
	Description string
	PublicKey   string // optional: the client keeps its private key
}

// CreatedDevice is a new device with its client configuration, shown to the user once.
type CreatedDevice struct {
	Device   *store.Device
	Config   string
	FileName string
}

// InputError is a problem with one field of user input; Field names it, Message explains it.
type InputError struct {
	Field   string
	Message string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Message }

// Create validates nd, generates the keys the server may generate, stores the device with
// its addresses, and renders its client configuration. The private key is never stored: it
// exists only in the returned configuration.
func (d *Devices) Create(ctx context.Context, nd NewDevice) (*CreatedDevice, error) {
	name, err := validateDeviceName(nd.Name)
	if err != nil {
		return nil, err
	}
	var private, public string
	if strings.TrimSpace(nd.PublicKey) != "" {
		key, err := wg.ParsePublicKey(strings.TrimSpace(nd.PublicKey))
		if err != nil {
			return nil, &InputError{Field: "public_key", Message: capitalize(err.Error()) + "."}
		}
		public = key.String()
	} else {
		priv, pub, err := wg.GenerateKeyPair()
		if err != nil {
			return nil, fmt.Errorf("generate device keys: %w", err)
		}
		private, public = priv.String(), pub.String()
	}
	psk, err := wg.GeneratePresharedKey()
	if err != nil {
		return nil, fmt.Errorf("generate preshared key: %w", err)
	}
	server, err := d.Store.ServerKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("server keys: %w", err)
	}
	dev := &store.Device{UserID: nd.UserID, Name: name, Description: strings.TrimSpace(nd.Description),
		PublicKey: public, PresharedKey: psk.String()}
	if err := d.Store.CreateDevice(ctx, dev, d.Pools); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, &InputError{Field: "public_key", Message: "This public key is already used by another device."}
		}
		if errors.Is(err, wg.ErrPoolFull) {
			return nil, &InputError{Field: "_form", Message: capitalize(innermost(err).Error()) + "."}
		}
		return nil, err
	}
	if d.Changed != nil {
		d.Changed()
	}
	cfg := d.clientConfig(dev, private, server.PublicKey)
	return &CreatedDevice{Device: dev, Config: string(cfg.Render()), FileName: ConfigFileName(dev.Name)}, nil
}

func (d *Devices) clientConfig(dev *store.Device, privateKey, serverPublicKey string) wg.ClientConfig {
	var addrs []netip.Prefix
	for _, a := range []netip.Addr{dev.IPv4, dev.IPv6} {
		if a.IsValid() {
			addrs = append(addrs, wg.HostPrefix(a))
		}
	}
	return wg.ClientConfig{
		PrivateKey:          privateKey,
		Addresses:           addrs,
		DNS:                 d.Client.DNS,
		MTU:                 d.Client.MTU,
		ServerPublicKey:     serverPublicKey,
		PresharedKey:        dev.PresharedKey,
		AllowedIPs:          d.Client.AllowedIPs,
		Endpoint:            wg.JoinEndpoint(d.Client.EndpointHost, d.Client.EndpointPort),
		PersistentKeepalive: d.Client.PersistentKeepalive,
	}
}

func validateDeviceName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return "", &InputError{Field: "name", Message: "Enter a name for the device."}
	case n > 64:
		return "", &InputError{Field: "name", Message: fmt.Sprintf("A device name has at most 64 characters (this one has %d).", n)}
	case !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", &InputError{Field: "name", Message: "A device name cannot contain control characters."}
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

func capitalize(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}
