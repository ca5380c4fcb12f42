package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwk writes a public key as a JWK by hand (RFC 7518 section 6), so the test
// does not use the decoding library to produce what it decodes.
func jwk(kid, alg string, pub crypto.PublicKey) map[string]any {
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	m := map[string]any{"kid": kid, "use": "sig"}
	if alg != "" {
		m["alg"] = alg
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64(k.N.Bytes()), b64(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		pt, err := k.Bytes() // 0x04 || X || Y, each coordinate at the curve's size
		if err != nil {
			panic(err)
		}
		size := (len(pt) - 1) / 2
		m["kty"], m["crv"], m["x"], m["y"] = "EC", k.Curve.Params().Name, b64(pt[1:1+size]), b64(pt[1+size:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64(k)
	}
	return m
}

// keyServer is a live JWKS endpoint whose answer the test changes.
type keyServer struct {
	*httptest.Server
	mu    sync.Mutex
	body  []byte
	code  int
	delay time.Duration
	hits  atomic.Int64
}

func newKeyServer(t *testing.T, keys ...map[string]any) *keyServer {
	ks := &keyServer{code: 200}
	ks.set(keys...)
	ks.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.hits.Add(1)
		ks.mu.Lock()
		body, code, delay := ks.body, ks.code, ks.delay
		ks.mu.Unlock()
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write(body)
	}))
	t.Cleanup(ks.Close)
	return ks
}

func (ks *keyServer) set(keys ...map[string]any) {
	b, _ := json.Marshal(map[string]any{"keys": keys})
	ks.answer(200, b, 0)
}

func (ks *keyServer) answer(code int, body []byte, delay time.Duration) {
	ks.mu.Lock()
	ks.code, ks.body, ks.delay = code, body, delay
	ks.mu.Unlock()
}

func rsTok(t testing.TB, key *rsa.PrivateKey, kid string) string {
	return sign(t, jwt.SigningMethodRS256, key, jwt.MapClaims{"sub": "u1", "exp": unix(time.Hour)}, map[string]any{"kid": kid})
}

