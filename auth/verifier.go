package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

// Defaults of Config, used where a field is zero.
const (
	DefaultMaxTokenSize    = 8 << 10
	DefaultJWKSRefresh     = 5 * time.Minute
	DefaultJWKSMinInterval = 10 * time.Second
	DefaultJWKSTimeout     = 5 * time.Second
)

// maxHeaderSegment bounds the encoded JOSE header, checked before any
// decoding: a real header ({"alg","typ","kid"}) is under 200 bytes.
const maxHeaderSegment = 1 << 10

// Config says which keys sign tokens and what the claims must say. At least
// one key source is needed; several may be combined (the token's alg picks
// the HMAC secret or a public key; with a JWKS, a token with a kid is looked
// up there, and a token without one uses PublicKeyPEM).
type Config struct {
	HMACSecret   []byte // HS256/384/512; at least MinHMACSecret bytes
	PublicKeyPEM []byte // RS*, PS*, ES*, EdDSA; see ParsePublicKeyPEM
	JWKSURL      string // http(s) URL of a JSON Web Key Set

	JWKSRefresh     time.Duration // fetch the set this often; 0 = DefaultJWKSRefresh
	JWKSMinInterval time.Duration // an unknown kid fetches at most this often; 0 = DefaultJWKSMinInterval
	JWKSTimeout     time.Duration // one fetch, connect to last byte; 0 = DefaultJWKSTimeout
	HTTPClient      *http.Client  // for the JWKS; nil = a client of its own

	Audience string        // when set, aud must contain it
	Issuer   string        // when set, iss must equal it
	Leeway   time.Duration // clock skew allowed on exp and nbf

	MaxTokenSize int // bytes, checked before parsing; 0 = DefaultMaxTokenSize

	Now func() time.Time // nil = time.Now (tests set it)
	Log *zap.Logger      // nil = no logs
}

// Verifier checks tokens against a Config. Safe for concurrent use.
type Verifier struct {
	hmac    []byte
	hmacKey any // hmac, boxed once: the key function returns it per check
	pub     *verifyKey
	jwks    *jwks
	parser  *jwt.Parser
	maxSize int
	static  jwt.Keyfunc // the key function without JWKS, built once: no closure per call
}

// NewVerifier checks cfg and, with a JWKS URL, starts fetching the set in
// the background (a first fetch at once, then every JWKSRefresh). Close
// stops that.
func NewVerifier(cfg Config) (*Verifier, error) {
	c := cfg
	if c.MaxTokenSize == 0 {
		c.MaxTokenSize = DefaultMaxTokenSize
	}
	if c.JWKSRefresh == 0 {
		c.JWKSRefresh = DefaultJWKSRefresh
	}
	if c.JWKSMinInterval == 0 {
		c.JWKSMinInterval = DefaultJWKSMinInterval
	}
	if c.JWKSTimeout == 0 {
		c.JWKSTimeout = DefaultJWKSTimeout
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	switch {
	case c.MaxTokenSize < 0 || c.JWKSRefresh < 0 || c.JWKSMinInterval < 0 || c.JWKSTimeout < 0 || c.Leeway < 0:
		return nil, errors.New("auth: negative size, interval or leeway")
	case len(c.HMACSecret) == 0 && len(c.PublicKeyPEM) == 0 && c.JWKSURL == "":
		return nil, errors.New("auth: no key: give an HMAC secret, a public key or a JWKS URL")
	case len(c.HMACSecret) > 0 && len(c.HMACSecret) < MinHMACSecret:
		return nil, fmt.Errorf("auth: HMAC secret of %d bytes is too short (want at least %d)", len(c.HMACSecret), MinHMACSecret)
	}
	v := &Verifier{maxSize: c.MaxTokenSize}
	var algs []string
	if len(c.HMACSecret) > 0 {
		v.hmac = append([]byte(nil), c.HMACSecret...)
		v.hmacKey = v.hmac
		algs = append(algs, hmacAlgs...)
	}
	if len(c.PublicKeyPEM) > 0 {
		key, err := ParsePublicKeyPEM(c.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("auth: public key: %w", err)
		}
		a, _ := algsFor(key)
		v.pub = &verifyKey{key: key, algs: a}
		algs = append(algs, a...)
	}
	if c.JWKSURL != "" {
		u, err := url.Parse(c.JWKSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("auth: JWKS URL %q is not an http(s) URL", c.JWKSURL)
		}
		algs = append(algs, publicAll...)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs), // never "none", only what a configured key can verify
		jwt.WithLeeway(c.Leeway),
		jwt.WithStrictDecoding(), // no malleable base64
	}
	if c.Audience != "" {
		opts = append(opts, jwt.WithAudience(c.Audience))
	}
	if c.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(c.Issuer))
	}
	if c.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(c.Now))
	}
	v.parser = jwt.NewParser(opts...)
	v.static = func(t *jwt.Token) (any, error) { return v.key(context.Background(), t) }
	if c.JWKSURL != "" {
		v.jwks = newJWKS(&c) // last: nothing to stop if an earlier check failed
	}
	return v, nil
}

// Close stops the JWKS refresher and waits for it. Verify still works on
// the keys held.
func (v *Verifier) Close() {
	if v.jwks != nil {
		v.jwks.close()
	}
}

// JWKSStats reports the key set's fetches; zero without a JWKS URL.
func (v *Verifier) JWKSStats() JWKSStats {
	if v.jwks == nil {
		return JWKSStats{}
	}
	st := JWKSStats{Fetches: v.jwks.fetches.Load(), Failures: v.jwks.failures.Load()}
	if m := v.jwks.keys.Load(); m != nil {
		st.Keys = len(*m)
	}
	return st
}

