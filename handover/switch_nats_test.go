package handover

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

func natsServer(t testing.TB) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(waitFor) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// clusterMsg is the test's stand-in for the cluster format: origin and
// sequence number in front of the payload.
func clusterMsg(origin, seq uint64) []byte {
	b := binary.BigEndian.AppendUint64(nil, origin)
	return binary.BigEndian.AppendUint64(b, seq)
}

func parseClusterMsg(subject string, data []byte) Message {
	return Message{
		Origin: binary.BigEndian.Uint64(data), Seq: binary.BigEndian.Uint64(data[8:]),
		Channel: []byte(subject), Payload: data,
	}
}

// deliveries records what "the clients" received, per origin and channel.
type deliveries struct {
	mu  sync.Mutex
	got map[string][]uint64
	n   int
}

func (d *deliveries) add(m Message) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := fmt.Sprintf("%d/%s", m.Origin, m.Channel)
	d.got[k] = append(d.got[k], m.Seq)
	d.n++
}

// TestSwitchOverNATS: publishers send numbered streams to two channels
// through a real NATS server while a node hands over. Before COMMIT the old
// process delivers; after it relays over the real channel; the successor
// subscribes, the old process drains after an overlap and sends NATSEND.
// Every message must reach the clients exactly once and in order, and none
// of the two processes' own messages may come back from the cluster.
//
// The overlap cannot be zero, even with one NATS server: a publisher's
// message is matched against the subscriptions and then delivered, and
// between the two the successor's SUB, its PONG, SUBSCRIBED and the old
// process's UNSUB can all happen; the message then reaches neither process
// (it went to the old subscription, closed by delivery time). A zero
// overlap lost one message in about one run in ten under -race here, a
// 20 ms overlap one in about a hundred on this shared machine (a stall of
// the publisher's goroutine in the NATS server that long). The overlap
// covers scheduling stalls; the default in production is a second.
func TestSwitchOverNATS(t *testing.T) {
	ns := natsServer(t)
	for _, overlap := range []time.Duration{50 * time.Millisecond, 250 * time.Millisecond} {
		t.Run(fmt.Sprint("overlap ", overlap), func(t *testing.T) {
			st := switchRound(t, ns.ClientURL(), overlap)
			t.Logf("switch stats %+v", st)
			if st.Duplicates == 0 {
				t.Fatalf("no message arrived through both subscriptions during the overlap: the test did not exercise the switch")
			}
		})
	}
}

