package bench

import (
	"net/http"
	"os"
	"testing"
	"time"
)

func TestIdle(t *testing.T) {
	tg := startServer(t, "/echo", echoHandler)
	r, err := Idle(t.Context(), IdleConfig{
		Common: Common{Target: tg, ServerPID: os.Getpid(), Sources: 4},
		Conns:  200, Hold: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Opened != 200 || r.Failed != 0 || r.Held != 200 {
		t.Fatalf("opened %d failed %d held %d causes %v", r.Opened, r.Failed, r.Held, r.Causes)
	}
	if r.Handshake.Count != 200 || r.RSSHeld <= 0 || r.Threads <= 0 {
		t.Fatalf("handshake count %d rss %d threads %d", r.Handshake.Count, r.RSSHeld, r.Threads)
	}
}

func TestIdleRefused(t *testing.T) {
	tg := startServer(t, "/echo", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "slow down", http.StatusTooManyRequests)
	})
	r, err := Idle(t.Context(), IdleConfig{Common: Common{Target: tg}, Conns: 20})
	if err != nil {
		t.Fatal(err)
	}
	if r.Opened != 0 || r.Failed != 20 || r.Causes["http 429"] != 20 {
		t.Fatalf("opened %d failed %d causes %v", r.Opened, r.Failed, r.Causes)
	}
}

func TestEcho(t *testing.T) {
	tg := startServer(t, "/echo", echoHandler)
	for _, tc := range []struct {
		name  string
		size  int
		depth int
		text  bool
	}{
		{"binary64", 64, 1, false},
		{"binary4k-pipelined", 4096, 4, false},
		{"text100k", 100 << 10, 2, true}, // larger than half the read buffer
	} {
		// Long enough for a 100 KiB round trip under the race detector on a
		// loaded machine (300 ms saw none); the test counts, it does not time.
		window := 300 * time.Millisecond
		if tc.size > 64<<10 {
			window = 2 * time.Second
		}
		t.Run(tc.name, func(t *testing.T) {
			r, err := Echo(t.Context(), EchoConfig{
				Common: Common{Target: tg, ServerPID: os.Getpid()},
				Conns:  8, Size: tc.size, Depth: tc.depth, Text: tc.text,
				Duration: window,
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.Msgs == 0 || r.Latency.Count == 0 || r.Failed != 0 || r.Dropped != 0 {
				t.Fatalf("msgs %d latency count %d failed %d dropped %d causes %v", r.Msgs, r.Latency.Count, r.Failed, r.Dropped, r.Causes)
			}
			if !(r.Latency.P50 > 0 && r.Latency.P50 <= r.Latency.P99 && r.Latency.P99 <= r.Latency.Max) {
				t.Fatalf("latency not ordered: %+v", r.Latency)
			}
		})
	}
}

func TestChurn(t *testing.T) {
	tg := startServer(t, "/echo", echoHandler)
	r, err := Churn(t.Context(), ChurnConfig{
		Common: Common{Target: tg, ServerPID: os.Getpid()},
		Cycles: 300, Concurrency: 20, Settle: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Cycles+r.Failed != 300 || r.Failed != 0 {
		t.Fatalf("cycles %d failed %d causes %v", r.Cycles, r.Failed, r.Causes)
	}
	if r.After.FDs <= 0 || r.After.RSS <= 0 {
		t.Fatalf("no server state: %+v", r.After)
	}
}

func TestBroadcast(t *testing.T) {
	ps := &pubsub{subs: newSubs()}
	tg := startServer(t, "/ws", ps.handle)
	r, err := Broadcast(t.Context(), BroadcastConfig{
		Common: Common{Target: tg},
		Subs:   50, Rate: 50, Duration: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ready != 50 || r.Published == 0 || r.Delivered != r.Expected || r.Latency.Count != r.Delivered {
		t.Fatalf("%+v", r)
	}
}

// TestBroadcastCompressed: subscribers that agreed to permessage-deflate
// inflate every delivery and read its stamp.
func TestBroadcastCompressed(t *testing.T) {
	ps := &pubsub{subs: newSubs(), deflate: true}
	tg := startServer(t, "/ws", ps.handle)
	r, err := Broadcast(t.Context(), BroadcastConfig{
		Common: Common{Target: tg, Compression: DefaultDeflateOffer},
		Subs:   20, Rate: 20, Duration: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ready != 20 || r.Published == 0 || r.Delivered != r.Expected || r.Wire.Compressed != 20 || r.Wire.Payload <= 0 {
		t.Fatalf("%+v", r)
	}
}
