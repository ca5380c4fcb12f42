package server

import (
	"bufio"
	"bytes"
	"net/http"
	"net/netip"
	"testing"

	"github.com/wsedge/wsedge/codec"
)

// FuzzHandshake feeds arbitrary request heads through the same parsing and
// upgrade steps a connection goes through, compression negotiation
// included. Whatever the input, the answer is a 101 with the accept key or
// one complete refusal, never a panic; a 101 states permessage-deflate at
// most once, in a form a client accepts, and only when it was offered.
func FuzzHandshake(f *testing.F) {
	f.Add([]byte(upgradeRequest("/echo", "")))
	f.Add([]byte(upgradeRequest("/ws", "Origin: http://example.test\r\nX-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n")))
	f.Add([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("GET /health HTTP/1.1\r\n\r\n"))
	f.Add([]byte("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"))
	f.Add([]byte(upgradeRequest("/echo", "Sec-WebSocket-Version: 8\r\n")))
	f.Add([]byte(upgradeRequest("/echo", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")))
	f.Add([]byte(upgradeRequest("/ws", "Sec-WebSocket-Extensions: x-foo, permessage-deflate; server_max_window_bits=\"09\"\r\n"+
		"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=10\r\n")))
	o := testOptions()
	o.Compression.Mode = codec.ModeContextTakeover
	o.Compression.WindowBits = 11
	o.TrustedProxies = "127.0.0.1/32"
	s, err := New(o, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer s.router.Close()
	u := newUpgrader(s)
	peer := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = looksLikeHTTP(b)
		end := headEnd(b)
		if end < 0 {
			return
		}
		h, ok := parseHead(b[:end])
		if !ok {
			return
		}
		if !bytes.HasPrefix(b, h.method) {
			t.Fatalf("method %q is not the start of the request", h.method)
		}
		resp, reason, _, ticket := u.upgrade(b[:end], peer, false)
		s.adm.Release(&ticket)
		switch {
		case reason == refNone:
			if !bytes.HasPrefix(resp, []byte("HTTP/1.1 101 ")) || !bytes.Contains(resp, []byte("Sec-WebSocket-Accept: ")) {
				t.Fatalf("upgrade without a 101: %q", resp)
			}
			const ext = "\r\nSec-WebSocket-Extensions: "
			switch n := bytes.Count(resp, []byte(ext)); {
			case n > 1:
				t.Fatalf("%d extension answers: %q", n, resp)
			case n == 1:
				v, _, _ := bytes.Cut(resp[bytes.Index(resp, []byte(ext))+len(ext):], []byte("\r\n"))
				if p, err := codec.ParseResponse(v); err != nil || !p.Enabled() {
					t.Fatalf("answer %q: %v", v, err)
				}
				if !bytes.Contains(bytes.ToLower(b[:end]), []byte("permessage-deflate")) {
					t.Fatalf("permessage-deflate answered, never offered: %q", resp)
				}
			}
		case !bytes.HasPrefix(resp, []byte("HTTP/1.1 4")) && !bytes.HasPrefix(resp, []byte("HTTP/1.1 5")):
			t.Fatalf("refusal %s without an error status: %q", reason, resp)
		case !bytes.Contains(resp, []byte("\r\nConnection: close\r\n")):
			t.Fatalf("refusal %s does not close: %q", reason, resp)
		}
	})
}

// FuzzStaticRequest checks the few headers a file of the main port's site
// is answered by against net/http's own parser: whenever it sees a body or
// a request to close, so does parseRequest, which then ends the connection
// after the answer instead of reading the body's bytes as the next request.
func FuzzStaticRequest(f *testing.F) {
	f.Add([]byte("GET /wsedge.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: W/\"abc\"\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\nContent-Length: 7\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		end := headEnd(b)
		if end < 0 {
			return
		}
		if _, ok := parseHead(b[:end]); !ok {
			return
		}
		r := parseRequest(b[:end])
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return // net/http refuses it; we answer it, and close unless it is plainly bodiless
		}
		if (req.ContentLength != 0 || len(req.TransferEncoding) > 0) && !r.body {
			t.Fatalf("net/http sees a body (length %d, %v), parseRequest none: %q", req.ContentLength, req.TransferEncoding, b[:end])
		}
		if req.Close && r.keepAlive {
			t.Fatalf("net/http closes after this request, parseRequest keeps alive: %q", b[:end])
		}
	})
}
