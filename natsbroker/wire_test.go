package natsbroker

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/routing"
)

func TestWireRoundTrip(t *testing.T) {
	for _, e := range []envelope{
		{kind: kindChannel, origin: "node-a:8080", target: "room.1"},
		{kind: kindChannel, origin: "a", target: "c", exclude: routing.ClientID{Node: 0x0102030405060708, Session: 9}},
		{kind: kindUser, origin: "a", target: "user with spaces|and.dots"},
		{kind: kindCommand, origin: "a", command: CmdPresence},
		{kind: kindReply, origin: "b", command: CmdPresence, errText: "unknown channel"},
		{kind: kindChannel, origin: "a", target: "c", originID: 0xfedcba9876543210, seq: 1},
		{kind: kindCommand, origin: "a", command: CmdInfo, originID: 7, seq: 1 << 40},
	} {
		for _, payload := range []string{"", `{"type":"message","channel":"room.1","data":1}`} {
			b := appendEnvelope(nil, &e, []byte(payload))
			if !isBinary(b) || b[0] != 1 {
				t.Fatalf("first byte %#x", b[0])
			}
			var got envelope
			if err := decodeEnvelope(b, &got); err != nil {
				t.Fatalf("decode %+v: %v", e, err)
			}
			if string(got.payload) != payload || !got.padded {
				t.Fatalf("payload %q padded %v", got.payload, got.padded)
			}
			if got.kind != e.kind || got.origin != e.origin || got.target != e.target || got.exclude != e.exclude ||
				got.command != e.command || got.errText != e.errText || got.flags != e.flags ||
				got.originID != e.originID || got.seq != e.seq {
				t.Fatalf("decoded %+v, want %+v", got, e)
			}
		}
	}
}

// JSON text and the binary format cannot be confused: whatever JSON starts with is not binary.
func TestWireVersusJSON(t *testing.T) {
	for _, s := range []string{`{}`, `[]`, `"x"`, `1`, `-1`, `true`, `false`, `null`, " {}", "\t1", "\n1", "\r1"} {
		if isBinary([]byte(s)) {
			t.Errorf("JSON %q taken for a binary message", s)
		}
	}
	for b := 0; b < 0x20; b++ {
		if want := b != '\t' && b != '\n' && b != '\r'; isBinary([]byte{byte(b)}) != want {
			t.Errorf("first byte %#x: binary %v", b, !want)
		}
	}
}

