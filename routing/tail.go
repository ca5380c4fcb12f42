package routing

// Objects with their bytes inside (issue 19): a channel's topic and a connection's identity
// keep a name of any length without a string header and without a second allocation. The
// first bytes fit inside the struct's last field; the rest follow the struct in the same
// allocation, sized to a Go size class.

// withTail is a T followed by the bytes B. B is a byte array (alignment 1), so it starts
// exactly where T ends.
type withTail[T any, B any] struct {
	v T
	_ B // room only: reached past v by pointer (tailed)
}

// maxTail is the most bytes tailed places after a T: the tail steps below put a 32-byte T in
// the size classes 48, 64, 80, 96, 112, 128, 144, 160, 192, 224, 256, 288, 352, 416 and 512.
const maxTail = 480

// tailed returns a new, zero T followed in the same allocation by at least extra (at most
// maxTail) zero bytes, which start at unsafe.Sizeof(*new(T)) from the returned pointer. T must
// end with its own inline bytes for the tail to continue them.
func tailed[T any](extra int) *T {
	switch {
	case extra <= 0:
		return new(T)
	case extra <= 16:
		return &new(withTail[T, [16]byte]).v
	case extra <= 32:
		return &new(withTail[T, [32]byte]).v
	case extra <= 48:
		return &new(withTail[T, [48]byte]).v
	case extra <= 64:
		return &new(withTail[T, [64]byte]).v
	case extra <= 80:
		return &new(withTail[T, [80]byte]).v
	case extra <= 96:
		return &new(withTail[T, [96]byte]).v
	case extra <= 112:
		return &new(withTail[T, [112]byte]).v
	case extra <= 128:
		return &new(withTail[T, [128]byte]).v
	case extra <= 160:
		return &new(withTail[T, [160]byte]).v
	case extra <= 192:
		return &new(withTail[T, [192]byte]).v
	case extra <= 224:
		return &new(withTail[T, [224]byte]).v
	case extra <= 256:
		return &new(withTail[T, [256]byte]).v
	case extra <= 320:
		return &new(withTail[T, [320]byte]).v
	case extra <= 384:
		return &new(withTail[T, [384]byte]).v
	case extra <= maxTail:
		return &new(withTail[T, [maxTail]byte]).v
	}
	panic("routing: tailed: more than maxTail bytes")
}
