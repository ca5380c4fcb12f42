package timerwheel

import (
	"math"
	"math/bits"
	"time"
)

const (
	slotBits      = 6
	slotsPerLevel = 1 << slotBits
	slotMask      = slotsPerLevel - 1
	// levels*slotBits >= 64, so every distance between two uint64 ticks has a
	// level and no deadline needs clamping.
	levels     = 11
	wheelSlots = levels * slotsPerLevel
	// dueList holds entries scheduled for a tick the wheel has already
	// reached; the next Advance moves them to firingList and fires them, so
	// that entries made due while it fires wait for the Advance after.
	dueList    = wheelSlots
	firingList = wheelSlots + 1
	lists      = wheelSlots + 2
)

// Wheel is a hierarchical timing wheel of entries whose Value is a T.
//
// A Wheel is not safe for concurrent use: it belongs to one goroutine (an
// event loop), which alone calls its methods and the methods of its entries.
type Wheel[T any] struct {
	heads      [lists]*Entry[T]
	occupied   [levels]uint64 // bit s of occupied[l]: slot s of level l is non-empty
	levelsUsed uint32         // bit l: occupied[l] != 0
	cur        uint64         // ticks since origin that Advance has reached
	origin     int64
	tick       uint64
	n          int
	advancing  bool
}

// New returns an empty wheel whose ticks last tick, starting at now.
// now and every later time given to the wheel are nanoseconds on one clock,
// e.g. time.Now().UnixNano() or a monotonic reading. New panics if tick <= 0.
func New[T any](tick time.Duration, now int64) *Wheel[T] {
	if tick <= 0 {
		panic("timerwheel: tick must be positive")
	}
	return &Wheel[T]{origin: now, tick: uint64(tick)}
}

// Len returns the number of scheduled entries.
func (w *Wheel[T]) Len() int { return w.n }

// Schedule arranges for e to fire at the first Advance whose now is at or
// after at rounded up to the tick grid. If e is already scheduled it is moved.
// A time whose tick the wheel has already passed fires at the next Advance.
// O(1), no allocation.
func (w *Wheel[T]) Schedule(e *Entry[T], at int64) {
	if e.where != 0 {
		w.unlink(e)
	} else {
		w.n++
	}
	e.expires = w.ceilTick(at)
	w.link(e)
}

// Cancel removes e from the wheel; it does nothing if e is not scheduled.
// O(1).
func (w *Wheel[T]) Cancel(e *Entry[T]) {
	if e.where == 0 {
		return
	}
	w.unlink(e)
	w.n--
}

// Advance moves the wheel to now and calls fire for every entry due at or
// before it, in order of expiry tick, after removing the entry from the
// wheel. fire may schedule and cancel entries, but must not call Advance.
// It returns the number of entries fired.
//
// Ticks on which nothing is due cost nothing: Advance jumps from one
// non-empty slot to the next, however far now is.
func (w *Wheel[T]) Advance(now int64, fire func(e *Entry[T])) int {
	if w.advancing {
		panic("timerwheel: Advance called from a fire callback")
	}
	target := max(w.floorTick(now), w.cur) // the wheel never moves back
	if t, ok := w.nextEvent(); !ok || t > target {
		w.cur = target // nothing to fire or cascade: an idle tick
		return 0
	}
	return w.advance(target, fire)
}

func (w *Wheel[T]) advance(target uint64, fire func(e *Entry[T])) int {
	w.advancing = true
	defer func() { w.advancing = false }()

	fired := w.fireDue(fire)
	for w.levelsUsed != 0 {
		t, idx := w.nextSlot()
		if t > target {
			break
		}
		// Entries of the bucket starting at t: those due at t fire, the
		// others are less than one bucket ahead and go a level down.
		// Nothing new can join this slot meanwhile (it is 0 buckets
		// ahead), so popping until it is empty terminates.
		w.cur = t
		for e := w.heads[idx]; e != nil; e = w.heads[idx] {
			w.unlink(e)
			if e.expires <= t {
				w.n--
				fire(e)
				fired++
			} else {
				w.link(e)
			}
		}
	}
	w.cur = target
	return fired
}

// nextEvent returns the next tick at which Advance has work: the current
// tick if entries are due, else the start of the earliest non-empty bucket.
func (w *Wheel[T]) nextEvent() (uint64, bool) {
	if w.heads[dueList] != nil || w.heads[firingList] != nil {
		return w.cur, true
	}
	if w.levelsUsed == 0 {
		return 0, false
	}
	t, _ := w.nextSlot()
	return t, true
}

// nextSlot returns the start tick and list index of the earliest non-empty
// bucket; levelsUsed must be non-zero. Each level's earliest bucket is its
// first non-empty slot counting from the current tick's slot (which is
// non-empty only while its bucket starts at the current tick, i.e. while it
// is being processed or after a panicking callback left it half done).
// A lower level usually wins, but not always (a level-1 bucket may start
// before a level-0 entry's tick), so all used levels are compared: at most
// 11 steps, whatever the number of entries.
func (w *Wheel[T]) nextSlot() (t uint64, idx uint32) {
	t = math.MaxUint64
	for m := w.levelsUsed; m != 0; m &= m - 1 {
		lvl := uint32(bits.TrailingZeros32(m))
		shift := lvl * slotBits
		b := w.cur >> shift // bucket holding the current tick
		occ, c := w.occupied[lvl], b&slotMask
		var k uint64 // buckets ahead of b
		// A shift and a branch, not a rotate: trailing zeros of a
		// rotate by a variable count measured ~2x slower on this CPU.
		if ahead := occ >> c; ahead != 0 {
			k = uint64(bits.TrailingZeros64(ahead))
		} else {
			k = uint64(bits.TrailingZeros64(occ)) + slotsPerLevel - c
		}
		if start := (b + k) << shift; start <= t {
			t, idx = start, lvl*slotsPerLevel+uint32(b+k)&slotMask
		}
	}
	return t, idx
}

// fireDue fires the entries scheduled for ticks already reached.
func (w *Wheel[T]) fireDue(fire func(e *Entry[T])) int {
	if w.heads[dueList] == nil && w.heads[firingList] == nil {
		return 0
	}
	// Relabel the due list as the firing list (in front of anything a
	// panicking callback left there) so Cancel still finds its entries.
	var last *Entry[T]
	for e := w.heads[dueList]; e != nil; e = e.next {
		e.where = firingList + 1
		last = e
	}
	if last != nil {
		last.next = w.heads[firingList]
		if last.next != nil {
			last.next.prev = last
		}
		w.heads[firingList], w.heads[dueList] = w.heads[dueList], nil
	}
	n := 0
	for e := w.heads[firingList]; e != nil; e = w.heads[firingList] {
		w.unlink(e)
		w.n--
		fire(e)
		n++
	}
	return n
}

// Next returns the earliest time at which Advance has work to do (fire or
// cascade entries); ok is false if the wheel is empty. Advance with an
// earlier now does nothing, so an event loop may sleep until then. If
// entries are already due it returns the time of the tick the wheel is at.
func (w *Wheel[T]) Next() (at int64, ok bool) {
	t, ok := w.nextEvent()
	if !ok {
		return 0, false
	}
	return w.timeOf(t), true
}
