package client

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/testmark"
)

// inCI reports whether CI is set to a true value (CI=true in our CI).
func inCI() bool {
	v, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && v
}

// TestJSUnit runs the library's unit tests (js/test/*.test.js) in node's
// built-in test runner: backoff, close-code policy, reply matching, the
// resubscribe set, token refresh, offline/online and visibility, against a
// fake WebSocket and clock. Under CI=true a missing node fails the test.
func TestJSUnit(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		const how = "install it with: apt-get install -y nodejs (node 18 or later)"
		if inCI() {
			t.Fatal("node is required in CI for the client library's unit tests; " + how)
		}
		t.Skip("node not found; " + how)
	}
	testmark.Ran(t)
	files, err := filepath.Glob(filepath.Join("js", "test", "*.test.js"))
	if err != nil || len(files) < 5 {
		t.Fatalf("test files: %v %v", files, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"--test", "--test-reporter=tap"}, files...)...)
	out, err := cmd.CombinedOutput()
	count := func(what string) int {
		m := regexp.MustCompile(`(?m)^# ` + what + ` (\d+)$`).FindSubmatch(out)
		if m == nil {
			return -1
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	pass, fail, cancelled := count("pass"), count("fail"), count("cancelled")
	if err != nil || pass < 30 || fail != 0 || cancelled != 0 {
		t.Fatalf("node --test: %v; pass %d, fail %d, cancelled %d (want at least 30 passing, none failed)\n%s", err, pass, fail, cancelled, out)
	}
	t.Logf("node --test: %d passed", pass)
}
