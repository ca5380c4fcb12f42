package limits

import "testing"

func TestReasons(t *testing.T) {
	want := map[Reason]int{
		ReasonBadRequest: 400, ReasonVersion: 426, ReasonOrigin: 403, ReasonIPRate: 429,
		ReasonIPCap: 429, ReasonGlobalCap: 503, ReasonDraining: 503, ReasonHandshakeTimeout: 408,
		ReasonNotFound: 404, ReasonNotWebSocket: 426, ReasonDescriptors: 503,
	}
	seen := map[int]bool{}
	for _, r := range Reasons() {
		st, ok := want[r]
		if !ok {
			t.Fatalf("unexpected reason %q", r)
		}
		if r.Status() != st {
			t.Errorf("%q.Status() = %d, want %d", r, r.Status(), st)
		}
		if r.Text() == "" || r.Text() == "internal error" || r.String() != string(r) {
			t.Errorf("%q: text %q", r, r.Text())
		}
		i := r.index()
		if i < 0 || i >= numReasons || seen[i] {
			t.Errorf("%q: index %d", r, i)
		}
		seen[i] = true
		delete(want, r)
	}
	if len(want) != 0 {
		t.Errorf("Reasons() misses %v", want)
	}
	if ReasonNone.Status() != 101 || Reason("x").Status() != 500 || Reason("x").index() != -1 {
		t.Error("none/unknown")
	}
}
