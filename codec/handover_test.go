package codec

import (
	"errors"
	"testing"
)

// moveAt feeds input to one decoder in pieces of step bytes up to cut, then
// moves its state and unconsumed tail to a fresh decoder (as a handover
// does between processes) and feeds the rest there.
func moveAt(t *testing.T, p Params, input []byte, cut, step int) outcome {
	t.Helper()
	cfg := &Config{MaxMessageSize: 1 << 20}
	var a, b tdec
	a.Init(cfg)
	a.SetDeflate(p)
	r := &recorder{}
	var tail []byte
	feed := func(d *tdec, from, to int) error {
		for off := from; off < to; {
			k := min(step, to-off)
			buf := append(tail, input[off:off+k]...)
			off += k
			n, err := d.Feed(buf, r)
			tail = append([]byte(nil), buf[n:]...)
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := feed(&a, 0, cut); err != nil {
		return outcome{events: r.events, err: err}
	}
	st := a.State()
	// Copies: the state's slices alias a, which is reset now.
	st.Assembled = append([]byte(nil), st.Assembled...)
	if st.Window != nil {
		st.Window = append([]byte{}, st.Window...)
	}
	a.Reset()
	b.Init(cfg)
	b.SetDeflate(p)
	if err := b.Restore(st); err != nil {
		t.Fatalf("restore at %d: %v", cut, err)
	}
	err := feed(&b, cut, len(input))
	b.Reset()
	return outcome{events: r.events, err: err, pending: len(tail)}
}

// TestDecoderMove: a stream moved to another decoder at any byte, with
// any read size, decodes exactly as without the move: partial frames
// (partly unmasked), fragmented text split inside a UTF-8 character, and
// compressed messages with context takeover, whose window must move.
func TestDecoderMove(t *testing.T) {
	plain := cat(
		cf(OpText, false, "héllo "), cf(OpContinuation, false, "wörld "[:3]),
		cf(OpPing, true, "p"), cf(OpContinuation, true, "wörld "[3:]),
		cf(OpBinary, true, "0123456789abcdefghij"),
	)
	msgs := [][]byte{[]byte("a repeated sentence, a repeated sentence"), []byte("a repeated sentence again"), []byte("and a repeated sentence")}
	z := stdDeflateStream(t, 6, msgs...)
	zin := cat(zf(OpText, true, true, z[0]), splitFragments(OpText, z[1], 3), zf(OpText, true, true, z[2]))
	cases := []struct {
		name  string
		p     Params
		input []byte
	}{
		{"plain", Params{}, plain},
		{"deflate with context takeover", Params{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}, zin},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := feedSplitP(t, &Config{MaxMessageSize: 1 << 20}, tc.p, append([]byte(nil), tc.input...), func(n int) int { return n })
			if want.err != nil || len(want.events) == 0 {
				t.Fatalf("reference decode: %v", want)
			}
			for _, step := range []int{1, 3, 7} {
				for cut := 0; cut <= len(tc.input); cut++ {
					got := moveAt(t, tc.p, append([]byte(nil), tc.input...), cut, step)
					if !sameOutcome(got, want) {
						t.Fatalf("moved at byte %d (reads of %d):\n got %v\nwant %v", cut, step, got, want)
					}
				}
			}
		})
	}
}

// TestRestoreRefuses: states no decoder configured like this one can hold
// are refused, and the decoder is left usable.
func TestRestoreRefuses(t *testing.T) {
	cases := []struct {
		name string
		p    Params
		st   DecoderState
	}{
		{"negative unmasked count", Params{}, DecoderState{Done: -1}},
		{"control opcode as message", Params{}, DecoderState{Message: OpPing}},
		{"bytes without a message", Params{}, DecoderState{Assembled: []byte("x")}},
		{"utf-8 state", Params{}, DecoderState{Message: OpText, UTF8: 200}},
		{"compressed without deflate", Params{}, DecoderState{Message: OpText, Compressed: true}},
		{"window without deflate", Params{}, DecoderState{Window: []byte("w")}},
		{"window without takeover", Params{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15, ClientNoContextTakeover: true}, DecoderState{Window: []byte("w")}},
		{"window over the agreed size", Params{ServerMaxWindowBits: 15, ClientMaxWindowBits: 9}, DecoderState{Window: make([]byte, 513)}},
		{"message over the limit", Params{}, DecoderState{Message: OpBinary, Assembled: make([]byte, 2000)}},
	}
	for i := range cases {
		var d tdec
		d.SetDeflate(cases[i].p)
		st := d.State()
		cases[i].st.PeerNoContext, cases[i].st.PeerWindowBits = st.PeerNoContext, st.PeerWindowBits
	}
	cases = append(cases, struct {
		name string
		p    Params
		st   DecoderState
	}{"another deflate agreement", Params{ServerMaxWindowBits: 15, ClientMaxWindowBits: 10}, DecoderState{PeerWindowBits: 15}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d tdec
			d.Init(&Config{MaxMessageSize: 1000})
			d.SetDeflate(tc.p)
			if err := d.Restore(tc.st); !errors.Is(err, ErrBadState) {
				t.Fatalf("Restore = %v, want ErrBadState", err)
			}
			r := &recorder{}
			if _, err := d.Feed(cf(OpText, true, "ok"), r); err != nil || len(r.events) != 1 {
				t.Fatalf("decoder unusable after a refused state: %v %v", err, r.events)
			}
		})
	}
}
