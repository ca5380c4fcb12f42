package server

import (
	"context"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/wsedge/wsedge/proxy"
	"github.com/wsedge/wsedge/routing"
)

// RPC: {"type":"rpc","id","method","data"} goes to the backend (-proxy-rpc-url: an HTTP POST,
// or NATS request-reply with nats:SUBJECT) with who is calling; its result comes back as
// {"type":"rpc","id","data"}, its error object as an error reply with the backend's own code.
// The worker does not wait for the backend: the reply is deferred (routing.Deferred), so the
// connection's later replies wait behind it and leave in the order the messages came, while
// the worker serves other connections. Bounds: RPCPerConn calls per connection, RPCInflight on
// the node, and the backend client's own (-proxy-concurrency in flight, -proxy-queue waiting,
// -proxy-timeout each).

// maxMethodLen bounds an rpc method name.
const maxMethodLen = 256

var (
	errNoMethod     = routing.NewError(routing.CodeInvalidMessage, "method is required for rpc")
	errLongMethod   = routing.NewError(routing.CodeInvalidMessage, "method is longer than 256 bytes")
	errNoRPC        = routing.NewError(routing.CodeUnavailable, "no RPC backend is configured on this node (-proxy-rpc-url)")
	errRPCDown      = routing.NewError(routing.CodeUnavailable, "rpc backend unavailable")
	errRPCOverload  = routing.NewError(routing.CodeOverloaded, "too many rpc calls waiting for the backend")
	errRPCBadAnswer = routing.NewError(routing.CodeUnavailable, "rpc backend answered something unusable")
)

// handleRPC is the "rpc" message type.
func (b *backend) handleRPC(c *routing.Context) error {
	method := c.Method()
	switch {
	case len(method) == 0:
		return errNoMethod
	case len(method) > maxMethodLen:
		return errLongMethod
	case b.s.id.proxy == nil || b.s.opts.ProxyRPCURL == "":
		return errNoRPC
	}
	sess := c.Session()
	if err := b.admitCall(sess); err != nil {
		b.m.rpcOverloaded.Inc()
		return err
	}
	req := &proxy.CallRequest{
		Client: sess.ClientID().String(), User: sess.User(), Info: sess.Info(),
		Method: string(method),
	}
	if d := c.Data(); d != nil {
		req.Data = append(json.RawMessage(nil), d...) // valid only during the handler
	}
	d := c.Defer()
	err := b.s.id.proxy.GoRPC(context.Background(), req, func(r proxy.RPCResult, err error) {
		b.inflight.Add(-1)
		b.answerRPC(d, r, err)
	})
	if err != nil {
		b.inflight.Add(-1)
		if errors.Is(err, proxy.ErrOverloaded) {
			b.m.rpcOverloaded.Inc()
			return errRPCOverload // answers d (the router does, for a handler that deferred)
		}
		b.m.rpcUnavailable.Inc()
		return errRPCDown
	}
	return nil
}

// answerRPC sends the backend's answer to the client.
func (b *backend) answerRPC(d *routing.Deferred, r proxy.RPCResult, err error) {
	switch {
	case errors.Is(err, proxy.ErrOverloaded):
		b.m.rpcOverloaded.Inc()
		_ = d.Error(errRPCOverload.Code, errRPCOverload.Message)
	case err != nil:
		b.m.rpcUnavailable.Inc()
		b.s.log.Debug("rpc failed", zap.Error(err))
		_ = d.Error(errRPCDown.Code, errRPCDown.Message)
	case r.Error != nil:
		b.m.rpcError.Inc()
		_ = d.Send(appendRPCError(nil, d.ID(), r.Error))
	case !utf8.Valid(r.Result):
		// A browser would close the connection on an invalid text frame (1007).
		b.m.rpcUnavailable.Inc()
		_ = d.Error(errRPCBadAnswer.Code, errRPCBadAnswer.Message)
	default:
		b.m.rpcOK.Inc()
		_ = d.Reply("rpc", r.Result)
	}
}

// appendRPCError appends the error reply of a backend's error object: its code (a JSON
// string or number, checked by the proxy) passes through unchanged.
func appendRPCError(dst, id []byte, e *proxy.RPCError) []byte {
	dst = append(dst, `{"type":"error"`...)
	if id != nil {
		dst = append(dst, `,"id":`...)
		dst = append(dst, id...)
	}
	dst = append(dst, `,"error":{"code":`...)
	dst = append(dst, e.Code...)
	msg, _ := json.Marshal(e.Message) // a string always encodes; invalid UTF-8 becomes U+FFFD
	dst = append(dst, `,"message":`...)
	dst = append(dst, msg...)
	return append(dst, "}}"...)
}

// natsRPC is the RPCRequest of -proxy-rpc-url nats:SUBJECT: request-reply on the broker's
// connection.
func (s *Server) natsRPC(subject string) func(context.Context, []byte) ([]byte, error) {
	return func(ctx context.Context, body []byte) ([]byte, error) {
		if s.nats == nil {
			return nil, errors.New("no broker")
		}
		return s.nats.Request(ctx, subject, body)
	}
}