// waitKeys waits for the background first fetch.
func waitKeys(t *testing.T, v *Verifier, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); v.JWKSStats().Keys != n; {
		if time.Now().After(deadline) {
			t.Fatalf("JWKS not loaded: %+v", v.JWKSStats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJWKSRotation(t *testing.T) {
	k := getKeys(t)
	ks := newKeyServer(t, jwk("a", "RS256", &k.rsa.PublicKey), jwk("e", "", &k.ec256.PublicKey), jwk("d", "", k.ed.Public()))
	// The rate limit runs on a clock the test steps, so a slow machine cannot
	// let the minimum interval pass between two checks.
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	v := newVerifier(t, Config{JWKSURL: ks.URL, JWKSMinInterval: 100 * time.Millisecond, JWKSRefresh: time.Hour, Now: now})

	// A first token may come before the background fetch ends: it waits for it.
	if _, err := v.Verify(bg, rsTok(t, k.rsa, "a")); err != nil {
		t.Fatalf("key a: %v", err)
	}
	for _, tok := range []string{
		sign(t, jwt.SigningMethodES256, k.ec256, jwt.MapClaims{"sub": "u1"}, map[string]any{"kid": "e"}),
		sign(t, jwt.SigningMethodEdDSA, k.ed, jwt.MapClaims{"sub": "u1"}, map[string]any{"kid": "d"}),
	} {
		if _, err := v.Verify(bg, tok); err != nil {
			t.Fatalf("EC/Ed key from the JWKS: %v", err)
		}
	}
	if n := ks.hits.Load(); n != 1 {
		t.Fatalf("%d fetches for known kids, want 1", n)
	}

	// Rotation: the server now has b only. A token naming b fetches once.
	ks.set(jwk("b", "RS256", &k.rsa2.PublicKey))
	clock.Add(int64(150 * time.Millisecond)) // past the minimum interval
	if _, err := v.Verify(bg, rsTok(t, k.rsa2, "b")); err != nil {
		t.Fatalf("key b after rotation: %v", err)
	}
	if n := ks.hits.Load(); n != 2 {
		t.Fatalf("%d fetches after rotation, want 2", n)
	}
	// a is gone: refused as invalid, and no fetch inside the interval.
	if _, err := v.Verify(bg, rsTok(t, k.rsa, "a")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("rotated-out key a: got %v, want ErrInvalid", err)
	}
	if n := ks.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want still 2 (rate limited)", n)
	}
	// A kid/alg mismatch against a JWKS key with alg RS256.
	ps := sign(t, jwt.SigningMethodPS256, k.rsa2, jwt.MapClaims{"sub": "u1"}, map[string]any{"kid": "b"})
	if _, err := v.Verify(bg, ps); !errors.Is(err, ErrInvalid) {
		t.Fatalf("PS256 with an RS256 JWK: got %v, want ErrInvalid", err)
	}
	// No kid at all: a JWKS key cannot be chosen.
	nokid := sign(t, jwt.SigningMethodRS256, k.rsa2, jwt.MapClaims{"sub": "u1"}, nil)
	if _, err := v.Verify(bg, nokid); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no kid: got %v, want ErrInvalid", err)
	}
}

// TestJWKSFlood: thousands of tokens with random kids from many goroutines
// make at most one fetch per minimum interval, and concurrent askers share
// one fetch.
func TestJWKSFlood(t *testing.T) {
	k := getKeys(t)
	ks := newKeyServer(t, jwk("a", "", k.ed.Public()))
	const interval = 200 * time.Millisecond
	v := newVerifier(t, Config{JWKSURL: ks.URL, JWKSMinInterval: interval, JWKSRefresh: time.Hour})
	waitKeys(t, v, 1)
	ks.answer(200, ks.body, 50*time.Millisecond) // slow enough for askers to pile onto one fetch

	start := time.Now()
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for g := range 16 {
		wg.Go(func() {
			for i := range 40 {
				tok := sign(t, jwt.SigningMethodEdDSA, k.ed, jwt.MapClaims{"sub": "u1"}, map[string]any{"kid": fmt.Sprintf("random-%d-%d", g, i)})
				_, err := v.Verify(bg, tok)
				if !errors.Is(err, ErrInvalid) {
					wrong.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if wrong.Load() != 0 {
		t.Errorf("%d random kids were not refused as invalid", wrong.Load())
	}
	bound := 1 + int64(elapsed/interval) + 1 // the first fetch, then one per interval
	t.Logf("%d fetches in %v (bound %d)", ks.hits.Load(), elapsed, bound)
	if n := ks.hits.Load(); n > bound {
		t.Errorf("%d fetches in %v with a %v interval, want at most %d", n, elapsed, interval, bound)
	}
	if _, err := v.Verify(bg, sign(t, jwt.SigningMethodEdDSA, k.ed, jwt.MapClaims{"sub": "u1"}, map[string]any{"kid": "a"})); err != nil {
		t.Errorf("the real key after the flood: %v", err)
	}
}

func TestJWKSServerDown(t *testing.T) {
	k := getKeys(t)
	ks := newKeyServer(t)
	ks.answer(500, []byte("oops"), 0)
	v := newVerifier(t, Config{JWKSURL: ks.URL, JWKSMinInterval: 50 * time.Millisecond, JWKSRefresh: time.Hour})
	tok := rsTok(t, k.rsa, "a")
	if _, err := v.Verify(bg, tok); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("key server down: got %v, want ErrUnavailable", err)
	}
	// It comes back: the background retry (or the next kid miss) loads the keys.
	ks.set(jwk("a", "", &k.rsa.PublicKey))
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := v.Verify(bg, tok)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after the key server came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestJWKSBadAnswersKeepKeys: a refresh that fails (garbage, huge, slow,
// no usable key, 404) keeps the keys held; a new kid meanwhile is
// ErrUnavailable (the set could not be checked), not ErrInvalid.
func TestJWKSBadAnswersKeepKeys(t *testing.T) {
	k := getKeys(t)
	good := jwk("a", "", &k.rsa.PublicKey)
	for _, c := range []struct {
		name  string
		code  int
		body  string
		delay time.Duration
	}{
		{"garbage", 200, "<html>not json</html>", 0},
		{"not a set", 200, `{"keys":"nope"}`, 0},
		{"no usable key", 200, `{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"},{"kty":"RSA","kid":"x","use":"enc","n":"AQAB","e":"AQAB"}]}`, 0},
		{"huge body", 200, `{"keys":[` + strings.Repeat(" ", 2<<20) + `]}`, 0},
		{"not found", 404, "", 0},
		{"slow", 200, "{}", 3 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			ks := newKeyServer(t, good)
			v := newVerifier(t, Config{JWKSURL: ks.URL, JWKSMinInterval: time.Millisecond, JWKSRefresh: time.Hour, JWKSTimeout: 300 * time.Millisecond})
			waitKeys(t, v, 1)
			ks.answer(c.code, []byte(c.body), c.delay)
			time.Sleep(5 * time.Millisecond)
			start := time.Now()
			if _, err := v.Verify(bg, rsTok(t, k.rsa2, "new")); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("new kid during a bad refresh: got %v, want ErrUnavailable", err)
			}
			// Against the slow server, Verify must give up at the fetch
			// timeout, not wait for the answer.
			if d := time.Since(start); c.delay > 0 && d >= c.delay {
				t.Errorf("Verify waited %v for a %v answer; the fetch is bounded by the 300ms timeout", d, c.delay)
			}
			if _, err := v.Verify(bg, rsTok(t, k.rsa, "a")); err != nil {
				t.Fatalf("held key after a bad refresh: %v", err)
			}
			if st := v.JWKSStats(); st.Failures == 0 || st.Keys != 1 {
				t.Errorf("stats %+v, want a failure and the key kept", st)
			}
		})
	}
}

// TestJWKSContextBoundsWait: the caller's context ends the wait for a slow
// fetch, and Close does not wait for the fetch to time out.
func TestJWKSContextBoundsWait(t *testing.T) {
	k := getKeys(t)
	ks := newKeyServer(t, jwk("a", "", &k.rsa.PublicKey))
	ks.answer(200, ks.body, 10*time.Second)
	v, err := NewVerifier(Config{JWKSURL: ks.URL, JWKSTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := v.Verify(ctx, rsTok(t, k.rsa, "a")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Verify waited %v past its 100ms context", d)
	}
	start = time.Now()
	v.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v with a fetch in flight", d)
	}
}

func TestDecodeJWKSSkips(t *testing.T) {
	k := getKeys(t)
	short, _ := rsa.GenerateKey(randReader{}, 1024)
	doc, _ := json.Marshal(map[string]any{"keys": []any{
		jwk("ok", "", &k.rsa.PublicKey),
		jwk("", "", &k.rsa.PublicKey),              // no kid
		jwk("short", "", &short.PublicKey),         // 1024 bits
		jwk("mismatch", "ES256", &k.rsa.PublicKey), // alg not for the key
		map[string]any{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
		map[string]any{"kty": "XYZ", "kid": "weird"},
		jwk("ok", "", &k.rsa2.PublicKey), // duplicate kid
	}})
	m, skipped, err := decodeJWKS(doc)
	if err != nil || len(m) != 1 || skipped != 6 {
		t.Fatalf("kept %d, skipped %d, err %v; want 1, 6, nil", len(m), skipped, err)
	}
}
