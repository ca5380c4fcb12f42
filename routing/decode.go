package routing

import (
	"bytes"
	"unicode/utf8"
)

// maxDepth bounds JSON nesting so a hostile document cannot grow a worker's stack without limit.
// Deeper documents are answered INVALID_JSON.
const maxDepth = 512

// Message is one decoded client message. Its slices alias the payload it was decoded from (or
// the Message's own scratch space) and are valid only until the next Decode on the same Message.
type Message struct {
	Type    []byte // value of "type", unescaped; non-empty after a successful Decode
	ID      []byte // raw JSON string token of "id", quotes included (echoed verbatim); nil if absent or null
	Channel []byte // value of "channel", unescaped; nil if absent or null
	Data    []byte // raw JSON text of "data", surrounding whitespace trimmed; nil if absent
	Method  []byte // value of "method" (rpc), unescaped; nil if absent or null
	Token   []byte // value of "token" (connect, refresh, subscribe), unescaped; nil if absent or null

	scratch []byte // room for unescaped strings, reused across decodes
}

// Decode validates p as one JSON document (RFC 8259 grammar; UTF-8 validity is the codec's job,
// as for every text frame) and extracts the protocol fields of the top-level object. Unknown
// fields are ignored; for a repeated field the last one wins, as in encoding/json. It allocates
// nothing unless the scratch space must grow for escaped strings.
//
// The returned *Error has code INVALID_JSON (not well-formed) or INVALID_MESSAGE (well-formed but
// not an object, type missing/empty/not a string, id, channel, method or token not a string). m.ID is set even
// on failure when a string id was read, so the error reply can echo it.
func (m *Message) Decode(p []byte) *Error {
	*m = Message{scratch: m.scratch[:0]}
	i := skipSpace(p, 0)
	if i >= len(p) {
		return errMalformed
	}
	if p[i] != '{' {
		end, err := skipValue(p, i, 0)
		if err != nil {
			return err
		}
		if skipSpace(p, end) != len(p) {
			return errMalformed
		}
		return errNotObject
	}
	var typ, ch, meth, tok []byte // raw value tokens, checked after the whole document is known to be valid
	var idBad bool
	i = skipSpace(p, i+1)
	if i < len(p) && p[i] == '}' {
		i++
	} else {
		for {
			if i >= len(p) || p[i] != '"' {
				return errMalformed
			}
			ke, kesc, err := scanString(p, i)
			if err != nil {
				return err
			}
			key := p[i+1 : ke-1]
			var f field
			if kesc {
				mark := len(m.scratch)
				m.scratch = unescape(m.scratch, key)
				f = fieldOf(m.scratch[mark:])
				m.scratch = m.scratch[:mark]
			} else {
				f = fieldOf(key)
			}
			i = skipSpace(p, ke)
			if i >= len(p) || p[i] != ':' {
				return errMalformed
			}
			i = skipSpace(p, i+1)
			ve, err := skipValue(p, i, 1)
			if err != nil {
				return err
			}
			v := p[i:ve]
			switch f {
			case fieldType:
				typ = v
			case fieldID:
				switch {
				case v[0] == '"':
					m.ID, idBad = v, false
				case isNull(v):
					m.ID, idBad = nil, false
				default:
					m.ID, idBad = nil, true
				}
			case fieldChannel:
				ch = v
			case fieldData:
				m.Data = v
			case fieldMethod:
				meth = v
			case fieldToken:
				tok = v
			}
			i = skipSpace(p, ve)
			if i >= len(p) {
				return errMalformed
			}
			if p[i] == ',' {
				i = skipSpace(p, i+1)
				continue
			}
			if p[i] != '}' {
				return errMalformed
			}
			i++
			break
		}
	}
	if skipSpace(p, i) != len(p) {
		return errMalformed
	}
	if idBad {
		return errIDNotString
	}
	if typ == nil || typ[0] != '"' || len(typ) == 2 {
		return errTypeMissing
	}
	m.Type = m.str(typ)
	if ch != nil && !isNull(ch) {
		if ch[0] != '"' {
			return errChanNotString
		}
		m.Channel = m.str(ch)
	}
	if meth != nil && !isNull(meth) {
		if meth[0] != '"' {
			return errMethodNotString
		}
		m.Method = m.str(meth)
	}
	if tok != nil && !isNull(tok) {
		if tok[0] != '"' {
			return errTokenNotString
		}
		m.Token = m.str(tok)
	}
	return nil
}

// str returns the content of a scanned JSON string token, unescaped into scratch when needed.
func (m *Message) str(tok []byte) []byte {
	s := tok[1 : len(tok)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return s
	}
	mark := len(m.scratch)
	m.scratch = unescape(m.scratch, s)
	return m.scratch[mark:]
}

type field uint8

const (
	fieldOther field = iota
	fieldType
	fieldID
	fieldChannel
	fieldData
	fieldMethod
	fieldToken
)

func fieldOf(k []byte) field {
	switch string(k) { // no allocation: the compiler compares in place
	case "type":
		return fieldType
	case "id":
		return fieldID
	case "channel":
		return fieldChannel
	case "data":
		return fieldData
	case "method":
		return fieldMethod
	case "token":
		return fieldToken
	}
	return fieldOther
}

