package routing

// MaxChannelLen is the longest channel name accepted, in bytes.
const MaxChannelLen = 128

// isChannelChar reports whether c may appear in a channel's base or in a user id of its
// user list.
func isChannelChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == ':' || c == '-'
}

// ValidChannel reports whether name is a valid channel name: 1 to MaxChannelLen bytes of
// A-Z a-z 0-9 _ . : -, optionally followed by one "#" and a comma-separated list of user ids
// of the same characters (a user-limited channel: "notifications#42", "dm#42,43", "#42").
// It is the grammar of docs/auth.md (perm.ValidChannel, which decides who may use such a
// channel; FuzzValidChannel in package perm keeps the two equal). The charset keeps names
// safe inside a NATS subject and in logs, and means a name never needs escaping inside JSON.
func ValidChannel[T ~string | ~[]byte](name T) bool {
	if len(name) == 0 || len(name) > MaxChannelLen {
		return false
	}
	hash := -1
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case isChannelChar(c):
		case c == '#' && hash < 0:
			hash = i
		case c == ',' && hash >= 0 && i > hash+1 && name[i-1] != ',':
		default:
			return false
		}
	}
	// "#" needs at least one user after it, and the list cannot end in ",".
	return hash < 0 || (hash < len(name)-1 && name[len(name)-1] != ',')
}