func switchRound(t *testing.T, url string, overlap time.Duration) SwitchStats {
	const parentOrigin, childOrigin = 1, 2
	self := []uint64{parentOrigin, childOrigin}
	isSelf := func(o uint64) bool { return o == parentOrigin || o == childOrigin }
	d := &deliveries{got: make(map[string][]uint64)}

	tx, pred, _ := inProcess(t, Hello{Origin: childOrigin}, TransferConfig{Origin: parentOrigin, NATS: true})

	// The old process: delivers itself until COMMIT, relays after it.
	var pmu sync.Mutex
	committed := false
	parent, err := nats.Connect(url, nats.NoEcho())
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	parent.SetClosedHandler(func(*nats.Conn) { close(closed) })
	onParent := func(msg *nats.Msg) {
		m := parseClusterMsg(msg.Subject, msg.Data)
		if isSelf(m.Origin) {
			return
		}
		pmu.Lock()
		defer pmu.Unlock()
		if !committed {
			d.add(m)
			return
		}
		if err := tx.Relay(m); err != nil {
			t.Errorf("relay: %v", err)
		}
	}
	for _, ch := range []string{"ch.a", "ch.b"} {
		if _, err := parent.Subscribe(ch, onParent); err != nil {
			t.Fatal(err)
		}
	}
	parent.Flush()

	// The successor: its own subscription starts after COMMIT.
	sw := NewSwitch(SwitchConfig{Self: self})
	child, err := nats.Connect(url, nats.NoEcho())
	if err != nil {
		t.Fatal(err)
	}
	defer child.Close()
	a := &switchAdopter{sw: sw, d: d, subscribe: func() {
		for _, ch := range []string{"ch.a", "ch.b"} {
			if _, err := child.Subscribe(ch, func(msg *nats.Msg) { sw.Own(parseClusterMsg(msg.Subject, msg.Data), d.add) }); err != nil {
				t.Error(err)
			}
		}
		if err := child.Flush(); err != nil {
			t.Error(err)
		}
		if err := pred.Subscribed(); err != nil {
			t.Error(err)
		}
	}}
	rc := runAsync(pred, a)

	// Publishers: two foreign origins on both channels, and the two
	// processes' own origins (which must never be delivered from NATS).
	const perOrigin = 6000
	origins := []uint64{77, 88, parentOrigin, childOrigin}
	var wg sync.WaitGroup
	var published atomic.Int64
	for _, o := range origins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pc, err := nats.Connect(url)
			if err != nil {
				t.Error(err)
				return
			}
			defer pc.Close()
			for s := uint64(1); s <= perOrigin; s++ {
				ch := "ch.a"
				if s%3 == 0 {
					ch = "ch.b"
				}
				pc.Publish(ch, clusterMsg(o, s))
				published.Add(1)
				if s%100 == 0 {
					time.Sleep(2 * time.Millisecond)
				}
			}
			pc.Flush()
		}()
	}

	// Hand over while the streams flow.
	for published.Load() < perOrigin {
		time.Sleep(time.Millisecond)
	}
	if _, err := tx.Prepare(t.Context()); err != nil {
		t.Fatal(err)
	}
	pmu.Lock()
	err = tx.Commit()
	committed = true
	pmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-tx.Subscribed():
	case <-time.After(waitFor):
		t.Fatal("no SUBSCRIBED")
	}
	time.Sleep(overlap)
	// Make sure the overlap saw traffic (a loaded machine can stall the
	// publishers for longer than it): messages the successor holds were
	// routed while the old process was still subscribed too.
	for deadline := time.Now().Add(waitFor); sw.Stats().Held < 50 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	parent.Drain() // unsubscribe, then deliver what was received
	select {
	case <-closed:
	case <-time.After(waitFor):
		t.Fatal("drain did not finish")
	}
	if err := tx.EndNATS(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	if r := waitRun(t, rc); r.err != nil || !r.out.Committed {
		t.Fatalf("Run = %+v, %v", r.out, r.err)
	}
	wg.Wait()

	// Every foreign message exactly once, in order per origin and channel.
	want := map[string][]uint64{}
	for _, o := range []uint64{77, 88} {
		for s := uint64(1); s <= perOrigin; s++ {
			ch := "ch.a"
			if s%3 == 0 {
				ch = "ch.b"
			}
			k := fmt.Sprintf("%d/%s", o, ch)
			want[k] = append(want[k], s)
		}
	}
	deadline := time.Now().Add(waitFor)
	for {
		d.mu.Lock()
		n := d.n
		d.mu.Unlock()
		if n >= 2*perOrigin || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // room for a duplicate to show up
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.got) != len(want) {
		t.Fatalf("delivered streams %d, want %d (self origins leaked?): %v", len(d.got), len(want), keys(d.got))
	}
	for k, w := range want {
		g := d.got[k]
		if len(g) != len(w) {
			t.Fatalf("%s: %d messages delivered, want %d (%s)", k, len(g), len(w), firstDiff(g, w))
		}
		for i := range w {
			if g[i] != w[i] {
				t.Fatalf("%s: %s", k, firstDiff(g, w))
			}
		}
	}
	return sw.Stats()
}

func keys(m map[string][]uint64) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}

func firstDiff(got, want []uint64) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d got %d want %d", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(got), len(want))
}

// switchAdopter is a successor with no connections: it feeds relayed
// messages to the switch and subscribes on COMMIT.
type switchAdopter struct {
	sw        *Switch
	d         *deliveries
	subscribe func()
}

func (a *switchAdopter) Adopt(Conn) error           { return nil }
func (a *switchAdopter) Write(uint64, []byte, bool) {}
func (a *switchAdopter) Event(uint64, []byte)       {}
func (a *switchAdopter) Abort(error)                {}
func (a *switchAdopter) Commit()                    { go a.subscribe() }
func (a *switchAdopter) NATSEnd()                   { a.sw.End(a.d.add) }
func (a *switchAdopter) Relayed(m Message) {
	// The payload is valid only during the call; the deliveries keep
	// numbers only.
	a.sw.Relayed(m, a.d.add)
}
