package codec

import "github.com/valyala/bytebufferpool"

// spill is the part of a decoder few connections need.
type spill struct {
	asm *bytebufferpool.ByteBuffer // assembles a fragmented message; nil unless one is in progress
	win []byte                     // the peer's LZ77 window (context takeover only), nil until the first compressed message
}

// spill returns d.x, allocating it on first use.
func (d *Decoder) spill() *spill {
	if d.x == nil {
		d.x = new(spill)
	}
	return d.x
}

func (d *Decoder) asmBuf() *bytebufferpool.ByteBuffer {
	if d.x == nil {
		return nil
	}
	return d.x.asm
}

func (d *Decoder) window() []byte {
	if d.x == nil {
		return nil
	}
	return d.x.win
}
