package codec

import (
	"errors"
	"fmt"
	"testing"
)

// event is one Handler call, recorded with a copy of its payload.
type event struct {
	kind string // "msg", "ping", "pong", "close"
	op   OpCode
	code CloseCode
	data string
}

func (e event) String() string {
	return fmt.Sprintf("%s/%v/%d/%q", e.kind, e.op, e.code, e.data)
}

func msg(op OpCode, s string) event      { return event{kind: "msg", op: op, data: s} }
func ping(s string) event                { return event{kind: "ping", data: s} }
func pong(s string) event                { return event{kind: "pong", data: s} }
func closed(c CloseCode, r string) event { return event{kind: "close", code: c, data: r} }

type recorder struct {
	events []event
	// failMsg, when set, is returned by OnMessage.
	failMsg error
}

func (r *recorder) OnMessage(op OpCode, p []byte) error {
	r.events = append(r.events, msg(op, string(p)))
	return r.failMsg
}
func (r *recorder) OnPing(p []byte) error { r.events = append(r.events, ping(string(p))); return nil }
func (r *recorder) OnPong(p []byte) error { r.events = append(r.events, pong(string(p))); return nil }
func (r *recorder) OnClose(c CloseCode, p []byte) error {
	r.events = append(r.events, closed(c, string(p)))
	return nil
}

// outcome is everything a caller can observe from feeding a byte stream.
type outcome struct {
	events  []event
	code    CloseCode // of the *Error returned, 0 if none
	err     error
	pending int // unconsumed bytes left at the end
}

func (o outcome) String() string {
	return fmt.Sprintf("events=%v code=%d err=%v pending=%d", o.events, o.code, o.err, o.pending)
}

func sameOutcome(a, b outcome) bool {
	if len(a.events) != len(b.events) || a.code != b.code || a.pending != b.pending {
		return false
	}
	if (a.err == nil) != (b.err == nil) {
		return false
	}
	for i := range a.events {
		if a.events[i] != b.events[i] {
			return false
		}
	}
	return true
}

// feedSplit plays the event loop: input arrives in pieces whose lengths
// next returns; the unconsumed tail is kept and presented again, unchanged,
// in front of the next piece. It checks Feed's contract on every call.
func feedSplit(tb testing.TB, cfg *Config, input []byte, next func(remaining int) int) outcome {
	tb.Helper()
	return feedSplitP(tb, cfg, Params{}, input, next)
}

// feedSplitP is feedSplit on a connection that negotiated p.
func feedSplitP(tb testing.TB, cfg *Config, p Params, input []byte, next func(remaining int) int) outcome {
	tb.Helper()
	var d tdec
	d.Init(cfg)
	d.SetDeflate(p)
	defer d.Reset()
	r := &recorder{}
	var tail []byte
	for off := 0; off < len(input); {
		k := min(max(next(len(input)-off), 1), len(input)-off)
		buf := append(tail, input[off:off+k]...)
		off += k
		n, err := d.Feed(buf, r)
		if n < 0 || n > len(buf) {
			tb.Fatalf("consumed %d of %d bytes", n, len(buf))
		}
		if n > 0 {
			copy(buf, buf[n:])
		}
		tail = buf[:len(buf)-n]
		if err != nil || d.Stopped() {
			o := outcome{events: r.events, err: err, pending: len(tail) + len(input) - off}
			var pe *Error
			if errors.As(err, &pe) {
				o.code = pe.Code
			}
			if err == nil {
				o.pending = -1 // closed: the rest is ignored
			}
			return o
		}
	}
	return outcome{events: r.events, pending: len(tail)}
}

func feedWhole(tb testing.TB, cfg *Config, input []byte) outcome {
	return feedSplit(tb, cfg, append([]byte(nil), input...), func(n int) int { return n })
}

func feedBytewise(tb testing.TB, cfg *Config, input []byte) outcome {
	return feedSplit(tb, cfg, append([]byte(nil), input...), func(int) int { return 1 })
}

var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// cf builds a masked client frame, as the server receives it.
func cf(op OpCode, fin bool, payload string) []byte {
	return AppendClientFrame(nil, op, fin, testMask, []byte(payload))
}

// sf builds an unmasked server frame, as a client receives it.
func sf(op OpCode, fin bool, payload string) []byte {
	return AppendFrame(nil, op, fin, []byte(payload))
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func closePayload(code CloseCode, reason string) string {
	return string([]byte{byte(code >> 8), byte(code)}) + reason
}

// tdec is a Decoder with its Config, as the tests drive one: the decoder
// keeps none, so every call that needs it gets it from here.
type tdec struct {
	Decoder
	cfg *Config
}

func (d *tdec) Init(cfg *Config)                      { d.cfg = cfg; d.Decoder.Reset(cfg) }
func (d *tdec) Reset()                                { d.Decoder.Reset(d.cfg) }
func (d *tdec) Feed(b []byte, h Handler) (int, error) { return d.Decoder.Feed(d.cfg, b, h) }
func (d *tdec) SetDeflate(p Params)                   { d.Decoder.SetDeflate(d.cfg, p) }
func (d *tdec) Restore(st DecoderState) error         { return d.Decoder.Restore(d.cfg, st) }
