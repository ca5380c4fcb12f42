// Package testmark lets CI prove that tests which skip themselves when a
// tool is missing (Chromium, node) really ran: with WSEDGE_TEST_MARKS set to
// a directory, Ran leaves a file named after the test there when it ends
// without being skipped, and .ci/run fails when one of the expected files is
// missing.
package testmark

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Env names the directory the marks go to.
const Env = "WSEDGE_TEST_MARKS"

// Ran marks t as run when it ends, unless it was skipped. Call it once the
// test is past its skips.
func Ran(t testing.TB) {
	dir := os.Getenv(Env)
	if dir == "" {
		return
	}
	t.Cleanup(func() {
		if t.Skipped() {
			return
		}
		name := strings.ReplaceAll(t.Name(), "/", "_")
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Errorf("testmark: %v", err)
		}
	})
}
