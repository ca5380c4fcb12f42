//go:build linux

package bench

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

// EngineConfig configures a client engine. Zero values take the defaults
// noted on each field.
type EngineConfig struct {
	Target Target
	// Loops is the number of epoll loops, each one goroutine (default 2).
	Loops int
	// Sources spreads connections round-robin over this many local source
	// addresses 127.0.0.2, 127.0.0.3, ... (default 32) so that ephemeral
	// ports never run out; it is ignored for non-loopback targets.
	Sources int
	// MaxInflight bounds connects in progress per loop (default 256).
	MaxInflight int
	// HandshakeTimeout bounds connect + upgrade, and a close handshake we
	// started (default 5s).
	HandshakeTimeout time.Duration
	// Message is what open connections send (echo requests or publishes);
	// nil sends nothing.
	Message *Template
	// Depth is the number of messages each connection keeps in flight
	// while sending is on (closed loop: a reply releases the next send).
	// 0 sends only on Publish.
	Depth int
	// Open, when set, gives the text messages connection n (0, 1, ... in
	// dial order) sends right after the upgrade (subscribes, a connect);
	// each untimed reply counts as the ack of one, and the connection is
	// acked when all are (refused when one of them was an error reply).
	Open func(n int) [][]byte
	// Churn makes each connection start a close handshake as soon as it is
	// open (and its Open messages are acknowledged) and redial after it
	// ends, while the Churn budget lasts.
	Churn bool
	// Deflate, when set, is the Sec-WebSocket-Extensions offer (see
	// DefaultDeflateOffer): connections whose server agrees send Message
	// compressed at DeflateLevel (default 1) and inflate what they get.
	Deflate      string
	DeflateLevel int
	// TLS, when set, makes every connection a wss:// one (crypto/tls
	// client with this configuration; see tls.go).
	TLS *tls.Config
	// FirstID is the number of the first connection (then FirstID+1...).
	FirstID int
	// tokens, when set, gives connection n the token it presents.
	tokens *tokens
}

// Counters are an engine's running totals.
type Counters struct {
	Dialed     int64 `json:"dialed"`
	Opened     int64 `json:"opened"`               // upgrades completed
	Failed     int64 `json:"failed"`               // connects or upgrades that failed
	Dropped    int64 `json:"dropped"`              // open connections lost (server close, reset)
	Closed     int64 `json:"closed"`               // close handshakes we started and completed
	Compressed int64 `json:"compressed,omitempty"` // connections with permessage-deflate agreed
	// Bytes on the wire (WebSocket frames, before TLS) and of the messages
	// they carry (inflated), each way.
	RxWire    int64 `json:"rx_wire_bytes"`
	RxPayload int64 `json:"rx_payload_bytes"`
	TxWire    int64 `json:"tx_wire_bytes"`
	TxPayload int64 `json:"tx_payload_bytes"`
	Acked     int64 `json:"acked"`    // connections whose Open messages were all acknowledged
	Refused   int64 `json:"refused"`  // connections with an error reply to an Open message
	Sent      int64 `json:"sent"`     // messages sent
	Received  int64 `json:"received"` // data messages received
	Timed     int64 `json:"timed"`    // received messages carrying a timestamp
	// Recorded is the data messages received while latency recording was
	// on (SetRecording), counted by the same reading of the switch that
	// decides whether a message's latency is recorded: a run's count and
	// its latency samples cover the same messages, however the switch
	// races the loops.
	Recorded int64 `json:"recorded"`
}

// Open is the number of connections open now.
func (c Counters) Open() int64 { return c.Opened - c.Dropped - c.Closed }

// Engine is the event-driven load client: Loops goroutines, each with its
// own epoll instance and the connections it dialed. Control calls are safe
// from any goroutine; histograms and failure causes are read after Close.
type Engine struct {
	cfg     EngineConfig
	req     []byte
	seq     atomic.Int64 // connection numbers for Open
	msgZ    *Template    // Message compressed, for connections that agreed
	loops   []*loop
	wg      sync.WaitGroup
	srcSeq  atomic.Uint64
	nextDL  atomic.Uint64
	sending atomic.Bool
	record  atomic.Bool
	stop    atomic.Bool
	churn   atomic.Int64 // dials left in the churn budget
	closed  bool
}

// clientMask is the fixed masking key of every client frame: the server
// unmasks whatever the key; a fixed one lets frames be prebuilt.
var clientMask = [4]byte{0x5a, 0xc3, 0x96, 0x2d}

