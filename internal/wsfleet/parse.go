package wsfleet

import "bytes"

// frame splits the first complete server frame off b: its opcode, its
// payload and its size on the wire; size 0 when b holds no complete frame.
// Server frames are unmasked; a masked one is read as if it were not.
func frame(b []byte) (op byte, payload []byte, size int) {
	if len(b) < 2 {
		return 0, nil, 0
	}
	op = b[0] & 0x0f
	n, h := uint64(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, nil, 0
		}
		n, h = uint64(b[2])<<8|uint64(b[3]), 4
	case 127:
		if len(b) < 10 {
			return 0, nil, 0
		}
		n = 0
		for _, x := range b[2:10] {
			n = n<<8 | uint64(x)
		}
		h = 10
	}
	if b[1]&0x80 != 0 {
		h += 4
	}
	if len(b) < h || uint64(len(b)-h) < n {
		return 0, nil, 0
	}
	return op, b[h : h+int(n)], h + int(n)
}

// channelNumber reads K from a channel message {"type":"message",...,"data":K}
// with K a non-negative integer.
func channelNumber(p []byte) (int, bool) {
	if !bytes.HasPrefix(p, []byte(`{"type":"message"`)) {
		return 0, false
	}
	i := bytes.Index(p, []byte(`"data":`))
	if i < 0 {
		return 0, false
	}
	n, digits := 0, 0
	for _, c := range p[i+7:] {
		if c < '0' || c > '9' || digits > 9 {
			break
		}
		n = n*10 + int(c-'0')
		digits++
	}
	return n, digits > 0
}

func indexCRLF2(b []byte) int { return bytes.Index(b, []byte("\r\n\r\n")) }

func hasPrefix(b []byte, s string) bool { return bytes.HasPrefix(b, []byte(s)) }
