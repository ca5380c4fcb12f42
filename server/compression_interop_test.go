package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	coder "github.com/coder/websocket"

	"github.com/wsedge/wsedge/codec"
)

// Independent clients that negotiate permessage-deflate, against /echo and
// /ws in both modes: gorilla/websocket (EnableCompression), coder/websocket
// (both of its modes) and Node's ws. Python websockets and Chromium have
// their own tests (compression_python_test.go, browser_test.go).

// interopMessages are what the Go clients send: JSON of several sizes (the
// 100 KiB one leaves gorilla in several compressed frames), small, empty.
func interopMessages() [][]byte {
	return [][]byte{jsonText(1024, 21), jsonText(100<<10, 22), []byte(`{"a":1}`), {}, jsonText(5000, 23)}
}

// echoRequest wraps msg as a /ws echo and returns the request and the reply
// the server must send.
func echoRequest(t *testing.T, msg []byte) (req, want string) {
	q, err := json.Marshal(string(msg))
	if err != nil {
		t.Fatal(err)
	}
	return `{"type":"echo","id":"e","data":` + string(q) + `}`, `{"type":"echo","id":"e","data":` + string(q) + `}`
}

func TestCompressionGoClients(t *testing.T) {
	for _, mode := range []codec.Mode{codec.ModeNoContextTakeover, codec.ModeContextTakeover} {
		t.Run(mode.String(), func(t *testing.T) {
			o := compressionOptions(mode)
			o.MaxMessageSize = 1 << 20
			s := startServer(t, o)
			clients := []struct {
				name string
				dial func(url string) wsClient
			}{
				{"gorilla", func(url string) wsClient { return dialGorillaCompressed(t, url) }},
				{"coder no-context-takeover", func(url string) wsClient { return dialCoderCompressed(t, url, coder.CompressionNoContextTakeover) }},
				{"coder context-takeover", func(url string) wsClient { return dialCoderCompressed(t, url, coder.CompressionContextTakeover) }},
			}
			for _, cl := range clients {
				t.Run(cl.name, func(t *testing.T) {
					before := counterValue(t, s.Metrics().CompressedMessages.WithLabelValues("in"))
					beforeOut := counterValue(t, s.Metrics().CompressedMessages.WithLabelValues("out"))
					echo := cl.dial(wsURL(s, "/echo"))
					ws := cl.dial(wsURL(s, "/ws"))
					for _, m := range interopMessages() {
						echo.send(t, string(m))
						if got := echo.recv(t); !bytes.Equal(got, m) {
							t.Fatalf("/echo: %d bytes back for %d", len(got), len(m))
						}
						req, want := echoRequest(t, m)
						ws.send(t, req)
						if got := ws.recv(t); string(got) != want {
							t.Fatalf("/ws: %.80s..., want %.80s...", got, want)
						}
					}
					// Both clients compress everything large enough, and so
					// does the server: 3 of the 5 echoes on each endpoint.
					in := counterValue(t, s.Metrics().CompressedMessages.WithLabelValues("in")) - before
					out := counterValue(t, s.Metrics().CompressedMessages.WithLabelValues("out")) - beforeOut
					if in < 6 || out != 6 {
						t.Errorf("compressed messages in %v (want at least 6), out %v (want 6)", in, out)
					}
				})
			}
		})
	}
}

// dialCoderCompressed is a coder/websocket client in mode, compressing
// every message.
func dialCoderCompressed(t testing.TB, url string, mode coder.CompressionMode) *coderClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsTimeout)
	defer cancel()
	c, resp, err := coder.Dial(ctx, url, &coder.DialOptions{CompressionMode: mode, CompressionThreshold: 1})
	if err != nil {
		t.Fatalf("coder dial %s: %v", url, err)
	}
	if !strings.HasPrefix(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
		t.Fatalf("coder: no extension agreed: %q", resp.Header.Get("Sec-WebSocket-Extensions"))
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &coderClient{c: c}
}

