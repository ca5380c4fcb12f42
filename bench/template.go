package bench

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/wsedge/wsedge/codec"
)

// Template is a prebuilt, masked message frame with room for a timestamp,
// which is patched in (masked) at each send: sending copies bytes and
// writes 8 or 17 of them, nothing more.
type Template struct {
	frame   []byte
	hdr     int // header length: the payload starts at frame[hdr]
	at      int // offset of the timestamp in the payload
	text    bool
	payload []byte // unmasked, uncompressed
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
	return &Template{frame: f, hdr: len(f) - len(payload), at: at, text: op == codec.OpText, payload: payload}
}

// Compressed is t as a permessage-deflate message (RSV1 set): the payload
// compressed at level, with the timestamp in a stored block so that a send
// still only copies and patches (see compressTemplate).
func (t *Template) Compressed(level int) (*Template, error) {
	stamp, op := minBinary, codec.OpBinary
	if t.text {
		stamp, op = minText, codec.OpText
	}
	z, at, err := compressTemplate(t.payload, t.at, stamp, level)
	if err != nil {
		return nil, err
	}
	c := newTemplate(op, z, at)
	c.frame[0] |= 0x40 // RSV1: compressed
	c.payload = t.payload
	return c, nil
}

// PayloadLen is the message's (uncompressed) size in bytes.
func (t *Template) PayloadLen() int { return len(t.payload) }

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

// NewJSONTemplate builds a text message of exactly size bytes (at least
// 120) of JSON as an application sends it: an order with line items, whose
// "ts" field holds the timestamp. It compresses like real JSON (keys and
// structure repeat, values vary), unlike a byte pattern.
func NewJSONTemplate(size int) (*Template, error) {
	const head = `{"type":"message","channel":"orders.eu-west","ts":"@0000000000000000","data":{"order":98127,"items":[`
	const tail = `],"note":"`
	const end = `"}}`
	if size < len(head)+len(tail)+len(end) {
		return nil, fmt.Errorf("json message size %d < %d", size, len(head)+len(tail)+len(end))
	}
	var b strings.Builder
	b.WriteString(head)
	for i := 1; ; i++ {
		item := fmt.Sprintf(`{"id":%d,"sku":"SKU-%05d","name":"item %d","qty":%d,"price":%d.%02d}`, i, (i*7919)%100000, i, i%9+1, (i*37)%500, (i*13)%100)
		if i > 1 {
			item = "," + item
		}
		if b.Len()+len(item)+len(tail)+len(end) > size {
			break
		}
		b.WriteString(item)
	}
	b.WriteString(tail)
	for i := 0; b.Len()+len(end) < size; i++ {
		b.WriteByte("abcdefghij klmnopqrstuvwxyz"[i%27])
	}
	b.WriteString(end)
	p := []byte(b.String())
	return newTemplate(codec.OpText, p, strings.IndexByte(b.String(), '@')), nil
}
