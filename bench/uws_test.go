package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestUWSPeer builds our uWebSockets echo peer (bench/peers/uws) against the
// checkouts the environment names and checks it with an independent client
// and with the engine. Without the checkouts (CI) there is nothing to build.
func TestUWSPeer(t *testing.T) {
	if os.Getenv("WSEDGE_UWS_DIR") == "" || os.Getenv("WSEDGE_USOCKETS_DIR") == "" {
		t.Skip("WSEDGE_UWS_DIR and WSEDGE_USOCKETS_DIR not set (see docs/wsbench.md)")
	}
	var spec ServerSpec
	for _, s := range Servers() {
		if s.Name == "uws" {
			spec = s
		}
	}
	wd, _ := os.Getwd()
	root, err := ModuleRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin, err := spec.Build(t.Context(), root, dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := spec.Start(t.Context(), bin, filepath.Join(dir, "uws.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()

	c, _, err := websocket.DefaultDialer.Dial("ws://"+srv.Addr+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		op   int
		data []byte
	}{
		{websocket.TextMessage, []byte("héllo")},
		{websocket.BinaryMessage, []byte{0, 1, 2, 255}},
		{websocket.BinaryMessage, bytes.Repeat([]byte{7}, 100<<10)},
		{websocket.TextMessage, nil},
	} {
		if err := c.WriteMessage(m.op, m.data); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		op, got, err := c.ReadMessage()
		if err != nil || op != m.op || !bytes.Equal(got, m.data) {
			t.Fatalf("echo of %d bytes op %d: got %d bytes op %d, %v", len(m.data), m.op, len(got), op, err)
		}
	}
	c.Close()

	tg, err := ParseTarget(t.Context(), "ws://"+srv.Addr+"/echo", false)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Idle(t.Context(), IdleConfig{Common: Common{Target: tg, ServerPID: srv.PID()}, Conns: 500, Hold: 100 * time.Millisecond})
	if err != nil || r.Held != 500 || r.RSSHeld <= 0 {
		t.Fatalf("idle: %+v %v", r, err)
	}
}
