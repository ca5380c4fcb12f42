package auth

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestHMACSecretsInterleaved: the HMAC state kept between checks is keyed
// by its secret. Two verifiers with different secrets, checking tokens of
// both in every order from several goroutines, each accept theirs and
// refuse the other's, for the three HMAC algorithms; a signature cut short
// or empty is refused. The tokens are signed by the library's own methods.
func TestHMACSecretsInterleaved(t *testing.T) {
	secrets := []string{testSecret, "another-secret-of-at-least-32-bytes"}
	var vs []*Verifier
	for _, s := range secrets {
		vs = append(vs, newVerifier(t, Config{HMACSecret: []byte(s)}))
	}
	type tok struct {
		s     string
		owner int
	}
	var toks []tok
	for _, m := range []*jwt.SigningMethodHMAC{jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
		for i, s := range secrets {
			toks = append(toks, tok{sign(t, m, []byte(s), jwt.MapClaims{"sub": m.Alg()}, nil), i})
		}
	}
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 60 {
				tk := toks[(g+i)%len(toks)]
				for vi, v := range vs {
					c, err := v.Verify(bg, tk.s)
					if want := vi == tk.owner; want != (err == nil) {
						t.Errorf("verifier %d, token of %d: %+v %v", vi, tk.owner, c, err)
						return
					} else if !want && !errors.Is(err, ErrInvalid) {
						t.Errorf("verifier %d, token of %d: %v, want ErrInvalid", vi, tk.owner, err)
						return
					}
				}
				cut := tk.s[:len(tk.s)-8]
				empty := tk.s[:strings.LastIndexByte(tk.s, '.')+1]
				for _, bad := range []string{cut, empty} {
					if _, err := vs[tk.owner].Verify(bg, bad); !errors.Is(err, ErrInvalid) {
						t.Errorf("signature %q accepted: %v", bad[strings.LastIndexByte(bad, '.'):], err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
