package tlsrecord

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"testing"
)

// fuzzPair is a fixed server/peer pair, so a corpus entry replays the same.
func fuzzPair() (server, peer *Conn) {
	cs, ss := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	server, _ = newConn(tls.TLS_AES_128_GCM_SHA256, cs, ss, 0, 0)
	peer, _ = newConn(tls.TLS_AES_128_GCM_SHA256, ss, cs, 0, 0)
	return server, peer
}

// feed presents in to c in pieces of the given sizes, keeping unconsumed
// bytes as a caller would, and checks Open's invariants.
func feed(t *testing.T, c *Conn, in []byte, cuts []byte) (plain []byte, left int, err error) {
	var pending []byte
	for len(in) > 0 || len(cuts) > 0 {
		step := len(in)
		if len(cuts) > 0 {
			step = min(len(in), int(cuts[0])*64+1)
			cuts = cuts[1:]
		}
		pending = append(pending, in[:step]...)
		in = in[step:]
		n, consumed, oerr := c.Open(pending)
		if n < 0 || n > consumed || consumed > len(pending) {
			t.Fatalf("Open returned n=%d consumed=%d of %d", n, consumed, len(pending))
		}
		plain = append(plain, pending[:n]...)
		pending = append(pending[:0], pending[consumed:]...)
		if oerr != nil {
			if _, _, again := c.Open([]byte{recordAppData, 3, 3, 0, 0}); again == nil {
				t.Fatal("Open succeeded after an error")
			}
			return plain, len(pending), oerr
		}
		if len(in) == 0 && len(cuts) == 0 {
			break
		}
	}
	return plain, len(pending), nil
}

// FuzzOpen feeds arbitrary bytes: Open must never panic, keep its
// invariants and never return plaintext without a valid tag (with these
// random inputs: none at all).
func FuzzOpen(f *testing.F) {
	f.Add([]byte{recordAppData, 3, 3, 0, 20, 1, 2, 3}, []byte{0, 1})
	f.Add([]byte{recordCCS, 3, 3, 0, 1, 1}, []byte{})
	f.Add([]byte{recordAppData, 3, 3, 0xff, 0xff}, []byte{0})
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		server, _ := fuzzPair()
		plain, _, _ := feed(t, server, in, cuts)
		if len(plain) != 0 {
			t.Fatalf("forged input gave plaintext %x", plain)
		}
	})
}

// FuzzOpenMutated: the peer seals msg as records (with a KeyUpdate in the
// middle), then the stream is truncated, has a bit flipped, a type or
// length changed, or a record replayed or dropped. The reader must return
// a prefix of msg, all of it only for an intact stream; any change ends in
// a protocol error, or leaves the reader waiting for a record that a
// longer length field says is not complete.
func FuzzOpenMutated(f *testing.F) {
	f.Add([]byte("hello world"), byte(0), uint16(0), []byte{})
	f.Add(bytes.Repeat([]byte("x"), 40000), byte(1), uint16(20000), []byte{3, 7})
	f.Add([]byte("flip"), byte(2), uint16(8), []byte{})
	f.Add([]byte("type"), byte(3), uint16(0), []byte{})
	f.Add([]byte("long"), byte(4), uint16(0), []byte{})
	f.Add([]byte("again"), byte(5), uint16(0), []byte{1})
	f.Add([]byte("gone missing"), byte(6), uint16(0), []byte{})
	f.Fuzz(func(t *testing.T, msg []byte, mutation byte, pos uint16, cuts []byte) {
		server, peer := fuzzPair()
		half := len(msg) / 2
		wire, _ := peer.Seal(nil, msg[:half])
		wire = append(wire, record(t, peer, innerHandshake, []byte{msgKeyUpdate, 0, 0, 1, 0}, 0)...)
		peer.mu.Lock()
		peer.update(&peer.out)
		peer.mu.Unlock()
		wire, _ = peer.Seal(wire, msg[half:])
		p := int(pos) % (len(wire) + 1)
		changed := true // a whole record was altered
		switch mutation % 7 {
		case 0:
			changed = false
		case 1: // truncate: no error, a prefix
			wire, changed = wire[:p], false
		case 2: // flip a bit
			if p == len(wire) {
				p--
			}
			wire[p] ^= 1 << (pos % 8)
		case 3: // outer type
			wire[0] = byte(pos) | 1
			if wire[0] == recordAppData {
				wire[0] = recordCCS
			}
		case 4: // length beyond the limit
			wire[3], wire[4] = 0xff, 0xff
		case 5: // replay the first record at the end
			wire = append(wire, wire[:headerLen+(int(wire[3])<<8|int(wire[4]))]...)
		case 6: // drop the first record
			n := headerLen + (int(wire[3])<<8 | int(wire[4]))
			wire = wire[n:]
			changed = len(wire) > 0 // a drop shows only by the next record
		}
		plain, left, err := feed(t, server, wire, cuts)
		if !bytes.HasPrefix(msg, plain) {
			t.Fatalf("read %q, not a prefix of what was sent", plain)
		}
		if !changed {
			if err != nil {
				t.Fatalf("intact stream: %v", err)
			}
			if mutation%7 == 0 && !bytes.Equal(plain, msg) {
				t.Fatalf("intact stream read %d of %d bytes", len(plain), len(msg))
			}
			return
		}
		if err == nil && left > 0 {
			return // a changed length makes a record longer than the stream: still waiting
		}
		var e *Error
		if !errors.As(err, &e) || e.Remote || err == io.EOF {
			t.Fatalf("mutation %d at %d: err = %v, want a local protocol error", mutation%7, p, err)
		}
	})
}
