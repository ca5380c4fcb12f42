package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Browser interop: a real Chromium loads testdata/browser/page.html from a
// local HTTP server, talks to wsedge with its own WebSocket implementation and
// POSTs what it saw. No DevTools protocol: the page reports, Go judges.

const (
	browserWait     = 45 * time.Second // launch, run every check, report
	browserPageWait = 30 * time.Second // the page's own deadline, inside browserWait
)

// browserChecks are the page's check names that must all be reported, so a
// page that silently skips a step cannot pass.
var browserChecks = []string{
	"echo: open",
	"echo text: ASCII",
	"echo text: multi-byte UTF-8",
	"echo text: empty",
	"big text is over 200 KB of UTF-8",
	"echo text: 200 KB",
	"echo binary: every byte value",
	"echo binary: 300 KB",
	"echo: close 1000 is clean",
	"ws: open two connections",
	"ws: ping",
	"ws: echo",
	"ws: subscribe ack",
	"ws: publish ack to the publisher",
	"ws: message to the subscriber",
	"ws: unknown type is an error reply",
	"ws: still open after the error",
	"server sees the connections",
	"ws: open a third connection",
	"ws: binary frame is closed with 1003",
	"ws: close 1000 is clean (subscriber)",
	"ws: close 1000 is clean (publisher)",
	"refused: default origin policy, /echo",
	"refused: default origin policy, /ws",
	"refused: other origins allowed, /echo",
	"refused: other origins allowed, /ws",
}

type browserResult struct {
	UserAgent string `json:"userAgent"`
	Checks    []struct {
		Name   string `json:"name"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
	} `json:"checks"`
}

// findChromium returns the browser binary, or "" when there is none:
// $CHROME_BIN first, then the usual names on PATH.
func findChromium() string {
	if p := os.Getenv("CHROME_BIN"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// inCI reports whether CI is set to a true value (CI=true in our CI).
func inCI() bool {
	v, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && v
}

func TestBrowserInterop(t *testing.T) {
	bin := findChromium()
	if bin == "" {
		const how = "install it with: apt-get update && apt-get install -y chromium (or set CHROME_BIN)"
		if inCI() {
			t.Fatal("chromium is required in CI for the browser interop test; " + how)
		}
		t.Skip("chromium not found; " + how)
	}
	page, err := os.ReadFile(filepath.Join("testdata", "browser", "page.html"))
	if err != nil {
		t.Fatal(err)
	}

	// The page server's address fixes the page origin, which the wsedge
	// servers must know before they start.
	web := httptest.NewUnstartedServer(nil)
	t.Cleanup(web.Close)
	origin := "http://" + web.Listener.Addr().String()

	o := testOptions()
	o.AllowedOrigins = origin
	o.MaxMessageSize = 1 << 20
	s := startServer(t, o)

	// Two servers that must refuse the page: the default policy (no Origin,
	// or the same host and port as the WebSocket server), and near misses of
	// the page origin (other host spelling, other scheme).
	refuseDefault := startServer(t, testOptions())
	o = testOptions()
	o.AllowedOrigins = "http://localhost:" + strconv.Itoa(web.Listener.Addr().(interface{ AddrPort() any }).AddrPort().(interface{ Port() uint16 }).Port())
	_ = o
	t.Fatal("unreachable")
	_ = refuseDefault
	_ = page
	_ = bin
}

var _ = errors.New
var _ = io.EOF
var _ = json.Marshal
var _ = http.StatusOK
var _ = strings.Cut
var _ sync.Once
var _ atomic.Int64
var _ = syscall.Kill
