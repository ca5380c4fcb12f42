package server

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAuthenticator: Go code that embeds wsedge decides who connects: it
// sees the request (address, path, query, token, every header) off the
// loop, and its answer becomes the identity, a 401, a 403 or a 503.
func TestAuthenticator(t *testing.T) {
	var mu sync.Mutex
	var seen []UpgradeInfo
	o := testOptions()
	o.Tick = 10 * time.Millisecond
	o.Authenticator = AuthenticatorFunc(func(ctx context.Context, req *UpgradeInfo) (Identity, error) {
		mu.Lock()
		seen = append(seen, *req)
		mu.Unlock()
		switch req.Header.Get("X-Case") {
		case "ok":
			return Identity{User: "emb", Info: []byte(`{"t":1}`), Channels: []string{"news"}, Expires: time.Now().Add(time.Hour)}, nil
		case "anon":
			return Identity{}, nil
		case "badinfo":
			return Identity{User: "emb", Info: []byte(`{"t":`)}, nil
		case "401":
			return Identity{}, ErrUnauthorized
		case "403":
			return Identity{}, ErrForbidden
		}
		return Identity{}, errors.New("database down")
	})
	s := startIDServer(t, o)
	for _, tc := range []struct {
		name, xcase string
		status      int
		user        string
	}{
		{"ok", "ok", 101, "emb"}, {"anonymous", "anon", 101, ""}, {"info not JSON", "badinfo", 101, "emb"},
		{"401", "401", 401, ""}, {"403", "403", 403, ""}, {"failure", "boom", 503, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body, rc := upgradeWith(t, s, "/ws?token=abc&k=v", "X-Case: "+tc.xcase+"\r\nCookie: a=b\r\n")
			if status != tc.status {
				t.Fatalf("status %d %q, want %d", status, body, tc.status)
			}
			mu.Lock()
			req := seen[len(seen)-1]
			mu.Unlock()
			if req.Path != "/ws" || req.Query != "token=abc&k=v" || req.Token != "abc" || req.ClientIP.String() != "127.0.0.1" ||
				req.Header.Get("Cookie") != "a=b" || req.Header.Get("Sec-Websocket-Version") != "13" {
				t.Fatalf("the Authenticator saw %+v", req)
			}
			if rc == nil {
				return
			}
			got := rc.roundTrip(`{"type":"whoami","id":"1"}`)
			if !strings.Contains(got, `"user":"`+tc.user+`"`) || strings.Contains(got, `"info":{"t":`) != (tc.xcase == "ok") {
				t.Fatalf("whoami: %s", got)
			}
			if tc.xcase == "ok" && (s.Router().Hub().Subscribers("news") != 1 || strings.Contains(got, `"expires":0`)) {
				t.Fatalf("the Authenticator's channels or expiry were not applied: %s", got)
			}
		})
	}
}

// TestAuthPoolBound: checks wait for -auth-workers, at most -auth-queue of
// them; the next connection is refused at once with 503 and Retry-After,
// and the held ones go on once the workers are free.
func TestAuthPoolBound(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	entered := make(chan struct{}, 8)
	o := testOptions()
	o.AuthWorkers, o.AuthQueue = 1, 1
	o.Authenticator = AuthenticatorFunc(func(ctx context.Context, req *UpgradeInfo) (Identity, error) {
		entered <- struct{}{}
		<-release
		return Identity{User: "u"}, nil
	})
	s := startIDServer(t, o)
	t.Cleanup(open) // before the server's own cleanup (LIFO): its workers must not stay blocked
	var held []chan int
	for i := range 2 {
		ch := make(chan int, 1)
		held = append(held, ch)
		go func() {
			status, _, _, _ := upgradeWith(t, s, "/ws", "")
			ch <- status
		}()
		if i == 0 {
			<-entered // the first one is in the worker
		}
	}
	// The second one waits in the queue: both counted as pending.
	waitFor(t, wsTimeout, "one check running, one queued", func() bool { return s.id.pool.pending.Load() == 2 })
	status, hdr, body, _ := upgradeWith(t, s, "/ws", "")
	if status != 503 || hdr.Get("Retry-After") == "" || strings.TrimSpace(body) != "too many connections being checked, retry later" {
		t.Fatalf("past the bound: %d %q", status, body)
	}
	open()
	for i, ch := range held {
		if got := <-ch; got != 101 {
			t.Fatalf("held connection %d: %d", i, got)
		}
	}
}

// TestKeepHeaders: the headers an embedding program asked for stay with
// the session; the others do not.
func TestKeepHeaders(t *testing.T) {
	for _, auth := range []bool{false, true} {
		o := testOptions()
		o.KeepHeaders = []string{"x-tenant", "User-Agent"}
		extra := "X-Tenant: acme\r\nX-Tenant: other\r\nUser-Agent: probe/1\r\nX-Secret: s\r\n"
		if auth {
			o.JWTHMACSecret = idSecret
			extra += bearer(userToken(t, "h"))
		}
		s := startIDServer(t, o)
		_, _, _, rc := upgradeWith(t, s, "/ws", extra)
		got := rc.roundTrip(`{"type":"whoami","id":"1"}`)
		if !strings.Contains(got, `"headers":{"User-Agent":["probe/1"],"X-Tenant":["acme","other"]}`) {
			t.Fatalf("auth %v: %s", auth, got)
		}
	}
}

// TestHeldInputBound: a client that floods while its token is checked is
// cut off instead of filling memory.
func TestHeldInputBound(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	o := testOptions()
	o.MaxMessageSize = 4 << 10
	o.Authenticator = AuthenticatorFunc(func(ctx context.Context, req *UpgradeInfo) (Identity, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return Identity{User: "u"}, nil
	})
	s := startIDServer(t, o)
	c := rawDial(t, s)
	io.WriteString(c, upgradeRequest("/ws", ""))
	flood := msgFrame(1, true, strings.Repeat("x", 1000))
	var err error
	for i := 0; i < 1000 && err == nil; i++ { // 1 MB, far past one head and one message
		_, err = c.Write(flood)
	}
	expectTCPEnd(t, c, 5*time.Second)
}
