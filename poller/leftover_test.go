package poller

import (
	"bufio"
	"fmt"
	"net"
	"testing"
)

// TestLeftoverTable: unconsumed input lives in the loop's table only while a
// connection has some. 100 connections each holding half a line fill it; the
// rest of their lines empties it, and a table that held more than heldKeep
// entries is dropped once empty (a Go map keeps its size), so a burst of
// partial frames leaves nothing behind; the next partial input starts a new
// one.
func TestLeftoverTable(t *testing.T) { forEachBackend(t, testLeftoverTable) }

func testLeftoverTable(t *testing.T, backend string) {
	h := &lineHandler{}
	p := startPoller(t, Config{Backend: backend, Loops: 1}, h)
	table := func() (n, peak int, dropped bool) {
		p.eachLoop(func(l *loop) { n, peak, dropped = len(l.held), l.heldPeak, l.held == nil })
		return
	}
	const conns = 100
	cs := make([]net.Conn, conns)
	for i := range cs {
		cs[i] = dial(t, p)
		if _, err := fmt.Fprintf(cs[i], "half %d", i); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "every connection's half line held", func() bool { n, _, _ := table(); return n == conns })
	for i, c := range cs {
		if _, err := c.Write([]byte(" whole\n")); err != nil {
			t.Fatal(err)
		}
		got, err := bufio.NewReader(c).ReadString('\n')
		if want := fmt.Sprintf("half %d whole!\n", i); err != nil || got != want {
			t.Fatalf("conn %d: got %q, %v; want %q", i, got, err, want)
		}
	}
	waitUntil(t, "the table dropped", func() bool { _, peak, dropped := table(); return dropped && peak == 0 })
	c := dial(t, p)
	if _, err := c.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a new table for new partial input", func() bool { n, peak, _ := table(); return n == 1 && peak == 1 })
}
