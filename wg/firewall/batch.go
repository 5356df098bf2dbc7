package firewall

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// batch is one transaction for the kernel. google/nftables v0.3.0 would send every
// message asking the kernel to acknowledge it and to echo each new rule, then read the
// answers one by one: at 10,000 devices, 1,000 users and 5,000 rules that is 8,000 of them,
// 150 ms of a 600 ms replace, and a socket buffer that must hold them all. So the library's
// Conn writes to a stand-in socket that keeps its messages (nltest, its own test hook), and
// send hands the batch to the kernel asking for one acknowledgement, the last message's, as
// nft(8) does. The kernel processes a batch while it is being sent, and its errors, with
// that acknowledgement, are waiting when the send returns.
//
// The tables, maps and chains go through the library; the rules and map elements, nearly
// all of a batch, are written here (rule, elements): the library's marshalling allocated
// 50 MB and took 130 ms for them.
type batch struct {
	*nftables.Conn // queue tables, sets and chains here
	msgs           []netlink.Message
	err            error
}

func newBatch() *batch {
	b := &batch{}
	// The stand-in socket keeps what Flush sends, without the batch's begin and end, and
	// acknowledges every message when Flush reads.
	capture := func(req []netlink.Message) ([]netlink.Message, error) {
		if len(req) > 2 {
			b.msgs = append(b.msgs, req[1:len(req)-1]...)
			return nil, nil
		}
		return []netlink.Message{{Header: netlink.Header{Type: netlink.Error}, Data: make([]byte, 4)}}, nil
	}
	b.Conn, _ = nftables.New(nftables.WithTestDial(capture)) // fails only when dialing, which a stand-in never does
	return b
}

// take moves what the library queued into b.msgs, so that a message written here goes after it.
func (b *batch) take() {
	if err := b.Flush(); err != nil && b.err == nil {
		b.err = fmt.Errorf("marshal batch: %w", err)
	}
}

var (
	newRuleType    = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWRULE)
	newSetElemType = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWSETELEM)
	delSetElemType = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_DELSETELEM)
	// inetHeader is the nfgenmsg of a message about table inet wiregui.
	inetHeader = []byte{unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0}
)

// rule queues r as the last rule of chain.
func (b *batch) rule(chain string, r nftRule) {
	b.take()
	w := attrs{b: append(make([]byte, 0, 512), inetHeader...)}
	w.str(unix.NFTA_RULE_TABLE, TableName)
	w.str(unix.NFTA_RULE_CHAIN, chain)
	list := w.open(unix.NFTA_RULE_EXPRESSIONS)
	for _, e := range r.exprs {
		data, err := expr.Marshal(unix.NFPROTO_INET, e)
		if err != nil && b.err == nil {
			b.err = fmt.Errorf("marshal rule %q: %w", r.text, err)
		}
		w.add(unix.NFTA_LIST_ELEM|unix.NLA_F_NESTED, data)
	}
	w.close(list)
	w.add(unix.NFTA_RULE_USERDATA, r.userData())
	b.msgs = append(b.msgs, netlink.Message{Header: netlink.Header{Type: newRuleType,
		Flags: netlink.Request | netlink.Create | unix.NLM_F_APPEND}, Data: w.b})
}

// elementsPerMessage keeps one message's element list under the 64 KB that a netlink
// attribute can hold (an IPv6 element with its verdict is about 80 bytes).
const elementsPerMessage = 500

// elements queues adding elems to the map named set, or removing them.
func (b *batch) elements(set string, elems []rawElement, remove bool) {
	b.take()
	typ, flags := newSetElemType, netlink.Request|netlink.Create
	if remove {
		typ, flags = delSetElemType, netlink.Request
	}
	for chunk := range slices.Chunk(elems, elementsPerMessage) {
		w := attrs{b: append(make([]byte, 0, 96*len(chunk)), inetHeader...)}
		w.str(unix.NFTA_SET_ELEM_LIST_TABLE, TableName)
		w.str(unix.NFTA_SET_ELEM_LIST_SET, set)
		list := w.open(unix.NFTA_SET_ELEM_LIST_ELEMENTS)
		for _, e := range chunk {
			el := w.open(unix.NFTA_LIST_ELEM)
			if e.end {
				w.u32(unix.NFTA_SET_ELEM_FLAGS, unix.NFT_SET_ELEM_INTERVAL_END)
			}
			key := w.open(unix.NFTA_SET_ELEM_KEY)
			w.add(unix.NFTA_DATA_VALUE, e.key.AsSlice())
			w.close(key)
			if !e.end && !remove {
				data := w.open(unix.NFTA_SET_ELEM_DATA)
				verdict := w.open(unix.NFTA_DATA_VERDICT)
				w.u32(unix.NFTA_VERDICT_CODE, jumpCode)
				w.str(unix.NFTA_VERDICT_CHAIN, e.chain)
				w.close(verdict)
				w.close(data)
			}
			w.close(el)
		}
		w.close(list)
		b.msgs = append(b.msgs, netlink.Message{Header: netlink.Header{Type: typ, Flags: flags}, Data: w.b})
	}
}

