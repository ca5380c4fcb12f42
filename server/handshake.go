package server

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strconv"
	"time"
	"unsafe"

	"github.com/gobwas/ws"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/limits"
)

// endpoint is what a request path leads to.
type endpoint uint8

const (
	epNone endpoint = iota
	epWS
	epEcho
	epKeptAlive // a static answer went out; waiting for the next request
)

// head is the request head as far as wsedge routes on it, parsed in place.
type head struct {
	method, path []byte
	upgrade      bool // an "Upgrade: websocket" header is present
}

// headEnd returns the length of the request head (through the blank line),
// or -1 while it is incomplete.
func headEnd(b []byte) int {
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return -1
}

// looksLikeHTTP reports whether b can still be the start of an HTTP
// request, so garbage is refused at once instead of at the handshake timeout.
func looksLikeHTTP(b []byte) bool {
	for i, c := range b {
		if i > 16 {
			return true
		}
		if c == ' ' {
			return i > 0
		}
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// parseHead reads the request line and looks for the Upgrade header; gobwas
// validates the rest of the handshake.
func parseHead(b []byte) (h head, ok bool) {
	line, rest, _ := bytes.Cut(b, []byte("\r\n"))
	m, r, ok1 := bytes.Cut(line, []byte(" "))
	target, proto, ok2 := bytes.Cut(r, []byte(" "))
	if !ok1 || !ok2 || len(m) == 0 || len(target) == 0 || !bytes.HasPrefix(proto, []byte("HTTP/1.")) {
		return h, false
	}
	h.method = m
	h.path, _, _ = bytes.Cut(target, []byte("?"))
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		k, v, found := bytes.Cut(l, []byte(":"))
		if !found {
			continue
		}
		if bytes.EqualFold(bytes.TrimSpace(k), []byte("upgrade")) && hasToken(v, "websocket") {
			h.upgrade = true
		}
	}
	return h, true
}

// hasToken reports whether the comma list v holds tok (case-insensitive).
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var t []byte
		t, v, _ = bytes.Cut(v, []byte(","))
		if bytes.EqualFold(bytes.TrimSpace(t), []byte(tok)) {
			return true
		}
	}
	return false
}

// refusal is an HTTP answer that ends a connection before the upgrade.
func appendRefusal(dst []byte, r refusal, retryAfter int) []byte {
	status := r.status()
	body := r.text()
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, statusText(status)...)
	dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"...)
	if retryAfter > 0 {
		dst = append(dst, "Retry-After: "...)
		dst = strconv.AppendInt(dst, int64(retryAfter), 10)
		dst = append(dst, "\r\n"...)
	}
	if r == refNotWebSocket || r == refVersion {
		dst = append(dst, "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"...)
	}
	if r == refMethod {
		dst = append(dst, "Allow: GET, HEAD\r\n"...)
	}
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)+1), 10)
	dst = append(dst, "\r\n\r\n"...)
	dst = append(dst, body...)
	return append(dst, '\n')
}

func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 304:
		return "Not Modified"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 426:
		return "Upgrade Required"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 503:
		return "Service Unavailable"
	}
	return "Error"
}

