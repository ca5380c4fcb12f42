package tlsconn

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/wsedge/wsedge/poller"
)

// wouldBlock tells crypto/tls that no more ciphertext is buffered; it is
// temporary, so the tls.Conn stays usable.
type wouldBlock struct{}

func (wouldBlock) Error() string   { return "no buffered ciphertext" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

var errWouldBlock net.Error = wouldBlock{}

// transport is the net.Conn under a tls.Conn: reads come from what the loop
// fed, writes go into the poller connection's queue as they are.
type transport struct {
	c *poller.Conn

	mu       sync.Mutex
	cond     sync.Cond
	in       *bytebufferpool.ByteBuffer
	off      int
	blocking bool // handshake: Read waits for ciphertext
	closed   bool
	pool     *bytebufferpool.Pool

	// The record framing of the stream fed so far (loop only): header
	// bytes seen of the current record, and body bytes still to come.
	hdr   [5]byte
	hdrN  int
	bodyN int
}

// track follows the record framing of fed bytes, so the loop knows when a
// record is under way even though crypto/tls buffers it. Loop only.
func (t *transport) track(b []byte) {
	for len(b) > 0 {
		if t.bodyN > 0 {
			m := min(t.bodyN, len(b))
			t.bodyN -= m
			b = b[m:]
			continue
		}
		m := copy(t.hdr[t.hdrN:], b)
		b = b[m:]
		if t.hdrN += m; t.hdrN == len(t.hdr) {
			t.hdrN, t.bodyN = 0, int(t.hdr[3])<<8|int(t.hdr[4])
		}
	}
}

// partial reports whether the stream fed so far ends inside a record.
// Loop only.
func (t *transport) partial() bool { return t.hdrN != 0 || t.bodyN != 0 }

func (t *transport) feed(b []byte) {
	if len(b) == 0 {
		return
	}
	t.track(b)
	t.mu.Lock()
	if t.in == nil {
		t.in = t.pool.Get()
	}
	t.in.B = append(t.in.B, b...)
	t.mu.Unlock()
	t.cond.Signal()
}

func (t *transport) Read(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.in == nil || t.off == len(t.in.B) {
		if t.closed {
			return 0, io.EOF
		}
		if !t.blocking {
			return 0, errWouldBlock
		}
		t.cond.Wait()
	}
	n := copy(p, t.in.B[t.off:])
	t.off += n
	if t.off == len(t.in.B) {
		t.pool.Put(t.in)
		t.in, t.off = nil, 0
	}
	return n, nil
}

func (t *transport) Write(p []byte) (int, error) {
	if err := t.c.Write(p); err != nil {
		return 0, err
	}
	t.mu.Lock()
	handshaking := t.blocking
	t.mu.Unlock()
	if handshaking {
		// The handshake goroutine has no loop to flush for it.
		if err := t.c.Flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// take removes and returns the ciphertext not read yet (nil if none).
func (t *transport) take() *bytebufferpool.ByteBuffer {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := t.in
	if in == nil {
		return nil
	}
	in.B = in.B[:copy(in.B, in.B[t.off:])]
	t.in, t.off = nil, 0
	return in
}

func (t *transport) setBlocking(b bool) {
	t.mu.Lock()
	t.blocking = b
	t.mu.Unlock()
	t.cond.Broadcast()
}

func (t *transport) Close() error {
	t.mu.Lock()
	t.closed = true
	if t.in != nil {
		t.pool.Put(t.in)
		t.in, t.off = nil, 0
	}
	t.mu.Unlock()
	t.cond.Broadcast()
	return nil
}

func (t *transport) LocalAddr() net.Addr              { return nil }
func (t *transport) RemoteAddr() net.Addr             { return net.TCPAddrFromAddrPort(t.c.RemoteAddr()) }
func (t *transport) SetDeadline(time.Time) error      { return nil } // the loop's timers enforce deadlines
func (t *transport) SetReadDeadline(time.Time) error  { return nil }
func (t *transport) SetWriteDeadline(time.Time) error { return nil }
