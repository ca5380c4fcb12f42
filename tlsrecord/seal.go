package tlsrecord

import "errors"

// keyUpdateLen is the size of a sealed KeyUpdate record.
const keyUpdateLen = headerLen + 5 + 1 + tagLen

// AlertLen is the size of a sealed alert record (SealClose, SealAlert,
// SealError).
const AlertLen = headerLen + 2 + 1 + tagLen

// SealedLen is the most bytes Seal appends for n bytes of plaintext,
// including the KeyUpdate records it may have to send first. A dst with
// that much spare capacity makes Seal allocation-free.
func SealedLen(n int) int {
	records := max(1, (n+maxPlaintext-1)/maxPlaintext)
	return n + records*(headerLen+1+tagLen) + 2*keyUpdateLen
}

// Seal appends p to dst as application_data records of at most 2^14 bytes
// each and returns the extended slice. A KeyUpdate the peer asked for goes
// first. An empty p appends nothing but that KeyUpdate. On error nothing is
// appended and the write side is closed.
func (c *Conn) Seal(dst, p []byte) ([]byte, error) { return c.Seal2(dst, p, nil) }

// Seal2 is Seal of a followed by b, without joining them first: a frame
// header and its payload become one record when they fit in one.
func (c *Conn) Seal2(dst, a, b []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := len(dst)
	dst, err := c.sealPendingLocked(dst)
	for err == nil && len(a)+len(b) > 0 {
		// The next record: up to maxPlaintext bytes, from a then b.
		ra := a[:min(len(a), maxPlaintext)]
		rb := b[:min(len(b), maxPlaintext-len(ra))]
		dst, err = c.sealLocked(dst, innerAppData, ra, rb)
		a, b = a[len(ra):], b[len(rb):]
	}
	if err != nil {
		// Fail closed: a record dropped here may have used a sequence
		// number, and the peer cannot read past a gap.
		c.outFlags |= outClosed
		return dst[:start], err
	}
	return dst, nil
}

// Pending reports whether the peer asked for a KeyUpdate that has not been
// sent yet. The owner should then seal with SealPending and flush, even if
// it has no data to send.
func (c *Conn) Pending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outFlags&outPending != 0 && c.outFlags&outClosed == 0
}

// SealPending appends the KeyUpdate the peer asked for, if one is due.
func (c *Conn) SealPending(dst []byte) ([]byte, error) {
	return c.Seal(dst, nil)
}

// SealClose appends a close_notify alert and closes the write side: later
// seals fail with ErrClosed. The read side stays open (RFC 8446 6.1).
func (c *Conn) SealClose(dst []byte) ([]byte, error) {
	return c.sealAlert(dst, 1, AlertCloseNotify)
}

// SealAlert appends the fatal alert a and closes the write side.
func (c *Conn) SealAlert(dst []byte, a Alert) ([]byte, error) {
	if a == AlertCloseNotify {
		return c.SealClose(dst)
	}
	return c.sealAlert(dst, 2, a)
}

// SealError appends the alert an Open error owes the peer, if any (a local
// protocol violation; not the peer's own alert, close_notify or a closed
// write side), and closes the write side.
func (c *Conn) SealError(dst []byte, err error) []byte {
	var e *Error
	if !errors.As(err, &e) || e.Remote {
		return dst
	}
	dst, _ = c.SealAlert(dst, e.Alert)
	return dst
}

func (c *Conn) sealAlert(dst []byte, level byte, a Alert) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.outFlags&outClosed != 0 {
		return dst, ErrClosed
	}
	// An alert goes out under the current key: a KeyUpdate still owed is
	// moot once the connection closes.
	dst, err := c.sealLocked(dst, innerAlert, []byte{level, byte(a)}, nil)
	c.outFlags |= outClosed
	return dst, err
}

// sealPendingLocked sends the KeyUpdate the peer asked for, if any.
func (c *Conn) sealPendingLocked(dst []byte) ([]byte, error) {
	if c.outFlags&outClosed != 0 {
		return dst, ErrClosed
	}
	if c.outFlags&outPending == 0 {
		return dst, nil
	}
	dst, err := c.sealKeyUpdateLocked(dst, false)
	if err == nil {
		c.outFlags &^= outPending
	}
	return dst, err
}

// sealKeyUpdateLocked sends a KeyUpdate under the current key, then moves
// the write side to the next secret (RFC 8446 4.6.3).
func (c *Conn) sealKeyUpdateLocked(dst []byte, request bool) ([]byte, error) {
	msg := [5]byte{msgKeyUpdate, 0, 0, 1, 0}
	if request {
		msg[4] = 1
	}
	dst, err := c.sealRecordLocked(dst, innerHandshake, msg[:], nil)
	if err != nil {
		return dst, err
	}
	if err := c.update(&c.out); err != nil {
		c.outFlags |= outClosed
		return dst, err
	}
	return dst, nil
}

// sealLocked seals one record, updating the key first when the current one
// has sealed rekeyAfter records.
func (c *Conn) sealLocked(dst []byte, typ byte, a, b []byte) ([]byte, error) {
	if c.out.seq >= rekeyAfter {
		var err error
		if dst, err = c.sealKeyUpdateLocked(dst, false); err != nil {
			return dst, err
		}
	}
	return c.sealRecordLocked(dst, typ, a, b)
}

// sealRecordLocked appends one protected record: header, then
// TLSInnerPlaintext (a and b, type; no padding) encrypted in place with the
// header as additional data (RFC 8446 5.2).
func (c *Conn) sealRecordLocked(dst []byte, typ byte, a, b []byte) ([]byte, error) {
	if c.out.seq == maxSeq {
		c.outFlags |= outClosed
		return dst, ErrSeqExhausted
	}
	k, err := c.outKeys()
	if err != nil {
		return dst, err
	}
	inner := len(a) + len(b) + 1
	total := headerLen + inner + tagLen
	start := len(dst)
	if cap(dst)-start < total {
		grown := make([]byte, start, start+total+start/2)
		copy(grown, dst)
		dst = grown
	}
	dst = dst[:start+total]
	rec := dst[start:]
	n := inner + tagLen
	rec[0], rec[1], rec[2], rec[3], rec[4] = recordAppData, 0x03, 0x03, byte(n>>8), byte(n)
	body := rec[headerLen : headerLen+inner]
	copy(body[copy(body, a):], b)
	body[inner-1] = typ
	nonce := k.nonceFor(c.out.seq)
	if testHookNonce != nil {
		testHookNonce(true, c.out.secret[:c.s().hashLen], nonce)
	}
	k.aead.Seal(body[:0], nonce, body, rec[:headerLen])
	c.out.seq++
	return dst, nil
}
