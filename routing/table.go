package routing

import "math/bits"

// ptrTable is an open-addressing hash set of pointers (linear probing, backward-shift deletion):
// 8 bytes a slot, where a Go map costs a key and a value per slot plus its control bytes. The
// key lives in the element itself (a session's id, a channel's name), so a lookup compares
// elements through match and a resize recomputes hashes through hash. Slots are indexed by
// the hash's high bits: callers pick their shard with the low ones. It grows at 3/4 full and
// shrinks at 1/8 (to 1/4 full), so a steady population neither grows nor shrinks it, and
// nothing is allocated then. Not safe for concurrent use: the caller's lock guards it.
type ptrTable[E any] struct {
	slots []*E // nil or a power of two long
	n     int
	shift uint8 // 64 - log2(len(slots))
}

const minTableSlots = 8

func (t *ptrTable[E]) home(h uint64) int { return int(h >> t.shift) }

// get returns the element of hash h that match accepts, nil if none.
func (t *ptrTable[E]) get(h uint64, match func(*E) bool) *E {
	if t.n == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for i := t.home(h); ; i = (i + 1) & mask {
		e := t.slots[i]
		if e == nil || match(e) {
			return e
		}
	}
}

// insert adds e, of hash h, which the table does not hold; hash is every element's hash, for
// a resize.
func (t *ptrTable[E]) insert(h uint64, e *E, hash func(*E) uint64) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(max(minTableSlots, 2*len(t.slots)), hash)
	}
	t.place(h, e)
	t.n++
}

func (t *ptrTable[E]) place(h uint64, e *E) {
	mask := len(t.slots) - 1
	i := t.home(h)
	for t.slots[i] != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = e
}

// remove takes out e, of hash h, and reports whether the table held it.
func (t *ptrTable[E]) remove(h uint64, e *E, hash func(*E) uint64) bool {
	if t.n == 0 {
		return false
	}
	mask := len(t.slots) - 1
	i := t.home(h)
	for t.slots[i] != e {
		if t.slots[i] == nil {
			return false
		}
		i = (i + 1) & mask
	}
	// Backward shift: move later entries of the probe run into the hole when their home
	// position does not lie cyclically in (hole, their position].
	for j := (i + 1) & mask; t.slots[j] != nil; j = (j + 1) & mask {
		k := t.home(hash(t.slots[j]))
		if (j-k)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = nil
	t.n--
	if len(t.slots) > minTableSlots && t.n*8 < len(t.slots) {
		t.resize(len(t.slots)/2, hash)
	}
	return true
}

// replace puts e in the slot of old, which the table holds under the same key (hash h).
func (t *ptrTable[E]) replace(h uint64, old, e *E) {
	mask := len(t.slots) - 1
	i := t.home(h)
	for t.slots[i] != old {
		i = (i + 1) & mask
	}
	t.slots[i] = e
}

func (t *ptrTable[E]) resize(size int, hash func(*E) uint64) {
	old := t.slots
	t.slots = make([]*E, size)
	t.shift = uint8(64 - bits.TrailingZeros(uint(size)))
	for _, e := range old {
		if e != nil {
			t.place(hash(e), e)
		}
	}
}

// each calls f for every element until f returns false.
func (t *ptrTable[E]) each(f func(*E) bool) bool {
	for _, e := range t.slots {
		if e != nil && !f(e) {
			return false
		}
	}
	return true
}

// mix spreads a sequential key (a session id) over a hash's high bits.
func mix(x uint64) uint64 { return x * 0x9e3779b97f4a7c15 }
