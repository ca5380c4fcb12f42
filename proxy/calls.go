package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// CallRequest describes the connection making a subscribe, publish or RPC.
type CallRequest struct {
	Client  string          `json:"client"` // the connection's id
	User    string          `json:"user"`
	Info    json.RawMessage `json:"info,omitempty"`
	Channel string          `json:"channel,omitempty"` // subscribe, publish
	Method  string          `json:"method,omitempty"`  // rpc
	Data    json.RawMessage `json:"data,omitempty"`    // publish, rpc
}

// RPCError is the backend's own error object; Code is passed through
// unchanged (a JSON string or number).
type RPCError struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
}

// RPCResult is the backend's 200 answer to an RPC: exactly one of Result
// and Error is set.
type RPCResult struct {
	Result json.RawMessage
	Error  *RPCError
}

// answer is the shape of every 200 answer to a call.
type answer struct {
	Result json.RawMessage `json:"result"`
	Error  *RPCError       `json:"error"`
}

// decodeAnswer reads {"result":X} or {"error":{"code","message"}}.
func decodeAnswer(body []byte) (RPCResult, error) {
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return RPCResult{}, err
	}
	switch {
	case bytes.TrimLeft(body, " \t\r\n")[0] != '{':
		return RPCResult{}, errors.New("not a JSON object")
	case a.Error != nil:
		code := bytes.TrimSpace(a.Error.Code)
		if len(code) == 0 || (code[0] != '"' && code[0] != '-' && (code[0] < '0' || code[0] > '9')) {
			return RPCResult{}, errors.New("error.code is not a string or a number")
		}
		if a.Error.Message == "" {
			return RPCResult{}, errors.New("error.message is missing")
		}
		return RPCResult{Error: a.Error}, nil
	case a.Result == nil:
		return RPCResult{}, errors.New("neither result nor error")
	}
	return RPCResult{Result: a.Result}, nil
}

// RPC sends a client's call to the backend. A backend error object comes
// back in RPCResult.Error with a nil error; a timeout, dead backend, bad
// status or garbage is ErrUnavailable; a full queue ErrOverloaded.
func (c *Client) RPC(ctx context.Context, req *CallRequest) (RPCResult, error) {
	if !c.rpcConfigured() {
		return RPCResult{}, ErrNotConfigured
	}
	if !c.admit() {
		return RPCResult{}, ErrOverloaded
	}
	return c.rpc(ctx, req)
}

// GoRPC is RPC with the outcome delivered to done on another goroutine;
// see GoConnect.
func (c *Client) GoRPC(ctx context.Context, req *CallRequest, done func(RPCResult, error)) error {
	if !c.rpcConfigured() {
		return ErrNotConfigured
	}
	return goCall(c, ctx, func(ctx context.Context) (RPCResult, error) { return c.rpc(ctx, req) }, done)
}

func (c *Client) rpcConfigured() bool { return c.cfg.RPCURL != "" || c.cfg.RPCRequest != nil }

func (c *Client) rpc(ctx context.Context, req *CallRequest) (RPCResult, error) {
	var (
		status int
		body   []byte
		err    error
	)
	if c.cfg.RPCRequest != nil {
		status, body, err = c.exchange(ctx, req, c.request)
	} else {
		status, body, err = c.call(ctx, c.cfg.RPCURL, req)
	}
	if err != nil {
		return RPCResult{}, err
	}
	if status != http.StatusOK {
		return RPCResult{}, c.fail(fmt.Sprintf("rpc answered %d", status), nil)
	}
	r, err := decodeAnswer(body)
	if err != nil {
		return RPCResult{}, c.fail("rpc answer", err)
	}
	return r, nil
}

// Subscribe asks the backend whether the connection may subscribe to
// req.Channel: nil allows, *DeniedError refuses (PERMISSION_DENIED),
// ErrUnavailable / ErrOverloaded when it cannot tell.
func (c *Client) Subscribe(ctx context.Context, req *CallRequest) error {
	return c.permission(ctx, c.cfg.SubscribeURL, req)
}

// Publish asks the backend whether the connection may publish req.Data on
// req.Channel; answers as Subscribe.
func (c *Client) Publish(ctx context.Context, req *CallRequest) error {
	return c.permission(ctx, c.cfg.PublishURL, req)
}

// GoSubscribe and GoPublish are the event-loop forms; see GoConnect.
func (c *Client) GoSubscribe(ctx context.Context, req *CallRequest, done func(error)) error {
	return c.goPermission(ctx, c.cfg.SubscribeURL, req, done)
}

func (c *Client) GoPublish(ctx context.Context, req *CallRequest, done func(error)) error {
	return c.goPermission(ctx, c.cfg.PublishURL, req, done)
}

func (c *Client) permission(ctx context.Context, target string, req *CallRequest) error {
	if target == "" {
		return ErrNotConfigured
	}
	if !c.admit() {
		return ErrOverloaded
	}
	return c.ask(ctx, target, req)
}

func (c *Client) goPermission(ctx context.Context, target string, req *CallRequest, done func(error)) error {
	if target == "" {
		return ErrNotConfigured
	}
	return goCall(c, ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, c.ask(ctx, target, req) },
		func(_ struct{}, err error) { done(err) })
}

func (c *Client) ask(ctx context.Context, target string, req *CallRequest) error {
	status, body, err := c.call(ctx, target, req)
	if err != nil {
		return err
	}
	switch status {
	case http.StatusOK:
		r, err := decodeAnswer(body)
		if err != nil {
			return c.fail("permission answer", err)
		}
		if r.Error != nil {
			var code string
			if json.Unmarshal(r.Error.Code, &code) != nil {
				code = string(r.Error.Code)
			}
			return &DeniedError{Status: status, Code: code, Message: r.Error.Message}
		}
		return nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return &DeniedError{Status: status}
	}
	return c.fail(fmt.Sprintf("permission answered %d", status), nil)
}
