package routing

import (
	"encoding/json"
	"testing"
)

// The decoder was chosen by these benchmarks: the hand-written scanner against encoding/json
// unmarshalling the same four fields (id and data kept raw, as the router needs). goccy/go-json
// was measured too, before it left the module: see docs/benchmarks.md.

var decodeInputs = []struct{ name, msg string }{
	{"ping", `{"type":"ping","id":"42"}`},
	{"echo", `{"type":"echo","id":"req-1","data":{"user":"ada","tags":["a","b","c"],"n":12.5,"ok":true,"nested":{"x":[1,2,3],"y":null}}}`},
	{"publish", `{"type":"publish","id":"9","channel":"room:lobby","data":"hello everyone in the lobby"}`},
}

type refMessage struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

func BenchmarkDecode(b *testing.B) {
	for _, in := range decodeInputs {
		p := []byte(in.msg)
		b.Run("scanner/"+in.name, func(b *testing.B) {
			var m Message
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if err := m.Decode(p); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("encoding_json/"+in.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				var m refMessage
				if err := json.Unmarshal(p, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
