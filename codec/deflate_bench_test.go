package codec

import (
	"bytes"
	stdflate "compress/flate"
	"io"
	"runtime"
	"testing"

	kflate "github.com/klauspost/compress/flate"
)

// 1 KiB of JSON, compressed on its own: about 3x at level 1.
func bench1KiB() []byte { return jsonMessages(1, 1024, 77)[0] }

// BenchmarkCompress1KiBJSON: what the server spends per compressed
// message, against the standard library with a pooled writer (how
// gorilla/websocket compresses) in the same run.
func BenchmarkCompress1KiBJSON(b *testing.B) {
	pl := bench1KiB()
	dst := make([]byte, 0, 4096)
	run := func(b *testing.B, f func() int) {
		b.SetBytes(int64(len(pl)))
		b.ReportAllocs()
		n := 0
		cpu := processCPU()
		for b.Loop() {
			n = f()
		}
		reportCPU(b, cpu)
		b.ReportMetric(float64(len(pl))/float64(n), "ratio")
	}
	for _, level := range []int{1, 6, 9} {
		c := &Deflate{Mode: ModeNoContextTakeover, Level: level}
		b.Run("wsedge-level"+string(rune('0'+level)), func(b *testing.B) {
			run(b, func() int { out, _ := c.AppendMessage(dst[:0], pNCT, OpText, pl); return len(out) })
		})
	}
	b.Run("wsedge-window10", func(b *testing.B) {
		p := pNCT
		p.ServerMaxWindowBits = 10
		run(b, func() int { out, _ := deflateNCT.AppendMessage(dst[:0], p, OpText, pl); return len(out) })
	})
	b.Run("stdlib-level1", func(b *testing.B) {
		var buf bytes.Buffer
		w, _ := stdflate.NewWriter(&buf, 1)
		run(b, func() int {
			buf.Reset()
			w.Reset(&buf)
			_, _ = w.Write(pl)
			_ = w.Flush()
			return buf.Len() - 4 + 4 // the frame header replaces the tail
		})
	})
}

