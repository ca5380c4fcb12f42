package tlsrecord

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// hkdfExpandRaw is HKDF-Expand with info given as bytes.
func hkdfExpandRaw(t testing.TB, secret, info []byte, n int) []byte {
	t.Helper()
	out, err := hkdf.Expand(sha256.New, secret, string(info), n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pair returns two connected record layers (a server and its client) with
// fresh secrets for the suite.
func pair(t testing.TB, suiteID uint16) (server, client *Conn) {
	t.Helper()
	s := &suites[suiteByID(suiteID)]
	cs, ss := make([]byte, s.hashLen), make([]byte, s.hashLen)
	rand.Read(cs)
	rand.Read(ss)
	server, err := newConn(suiteID, cs, ss, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	client, err = newConn(suiteID, ss, cs, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return server, client
}

// record seals one record of any inner type, as a (possibly misbehaving)
// peer would, with optional zero padding.
func record(t testing.TB, c *Conn, typ byte, data []byte, padding int) []byte {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	inner := append(append([]byte(nil), data...), typ)
	inner = append(inner, make([]byte, padding)...)
	// sealRecordLocked appends the type itself: seal inner minus its
	// last byte with that byte as the type.
	out, err := c.sealRecordLocked(nil, inner[len(inner)-1], inner[:len(inner)-1], nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// openAll feeds b to c in one call and returns the plaintext.
func openAll(c *Conn, b []byte) ([]byte, int, error) {
	buf := append([]byte(nil), b...)
	n, consumed, err := c.Open(buf)
	return buf[:n], consumed, err
}
