package server

import (
	"go.uber.org/zap"

	"github.com/wsedge/wsedge/internal/memtrim"
)

// trimMemory returns the heap's free pages to the OS once connection
// arrivals went quiet after the process grew (-memory-trim-after): the
// upgrades, subscribes and token checks of a ramp leave garbage that raises
// the heap goal, and the runtime keeps those pages long after the
// connections went idle. Runs on its own goroutine until Close.
func (s *Server) trimMemory() {
	moved := 0 // Before and Trimmed run on the trimmer's goroutine, in turn
	memtrim.New(memtrim.Config{
		After:     s.opts.MemoryTrimAfter,
		MinGrowth: uint64(s.opts.MemoryTrimGrowth),
		Activity:  s.accepted.Load,
		Before:    func() { moved = s.router.Hub().Compact() },
		Trimmed: func(before, after uint64) {
			s.m.MemoryTrims.Inc()
			s.log.Debug("memory returned to the OS after a burst of connections",
				zap.Uint64("retained_before", before), zap.Uint64("retained_after", after),
				zap.Int("channel_arrays_compacted", moved),
				zap.Int64("connections", s.open.Load()))
		},
	}).Run(s.stop)
}
