package poller

import (
	"runtime"
	"runtime/metrics"
)

// A busy loop never blocks, so it keeps its P until the runtime preempts it
// (10 ms): workers it woke, the admin server, anything else runnable, would
// wait that long. A loop therefore yields between rounds, but only when
// something is waiting for a P: an unconditional Gosched of a goroutine
// locked to its thread (uring) costs two thread hand-offs, futex calls and
// context switches, even when nothing else wants to run. Reading the
// runtime's count of runnable goroutines costs about as much as an
// unlocked Gosched (~100 ns, no allocation), so it can be asked often.

// runnableMetric is the runtime's count of goroutines ready to run but not
// running, over every P's run queue and the global one.
const runnableMetric = "/sched/goroutines/runnable:goroutines"

// yielder decides whether a loop yields its P. One per loop: the sample is
// the loop's own.
type yielder struct {
	sample [1]metrics.Sample
	ok     bool // the runtime has the metric; without it, yield every time
}

func newYielder() yielder {
	y := yielder{sample: [1]metrics.Sample{{Name: runnableMetric}}}
	metrics.Read(y.sample[:])
	y.ok = y.sample[0].Value.Kind() == metrics.KindUint64
	return y
}

// waiting reports whether some goroutine is ready to run and has no P.
func (y *yielder) waiting() bool {
	if !y.ok {
		return true
	}
	metrics.Read(y.sample[:])
	return y.sample[0].Value.Uint64() > 0
}

// yield lets the runnable goroutines run, if there are any.
func (y *yielder) yield() {
	if y.waiting() {
		runtime.Gosched()
	}
}
