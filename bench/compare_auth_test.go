package bench

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// An Auth case runs wsedge with the comparison's secret and every connection presents a token
// minted with it: all are accepted and subscribed, and the server's heap per connection is
// read from its admin listener; with tokens minted from another secret, the same server
// refuses them all (so the secret really reached the server).
func TestCompareAuthCase(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wsedge")
	}
	wd, _ := os.Getwd()
	root, err := ModuleRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	var spec ServerSpec
	for _, s := range Servers() {
		if s.Name == "wsedge" {
			spec = s
		}
	}
	dir := t.TempDir()
	bin, err := spec.Build(t.Context(), root, dir)
	if err != nil {
		t.Fatal(err)
	}
	file, secret, err := writeSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ParseSubscriptions("personal,shared:2/10")
	if err != nil {
		t.Fatal(err)
	}
	c := Case{Name: "idle /ws auth", Kind: "idle", Path: "/ws", WsedgeOnly: true, Auth: true,
		Idle: IdleConfig{Conns: 50, Hold: 100 * time.Millisecond, Subscribe: sub}}
	cfg := CompareConfig{Loops: 1, Sources: 1}
	for _, tc := range []struct {
		name   string
		secret []byte
		ok     bool
	}{
		{"the server's secret", secret, true},
		{"another secret", []byte("another-secret-another-secret-another"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := runCase(t.Context(), cfg, c, spec, bin, filepath.Join(dir, "wsedge.log"), nil,
				[]string{"-jwt-hmac-secret-file", file}, tc.secret)
			if run.Idle == nil {
				t.Fatalf("no idle result: %s", run.Error)
			}
			r := run.Idle
			if r.Token != "HS256 in header" {
				t.Errorf("token %q", r.Token)
			}
			if tc.ok && (r.Opened != 50 || r.Subscribed != 50 || r.Failed != 0) {
				t.Fatalf("opened %d, subscribed %d, failed %d (%v); want all 50", r.Opened, r.Subscribed, r.Failed, r.Causes)
			}
			// The admin listener gave the server's heap split: 50 sessions with identities
			// and three subscriptions each are live heap. The spans' share (the change in
			// HeapInuse) is not checked: the reading after the hold follows a forced GC and the one
			// before does not, so at 50 connections the garbage the first one counted can
			// outweigh them (CI saw 0).
			t.Logf("server heap per connection: %+v", r.Heap)
			if tc.ok && (r.Heap == nil || r.Heap.Live <= 0) {
				t.Fatalf("server heap per connection: %+v", r.Heap)
			}
			if !tc.ok && (r.Opened != 0 || r.Failed != 50) {
				t.Fatalf("opened %d, failed %d; want every connection refused", r.Opened, r.Failed)
			}
		})
	}
}
