package tlsrecord

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"sync"
	"testing"
)

func TestKeyUpdate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		requested bool
		split     []int // KeyUpdate message cut into records of these sizes
	}{
		{"not requested", false, []int{5}},
		{"requested", true, []int{5}},
		{"requested, split across records", true, []int{1, 2, 2}},
		{"split byte by byte", false, []int{1, 1, 1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server, client := pair(t, tls.TLS_AES_128_GCM_SHA256)
			msg := []byte{msgKeyUpdate, 0, 0, 1, 0}
			if tc.requested {
				msg[4] = 1
			}
			wire, _ := client.Seal(nil, []byte("before"))
			for _, n := range tc.split {
				wire = append(wire, record(t, client, innerHandshake, msg[:n], 0)...)
				msg = msg[n:]
			}
			// The client moves to its next write secret, as its own
			// KeyUpdate says.
			client.mu.Lock()
			if err := client.update(&client.out); err != nil {
				t.Fatal(err)
			}
			client.mu.Unlock()
			wire, _ = client.Seal(wire, []byte("after"))
			got, _, err := openAll(server, wire)
			if err != nil || string(got) != "beforeafter" {
				t.Fatalf("Open = %q, %v", got, err)
			}
			if server.Pending() != tc.requested {
				t.Fatalf("Pending = %v, want %v", server.Pending(), tc.requested)
			}
			// Our next data goes after our own KeyUpdate, under the
			// next secret; the client (which applies it in Open) reads it.
			reply, err := server.Seal(nil, []byte("reply"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.requested != (len(reply) > SealedLen(5)-2*keyUpdateLen) {
				t.Fatalf("reply of %d bytes: KeyUpdate sent = %v, want %v", len(reply), !tc.requested, tc.requested)
			}
			got, _, err = openAll(client, reply)
			if err != nil || string(got) != "reply" {
				t.Fatalf("client Open = %q, %v", got, err)
			}
			if server.Pending() {
				t.Fatal("still pending after the KeyUpdate was sealed")
			}
		})
	}
}

func TestSealPendingWithoutData(t *testing.T) {
	server, client := pair(t, tls.TLS_AES_128_GCM_SHA256)
	if _, _, err := openAll(server, record(t, client, innerHandshake, []byte{msgKeyUpdate, 0, 0, 1, 1}, 0)); err != nil {
		t.Fatal(err)
	}
	out, err := server.SealPending(nil)
	if err != nil || len(out) != keyUpdateLen {
		t.Fatalf("SealPending = %d bytes, %v; want one KeyUpdate record", len(out), err)
	}
	if out, _ := server.SealPending(nil); len(out) != 0 {
		t.Fatal("a second SealPending sent another KeyUpdate")
	}
}

// TestRekeyBeforeLimit: after rekeyAfter records under one key, Seal sends a
// KeyUpdate of its own before the next record, and the peer follows.
func TestRekeyBeforeLimit(t *testing.T) {
	server, client := pair(t, tls.TLS_AES_256_GCM_SHA384)
	server.out.seq, client.in.seq = rekeyAfter-1, rekeyAfter-1
	out, err := server.Seal(nil, []byte("last under key 0"))
	if err != nil {
		t.Fatal(err)
	}
	out, err = server.Seal(out, []byte("first under key 1"))
	if err != nil {
		t.Fatal(err)
	}
	if server.out.seq != 1 {
		t.Fatalf("write seq after the rekey = %d, want 1", server.out.seq)
	}
	got, _, err := openAll(client, out)
	if err != nil || string(got) != "last under key 0first under key 1" {
		t.Fatalf("peer read %q, %v", got, err)
	}
}

func TestSequenceNumbersNeverWrap(t *testing.T) {
	server, client := pair(t, tls.TLS_AES_128_GCM_SHA256)
	// Write side: the record at 2^64-2 is the last; 2^64-1 is refused.
	// (The rekey rule would update the key long before; force the case.)
	server.mu.Lock()
	server.out.seq = maxSeq - 1
	out, err := server.sealRecordLocked(nil, innerAppData, []byte("last"), nil)
	server.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.Seal(nil, []byte("x")); err != ErrSeqExhausted {
		t.Fatalf("Seal at 2^64-1: %v, want ErrSeqExhausted", err)
	}
	if _, err := server.Seal(nil, []byte("x")); err != ErrClosed {
		t.Fatalf("Seal after exhaustion: %v, want ErrClosed", err)
	}
	// Read side likewise.
	client.in.seq = maxSeq - 1
	got, _, err := openAll(client, out)
	if err != nil || string(got) != "last" {
		t.Fatalf("Open at 2^64-2: %q, %v", got, err)
	}
	if _, _, err := client.Open(out); err != ErrSeqExhausted {
		t.Fatalf("Open at 2^64-1: %v, want ErrSeqExhausted", err)
	}
}

func TestSealLargeAndIdle(t *testing.T) {
	server, client := pair(t, tls.TLS_CHACHA20_POLY1305_SHA256)
	msg := bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16+3) // 100 KiB + 48
	out, err := server.Seal(make([]byte, 0, SealedLen(len(msg))), msg)
	if err != nil {
		t.Fatal(err)
	}
	records := 0
	for rest := out; len(rest) > 0; records++ {
		n := int(rest[3])<<8 | int(rest[4])
		if n > maxPlaintext+1+tagLen {
			t.Fatalf("record of %d bytes", n)
		}
		rest = rest[headerLen+n:]
	}
	if want := (len(msg) + maxPlaintext - 1) / maxPlaintext; records != want {
		t.Fatalf("%d records, want %d", records, want)
	}
	// Idle twice drops the cipher state of both sides; data still flows.
	for range 2 {
		server.Idle()
		client.Idle()
	}
	if server.in.k != nil || server.out.k != nil {
		t.Fatal("Idle twice kept cipher state")
	}
	got, _, err := openAll(client, out)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
	// One Idle after use keeps the state (second chance).
	client.Idle()
	if client.in.k == nil {
		t.Fatal("Idle right after use dropped the state")
	}
}

// TestConcurrentSeal: writers on many goroutines, each holding the caller's
// queue lock across Seal and enqueue as documented; the peer reads every
// message whole and in queue order.
func TestConcurrentSeal(t *testing.T) {
	server, client := pair(t, tls.TLS_AES_128_GCM_SHA256)
	var qmu sync.Mutex
	var wire []byte
	var order []string
	var wg sync.WaitGroup
	// The loop drops idle state while the writers seal.
	stop := make(chan struct{})
	idled := make(chan struct{})
	go func() {
		defer close(idled)
		for {
			select {
			case <-stop:
				return
			default:
				server.Idle()
			}
		}
	}()
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				m := fmt.Sprintf("[g%d m%d]", g, i)
				qmu.Lock()
				var err error
				wire, err = server.Seal(wire, []byte(m))
				order = append(order, m)
				qmu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-idled
	var want bytes.Buffer
	for _, m := range order {
		want.WriteString(m)
	}
	got, _, err := openAll(client, wire)
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("read %d bytes (%v), want %d in order", len(got), err, want.Len())
	}
}
