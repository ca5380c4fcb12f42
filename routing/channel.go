package routing

// MaxChannelLen is the longest channel name accepted, in bytes.
const MaxChannelLen = 128

// ValidChannel reports whether name is a valid channel name: 1 to MaxChannelLen bytes, each one
// of A-Z a-z 0-9 _ . : -. The charset keeps names safe inside a NATS subject and in logs, and
// means a name never needs escaping inside JSON.
func ValidChannel[T ~string | ~[]byte](name T) bool {
	if len(name) == 0 || len(name) > MaxChannelLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '_', c == '.', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}
