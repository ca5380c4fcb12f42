package client

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/testmark"
)

// Browser tests of the client library and the pages: a real Chromium (no
// DevTools protocol: the harness page POSTs its checks, Go judges) against a
// real wsedge process that the test restarts on the harness's request.

const (
	browserWait     = 100 * time.Second // launch, every check, report
	browserPageWait = 80 * time.Second  // the harness's own deadline, inside browserWait
	screenshotWait  = 120 * time.Second // a loaded machine starts Chromium slowly
)

// browserChecks are the checks the harness must report, all passed, so a
// harness that silently skips a step cannot pass.
var browserChecks = []string{
	"admin: page shows a connection count",
	"demo: both pages connect and subscribe",
	"demo: a message from A to B arrives with its latency",
	"demo: a message from B to A arrives with its latency",
	"admin: connection count rises when the demo pages connect",
	"admin: connection count falls when they leave",
	"library: subscribe and receive",
	"library: rpc resolves with the backend's result",
	"library: rpc past the client's timeout rejects with TIMEOUT; the late answer is ignored",
	"library: presence resolves with the channel's subscriber",
	"library: presence of a channel without presence is refused",
	"library: a request to a hung node times out; its late reply is ignored",
	"library: server restart (graceful): both clients reconnect",
	"library: after the graceful restart the subscription is back and messages arrive",
	"library: server restart (kill): both clients reconnect",
	"library: after the kill restart the subscription is back and messages arrive",
	"library: resubscribed exactly the wanted channels",
	"library: close is final",
}

type browserCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Ms     int64  `json:"ms"` // page time when it was decided
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

func needChromium(t *testing.T) string {
	bin := findChromium()
	if bin == "" {
		const how = "install it with: apt-get update && apt-get install -y chromium (or set CHROME_BIN)"
		if why := os.Getenv("WSEDGE_BROWSER_INSTALL_FAILED"); why != "" {
			t.Skip("BROWSER TEST NOT RUN: chromium could not be installed: " + why)
		}
		if inCI() {
			t.Fatal("chromium is required in CI for the client browser tests; " + how)
		}
		t.Skip("chromium not found; " + how)
	}
	return bin
}

// chromium runs the browser headless on url with args, its helpers in their
// own process group, until ctx ends or it exits; it returns the output.
func chromium(ctx context.Context, t *testing.T, bin, url string, args ...string) (*exec.Cmd, *syncBuffer, <-chan error) {
	t.Helper()
	out := &syncBuffer{}
	all := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-proxy-server", "--disable-crash-reporter", "--disable-breakpad",
		"--user-data-dir=" + t.TempDir(),
	}, args...)
	cmd := exec.Command(bin, append(all, url)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // to kill its helpers too
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	kill := func() {
		once.Do(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		})
	}
	go func() { <-ctx.Done(); kill() }()
	t.Cleanup(kill)
	return cmd, out, exited
}

