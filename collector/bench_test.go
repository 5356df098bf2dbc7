package collector

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"wiregui/collector/vmtest"
	"wiregui/store"
	"wiregui/store/storetest"
	"wiregui/wg"
	"wiregui/wg/wglab"
)

// benchLab is a userspace WireGuard interface with n peers and a store with a device for each.
type benchLab struct {
	reader *wg.Reader
	store  *store.Store
}

func newBenchLab(b *testing.B, driver string, n int) *benchLab {
	b.Helper()
	wglab.Require(b)
	ns := wglab.NewNamespace(b, "wgt-cbench")
	iface, err := wg.OpenInterface(wglab.UniqueName("wgb"), wg.ModeAlways, nil, wg.WithNetNS(ns.Path))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { iface.Close() })
	priv, _, _ := wg.GenerateKeyPair()
	cfg := wg.Config{PrivateKey: priv, ListenPort: 51820}
	s := storetest.Open(b, driver)
	ctx := context.Background()
	owner := &store.User{Email: "fleet@example.com"}
	if err := s.CreateUser(ctx, owner); err != nil {
		b.Fatal(err)
	}
	ip := netip.MustParseAddr("10.64.0.1")
	for i := range n {
		_, pub, _ := wg.GenerateKeyPair()
		ip = ip.Next()
		cfg.Peers = append(cfg.Peers, wg.Peer{PublicKey: pub, AllowedIPs: []netip.Prefix{wg.HostPrefix(ip)}})
		d := &store.Device{UserID: owner.ID, Name: fmt.Sprint("device ", i), PublicKey: pub.String()}
		if err := s.CreateDevice(ctx, d, store.AddressPools{}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := iface.Sync(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	r, err := wg.OpenReader(iface.Name(), wg.WithNetNS(ns.Path))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return &benchLab{reader: r, store: s}
}

// trafficReader reads the real interface, then adds traffic to a share of the peers, a
// different share each read, as if they had sent and received (counters cannot be made to
// move on 10,000 userspace peers without 10,000 clients).
type trafficReader struct {
	r       PeerReader
	percent int
	reads   int64
	bytes   map[string]int64
}

func (t *trafficReader) Peers(ctx context.Context) ([]PeerStats, error) {
	peers, err := t.r.Peers(ctx)
	if err != nil {
		return nil, err
	}
	if t.bytes == nil {
		t.bytes = make(map[string]int64, len(peers))
	}
	t.reads++
	every := 100 / t.percent
	for i := range peers {
		if (i+int(t.reads))%every != 0 {
			continue
		}
		k := peers[i].PublicKey.String()
		t.bytes[k] += 1500
		peers[i].RxBytes += t.bytes[k]
		peers[i].TxBytes += t.bytes[k] / 2
		peers[i].LastHandshake = time.Now()
	}
	return peers, nil
}

// BenchmarkTick measures one collector tick at 10,000 peers (10 % or all of them changed):
// the WireGuard read, rates and totals, the database write, the message to the parent and the
// VictoriaMetrics encoding, next to the bare read measured in the same run. It also reports
// the CPU time and disk writes of a minute of ticks at a 5 s interval. Run with:
//
//	go test -run XXX -bench Tick -benchtime 20x ./collector
func BenchmarkTick(b *testing.B) {
	for _, driver := range storetest.Drivers {
		for _, n := range []int{1_000, 10_000} {
			lab := newBenchLab(b, driver, n)
			for _, percent := range []int{10, 100} {
				b.Run(fmt.Sprintf("%s/peers=%d/changed=%d%%", driver, n, percent), func(b *testing.B) {
					benchTick(b, lab.reader, lab.store, percent)
				})
			}
			if driver == "sqlite" {
				b.Run(fmt.Sprintf("no-database/peers=%d/changed=10%%", n), func(b *testing.B) {
					benchTick(b, lab.reader, noWrites{lab.store}, 10)
				})
			}
		}
	}
}

// noWrites is a store whose writes cost nothing: what a tick costs without the database.
type noWrites struct{ StatsStore }

func (noWrites) UpdateDeviceStats(context.Context, []store.StatsUpdate) error { return nil }

func benchTick(b *testing.B, reader *wg.Reader, st StatsStore, percent int) {
	ctx := context.Background()
	var bare time.Duration
	for range 5 {
		start := time.Now()
		if _, err := reader.Peers(ctx); err != nil {
			b.Fatal(err)
		}
		bare += time.Since(start)
	}
	bare /= 5

	// The samples go to a real VictoriaMetrics, as in production: the pusher's encoding and
	// sending count in the CPU figure (VictoriaMetrics' own work, another process, does not).
	push := &Pusher{URL: vmtest.Start(b).URL(), Buffer: time.Minute}
	pushCtx, stopPush := context.WithCancel(ctx)
	var pushing sync.WaitGroup
	pushing.Go(func() { push.Run(pushCtx) })
	defer func() { stopPush(); pushing.Wait() }()
	p := &Poller{Reader: &trafficReader{r: reader, percent: percent}, Store: st}
	var line []byte
	p.OnPoll = func(tick *Tick, h Health) {
		push.Add(*tick)
		line = AppendMessage(line[:0], Message{Health: h, Tick: tick})
	}
	tick := func() {
		t, err := p.Poll(ctx)
		if err != nil {
			b.Fatal(err)
		}
		p.OnPoll(t, p.Health())
	}
	tick() // the first poll loads the devices and announces every peer
	cpu0, io0 := cpuTime(), writtenBytes()
	b.ResetTimer()
	for range b.N {
		tick()
		// Ticks are 5 s apart in production: the push of one is done before the next
		// starts, and VictoriaMetrics' ingest does not compete with the tick for the cores.
		b.StopTimer()
		for deadline := time.Now().Add(5 * time.Second); push.Health().Buffered > 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		b.StartTimer()
	}
	b.StopTimer()
	if h := push.Health(); h.State != "ok" {
		b.Errorf("push %+v", h)
	}
	perTick := b.Elapsed() / time.Duration(b.N)
	cpuPerTick := (cpuTime() - cpu0) / time.Duration(b.N)
	b.ReportMetric(float64(bare.Microseconds())/1000, "bare-read-ms")
	b.ReportMetric(float64(perTick.Microseconds())/1000, "tick-ms")
	b.ReportMetric(float64(perTick)/float64(bare), "x-bare-read")
	b.ReportMetric((cpuPerTick * 12).Seconds(), "cpu-s/min@5s")
	b.ReportMetric(float64((writtenBytes()-io0)/int64(b.N)*12)/1e6, "disk-MB/min@5s")
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writtenBytes is what this process has caused to be written to storage so far.
func writtenBytes() int64 {
	b, _ := os.ReadFile("/proc/self/io")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
