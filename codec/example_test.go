package codec_test

import (
	"errors"
	"fmt"

	"github.com/wsedge/wsedge/codec"
)

type printer struct{}

func (printer) OnMessage(op codec.OpCode, p []byte) error { fmt.Printf("%v %q\n", op, p); return nil }
func (printer) OnPing(p []byte) error                     { fmt.Printf("ping %q\n", p); return nil }
func (printer) OnPong(p []byte) error                     { return nil }
func (printer) OnClose(c codec.CloseCode, r []byte) error {
	fmt.Printf("close %d %q\n", c, r)
	return nil
}

// The event loop keeps only the unconsumed tail per connection and presents
// it again in front of the next read.
func Example() {
	cfg := &codec.Config{MaxMessageSize: 64 << 10} // shared by all connections
	var d codec.Decoder                            // one per connection, 16 bytes
	defer d.Reset(cfg)

	mask := [4]byte{1, 2, 3, 4}
	stream := codec.AppendClientFrame(nil, codec.OpText, false, mask, []byte("hel"))
	stream = codec.AppendClientFrame(stream, codec.OpPing, true, mask, []byte("?"))
	stream = codec.AppendClientFrame(stream, codec.OpContinuation, true, mask, []byte("lo"))
	stream = codec.AppendClientClose(stream, mask, codec.CloseNormal, "bye")

	var tail []byte
	for _, read := range [][]byte{stream[:5], stream[5:17], stream[17:]} { // socket reads
		buf := append(tail, read...)
		n, err := d.Feed(cfg, buf, printer{})
		var pe *codec.Error
		if errors.As(err, &pe) {
			reply := codec.AppendClose(nil, pe.Code, pe.Reason) // then close the socket
			_ = reply
			return
		}
		tail = append(tail[:0], buf[n:]...)
	}
	// Output:
	// ping "?"
	// text "hello"
	// close 1000 "bye"
}
