// Package auth verifies the JSON Web Tokens that identify wsedge connections
// and authorise subscriptions.
//
// A Verifier holds the keys (an HMAC secret, a PEM public key, a JWKS URL, or
// several of them) and the claim rules (audience, issuer, leeway). Verify is
// safe for concurrent use from worker goroutines; it is pure CPU except when a
// token names a key id the JWKS does not hold yet, and then it waits at most
// for one bounded, shared fetch of the key set. It must not be called on an
// event loop.
//
// Signatures and claims are checked by github.com/golang-jwt/jwt/v5 (chosen
// by measurement, see docs/auth.md); JWKS documents are decoded by
// github.com/go-jose/go-jose/v4, since golang-jwt has no JWK support. Nothing
// here parses JOSE by hand: the only code before the library is a size check.
// For HS256/384/512 the package registers with the library a method that
// computes the same crypto/hmac but keeps its HMAC state between checks
// (hmac.go): a quarter less garbage per token, see BenchmarkVerify.
//
// Errors are typed so the caller can answer correctly: errors.Is(err,
// ErrExpired) and errors.Is(err, ErrInvalid) are a 401 or close 4001,
// errors.Is(err, ErrUnavailable) (the key server cannot be reached) is a 503,
// and ErrWrongUser (a refresh or subscription token for another user) is
// PERMISSION_DENIED. No error message contains the token.
package auth
