package main

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/wsedge/wsedge/bench"
)

// negative matches a negative number printed as a figure.
var negative = regexp.MustCompile(`(^|[ (])-[0-9]`)

func TestPrintedFigures(t *testing.T) {
	unknown := bench.ServerState{RSS: -1, FDs: -1, Threads: -1, Goroutines: -1, Connections: -1}
	for _, tc := range []struct {
		name  string
		print func(io.Writer)
		want  []string
	}{
		{"idle", func(w io.Writer) {
			printIdle(w, bench.IdleResult{Conns: 10, Opened: 10, Held: 10, ConnectsPerSec: 17400,
				RSSBase: 20 << 20, RSSHeld: 19 << 20, Warnings: []string{"server RSS did not grow"}})
		}, []string{"17.4k connects/s", "no figure per connection", "warning    server RSS did not grow"}},
		{"idle with the server's heap", func(w io.Writer) {
			printIdle(w, bench.IdleResult{Conns: 10, Opened: 10, Held: 10, RSSBase: 20 << 20, RSSHeld: 21 << 20, RSSPerConn: 742,
				Heap: &bench.HeapPerConn{Live: 522, Spans: 550}})
		}, []string{"742 B per connection", "heap       522 B live, 550 B of spans per connection"}},
		{"echo", func(w io.Writer) { printEcho(w, bench.EchoResult{Conns: 1, MsgsPerSec: 65600}) }, []string{"65.6k msgs/s"}},
		{"broadcast", func(w io.Writer) {
			printBroadcast(w, bench.BroadcastResult{Subs: 3, DeliveriesPerSec: 147000})
		}, []string{"147.0k deliveries/s"}},
		{"churn unknown server", func(w io.Writer) {
			printChurn(w, bench.ChurnResult{Cycles: 5, CyclesPerSec: 11900, Before: unknown, Mid: unknown, After: unknown})
		}, []string{"11.9k cycles/s", "RSS -  fds -  threads -  goroutines -  connections -"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			tc.print(&b)
			out := b.String()
			if doubledUnit.MatchString(out) || negative.MatchString(out) {
				t.Fatalf("doubled unit or negative figure:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
