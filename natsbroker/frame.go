package natsbroker

import (
	"bytes"
	"encoding/binary"

	"github.com/wsedge/wsedge/codec"
)

// validFrame reports whether b is exactly one complete, unmasked, final text frame with a
// shortest-form length: what routing's publish encodes and what may be queued to clients as is.
// Anything else that shows up on a channel subject (another program publishing there, a
// truncated message) is refused rather than written into WebSocket streams, where it would
// corrupt the framing of every subscriber.
func validFrame(b []byte) bool {
	if len(b) < 2 || b[0] != 0x80|byte(codec.OpText) || b[1]&0x80 != 0 {
		return false
	}
	n, h := uint64(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return false
		}
		n, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return false
		}
		n, h = binary.BigEndian.Uint64(b[2:]), 10
	}
	if n != uint64(len(b)-h) {
		return false
	}
	return codec.HeaderSize(int(n), false) == h
}

// msgPrefix starts the payload of every frame routing's publish encodes; the channel name
// follows, up to the next '"' (valid names never need JSON escapes).
const msgPrefix = `{"type":"message","channel":"`

// frameChannel returns the channel name written in a frame that validFrame accepted, or nil when the payload does
// not start the way routing writes it.
func frameChannel(frame []byte) []byte {
	p := frame[2:]
	switch frame[1] {
	case 126:
		p = frame[4:]
	case 127:
		p = frame[10:]
	}
	if !bytes.HasPrefix(p, []byte(msgPrefix)) {
		return nil
	}
	p = p[len(msgPrefix):]
	if end := bytes.IndexByte(p, '"'); end > 0 {
		return p[:end]
	}
	return nil
}
