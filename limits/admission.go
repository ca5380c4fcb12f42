package limits

import (
	"net/netip"
	"time"
)

// AdmissionConfig gathers the connection limits of the flags.
type AdmissionConfig struct {
	ConnPerMinute  float64 // -conn-rate; 0 = off
	ConnBurst      int     // -conn-burst
	MaxConns       int     // -max-conns; 0 = off
	MaxConnsPerIP  int     // -max-conns-per-ip; 0 = off
	RateMaxEntries int     // RateConfig.MaxEntries; 0 = DefaultMaxEntries
	// LimitLoopback applies the per-IP rate and cap to loopback clients too
	// (-limit-loopback). Off, a loopback client counts only against the
	// global cap: it is this host itself (a local proxy, a health checker,
	// a load test), and counting all of them as one client would refuse
	// everybody behind them after a few connections.
	LimitLoopback bool
	Now           func() int64
}

// Admission is the connection-level gate: per-key rate, then the global and
// per-key caps, with the loopback exemption. ip is the client address
// (ClientIP), grouped internally by Key. Safe for concurrent use.
type Admission struct {
	Rate          *RateTable
	Caps          *ConnCaps
	limitLoopback bool
}

// NewAdmission builds the rate table and the caps.
func NewAdmission(cfg AdmissionConfig) *Admission {
	return &Admission{
		Rate:          NewRateTable(RateConfig{PerMinute: cfg.ConnPerMinute, Burst: cfg.ConnBurst, MaxEntries: cfg.RateMaxEntries, Now: cfg.Now}),
		Caps:          NewConnCaps(cfg.MaxConnsPerIP, cfg.MaxConns),
		limitLoopback: cfg.LimitLoopback,
	}
}

// Ticket is what an admitted connection holds until it ends: 4 bytes that
// say which counts to give back. The zero Ticket holds nothing.
type Ticket uint32

const (
	ticketGlobal Ticket = 1 << 31 // the global count
	ticketKey    Ticket = 1 << 30 // a per-key count; its handle in the low bits
)

// Held reports whether the ticket holds a connection slot.
func (t Ticket) Held() bool { return t != 0 }

// Admit decides whether a connection from ip may proceed. Admitted, it
// returns a Ticket the caller gives back once with Release. Refused, it
// returns ReasonIPRate (with the Retry-After wait), ReasonGlobalCap or
// ReasonIPCap, and a zero Ticket. Per-IP limits do not apply when exempt is
// set, nor to loopback clients unless LimitLoopback; the global cap always
// does. The rate is checked first, so attempts refused at a cap still spend
// tokens: a client hammering at its cap is slowed down like any other.
func (a *Admission) Admit(ip netip.Addr, exempt bool) (t Ticket, r Reason, retryAfter time.Duration) {
	if exempt || ip.IsLoopback() && !a.limitLoopback {
		if r := a.Caps.AcquireGlobal(); r != ReasonNone {
			return 0, r, 0
		}
		return ticketGlobal, ReasonNone, 0
	}
	if ok, ra := a.Rate.Allow(ip); !ok {
		return 0, ReasonIPRate, ra
	}
	h, r := a.Caps.acquire(ip)
	if r != ReasonNone {
		return 0, r, 0
	}
	if a.Caps.shards == nil {
		return ticketGlobal, ReasonNone, 0
	}
	return ticketGlobal | ticketKey | Ticket(h), ReasonNone, 0
}

// Release gives back what t holds and clears it, so a second Release of the
// same ticket does nothing.
func (a *Admission) Release(t *Ticket) {
	switch {
	case *t&ticketKey != 0:
		a.Caps.release(uint32(*t &^ (ticketGlobal | ticketKey)))
	case *t&ticketGlobal != 0:
		a.Caps.ReleaseGlobal()
	}
	*t = 0
}

// Sweep gives back the memory of refilled rate buckets (RateTable.Sweep).
func (a *Admission) Sweep() { a.Rate.Sweep(a.Rate.Now()) }
