package handover

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"
)

// Errors of a transfer; callers branch on them with errors.Is.
var (
	ErrTimeout    = errors.New("handover: the successor did not answer in time")
	ErrOutboxFull = errors.New("handover: bytes waiting for the channel passed the bound")
	ErrCommitted  = errors.New("handover: already committed")
	ErrPhase      = errors.New("handover: call out of order")
)

// TransferConfig sets up a transfer. Zero values pick the defaults.
type TransferConfig struct {
	Listeners []Listener // sent first, in START
	Origin    uint64     // this process's cluster origin id
	NATS      bool       // a cluster switch follows COMMIT (see Start.NATS)
	// Timeout bounds the successor's silence while something waits for
	// it, and one blocked write to the channel; 0 means 10s.
	Timeout time.Duration
	// MaxPending bounds the bytes queued for the channel (states, relayed
	// writes); past it the transfer fails. 0 means 256 MiB.
	MaxPending int64
	// BatchSize is the number of connections per BATCH (one packet's
	// descriptors); 0 or more than 253 means 253.
	BatchSize int
}

// Result says what the successor adopted.
type Result struct {
	Batches, Conns int // sent
	Adopted        int
	Refused        []Refusal // still held by this process
}

type phase uint8

const (
	phSending   phase = iota // Add, Write
	phEnding                 // END queued, waiting for PREPARED
	phPrepared               // PREPARED received
	phCommitted              // COMMIT queued: the successor owns everything
	phClosed
)

// item is one queued message. A batch is open (sealed=false) while Add
// fills it; the sender stops at an open batch, so everything queued after
// it (writes for its connections) follows it on the wire.
type item struct {
	typ    byte
	fds    []int
	head   []byte
	body   []byte // sent after head, not copied (a shared frame)
	seq    uint64
	n      int
	sealed bool
}

func (it *item) size() int64 { return int64(len(it.head) + len(it.body) + 16) }

// Transfer is the old process's side of one handover: listeners, then
// connections in batches, relayed writes, END, COMMIT, the cluster relay.
// Add, Write, WriteShared, Event and Relay never block (they queue); Wait,
// Prepare, WaitRunning and Close block and belong to the driver goroutine.
type Transfer struct {
	s   *Successor
	ep  *endpoint
	cfg TransferConfig

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every state change
	kick       chan struct{} // wakes the sender
	queue      []*item
	open       *item
	pending    int64
	ph         phase
	err        error
	batches    int            // sealed
	sentN      map[uint64]int // batch seq -> connections, until acked
	acked      int
	conns      int
	adopted    int
	refused    []Refusal
	prepared   int
	running    bool
	subscribed chan struct{}
	progress   time.Time // last message from the successor
	refs       map[frameKey]uint64
	senderDone chan struct{}
}

type frameKey struct {
	p *byte
	n int
}

// Begin sends START with the listeners and starts the transfer.
func (s *Successor) Begin(cfg TransferConfig) (*Transfer, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 256 << 20
	}
	if cfg.BatchSize <= 0 || cfg.BatchSize > maxFDsPerPacket {
		cfg.BatchSize = maxFDsPerPacket
	}
	if len(cfg.Listeners) > maxFDsPerPacket {
		return nil, fmt.Errorf("handover: %d listeners (at most %d)", len(cfg.Listeners), maxFDsPerPacket)
	}
	t := &Transfer{
		s: s, ep: s.ep, cfg: cfg,
		changed:    make(chan struct{}),
		kick:       make(chan struct{}, 1),
		sentN:      make(map[uint64]int),
		subscribed: make(chan struct{}),
		progress:   time.Now(),
		refs:       make(map[frameKey]uint64),
		senderDone: make(chan struct{}),
	}
	st := Start{
		Version: min(MaxVersion, s.hello.MaxVersion), PID: os.Getpid(), Origin: cfg.Origin,
		NATS: cfg.NATS, Timeout: cfg.Timeout, Listeners: cfg.Listeners,
	}
	fds := make([]int, len(cfg.Listeners))
	for i, l := range cfg.Listeners {
		fds[i] = l.FD
	}
	if err := t.ep.sendNow(cfg.Timeout, msgStart, fds, encodeStart(st)); err != nil {
		return nil, fmt.Errorf("handover: sending START: %w", err)
	}
	go t.send()
	go t.receive()
	return t, nil
}

// Successor is the process this transfer hands over to.
func (t *Transfer) Successor() *Successor { return t.s }

