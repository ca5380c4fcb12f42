package limits

import "testing"

func TestReasons(t *testing.T) {
	seen := map[Reason]bool{}
	for _, r := range Reasons() {
		if r == ReasonNone || r.String() != string(r) || seen[r] {
			t.Errorf("reason %q", r)
		}
		seen[r] = true
	}
	if len(seen) != 6 {
		t.Errorf("%d reasons", len(seen))
	}
}
