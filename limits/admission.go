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
	Now            func() int64
}

// Admission is the connection-level gate: per-key rate, then the global and
// per-key caps. ip is the client address (ClientIP), grouped internally by
// Key. Safe for concurrent use.
type Admission struct {
	Rate *RateTable
	Caps *ConnCaps
}

// NewAdmission builds the rate table and the caps.
func NewAdmission(cfg AdmissionConfig) *Admission {
	return &Admission{
		Rate: NewRateTable(RateConfig{PerMinute: cfg.ConnPerMinute, Burst: cfg.ConnBurst, MaxEntries: cfg.RateMaxEntries, Now: cfg.Now}),
		Caps: NewConnCaps(cfg.MaxConnsPerIP, cfg.MaxConns),
	}
}

// Admit returns ReasonNone when the connection may proceed; the caller then
// owes exactly one Release(ip). Otherwise it returns ReasonIPRate (with the
// Retry-After wait), ReasonGlobalCap or ReasonIPCap, and nothing is owed.
// The rate is checked first, so attempts refused at a cap still spend
// tokens: a client hammering at its cap is slowed down like any other.
func (a *Admission) Admit(ip netip.Addr) (r Reason, retryAfter time.Duration) {
	if ok, ra := a.Rate.Allow(ip); !ok {
		return ReasonIPRate, ra
	}
	return a.Caps.Acquire(ip), 0
}

// Release ends a connection admitted by Admit(ip).
func (a *Admission) Release(ip netip.Addr) bool { return a.Caps.Release(ip) }
