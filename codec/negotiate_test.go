package codec

import (
	"strings"
	"testing"
)

var (
	deflateNCT = &Deflate{Mode: ModeNoContextTakeover}
	deflateCT  = &Deflate{Mode: ModeContextTakeover}
	deflateCTW = &Deflate{Mode: ModeContextTakeover, WindowBits: 10}
	deflateOff = &Deflate{Mode: ModeOff}
)

const (
	respBoth = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	respBare = "permessage-deflate"
)

// negotiateCase: the header lines of one handshake and the answer each
// mode gives ("" = the extension is left out).
type negotiateCase struct {
	name      string
	headers   []string
	nct, ct   string // ModeNoContextTakeover, ModeContextTakeover
	ctw       string // ModeContextTakeover with WindowBits 10; "=" means same as ct
	skipRound bool   // the response is not meant to be parsed back (none)
}

func negotiateCases() []negotiateCase {
	const smwb = "; server_max_window_bits="
	return []negotiateCase{
		// Each parameter alone.
		{name: "bare", headers: []string{"permessage-deflate"}, nct: respBoth, ct: respBare, ctw: "="},
		{name: "server_no_context_takeover", headers: []string{"permessage-deflate; server_no_context_takeover"},
			nct: respBoth, ct: "permessage-deflate; server_no_context_takeover", ctw: "="},
		{name: "client_no_context_takeover", headers: []string{"permessage-deflate; client_no_context_takeover"},
			nct: respBoth, ct: "permessage-deflate; client_no_context_takeover", ctw: "="},
		{name: "server_max_window_bits=10", headers: []string{"permessage-deflate; server_max_window_bits=10"},
			nct: respBoth + smwb + "10", ct: respBare + smwb + "10", ctw: "="},
		{name: "server_max_window_bits=8", headers: []string{"permessage-deflate; server_max_window_bits=8"},
			nct: respBoth + smwb + "8", ct: respBare + smwb + "8", ctw: "="},
		{name: "server_max_window_bits=15 is answered", headers: []string{"permessage-deflate; server_max_window_bits=15"},
			nct: respBoth + smwb + "15", ct: respBare + smwb + "15", ctw: "="},
		{name: "client_max_window_bits bare", headers: []string{"permessage-deflate; client_max_window_bits"},
			nct: respBoth, ct: respBare, ctw: "permessage-deflate; client_max_window_bits=10"},
		{name: "client_max_window_bits=12", headers: []string{"permessage-deflate; client_max_window_bits=12"},
			nct: respBoth, ct: "permessage-deflate; client_max_window_bits=12", ctw: "permessage-deflate; client_max_window_bits=10"},
		{name: "client_max_window_bits=9 below the configured 10", headers: []string{"permessage-deflate; client_max_window_bits=9"},
			nct: respBoth, ct: "permessage-deflate; client_max_window_bits=9", ctw: "="},
		{name: "client_max_window_bits=15", headers: []string{"permessage-deflate; client_max_window_bits=15"},
			nct: respBoth, ct: respBare, ctw: "permessage-deflate; client_max_window_bits=10"},

		// Combined.
		{name: "all four", headers: []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=11"},
			nct: respBoth + smwb + "9", ct: respBoth + smwb + "9", ctw: "="},
		{name: "gorilla's offer", headers: []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
			nct: respBoth, ct: respBoth, ctw: "="},
		{name: "browser offer", headers: []string{"permessage-deflate; client_max_window_bits"},
			nct: respBoth, ct: respBare, ctw: "permessage-deflate; client_max_window_bits=10"},
		{name: "autobahn 13.5", headers: []string{"permessage-deflate; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8"},
			nct: respBoth + smwb + "8", ct: "permessage-deflate; server_no_context_takeover" + smwb + "8",
			ctw: "permessage-deflate; server_no_context_takeover" + smwb + "8; client_max_window_bits=10"},
		{name: "client window with client no context takeover is not answered",
			headers: []string{"permessage-deflate; client_no_context_takeover; client_max_window_bits=9"},
			nct:     respBoth, ct: "permessage-deflate; client_no_context_takeover", ctw: "="},

		// Syntax variants that are fine.
		{name: "quoted value", headers: []string{`permessage-deflate; server_max_window_bits="10"`},
			nct: respBoth + smwb + "10", ct: respBare + smwb + "10", ctw: "="},
		{name: "quoted value with escape", headers: []string{`permessage-deflate; client_max_window_bits="1\2"`},
			nct: respBoth, ct: "permessage-deflate; client_max_window_bits=12", ctw: "permessage-deflate; client_max_window_bits=10"},
		{name: "case and whitespace", headers: []string{"  PerMessage-Deflate ;\tServer_No_Context_Takeover ; SERVER_MAX_WINDOW_BITS = 11  "},
			nct: respBoth + smwb + "11", ct: "permessage-deflate; server_no_context_takeover" + smwb + "11", ctw: "="},
		{name: "empty list elements", headers: []string{" , ,permessage-deflate,,"}, nct: respBoth, ct: respBare, ctw: "="},

		// Several offers: the first acceptable one wins.
		{name: "autobahn 13.7", headers: []string{"permessage-deflate; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8, " +
			"permessage-deflate; client_max_window_bits; server_no_context_takeover, permessage-deflate; client_max_window_bits"},
			nct: respBoth + smwb + "8", ct: "permessage-deflate; server_no_context_takeover" + smwb + "8",
			ctw: "permessage-deflate; server_no_context_takeover" + smwb + "8; client_max_window_bits=10"},
		{name: "malformed first, good second", headers: []string{"permessage-deflate; server_max_window_bits=16, permessage-deflate; client_no_context_takeover"},
			nct: respBoth, ct: "permessage-deflate; client_no_context_takeover", ctw: "="},
		{name: "offers over two header lines", headers: []string{"x-webkit-deflate-frame", "permessage-deflate; server_max_window_bits=12", "permessage-deflate"},
			nct: respBoth + smwb + "12", ct: respBare + smwb + "12", ctw: "="},
		{name: "bad line then good line", headers: []string{`permessage-deflate; foo="bar`, "permessage-deflate"},
			nct: respBoth, ct: respBare, ctw: "="},

		// Unknown extensions before and after.
		{name: "unknown before", headers: []string{"foo; bar=1; baz=\"a,b\", permessage-deflate; client_no_context_takeover"},
			nct: respBoth, ct: "permessage-deflate; client_no_context_takeover", ctw: "="},
		{name: "unknown after", headers: []string{"permessage-deflate; server_no_context_takeover, foo, x-webkit-deflate-frame; max_window_bits=15"},
			nct: respBoth, ct: "permessage-deflate; server_no_context_takeover", ctw: "="},
		{name: "only unknown", headers: []string{"x-webkit-deflate-frame, deflate-frame"}, skipRound: true},
		{name: "no header", headers: nil, skipRound: true},
		{name: "empty header", headers: []string{""}, skipRound: true},
		{name: "name as a prefix", headers: []string{"permessage-deflatex, xpermessage-deflate"}, skipRound: true},

		// Malformed or unacceptable offers are declined (left out).
		{name: "server_max_window_bits without value", headers: []string{"permessage-deflate; server_max_window_bits"}, skipRound: true},
		{name: "server_max_window_bits=7", headers: []string{"permessage-deflate; server_max_window_bits=7"}, skipRound: true},
		{name: "server_max_window_bits=16", headers: []string{"permessage-deflate; server_max_window_bits=16"}, skipRound: true},
		{name: "server_max_window_bits=010", headers: []string{"permessage-deflate; server_max_window_bits=010"}, skipRound: true},
		{name: "server_max_window_bits=09", headers: []string{"permessage-deflate; server_max_window_bits=09"}, skipRound: true},
		{name: "server_max_window_bits=abc", headers: []string{"permessage-deflate; server_max_window_bits=abc"}, skipRound: true},
		{name: "server_max_window_bits empty quoted", headers: []string{`permessage-deflate; server_max_window_bits=""`}, skipRound: true},
		{name: "client_max_window_bits=0", headers: []string{"permessage-deflate; client_max_window_bits=0"}, skipRound: true},
		{name: "client_max_window_bits=-9", headers: []string{"permessage-deflate; client_max_window_bits=-9"}, skipRound: true},
		{name: "client_max_window_bits=", headers: []string{"permessage-deflate; client_max_window_bits="}, skipRound: true},
		{name: "no_context_takeover with a value", headers: []string{"permessage-deflate; server_no_context_takeover=1"}, skipRound: true},
		{name: "client_no_context_takeover with a value", headers: []string{`permessage-deflate; client_no_context_takeover=""`}, skipRound: true},
		{name: "duplicate parameter", headers: []string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, skipRound: true},
		{name: "duplicate window", headers: []string{"permessage-deflate; client_max_window_bits; client_max_window_bits=10"}, skipRound: true},
		{name: "unknown parameter", headers: []string{"permessage-deflate; mystery"}, skipRound: true},
		{name: "garbage after name", headers: []string{"permessage-deflate x"}, skipRound: true},
		{name: "unterminated quote", headers: []string{`permessage-deflate; server_max_window_bits="10, permessage-deflate`}, skipRound: true},
		{name: "bad token in parameter name", headers: []string{"permessage-deflate; ser(ver)"}, skipRound: true},
		{name: "empty parameter", headers: []string{"permessage-deflate;;"}, skipRound: true},
		{name: "long quoted value", headers: []string{`permessage-deflate; server_max_window_bits="0000000010"`}, skipRound: true},
		{name: "non-ASCII", headers: []string{"permessage-deflaté"}, skipRound: true},
	}
}

