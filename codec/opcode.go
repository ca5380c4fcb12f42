package codec

import "strconv"

// OpCode is a frame's opcode (RFC 6455 section 5.2).
type OpCode byte

// Opcodes defined by RFC 6455; the others are reserved and refused.
const (
	OpContinuation OpCode = 0x0
	OpText         OpCode = 0x1
	OpBinary       OpCode = 0x2
	OpClose        OpCode = 0x8
	OpPing         OpCode = 0x9
	OpPong         OpCode = 0xA
)

// IsControl reports whether op is a control opcode (close, ping, pong or a
// reserved control opcode): the high bit of the 4-bit opcode is set.
func (op OpCode) IsControl() bool { return op&0x8 != 0 }

func (op OpCode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "opcode(0x" + strconv.FormatUint(uint64(op), 16) + ")"
}

// CloseCode is the status code of a close frame (RFC 6455 section 7.4).
type CloseCode uint16

// Close codes used by wsedge. CloseNoStatus and CloseAbnormal are never sent
// on the wire: they stand for "empty close payload" and "no close frame".
const (
	CloseNormal             CloseCode = 1000
	CloseGoingAway          CloseCode = 1001
	CloseProtocolError      CloseCode = 1002
	CloseUnsupportedData    CloseCode = 1003
	CloseNoStatus           CloseCode = 1005
	CloseAbnormal           CloseCode = 1006
	CloseInvalidPayload     CloseCode = 1007
	ClosePolicyViolation    CloseCode = 1008
	CloseTooBig             CloseCode = 1009
	CloseMandatoryExtension CloseCode = 1010
	CloseInternalError      CloseCode = 1011
)

// ValidCloseCode reports whether c may appear in a received close frame:
// 1000-1003, 1007-1014 (registered codes) and 3000-4999 (libraries and
// applications). 1004-1006 and 1015 are reserved for local use only.
func ValidCloseCode(c CloseCode) bool {
	switch {
	case c >= 1000 && c <= 1003:
		return true
	case c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

func (c CloseCode) String() string {
	switch c {
	case CloseNormal:
		return "normal"
	case CloseGoingAway:
		return "going away"
	case CloseProtocolError:
		return "protocol error"
	case CloseUnsupportedData:
		return "unsupported data"
	case CloseNoStatus:
		return "no status"
	case CloseAbnormal:
		return "abnormal closure"
	case CloseInvalidPayload:
		return "invalid payload"
	case ClosePolicyViolation:
		return "policy violation"
	case CloseTooBig:
		return "message too big"
	case CloseMandatoryExtension:
		return "mandatory extension"
	case CloseInternalError:
		return "internal error"
	}
	return "close code " + strconv.Itoa(int(c))
}
