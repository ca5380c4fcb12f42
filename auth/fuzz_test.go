package auth

import (
	"errors"
	"testing"
)

// fuzzSecret is fixed so the seed corpus stays valid across runs.
const fuzzSecret = "fuzz-secret-of-at-least-32-bytes-long"

// FuzzVerify: any string gives either claims with a user or exactly one kind
// of error; never a panic. The seeds (testdata/fuzz/FuzzVerify) include a
// valid HS256 token without exp, so the fuzzer mutates past the signature
// check into the claims decoding.
func FuzzVerify(f *testing.F) {
	f.Add(handmade(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"u1","channels":["a","b#u1"],"info":{"n":[1,2,{"x":null}]}}`, []byte(fuzzSecret), ""))
	f.Add(handmade(`{"alg":"none"}`, `{"sub":"u1"}`, nil, ""))
	f.Add("a.b.c")
	v, err := NewVerifier(Config{HMACSecret: []byte(fuzzSecret), Audience: "", Leeway: 0})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Verify(bg, tok)
		if err == nil {
			if c.User == "" || c.Channel != "" {
				t.Fatalf("accepted %+v", c)
			}
			return
		}
		n := 0
		for _, k := range []error{ErrInvalid, ErrExpired, ErrUnavailable, ErrWrongUser} {
			if errors.Is(err, k) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("error %v matches %d kinds", err, n)
		}
	})
}
