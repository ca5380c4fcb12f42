package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/wsedge/wsedge/codec"
)

// Python websockets (zlib underneath, its own RFC 7692 negotiation) is the
// independent client that stands in for the Autobahn fuzzingclient, which
// cannot run here: testdata/deflate/websockets_client.py.

// debianPython is Debian's Python, the one with python3-websockets.
const debianPython = "/usr/bin/python3"

// pyOffer is one permessage-deflate offer; CMWB is nil (not offered), true
// (offered without a value) or a window size.
type pyOffer struct {
	SNCT bool `json:"snct"`
	CNCT bool `json:"cnct"`
	SMWB *int `json:"smwb"`
	CMWB any  `json:"cmwb"`
}

type pyCase struct {
	Name     string    `json:"name"`
	Offers   []pyOffer `json:"offers"`
	Messages [][4]any  `json:"messages"` // size, binary, fragment size (0: whole), count
}

type pyResult struct {
	Name       string  `json:"name"`
	Answer     string  `json:"answer"`
	Echoed     int     `json:"echoed"`
	Compressed int     `json:"compressed"`
	Error      string  `json:"error"`
	Seconds    float64 `json:"seconds"`
}

func intp(n int) *int { return &n }

// autobahnSizes are the fuzzingclient's message sizes and auto-fragment
// sizes of cases 12.x.y and 13.x.y (y = 1..18).
var autobahnSizes = [][2]int{
	{16, 0}, {64, 0}, {256, 0}, {1024, 0}, {4096, 0}, {8192, 0}, {16384, 0}, {32768, 0}, {65536, 0}, {131072, 0},
	{8192, 256}, {16384, 256}, {32768, 256}, {65536, 256}, {131072, 256}, {131072, 1024}, {131072, 4096}, {131072, 32768},
}

// pyCases are the offers: every combination of the four parameters (with
// window sizes at the edges and between), then, withAutobahn, the
// fuzzingclient's own offers of 12.x and 13.1-13.7 with its message sizes.
func pyCases(withAutobahn bool) []pyCase {
	var cases []pyCase
	quick := [][4]any{{16, false, 0, 1}, {300, true, 0, 1}, {3000, false, 0, 1}, {20000, true, 4096, 1}}
	for _, snct := range []bool{false, true} {
		for _, cnct := range []bool{false, true} {
			for _, smwb := range []*int{nil, intp(8), intp(9), intp(12), intp(15)} {
				for _, cmwb := range []any{nil, true, 9, 11, 15} { // 8: zlib cannot compress with it, so the client fails itself
					o := pyOffer{snct, cnct, smwb, cmwb}
					cases = append(cases, pyCase{Name: "offer " + o.String(), Offers: []pyOffer{o}, Messages: quick})
				}
			}
		}
	}
	if !withAutobahn {
		return cases
	}
	// Every size of the fuzzingclient with WSEDGE_AUTOBAHN_FULL=1 (minutes
	// on a busy machine); else a spread of them: the smallest, one under
	// -compression-min-size, the largest whole, 128 KiB in 256-byte frames.
	sizes := [][2]int{{16, 0}, {256, 0}, {4096, 0}, {131072, 0}, {8192, 256}, {131072, 256}, {131072, 32768}}
	count := 1
	if os.Getenv("WSEDGE_AUTOBAHN_FULL") == "1" {
		sizes, count = autobahnSizes, 5
	}
	var all [][4]any
	for _, s := range sizes {
		all = append(all, [4]any{s[0], false, s[1], count}, [4]any{s[0], true, s[1], count})
	}
	// The fuzzingclient's PerMessageDeflateOffer: it accepts both
	// no_context_takeover and client_max_window_bits; 13.x add requests.
	ab := func(snct bool, smwb *int) pyOffer { return pyOffer{SNCT: snct, CNCT: true, SMWB: smwb, CMWB: true} }
	for _, c := range []struct {
		name   string
		offers []pyOffer
	}{
		{"12.x / 13.1 default offer", []pyOffer{ab(false, nil)}},
		{"13.2 server_no_context_takeover", []pyOffer{ab(true, nil)}},
		{"13.3 server_max_window_bits=8", []pyOffer{ab(false, intp(8))}},
		{"13.4 server_max_window_bits=15", []pyOffer{ab(false, intp(15))}},
		{"13.5 both, window 8", []pyOffer{ab(true, intp(8))}},
		{"13.6 both, window 15", []pyOffer{ab(true, intp(15))}},
		{"13.7 three offers", []pyOffer{ab(true, intp(8)), ab(true, nil), ab(false, nil)}},
	} {
		cases = append(cases, pyCase{Name: "autobahn " + c.name, Offers: c.offers, Messages: all})
	}
	return cases
}

func (o pyOffer) String() string {
	s := "permessage-deflate"
	if o.SNCT {
		s += "; server_no_context_takeover"
	}
	if o.CNCT {
		s += "; client_no_context_takeover"
	}
	if o.SMWB != nil {
		s += "; server_max_window_bits=" + strconv.Itoa(*o.SMWB)
	}
	switch v := o.CMWB.(type) {
	case bool:
		s += "; client_max_window_bits"
	case int:
		s += "; client_max_window_bits=" + strconv.Itoa(v)
	}
	return s
}

