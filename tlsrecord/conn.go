package tlsrecord

import (
	"errors"
	"io"
	"sync"
)

// Record layer limits and constants (RFC 8446 5).
const (
	headerLen     = 5
	maxPlaintext  = 1 << 14            // TLSPlaintext.length and our record payload
	maxCiphertext = maxPlaintext + 256 // TLSCiphertext.length limit
	recordAppData = 0x17               // application_data: the only outer type after the handshake
	recordCCS     = 0x14

	innerAlert     = 21
	innerHandshake = 22
	innerAppData   = 23

	msgKeyUpdate = 24
	msgNewTicket = 4

	// maxUseless bounds consecutive records that carry no application
	// data (empty records, KeyUpdate, user_canceled), like crypto/tls, so
	// a peer cannot keep the loop busy re-deriving keys for nothing.
	maxUseless = 16

	// rekeyAfter is how many records one write key seals before we update
	// it: AES-GCM's confidentiality margin is 2^24.5 full-size records per
	// key (RFC 8446 5.5). Applied to ChaCha20-Poly1305 too: it costs one
	// KeyUpdate per 16M records.
	rekeyAfter = 1 << 24

	maxSeq = 1<<64 - 1 // never used: a sequence number must not wrap
)

// half is one direction's state: all an idle connection holds for it.
type half struct {
	secret [48]byte // current traffic secret; suite.hashLen bytes used
	seq    uint64   // next record's sequence number
	k      *keys    // derived cipher state; nil while idle
}

// Conn is the TLS 1.3 record layer of one connection after its handshake.
//
// Open is for one reader at a time (the connection's event loop): it is not
// locked. Seal, SealAlert, SealClose, SealPending and SealError may be called
// from any goroutine; they serialize on an internal mutex, so sequence
// numbers, and with them nonces, are unique whatever the callers do. Records
// reach the peer in sequence order only if the caller also keeps its own
// queue in the order Seal returned them: hold the lock that orders the
// connection's output across the Seal call and the enqueue. Idle must be
// called from the Open goroutine.
type Conn struct {
	in    half // Open side: owned by the reader
	out   half // Seal side: guarded by mu
	mu    sync.Mutex
	suite uint8

	// Reader-owned state.
	inFlags uint8
	inAlert Alert // the alert that ended the read side
	hsLen   uint8 // bytes seen of a post-handshake message split across records
	useless uint8 // consecutive records without application data

	outFlags uint8 // guarded by mu
}

const (
	inUsed      = 1 << iota // an Open since the last Idle
	inEOF                   // close_notify received
	inFailed                // read side ended by a local protocol error
	inRemote                // read side ended by the peer's alert
	inExhausted             // sequence numbers ran out
)

const (
	outUsed    = 1 << iota // a Seal since the last Idle
	outClosed              // close_notify or a fatal alert sealed
	outPending             // the peer asked for a KeyUpdate: send ours before more data
)

// newConn starts a record layer at the given sequence numbers with the
// current traffic secrets of each direction.
func newConn(suiteID uint16, readSecret, writeSecret []byte, readSeq, writeSeq uint64) (*Conn, error) {
	id := suiteByID(suiteID)
	if id == 0 {
		return nil, errors.New("tlsrecord: unsupported cipher suite")
	}
	s := &suites[id]
	if len(readSecret) != s.hashLen || len(writeSecret) != s.hashLen {
		return nil, errors.New("tlsrecord: traffic secret length does not match the cipher suite")
	}
	c := &Conn{suite: id}
	copy(c.in.secret[:], readSecret)
	copy(c.out.secret[:], writeSecret)
	c.in.seq, c.out.seq = readSeq, writeSeq
	return c, nil
}

func (c *Conn) s() *suite { return &suites[c.suite] }

// CipherSuite is the negotiated TLS 1.3 cipher suite.
func (c *Conn) CipherSuite() uint16 { return c.s().id }

// Idle drops the derived cipher state (AEAD and IV) of each direction that
// saw no Open or Seal since the previous Idle call, keeping only the traffic
// secrets and sequence numbers; the next Open or Seal derives it again.
// Calling it every quiet period q drops the state of a connection that has
// been quiet for between q and 2q. It reports whether it dropped the state
// of a direction, and whether any cipher state is still held. Call it from
// the Open goroutine.
func (c *Conn) Idle() (dropped, held bool) {
	if c.inFlags&inUsed != 0 {
		c.inFlags &^= inUsed
	} else if c.in.k != nil {
		c.in.k, dropped = nil, true
	}
	c.mu.Lock()
	if c.outFlags&outUsed != 0 {
		c.outFlags &^= outUsed
	} else if c.out.k != nil {
		c.out.k, dropped = nil, true
	}
	held = c.in.k != nil || c.out.k != nil
	c.mu.Unlock()
	return dropped, held
}

// Held reports whether either direction holds derived cipher state, that
// is whether Idle has something to drop. Call it from the Open goroutine.
func (c *Conn) Held() bool {
	if c.in.k != nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.k != nil
}

// readErr reconstructs the error that ended the read side.
func (c *Conn) readErr() error {
	switch {
	case c.inFlags&inEOF != 0:
		return io.EOF
	case c.inFlags&inRemote != 0:
		return &Error{Alert: c.inAlert, Remote: true}
	case c.inFlags&inExhausted != 0:
		return ErrSeqExhausted
	default:
		return &Error{Alert: c.inAlert, Msg: "read side failed earlier"}
	}
}

// inKeys returns the read direction's cipher state, deriving it if idle.
func (c *Conn) inKeys() (*keys, error) {
	c.inFlags |= inUsed
	if c.in.k == nil {
		k, err := deriveKeys(c.s(), c.in.secret[:c.s().hashLen])
		if err != nil {
			return nil, err
		}
		c.in.k = k
	}
	return c.in.k, nil
}

// outKeys is inKeys for the write direction. Caller holds mu.
func (c *Conn) outKeys() (*keys, error) {
	c.outFlags |= outUsed
	if c.out.k == nil {
		k, err := deriveKeys(c.s(), c.out.secret[:c.s().hashLen])
		if err != nil {
			return nil, err
		}
		c.out.k = k
	}
	return c.out.k, nil
}

// update replaces a direction's secret with the next one (RFC 8446 7.2)
// and restarts its sequence numbers; the keys are derived when next used.
func (c *Conn) update(h *half) error {
	n := c.s().hashLen
	next, err := nextSecret(c.s(), h.secret[:n])
	if err != nil {
		return err
	}
	copy(h.secret[:n], next)
	clear(next)
	h.seq, h.k = 0, nil
	return nil
}

// testHookNonce, when set by a test, sees the traffic secret and nonce of
// every record sealed or opened.
var testHookNonce func(write bool, secret, nonce []byte)
