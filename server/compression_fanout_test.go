package server

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/wsedge/wsedge/codec"
)

// TestCompressionBroadcast: a publish to many subscribers is deflated once
// per node. Subscribers with the extension get the shared compressed frame,
// one that limited the server's window below the message's length gets a
// frame of its own, those without the extension the plain frame; every one
// of them reads the same message. wsedge_compressions_total shows the count.
func TestCompressionBroadcast(t *testing.T) {
	for _, mode := range []codec.Mode{codec.ModeNoContextTakeover, codec.ModeContextTakeover} {
		t.Run(mode.String(), func(t *testing.T) {
			s := startServer(t, compressionOptions(mode))
			const shared, small, plain = 40, 3, 5
			type sub struct {
				c          *rawClient
				compressed bool // expects RSV1
			}
			var subs []sub
			subscribe := func(c *rawClient) {
				c.send(msgFrame(codec.OpText, true, `{"type":"subscribe","id":"s","channel":"news"}`))
				if m := c.readZ(); !bytes.Contains(m.payload, []byte(`"ack"`)) {
					t.Fatalf("subscribe: %s", m.payload)
				}
			}
			for i := range shared + small + plain {
				var offers []string
				switch {
				case i < shared:
					offers = []string{pmd + "; client_max_window_bits"}
				case i < shared+small:
					offers = []string{pmd + "; server_max_window_bits=8"}
				}
				c, ext := zdial(t, s, "/ws", offers...)
				if (ext != "") != (offers != nil) {
					t.Fatalf("subscriber %d: answer %q", i, ext)
				}
				subscribe(c)
				subs = append(subs, sub{c, offers != nil})
			}
			// Two independent decoders among the subscribers.
			g := dialGorillaCompressed(t, wsURL(s, "/ws"))
			g.send(t, `{"type":"subscribe","id":"s","channel":"news"}`)
			_ = g.recv(t)
			pub, _ := zdial(t, s, "/ws", pmd)

			before := counterValue(t, s.Metrics().Compressions)
			beforeOut := counterValue(t, s.Metrics().CompressedMessages.WithLabelValues("out"))
			data := jsonText(2000, 12) // not valid JSON as a whole: wrap it as a string
			quoted, _ := json.Marshal(string(data))
			pub.send(msgFrame(codec.OpText, true, `{"type":"publish","id":"p","channel":"news","data":`+string(quoted)+`}`))
			if m := pub.readZ(); !bytes.Contains(m.payload, []byte(`"ack"`)) {
				t.Fatalf("publish: %s", m.payload)
			}
			want := `{"type":"message","channel":"news","data":` + string(quoted) + `}`
			for i, sb := range subs {
				m := sb.c.readZ()
				if string(m.payload) != want {
					t.Fatalf("subscriber %d got %d bytes, want the %d-byte message", i, len(m.payload), len(want))
				}
				if m.compressed != sb.compressed {
					t.Fatalf("subscriber %d: compressed %v, want %v", i, m.compressed, sb.compressed)
				}
			}
			if got := string(g.recv(t)); got != want {
				t.Fatalf("gorilla subscriber got %d bytes", len(got))
			}
			// Deflated once for the 41 sharing subscribers, once more for
			// each of the 3 with an 8-bit window; the ack is under the minimum.
			if got := counterValue(t, s.Metrics().Compressions) - before; got != 1+small {
				t.Errorf("compressions for one publish: %v, want %d", got, 1+small)
			}
			if got := counterValue(t, s.Metrics().CompressedMessages.WithLabelValues("out")) - beforeOut; got != shared+small+1 {
				t.Errorf("compressed deliveries: %v, want %d", got, shared+small+1)
			}
		})
	}
}

// dialGorillaCompressed is a gorilla client that negotiates
// permessage-deflate and compresses what it sends.
func dialGorillaCompressed(t testing.TB, url string) *gorillaClient {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: wsTimeout, EnableCompression: true}
	c, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("gorilla dial %s: %v", url, err)
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext == "" {
		t.Fatalf("gorilla: no extension agreed")
	}
	c.EnableWriteCompression(true)
	t.Cleanup(func() { c.Close() })
	return &gorillaClient{c: c}
}
