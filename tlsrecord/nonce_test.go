package tlsrecord

import (
	"crypto/tls"
	"encoding/hex"
	"io"
	"testing"
)

// TestNoncesUnique records the (traffic secret, nonce) of every record
// sealed over a long connection, with KeyUpdates both ways, answered
// requests, idle drops and a rekey at the AES-GCM limit, starting from a
// real switch after crypto/tls sent a ticket under the same key: no pair may
// repeat, and every record opened was one sealed.
func TestNoncesUnique(t *testing.T) {
	sealed := map[string]bool{}
	var opened []string
	testHookNonce = func(write bool, secret, nonce []byte) {
		k := hex.EncodeToString(secret) + "/" + hex.EncodeToString(nonce)
		if !write {
			opened = append(opened, k)
			return
		}
		if sealed[k] {
			t.Errorf("nonce reused: %s", k)
		}
		sealed[k] = true
	}
	defer func() { testHookNonce = nil }()

	base, files := serverConfig(t)
	hs, client := handshakeOnce(t, NewAcceptor(base), &tls.Config{RootCAs: files.pool, ServerName: "127.0.0.1",
		ClientSessionCache: tls.NewLRUClientSessionCache(1)})
	server, err := hs.Switch()
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != 1 || server.out.seq != 1 {
		t.Fatalf("%d ticket nonces recorded, write seq %d; want crypto/tls's one ticket before ours", len(sealed), server.out.seq)
	}
	client.Close()
	// Continue the same server state against an in-process peer holding
	// the client's side of the same secrets.
	peer := &Conn{suite: server.suite, in: half{secret: server.out.secret, seq: server.out.seq},
		out: half{secret: server.in.secret, seq: server.in.seq}}

	const rounds = 3000
	for i := 0; i < rounds; i++ {
		msg := []byte{byte(i), byte(i >> 8)}
		up, err := peer.Seal(nil, msg)
		if err != nil {
			t.Fatal(err)
		}
		switch i % 97 {
		case 10: // peer updates its key
			up = append(up, record(t, peer, innerHandshake, []byte{msgKeyUpdate, 0, 0, 1, 0}, 0)...)
			peer.mu.Lock()
			peer.update(&peer.out)
			peer.mu.Unlock()
		case 50: // peer asks for ours too
			up = append(up, record(t, peer, innerHandshake, []byte{msgKeyUpdate, 0, 0, 1, 1}, 0)...)
			peer.mu.Lock()
			peer.update(&peer.out)
			peer.mu.Unlock()
		}
		if _, _, err := openAll(server, up); err != nil {
			t.Fatalf("round %d: server Open: %v", i, err)
		}
		if i%7 == 0 { // idle: drop and re-derive
			server.Idle()
			server.Idle()
		}
		if i == rounds/2 { // jump to the rekey point on both sides
			server.mu.Lock()
			server.out.seq = rekeyAfter - 2
			server.mu.Unlock()
			peer.in.seq = rekeyAfter - 2
		}
		down, err := server.Seal(nil, msg)
		if err != nil {
			t.Fatal(err)
		}
		if got, _, err := openAll(peer, down); err != nil || string(got) != string(msg) {
			t.Fatalf("round %d: peer read %x, %v", i, got, err)
		}
	}
	out, _ := server.SealClose(nil)
	if _, _, err := openAll(peer, out); err != io.EOF {
		t.Fatal(err)
	}
	for _, k := range opened {
		if !sealed[k] {
			t.Fatalf("opened a record never sealed: %s", k)
		}
	}
	if len(sealed) < 2*rounds {
		t.Fatalf("only %d records sealed", len(sealed))
	}
	t.Logf("%d records sealed, %d opened, all nonces unique per key", len(sealed), len(opened))
}
