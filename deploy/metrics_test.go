package deploy

import (
	"bufio"
	"net"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
)

// TestDashboardAndAlertsUseExportedMetrics runs a node (with a NATS broker,
// so broker metrics exist), makes it count a refusal, a close and a
// timeout (labelled series appear only once counted), scrapes /metrics and
// checks every query of the dashboard and the alerts against it.
func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	n := startNode(t, nil, "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0",
		"-handshake-timeout", "300ms", "-broker", ns.ClientURL())

	// A refusal: 404 on an unknown path.
	if code, _ := get(t, "http://"+n.ws+"/nope"); code != 404 {
		t.Fatalf("GET /nope: %d, want 404", code)
	}
	// A close frame from the server: its answer (1000) to the client's close.
	ws, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial("ws://"+n.ws+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("close handshake: %v", err)
	}
	ws.Close()
	// A timeout: a connection that never sends its upgrade request.
	idle, err := net.Dial("tcp", n.ws)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()

	var ex exported
	want := []string{`reason="not_found"`, `reason="handshake_timeout"`, `code="1000"`, `kind="handshake"`}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, body := get(t, "http://"+n.admin+"/metrics")
		missing := 0
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			if ex, err = parseExposition(strings.NewReader(body)); err != nil {
				t.Fatalf("/metrics does not parse: %v", err)
			}
			if missing > 0 {
				t.Fatalf("/metrics still lacks one of %q after 10s:\n%s", want, body)
			}
			break
		}
	}

	queries := append(dashboardQueries(t, loadDashboard(t)), alertQueries(t, loadAlerts(t))...)
	for _, q := range queries {
		for _, p := range checkExpr(q.expr, ex) {
			t.Errorf("%s: %s\n\t%s", q.where, p, q.expr)
		}
	}
	t.Logf("%d queries checked against %d exported series names", len(queries), len(ex))
}

