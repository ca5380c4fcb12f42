package codec

import "unicode/utf8"

// UTF8 validates UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF) incrementally, so a text message can be checked fragment by
// fragment and a frame prefix by prefix, with the state carried across the
// borders in one byte. The zero value is ready to use.
type UTF8 struct {
	state uint8
}

// DFA states. Pending states name what the next byte must be.
const (
	u8Accept  uint8 = iota // at a character boundary
	u8Reject               // invalid; sticky
	u8Need1                // one more 80..BF
	u8Need2                // two more 80..BF
	u8Need3                // three more 80..BF
	u8AfterE0              // A0..BF, then one more (no overlong 3-byte forms)
	u8AfterED              // 80..9F, then one more (no surrogates)
	u8AfterF0              // 90..BF, then two more (no overlong 4-byte forms)
	u8AfterF4              // 80..8F, then two more (nothing above U+10FFFF)
)

// Byte classes.
const (
	c8ASCII = iota // 00..7F
	c8Cont8        // 80..8F
	c8Cont9        // 90..9F
	c8ContA        // A0..BF
	c8Bad          // C0, C1, F5..FF
	c8Lead2        // C2..DF
	c8E0           // E0
	c8Lead3        // E1..EC, EE, EF
	c8ED           // ED
	c8F0           // F0
	c8Lead4        // F1..F3
	c8F4           // F4
)

// u8Class and u8Next are read-only lookup tables.
var u8Class = func() (t [256]uint8) {
	for b := range 256 {
		var c uint8
		switch {
		case b < 0x80:
			c = c8ASCII
		case b < 0x90:
			c = c8Cont8
		case b < 0xA0:
			c = c8Cont9
		case b < 0xC0:
			c = c8ContA
		case b < 0xC2:
			c = c8Bad
		case b < 0xE0:
			c = c8Lead2
		case b == 0xE0:
			c = c8E0
		case b == 0xED:
			c = c8ED
		case b < 0xF0:
			c = c8Lead3
		case b == 0xF0:
			c = c8F0
		case b < 0xF4:
			c = c8Lead4
		case b == 0xF4:
			c = c8F4
		default:
			c = c8Bad
		}
		t[b] = c
	}
	return t
}()

// u8Next is the transition table, flattened to 16x16 and indexed by
// state<<4 | class so that a byte index needs no bounds check.
var u8Next = func() (t [256]uint8) {
	for i := range t {
		t[i] = u8Reject
	}
	set := func(s uint8, c int, next uint8) { t[s<<4|uint8(c)] = next }
	set(u8Accept, c8ASCII, u8Accept)
	set(u8Accept, c8Lead2, u8Need1)
	set(u8Accept, c8E0, u8AfterE0)
	set(u8Accept, c8Lead3, u8Need2)
	set(u8Accept, c8ED, u8AfterED)
	set(u8Accept, c8F0, u8AfterF0)
	set(u8Accept, c8Lead4, u8Need3)
	set(u8Accept, c8F4, u8AfterF4)
	for _, c := range []int{c8Cont8, c8Cont9, c8ContA} {
		set(u8Need1, c, u8Accept)
		set(u8Need2, c, u8Need1)
		set(u8Need3, c, u8Need2)
	}
	set(u8AfterE0, c8ContA, u8Need1)
	set(u8AfterED, c8Cont8, u8Need1)
	set(u8AfterED, c8Cont9, u8Need1)
	set(u8AfterF0, c8Cont9, u8Need2)
	set(u8AfterF0, c8ContA, u8Need2)
	set(u8AfterF4, c8Cont8, u8Need2)
	return t
}()

func u8Step(s, b byte) byte { return u8Next[s<<4|u8Class[b]] }

// Write feeds p to the validator. It returns false as soon as the bytes seen
// since the last Reset cannot be the beginning of valid UTF-8, and keeps
// returning false until Reset.
func (u *UTF8) Write(p []byte) bool {
	s := u.state
	// Finish a character left open by the previous Write (at most 3 bytes).
	i := 0
	for s > u8Reject && i < len(p) {
		s = u8Step(s, p[i])
		i++
	}
	if s != u8Accept || i == len(p) {
		u.state = s
		return s != u8Reject
	}
	p = p[i:]
	// At a boundary: every byte that is not a continuation byte starts a
	// character in valid UTF-8, so cut before the last such byte; the part
	// before the cut must be complete (checked by the fast utf8.Valid) and
	// the short rest may end in an unfinished character (checked by the DFA).
	cut := -1
	for j := len(p) - 1; j >= 0 && j >= len(p)-4; j-- {
		if p[j]&0xC0 != 0x80 {
			cut = j
			break
		}
	}
	if cut < 0 {
		if len(p) >= 4 { // four continuation bytes in a row: never valid
			u.state = u8Reject
			return false
		}
		cut = 0
	}
	if !utf8.Valid(p[:cut]) {
		u.state = u8Reject
		return false
	}
	for _, b := range p[cut:] {
		s = u8Step(s, b)
	}
	u.state = s
	return s != u8Reject
}

// Complete reports whether everything written since the last Reset is valid
// UTF-8 ending at a character boundary.
func (u *UTF8) Complete() bool { return u.state == u8Accept }

// Failed reports whether a Write has already returned false.
func (u *UTF8) Failed() bool { return u.state == u8Reject }

// Reset starts a new text.
func (u *UTF8) Reset() { u.state = u8Accept }
