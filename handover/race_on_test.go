//go:build race

package handover

// raceOn: the race detector slows every process of the process tests
// several times; they use fewer connections under it.
const raceOn = true
