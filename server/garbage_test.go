package server

import (
	"bytes"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/codec"
)

// TestRandomGarbageAfterUpgrade: 200 connections each send seeded random
// bytes (half raw noise, half plausible masked frames with random header
// bits) to /echo and /ws. The server answers each with a close or echoes,
// never crashes, releases every socket, and a bystander keeps working.
func TestRandomGarbageAfterUpgrade(t *testing.T) {
	o := testOptions()
	o.MaxMessageSize = 4096
	o.ReadTimeout = time.Second // a half frame left by the noise ends soon
	s := startServer(t, o)
	bystander, _, err := websocket.DefaultDialer.Dial(wsURL(s, "/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bystander.Close()

	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(seed uint64) {
			defer wg.Done()
			defer func() { <-sem }()
			rng := rand.New(rand.NewPCG(seed, 42))
			path := "/echo"
			if seed%2 == 1 {
				path = "/ws"
			}
			r := dialRaw(t, s, path)
			var junk []byte
			for len(junk) < 2000 {
				if seed%4 < 2 {
					junk = append(junk, byte(rng.IntN(256)))
					continue
				}
				// A frame with random FIN/RSV/opcode and a random payload.
				p := make([]byte, rng.IntN(300))
				for k := range p {
					p[k] = byte(rng.IntN(256))
				}
				f := codec.AppendClientFrame(nil, codec.OpCode(rng.IntN(16)), rng.IntN(4) > 0, [4]byte{1, 2, 3, 4}, p)
				if rng.IntN(5) == 0 {
					f[0] |= byte(rng.IntN(8)) << 4
				}
				junk = append(junk, f...)
			}
			r.conn.SetDeadline(time.Now().Add(5 * time.Second))
			r.conn.Write(junk) // the server may close before it has read it all
			// Read what comes back until the server ends the connection or,
			// for junk it accepted (errors on /ws), the deadline.
			io.Copy(io.Discard, r.br)
			r.conn.Close()
		}(uint64(i))
	}
	wg.Wait()
	msg := []byte("still fine")
	if err := bystander.WriteMessage(websocket.TextMessage, msg); err != nil {
		t.Fatal(err)
	}
	if _, got, err := bystander.ReadMessage(); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("bystander: %q %v", got, err)
	}
	waitFor(t, 10*time.Second, "all garbage connections released", func() bool { return s.poll.Len() == 1 })
	if c := s.Connections(); c != 1 {
		t.Fatalf("%d connections counted, want only the bystander", c)
	}
	closes := 0.0
	for _, code := range []string{"1002", "1003", "1007", "1009"} {
		n := counterValue(t, s.m.Closes.WithLabelValues(code))
		closes += n
		t.Logf("close %s: %v", code, n)
	}
	if closes < 100 {
		t.Fatalf("only %v protocol closes for 200 garbage connections", closes)
	}
}
