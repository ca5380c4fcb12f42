package natsbroker

import (
	"bytes"
	"testing"

	"github.com/wsedge/wsedge/codec"
)

func TestValidFrame(t *testing.T) {
	text := func(n int) []byte {
		return codec.AppendFrame(nil, codec.OpText, true, bytes.Repeat([]byte("x"), n))
	}
	long := []byte{0x81, 126, 0, 10} // 10 bytes announced in the 16-bit form: not shortest
	long = append(long, bytes.Repeat([]byte("x"), 10)...)
	huge := []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0} // 64-bit form for 65536 bytes
	huge = append(huge, make([]byte, 65536)...)
	for _, tc := range []struct {
		name  string
		frame []byte
		ok    bool
	}{
		{"empty text", text(0), true},
		{"125", text(125), true},
		{"126", text(126), true},
		{"65535", text(65535), true},
		{"65536", text(65536), true},
		{"64-bit form", huge, true},
		{"nothing", nil, false},
		{"one byte", []byte{0x81}, false},
		{"truncated", text(200)[:150], false},
		{"trailing", append(text(5), 'x'), false},
		{"not fin", codec.AppendFrame(nil, codec.OpText, false, []byte("x")), false},
		{"binary", codec.AppendFrame(nil, codec.OpBinary, true, []byte("x")), false},
		{"close", codec.AppendClose(nil, codec.CloseNormal, ""), false},
		{"masked", codec.AppendClientFrame(nil, codec.OpText, true, [4]byte{1, 2, 3, 4}, []byte("x")), false},
		{"rsv", append([]byte{0xC1, 1}, 'x'), false},
		{"16-bit form for 10 bytes", long, false},
		{"short 16-bit header", []byte{0x81, 126, 0}, false},
		{"short 64-bit header", []byte{0x81, 127, 0, 0}, false},
		{"64-bit length overflow", []byte{0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, false},
	} {
		if got := validFrame(tc.frame); got != tc.ok {
			t.Errorf("%s: validFrame = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestFrameChannel(t *testing.T) {
	s, _ := newSubjects(DefaultSubjectPrefix)
	frame := func(p string) []byte { return codec.AppendFrame(nil, codec.OpText, true, []byte(p)) }
	big := `"` + string(bytes.Repeat([]byte("x"), 70000)) + `"`
	for _, tc := range []struct {
		name, subject string
		frame         []byte
		want          string
	}{
		{"plain", "wsedge.ch.room", frame(message("room", "1")), "room"},
		{"escaped subject", "wsedge.ch.a%2Eb", frame(message("a.b", "1")), "a.b"},
		{"16-bit length", "wsedge.ch.a%2Eb", frame(message("a.b", `"`+string(bytes.Repeat([]byte("x"), 300))+`"`)), "a.b"},
		{"64-bit length", "wsedge.ch.a%2Eb", frame(message("a.b", big)), "a.b"},
		{"frame names another channel", "wsedge.ch.a%2Eb", frame(message("a.c", "1")), "a.b"},
		{"other layout", "wsedge.ch.a%2Eb", frame(`{"channel":"a.b","type":"message"}`), "a.b"},
		{"unterminated", "wsedge.ch.x", frame(`{"type":"message","channel":"x`), "x"},
	} {
		got, ok := (&Broker{subj: s}).channelOf(tc.subject, tc.frame)
		if !ok || got != tc.want {
			t.Errorf("%s: channelOf = %q, %v, want %q", tc.name, got, ok, tc.want)
		}
	}
}

func FuzzValidFrame(f *testing.F) {
	f.Add(codec.AppendFrame(nil, codec.OpText, true, []byte(`{"type":"message"}`)))
	f.Add(codec.AppendFrame(nil, codec.OpText, true, bytes.Repeat([]byte("x"), 300)))
	f.Add([]byte{0x81, 126, 0, 10})
	f.Add([]byte{0x81, 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if !validFrame(b) {
			return
		}
		// Accepted means: re-encoding its payload gives exactly the same bytes.
		p := payload(b)
		if got := codec.AppendFrame(nil, codec.OpText, true, p); !bytes.Equal(got, b) {
			t.Fatalf("accepted %x, canonical form is %x", b, got)
		}
	})
}
