package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"wiregui/collector/vmtest"
	"wiregui/wg/wglab"
)

// BenchmarkCollectorProcess runs the real binary with n devices, its collector polling every
// 5 s and pushing to a real VictoriaMetrics, and reports the collector process's RSS and CPU
// time per minute (the peers are idle: the tick's share of changed peers is measured by the
// collector package's BenchmarkTick). Run with:
//
//	go test -run XXX -bench CollectorProcess -benchtime 1x .
func BenchmarkCollectorProcess(b *testing.B) {
	wglab.Require(b)
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprint("devices=", n), func(b *testing.B) {
			vm := vmtest.Start(b)
			dataDir := b.TempDir()
			seedDevices(b, dataDir, n, 1)
			ns := wglab.NewNamespace(b, "wgt-cbench")
			rootAddr, nsAddr := wglab.ConnectRoot(b, ns)
			cmd := ns.Command(context.Background(), binary, "serve")
			cmd.Env = append(os.Environ(), "WG_DATA_DIR="+dataDir, "WG_EXTERNAL_URL=http://"+nsAddr.String()+":13000",
				"WG_WG_INTERFACE="+wglab.UniqueName("wgb"), "WG_WG_USERSPACE=always", "WG_WG_IPV4_NETWORK=10.64.0.0/16",
				"WG_WG_IPV6_NETWORK=off", "WG_METRICS_POLL_INTERVAL=5", "GOGC="+os.Getenv("BENCH_GOGC"), "GOMEMLIMIT="+os.Getenv("BENCH_GOMEMLIMIT"), "GODEBUG="+os.Getenv("BENCH_GCTRACE"),
				"WG_VICTORIAMETRICS_URL=http://"+rootAddr.String()+":"+exposeToNamespaces(b, vm.URL()))
			proc := ns.StartCmd(b, cmd)
			var pid int
			deadline := time.Now().Add(time.Minute)
			for pid == 0 && time.Now().Before(deadline) {
				pid = collectorPID(b, proc.Cmd.Process.Pid)
				time.Sleep(50 * time.Millisecond)
			}
			if pid == 0 {
				b.Fatal("no collector process")
			}
			time.Sleep(12 * time.Second) // the first polls load the devices and announce every peer
			b.ResetTimer()
			for range b.N {
				cpu0, start := cpuTicks(pid), time.Now()
				time.Sleep(30 * time.Second)
				cpu := time.Duration(cpuTicks(pid)-cpu0) * 10 * time.Millisecond // USER_HZ = 100
				b.ReportMetric(cpu.Seconds()/time.Since(start).Minutes(), "cpu-s/min")
			}
			status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			for _, line := range strings.Split(string(status), "\n") {
				if strings.HasPrefix(line, "Rss") {
					b.Log(line)
				}
			}
			b.ReportMetric(float64(rssKiB(pid))/1024, "rss-MB")
			if os.Getenv("BENCH_GCTRACE") != "" {
				b.Log(proc.Output()[max(0, len(proc.Output())-3000):])
			}
			if !strings.Contains(proc.Output(), "collector started") {
				b.Errorf("collector log:\n%s", proc.Output())
			}
		})
	}
}

// cpuTicks is the user and system time of pid so far, in clock ticks.
func cpuTicks(pid int) int64 {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return utime + stime
}
