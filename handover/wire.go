package handover

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The channel is a SOCK_SEQPACKET Unix socketpair. Every packet starts with
// a two-byte header: the framing version and the packet kind. A data packet
// carries a slice of one ordered byte stream of messages; descriptors ride
// on the packet that holds the start of the message using them. An abort
// packet stands alone: its payload is the reason and it ends the handover
// whatever the stream was in the middle of.
const (
	framingVersion byte = 1

	kindData  byte = 0
	kindAbort byte = 1

	packetHeader = 2
	// maxPacket bounds one packet (header included). The socket's send
	// buffer (212,992 B by default) must exceed it; 64 KiB keeps several
	// packets in flight with the kernel's default queue of ten datagrams.
	maxPacket = 64 << 10
	// maxFDsPerPacket is the kernel's SCM_MAX_FD.
	maxFDsPerPacket = 253
)

// Protocol versions this build speaks. The child announces its range in
// HELLO, the parent picks one in START.
const (
	MinVersion = 1
	MaxVersion = 1
)

// Message types. Parent to child: 0x10..0x2f; child to parent: 0x40..0x4f.
const (
	msgStart    byte = 0x10 // version, pid, origin, flags, timeouts, listeners (+fds)
	msgBatch    byte = 0x11 // seq, connections: id + state (+fds)
	msgWrite    byte = 0x12 // id, bytes to append to the connection's output
	msgFrame    byte = 0x13 // ref, bytes of a frame shared by several connections
	msgWriteRef byte = 0x14 // id, ref: append the shared frame ref
	msgEvent    byte = 0x15 // id, opaque server event for the connection
	msgEnd      byte = 0x16 // batches, connections: no more connections
	msgCommit   byte = 0x17 // the child owns everything from here
	msgChannel  byte = 0x18 // origin, seq, channel, payload (after COMMIT)
	msgNATSEnd  byte = 0x19 // the parent no longer receives cluster messages

	msgHello      byte = 0x40 // min, max version, pid, origin, info
	msgAck        byte = 0x41 // seq, refused connections (id, reason)
	msgPrepared   byte = 0x42 // connections adopted
	msgRunning    byte = 0x43 // serving since COMMIT
	msgSubscribed byte = 0x44 // the child's own cluster subscriptions are up
)

func msgName(t byte) string {
	switch t {
	case msgStart:
		return "START"
	case msgBatch:
		return "BATCH"
	case msgWrite:
		return "WRITE"
	case msgFrame:
		return "FRAME"
	case msgWriteRef:
		return "WRITEREF"
	case msgEvent:
		return "EVENT"
	case msgEnd:
		return "END"
	case msgCommit:
		return "COMMIT"
	case msgChannel:
		return "CHANNEL"
	case msgNATSEnd:
		return "NATSEND"
	case msgHello:
		return "HELLO"
	case msgAck:
		return "ACK"
	case msgPrepared:
		return "PREPARED"
	case msgRunning:
		return "RUNNING"
	case msgSubscribed:
		return "SUBSCRIBED"
	}
	return fmt.Sprintf("type 0x%02x", t)
}

// ErrProtocol is wrapped by every error about malformed channel input.
var ErrProtocol = errors.New("handover: protocol error")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// message is one decoded message with the descriptors it carried.
type message struct {
	typ     byte
	payload []byte // valid until the next call to the parser
	fds     []int
}

// parser reassembles the message stream from data packets. It owns the
// descriptors it has received and not yet handed out with a message.
type parser struct {
	data   []byte // stream bytes; data[off:] is not parsed yet
	off    int
	fds    []int // received descriptors not yet claimed by a message
	maxMsg int
}

// feed appends one data packet's stream bytes and descriptors. Payloads
// returned by next before this call are no longer valid.
func (p *parser) feed(b []byte, fds []int) {
	if p.off == len(p.data) {
		p.data, p.off = p.data[:0], 0
	} else if p.off > len(p.data)/2 {
		n := copy(p.data, p.data[p.off:])
		p.data, p.off = p.data[:n], 0
	}
	p.data = append(p.data, b...)
	p.fds = append(p.fds, fds...)
}

// next returns the next complete message, or ok=false when more bytes are
// needed.
func (p *parser) next() (m message, ok bool, err error) {
	b := p.data[p.off:]
	if len(b) == 0 {
		return m, false, nil
	}
	typ := b[0]
	nfds, n1 := binary.Uvarint(b[1:])
	if n1 == 0 {
		return m, false, nil
	}
	if n1 < 0 || nfds > maxFDsPerPacket {
		return m, false, protoErr("bad descriptor count in a %s header", msgName(typ))
	}
	size, n2 := binary.Uvarint(b[1+n1:])
	if n2 == 0 {
		return m, false, nil
	}
	if n2 < 0 || size > uint64(p.maxMsg) {
		return m, false, protoErr("%s of %d bytes exceeds the %d-byte bound", msgName(typ), size, p.maxMsg)
	}
	h := 1 + n1 + n2
	if uint64(len(b)-h) < size {
		return m, false, nil
	}
	if int(nfds) > len(p.fds) {
		return m, false, protoErr("%s needs %d descriptors, %d arrived", msgName(typ), nfds, len(p.fds))
	}
	m = message{typ: typ, payload: b[h : h+int(size) : h+int(size)], fds: append([]int(nil), p.fds[:nfds]...)}
	p.fds = p.fds[nfds:]
	p.off += h + int(size)
	return m, true, nil
}

// takeFDs returns the descriptors received and not claimed (to close them).
func (p *parser) takeFDs() []int {
	fds := p.fds
	p.fds = nil
	return fds
}

// reader decodes the fields of one payload. Errors stick: after the first,
// every read returns zero and err() reports it.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) uvarint() uint64 {
	if r.bad {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) rest() []byte {
	v := r.b
	r.b = nil
	return v
}

// count reads an element count that must fit in what is left, each element
// being at least minSize bytes, so a forged count cannot make us allocate.
func (r *reader) count(minSize int) int {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)/max(minSize, 1)) {
		r.bad = true
		return 0
	}
	return int(n)
}

// done checks that the payload decoded cleanly and completely.
func (r *reader) done(what byte) error {
	if r.bad || len(r.b) != 0 {
		return protoErr("malformed %s", msgName(what))
	}
	return nil
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// appendHeader writes a message header for a payload of size bytes.
func appendHeader(dst []byte, typ byte, nfds, size int) []byte {
	dst = append(dst, typ)
	dst = binary.AppendUvarint(dst, uint64(nfds))
	return binary.AppendUvarint(dst, uint64(size))
}
