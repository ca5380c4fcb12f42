package main

import (
	"strings"
	"testing"
)

// The api scenario's command line: bad values are usage errors (exit 2) before anything runs.
func TestAPIFlags(t *testing.T) {
	t.Setenv("WSEDGE_API_KEY", "")
	dead := deadURL(t)
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"api", "-h"}, 0, ""},
		{[]string{"api", "-url", dead, "-variants", "api,nope", "-api-key", "k"}, 2, `"nope" is not api or client`},
		{[]string{"api", "-url", dead}, 2, "-api-key (or WSEDGE_API_KEY) is needed"},
		{[]string{"api", "-url", dead, "-api-key", "k", "-server-pids", "12,x"}, 2, `-server-pids: "x" is not a process id`},
		{[]string{"api", "-url", dead, "-api-key", "k", "-nodes", "http://127.0.0.1:1/ws"}, 2, "-nodes: "},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.stderr) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q (stdout %q)", tc.args, code, errOut, tc.code, tc.stderr, out)
		}
	}
	if _, out, _ := runCLI(t, "api", "-h"); !strings.Contains(out, "-api-conns") || !strings.Contains(out, "-variants") {
		t.Errorf("api -h: %s", out)
	}
}
