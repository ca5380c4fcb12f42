package server

import (
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Readiness and the lame duck: what a load balancer asks of a node.
//
//   - Health (the main port's /health): 200 while serving; 503 in the lame
//     duck and while draining (the contract's 503 "draining", and a lame
//     duck an LB probing the main port can see too).
//   - Ready (admin /ready): Health's answer, and 503 while a configured
//     broker is down when -ready-broker is on.
//   - Live (admin /health): liveness. 200 as long as the process serves
//     its admin listener, lame duck and drain included: a probe that
//     restarts a node that is only draining would cut the drain short.

// nodeState is the node's serving state, read by every probe.
type nodeState struct {
	lameduck   atomic.Bool
	lameduckAt atomic.Int64 // unix nanoseconds the lame duck began (0: not in it)
	// spreading: the drain's closes have begun; connections not closed yet
	// are served again (before it, while the worker queue runs dry, new
	// messages are dropped).
	spreading atomic.Bool
}

// LameDuck puts the node in lame duck: /ready and the main port's /health
// answer 503 from now on, while the node keeps serving everything,
// new upgrades included, until Shutdown drains it. Safe from any goroutine;
// calling it again changes nothing.
func (s *Server) LameDuck() {
	if s.state.lameduck.CompareAndSwap(false, true) {
		s.state.lameduckAt.Store(time.Now().UnixNano())
		s.log.Info("lame duck: /ready answers 503, still serving", zap.Int("connections", s.Connections()))
	}
}

// InLameDuck reports whether LameDuck was called.
func (s *Server) InLameDuck() bool { return s.state.lameduck.Load() }

// serving is the status word and HTTP status of /health: "ok" (200),
// "lameduck" or "draining" (503).
func (s *Server) serving() (string, int) {
	switch {
	case s.draining.Load():
		return "draining", 503
	case s.state.lameduck.Load():
		return "lameduck", 503
	}
	return "ok", 200
}

// readiness is Ready's status word and HTTP status.
func (s *Server) readiness() (string, int) {
	if s.poll == nil {
		return "starting", 503
	}
	if st, code := s.serving(); code != 200 {
		return st, code
	}
	if s.opts.ReadyBroker && s.nats != nil && !s.nats.Connected() {
		return "broker_disconnected", 503
	}
	return "ok", 200
}

// isReady is readiness as a bool, for wsedge_ready.
func (s *Server) isReady() bool { _, code := s.readiness(); return code == 200 }

// Ready answers the admin /ready: 200 {"status":"ok",...} while the node
// wants new clients; 503 with "starting", "lameduck", "draining" or
// "broker_disconnected" (with -ready-broker and -broker) when not.
func (s *Server) Ready() (status int, body []byte) {
	st, status := s.readiness()
	body = append(body, `{"status":"`...)
	body = append(body, st...)
	body = append(body, `","connections":`...)
	body = strconv.AppendInt(body, s.open.Load(), 10)
	return status, append(body, "}\n"...)
}

// Live answers the admin /health (liveness): Health's body, always with
// 200 while the process answers, whatever the node's serving state.
func (s *Server) Live() (status int, body []byte) {
	_, body = s.Health()
	return 200, body
}
