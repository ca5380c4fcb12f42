package routing

import (
	"errors"
	"net/netip"
	"sync"

	"github.com/wsedge/wsedge/codec"
)

var errFakeClosed = errors.New("fake conn: closed")

// fakeConn records what routing writes. Send payloads are copied (as the real conn does);
// SendPrepared messages are framed (as the real conn does) and the frames kept by reference so
// tests can check that they are shared.
type fakeConn struct {
	ip        netip.Addr // RemoteIP; testIP when unset
	mu        sync.Mutex
	msgs      [][]byte // payloads of Send and SendPrepared, in order
	frames    [][]byte // SendPrepared frames only
	flushes   int
	closed    bool
	closeCode codec.CloseCode
	closeAt   int // len(msgs) when Close was called: what the client got before the close
	// limit, when > 0, makes writes fail once that many writes were accepted (slow consumer).
	limit int
	// discard keeps only counters (benchmarks).
	discard bool
	writes  int
}

func (f *fakeConn) Send(p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.admit(); err != nil {
		return err
	}
	if !f.discard {
		f.msgs = append(f.msgs, append([]byte(nil), p...))
	}
	return nil
}

func (f *fakeConn) SendPrepared(m *codec.Prepared) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.admit(); err != nil {
		return err
	}
	frame := m.Frame()
	if !f.discard {
		f.frames = append(f.frames, frame)
		f.msgs = append(f.msgs, append([]byte(nil), framePayload(frame)...))
	}
	return nil
}

func (f *fakeConn) admit() error {
	if f.closed {
		return errFakeClosed
	}
	if f.limit > 0 && f.writes >= f.limit {
		f.closed, f.closeCode, f.closeAt = true, codec.ClosePolicyViolation, len(f.msgs)
		return errFakeClosed
	}
	f.writes++
	return nil
}

func (f *fakeConn) Flush() error {
	f.mu.Lock()
	f.flushes++
	f.mu.Unlock()
	return nil
}
func (f *fakeConn) FlushSoon() { _ = f.Flush() }

func (f *fakeConn) RemoteIP() netip.Addr {
	if f.ip.IsValid() {
		return f.ip
	}
	return testIP
}

func (f *fakeConn) Close(code codec.CloseCode, reason string) {
	f.mu.Lock()
	if !f.closed {
		f.closed, f.closeCode, f.closeAt = true, code, len(f.msgs)
	}
	f.mu.Unlock()
}

// closeState reports whether Close was called, with which code, after how many messages.
func (f *fakeConn) closeState() (bool, codec.CloseCode, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed, f.closeCode, f.closeAt
}

func (f *fakeConn) replies() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.msgs))
	for i, m := range f.msgs {
		out[i] = string(m)
	}
	return out
}

func (f *fakeConn) frameCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.frames)
}

// framePayload strips the header of an unmasked server frame.
func framePayload(f []byte) []byte {
	switch f[1] & 0x7f {
	case 126:
		return f[4:]
	case 127:
		return f[10:]
	}
	return f[2:]
}
