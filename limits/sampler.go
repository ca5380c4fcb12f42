package limits

import "sync/atomic"

// Sampler thins log lines during a flood: per kind of line (a small number
// the caller picks, such as a refusal reason's index), the first PerSecond
// lines of each second are logged and the rest only counted. It is
// lock-free (one CAS per logged line, one atomic add per suppressed one) and
// safe for concurrent use. A nil Sampler, or PerSecond 0, logs everything.
//
//	if ok, n := s.Allow(kind, now); ok {
//		log.Info("refused", zap.String("reason", name), zap.Uint64("suppressed", n))
//	}
type Sampler struct {
	perSecond uint32
	slots     [SamplerKinds + 1]samplerSlot // last slot: kinds outside the range
}

// SamplerKinds is the number of kinds a Sampler keeps apart (0 to
// SamplerKinds-1); others share one budget.
const SamplerKinds = 32

type samplerSlot struct {
	state      atomic.Uint64 // second<<32 | lines logged in that second
	suppressed atomic.Uint64 // lines not logged since the last report
	_          [48]byte      // one slot per cache line
}

// NewSampler logs at most perSecond lines per reason per second.
func NewSampler(perSecond int) *Sampler {
	return &Sampler{perSecond: uint32(min(max(perSecond, 0), 1<<31))}
}

func (s *Sampler) slot(kind int) *samplerSlot {
	if kind < 0 || kind >= SamplerKinds {
		kind = SamplerKinds
	}
	return &s.slots[kind]
}

// Allow reports whether to log a line of kind at now (monotonic
// nanoseconds). When it says yes, suppressed is the number of lines of kind
// dropped since the last report (the first line of a new second carries the
// count of the seconds before).
func (s *Sampler) Allow(kind int, now int64) (log bool, suppressed uint64) {
	if s == nil || s.perSecond == 0 {
		return true, 0
	}
	sl := s.slot(kind)
	sec := uint32(now / 1e9)
	for {
		old := sl.state.Load()
		// Only a later second resets the budget: a goroutine that read the
		// clock just before another one's reset counts against the new second.
		if d := int32(sec - uint32(old>>32)); d > 0 || old == 0 {
			if sl.state.CompareAndSwap(old, uint64(sec)<<32|1) {
				return true, sl.suppressed.Swap(0)
			}
			continue
		}
		if uint32(old) >= s.perSecond {
			sl.suppressed.Add(1)
			return false, 0
		}
		if sl.state.CompareAndSwap(old, old+1) {
			return true, 0
		}
	}
}

// TakeSuppressed returns and clears the count of lines of kind dropped, for
// a periodic "suppressed N similar" line when a flood stops (Allow reports
// the count only on the next logged line).
func (s *Sampler) TakeSuppressed(kind int) uint64 {
	if s == nil {
		return 0
	}
	return s.slot(kind).suppressed.Swap(0)
}
