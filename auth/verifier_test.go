package auth

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestRefusals is every refused token, each with the kind of error the
// server maps to its answer (401 / close 4001 / 503 / PERMISSION_DENIED).
func TestRefusals(t *testing.T) {
	k := getKeys(t)
	secret := []byte(testSecret)
	rsaPEM := publicPEM(t, &k.rsa.PublicKey)
	hs := newVerifier(t, Config{HMACSecret: secret, Audience: "app", Issuer: "backend", Leeway: 5 * time.Second})
	rs := newVerifier(t, Config{PublicKeyPEM: rsaPEM})
	both := newVerifier(t, Config{PublicKeyPEM: rsaPEM, HMACSecret: secret})
	es := newVerifier(t, Config{PublicKeyPEM: publicPEM(t, &k.ec256.PublicKey)})
	hsNoAud := newVerifier(t, Config{HMACSecret: secret})

	ok := jwt.MapClaims{"sub": "u1", "exp": unix(time.Hour), "aud": "app", "iss": "backend"}
	with := func(kv ...any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range ok {
			c[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	hsTok := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, secret, c, nil) }
	good := hsTok(ok)
	forged := good[:len(good)-4] + "AAAA"
	if forged == good {
		forged = good[:len(good)-4] + "BBBB"
	}
	nested := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	bigHeader := `{"alg":"HS256","x":"` + strings.Repeat("h", 2000) + `"}`

	for _, c := range []struct {
		name string
		v    *Verifier
		tok  string
		want error
	}{
		{"control: good HS256", hs, good, nil},
		{"control: leeway covers a just-expired exp", hs, hsTok(with("exp", unix(-2*time.Second))), nil},
		{"control: leeway covers a nbf just ahead", hs, hsTok(with("nbf", unix(2*time.Second))), nil},
		{"control: no aud needed when none is configured", hsNoAud, hsTok(with("aud", nil)), nil},
		{"control: both keys, RS256", both, sign(t, jwt.SigningMethodRS256, k.rsa, ok, nil), nil},

		{"alg none", hs, handmade(`{"alg":"none","typ":"JWT"}`, `{"sub":"u1","aud":"app","iss":"backend"}`, nil, ""), ErrInvalid},
		{"alg None", hs, handmade(`{"alg":"None"}`, `{"sub":"u1","aud":"app","iss":"backend"}`, nil, ""), ErrInvalid},
		{"alg none with a signature", hs, handmade(`{"alg":"none"}`, `{"sub":"u1","aud":"app","iss":"backend"}`, secret, ""), ErrInvalid},
		{"HMAC signed with the public key (confusion)", rs, handmade(`{"alg":"HS256"}`, `{"sub":"u1"}`, rsaPEM, ""), ErrInvalid},
		{"HMAC signed with the public key, secret also set", both, handmade(`{"alg":"HS256"}`, `{"sub":"u1"}`, rsaPEM, ""), ErrInvalid},
		{"RS256 token, ECDSA key", es, sign(t, jwt.SigningMethodRS256, k.rsa, ok, nil), ErrInvalid},
		{"ES384 token, P-256 key", es, sign(t, jwt.SigningMethodES384, k.ec384, ok, nil), ErrInvalid},
		{"EdDSA token, RSA key", rs, sign(t, jwt.SigningMethodEdDSA, k.ed, ok, nil), ErrInvalid},
		{"RS256 by another key", rs, sign(t, jwt.SigningMethodRS256, k.rsa2, ok, nil), ErrInvalid},
		{"HS256 without a secret", rs, good, ErrInvalid},
		{"forged signature", hs, forged, ErrInvalid},
		{"other secret", hs, sign(t, jwt.SigningMethodHS256, []byte("another-secret-that-is-32-bytes-long"), ok, nil), ErrInvalid},
		{"unknown alg", hs, handmade(`{"alg":"HS1024"}`, `{"sub":"u1"}`, secret, ""), ErrInvalid},

		{"wrong aud", hs, hsTok(with("aud", "other")), ErrInvalid},
		{"no aud", hs, hsTok(with("aud", nil)), ErrInvalid},
		{"aud list without ours", hs, hsTok(with("aud", []string{"x", "y"})), ErrInvalid},
		{"wrong iss", hs, hsTok(with("iss", "evil")), ErrInvalid},
		{"nbf in the future", hs, hsTok(with("nbf", unix(time.Minute))), ErrInvalid},
		{"expired", hs, hsTok(with("exp", unix(-time.Minute))), ErrExpired},
		{"expired and wrong aud is invalid", hs, hsTok(with("exp", unix(-time.Minute), "aud", "x")), ErrInvalid},
		{"expired and forged is invalid", hs, func() string { s := hsTok(with("exp", unix(-time.Minute))); return s[:len(s)-4] + "AAAA" }(), ErrInvalid},
		{"exp is a string", hs, hsTok(with("exp", "tomorrow")), ErrInvalid},
		{"missing sub", hs, hsTok(with("sub", nil)), ErrInvalid},
		{"empty sub", hs, hsTok(with("sub", "")), ErrInvalid},
		{"sub is a number", hs, hsTok(with("sub", 42)), ErrInvalid},
		{"subscription token used to connect", hs, hsTok(with("channel", "news")), ErrInvalid},

		{"empty", hs, "", ErrInvalid},
		{"one segment", hs, "abc", ErrInvalid},
		{"two segments", hs, "abc.def", ErrInvalid},
		{"four segments", hs, good + ".x", ErrInvalid},
		{"bad base64", hs, "!!!." + strings.SplitN(good, ".", 2)[1], ErrInvalid},
		{"padded base64", hs, strings.Replace(good, ".", "=.", 1), ErrInvalid},
		{"header not JSON", hs, handmade(`{alg:HS256}`, `{"sub":"u1"}`, secret, ""), ErrInvalid},
		{"payload not JSON", hs, handmade(`{"alg":"HS256"}`, `sub=u1`, secret, ""), ErrInvalid},
		{"payload an array", hs, handmade(`{"alg":"HS256"}`, `["u1"]`, secret, ""), ErrInvalid},
		{"huge header", hs, handmade(bigHeader, `{"sub":"u1"}`, secret, ""), ErrInvalid},
		{"JSON bomb over the size cap", hs, handmade(`{"alg":"HS256"}`, `{"sub":"u1","info":`+nested+`}`, secret, ""), ErrInvalid},
		{"100 KB token", hs, "eyJhbGciOiJIUzI1NiJ9." + strings.Repeat("A", 100<<10) + ".sig", ErrInvalid},
		{"100 KB without dots", hs, strings.Repeat("A", 100<<10), ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			claims, err := c.v.Verify(bg, c.tok)
			if c.want == nil {
				if err != nil || claims.User != "u1" {
					t.Fatalf("refused a good token: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			kinds := 0
			for _, k := range []error{ErrInvalid, ErrExpired, ErrUnavailable, ErrWrongUser} {
				if errors.Is(err, k) {
					kinds++
				}
			}
			if kinds != 1 {
				t.Errorf("%v matches %d kinds, want 1", err, kinds)
			}
			for _, seg := range strings.Split(c.tok, ".") {
				if len(seg) >= 8 && strings.Contains(err.Error(), seg) {
					t.Errorf("error message %q contains part of the token", err)
				}
			}
		})
	}
}

// TestJSONDepthBound: with the size cap raised, a deeply nested claim is
// refused by the decoder's depth limit instead of exhausting the stack.
func TestJSONDepthBound(t *testing.T) {
	v := newVerifier(t, Config{HMACSecret: []byte(testSecret), MaxTokenSize: 1 << 20})
	deep := strings.Repeat("[", 200000) + strings.Repeat("]", 200000)
	tok := handmade(`{"alg":"HS256"}`, `{"sub":"u1","info":`+deep+`}`, []byte(testSecret), "")
	if _, err := v.Verify(bg, tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
}

func TestSubscriptionAndRefresh(t *testing.T) {
	secret := []byte(testSecret)
	v := newVerifier(t, Config{HMACSecret: secret})
	exp := unix(time.Hour)
	sub := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "42", "channel": "private:room", "exp": exp}, nil)
	conn := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "42", "exp": exp}, nil)
	expiredSub := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "42", "channel": "private:room", "exp": unix(-time.Hour)}, nil)

	if c, err := v.VerifySubscription(bg, sub, "42", "private:room"); err != nil || c.Channel != "private:room" {
		t.Fatalf("good subscription token: %+v %v", c, err)
	}
	for _, c := range []struct {
		name, tok, user, channel string
		want                     error
	}{
		{"another user", sub, "43", "private:room", ErrWrongUser},
		{"another channel", sub, "42", "private:other", ErrWrongUser},
		{"a connection token", conn, "42", "private:room", ErrInvalid},
		{"expired", expiredSub, "42", "private:room", ErrExpired},
		{"garbage", "x.y.z", "42", "private:room", ErrInvalid},
	} {
		if _, err := v.VerifySubscription(bg, c.tok, c.user, c.channel); !errors.Is(err, c.want) {
			t.Errorf("subscription, %s: got %v, want %v", c.name, err, c.want)
		}
	}

	newer := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "42", "exp": unix(2 * time.Hour)}, nil)
	if c, err := v.VerifyRefresh(bg, newer, "42"); err != nil || c.Expires.Unix() != unix(2*time.Hour) {
		t.Fatalf("refresh: %+v %v", c, err)
	}
	if _, err := v.VerifyRefresh(bg, newer, "43"); !errors.Is(err, ErrWrongUser) {
		t.Errorf("refresh for another user: got %v, want ErrWrongUser", err)
	}
}

