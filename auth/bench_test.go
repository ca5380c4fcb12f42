package auth

import (
	"crypto"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkVerify is the cost of one connection token per algorithm, with
// the claims wsedge reads (sub, exp, aud, iss, channels, info).
//
//	go test -run '^$' -bench Verify -benchmem ./auth
func BenchmarkVerify(b *testing.B) {
	k := getKeys(b)
	claims := jwt.MapClaims{
		"sub": "user-42", "exp": unix(24 * time.Hour), "aud": "app", "iss": "backend",
		"channels": []string{"news", "notifications#user-42"}, "info": map[string]any{"name": "Ann", "role": "admin"},
	}
	for _, c := range []struct {
		name string
		m    jwt.SigningMethod
		priv crypto.PrivateKey
		pub  crypto.PublicKey
	}{
		{"HS256", jwt.SigningMethodHS256, []byte(testSecret), nil},
		{"RS256", jwt.SigningMethodRS256, k.rsa, &k.rsa.PublicKey},
		{"PS256", jwt.SigningMethodPS256, k.rsa, &k.rsa.PublicKey},
		{"ES256", jwt.SigningMethodES256, k.ec256, &k.ec256.PublicKey},
		{"EdDSA", jwt.SigningMethodEdDSA, k.ed, k.ed.Public()},
	} {
		cfg := Config{Audience: "app", Issuer: "backend"}
		if c.pub == nil {
			cfg.HMACSecret = []byte(testSecret)
		} else {
			cfg.PublicKeyPEM = publicPEM(b, c.pub)
		}
		v := newVerifier(b, cfg)
		tok := sign(b, c.m, c.priv, claims, nil)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(bg, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyOversized: a 100 KB token costs a length check.
func BenchmarkVerifyOversized(b *testing.B) {
	v := newVerifier(b, Config{HMACSecret: []byte(testSecret)})
	tok := string(make([]byte, 100<<10))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(bg, tok); err == nil {
			b.Fatal("accepted")
		}
	}
}
