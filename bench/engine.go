//go:build linux

package bench

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"

	"github.com/wsedge/wsedge/codec"
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
	// OpenMessage is sent once, as a text message, right after the upgrade
	// (e.g. a subscribe); the first untimed reply counts as its ack.
	OpenMessage []byte
	// Churn makes each connection start a close handshake as soon as it is
	// open and redial after it ends, while the Churn budget lasts.
	Churn bool
}

// Counters are an engine's running totals.
type Counters struct {
	Dialed   int64 `json:"dialed"`
	Opened   int64 `json:"opened"`   // upgrades completed
	Failed   int64 `json:"failed"`   // connects or upgrades that failed
	Dropped  int64 `json:"dropped"`  // open connections lost (server close, reset)
	Closed   int64 `json:"closed"`   // close handshakes we started and completed
	Acked    int64 `json:"acked"`    // connections that got a reply to OpenMessage
	Sent     int64 `json:"sent"`     // messages sent
	Received int64 `json:"received"` // data messages received
	Timed    int64 `json:"timed"`    // received messages carrying a timestamp
}

// Open is the number of connections open now.
func (c Counters) Open() int64 { return c.Opened - c.Dropped - c.Closed }

// Engine is the event-driven load client: Loops goroutines, each with its
// own epoll instance and the connections it dialed. Control calls are safe
// from any goroutine; histograms and failure causes are read after Close.
type Engine struct {
	cfg     EngineConfig
	req     []byte
	open    []byte // OpenMessage as a masked frame
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
	e := &Engine{cfg: cfg, req: upgradeRequest(cfg.Target.HostHdr, cfg.Target.Path)}
	if cfg.OpenMessage != nil {
		e.open = codec.AppendClientFrame(nil, codec.OpText, true, clientMask, cfg.OpenMessage)
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
		c.Sent += l.sent.Load()
		c.Received += l.received.Load()
		c.Timed += l.timed.Load()
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

// Template is a prebuilt, masked message frame with room for a timestamp,
// which is patched in (masked) at each send: sending copies bytes and
// writes 8 or 17 of them, nothing more.
type Template struct {
	frame []byte
	hdr   int // header length: the payload starts at frame[hdr]
	at    int // offset of the timestamp in the payload
	text  bool
}

// Minimum payload sizes that hold a timestamp.
const (
	minBinary = 8  // little-endian int64
	minText   = 17 // '@' and 16 hex digits
)

// NewEchoTemplate builds a size-byte binary (or text) message.
func NewEchoTemplate(size int, text bool) (*Template, error) {
	p := make([]byte, size)
	if text {
		if size < minText {
			return nil, fmt.Errorf("text message size %d < %d", size, minText)
		}
		for i := range p {
			p[i] = 'x'
		}
		p[0] = '@'
		return newTemplate(codec.OpText, p, 0), nil
	}
	if size < minBinary {
		return nil, fmt.Errorf("binary message size %d < %d", size, minBinary)
	}
	for i := range p {
		p[i] = byte(i)
	}
	return newTemplate(codec.OpBinary, p, 0), nil
}

// NewTextTemplate builds a text message whose first '@' is followed by 16
// bytes of room for the timestamp (e.g. a JSON publish request).
func NewTextTemplate(payload string) (*Template, error) {
	at := strings.IndexByte(payload, '@')
	if at < 0 || len(payload)-at < minText {
		return nil, errors.New("text template needs '@' and 16 bytes after it")
	}
	return newTemplate(codec.OpText, []byte(payload), at), nil
}

func newTemplate(op codec.OpCode, payload []byte, at int) *Template {
	f := codec.AppendClientFrame(nil, op, true, clientMask, payload)
	return &Template{frame: f, hdr: len(f) - len(payload), at: at, text: op == codec.OpText}
}

// Len is the frame length in bytes.
func (t *Template) Len() int { return len(t.frame) }

// appendTo appends the frame stamped with ts to dst.
func (t *Template) appendTo(dst []byte, ts int64) []byte {
	start := len(dst)
	dst = append(dst, t.frame...)
	p := dst[start+t.hdr+t.at:]
	// A payload byte at offset i is masked with clientMask[i%4].
	k := t.at
	if t.text {
		const hexd = "0123456789abcdef"
		p[0] = '@' ^ clientMask[k&3]
		for i := 0; i < 16; i++ {
			p[1+i] = hexd[(ts>>(60-4*i))&0xf] ^ clientMask[(k+1+i)&3]
		}
		return dst
	}
	for i := 0; i < 8; i++ {
		p[i] = byte(ts>>(8*i)) ^ clientMask[(k+i)&3]
	}
	return dst
}

// parseStamp reads the timestamp of a received (unmasked) message: the first
// 8 bytes of a binary one, the 16 hex digits after the first '@' of a text
// one. ok is false when there is none.
func parseStamp(op codec.OpCode, p []byte) (ts int64, ok bool) {
	if op == codec.OpBinary {
		if len(p) < minBinary {
			return 0, false
		}
		for i := 7; i >= 0; i-- {
			ts = ts<<8 | int64(p[i])
		}
		return ts, true
	}
	at := bytes.IndexByte(p, '@')
	if at < 0 || len(p)-at < minText {
		return 0, false
	}
	for _, c := range p[at+1 : at+17] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		default:
			return 0, false
		}
		ts = ts<<4 | int64(v)
	}
	return ts, true
}