func TestBrowserClient(t *testing.T) {
	bin := needChromium(t)
	testmark.Ran(t)
	web := httptest.NewUnstartedServer(nil)
	t.Cleanup(web.Close)
	origin := "http://" + web.Listener.Addr().String()

	// The application backend: rpc answers with the method and data it got
	// ("slow" only after 1.5 s, past the harness client's own timeout).
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var call struct {
			Method string          `json:"method"`
			Data   json.RawMessage `json:"data"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&call); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if call.Method == "slow" {
			time.Sleep(1500 * time.Millisecond)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"result": map[string]any{"method": call.Method, "data": call.Data}})
	}))
	t.Cleanup(backend.Close)
	// The restart channel's namespace has presence; the default one stays
	// open to anonymous clients as on a node without a config file.
	conf := filepath.Join(t.TempDir(), "wsedge.yaml")
	if err := os.WriteFile(conf, []byte("namespaces:\n"+
		"  - name: \"\"\n    subscribe: anyone\n    publish: anyone\n"+
		"  - name: restart\n    subscribe: anyone\n    publish: anyone\n    presence: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// The library clients of the harness connect straight to the node, from
	// the harness's origin; the demo pages reach it through the test server.
	node := newWsedge(t, "-allowed-origins", origin, "-proxy-rpc-url", backend.URL+"/rpc", "-config", conf)
	if err := node.start(); err != nil {
		t.Fatal(err)
	}
	nodeURL, _ := url.Parse("http://" + node.addr)
	adminURL, _ := url.Parse("http://" + node.admin)
	cfg := map[string]any{
		"ws":             "ws://" + node.addr + "/ws",
		"channel":        "demo",
		"restartChannel": "restart:room",
		"deadlineMs":     browserPageWait.Milliseconds(),
	}

	results := make(chan []byte, 1)
	var steps []string
	var stepsMu sync.Mutex
	mux := http.NewServeMux()
	// The node's main port (the demo page, the library, /ws) and its admin
	// listener, behind this server so the harness shares the pages' origin
	// and can read them: every page byte is the node's own answer.
	mux.Handle("/", httputil.NewSingleHostReverseProxy(nodeURL))
	mux.Handle("/admin/", http.StripPrefix("/admin", httputil.NewSingleHostReverseProxy(adminURL)))
	mux.Handle("/test/", http.StripPrefix("/test/", http.FileServer(http.Dir(filepath.Join("testdata", "browser")))))
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(cfg)
	})
	mux.HandleFunc("POST /step", func(w http.ResponseWriter, r *http.Request) {
		var s struct{ Name string }
		json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&s)
		stepsMu.Lock()
		steps = append(steps, s.Name)
		stepsMu.Unlock()
		var err error
		switch s.Name {
		case "restart-graceful": // SIGTERM: drain, 1012 to every client
			err = node.restart(syscall.SIGTERM, 0)
		case "restart-kill": // the process dies; down long enough for failed attempts
			err = node.restart(syscall.SIGKILL, 1500*time.Millisecond)
		case "pause": // the node hangs: connections stay open, nothing is answered
			err = node.signal(syscall.SIGSTOP)
		case "resume":
			err = node.signal(syscall.SIGCONT)
		default:
			http.Error(w, "unknown step", http.StatusBadRequest)
			return
		}
		if err != nil {
			t.Errorf("step %s: %v", s.Name, err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		select {
		case results <- body:
		default:
		}
	})
	web.Config.Handler = mux
	web.Start()

	ctx, cancel := context.WithTimeout(context.Background(), browserWait)
	defer cancel()
	_, out, exited := chromium(ctx, t, bin, web.URL+"/test/harness.html")
	var body []byte
	select {
	case body = <-results:
	case err := <-exited:
		t.Fatalf("chromium exited before the harness reported (%v):\n%s", err, tail(out.String()))
	case <-ctx.Done():
		t.Fatalf("no result from the harness within %v; chromium:\n%s\nwsedge:\n%s", browserWait, tail(out.String()), tail(node.log.String()))
	}
	cancel()

	var res struct {
		UserAgent string
		Started   int64
		Checks    []browserCheck
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("result %q: %v", body, err)
	}
	t.Logf("browser: %s; the harness started %d ms after its page", res.UserAgent, res.Started)
	seen := map[string]bool{}
	for _, c := range res.Checks {
		t.Logf("%6d ms  %v  %s", c.Ms, c.OK, c.Name)
		seen[c.Name] = true
		if !c.OK {
			t.Errorf("browser check %q failed: %s", c.Name, c.Detail)
		}
	}
	for _, name := range browserChecks {
		if !seen[name] {
			t.Errorf("the harness did not report %q", name)
		}
	}
	if len(res.Checks) != len(browserChecks) {
		t.Errorf("the harness reported %d checks, want %d", len(res.Checks), len(browserChecks))
	}
	if fmt.Sprint(steps) != "[pause resume restart-graceful restart-kill]" || node.starts != 3 {
		t.Errorf("steps asked %v, processes started %d; want a pause, both restarts, 3 processes", steps, node.starts)
	}
	// The third process's side: the two clients came back to it, subscribed
	// and published, then closed cleanly (close 1000 answered).
	var st struct {
		Totals struct {
			Connections float64 `json:"connections"`
			MessagesIn  float64 `json:"messages_in"`
		} `json:"totals"`
		Closes map[string]float64 `json:"closes"`
	}
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(time.Second) { // a new sample at most every 0.9 s
		getJSON(t, "http://"+node.admin+"/api/stats", &st)
		ok := st.Totals.Connections >= 2 && st.Totals.MessagesIn >= 2 && st.Closes["1000"] >= 2
		if ok || time.Now().After(end) {
			if !ok {
				t.Errorf("the restarted node saw %v connections, %v messages, %v closes 1000; want >= 2 of each",
					st.Totals.Connections, st.Totals.MessagesIn, st.Closes["1000"])
			}
			break
		}
	}
	if t.Failed() {
		t.Logf("chromium:\n%s\nwsedge:\n%s", tail(out.String()), tail(node.log.String()))
	}

}

// screenshot renders url headless and checks the PNG is a page, not a blank:
// many distinct colours, none covering nearly everything.
func screenshot(t *testing.T, bin, name, url string) {
	dir := os.Getenv("WSEDGE_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name+".png")
	ctx, cancel := context.WithTimeout(context.Background(), screenshotWait)
	defer cancel()
	_, out, exited := chromium(ctx, t, bin, url, "--screenshot="+path, "--window-size=1280,900",
		"--hide-scrollbars")
	select {
	case <-exited:
	case <-ctx.Done():
		t.Errorf("%s screenshot: chromium did not finish within %v:\n%s", name, screenshotWait, tail(out.String()))
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Errorf("%s screenshot: %v\n%s", name, err, tail(out.String()))
		return
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Errorf("%s screenshot: %v", name, err)
		return
	}
	colours, top := colourStats(img)
	b := img.Bounds()
	share := float64(top) / float64(b.Dx()*b.Dy())
	t.Logf("%s screenshot %s: %dx%d, %d colours, the commonest covers %.0f%%", name, path, b.Dx(), b.Dy(), colours, share*100)
	if colours < 32 || share > 0.9 {
		t.Errorf("%s screenshot looks blank: %d colours, the commonest covers %.0f%%", name, colours, share*100)
	}
}

// colourStats counts the distinct colours of img and the pixels of the commonest.
func colourStats(img image.Image) (distinct, top int) {
	seen := map[[4]uint32]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			k := [4]uint32{r, g, bl, a}
			seen[k]++
			if seen[k] > top {
				top = seen[k]
			}
		}
	}
	return len(seen), top
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
}

func tail(s string) string {
	if len(s) > 8<<10 {
		return "...\n" + s[len(s)-8<<10:]
	}
	return s
}
