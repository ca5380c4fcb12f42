package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeNode records every call (arguments copied, as a Node must) and
// answers what the test set.
type fakeNode struct {
	mu    sync.Mutex
	calls []string // "publish news {"a":1}" ...
	err   error    // returned by every method when set
	sent  int      // Broadcast's published count with err
	block chan struct{}

	affected Affected
	clients  []Client
	stats    PresenceStats
	channels map[string]ChannelStats
	nodes    []NodeInfo
}

func (f *fakeNode) record(ctx context.Context, parts ...string) error {
	f.mu.Lock()
	f.calls = append(f.calls, strings.Join(parts, " "))
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return f.err
}

func (f *fakeNode) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeNode) Publish(ctx context.Context, channel string, data json.RawMessage) error {
	return f.record(ctx, "publish", channel, string(data))
}

func (f *fakeNode) Broadcast(ctx context.Context, channels []string, data json.RawMessage) (int, error) {
	if err := f.record(ctx, "broadcast", strings.Join(channels, ","), string(data)); err != nil {
		return f.sent, err
	}
	return len(channels), nil
}

func (f *fakeNode) Subscribe(ctx context.Context, user, channel string) (Affected, error) {
	return f.affected, f.record(ctx, "subscribe", user, channel)
}

func (f *fakeNode) Unsubscribe(ctx context.Context, user, channel string) (Affected, error) {
	return f.affected, f.record(ctx, "unsubscribe", user, channel)
}

func (f *fakeNode) Disconnect(ctx context.Context, user string, code int, reason string) (Affected, error) {
	return f.affected, f.record(ctx, "disconnect", user, itoa(code), reason)
}

func (f *fakeNode) Presence(ctx context.Context, channel string) ([]Client, error) {
	return f.clients, f.record(ctx, "presence", channel)
}

func (f *fakeNode) PresenceStats(ctx context.Context, channel string) (PresenceStats, error) {
	return f.stats, f.record(ctx, "presence_stats", channel)
}

func (f *fakeNode) Channels(ctx context.Context, p Pattern) (map[string]ChannelStats, error) {
	out := map[string]ChannelStats{}
	for k, v := range f.channels {
		if p.Match(k) {
			out[k] = v
		}
	}
	return out, f.record(ctx, "channels", string(p))
}

func (f *fakeNode) Info(ctx context.Context) ([]NodeInfo, error) {
	return f.nodes, f.record(ctx, "info")
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

const testKey = "k3y-for-tests-0123456789abcdef"

// startAPI serves a fakeNode on a real listener on 127.0.0.1:0.
func startAPI(t testing.TB, c Config) (base string, f *fakeNode, l *Listener) {
	t.Helper()
	f = &fakeNode{}
	if c.Key == "" {
		c.Key = testKey
	}
	l, err := Serve(f, c, ListenConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Stop(ctx)
	})
	return "http://" + l.Addr().String(), f, l
}

var client = &http.Client{Timeout: 10 * time.Second}

// post sends body with the test key (key "" sends none) and returns the
// status, the headers and the body.
func post(t testing.TB, url, key, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "apikey "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func do(t testing.TB, req *http.Request) (int, http.Header, string) {
	t.Helper()
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(b)
}

// errorOf decodes an error answer, failing the test when it has not the
// one error format.
func errorOf(t testing.TB, body string) (code, message string) {
	t.Helper()
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	if err := dec.Decode(&e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not an error answer: %q (%v)", body, err)
	}
	return e.Error.Code, e.Error.Message
}

// newTestServer serves h on 127.0.0.1:0 and returns its host:port.
func newTestServer(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
