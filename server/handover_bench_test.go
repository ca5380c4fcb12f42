package server

import "testing"

// BenchmarkRecord: the state record of an open /ws connection with a
// session (user, info, 4 channels), written by the old process and read by
// the new one, per connection moved.
//
//	go test -run '^$' -bench Record -benchmem ./server/
func BenchmarkRecord(b *testing.B) {
	r := recordCases()["open /ws with a session mid-frame"]
	s := *r.sess
	s.Channels = []string{"news", "chat:1", "chat:2", "prices"}
	r.sess = &s
	buf := appendRecord(nil, r)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		buf = appendRecord(buf[:0], r)
		if _, err := readRecord(buf); err != nil {
			b.Fatal(err)
		}
	}
}
