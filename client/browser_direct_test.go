package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/testcert"
	"github.com/wsedge/wsedge/internal/testmark"
)

// The pages as a new user opens them: Chromium loads them straight from the
// node (no proxy, no harness), over ws and over wss, and prints the DOM once
// they have run (--dump-dom); Go reads what the page shows.

const dumpWait = 120 * time.Second

// dumpDOM loads url headless, lets the page run for a budget of virtual
// time, and returns the DOM it printed. Virtual time waits for loads and for
// a WebSocket's opening handshake, then skips ahead whenever the page is
// idle: what a page shows after its connection opened is there, messages
// from outside a few real milliseconds later may not be (those are the
// harness's part, TestBrowserClient).
func dumpDOM(t *testing.T, bin, url string, budget time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dumpWait)
	defer cancel()
	args = append(args, "--dump-dom", fmt.Sprintf("--virtual-time-budget=%d", budget.Milliseconds()))
	_, out, exited := chromium(ctx, t, bin, url, args...)
	select {
	case <-exited:
	case <-ctx.Done():
		t.Fatalf("chromium --dump-dom %s did not finish within %v:\n%s", url, dumpWait, tail(out.String()))
	}
	dom := out.String()
	if !strings.Contains(dom, "</html>") {
		t.Fatalf("chromium --dump-dom %s printed no page:\n%s", url, tail(dom))
	}
	return dom
}

// attr finds the element with id in a dumped DOM and returns the value of
// its attribute name ("" if absent).
func attr(dom, id, name string) string {
	tag := regexp.MustCompile(`<[a-z]+ [^>]*id="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(dom)
	m := regexp.MustCompile(` ` + regexp.QuoteMeta(name) + `="([^"]*)"`).FindStringSubmatch(tag)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestBrowserDirect(t *testing.T) {
	bin := needChromium(t)
	testmark.Ran(t)
	// The default origin policy: the demo page's origin is the node's own.
	node := newWsedge(t)
	certFile, keyFile, _ := testcert.Write(t, t.TempDir(), 1)
	tlsNode := newWsedge(t, "-tls-cert", certFile, "-tls-key", keyFile)
	noDemo := newWsedge(t, "-demo=false")
	// A list of origins replaces the default: the node's own is then refused.
	listed := newWsedge(t, "-allowed-origins", "https://app.example.com")
	for _, n := range []*wsedgeProc{node, tlsNode, noDemo, listed} {
		if err := n.start(); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("demo over ws", func(t *testing.T) {
		dom := dumpDOM(t, bin, "http://"+node.addr+"/", 3*time.Second)
		if s := attr(dom, "state", "data-state"); s != "connected" {
			t.Errorf("the demo page is %q, want connected; its events:\n%s", s, events(dom))
		}
		if u := attr(dom, "url", "value"); u != "ws://"+node.addr+"/ws" {
			t.Errorf("the demo page connects to %q, want its own host's /ws", u)
		}
	})

	t.Run("demo over wss", func(t *testing.T) {
		dom := dumpDOM(t, bin, "https://"+tlsNode.addr+"/", 3*time.Second, "--ignore-certificate-errors")
		if s := attr(dom, "state", "data-state"); s != "connected" {
			t.Errorf("the demo page over https is %q, want connected; its events:\n%s", s, events(dom))
		}
		if u := attr(dom, "url", "value"); u != "wss://"+tlsNode.addr+"/ws" {
			t.Errorf("the demo page over https connects to %q, want wss:// on its own host", u)
		}
	})

	t.Run("demo refused for its origin says why it may be", func(t *testing.T) {
		// 60 s of virtual time: on a loaded machine an attempt may end by the
		// library's connect timeout, virtual time running ahead of the refusal.
		dom := dumpDOM(t, bin, "http://"+listed.addr+"/", 60*time.Second)
		if s := attr(dom, "state", "data-state"); s == "connected" {
			t.Fatalf("the demo page connected to a node whose -allowed-origins does not list it")
		}
		if !strings.Contains(dom, "refuses this page's origin (http://"+listed.addr+"): with -allowed-origins set, list it there") {
			t.Errorf("the demo page does not explain the refusal; its events:\n%s", events(dom))
		}
		var st struct {
			Refusals map[string]float64 `json:"refusals"`
		}
		getJSON(t, "http://"+listed.admin+"/api/stats", &st)
		if st.Refusals["origin"] < 3 {
			t.Errorf("the node refused %v upgrades for their origin, want at least 3", st.Refusals["origin"])
		}
	})

	t.Run("admin page", func(t *testing.T) {
		dom := dumpDOM(t, bin, "http://"+node.admin+"/", 3*time.Second)
		if v := attr(dom, "v-connections", "data-value"); v == "" {
			t.Errorf("the admin page shows no connection count:\n%s", tail(dom))
		}
		if s := attr(dom, "status", "data-status"); s != "ok" {
			t.Errorf("the admin page's status is %q, want ok", s)
		}
	})

	t.Run("-demo=false", func(t *testing.T) {
		for path, want := range map[string]int{"/": 404, "/demo.js": 404, "/wsedge.js": 200, "/wsedge.d.ts": 200} {
			res, err := http.Get("http://" + noDemo.addr + path)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != want {
				t.Errorf("-demo=false: GET %s: %d, want %d", path, res.StatusCode, want)
			}
		}
	})

	t.Run("screenshots", func(t *testing.T) {
		var wg sync.WaitGroup
		for _, page := range []struct{ name, url string }{
			{"demo", "http://" + node.addr + "/"},
			{"admin", "http://" + node.admin + "/"},
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				screenshot(t, bin, page.name, page.url)
			}()
		}
		wg.Wait()
	})
	// Nothing was refused for its origin: the pages came from the node.
	var st struct {
		Refusals map[string]float64 `json:"refusals"`
	}
	getJSON(t, "http://"+node.admin+"/api/stats", &st)
	if st.Refusals["origin"] != 0 {
		t.Errorf("the node refused %v upgrades for their origin", st.Refusals["origin"])
	}
	if t.Failed() {
		t.Logf("wsedge:\n%s\nwsedge (TLS):\n%s", tail(node.log.String()), tail(tlsNode.log.String()))
	}
}

// events returns the demo page's event log from a dumped DOM, for messages.
func events(dom string) string {
	if i := strings.Index(dom, `id="events"`); i >= 0 {
		return tail(dom[i:])
	}
	return tail(dom)
}
