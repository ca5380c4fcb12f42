package server

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// writePEM writes a key to a file of the test's and returns its path.
func writePEM(t testing.TB, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), strings.ReplaceAll(strings.ToLower(typ), " ", "-")+".pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// keyPair is a private key file for PyJWT and the public key file for the
// node.
func keyPair(t testing.TB, priv crypto.Signer) (privFile, pubFile string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, "PRIVATE KEY", der), writePEM(t, "PUBLIC KEY", pub)
}

// TestPyJWTTokens: tokens minted by PyJWT for every algorithm family, at
// the upgrade and with connect, each on a node with the matching key; and
// each refused by a node holding another key.
func TestPyJWTTokens(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaPriv, rsaPub := keyPair(t, rsaKey)
	ecPriv, ecPub := keyPair(t, ecKey)
	ec384Priv, ec384Pub := keyPair(t, ec384)
	edPriv, edPub := keyPair(t, edKey)
	payload := map[string]any{"sub": "py", "exp": time.Now().Add(time.Hour).Unix(), "info": map[string]any{"lib": "PyJWT"}}
	cases := []struct {
		alg, secret, priv, pub, wrongPub string
	}{
		{alg: "HS256", secret: idSecret}, {alg: "HS384", secret: idSecret}, {alg: "HS512", secret: idSecret},
		{alg: "RS256", priv: rsaPriv, pub: rsaPub, wrongPub: ecPub}, {alg: "RS512", priv: rsaPriv, pub: rsaPub, wrongPub: edPub},
		{alg: "PS256", priv: rsaPriv, pub: rsaPub, wrongPub: ecPub},
		{alg: "ES256", priv: ecPriv, pub: ecPub, wrongPub: ec384Pub}, {alg: "ES384", priv: ec384Priv, pub: ec384Pub, wrongPub: ecPub},
		{alg: "EdDSA", priv: edPriv, pub: edPub, wrongPub: rsaPub},
	}
	var items []mintItem
	for _, c := range cases {
		items = append(items, mintItem{Alg: c.alg, Secret: c.secret, KeyFile: c.priv, Payload: payload})
	}
	toks := pyMint(t, items)
	for i, c := range cases {
		t.Run(c.alg, func(t *testing.T) {
			o := idOptions()
			o.JWTHMACSecret = c.secret
			o.JWTPublicKey = c.pub
			s := startIDServer(t, o)
			_, _, _, upg := upgradeWith(t, s, "/ws", bearer(toks[i]))
			if got := upg.roundTrip(`{"type":"whoami","id":"1"}`); !strings.Contains(got, `"user":"py"`) || !strings.Contains(got, `"info":{"lib":"PyJWT"}`) {
				t.Fatalf("at the upgrade: %s", got)
			}
			_, _, _, con := upgradeWith(t, s, "/ws", "")
			if got := con.roundTrip(`{"type":"connect","id":"c","token":"` + toks[i] + `"}`); !strings.Contains(got, `"user":"py"`) {
				t.Fatalf("connect: %s", got)
			}
			if c.wrongPub == "" {
				return
			}
			o.JWTPublicKey = c.wrongPub
			o.JWTHMACSecret = idSecret // algorithm confusion: HS* is only ever checked against the secret
			other := startIDServer(t, o)
			if status, _, body, _ := upgradeWith(t, other, "/ws", bearer(toks[i])); status != 401 {
				t.Fatalf("another key: %d %q", status, body)
			}
		})
	}
}

// jwksServer serves a JSON Web Key Set that the test can replace, and counts
// the fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetches atomic.Int64
	down    atomic.Bool
}

func newJWKSServer(t testing.TB) *jwksServer {
	j := &jwksServer{}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.fetches.Add(1)
		if j.down.Load() {
			w.WriteHeader(503)
			return
		}
		j.mu.Lock()
		set := jose.JSONWebKeySet{Keys: j.keys}
		j.mu.Unlock()
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(j.Close)
	return j
}

func (j *jwksServer) set(keys ...jose.JSONWebKey) {
	j.mu.Lock()
	j.keys = keys
	j.mu.Unlock()
}

// TestJWKSRotation: a node verifying against a live key server follows its
// rotation: a token of a new kid fetches the set again and is accepted; a
// kid taken out of the set is refused after the next refresh; while the
// key server is down an unknown kid is 503, not 401.
func TestJWKSRotation(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk := func(kid string, k crypto.Signer, alg string) jose.JSONWebKey {
		return jose.JSONWebKey{Key: k.Public(), KeyID: kid, Algorithm: alg, Use: "sig"}
	}
	sign := func(m jwt.SigningMethod, kid string, k crypto.Signer, user string) string {
		tok := jwt.NewWithClaims(m, jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = kid
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ks := newJWKSServer(t)
	ks.set(jwk("k1", k1, "RS256"))
	o := testOptions()
	o.JWTJWKSURL = ks.URL
	o.JWTJWKSMinInterval = 100 * time.Millisecond
	o.JWTJWKSRefresh = 300 * time.Millisecond
	s := startIDServer(t, o)

	t1 := sign(jwt.SigningMethodRS256, "k1", k1, "one")
	_, _, _, c1 := upgradeWith(t, s, "/ws", bearer(t1))
	if got := c1.roundTrip(`{"type":"whoami","id":"1"}`); !strings.Contains(got, `"user":"one"`) {
		t.Fatalf("k1: %s", got)
	}
	// Rotation: k2 is added, and a token naming it is accepted at once.
	ks.set(jwk("k1", k1, "RS256"), jwk("k2", k2, "ES256"))
	time.Sleep(150 * time.Millisecond) // past the minimum interval between fetches
	t2 := sign(jwt.SigningMethodES256, "k2", k2, "two")
	if status, _, body, rc := upgradeWith(t, s, "/ws", bearer(t2)); status != 101 {
		t.Fatalf("k2 after the rotation: %d %q", status, body)
	} else if got := rc.roundTrip(`{"type":"whoami","id":"2"}`); !strings.Contains(got, `"user":"two"`) {
		t.Fatalf("k2: %s", got)
	}
	// k1 retired: refused once the set was fetched again.
	ks.set(jwk("k2", k2, "ES256"))
	before := ks.fetches.Load()
	waitFor(t, 5*time.Second, "a scheduled refresh", func() bool { return ks.fetches.Load() > before })
	time.Sleep(50 * time.Millisecond)
	if status, _, body, _ := upgradeWith(t, s, "/ws", bearer(t1)); status != 401 {
		t.Fatalf("retired k1: %d %q", status, body)
	}
	// The key server goes down: known keys still work, an unknown kid is 503.
	ks.down.Store(true)
	time.Sleep(150 * time.Millisecond)
	if status, _, _, _ := upgradeWith(t, s, "/ws", bearer(t2)); status != 101 {
		t.Fatalf("known kid with the key server down: %d", status)
	}
	k3, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if status, hdr, body, _ := upgradeWith(t, s, "/ws", bearer(sign(jwt.SigningMethodES256, "k3", k3, "three"))); status != 503 || hdr.Get("Retry-After") == "" {
		t.Fatalf("unknown kid with the key server down: %d %q", status, body)
	}
}
