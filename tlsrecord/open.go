package tlsrecord

import (
	"io"
)

// Open decrypts, in place, every complete record at the start of buf. The
// application data they carry is moved to buf[:n], contiguous; consumed is
// the number of bytes of buf the records took. A partial record at
// buf[consumed:] stays untouched: present it again, followed by the bytes
// that come next, at the next call. Both results are valid with an error
// too: buf[:n] is authenticated data that came before it.
//
// The error is io.EOF after the peer's close_notify, an *Error for an alert
// from the peer or a protocol violation (then the peer is owed an alert:
// SealError), or ErrSeqExhausted. The read side stays ended: later calls
// return the same error. A KeyUpdate from the peer is applied here; when it
// asks for ours, Pending reports true and the next Seal (or SealPending)
// sends it before any data.
func (c *Conn) Open(buf []byte) (n, consumed int, err error) {
	if c.inFlags&(inEOF|inFailed|inRemote|inExhausted) != 0 {
		return 0, 0, c.readErr()
	}
	for {
		rest := buf[consumed:]
		if len(rest) < headerLen {
			return n, consumed, nil
		}
		if rest[0] != recordAppData {
			// After the handshake every record is protected: a
			// change_cipher_spec is no longer allowed (RFC 8446 5), nor
			// is any other plaintext record.
			return n, consumed, c.fail(AlertUnexpectedMessage, "unprotected record after the handshake")
		}
		// legacy_record_version is not checked (RFC 8446 5.1: ignored for
		// all purposes); it is part of the additional data, so a change
		// fails the tag anyway.
		length := int(rest[3])<<8 | int(rest[4])
		if length > maxCiphertext {
			return n, consumed, c.fail(AlertRecordOverflow, "record longer than 2^14+256")
		}
		if len(rest) < headerLen+length {
			return n, consumed, nil
		}
		data, typ, err := c.decrypt(rest[:headerLen+length])
		if err != nil {
			return n, consumed, err
		}
		consumed += headerLen + length
		if c.hsLen != 0 && typ != innerHandshake {
			// A handshake message split across records must not be
			// interleaved with other records (RFC 8446 5.1).
			return n, consumed, c.fail(AlertUnexpectedMessage, "record inside a split handshake message")
		}
		switch typ {
		case innerAppData:
			if len(data) == 0 {
				if err := c.uselessRecord(); err != nil {
					return n, consumed, err
				}
				continue
			}
			c.useless = 0
			n += copy(buf[n:], data)
		case innerAlert:
			if err := c.onAlert(data); err != nil {
				return n, consumed, err
			}
		case innerHandshake:
			if err := c.onHandshake(data); err != nil {
				return n, consumed, err
			}
		default:
			return n, consumed, c.fail(AlertUnexpectedMessage, "unknown content type")
		}
	}
}

// decrypt opens one whole record in place and strips its padding,
// returning the content and its inner content type.
func (c *Conn) decrypt(rec []byte) ([]byte, byte, error) {
	if c.in.seq == maxSeq {
		c.inFlags |= inExhausted
		return nil, 0, ErrSeqExhausted
	}
	k, err := c.inKeys()
	if err != nil {
		return nil, 0, c.fail(AlertInternalError, "deriving read keys: "+err.Error())
	}
	nonce := k.nonceFor(c.in.seq)
	if testHookNonce != nil {
		testHookNonce(false, c.in.secret[:c.s().hashLen], nonce)
	}
	payload := rec[headerLen:]
	if len(payload) < tagLen+1 {
		return nil, 0, c.fail(AlertBadRecordMAC, "record shorter than its tag")
	}
	plain, err := k.aead.Open(payload[:0], nonce, payload, rec[:headerLen])
	if err != nil {
		return nil, 0, c.fail(AlertBadRecordMAC, "record authentication failed")
	}
	c.in.seq++
	if len(plain) > maxPlaintext+1 {
		return nil, 0, c.fail(AlertRecordOverflow, "plaintext longer than 2^14+1")
	}
	// TLSInnerPlaintext: content, then the type, then zero padding. Its
	// length is the record's, which the peer chose: scanning it is no
	// secret-dependent timing beyond what the length already shows.
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 {
		return nil, 0, c.fail(AlertUnexpectedMessage, "record without a content type")
	}
	return plain[:i], plain[i], nil
}

// fail ends the read side with a local protocol error.
func (c *Conn) fail(a Alert, msg string) error {
	c.inFlags |= inFailed
	c.inAlert = a
	return protoErr(a, msg)
}

func (c *Conn) uselessRecord() error {
	c.useless++
	if c.useless > maxUseless {
		return c.fail(AlertUnexpectedMessage, "too many records without application data")
	}
	return nil
}

// onAlert handles an alert record (RFC 8446 6): exactly one alert, whose
// level is ignored in TLS 1.3.
func (c *Conn) onAlert(data []byte) error {
	if len(data) != 2 {
		return c.fail(AlertDecodeError, "alert record not of one alert")
	}
	switch a := Alert(data[1]); a {
	case AlertCloseNotify:
		c.inFlags |= inEOF
		return io.EOF
	case AlertUserCanceled:
		// A closure alert that "SHOULD be followed by a close_notify"
		// (RFC 8446 6.1): wait for that.
		return c.uselessRecord()
	default:
		c.inFlags |= inRemote
		c.inAlert = a
		return &Error{Alert: a, Remote: true}
	}
}

// onHandshake takes the content of a handshake record. After the handshake a
// client may send only KeyUpdate: we never request post-handshake
// authentication, and NewSessionTicket comes from servers only. So the one
// acceptable message is 18 00 00 01 followed by request_update, which is
// checked byte by byte: a message split across records needs no buffer,
// only a count of the bytes seen (hsLen).
func (c *Conn) onHandshake(data []byte) error {
	if len(data) == 0 {
		return c.fail(AlertUnexpectedMessage, "empty handshake record")
	}
	for i, b := range data {
		switch c.hsLen {
		case 0:
			if b != msgKeyUpdate {
				if b == msgNewTicket {
					return c.fail(AlertUnexpectedMessage, "NewSessionTicket from a client")
				}
				return c.fail(AlertUnexpectedMessage, "unexpected post-handshake message")
			}
		case 1, 2:
			if b != 0 {
				return c.fail(AlertDecodeError, "KeyUpdate of the wrong length")
			}
		case 3:
			if b != 1 {
				return c.fail(AlertDecodeError, "KeyUpdate of the wrong length")
			}
		case 4:
			if b > 1 {
				return c.fail(AlertIllegalParameter, "KeyUpdate request_update not 0 or 1")
			}
			if i != len(data)-1 {
				// The read key changes after it: no message may span
				// the change (RFC 8446 5.1).
				return c.fail(AlertUnexpectedMessage, "data after KeyUpdate in its record")
			}
			c.hsLen = 0
			return c.onKeyUpdate(b == 1)
		}
		c.hsLen++
	}
	return c.uselessRecord()
}

// onKeyUpdate moves the read side to the next secret and, if the peer asks,
// schedules our own KeyUpdate (RFC 8446 4.6.3).
func (c *Conn) onKeyUpdate(requested bool) error {
	if err := c.uselessRecord(); err != nil {
		return err
	}
	if err := c.update(&c.in); err != nil {
		return c.fail(AlertInternalError, "key update: "+err.Error())
	}
	if requested {
		c.mu.Lock()
		c.outFlags |= outPending
		c.mu.Unlock()
	}
	return nil
}
