package auth

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
)

// The claims' dates and audience decode as jwt.NumericDate and
// jwt.ClaimStrings do, without the second json.Unmarshal each of those runs
// on its value (a decoder state and its scratch per claim). The common forms
// (a JSON number for a date, a plain string for aud) are read here; anything
// else is handed to the library's own decoding, so every token means what it
// means to the library (TestClaimsDecodeLikeLibrary).

// date is a NumericDate claim kept by value: set says whether the token had it.
type date struct {
	t   jwt.NumericDate
	set bool
}

// get is the date for the library's validator; nil when absent.
func (d *date) get() *jwt.NumericDate {
	if !d.set {
		return nil
	}
	return &d.t
}

func (d *date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" { // as for RegisteredClaims' *NumericDate: absent
		*d = date{}
		return nil
	}
	if isJSONNumber(b) {
		// The library parses the number's text with the same ParseFloat; an
		// out-of-range one goes to it for its error.
		if f, err := strconv.ParseFloat(unsafe.String(&b[0], len(b)), 64); err == nil {
			*d = date{t: numericDate(f), set: true}
			return nil
		}
	}
	if err := d.t.UnmarshalJSON(b); err != nil {
		return err
	}
	d.set = true
	return nil
}

// numericDate is the library's conversion of seconds (newNumericDateFromSeconds).
func numericDate(f float64) jwt.NumericDate {
	round, frac := math.Modf(f)
	return *jwt.NewNumericDate(time.Unix(int64(round), int64(frac*1e9)))
}

// isJSONNumber reports whether b is exactly a JSON number (encoding/json's
// own check, whose scanner is pooled: no allocation).
func isJSONNumber(b []byte) bool {
	return len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9') && json.Valid(b)
}

// audience is the aud claim: one string or an array of them.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if string(b) == "null" { // as jwt.ClaimStrings: the claim is left as it was
		return nil
	}
	// A plain string: no escapes, no control characters, valid UTF-8 (what
	// the JSON decoder would change or refuse goes to the library).
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && plainJSONString(b[1:len(b)-1]) {
		*a = audience{string(b[1 : len(b)-1])}
		return nil
	}
	var cs jwt.ClaimStrings
	if err := cs.UnmarshalJSON(b); err != nil {
		return err
	}
	*a = audience(cs)
	return nil
}

func plainJSONString(s []byte) bool {
	for _, c := range s {
		if c == '\\' || c == '"' || c < 0x20 {
			return false
		}
	}
	return utf8.Valid(s)
}