// requireNodeWS returns node and the directory holding the ws package
// (testdata/node, after npm ci there), or skips (fails under CI=true).
func requireNodeWS(t *testing.T) (node, dir string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	if err != nil {
		t.Fatal(err)
	}
	const how = "install it with: npm ci --prefix server/testdata/node (.ci/run does)"
	node, err = exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "ws", "package.json"))
	}
	if err != nil {
		if inCI() {
			t.Fatalf("Node and its ws package are required in CI: %v; %s", err, how)
		}
		t.Skipf("Node's ws not available: %v; %s", err, how)
	}
	return node, dir
}

type nodeResult struct {
	Name       string `json:"name"`
	Extensions string `json:"extensions"`
	Echoed     int    `json:"echoed"`
	Compressed int    `json:"compressed"`
	Error      string `json:"error"`
}

// TestCompressionNodeWS: Node's ws with several perMessageDeflate settings
// against /echo and /ws in both modes; ws checks the answer against its
// offer and fails the connection on anything RFC 7692 does not allow.
func TestCompressionNodeWS(t *testing.T) {
	node, dir := requireNodeWS(t)
	for _, mode := range []codec.Mode{codec.ModeNoContextTakeover, codec.ModeContextTakeover} {
		t.Run(mode.String(), func(t *testing.T) {
			o := compressionOptions(mode)
			o.MaxMessageSize = 1 << 20
			s := startServer(t, o)
			type ncase struct {
				Name              string         `json:"name"`
				URL               string         `json:"url"`
				JSON              bool           `json:"json"`
				PerMessageDeflate map[string]any `json:"perMessageDeflate"`
				want              string
				msgs, compressed  int
			}
			var cases []ncase
			for _, opt := range []struct {
				name string
				pmd  map[string]any
				nct  string // the answer in no-context-takeover mode
				ct   string // in context-takeover mode
			}{
				{"default offer", map[string]any{"threshold": 0}, nct, pmd},
				{"both no_context_takeover", map[string]any{"threshold": 0, "serverNoContextTakeover": true, "clientNoContextTakeover": true}, nct, nct},
				{"server window 10", map[string]any{"threshold": 0, "serverMaxWindowBits": 10}, nct + "; server_max_window_bits=10", pmd + "; server_max_window_bits=10"},
				{"client window 9", map[string]any{"threshold": 0, "clientMaxWindowBits": 9}, nct, pmd + "; client_max_window_bits=9"},
			} {
				want := opt.nct
				if mode == codec.ModeContextTakeover {
					want = opt.ct
				}
				cases = append(cases,
					// Every echo is compressed but the small and the empty one.
					ncase{Name: "/echo " + opt.name, URL: wsURL(s, "/echo"), PerMessageDeflate: opt.pmd, want: want, msgs: 8, compressed: 6},
					ncase{Name: "/ws " + opt.name, URL: wsURL(s, "/ws"), JSON: true, PerMessageDeflate: opt.pmd, want: want, msgs: 5, compressed: 3})
			}
			in, _ := json.Marshal(map[string]any{"cases": cases})
			cmd := exec.Command(node, filepath.Join(dir, "deflate_client.mjs"))
			cmd.Dir = dir
			cmd.Stdin = bytes.NewReader(in)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, stderr.String())
			}
			sc := bufio.NewScanner(bytes.NewReader(out))
			n := 0
			for ; sc.Scan(); n++ {
				var r nodeResult
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					t.Fatalf("result %q: %v", sc.Text(), err)
				}
				c := cases[n]
				switch {
				case r.Error != "":
					t.Errorf("%s: %s (extensions %q)", r.Name, r.Error, r.Extensions)
				case r.Extensions != c.want:
					t.Errorf("%s: agreed %q, want %q", r.Name, r.Extensions, c.want)
				case r.Echoed != c.msgs:
					t.Errorf("%s: %d of %d echoed", r.Name, r.Echoed, c.msgs)
				case r.Compressed != c.compressed:
					t.Errorf("%s: %d compressed echoes of %d, want %d", r.Name, r.Compressed, c.msgs, c.compressed)
				}
			}
			if n != len(cases) {
				t.Fatalf("%d results for %d cases\n%s", n, len(cases), stderr.String())
			}
		})
	}
}
