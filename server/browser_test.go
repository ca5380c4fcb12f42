package server

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/internal/testcert"
	"github.com/wsedge/wsedge/internal/testmark"
	"github.com/wsedge/wsedge/limits"
)

// Browser interop: a real Chromium loads testdata/browser/page.html from a
// local HTTP server, talks to wsedge through its own WebSocket implementation
// and POSTs what it saw to /result. No DevTools protocol: the page reports,
// Go judges, and the server's own counters confirm the traffic was real.

const (
	browserWait     = 45 * time.Second // launch, run every check, report
	browserPageWait = 30 * time.Second // the page's own deadline, inside browserWait
	browserChannel  = "browser:room"
)

// browserChecks are the check names the page must report, all passed, so a
// page that silently skips a step cannot pass.
var browserChecks = []string{
	"echo: open",
	"echo: no extension with compression off",
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
	"deflate no-context-takeover: open",
	"deflate no-context-takeover: extension agreed",
	"deflate no-context-takeover: 20 JSON messages",
	"deflate no-context-takeover: 200 KB text",
	"deflate no-context-takeover: 300 KB binary",
	"deflate no-context-takeover: close 1000 is clean",
	"deflate no-context-takeover: /ws echo",
	"deflate no-context-takeover: /ws close 1000 is clean",
	"deflate context-takeover: open",
	"deflate context-takeover: extension agreed",
	"deflate context-takeover: 20 JSON messages",
	"deflate context-takeover: 200 KB text",
	"deflate context-takeover: 300 KB binary",
	"deflate context-takeover: close 1000 is clean",
	"deflate context-takeover: /ws echo",
	"deflate context-takeover: /ws close 1000 is clean",
	// Over wss://, once per record layer (tlsBrowserChecks adds them).
	"refused: default origin policy, /echo",
	"refused: default origin policy, /ws",
	"refused: near-miss origins, /echo",
	"refused: near-miss origins, /ws",
}

// browserTLSLayers are the record layers the page talks to over wss://.
var browserTLSLayers = []string{"compact", "stdlib"}

// tlsBrowserChecks are the page's wss:// checks for one layer.
func tlsBrowserChecks(layer string) []string {
	p := "wss " + layer + ": "
	return []string{p + "open", "echo text: " + p + "ASCII", "echo text: " + p + "200 KB", "echo binary: " + p + "300 KB",
		"echo binary: " + p + "300 KB after a quiet period", "echo text: " + p + "text after a quiet period", p + "close 1000 is clean"}
}

type browserCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

type browserResult struct {
	UserAgent string         `json:"userAgent"`
	Checks    []browserCheck `json:"checks"`
}

type browserRefusal struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// browserDeflate is a node with permessage-deflate and the answer the
// browser's default offer must get.
type browserDeflate struct {
	Name       string `json:"name"`
	Echo       string `json:"echo"`
	WS         string `json:"ws"`
	Extensions string `json:"extensions"`
}

type browserConfig struct {
	Deflate    []browserDeflate `json:"deflate"`
	Echo       string           `json:"echo"`
	WS         string           `json:"ws"`
	Channel    string           `json:"channel"`
	BigText    int              `json:"bigText"`
	MaxMessage int64            `json:"maxMessage"`
	Refused    []browserRefusal `json:"refused"`
	DeadlineMs int64            `json:"deadlineMs"`
	WSS        []browserTarget  `json:"wss"`
	QuietMs    int64            `json:"quietMs"`
}

