package bench

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Where a connection presents its token (wsedge's contract: Identity).
const (
	TokenInHeader  = "header"  // Authorization: Bearer <token> on the upgrade
	TokenInQuery   = "query"   // ?token=<token> on the upgrade
	TokenInConnect = "connect" // first message {"type":"connect","token":...}
)

// TokenConfig says which token each connection presents and where: one
// fixed Token, or one minted per connection (user "user<n>" for connection
// n) with an HMAC secret or a private key.
type TokenConfig struct {
	Token      string        // a fixed token for every connection
	HMACSecret []byte        // mint HS256/384/512
	PrivateKey crypto.Signer // mint RS*/PS*/ES*/EdDSA (from a PEM file: LoadPrivateKey)
	Alg        string        // signing algorithm; default HS256, RS256, ES256/384/512 by curve, EdDSA
	Exp        time.Duration // expiry from the mint (default 1h)
	Audience   string
	Issuer     string
	KeyID      string
	In         string // TokenInHeader (default), TokenInQuery, TokenInConnect
}

// Enabled reports whether connections present a token at all.
func (t TokenConfig) Enabled() bool {
	return t.Token != "" || len(t.HMACSecret) > 0 || t.PrivateKey != nil
}

// Describe names the token variant for reports ("HS256 in header").
func (t TokenConfig) Describe() string {
	what := "fixed token"
	if !t.Static() {
		what = t.alg()
	}
	return what + " in " + t.in()
}

// Static reports whether every connection presents the same token.
func (t TokenConfig) Static() bool { return t.Token != "" }

func (t TokenConfig) in() string {
	if t.In == "" {
		return TokenInHeader
	}
	return t.In
}

func (t TokenConfig) alg() string {
	if t.Alg != "" {
		return t.Alg
	}
	switch k := t.PrivateKey.(type) {
	case nil:
		return "HS256"
	case *rsa.PrivateKey:
		return "RS256"
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P384():
			return "ES384"
		case elliptic.P521():
			return "ES512"
		}
		return "ES256"
	case ed25519.PrivateKey:
		return "EdDSA"
	}
	return "?"
}

// Validate checks that the settings make sense together.
func (t TokenConfig) Validate() error {
	n := 0
	for _, set := range []bool{t.Token != "", len(t.HMACSecret) > 0, t.PrivateKey != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return errors.New("token: give one of a token, an HMAC secret or a private key")
	}
	switch t.in() {
	case TokenInHeader, TokenInQuery, TokenInConnect:
	default:
		return fmt.Errorf("token: unknown place %q (want header, query, connect)", t.In)
	}
	if n == 1 && !t.Static() {
		if _, err := t.mint(0); err != nil {
			return err
		}
	}
	return nil
}

// method is the signing method for alg and the key kind given.
func (t TokenConfig) method() (jwt.SigningMethod, any, error) {
	m := jwt.GetSigningMethod(t.alg())
	if m == nil {
		return nil, nil, fmt.Errorf("token: unknown algorithm %q", t.alg())
	}
	if len(t.HMACSecret) > 0 {
		if _, ok := m.(*jwt.SigningMethodHMAC); !ok {
			return nil, nil, fmt.Errorf("token: %s needs a private key, not an HMAC secret", t.alg())
		}
		return m, t.HMACSecret, nil
	}
	return m, t.PrivateKey, nil
}

// mint signs a token for connection n: sub "user<n>", iat now, exp now+Exp.
func (t TokenConfig) mint(n int) (string, error) {
	m, key, err := t.method()
	if err != nil {
		return "", err
	}
	exp := t.Exp
	if exp <= 0 {
		exp = time.Hour
	}
	now := time.Now()
	claims := jwt.RegisteredClaims{
		Subject:   "user" + strconv.Itoa(n),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(exp)),
		Issuer:    t.Issuer,
	}
	if t.Audience != "" {
		claims.Audience = jwt.ClaimStrings{t.Audience}
	}
	tok := jwt.NewWithClaims(m, claims)
	if t.KeyID != "" {
		tok.Header["kid"] = t.KeyID
	}
	s, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("token: sign %s: %w", t.alg(), err)
	}
	return s, nil
}

// tokens hands out connection n's token: minted ahead of a run (so the
// client's signing stays out of the measured window), or on demand past
// what was prepared.
type tokens struct {
	cfg      TokenConfig
	mu       sync.Mutex
	prepared []string
	err      error
}

func newTokens(cfg TokenConfig, prepare int) (*tokens, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ts := &tokens{cfg: cfg}
	if cfg.Static() {
		return ts, nil
	}
	ts.prepared = make([]string, prepare)
	for i := range ts.prepared {
		s, err := cfg.mint(i)
		if err != nil {
			return nil, err
		}
		ts.prepared[i] = s
	}
	return ts, nil
}

// get returns connection n's token ("" after a signing error, counted by
// the caller as a failed connect).
func (ts *tokens) get(n int) string {
	if ts.cfg.Static() {
		return ts.cfg.Token
	}
	if n < len(ts.prepared) {
		return ts.prepared[n]
	}
	s, err := ts.cfg.mint(n)
	if err != nil {
		ts.mu.Lock()
		ts.err = err
		ts.mu.Unlock()
	}
	return s
}

// connectMessage is the first message of TokenInConnect.
func connectMessage(token string) []byte {
	return []byte(`{"type":"connect","id":"connect","token":"` + token + `"}`)
}

// tokenQuery appends the token parameter to a request URI.
func tokenQuery(path, token string) string {
	sep := "?"
	for i := 0; i < len(path); i++ {
		if path[i] == '?' {
			sep = "&"
			break
		}
	}
	return path + sep + "token=" + url.QueryEscape(token)
}

// LoadPrivateKey reads a PEM private key (PKCS#8, PKCS#1 RSA or SEC 1 EC).
func LoadPrivateKey(pemBytes []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		return nil, errors.New("private key: no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("private key: %T cannot sign", k)
		}
		return s, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("private key: not PKCS#8, PKCS#1 or SEC 1")
}
