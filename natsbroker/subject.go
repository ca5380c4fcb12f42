package natsbroker

import (
	"errors"
	"strings"

	"github.com/wsedge/wsedge/routing"
)

// DefaultSubjectPrefix is the first token(s) of every subject the broker uses: channel
// "room:1" travels on "wsedge.ch.room:1", user "42" on "wsedge.user.42", commands on
// "wsedge.cmd".
const DefaultSubjectPrefix = "wsedge"

// subjects maps targets (channels, users) to NATS subjects and back. Every target is exactly
// one subject token after its kind's prefix: bytes that NATS gives a meaning to ('.', '*',
// '>', whitespace), '%' itself and anything outside printable ASCII are written %XX
// (upper-case hex). Channel "a.b" therefore travels as "wsedge.ch.a%2Eb": it cannot split
// into two tokens, cannot be confused with a wildcard, and the mapping is reversible, so no
// two targets share a subject. Channel names valid under routing.ValidChannel only ever
// escape '.'.
type subjects struct {
	channel string // "<prefix>.ch."
	user    string // "<prefix>.user."
	cmd     string // "<prefix>.cmd"
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
	return subjects{channel: prefix + ".ch.", user: prefix + ".user.", cmd: prefix + ".cmd"}, nil
}

// escaped reports whether c is written %XX inside a subject token.
func escaped(c byte) bool {
	return c <= ' ' || c >= 0x7f || c == '.' || c == '*' || c == '>' || c == '%'
}

const hexDigits = "0123456789ABCDEF"

func (s subjects) prefix(kind routing.Kind) string {
	if kind == routing.KindUser {
		return s.user
	}
	return s.channel
}

// append appends the subject of target (a channel, or a user for routing.KindUser) to dst.
func (s subjects) append(dst []byte, kind routing.Kind, target string) []byte {
	dst = append(dst, s.prefix(kind)...)
	for i := 0; i < len(target); i++ {
		c := target[i]
		if escaped(c) {
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&0xf])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// subject returns the subject of target (allocates; not for the hot path).
func (s subjects) subject(kind routing.Kind, target string) string {
	return string(s.append(make([]byte, 0, len(s.prefix(kind))+len(target)+8), kind, target))
}

// kind returns the kind of target subject names, by its prefix alone.
func (s subjects) kind(subject string) (routing.Kind, bool) {
	switch {
	case strings.HasPrefix(subject, s.channel):
		return routing.KindChannel, true
	case strings.HasPrefix(subject, s.user):
		return routing.KindUser, true
	}
	return 0, false
}

// target returns the kind and target of subject, and false when subject is not one this
// mapping produces (foreign prefix, more than one token, a bad or needless escape). A target
// without escapes is a substring of subject: no allocation.
func (s subjects) target(subject string) (routing.Kind, string, bool) {
	var kind routing.Kind
	var tok string
	switch {
	case strings.HasPrefix(subject, s.channel):
		kind, tok = routing.KindChannel, subject[len(s.channel):]
	case strings.HasPrefix(subject, s.user):
		kind, tok = routing.KindUser, subject[len(s.user):]
	default:
		return 0, "", false
	}
	t, ok := unescapeToken(tok)
	return kind, t, ok
}

func unescapeToken(tok string) (string, bool) {
	if tok == "" {
		return "", false
	}
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
		if !escaped(c) { // only one spelling per target
			return "", false
		}
		b = append(b, c)
		i += 2
	}
	return string(b), true
}

// is reports whether subject is the subject of target, without building it.
func (s subjects) is(subject string, kind routing.Kind, target string) bool {
	p := s.prefix(kind)
	if len(target) == 0 || !strings.HasPrefix(subject, p) {
		return false
	}
	tok, j := subject[len(p):], 0
	for i := 0; i < len(target); i++ {
		c := target[i]
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
