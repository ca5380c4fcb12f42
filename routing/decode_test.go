package routing

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in            string
		typ, id, ch, data   string // "" with the *Nil flags below meaning absent
		idNil, chNil, dtNil bool
		code                Code // expected error code, "" for success
	}{
		{name: "minimal", in: `{"type":"ping"}`, typ: "ping", idNil: true, chNil: true, dtNil: true},
		{name: "all fields", in: ` { "type" : "publish" , "id":"7", "channel":"a.b", "data" : {"x":[1,2.5e3,-0,true,false,null,"s"]} } `,
			typ: "publish", id: `"7"`, ch: "a.b", data: `{"x":[1,2.5e3,-0,true,false,null,"s"]}`},
		{name: "unknown fields skipped", in: `{"x":{"type":"no"},"type":"echo","y":[{}]}`, typ: "echo", idNil: true, chNil: true, dtNil: true},
		{name: "last duplicate wins", in: `{"type":"a","type":"b"}`, typ: "b", idNil: true, chNil: true, dtNil: true},
		{name: "escaped type", in: `{"type":"p\u0069n\u0067"}`, typ: "ping", idNil: true, chNil: true, dtNil: true},
		{name: "escaped key", in: `{"\u0074ype":"ping"}`, typ: "ping", idNil: true, chNil: true, dtNil: true},
		{name: "escaped channel", in: `{"type":"s","channel":"a\/b"}`, typ: "s", ch: "a/b", idNil: true, dtNil: true},
		{name: "surrogate pair", in: `{"type":"\ud83d\ude00"}`, typ: "\U0001F600", idNil: true, chNil: true, dtNil: true},
		{name: "lone surrogate", in: `{"type":"\ud83d"}`, typ: "\uFFFD", idNil: true, chNil: true, dtNil: true},
		{name: "id kept raw", in: `{"type":"t","id":"a\"b"}`, typ: "t", id: `"a\"b"`, chNil: true, dtNil: true},
		{name: "null id and channel", in: `{"type":"t","id":null,"channel":null,"data":null}`, typ: "t", idNil: true, chNil: true, data: "null"},
		{name: "data string", in: `{"type":"t","data":"hi"}`, typ: "t", data: `"hi"`, idNil: true, chNil: true},

		{name: "empty", in: ``, code: CodeInvalidJSON},
		{name: "spaces", in: `   `, code: CodeInvalidJSON},
		{name: "garbage", in: `hello`, code: CodeInvalidJSON},
		{name: "unterminated", in: `{"type":"ping"`, code: CodeInvalidJSON},
		{name: "trailing comma", in: `{"type":"ping",}`, code: CodeInvalidJSON},
		{name: "trailing data", in: `{"type":"ping"} x`, code: CodeInvalidJSON},
		{name: "two objects", in: `{"type":"ping"}{}`, code: CodeInvalidJSON},
		{name: "single quotes", in: `{'type':'ping'}`, code: CodeInvalidJSON},
		{name: "bad escape", in: `{"type":"\x"}`, code: CodeInvalidJSON},
		{name: "short unicode", in: `{"type":"\u12"}`, code: CodeInvalidJSON},
		{name: "control char", in: "{\"type\":\"a\nb\"}", code: CodeInvalidJSON},
		{name: "leading zero", in: `{"type":"t","data":01}`, code: CodeInvalidJSON},
		{name: "bare minus", in: `{"type":"t","data":-}`, code: CodeInvalidJSON},
		{name: "dot no digits", in: `{"type":"t","data":1.}`, code: CodeInvalidJSON},
		{name: "exp no digits", in: `{"type":"t","data":1e+}`, code: CodeInvalidJSON},
		{name: "bad literal", in: `{"type":"t","data":nul}`, code: CodeInvalidJSON},
		{name: "missing colon", in: `{"type" "t"}`, code: CodeInvalidJSON},
		{name: "unclosed array", in: `{"type":"t","data":[1,2}`, code: CodeInvalidJSON},
		{name: "too deep", in: `{"type":"t","data":` + strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1) + `}`, code: CodeInvalidJSON},

		{name: "array", in: `[1,2]`, code: CodeInvalidMessage},
		{name: "string", in: `"ping"`, code: CodeInvalidMessage},
		{name: "no type", in: `{"id":"1"}`, id: `"1"`, code: CodeInvalidMessage},
		{name: "empty type", in: `{"type":""}`, code: CodeInvalidMessage},
		{name: "type number", in: `{"type":1}`, code: CodeInvalidMessage},
		{name: "type null", in: `{"type":null}`, code: CodeInvalidMessage},
		{name: "id number", in: `{"type":"t","id":1}`, code: CodeInvalidMessage},
		{name: "channel number", in: `{"type":"t","channel":1}`, code: CodeInvalidMessage},
	}
	var m Message
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := m.Decode([]byte(tc.in))
			if tc.code != "" {
				if err == nil || err.Code != tc.code {
					t.Fatalf("Decode(%q) error = %v, want code %s", tc.in, err, tc.code)
				}
				if err.Message == "" {
					t.Fatal("empty error message")
				}
				if tc.id != "" && string(m.ID) != tc.id {
					t.Fatalf("id on error = %q, want %q", m.ID, tc.id)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%q) = %v", tc.in, err)
			}
			check := func(field string, got []byte, want string, wantNil bool) {
				t.Helper()
				if wantNil {
					if got != nil {
						t.Errorf("%s = %q, want absent", field, got)
					}
				} else if got == nil || string(got) != want {
					t.Errorf("%s = %q, want %q", field, got, want)
				}
			}
			check("type", m.Type, tc.typ, false)
			check("id", m.ID, tc.id, tc.idNil)
			check("channel", m.Channel, tc.ch, tc.chNil)
			check("data", m.Data, tc.data, tc.dtNil)
		})
	}
}

