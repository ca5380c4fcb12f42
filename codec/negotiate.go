package codec

import (
	"errors"
	"strconv"
)

// Sec-WebSocket-Extensions (RFC 6455 section 9.1, RFC 7692 section 7):
//
//	extension-list = 1#extension
//	extension      = token *( ";" param )
//	param          = token [ "=" ( token / quoted-string ) ]
//
// The scanner below walks a header value in place (no allocation; it runs
// on the event loop at every handshake). An element that breaks the grammar
// is skipped up to the next comma outside a quoted string; an unterminated
// quoted string ends the value.

const extensionName = "permessage-deflate"

// Parameter names (RFC 7692 section 7.1).
const (
	pServerNoContext = "server_no_context_takeover"
	pClientNoContext = "client_no_context_takeover"
	pServerMaxWindow = "server_max_window_bits"
	pClientMaxWindow = "client_max_window_bits"
)

// offer is one parsed permessage-deflate element: which parameters it
// carried (a bit each) and the window values. clientBits is 0 when
// client_max_window_bits came without a value.
type offer struct {
	seen                   uint8
	serverBits, clientBits uint8
}

const (
	seenServerNoContext = 1 << iota
	seenClientNoContext
	seenServerMaxWindow
	seenClientMaxWindow
)

// Negotiate reads one Sec-WebSocket-Extensions header value of a client's
// upgrade request. Call it for each such header line in order, with the same
// p (zero at the start of the handshake): the first acceptable
// permessage-deflate offer wins and later values are then ignored. It
// reports whether *p is now negotiated. Offers that are malformed or that
// wsedge cannot honour are skipped, never an error: the handshake goes on
// without the extension. ModeOff accepts nothing.
//
// What is answered, from AppendResponse, is exactly what was agreed:
//   - ModeNoContextTakeover: server_no_context_takeover and
//     client_no_context_takeover always (RFC 7692 lets the server send both
//     unasked), plus server_max_window_bits=N when the client offered it.
//   - ModeContextTakeover: only parameters the client offered.
//     server_no_context_takeover and server_max_window_bits=N are echoed
//     (N is honoured, see compress.go); client_no_context_takeover is echoed;
//     client_max_window_bits is answered, as min(offered, WindowBits), when
//     offered and below 15 (so never to a client that did not offer it).
func (c *Deflate) Negotiate(p *Params, header []byte) bool {
	if c.Mode == ModeOff || c.Mode > ModeContextTakeover {
		return false
	}
	if p.Enabled() {
		return true
	}
	s := scanner{b: header}
	for !s.done() {
		name, ok := s.token()
		if !ok || !equalFold(name, extensionName) {
			s.skipElement()
			continue
		}
		o, ok := s.deflateParams()
		if !ok {
			s.skipElement()
			continue
		}
		*p = c.agree(o)
		return true
	}
	return false
}

// agree turns a well-formed offer into the parameters of the answer.
// Every well-formed offer is acceptable: each parameter value a client may
// send can be honoured.
func (c *Deflate) agree(o offer) Params {
	p := Params{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}
	if o.seen&seenServerMaxWindow != 0 {
		p.ServerMaxWindowBits, p.statedServerBits = o.serverBits, true
	}
	if c.Mode == ModeNoContextTakeover {
		p.ServerNoContextTakeover, p.ClientNoContextTakeover = true, true
		return p
	}
	p.ServerNoContextTakeover = o.seen&seenServerNoContext != 0
	p.ClientNoContextTakeover = o.seen&seenClientNoContext != 0
	if o.seen&seenClientMaxWindow != 0 && !p.ClientNoContextTakeover {
		bits := c.windowBits()
		if o.clientBits != 0 && o.clientBits < bits {
			bits = o.clientBits
		}
		p.ClientMaxWindowBits = bits
	}
	return p
}

// AppendResponse appends the Sec-WebSocket-Extensions value that states p
// (nothing when p is not negotiated). Window bits at their default of 15
// are left out, except server_max_window_bits=15 answering an offer of it.
func (p Params) AppendResponse(dst []byte) []byte {
	if !p.Enabled() {
		return dst
	}
	dst = append(dst, extensionName...)
	if p.ServerNoContextTakeover {
		dst = append(dst, "; "+pServerNoContext...)
	}
	if p.ClientNoContextTakeover {
		dst = append(dst, "; "+pClientNoContext...)
	}
	if p.ServerMaxWindowBits < 15 || p.statedServerBits {
		dst = append(dst, "; "+pServerMaxWindow+"="...)
		dst = strconv.AppendUint(dst, uint64(p.ServerMaxWindowBits), 10)
	}
	if p.ClientMaxWindowBits < 15 {
		dst = append(dst, "; "+pClientMaxWindow+"="...)
		dst = strconv.AppendUint(dst, uint64(p.ClientMaxWindowBits), 10)
	}
	return dst
}

// AppendOffer appends the offer a client (the load generator, tests)
// makes for mode: both no_context_takeover parameters, or a bare
// client_max_window_bits (as browsers send).
func (c *Deflate) AppendOffer(dst []byte) []byte {
	switch c.Mode {
	case ModeNoContextTakeover:
		return append(dst, extensionName+"; "+pServerNoContext+"; "+pClientNoContext...)
	case ModeContextTakeover:
		return append(dst, extensionName+"; "+pClientMaxWindow...)
	}
	return dst
}

// ErrBadExtensionResponse is returned by ParseResponse for a server answer
// a client must fail the connection on (RFC 7692 section 7.1).
var ErrBadExtensionResponse = errors.New("codec: invalid permessage-deflate response")

