package deploy

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestStaticBuild: the image builds with CGO_ENABLED=0 into a distroless
// image without libc. That needs every package wsedge imports to build
// without cgo; go list says so without compiling anything.
func TestStaticBuild(t *testing.T) {
	cmd := exec.Command(goTool(), "list", "-deps", "-e", "-f", "{{with .Error}}{{$.ImportPath}}: {{.}}{{end}}{{if .CgoFiles}}cgo: {{.ImportPath}}{{end}}", "../cmd/wsedge")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("with CGO_ENABLED=0 (the Dockerfile's build):\n%s", s)
	}
}
