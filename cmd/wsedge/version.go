package main

import "runtime/debug"

// version is stamped at build time (make build does it from git describe):
//
//	go build -ldflags "-X main.version=1.2.3" ./cmd/wsedge
//
// It has to be a var, not a const, for -X to reach it; nothing assigns it at
// run time. Left empty (or "dev"), buildVersion asks the binary's build info.
var version = "dev"

// buildVersion is the version wsedge reports (-version, the startup log,
// wsedge_build_info).
func buildVersion() string { return resolveVersion(version, debug.ReadBuildInfo) }

// resolveVersion picks, in order: the stamped version; the main module's
// version (a tag with go install ...@v1.2.3; since Go 1.24 also a
// pseudo-version with the commit when go build ran in a git checkout); the
// VCS revision the toolchain recorded, with "-dirty" for uncommitted
// changes; else "dev".
func resolveVersion(stamped string, read func() (*debug.BuildInfo, bool)) string {
	if stamped != "" && stamped != "dev" {
		return stamped
	}
	info, ok := read()
	if !ok {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12] // what git log --abbrev=12 shows; enough to find the commit
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