// TestCheckExpr shows the checker above refuses what Prometheus or the
// node would not give: without it, the test above could pass on anything.
func TestCheckExpr(t *testing.T) {
	ex, err := parseExposition(strings.NewReader(`# TYPE wsedge_x_total counter
wsedge_x_total{reason="a"} 1
# TYPE wsedge_h_seconds histogram
wsedge_h_seconds_bucket{le="1"} 1
wsedge_h_seconds_bucket{le="+Inf"} 1
wsedge_h_seconds_sum 1
wsedge_h_seconds_count 1
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0.5"} 0.1
go_gc_duration_seconds_sum 1
go_gc_duration_seconds_count 3
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		expr string
		want string // "" = no problem; else a substring of the first problem
	}{
		{`sum by (reason) (rate(wsedge_x_total{job="wsedge", reason!="b"}[5m]))`, ""},
		{`histogram_quantile(0.99, sum by (le, instance) (rate(wsedge_h_seconds_bucket[5m])))`, ""},
		{`go_gc_duration_seconds{quantile="0.5"} / go_gc_duration_seconds_count`, ""},
		{`up{job="wsedge"} == 0`, ""},
		{`absent(up{job="wsedge"})`, ""},
		{`wsedge_x_total > on (instance) group_left (reason) wsedge_x_total`, ""},
		{`rate(wsedge_y_total[5m])`, "metric wsedge_y_total is not exported"},
		{`wsedge_h_seconds`, "metric wsedge_h_seconds is not exported"}, // a histogram has no plain series
		{`rate(wsedge_x_total{kind="idle"}[5m])`, `has no label "kind"`},
		{`rate(wsedge_x_total)`, "needs a range vector"},
		{`sum by (code) (rate(wsedge_x_total[5m]))`, `label "code" is on none`},
		{`wsedge_x_total * on (pod) wsedge_x_total`, `label "pod" is on none`},
		{`range_median(wsedge_x_total)`, "not a PromQL function"},
		{`median(wsedge_x_total)`, "not a PromQL aggregation"},
		{`{reason="a"}`, "without a metric name"},
		{`sum(rate(wsedge_x_total[5m])`, "does not parse"},
	} {
		got := checkExpr(tc.expr, ex)
		switch {
		case tc.want == "" && len(got) > 0:
			t.Errorf("%s: unexpected %q", tc.expr, got)
		case tc.want != "" && (len(got) == 0 || !strings.Contains(got[0], tc.want)):
			t.Errorf("%s: got %q, want a problem containing %q", tc.expr, got, tc.want)
		}
	}
	if _, err := expandGrafana(`rate(x{instance=~"$instance"}[$__rate_interval])`, map[string]bool{"instance": true}); err != nil {
		t.Error(err)
	}
	if _, err := expandGrafana(`x{instance=~"$instnace"}`, map[string]bool{"instance": true}); err == nil {
		t.Error("a misspelt dashboard variable was accepted")
	}
}

// TestBuildInfo: a build without a stamped version (go build, as the
// toolchain records it) reports the same version in -version and in
// wsedge_build_info, taken from the build info that go version -m reads
// independently.
func TestBuildInfo(t *testing.T) {
	out, err := runBinary(t, nil, "-version")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^wsedge (\S+) \((go\S+) `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("-version printed %q", out)
	}
	version, goVersion := m[1], m[2]

	mod, rev, dirty, toolchain := readBuildInfo(t, binary(t))
	want := "dev"
	switch {
	case mod != "" && mod != "(devel)":
		want = mod
	case rev != "":
		want = rev[:min(12, len(rev))]
		if dirty {
			want += "-dirty"
		}
	}
	if version != want || goVersion != toolchain {
		t.Errorf("-version says %s %s; go version -m says module %q, vcs.revision %q (modified %v), %s: want %s %s",
			version, goVersion, mod, rev, dirty, toolchain, want, toolchain)
	}

	n := startNode(t, nil, "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0")
	_, body := get(t, "http://"+n.admin+"/metrics")
	line := `wsedge_build_info{go="` + goVersion + `",version="` + version + `"} 1`
	if !strings.Contains(body, "\n"+line+"\n") {
		t.Errorf("/metrics lacks %s", line)
	}
	if goVersion != runtime.Version() {
		t.Logf("note: binary built by %s, test by %s", goVersion, runtime.Version())
	}
}

// readBuildInfo reads what the toolchain recorded in bin, with go version -m.
func readBuildInfo(t *testing.T, bin string) (mod, rev string, dirty bool, toolchain string) {
	t.Helper()
	out, err := exec.Command(goTool(), "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && strings.HasSuffix(f[0], ":"):
			toolchain = f[1]
		case len(f) >= 3 && f[0] == "mod":
			mod = f[2]
		case len(f) == 2 && f[0] == "build":
			k, v, _ := strings.Cut(f[1], "=")
			switch k {
			case "vcs.revision":
				rev = v
			case "vcs.modified":
				dirty = v == "true"
			}
		}
	}
	return mod, rev, dirty, toolchain
}

// TestMetricsDocumented: every wsedge metric a node exports (with a broker,
// so all of them) is in docs/metrics.md, and every alert has its section in
// docs/operations.md.
func TestMetricsDocumented(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	n := startNode(t, nil, "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-broker", ns.ClientURL())
	_, body := get(t, "http://"+n.admin+"/metrics")
	doc := readFile(t, "../docs/metrics.md")
	families := regexp.MustCompile(`(?m)^# TYPE (wsedge_\w+) `).FindAllStringSubmatch(body, -1)
	if len(families) < 10 {
		t.Fatalf("only %d wsedge families on /metrics", len(families))
	}
	for _, f := range families {
		if !strings.Contains(doc, "`"+f[1]+"`") && !strings.Contains(doc, "`"+f[1]+"{") {
			t.Errorf("docs/metrics.md does not describe %s", f[1])
		}
	}
	ops := readFile(t, "../docs/operations.md")
	for _, g := range loadAlerts(t).Groups {
		for _, r := range g.Rules {
			if !regexp.MustCompile(`(?m)^#+ .*\b` + r.Alert + `\b`).MatchString(ops) {
				t.Errorf("docs/operations.md has no heading for alert %s", r.Alert)
			}
		}
	}
}
