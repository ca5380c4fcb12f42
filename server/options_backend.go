package server

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wsedge/wsedge/natsbroker"
)

// BackendOptions are the options of the backend integration (docs/api.md): RPC bounds,
// presence and join/leave. They are embedded in Options.
type BackendOptions struct {
	// RPCPerConn bounds the rpc and presence calls one connection has in flight (their
	// replies are deferred); past it the next one is answered OVERLOADED. 0 = no bound.
	RPCPerConn int
	// RPCInflight bounds those calls on the whole node; past it OVERLOADED. 0 = no bound.
	RPCInflight int
	// PresenceMax bounds the clients one presence answer lists (from all nodes together);
	// a channel with more is TOO_LARGE for the API, OVERLOADED for a client (presence_stats
	// counts any number). 0 = no bound.
	PresenceMax int
	// JoinLeaveQueue bounds the join and leave events waiting to be sent; past it new ones
	// are dropped and counted. 0 = DefaultJoinLeaveQueue.
	JoinLeaveQueue int
}

// DefaultJoinLeaveQueue is the join/leave event queue's length when none is set.
const DefaultJoinLeaveQueue = 4096

// backendDefaults are the documented defaults (cmd/wsedge/FLAGS.md).
func backendDefaults() BackendOptions {
	return BackendOptions{RPCPerConn: 16, RPCInflight: 1024, PresenceMax: 10000, JoinLeaveQueue: DefaultJoinLeaveQueue}
}

// rpcNATSScheme starts a -proxy-rpc-url that names a NATS subject instead of an HTTP URL.
const rpcNATSScheme = "nats:"

// rpcSubject is the NATS subject of -proxy-rpc-url nats:SUBJECT, or "".
func (o *Options) rpcSubject() string {
	subj, _ := strings.CutPrefix(o.ProxyRPCURL, rpcNATSScheme)
	if subj == o.ProxyRPCURL {
		return ""
	}
	return subj
}

// ValidateBackend reports the first inconsistent backend option.
func (o *Options) ValidateBackend() error {
	for _, c := range []struct {
		name string
		v    int
	}{{"-rpc-per-conn", o.RPCPerConn}, {"-rpc-inflight", o.RPCInflight}, {"-presence-max", o.PresenceMax}, {"-join-leave-queue", o.JoinLeaveQueue}} {
		if c.v < 0 {
			return fmt.Errorf("%s: must not be negative", c.name)
		}
	}
	if strings.HasPrefix(o.ProxyRPCURL, rpcNATSScheme) {
		switch subj := o.rpcSubject(); {
		case !natsbroker.ValidRequestSubject(subj):
			return fmt.Errorf("-proxy-rpc-url: %q is not a NATS subject (nats:app.rpc: tokens without wildcards or spaces)", subj)
		case o.Broker == "":
			return errors.New("-proxy-rpc-url: nats: needs -broker (RPC travels on the node's NATS connection)")
		}
	}
	return nil
}
