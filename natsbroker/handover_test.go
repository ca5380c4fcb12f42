package natsbroker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/handover"
	"github.com/wsedge/wsedge/routing"
)

// numbers returns the "n" of every message of kind in frames: channel messages
// {"type":"message","channel":ch,"data":{"n":N}} and user messages {"u":N}.
func numbers(t *testing.T, msgs []string, channel string) []int {
	t.Helper()
	var out []int
	for _, m := range msgs {
		var v struct {
			Type, Channel string
			Data          struct{ N int }
			U             int
		}
		if err := json.Unmarshal([]byte(m), &v); err != nil {
			t.Fatalf("message %s: %v", m, err)
		}
		switch {
		case channel == "user" && v.U > 0:
			out = append(out, v.U)
		case v.Type == "message" && v.Channel == channel:
			out = append(out, v.Data.N)
		}
	}
	return out
}

// sequence reports whether got is 1..total.
func sequence(got []int, total int) bool {
	for i, n := range got {
		if n != i+1 {
			return false
		}
	}
	return len(got) == total
}

// TestHandoverSwitch runs the broker's part of a restart without reconnects in one process,
// over a real NATS server: node "x" (old) hands its session over to node "x" (successor,
// on standby) while node "pub" publishes a numbered channel stream, a numbered user stream
// and runs commands on every node, and a backend publishes plain JSON. The session's messages
// (what old delivered before COMMIT, then what the successor delivered) are every message
// exactly once and in order; every command is handled exactly once, by old before COMMIT and
// by the successor after; the old process's subscriptions stay after its hub forgot the
// session, until EndRelay; the old node refuses to publish after COMMIT.
func TestHandoverSwitch(t *testing.T) {
	ns := natsServer(t, -1, 0)
	url := ns.ClientURL()
	pub := newNode(t, url, Name("pub"))
	old := newNode(t, url, Name("x"))
	succ := newNode(t, url, Name("x"), Standby())

	var handled sync.Map // command body -> "old" or "succ"
	handler := func(who string) CommandHandler {
		return func(c Command) ([]byte, error) {
			if prev, dup := handled.LoadOrStore(string(c.Body), who); dup {
				t.Errorf("command %s handled by %s and %s", c.Body, prev, who)
			}
			return []byte(`"` + who + `"`), nil
		}
	}
	old.b.HandleCommand("who", handler("old"))
	succ.b.HandleCommand("who", handler("succ"))

	// The session on the old node: channels ch and feed, user u1.
	fOld, sOld := old.subscriber("ch")
	old.subscribe(fOld, sOld, "feed", 2)
	if err := old.hub.SetIdentity(sOld, "u1", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pub to see x", func() bool { return len(pub.b.Peers()) == 1 })
	eventually(t, "the user subscription", func() bool { old.flush(); return old.b.Stats().Subscriptions == 3 })

	backend, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	defer halt() // also when the test fails: the streams end before it does
	var mu sync.Mutex
	sent := map[string]int{}
	var answers []string
	stream := func(name string, send func(n int) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 1; ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				if err := send(n); err != nil {
					t.Errorf("%s %d: %v", name, n, err)
					return
				}
				mu.Lock()
				sent[name] = n
				mu.Unlock()
			}
		}()
	}
	stream("ch", func(n int) error {
		return pub.hub.Publish("ch", fmt.Appendf(nil, `{"n":%d}`, n), routing.PublishOptions{})
	})
	stream("user", func(n int) error {
		return pub.hub.Send(routing.Publication{Kind: routing.KindUser, Target: "u1", Payload: codec.NewPrepared(codec.OpText, fmt.Appendf(nil, `{"u":%d}`, n))})
	})
	stream("feed", func(n int) error { return backend.Publish("wsedge.ch.feed", fmt.Appendf(nil, `{"n":%d}`, n)) })
	stream("who", func(n int) error {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		var got string
		_, err := pub.b.Gather(ctx, "who", fmt.Appendf(nil, "%d", n), func(r Reply) { got = string(r.Data) })
		mu.Lock()
		answers = append(answers, got)
		mu.Unlock()
		return err
	})
	count := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return sent[name]
	}
	eventually(t, "the streams", func() bool { return count("ch") > 50 && count("who") > 10 })

	// The successor imports the session (interest recorded, nothing subscribed).
	fNew := &fakeConn{}
	_, err = succ.r.ImportSession(fNew, routing.SessionState{User: "u1", Channels: []string{"ch", "feed"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := succ.b.Stats().Subscriptions; n != 0 {
		t.Fatalf("standby broker holds %d subscriptions", n)
	}
	// The handover channel: relayed messages in order, then NATSEND.
	relay := make(chan *handover.Message, 1<<16)
	relayDone := make(chan handover.SwitchStats, 1)
	// COMMIT: from here the old node's hub gets nothing, and it forgets the session.
	err = old.b.StartRelay(succ.b.Origin(), func() error { return nil }, func(m handover.Message) error {
		c := handover.Message{Origin: m.Origin, Seq: m.Seq, Channel: append([]byte(nil), m.Channel...), Payload: append([]byte(nil), m.Payload...)}
		relay <- &c
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	atCommit := fOld.messages()
	old.r.Forget(sOld)
	// A connection that stayed with the old node cannot publish any more: the successor
	// drops the old node's origin.
	if err := old.hub.Publish("ch", []byte(`{"n":-1}`), routing.PublishOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("publish on the old node after COMMIT: %v", err)
	}
	sw := handover.NewSwitch(handover.SwitchConfig{Self: []uint64{succ.b.Origin(), old.b.Origin()}})
	if err := succ.b.BeginSwitch(sw, old.b.Origin()); err != nil {
		t.Fatal(err)
	}
	// The successor reads the channel from COMMIT on, after BeginSwitch (handover.Predecessor.Run
	// calls Adopter.Commit before it reads what follows COMMIT).
	go func() {
		for m := range relay {
			if m == nil {
				succ.b.EndSwitch(50*time.Millisecond, func(st handover.SwitchStats) { relayDone <- st })
				continue
			}
			succ.b.Relayed(*m)
		}
	}()
	time.Sleep(200 * time.Millisecond) // SUBSCRIBED, then the overlap
	if n := old.b.Stats().Subscriptions; n != 3 {
		t.Fatalf("the old node dropped its subscriptions before EndRelay: %d left", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := old.b.EndRelay(ctx); err != nil {
		t.Fatal(err)
	}
	relay <- nil // NATSEND
	var st handover.SwitchStats
	select {
	case st = <-relayDone:
	case <-time.After(waitFor):
		t.Fatal("the switch did not end")
	}
	close(relay)
	time.Sleep(100 * time.Millisecond) // more of every stream after the switch
	halt()
	if len(fOld.messages()) != len(atCommit) {
		t.Fatal("the old node delivered after COMMIT")
	}
	for _, name := range []string{"ch", "user", "feed"} {
		total := count(name)
		for deadline := time.Now().Add(waitFor); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if len(numbers(t, atCommit, name))+len(numbers(t, fNew.messages(), name)) >= total {
				break
			}
		}
		if got := append(numbers(t, atCommit, name), numbers(t, fNew.messages(), name)...); !sequence(got, total) {
			t.Fatalf("%s: %d before COMMIT, then %v; %d published; switch %+v", name, len(numbers(t, atCommit, name)), numbers(t, fNew.messages(), name), total, st)
		}
	}
	// Every command answered once: by the old node, then by the successor.
	mu.Lock()
	answered := append([]string(nil), answers...)
	mu.Unlock()
	seenSucc := false
	for i, a := range answered {
		switch a {
		case `"old"`:
			if seenSucc {
				t.Fatalf("command %d answered by the old node after the successor", i+1)
			}
		case `"succ"`:
			seenSucc = true
		default:
			t.Fatalf("command %d answered %q", i+1, a)
		}
	}
	if !seenSucc || st.Relayed == 0 || st.Duplicates == 0 {
		t.Fatalf("the window was not exercised: successor answered %v, switch %+v", seenSucc, st)
	}
	t.Logf("ch %d, user %d, feed %d, commands %d; old relayed %+v; switch %+v", count("ch"), count("user"), count("feed"), len(answered), old.b.HandoverStats(), st)
}
