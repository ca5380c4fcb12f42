package auth

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestClaimsDecodeLikeLibrary: the claims decode to what jwt.RegisteredClaims
// decodes (dates, aud, iss, sub), and fail where it fails, for the forms read
// here and those handed to the library.
func TestClaimsDecodeLikeLibrary(t *testing.T) {
	for _, in := range claimsSeeds {
		compareClaimsDecode(t, []byte(in))
	}
}

// FuzzClaimsDecode: for any input, tokenClaims decodes what the library's
// claims decode, the same way, and fails where they fail.
func FuzzClaimsDecode(f *testing.F) {
	for _, in := range claimsSeeds {
		f.Add([]byte(in))
	}
	f.Fuzz(compareClaimsDecode)
}

var claimsSeeds = []string{
	`{"sub":"u1","exp":1700000000}`,
	`{"sub":"u1","exp":1700000000.25,"nbf":-5,"iat":0}`,
	`{"exp":1.7e9,"nbf":17E8,"iat":-0.5}`,
	`{"exp":-0}`,
	`{"exp":1e400}`,
	`{"exp":"1700000000"}`,
	`{"exp":"soon"}`,
	`{"exp":null,"nbf":null}`,
	`{"exp":5,"exp":null}`,
	`{"exp":true}`,
	`{"exp":[1]}`,
	`{"exp":01}`,
	`{"EXP":12,"Sub":"case"}`,
	`{"aud":"app"}`,
	`{"aud":""}`,
	`{"aud":["a","b"]}`,
	`{"aud":[]}`,
	`{"aud":"caf\u00e9 \"q\""}`,
	"{\"aud\":\"caf\xc3\xa9\"}",
	"{\"aud\":\"bad\xff\"}",
	`{"aud":"x","aud":null}`,
	`{"aud":null}`,
	`{"aud":7}`,
	`{"aud":["a",7]}`,
	`{"iss":"https://issuer","sub":"user\u0041","channels":["c"],"info":{"n":1},"channel":"ch"}`,
}

// libClaims is the claims' shape decoded by the library's own types.
type libClaims struct {
	jwt.RegisteredClaims
	Channels []string        `json:"channels,omitempty"`
	Info     json.RawMessage `json:"info,omitempty"`
	Channel  string          `json:"channel,omitempty"`
}

func compareClaimsDecode(t *testing.T, in []byte) {
	var lib libClaims
	var ours tokenClaims
	libErr := json.Unmarshal(in, &lib)
	ourErr := json.Unmarshal(in, &ours)
	if (libErr == nil) != (ourErr == nil) {
		t.Fatalf("%q: library error %v, ours %v", in, libErr, ourErr)
	}
	if libErr != nil {
		return
	}
	for _, d := range []struct {
		name      string
		lib, ours *jwt.NumericDate
	}{
		{"exp", lib.ExpiresAt, ours.ExpiresAt.get()},
		{"nbf", lib.NotBefore, ours.NotBefore.get()},
		{"iat", lib.IssuedAt, ours.IssuedAt.get()},
	} {
		if (d.lib == nil) != (d.ours == nil) || (d.lib != nil && !d.lib.Equal(d.ours.Time)) {
			t.Fatalf("%q: %s library %v, ours %v", in, d.name, d.lib, d.ours)
		}
	}
	if !slices.Equal(lib.Audience, jwt.ClaimStrings(ours.Audience)) {
		t.Fatalf("%q: aud library %q, ours %q", in, lib.Audience, ours.Audience)
	}
	if lib.Issuer != ours.Issuer || lib.Subject != ours.Subject || lib.Channel != ours.Channel ||
		!slices.Equal(lib.Channels, ours.Channels) || string(lib.Info) != string(ours.Info) {
		t.Fatalf("%q: library %+v, ours %+v", in, lib, ours)
	}
}

// TestClaimsValidatedByLibrary: the library's validator reads the dates and
// aud through tokenClaims' getters: an expired, not-yet-valid or wrong-audience
// token is refused, a good one passes.
func TestClaimsValidatedByLibrary(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	v := jwt.NewValidator(jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithAudience("app"), jwt.WithIssuer("iss1"), jwt.WithIssuedAt())
	for _, tc := range []struct {
		in   string
		want error
	}{
		{`{"sub":"u","iss":"iss1","aud":"app","exp":1700000060,"nbf":1699999000,"iat":1699999000}`, nil},
		{`{"sub":"u","iss":"iss1","aud":["x","app"],"exp":1700000060}`, nil},
		{`{"sub":"u","iss":"iss1","aud":"app","exp":1699999999}`, jwt.ErrTokenExpired},
		{`{"sub":"u","iss":"iss1","aud":"app","nbf":1700000100}`, jwt.ErrTokenNotValidYet},
		{`{"sub":"u","iss":"iss1","aud":"other"}`, jwt.ErrTokenInvalidAudience},
		{`{"sub":"u","iss":"iss2","aud":"app"}`, jwt.ErrTokenInvalidIssuer},
		{`{"sub":"u","iss":"iss1","aud":"app","iat":1700000100}`, jwt.ErrTokenUsedBeforeIssued},
	} {
		var c tokenClaims
		if err := json.Unmarshal([]byte(tc.in), &c); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		err := v.Validate(&c)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", tc.in, err, tc.want)
		}
	}
}
