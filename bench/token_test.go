package bench

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
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

var hmacSecret = []byte("bench-secret-0123456789abcdef0123")

var (
	keysOnce sync.Once
	keys     [3]crypto.Signer // RSA 2048, ECDSA P-256, Ed25519
)

// testKeys are signing settings per algorithm; the keys are made once (an
// RSA key takes a while under the race detector).
func testKeys(t *testing.T) map[string]TokenConfig {
	t.Helper()
	keysOnce.Do(func() {
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		_, edk, _ := ed25519.GenerateKey(rand.Reader)
		keys = [3]crypto.Signer{rk, ek, edk}
	})
	rk, ek, edk := keys[0], keys[1], keys[2]
	return map[string]TokenConfig{
		"HS256": {HMACSecret: hmacSecret},
		"HS512": {HMACSecret: hmacSecret, Alg: "HS512"},
		"RS256": {PrivateKey: rk},
		"PS256": {PrivateKey: rk, Alg: "PS256"},
		"ES256": {PrivateKey: ek},
		"EdDSA": {PrivateKey: edk},
	}
}

// TestMintVerifies: minted tokens verify with the public half of the key
// and carry sub user<n>, exp, aud, iss and kid.
func TestMintVerifies(t *testing.T) {
	for alg, cfg := range testKeys(t) {
		t.Run(alg, func(t *testing.T) {
			cfg.Audience, cfg.Issuer, cfg.KeyID, cfg.Exp = "wsedge", "bench", "k1", time.Minute
			s, err := cfg.mint(42)
			if err != nil {
				t.Fatal(err)
			}
			var claims jwt.RegisteredClaims
			tok, err := jwt.ParseWithClaims(s, &claims, func(tok *jwt.Token) (any, error) {
				if cfg.PrivateKey != nil {
					return cfg.PrivateKey.Public(), nil
				}
				return hmacSecret, nil
			}, jwt.WithValidMethods([]string{alg}), jwt.WithAudience("wsedge"), jwt.WithIssuer("bench"), jwt.WithExpirationRequired())
			if err != nil || !tok.Valid {
				t.Fatalf("verify: %v", err)
			}
			if claims.Subject != "user42" || tok.Header["kid"] != "k1" || time.Until(claims.ExpiresAt.Time) > time.Minute {
				t.Fatalf("claims %+v header %v", claims, tok.Header)
			}
		})
	}
}

func TestTokenConfigValidate(t *testing.T) {
	keys := testKeys(t)
	for _, tc := range []struct {
		name string
		cfg  TokenConfig
		ok   bool
	}{
		{"fixed", TokenConfig{Token: "a.b.c"}, true},
		{"fixed in query", TokenConfig{Token: "a.b.c", In: TokenInQuery}, true},
		{"hmac in connect", TokenConfig{HMACSecret: hmacSecret, In: TokenInConnect}, true},
		{"two sources", TokenConfig{Token: "x", HMACSecret: hmacSecret}, false},
		{"unknown place", TokenConfig{Token: "x", In: "cookie"}, false},
		{"unknown alg", TokenConfig{HMACSecret: hmacSecret, Alg: "HS999"}, false},
		{"rsa alg with a secret", TokenConfig{HMACSecret: hmacSecret, Alg: "RS256"}, false},
		{"hmac alg with a key", TokenConfig{PrivateKey: keys["RS256"].PrivateKey, Alg: "HS256"}, false},
		{"ec key for rsa alg", TokenConfig{PrivateKey: keys["ES256"].PrivateKey, Alg: "RS256"}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestLoadPrivateKey(t *testing.T) {
	keys := testKeys(t)
	for alg, cfg := range keys {
		if cfg.PrivateKey == nil {
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(cfg.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		k, err := LoadPrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		if err != nil || (TokenConfig{PrivateKey: k}).alg() != (TokenConfig{PrivateKey: cfg.PrivateKey}).alg() {
			t.Errorf("%s: %v", alg, err)
		}
	}
	rk := keys["RS256"].PrivateKey.(*rsa.PrivateKey)
	if _, err := LoadPrivateKey(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})); err != nil {
		t.Errorf("PKCS#1: %v", err)
	}
	if _, err := LoadPrivateKey([]byte("not pem")); err == nil {
		t.Error("garbage accepted")
	}
}

// TestMintVerifiesWithPyJWT has an independent implementation (PyJWT,
// Debian's python3-jwt) verify what the client mints.
func TestMintVerifiesWithPyJWT(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import jwt, cryptography").Run(); err != nil {
		t.Skip("Debian's python3-jwt (with python3-cryptography) is not installed")
	}
	keys := testKeys(t)
	for _, alg := range []string{"HS256", "RS256", "ES256"} {
		cfg := keys[alg]
		s, err := cfg.mint(7)
		if err != nil {
			t.Fatal(err)
		}
		key := string(hmacSecret)
		if cfg.PrivateKey != nil {
			der, _ := x509.MarshalPKIXPublicKey(cfg.PrivateKey.Public())
			key = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		}
		out, err := exec.Command(py, "-c", `import jwt, sys; print(jwt.decode(sys.argv[1], sys.argv[2], algorithms=[sys.argv[3]])["sub"])`, s, key, alg).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "user7" {
			t.Errorf("%s: PyJWT says %s %v", alg, out, err)
		}
	}
}

// authServer accepts on /ws only connections whose HS256 token (from the
// Authorization header, the token query parameter, or a first connect
// message) verifies, and records the users it saw.
type authServer struct {
	mu    sync.Mutex
	users map[string]int
}

func (a *authServer) verify(s string) (string, bool) {
	var c jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(s, &c, func(*jwt.Token) (any, error) { return hmacSecret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	return c.Subject, err == nil
}

// seen returns a copy of the users seen so far.
func (a *authServer) seen() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]int, len(a.users))
	for k, v := range a.users {
		m[k] = v
	}
	return m
}

func (a *authServer) saw(user string) {
	a.mu.Lock()
	a.users[user]++
	a.mu.Unlock()
}

func (a *authServer) handle(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	if tok != "" {
		user, ok := a.verify(tok)
		if !ok {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		a.saw(user)
	}
	c, err := testUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	authed := tok != ""
	for {
		_, m, err := c.ReadMessage()
		if err != nil {
			return
		}
		var req struct{ Type, ID, Token string }
		_ = json.Unmarshal(m, &req)
		if !authed {
			user, ok := a.verify(req.Token)
			if req.Type != "connect" || !ok {
				_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "unauthorized"))
				return
			}
			authed = true
			a.saw(user)
			_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"connected","id":"`+req.ID+`","user":"`+user+`"}`))
			continue
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ack","id":"`+req.ID+`"}`))
	}
}

