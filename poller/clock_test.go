package poller

import (
	"testing"
	"time"
)

// TestStamp: a stamp reads back as the instant it was taken from, to its
// unit, across the 32-bit wrap and for instants before the poller started;
// Before reads ages up to 52 days, Near deadlines up to MaxTimer either way.
func TestStamp(t *testing.T) {
	const unit = int64(1) << stampShift
	const day = int64(24 * time.Hour)
	wrap := int64(1) << (32 + stampShift) // 52 days: the stamps' cycle
	for _, now := range []int64{0, 5 * unit, wrap - 3*unit, wrap + 7, 3*wrap + 12345, 400 * day} {
		for _, age := range []int64{0, 1, unit - 1, unit, 5 * time.Second.Nanoseconds(), day, 51 * day, now + 10*day} {
			if age >= wrap-unit {
				continue // past what a stamp holds
			}
			at := now - age
			got := StampOf(at).Before(now)
			if got > at || at-got >= unit {
				t.Errorf("now %d age %d: Before %d, want within a unit under %d", now, age, got, at)
			}
			if StampOf(got) != StampOf(at) {
				t.Errorf("now %d age %d: StampOf(Before) is not the stamp", now, age)
			}
		}
		for _, off := range []int64{-MaxTimer, -day, -1, 0, 1, unit, 90 * time.Second.Nanoseconds(), day, MaxTimer} {
			at := now + off
			got := StampOf(at).Near(now)
			if got > at || at-got >= unit {
				t.Errorf("now %d offset %d: Near %d, want within a unit under %d", now, off, got, at)
			}
		}
	}
}

// TestDeadlineStamp: a deadline's stamp is never before it, so the timer
// never fires early, is at most a unit late (two for the one deadline whose
// stamp would be 0), and is never 0 (no deadline).
func TestDeadlineStamp(t *testing.T) {
	const unit = int64(1) << stampShift
	wrap := int64(1) << (32 + stampShift)
	for _, at := range []int64{1, unit - 1, unit, unit + 1, 7*unit + 3, wrap - 1, wrap, wrap + 1, 2*wrap - unit} {
		d := deadlineOf(at)
		if d == 0 {
			t.Errorf("at %d: deadline stamp 0", at)
			continue
		}
		if due(d, at-1) {
			t.Errorf("at %d: due a nanosecond early", at)
		}
		if !due(d, at+2*unit) {
			t.Errorf("at %d: not due two units late", at)
		}
		if got := d.Near(at); got < at-unit || got > at+2*unit {
			t.Errorf("at %d: reads back as %d", at, got)
		}
	}
}
