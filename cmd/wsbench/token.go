package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/wsedge/wsedge/bench"
)

// tokenFlags are the flags that make connections present a token.
type tokenFlags struct {
	token, in, secret, keyFile, alg, aud, iss, kid string
	exp                                            time.Duration
}

func (t *tokenFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.token, "token", "", "token every connection presents (see -token-in)")
	fs.StringVar(&t.in, "token-in", bench.TokenInHeader, "where the token goes: header (Authorization: Bearer), query (?token=), connect (first message)")
	fs.StringVar(&t.secret, "jwt-hmac-secret", "", "mint an HS256 token per connection (sub user<n>) with this secret (@FILE reads it from a file)")
	fs.StringVar(&t.keyFile, "jwt-private-key", "", "mint a token per connection with this PEM private key (RS256, ES256/384/512 or EdDSA by key type)")
	fs.StringVar(&t.alg, "jwt-alg", "", "signing algorithm instead of the key's default (HS384, HS512, RS384, PS256...)")
	fs.DurationVar(&t.exp, "jwt-exp", time.Hour, "minted tokens expire this long after the run starts")
	fs.StringVar(&t.aud, "jwt-aud", "", "aud claim of minted tokens")
	fs.StringVar(&t.iss, "jwt-iss", "", "iss claim of minted tokens")
	fs.StringVar(&t.kid, "jwt-kid", "", "kid header of minted tokens")
}

func (t *tokenFlags) config() (bench.TokenConfig, error) {
	c := bench.TokenConfig{Token: t.token, In: t.in, Alg: t.alg, Exp: t.exp, Audience: t.aud, Issuer: t.iss, KeyID: t.kid}
	if t.secret != "" {
		s := []byte(t.secret)
		if t.secret[0] == '@' {
			b, err := os.ReadFile(t.secret[1:])
			if err != nil {
				return c, fmt.Errorf("-jwt-hmac-secret: %w", err)
			}
			s = trimNewline(b)
		}
		c.HMACSecret = s
	}
	if t.keyFile != "" {
		b, err := os.ReadFile(t.keyFile)
		if err != nil {
			return c, fmt.Errorf("-jwt-private-key: %w", err)
		}
		if c.PrivateKey, err = bench.LoadPrivateKey(b); err != nil {
			return c, fmt.Errorf("-jwt-private-key %s: %w", t.keyFile, err)
		}
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