func appendHTTPResponse(dst []byte, status int, contentType string, body []byte) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, statusText(status)...)
	dst = append(dst, "\r\nContent-Type: "...)
	dst = append(dst, contentType...)
	dst = append(dst, "\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}

// upgrader runs gobwas/ws's upgrade over a request head already in memory.
// There is one per loop: the loop upgrades one connection at a time, so the
// callbacks' scratch state needs no lock and nothing is allocated for them
// per handshake.
type upgrader struct {
	s   *Server
	u   ws.Upgrader
	in  bytes.Reader
	out bytes.Buffer
	rw  struct {
		io.Reader
		io.Writer
	}

	// Per-handshake scratch, reset before each upgrade.
	host, origin []byte
	xff          []byte
	peer         netip.Addr
	reason       refusal // why OnBeforeUpgrade refused
	retryAfter   int
	client       netip.Addr    // the client: the peer, or from X-Forwarded-For
	date         []byte        // scratch of the static answers' Date line (static.go)
	ticket       limits.Ticket // a proxied client's admission, handed to the connection
	tls          bool
	deflate      codec.Params // permessage-deflate as agreed (compression.go)
	ext          extHeader    // its answer
}

// errRefused marks a refusal decided in our callbacks (reason in u.reason).
var errRefused = errors.New("refused")

func newUpgrader(s *Server) *upgrader {
	u := &upgrader{s: s}
	u.rw.Reader = &u.in
	u.rw.Writer = &u.out
	u.u = ws.Upgrader{
		ReadBufferSize: s.opts.MaxHeaderBytes,
		OnHost: func(h []byte) error {
			u.host = append(u.host[:0], h...)
			return nil
		},
		OnHeader: func(k, v []byte) error {
			switch {
			case bytes.EqualFold(k, []byte("Origin")):
				u.origin = append(u.origin[:0], v...)
			case bytes.EqualFold(k, []byte("X-Forwarded-For")):
				if len(u.xff) > 0 {
					u.xff = append(u.xff, ", "...)
				}
				u.xff = append(u.xff, v...)
			}
			return nil
		},
		OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
			if err := u.check(); err != nil {
				return nil, err
			}
			return u.deflateHeader(), nil
		},
	}
	if s.opts.Compression.Mode != codec.ModeOff {
		u.u.ExtensionCustom = u.negotiateDeflate
	}
	return u
}

// check runs the edge checks that need headers: the origin, and the per-IP
// limits of clients behind a trusted proxy.
func (u *upgrader) check() error {
	s := u.s
	if s.draining.Load() {
		return u.refuse(refDraining, 0)
	}
	// Views of the request's bytes, not copies: Allow keeps nothing (two
	// allocations per upgrade otherwise, garbage among the connection's
	// long-lived objects).
	if !s.origins.Allow(bytesView(u.origin), bytesView(u.host), u.tls) {
		return u.refuse(refOrigin, 0)
	}
	if s.trusted.Contains(u.peer) {
		ip := limits.ClientIP(u.peer, string(u.xff), s.trusted)
		t, r, retry := s.adm.Admit(ip, false)
		if r != limits.ReasonNone {
			return u.refuse(limitRefusal(r), retrySeconds(retry))
		}
		u.client, u.ticket = ip, t
	}
	return nil
}

// refuse records the refusal; upgrade writes its answer.
func (u *upgrader) refuse(r refusal, retryAfter int) error {
	u.reason, u.retryAfter = r, retryAfter
	return errRefused
}

// upgrade runs the handshake on a complete request head. It returns the
// response to send and, on refusal, the reason; the client's address; and
// for a client behind a trusted proxy, the ticket of its admission (which
// the connection holds from then on, refused or not: it is given back when
// the connection closes).
func (u *upgrader) upgrade(req []byte, peer netip.Addr, tls bool) (resp []byte, reason refusal, client netip.Addr, ticket limits.Ticket) {
	u.in.Reset(req)
	u.out.Reset()
	u.host, u.origin, u.xff = u.host[:0], u.origin[:0], u.xff[:0]
	u.peer, u.tls = peer, tls
	u.reason, u.client, u.ticket = refNone, peer, 0
	u.deflate = codec.Params{}
	_, err := u.u.Upgrade(&u.rw)
	client, ticket = u.client, u.ticket
	switch {
	case err == nil:
		return u.out.Bytes(), refNone, client, ticket
	case u.reason != refNone:
		// Refused by check: every refusal is answered in one format.
		return appendRefusal(u.out.Bytes()[:0], u.reason, u.retryAfter), u.reason, client, ticket
	case errors.Is(err, ws.ErrHandshakeUpgradeRequired):
		// Our own answer: 426 must name the protocol to upgrade to.
		return appendRefusal(u.out.Bytes()[:0], refVersion, 0), refVersion, client, ticket
	}
	return appendRefusal(u.out.Bytes()[:0], refBadRequest, 0), refBadRequest, client, ticket
}

// retrySeconds turns a token bucket's wait into a Retry-After value: whole
// seconds, at least 1; 0 means no header (refusals other than the rate).
func retrySeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return max(int((d+time.Second-1)/time.Second), 1)
}

// bytesView is b as a string without a copy, for a callee that keeps
// neither; b must not change while the string is in use.
func bytesView(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
