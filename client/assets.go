// Package client holds wsedge's browser side and serves it from the binary:
// the client library (js/wsedge.js, an ES module with its types in
// js/wsedge.d.ts), the demo page that the node serves on its main port and
// the admin page of the admin listener (web/). The files are embedded, so
// the node needs nothing on disk; docs/client.md is the library's manual.
//
// Import it under a clearer name where "client" is ambiguous:
//
//	webui "github.com/wsedge/wsedge/client"
package client

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"net/http"
	"path"
	"strings"
)

//go:embed js/wsedge.js js/wsedge.d.ts web/*.html web/*.js web/*.css
var files embed.FS

// file is one servable asset, read and hashed once at start.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// The two sites: URL path -> embedded file.
var (
	public = site(map[string]string{
		"/":            "web/demo.html",
		"/demo.js":     "web/demo.js",
		"/demo.css":    "web/demo.css",
		"/wsedge.js":   "js/wsedge.js",
		"/wsedge.d.ts": "js/wsedge.d.ts",
	})
	admin = site(map[string]string{
		"/":          "web/admin.html",
		"/admin.js":  "web/admin.js",
		"/admin.css": "web/admin.css",
	})
)

func site(paths map[string]string) map[string]file {
	s := make(map[string]file, len(paths))
	for url, name := range paths {
		body, err := files.ReadFile(name)
		if err != nil {
			panic("client: embedded file missing: " + name) // a build mistake, caught by the tests
		}
		sum := sha256.Sum256(body)
		s[url] = file{body, contentType(name), `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
	}
	return s
}

func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".d.ts"):
		return "text/plain; charset=utf-8"
	case path.Ext(name) == ".html":
		return "text/html; charset=utf-8"
	case path.Ext(name) == ".js":
		return "text/javascript; charset=utf-8"
	case path.Ext(name) == ".css":
		return "text/css; charset=utf-8"
	}
	return "application/octet-stream"
}

// Asset returns a file of the main port's site: "/" (the demo page),
// "/demo.js", "/demo.css", "/wsedge.js" (the client library) and
// "/wsedge.d.ts" (its types). The body is shared: do not modify it.
func Asset(urlPath string) (body []byte, contentType string, ok bool) {
	f, ok := public[urlPath]
	return f.body, f.contentType, ok
}

// Paths lists the main port's site: the client library and its types,
// and with demo the demo page and its assets too.
func Paths(demo bool) []string {
	paths := []string{"/wsedge.js", "/wsedge.d.ts"}
	if demo {
		paths = append(paths, "/", "/demo.js", "/demo.css")
	}
	return paths
}

// Library reports whether urlPath is the client library or its types: the
// part of the main port's site that application pages of other origins load
// (import { connect } from "https://node.example/wsedge.js"), so it is
// served with "Access-Control-Allow-Origin: *" (a module script is fetched
// in CORS mode) and whatever -demo says.
func Library(urlPath string) bool { return urlPath == "/wsedge.js" || urlPath == "/wsedge.d.ts" }

// AdminAsset returns a file of the admin listener's site: "/" (the admin
// page), "/admin.js", "/admin.css". The body is shared: do not modify it.
func AdminAsset(urlPath string) (body []byte, contentType string, ok bool) {
	f, ok := admin[urlPath]
	return f.body, f.contentType, ok
}

// ETag is a strong validator of an asset's content ("" for an unknown path),
// for servers that answer conditional requests themselves.
func ETag(urlPath string) string {
	if f, ok := public[urlPath]; ok {
		return f.etag
	}
	return admin[urlPath].etag
}

// NotModified reports whether an If-None-Match header value names etag
// (RFC 9110 13.1.2: a list of entity tags compared weakly, or "*"), so the
// answer is 304 without a body.
func NotModified(ifNoneMatch, etag string) bool {
	for v := ifNoneMatch; v != ""; {
		var tag string
		tag, v, _ = strings.Cut(v, ",")
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(etag, "W/") && etag != "" {
			return true
		}
	}
	return false
}

// CSP is the Content-Security-Policy the pages are written for: their own
// origin only (no inline script, no CDN), WebSocket connections to any host
// (the demo's ?url=), not framed by other sites.
const CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'self'"

// Handler serves the main port's site with net/http (GET and HEAD, ETag,
// revalidated on every use so a new binary's files are picked up at once).
func Handler() http.Handler { return serve(public) }

// AdminHandler serves the admin site the same way.
func AdminHandler() http.Handler { return serve(admin) }

func serve(s map[string]file) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := s[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", CSP)
		if Library(r.URL.Path) {
			h.Set("Access-Control-Allow-Origin", "*")
		}
		if NotModified(r.Header.Get("If-None-Match"), f.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if r.Method == http.MethodHead {
			return
		}
		w.Write(f.body)
	})
}
