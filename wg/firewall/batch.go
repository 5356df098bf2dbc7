package firewall

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// batch is one transaction for the kernel. google/nftables v0.3.0 marshals the messages,
// and would send them asking the kernel to acknowledge every one, then read the
// acknowledgements one by one: at 10,000 devices, 1,000 users and 5,000 rules that is 8,000
// of them, 150 ms of a 600 ms replace, and a socket buffer that must hold them all. So its
// Conn writes to a stand-in socket that keeps the messages (nltest, the library's own test
// hook), and send hands them to the kernel asking for one acknowledgement, the last
// message's, as nft(8) does. The kernel processes a batch while it is being sent, and its
// errors, with that acknowledgement, are waiting when the send returns.
type batch struct {
	*nftables.Conn // queue messages here
	sent           []netlink.Message
}

func newBatch() *batch {
	b := &batch{}
	// The stand-in socket: it keeps what Flush sends, and acknowledges every message when
	// Flush reads.
	capture := func(req []netlink.Message) ([]netlink.Message, error) {
		if req != nil {
			b.sent = append(b.sent, req...)
			return nil, nil
		}
		return []netlink.Message{{Header: netlink.Header{Type: netlink.Error}, Data: make([]byte, 4)}}, nil
	}
	b.Conn, _ = nftables.New(nftables.WithTestDial(capture)) // fails only when dialing, which a stand-in never does
	return b
}

// ackWait bounds the wait for the kernel's answer; it is there already when the send
// returns, so this is only a safety net.
const ackWait = 10 * time.Second

// send marshals the queued messages and writes them to the kernel in one batch on nl. It
// returns nil when the kernel committed the batch, and the kernel's error otherwise, when
// nothing of the batch was applied. It returns how many messages the batch had, its
// begin and end markers aside.
func (b *batch) send(nl *netlink.Conn) (int, error) {
	if err := b.Flush(); err != nil { // marshals into b.sent
		return 0, fmt.Errorf("marshal batch: %w", err)
	}
	msgs := b.sent
	b.sent = nil
	if len(msgs) <= 2 {
		return 0, nil // begin and end only
	}
	seq := batchSeq.Add(uint32(len(msgs)))
	last := len(msgs) - 2 // before the end marker
	if err := write(nl, msgs, seq, last); err != nil {
		return len(msgs) - 2, fmt.Errorf("send batch: %w", err)
	}
	return len(msgs) - 2, receiveAck(nl, seq+uint32(last))
}

// batchSeq numbers the messages of batches; the kernel answers with the numbers.
var batchSeq atomic.Uint32

// write sends msgs in one sendmsg, numbered from seq, asking the kernel to acknowledge
// msgs[ack] only, and to echo none (the library asks for new rules to be sent back, for
// their handles). It writes the buffer itself: netlink.Conn.SendMessages appends message
// after message to an empty slice, which copied and allocated 27 MB for a 4 MB batch.
func write(nl *netlink.Conn, msgs []netlink.Message, seq uint32, ack int) error {
	size := 0
	for _, m := range msgs {
		size += nlAlign(unix.SizeofNlMsghdr + len(m.Data))
	}
	buf := make([]byte, 0, size)
	for i, m := range msgs {
		flags := m.Header.Flags &^ (netlink.Acknowledge | unix.NLM_F_ECHO)
		if i == ack {
			flags |= netlink.Acknowledge
		}
		n := unix.SizeofNlMsghdr + len(m.Data)
		buf = binary.NativeEndian.AppendUint32(buf, uint32(n))
		buf = binary.NativeEndian.AppendUint16(buf, uint16(m.Header.Type))
		buf = binary.NativeEndian.AppendUint16(buf, uint16(flags))
		buf = binary.NativeEndian.AppendUint32(buf, seq+uint32(i))
		buf = binary.NativeEndian.AppendUint32(buf, 0) // pid: the kernel's
		buf = append(buf, m.Data...)
		buf = append(buf, make([]byte, nlAlign(n)-n)...)
	}
	raw, err := nl.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN
	})
	return cmp.Or(err, serr)
}

func nlAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// receiveAck reads the kernel's answer to a batch: errors for the messages it refused, then
// the acknowledgement of the message numbered seq. Everything the kernel sent is read, so
// that nothing is left for the next batch to mistake for its own.
func receiveAck(nl *netlink.Conn, seq uint32) error {
	if err := nl.SetReadDeadline(time.Now().Add(ackWait)); err != nil {
		return err
	}
	defer nl.SetReadDeadline(time.Time{})
	var refused error
	for {
		msgs, err := nl.Receive()
		switch {
		case isTimeout(err) && refused != nil:
			return refused
		case isTimeout(err):
			return fmt.Errorf("no answer from the kernel within %s", ackWait)
		case err != nil:
			// The kernel refused a message, and so the batch. The answers that follow
			// (other errors, the acknowledgement) are read and dropped.
			if refused == nil {
				refused = err
				nl.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			}
			continue
		}
		for _, m := range msgs {
			if m.Header.Type == netlink.Error && m.Header.Sequence == seq {
				return refused
			}
		}
	}
}

func isTimeout(err error) bool {
	var nerr interface{ Timeout() bool }
	return errors.As(err, &nerr) && nerr.Timeout() || errors.Is(err, unix.EAGAIN)
}
