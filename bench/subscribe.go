package bench

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Subscriptions is what each connection of an idle population on /ws
// subscribes to, parsed from a spec such as "personal,shared:2/100":
//
//   - personal: connection n subscribes to "personal.<n>" (n = 0, 1, ... in
//     dial order), a channel of its own, as a user's personal channel;
//   - shared:K/M: K distinct channels drawn at random out of M shared ones,
//     "shared.0" ... "shared.<M-1>" (seeded, so runs repeat).
//
// With tokens, connection n is user "user<n>" (see TokenConfig).
type Subscriptions struct {
	Personal bool
	K, M     int   // K shared channels out of M; K = 0 for none
	Seed     int64 // for the shared draw (0: 1)
}

// ParseSubscriptions parses a spec ("" is no subscriptions).
func ParseSubscriptions(spec string) (Subscriptions, error) {
	var s Subscriptions
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
		case item == "personal":
			s.Personal = true
		case strings.HasPrefix(item, "shared:"):
			k, m, ok := strings.Cut(strings.TrimPrefix(item, "shared:"), "/")
			kn, err1 := strconv.Atoi(k)
			mn, err2 := strconv.Atoi(m)
			if !ok || err1 != nil || err2 != nil || kn < 1 || kn > mn || kn > 64 {
				return s, fmt.Errorf("subscriptions %q: want shared:K/M with 1 <= K <= M and K <= 64", item)
			}
			s.K, s.M = kn, mn
		default:
			return s, fmt.Errorf("subscriptions: unknown item %q (want personal, shared:K/M)", item)
		}
	}
	return s, nil
}

// Count is the number of subscriptions per connection.
func (s Subscriptions) Count() int {
	n := s.K
	if s.Personal {
		n++
	}
	return n
}

func (s Subscriptions) String() string {
	var parts []string
	if s.Personal {
		parts = append(parts, "personal")
	}
	if s.K > 0 {
		parts = append(parts, fmt.Sprintf("shared:%d/%d", s.K, s.M))
	}
	return strings.Join(parts, ",")
}

// Channels returns connection n's channels: its personal one first, then
// its K shared ones, the same for the same n and seed.
func (s Subscriptions) Channels(n int) []string {
	out := make([]string, 0, s.Count())
	if s.Personal {
		out = append(out, "personal."+strconv.Itoa(n))
	}
	if s.K > 0 {
		seed := uint64(s.Seed)
		if seed == 0 {
			seed = 1
		}
		r := rand.New(rand.NewPCG(seed, uint64(n)))
		// K distinct draws out of M (K is small: rejection is cheap).
		picked := make(map[int]bool, s.K)
		for len(picked) < s.K {
			i := r.IntN(s.M)
			if !picked[i] {
				picked[i] = true
				out = append(out, "shared."+strconv.Itoa(i))
			}
		}
	}
	return out
}

// subscribeMessages are the subscribe requests for channels, ids 1, 2, ...
func subscribeMessages(channels []string) [][]byte {
	out := make([][]byte, len(channels))
	for i, ch := range channels {
		out[i] = []byte(`{"type":"subscribe","id":"` + strconv.Itoa(i+1) + `","channel":"` + ch + `"}`)
	}
	return out
}
