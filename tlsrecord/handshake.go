package tlsrecord

import (
	"crypto/fips140"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"time"
)

// ErrNotSwitched: the connection stays on crypto/tls (TLS 1.2, FIPS mode,
// or a handshake whose secrets or post-handshake output could not be
// accounted for). Its *tls.Conn keeps working as usual.
var ErrNotSwitched = errors.New("tlsrecord: connection stays on crypto/tls")

// errSwitched is what a *tls.Conn gets if it is used after Switch.
var errSwitched = errors.New("tlsrecord: connection has left crypto/tls")

// maxFlight bounds the copy of the server's records kept during a
// handshake to count the ones sealed under the application key.
const maxFlight = 256 << 10

// Acceptor runs server handshakes in crypto/tls whose TLS 1.3 connections
// can then switch to this package's record layer. Make one per listener
// configuration; it is safe for concurrent use.
type Acceptor struct {
	base *tls.Config // what the caller gave
	conf *tls.Config // base with our GetConfigForClient
}

// NewAcceptor wraps base, which must not change afterwards (like any
// tls.Config in use). Its GetConfigForClient, if set, is still consulted and
// its KeyLogWriter, if set, still receives every line.
func NewAcceptor(base *tls.Config) *Acceptor {
	a := &Acceptor{base: base}
	a.conf = base.Clone()
	a.conf.GetConfigForClient = a.configFor
	return a
}

// Handshake is one connection's server handshake.
type Handshake struct {
	hc *hsConn
	tc *tls.Conn
}

// Server starts the server side of a connection on conn, the transport
// crypto/tls reads ciphertext from and writes it to. Run the handshake with
// h.TLS().HandshakeContext, then call Switch.
func (a *Acceptor) Server(conn net.Conn) *Handshake {
	hc := &hsConn{Conn: conn}
	return &Handshake{hc: hc, tc: tls.Server(hc, a.conf)}
}

// TLS is the crypto/tls connection that runs the handshake, and all of the
// connection if Switch returns ErrNotSwitched.
func (h *Handshake) TLS() *tls.Conn { return h.tc }

// configFor is crypto/tls's GetConfigForClient: a TLS 1.3 capable hello
// gets a clone of the config whose KeyLogWriter belongs to this connection.
func (a *Acceptor) configFor(chi *tls.ClientHelloInfo) (*tls.Config, error) {
	base := a.conf
	if a.base.GetConfigForClient != nil {
		cfg, err := a.base.GetConfigForClient(chi)
		if err != nil {
			return nil, err
		}
		if cfg != nil {
			base = cfg
		}
	}
	hc, ok := chi.Conn.(*hsConn)
	if !ok || !slices.Contains(chi.SupportedVersions, tls.VersionTLS13) ||
		(base.MaxVersion != 0 && base.MaxVersion < tls.VersionTLS13) || fips140.Enabled() {
		// TLS 1.2 stays on crypto/tls end to end; it keeps no clone.
		if base == a.conf {
			return nil, nil
		}
		return base, nil
	}
	cfg := base.Clone()
	cfg.GetConfigForClient = nil
	hc.log.tee = base.KeyLogWriter
	cfg.KeyLogWriter = &hc.log
	return cfg, nil
}

// Switch ends crypto/tls's part in a connection whose handshake succeeded.
// For TLS 1.3 it returns the record layer, positioned after the last record
// crypto/tls read (the client's Finished) and wrote (its last
// NewSessionTicket); the *tls.Conn must not be used again and any Read or
// Write on it fails. Ciphertext the transport holds beyond what crypto/tls
// read goes to Conn.Open. Otherwise it returns an error wrapping
// ErrNotSwitched and the *tls.Conn carries on.
func (h *Handshake) Switch() (*Conn, error) {
	hc := h.hc
	defer hc.release()
	cs := h.tc.ConnectionState()
	if !cs.HandshakeComplete {
		return nil, errors.New("tlsrecord: Switch before the handshake completed")
	}
	fail := func(why string) (*Conn, error) {
		hc.state.Store(statePassthrough)
		return nil, fmt.Errorf("%w: %s", ErrNotSwitched, why)
	}
	if cs.Version != tls.VersionTLS13 {
		return fail("TLS version " + tls.VersionName(cs.Version))
	}
	if fips140.Enabled() {
		return fail("FIPS 140 mode")
	}
	id := suiteByID(cs.CipherSuite)
	if id == 0 {
		return fail("cipher suite " + tls.CipherSuiteName(cs.CipherSuite))
	}
	client, server, ok := hc.log.secrets()
	if !ok {
		return fail("traffic secrets not captured")
	}
	if hc.rHdrN != 0 || hc.rBody != 0 || hc.wHdrN != 0 || hc.wBody != 0 {
		return fail("crypto/tls stopped inside a record")
	}
	if hc.flightOver {
		return fail("server flight too large to account for")
	}
	sent, k, err := countAppRecords(&suites[id], server, hc.flight)
	if err != nil {
		return fail(err.Error())
	}
	c, err := newConn(cs.CipherSuite, client, server, 0, sent)
	if err != nil {
		return fail(err.Error())
	}
	c.out.k = k // derived from the same secret: the next record's state
	hc.state.Store(stateSwitched)
	return c, nil
}

