package bench

import (
	"errors"
	"strings"
	"testing"
)

const okResponse = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + wsAccept + "\r\n\r\n"

func TestParseUpgradeResponse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		n      int
		status int  // for StatusError
		incomp bool // errIncomplete
		bad    bool // any other error
	}{
		{name: "ok", in: okResponse, n: len(okResponse)},
		{name: "ok with frame after", in: okResponse + "\x81\x02hi", n: len(okResponse)},
		{name: "lowercase header", in: strings.Replace(okResponse, "Sec-WebSocket-Accept", "sec-websocket-accept", 1), n: len(okResponse)},
		{name: "no reason phrase", in: strings.Replace(okResponse, "101 Switching Protocols", "101", 1), n: len(okResponse) - 20},
		{name: "partial", in: okResponse[:40], incomp: true},
		{name: "empty", in: "", incomp: true},
		{name: "429", in: "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n\r\n", status: 429},
		{name: "503", in: "HTTP/1.1 503 Service Unavailable\r\n\r\nbusy", status: 503},
		{name: "wrong accept", in: strings.Replace(okResponse, wsAccept, "x", 1), bad: true},
		{name: "no accept", in: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", bad: true},
		{name: "garbage", in: "SSH-2.0-OpenSSH\r\n\r\n", bad: true},
		{name: "bad code", in: "HTTP/1.1 1x1 Foo\r\n\r\n", bad: true},
		{name: "too long", in: "HTTP/1.1 101 OK\r\n" + strings.Repeat("X: y\r\n", 1000), bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := parseUpgradeResponse([]byte(tc.in))
			var se *StatusError
			switch {
			case tc.incomp:
				if !errors.Is(err, errIncomplete) {
					t.Fatalf("want incomplete, got %v", err)
				}
			case tc.status != 0:
				if !errors.As(err, &se) || se.Code != tc.status {
					t.Fatalf("want status %d, got %v", tc.status, err)
				}
			case tc.bad:
				if err == nil || errors.Is(err, errIncomplete) || errors.As(err, &se) {
					t.Fatalf("want malformed error, got %v", err)
				}
			default:
				if err != nil || n != tc.n {
					t.Fatalf("got %d %v, want %d", n, err, tc.n)
				}
			}
		})
	}
}

func TestUpgradeRequest(t *testing.T) {
	req := string(upgradeRequest("127.0.0.1:8080", "/echo?x=1", "", false, ""))
	for _, want := range []string{"GET /echo?x=1 HTTP/1.1\r\n", "Host: 127.0.0.1:8080\r\n", "Sec-WebSocket-Key: " + wsKey, "Sec-WebSocket-Version: 13\r\n"} {
		if !strings.Contains(req, want) {
			t.Errorf("request lacks %q", want)
		}
	}
	if !strings.HasSuffix(req, "\r\n\r\n") || strings.Contains(req, "Authorization") {
		t.Error("request not terminated, or with a token")
	}
	req = string(upgradeRequest("h", "/ws", "a.b.c", true, DefaultDeflateOffer))
	if !strings.Contains(req, "\r\nAuthorization: Bearer a.b.c\r\n") || !strings.Contains(req, "\r\nOrigin: https://h\r\n") ||
		!strings.Contains(req, "\r\nSec-WebSocket-Extensions: "+DefaultDeflateOffer+"\r\n") || !strings.HasSuffix(req, "\r\n\r\n") {
		t.Errorf("bearer request: %q", req)
	}
}

func FuzzParseUpgradeResponse(f *testing.F) {
	f.Add([]byte(okResponse))
	f.Add([]byte("HTTP/1.1 429 Too Many Requests\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 101\r\nSec-WebSocket-Accept:x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseUpgradeResponse(b)
		if err == nil && (n < 4 || n > len(b) || string(b[n-4:n]) != "\r\n\r\n") {
			t.Fatalf("accepted with bad length %d", n)
		}
		// A prefix of an accepted response is incomplete, never accepted.
		if err == nil && n > 1 {
			if _, err2 := parseUpgradeResponse(b[:n-1]); err2 == nil {
				t.Fatal("prefix accepted")
			}
		}
	})
}