// TestTokensOnTheWire: each place a token can go reaches a verifying
// server, one user per connection; a wrong secret is refused (401).
func TestTokensOnTheWire(t *testing.T) {
	for _, in := range []string{TokenInHeader, TokenInQuery, TokenInConnect} {
		t.Run(in, func(t *testing.T) {
			a := &authServer{users: map[string]int{}}
			tg := startServer(t, "/ws", a.handle)
			sub, _ := ParseSubscriptions("personal")
			r, err := Idle(t.Context(), IdleConfig{
				Common: Common{Target: tg, Token: TokenConfig{HMACSecret: hmacSecret, In: in}},
				Conns:  30, Hold: 10 * time.Millisecond, Subscribe: sub,
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.Held != 30 || r.Subscribed != 30 || r.Token != "HS256 in "+in {
				t.Fatalf("%+v", r)
			}
			if u := a.seen(); len(u) != 30 || u["user0"] != 1 || u["user29"] != 1 {
				t.Fatalf("server saw users %v", u)
			}
		})
	}
	a := &authServer{users: map[string]int{}}
	tg := startServer(t, "/ws", a.handle)
	r, err := Idle(t.Context(), IdleConfig{Common: Common{Target: tg, Token: TokenConfig{HMACSecret: []byte("wrong-secret-wrong-secret-wrong!!")}}, Conns: 5})
	if err != nil || r.Failed != 5 || r.Causes["http 401"] != 5 {
		t.Fatalf("wrong secret: %+v %v", r, err)
	}
	r, err = Idle(t.Context(), IdleConfig{Common: Common{Target: tg, Token: TokenConfig{HMACSecret: []byte("wrong-secret-wrong-secret-wrong!!"), In: TokenInConnect}}, Conns: 5})
	if err != nil || r.Dropped != 5 || r.Causes["dropped: server close 4001"] != 5 || r.Subscribed != 0 {
		t.Fatalf("wrong secret in connect: %+v %v", r, err)
	}
}

// TestHandshakeWithAndWithoutToken: one run measures both, against a server
// that ignores tokens (as wsedge does until identity exists) and against
// one that needs a connect message.
func TestHandshakeWithAndWithoutToken(t *testing.T) {
	echo := startServer(t, "/echo", echoHandler)
	a := &authServer{users: map[string]int{}}
	auth := startServer(t, "/ws", a.handle)
	for _, tc := range []struct {
		name string
		tg   Target
		in   string
	}{{"ignored header token", echo, TokenInHeader}, {"connect message", auth, TokenInConnect}} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Handshake(t.Context(), HandshakeConfig{
				Common: Common{Target: tc.tg, ServerPID: os.Getpid(), Token: TokenConfig{HMACSecret: hmacSecret, In: tc.in}},
				Cycles: 200, Concurrency: 10, Warmup: 20, Rounds: 2,
			})
			if err != nil {
				t.Fatal(err)
			}
			w := r.WithToken
			if w == nil || r.Token != "" || w.Token != "HS256 in "+tc.in {
				t.Fatalf("variants: %+v", r)
			}
			if r.Cycles != 200 || w.Cycles != 200 || r.Failed+w.Failed+r.Dropped+w.Dropped != 0 || r.TokenRatio <= 0 {
				t.Fatalf("without %+v\nwith %+v", r, *w)
			}
		})
	}
	// connect mode: every measured and warmup cycle authenticated once.
	if u := a.seen(); len(u) != 220 {
		t.Fatalf("server saw %d users, want 220", len(u))
	}
}
