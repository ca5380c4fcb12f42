// Package jwtcmp (a module of its own, so the main go.mod keeps only the
// chosen library) compares the verify cost of three Go JWT libraries on the
// same tokens: full parse + signature check + exp/aud/iss validation + the
// custom claims wsedge needs (sub, channels, info as raw JSON).
package jwtcmp

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"
	"time"

	josejose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	gjwt "github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	xjwt "github.com/lestrrat-go/jwx/v3/jwt"
)

type algCase struct {
	name    string
	gm      gjwt.SigningMethod
	signKey any
	verKey  any
	xalg    jwa.SignatureAlgorithm
	josealg josejose.SignatureAlgorithm
	token   string
}

func cases(tb testing.TB) []*algCase {
	secret := []byte("0123456789abcdef0123456789abcdef")
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edk, _ := ed25519.GenerateKey(rand.Reader)
	cs := []*algCase{
		{"HS256", gjwt.SigningMethodHS256, secret, secret, jwa.HS256(), josejose.HS256, ""},
		{"RS256", gjwt.SigningMethodRS256, rk, &rk.PublicKey, jwa.RS256(), josejose.RS256, ""},
		{"ES256", gjwt.SigningMethodES256, ek, &ek.PublicKey, jwa.ES256(), josejose.ES256, ""},
		{"EdDSA", gjwt.SigningMethodEdDSA, edk, edk.Public(), jwa.EdDSA(), josejose.EdDSA, ""},
	}
	now := time.Now()
	for _, c := range cs {
		t := gjwt.NewWithClaims(c.gm, gjwt.MapClaims{
			"sub": "user-42", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
			"aud": "app", "iss": "backend",
			"channels": []string{"news", "notifications#user-42"},
			"info":     map[string]any{"name": "Ann", "role": "admin"},
		})
		s, err := t.SignedString(c.signKey)
		if err != nil {
			tb.Fatal(err)
		}
		c.token = s
	}
	return cs
}

type out struct {
	sub      string
	exp      int64
	channels []string
	info     json.RawMessage
}

// golang-jwt/jwt/v5
type gClaims struct {
	gjwt.RegisteredClaims
	Channels []string        `json:"channels"`
	Info     json.RawMessage `json:"info"`
}

func verifyGolangJWT(p *gjwt.Parser, c *algCase) (out, error) {
	var cl gClaims
	_, err := p.ParseWithClaims(c.token, &cl, func(*gjwt.Token) (any, error) { return c.verKey, nil })
	if err != nil {
		return out{}, err
	}
	return out{cl.Subject, cl.ExpiresAt.Unix(), cl.Channels, cl.Info}, nil
}

// lestrrat-go/jwx/v3, the jwt package
func verifyJWX(c *algCase) (out, error) {
	t, err := xjwt.Parse([]byte(c.token), xjwt.WithKey(c.xalg, c.verKey),
		xjwt.WithAudience("app"), xjwt.WithIssuer("backend"), xjwt.WithAcceptableSkew(5*time.Second),
		xjwt.WithTypedClaim("info", json.RawMessage{}))
	if err != nil {
		return out{}, err
	}
	var o out
	o.sub, _ = t.Subject()
	e, _ := t.Expiration()
	o.exp = e.Unix()
	var ch []any
	if err := t.Get("channels", &ch); err == nil {
		for _, v := range ch {
			s, _ := v.(string)
			o.channels = append(o.channels, s)
		}
	}
	_ = t.Get("info", &o.info)
	return o, nil
}

// lestrrat-go/jwx/v3, jws.Verify then encoding/json and hand checks
type plain struct {
	Sub      string          `json:"sub"`
	Exp      int64           `json:"exp"`
	Aud      any             `json:"aud"`
	Iss      string          `json:"iss"`
	Channels []string        `json:"channels"`
	Info     json.RawMessage `json:"info"`
}

func verifyJWS(c *algCase) (out, error) {
	payload, err := jws.Verify([]byte(c.token), jws.WithKey(c.xalg, c.verKey))
	if err != nil {
		return out{}, err
	}
	var p plain
	if err := json.Unmarshal(payload, &p); err != nil {
		return out{}, err
	}
	return out{p.Sub, p.Exp, p.Channels, p.Info}, nil
}

// go-jose/go-jose/v4
type jClaims struct {
	josejwt.Claims
	Channels []string        `json:"channels"`
	Info     json.RawMessage `json:"info"`
}

func verifyJose(c *algCase) (out, error) {
	t, err := josejwt.ParseSigned(c.token, []josejose.SignatureAlgorithm{c.josealg})
	if err != nil {
		return out{}, err
	}
	var cl jClaims
	if err := t.Claims(c.verKey, &cl); err != nil {
		return out{}, err
	}
	if err := cl.ValidateWithLeeway(josejwt.Expected{Issuer: "backend", AnyAudience: josejwt.Audience{"app"}, Time: time.Now()}, 5*time.Second); err != nil {
		return out{}, err
	}
	return out{cl.Subject, int64(*cl.Expiry), cl.Channels, cl.Info}, nil
}

func TestAllAgree(t *testing.T) {
	for _, c := range cases(t) {
		p := gjwt.NewParser(gjwt.WithValidMethods([]string{c.gm.Alg()}), gjwt.WithAudience("app"), gjwt.WithIssuer("backend"), gjwt.WithLeeway(5*time.Second), gjwt.WithExpirationRequired())
		a, err := verifyGolangJWT(p, c)
		if err != nil {
			t.Fatal(c.name, "golang-jwt", err)
		}
		for name, f := range map[string]func(*algCase) (out, error){"jwx": verifyJWX, "jws": verifyJWS, "jose": verifyJose} {
			b, err := f(c)
			if err != nil {
				t.Fatal(c.name, name, err)
			}
			if a.sub != b.sub || a.exp != b.exp || len(a.channels) != len(b.channels) || string(a.info) != string(b.info) {
				t.Fatalf("%s %s: %+v vs %+v", c.name, name, a, b)
			}
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, c := range cases(b) {
		p := gjwt.NewParser(gjwt.WithValidMethods([]string{c.gm.Alg()}), gjwt.WithAudience("app"), gjwt.WithIssuer("backend"), gjwt.WithLeeway(5*time.Second), gjwt.WithExpirationRequired())
		b.Run(c.name+"/golang-jwt", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := verifyGolangJWT(p, c); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/jwx-jwt", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := verifyJWX(c); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/jwx-jws", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := verifyJWS(c); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/go-jose", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := verifyJose(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
