package timerwheel

import (
	"math"
	"math/big"
	"testing"
	"time"
)

// This file holds a reference model of the wheel's contract and a harness
// that drives a real Wheel and the model side by side, checking every fire
// against the model as it happens. The model keeps deadlines in a plain slice
// and does its tick arithmetic with math/big, so it shares neither the
// wheel's structure nor its overflow tricks.

type actKind uint8

const (
	actNone        actKind = iota
	actReschedSelf         // Schedule the fired entry again at wheel time + delta
	actSchedOther          // Schedule entry other at wheel time + delta
	actCancelOther         // Cancel entry other
)

// action is what the fire callback does when an owner fires.
type action struct {
	kind  actKind
	other int
	delta int64
}

// owner stands for a connection: it embeds its wheel entry.
type owner struct {
	Entry[*owner]
	id  int
	at  int64 // deadline given to the last Schedule
	act action
}

type refEntry struct {
	scheduled bool
	pending   bool   // scheduled for a tick already reached: fires at the next Advance
	firing    bool   // was pending when the running Advance started
	tick      uint64 // ceil((at-origin)/tick), 0 if at <= origin
}

// maxActingCalls bounds the fire calls per Advance whose action runs.
const maxActingCalls = 2000

type harness struct {
	tb     testing.TB
	w      *Wheel[*owner]
	origin int64
	tick   int64
	now    int64 // last now given to Advance (may go backwards)
	maxNow int64 // latest time the wheel has seen
	cur    uint64
	own    []*owner
	ref    []refEntry

	target uint64 // tick of the running Advance's now
	calls  int    // fire calls in the running Advance
	fires  int    // fire calls in total
}

func newHarness(tb testing.TB, tick, origin int64, n int) *harness {
	h := &harness{
		tb: tb, w: New[*owner](time.Duration(tick), origin),
		origin: origin, tick: tick, now: origin, maxNow: origin,
		own: make([]*owner, n), ref: make([]refEntry, n),
	}
	for i := range h.own {
		o := &owner{id: i}
		o.Value = o
		h.own[i] = o
	}
	return h
}

func (h *harness) refCeil(at int64) uint64 {
	if at <= h.origin {
		return 0
	}
	d := new(big.Int).Sub(big.NewInt(at), big.NewInt(h.origin))
	q, m := new(big.Int).QuoRem(d, big.NewInt(h.tick), new(big.Int))
	if m.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Uint64()
}

func (h *harness) refFloor(now int64) uint64 {
	if now <= h.origin {
		return 0
	}
	d := new(big.Int).Sub(big.NewInt(now), big.NewInt(h.origin))
	return d.Quo(d, big.NewInt(h.tick)).Uint64()
}

// refTime is origin + t*tick, saturated at MaxInt64.
func (h *harness) refTime(t uint64) int64 {
	r := new(big.Int).Mul(new(big.Int).SetUint64(t), big.NewInt(h.tick))
	r.Add(r, big.NewInt(h.origin))
	if !r.IsInt64() {
		return math.MaxInt64
	}
	return r.Int64()
}

func (h *harness) schedule(id int, at int64) {
	o := h.own[id]
	o.at = at
	h.w.Schedule(&o.Entry, at)
	t := h.refCeil(at)
	h.ref[id] = refEntry{scheduled: true, pending: t <= h.cur, tick: t}
}

func (h *harness) cancel(id int) {
	h.w.Cancel(&h.own[id].Entry)
	h.ref[id] = refEntry{}
}

// advance runs Advance(now) and checks that it fired exactly what the model
// says, in an order the model allows.
func (h *harness) advance(now int64) int {
	h.tb.Helper()
	h.now = now
	if now > h.maxNow {
		h.maxNow = now
	}
	h.target = h.refFloor(now)
	for i := range h.ref {
		if r := &h.ref[i]; r.scheduled && r.pending {
			r.pending, r.firing = false, true
		}
	}
	h.calls = 0
	n := h.w.Advance(now, h.fire)
	if n != h.calls {
		h.tb.Fatalf("Advance(%d) returned %d, fire was called %d times", now, n, h.calls)
	}
	for i, r := range h.ref {
		switch {
		case r.firing:
			h.tb.Fatalf("Advance(%d): entry %d was due before it but did not fire", now, i)
		case r.scheduled && !r.pending && r.tick <= h.target:
			h.tb.Fatalf("Advance(%d): entry %d (tick %d, at %d) is due but did not fire (target tick %d)",
				now, i, r.tick, h.own[i].at, h.target)
		}
	}
	if h.target > h.cur {
		h.cur = h.target
	}
	h.check()
	return n
}

