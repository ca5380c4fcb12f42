package natsbroker

import (
	"errors"
	"strings"
)

// DefaultSubjectPrefix is the subject prefix of channel messages: channel "room:1" travels on
// subject "wsedge.ch.room:1".
const DefaultSubjectPrefix = "wsedge.ch"

// subjects maps channel names to NATS subjects and back. Every channel is exactly one subject
// token after the prefix: bytes that NATS gives a meaning to ('.', '*', '>', whitespace), '%'
// itself and anything outside printable ASCII are written %XX (upper-case hex). Channel "a.b"
// therefore travels as "wsedge.ch.a%2Eb": it cannot split into two tokens, cannot be confused
// with a wildcard, and the mapping is reversible, so no two channels share a subject. Names
// valid under routing.ValidChannel only ever escape '.'.
type subjects struct {
	prefix string // with its trailing '.'
}

var errBadPrefix = errors.New("natsbroker: subject prefix must be non-empty dot-separated tokens without wildcards, whitespace or '%'")

func newSubjects(prefix string) (subjects, error) {
	if prefix == "" {
		return subjects{}, errBadPrefix
	}
	for tok := range strings.SplitSeq(prefix, ".") {
		if tok == "" {
			return subjects{}, errBadPrefix
		}
		for i := 0; i < len(tok); i++ {
			if escaped(tok[i]) {
				return subjects{}, errBadPrefix
			}
		}
	}
	return subjects{prefix: prefix + "."}, nil
}

// escaped reports whether c is written %XX inside a subject token.
func escaped(c byte) bool {
	return c <= ' ' || c >= 0x7f || c == '.' || c == '*' || c == '>' || c == '%'
}

const hexDigits = "0123456789ABCDEF"

// append appends the subject of channel to dst.
func (s subjects) append(dst []byte, channel string) []byte {
	dst = append(dst, s.prefix...)
	for i := 0; i < len(channel); i++ {
		c := channel[i]
		if escaped(c) {
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&0xf])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// subject returns the subject of channel (allocates; not for the hot path).
func (s subjects) subject(channel string) string {
	return string(s.append(make([]byte, 0, len(s.prefix)+len(channel)+8), channel))
}

// wildcard is the subject that matches every channel.
func (s subjects) wildcard() string { return s.prefix + ">" }

// channel returns the channel of subject, and false when subject is not one this mapping
// produces (foreign prefix, more than one token, a bad or needless escape). A channel without
// escapes is a substring of subject: no allocation.
func (s subjects) channel(subject string) (string, bool) {
	if !strings.HasPrefix(subject, s.prefix) || len(subject) == len(s.prefix) {
		return "", false
	}
	tok := subject[len(s.prefix):]
	pct := strings.IndexByte(tok, '%')
	if pct < 0 {
		for i := 0; i < len(tok); i++ {
			if escaped(tok[i]) {
				return "", false
			}
		}
		return tok, true
	}
	b := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != '%' {
			if escaped(c) {
				return "", false
			}
			b = append(b, c)
			continue
		}
		if i+2 >= len(tok) {
			return "", false
		}
		hi, lo := unhex(tok[i+1]), unhex(tok[i+2])
		if hi < 0 || lo < 0 {
			return "", false
		}
		c = byte(hi<<4 | lo)
		if !escaped(c) { // only one spelling per channel
			return "", false
		}
		b = append(b, c)
		i += 2
	}
	return string(b), true
}

// is reports whether subject is the subject of channel, without building it.
func (s subjects) is(subject string, channel []byte) bool {
	if len(channel) == 0 || !strings.HasPrefix(subject, s.prefix) {
		return false
	}
	tok, j := subject[len(s.prefix):], 0
	for _, c := range channel {
		if escaped(c) {
			if j+3 > len(tok) || tok[j] != '%' || tok[j+1] != hexDigits[c>>4] || tok[j+2] != hexDigits[c&0xf] {
				return false
			}
			j += 3
			continue
		}
		if j >= len(tok) || tok[j] != c {
			return false
		}
		j++
	}
	return j == len(tok)
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
