package auth

import (
	"crypto"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestPyJWTTokens verifies tokens minted by PyJWT for every algorithm
// family, and checks every claim comes out as sent.
func TestPyJWTTokens(t *testing.T) {
	k := getKeys(t)
	exp := unix(time.Hour)
	payload := map[string]any{
		"sub": "user-42", "exp": exp, "iat": unix(0), "aud": "app", "iss": "backend",
		"channels": []string{"news", "notifications#user-42"},
		"info":     map[string]any{"name": "Ann"},
	}
	type tc struct {
		alg  string
		priv crypto.PrivateKey // nil: HMAC
		pub  crypto.PublicKey
	}
	cases := []tc{
		{"HS256", nil, nil}, {"HS384", nil, nil}, {"HS512", nil, nil},
		{"RS256", k.rsa, &k.rsa.PublicKey}, {"RS512", k.rsa, &k.rsa.PublicKey},
		{"PS256", k.rsa, &k.rsa.PublicKey},
		{"ES256", k.ec256, &k.ec256.PublicKey}, {"ES384", k.ec384, &k.ec384.PublicKey},
		{"EdDSA", k.ed, k.ed.Public()},
	}
	var items []mintItem
	for _, c := range cases {
		it := mintItem{Alg: c.alg, Payload: payload}
		if c.priv == nil {
			it.Secret = testSecret
		} else {
			it.KeyFile = privatePEMFile(t, c.priv)
		}
		items = append(items, it)
	}
	// Refusals minted independently too: expired, other audience, nbf ahead.
	expired := map[string]any{"sub": "u", "exp": unix(-time.Hour), "aud": "app", "iss": "backend"}
	otherAud := map[string]any{"sub": "u", "exp": exp, "aud": "other", "iss": "backend"}
	future := map[string]any{"sub": "u", "exp": exp, "nbf": unix(time.Hour), "aud": "app", "iss": "backend"}
	items = append(items,
		mintItem{Alg: "HS256", Secret: testSecret, Payload: expired},
		mintItem{Alg: "HS256", Secret: testSecret, Payload: otherAud},
		mintItem{Alg: "ES256", KeyFile: items[6].KeyFile, Payload: future},
		mintItem{Alg: "HS256", Secret: "another-secret-of-at-least-32-bytes", Payload: payload},
	)
	toks := pyMint(t, items)

	for i, c := range cases {
		t.Run(c.alg, func(t *testing.T) {
			cfg := Config{Audience: "app", Issuer: "backend"}
			if c.priv == nil {
				cfg.HMACSecret = []byte(testSecret)
			} else {
				cfg.PublicKeyPEM = publicPEM(t, c.pub)
			}
			got, err := newVerifier(t, cfg).Verify(bg, toks[i])
			if err != nil {
				t.Fatalf("PyJWT %s token refused: %v", c.alg, err)
			}
			if got.User != "user-42" || got.Expires.Unix() != exp || string(got.Info) != `{"name":"Ann"}` ||
				!slices.Equal(got.Channels, []string{"news", "notifications#user-42"}) || got.Channel != "" {
				t.Errorf("claims %+v", got)
			}
		})
	}
	hs := newVerifier(t, Config{HMACSecret: []byte(testSecret), Audience: "app", Issuer: "backend"})
	es := newVerifier(t, Config{PublicKeyPEM: publicPEM(t, &k.ec256.PublicKey), Audience: "app", Issuer: "backend"})
	for _, r := range []struct {
		name string
		v    *Verifier
		tok  string
		want error
	}{
		{"expired", hs, toks[len(cases)], ErrExpired},
		{"other audience", hs, toks[len(cases)+1], ErrInvalid},
		{"nbf ahead", es, toks[len(cases)+2], ErrInvalid},
		{"other secret", hs, toks[len(cases)+3], ErrInvalid},
	} {
		if _, err := r.v.Verify(bg, r.tok); !errors.Is(err, r.want) {
			t.Errorf("PyJWT %s: got %v, want %v", r.name, err, r.want)
		}
	}
}