const (
	stateHandshake int32 = iota
	statePassthrough
	stateSwitched
)

// hsConn is the net.Conn crypto/tls runs on. During the handshake it hands
// crypto/tls at most the rest of the current record per Read, so when the
// handshake ends crypto/tls holds no byte past the client's Finished; it
// notes the record boundaries of what crypto/tls writes and keeps a copy of
// the application_data records written once the server's traffic secret was
// logged, to count those sealed under it.
type hsConn struct {
	net.Conn
	state atomic.Int32

	rHdr  [headerLen]byte
	rHdrN int
	rBody int // bytes of the current record's body not yet handed over

	wHdr       [headerLen]byte
	wHdrN      int
	wBody      int
	wCopy      bool // the current written record goes to flight
	flight     []byte
	flightOver bool

	log keyLog
}

func (h *hsConn) Read(p []byte) (int, error) {
	switch h.state.Load() {
	case stateSwitched:
		return 0, errSwitched
	case statePassthrough:
		return h.Conn.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if h.rBody == 0 {
		n, err := h.Conn.Read(p[:min(len(p), headerLen-h.rHdrN)])
		copy(h.rHdr[h.rHdrN:], p[:n])
		if h.rHdrN += n; h.rHdrN == headerLen {
			h.rHdrN, h.rBody = 0, int(h.rHdr[3])<<8|int(h.rHdr[4])
		}
		return n, err
	}
	n, err := h.Conn.Read(p[:min(len(p), h.rBody)])
	h.rBody -= n
	return n, err
}

func (h *hsConn) Write(p []byte) (int, error) {
	switch h.state.Load() {
	case stateSwitched:
		return 0, errSwitched
	case statePassthrough:
		return h.Conn.Write(p)
	}
	h.track(p)
	return h.Conn.Write(p)
}

// After the switch the stale *tls.Conn has no effect on the transport: not
// even its deadlines (its CloseWrite sets a write deadline of "now") or Close.
func (h *hsConn) SetDeadline(t time.Time) error {
	if h.state.Load() == stateSwitched {
		return errSwitched
	}
	return h.Conn.SetDeadline(t)
}

func (h *hsConn) SetReadDeadline(t time.Time) error {
	if h.state.Load() == stateSwitched {
		return errSwitched
	}
	return h.Conn.SetReadDeadline(t)
}

func (h *hsConn) SetWriteDeadline(t time.Time) error {
	if h.state.Load() == stateSwitched {
		return errSwitched
	}
	return h.Conn.SetWriteDeadline(t)
}

func (h *hsConn) Close() error {
	if h.state.Load() == stateSwitched {
		return errSwitched
	}
	return h.Conn.Close()
}

// track follows the records in what crypto/tls writes.
func (h *hsConn) track(p []byte) {
	for len(p) > 0 {
		if h.wBody == 0 {
			m := copy(h.wHdr[h.wHdrN:], p)
			p = p[m:]
			if h.wHdrN += m; h.wHdrN < headerLen {
				return
			}
			h.wHdrN, h.wBody = 0, int(h.wHdr[3])<<8|int(h.wHdr[4])
			h.wCopy = h.wHdr[0] == recordAppData && h.log.serverN != 0
			h.keep(h.wHdr[:])
			continue
		}
		m := min(h.wBody, len(p))
		h.keep(p[:m])
		h.wBody -= m
		p = p[m:]
	}
}

func (h *hsConn) keep(b []byte) {
	if !h.wCopy || h.flightOver {
		return
	}
	if len(h.flight)+len(b) > maxFlight {
		h.flightOver = true
		return
	}
	h.flight = append(h.flight, b...)
}

// release drops what only the handshake needed.
func (h *hsConn) release() {
	h.flight = nil
	h.log.wipe()
}
