package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"wiregui/app/apptest"
	"wiregui/wg/wglab"
)

// BenchmarkTickToPage measures how long a stat change takes from the collector's read of
// WireGuard (the time its tick carries) to an open device page: the database write, the tick
// line to the parent, the hub and the Server-Sent Event. The real binary polls every second
// (startServer) and a real client pings through the tunnel, so every tick has a change; each
// iteration is one tick. Run it with -benchtime 20x.
func BenchmarkTickToPage(b *testing.B) {
	wglab.Require(b)
	clientNS := wglab.NewNamespace(b, "wgt-cli")
	s := startServer(b, "sqlite", clientNS)
	conf := s.createDevice(b, "latency laptop")
	client := wglab.StartClient(b, clientNS, wglab.UniqueName("wgc"), []byte(conf))
	if err := client.Ping(b, netip.MustParseAddr(tunnelServer)); err != nil {
		b.Fatal(err)
	}
	clientNS.Start(b, "ping", "-q", "-i", "0.2", tunnelServer)

	c := apptest.New(b, s.url)
	c.SignIn(adminEmail, adminPassword)
	m := regexp.MustCompile(`href="/devices/([0-9a-f-]{36})"`).FindStringSubmatch(c.Get("/devices").Body)
	if m == nil {
		b.Fatal("no device on My Devices")
	}
	req, _ := http.NewRequest(http.MethodGet, s.url+"/devices/"+m[1]+"/live?since="+strconv.FormatInt(time.Now().UnixMilli(), 10), nil)
	stream := *c.HTTP
	stream.Timeout = 0
	resp, err := stream.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("open the device's stream: %v %v", err, resp)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	var latencies []time.Duration
	b.ResetTimer()
	for len(latencies) < b.N && lines.Scan() {
		data, ok := strings.CutPrefix(lines.Text(), "data: ")
		if !ok || !strings.HasPrefix(data, `{"at":`) {
			continue
		}
		var p struct {
			At int64 `json:"at"`
		}
		if err := json.Unmarshal([]byte(data), &p); err != nil {
			b.Fatalf("point %q: %v", data, err)
		}
		latencies = append(latencies, time.Since(time.UnixMilli(p.At)))
	}
	b.StopTimer()
	if len(latencies) < b.N {
		b.Fatalf("the stream ended after %d points: %v", len(latencies), lines.Err())
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)-1].Microseconds())/1000, "max-ms")
}
