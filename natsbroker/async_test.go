package natsbroker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// An asynchronous handler does not hold the command goroutine: while one command waits for
// its work, the next one is handled and answered; each reply reaches its gatherer once.
func TestAsyncCommands(t *testing.T) {
	ns := natsServer(t, -1, 0)
	hb := Heartbeat(50 * time.Millisecond)
	a := newNode(t, ns.ClientURL(), Name("a"), hb)
	b := newNode(t, ns.ClientURL(), Name("b"), hb)
	release := make(chan struct{})
	b.b.HandleCommandAsync(CmdSubscribeUser, func(cmd Command, reply func([]byte, error)) {
		body := cmd.Body // a copy the handler may keep
		go func() {
			<-release
			reply(fmt.Appendf(nil, `{"got":%s}`, body), nil)
			reply([]byte(`"twice"`), nil) // ignored
		}()
	})
	b.b.HandleCommand(CmdInfo, func(Command) ([]byte, error) { return []byte(`{"name":"b"}`), nil })
	eventually(t, "peers", func() bool { return len(a.b.Peers()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()

	g, err := a.b.Scatter(CmdSubscribeUser, []byte(`{"user":"42"}`))
	if err != nil || g.Nodes() != 1 {
		t.Fatalf("Scatter: %v, %d nodes", err, g.Nodes())
	}
	// The slow command is still open, and another one is answered meanwhile.
	var info []Reply
	if _, err := a.b.Gather(ctx, CmdInfo, nil, func(r Reply) { info = append(info, r) }); err != nil || len(info) != 1 {
		t.Fatalf("info while a command waits: %v %+v", err, info)
	}
	close(release)
	var got []string
	if n, err := g.Wait(ctx, func(r Reply) { got = append(got, r.Node+" "+string(r.Data)) }); err != nil || n != 1 {
		t.Fatalf("Wait: %d, %v", n, err)
	}
	if want := `b {"got":{"user":"42"}}`; len(got) != 1 || got[0] != want {
		t.Fatalf("replies %q, want %q", got, want)
	}
}

// A reply larger than NATS's max_payload comes back as ErrReplyTooLarge instead of never;
// with NATS down, Scatter fails at once and nothing is sent.
func TestReplyTooLargeAndScatterDown(t *testing.T) {
	ns := natsServer(t, -1, 4096)
	hb := Heartbeat(50 * time.Millisecond)
	a := newNode(t, ns.ClientURL(), Name("a"), hb)
	b := newNode(t, ns.ClientURL(), Name("b"), hb)
	b.b.HandleCommand(CmdChannels, func(Command) ([]byte, error) { return bytes.Repeat([]byte("x"), 8000), nil })
	eventually(t, "peers", func() bool { return len(a.b.Peers()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var got []Reply
	if _, err := a.b.Gather(ctx, CmdChannels, nil, func(r Reply) { got = append(got, r) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Err != ErrReplyTooLarge.Error() || len(got[0].Data) != 0 {
		t.Fatalf("replies %+v", got)
	}
	if p := a.b.MaxPayload(); p != 4096 {
		t.Fatalf("MaxPayload() = %d", p)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	eventually(t, "disconnected", func() bool { return !a.b.Connected() })
	if _, err := a.b.Scatter(CmdChannels, nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Scatter with NATS down: %v", err)
	}
}

// Request: a responder's answer comes back; nobody listening, a silent responder and NATS
// down are ErrUnavailable.
func TestRequest(t *testing.T) {
	ns := natsServer(t, -1, 0)
	a := newNode(t, ns.ClientURL(), Name("a"))
	backend, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	if _, err := backend.Subscribe("app.rpc", func(m *nats.Msg) { _ = m.Respond(append([]byte("re:"), m.Data...)) }); err != nil {
		t.Fatal(err)
	}
	if _, err := backend.Subscribe("app.silent", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	if err := backend.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if got, err := a.b.Request(ctx, "app.rpc", []byte("hi")); err != nil || string(got) != "re:hi" {
		t.Fatalf("Request: %q, %v", got, err)
	}
	if _, err := a.b.Request(ctx, "app.nobody", []byte("hi")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("no responders: %v", err)
	}
	short, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if _, err := a.b.Request(short, "app.silent", []byte("hi")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("silent responder: %v", err)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	eventually(t, "disconnected", func() bool { return !a.b.Connected() })
	if _, err := a.b.Request(ctx, "app.rpc", []byte("hi")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("NATS down: %v", err)
	}
}

func TestValidRequestSubject(t *testing.T) {
	for s, want := range map[string]bool{
		"rpc": true, "app.rpc.v1": true, "a-b_c.d": true, strings.Repeat("a", 256): true,
		"": false, ".rpc": false, "rpc.": false, "a..b": false, "a.*": false, "a.>": false,
		"a b": false, "a\tb": false, "é": false, strings.Repeat("a", 257): false,
	} {
		if got := ValidRequestSubject(s); got != want {
			t.Errorf("ValidRequestSubject(%q) = %v, want %v", s, got, want)
		}
	}
}
