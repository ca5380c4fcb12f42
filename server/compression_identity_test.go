package server

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wsedge/wsedge/codec"
)

// TestCompressionWithIdentity: the deflate agreement of an upgrade whose
// token is checked off the loop is the one its own request made, although
// the loop's upgrader negotiated other connections' offers meanwhile: 20
// upgrades with tokens, every other one offering permessage-deflate, all
// sent before any answer is read, through one loop; then compressed
// traffic both ways on exactly the connections that offered it.
func TestCompressionWithIdentity(t *testing.T) {
	o := idOptions()
	o.Loops = 1
	o.Compression.Mode = codec.ModeNoContextTakeover
	o.Compression.MinSize = 16
	s := startIDServer(t, o)
	const n = 20
	type client struct {
		rc      *rawClient
		offered bool
	}
	cs := make([]client, n)
	for i := range cs {
		c := rawDial(t, s)
		extra := bearer(userToken(t, fmt.Sprint("u", i)))
		cs[i].offered = i%2 == 0
		if cs[i].offered {
			extra += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
		}
		if _, err := io.WriteString(c, upgradeRequest("/ws", extra)); err != nil {
			t.Fatal(err)
		}
		cs[i].rc = &rawClient{t: t, conn: c, br: bufio.NewReader(c)}
	}
	for i, c := range cs {
		resp, err := http.ReadResponse(c.rc.br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("client %d: upgrade %v %v", i, resp, err)
		}
		ext := resp.Header.Get("Sec-WebSocket-Extensions")
		if got := strings.HasPrefix(ext, "permessage-deflate"); got != c.offered {
			t.Fatalf("client %d (offered %v): extension answer %q", i, c.offered, ext)
		}
	}
	data := `"` + strings.Repeat("compressible ", 20) + `"`
	for i, c := range cs {
		msg := []byte(`{"type":"echo","id":"` + fmt.Sprint(i) + `","data":` + data + `}`)
		if c.offered {
			c.rc.send(zFrame(codec.OpText, true, true, zDeflate(t, msg)))
		} else {
			c.rc.send(msgFrame(codec.OpText, true, string(msg)))
		}
		m := c.rc.readZ()
		if m.compressed != c.offered {
			t.Fatalf("client %d (offered %v): reply compressed %v", i, c.offered, m.compressed)
		}
		if want := `{"type":"echo","id":"` + fmt.Sprint(i) + `","data":` + data + `}`; string(m.payload) != want {
			t.Fatalf("client %d: reply %.80s", i, m.payload)
		}
	}
}
