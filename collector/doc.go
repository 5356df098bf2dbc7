// Package collector polls WireGuard peer statistics: it turns them into rates and monotonic
// totals, writes the changed ones to the store, pushes metrics to VictoriaMetrics ([Pusher])
// and serves them on /metrics ([MetricsHandler]).
//
// In production it runs as a child process of `wiregui serve`: the parent re-executes its own
// binary as `/proc/self/exe --collector` under a [Supervisor], which restarts it with backoff
// when it crashes and stops it with SIGTERM when the server shuts down. The child keeps stats
// I/O out of the web process.
//
// Conventions between the parent and the child:
//
//   - stdin: a pipe the parent never writes to. EOF means the parent is gone; the child watches
//     it with [WatchParent] and exits. Pdeathsig (SIGTERM) covers the same case from the kernel.
//   - stderr: slog JSON, one record per line ([ChildLogger]). The parent relays each record into
//     its own logger with proc=collector, keeping the child's time, level, message and
//     attributes. Lines that are not JSON (a Go panic, for instance) are relayed as Info.
//   - stdout: one [Message] per poll for the parent ([AppendMessage], [DecodeMessage]): the
//     collector's health and the peers that changed, which the parent keeps in a [Hub] for the
//     live UI, /healthz and /metrics. A line may be up to 16 MiB (a tick at 10,000 peers is
//     about 1 MB). A child that writes no line for [LivenessFor] its poll interval is hung:
//     the parent says so ([Hub.Stall]), kills it with SIGKILL and starts another.
//   - signals: SIGTERM and SIGINT stop the child; the parent forwards SIGHUP. The child runs in
//     its own process group, so a Ctrl-C on the terminal reaches only the parent, which then
//     stops the child in its own shutdown order.
//
// The package does not import the web server, templates or sessions.
package collector
