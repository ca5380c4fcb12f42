package limits

import (
	"math"
	"time"
)

// Defaults for the "keeps on" policy of MsgBucket.Check.
const (
	DefaultMaxStrikes   = 10
	DefaultStrikeWindow = 10 * time.Second
)

// MsgRateConfig is the inbound message rate per connection (-msg-rate,
// -msg-burst), shared read-only by all connections.
type MsgRateConfig struct {
	// PerSecond is the sustained rate; 0 (or less) switches the limit off.
	PerSecond float64
	// Burst is how many messages may arrive back to back; below 1 means 1.
	Burst int
	// MaxStrikes is how many refused messages within StrikeWindow make Check
	// return VerdictClose. 0 means DefaultMaxStrikes (10); negative never
	// closes.
	MaxStrikes int
	// StrikeWindow: 0 means DefaultStrikeWindow (10s). Capped at 24 days.
	StrikeWindow time.Duration
}

// Verdict is what to do with an inbound message.
type Verdict uint8

const (
	// VerdictAllow: process the message.
	VerdictAllow Verdict = iota
	// VerdictRateLimited: drop it and reply with a RATE_LIMITED error.
	VerdictRateLimited
	// VerdictClose: the client keeps sending over its rate; close with 1008.
	VerdictClose
)

func (v Verdict) String() string {
	switch v {
	case VerdictAllow:
		return "allow"
	case VerdictRateLimited:
		return "rate_limited"
	case VerdictClose:
		return "close"
	}
	return "unknown"
}

// strikeShift: strike windows are kept in units of 2^20 ns (~1.05 ms) so a
// window start fits 32 bits; unsigned differences are correct across the
// wrap (every ~52 days) for windows up to half of that.
const strikeShift = 20

// MsgBucket is a connection's message-rate state: 16 bytes, zero value
// ready (a full bucket). It is not safe for concurrent use; the goroutine or
// event loop reading the connection owns it. now is monotonic nanoseconds
// from any fixed origin, the same for every call on a bucket (a coarse clock,
// such as the timer wheel's tick, is fine).
type MsgBucket struct {
	tat      int64  // GCRA theoretical arrival time
	winStart uint32 // strike window start, in 2^strikeShift ns units
	strikes  uint32 // refusals since winStart
}

// Allow takes a token, reporting whether the message is within the rate.
// It is the bare bucket; Check adds the strike policy.
func (b *MsgBucket) Allow(now int64, cfg *MsgRateConfig) bool {
	if cfg == nil || !(cfg.PerSecond > 0) {
		return true
	}
	const maxSpan = math.MaxInt64 / 4
	iv := int64(math.Min(math.Max(float64(time.Second)/cfg.PerSecond, 1), maxSpan))
	tol := int64(maxSpan)
	if bu := int64(max(cfg.Burst, 1)) - 1; bu <= maxSpan/iv {
		tol = bu * iv
	}
	tat := max(b.tat, now)
	if tat-now > tol {
		return false
	}
	b.tat = tat + iv
	return true
}

// Check is Allow plus the "keeps on" policy: a refused message is a strike;
// MaxStrikes strikes within StrikeWindow (counted from the first strike of
// the window) return VerdictClose, fewer return VerdictRateLimited. Allowed
// messages do not clear strikes, so a client alternating between allowed
// and refused messages is still closed.
func (b *MsgBucket) Check(now int64, cfg *MsgRateConfig) Verdict {
	if b.Allow(now, cfg) {
		return VerdictAllow
	}
	k := cfg.MaxStrikes
	switch {
	case k < 0:
		return VerdictRateLimited
	case k == 0:
		k = DefaultMaxStrikes
	}
	w := cfg.StrikeWindow
	if w <= 0 {
		w = DefaultStrikeWindow
	}
	wu := uint32(min(int64(w)>>strikeShift, math.MaxInt32))
	nu := uint32(uint64(now) >> strikeShift)
	if b.strikes == 0 || nu-b.winStart > wu {
		b.winStart, b.strikes = nu, 0
	}
	if b.strikes < math.MaxUint32 {
		b.strikes++
	}
	if int64(b.strikes) >= int64(k) {
		return VerdictClose
	}
	return VerdictRateLimited
}

// Strikes is the number of refusals in the current strike window.
func (b *MsgBucket) Strikes() int { return int(b.strikes) }