func TestNewVerifierErrors(t *testing.T) {
	k := getKeys(t)
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no key", Config{}, "no key"},
		{"short secret", Config{HMACSecret: []byte("short")}, "too short"},
		{"not PEM", Config{PublicKeyPEM: []byte("hello")}, "no PEM block"},
		{"private key PEM", Config{PublicKeyPEM: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")}, "not a public key"},
		{"bad JWKS URL", Config{JWKSURL: "ftp://keys"}, "not an http(s) URL"},
		{"negative leeway", Config{HMACSecret: []byte(testSecret), Leeway: -time.Second}, "negative"},
	} {
		if _, err := NewVerifier(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := NewVerifier(Config{PublicKeyPEM: publicPEM(t, &k.ec384.PublicKey)}); err != nil {
		t.Errorf("P-384 key refused: %v", err)
	}
}

// TestIdentitySize pins the per-connection cost docs/auth.md states: a
// *Identity (8 B) plus a 48 B object, plus the user id and info bytes.
func TestIdentitySize(t *testing.T) {
	c := Claims{User: "u1", Expires: time.Unix(1700000000, 0), Info: []byte(`{}`)}
	id := c.Identity()
	if id.User != "u1" || id.Expires != 1700000000 || string(id.Info) != "{}" || !id.ExpiresAt().Equal(c.Expires) {
		t.Fatalf("identity %+v", id)
	}
	if n := identitySize(); n > 48 {
		t.Fatalf("Identity is %d bytes, docs say 48", n)
	}
	allocs := testing.AllocsPerRun(100, func() { _ = c.Identity() })
	if allocs > 1 {
		t.Errorf("Identity() allocates %v times, want 1", allocs)
	}
}

// TestConcurrentVerify: one Verifier shared by many goroutines, as the
// worker pool uses it (run with -race).
func TestConcurrentVerify(t *testing.T) {
	k := getKeys(t)
	v := newVerifier(t, Config{HMACSecret: []byte(testSecret), PublicKeyPEM: publicPEM(t, k.ed.Public())})
	toks := []string{
		sign(t, jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "a"}, nil),
		sign(t, jwt.SigningMethodEdDSA, k.ed, jwt.MapClaims{"sub": "b"}, nil),
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				tok := toks[(g+i)%2]
				c, err := v.Verify(bg, tok)
				if err != nil || (c.User != "a" && c.User != "b") {
					t.Errorf("goroutine %d: %+v %v", g, c, err)
					return
				}
				if _, err := v.Verify(bg, tok+"x"); !errors.Is(err, ErrInvalid) {
					t.Errorf("goroutine %d: forged accepted: %v", g, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
