package wg

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"wiregui/wg/wglab"
)

// TestMain lets the test binary play a WireGUI server process: with
// WG_TEST_CHILD=serve it opens and syncs an interface in its own network
// namespace, the production path, instead of running tests.
func TestMain(m *testing.M) {
	if os.Getenv("WG_TEST_CHILD") == "serve" {
		if err := childServe(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func childServe() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var want Config
	var err error
	if want.PrivateKey, err = wgtypes.ParseKey(os.Getenv("WG_TEST_KEY")); err != nil {
		return err
	}
	if want.ListenPort, err = strconv.Atoi(os.Getenv("WG_TEST_PORT")); err != nil {
		return err
	}
	for _, a := range strings.Fields(os.Getenv("WG_TEST_ADDRS")) {
		want.Addresses = append(want.Addresses, netip.MustParsePrefix(a))
	}
	peer, err := ParsePublicKey(os.Getenv("WG_TEST_PEER"))
	if err != nil {
		return err
	}
	p := Peer{PublicKey: peer}
	for _, a := range strings.Fields(os.Getenv("WG_TEST_PEER_IPS")) {
		p.AllowedIPs = append(p.AllowedIPs, netip.MustParsePrefix(a))
	}
	want.Peers = []Peer{p}

	iface, err := OpenInterface(os.Getenv("WG_TEST_IFACE"), ModeAuto, logger)
	if err != nil {
		return err
	}
	defer iface.Close()
	ch, err := iface.Sync(ctx, want)
	if err != nil {
		return err
	}
	fmt.Printf("ready kind=%s changes=%+v\n", iface.Kind(), ch)
	<-ctx.Done()
	return iface.Close()
}

// TestInterfaceOwnNamespace runs the interface the way WireGUI does, in a
// process that lives in the server's namespace (no WithNetNS), and talks to
// it from outside: a real client through the tunnel, and a Reader in this
// process, as the collector would.
func TestInterfaceOwnNamespace(t *testing.T) {
	wglab.Require(t)
	srvNS := wglab.NewNamespace(t, "wgo")
	cliNS := wglab.NewNamespace(t, "wgp")
	srvUnder, _ := wglab.Connect(t, srvNS, cliNS)
	srvPriv, srvPub, _ := GenerateKeyPair()
	cliPriv, cliPub, _ := GenerateKeyPair()
	name := wglab.UniqueName("wgo")

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := srvNS.Command(context.Background(), exe)
	cmd.Env = append(os.Environ(),
		"WG_TEST_CHILD=serve",
		"WG_TEST_IFACE="+name,
		"WG_TEST_KEY="+srvPriv.String(),
		"WG_TEST_PORT=51820",
		"WG_TEST_ADDRS=10.7.0.1/24",
		"WG_TEST_PEER="+cliPub.String(),
		"WG_TEST_PEER_IPS=10.7.0.2/32",
	)
	server := srvNS.StartCmd(t, cmd)
	if !waitFor(20*time.Second, func() bool { return strings.Contains(server.Output(), "ready") }) {
		t.Fatalf("server process not ready:\n%s", server.Output())
	}
	if !strings.Contains(server.Output(), "ready kind=userspace") && !strings.Contains(server.Output(), "ready kind=kernel") {
		t.Fatalf("server output:\n%s", server.Output())
	}

	conf := ClientConfig{
		PrivateKey:      cliPriv.String(),
		Addresses:       prefixes("10.7.0.2/32"),
		ServerPublicKey: srvPub.String(),
		AllowedIPs:      prefixes("10.7.0.0/24"),
		Endpoint:        JoinEndpoint(srvUnder.String(), 51820),
	}
	client := wglab.StartClient(t, cliNS, wglab.UniqueName("wgp"), conf.Render())
	if err := client.Ping(t, netip.MustParseAddr("10.7.0.1")); err != nil {
		t.Fatalf("ping through the tunnel: %v\nserver:\n%s", err, server.Output())
	}

	r, err := OpenReader(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stats, err := r.Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 1 || stats[0].PublicKey != cliPub || stats[0].LastHandshake.IsZero() || stats[0].RxBytes == 0 {
		t.Errorf("Reader.Peers = %+v, want the client with a handshake and traffic", stats)
	}

	if err := server.Stop(); err != nil {
		t.Errorf("server did not stop cleanly: %v\n%s", err, server.Output())
	}
	if _, err := srvNS.Exec("ip", "link", "show", name); err == nil && strings.Contains(server.Output(), "kind=userspace") {
		t.Error("userspace link still exists after the server closed it")
	}
}
