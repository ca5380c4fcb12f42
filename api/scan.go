package api

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A small RFC 8259 scanner for request bodies: it checks well-formedness
// and finds value boundaries; values are never built as Go trees. Errors are
// short texts for the 400 answer ("" = none).

// maxDepth bounds nesting in data, as the JSON protocol does for a client's
// publish (a deeper value would not reach clients through it either).
const maxDepth = 512

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

func at(i int) string { return " at byte " + strconv.Itoa(i) }

// skipValue returns the end of the JSON value starting at p[i]. depth is
// the nesting of the containers around it.
func skipValue(p []byte, i, depth int) (int, string) {
	if i >= len(p) {
		return i, "unexpected end of the body"
	}
	switch c := p[i]; {
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return i, "JSON nested deeper than " + strconv.Itoa(maxDepth) + " levels"
		}
		return skipContainer(p, i, depth+1)
	case c == '"':
		end, _, err := scanString(p, i)
		return end, err
	case c == 't':
		return literal(p, i, "true")
	case c == 'f':
		return literal(p, i, "false")
	case c == 'n':
		return literal(p, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(p, i)
	}
	return i, "unexpected " + strconv.QuoteRune(rune(p[i])) + at(i)
}

func literal(p []byte, i int, lit string) (int, string) {
	if len(p)-i < len(lit) || string(p[i:i+len(lit)]) != lit {
		return i, "invalid literal" + at(i)
	}
	return i + len(lit), ""
}

// skipContainer skips an object or an array starting at p[i].
func skipContainer(p []byte, i, depth int) (int, string) {
	obj := p[i] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	i = skipSpace(p, i+1)
	if i < len(p) && p[i] == closer {
		return i + 1, ""
	}
	for {
		var err string
		if obj {
			if i >= len(p) || p[i] != '"' {
				return i, "expected a string key" + at(i)
			}
			if i, _, err = scanString(p, i); err != "" {
				return i, err
			}
			i = skipSpace(p, i)
			if i >= len(p) || p[i] != ':' {
				return i, "expected ':'" + at(i)
			}
			i = skipSpace(p, i+1)
		}
		if i, err = skipValue(p, i, depth); err != "" {
			return i, err
		}
		i = skipSpace(p, i)
		switch {
		case i >= len(p):
			return i, "unexpected end of the body"
		case p[i] == ',':
			i = skipSpace(p, i+1)
		case p[i] == closer:
			return i + 1, ""
		default:
			return i, "expected ',' or '" + string(closer) + "'" + at(i)
		}
	}
}

// scanString returns the end (past the closing quote) of the string at
// p[i] and whether it has escapes. Control characters must be escaped.
func scanString(p []byte, i int) (end int, esc bool, err string) {
	for j := i + 1; j < len(p); j++ {
		switch c := p[j]; {
		case c == '"':
			return j + 1, esc, ""
		case c == '\\':
			esc = true
			j++
			if j >= len(p) {
				break
			}
			switch p[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(p)-j < 5 || !isHex(p[j+1]) || !isHex(p[j+2]) || !isHex(p[j+3]) || !isHex(p[j+4]) {
					return j, esc, "invalid \\u escape" + at(j)
				}
				j += 4
			default:
				return j, esc, "invalid escape" + at(j)
			}
		case c < 0x20:
			return j, esc, "control character in a string" + at(j)
		}
	}
	return len(p), esc, "unterminated string"
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// scanNumber returns the end of the number at p[i]: -?int(.frac)?(e[+-]?exp)?
func scanNumber(p []byte, i int) (int, string) {
	start := i
	if p[i] == '-' {
		i++
	}
	switch {
	case i < len(p) && p[i] == '0':
		i++
		if i < len(p) && p[i] >= '0' && p[i] <= '9' {
			return i, "invalid number (leading zero)" + at(start)
		}
	case i < len(p) && p[i] >= '1' && p[i] <= '9':
		i = digits(p, i)
	default:
		return i, "invalid number" + at(start)
	}
	if i < len(p) && p[i] == '.' {
		if j := digits(p, i+1); j > i+1 {
			i = j
		} else {
			return i, "invalid number" + at(start)
		}
	}
	if i < len(p) && (p[i] == 'e' || p[i] == 'E') {
		i++
		if i < len(p) && (p[i] == '+' || p[i] == '-') {
			i++
		}
		if j := digits(p, i); j > i {
			i = j
		} else {
			return i, "invalid number" + at(start)
		}
	}
	return i, ""
}

func digits(p []byte, i int) int {
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	return i
}

// unescape appends the value of the well-formed string body s (quotes
// removed) to dst. A lone surrogate becomes U+FFFD, as in encoding/json.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch s[i] {
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
			r := rune(hex4(s[i+1:]))
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(utf8.RuneError)
				if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					r2 = utf16.DecodeRune(r, rune(hex4(s[i+3:])))
				}
				if r2 != utf8.RuneError {
					i += 6
				}
				r = r2
			}
			dst = utf8.AppendRune(dst, r)
		default: // " \ /
			dst = append(dst, s[i])
		}
	}
	return dst
}

func hex4(s []byte) uint16 {
	var n uint16
	for _, c := range s[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		n = n<<4 | uint16(c)
	}
	return n
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// U+2028 and U+2029 are escaped so the answer is also safe inside JavaScript.
func appendString(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexd[r&0xf])
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}
