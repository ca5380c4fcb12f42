package tlsrecord

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// suite is one TLS 1.3 cipher suite: an AEAD and the hash of its key
// schedule. RFC 8446 defines five; crypto/tls negotiates these three.
type suite struct {
	id      uint16
	keyLen  int
	hashLen int // = length of a traffic secret
	hash    func() hash.Hash
	newAEAD func(key []byte) (cipher.AEAD, error)
}

const (
	suiteAES128 uint8 = iota + 1 // 0 is "no suite": a zero Conn is unusable
	suiteAES256
	suiteChaCha
)

var suites = [...]suite{
	suiteAES128: {tls.TLS_AES_128_GCM_SHA256, 16, 32, sha256.New, newGCM},
	suiteAES256: {tls.TLS_AES_256_GCM_SHA384, 32, 48, sha512.New384, newGCM},
	suiteChaCha: {tls.TLS_CHACHA20_POLY1305_SHA256, 32, 32, sha256.New, chacha20poly1305.New},
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// suiteByID maps a negotiated cipher suite to ours (0 if unsupported).
func suiteByID(id uint16) uint8 {
	for i := range suites {
		if i != 0 && suites[i].id == id {
			return uint8(i)
		}
	}
	return 0
}

const (
	ivLen  = 12 // every TLS 1.3 AEAD: iv_length = max(8, N_MIN) = 12 (RFC 8446 5.3)
	tagLen = 16 // the expansion of all three AEADs
)

// expandLabel is HKDF-Expand-Label(secret, label, "", length) of RFC 8446
// section 7.1; the record layer only ever uses it with an empty context.
func expandLabel(s *suite, secret []byte, label string, length int) ([]byte, error) {
	// struct { uint16 length; opaque label<7..255> = "tls13 " + label; opaque context<0..255> = "" }
	var buf [2 + 1 + 6 + 32 + 1]byte
	if len(label) > 32 {
		return nil, fmt.Errorf("tlsrecord: label %q too long", label)
	}
	info := append(buf[:0], byte(length>>8), byte(length), byte(6+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0)
	return hkdf.Expand(s.hash, secret, string(info), length)
}

// keys is one direction's derived cipher state: what an idle connection
// drops and re-derives from the traffic secret when data flows again.
type keys struct {
	aead cipher.AEAD
	iv   [ivLen]byte
	// nonce is scratch for the per-record nonce: arguments of an interface
	// call escape, so a nonce on the stack would be allocated per record.
	nonce [ivLen]byte
}

// deriveKeys computes [sender]_write_key and [sender]_write_iv from a
// traffic secret (RFC 8446 7.3) and builds the AEAD.
func deriveKeys(s *suite, secret []byte) (*keys, error) {
	key, err := expandLabel(s, secret, "key", s.keyLen)
	if err != nil {
		return nil, err
	}
	iv, err := expandLabel(s, secret, "iv", ivLen)
	if err != nil {
		return nil, err
	}
	a, err := s.newAEAD(key)
	clear(key)
	if err != nil {
		return nil, err
	}
	k := &keys{aead: a}
	copy(k.iv[:], iv)
	clear(iv)
	return k, nil
}

// nonceFor returns the per-record nonce: the 64-bit sequence number,
// big-endian and left-padded to iv_length, XORed with the static IV
// (RFC 8446 5.3).
func (k *keys) nonceFor(seq uint64) []byte {
	k.nonce = k.iv
	for i := 0; i < 8; i++ {
		k.nonce[ivLen-1-i] ^= byte(seq >> (8 * i))
	}
	return k.nonce[:]
}

// nextSecret is application_traffic_secret_N+1 (RFC 8446 7.2).
func nextSecret(s *suite, secret []byte) ([]byte, error) {
	return expandLabel(s, secret, "traffic upd", s.hashLen)
}
