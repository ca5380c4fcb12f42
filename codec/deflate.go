package codec

import (
	"errors"
	"fmt"
)

// permessage-deflate (RFC 7692) is split over four files: this one (the
// configuration and the agreed parameters), negotiate.go (the
// Sec-WebSocket-Extensions header), compress.go (the encoders) and
// inflate.go (the decoder's side).
//
// Memory is the design constraint: an idle connection must cost what a plain
// one does. So compressors and decompressors are pooled and held only while
// one message is compressed or inflated; what a connection keeps is at most
// its peer's LZ77 window, and only when the peer uses context takeover.

// Mode is the server's compression setting (-compression).
type Mode uint8

const (
	// ModeOff ignores every offer: no connection is compressed.
	ModeOff Mode = iota
	// ModeNoContextTakeover accepts offers and answers both
	// server_no_context_takeover and client_no_context_takeover: neither
	// side keeps an LZ77 window between messages, so an idle connection
	// holds nothing for compression.
	ModeNoContextTakeover
	// ModeContextTakeover accepts offers as made: the client may keep its
	// window, and the server then keeps the client's window (up to
	// 2^client_max_window_bits bytes) to inflate its messages.
	ModeContextTakeover
)

// ParseMode reads a -compression value.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "off", "":
		return ModeOff, nil
	case "no-context-takeover":
		return ModeNoContextTakeover, nil
	case "context-takeover":
		return ModeContextTakeover, nil
	}
	return ModeOff, fmt.Errorf("compression mode %q: want off, no-context-takeover or context-takeover", s)
}

func (m Mode) String() string {
	switch m {
	case ModeOff:
		return "off"
	case ModeNoContextTakeover:
		return "no-context-takeover"
	case ModeContextTakeover:
		return "context-takeover"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Defaults of the -compression-* flags.
const (
	DefaultCompressionLevel   = 1
	DefaultCompressionMinSize = 128
)

// Deflate is a server's (or a load client's) compression configuration,
// filled from -compression, -compression-level and -compression-min-size
// and shared read-only by every connection.
type Deflate struct {
	Mode Mode
	// Level is the deflate level, 1 (fastest) to 9 (smallest); 0 means
	// DefaultCompressionLevel.
	Level int
	// MinSize: messages shorter than this go uncompressed (RSV1 unset).
	// 0 compresses every message (DefaultCompressionMinSize is the flag's
	// default).
	MinSize int
	// WindowBits, in ModeContextTakeover, is the client_max_window_bits
	// answered to clients that offer that parameter (Chromium, Firefox,
	// Python websockets and Node's ws do): it caps the window the server
	// keeps per connection at 2^WindowBits bytes. 9..15; 0 means 15, which
	// answers nothing. Clients that do not offer the parameter use 15.
	WindowBits uint8
}

// Validate reports a configuration error (to be shown at startup).
func (c *Deflate) Validate() error {
	switch {
	case c.Mode > ModeContextTakeover:
		return fmt.Errorf("compression mode %d unknown", c.Mode)
	case c.Level < 0 || c.Level > 9:
		return fmt.Errorf("compression level %d: want 1 to 9", c.Level)
	case c.MinSize < 0:
		return errors.New("compression min size must not be negative")
	case c.WindowBits != 0 && (c.WindowBits < 9 || c.WindowBits > 15):
		return fmt.Errorf("compression window bits %d: want 9 to 15", c.WindowBits)
	}
	return nil
}

func (c *Deflate) level() int {
	if c.Level == 0 {
		return DefaultCompressionLevel
	}
	return c.Level
}

func (c *Deflate) windowBits() uint8 {
	if c.WindowBits == 0 {
		return 15
	}
	return c.WindowBits
}

// Params is what one connection agreed (RFC 7692 section 7.1). The zero
// value means the extension was not negotiated. Window bits are 8..15 once
// negotiated, 15 when the response did not limit them. It is 5 bytes, to be
// kept per connection (the Decoder keeps its own copy, packed).
type Params struct {
	// ServerNoContextTakeover: the server compresses every message
	// without reference to earlier ones. wsedge's server always does so,
	// whether or not this was agreed (RFC 7692 allows it).
	ServerNoContextTakeover bool
	// ClientNoContextTakeover: the client does likewise, so the server
	// inflates each message with an empty window and keeps none.
	ClientNoContextTakeover bool
	// ServerMaxWindowBits bounds the distance of back-references in what
	// the server sends; ClientMaxWindowBits in what the client sends.
	ServerMaxWindowBits uint8
	ClientMaxWindowBits uint8
	// statedServerBits: server_max_window_bits is answered even at 15,
	// because the client offered it (accepting that parameter means
	// answering it, RFC 7692 section 7.1.2.1).
	statedServerBits bool
}

// Enabled reports whether permessage-deflate was negotiated.
func (p Params) Enabled() bool { return p.ServerMaxWindowBits != 0 }

// Shares reports whether a frame made by AppendCompressed (a 32 KiB window,
// no context), for an n-byte payload, may be sent on a connection with p.
// That holds for every connection with the extension whose server window is
// 15 bits, and for smaller windows when the payload is not longer than the
// window (no back-reference in it can then reach farther). Connections for
// which it is false get a frame of their own from Deflate.AppendMessage.
func (p Params) Shares(n int) bool {
	bits := windowBits(p.ServerMaxWindowBits)
	return p.Enabled() && (bits == 15 || n <= 1<<bits)
}

// windowBits reads a window size of Params: 0 (a Params made by hand)
// means the default 15; values are kept within 8..15.
func windowBits(b uint8) uint8 {
	switch {
	case b == 0 || b > 15:
		return 15
	case b < 8:
		return 8
	}
	return b
}

func (p Params) String() string {
	if !p.Enabled() {
		return "(none)"
	}
	return string(p.AppendResponse(nil))
}
