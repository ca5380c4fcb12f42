package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCloseLabel(t *testing.T) {
	for code, want := range map[uint16]string{
		1000: "1000", 1008: "1008", 1011: "1011", 1014: "1014", 4001: "4001", 4003: "4003",
		1015: "other", 999: "other", 2000: "other", 5000: "other", 65535: "other",
		3000: "3xxx", 3999: "3xxx", 4000: "4xxx", 4002: "4xxx", 4999: "4xxx",
	} {
		if got := CloseLabel(code); got != want {
			t.Errorf("CloseLabel(%d) = %q, want %q", code, got, want)
		}
	}
}

// TestCloseSlotMatchesLabel: CloseCode caches one counter per slot, so two
// codes share a slot exactly when they share a label.
func TestCloseSlotMatchesLabel(t *testing.T) {
	label := map[int]string{}
	for code := 0; code <= 65535; code++ {
		s, l := closeSlot(uint16(code)), CloseLabel(uint16(code))
		if prev, ok := label[s]; ok && prev != l {
			t.Fatalf("code %d: slot %d holds %q and %q", code, s, prev, l)
		}
		label[s] = l
	}
	if len(label) != 20 {
		t.Fatalf("%d slots used, want 20", len(label))
	}
	m := New()
	m.CloseCode(1000)
	m.CloseCode(1000)
	m.CloseCode(3001)
	if got := testutil.ToFloat64(m.Closes.WithLabelValues("1000")); got != 2 {
		t.Fatalf("1000 counted %v times, want 2", got)
	}
	if got := testutil.ToFloat64(m.Closes.WithLabelValues("3xxx")); got != 1 {
		t.Fatalf("3xxx counted %v times, want 1", got)
	}
}
