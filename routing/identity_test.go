package routing

import "testing"

// An identity's end moves with a refresh of the same user only, and never for an anonymous or
// closed session.
func TestIdentityExpiry(t *testing.T) {
	r := New(Options{Workers: 1})
	defer r.Close()
	hub := r.Hub()
	s, anon := r.Open(&fakeConn{}, testIP), r.Open(&fakeConn{}, testIP)
	if err := hub.SetIdentityUntil(s, "42", []byte(`{"n":1}`), 1000); err != nil {
		t.Fatal(err)
	}
	if s.Expires() != 1000 || s.User() != "42" || string(s.Info()) != `{"n":1}` {
		t.Fatalf("identity %q %s until %d", s.User(), s.Info(), s.Expires())
	}
	for _, tc := range []struct {
		s       *Session
		user    string
		expires int64
		err     error
		want    int64 // s.Expires() afterwards
	}{
		{s, "42", 2000, nil, 2000},
		{s, "43", 3000, errUserChange, 2000}, // another user: the old expiry stands
		{s, "42", 0, nil, 0},                 // a token without exp: no end any more
		{anon, "42", 5000, errAnonymous, 0},
	} {
		if err := tc.s.Refresh(tc.user, tc.expires); err != tc.err {
			t.Errorf("Refresh(%q, %d) = %v, want %v", tc.user, tc.expires, err, tc.err)
		}
		if got := tc.s.Expires(); got != tc.want {
			t.Errorf("after Refresh(%q, %d): expires %d, want %d", tc.user, tc.expires, got, tc.want)
		}
	}
	if s.User() != "42" || string(s.Info()) != `{"n":1}` || hub.UserConnections("42") != 1 {
		t.Fatalf("a refresh changed the identity: %q %s, %d connections", s.User(), s.Info(), hub.UserConnections("42"))
	}
	r.Closed(s)
	if err := s.Refresh("42", 9000); err != errSessionClosed {
		t.Fatalf("Refresh on a closed session: %v", err)
	}
}
