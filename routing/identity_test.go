package routing

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// An identity's end moves with a refresh of the same user only, and never for an anonymous or
// closed session.
func TestIdentityExpiry(t *testing.T) {
	r := New(Options{Workers: 1})
	defer r.Close()
	hub := r.Hub()
	s, anon := r.Open(&fakeConn{}), r.Open(&fakeConn{})
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

// TestIdentitySize: an identity is 32 bytes (a size class) besides its user id and info.
func TestIdentitySize(t *testing.T) {
	if n := unsafe.Sizeof(identity{}); n > 32 {
		t.Fatalf("identity is %d bytes, budget 32", n)
	}
}

// TestNewIdentityBytes: an identity holds its user id and info in its own allocation, 32 bytes
// for up to 16 bytes of them and the size class that fits beyond; a larger info (over 496
// bytes with the user id) takes a string of its own. Both read back whole.
func TestNewIdentityBytes(t *testing.T) {
	for _, tc := range []struct {
		user, info   int
		size, allocs int
	}{
		{1, 0, 32, 1}, {9, 0, 32, 1}, {16, 0, 32, 1}, {8, 8, 32, 1}, {17, 0, 48, 1},
		{36, 0, 64, 1}, {10, 30, 64, 1}, {36, 100, 160, 1}, {100, 396, 512, 1},
		{100, 397, 64 + 512, 2}, {20, 5000, 64 + 5376, 2},
	} {
		user, info := strings.Repeat("u", tc.user), []byte(strings.Repeat("i", tc.info))
		if tc.info > 0 {
			info[0] = '{'
		}
		id := newIdentity(user, info, 77)
		if id.user() != user || string(id.info()) != string(info) || (tc.info == 0) != (id.info() == nil) || id.expires.Load() != 77 {
			t.Errorf("user %d info %d: read back user %q info %q expires %d", tc.user, tc.info, id.user(), id.info(), id.expires.Load())
		}
		if a := testing.AllocsPerRun(20, func() { id = newIdentity(user, info, 0) }); int(a) != tc.allocs {
			t.Errorf("user %d info %d: %v allocations, want %d", tc.user, tc.info, a, tc.allocs)
		}
		if per := bytesEach(func() any { return newIdentity(user, info, 0) }); per < tc.size || per >= tc.size+8 {
			t.Errorf("user %d info %d: %d bytes an identity, want %d", tc.user, tc.info, per, tc.size)
		}
	}
}

// TestUserIndexCollisions: users whose ids hash alike share a probe run of the index and stay
// apart: deliveries, counts and interest are per user, and removals from the middle, the head
// and the tail of a user's list keep the rest.
func TestUserIndexCollisions(t *testing.T) {
	r := New(Options{Workers: 1})
	defer r.Close()
	hub := r.Hub()
	hub.hashUser = func(string) uint64 { return 7 } // every user at one home slot
	log := &interestLog{}
	hub.SetCluster(log)
	users := []string{"a", "b", "a", "c", "b", "a"}
	var ss []*Session
	for _, u := range users {
		s := r.Open(&fakeConn{})
		if err := hub.SetIdentity(s, u, []byte(`"`+u+`"`)); err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	counts := func() string {
		return fmt.Sprint(hub.UserConnections("a"), hub.UserConnections("b"), hub.UserConnections("c"), hub.UserConnections("d"))
	}
	if got := counts(); got != "3 2 1 0" {
		t.Fatalf("connections per user %s", got)
	}
	for _, s := range []*Session{ss[5], ss[0], ss[3], ss[1]} { // the head, the tail, middles
		r.Closed(s)
	}
	if got := counts(); got != "1 1 0 0" {
		t.Fatalf("after closes: %s", got)
	}
	var got []*Session
	hub.UserSessions("a", func(s *Session) bool { got = append(got, s); return true })
	if len(got) != 1 || got[0] != ss[2] || string(got[0].Info()) != `"a"` {
		t.Fatalf("sessions of a: %v", got)
	}
	want := []string{"+user:a", "+user:b", "+user:c", "-user:c"}
	if g := log.take(); !slices.Equal(g, want) {
		t.Fatalf("interest %v, want %v", g, want)
	}
	r.Closed(ss[2])
	r.Closed(ss[4])
	if g := log.take(); !slices.Equal(g, []string{"-user:a", "-user:b"}) {
		t.Fatalf("interest at the end %v", g)
	}
}

// BenchmarkIdentityMemory reports the heap an identity adds to a session (B/identity): the
// identity, the user index, a 6-byte user id and a 7-byte info.
func BenchmarkIdentityMemory(b *testing.B) {
	const n = 20000
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("u%05d", i)
	}
	info := []byte(`{"n":1}`)
	var per float64
	for b.Loop() {
		r := New(Options{Workers: 1})
		conn := &fakeConn{discard: true}
		ss := make([]*Session, n)
		for i := range ss {
			ss[i] = r.Open(conn)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i, s := range ss {
			if err := r.Hub().SetIdentityUntil(s, users[i], info, 2000000000); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(ss)
		r.Close()
	}
	b.ReportMetric(per, "B/identity")
}
