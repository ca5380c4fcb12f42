package codec

import (
	"errors"
	"fmt"
	"math"
)

// Moving a connection to another process (the restart without reconnects,
// docs/design.md): what a Decoder holds between two Feeds, as data, so the
// new process continues decoding where the old one stopped. The unconsumed
// tail itself (a partial frame) is the caller's and moves beside it.

// DecoderState is a Decoder's state between Feeds.
type DecoderState struct {
	// Done: payload bytes at the start of the unfinished frame already
	// unmasked in place; the tail moves as it is, so the count moves with it.
	Done int
	// Message is the opcode of the fragmented message in progress, 0 if none;
	// Assembled holds its payload so far.
	Message   OpCode
	Assembled []byte
	// Compressed: the message in progress is compressed (permessage-deflate).
	Compressed bool
	// UTF8 is the text validator's state inside the message in progress.
	UTF8    uint8
	Stopped bool
	// Window is the peer's LZ77 window (context takeover), nil without one.
	Window []byte
	// PeerNoContext and PeerWindowBits are the peer's side of the
	// permessage-deflate agreement as SetDeflate gave it (bits 0: off), so a
	// caller can repeat the SetDeflate; Restore checks they match.
	PeerNoContext  bool
	PeerWindowBits uint8
}

// ErrBadState reports a DecoderState that cannot belong to a decoder
// configured like this one.
var ErrBadState = errors.New("codec: decoder state does not fit the decoder")

// State returns the decoder's state; its slices alias the decoder and are
// valid until the next Feed or Reset.
func (d *Decoder) State() DecoderState {
	st := DecoderState{
		Done:       int(d.done),
		Message:    d.msg,
		Compressed: d.ext&extMsgCompress != 0,
		UTF8:       d.text.state,
		Stopped:    d.Stopped(),

		PeerNoContext: d.ext&extPeerNoCtx != 0,
	}
	if d.ext&extOn != 0 {
		st.PeerWindowBits = d.wbits
	}
	if a := d.asmBuf(); a != nil {
		st.Assembled = a.B
	}
	st.Window = d.window()
	return st
}

// Restore sets the state captured by State in another decoder, after Reset
// and SetDeflate with the same configuration (cfg) and agreement. The slices
// are copied. A state that cannot occur in such a decoder is refused
// (wrapping ErrBadState) and d is left as it was.
func (d *Decoder) Restore(cfg *Config, st DecoderState) error {
	r := run{d, cfg}
	if err := r.checkState(&st); err != nil {
		return err
	}
	r.release()
	d.done = int32(st.Done)
	d.msg = st.Message
	d.text.state = st.UTF8
	d.ext &^= extMsgCompress | decStopped
	if st.Stopped {
		d.ext |= decStopped
	}
	if st.Compressed {
		d.ext |= extMsgCompress
	}
	if st.Message != 0 {
		a := r.pool().Get()
		a.B = append(a.B[:0], st.Assembled...)
		d.spill().asm = a
	}
	if d.x != nil {
		d.x.win = nil
	}
	if st.Window != nil {
		size := 1 << max(d.wbits, 9)
		d.spill().win = append(make([]byte, 0, min(size, max(len(st.Window), 512))), st.Window...)
	}
	return nil
}

func (d run) checkState(st *DecoderState) error {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrBadState, what) }
	bits := uint8(0)
	if d.ext&extOn != 0 {
		bits = d.wbits
	}
	switch {
	case st.PeerWindowBits != bits || st.PeerNoContext != (d.ext&extPeerNoCtx != 0):
		return bad("permessage-deflate agreement differs")
	case st.Done < 0 || st.Done > math.MaxInt32:
		return bad("unmasked count out of range")
	case st.Message != 0 && st.Message != OpText && st.Message != OpBinary:
		return bad("fragmented message of a non-data opcode")
	case st.Message == 0 && (len(st.Assembled) > 0 || st.Compressed):
		return bad("assembled bytes without a message in progress")
	case d.limit() > 0 && int64(len(st.Assembled)) > wireLimit(d.limit()):
		return bad("assembled message over the size limit")
	case st.UTF8 > u8AfterF4:
		return bad("UTF-8 validator state")
	case st.Compressed && d.ext&extOn == 0:
		return bad("compressed message without permessage-deflate")
	case st.Window != nil && (d.ext&extOn == 0 || d.ext&extPeerNoCtx != 0):
		return bad("window without context takeover")
	case len(st.Window) > 1<<max(d.wbits, 9):
		return bad("window larger than agreed")
	}
	return nil
}
