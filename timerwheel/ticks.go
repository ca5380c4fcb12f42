package timerwheel

import (
	"math"
	"math/bits"
)

// Times are converted to ticks with unsigned arithmetic on the distance from
// the origin, so every int64 time maps without overflow, whatever the origin.

// ceilTick returns the first tick at or after at; times at or before the
// origin map to tick 0, which the wheel has always reached.
func (w *Wheel[T]) ceilTick(at int64) uint64 {
	if at <= w.origin {
		return 0
	}
	d := uint64(at) - uint64(w.origin)
	q := d / w.tick
	if q*w.tick != d {
		q++
	}
	return q
}

// floorTick returns the last tick at or before now.
func (w *Wheel[T]) floorTick(now int64) uint64 {
	if now <= w.origin {
		return 0
	}
	return (uint64(now) - uint64(w.origin)) / w.tick
}

// timeOf returns the start of tick t, saturated at math.MaxInt64.
func (w *Wheel[T]) timeOf(t uint64) int64 {
	hi, d := bits.Mul64(t, w.tick)
	// MaxInt64-origin lies in [0, 2^64) for every origin, so the unsigned
	// difference is exact.
	if hi != 0 || d > uint64(math.MaxInt64)-uint64(w.origin) {
		return math.MaxInt64
	}
	return int64(uint64(w.origin) + d)
}
