package tlsrecord

import (
	"bytes"
	"encoding/hex"
	"io"
)

// keyLog is one handshake's tls.Config.KeyLogWriter. crypto/tls writes NSS
// key log lines to it ("LABEL <client random> <secret>\n"), from the
// handshake goroutine, under a global mutex; it keeps the two application
// traffic secrets and ignores the rest. A config is cloned per handshake
// with its own keyLog, so a line can only come from that handshake: no
// routing by client random (chosen by the client, and visible on the wire)
// is needed. The random is still checked to be the same on every line.
type keyLog struct {
	tee    io.Writer // the base config's KeyLogWriter, if any
	random [32]byte
	client [48]byte // CLIENT_TRAFFIC_SECRET_0
	server [48]byte // SERVER_TRAFFIC_SECRET_0
	// Lengths of the secrets; 0 until logged.
	clientN, serverN uint8
	haveRandom       bool
	bad              bool // a line was malformed, repeated or of another handshake
}

var (
	labelClientTraffic = []byte("CLIENT_TRAFFIC_SECRET_0")
	labelServerTraffic = []byte("SERVER_TRAFFIC_SECRET_0")
)

// Write takes one key log line. It never fails: a line it cannot use only
// keeps the connection on crypto/tls (an error would abort the handshake).
func (l *keyLog) Write(line []byte) (int, error) {
	if l.tee != nil {
		_, _ = l.tee.Write(line)
	}
	label, rest, ok1 := bytes.Cut(bytes.TrimSuffix(line, []byte("\n")), []byte(" "))
	random, secret, ok2 := bytes.Cut(rest, []byte(" "))
	var r [32]byte
	if !ok1 || !ok2 || hex.DecodedLen(len(random)) != len(r) {
		l.bad = true
		return len(line), nil
	}
	if _, err := hex.Decode(r[:], random); err != nil {
		l.bad = true
		return len(line), nil
	}
	if !l.haveRandom {
		l.random, l.haveRandom = r, true
	} else if r != l.random {
		l.bad = true
		return len(line), nil
	}
	var dst *[48]byte
	var n *uint8
	switch {
	case bytes.Equal(label, labelClientTraffic):
		dst, n = &l.client, &l.clientN
	case bytes.Equal(label, labelServerTraffic):
		dst, n = &l.server, &l.serverN
	default:
		return len(line), nil // handshake secrets, TLS 1.2's master secret
	}
	sl := hex.DecodedLen(len(secret))
	if *n != 0 || (sl != 32 && sl != 48) {
		l.bad = true
		return len(line), nil
	}
	if _, err := hex.Decode(dst[:sl], secret); err != nil {
		l.bad = true
		return len(line), nil
	}
	*n = uint8(sl)
	return len(line), nil
}

// secrets returns the two application traffic secrets, if both arrived
// intact.
func (l *keyLog) secrets() (client, server []byte, ok bool) {
	if l.bad || l.clientN == 0 || l.clientN != l.serverN {
		return nil, nil, false
	}
	return l.client[:l.clientN], l.server[:l.serverN], true
}

func (l *keyLog) wipe() {
	clear(l.client[:])
	clear(l.server[:])
	l.tee = nil
}