// Fetches reports whether a Verify may wait for a key set fetch (a JWKS
// is configured): only then does it use its context; without one a check
// is CPU work alone and never blocks.
func (v *Verifier) Fetches() bool { return v.jwks != nil }

// Verify checks a connection token: size, signature, algorithm against the
// key, exp, nbf, aud, iss, and a non-empty sub. A token with a channel claim
// is a subscription token and is refused here. ctx (not nil) bounds only a
// wait for the JWKS (an unknown kid); the rest is CPU work.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	c, err := v.verify(ctx, token)
	if err == nil && c.Channel != "" {
		return Claims{}, invalid("a subscription token (channel claim) cannot identify a connection", nil)
	}
	return c, err
}

// VerifyRefresh checks a token sent with refresh: valid as in Verify, and for
// the connection's user (else ErrWrongUser: the old expiry stands).
func (v *Verifier) VerifyRefresh(ctx context.Context, token, user string) (Claims, error) {
	c, err := v.Verify(ctx, token)
	if err != nil {
		return Claims{}, err
	}
	if c.User != user {
		return Claims{}, &Error{Kind: ErrWrongUser, Reason: "refresh token is for another user"}
	}
	return c, nil
}

// VerifySubscription checks a subscription token: signed with the connection
// keys and valid as in Verify, with sub equal to the connection's user and
// channel equal to the channel asked for (else ErrWrongUser).
func (v *Verifier) VerifySubscription(ctx context.Context, token, user, channel string) (Claims, error) {
	c, err := v.verify(ctx, token)
	switch {
	case err != nil:
		return Claims{}, err
	case c.Channel == "":
		return Claims{}, invalid("not a subscription token (no channel claim)", nil)
	case c.User != user:
		return Claims{}, &Error{Kind: ErrWrongUser, Reason: "subscription token is for another user"}
	case c.Channel != channel:
		return Claims{}, &Error{Kind: ErrWrongUser, Reason: "subscription token is for another channel"}
	}
	return c, nil
}

func (v *Verifier) verify(ctx context.Context, token string) (Claims, error) {
	switch {
	case token == "":
		return Claims{}, invalid("empty token", nil)
	case len(token) > v.maxSize:
		return Claims{}, invalid(fmt.Sprintf("%d bytes, over the limit of %d", len(token), v.maxSize), nil)
	}
	if i := strings.IndexByte(token, '.'); i > maxHeaderSegment || (i < 0 && len(token) > maxHeaderSegment) {
		return Claims{}, invalid(fmt.Sprintf("header over %d bytes", maxHeaderSegment), nil)
	}
	kf := v.static
	if v.jwks != nil { // the wait for a fetch needs ctx: one closure per call, beside an RSA or EC verify
		kf = func(t *jwt.Token) (any, error) { return v.key(ctx, t) }
	}
	var tc tokenClaims
	if _, err := v.parser.ParseWithClaims(token, &tc, kf); err != nil {
		return Claims{}, classify(err)
	}
	if tc.Subject == "" {
		return Claims{}, invalid("no sub claim", nil)
	}
	return tc.claims(), nil
}

// key is the jwt.Keyfunc: it picks the key for the token's alg and kid, and
// refuses an alg the key cannot verify (algorithm confusion).
func (v *Verifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if strings.HasPrefix(alg, "HS") {
		if v.hmac == nil {
			return nil, invalid(alg+" token but no HMAC secret is configured", nil)
		}
		return v.hmacKey, nil
	}
	kid, isString := t.Header["kid"].(string)
	if _, has := t.Header["kid"]; has && !isString {
		return nil, invalid("kid is not a string", nil)
	}
	if kid != "" && v.jwks != nil {
		k, err := v.jwks.lookup(ctx, kid)
		if err != nil {
			return nil, err
		}
		if !k.allows(alg) {
			return nil, invalid(fmt.Sprintf("alg %s does not match JWKS key %.64q (%s)", alg, kid, keyName(k.key)), nil)
		}
		return k.key, nil
	}
	if v.pub != nil {
		if !v.pub.allows(alg) {
			return nil, invalid(fmt.Sprintf("alg %s does not match the public key (%s)", alg, keyName(v.pub.key)), nil)
		}
		return v.pub.key, nil
	}
	if v.jwks != nil {
		return nil, invalid("no kid: a JWKS key is named by kid", nil)
	}
	return nil, invalid(alg+" token but no public key is configured", nil)
}

// classify maps the library's error to one of the kinds. An expired token
// is ErrExpired only when nothing else is wrong with it.
func classify(err error) error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae // from key: already a kind
	}
	for _, r := range []struct {
		is     error
		reason string
	}{
		{jwt.ErrTokenMalformed, "malformed"},
		{jwt.ErrTokenSignatureInvalid, "bad signature or algorithm"},
		{jwt.ErrTokenUnverifiable, "cannot be verified"},
		{jwt.ErrTokenInvalidAudience, "wrong audience"},
		{jwt.ErrTokenInvalidIssuer, "wrong issuer"},
		{jwt.ErrTokenNotValidYet, "not valid yet (nbf)"},
		{jwt.ErrTokenUsedBeforeIssued, "issued in the future (iat)"},
		{jwt.ErrTokenRequiredClaimMissing, "required claim missing"},
		{jwt.ErrInvalidType, "claim of the wrong type"},
	} {
		if errors.Is(err, r.is) {
			return invalid(r.reason, err)
		}
	}
	if errors.Is(err, jwt.ErrTokenExpired) {
		return &Error{Kind: ErrExpired, Reason: "exp has passed"}
	}
	return invalid("rejected", err)
}