func isNull(v []byte) bool { return len(v) == 4 && string(v) == "null" }

func skipSpace(p []byte, i int) int {
	for i < len(p) {
		switch p[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue validates the JSON value starting at p[i] and returns the index just past it.
func skipValue(p []byte, i, depth int) (int, *Error) {
	if i >= len(p) {
		return 0, errMalformed
	}
	switch c := p[i]; {
	case c == '"':
		end, _, err := scanString(p, i)
		return end, err
	case c == '{':
		return skipObject(p, i, depth+1)
	case c == '[':
		return skipArray(p, i, depth+1)
	case c == 't':
		return literal(p, i, "true")
	case c == 'f':
		return literal(p, i, "false")
	case c == 'n':
		return literal(p, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(p, i)
	}
	return 0, errMalformed
}

func literal(p []byte, i int, lit string) (int, *Error) {
	if len(p)-i < len(lit) || string(p[i:i+len(lit)]) != lit {
		return 0, errMalformed
	}
	return i + len(lit), nil
}

func skipObject(p []byte, i, depth int) (int, *Error) {
	if depth > maxDepth {
		return 0, errTooDeep
	}
	i = skipSpace(p, i+1)
	if i < len(p) && p[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(p) || p[i] != '"' {
			return 0, errMalformed
		}
		ke, _, err := scanString(p, i)
		if err != nil {
			return 0, err
		}
		i = skipSpace(p, ke)
		if i >= len(p) || p[i] != ':' {
			return 0, errMalformed
		}
		if i, err = skipValue(p, skipSpace(p, i+1), depth); err != nil {
			return 0, err
		}
		i = skipSpace(p, i)
		if i >= len(p) {
			return 0, errMalformed
		}
		switch p[i] {
		case ',':
			i = skipSpace(p, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, errMalformed
		}
	}
}

func skipArray(p []byte, i, depth int) (int, *Error) {
	if depth > maxDepth {
		return 0, errTooDeep
	}
	i = skipSpace(p, i+1)
	if i < len(p) && p[i] == ']' {
		return i + 1, nil
	}
	for {
		var err *Error
		if i, err = skipValue(p, i, depth); err != nil {
			return 0, err
		}
		i = skipSpace(p, i)
		if i >= len(p) {
			return 0, errMalformed
		}
		switch p[i] {
		case ',':
			i = skipSpace(p, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, errMalformed
		}
	}
}

// scanString validates the string token at p[i] (a '"') and returns the index past its closing
// quote and whether it holds escapes.
func scanString(p []byte, i int) (end int, esc bool, err *Error) {
	for j := i + 1; j < len(p); {
		c := p[j]
		switch {
		case c == '"':
			return j + 1, esc, nil
		case c == '\\':
			esc = true
			if j+1 >= len(p) {
				return 0, false, errMalformed
			}
			switch p[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if len(p)-j < 6 || !isHex(p[j+2]) || !isHex(p[j+3]) || !isHex(p[j+4]) || !isHex(p[j+5]) {
					return 0, false, errMalformed
				}
				j += 6
			default:
				return 0, false, errMalformed
			}
		case c < 0x20:
			return 0, false, errMalformed
		default:
			j++
		}
	}
	return 0, false, errMalformed
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func scanNumber(p []byte, i int) (int, *Error) {
	if p[i] == '-' {
		i++
	}
	switch {
	case i >= len(p):
		return 0, errMalformed
	case p[i] == '0':
		i++
	case p[i] >= '1' && p[i] <= '9':
		i = digits(p, i)
	default:
		return 0, errMalformed
	}
	if i < len(p) && p[i] == '.' {
		j := digits(p, i+1)
		if j == i+1 {
			return 0, errMalformed
		}
		i = j
	}
	if i < len(p) && (p[i] == 'e' || p[i] == 'E') {
		i++
		if i < len(p) && (p[i] == '+' || p[i] == '-') {
			i++
		}
		j := digits(p, i)
		if j == i {
			return 0, errMalformed
		}
		i = j
	}
	return i, nil
}

func digits(p []byte, i int) int {
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	return i
}

// unescape appends the decoded form of s, the validated content of a JSON string, to dst.
// Lone or mismatched surrogates become U+FFFD, as in encoding/json.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := rune(hex4(s[i+2:]))
			i += 6
			if r >= 0xD800 && r < 0xDC00 && len(s)-i >= 6 && s[i] == '\\' && s[i+1] == 'u' {
				if lo := rune(hex4(s[i+2:])); lo >= 0xDC00 && lo < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					i += 6
				}
			}
			if r >= 0xD800 && r < 0xE000 {
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
}

func hex4(s []byte) uint16 {
	var v uint16
	for _, c := range s[:4] {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uint16(c - '0')
		case c >= 'a' && c <= 'f':
			v |= uint16(c - 'a' + 10)
		default:
			v |= uint16(c - 'A' + 10)
		}
	}
	return v
}