// ParseResponse reads a server's Sec-WebSocket-Extensions answer, as a
// client: the agreed parameters, the zero Params when the value names no
// permessage-deflate, or ErrBadExtensionResponse.
func ParseResponse(header []byte) (Params, error) {
	s := scanner{b: header}
	var p Params
	for !s.done() {
		name, ok := s.token()
		if !ok {
			return Params{}, ErrBadExtensionResponse
		}
		if !equalFold(name, extensionName) {
			s.skipElement()
			continue
		}
		o, ok := s.deflateParams()
		if !ok || p.Enabled() || (o.seen&seenClientMaxWindow != 0 && o.clientBits == 0) {
			return Params{}, ErrBadExtensionResponse
		}
		p = Params{
			ServerNoContextTakeover: o.seen&seenServerNoContext != 0,
			ClientNoContextTakeover: o.seen&seenClientNoContext != 0,
			ServerMaxWindowBits:     15,
			ClientMaxWindowBits:     15,
		}
		if o.seen&seenServerMaxWindow != 0 {
			p.ServerMaxWindowBits, p.statedServerBits = o.serverBits, true
		}
		if o.seen&seenClientMaxWindow != 0 {
			p.ClientMaxWindowBits = o.clientBits
		}
	}
	return p, nil
}

// scanner walks a header value. Its methods leave pos outside quoted
// strings, so skipElement can always find the next element.
type scanner struct {
	b   []byte
	pos int
}

func (s *scanner) done() bool {
	s.ows()
	return s.pos >= len(s.b)
}

func (s *scanner) ows() {
	for s.pos < len(s.b) && (s.b[s.pos] == ' ' || s.b[s.pos] == '\t') {
		s.pos++
	}
}

// token reads a token after optional whitespace; an empty element (",,",
// which the list syntax allows) reads as a missing token.
func (s *scanner) token() ([]byte, bool) {
	s.ows()
	start := s.pos
	for s.pos < len(s.b) && isTokenChar(s.b[s.pos]) {
		s.pos++
	}
	return s.b[start:s.pos], s.pos > start
}

// skipElement moves past the next comma that is outside a quoted string,
// or to the end (also when a quoted string is not terminated).
func (s *scanner) skipElement() {
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ',':
			s.pos++
			return
		case '"':
			if _, ok := s.quoted(nil); !ok {
				return
			}
			continue
		}
		s.pos++
	}
}

// quoted moves over the quoted string at pos, unescaping the first
// len(val) bytes of it into val. It returns the unescaped length (which may
// exceed len(val)) and false when the string is not terminated (pos is then
// at the end).
func (s *scanner) quoted(val []byte) (int, bool) {
	n := 0
	for s.pos++; s.pos < len(s.b); s.pos++ {
		c := s.b[s.pos]
		switch {
		case c == '"':
			s.pos++
			return n, true
		case c == '\\':
			s.pos++
			if s.pos >= len(s.b) {
				return n, false
			}
			c = s.b[s.pos]
		}
		if n < len(val) {
			val[n] = c
		}
		n++
	}
	return n, false
}

// deflateParams reads the parameters after "permessage-deflate" through the
// end of the element (consuming its comma). It reports false, with pos
// outside any quoted string, for anything RFC 7692 says to decline: an
// unknown or repeated parameter, a value where none belongs, a window size
// missing where required or not a plain 8..15 without leading zero.
func (s *scanner) deflateParams() (offer, bool) {
	var o offer
	for {
		s.ows()
		if s.pos >= len(s.b) {
			return o, true
		}
		switch s.b[s.pos] {
		case ',':
			s.pos++
			return o, true
		case ';':
			s.pos++
		default:
			return o, false
		}
		name, ok := s.token()
		if !ok {
			return o, false
		}
		s.ows()
		var buf [3]byte
		val, hasVal := []byte(nil), false
		if s.pos < len(s.b) && s.b[s.pos] == '=' {
			s.pos++
			s.ows()
			if s.pos < len(s.b) && s.b[s.pos] == '"' {
				n, ok := s.quoted(buf[:])
				if !ok || n > len(buf) {
					return o, false
				}
				val = buf[:n]
			} else if val, ok = s.token(); !ok {
				return o, false
			}
			hasVal = true
		}
		var bit uint8
		switch {
		case equalFold(name, pServerNoContext):
			bit = seenServerNoContext
		case equalFold(name, pClientNoContext):
			bit = seenClientNoContext
		case equalFold(name, pServerMaxWindow):
			bit = seenServerMaxWindow
			if o.serverBits = windowValue(val); o.serverBits == 0 {
				return o, false
			}
		case equalFold(name, pClientMaxWindow):
			bit = seenClientMaxWindow
			if hasVal {
				if o.clientBits = windowValue(val); o.clientBits == 0 {
					return o, false
				}
			}
		default:
			return o, false
		}
		noValue := bit == seenServerNoContext || bit == seenClientNoContext
		if o.seen&bit != 0 || (noValue && hasVal) {
			return o, false
		}
		o.seen |= bit
	}
}

// windowValue parses a window size, 8..15 without leading zeros; 0 if it
// is anything else.
func windowValue(v []byte) uint8 {
	switch {
	case len(v) == 1 && (v[0] == '8' || v[0] == '9'):
		return v[0] - '0'
	case len(v) == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5':
		return 10 + v[1] - '0'
	}
	return 0
}

// isTokenChar reports whether c is an RFC 7230 tchar.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// equalFold compares b with the lower-case ASCII name s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
