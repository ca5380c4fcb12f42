package server

import (
	"fmt"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/perm"
	"github.com/wsedge/wsedge/proxy"
	"github.com/wsedge/wsedge/routing"
)

// backend is the node's side of the application backend: the server API's operations (on
// this node and, through commands, on the others), RPC, presence and join/leave events
// (docs/api.md). It lives beside the connection machinery and reaches it only through the
// router, its hub and the broker.
type backend struct {
	s *Server // its identity state holds the namespaces and the backend client (identity.go)

	inflight atomic.Int64  // rpc and presence calls in flight (RPCInflight)
	cmdSlots chan struct{} // asynchronous command handlers running at once

	m       backendMetrics
	events  chan memberEvent // join/leave events waiting to be sent (JoinLeaveQueue)
	dropped atomic.Uint64    // join/leave events dropped because the queue was full
	stop    chan struct{}
	wg      sync.WaitGroup
}

// cmdWorkers bounds the asynchronous command handlers (subscribe_user waits for NATS to
// confirm a channel's first subscription): past it the command goroutine runs them itself,
// which holds later commands back instead of piling goroutines up.
const cmdWorkers = 16

// initBackend builds the backend side of s and registers its message types, its membership
// hook and its cluster commands. Called once by New, before anything is served.
func (s *Server) initBackend() error {
	b := &backend{s: s, cmdSlots: make(chan struct{}, cmdWorkers), stop: make(chan struct{})}
	q := s.opts.JoinLeaveQueue
	if q == 0 {
		q = DefaultJoinLeaveQueue
	}
	b.events = make(chan memberEvent, q)
	s.be = b
	b.registerMetrics(s.m.Registry)

	s.router.Handle("rpc", b.handleRPC)
	s.router.Handle("presence", b.handlePresence)
	s.router.Hub().OnMembership(b.membership)
	if s.nats != nil {
		b.registerCommands()
	}
	b.wg.Add(1)
	go b.sendEvents()
	return nil
}

// newProxy builds the backend HTTP client when a backend URL is configured; -proxy-rpc-url
// nats:SUBJECT makes RPC travel on the broker's NATS connection instead.
func (s *Server) newProxy() (*proxy.Client, error) {
	cfg, ok := s.opts.ProxyConfig()
	if !ok {
		return nil, nil
	}
	if subj := s.opts.rpcSubject(); subj != "" {
		cfg.RPCRequest = s.natsRPC(subj)
	}
	c, err := proxy.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("backend calls: %w", err)
	}
	return c, nil
}

// Backend is the client of the application backend's HTTP calls, nil when none is
// configured.
func (s *Server) Backend() *proxy.Client { return s.id.proxy }

// policy is the namespaces in use (swapped by ReloadAuth).
func (b *backend) policy() *perm.Policy { return b.s.id.policy.Load() }

// closeBackend stops the event sender (after sending what is queued) and the backend client.
func (s *Server) closeBackend() {
	b := s.be
	if b == nil {
		return
	}
	select {
	case <-b.stop:
		return
	default:
	}
	close(b.stop)
	b.wg.Wait()
	if n := b.dropped.Load(); n > 0 {
		s.log.Warn("join/leave events were dropped (queue full)", zap.Uint64("dropped", n))
	}
}

// admitCall takes an in-flight slot of the node and of the session for a deferred call (rpc,
// presence), or answers OVERLOADED.
func (b *backend) admitCall(sess *routing.Session) error {
	o := &b.s.opts
	if o.RPCPerConn > 0 && sess.Deferred() >= o.RPCPerConn {
		return errCallsPerConn
	}
	if n := b.inflight.Add(1); o.RPCInflight > 0 && n > int64(o.RPCInflight) {
		b.inflight.Add(-1)
		return errCallsNode
	}
	return nil
}

var (
	errCallsPerConn = routing.NewError(routing.CodeOverloaded, "too many calls in flight on this connection")
	errCallsNode    = routing.NewError(routing.CodeOverloaded, "too many calls in flight on this node")
)
