package handover

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
)

// FuzzParser feeds arbitrary stream bytes, cut into packets at arbitrary
// points, to the message parser: it must never panic, never hand out a
// payload longer than its bound, and report malformed headers as protocol
// errors.
func FuzzParser(f *testing.F) {
	f.Add(appendHeader(nil, msgCommit, 0, 0), uint8(1))
	f.Add(append(appendHeader(nil, msgWrite, 0, 4), 1, 'a', 'b', 'c'), uint8(2))
	f.Add(append(appendHeader(nil, msgBatch, 2, 3), 1, 1, 0), uint8(3))
	f.Add([]byte{0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint8(4))
	f.Add(append(appendHeader(nil, msgEnd, 0, 1<<30), 0), uint8(5))
	f.Fuzz(func(t *testing.T, stream []byte, cut uint8) {
		p := parser{maxMsg: 1 << 16}
		step := int(cut%32) + 1
		for off := 0; off < len(stream); off += step {
			end := min(off+step, len(stream))
			// Fake descriptors (-1: closing them is harmless) on every
			// other packet.
			var fds []int
			if off/step%2 == 0 {
				fds = []int{-1}
			}
			p.feed(stream[off:end], fds)
			for {
				m, ok, err := p.next()
				if err != nil {
					return
				}
				if !ok {
					break
				}
				if len(m.payload) > p.maxMsg {
					t.Fatalf("payload of %d bytes past the bound", len(m.payload))
				}
				decodeAny(m)
			}
		}
	})
}

// decodeAny runs the decoder of a message's type; decoders must not panic
// on any payload.
func decodeAny(m message) {
	switch m.typ {
	case msgStart:
		decodeStart(m.payload, m.fds)
	case msgBatch:
		decodeBatch(m.payload, m.fds)
	case msgHello:
		decodeHello(m.payload)
	case msgAck:
		decodeAck(m.payload)
	case msgEnd, msgWriteRef:
		decodeUints(m.typ, m.payload, 2)
	case msgPrepared:
		decodeUints(m.typ, m.payload, 1)
	case msgWrite, msgEvent, msgFrame:
		decodeIDRest(m.typ, m.payload)
	case msgChannel:
		decodeChannel(m.payload)
	}
}

// FuzzDecode runs every decoder on arbitrary payloads with up to 4 fake
// descriptors, and checks that what decodes re-encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(msgHello, encodeHello(Hello{MinVersion: 1, MaxVersion: 1, PID: 42, Origin: 7, Info: "v1"}), uint8(0))
	f.Add(msgStart, encodeStart(Start{Version: 1, PID: 9, NATS: true, Listeners: []Listener{{Name: "ws", Network: "tcp", Addr: "[::]:80"}}}), uint8(1))
	f.Add(msgAck, encodeAck(3, []Refusal{{ID: 5, Reason: "no"}}), uint8(0))
	f.Add(msgBatch, appendBatchEntry(appendBatchHead(nil, 1, 2), 7, []byte{1, 2}), uint8(2))
	f.Add(msgChannel, append(appendChannelHead(nil, Message{Origin: 1, Seq: 2, Channel: []byte("room")}), "data"...), uint8(0))
	f.Fuzz(func(t *testing.T, typ byte, payload []byte, nfds uint8) {
		fds := make([]int, nfds%5)
		for i := range fds {
			fds[i] = -1
		}
		switch typ {
		case msgHello:
			if h, err := decodeHello(payload); err == nil {
				if h2, err := decodeHello(encodeHello(h)); err != nil || h2 != h {
					t.Fatalf("HELLO %+v does not survive a round trip: %+v %v", h, h2, err)
				}
			}
		case msgStart:
			if s, err := decodeStart(payload, fds); err == nil {
				if len(s.Listeners) != len(fds) {
					t.Fatalf("START: %d listeners for %d descriptors", len(s.Listeners), len(fds))
				}
			}
		case msgBatch:
			if _, conns, err := decodeBatch(payload, fds); err == nil && len(conns) != len(fds) {
				t.Fatalf("BATCH: %d connections for %d descriptors", len(conns), len(fds))
			}
		case msgAck:
			if seq, r, err := decodeAck(payload); err == nil {
				seq2, r2, err := decodeAck(encodeAck(seq, r))
				if err != nil || seq2 != seq || !reflect.DeepEqual(r2, r) {
					t.Fatalf("ACK %d %v does not survive a round trip: %d %v %v", seq, r, seq2, r2, err)
				}
			}
		default:
			decodeAny(message{typ: typ, payload: payload, fds: fds})
		}
	})
}

// FuzzRecord: ReadRecord never panics, and a record it reads re-encodes to
// the same bytes.
func FuzzRecord(f *testing.F) {
	f.Add(NewRecord(nil, 1).Uint(1, 300).String(2, "alice").Duration(3, -5).Bool(4, true).Done())
	f.Add([]byte{1, 0x80})
	f.Add([]byte{2, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, fields, err := ReadRecord(b)
		if err != nil {
			return
		}
		r := NewRecord(nil, v)
		for _, fl := range fields {
			r.Bytes(fl.Tag, fl.Value)
			fl.Uint()
			fl.Int()
			fl.Bool()
		}
		if got := r.Done(); !bytes.Equal(got, b) && canonical(b) {
			t.Fatalf("record %x re-encodes as %x", b, got)
		}
	})
}

// canonical reports whether every uvarint in a record is in its shortest
// form (only those re-encode byte for byte).
func canonical(b []byte) bool {
	r := b[1:]
	for len(r) > 0 {
		for i := 0; i < 2; i++ {
			v, n := binary.Uvarint(r)
			if n <= 0 || n != len(binary.AppendUvarint(nil, v)) {
				return false
			}
			r = r[n:]
			if i == 1 {
				r = r[v:]
			}
		}
	}
	return true
}