// BenchmarkInflate1KiBJSON: Feed of one masked compressed 1 KiB JSON
// message on the server (inflate + UTF-8 + delivery), in both modes, against
// the same message uncompressed and against the standard library's inflater
// with a pooled reader (how gorilla/websocket inflates).
func BenchmarkInflate1KiBJSON(b *testing.B) {
	pl := bench1KiB()
	z := appendDeflate(nil, pl, 1, 15)
	for _, m := range []struct {
		name string
		p    Params
		in   []byte
	}{
		{"plain", Params{}, AppendClientFrame(nil, OpText, true, benchMask, pl)},
		{"no-context-takeover", pNCT, zf(OpText, true, true, z)},
		{"context-takeover", pCT, zf(OpText, true, true, z)},
	} {
		b.Run(m.name, func(b *testing.B) {
			var d tdec
			d.Init(&Config{MaxMessageSize: 1 << 20})
			d.SetDeflate(m.p)
			var h nopHandler
			buf := make([]byte, len(m.in))
			b.SetBytes(int64(len(pl)))
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				copy(buf, m.in) // Feed unmasks in place
				if n, err := d.Feed(buf, &h); err != nil || n != len(buf) {
					b.Fatal(n, err)
				}
			}
			reportCPU(b, cpu)
		})
	}
	b.Run("stdlib", func(b *testing.B) {
		r := stdflate.NewReader(nil)
		var src bytes.Reader
		out := make([]byte, 0, 2048)
		in := append(bytes.Clone(z), deflateEnd...)
		b.SetBytes(int64(len(pl)))
		b.ReportAllocs()
		cpu := processCPU()
		defer reportCPU(b, cpu)
		for b.Loop() {
			src.Reset(in)
			_ = r.(stdflate.Resetter).Reset(&src, nil)
			out = out[:0]
			for {
				n, err := r.Read(out[len(out):cap(out)])
				out = out[:len(out)+n]
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkNegotiate: one Sec-WebSocket-Extensions value per handshake.
func BenchmarkNegotiate(b *testing.B) {
	for _, h := range []struct{ name, v string }{
		{"browser", "permessage-deflate; client_max_window_bits"},
		{"three-offers", "permessage-deflate; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8, " +
			"permessage-deflate; client_max_window_bits; server_no_context_takeover, permessage-deflate; client_max_window_bits"},
	} {
		v := []byte(h.v)
		dst := make([]byte, 0, 128)
		b.Run(h.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var p Params
				deflateCTW.Negotiate(&p, v)
				dst = p.AppendResponse(dst[:0])
			}
		})
	}
}

// BenchmarkRatioJSON: bytes on the wire per message for a stream of 1 KiB
// JSON messages of the same shape: each compressed on its own (what wsedge
// sends) against one compressor kept across messages (context takeover,
// what a server keeping a writer per connection could send) and against a
// bounded middle way (the last 4 KiB sent as dictionary).
func BenchmarkRatioJSON(b *testing.B) {
	msgs := jsonMessages(1000, 1024, 78)
	raw := 0
	for _, m := range msgs {
		raw += len(m)
	}
	report := func(b *testing.B, total int) {
		b.ReportMetric(float64(total)/float64(len(msgs)), "B/msg")
		b.ReportMetric(float64(raw)/float64(total), "ratio")
	}
	for _, level := range []int{1, 6} {
		b.Run("independent-level"+string(rune('0'+level)), func(b *testing.B) {
			var total int
			for b.Loop() {
				total = 0
				for _, m := range msgs {
					total += len(appendDeflate(nil, m, level, 15))
				}
			}
			report(b, total)
		})
		b.Run("last-4KiB-as-dictionary-level"+string(rune('0'+level)), func(b *testing.B) {
			// Bounded context takeover: each message compressed with the
			// connection's last 4 KiB as preset dictionary (4 KiB kept per
			// connection, and no frame shared between connections).
			var out appender
			w, _ := kflate.NewWriter(&out, level)
			var total int
			for b.Loop() {
				total = 0
				var hist []byte
				for _, m := range msgs {
					out.b = out.b[:0]
					w.ResetDict(&out, hist)
					_, _ = w.Write(m)
					_ = w.Flush()
					total += len(out.b) - 4
					hist = append(hist, m...)
					hist = hist[max(0, len(hist)-4096):]
				}
			}
			report(b, total)
		})
		b.Run("context-takeover-level"+string(rune('0'+level)), func(b *testing.B) {
			var total int
			for b.Loop() {
				total = 0
				for _, z := range stdDeflateStream(b, level, msgs...) {
					total += len(z)
				}
			}
			report(b, total)
		})
	}
}

// TestMemoryPerConnection measures the heap an idle connection's decoder
// holds after its peer sent compressed messages, per mode, with N decoders
// and every pool emptied (two GCs), and checks the bounds the docs state:
// no-context-takeover holds what a plain decoder holds; context-takeover
// holds the window, at most 2^window_bits bytes.
func TestMemoryPerConnection(t *testing.T) {
	if raceEnabled || testing.Short() {
		// sync.Pool drops items at random under the race detector, so each
		// message allocates a fresh decompressor: minutes, and no meaning.
		t.Skip("heap measurement: run without -race and -short")
	}
	msgs := jsonMessages(48, 1024, 79) // 48 KiB in total
	one := [][]byte{msgs[0]}
	for _, m := range []struct {
		name  string
		p     Params
		sent  [][]byte
		bound int // bytes per connection beyond the Decoder struct
	}{
		{"plain", Params{}, one, 0},
		{"no-context-takeover, 48 KiB received", pNCT, msgs, 0},
		{"context-takeover, 1 KiB received", pCT, one, 1024 + 24 + 64},
		{"context-takeover, 48 KiB received", pCT, msgs, 32<<10 + 24 + 64},
		{"context-takeover 12 bits, 48 KiB received", Params{ServerMaxWindowBits: 15, ClientMaxWindowBits: 12}, msgs, 4<<10 + 24 + 64},
	} {
		const n = 2000
		var frames []byte
		for _, x := range m.sent {
			if m.p.Enabled() {
				frames = append(frames, zf(OpText, true, true, appendDeflate(nil, x, 1, m.p.ClientMaxWindowBits))...)
			} else {
				frames = append(frames, cf(OpText, true, string(x))...)
			}
		}
		buf := make([]byte, len(frames))
		before := heapAfterGC()
		decs := make([]*Decoder, n)
		for i := range decs {
			d := new(Decoder)
			d.SetDeflate(server, m.p)
			copy(buf, frames)
			if _, err := d.Feed(server, buf, &nopHandler{}); err != nil {
				t.Fatal(err)
			}
			decs[i] = d
		}
		per := float64(int64(heapAfterGC())-int64(before)) / n
		runtime.KeepAlive(decs)
		base := float64(8 + 16) // the slice slot and the Decoder itself
		t.Logf("%-45s %8.0f B per idle connection (Decoder struct included)", m.name, per)
		if per-base > float64(m.bound)+8 {
			t.Errorf("%s: %.0f B per connection beyond the decoder, bound %d", m.name, per-base, m.bound)
		}
	}
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC() // a second cycle drops what sync.Pools still held
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
