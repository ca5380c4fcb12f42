//go:build race

package codec

// sync.Pool (under bytebufferpool) drops items at random with the race
// detector on, so allocation counts are only asserted without it.
const raceEnabled = true
