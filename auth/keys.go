package auth

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
	"slices"
)

// MinRSABits is the smallest RSA key accepted, from a PEM file or a JWKS.
const MinRSABits = 2048

// MinHMACSecret is the shortest HMAC secret accepted: RFC 7518 section 3.2
// wants a key at least as long as the hash output (32 bytes for HS256).
const MinHMACSecret = 32

var (
	hmacAlgs  = []string{"HS256", "HS384", "HS512"}
	rsaAlgs   = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	publicAll = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

// ParsePublicKeyPEM reads the first PEM block of data: a PKIX "PUBLIC KEY"
// (RSA, ECDSA or Ed25519), a PKCS#1 "RSA PUBLIC KEY", or a "CERTIFICATE"
// whose public key is used. Private keys are refused: the edge only verifies.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("PEM block %q is not a public key (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("PEM %s: %w", block.Type, err)
	}
	if _, err := algsFor(key); err != nil {
		return nil, err
	}
	return key, nil
}

// algsFor lists the JWS algorithms a public key may verify: the key type
// fixes the family, and an ECDSA curve fixes the one algorithm.
func algsFor(key any) ([]string, error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("RSA key of %d bits is too short (want at least %d)", k.N.BitLen(), MinRSABits)
		}
		return rsaAlgs, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}, nil
		case elliptic.P384():
			return []string{"ES384"}, nil
		case elliptic.P521():
			return []string{"ES512"}, nil
		}
		return nil, fmt.Errorf("ECDSA curve %s is not supported (want P-256, P-384 or P-521)", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return []string{"EdDSA"}, nil
	}
	return nil, fmt.Errorf("key type %T is not supported (want RSA, ECDSA or Ed25519)", key)
}

// keyName describes a key for an error message.
func keyName(key any) string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", key)
}

// verifyKey is a public key with the algorithms it may verify.
type verifyKey struct {
	key  crypto.PublicKey
	algs []string
}

func (k verifyKey) allows(alg string) bool { return slices.Contains(k.algs, alg) }
