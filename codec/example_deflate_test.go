package codec_test

import (
	"fmt"
	"strings"

	"github.com/wsedge/wsedge/codec"
)

type textPrinter struct{ printer }

func (textPrinter) OnMessage(op codec.OpCode, p []byte) error {
	fmt.Printf("%v message of %d bytes\n", op, len(p))
	return nil
}

// The server side of permessage-deflate: negotiate at the upgrade, give the
// agreed parameters to the connection's decoder, and frame replies with
// AppendMessage (or share an AppendCompressed frame across connections).
func ExampleDeflate_Negotiate() {
	cfg := &codec.Deflate{Mode: codec.ModeNoContextTakeover, Level: 1, MinSize: 16} // from the flags

	// At the upgrade, for each Sec-WebSocket-Extensions header line:
	var p codec.Params
	cfg.Negotiate(&p, []byte("permessage-deflate; client_max_window_bits"))
	fmt.Printf("Sec-WebSocket-Extensions: %s\n", p.AppendResponse(nil))

	// The connection's decoder inflates what the client compresses.
	dcfg := &codec.Config{MaxMessageSize: 1 << 20}
	var d codec.Decoder
	d.SetDeflate(dcfg, p)

	// A client compresses too (here: the same encoder, masked).
	msg := []byte(`{"type":"echo","data":[` + strings.Repeat(`{"user":"ada","text":"hello"},`, 8) + `{}]}`)
	frame, compressed := cfg.AppendClientMessage(nil, p, codec.OpText, [4]byte{1, 2, 3, 4}, msg)
	fmt.Println("client sent compressed:", compressed, len(frame) < len(msg))
	if _, err := d.Feed(dcfg, frame, textPrinter{}); err != nil {
		fmt.Println(err)
	}

	// The reply, framed for this connection.
	reply, compressed := cfg.AppendMessage(nil, p, codec.OpText, msg)
	fmt.Println("reply compressed:", compressed, reply[0]&0x40 != 0)
	// Output:
	// Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover
	// client sent compressed: true true
	// text message of 267 bytes
	// reply compressed: true true
}
