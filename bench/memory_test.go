package bench

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestRSSPerConn(t *testing.T) {
	for _, tc := range []struct {
		name            string
		base, held, n   int64
		want            float64
		ok, warnNonZero bool
	}{
		{name: "grew", base: 10 << 20, held: 10<<20 + 36000, n: 100, want: 360, ok: true},
		{name: "shrank (used server)", base: 30 << 20, held: 29 << 20, n: 19000, warnNonZero: true},
		{name: "flat", base: 30 << 20, held: 30 << 20, n: 10, warnNonZero: true},
		{name: "no connections", base: 1, held: 2, n: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, warn, ok := rssPerConn(tc.base, tc.held, tc.n)
			if ok != tc.ok || v != tc.want || (warn != "") != tc.warnNonZero || v < 0 {
				t.Fatalf("got %v %q %v", v, warn, ok)
			}
		})
	}
}

func TestUsedServer(t *testing.T) {
	fresh := ProcSample{CPUTicks: 3, RSS: 12 << 20, HWM: 13 << 20}
	for _, tc := range []struct {
		name string
		p    ProcSample
		adm  *AdminSample
		want string // substring of a warning; "" for none
	}{
		{name: "fresh", p: fresh},
		{name: "fresh with probe", p: fresh, adm: &AdminSample{Accepted: 1}},
		{name: "no counter", p: fresh, adm: &AdminSample{Accepted: -1}},
		{name: "accepted before", p: fresh, adm: &AdminSample{Accepted: 19000}, want: "accepted 19000 connections"},
		{name: "cpu before", p: ProcSample{CPUTicks: 900, RSS: 12 << 20, HWM: 12 << 20}, want: "9.0 s of CPU"},
		{name: "peak before", p: ProcSample{CPUTicks: 3, RSS: 20 << 20, HWM: 60 << 20}, want: "peaked at 60.00 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(usedServer(tc.p, tc.adm), "\n")
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("warnings %q, want %q", got, tc.want)
			}
			if got != "" && !strings.Contains(got, "understated") {
				t.Fatalf("warning does not say what it means: %q", got)
			}
		})
	}
}

// fakeAdmin serves a wsedge-like admin listener that reports accepted
// connections since start.
func fakeAdmin(t *testing.T, accepted int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines 12\nwsedge_connections_total %d\n", accepted)
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"status":"ok","connections":0}`)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestIdleWarnsUsedServer: an idle run against a server that already
// served connections says its RSS per connection is understated.
func TestIdleWarnsUsedServer(t *testing.T) {
	tg := startServer(t, "/echo", echoHandler)
	for _, tc := range []struct {
		accepted int
		warn     bool
	}{{accepted: 5000, warn: true}, {accepted: 1}} {
		r, err := Idle(t.Context(), IdleConfig{
			Common: Common{Target: tg, ServerPID: os.Getpid(), AdminAddr: fakeAdmin(t, tc.accepted)},
			Conns:  20, Hold: 10 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(r.Warnings, "\n")
		if strings.Contains(got, "accepted 5000 connections") != tc.warn {
			t.Fatalf("accepted %d: warnings %q", tc.accepted, got)
		}
		if r.RSSPerConn < 0 {
			t.Fatalf("negative RSS per connection %v", r.RSSPerConn)
		}
	}
}

// TestChurnRateExcludesSettle: cycles/s counts the time spent cycling, not
// the settle waits before the server readings.
func TestChurnRateExcludesSettle(t *testing.T) {
	tg := startServer(t, "/echo", echoHandler)
	const settle = 400 * time.Millisecond
	r, err := Churn(t.Context(), ChurnConfig{Common: Common{Target: tg}, Cycles: 100, Concurrency: 10, Settle: settle})
	if err != nil {
		t.Fatal(err)
	}
	if r.Cycles != 100 || r.Settle != settle.Seconds() {
		t.Fatalf("cycles %d settle %v", r.Cycles, r.Settle)
	}
	if r.Seconds <= 0 || r.Seconds+2*settle.Seconds() > r.Elapsed {
		t.Fatalf("cycling %.3fs + 2 settles > elapsed %.3fs: the settle waits were counted", r.Seconds, r.Elapsed)
	}
	if !near(r.CyclesPerSec, float64(r.Cycles)/r.Seconds) {
		t.Fatalf("cycles/s %v != %d / %v", r.CyclesPerSec, r.Cycles, r.Seconds)
	}
	if _, err := Churn(t.Context(), ChurnConfig{Common: Common{Target: tg}, Cycles: 1, Settle: -time.Second}); err == nil {
		t.Fatal("negative settle accepted")
	}
}