func negotiate(c *Deflate, headers []string) (Params, bool) {
	var p Params
	ok := false
	for _, h := range headers {
		ok = c.Negotiate(&p, []byte(h))
	}
	return p, ok && p.Enabled()
}

func TestNegotiateMatrix(t *testing.T) {
	for _, tc := range negotiateCases() {
		t.Run(tc.name, func(t *testing.T) {
			ctw := tc.ctw
			if ctw == "=" {
				ctw = tc.ct
			}
			for _, m := range []struct {
				name string
				c    *Deflate
				want string
			}{{"no-context-takeover", deflateNCT, tc.nct}, {"context-takeover", deflateCT, tc.ct},
				{"context-takeover/10 bits", deflateCTW, ctw}, {"off", deflateOff, ""}} {
				p, ok := negotiate(m.c, tc.headers)
				got := string(p.AppendResponse(nil))
				if ok != (m.want != "") || got != m.want {
					t.Fatalf("%s: got %q (ok %v), want %q", m.name, got, ok, m.want)
				}
				if !ok || tc.skipRound {
					continue
				}
				// What the client reads back is what the server will do.
				back, err := ParseResponse([]byte(got))
				if err != nil || back != p {
					t.Fatalf("%s: response %q parses back to %+v, %v; agreed %+v", m.name, got, back, err, p)
				}
				if m.c.Mode == ModeContextTakeover {
					assertOnlyOffered(t, got, strings.Join(tc.headers, ","))
				}
			}
		})
	}
}

