package handover

import (
	"fmt"
	"reflect"
	"testing"
)

// TestSwitchTable checks the switch's rules one event at a time: relayed
// messages are delivered until End; own ones are held until End, then
// delivered above the highest relayed sequence of their origin; Self
// origins never come from the cluster.
func TestSwitchTable(t *testing.T) {
	type ev struct {
		src      string // "relay", "own", "end"
		origin   uint64
		seq      uint64
		ch       string
		wantNow  []uint64 // seqs delivered by this event
		statsAft *SwitchStats
	}
	cases := []struct {
		name string
		cfg  SwitchConfig
		evs  []ev
	}{
		{"overlap: duplicates dropped, the rest released in order", SwitchConfig{Self: []uint64{1, 2}}, []ev{
			{src: "relay", origin: 7, seq: 1, wantNow: []uint64{1}},
			{src: "relay", origin: 7, seq: 2, wantNow: []uint64{2}},
			{src: "own", origin: 7, seq: 2},
			{src: "relay", origin: 7, seq: 3, wantNow: []uint64{3}},
			{src: "own", origin: 7, seq: 3},
			{src: "own", origin: 7, seq: 4},
			{src: "own", origin: 7, seq: 5},
			{src: "end", wantNow: []uint64{4, 5}},
			{src: "own", origin: 7, seq: 6, wantNow: []uint64{6}},
			{src: "own", origin: 7, seq: 3, statsAft: &SwitchStats{Relayed: 3, Own: 3, Duplicates: 3, Held: 4}},
		}},
		{"origins are independent", SwitchConfig{}, []ev{
			{src: "relay", origin: 7, seq: 10, wantNow: []uint64{10}},
			{src: "own", origin: 8, seq: 3},
			{src: "own", origin: 7, seq: 10},
			{src: "end", wantNow: []uint64{3}},
			{src: "own", origin: 8, seq: 4, wantNow: []uint64{4}},
		}},
		{"a gap in one channel's numbers is not a loss", SwitchConfig{}, []ev{
			// origin 7 sent 5 to a channel nobody here wants, then 6.
			{src: "relay", origin: 7, seq: 4, wantNow: []uint64{4}},
			{src: "own", origin: 7, seq: 6},
			{src: "end", wantNow: []uint64{6}},
		}},
		{"thresholds are per channel: unsubscriptions end at different points", SwitchConfig{}, []ev{
			// The old process's subscription to a ended before message
			// 5 (to a), its subscription to b after message 6 (to b).
			{src: "relay", origin: 7, seq: 4, ch: "a", wantNow: []uint64{4}},
			{src: "relay", origin: 7, seq: 6, ch: "b", wantNow: []uint64{6}},
			{src: "own", origin: 7, seq: 5, ch: "a"},
			{src: "own", origin: 7, seq: 6, ch: "b"},
			{src: "own", origin: 7, seq: 7, ch: "a"},
			{src: "end", wantNow: []uint64{5, 7}},
			{src: "own", origin: 7, seq: 6, ch: "b", statsAft: &SwitchStats{Relayed: 2, Own: 2, Duplicates: 2, Held: 3}},
		}},
		{"self origins dropped, relayed ones kept", SwitchConfig{Self: []uint64{1, 2}}, []ev{
			{src: "own", origin: 1, seq: 1},
			{src: "own", origin: 2, seq: 1},
			{src: "relay", origin: 1, seq: 9, wantNow: []uint64{9}},
			{src: "end"},
			{src: "own", origin: 2, seq: 2, statsAft: &SwitchStats{Relayed: 1, Self: 3}},
		}},
		{"bound reached: the switch ends early, later relays are late", SwitchConfig{MaxHeld: 2}, []ev{
			{src: "relay", origin: 7, seq: 1, wantNow: []uint64{1}},
			{src: "own", origin: 7, seq: 1},
			{src: "own", origin: 7, seq: 2, wantNow: []uint64{2}},
			{src: "relay", origin: 7, seq: 2},
			{src: "end"},
			{src: "own", origin: 7, seq: 3, wantNow: []uint64{3}, statsAft: &SwitchStats{Relayed: 1, Own: 2, Duplicates: 1, Late: 1, Held: 2, Forced: true}},
		}},
		{"origin-less relays kept for matching are bounded too", SwitchConfig{MaxHeld: 2}, []ev{
			{src: "relay", seq: 1, ch: "a", wantNow: []uint64{1}},
			{src: "own", seq: 9, ch: "c"},
			{src: "relay", seq: 2, ch: "b", wantNow: []uint64{2, 9}},
			{src: "relay", seq: 3, ch: "d", statsAft: &SwitchStats{Relayed: 2, Own: 1, Late: 1, Held: 1, Forced: true}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewSwitch(c.cfg)
			for i, e := range c.evs {
				var got []uint64
				deliver := func(m Message) { got = append(got, m.Seq) }
				m := Message{Origin: e.origin, Seq: e.seq, Channel: []byte(e.ch)}
				switch e.src {
				case "relay":
					s.Relayed(m, deliver)
				case "own":
					s.Own(m, deliver)
				case "end":
					s.End(deliver)
				}
				if !reflect.DeepEqual(got, e.wantNow) {
					t.Fatalf("event %d (%s %d/%d) delivered %v, want %v", i, e.src, e.origin, e.seq, got, e.wantNow)
				}
				if e.statsAft != nil {
					if st := s.Stats(); st != *e.statsAft {
						t.Fatalf("after event %d stats %+v, want %+v", i, st, *e.statsAft)
					}
				}
			}
		})
	}
}

func ExampleSwitch() {
	sw := NewSwitch(SwitchConfig{Self: []uint64{100, 200}})
	deliver := func(m Message) { fmt.Println("deliver", m.Origin, m.Seq) }
	sw.Relayed(Message{Origin: 7, Seq: 41}, deliver) // relayed by the old process
	sw.Own(Message{Origin: 7, Seq: 41}, deliver)     // also received here: held
	sw.Own(Message{Origin: 7, Seq: 42}, deliver)     // only received here: held
	sw.Own(Message{Origin: 200, Seq: 5}, deliver)    // the old process's own: never from the cluster
	sw.End(deliver)                                  // NATSEND
	// Output:
	// deliver 7 41
	// deliver 7 42
}

// TestSwitchWithoutOrigin: messages without origin (a backend's plain JSON)
// are matched by channel and content; unmatched relays are forgotten at End,
// so a later message with the same content is delivered.
func TestSwitchWithoutOrigin(t *testing.T) {
	cases := []struct {
		name  string
		evs   []string // "r:ch:payload", "o:ch:payload", "end"
		want  []string // every delivery, in order
		stats SwitchStats
	}{
		{"overlap dropped, the rest delivered once and in order",
			[]string{"r:a:1", "r:a:2", "o:a:2", "r:a:3", "o:a:3", "o:a:4", "o:a:5", "end", "o:a:6"},
			[]string{"a:1", "a:2", "a:3", "a:4", "a:5", "a:6"},
			SwitchStats{Relayed: 3, Own: 3, Duplicates: 2, Held: 4}},
		{"channels are apart: equal payloads on two channels",
			[]string{"r:a:x", "o:b:x", "o:a:x", "end"},
			[]string{"a:x", "b:x"},
			SwitchStats{Relayed: 1, Own: 1, Duplicates: 1, Held: 2}},
		{"equal payloads are matched once each",
			[]string{"r:a:x", "r:a:x", "o:a:x", "o:a:x", "o:a:x", "end"},
			[]string{"a:x", "a:x", "a:x"},
			SwitchStats{Relayed: 2, Own: 1, Duplicates: 2, Held: 3}},
		{"unmatched relays are forgotten at End",
			[]string{"r:a:ping", "end", "o:a:ping", "o:a:ping"},
			[]string{"a:ping", "a:ping", "a:ping"},
			SwitchStats{Relayed: 1, Own: 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewSwitch(SwitchConfig{Self: []uint64{1}})
			var got []string
			deliver := func(m Message) { got = append(got, string(m.Channel)+":"+string(m.Payload)) }
			for _, e := range c.evs {
				if e == "end" {
					s.End(deliver)
					continue
				}
				m := Message{Channel: []byte(e[2:3]), Payload: []byte(e[4:])}
				if e[0] == 'r' {
					s.Relayed(m, deliver)
				} else {
					s.Own(m, deliver)
				}
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("delivered %v, want %v", got, c.want)
			}
			if st := s.Stats(); st != c.stats {
				t.Fatalf("stats %+v, want %+v", st, c.stats)
			}
		})
	}
}

// BenchmarkSwitch is the successor's cost per cluster message during the
// window: each message relayed once and received once on its own
// subscription (held, then matched at End), per op 1,000 messages on 10
// channels; with origin and number, and without (a backend's plain JSON,
// matched by content).
func BenchmarkSwitch(b *testing.B) {
	const n = 1000
	payload := []byte(`{"type":"message","channel":"room","data":{"n":12345}}`)
	chans := make([][]byte, 10)
	for i := range chans {
		chans[i] = fmt.Appendf(nil, "wsedge.ch.room%d", i)
	}
	for _, origin := range []uint64{7, 0} {
		b.Run(fmt.Sprintf("origin=%d", origin), func(b *testing.B) {
			delivered := 0
			deliver := func(Message) { delivered++ }
			b.ReportAllocs()
			for b.Loop() {
				s := NewSwitch(SwitchConfig{Self: []uint64{1, 2}})
				for i := range n {
					m := Message{Origin: origin, Seq: uint64(i + 1), Channel: chans[i%len(chans)], Payload: payload}
					s.Relayed(m, deliver)
					s.Own(m, deliver)
				}
				s.End(deliver)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
		})
	}
}
