package perm

// MaxChannelLen is the longest channel name accepted, in bytes (as
// routing.MaxChannelLen).
const MaxChannelLen = 128

// isChar reports whether c may appear in a base or a user id.
func isChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == ':' || c == '-'
}

// ValidChannel reports whether name follows the channel grammar: what
// routing.ValidChannel accepts, plus a user-limited part after one "#".
func ValidChannel[T ~string | ~[]byte](name T) bool {
	if len(name) == 0 || len(name) > MaxChannelLen {
		return false
	}
	hash := -1
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case isChar(c):
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

// Split cuts a valid channel into its namespace ("" = default), and its
// user list (empty when the channel is not user-limited).
func Split[T ~string | ~[]byte](name T) (namespace, users T) {
	base := name
	for i := 0; i < len(name); i++ {
		if name[i] == '#' {
			base, users = name[:i], name[i+1:]
			break
		}
	}
	for i := 0; i < len(base); i++ {
		if base[i] == ':' {
			return base[:i], users
		}
	}
	return base[:0], users
}

// Limited reports whether name is user-limited (has "#").
func Limited[T ~string | ~[]byte](name T) bool {
	for i := 0; i < len(name); i++ {
		if name[i] == '#' {
			return true
		}
	}
	return false
}

// listed reports whether user is one of the comma-separated users.
func listedBytes(users []byte, user string) bool {
	if user == "" {
		return false
	}
	start := 0
	for i := 0; i <= len(users); i++ {
		if i == len(users) || users[i] == ',' {
			if string(users[start:i]) == user {
				return true
			}
			start = i + 1
		}
	}
	return false
}
