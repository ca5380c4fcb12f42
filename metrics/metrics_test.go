package metrics

import "testing"

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
