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
// list if that tick has passed, else in the level where the two first differ.
func (w *Wheel[T]) link(e *Entry[T]) {
	var idx uint32
	if e.expires <= w.cur {
		idx = dueList
	} else {
		lvl := uint32(bits.Len64(e.expires^w.cur)-1) / slotBits
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
