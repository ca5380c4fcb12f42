package server

import (
	"bytes"
	"net/netip"
	"net/url"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/routing"
)

// UpgradeRequest is what Options.Identify sees of a /ws upgrade request. It is valid only
// during the call.
type UpgradeRequest struct {
	head     []byte     // the request head, through the blank line
	RemoteIP netip.Addr // the client address (from X-Forwarded-For behind a trusted proxy)
}

// target is the request target of the request line.
func (r *UpgradeRequest) target() []byte {
	line, _, _ := bytes.Cut(r.head, []byte("\r\n"))
	_, rest, _ := bytes.Cut(line, []byte(" "))
	t, _, _ := bytes.Cut(rest, []byte(" "))
	return t
}

// Path is the request path, without the query.
func (r *UpgradeRequest) Path() string {
	p, _, _ := bytes.Cut(r.target(), []byte("?"))
	return string(p)
}

// Query is the first value of the query parameter name, "" when absent.
func (r *UpgradeRequest) Query(name string) string {
	_, q, _ := bytes.Cut(r.target(), []byte("?"))
	v, err := url.ParseQuery(string(q))
	if err != nil {
		return ""
	}
	return v.Get(name)
}

// Header is the value of the first header called name (case-insensitive), "" when absent.
func (r *UpgradeRequest) Header(name string) string {
	_, rest, _ := bytes.Cut(r.head, []byte("\r\n"))
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		k, v, ok := bytes.Cut(l, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte(name)) {
			return string(bytes.TrimSpace(v))
		}
	}
	return ""
}

// identify runs Options.Identify for a new /ws session (event loop). An info that is not one
// JSON value in UTF-8 is dropped with a log line: it would reach clients in presence.
func (s *Server) identify(sess *routing.Session, head []byte, ip netip.Addr) {
	if s.opts.Identify == nil {
		return
	}
	user, info := s.opts.Identify(&UpgradeRequest{head: head, RemoteIP: ip})
	if user == "" {
		return
	}
	if info != nil && (!utf8.Valid(info) || !routing.ValidJSON(info)) {
		s.log.Warn("Identify returned an info that is not one JSON value: dropped", zap.String("user", user))
		info = nil
	}
	if err := s.router.Hub().SetIdentity(sess, user, info); err != nil {
		s.log.Warn("Identify: the identity was not set", zap.String("user", user), zap.Error(err))
	}
}
