package bench

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestModuleLayout checks issue 11's lean product module: the peer servers
// live in their own module, the main go.mod does not require their
// libraries, and every server spec points at a package that exists.
func TestModuleLayout(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := ModuleRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	// From inside the nested peers module, the main module is still found.
	if got, err := ModuleRoot(filepath.Join(root, PeersModule, "gnet")); err != nil || got != root {
		t.Fatalf("ModuleRoot from the peers module = %q, %v; want %q", got, err, root)
	}
	main, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, lib := range []string{"github.com/lesismal/nbio", "github.com/lxzan/gws", "github.com/panjf2000/gnet"} {
		if strings.Contains(string(main), lib+" ") {
			t.Errorf("main go.mod requires the peer library %s", lib)
		}
	}
	peers, err := os.ReadFile(filepath.Join(root, PeersModule, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if got := modulePath(peers); got != MainModule+"/"+PeersModule {
		t.Errorf("peers module path %q", got)
	}
	for _, s := range Servers() {
		if s.Make != "" {
			if _, err := os.Stat(filepath.Join(root, s.Make, "Makefile")); err != nil {
				t.Errorf("%s: %v", s.Name, err)
			}
			continue
		}
		dir := filepath.Join(root, s.Module, s.Pkg)
		if m, _ := filepath.Glob(filepath.Join(dir, "*.go")); len(m) == 0 {
			t.Errorf("%s: no Go files in %s", s.Name, dir)
		}
	}
}

func TestModulePath(t *testing.T) {
	for in, want := range map[string]string{
		"module github.com/wsedge/wsedge\n\ngo 1.26\n": "github.com/wsedge/wsedge",
		"// c\nmodule \"x/y\"\n":                       "x/y",
		"go 1.26\n":                                    "",
	} {
		if got := modulePath([]byte(in)); got != want {
			t.Errorf("modulePath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUWSSkippedWithoutCheckouts: without the checkouts configured (as in
// CI), building uws is skipped with a note naming the variables, not failed.
func TestUWSSkippedWithoutCheckouts(t *testing.T) {
	t.Setenv("WSEDGE_UWS_DIR", "")
	t.Setenv("WSEDGE_USOCKETS_DIR", "")
	for _, s := range Servers() {
		if s.Name != "uws" {
			continue
		}
		_, err := s.Build(t.Context(), t.TempDir(), t.TempDir())
		if !errors.Is(err, ErrSkipped) || !strings.Contains(err.Error(), "WSEDGE_UWS_DIR, WSEDGE_USOCKETS_DIR not set") {
			t.Fatalf("build without checkouts: %v", err)
		}
		return
	}
	t.Fatal("no uws server")
}
