package client

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestAssets(t *testing.T) {
	for _, tc := range []struct {
		admin      bool
		path, file string
		ctype      string
	}{
		{false, "/", "web/demo.html", "text/html; charset=utf-8"},
		{false, "/demo.js", "web/demo.js", "text/javascript; charset=utf-8"},
		{false, "/demo.css", "web/demo.css", "text/css; charset=utf-8"},
		{false, "/wsedge.js", "js/wsedge.js", "text/javascript; charset=utf-8"},
		{false, "/wsedge.d.ts", "js/wsedge.d.ts", "text/plain; charset=utf-8"},
		{true, "/", "web/admin.html", "text/html; charset=utf-8"},
		{true, "/admin.js", "web/admin.js", "text/javascript; charset=utf-8"},
		{true, "/admin.css", "web/admin.css", "text/css; charset=utf-8"},
	} {
		get := Asset
		if tc.admin {
			get = AdminAsset
		}
		body, ctype, ok := get(tc.path)
		disk, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || ctype != tc.ctype || !bytes.Equal(body, disk) {
			t.Errorf("admin=%v %s: ok=%v %q, %d bytes (file %d)", tc.admin, tc.path, ok, ctype, len(body), len(disk))
		}
	}
	for _, p := range []string{"/admin.js", "/../go.mod", "/assets.go", "", "/index.html"} {
		if _, _, ok := Asset(p); ok {
			t.Errorf("Asset(%q) found", p)
		}
	}
	if _, _, ok := AdminAsset("/wsedge.js"); ok {
		t.Error("the admin site serves the library: it does not use it")
	}
	// The pages load only what the site serves: no CDN, no other host.
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|from\s*["'](https?:)?//|url\(\s*["']?(https?:)?//|@import|fetch\(\s*["'](https?:)?//`)
	for path, site := range map[string]func(string) ([]byte, string, bool){
		"/": Asset, "/demo.js": Asset, "/demo.css": Asset, "/wsedge.js": Asset,
		"/admin.js": AdminAsset, "/admin.css": AdminAsset,
	} {
		body, _, _ := site(path)
		if m := external.Find(body); m != nil {
			t.Errorf("%s loads %q from elsewhere", path, m)
		}
	}
	if body, _, _ := AdminAsset("/"); external.Match(body) {
		t.Errorf("admin page loads %q from elsewhere", external.Find(body))
	}
	if !external.MatchString(`<script src="https://cdn.example/x.js">`) || !external.MatchString(`import x from "//cdn.example/x.js"`) {
		t.Error("the external-reference check does not catch a CDN script")
	}
}

func TestHandlers(t *testing.T) {
	h := Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/wsedge.js", nil))
	etag := rec.Header().Get("ETag")
	if rec.Code != 200 || etag == "" || etag != ETag("/wsedge.js") || rec.Header().Get("Cache-Control") != "no-cache" ||
		rec.Header().Get("Content-Security-Policy") != CSP ||
		!strings.Contains(rec.Body.String(), "export function connect(") {
		t.Fatalf("GET /wsedge.js: %d etag %q %v", rec.Code, etag, rec.Header())
	}
	if ETag("/") == ETag("/demo.js") || ETag("/nope") != "" {
		t.Error("ETags are not per content")
	}
	for _, tc := range []struct {
		method, path, inm string
		code              int
		body              bool
	}{
		{"GET", "/wsedge.js", etag, 304, false},
		{"GET", "/wsedge.js", `"other"`, 200, true},
		{"HEAD", "/", "", 200, false},
		{"POST", "/", "", 405, true},
		{"GET", "/admin.js", "", 404, true},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.inm != "" {
			req.Header.Set("If-None-Match", tc.inm)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code || (rec.Body.Len() > 0) != tc.body {
			t.Errorf("%s %s (If-None-Match %q): %d with %d bytes", tc.method, tc.path, tc.inm, rec.Code, rec.Body.Len())
		}
	}
	rec = httptest.NewRecorder()
	AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "wsedge admin") {
		t.Errorf("admin /: %d", rec.Code)
	}
}

func TestNotModified(t *testing.T) {
	const etag = `"abc"`
	for _, tc := range []struct {
		inm  string
		want bool
	}{
		{``, false},
		{`"abc"`, true},
		{`W/"abc"`, true}, // If-None-Match compares weakly
		{`"x", "abc"`, true},
		{`"x",W/"abc" `, true},
		{`*`, true},
		{`"abcd"`, false},
		{`"ab"`, false},
		{`abc`, false},
		{`"x", "y"`, false},
	} {
		if got := NotModified(tc.inm, etag); got != tc.want {
			t.Errorf("NotModified(%q, %s) = %v", tc.inm, etag, got)
		}
	}
	if NotModified(`""`, "") {
		t.Error("an unknown file (no ETag) matched")
	}
}

// The main port's site: the library always, the demo with -demo; the
// library alone is for pages of other origins.
func TestPaths(t *testing.T) {
	for _, demo := range []bool{false, true} {
		paths := Paths(demo)
		for _, p := range paths {
			if _, _, ok := Asset(p); !ok {
				t.Errorf("Paths(%v) lists %s, which is not an asset", demo, p)
			}
		}
		want := 2
		if demo {
			want = 5
		}
		if len(paths) != want {
			t.Errorf("Paths(%v) = %v", demo, paths)
		}
	}
	for p, lib := range map[string]bool{"/wsedge.js": true, "/wsedge.d.ts": true, "/": false, "/demo.js": false} {
		if Library(p) != lib {
			t.Errorf("Library(%s) = %v", p, !lib)
		}
		rec := httptest.NewRecorder()
		Handler().ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if (rec.Header().Get("Access-Control-Allow-Origin") == "*") != lib {
			t.Errorf("GET %s: Access-Control-Allow-Origin %q", p, rec.Header().Get("Access-Control-Allow-Origin"))
		}
	}
}
