package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "a-test-secret-of-at-least-32-bytes!!"

// testKeys are generated once per test binary: RSA generation is slow.
type testKeys struct {
	rsa   *rsa.PrivateKey
	rsa2  *rsa.PrivateKey
	ec256 *ecdsa.PrivateKey
	ec384 *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
}

var (
	keysOnce sync.Once
	keys     testKeys
)

func getKeys(t testing.TB) *testKeys {
	keysOnce.Do(func() {
		var err error
		if keys.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keys.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		keys.ec256, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		keys.ec384, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		_, keys.ed, _ = ed25519.GenerateKey(rand.Reader)
	})
	return &keys
}

func publicPEM(t testing.TB, pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func privatePEMFile(t testing.TB, priv crypto.PrivateKey) string {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sign mints a token with golang-jwt (for cases PyJWT need not cover).
func sign(t testing.TB, m jwt.SigningMethod, key any, claims jwt.MapClaims, hdr map[string]any) string {
	tok := jwt.NewWithClaims(m, claims)
	for k, v := range hdr {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// handmade builds a token from raw header and payload JSON, signed with
// HMAC-SHA256 under key (or with sig appended as given when key is nil):
// the way to forge what no library would produce.
func handmade(header, payload string, key []byte, sig string) string {
	enc := base64.RawURLEncoding
	s := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	if key != nil {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(s))
		return s + "." + enc.EncodeToString(h.Sum(nil))
	}
	return s + "." + sig
}

// mintItem is one token for PyJWT to mint.
type mintItem struct {
	Alg     string         `json:"alg"`
	Secret  string         `json:"secret,omitempty"`
	KeyFile string         `json:"key_file,omitempty"`
	Payload map[string]any `json:"payload"`
	Headers map[string]any `json:"headers,omitempty"`
}

const python = "/usr/bin/python3" // Debian's, with python3-jwt (the pyenv one on PATH has no PyJWT)

// pyMint mints tokens with PyJWT. Without it the test fails in CI (which
// installs python3-jwt) and is skipped elsewhere, saying why.
func pyMint(t testing.TB, items []mintItem) []string {
	t.Helper()
	if err := exec.Command(python, "-c", "import jwt, cryptography").Run(); err != nil {
		msg := "PyJWT is missing: apt-get install -y python3-jwt python3-cryptography"
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	in, _ := json.Marshal(map[string]any{"items": items})
	cmd := exec.Command(python, "testdata/mint.py")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mint.py: %v: %s", err, stderr.String())
	}
	var toks []string
	if err := json.Unmarshal(out, &toks); err != nil || len(toks) != len(items) {
		t.Fatalf("mint.py answered %q (%v)", out, err)
	}
	return toks
}

func newVerifier(t testing.TB, c Config) *Verifier {
	t.Helper()
	v, err := NewVerifier(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

var bg = context.Background()

func unix(d time.Duration) int64 { return time.Now().Add(d).Unix() }

// randReader feeds rsa.GenerateKey for a short test-only key.
type randReader struct{}

func (randReader) Read(p []byte) (int, error) { return rand.Read(p) }
