// Package memtrim gives the Go heap's free pages back to the operating system
// once a burst of activity (a ramp of new connections) is over.
//
// The runtime keeps the pages a burst used: its heap goal is twice the live
// heap after a GC, and its scavenger returns memory only above about 1.1x
// that goal, so the garbage of thousands of upgrades and token checks stays
// in the process's RSS long after the connections went idle. A Trimmer
// watches an activity counter and the memory the process retains; when the
// counter has not moved for Config.After and the retained memory grew by
// Config.MinGrowth since the last trim, it forces a GC and then calls
// debug.FreeOSMemory (a second GC, then every free page returned): two
// cycles, because what the burst left in sync.Pools (buffers, decoder
// states) survives one in the pools' victim caches, and keeps the spans it
// sits in resident.
package memtrim

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Config says when a Trimmer trims. After == 0 disables it.
type Config struct {
	// After is how long Activity must stay unchanged before a trim; it is
	// also the least time between two trims.
	After time.Duration
	// MinGrowth is how much the retained memory (mapped and not returned
	// to the OS) must have grown since the last trim, or since Run began.
	MinGrowth uint64
	// Activity is a counter that moves while the process is busy with what
	// makes garbage (accepted connections). Required.
	Activity func() uint64
	// Before, when set, runs first in each trim: to give back what the
	// burst left unused but allocated (Hub.Compact), so that the trim
	// returns it.
	Before func()
	// Trimmed, when set, is called after each trim with the retained
	// memory before and after it (for a metric and a log line).
	Trimmed func(before, after uint64)
}

// Trimmer runs the checks of one Config. Its zero value is not usable: use New.
type Trimmer struct {
	cfg     Config
	now     func() time.Time
	read    func() uint64
	samples []metrics.Sample // Retained's, reused: a check allocates nothing
}

// New returns a Trimmer for cfg.
func New(cfg Config) *Trimmer {
	t := &Trimmer{cfg: cfg, now: time.Now, samples: retainedSamples()}
	t.read = func() uint64 { return retained(t.samples) }
	return t
}

// Run checks every After/4 until stop is closed. It returns at once when
// After is 0. Callers run it on a goroutine of its own: a trim is a full GC.
func (t *Trimmer) Run(stop <-chan struct{}) {
	if t.cfg.After <= 0 {
		return
	}
	tick := time.NewTicker(max(t.cfg.After/4, time.Millisecond))
	defer tick.Stop()
	st := t.start()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			t.check(&st)
		}
	}
}

// state is what a Trimmer remembers between checks.
type state struct {
	activity uint64    // Activity at the last change seen
	quiet    time.Time // when it last changed
	base     uint64    // the least retained memory since the last trim
	trimmed  time.Time // the last trim
}

func (t *Trimmer) start() state {
	now := t.now()
	return state{activity: t.cfg.Activity(), quiet: now, base: t.read()}
}

// check trims when the activity has been quiet long enough and the retained
// memory grew enough; it reports whether it trimmed.
func (t *Trimmer) check(st *state) bool {
	now := t.now()
	if a := t.cfg.Activity(); a != st.activity {
		st.activity, st.quiet = a, now
		return false
	}
	if now.Sub(st.quiet) < t.cfg.After || now.Sub(st.trimmed) < t.cfg.After {
		return false
	}
	r := t.read()
	// Growth is measured from the low point: memory the scavenger returned
	// on its own does not count as grown again when it is reused.
	st.base = min(st.base, r)
	if r < st.base+t.cfg.MinGrowth {
		return false
	}
	if t.cfg.Before != nil {
		t.cfg.Before()
	}
	runtime.GC() // pooled objects move to the victim caches
	debug.FreeOSMemory()
	after := t.read()
	st.base, st.trimmed = after, t.now()
	if t.cfg.Trimmed != nil {
		t.cfg.Trimmed(r, after)
	}
	return true
}

// Retained is the memory the Go runtime has mapped and not returned to the
// operating system: an upper bound of its share of the RSS.
func Retained() uint64 { return retained(retainedSamples()) }

func retainedSamples() []metrics.Sample {
	return []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
}

func retained(s []metrics.Sample) uint64 {
	metrics.Read(s)
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}
