package server

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// expiring is a token of user that expires d from now. exp has a resolution
// of a second: the time it really ends is returned too.
func expiring(t testing.TB, user string, d time.Duration) (string, time.Time) {
	t.Helper()
	exp := time.Now().Add(d).Unix()
	return hs256(t, jwt.MapClaims{"sub": user, "exp": exp}), time.Unix(exp, 0)
}

// TestExpiry: at exp (plus -jwt-leeway) a connection that did not refresh
// is closed with 4001, whether its token came at the upgrade or with
// connect.
func TestExpiry(t *testing.T) {
	for _, leeway := range []time.Duration{0, 700 * time.Millisecond} {
		o := timeoutOptions()
		o.JWTHMACSecret = idSecret
		o.JWTLeeway = leeway
		s := startIDServer(t, o)
		tok, end := expiring(t, "42", 2*time.Second)
		end = end.Add(leeway)
		_, _, _, upg := upgradeWith(t, s, "/ws", bearer(tok))
		_, _, _, con := upgradeWith(t, s, "/ws", "")
		if got := con.roundTrip(`{"type":"connect","id":"c","token":"` + tok + `"}`); !strings.Contains(got, "connected") {
			t.Fatalf("connect: %s", got)
		}
		for _, rc := range []*rawClient{upg, con} {
			if reason := rc.expectCloseReason(4001); reason != "token expired" {
				t.Fatalf("close reason %q", reason)
			}
			if d := time.Since(end); d < -50*time.Millisecond || d > time.Second {
				t.Fatalf("leeway %v: closed %v after the token's end", leeway, d)
			}
			rc.send(msgFrame(8, true, string(closePayload(4001, ""))))
			rc.expectEOF()
		}
		if got := timeouts(t, s, "token"); got != 2 {
			t.Errorf("wsedge_timeouts_total{kind=token} = %v, want 2", got)
		}
	}
}

// TestRefresh: refresh with a later token of the same user moves the end;
// with another user's token it is PERMISSION_DENIED and the old end stands;
// a bad token is UNAUTHORIZED and changes nothing either.
func TestRefresh(t *testing.T) {
	o := timeoutOptions()
	o.JWTHMACSecret = idSecret
	o.JWTLeeway = 0
	s := startIDServer(t, o)

	tok, oldEnd := expiring(t, "42", 2*time.Second)
	_, _, _, moved := upgradeWith(t, s, "/ws", bearer(tok))
	_, _, _, stays := upgradeWith(t, s, "/ws", bearer(tok))
	later, newEnd := expiring(t, "42", 4*time.Second)
	if got := moved.roundTrip(`{"type":"refresh","id":"r","token":"` + later + `"}`); got != `{"type":"ack","id":"r"}` {
		t.Fatalf("refresh: %s", got)
	}
	other, _ := expiring(t, "43", time.Hour)
	for _, tc := range []struct{ msg, code string }{
		{`{"type":"refresh","id":"r1","token":"` + other + `"}`, "PERMISSION_DENIED"},
		{`{"type":"refresh","id":"r2","token":"x` + later + `"}`, "UNAUTHORIZED"},
		{`{"type":"refresh","id":"r3"}`, "INVALID_MESSAGE"},
	} {
		id := `"` + strings.Split(strings.Split(tc.msg, `"id":"`)[1], `"`)[0] + `"`
		if err := checkError([]byte(stays.roundTrip(tc.msg)), tc.code, id); err != nil {
			t.Fatal(err)
		}
	}
	stays.expectCloseReason(4001)
	if d := time.Since(oldEnd); d < -50*time.Millisecond || d > time.Second {
		t.Fatalf("the refused refreshes moved the end: closed %v after the old one", d)
	}
	// The refreshed one is still open past its old end, and closes at the new.
	if got := moved.roundTrip(`{"type":"whoami","id":"w"}`); !strings.Contains(got, `"expires":`+formatInt(newEnd.Unix())) {
		t.Fatalf("after the refresh: %s", got)
	}
	moved.expectCloseReason(4001)
	if d := time.Since(newEnd); d < -50*time.Millisecond || d > time.Second {
		t.Fatalf("refreshed: closed %v after the new end", d)
	}
	// An anonymous connection has nothing to refresh.
	o2 := idOptions()
	o2.AllowAnonymous = true
	s2 := startIDServer(t, o2)
	_, _, _, anon := upgradeWith(t, s2, "/ws", "")
	if err := checkError([]byte(anon.roundTrip(`{"type":"refresh","id":"a","token":"`+later+`"}`)), "UNAUTHORIZED", `"a"`); err != nil {
		t.Fatal(err)
	}
	expectNoToken(t, tok, later, other)
}

// TestRefreshEarlier: a refresh to an earlier end pulls the connection's
// single timer in.
func TestRefreshEarlier(t *testing.T) {
	o := timeoutOptions()
	o.JWTHMACSecret = idSecret
	o.JWTLeeway = 0
	s := startIDServer(t, o)
	tok, _ := expiring(t, "1", time.Hour)
	_, _, _, rc := upgradeWith(t, s, "/ws", bearer(tok))
	sooner, end := expiring(t, "1", 2*time.Second)
	if got := rc.roundTrip(`{"type":"refresh","id":"r","token":"` + sooner + `"}`); got != `{"type":"ack","id":"r"}` {
		t.Fatalf("refresh: %s", got)
	}
	rc.expectCloseReason(4001)
	if d := time.Since(end); d < -50*time.Millisecond || d > time.Second {
		t.Fatalf("closed %v after the new, earlier end", d)
	}
}

// TestExpiryOneTimer: an idle authenticated connection holds one wheel
// entry, at its earliest deadline: the token's end shares it with the
// heartbeat instead of adding one.
func TestExpiryOneTimer(t *testing.T) {
	o := timeoutOptions()
	o.JWTHMACSecret = idSecret
	s := startIDServer(t, o)
	const n = 20
	tok, _ := expiring(t, "1", time.Hour)
	for range n {
		upgradeWith(t, s, "/ws", bearer(tok))
	}
	waitFor(t, 5*time.Second, "the connections", func() bool { return s.Connections() == n })
	if got, ok := timerCount(s); !ok || got != n {
		t.Fatalf("%d wheel entries for %d idle connections with an exp and no other timeout, want %d", got, n, n)
	}
	o.PingInterval = time.Minute // now the ping and the exp are both due: still one entry each
	s2 := startIDServer(t, o)
	for range n {
		upgradeWith(t, s2, "/ws", bearer(tok))
	}
	waitFor(t, 5*time.Second, "the connections", func() bool { return s2.Connections() == n })
	if got, ok := timerCount(s2); !ok || got != n {
		t.Fatalf("%d wheel entries for %d idle connections with an exp and pings, want %d", got, n, n)
	}
}
