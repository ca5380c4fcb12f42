package codec

import (
	"encoding/binary"
	"math/bits"
)

// maskBytes XORs b with the masking key, starting at key byte pos%4
// (RFC 6455 section 5.3), and returns pos+len(b). Masking is its own inverse.
// It works 8 bytes at a time: the key is rotated to pos and widened to a
// 64-bit word; since 8 is a multiple of 4 the key phase is unchanged after
// each word, so only the last < 8 bytes go byte by byte.
func maskBytes(key [4]byte, pos int, b []byte) int {
	k := bits.RotateLeft32(binary.LittleEndian.Uint32(key[:]), -8*(pos&3))
	n := len(b)
	if n >= 8 {
		k64 := uint64(k) | uint64(k)<<32
		for len(b) >= 32 {
			binary.LittleEndian.PutUint64(b[0:8], binary.LittleEndian.Uint64(b[0:8])^k64)
			binary.LittleEndian.PutUint64(b[8:16], binary.LittleEndian.Uint64(b[8:16])^k64)
			binary.LittleEndian.PutUint64(b[16:24], binary.LittleEndian.Uint64(b[16:24])^k64)
			binary.LittleEndian.PutUint64(b[24:32], binary.LittleEndian.Uint64(b[24:32])^k64)
			b = b[32:]
		}
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b[:8], binary.LittleEndian.Uint64(b[:8])^k64)
			b = b[8:]
		}
	}
	for i := range b {
		b[i] ^= byte(k)
		k = bits.RotateLeft32(k, -8)
	}
	return pos + n
}
