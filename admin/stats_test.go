package admin

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsedge/wsedge/metrics"
)

func TestQuantile(t *testing.T) {
	bounds := []float64{0.001, 0.004, 0.016, math.Inf(1)}
	for _, tc := range []struct {
		name      string
		cur, base []uint64
		q, want   float64
		ok        bool
	}{
		{"no observations", []uint64{0, 0, 0, 0}, nil, 0.99, 0, false},
		{"all in the first bucket", []uint64{100, 100, 100, 100}, nil, 0.99, 0.00099, true},
		{"rank inside the second bucket", []uint64{50, 100, 100, 100}, nil, 0.99, 0.001 + 0.003*(99-50)/50.0, true},
		{"window: only the difference counts", []uint64{150, 200, 300, 300}, []uint64{150, 200, 200, 200}, 0.5, 0.004 + 0.012*0.5, true},
		{"window with nothing new", []uint64{5, 5, 5, 5}, []uint64{5, 5, 5, 5}, 0.99, 0, false},
		{"rank in +Inf: the highest finite bound", []uint64{0, 0, 0, 10}, nil, 0.99, 0.016, true},
	} {
		got, ok := quantile(tc.q, bounds, tc.cur, tc.base)
		if ok != tc.ok || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

type fixedHealth struct{ body string }

func (f *fixedHealth) Health() (int, []byte) { return 200, []byte(f.body) }

func TestStatsRatesHistoryAndRTT(t *testing.T) {
	m := metrics.New()
	h := &fixedHealth{`{"status":"ok","connections":3,"sockets":4,"queued":1,"broker":"connected","goroutines":9,"uptime_seconds":70}`}
	s := newStats(h, prometheus.Gatherers{m.Registry})
	clock := time.Unix(1_700_000_000, 0)
	s.now = func() time.Time { return clock }
	s.start = clock.Add(-70 * time.Second)
	get := func(query string) Stats {
		t.Helper()
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", "/api/stats"+query, nil))
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("status %d, %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		var st Stats
		if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}

	m.MessagesReceived.Add(100)
	m.Rejected.WithLabelValues("origin").Add(2)
	m.PingRTT.Observe(0.0002) // 0.1-0.4 ms bucket
	first := get("")
	if first.Connections != 3 || first.Sockets != 4 || first.Queued != 1 || first.Broker != "connected" || first.Status != "ok" || first.HTTPStatus != 200 {
		t.Errorf("health figures: %+v", first)
	}
	if first.Totals.MessagesIn != 100 || first.Refusals["origin"] != 2 || len(first.History) != 1 {
		t.Errorf("first sample: totals %+v refusals %v history %d", first.Totals, first.Refusals, len(first.History))
	}
	if first.PingRTTP99Ms == nil || *first.PingRTTP99Ms <= 0.1 || *first.PingRTTP99Ms > 0.4 || first.PingRTTWindow != 70 {
		t.Errorf("first RTT p99 %v ms over %v s, want within (0.1, 0.4] since start (70 s)", first.PingRTTP99Ms, first.PingRTTWindow)
	}

	// Within sampleEvery: the same sample again, nothing re-read.
	clock = clock.Add(500 * time.Millisecond)
	m.MessagesReceived.Add(1)
	if again := get(""); again.Time != first.Time || again.Totals.MessagesIn != 100 {
		t.Errorf("a request within %v took a new sample: %+v", sampleEvery, again.Totals)
	}

	// Two seconds later: rates over the interval since the previous sample.
	clock = clock.Add(1500 * time.Millisecond)
	m.MessagesReceived.Add(399) // 500 in total
	m.MessagesSent.Add(50)
	m.Rejected.WithLabelValues("ip_rate").Add(4)
	st := get("")
	if st.Rates.Interval != 2 || st.Rates.MessagesIn != 200 || st.Rates.MessagesOut != 25 || st.Rates.Refusals != 2 {
		t.Errorf("rates: %+v, want 2 s, 200 in/s, 25 out/s, 2 refusals/s", st.Rates)
	}
	if len(st.History) != 2 || st.History[0].Time != first.Time || st.History[1].MessagesIn != 200 {
		t.Errorf("history: %+v", st.History)
	}
	if since := get("?since=" + itoa(first.Time)); len(since.History) != 1 || since.History[0].Time != st.Time {
		t.Errorf("?since= the first: %+v, want only the second sample", since.History)
	}

	// A minute on, slower pings: the p99 follows the last minute only.
	for i := 0; i < 70; i++ {
		clock = clock.Add(time.Second)
		if i == 0 { // fast ones, out of the window at the end: they would make the p99 fast
			for j := 0; j < 1000; j++ {
				m.PingRTT.Observe(0.0002)
			}
		}
		if i == 60 {
			for j := 0; j < 10; j++ {
				m.PingRTT.Observe(0.010) // 6.4-25.6 ms bucket
			}
		}
		st = get("?since=" + itoa(clock.UnixMilli()-1))
	}
	if st.PingRTTP99Ms == nil || *st.PingRTTP99Ms < 6.4 || *st.PingRTTP99Ms > 25.6 || st.PingRTTWindow != 60 {
		t.Errorf("RTT p99 over the last minute: %v ms over %v s, want in [6.4, 25.6] over 60 s", st.PingRTTP99Ms, st.PingRTTWindow)
	}

	// Past 10 minutes of samples: the history is bounded by time and count.
	for i := 0; i < historyLen+50; i++ {
		clock = clock.Add(time.Second)
		st = get("?since=" + itoa(clock.UnixMilli()-1)) // as the page asks: only what is new
	}
	st = get("")
	if n := len(st.History); n != historyLen || st.History[0].Time < clock.Add(-historySpan).UnixMilli() {
		t.Errorf("history holds %d samples from %d, want %d within 10 minutes", n, st.History[0].Time, historyLen)
	}
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }

func TestStatsBadSince(t *testing.T) {
	base, _, _, _ := start(t)
	code, _, body := get(t, "GET", base+"/api/stats?since=yesterday")
	if code != 400 || !strings.Contains(body, `"code":"INVALID_MESSAGE"`) {
		t.Errorf("got %d %s", code, body)
	}
}

// Through the real handler: the page for browsers, the endpoint list for
// others, the stats from the node's metrics, and the server API's paths
// answering "not available" until it is mounted.
func TestAdminPageAndAPI(t *testing.T) {
	base, _, m, _ := start(t)
	m.ConnectionsTotal.Add(5)
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || res.Header.Get("Vary") != "Accept" {
		t.Errorf("browser GET /: %d %q vary %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Vary"))
	}
	for _, p := range []string{"/admin.js", "/admin.css"} {
		if code, _, body := get(t, "GET", base+p); code != 200 || len(body) < 100 {
			t.Errorf("%s: %d, %d bytes", p, code, len(body))
		}
	}
	code, _, body := get(t, "GET", base+"/api/stats")
	var st Stats
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil || st.Totals.Connections != 5 || st.Connections != 3 {
		t.Errorf("/api/stats: %d %v %s", code, err, body)
	}
	for _, p := range []string{"/api/channels", "/api/presence", "/api/publish", "/api/info"} {
		req, _ := http.NewRequest("POST", base+p, strings.NewReader(`{}`))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error struct{ Code, Message string }
		}
		json.NewDecoder(res.Body).Decode(&e)
		res.Body.Close()
		if res.StatusCode != 501 || e.Error.Code != "NOT_AVAILABLE" || e.Error.Message != "not available on this node" {
			t.Errorf("POST %s: %d %+v", p, res.StatusCode, e)
		}
	}
}

func TestWithAPI(t *testing.T) {
	var got string
	h := Handler(&fakeHealth{}, metrics.New(), WithAPI(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Method + " " + r.URL.Path
		w.Write([]byte(`{"result":{}}`))
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/publish", strings.NewReader(`{"channel":"a","data":1}`)))
	if rec.Code != 200 || got != "POST /api/publish" {
		t.Errorf("mounted API: %d, saw %q", rec.Code, got)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/stats", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"connections":3`) {
		t.Errorf("/api/stats is the admin's own, not the API's: %d %s", rec.Code, rec.Body)
	}
}
