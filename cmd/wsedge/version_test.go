package main

import (
	"runtime/debug"
	"testing"
)

func TestResolveVersion(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev},
			{Key: "vcs.modified", Value: modified},
		}
	}
	const rev = "dc9669accd517dbe6d854e59e858aced3fd4c51c"
	for _, tc := range []struct {
		name    string
		stamped string
		info    *debug.BuildInfo // nil: no build info in the binary
		want    string
	}{
		{"stamped wins", "v1.2.3", &debug.BuildInfo{Main: debug.Module{Version: "v9.9.9"}}, "v1.2.3"},
		{"stamped from git describe", "v1.2.3-4-gdc9669a-dirty", nil, "v1.2.3-4-gdc9669a-dirty"},
		{"go install of a tag", "dev", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0"},
		{"empty stamp counts as none", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0"},
		{"go build in a checkout (Go 1.24+ pseudo-version)", "dev",
			&debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261125234146-dc9669accd51+dirty"}, Settings: vcs(rev, "true")},
			"v0.0.0-20261125234146-dc9669accd51+dirty"},
		{"devel with a clean revision", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")}, "dc9669accd51"},
		{"devel with a dirty revision", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "true")}, "dc9669accd51-dirty"},
		{"short revision kept whole", "", &debug.BuildInfo{Settings: vcs("abc123", "false")}, "abc123"},
		{"devel without VCS (-buildvcs=false)", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
		{"no build info", "dev", nil, "dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := func() (*debug.BuildInfo, bool) { return tc.info, tc.info != nil }
			if got := resolveVersion(tc.stamped, read); got != tc.want {
				t.Errorf("resolveVersion(%q) = %q, want %q", tc.stamped, got, tc.want)
			}
		})
	}
}
