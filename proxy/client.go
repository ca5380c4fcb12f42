package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// Defaults for zero Config fields.
const (
	DefaultTimeout       = 3 * time.Second
	DefaultMaxConcurrent = 64
	DefaultMaxQueue      = 1024
	DefaultMaxBody       = 1 << 20
)

// Config of the backend calls. An empty URL disables that call.
type Config struct {
	ConnectURL   string // POST {"client_ip","path","query","headers"} -> {"user","info","channels"}
	SubscribeURL string // POST {"client","user","info","channel"} -> {"result":{}} or {"error":{…}}
	PublishURL   string // POST {"client","user","info","channel","data"} -> same
	RPCURL       string // POST {"client","user","info","method","data"} -> {"result":X} or {"error":{…}}

	Timeout       time.Duration // per call, waiting for a slot included; 0 = DefaultTimeout
	MaxConcurrent int           // calls in flight (and pooled connections); 0 = DefaultMaxConcurrent
	MaxQueue      int           // calls waiting for a slot; past it ErrOverloaded; 0 = none wait (DefaultMaxQueue is the flag's default)
	MaxBody       int64         // bytes of an answer; past it ErrUnavailable; 0 = DefaultMaxBody

	Transport http.RoundTripper // nil = a pooled transport of its own (tests may set one)

	// RPCRequest, when set, carries RPC calls instead of an HTTP POST to RPCURL (which is
	// then only a name for logs, e.g. "nats:app.rpc"): it sends the request JSON and returns
	// the answer's body (NATS request-reply: natsbroker.Broker.Request). Admission, Timeout
	// and MaxBody apply as for HTTP; any error of it means the backend is unavailable.
	RPCRequest func(ctx context.Context, body []byte) ([]byte, error)
}

// Client calls the backend. Safe for concurrent use.
type Client struct {
	cfg      Config
	http     *http.Client
	sem      chan struct{} // a token per call in flight
	admitted atomic.Int64  // in flight + waiting
	limit    int64         // MaxConcurrent + MaxQueue

	overloaded, failures atomic.Int64
}

// New checks the URLs and builds the pooled client.
func New(cfg Config) (*Client, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Timeout < 0 || cfg.MaxConcurrent < 0 || cfg.MaxQueue < 0 || cfg.MaxBody < 0 {
		return nil, errors.New("proxy: negative timeout or bound")
	}
	for _, u := range []struct{ name, url string }{
		{"connect", cfg.ConnectURL}, {"subscribe", cfg.SubscribeURL}, {"publish", cfg.PublishURL}, {"rpc", cfg.RPCURL},
	} {
		if u.url == "" || (u.name == "rpc" && cfg.RPCRequest != nil) {
			continue
		}
		p, err := url.Parse(u.url)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("proxy: %s URL %q is not an http(s) URL", u.name, u.url)
		}
	}
	tr := cfg.Transport
	if tr == nil {
		tr = &http.Transport{
			Proxy:                 nil, // the backend is reached directly, never through HTTP_PROXY
			DialContext:           (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          cfg.MaxConcurrent,
			MaxIdleConnsPerHost:   cfg.MaxConcurrent,
			MaxConnsPerHost:       cfg.MaxConcurrent,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   cfg.Timeout,
			ResponseHeaderTimeout: cfg.Timeout,
		}
	}
	return &Client{
		cfg:   cfg,
		http:  &http.Client{Transport: tr, Timeout: cfg.Timeout},
		sem:   make(chan struct{}, cfg.MaxConcurrent),
		limit: int64(cfg.MaxConcurrent + cfg.MaxQueue),
	}, nil
}

// Close drops the idle pooled connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Stats are counters for metrics.
type Stats struct {
	Admitted   int64 // calls in flight or waiting now
	Overloaded int64 // refused because the queue was full, since start
	Failures   int64 // ended with ErrUnavailable, since start
}

func (c *Client) Stats() Stats {
	return Stats{Admitted: c.admitted.Load(), Overloaded: c.overloaded.Load(), Failures: c.failures.Load()}
}

// admit reserves a place in flight or in the queue, or refuses at once.
func (c *Client) admit() bool {
	if c.admitted.Add(1) > c.limit {
		c.admitted.Add(-1)
		c.overloaded.Add(1)
		return false
	}
	return true
}

// call runs one admitted POST: waits for a slot, sends body, reads at most
// MaxBody bytes of the answer. It returns the status and the body.
func (c *Client) call(ctx context.Context, target string, body any) (int, []byte, error) {
	return c.exchange(ctx, body, func(ctx context.Context, payload []byte) (int, []byte, error) {
		return c.post(ctx, target, payload)
	})
}

// exchange runs one admitted call: waits for a slot within Timeout, encodes body and hands it
// to send, the transport.
func (c *Client) exchange(ctx context.Context, body any, send func(context.Context, []byte) (int, []byte, error)) (int, []byte, error) {
	defer c.admitted.Add(-1)
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		c.failures.Add(1)
		return 0, nil, unavailable("no free slot in time", ctx.Err())
	}
	defer func() { <-c.sem }()

	payload, err := json.Marshal(body)
	if err != nil {
		return 0, nil, fmt.Errorf("proxy: encoding the request: %w", err)
	}
	return send(ctx, payload)
}

// request is the RPCRequest transport: its answer is a 200's body, within MaxBody.
func (c *Client) request(ctx context.Context, payload []byte) (int, []byte, error) {
	data, err := c.cfg.RPCRequest(ctx, payload)
	if err != nil {
		c.failures.Add(1)
		return 0, nil, unavailable("request failed", err)
	}
	if int64(len(data)) > c.cfg.MaxBody {
		c.failures.Add(1)
		return 0, nil, unavailable(fmt.Sprintf("answer over %d bytes", c.cfg.MaxBody), nil)
	}
	return http.StatusOK, data, nil
}

// post is the HTTP transport: POST payload to target, read at most MaxBody bytes back.
func (c *Client) post(ctx context.Context, target string, payload []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, fmt.Errorf("proxy: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wsedge")
	resp, err := c.http.Do(req)
	if err != nil {
		c.failures.Add(1)
		return 0, nil, unavailable("request failed", stripURL(err))
	}
	defer resp.Body.Close() // without draining: an oversized answer ends that connection
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBody+1))
	if err != nil {
		c.failures.Add(1)
		return 0, nil, unavailable("reading the answer", err)
	}
	if int64(len(data)) > c.cfg.MaxBody {
		c.failures.Add(1)
		return 0, nil, unavailable(fmt.Sprintf("answer over %d bytes", c.cfg.MaxBody), nil)
	}
	return resp.StatusCode, data, nil
}

// stripURL drops the URL from a *url.Error: a configured URL may carry
// credentials, and the cause is what matters in a log line.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// fail counts a failure found after the call (bad status, garbage).
func (c *Client) fail(what string, cause error) error {
	c.failures.Add(1)
	return unavailable(what, cause)
}

// goCall runs f on a goroutine after admission; done gets its outcome.
func goCall[T any](c *Client, ctx context.Context, f func(context.Context) (T, error), done func(T, error)) error {
	if !c.admit() {
		return ErrOverloaded
	}
	go func() {
		v, err := f(ctx)
		done(v, err)
	}()
	return nil
}
