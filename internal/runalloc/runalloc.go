// Package runalloc hands out new objects that were allocated in runs, so that
// long-lived objects fill size-class spans of their own.
//
// Why (issue 19): a ramp of new connections allocates each connection's
// long-lived objects interleaved with the short-lived garbage of its
// handshake, token check and first messages, much of it in the same size
// classes (a token check's two JSON decoder states are the size of a
// connection object; its header map and split token that of a subscription
// record). The runtime fills a span in allocation order, so every span ends
// up holding both, and once the garbage is collected its slots stay as holes
// in spans the live objects keep resident. Allocated a run at a time, the
// long-lived objects fill spans mostly by themselves, and the garbage's
// spans empty out whole and go back to the OS.
//
// The objects are ordinary heap objects: the collector frees each one when
// nothing refers to it, and a Reserve only holds the ones not handed out
// yet, at most one run.
package runalloc

// spanBytes bounds a run: the objects of eight 8 KiB spans, whatever their
// size, so that a run fills whole spans but the reserve stays small.
const spanBytes = 8 << 13

// Reserve holds the rest of the current run. The zero Reserve is not ready:
// make one with New. It is not safe for concurrent use: its owner (an event
// loop, the holder of a lock) serializes the calls.
type Reserve[P any] struct {
	spare []P
	fill  func(dst []P, n int) []P // appends n new objects to dst
	max   int
}

// New returns a Reserve of objects of size bytes that fill appends n at a
// time (each its own allocation: new(T), never one array, so that each can
// be freed on its own).
func New[P any](size uintptr, fill func(dst []P, n int) []P) Reserve[P] {
	return Reserve[P]{fill: fill, max: max(1, int(spanBytes/size))}
}

// Fill appends n new T to dst, each its own allocation: the fill of a
// Reserve of *T.
func Fill[T any](dst []*T, n int) []*T {
	for range n {
		dst = append(dst, new(T))
	}
	return dst
}

// Get returns a new object. When the run is used up it allocates the next:
// live/16 objects (live: how many the owner holds now), at least 1 and at
// most eight spans' worth, so that what waits unused is never more than a
// sixteenth of the population nor more than 64 KiB.
func (r *Reserve[P]) Get(live int) P {
	if len(r.spare) == 0 {
		r.spare = r.fill(r.spare[:0], RunLen(live, r.max))
	}
	last := len(r.spare) - 1
	p := r.spare[last]
	var zero P
	r.spare[last] = zero // the reserve no longer keeps it
	r.spare = r.spare[:last]
	return p
}

// Len is how many objects wait in the reserve.
func (r *Reserve[P]) Len() int { return len(r.spare) }

// RunLen is the length of a run for a population of live objects and runs
// of at most most objects.
func RunLen(live, most int) int { return min(max(live/16, 1), most) }