// expectedAnswer is RFC 7692 as docs/compression.md says the node applies
// it, written out independently of the codec: the first offer is always
// acceptable here (the client only makes valid ones).
func expectedAnswer(mode codec.Mode, windowBits int, o pyOffer) string {
	s := "permessage-deflate"
	if mode == codec.ModeNoContextTakeover {
		s += "; server_no_context_takeover; client_no_context_takeover"
		if o.SMWB != nil {
			s += "; server_max_window_bits=" + strconv.Itoa(*o.SMWB)
		}
		return s
	}
	if o.SNCT {
		s += "; server_no_context_takeover"
	}
	if o.CNCT {
		s += "; client_no_context_takeover"
	}
	if o.SMWB != nil {
		s += "; server_max_window_bits=" + strconv.Itoa(*o.SMWB)
	}
	if o.CMWB != nil && !o.CNCT {
		bits := windowBits
		if v, ok := o.CMWB.(int); ok && v < bits {
			bits = v
		}
		if bits < 15 {
			s += "; client_max_window_bits=" + strconv.Itoa(bits)
		}
	}
	return s
}

// requirePython returns the interpreter with websockets, or skips (fails
// under CI=true) without it.
func requirePython(t *testing.T) string {
	t.Helper()
	err := exec.Command(debianPython, "-c", "import websockets").Run()
	if err == nil {
		return debianPython
	}
	const how = "install it with: apt-get install -y python3-websockets"
	if inCI() {
		t.Fatalf("%s with websockets is required in CI (%v); %s", debianPython, err, how)
	}
	t.Skipf("%s with websockets not available (%v); %s", debianPython, err, how)
	return ""
}

// TestCompressionPythonWebsockets: every offer a client can make, and the
// fuzzingclient's compression cases, against /echo in both modes, with
// -compression-window-bits 15 and 10: the answer is exactly what RFC 7692
// and docs/compression.md say, the client accepts it, and every message
// (16 B to 128 KiB, text and binary, whole and auto-fragmented) comes back
// as sent, compressed when it is worth it.
func TestCompressionPythonWebsockets(t *testing.T) {
	py := requirePython(t)
	script, err := filepath.Abs(filepath.Join("testdata", "deflate", "websockets_client.py"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode       codec.Mode
		windowBits int
		autobahn   bool
	}{{codec.ModeNoContextTakeover, 15, true}, {codec.ModeContextTakeover, 15, true}, {codec.ModeContextTakeover, 10, false}} {
		t.Run(tc.mode.String()+"/window-"+strconv.Itoa(tc.windowBits), func(t *testing.T) {
			t.Parallel() // each is one Python process and one server
			o := compressionOptions(tc.mode)
			o.Compression.WindowBits = uint8(tc.windowBits)
			o.MaxMessageSize = 1 << 20 // the fuzzingclient sends 128 KiB messages
			s := startServer(t, o)
			cases := pyCases(tc.autobahn)
			in, _ := json.Marshal(map[string]any{"url": wsURL(s, "/echo"), "cases": cases})
			cmd := exec.Command(py, script)
			cmd.Stdin = bytes.NewReader(in)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			n := 0
			var slow []pyResult
			for sc.Scan() {
				var r pyResult
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					t.Fatalf("result %q: %v", sc.Text(), err)
				}
				c := cases[n]
				n++
				if r.Seconds > 1 {
					slow = append(slow, r)
				}
				want := expectedAnswer(tc.mode, tc.windowBits, c.Offers[0])
				msgs, textOver := 0, 0
				for _, m := range c.Messages {
					msgs += m[3].(int)
					if !m[1].(bool) && m[0].(int) >= int(o.Compression.MinSize) {
						textOver += m[3].(int)
					}
				}
				switch {
				case r.Error != "":
					t.Errorf("%s: %s (answer %q)", r.Name, r.Error, r.Answer)
				case r.Answer != want:
					t.Errorf("%s: answer %q, want %q", r.Name, r.Answer, want)
				case r.Echoed != msgs:
					t.Errorf("%s: %d of %d messages echoed", r.Name, r.Echoed, msgs)
				case r.Compressed < textOver || r.Compressed > msgs:
					t.Errorf("%s: %d compressed echoes of %d messages (%d text ones over the minimum)", r.Name, r.Compressed, msgs, textOver)
				}
			}
			if err := cmd.Wait(); err != nil || n != len(cases) {
				t.Fatalf("python: %v after %d of %d cases\n%s", err, n, len(cases), stderr.String())
			}
			t.Logf("%d cases in %v", n, time.Since(start).Round(time.Millisecond))
			for _, r := range slow {
				t.Logf("%s: %.1fs", r.Name, r.Seconds)
			}
			if got := counterValue(t, s.Metrics().CompressedMessages.WithLabelValues("in")); got == 0 {
				t.Error("the server received no compressed message")
			}
		})
	}
}
