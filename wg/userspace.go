package wg

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/ipc"
	"golang.zx2c4.com/wireguard/tun"

	"wiregui/wg/internal/netnsx"
)

// userspaceDevice is the embedded wireguard-go: a TUN, the device that
// drives it and the UAPI socket that wgctrl and wg(8) talk to.
type userspaceDevice struct {
	name     string
	dev      *device.Device
	uapi     net.Listener
	uapiDone chan struct{} // closed when the accept loop ends
}

// startUserspace creates the TUN name in the namespace nsFD (-1: the
// caller's) and starts wireguard-go on it.
func startUserspace(name string, nsFD int, logger *slog.Logger) (*userspaceDevice, error) {
	var tdev tun.Device
	err := netnsx.Do(nsFD, func() error {
		var err error
		tdev, err = tun.CreateTUN(name, defaultMTU)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create tun %s: %w", name, err)
	}
	bind := conn.NewDefaultBind()
	if nsFD >= 0 {
		// The device opens UDP sockets whenever it comes up and asks the
		// TUN for its MTU by name; both must happen inside the namespace.
		tdev = nsTUN{Device: tdev, nsFD: nsFD}
		bind = nsBind{Bind: bind, nsFD: nsFD}
	}
	u := &userspaceDevice{
		name: name,
		dev:  device.NewDevice(tdev, bind, deviceLogger(logger)),
	}
	if err := u.listenUAPI(); err != nil {
		u.dev.Close()
		return nil, err
	}
	return u, nil
}

// listenUAPI creates /var/run/wireguard/NAME.sock and serves it.
func (u *userspaceDevice) listenUAPI() error {
	f, err := ipc.UAPIOpen(u.name)
	if err != nil {
		return fmt.Errorf("open uapi socket for %s: %w", u.name, err)
	}
	defer f.Close() // UAPIListen works on a duplicate
	l, err := ipc.UAPIListen(u.name, f)
	if err != nil {
		return fmt.Errorf("listen on uapi socket for %s: %w", u.name, err)
	}
	u.uapi, u.uapiDone = l, make(chan struct{})
	go func(l net.Listener, done chan struct{}) {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go u.dev.IpcHandle(c)
		}
	}(l, u.uapiDone)
	return nil
}

// alive reports whether the device is still running; wireguard-go closes it
// when its TUN is deleted.
func (u *userspaceDevice) alive() bool {
	select {
	case <-u.dev.Wait():
		return false
	default:
		return true
	}
}

// uapiAlive reports whether the UAPI socket is still served. The listener
// stops when someone deletes the socket file.
func (u *userspaceDevice) uapiAlive() bool {
	select {
	case <-u.uapiDone:
		return false
	default:
		return true
	}
}

// restartUAPI replaces a UAPI listener that stopped.
func (u *userspaceDevice) restartUAPI() error {
	u.uapi.Close()
	<-u.uapiDone
	return u.listenUAPI()
}

// close stops the UAPI socket, then the device, which closes the TUN and so
// deletes the link.
func (u *userspaceDevice) close() error {
	// UAPIListener.Close reports an error from its own shutdown order
	// ("write |1: file already closed") even when everything closed.
	u.uapi.Close()
	<-u.uapiDone
	u.dev.Close()
	return nil
}

// The embedded wireguard-go's log: a burst of lines, then one more every interval (variables
// for the tests).
var (
	deviceLogBurst = 5
	deviceLogEvery = 3 * time.Second
)

// deviceLogger sends wireguard-go's log lines to slog at debug level, its errors too, and no
// faster than deviceLogBurst and deviceLogEvery allow; a line after some were held back says
// how many. wireguard-go logs per peer and per event: every peer it configures or starts,
// every handshake it cannot send (every 5 s for 90 s), so at 10,000 peers a restart alone made
// thousands of lines a second. What an operator acts on reaches the log through WireGUI's own
// errors: a failed configuration, a device that went away.
func deviceLogger(logger *slog.Logger) *device.Logger {
	l := logger.With(slog.String("component", "wireguard-go"))
	limit := &logLimiter{burst: deviceLogBurst, every: deviceLogEvery}
	logf := func(format string, args ...any) {
		ctx := context.Background()
		if !l.Enabled(ctx, slog.LevelDebug) {
			return // skip the formatting when nobody listens
		}
		ok, held := limit.allow(time.Now())
		switch {
		case !ok:
		case held > 0:
			l.Debug(fmt.Sprintf(format, args...), slog.Int("lines_suppressed_before", held))
		default:
			l.Debug(fmt.Sprintf(format, args...))
		}
	}
	return &device.Logger{Verbosef: logf, Errorf: logf}
}

// nsBind opens the device's UDP sockets inside a network namespace.
type nsBind struct {
	conn.Bind
	nsFD int
}

func (b nsBind) Open(port uint16) (fns []conn.ReceiveFunc, actual uint16, err error) {
	err = netnsx.Do(b.nsFD, func() error {
		var err error
		fns, actual, err = b.Bind.Open(port)
		return err
	})
	return fns, actual, err
}

// nsTUN looks up the TUN's MTU (an ioctl by name) inside its namespace.
type nsTUN struct {
	tun.Device
	nsFD int
}

func (t nsTUN) MTU() (mtu int, err error) {
	err = netnsx.Do(t.nsFD, func() error {
		var err error
		mtu, err = t.Device.MTU()
		return err
	})
	return mtu, err
}
