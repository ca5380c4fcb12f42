package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

// Three nodes: a command reaches the other two (not the sender), Gather collects their
// replies and ends as soon as every peer answered, a node that leaves stops being waited for.
func TestCommands(t *testing.T) {
	ns := natsServer(t, -1, 0)
	hb := Heartbeat(50 * time.Millisecond)
	a := newNode(t, ns.ClientURL(), Name("a"), hb)
	b := newNode(t, ns.ClientURL(), Name("b"), hb)
	c := newNode(t, ns.ClientURL(), Name("c"), hb)
	var mu sync.Mutex
	var seen []string
	for _, n := range []*node{a, b, c} {
		name := n.b.Name()
		n.b.HandleCommand(CmdDisconnectUser, func(cmd Command) ([]byte, error) {
			mu.Lock()
			seen = append(seen, fmt.Sprintf("%s<-%s:%s", name, cmd.Origin, cmd.Body))
			mu.Unlock()
			return nil, nil
		})
		n.b.HandleCommand(CmdInfo, func(cmd Command) ([]byte, error) {
			if name == "c" {
				return nil, errors.New("info unavailable")
			}
			return fmt.Appendf(nil, `{"name":%q}`, name), nil
		})
	}
	eventually(t, "peers", func() bool { return slices.Equal(a.b.Peers(), []string{"b", "c"}) })

	if err := a.b.Broadcast(CmdDisconnectUser, []byte(`{"user":"42"}`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the broadcast", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 2 })
	mu.Lock()
	sort.Strings(seen)
	if want := []string{`b<-a:{"user":"42"}`, `c<-a:{"user":"42"}`}; !slices.Equal(seen, want) {
		t.Fatalf("broadcast seen as %v, want %v", seen, want)
	}
	mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var replies []string
	start := time.Now()
	n, err := a.b.Gather(ctx, CmdInfo, []byte(`{}`), func(r Reply) {
		replies = append(replies, fmt.Sprintf("%s %s %s", r.Node, r.Data, r.Err))
	})
	if err != nil || n != 2 {
		t.Fatalf("Gather: %d replies, %v", n, err)
	}
	if time.Since(start) > waitFor/2 {
		t.Fatalf("Gather waited for its deadline although every peer answered")
	}
	sort.Strings(replies)
	if want := []string{`b {"name":"b"} `, `c  info unavailable`}; !slices.Equal(replies, want) {
		t.Fatalf("replies %q, want %q", replies, want)
	}
	// A command nobody handles is answered with an error, not ignored.
	replies = replies[:0]
	if _, err := a.b.Gather(ctx, "no-such-command", nil, func(r Reply) { replies = append(replies, r.Err) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(replies, []string{"unknown command", "unknown command"}) {
		t.Fatalf("unknown command answered %q", replies)
	}
	if st := b.b.Stats(); st.Commands != 3 {
		t.Fatalf("node b handled %d commands, want 3", st.Commands)
	}

	// c leaves: it says so, and a stops counting on it at once.
	if err := c.b.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "c gone", func() bool { return slices.Equal(a.b.Peers(), []string{"b"}) })
}

// A peer that does not answer in time: Gather returns what it has, with ErrIncomplete.
func TestGatherDeadline(t *testing.T) {
	ns := natsServer(t, -1, 0)
	hb := Heartbeat(50 * time.Millisecond)
	a := newNode(t, ns.ClientURL(), Name("a"), hb)
	b := newNode(t, ns.ClientURL(), Name("b"), hb)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	b.b.HandleCommand(CmdPresence, func(Command) ([]byte, error) {
		<-release
		return nil, nil
	})
	eventually(t, "peers", func() bool { return len(a.b.Peers()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	n, err := a.b.Gather(ctx, CmdPresence, nil, func(Reply) {})
	if n != 0 || !errors.Is(err, ErrIncomplete) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Gather: %d, %v", n, err)
	}
}

// A handler that panics answers an error; the node keeps handling commands.
func TestCommandHandlerPanics(t *testing.T) {
	ns := natsServer(t, -1, 0)
	hb := Heartbeat(50 * time.Millisecond)
	a := newNode(t, ns.ClientURL(), Name("a"), hb)
	b := newNode(t, ns.ClientURL(), Name("b"), hb)
	b.b.HandleCommand(CmdChannels, func(Command) ([]byte, error) { panic("handler bug") })
	b.b.HandleCommand(CmdInfo, func(Command) ([]byte, error) { return []byte(`{}`), nil })
	eventually(t, "peers", func() bool { return len(a.b.Peers()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for _, tc := range []struct{ cmd, want string }{{CmdChannels, "internal error"}, {CmdInfo, ""}} {
		var got []Reply
		if _, err := a.b.Gather(ctx, tc.cmd, nil, func(r Reply) { got = append(got, r) }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Err != tc.want {
			t.Fatalf("%s: replies %+v, want error %q", tc.cmd, got, tc.want)
		}
	}
}
