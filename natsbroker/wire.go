package natsbroker

import (
	"encoding/binary"
	"errors"
	"unsafe"

	"github.com/wsedge/wsedge/routing"
)

// The cluster wire format, version 1: what one wsedge node sends the others on NATS. It is
// documented for other implementations in docs/cluster.md; in short (integers big-endian):
//
//	offset 0  u8   version: 1
//	       1  u8   kind: 1 channel message, 2 user message, 3 command, 4 command reply
//	       2  u16  flags: bits 0-7 must be understood (a receiver drops a message with an
//	               unknown one set), bits 8-15 may be ignored; none is defined in version 1
//	       4  u16  F, the length of the field list
//	       6  F    fields: u8 tag, u16 length, value; unknown tags are skipped
//	     6+F       payload, to the end of the message
//
// Fields: 0 padding (ignored), 1 origin node name, 2 target (channel or user id), 3 excluded
// client (u64 node incarnation, u64 session), 4 command name, 5 error text (command reply),
// 6 sequence (u64 origin id: random per process start; u64 sequence number: +1 per message
// that process publishes, in the order it sends them). Nodes write field 6 first, right after
// the fixed header, so that the number is stamped in place under the lock that orders the
// publishes. Messages without it (older nodes, backends) are still read; the restart without
// reconnects can only deduplicate them by content (docs/design.md).
// Nodes end the field list with 10 bytes of padding, so that a receiving node can write the
// WebSocket frame header into them and send the payload as it arrived, without a copy.
//
// A first byte below 0x20 other than tab, line feed and carriage return marks a binary
// message: JSON text never starts with one. Version 1 is 0x01; other such bytes are versions
// this node does not know (dropped and counted). Anything else on a channel subject is plain
// JSON data from a backend.

const (
	wireVersion = 1
	fixedLen    = 6
	padLen      = 10 // the padding field, header included: room for any frame header

	kindChannel = 1
	kindUser    = 2
	kindCommand = 3
	kindReply   = 4

	tagPad     = 0
	tagOrigin  = 1
	tagTarget  = 2
	tagExclude = 3
	tagCommand = 4
	tagError   = 5
	tagSeq     = 6

	seqLen = 3 + 16           // the sequence field, header included
	seqAt  = fixedLen + 3 + 8 // offset of the sequence number in a node's message

	flagsCritical = 0x00ff
)

// envelope is a decoded wire message. Its strings and payload alias the message bytes.
type envelope struct {
	kind    uint8
	flags   uint16
	origin  string
	target  string
	exclude routing.ClientID
	command string
	errText string
	// originID and seq are field 6: the publishing process and its number for this message;
	// 0 when absent.
	originID uint64
	seq      uint64
	payload  []byte
	padded   bool // the 10 bytes before the payload are padding: free for a frame header
}

var (
	errNotBinary      = errors.New("not a binary message")
	errUnknownVersion = errors.New("unknown wire version")
	errMalformed      = errors.New("malformed wire message")
	errCritical       = errors.New("wire message needs a feature this node does not have")
)

// isBinary reports whether a message on a channel subject is a wsedge binary message (of any
// version) rather than JSON text.
func isBinary(b []byte) bool {
	return len(b) > 0 && b[0] < 0x20 && b[0] != '\t' && b[0] != '\n' && b[0] != '\r'
}

// appendEnvelope appends e's header fields and payload to dst.
func appendEnvelope(dst []byte, e *envelope, payload []byte) []byte {
	dst = append(dst, wireVersion, e.kind)
	dst = binary.BigEndian.AppendUint16(dst, e.flags)
	lenAt := len(dst)
	dst = append(dst, 0, 0)
	start := len(dst)
	if e.originID != 0 || e.seq != 0 {
		dst = append(dst, tagSeq, 0, 16)
		dst = binary.BigEndian.AppendUint64(dst, e.originID)
		dst = binary.BigEndian.AppendUint64(dst, e.seq)
	}
	dst = appendField(dst, tagOrigin, e.origin)
	if e.target != "" {
		dst = appendField(dst, tagTarget, e.target)
	}
	if !e.exclude.IsZero() {
		dst = append(dst, tagExclude, 0, 16)
		dst = binary.BigEndian.AppendUint64(dst, e.exclude.Node)
		dst = binary.BigEndian.AppendUint64(dst, e.exclude.Session)
	}
	if e.command != "" {
		dst = appendField(dst, tagCommand, e.command)
	}
	if e.errText != "" {
		dst = appendField(dst, tagError, e.errText)
	}
	dst = append(dst, tagPad, 0, padLen-3)
	dst = append(dst, make([]byte, padLen-3)...)
	binary.BigEndian.PutUint16(dst[lenAt:], uint16(len(dst)-start))
	return append(dst, payload...)
}

func appendField(dst []byte, tag byte, v string) []byte {
	dst = append(dst, tag)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(v)))
	return append(dst, v...)
}

// maxField is the longest field value (u16 length).
const maxField = 1<<16 - 1

// decodeEnvelope parses a binary message. b is owned by the caller and must not change while
// e is in use (e's strings alias it).
func decodeEnvelope(b []byte, e *envelope) error {
	*e = envelope{}
	if !isBinary(b) {
		return errNotBinary
	}
	if b[0] != wireVersion {
		return errUnknownVersion
	}
	if len(b) < fixedLen {
		return errMalformed
	}
	e.kind = b[1]
	e.flags = binary.BigEndian.Uint16(b[2:])
	f := int(binary.BigEndian.Uint16(b[4:]))
	if len(b) < fixedLen+f {
		return errMalformed
	}
	fields, lastPad := b[fixedLen:fixedLen+f], -1
	for i := 0; i < len(fields); {
		if len(fields)-i < 3 {
			return errMalformed
		}
		tag, n := fields[i], int(binary.BigEndian.Uint16(fields[i+1:]))
		i += 3
		if len(fields)-i < n {
			return errMalformed
		}
		v := fields[i : i+n]
		switch tag {
		case tagPad:
			lastPad = i + n
			if n+3 < padLen {
				lastPad = -1
			}
		case tagOrigin:
			e.origin = str(v)
		case tagTarget:
			e.target = str(v)
		case tagExclude:
			if n != 16 {
				return errMalformed
			}
			e.exclude = routing.ClientID{Node: binary.BigEndian.Uint64(v), Session: binary.BigEndian.Uint64(v[8:])}
		case tagCommand:
			e.command = str(v)
		case tagError:
			e.errText = str(v)
		case tagSeq:
			if n != 16 {
				return errMalformed
			}
			e.originID, e.seq = binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
		}
		i += n
	}
	if e.flags&flagsCritical != 0 {
		return errCritical
	}
	switch e.kind {
	case kindChannel, kindUser:
		if e.target == "" {
			return errMalformed
		}
	case kindCommand, kindReply:
		if e.command == "" {
			return errMalformed
		}
	default:
		return errMalformed
	}
	e.payload = b[fixedLen+f:]
	e.padded = lastPad == len(fields)
	return nil
}

// str views v as a string without copying: the message bytes it aliases are never modified
// where fields are (only the padding may receive a frame header).
func str(v []byte) string { return unsafe.String(unsafe.SliceData(v), len(v)) }

// wireKind maps a routing kind to the wire kind.
func wireKind(k routing.Kind) uint8 {
	if k == routing.KindUser {
		return kindUser
	}
	return kindChannel
}
