package tlsrecord

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"testing"
)

// wantAlert checks that err is a local protocol error owing the peer a.
func wantAlert(t *testing.T, err error, a Alert) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Remote || e.Alert != a {
		t.Fatalf("err = %v, want a local %v error", err, a)
	}
}

func TestOpenRejects(t *testing.T) {
	big := make([]byte, maxPlaintext+1)
	for _, tc := range []struct {
		name  string
		input func(t *testing.T, client *Conn) []byte
		alert Alert
	}{
		{"change_cipher_spec after the handshake", func(t *testing.T, _ *Conn) []byte {
			return []byte{recordCCS, 3, 3, 0, 1, 1}
		}, AlertUnexpectedMessage},
		{"plaintext handshake record", func(t *testing.T, _ *Conn) []byte {
			return []byte{0x16, 3, 3, 0, 5, 24, 0, 0, 1, 0}
		}, AlertUnexpectedMessage},
		{"plaintext alert", func(t *testing.T, _ *Conn) []byte {
			return []byte{0x15, 3, 3, 0, 2, 2, 40}
		}, AlertUnexpectedMessage},
		{"oversized header, body not yet here", func(t *testing.T, _ *Conn) []byte {
			n := maxCiphertext + 1
			return []byte{recordAppData, 3, 3, byte(n >> 8), byte(n)}
		}, AlertRecordOverflow},
		{"inner plaintext over 2^14+1", func(t *testing.T, c *Conn) []byte {
			return record(t, c, innerAppData, big, 0)
		}, AlertRecordOverflow},
		{"bad tag", func(t *testing.T, c *Conn) []byte {
			r := record(t, c, innerAppData, []byte("hello"), 0)
			r[len(r)-1] ^= 1
			return r
		}, AlertBadRecordMAC},
		{"flipped ciphertext bit", func(t *testing.T, c *Conn) []byte {
			r := record(t, c, innerAppData, []byte("hello"), 0)
			r[headerLen] ^= 0x80
			return r
		}, AlertBadRecordMAC},
		{"legacy version changed (it is additional data)", func(t *testing.T, c *Conn) []byte {
			r := record(t, c, innerAppData, []byte("hello"), 0)
			r[2] = 1
			return r
		}, AlertBadRecordMAC},
		{"truncated to less than a tag", func(t *testing.T, _ *Conn) []byte {
			return []byte{recordAppData, 3, 3, 0, 3, 1, 2, 3}
		}, AlertBadRecordMAC},
		{"replayed record", func(t *testing.T, c *Conn) []byte {
			r := record(t, c, innerAppData, []byte("once"), 0)
			return append(r, r...)
		}, AlertBadRecordMAC},
		{"no content type (all zero)", func(t *testing.T, c *Conn) []byte {
			return record(t, c, 0, nil, 7)
		}, AlertUnexpectedMessage},
		{"unknown inner type", func(t *testing.T, c *Conn) []byte {
			return record(t, c, 24, []byte{1}, 0)
		}, AlertUnexpectedMessage},
		{"inner change_cipher_spec", func(t *testing.T, c *Conn) []byte {
			return record(t, c, 20, []byte{1}, 0)
		}, AlertUnexpectedMessage},
		{"alert of 3 bytes", func(t *testing.T, c *Conn) []byte {
			return record(t, c, innerAlert, []byte{1, 0, 0}, 0)
		}, AlertDecodeError},
		{"empty alert", func(t *testing.T, c *Conn) []byte {
			return record(t, c, innerAlert, nil, 3)
		}, AlertDecodeError},
		{"NewSessionTicket from the client", func(t *testing.T, c *Conn) []byte {
			return record(t, c, innerHandshake, []byte{msgNewTicket, 0, 0, 4, 0, 0, 0, 0}, 0)
		}, AlertUnexpectedMessage},
		{"post-handshake Finished", func(t *testing.T, c *Conn) []byte {
			return record(t, c, innerHandshake, []byte{20, 0, 0, 1, 0}, 0)
		}, AlertUnexpectedMessage},
		{"empty handshake record", func(t *testing.T, c *Conn) []byte {
			return record(t, c, innerHandshake, nil, 1)
		}, AlertUnexpectedMessage},
		{"KeyUpdate of length 2", func(t *testing.T, c *Conn) []byte {
			return record(t, c, innerHandshake, []byte{msgKeyUpdate, 0, 0, 2, 0, 0}, 0)
		}, AlertDecodeError},
		{"KeyUpdate request_update 2", func(t *testing.T, c *Conn) []byte {
			return record(t, c, innerHandshake, []byte{msgKeyUpdate, 0, 0, 1, 2}, 0)
		}, AlertIllegalParameter},
		{"data after KeyUpdate in its record", func(t *testing.T, c *Conn) []byte {
			return record(t, c, innerHandshake, []byte{msgKeyUpdate, 0, 0, 1, 0, msgKeyUpdate}, 0)
		}, AlertUnexpectedMessage},
		{"application data inside a split KeyUpdate", func(t *testing.T, c *Conn) []byte {
			a := record(t, c, innerHandshake, []byte{msgKeyUpdate, 0}, 0)
			return append(a, record(t, c, innerAppData, []byte("x"), 0)...)
		}, AlertUnexpectedMessage},
		{"17 empty records in a row", func(t *testing.T, c *Conn) []byte {
			var b []byte
			for range maxUseless + 1 {
				b = append(b, record(t, c, innerAppData, nil, 0)...)
			}
			return b
		}, AlertUnexpectedMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server, client := pair(t, tls.TLS_AES_128_GCM_SHA256)
			in := tc.input(t, client)
			_, _, err := openAll(server, in)
			wantAlert(t, err, tc.alert)
			// The read side stays ended.
			if _, _, err2 := openAll(server, record(t, client, innerAppData, []byte("later"), 0)); err2 == nil {
				t.Fatal("Open succeeded after a fatal error")
			}
			// The owed alert reaches the peer as that alert.
			out := server.SealError(nil, err)
			_, _, perr := openAll(client, out)
			var e *Error
			if !errors.As(perr, &e) || !e.Remote || e.Alert != tc.alert {
				t.Fatalf("peer read %v from our alert, want remote %v", perr, tc.alert)
			}
			if _, err := server.Seal(nil, []byte("x")); err != ErrClosed {
				t.Fatalf("Seal after a fatal alert: %v, want ErrClosed", err)
			}
		})
	}
}