type browserTarget struct {
	Name string `json:"name"`
	URL  string `json:"url"`
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
		if why := os.Getenv("WSEDGE_BROWSER_INSTALL_FAILED"); why != "" {
			// .ci/run tried and the package registry failed: say so loudly
			// rather than fail every other test's landing on it.
			t.Skip("BROWSER TEST NOT RUN: chromium could not be installed: " + why)
		}
		if inCI() {
			t.Fatal("chromium is required in CI for the browser interop test; " + how)
		}
		t.Skip("chromium not found; " + how)
	}
	testmark.Ran(t) // .ci/run checks that this test ran
	page, err := os.ReadFile(filepath.Join("testdata", "browser", "page.html"))
	if err != nil {
		t.Fatal(err)
	}

	// The page server's address fixes the page origin, which the wsedge
	// servers must know before they start.
	web := httptest.NewUnstartedServer(nil)
	t.Cleanup(web.Close)
	webAddr := web.Listener.Addr().(*net.TCPAddr)
	origin := "http://" + webAddr.String()

	o := testOptions()
	o.AllowedOrigins = origin
	o.MaxMessageSize = 1 << 20
	s := startServer(t, o)

	// Two servers that must refuse the page: the default policy (no Origin,
	// or the WebSocket server's own host and port), and near misses of the
	// page origin (another spelling of the host, another scheme).
	refuseDefault := startServer(t, testOptions())
	o = testOptions()
	o.AllowedOrigins = "http://localhost:" + strconv.Itoa(webAddr.Port) + ",https://" + webAddr.String()
	refuseOther := startServer(t, o)
	// One wss:// server per record layer, whose self-signed certificate
	// Chromium is told to accept by its public key hash.
	certFile, keyFile, _ := testcert.Write(t, t.TempDir(), 1)
	spki := spkiHash(t, certFile)
	const cipherIdle = 100 * time.Millisecond
	tlsServers := map[string]*Server{}
	for _, layer := range browserTLSLayers {
		o := testOptions()
		o.AllowedOrigins = origin
		o.MaxMessageSize = 1 << 20
		o.TLSCert, o.TLSKey = certFile, keyFile
		o.TLSRecordLayer = layer
		o.TLSCipherIdle = cipherIdle
		tlsServers[layer] = startServer(t, o)
	}

	refusers := []struct {
		name string
		s    *Server
	}{{"default origin policy", refuseDefault}, {"near-miss origins", refuseOther}}

	cfg := browserConfig{
		Echo:       wsURL(s, "/echo"),
		WS:         wsURL(s, "/ws"),
		Channel:    browserChannel,
		BigText:    200 << 10,
		MaxMessage: s.Options().MaxMessageSize,
		DeadlineMs: browserPageWait.Milliseconds(),
		QuietMs:    (5 * cipherIdle).Milliseconds(),
	}
	for _, layer := range browserTLSLayers {
		cfg.WSS = append(cfg.WSS, browserTarget{Name: layer, URL: "wss://" + tlsServers[layer].Addr().String() + "/echo"})
	}
	for _, r := range refusers {
		for _, path := range []string{"/echo", "/ws"} {
			cfg.Refused = append(cfg.Refused, browserRefusal{Name: r.name + ", " + path, URL: wsURL(r.s, path)})
		}
	}
	// Nodes with compression: the browser offers permessage-deflate with
	// client_max_window_bits; context-takeover answers a 4 KiB client window,
	// so the browser's kept context must stay within what the node keeps.
	deflaters := map[string]*Server{}
	for _, d := range []struct {
		mode codec.Mode
		want string
	}{
		{codec.ModeNoContextTakeover, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{codec.ModeContextTakeover, "permessage-deflate; client_max_window_bits=12"},
	} {
		o := compressionOptions(d.mode)
		o.AllowedOrigins = origin
		o.MaxMessageSize = 1 << 20
		o.Compression.WindowBits = 12
		ds := startServer(t, o)
		deflaters[d.mode.String()] = ds
		cfg.Deflate = append(cfg.Deflate, browserDeflate{Name: d.mode.String(), Echo: wsURL(ds, "/echo"), WS: wsURL(ds, "/ws"), Extensions: d.want})
	}

	var probed atomic.Int64 // s.Connections() when the page asked, -1 before
	probed.Store(-1)
	results := make(chan []byte, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(page)
	})
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(cfg)
	})
	mux.HandleFunc("POST /probe", func(w http.ResponseWriter, r *http.Request) {
		probed.Store(int64(s.Connections()))
	})
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case results <- body:
		default: // only the first report counts
		}
	})
	web.Config.Handler = mux
	web.Start()

	// Launch: every flag that keeps Chromium off the network except for our
	// loopback servers, with a throwaway profile.
	profile := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "chromium.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-proxy-server", "--disable-crash-reporter", "--disable-breakpad",
		"--user-data-dir="+profile, "--ignore-certificate-errors-spki-list="+spki,
		web.URL+"/")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // to kill its helpers too
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				t.Errorf("chromium (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
			}
		})
	}
	// Cleanups run last-in first-out: the browser dies before its profile
	// directory is removed.
	t.Cleanup(stop)
	chromiumLog := func() string {
		b, _ := os.ReadFile(logPath)
		if len(b) > 8<<10 {
			b = append([]byte("...\n"), b[len(b)-8<<10:]...)
		}
		return string(b)
	}

	var body []byte
	select {
	case body = <-results:
	case err := <-exited:
		exited <- err // for stop
		t.Fatalf("chromium exited before the page reported (%v); its output:\n%s", err, chromiumLog())
	case <-time.After(browserWait):
		t.Fatalf("no result from the page within %v; chromium output:\n%s", browserWait, chromiumLog())
	}
	stop()

	var res browserResult
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("result %q: %v", body, err)
	}
	t.Logf("browser: %s", res.UserAgent)
	seen := make(map[string]bool, len(res.Checks))
	for _, c := range res.Checks {
		seen[c.Name] = true
		if !c.OK {
			t.Errorf("browser check %q failed: %s", c.Name, c.Detail)
		}
	}
	want := browserChecks
	for _, layer := range browserTLSLayers {
		want = append(slices.Clip(want), tlsBrowserChecks(layer)...)
	}
	for _, name := range want {
		if !seen[name] {
			t.Errorf("browser did not report check %q", name)
		}
	}
	if len(res.Checks) != len(want) {
		t.Errorf("browser reported %d checks, want %d", len(res.Checks), len(want))
	}
	if t.Failed() {
		t.Logf("chromium output:\n%s", chromiumLog())
	}

	// The server's side of the same story.
	if got := probed.Load(); got < 2 {
		t.Errorf("open WebSocket connections while the page held two: %d, want at least 2", got)
	}
	m := s.Metrics()
	if got := counterValue(t, m.ConnectionsTotal); got != 4 {
		t.Errorf("connections accepted: %v, want 4 (echo, two on /ws, the 1003 one)", got)
	}
	// On /echo 4 text and 2 binary; on /ws 6 JSON messages and the binary one.
	if got := counterValue(t, m.MessagesReceived); got != 13 {
		t.Errorf("messages received: %v, want 13", got)
	}
	if got := counterValue(t, m.BytesReceived); got < float64(cfg.BigText+300<<10) {
		t.Errorf("bytes received: %v, want at least %d", got, cfg.BigText+300<<10)
	}
	if got := counterValue(t, m.Closes.WithLabelValues("1000")); got != 3 {
		t.Errorf("close frames with 1000 sent: %v, want 3", got)
	}
	if got := counterValue(t, m.Closes.WithLabelValues("1003")); got != 1 {
		t.Errorf("close frames with 1003 sent: %v, want 1", got)
	}
	if got := counterValue(t, m.Rejected.WithLabelValues(string(limits.ReasonOrigin))); got != 0 {
		t.Errorf("the allowed origin was refused %v times", got)
	}
	for _, r := range refusers {
		if got := counterValue(t, r.s.Metrics().Rejected.WithLabelValues(string(limits.ReasonOrigin))); got != 2 {
			t.Errorf("%s: origin refusals %v, want 2", r.name, got)
		}
		if got := counterValue(t, r.s.Metrics().MessagesReceived); got != 0 {
			t.Errorf("%s: %v messages received through a refused upgrade", r.name, got)
		}
	}
	// The browser compressed what it sent to the nodes with the extension
	// (23 messages each) and they compressed their echoes (22: the /ws echo
	// and the 20 JSON ones, the 200 KB text, the 300 KB binary).
	for name, ds := range deflaters {
		m := ds.Metrics()
		in, out := counterValue(t, m.CompressedMessages.WithLabelValues("in")), counterValue(t, m.CompressedMessages.WithLabelValues("out"))
		if in != 23 || out != 23 {
			t.Errorf("%s: compressed messages in %v, out %v; want 23 and 23", name, in, out)
		}
		if z, raw := counterValue(t, m.CompressedBytes.WithLabelValues("in")), counterValue(t, m.UncompressedBytes.WithLabelValues("in")); raw < 4*z {
			t.Errorf("%s: the browser's messages inflated from %v to %v bytes", name, z, raw)
		}
	}
	if got := counterValue(t, s.Metrics().CompressedMessages.WithLabelValues("in")); got != 0 {
		t.Errorf("%v compressed messages reached the node with compression off", got)
	}
	// Over wss://: Chromium's TLS 1.3 session ran on the layer asked for,
	// and on the compact one the quiet period dropped the cipher state.
	for _, layer := range browserTLSLayers {
		m := tlsServers[layer].Metrics()
		if got := counterValue(t, m.TLSSessions.WithLabelValues(layer, "1.3")); got != 1 {
			t.Errorf("%s: TLS 1.3 sessions on the %s layer: %v, want 1", layer, layer, got)
		}
		if got := counterValue(t, m.MessagesReceived); got != 5 {
			t.Errorf("%s: messages received over wss: %v, want 5", layer, got)
		}
		drops := counterValue(t, m.TLSCipherDrops)
		if layer == "compact" && drops < 1 || layer != "compact" && drops != 0 {
			t.Errorf("%s: cipher state drops %v", layer, drops)
		}
	}
	// The browser is gone: every server must have let go of every connection.
	for _, sv := range []*Server{s, refuseDefault, refuseOther, deflaters["no-context-takeover"], deflaters["context-takeover"], tlsServers["compact"], tlsServers["stdlib"]} {
		waitFor(t, 10*time.Second, "server "+sv.Addr().String()+" still holds connections after the browser exited", func() bool {
			return sv.Connections() == 0 && counterValue(t, sv.Metrics().ConnectionsActive) == 0
		})
	}
}

// spkiHash is base64(SHA-256(SubjectPublicKeyInfo)) of the certificate in
// certFile, what Chromium's --ignore-certificate-errors-spki-list takes.
func spkiHash(t *testing.T, certFile string) string {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", certFile)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}