func (h *harness) fire(e *Entry[*owner]) {
	h.tb.Helper()
	h.calls++
	h.fires++
	o := e.Value
	r := &h.ref[o.id]
	if !r.scheduled {
		h.tb.Fatalf("entry %d fired but is not scheduled", o.id)
	}
	if e.Scheduled() {
		h.tb.Fatalf("entry %d is still scheduled inside its fire callback", o.id)
	}
	if o.at > h.maxNow {
		h.tb.Fatalf("entry %d fired early: deadline %d, clock %d", o.id, o.at, h.maxNow)
	}
	firing := false
	for _, x := range h.ref {
		firing = firing || x.firing
	}
	switch {
	case firing && !r.firing:
		h.tb.Fatalf("entry %d (tick %d) fired before the entries already due", o.id, r.tick)
	case !firing && r.pending:
		h.tb.Fatalf("entry %d was made due during this Advance but fired in it", o.id)
	case !firing:
		for i, x := range h.ref {
			if x.scheduled && !x.pending && x.tick < r.tick {
				h.tb.Fatalf("entry %d (tick %d) fired before entry %d (tick %d)", o.id, r.tick, i, x.tick)
			}
		}
		if r.tick > h.target {
			h.tb.Fatalf("entry %d (tick %d) fired early: Advance is at tick %d", o.id, r.tick, h.target)
		}
		h.cur = r.tick // the wheel stands at the firing tick during the callback
	}
	*r = refEntry{}
	if h.w.Len() != h.count() {
		h.tb.Fatalf("Len() = %d inside fire, want %d", h.w.Len(), h.count())
	}

	// A callback re-arming a few ticks ahead fires again and again across a
	// long jump, as it should; stop acting after a while to bound the run.
	if h.calls > maxActingCalls {
		return
	}
	base := h.refTime(h.cur)
	switch a := o.act; a.kind {
	case actReschedSelf:
		h.schedule(o.id, satAdd(base, a.delta))
	case actSchedOther:
		h.schedule(a.other, satAdd(base, a.delta))
	case actCancelOther:
		h.cancel(a.other)
	}
}

func (h *harness) count() int {
	n := 0
	for _, r := range h.ref {
		if r.scheduled {
			n++
		}
	}
	return n
}

// check compares Len, Scheduled and Next with the model.
func (h *harness) check() {
	h.tb.Helper()
	if got, want := h.w.Len(), h.count(); got != want {
		h.tb.Fatalf("Len() = %d, want %d", got, want)
	}
	pending, minTick, any := false, uint64(math.MaxUint64), false
	for i, r := range h.ref {
		if got := h.own[i].Scheduled(); got != r.scheduled {
			h.tb.Fatalf("entry %d: Scheduled() = %v, want %v", i, got, r.scheduled)
		}
		if !r.scheduled {
			continue
		}
		any = true
		if r.pending {
			pending = true
		} else if r.tick < minTick {
			minTick = r.tick
		}
	}
	at, ok := h.w.Next()
	switch {
	case !any:
		if ok {
			h.tb.Fatalf("Next() = %d, true on an empty wheel", at)
		}
	case pending:
		if want := h.refTime(h.cur); !ok || at != want {
			h.tb.Fatalf("Next() = %d, %v with due entries, want %d, true", at, ok, want)
		}
	default:
		if !ok || at > h.refTime(minTick) || at <= h.refTime(h.cur) && at != math.MaxInt64 {
			h.tb.Fatalf("Next() = %d, %v; want in (%d, %d]", at, ok, h.refTime(h.cur), h.refTime(minTick))
		}
	}
}

// hasPending reports whether the model has entries due at the next Advance.
func (h *harness) hasPending() bool {
	for _, r := range h.ref {
		if r.scheduled && r.pending {
			return true
		}
	}
	return false
}

func satAdd(a, b int64) int64 {
	s := a + b
	switch {
	case b > 0 && s < a:
		return math.MaxInt64
	case b < 0 && s > a:
		return math.MinInt64
	}
	return s
}

// satShl returns m << s, saturated at MaxInt64 (m >= 0).
func satShl(m int64, s uint) int64 {
	if m == 0 {
		return 0
	}
	if s >= 63 || m > math.MaxInt64>>s {
		return math.MaxInt64
	}
	return m << s
}
