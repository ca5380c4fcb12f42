package handover

import (
	"encoding/binary"
	"time"
)

// Hello is the successor's "ready to adopt": it parsed its configuration and
// built everything, and listens on nothing yet.
type Hello struct {
	MinVersion, MaxVersion int    // protocol versions it speaks (filled by Ready)
	PID                    int    // filled by Ready
	Origin                 uint64 // its cluster origin id (0: no cluster)
	Info                   string // free text for the old process's log (version, build)
}

// Start is what the successor learns once the old process accepts it.
type Start struct {
	Version int    // the protocol version in use
	PID     int    // the old process
	Origin  uint64 // the old process's cluster origin id
	// NATS says that a cluster switch follows COMMIT: the old process keeps
	// its subscriptions, relays what they receive, and sends NATSEND after
	// the successor reported its own subscriptions up (Subscribed).
	NATS bool
	// Timeout is the old process's bound on silence; the successor uses it
	// for its own wait on the channel before COMMIT.
	Timeout   time.Duration
	Listeners []Listener
}

// Listener is a listening socket handed over first, with what the new
// process needs to match it to its flags.
type Listener struct {
	Name    string // the server's name for it ("ws", "admin")
	Network string // "tcp", "tcp4", "tcp6", "unix"
	Addr    string // the bound address, as net.Addr.String() gives it
	FD      int    // parent: the socket to send; child: its new descriptor
}

// Conn is one connection handed over.
type Conn struct {
	ID uint64 // the server's id for it, unique within one handover
	// FD: on the parent, the connection's descriptor (the package never
	// closes it); on the child, a new descriptor for the same socket,
	// owned by the Adopter once Adopt returns nil.
	FD int
	// State is the server's record of the connection (see Record). On the
	// parent the package keeps it until sent; on the child it is valid only
	// during Adopt.
	State []byte
}

// Message is a channel message relayed after COMMIT (or held by a Switch).
type Message struct {
	Origin  uint64 // the publishing process (cluster format)
	Seq     uint64 // its per-origin sequence number
	Channel []byte // routing key
	Payload []byte // what subscribers receive
}

// Refusal is a connection the successor did not adopt, and why. The old
// process still holds it.
type Refusal struct {
	ID     uint64
	Reason string
}

func encodeHello(h Hello) []byte {
	b := binary.AppendUvarint(nil, uint64(h.MinVersion))
	b = binary.AppendUvarint(b, uint64(h.MaxVersion))
	b = binary.AppendUvarint(b, uint64(h.PID))
	b = binary.AppendUvarint(b, h.Origin)
	return appendBytes(b, []byte(h.Info))
}

func decodeHello(p []byte) (Hello, error) {
	r := reader{b: p}
	h := Hello{MinVersion: int(r.uvarint()), MaxVersion: int(r.uvarint()), PID: int(r.uvarint()), Origin: r.uvarint()}
	h.Info = string(r.bytes())
	return h, r.done(msgHello)
}

const flagNATS = 1

func encodeStart(s Start) []byte {
	b := binary.AppendUvarint(nil, uint64(s.Version))
	b = binary.AppendUvarint(b, uint64(s.PID))
	b = binary.AppendUvarint(b, s.Origin)
	var flags uint64
	if s.NATS {
		flags |= flagNATS
	}
	b = binary.AppendUvarint(b, flags)
	b = binary.AppendUvarint(b, uint64(s.Timeout/time.Millisecond))
	b = binary.AppendUvarint(b, uint64(len(s.Listeners)))
	for _, l := range s.Listeners {
		b = appendBytes(b, []byte(l.Name))
		b = appendBytes(b, []byte(l.Network))
		b = appendBytes(b, []byte(l.Addr))
	}
	return b
}

func decodeStart(p []byte, fds []int) (Start, error) {
	r := reader{b: p}
	s := Start{Version: int(r.uvarint()), PID: int(r.uvarint()), Origin: r.uvarint()}
	flags := r.uvarint()
	s.NATS = flags&flagNATS != 0
	s.Timeout = time.Duration(min(r.uvarint(), 1<<40)) * time.Millisecond
	n := r.count(3)
	if !r.bad && n != len(fds) {
		return s, protoErr("START lists %d listeners and carries %d descriptors", n, len(fds))
	}
	for i := 0; i < n && !r.bad; i++ {
		s.Listeners = append(s.Listeners, Listener{
			Name: string(r.bytes()), Network: string(r.bytes()), Addr: string(r.bytes()), FD: fds[i],
		})
	}
	return s, r.done(msgStart)
}

// appendBatchHead starts a BATCH payload; entries follow (appendBatchEntry).
func appendBatchHead(b []byte, seq uint64, n int) []byte {
	b = binary.AppendUvarint(b, seq)
	return binary.AppendUvarint(b, uint64(n))
}

func appendBatchEntry(b []byte, id uint64, state []byte) []byte {
	b = binary.AppendUvarint(b, id)
	return appendBytes(b, state)
}

func decodeBatch(p []byte, fds []int) (seq uint64, conns []Conn, err error) {
	r := reader{b: p}
	seq = r.uvarint()
	n := r.count(2)
	if !r.bad && n != len(fds) {
		return 0, nil, protoErr("BATCH lists %d connections and carries %d descriptors", n, len(fds))
	}
	conns = make([]Conn, 0, n)
	for i := 0; i < n && !r.bad; i++ {
		conns = append(conns, Conn{ID: r.uvarint(), State: r.bytes(), FD: fds[i]})
	}
	return seq, conns, r.done(msgBatch)
}

func encodeAck(seq uint64, refused []Refusal) []byte {
	b := binary.AppendUvarint(nil, seq)
	b = binary.AppendUvarint(b, uint64(len(refused)))
	for _, f := range refused {
		b = binary.AppendUvarint(b, f.ID)
		b = appendBytes(b, []byte(f.Reason))
	}
	return b
}

func decodeAck(p []byte) (seq uint64, refused []Refusal, err error) {
	r := reader{b: p}
	seq = r.uvarint()
	n := r.count(2)
	for i := 0; i < n && !r.bad; i++ {
		refused = append(refused, Refusal{ID: r.uvarint(), Reason: string(r.bytes())})
	}
	return seq, refused, r.done(msgAck)
}

// encodeUints / decodeUints carry END (batches, conns), PREPARED (conns),
// WRITEREF (id, ref): fixed lists of unsigned integers.
func encodeUints(v ...uint64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.AppendUvarint(b, x)
	}
	return b
}

func decodeUints(typ byte, p []byte, n int) ([]uint64, error) {
	r := reader{b: p}
	v := make([]uint64, n)
	for i := range v {
		v[i] = r.uvarint()
	}
	return v, r.done(typ)
}

// decodeIDRest splits WRITE, FRAME and EVENT: an id (or ref), then bytes.
func decodeIDRest(typ byte, p []byte) (uint64, []byte, error) {
	r := reader{b: p}
	id := r.uvarint()
	if r.bad {
		return 0, nil, protoErr("malformed %s", msgName(typ))
	}
	return id, r.rest(), nil
}

func appendChannelHead(b []byte, m Message) []byte {
	b = binary.AppendUvarint(b, m.Origin)
	b = binary.AppendUvarint(b, m.Seq)
	return appendBytes(b, m.Channel)
}

func decodeChannel(p []byte) (Message, error) {
	r := reader{b: p}
	m := Message{Origin: r.uvarint(), Seq: r.uvarint(), Channel: r.bytes()}
	if r.bad {
		return m, protoErr("malformed %s", msgName(msgChannel))
	}
	m.Payload = r.rest()
	return m, nil
}