// NewEngine starts an engine's loops; it dials nothing until Dial.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if cfg.Loops <= 0 {
		cfg.Loops = 2
	}
	if cfg.Sources <= 0 {
		cfg.Sources = 32
	}
	if cfg.Sources > 250 {
		cfg.Sources = 250
	}
	if !cfg.Target.Loopback {
		cfg.Sources = 0
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = 256
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 5 * time.Second
	}
	if !cfg.Target.Addr.Addr().Is4() {
		return nil, errors.New("engine: target must be an IPv4 address")
	}
	e := &Engine{cfg: cfg, req: upgradeRequest(cfg.Target.HostHdr, cfg.Target.Path, "", cfg.TLS != nil, "")}
	e.seq.Store(int64(cfg.FirstID))
	if cfg.Deflate != "" {
		e.req = upgradeRequest(cfg.Target.HostHdr, cfg.Target.Path, "", cfg.TLS != nil, cfg.Deflate)
		if cfg.DeflateLevel == 0 {
			e.cfg.DeflateLevel = 1
		}
		if cfg.Message != nil {
			z, err := cfg.Message.Compressed(e.cfg.DeflateLevel)
			if err != nil {
				return nil, fmt.Errorf("engine: compress the message: %w", err)
			}
			e.msgZ = z
		}
	}
	if ts := cfg.tokens; ts != nil && ts.cfg.in() == TokenInConnect {
		// The connect message goes first; its reply is one more ack.
		open := cfg.Open
		e.cfg.Open = func(n int) [][]byte {
			msgs := [][]byte{connectMessage(ts.get(n))}
			if open != nil {
				msgs = append(msgs, open(n)...)
			}
			return msgs
		}
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return nil, fmt.Errorf("engine: getrlimit: %w", err)
	}
	maxFD := int(min(lim.Cur, 1<<22)) + 16
	for i := 0; i < cfg.Loops; i++ {
		l, err := newLoop(e, maxFD)
		if err != nil {
			e.stop.Store(true)
			for _, l := range e.loops {
				l.wake()
			}
			e.wg.Wait()
			return nil, err
		}
		e.loops = append(e.loops, l)
	}
	for _, l := range e.loops {
		e.wg.Add(1)
		go l.run()
	}
	return e, nil
}

// now is the engine clock, nanoseconds since it started (monotonic); it is
// what timestamps in payloads hold.
// now is the monotonic clock of every engine in the process: one publisher
// engine stamps messages that another engine's loops time on receipt, so
// they must share one origin (each engine's own start would add the gap
// between their starts, e.g. a subscriber ramp-up, to every latency).
func (e *Engine) now() int64 { return int64(time.Since(epoch)) }

// epoch is set once when the package loads and never changes.
var epoch = time.Now()

// Dial asks for n more connections, spread over the loops.
func (e *Engine) Dial(n int) {
	for n > 0 {
		i := int(e.nextDL.Add(1)) % len(e.loops)
		k := (n + len(e.loops) - 1) / len(e.loops)
		if k > n {
			k = n
		}
		e.loops[i].want.Add(int64(k))
		e.loops[i].wake()
		n -= k
	}
}

// Churn runs total connect/close cycles, at most concurrency at a time.
func (e *Engine) Churn(total, concurrency int) {
	if concurrency > total {
		concurrency = total
	}
	e.churn.Store(int64(total - concurrency))
	e.Dial(concurrency)
}

// SetSending starts or stops the closed-loop sending of Message (Depth
// in flight per connection).
func (e *Engine) SetSending(on bool) {
	e.sending.Store(on)
	for _, l := range e.loops {
		l.wake()
	}
}

// SetRecording turns latency recording on or off.
func (e *Engine) SetRecording(on bool) { e.record.Store(on) }

// Publish makes every open connection send n messages now.
func (e *Engine) Publish(n int) {
	for _, l := range e.loops {
		l.pub.Add(int64(n))
		l.wake()
	}
}

// request is connection id's upgrade request: the fixed one, or one that
// carries its token.
func (e *Engine) request(id int32) []byte {
	ts := e.cfg.tokens
	if ts == nil {
		return e.req
	}
	tg := e.cfg.Target
	switch ts.cfg.in() {
	case TokenInHeader:
		return upgradeRequest(tg.HostHdr, tg.Path, ts.get(int(id)), e.cfg.TLS != nil, e.cfg.Deflate)
	case TokenInQuery:
		return upgradeRequest(tg.HostHdr, tokenQuery(tg.Path, ts.get(int(id))), "", e.cfg.TLS != nil, e.cfg.Deflate)
	}
	return e.req
}

// lastEnd is the engine clock (see now) when the last churn cycle ended, 0
// if none did.
func (e *Engine) lastEnd() int64 {
	var t int64
	for _, l := range e.loops {
		t = max(t, l.lastEnd.Load())
	}
	return t
}

// Counters sums the loops' running totals.
func (e *Engine) Counters() Counters {
	var c Counters
	for _, l := range e.loops {
		c.Dialed += l.dialed.Load()
		c.Opened += l.opened.Load()
		c.Failed += l.failed.Load()
		c.Dropped += l.dropped.Load()
		c.Closed += l.closedN.Load()
		c.Acked += l.acked.Load()
		c.Refused += l.refused.Load()
		c.Compressed += l.compressed.Load()
		c.RxWire += l.rxWire.Load()
		c.RxPayload += l.rxPayload.Load()
		c.TxWire += l.txWire.Load()
		c.TxPayload += l.txPayload.Load()
		c.Sent += l.sent.Load()
		c.Received += l.received.Load()
		c.Timed += l.timed.Load()
		c.Recorded += l.recorded.Load()
	}
	return c
}

// Final is what an engine measured, available after Close.
type Final struct {
	Counters  Counters
	Latency   *hdrhistogram.Histogram // message latency, ns
	Handshake *hdrhistogram.Histogram // connect start to 101, ns
	Causes    Causes
}

// Close stops the loops, closes every connection (with a reset, so no
// TIME_WAIT is left behind) and returns the merged measurements.
func (e *Engine) Close() Final {
	if !e.closed {
		e.closed = true
		e.stop.Store(true)
		for _, l := range e.loops {
			l.wake()
		}
		e.wg.Wait()
	}
	f := Final{Counters: e.Counters(), Latency: NewHistogram(), Handshake: NewHistogram(), Causes: Causes{}}
	for _, l := range e.loops {
		f.Latency.Merge(l.lat)
		f.Handshake.Merge(l.hs)
		f.Causes.Add(l.causes)
	}
	return f
}
