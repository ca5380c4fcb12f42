package codec

import (
	"encoding/binary"
	"slices"
)

// Frame header bits (RFC 6455 section 5.2).
const (
	bitFin    = 0x80
	bitRSV1   = 0x40 // "compressed" with permessage-deflate (RFC 7692)
	bitsRSV23 = 0x30
	bitMask   = 0x80

	maxControlPayload = 125
	maxCloseReason    = maxControlPayload - 2
)

// HeaderSize is the length of a frame header for an n-byte payload, with the
// 4-byte masking key when masked (client to server).
func HeaderSize(n int, masked bool) int {
	h := 2
	switch {
	case n > 0xFFFF:
		h += 8
	case n > maxControlPayload:
		h += 2
	}
	if masked {
		h += 4
	}
	return h
}

// FrameSize is the encoded length of an unmasked (server to client) frame
// carrying n payload bytes: what AppendFrame adds to dst.
func FrameSize(payloadLen int) int { return HeaderSize(payloadLen, false) + payloadLen }

// AppendHeader appends the header of an unmasked frame announcing n payload
// bytes; the caller appends the payload itself (e.g. written straight into the
// connection's output buffer). Lengths use the shortest encoding.
func AppendHeader(dst []byte, op OpCode, fin bool, n int) []byte {
	return appendHeader(dst, op, fin, n, false, [4]byte{})
}

// AppendFrame appends a whole unmasked frame (server to client).
func AppendFrame(dst []byte, op OpCode, fin bool, payload []byte) []byte {
	dst = slices.Grow(dst, FrameSize(len(payload)))
	dst = appendHeader(dst, op, fin, len(payload), false, [4]byte{})
	return append(dst, payload...)
}

// AppendClientFrame appends a whole frame masked with mask (client to
// server), as a client, a test or the load generator sends it.
func AppendClientFrame(dst []byte, op OpCode, fin bool, mask [4]byte, payload []byte) []byte {
	dst = slices.Grow(dst, HeaderSize(len(payload), true)+len(payload))
	dst = appendHeader(dst, op, fin, len(payload), true, mask)
	start := len(dst)
	dst = append(dst, payload...)
	maskBytes(mask, 0, dst[start:])
	return dst
}

// AppendClose appends an unmasked close frame (server side). CloseNoStatus,
// CloseAbnormal and 0 must not appear on the wire, so they give an empty
// close payload. The reason is cut to the 123 bytes a control frame allows,
// at a UTF-8 character boundary.
func AppendClose(dst []byte, code CloseCode, reason string) []byte {
	return appendClose(dst, code, reason, false, [4]byte{})
}

// AppendClientClose is AppendClose for the client side (masked).
func AppendClientClose(dst []byte, mask [4]byte, code CloseCode, reason string) []byte {
	return appendClose(dst, code, reason, true, mask)
}

func appendClose(dst []byte, code CloseCode, reason string, masked bool, mask [4]byte) []byte {
	if code == 0 || code == CloseNoStatus || code == CloseAbnormal {
		return appendHeader(dst, OpClose, true, 0, masked, mask)
	}
	if len(reason) > maxCloseReason {
		cut := maxCloseReason
		for cut > 0 && reason[cut]&0xC0 == 0x80 { // don't split a character
			cut--
		}
		reason = reason[:cut]
	}
	n := 2 + len(reason)
	dst = slices.Grow(dst, HeaderSize(n, masked)+n)
	dst = appendHeader(dst, OpClose, true, n, masked, mask)
	start := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	dst = append(dst, reason...)
	if masked {
		maskBytes(mask, 0, dst[start:])
	}
	return dst
}

func appendHeader(dst []byte, op OpCode, fin bool, n int, masked bool, mask [4]byte) []byte {
	if n < 0 {
		panic("codec: negative payload length")
	}
	b0 := byte(op) & 0x0F
	if fin {
		b0 |= bitFin
	}
	var m byte
	if masked {
		m = bitMask
	}
	switch {
	case n <= maxControlPayload:
		dst = append(dst, b0, m|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, b0, m|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, b0, m|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if masked {
		dst = append(dst, mask[:]...)
	}
	return dst
}
