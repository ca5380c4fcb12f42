package server

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/handover"
	"github.com/wsedge/wsedge/routing"
)

func recordCases() map[string]*connRecord {
	return map[string]*connRecord{
		"open /ws with a session mid-frame": {
			state: stOpen, ep: epWS, upgraded: true, flags: fFirst, remote: netip.MustParseAddrPort("10.1.2.3:40000"),
			ticket: true, since: 3 * time.Millisecond, msgAt: 5 * time.Millisecond, pingAt: time.Second,
			input: []byte{0x81, 0x85, 1, 2, 3, 4, 'h'}, timer: 20 * time.Second, idle: 2 * time.Second,
			dec:    codec.DecoderState{Done: 1, Message: codec.OpText, Assembled: []byte("he"), UTF8: 2},
			sess:   &routing.SessionState{ConnectedAt: 1700000000123456789, User: "alice", Info: []byte(`{"a":1}`), Expires: 4102444800, Channels: []string{"news", "chat:1"}},
			client: netip.MustParseAddr("2001:db8::1"), headers: []byte(`{"X-Tenant":["t1"]}`),
		},
		"handshake half read": {
			state: stHandshake, ep: epNone, remote: netip.MustParseAddrPort("[::1]:5555"), since: time.Millisecond,
			input: []byte("GET /ws HTTP/1.1\r\nHost: x\r\n"), timer: 4 * time.Second,
		},
		"echo, deflate with the client's window": {
			state: stOpen, ep: epEcho, upgraded: true, remote: netip.MustParseAddrPort("127.0.0.1:1"), zbits: 15,
			dec: codec.DecoderState{PeerWindowBits: 12, Window: []byte("recent bytes")},
		},
	}
}

// TestRecordRoundTrip: what the old process captures is what the successor
// reads, field for field.
func TestRecordRoundTrip(t *testing.T) {
	for name, want := range recordCases() {
		t.Run(name, func(t *testing.T) {
			got, err := readRecord(appendRecord(nil, want))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("read back\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// TestRecordRefused: records this build cannot serve are refused with
// errRecord (the old process then keeps the connection), and a field from a
// newer build is skipped.
func TestRecordRefused(t *testing.T) {
	good := appendRecord(nil, recordCases()["handshake half read"])
	with := func(f func(r *handover.Record)) []byte {
		r := handover.NewRecord(nil, recordVersion)
		r.Uint(tagState, uint64(stOpen)).Uint(tagEndpoint, uint64(epWS)).String(tagRemote, "1.2.3.4:5")
		f(r)
		return r.Done()
	}
	cases := map[string][]byte{
		"empty":              nil,
		"newer version":      append([]byte{recordVersion + 1}, good[1:]...),
		"truncated":          good[:len(good)-1],
		"no state":           handover.NewRecord(nil, recordVersion).String(tagRemote, "1.2.3.4:5").Done(),
		"closing":            with(func(r *handover.Record) { r.Uint(tagState, uint64(stClosing)) }),
		"state repeated":     with(func(r *handover.Record) { r.Uint(tagState, uint64(stOpen)) }),
		"identity in flight": with(func(r *handover.Record) { r.Uint(tagFlags, uint64(fHold)) }),
		"bad peer":           with(func(r *handover.Record) { r.String(tagRemote, "nowhere") }),
		"negative timer":     with(func(r *handover.Record) { r.Duration(tagTimer, -time.Second) }),
		"session on echo":    handover.NewRecord(nil, recordVersion).Uint(tagState, uint64(stOpen)).Uint(tagEndpoint, uint64(epEcho)).String(tagRemote, "1.2.3.4:5").Bool(tagSession, true).String(tagClientIP, "1.2.3.4").Done(),
		"session, no client": with(func(r *handover.Record) { r.Bool(tagSession, true) }),
		"headers not JSON": with(func(r *handover.Record) {
			r.Bool(tagSession, true).String(tagClientIP, "1.2.3.4").Bytes(tagHeaders, []byte("{"))
		}),
		"deflate bits":        with(func(r *handover.Record) { r.Uint(tagZBits, 3) }),
		"window, no deflate":  with(func(r *handover.Record) { r.Uint(tagPeerBits, 15) }),
		"unmasked count huge": with(func(r *handover.Record) { r.Uint(tagDecDone, 1<<40) }),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := readRecord(b); !errors.Is(err, errRecord) {
				t.Fatalf("readRecord = %v, want errRecord", err)
			}
		})
	}
	r, err := readRecord(with(func(r *handover.Record) { r.String(9999, "from a newer build") }))
	if err != nil || r.state != stOpen {
		t.Fatalf("unknown field not skipped: %v", err)
	}
}

// FuzzConnRecord: any input is refused or read, never a panic; what is
// read encodes back to a record that reads the same.
func FuzzConnRecord(f *testing.F) {
	for _, r := range recordCases() {
		f.Add(appendRecord(nil, r))
	}
	f.Add([]byte{recordVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := readRecord(b)
		if err != nil {
			if !errors.Is(err, errRecord) {
				t.Fatalf("error without errRecord: %v", err)
			}
			return
		}
		again, err := readRecord(appendRecord(nil, r))
		if err != nil {
			t.Fatalf("re-encoded record refused: %v", err)
		}
		if !reflect.DeepEqual(normRecord(again), normRecord(r)) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", again, r)
		}
	})
}

// normRecord makes empty and nil slices equal (the encoding does not keep
// the difference where it does not matter).
func normRecord(r *connRecord) connRecord {
	c := *r
	if len(c.input) == 0 {
		c.input = nil
	}
	if c.dec.Message == 0 || len(c.dec.Assembled) == 0 {
		c.dec.Assembled = nil
	}
	if c.zbits == 0 {
		c.dec.PeerNoContext = false
	}
	if c.sess != nil {
		s := *c.sess
		if len(s.Info) == 0 {
			s.Info = nil
		}
		c.sess = &s
	} else {
		c.client, c.headers = netip.Addr{}, nil
	}
	return c
}
