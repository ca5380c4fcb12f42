package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		m    method
		body string
		want request // compared on the value fields
		code string  // "" = accepted
	}{
		{mPublish, `{"channel":"a","data":{"x":[1,{"y":null}]}}`, request{channel: "a", data: []byte(`{"x":[1,{"y":null}]}`)}, ""},
		{mPublish, "\t\r\n{\"data\" : 1 , \"channel\":\"a\"}\n", request{channel: "a", data: []byte(`1`)}, ""},
		{mPublish, `{"ch\u0061nnel":"\u0061\/b","data":"\ud83d\ude00"}`, request{channel: "a/b", data: []byte(`"\ud83d\ude00"`)}, ""},
		{mDisconnect, `{"user":"\ud800x","reason":"\"q\" \\ \b\f\n\r\t"}`, request{user: "\ufffdx", reason: "\"q\" \\ \b\f\n\r\t"}, ""},
		{mDisconnect, `{"user":"\udc00\ud800\u0041"}`, request{user: "\ufffd\ufffdA"}, ""},
		{mDisconnect, `{"user":"é漢😀","code":-0}`, request{user: "é漢😀", code: 0}, ""},
		{mBroadcast, `{"channels":["a" , "b"],"data":[]}`, request{channels: []string{"a", "b"}, data: []byte(`[]`)}, ""},
		{mChannels, `{"pattern":null}`, request{}, ""},
		{mInfo, ` `, request{}, ""},
		{mInfo, `{}`, request{}, ""},
		{mPublish, `{"channel":"a","data":1e400}`, request{channel: "a", data: []byte(`1e400`)}, ""}, // a number is any number
		{mInfo, `{`, request{}, CodeInvalidJSON},
		{mInfo, `}`, request{}, CodeInvalidJSON},
		{mInfo, `{"a"}`, request{}, CodeInvalidJSON},
		{mInfo, `{"a":1,}`, request{}, CodeInvalidJSON},
		{mInfo, `{,}`, request{}, CodeInvalidJSON},
		{mInfo, `{} {}`, request{}, CodeInvalidJSON},
		{mInfo, `null`, request{}, CodeInvalidJSON},
		{mInfo, `{"a":1}`, request{}, CodeInvalidRequest},
		{mPublish, `{"channel":"a","data":-}`, request{}, CodeInvalidJSON},
		{mPublish, `{"channel":"a","data":1.}`, request{}, CodeInvalidJSON},
		{mPublish, `{"channel":"a","data":.5}`, request{}, CodeInvalidJSON},
		{mPublish, `{"channel":"a","data":1e}`, request{}, CodeInvalidJSON},
		{mPublish, `{"channel":"a","data":+1}`, request{}, CodeInvalidJSON},
		{mPublish, `{"channel":"a","data":"\u12"}`, request{}, CodeInvalidJSON},
		{mPublish, `{"channel":"a","data":"x`, request{}, CodeInvalidJSON},
		{mPublish, `{"channel":"a","data":"x\`, request{}, CodeInvalidJSON},
		{mPublish, `{"channel":"a","data":[1 2]}`, request{}, CodeInvalidJSON},
		{mPublish, `{"channel":"a","data":{"k" 1}}`, request{}, CodeInvalidJSON},
		{mPublish, `{"channel":"a","data":{1:1}}`, request{}, CodeInvalidJSON},
		{mPublish, `{"channel":"a","data":nul}`, request{}, CodeInvalidJSON},
		{mPublish, "{\"channel\":\"a\",\"data\":\"\x00\"}", request{}, CodeInvalidJSON},
		{mPublish, `{"channel":"a","channel":null,"data":1}`, request{}, CodeInvalidRequest},
		{mPublish, `{"channel":"a","data":1,"data":2}`, request{}, CodeInvalidRequest},
		{mBroadcast, `{"channels":["a",null],"data":1}`, request{}, CodeInvalidRequest},
		{mBroadcast, `{"channels":{},"data":1}`, request{}, CodeInvalidRequest},
	} {
		var r request
		f := r.decode(tc.m, []byte(tc.body))
		switch {
		case tc.code != "" && (f == nil || f.code != tc.code):
			t.Errorf("%s %q: got %v, want %s", tc.m, tc.body, f, tc.code)
		case tc.code == "" && f != nil:
			t.Errorf("%s %q: refused: %s %s", tc.m, tc.body, f.code, f.message)
		case tc.code == "" && (r.channel != tc.want.channel || r.user != tc.want.user || r.reason != tc.want.reason ||
			r.code != tc.want.code || !bytes.Equal(r.data, tc.want.data) || !slices.Equal(r.channels, tc.want.channels)):
			t.Errorf("%s %q: decoded %+v", tc.m, tc.body, r)
		}
	}
}

// oracle decodes body for method m with encoding/json, following the same
// rules (unknown and repeated fields refused, null = absent), and returns
// the error class or the values.
func oracle(m method, body []byte) (request, string) {
	var r request
	if len(bytes.Trim(body, " \t\r\n")) == 0 { // JSON whitespace only
		if needs[m] != 0 {
			return r, CodeInvalidRequest
		}
		return r, ""
	}
	if !json.Valid(body) {
		return r, CodeInvalidJSON
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, _ := dec.Token(); tok != json.Delim('{') {
		return r, CodeInvalidJSON
	}
	bad := false
	for dec.More() {
		tok, _ := dec.Token()
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return r, CodeInvalidJSON
		}
		f := fieldOf([]byte(key))
		if bad || f&takes[m] == 0 || r.given&f != 0 {
			bad = true
			continue
		}
		r.given |= f
		if string(raw) == "null" && f != fData {
			continue
		}
		r.seen |= f
		var err error
		switch f {
		case fData:
			r.data = raw
		case fCode:
			var n int32
			err = json.Unmarshal(raw, &n)
			r.code = int(n)
		case fChannels:
			var list []json.RawMessage
			if err = json.Unmarshal(raw, &list); err == nil {
				for _, e := range list {
					var s string
					if e[0] != '"' || json.Unmarshal(e, &s) != nil {
						err = errors.New("not a string")
						break
					}
					r.channels = append(r.channels, s)
				}
			}
			if len(r.channels) > MaxBroadcast {
				err = errors.New("too many")
			}
		default:
			var s string
			if raw[0] != '"' {
				err = errors.New("not a string")
			} else if err = json.Unmarshal(raw, &s); err == nil {
				switch f {
				case fChannel:
					r.channel = s
				case fUser:
					r.user = s
				case fReason:
					r.reason = s
				case fPattern:
					r.pattern = s
				}
			}
		}
		bad = err != nil
	}
	if _, err := dec.Token(); err != nil {
		return r, CodeInvalidJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return r, CodeInvalidJSON
	}
	if bad || needs[m]&^r.seen != 0 {
		return r, CodeInvalidRequest
	}
	return r, ""
}

// depth is the deepest nesting of containers in b (strings skipped roughly,
// enough to tell whether the 512 limit is near).
func depth(b []byte) int {
	d, deepest, inStr := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case !inStr && (c == '{' || c == '['):
			d++
			deepest = max(deepest, d)
		case !inStr && (c == '}' || c == ']'):
			d--
		}
	}
	return deepest
}

// checkDecode compares the decoder with the encoding/json oracle.
func checkDecode(t *testing.T, m method, body []byte) {
	var r request
	f := r.decode(m, body)
	if !utf8.Valid(body) {
		if f == nil || f.code != CodeInvalidJSON {
			t.Fatalf("%s %q: invalid UTF-8 accepted", m, body)
		}
		return
	}
	if depth(body) >= maxDepth-1 {
		return // encoding/json allows 10000 levels; the decoder 512
	}
	want, code := oracle(m, body)
	got := ""
	if f != nil {
		got = f.code
		if f.message == "" {
			t.Fatalf("%s %q: empty message", m, body)
		}
	}
	if got != code {
		t.Fatalf("%s %q: decoder says %q (%v), encoding/json %q", m, body, got, f, code)
	}
	if code != "" {
		return
	}
	if r.channel != want.channel || r.user != want.user || r.reason != want.reason || r.pattern != want.pattern ||
		r.code != want.code || !bytes.Equal(r.data, want.data) || !slices.Equal(r.channels, want.channels) || r.seen != want.seen {
		t.Fatalf("%s %q:\n decoder  %+v\n oracle   %+v", m, body, r, want)
	}
	if r.seen&fData != 0 && !json.Valid(r.data) {
		t.Fatalf("%s %q: data %q is not JSON", m, body, r.data)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"channel":"news","data":{"text":"hello"}}`,
		`{"channels":["a","b"],"data":[1,2,3]}`,
		`{"user":"42","channel":"chat:1"}`,
		`{"user":"42","code":4000,"reason":"bye"}`,
		`{"pattern":"chat:*"}`,
		`{}`, ``, `{"ch\u0061nnel":"\ud83d\ude00","data":"\u0000"}`,
		`{"channel":"a","data":1,"channel":"b"}`, `{"data":-0.5e+3}`, `[1]`, `{"a":{"b":[{}]}}`,
	} {
		for m := range numMethods {
			f.Add(byte(m), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, m byte, body []byte) {
		checkDecode(t, method(m%byte(numMethods)), body)
	})
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	// Every seed of the checked-in corpus and each of its prefixes: cut
	// documents exercise every "unexpected end" path.
	for _, s := range []string{
		`{"channel":"news","data":{"text":"hello","n":[1,-2.5e-3,true,false,null]}}`,
		`{"channels":["a","b\u0041"],"data":"x\"y"}`,
		`{"user":"42","code":4000,"reason":"bye \ud83d\ude00"}`,
		`{"pattern":"chat:*","x":1}`,
	} {
		for i := 0; i <= len(s); i++ {
			for m := range numMethods {
				checkDecode(t, m, []byte(s[:i]))
			}
		}
	}
}

func TestPattern(t *testing.T) {
	for _, tc := range []struct {
		p, name string
		want    bool
	}{
		{"", "anything", true},
		{"news", "news", true},
		{"news", "news2", false},
		{"chat:*", "chat:1", true},
		{"chat:*", "chat:", true},
		{"chat:*", "cha", false},
		{"*#42", "dm#42", true},
		{"*#42", "dm#420", false},
		{"room-??", "room-12", true},
		{"room-??", "room-1", false},
		{"*a*b*c", "xaybzc", true},
		{"*a*b*c", "xaybzcd", false},
		{"a*", "b", false},
		{"**", "", true},
		{"*", "", true},
		{"?", "", false},
		{"a*a*a*a*a*b", strings.Repeat("a", 100), false}, // no exponential backtracking
	} {
		if got := Pattern(tc.p).Match(tc.name); got != tc.want {
			t.Errorf("%q matches %q: %v, want %v", tc.p, tc.name, got, tc.want)
		}
	}
}

func TestValidCloseCode(t *testing.T) {
	for code, want := range map[int]bool{
		1000: true, 1001: true, 1008: true, 1012: true, 4000: true, 4003: true, 4999: true,
		0: false, 999: false, 1002: false, 1003: false, 1005: false, 1006: false, 1007: false,
		1009: false, 1011: false, 1015: false, 2000: false, 3000: false, 3999: false, 5000: false, -4003: false,
	} {
		if ValidCloseCode(code) != want {
			t.Errorf("%d: %v", code, !want)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"plain", `q"b\`, "ctl\x00\x01\x1f\n\r\t", "é漢😀", "bad\xffutf8", "js\u2028\u2029", ""} {
		b := appendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, b, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); back != want {
			t.Errorf("%q -> %s -> %q", s, b, back)
		}
		if bytes.Contains(b, []byte("\u2028")) {
			t.Errorf("%q: U+2028 not escaped", s)
		}
	}
}

// FuzzPattern checks Match against regexp on ASCII names and patterns.
func FuzzPattern(f *testing.F) {
	for _, s := range [][2]string{{"chat:*", "chat:1"}, {"*#42", "dm#42"}, {"room-??", "room-1"}, {"*a*b*c", "xaybzc"}, {"", "x"}, {"**?", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, name string) {
		for _, s := range []string{p, name} {
			for i := 0; i < len(s); i++ {
				if s[i] >= utf8.RuneSelf || s[i] == '\n' {
					return
				}
			}
		}
		var re strings.Builder
		re.WriteString(`^`)
		for _, c := range p {
			switch c {
			case '*':
				re.WriteString(`.*`)
			case '?':
				re.WriteString(`.`)
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString(`$`)
		want := p == "" || regexp.MustCompile(re.String()).MatchString(name)
		if got := Pattern(p).Match(name); got != want {
			t.Fatalf("%q matches %q: %v, regexp says %v", p, name, got, want)
		}
	})
}
