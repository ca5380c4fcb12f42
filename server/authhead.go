package server

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// What identity reads of an upgrade request head, in place, after gobwas
// accepted it: the request target (path and query) and a few headers.

// upgradeHead holds views into the head; valid while the head is.
type upgradeHead struct {
	target []byte // path and query
	bearer []byte // the token of "Authorization: Bearer <token>"
	authz  []byte // the whole Authorization header (for the connect proxy)
	cookie []byte
	ua     []byte
	origin []byte
}

// scanHead reads head (request line and headers, through the blank line).
// Headers named in keep (canonical names) are added to *kept, allocated on
// the first one.
func scanHead(head []byte, keep []string, kept *http.Header) upgradeHead {
	var h upgradeHead
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	if _, r, ok := bytes.Cut(line, []byte(" ")); ok {
		h.target, _, _ = bytes.Cut(r, []byte(" "))
	}
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		k, v = bytes.TrimSpace(k), bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Authorization")):
			h.authz = v
			if len(v) > 7 && bytes.EqualFold(v[:7], []byte("Bearer ")) {
				h.bearer = bytes.TrimSpace(v[7:])
			}
		case bytes.EqualFold(k, []byte("Cookie")):
			h.cookie = v
		case bytes.EqualFold(k, []byte("User-Agent")):
			h.ua = v
		case bytes.EqualFold(k, []byte("Origin")):
			h.origin = v
		}
		for _, name := range keep {
			if bytes.EqualFold(k, []byte(name)) {
				if *kept == nil {
					*kept = make(http.Header, len(keep))
				}
				kept.Add(name, string(v))
			}
		}
	}
	return h
}

// path is the target without its query.
func (h *upgradeHead) path() []byte {
	p, _, _ := bytes.Cut(h.target, []byte("?"))
	return p
}

// query is the raw query string ("" when none).
func (h *upgradeHead) query() []byte {
	_, q, _ := bytes.Cut(h.target, []byte("?"))
	return q
}

// appendToken appends the connection token given at the upgrade to b:
// Authorization: Bearer first, else the first token query parameter
// (percent-decoded); nothing when none.
func (h *upgradeHead) appendToken(b []byte) []byte {
	if len(h.bearer) > 0 {
		return append(b, h.bearer...)
	}
	q := h.query()
	for len(q) > 0 {
		var kv []byte
		kv, q, _ = bytes.Cut(q, []byte("&"))
		k, v, _ := bytes.Cut(kv, []byte("="))
		if string(k) != "token" || len(v) == 0 {
			continue
		}
		if bytes.IndexByte(v, '%') < 0 && bytes.IndexByte(v, '+') < 0 {
			return append(b, v...) // a JWT is base64url and dots: nothing to decode
		}
		s, err := url.QueryUnescape(string(v))
		if err != nil {
			return b
		}
		return append(b, s...)
	}
	return b
}

// token is appendToken's token as a string ("" when none).
func (h *upgradeHead) token() string { return string(h.appendToken(nil)) }

// parseHeaders reads every header of head into an http.Header (for an
// Authenticator; off the loop).
func parseHeaders(head []byte) http.Header {
	hdr := make(http.Header)
	_, rest, _ := bytes.Cut(head, []byte("\r\n"))
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(bytes.TrimSpace(k)) == 0 {
			continue
		}
		hdr.Add(textproto.CanonicalMIMEHeaderKey(string(bytes.TrimSpace(k))), string(bytes.TrimSpace(v)))
	}
	return hdr
}

// secretParams are the query parameters RedactURL hides.
var secretParams = []string{"token", "access_token", "jwt", "api_key", "apikey", "key", "secret", "password"}

// RedactURL returns s (a URL or a request target) with the password of its
// user info and the values of token-like query parameters (token,
// access_token, jwt, api_key, apikey, key, secret, password) replaced, for
// logs: tokens never reach a log line.
func RedactURL(s string) string {
	base, query, hasQuery := strings.Cut(s, "?")
	if u, err := url.Parse(base); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			base = u.Redacted()
		}
	}
	if !hasQuery {
		return base
	}
	frag := ""
	if i := strings.IndexByte(query, '#'); i >= 0 {
		query, frag = query[:i], query[i:]
	}
	parts := strings.Split(query, "&")
	for i, p := range parts {
		k, _, ok := strings.Cut(p, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		for _, sp := range secretParams {
			if ok && strings.EqualFold(name, sp) {
				parts[i] = k + "=REDACTED"
			}
		}
	}
	return base + "?" + strings.Join(parts, "&") + frag
}
