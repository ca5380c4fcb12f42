package server

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

	webui "github.com/wsedge/wsedge/client"
)

// The main port's small site, answered from the event loop like /health:
// the client library (/wsedge.js, /wsedge.d.ts) always, and with -demo the
// demo page (/, /demo.js, /demo.css). The files are embedded (package
// client); every answer is prepared at start, so a request costs a map
// lookup, one copy of the head into the write queue and the body queued by
// reference. No request body is ever read: a request announcing one is
// answered and the connection closed after it.

// asset is one file of the site with its answers' heads ready-made.
type asset struct {
	body []byte
	etag string
	// head[status][keepAlive]: status 0 is 200, 1 is 304.
	head [2][2][]byte
}

// site maps a URL path to its asset.
type site map[string]*asset

func newSite(demo bool) site {
	s := site{}
	for _, p := range webui.Paths(demo) {
		body, ctype, ok := webui.Asset(p)
		if !ok {
			panic("server: client asset missing: " + p) // a build mistake, caught by the tests
		}
		a := &asset{body: body, etag: webui.ETag(p)}
		for st, status := range []int{200, 304} {
			for ka, conn := range []string{"close", "keep-alive"} {
				h := []byte("HTTP/1.1 ")
				h = strconv.AppendInt(h, int64(status), 10)
				h = append(h, ' ')
				h = append(h, statusText(status)...)
				h = append(h, "\r\nContent-Type: "...)
				h = append(h, ctype...)
				if status == 200 {
					h = append(h, "\r\nContent-Length: "...)
					h = strconv.AppendInt(h, int64(len(body)), 10)
				}
				h = append(h, "\r\nETag: "...)
				h = append(h, a.etag...)
				// Revalidated on every use: a new binary's files are picked
				// up at once, and the page always matches its library.
				h = append(h, "\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nContent-Security-Policy: "...)
				h = append(h, webui.CSP...)
				if webui.Library(p) {
					h = append(h, "\r\nAccess-Control-Allow-Origin: *"...)
				}
				h = append(h, "\r\nConnection: "...)
				h = append(h, conn...)
				h = append(h, "\r\n"...) // then the Date line and the blank line
				a.head[st][ka] = h
			}
		}
		s[p] = a
	}
	return s
}

// request is what a static answer needs from the request head beyond the
// method and path.
type request struct {
	keepAlive   bool // HTTP/1.1 without "Connection: close", or 1.0 with "keep-alive"
	body        bool // Content-Length > 0 or Transfer-Encoding: there are bytes we will not read
	ifNoneMatch []byte
}

// parseRequest reads the headers a static answer depends on from a complete
// request head (parseHead has checked its request line).
func parseRequest(b []byte) (r request) {
	if bytes.Count(b, []byte("\n")) != bytes.Count(b, []byte("\r\n")) {
		// Lines ended by a bare LF, which other parsers accept: headers we
		// do not see may announce a body. Answer, then close.
		return request{body: true}
	}
	line, rest, _ := bytes.Cut(b, []byte("\r\n"))
	r.keepAlive = bytes.HasSuffix(line, []byte(" HTTP/1.1"))
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		k, v, found := bytes.Cut(l, []byte(":"))
		if !found {
			continue
		}
		k, v = bytes.TrimSpace(k), bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Connection")):
			if hasToken(v, "close") {
				r.keepAlive = false
			} else if hasToken(v, "keep-alive") {
				r.keepAlive = true
			}
		case bytes.EqualFold(k, []byte("Content-Length")):
			if n, err := strconv.ParseUint(string(v), 10, 63); err != nil || n > 0 {
				r.body = true
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			r.body = true
		case bytes.EqualFold(k, []byte("If-None-Match")):
			r.ifNoneMatch = v
		}
	}
	return r
}

// static answers a request for an asset of the site. It reports whether the
// connection stays open for the next request; otherwise it is ending.
func (w *wsConn) static(a *asset, method, req []byte) (keptAlive bool) {
	s := w.srv()
	if string(method) != "GET" && string(method) != "HEAD" {
		w.refuse(refMethod, 0)
		return false
	}
	r := parseRequest(req)
	ka := r.keepAlive && !r.body && !s.draining.Load()
	st := 0
	if len(r.ifNoneMatch) > 0 && webui.NotModified(string(r.ifNoneMatch), a.etag) {
		st = 1
	}
	// The Date line, in the loop's scratch (Write2 copies it).
	up := s.ups[w.conn().LoopID()]
	up.date = append(time.Now().UTC().AppendFormat(append(up.date[:0], "Date: "...), http.TimeFormat), "\r\n\r\n"...)
	out := w.out()
	err := out.Write2(a.head[st][boolInt(ka)], up.date)
	if st == 0 && string(method) == "GET" {
		// The body (embedded, never changes) goes by reference, in pieces
		// of half -write-queue at most: each is admitted once the socket
		// has taken what came before, so a small write queue still serves
		// the 27 KB library.
		piece := len(a.body)
		if q := s.opts.WriteQueue / 2; q > 0 {
			piece = q
		}
		for b := a.body; err == nil && len(b) > 0; {
			n := min(piece, len(b))
			err, b = out.WriteShared(b[:n]), b[n:]
		}
	}
	if err != nil || !ka {
		w.state = stDone
		w.conn().SetTimer(0)
		out.CloseAfterFlush(true) // the client may still be sending
		return false
	}
	if err := out.Flush(); err != nil {
		w.state = stDone
		return false
	}
	// Kept alive: the next request must come within -handshake-timeout, as
	// the first one had to; a quiet client is then closed without counting
	// as a refusal (epKeptAlive).
	w.ep = epKeptAlive
	now := w.conn().Now()
	w.setAccepted(now)
	if d := s.opts.HandshakeTimeout; d > 0 {
		w.conn().SetTimer(now + int64(d))
	}
	return true
}

// closeKeptAlive ends a kept-alive connection between requests: quietly,
// once what was queued is written.
func (w *wsConn) closeKeptAlive() {
	w.state = stDone
	w.conn().SetTimer(0)
	w.out().CloseAfterFlush(true)
}
