package tlsconn

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/wsedge/wsedge/tlsrecord"
)

// Layer is the record layer that protects a connection's data after the
// handshake. crypto/tls runs every handshake either way.
type Layer uint8

const (
	// Compact: TLS 1.3 connections leave crypto/tls after the handshake
	// for package tlsrecord, which keeps only the traffic secrets and
	// sequence numbers of an idle connection and derives the cipher state
	// when records flow. TLS 1.2 connections stay on crypto/tls.
	Compact Layer = iota
	// Stdlib: crypto/tls end to end, for every connection.
	Stdlib
)

// Layers are the names ParseLayer accepts, the default first.
var Layers = []string{"compact", "stdlib"}

func (l Layer) String() string {
	if int(l) < len(Layers) {
		return Layers[l]
	}
	return fmt.Sprintf("layer(%d)", uint8(l))
}

// ParseLayer reads a layer's name ("compact" or "stdlib").
func ParseLayer(s string) (Layer, error) {
	for i, n := range Layers {
		if s == n {
			return Layer(i), nil
		}
	}
	return 0, fmt.Errorf("unknown TLS record layer %q (want compact or stdlib)", s)
}

// Config is what the TLS connections of one listener share.
type Config struct {
	tls   *tls.Config
	acc   *tlsrecord.Acceptor // Compact only
	layer Layer
	// idle is how long the compact layer's cipher state may go unused
	// before it is dropped (after idle to 2*idle); 0 keeps it.
	idle time.Duration
	pool bytebufferpool.Pool // plaintext the layer above has not consumed yet, handshake input
}

// NewConfig prepares the listener's TLS: base (which must not change
// afterwards; certificates may change through its GetCertificate), the
// record layer, and with Compact how long cipher state may stay unused
// before it is dropped (0: never).
func NewConfig(base *tls.Config, layer Layer, cipherIdle time.Duration) *Config {
	c := &Config{tls: base, layer: layer, idle: cipherIdle}
	if layer == Compact {
		c.acc = tlsrecord.NewAcceptor(base)
	}
	return c
}

// Layer is the configured record layer.
func (c *Config) Layer() Layer { return c.layer }
