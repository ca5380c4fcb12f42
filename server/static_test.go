package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	webui "github.com/wsedge/wsedge/client"
	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/internal/testcert"
)

// The main port's site through net/http's client (an independent HTTP
// implementation): every file, its headers, conditional and HEAD requests,
// the refusals, and -demo=false.
func TestStaticSite(t *testing.T) {
	for _, demo := range []bool{true, false} {
		o := testOptions()
		o.Demo = demo
		s := startServer(t, o)
		base := "http://" + s.Addr().String()
		for _, p := range []string{"/", "/demo.js", "/demo.css", "/wsedge.js", "/wsedge.d.ts"} {
			served := demo || webui.Library(p)
			res, body := httpDo(t, "GET", base+p, nil)
			if !served {
				if res.StatusCode != 404 {
					t.Errorf("-demo=false: GET %s: %d, want 404", p, res.StatusCode)
				}
				continue
			}
			want, ctype, _ := webui.Asset(p)
			h := res.Header
			if res.StatusCode != 200 || !bytes.Equal(body, want) || h.Get("Content-Type") != ctype {
				t.Fatalf("demo=%v GET %s: %d %q, %d bytes (want %d)", demo, p, res.StatusCode, h.Get("Content-Type"), len(body), len(want))
			}
			for k, v := range map[string]string{
				"ETag": webui.ETag(p), "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
				"Content-Security-Policy": webui.CSP,
			} {
				if h.Get(k) != v {
					t.Errorf("GET %s: %s %q, want %q", p, k, h.Get(k), v)
				}
			}
			if acao := h.Get("Access-Control-Allow-Origin"); (acao == "*") != webui.Library(p) {
				t.Errorf("GET %s: Access-Control-Allow-Origin %q (library: %v)", p, acao, webui.Library(p))
			}
			if d, err := http.ParseTime(h.Get("Date")); err != nil || time.Since(d).Abs() > time.Minute {
				t.Errorf("GET %s: Date %q (%v)", p, h.Get("Date"), err)
			}
			etag := h.Get("ETag")
			for _, tc := range []struct {
				method, inm string
				code        int
				body        bool
			}{
				{"HEAD", "", 200, false},
				{"GET", etag, 304, false},
				{"GET", "W/" + etag, 304, false}, // weak comparison
				{"GET", `"other", ` + etag, 304, false},
				{"GET", "*", 304, false},
				{"HEAD", etag, 304, false},
				{"GET", `"other"`, 200, true},
			} {
				hdr := http.Header{}
				if tc.inm != "" {
					hdr.Set("If-None-Match", tc.inm)
				}
				res, body := httpDo(t, tc.method, base+p, hdr)
				if res.StatusCode != tc.code || (len(body) > 0) != tc.body || res.Header.Get("ETag") != etag {
					t.Errorf("%s %s (If-None-Match %q): %d with %d bytes, ETag %q", tc.method, p, tc.inm, res.StatusCode, len(body), res.Header.Get("ETag"))
				}
				if tc.method == "HEAD" && tc.code == 200 && res.ContentLength != int64(len(want)) {
					t.Errorf("HEAD %s: Content-Length %d, want %d", p, res.ContentLength, len(want))
				}
			}
		}
		for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS"} {
			res, body := httpDo(t, m, base+"/wsedge.js", nil)
			if res.StatusCode != 405 || res.Header.Get("Allow") != "GET, HEAD" || len(body) == 0 {
				t.Errorf("%s /wsedge.js: %d Allow %q body %q", m, res.StatusCode, res.Header.Get("Allow"), body)
			}
		}
		if got := counterValue(t, s.Metrics().Rejected.WithLabelValues("method")); got != 4 {
			t.Errorf("rejected{reason=method} = %v, want 4", got)
		}
		for _, p := range []string{"/index.html", "/wsedge.js/", "/WSEDGE.JS", "/admin.js"} {
			if res, _ := httpDo(t, "GET", base+p, nil); res.StatusCode != 404 {
				t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
			}
		}
		// The WebSocket paths keep their answers; /ws still upgrades.
		if res, _ := httpDo(t, "GET", base+"/ws", nil); res.StatusCode != 426 {
			t.Errorf("plain GET /ws: %d, want 426", res.StatusCode)
		}
		c, _, err := websocket.DefaultDialer.Dial(wsURL(s, "/ws"), nil)
		if err != nil {
			t.Fatalf("upgrade /ws: %v", err)
		}
		c.Close()
	}
}

