package tlsrecord

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// script is what the client sends: chunks, each after a pause.
type chunk struct {
	pause time.Duration
	data  []byte
}

func pattern(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// runClient dials with crypto/tls, sends the script and reads the greeting
// plus the echo of everything it sent, then closes with close_notify and
// reads to the server's close_notify.
func runClient(t *testing.T, addr string, cfg *tls.Config, greeting []byte, script []chunk) []byte {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	total := len(greeting)
	for _, ch := range script {
		total += len(ch.data)
	}
	got := make(chan []byte, 1)
	go func() {
		var all []byte
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil {
				if err != io.EOF {
					all = append(all, fmt.Sprintf("<read error: %v>", err)...)
				}
				got <- all
				return
			}
		}
	}()
	for _, ch := range script {
		time.Sleep(ch.pause)
		if _, err := c.Write(ch.data); err != nil {
			t.Fatal(err)
		}
	}
	// close_notify only ends our direction: the server still echoes
	// what it has and then sends its own.
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	return <-got
}

// TestDifferential runs the same client script against a server that stays
// on crypto/tls and one that switches to this package after the handshake:
// both sides must see the same bytes.
func TestDifferential(t *testing.T) {
	base, files := serverConfig(t)
	greeting := pattern(1, 40000) // several records from the server first
	script := []chunk{
		{0, []byte("x")}, // right after the handshake, maybe in the same segment as Finished
		{0, pattern(2, 100)},
		{0, pattern(3, 16384)},
		{0, pattern(4, 16385)},
		{120 * time.Millisecond, pattern(5, 70000)}, // after an idle gap longer than two quiet periods
		{120 * time.Millisecond, []byte("after the second gap")},
	}
	var want []byte
	for _, ch := range script {
		want = append(want, ch.data...)
	}
	for _, cache := range []tls.ClientSessionCache{nil, tls.NewLRUClientSessionCache(1)} {
		clientCfg := &tls.Config{RootCAs: files.pool, ServerName: "127.0.0.1", ClientSessionCache: cache}
		// With a session cache the client offers PSK modes and
		// crypto/tls sends one ticket under the application key.
		wantSeq := map[bool]uint64{false: 0, true: 1}[cache != nil]
		differential(t, base, clientCfg, greeting, script, want, wantSeq)
	}
}

func differential(t *testing.T, base, clientCfg *tls.Config, greeting []byte, script []chunk, want []byte, wantSeq uint64) {
	results := map[string][]byte{}
	for _, useRecord := range []bool{false, true} {
		name := map[bool]string{false: "crypto/tls", true: "tlsrecord"}[useRecord]
		ln := listen(t)
		res := echoServer(t, ln, NewAcceptor(base), base, useRecord, greeting, 20*time.Millisecond)
		clientGot := runClient(t, ln.Addr().String(), clientCfg, greeting, script)
		r := <-res
		if r.err != nil {
			t.Fatalf("%s server: %v", name, r.err)
		}
		if useRecord {
			if !r.switched {
				t.Fatalf("did not switch: %v", r.switchError)
			}
			if r.drops == 0 {
				t.Fatal("the idle gaps never dropped the cipher state")
			}
			if r.ticketSeq != wantSeq {
				t.Fatalf("write seq at the switch = %d, want %d", r.ticketSeq, wantSeq)
			}
		}
		if !bytes.Equal(r.received, want) {
			t.Fatalf("%s server received %d bytes, want the %d sent", name, len(r.received), len(want))
		}
		results[name] = clientGot
	}
	if a, b := results["crypto/tls"], results["tlsrecord"]; !bytes.Equal(a, b) || !bytes.Equal(a, append(append([]byte(nil), greeting...), want...)) {
		t.Fatalf("client received %d bytes from crypto/tls, %d from tlsrecord; want both %d, equal",
			len(a), len(b), len(greeting)+len(want))
	}
}

// TestSwitchVariants: session resumption, tickets disabled, and a TLS 1.2
// client (stays on crypto/tls end to end).
func TestSwitchVariants(t *testing.T) {
	base, files := serverConfig(t)
	noTickets := base.Clone()
	noTickets.SessionTicketsDisabled = true
	cache := tls.NewLRUClientSessionCache(4)
	// One Acceptor per server config, as a listener has: tickets are
	// sealed with its keys, so a second connection can resume.
	acceptors := map[*tls.Config]*Acceptor{base: NewAcceptor(base), noTickets: NewAcceptor(noTickets)}
	for _, tc := range []struct {
		name      string
		server    *tls.Config
		client    *tls.Config
		switched  bool
		ticketSeq uint64
		resumed   bool
	}{
		{"full handshake, one ticket", base, &tls.Config{ClientSessionCache: cache}, true, 1, false},
		{"resumed with that ticket", base, &tls.Config{ClientSessionCache: cache}, true, 1, true},
		{"tickets disabled", noTickets, &tls.Config{}, true, 0, false},
		{"TLS 1.2 client", base, &tls.Config{MaxVersion: tls.VersionTLS12}, false, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			res := echoServer(t, ln, acceptors[tc.server], tc.server, true, []byte("hi"), 0)
			cfg := tc.client.Clone()
			cfg.RootCAs, cfg.ServerName = files.pool, "127.0.0.1"
			c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if c.ConnectionState().DidResume != tc.resumed {
				t.Fatalf("DidResume = %v", c.ConnectionState().DidResume)
			}
			io.WriteString(c, "ping")
			buf := make([]byte, 6)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hiping" {
				t.Fatalf("read %q, %v", buf, err)
			}
			c.CloseWrite()
			if _, err := c.Read(buf); err != io.EOF {
				t.Fatalf("after close_notify: %v", err)
			}
			r := <-res
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.switched != tc.switched || r.ticketSeq != tc.ticketSeq {
				t.Fatalf("switched %v at write seq %d (%v), want %v at %d", r.switched, r.ticketSeq, r.switchError, tc.switched, tc.ticketSeq)
			}
			if !tc.switched && !errors.Is(r.switchError, ErrNotSwitched) {
				t.Fatalf("switch error %v, want ErrNotSwitched", r.switchError)
			}
		})
	}
}
