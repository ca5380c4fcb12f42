//go:build linux

package bench

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Progress shows a scenario's progress to a person. Scenarios call Start
// for each phase (ramp-up, run), Update with the current count and a live
// line of rates, and Done at the phase end. Nil means silent.
type Progress interface {
	Start(phase string, max int64)
	Update(n int64, line string)
	Done()
}

// Bar is a Progress drawn with schollz/progressbar on w (usually stderr).
type Bar struct {
	W   io.Writer
	bar *progressbar.ProgressBar
}

// Start begins a new bar for a phase.
func (b *Bar) Start(phase string, max int64) {
	b.Done()
	b.bar = progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(b.W),
		progressbar.OptionSetDescription(phase),
		progressbar.OptionSetWidth(24),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionClearOnFinish(),
	)
}

// Update moves the bar and puts the live line beside it.
func (b *Bar) Update(n int64, line string) {
	if b.bar == nil {
		return
	}
	b.bar.Describe(line)
	_ = b.bar.Set64(n)
}

// Done clears the bar.
func (b *Bar) Done() {
	if b.bar != nil {
		_ = b.bar.Finish()
		_, _ = io.WriteString(b.W, "\n")
		b.bar = nil
	}
}

// progressOf replaces nil with a silent Progress.
func progressOf(p Progress) Progress {
	if p == nil {
		return silent{}
	}
	return p
}

type silent struct{}

func (silent) Start(string, int64)  {}
func (silent) Update(int64, string) {}
func (silent) Done()                {}
