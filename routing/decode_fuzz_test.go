package routing

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzDecode checks the scanner against encoding/json: it never panics, accepts exactly the
// documents json.Valid accepts (bar the depth limit), extracts the same fields, and what it
// accepts re-validates.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"ping"}`, `{"type":"echo","id":"1","data":{"a":[1,2.5,-3e2,true,null]}}`,
		`{"type":"publish","channel":"room:1","data":"x"}`, `{"type":"p\u0069ng","id":"a\"b"}`,
		`[1]`, `{"type":}`, `{"type":"\ud83d\ude00"}`, ``, `{"id":7}`,
		`{"type":"rpc","id":"1","method":"get\u0050rofile","data":{"id":42}}`, `{"type":"rpc","method":7}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		var m Message
		err := m.Decode(p)
		valid := json.Valid(p)
		if err == errTooDeep {
			return // encoding/json allows deeper nesting than maxDepth
		}
		if (err == nil || err.Code == CodeInvalidMessage) != valid {
			t.Fatalf("Decode(%q) = %v but json.Valid = %v", p, err, valid)
		}
		if err != nil {
			return
		}
		// A map matches keys exactly and keeps the last duplicate, like Decode.
		var ref map[string]json.RawMessage
		if e := json.Unmarshal(p, &ref); e != nil {
			t.Fatalf("encoding/json rejects what Decode accepted: %q: %v", p, e)
		}
		if !utf8.Valid(p) {
			return // encoding/json rewrites invalid UTF-8; the codec rejects it before routing
		}
		var typ string
		if e := json.Unmarshal(ref["type"], &typ); e != nil || typ != string(m.Type) {
			t.Fatalf("type %q, encoding/json %q (%v)", m.Type, ref["type"], e)
		}
		if id := ref["id"]; !bytes.Equal(m.ID, id) && !(m.ID == nil && string(id) == "null") {
			t.Fatalf("id %q, encoding/json %q", m.ID, id)
		}
		if raw, ok := ref["channel"]; ok && string(raw) != "null" {
			var ch string
			if e := json.Unmarshal(raw, &ch); e != nil || ch != string(m.Channel) || m.Channel == nil {
				t.Fatalf("channel %q, encoding/json %q (%v)", m.Channel, raw, e)
			}
		} else if m.Channel != nil {
			t.Fatalf("channel %q, encoding/json has none", m.Channel)
		}
		if raw, ok := ref["method"]; ok && string(raw) != "null" {
			var meth string
			if e := json.Unmarshal(raw, &meth); e != nil || meth != string(m.Method) || m.Method == nil {
				t.Fatalf("method %q, encoding/json %q (%v)", m.Method, raw, e)
			}
		} else if m.Method != nil {
			t.Fatalf("method %q, encoding/json has none", m.Method)
		}
		if !bytes.Equal(m.Data, ref["data"]) {
			t.Fatalf("data %q, encoding/json %q", m.Data, ref["data"])
		}
		// A reply built from the decoded fields is itself valid JSON.
		if out := AppendReply(nil, string(m.Type), m.ID, m.Data); !json.Valid(out) {
			t.Fatalf("reply %q is not valid JSON", out)
		}
	})
}
