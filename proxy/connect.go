package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// ConnectRequest is what the node tells the backend about a new connection
// before the upgrade.
type ConnectRequest struct {
	ClientIP string         `json:"client_ip"`
	Path     string         `json:"path"`
	Query    string         `json:"query"`
	Headers  ConnectHeaders `json:"headers"`
}

// ConnectHeaders are the upgrade request's headers the backend gets; absent
// ones are left out.
type ConnectHeaders struct {
	Cookie        string `json:"Cookie,omitempty"`
	Authorization string `json:"Authorization,omitempty"`
	Origin        string `json:"Origin,omitempty"`
	UserAgent     string `json:"User-Agent,omitempty"`
}

// ConnectResult is the backend's 200 answer: the connection's identity.
// An empty User is an anonymous connection the backend accepted.
type ConnectResult struct {
	User     string          `json:"user"`
	Info     json.RawMessage `json:"info,omitempty"`
	Channels []string        `json:"channels,omitempty"`
}

// Connect asks the backend who the connection is. Errors: *RefusedError
// (401/403: answer that status), ErrOverloaded, ErrUnavailable (503),
// ErrNotConfigured.
func (c *Client) Connect(ctx context.Context, req *ConnectRequest) (ConnectResult, error) {
	if c.cfg.ConnectURL == "" {
		return ConnectResult{}, ErrNotConfigured
	}
	if !c.admit() {
		return ConnectResult{}, ErrOverloaded
	}
	return c.connect(ctx, req)
}

// GoConnect is Connect for an event loop: ErrOverloaded or ErrNotConfigured
// at once (done is not called), else nil and done is called later on
// another goroutine. ctx should carry no deadline of its own beyond the
// connection's: Timeout applies anyway.
func (c *Client) GoConnect(ctx context.Context, req *ConnectRequest, done func(ConnectResult, error)) error {
	if c.cfg.ConnectURL == "" {
		return ErrNotConfigured
	}
	return goCall(c, ctx, func(ctx context.Context) (ConnectResult, error) { return c.connect(ctx, req) }, done)
}

func (c *Client) connect(ctx context.Context, req *ConnectRequest) (ConnectResult, error) {
	status, body, err := c.call(ctx, c.cfg.ConnectURL, req)
	if err != nil {
		return ConnectResult{}, err
	}
	switch status {
	case http.StatusOK:
		r, err := decodeConnect(body)
		if err != nil {
			return ConnectResult{}, c.fail("connect answer", err)
		}
		return r, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return ConnectResult{}, &RefusedError{Status: status}
	}
	return ConnectResult{}, c.fail(fmt.Sprintf("connect answered %d", status), nil)
}

// decodeConnect reads a 200 connect answer: an object whose user is a
// string, info any JSON and channels a list of strings.
func decodeConnect(body []byte) (ConnectResult, error) {
	var r ConnectResult
	if err := json.Unmarshal(body, &r); err != nil {
		return ConnectResult{}, err
	}
	if bytes.TrimLeft(body, " \t\r\n")[0] != '{' {
		return ConnectResult{}, errors.New("not a JSON object")
	}
	if string(r.Info) == "null" {
		r.Info = nil
	}
	return r, nil
}
