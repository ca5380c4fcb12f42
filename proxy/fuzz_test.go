package proxy

import "testing"

// FuzzDecodeAnswer: any backend answer is a result, an error object with a
// string or number code and a message, or an error; never a panic.
func FuzzDecodeAnswer(f *testing.F) {
	for _, s := range []string{`{"result":{"a":1}}`, `{"error":{"code":"X","message":"m"}}`, `{"error":{"code":4,"message":"m"}}`, `[]`, `{}`, `null`, ` {"result":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeAnswer(body)
		if err != nil {
			return
		}
		if (r.Result == nil) == (r.Error == nil) {
			t.Fatalf("%q: result %q and error %v", body, r.Result, r.Error)
		}
		if r.Error != nil && (len(r.Error.Code) == 0 || r.Error.Message == "") {
			t.Fatalf("%q: incomplete error %+v", body, r.Error)
		}
	})
}

// FuzzDecodeConnect: any answer is an identity or an error; never a panic.
func FuzzDecodeConnect(f *testing.F) {
	for _, s := range []string{`{"user":"1","info":{"a":[1]},"channels":["a"]}`, `{"user":""}`, `{"info":null}`, `"x"`, `{"channels":[1]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeConnect(body)
		if err == nil && string(r.Info) == "null" {
			t.Fatalf("%q: info null kept", body)
		}
	})
}
