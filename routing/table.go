package routing

import (
	"math/bits"
	"unsafe"
)

// ptrTable is an open-addressing hash set of pointers (linear probing, backward-shift deletion):
// 8 bytes a slot, where a Go map costs a key and a value per slot plus its control bytes. The
// key lives in the element itself (a session's id, a channel's name), so a lookup compares
// elements through match and a resize recomputes hashes through hash. Slots are indexed by
// the hash's high bits (a multiply-shift, so a table need not be a power of two long):
// callers pick their shard with the low ones. It grows at 3/4 full and
// shrinks at 1/8 (to 1/4 full), so a steady population neither grows nor shrinks it, and
// nothing is allocated then. Not safe for concurrent use: the caller's lock guards it.
type ptrTable[E any] struct {
	slots []*E // nil, or slotsFor(1 << log) long
	n     int
	log   uint8 // log2 of the table's nominal size, a power of two
}

const minTableSlots = 8

// slotsFor is the slot count of a table of nominal size: one less once the array is over
// 512 bytes, where the runtime puts an 8-byte header before an object that holds pointers:
// 512 slots (4096 bytes) would take the 4864-byte size class, 511 take 4096 (issue 19: the
// session registry, the channel and user indexes are sharded tables of about that size).
func slotsFor(size int) int {
	if size*int(unsafe.Sizeof(uintptr(0))) > mallocHeaderAbove {
		return size - 1
	}
	return size
}

// mallocHeaderAbove is the object size past which the runtime keeps a pointer-holding
// object's type in a header of its own (Go 1.22 and later).
const mallocHeaderAbove = 512

// home is the slot where the probe for hash h starts: h's place in [0, len(slots)), from
// its high bits.
func (t *ptrTable[E]) home(h uint64) int {
	hi, _ := bits.Mul64(h, uint64(len(t.slots)))
	return int(hi)
}

// next is the slot after i, cyclically.
func (t *ptrTable[E]) next(i int) int {
	if i++; i == len(t.slots) {
		return 0
	}
	return i
}

// get returns the element of hash h that match accepts, nil if none.
func (t *ptrTable[E]) get(h uint64, match func(*E) bool) *E {
	if t.n == 0 {
		return nil
	}
	for i := t.home(h); ; i = t.next(i) {
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
		t.resize(max(minTableSlots, 2<<t.log), hash)
	}
	t.place(h, e)
	t.n++
}

func (t *ptrTable[E]) place(h uint64, e *E) {
	i := t.home(h)
	for t.slots[i] != nil {
		i = t.next(i)
	}
	t.slots[i] = e
}

// remove takes out e, of hash h, and reports whether the table held it.
func (t *ptrTable[E]) remove(h uint64, e *E, hash func(*E) uint64) bool {
	if t.n == 0 {
		return false
	}
	i := t.home(h)
	for t.slots[i] != e {
		if t.slots[i] == nil {
			return false
		}
		i = t.next(i)
	}
	// Backward shift: move later entries of the probe run into the hole when their home
	// position does not lie cyclically in (hole, their position].
	for j := t.next(i); t.slots[j] != nil; j = t.next(j) {
		k := t.home(hash(t.slots[j]))
		if t.dist(k, j) >= t.dist(i, j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = nil
	t.n--
	if size := 1 << t.log; size > minTableSlots && t.n*8 < size {
		t.resize(size/2, hash)
	}
	return true
}

// replace puts e in the slot of old, which the table holds under the same key (hash h).
func (t *ptrTable[E]) replace(h uint64, old, e *E) {
	i := t.home(h)
	for t.slots[i] != old {
		i = t.next(i)
	}
	t.slots[i] = e
}

// dist is how many slots cyclically from i forward to j.
func (t *ptrTable[E]) dist(i, j int) int {
	if d := j - i; d >= 0 {
		return d
	}
	return j - i + len(t.slots)
}

// resize makes the table size (a power of two) long nominally, slotsFor(size) in fact.
func (t *ptrTable[E]) resize(size int, hash func(*E) uint64) {
	old := t.slots
	t.slots = make([]*E, slotsFor(size))
	t.log = uint8(bits.TrailingZeros(uint(size)))
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