// httpDo makes one request on a fresh connection.
func httpDo(t testing.TB, method, url string, h http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h != nil {
		req.Header = h
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, url, err)
	}
	return res, body
}

// A browser loads the page, its script, its style and the library over one
// or two kept-alive connections; a quiet one is closed after
// -handshake-timeout without counting as a refusal or a timeout.
func TestStaticKeepAlive(t *testing.T) {
	o := testOptions()
	o.HandshakeTimeout = 300 * time.Millisecond
	s := startServer(t, o)
	base := "http://" + s.Addr().String()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	reused := 0
	for i, p := range []string{"/", "/demo.css", "/demo.js", "/wsedge.js", "/wsedge.js"} {
		req, _ := http.NewRequest("GET", base+p, nil)
		if i == 4 {
			req.Header.Set("If-None-Match", webui.ETag(p))
		}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(ci httptrace.GotConnInfo) {
				if ci.Reused {
					reused++
				}
			},
		}))
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		want, _, _ := webui.Asset(p)
		if i == 4 {
			want = nil
		}
		if !bytes.Equal(body, want) || res.Header.Get("Connection") == "close" {
			t.Fatalf("GET %s: %d, %d bytes, Connection %q", p, res.StatusCode, len(body), res.Header.Get("Connection"))
		}
	}
	if reused != 4 || counterValue(t, s.Metrics().ConnectionsTotal) != 1 {
		t.Errorf("5 requests: %d on a reused connection, %v connections; want 4 and 1", reused, counterValue(t, s.Metrics().ConnectionsTotal))
	}
	waitFor(t, 5*time.Second, "the quiet kept-alive connection closed", func() bool { return s.poll.Len() == 0 })
	if r, to := counterValue(t, s.Metrics().Rejected.WithLabelValues("handshake_timeout")), counterValue(t, s.Metrics().Timeouts.WithLabelValues("handshake")); r != 0 || to != 0 {
		t.Errorf("a kept-alive connection closing counted as a refusal (%v) or a timeout (%v)", r, to)
	}
	client.CloseIdleConnections()
}

