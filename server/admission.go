package server

import (
	"github.com/wsedge/wsedge/limits"
	"github.com/wsedge/wsedge/poller"
)

// Admission: a connection is admitted when it is accepted, before a byte is
// read (limits.Admission: the per-IP rate and cap, the global cap, the
// loopback exemption), except behind a trusted proxy, where the client is
// known only from X-Forwarded-For and is admitted with the upgrade request
// (upgrader.check). The Ticket it gets is given back in OnClose.

// OnOpen admits a new connection: draining, then (for peers not behind a
// trusted proxy) the per-IP rate and caps, before anything is read.
func (s *Server) OnOpen(c *poller.Conn) {
	now := c.Now()
	w := poller.State[wsConn](c) // zero: this connection's, allocated with it
	w.setAccepted(now)
	s.m.ConnectionsTotal.Inc()
	s.accepted.Add(1)
	s.m.SocketsOpen.Inc()
	if s.draining.Load() {
		w.refuse(refDraining, 0)
		return
	}
	// Behind a trusted proxy the client is admitted once X-Forwarded-For
	// is read (upgrader.check); everyone else before a byte is read.
	if peer := c.RemoteAddr().Addr(); !s.trusted.Contains(peer) {
		t, r, retry := s.adm.Admit(peer, false)
		if r != limits.ReasonNone {
			w.refuse(limitRefusal(r), retrySeconds(retry))
			return
		}
		w.ticket = t
	}
	if d := s.opts.HandshakeTimeout; d > 0 {
		c.SetTimer(now + int64(d))
	}
	if s.tlsConf != nil {
		w.startTLS()
	}
}
