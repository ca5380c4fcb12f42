//go:build race

package server

// raceEnabled: the race detector is on (it changes what heap measurements mean).
const raceEnabled = true