// On one raw connection: two pipelined requests, then an upgrade and a
// WebSocket exchange; a request announcing a body, "Connection: close" and
// HTTP/1.0 get their answer and the connection ends.
func TestStaticOneConnection(t *testing.T) {
	s := startServer(t, testOptions())
	c := rawDial(t, s)
	br := bufio.NewReader(c)
	lib, _, _ := webui.Asset("/wsedge.js")
	io.WriteString(c, "GET /wsedge.js HTTP/1.1\r\nHost: x\r\n\r\nHEAD /demo.css HTTP/1.1\r\nHost: x\r\n\r\n")
	for i, want := range [][]byte{lib, nil} {
		res, err := http.ReadResponse(br, &http.Request{Method: []string{"GET", "HEAD"}[i]})
		if err != nil {
			t.Fatalf("pipelined answer %d: %v", i, err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !bytes.Equal(body, want) || res.Close {
			t.Fatalf("pipelined answer %d: %d, %d bytes, close %v", i, res.StatusCode, len(body), res.Close)
		}
	}
	io.WriteString(c, limRequest("/ws", "13", ""))
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatalf("upgrade after the files: %v %v", res, err)
	}
	rc := &rawClient{t: t, conn: c, br: br}
	msg := `{"type":"echo","id":"1","data":"after files"}`
	rc.send(msgFrame(codec.OpText, true, msg))
	if f, err := rc.next(); err != nil || f.op != codec.OpText || string(f.payload) != msg {
		t.Fatalf("echo after the files: %v %q %v", f.op, f.payload, err)
	}

	for _, req := range []string{
		"GET /wsedge.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET /wsedge.js HTTP/1.0\r\n\r\n",
		"GET /wsedge.js HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"GET /wsedge.js HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	} {
		c := rawDial(t, s)
		io.WriteString(c, req)
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !bytes.Equal(body, lib) || !res.Close {
			t.Errorf("%q: %d, %d bytes, close %v", limFirstLine(req), res.StatusCode, len(body), res.Close)
		}
		limExpectEOF(t, c, br)
	}
}

// A write queue smaller than the library still serves it (in pieces); on
// both backends through make test.
func TestStaticSmallWriteQueue(t *testing.T) {
	o := testOptions()
	o.WriteQueue = 4 << 10
	s := startServer(t, o)
	res, body := httpDo(t, "GET", "http://"+s.Addr().String()+"/wsedge.js", nil)
	if lib, _, _ := webui.Asset("/wsedge.js"); res.StatusCode != 200 || !bytes.Equal(body, lib) {
		t.Fatalf("GET /wsedge.js with a 4 KiB write queue: %d, %d bytes of %d", res.StatusCode, len(body), len(lib))
	}
}

// Over TLS the same files, and the demo page's own origin (https, this
// host and port) upgrades on /ws under the default origin policy.
func TestStaticTLS(t *testing.T) {
	certFile, keyFile, pool := testcert.Write(t, t.TempDir(), 1)
	o := testOptions()
	o.TLSCert, o.TLSKey = certFile, keyFile
	s := startServer(t, o)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, p := range []string{"/", "/wsedge.js"} {
		res, err := client.Get("https://" + s.Addr().String() + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if want, _, _ := webui.Asset(p); res.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("https GET %s: %d, %d bytes", p, res.StatusCode, len(body))
		}
	}
	for origin, ok := range map[string]bool{
		"https://" + s.Addr().String(): true,  // the demo page, from the node itself
		"http://" + s.Addr().String():  false, // not what this TLS node serves
		"https://evil.example":         false,
	} {
		h := http.Header{"Origin": {origin}}
		c, res, err := tlsDialer(pool).Dial("wss://"+s.Addr().String()+"/ws", h)
		if c != nil {
			c.Close()
		}
		if (err == nil) != ok {
			status := 0
			if res != nil {
				status = res.StatusCode
			}
			t.Errorf("Origin %s: upgrade err %v (status %d), want accepted %v", origin, err, status, ok)
		}
	}
}

// The demo page connects to /ws on the host and port it was loaded from.
// The default origin policy accepts that origin whatever name and port the
// node is reached by (directly or through a proxy); a list of origins
// replaces the default, so the node's own origin must then be listed.
func TestDemoOrigin(t *testing.T) {
	for _, list := range []string{"", "https://app.example.com", "https://app.example.com,http://node.example"} {
		o := testOptions()
		o.AllowedOrigins = list
		s := startServer(t, o)
		_, port, _ := net.SplitHostPort(s.Addr().String())
		for _, tc := range []struct {
			host, origin string
			ok           bool
		}{
			{"127.0.0.1:" + port, "http://127.0.0.1:" + port, list == ""},
			{"node.example:" + port, "http://node.example:" + port, list == ""},                                  // any name the node is reached by
			{"node.example", "http://node.example", list == "" || strings.Contains(list, "http://node.example")}, // default port: a proxy in front; or listed
			{"node.example", "https://node.example", list == ""},                                                 // TLS ended by the proxy
			{"node.example:" + port, "http://node.example:1" + port, false},                                      // another port
			{"node.example:" + port, "http://other.example:" + port, false},                                      // another host
			{"127.0.0.1:" + port, "http://127.0.0.1.evil.example:" + port, false},                                // a lookalike
			{"127.0.0.1:" + port, "https://app.example.com", list != ""},                                         // the list
		} {
			req := strings.Replace(limRequest("/ws", "13", "Origin: "+tc.origin+"\r\n"), "Host: example.test", "Host: "+tc.host, 1)
			resp, _, c, _ := limExchange(t, s.Addr().String(), 1, req)
			c.Close()
			if (resp.StatusCode == 101) != tc.ok {
				t.Errorf("-allowed-origins %q, Host %s, Origin %s: %d, want accepted %v", list, tc.host, tc.origin, resp.StatusCode, tc.ok)
			}
		}
	}
}

// A drain closes a kept-alive connection waiting between requests without
// an answer: HTTP clients retry a GET on such a connection, where an
// unasked-for 503 would only confuse them.
func TestStaticDrain(t *testing.T) {
	s := startServer(t, testOptions())
	lib, _, _ := webui.Asset("/wsedge.js")
	c := rawDial(t, s)
	br := bufio.NewReader(c)
	io.WriteString(c, "GET /wsedge.js HTTP/1.1\r\nHost: x\r\n\r\n")
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := io.ReadAll(res.Body); !bytes.Equal(body, lib) || res.Close {
		t.Fatalf("first answer: %d bytes, close %v", len(body), res.Close)
	}
	go s.Shutdown(context.Background())
	limExpectEOF(t, c, br)
	if got := counterValue(t, s.Metrics().Rejected.WithLabelValues("draining")); got != 0 {
		t.Errorf("rejected{reason=draining} = %v, want 0", got)
	}
}
