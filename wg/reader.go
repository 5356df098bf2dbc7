package wg

import (
	"context"
	"fmt"
	"net/netip"
	"os"

	"wiregui/wg/internal/netnsx"
)

// Reader reads peer statistics of an interface that another process (or
// another part of this one) manages. It holds one wgctrl client.
type Reader struct {
	name   string
	wgc    wgClient
	nsFile *os.File
}

// OpenReader opens a reader for the interface name. The interface need not
// exist yet; Peers fails while it does not. WithNetNS reads a kernel link in
// another namespace (userspace devices are found by their socket anywhere).
func OpenReader(name string, opts ...Option) (*Reader, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	r := &Reader{name: name}
	fd := -1
	if o.netnsPath != "" {
		f, err := netnsx.Open(o.netnsPath)
		if err != nil {
			return nil, fmt.Errorf("open reader for %s: %w", name, err)
		}
		r.nsFile, fd = f, int(f.Fd())
	}
	c, err := newWgctrl(fd)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("open reader for %s: %w", name, err)
	}
	r.wgc = c
	return r, nil
}

// Peers returns the statistics of every peer, read in one call. The error
// wraps fs.ErrNotExist when the interface does not exist.
func (r *Reader) Peers(ctx context.Context) ([]PeerStats, error) {
	return readPeers(ctx, r.wgc, r.name)
}

// Close releases the wgctrl client.
func (r *Reader) Close() error {
	var err error
	if r.wgc != nil {
		err = r.wgc.Close()
	}
	if r.nsFile != nil {
		r.nsFile.Close()
	}
	return err
}

func readPeers(ctx context.Context, c wgClient, name string) ([]PeerStats, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dev, err := c.Device(name)
	if err != nil {
		return nil, fmt.Errorf("read peers of %s: %w", name, err)
	}
	stats := make([]PeerStats, len(dev.Peers))
	for j, p := range dev.Peers {
		s := PeerStats{
			PublicKey: p.PublicKey,
			RxBytes:   p.ReceiveBytes,
			TxBytes:   p.TransmitBytes,
		}
		if p.Endpoint != nil {
			ap := p.Endpoint.AddrPort()
			s.Endpoint = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
		// The kernel reports "never" as the Unix epoch.
		if !p.LastHandshakeTime.IsZero() && p.LastHandshakeTime.UnixNano() != 0 {
			s.LastHandshake = p.LastHandshakeTime
		}
		stats[j] = s
	}
	return stats, nil
}
