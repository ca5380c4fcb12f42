package timerwheel

import "math/bits"

// Entry is a timer embedded in its owner (a connection): the wheel links
// entries together through these fields, so scheduling allocates nothing.
// Value is the owner, handed back through the entry when it fires.
//
// The zero Entry is not scheduled. With T a pointer an Entry is 40 bytes.
type Entry[T any] struct {
	next, prev *Entry[T]
	expires    uint64 // expiry tick, counted from the wheel's origin
	where      uint32 // 1 + index of the list holding the entry; 0: not scheduled
	Value      T
}

// Scheduled reports whether e is in a wheel. It is false inside the fire
// callback for e, unless the callback scheduled e again.
func (e *Entry[T]) Scheduled() bool { return e.where != 0 }

// link files e by its expiry tick relative to the current tick: in the due
// list if that tick has been reached, else at the lowest level whose window
// reaches it. Level l's window is the 63 buckets of 64^l ticks after the one
// holding the current tick, and the bucket picks the slot, so slots roll
// round as the clock moves. Filing by distance (not by the highest digit that
// differs) keeps a 30 s timer at a 10 ms tick in level 1 even when it
// crosses a 4096-tick boundary: cascades move 64 ticks' worth of entries,
// never a whole level-2 slot of them.
func (w *Wheel[T]) link(e *Entry[T]) {
	var idx uint32
	if e.expires <= w.cur {
		idx = dueList
	} else {
		// 64^lvl <= distance < 64^(lvl+1): the bucket is 1 to 64 ahead
		// at lvl; at 64 it is one level up (where it is 1 ahead).
		lvl := uint32(bits.Len64(e.expires-w.cur)-1) / slotBits
		if e.expires>>(lvl*slotBits)-w.cur>>(lvl*slotBits) >= slotsPerLevel {
			lvl++
		}
		s := uint32(e.expires>>(lvl*slotBits)) & slotMask
		idx = lvl*slotsPerLevel + s
		w.occupied[lvl] |= 1 << s
		w.levelsUsed |= 1 << lvl
	}
	h := w.heads[idx]
	e.next, e.prev = h, nil
	if h != nil {
		h.prev = e
	}
	w.heads[idx] = e
	e.where = idx + 1
}

// unlink removes e from its list, clearing the occupancy bits of a slot it
// leaves empty.
func (w *Wheel[T]) unlink(e *Entry[T]) {
	idx := e.where - 1
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		w.heads[idx] = e.next
		if e.next == nil && idx < wheelSlots {
			lvl := idx / slotsPerLevel
			w.occupied[lvl] &^= 1 << (idx % slotsPerLevel)
			if w.occupied[lvl] == 0 {
				w.levelsUsed &^= 1 << lvl
			}
		}
	}
	if e.next != nil {
		e.next.prev = e.prev
	}
	e.next, e.prev, e.where = nil, nil, 0
}
