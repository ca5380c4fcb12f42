package deploy

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// promtool finds Prometheus' promtool: on PATH, or where WSEDGE_PROMTOOL
// says. CI installs it (.ci/run); elsewhere the test skips and says why.
func promtool(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("WSEDGE_PROMTOOL"); p != "" {
		return p
	}
	p, err := exec.LookPath("promtool")
	if err == nil {
		return p
	}
	if why := os.Getenv("WSEDGE_PROMTOOL_INSTALL_FAILED"); why != "" {
		t.Skip("promtool could not be installed: " + why)
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("promtool is not installed (.ci/run installs it from Debian's prometheus package)")
	}
	t.Skip("promtool not installed: alerts.yml was not checked by Prometheus itself (apt-get download prometheus; dpkg -x the .deb; set WSEDGE_PROMTOOL)")
	return ""
}

// TestAlertRulesWithPromtool loads alerts.yml the way Prometheus does
// (promtool check rules) and runs its unit tests (alerts_test.yml: each
// alert fires on its condition and not on its look-alikes).
func TestAlertRulesWithPromtool(t *testing.T) {
	tool := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(tool, args...)
		cmd.Dir = "prometheus"
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