// notify wakes every waiter and the sender. Callers hold mu.
func (t *Transfer) notify() {
	close(t.changed)
	t.changed = make(chan struct{})
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// fail records the first error; the transfer stops. Callers hold mu.
func (t *Transfer) fail(err error) {
	if t.err == nil {
		t.err = err
		t.notify()
	}
}

// Err is the error that stopped the transfer, if any.
func (t *Transfer) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// enqueue appends a message. Callers hold mu.
func (t *Transfer) enqueue(it *item) error {
	if t.err != nil {
		return t.err
	}
	if t.ph >= phClosed {
		return ErrPhase
	}
	t.pending += it.size()
	if t.pending > t.cfg.MaxPending {
		t.fail(fmt.Errorf("%w (%d bytes)", ErrOutboxFull, t.cfg.MaxPending))
		return t.err
	}
	t.queue = append(t.queue, it)
	if it.sealed {
		t.notify()
	}
	return nil
}

// Add queues a paused connection: its descriptor and state (copied). From
// this call on, bytes for it go through Write or WriteShared, in order.
// The caller keeps the descriptor open and untouched until Commit (then
// closes it with close(2), never shutdown(2)) or until Abort (then serves
// it on).
func (t *Transfer) Add(c Conn) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ph != phSending {
		return ErrPhase
	}
	if t.open == nil {
		it := &item{typ: msgBatch, seq: uint64(t.batches) + 1}
		if err := t.enqueue(it); err != nil {
			return err
		}
		t.open = it
	}
	it := t.open
	before := it.size()
	it.head = appendBatchEntry(it.head, c.ID, c.State)
	it.fds = append(it.fds, c.FD)
	it.n++
	t.pending += it.size() - before
	t.conns++
	if it.n >= t.cfg.BatchSize || len(it.head) >= maxPacket {
		t.seal()
	}
	if t.pending > t.cfg.MaxPending {
		t.fail(fmt.Errorf("%w (%d bytes)", ErrOutboxFull, t.cfg.MaxPending))
	}
	return t.err
}

// seal closes the open batch. Callers hold mu.
func (t *Transfer) seal() {
	if t.open == nil {
		return
	}
	t.open.head = append(appendBatchHead(nil, t.open.seq, t.open.n), t.open.head...)
	t.open.sealed = true
	t.open = nil
	t.batches++
	t.notify()
}

// Flush seals the batch being filled so it goes out now.
func (t *Transfer) Flush() {
	t.mu.Lock()
	t.seal()
	t.mu.Unlock()
}

// Write queues bytes (copied) to append to connection id's output after
// what its state and earlier writes hold. It is how output produced after
// the connection was paused reaches the successor: the caller also keeps
// queuing it locally, for the case the handover is aborted.
func (t *Transfer) Write(id uint64, b []byte) error {
	head := encodeUints(id)
	head = append(head, b...)
	return t.queueItem(&item{typ: msgWrite, head: head, sealed: true})
}

// WriteShared is Write for a frame several connections share: its bytes
// cross the channel once. frame must never be modified; it is kept until
// the transfer ends.
func (t *Transfer) WriteShared(id uint64, frame []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := frameKey{unsafe.SliceData(frame), len(frame)}
	ref, ok := t.refs[k]
	if !ok {
		ref = uint64(len(t.refs)) + 1
		if err := t.enqueue(&item{typ: msgFrame, head: encodeUints(ref), body: frame, sealed: true}); err != nil {
			return err
		}
		t.refs[k] = ref
	}
	return t.enqueue(&item{typ: msgWriteRef, head: encodeUints(id, ref), sealed: true})
}

// Event queues a server-defined event (copied) for connection id, in order
// with its writes: whatever must reach a paused connection besides bytes.
func (t *Transfer) Event(id uint64, b []byte) error {
	head := encodeUints(id)
	head = append(head, b...)
	return t.queueItem(&item{typ: msgEvent, head: head, sealed: true})
}

func (t *Transfer) queueItem(it *item) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.enqueue(it)
}

// Relay queues a channel message (copied) for the successor to deliver to
// its subscribers. Only after Commit: before it, every output for a moved
// connection goes through Write.
func (t *Transfer) Relay(m Message) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ph != phCommitted {
		return ErrPhase
	}
	head := appendChannelHead(nil, m)
	head = append(head, m.Payload...)
	return t.enqueue(&item{typ: msgChannel, head: head, sealed: true})
}

// EndNATS tells the successor this process no longer receives cluster
// messages (after it unsubscribed and relayed what it had received).
func (t *Transfer) EndNATS() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ph != phCommitted {
		return ErrPhase
	}
	return t.enqueue(&item{typ: msgNATSEnd, sealed: true})
}

// Subscribed is closed when the successor reports its own cluster
// subscriptions up.
func (t *Transfer) Subscribed() <-chan struct{} { return t.subscribed }
