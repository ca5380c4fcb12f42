//go:build !race

package handover

const raceOn = false
