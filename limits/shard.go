package limits

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// numShards splits per-IP maps so that concurrent accepts on different
// event loops rarely contend on one mutex. A power of two.
const numShards = 64

// hasher picks a shard for a 16-byte key. The seed is random per table so
// that a client cannot choose addresses that all land in one shard.
type hasher struct{ seed uint64 }

func newHasher() hasher { return hasher{seed: rand.Uint64() | 1} }

// hash mixes both halves of the key (IPv4 keys differ only in the low
// half, IPv6 /64 keys only in the high half) into 64 well-spread bits.
func (h hasher) hash(k [16]byte) uint64 {
	hi := binary.LittleEndian.Uint64(k[:8])
	lo := binary.LittleEndian.Uint64(k[8:])
	x, y := bits.Mul64(hi^h.seed, 0x9E3779B97F4A7C15)
	x ^= y
	x, y = bits.Mul64(x^lo, 0xC2B2AE3D27D4EB4F)
	return x ^ y
}

// shard picks one of n (a power of two) shards from the top bits, leaving
// the low bits to index inside the shard.
func (h hasher) shard(k [16]byte, n int) int {
	return int(h.hash(k) >> (64 - bits.TrailingZeros(uint(n))) & uint64(n-1))
}

// cacheLinePad keeps neighbouring shard mutexes off one cache line.
type cacheLinePad [64]byte
