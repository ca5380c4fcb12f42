//go:build race

package limits

// raceEnabled shrinks the biggest loops: the race detector makes them ~20x
// slower and they test logic, not the detector.
const raceEnabled = true
