package routing

import "unicode/utf8"

// AppendError appends the error reply
// {"type":"error","id":ID,"error":{"code":CODE,"message":MSG}} to dst and returns it.
// id is the request's raw JSON string token as found in Message.ID (quotes included), or nil
// to leave id out. An empty msg is replaced by a generic text for code, so the message is never
// empty. The server uses it for RATE_LIMITED, which it decides before routing.
func AppendError(dst, id []byte, code Code, msg string) []byte {
	dst = append(dst, `{"type":"error"`...)
	if id != nil {
		dst = append(dst, `,"id":`...)
		dst = append(dst, id...)
	}
	dst = append(dst, `,"error":{"code":`...)
	dst = appendString(dst, string(code))
	dst = append(dst, `,"message":`...)
	if msg == "" {
		msg = defaultMessage(code)
	}
	dst = appendString(dst, msg)
	return append(dst, "}}"...)
}

// AppendReply appends {"type":TYP,"id":ID,"data":DATA} to dst and returns it. id (a raw JSON
// string token) and data (raw JSON, trusted to be valid) are left out when nil.
func AppendReply(dst []byte, typ string, id, data []byte) []byte {
	dst = append(dst, `{"type":`...)
	dst = appendString(dst, typ)
	if id != nil {
		dst = append(dst, `,"id":`...)
		dst = append(dst, id...)
	}
	if data != nil {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	return append(dst, '}')
}

// msgPrefix starts every channel message; the channel name follows, then '"'.
const msgPrefix = `{"type":"message","channel":"`

// appendMessage appends the channel message {"type":"message","channel":CH,"data":DATA}.
// ch is a validated channel name, which never needs escaping.
func appendMessage(dst []byte, ch string, data []byte) []byte {
	dst = append(dst, msgPrefix...)
	dst = append(dst, ch...)
	dst = append(dst, '"')
	if data != nil {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD so that the reply is
// always a valid text frame.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
