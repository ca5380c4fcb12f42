package auth

import (
	"encoding/json"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims is what a verified token says about its holder.
type Claims struct {
	// User is the sub claim, never empty.
	User string
	// Expires is the exp claim; the zero time when the token has none.
	Expires time.Time
	// Channels (claim "channels") are server-side subscriptions made at
	// connect. Connection tokens only.
	Channels []string
	// Info (claim "info") is any JSON value, kept raw: it is attached to the
	// connection, shown in presence and sent to the backend without being
	// decoded again. nil when absent or null.
	Info json.RawMessage
	// Channel (claim "channel") is the channel a subscription token grants.
	Channel string
}

// Identity is what a connection keeps of its token: 48 bytes plus the user
// id and the info bytes. A connection holds a *Identity (nil = anonymous), so
// an authenticated idle connection costs 8 + 48 bytes more than an anonymous
// one, plus its user id and info (docs/auth.md, TestIdentitySize).
type Identity struct {
	User    string
	Info    json.RawMessage
	Expires int64 // unix seconds; 0 = no expiry
}

// Identity returns the per-connection part of the claims. It shares User and
// Info with c (both are immutable).
func (c *Claims) Identity() *Identity {
	id := &Identity{User: c.User, Info: c.Info}
	if !c.Expires.IsZero() {
		id.Expires = c.Expires.Unix()
	}
	return id
}

// ExpiresAt is the expiry as a time; the zero time when there is none.
func (id *Identity) ExpiresAt() time.Time {
	if id.Expires == 0 {
		return time.Time{}
	}
	return time.Unix(id.Expires, 0)
}

// tokenClaims is the JSON shape decoded by the library, which validates exp,
// nbf, iat, aud and iss through its getters (jwt.Claims). It holds what
// jwt.RegisteredClaims does (less jti, which nothing reads), but keeps its
// dates inside itself and decodes them and a single-string aud without a
// second encoding/json pass each (claims_decode.go): about a fifth of a
// check's garbage, which a ramp of connections leaves as holes between the
// connections' long-lived objects (issue 19; BenchmarkVerify).
type tokenClaims struct {
	Issuer    string          `json:"iss,omitempty"`
	Subject   string          `json:"sub,omitempty"`
	Audience  audience        `json:"aud,omitempty"`
	ExpiresAt date            `json:"exp,omitempty"`
	NotBefore date            `json:"nbf,omitempty"`
	IssuedAt  date            `json:"iat,omitempty"`
	Channels  []string        `json:"channels,omitempty"`
	Info      json.RawMessage `json:"info,omitempty"`
	Channel   string          `json:"channel,omitempty"`
}

func (t *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return t.ExpiresAt.get(), nil }
func (t *tokenClaims) GetNotBefore() (*jwt.NumericDate, error)      { return t.NotBefore.get(), nil }
func (t *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return t.IssuedAt.get(), nil }
func (t *tokenClaims) GetIssuer() (string, error)                   { return t.Issuer, nil }
func (t *tokenClaims) GetSubject() (string, error)                  { return t.Subject, nil }
func (t *tokenClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings(t.Audience), nil
}

func (t *tokenClaims) claims() Claims {
	c := Claims{User: t.Subject, Channels: t.Channels, Channel: t.Channel}
	if len(t.Info) > 0 && string(t.Info) != "null" {
		c.Info = t.Info
	}
	if t.ExpiresAt.set {
		c.Expires = t.ExpiresAt.t.Time
	}
	return c
}
