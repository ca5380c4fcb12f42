package server

import (
	"net/http"
	"net/netip"
	"time"
)

// The HTTP side of a connection before it is a WebSocket: the upgrade
// request, and the refusals answered instead.

// handshake consumes the upgrade request once it is complete.
func (w *wsConn) handshake(buf []byte) int {
	s := w.srv()
	end := headEnd(buf)
	if end < 0 {
		switch {
		case len(buf) > s.opts.MaxHeaderBytes:
			w.refuse(refBadRequest, 0)
		case !looksLikeHTTP(buf):
			w.refuse(refBadRequest, 0)
		}
		return len(buf) * boolInt(w.state == stDone)
	}
	if end > s.opts.MaxHeaderBytes { // the whole head came in one read
		w.refuse(refBadRequest, 0)
		return len(buf)
	}
	h, ok := parseHead(buf[:end])
	switch {
	case !ok:
		w.refuse(refBadRequest, 0)
		return len(buf)
	case string(h.path) == "/health" && string(h.method) == "GET":
		status, body := s.Health()
		w.answer(appendHTTPResponse(nil, status, "application/json", body))
		return len(buf)
	case !h.upgrade && s.site[string(h.path)] != nil:
		if w.static(s.site[string(h.path)], h.method, buf[:end]) {
			return end // kept alive: onPlain reads the next request
		}
		return len(buf)
	case string(h.path) == s.opts.Path:
		w.ep = epWS
	case s.opts.EchoPath != "" && string(h.path) == s.opts.EchoPath:
		w.ep = epEcho
	default:
		w.refuse(refNotFound, 0)
		return len(buf)
	}
	if !h.upgrade && string(h.method) == "GET" {
		w.refuse(refNotWebSocket, 0)
		return len(buf)
	}
	up := s.ups[w.conn().LoopID()]
	resp, reason, client, ticket := up.upgrade(buf[:end], w.conn().RemoteAddr().Addr(), s.opts.TLSCert != "")
	if ticket.Held() { // a client behind a trusted proxy, admitted now
		w.ticket = ticket
	}
	if reason != refNone {
		s.refused(reason, w.conn().RemoteAddr().String())
		w.answer(resp)
		return len(buf)
	}
	// The frame decoder with the compression agreed, now: the per-loop
	// upgrader's scratch is another connection's by the time an identity
	// check held off the loop ends.
	w.dec.Reset(&s.codec)
	w.setDeflate(&s.codec, up.deflate)
	if s.id.on || len(s.id.keep) > 0 {
		// Identity (upgrade_auth.go): at once, or held while it is checked.
		w.authenticate(buf[:end], resp, client)
		return end
	}
	w.opened(resp, client, nil, nil, 0)
	return end
}

// opened completes an accepted upgrade: the 101 answer, then the WebSocket
// connection with its session (on /ws), the headers it keeps and its
// identity (nil: anonymous); flags are identity's. It reports false when the
// answer could not be queued (the connection is gone).
func (w *wsConn) opened(resp []byte, client netip.Addr, id *Identity, kept http.Header, flags uint8) bool {
	s := w.srv()
	if err := w.out().Write(resp); err != nil {
		w.state = stDone
		return false
	}
	w.state = stOpen
	w.up |= 1
	w.flags |= flags
	s.open.Add(1)
	s.m.ConnectionsActive.Inc()
	now := w.conn().Now()
	s.m.Handshake.Observe(time.Duration(now - w.accepted()).Seconds())
	w.since, w.pingAt = 0, 0
	if w.ep == epWS {
		if client != w.conn().RemoteAddr().Addr() {
			w.conn().AttributeTo(client) // before the session makes it visible to workers
		}
		w.sess = s.router.Open(w)
		if kept != nil {
			w.sess.Set(keptHeadersKey, kept)
		}
		if id != nil {
			_ = s.id.setIdentity(w.sess, id)
		}
	}
	w.rearm(now)
	return true
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// refuse answers with the refusal's plain HTTP response and ends the
// connection. Before a TLS handshake there is no way to answer in HTTP, and
// doing a handshake just to refuse would spend CPU exactly under a flood, so
// such connections are closed without an answer.
func (w *wsConn) refuse(r refusal, retryAfter int) {
	w.srv().refused(r, w.conn().RemoteAddr().String())
	if w.srv().tlsConf != nil && (w.tls() == nil || !w.tls().Ready()) {
		w.state = stDone
		w.conn().SetTimer(0)
		w.conn().Close(nil)
		return
	}
	w.answer(appendRefusal(nil, r, retryAfter))
}

// answer sends a final HTTP response and half-closes after it.
func (w *wsConn) answer(resp []byte) {
	w.state = stDone
	_ = w.out().WriteFinal(resp)
	w.conn().SetTimer(0)
	w.conn().CloseAfterFlush(true) // the client may still be sending its request
}