func TestWireRejects(t *testing.T) {
	good := appendEnvelope(nil, &envelope{kind: kindChannel, origin: "a", target: "c"}, []byte("{}"))
	set := func(i int, v byte) []byte {
		b := append([]byte(nil), good...)
		b[i] = v
		return b
	}
	fieldsLen := func(n uint16) []byte {
		b := append([]byte(nil), good...)
		binary.BigEndian.PutUint16(b[4:], n)
		return b
	}
	noTarget := appendEnvelope(nil, &envelope{kind: kindChannel, origin: "a"}, nil)
	noCommand := appendEnvelope(nil, &envelope{kind: kindCommand, origin: "a"}, nil)
	badSeq := append([]byte{1, kindChannel, 0, 0, 0, 10, tagTarget, 0, 1, 'c', tagSeq, 0, 3, 0, 0, 0}, '{', '}')
	badExclude := append([]byte{1, kindChannel, 0, 0, 0, 11, tagTarget, 0, 1, 'c', tagExclude, 0, 2, 0, 0}, '{', '}')
	for _, tc := range []struct {
		name string
		b    []byte
		err  error
	}{
		{"json", []byte(`{}`), errNotBinary},
		{"empty", nil, errNotBinary},
		{"version 2", set(0, 2), errUnknownVersion},
		{"version 0", set(0, 0), errUnknownVersion},
		{"critical flag", set(3, 0x80), errCritical},
		{"short", good[:4], errMalformed},
		{"fields past the end", fieldsLen(uint16(len(good))), errMalformed},
		{"field cut", fieldsLen(2), errMalformed},
		{"unknown kind", set(1, 9), errMalformed},
		{"channel without target", noTarget, errMalformed},
		{"command without name", noCommand, errMalformed},
		{"exclude of the wrong size", badExclude, errMalformed},
		{"sequence of the wrong size", badSeq, errMalformed},
	} {
		var e envelope
		if err := decodeEnvelope(tc.b, &e); err != tc.err {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
	// Optional flags and unknown tags are ignored.
	opt := set(2, 0x80)
	var e envelope
	if err := decodeEnvelope(opt, &e); err != nil || e.target != "c" {
		t.Fatalf("optional flag: %v", err)
	}
	unknown := []byte{1, kindChannel, 0, 0, 0, 10, 99, 0, 3, 'x', 'y', 'z', tagTarget, 0, 1, 'c', '1'}
	if err := decodeEnvelope(unknown, &e); err != nil || e.target != "c" || string(e.payload) != "1" || e.padded {
		t.Fatalf("unknown tag: %v %+v", err, e)
	}
}

// The frame header goes into the padding: the frame a receiver sends is a view of the bytes
// it received.
func TestWireFramesInPlace(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 70000) // the longest frame header: 10 bytes
	b := appendEnvelope(nil, &envelope{kind: kindChannel, origin: "a", target: "c"}, data)
	var e envelope
	if err := decodeEnvelope(b, &e); err != nil || !e.padded {
		t.Fatal(err)
	}
	m := codec.NewPreparedRoom(codec.OpText, b, len(b)-len(e.payload))
	f := m.Frame()
	if &f[len(f)-1] != &b[len(b)-1] || !bytes.Equal(payload(f), e.payload) {
		t.Fatal("frame not written in place")
	}
	if e.target != "c" || e.origin != "a" {
		t.Fatalf("framing overwrote fields: %+v", e)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(appendEnvelope(nil, &envelope{kind: kindChannel, origin: "a", target: "c"}, []byte("{}")))
	f.Add(appendEnvelope(nil, &envelope{kind: kindUser, origin: "n", target: "u", exclude: routing.ClientID{Node: 1, Session: 2}}, nil))
	f.Add(appendEnvelope(nil, &envelope{kind: kindReply, origin: "n", command: "info", errText: "x"}, []byte(`{"a":1}`)))
	f.Add(appendEnvelope(nil, &envelope{kind: kindChannel, origin: "a", target: "c", originID: 1, seq: 2}, []byte("{}")))
	f.Add([]byte{1, 1, 0, 0, 0xff, 0xff})
	f.Add([]byte(`{"json":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e envelope
		if decodeEnvelope(b, &e) != nil {
			return
		}
		// What decodes re-encodes to a message that decodes to the same envelope.
		again := appendEnvelope(nil, &e, e.payload)
		var e2 envelope
		if err := decodeEnvelope(again, &e2); err != nil {
			t.Fatalf("re-encoded %x does not decode: %v", again, err)
		}
		if e2.kind != e.kind || e2.origin != e.origin || e2.target != e.target || e2.exclude != e.exclude ||
			e2.command != e.command || e2.errText != e.errText || !bytes.Equal(e2.payload, e.payload) || e2.flags != e.flags ||
			e2.originID != e.originID || e2.seq != e.seq {
			t.Fatalf("%+v re-decoded as %+v", e, e2)
		}
	})
}

// The example of docs/cluster.md, byte for byte, and the offset at which Publish stamps the
// number; without the sequence field (an older node) it still decodes.
func TestWireDocExample(t *testing.T) {
	const doc = "01 01 0000 0025" + "06 0010 0123456789abcdef 0000000000000002" + "01 0001 61" + "02 0001 63" +
		"00 0007 00000000000000" + "7b2274797065223a226d657373616765222c226368616e6e656c223a2263222c2264617461223a317d"
	want, err := hex.DecodeString(strings.ReplaceAll(doc, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte(`{"type":"message","channel":"c","data":1}`)
	got := appendEnvelope(nil, &envelope{kind: kindChannel, origin: "a", target: "c", originID: 0x0123456789abcdef, seq: 2}, data)
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nthe documentation says\n%x", got, want)
	}
	if binary.BigEndian.Uint64(got[seqAt:]) != 2 || binary.BigEndian.Uint64(got[seqAt-8:]) != 0x0123456789abcdef {
		t.Fatalf("seqAt %d does not point at the number", seqAt)
	}
	older := append([]byte{1, 1, 0, 0, 0, 0x12}, want[6+seqLen:]...)
	var e envelope
	if err := decodeEnvelope(older, &e); err != nil || e.originID != 0 || e.seq != 0 || e.target != "c" || !bytes.Equal(e.payload, data) {
		t.Fatalf("without the sequence field: %v %+v", err, e)
	}
}
