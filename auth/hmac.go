package auth

import (
	"bytes"
	"crypto/hmac"
	"hash"
	"sync"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
)

// hmacMethod verifies HS256/384/512 like the library's SigningMethodHMAC,
// keeping its HMAC state between checks. The library's builds a new HMAC
// per token (two hash states, two pads, a copy of the signing input and of
// the sum: about 0.9 KB of garbage, a third of a check's), and a token check
// runs once per connection: during a ramp of new connections that garbage
// interleaves with the connections' long-lived objects and stays as holes in
// their spans (issue 19). BenchmarkVerify/HS256 shows the difference.
//
// init registers it with the library for the three algorithms (the library
// looks methods up by alg, process-wide); signing is left to the library's.
type hmacMethod struct {
	*jwt.SigningMethodHMAC
	states sync.Pool // *hmacState
}

// hmacState is one HMAC keyed with key, and room for its sum.
type hmacState struct {
	key []byte
	mac hash.Hash
	sum []byte
}

func init() {
	for _, m := range []*jwt.SigningMethodHMAC{jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
		hm := &hmacMethod{SigningMethodHMAC: m}
		jwt.RegisterSigningMethod(m.Alg(), func() jwt.SigningMethod { return hm })
	}
}

// Verify reports whether sig is the HMAC of signingString with key ([]byte),
// with the library's errors.
func (m *hmacMethod) Verify(signingString string, sig []byte, key any) error {
	k, ok := key.([]byte)
	switch {
	case !ok:
		return jwt.ErrInvalidKeyType
	case !m.Hash.Available():
		return jwt.ErrHashUnavailable
	}
	st, _ := m.states.Get().(*hmacState)
	if st == nil || !bytes.Equal(st.key, k) {
		// The first check, or a secret changed by a reload: key a new one
		// (the key compared is the server's, never the client's input).
		st = &hmacState{key: bytes.Clone(k), mac: hmac.New(m.Hash.New, k)}
	} else {
		st.mac.Reset()
	}
	// The hash only reads its input: a view of the string, not a copy.
	st.mac.Write(unsafe.Slice(unsafe.StringData(signingString), len(signingString)))
	st.sum = st.mac.Sum(st.sum[:0])
	good := hmac.Equal(sig, st.sum)
	m.states.Put(st)
	if !good {
		return jwt.ErrSignatureInvalid
	}
	return nil
}
