package poller

// Stamp is an instant of a poller's clock (Poller.Now) in 32 bits, to about a
// millisecond: its nanoseconds shifted right by 20 (1.048576 ms units). Every
// connection keeps its last read and its timer, and the server its ping and
// partial-frame times, as stamps: four int64 clocks would cost an idle
// connection 16 bytes more (issue 19).
//
// Stamps wrap every 52 days, so a stamp is only read back beside an instant
// it is near: Before takes a stamp at or before now (an age of up to 52
// days), Near one within MaxTimer of now either way (a deadline). A timer is
// never set further ahead than MaxTimer; an owner whose deadline is later
// gets OnTimer early and sets the timer again.
type Stamp uint32

const (
	stampShift = 20

	// MaxTimer is how far ahead SetTimer looks: 24 days, inside the half of
	// the stamps' cycle that Near reads unambiguously.
	MaxTimer = 24 * 24 * 3600 * 1e9
)

// StampOf is t's stamp. t is a Poller.Now value (it may be negative: an
// instant before the poller started, such as an adopted connection's last read).
func StampOf(t int64) Stamp { return Stamp(uint32(t >> stampShift)) }

// Before is the instant s names, taking it to be at or before now (an age of
// up to 52 days): the start of its unit, so StampOf gives s back.
func (s Stamp) Before(now int64) int64 {
	return now&^(1<<stampShift-1) - int64(uint32(StampOf(now)-s))<<stampShift
}

// Near is the instant s names, taking it to be within MaxTimer of now, before
// or after: the start of its unit, so StampOf gives s back.
func (s Stamp) Near(now int64) int64 {
	return now&^(1<<stampShift-1) + int64(int32(s-StampOf(now)))<<stampShift
}

// deadlineOf is the stamp of a deadline at (ns, after now or not): the first
// stamp not before it, so that a timer never fires early, and never 0 (0 is
// no deadline: the one deadline whose stamp would be 0 gets the next).
func deadlineOf(at int64) Stamp {
	s := StampOf(at)
	if at&(1<<stampShift-1) != 0 {
		s++
	}
	if s == 0 {
		s = 1
	}
	return s
}

// timerStamp is the stamp of a timer set at now for at (not 0): at, or
// MaxTimer from now if at is later (the owner then gets OnTimer early and
// sets it again).
func timerStamp(at, now int64) Stamp { return deadlineOf(min(at, now+MaxTimer)) }

// due reports whether the deadline d (not 0) has come at now.
func due(d Stamp, now int64) bool { return int32(StampOf(now)-d) >= 0 }