// jumpCode is NFT_JUMP (-3) as the u32 the kernel reads.
var jumpCode = func() uint32 { v := int32(unix.NFT_JUMP); return uint32(v) }()

// attrs writes netlink attributes into b: each a header in host order (length, type) and
// its value, padded to 4 bytes; a nested one is opened, written into, and closed, which
// sets its length. nf_tables' numbers in values are big-endian.
type attrs struct{ b []byte }

func (w *attrs) add(typ uint16, value []byte) {
	n := unix.SizeofNlAttr + len(value)
	w.b = binary.NativeEndian.AppendUint16(w.b, uint16(n))
	w.b = binary.NativeEndian.AppendUint16(w.b, typ)
	w.b = append(w.b, value...)
	for range nlAlign(n) - n {
		w.b = append(w.b, 0)
	}
}

func (w *attrs) str(typ uint16, s string) {
	n := unix.SizeofNlAttr + len(s) + 1
	w.b = binary.NativeEndian.AppendUint16(w.b, uint16(n))
	w.b = binary.NativeEndian.AppendUint16(w.b, typ)
	w.b = append(w.b, s...)
	for range nlAlign(n) - n + 1 {
		w.b = append(w.b, 0)
	}
}

func (w *attrs) u32(typ uint16, v uint32) {
	w.b = binary.NativeEndian.AppendUint16(w.b, unix.SizeofNlAttr+4)
	w.b = binary.NativeEndian.AppendUint16(w.b, typ)
	w.b = binary.BigEndian.AppendUint32(w.b, v)
}

// open starts a nested attribute and returns where it starts, for close.
func (w *attrs) open(typ uint16) int {
	off := len(w.b)
	w.b = binary.NativeEndian.AppendUint16(w.b, 0)
	w.b = binary.NativeEndian.AppendUint16(w.b, typ|unix.NLA_F_NESTED)
	return off
}

func (w *attrs) close(off int) { binary.NativeEndian.PutUint16(w.b[off:], uint16(len(w.b)-off)) }

// ackWait bounds the wait for the kernel's answer; it is there already when the send
// returns, so this is only a safety net.
const ackWait = 10 * time.Second

// batchMarkers are the messages that open and close a batch for nf_tables.
var batchMarkers = [2]netlink.Message{
	{Header: netlink.Header{Type: unix.NFNL_MSG_BATCH_BEGIN, Flags: netlink.Request}, Data: []byte{0, 0, 0, unix.NFNL_SUBSYS_NFTABLES}},
	{Header: netlink.Header{Type: unix.NFNL_MSG_BATCH_END, Flags: netlink.Request}, Data: []byte{0, 0, 0, unix.NFNL_SUBSYS_NFTABLES}},
}

// send writes the queued messages to the kernel in one batch on nl. It returns nil when the
// kernel committed the batch, and the kernel's error otherwise, when nothing of the batch
// was applied. It returns how many messages the batch had, its begin and end aside.
func (b *batch) send(nl *netlink.Conn) (int, error) {
	b.take()
	if b.err != nil {
		return 0, b.err
	}
	if len(b.msgs) == 0 {
		return 0, nil
	}
	msgs := make([]netlink.Message, 0, len(b.msgs)+2)
	msgs = append(append(append(msgs, batchMarkers[0]), b.msgs...), batchMarkers[1])
	n := len(b.msgs)
	b.msgs = nil
	seq := batchSeq.Add(uint32(len(msgs)))
	last := len(msgs) - 2 // before the end marker
	if err := write(nl, msgs, seq, last); err != nil {
		return n, fmt.Errorf("send batch: %w", err)
	}
	return n, receiveAck(nl, seq+uint32(last))
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