func TestOpenStream(t *testing.T) {
	for _, id := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256} {
		t.Run(tls.CipherSuiteName(id), func(t *testing.T) {
			server, client := pair(t, id)
			var wire, want []byte
			for i, m := range []string{"a", "hello", "", "world of records"} {
				wire = append(wire, record(t, client, innerAppData, []byte(m), i*3)...) // padding varies
				want = append(want, m...)
			}
			// user_canceled is ignored; the data goes on.
			wire = append(wire, record(t, client, innerAlert, []byte{1, byte(AlertUserCanceled)}, 0)...)
			wire = append(wire, record(t, client, innerAppData, []byte("!"), 0)...)
			want = append(want, '!')
			// Present the stream cut at every position: what is consumed
			// is always whole records, the rest is presented again.
			for cut := 0; cut <= len(wire); cut++ {
				s, c := pair(t, id)
				*s, *c = *cloneConn(server), *cloneConn(client)
				var got []byte
				pending := append([]byte(nil), wire[:cut]...)
				for _, chunk := range [][]byte{nil, wire[cut:]} {
					pending = append(pending, chunk...)
					n, consumed, err := s.Open(pending)
					if err != nil {
						t.Fatalf("cut %d: %v", cut, err)
					}
					got = append(got, pending[:n]...)
					pending = append([]byte(nil), pending[consumed:]...)
				}
				if !bytes.Equal(got, want) || len(pending) != 0 {
					t.Fatalf("cut %d: got %q (left %d), want %q", cut, got, len(pending), want)
				}
			}
		})
	}
}

// cloneConn copies a fresh (never used) Conn's state.
func cloneConn(c *Conn) *Conn {
	return &Conn{in: c.in, out: c.out, suite: c.suite}
}

func TestCloseNotify(t *testing.T) {
	server, client := pair(t, tls.TLS_CHACHA20_POLY1305_SHA256)
	out, _ := client.Seal(nil, []byte("last words"))
	out, _ = client.SealClose(out)
	if _, err := client.Seal(nil, []byte("more")); err != ErrClosed {
		t.Fatalf("Seal after close_notify: %v", err)
	}
	got, consumed, err := openAll(server, out)
	if err != io.EOF || string(got) != "last words" || consumed != len(out) {
		t.Fatalf("Open = %q, %d, %v; want the data then EOF", got, consumed, err)
	}
	if _, _, err := server.Open(nil); err != io.EOF {
		t.Fatalf("second Open: %v", err)
	}
	// Half-close: the server can still write, then close.
	reply, err := server.Seal(nil, []byte("bye"))
	if err != nil {
		t.Fatal(err)
	}
	reply, _ = server.SealClose(reply)
	if got, _, err := openAll(client, reply); err != io.EOF || string(got) != "bye" {
		t.Fatalf("client read %q, %v", got, err)
	}
	if b := server.SealError(nil, io.EOF); len(b) != 0 {
		t.Fatal("SealError owed an alert for close_notify")
	}
}

func TestRemoteAlert(t *testing.T) {
	server, client := pair(t, tls.TLS_AES_256_GCM_SHA384)
	in := record(t, client, innerAlert, []byte{2, 40}, 0) // handshake_failure
	_, _, err := openAll(server, in)
	var e *Error
	if !errors.As(err, &e) || !e.Remote || e.Alert != 40 {
		t.Fatalf("err = %v, want the peer's alert 40", err)
	}
	if b := server.SealError(nil, err); len(b) != 0 {
		t.Fatal("answered the peer's own alert with one")
	}
}