func TestValidChannel(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"a", true}, {"room:42", true}, {"A-z_0.9:x", true}, {strings.Repeat("c", MaxChannelLen), true},
		{"", false}, {strings.Repeat("c", MaxChannelLen+1), false}, {"a b", false}, {"a/b", false},
		{"é", false}, {"a*", false}, {"a>", false},
		// user-limited channels (docs/auth.md)
		{"notifications#42", true}, {"dm#42,43", true}, {"#42", true}, {"chat:dm#a,b", true},
		{"#", false}, {"news#", false}, {"dm#42,", false}, {"dm#,42", false}, {"a#b#c", false},
		{"a,b", false}, {"dm#42,,43", false},
	}
	for _, tc := range tests {
		if got := ValidChannel([]byte(tc.in)); got != tc.want {
			t.Errorf("ValidChannel(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`q"b\s`, `"q\"b\\s"`},
		{"\n\r\t\x01", `"\n\r\t\u0001"`},
		{"héllo", `"héllo"`},
		{"bad\xffutf8", `"bad\ufffdutf8"`},
	}
	for _, tc := range tests {
		if got := string(appendString(nil, tc.in)); got != tc.want {
			t.Errorf("appendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestAppendError(t *testing.T) {
	tests := []struct {
		id   []byte
		code Code
		msg  string
		want string
	}{
		{[]byte(`"7"`), CodeRateLimited, "slow down", `{"type":"error","id":"7","error":{"code":"RATE_LIMITED","message":"slow down"}}`},
		{nil, CodeRateLimited, "", `{"type":"error","error":{"code":"RATE_LIMITED","message":"too many messages; slow down"}}`},
		{nil, CodeInternal, `a "b"`, `{"type":"error","error":{"code":"INTERNAL","message":"a \"b\""}}`},
	}
	for _, tc := range tests {
		if got := string(AppendError(nil, tc.id, tc.code, tc.msg)); got != tc.want {
			t.Errorf("AppendError = %s, want %s", got, tc.want)
		}
	}
}

func TestDecodeMethod(t *testing.T) {
	var m Message
	for _, tc := range []struct {
		in, method string
		absent     bool
		code       Code
	}{
		{in: `{"type":"rpc","method":"getProfile","data":{"id":42}}`, method: "getProfile"},
		{in: `{"type":"rpc","method":"a\u0062c"}`, method: "abc"},
		{in: `{"type":"rpc"}`, absent: true},
		{in: `{"type":"rpc","method":null}`, absent: true},
		{in: `{"type":"rpc","method":""}`, method: ""},
		{in: `{"type":"rpc","method":7}`, code: CodeInvalidMessage},
		{in: `{"type":"rpc","method":["x"]}`, code: CodeInvalidMessage},
	} {
		err := m.Decode([]byte(tc.in))
		switch {
		case tc.code != "":
			if err == nil || err.Code != tc.code {
				t.Errorf("Decode(%s) = %v, want %s", tc.in, err, tc.code)
			}
		case err != nil:
			t.Errorf("Decode(%s) = %v", tc.in, err)
		case tc.absent && m.Method != nil:
			t.Errorf("Decode(%s): method %q, want absent", tc.in, m.Method)
		case !tc.absent && (m.Method == nil || string(m.Method) != tc.method):
			t.Errorf("Decode(%s): method %q, want %q", tc.in, m.Method, tc.method)
		}
	}
}

func TestDecodeToken(t *testing.T) {
	var m Message
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln"
	for _, tc := range []struct {
		in, token string
		absent    bool
		code      Code
	}{
		{in: `{"type":"connect","id":"1","token":"` + jwt + `"}`, token: jwt},
		{in: `{"type":"subscribe","channel":"private:x","token":"a\u002eb"}`, token: "a.b"},
		{in: `{"type":"connect"}`, absent: true},
		{in: `{"type":"connect","token":null}`, absent: true},
		{in: `{"type":"connect","token":""}`, token: ""},
		{in: `{"type":"connect","token":42}`, code: CodeInvalidMessage},
		{in: `{"type":"connect","token":{"t":1}}`, code: CodeInvalidMessage},
	} {
		err := m.Decode([]byte(tc.in))
		switch {
		case tc.code != "":
			if err == nil || err.Code != tc.code {
				t.Errorf("Decode(%s) = %v, want %s", tc.in, err, tc.code)
			}
		case err != nil:
			t.Errorf("Decode(%s) = %v", tc.in, err)
		case tc.absent && m.Token != nil:
			t.Errorf("Decode(%s): token %q, want absent", tc.in, m.Token)
		case !tc.absent && (m.Token == nil || string(m.Token) != tc.token):
			t.Errorf("Decode(%s): token %q, want %q", tc.in, m.Token, tc.token)
		}
	}
}