// assertOnlyOffered: in context-takeover mode every parameter answered
// appears in the request.
func assertOnlyOffered(t *testing.T, resp, req string) {
	t.Helper()
	for _, part := range strings.Split(resp, ";")[1:] {
		name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
		if !strings.Contains(strings.ToLower(req), name) {
			t.Fatalf("response %q answers %s, which the request %q did not offer", resp, name, req)
		}
	}
}

func TestNegotiateStopsAtFirstAcceptable(t *testing.T) {
	var p Params
	if !deflateCT.Negotiate(&p, []byte("permessage-deflate; server_max_window_bits=9")) {
		t.Fatal("offer not accepted")
	}
	if !deflateCT.Negotiate(&p, []byte("permessage-deflate")) || p.ServerMaxWindowBits != 9 {
		t.Fatalf("a later header line replaced the first acceptable offer: %+v", p)
	}
}

func TestParseResponse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Params
		err  bool
	}{
		{in: "", want: Params{}},
		{in: "foo", want: Params{}},
		{in: "permessage-deflate", want: Params{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}},
		{in: respBoth, want: Params{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}},
		{in: "permessage-deflate; client_max_window_bits=9; server_max_window_bits=12",
			want: Params{ServerMaxWindowBits: 12, ClientMaxWindowBits: 9, statedServerBits: true}},
		{in: "permessage-deflate; client_max_window_bits", err: true},
		{in: "permessage-deflate, permessage-deflate", err: true},
		{in: "permessage-deflate; bogus", err: true},
		{in: ";", err: true},
	} {
		got, err := ParseResponse([]byte(tc.in))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestModeAndValidate(t *testing.T) {
	for _, s := range []string{"off", "no-context-takeover", "context-takeover"} {
		m, err := ParseMode(s)
		if err != nil || m.String() != s {
			t.Fatalf("%q: %v %v", s, m, err)
		}
	}
	if _, err := ParseMode("on"); err == nil {
		t.Fatal(`"on" accepted`)
	}
	for _, c := range []Deflate{{Level: 10}, {Level: -1}, {MinSize: -1}, {WindowBits: 8}, {WindowBits: 16}, {Mode: 7}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := (&Deflate{Mode: ModeContextTakeover, Level: 9, MinSize: 0, WindowBits: 9}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestNegotiateNoAlloc(t *testing.T) {
	h := []byte("foo; a=\"b\", permessage-deflate; server_max_window_bits=\"10\"; client_max_window_bits")
	buf := make([]byte, 0, 128)
	allocs := testing.AllocsPerRun(100, func() {
		var p Params
		if !deflateCTW.Negotiate(&p, h) {
			t.Fatal("not negotiated")
		}
		buf = p.AppendResponse(buf[:0])
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per negotiation", allocs)
	}
}
