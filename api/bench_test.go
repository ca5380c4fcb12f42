package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks of the publish path. Run:
//
//	go test ./api -run '^$' -bench . -benchmem
//
// Each group has a baseline measured in the same run: encoding/json for
// the decoder, a plain encoding/json handler for the handler, and a bare
// net/http server (read the body, answer {}) for the loopback figures.

// countNode is a Node that only counts publishes.
type countNode struct {
	fakeNode
	n atomic.Int64
}

func (c *countNode) Publish(_ context.Context, channel string, data json.RawMessage) error {
	if channel == "" || len(data) == 0 {
		return errString("empty")
	}
	c.n.Add(1)
	return nil
}

var (
	benchSmall = []byte(`{"channel":"news","data":{"text":"hello","n":1}}`)
	benchKiB   = []byte(`{"channel":"chat:room-1","data":{"text":"` + strings.Repeat("lorem ipsum ", 84) + `"}}`)
)

func BenchmarkDecode(b *testing.B) {
	for _, in := range []struct {
		name string
		body []byte
	}{{"small", benchSmall}, {"1KiB", benchKiB}} {
		b.Run("api/"+in.name, func(b *testing.B) {
			var r request
			b.SetBytes(int64(len(in.body)))
			b.ReportAllocs()
			for b.Loop() {
				if f := r.decode(mPublish, in.body); f != nil {
					b.Fatal(f.message)
				}
			}
		})
		b.Run("encoding-json/"+in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.body)))
			b.ReportAllocs()
			for b.Loop() {
				var v struct {
					Channel string          `json:"channel"`
					Data    json.RawMessage `json:"data"`
				}
				dec := json.NewDecoder(bytes.NewReader(in.body))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&v); err != nil || v.Channel == "" {
					b.Fatal(err)
				}
			}
		})
	}
}

// nopWriter is a ResponseWriter that keeps nothing.
type nopWriter struct {
	h      http.Header
	status int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(s int)           { w.status = s }

// rewindBody is a request body that can be read again.
type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

// jsonHandler is the straightforward way to write the publish endpoint:
// the baseline of BenchmarkHandler.
func jsonHandler(n Node, key string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "apikey "+key {
			w.WriteHeader(401)
			return
		}
		var v struct {
			Channel string          `json:"channel"`
			Data    json.RawMessage `json:"data"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, DefaultMaxBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			w.WriteHeader(400)
			return
		}
		if err := n.Publish(r.Context(), v.Channel, v.Data); err != nil {
			w.WriteHeader(503)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"result": struct{}{}})
	})
}

// BenchmarkHandler runs ServeHTTP alone (no sockets) on a publish.
func BenchmarkHandler(b *testing.B) {
	node := &countNode{}
	h, err := NewHandler(node, Config{Key: testKey})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"api", h}, {"encoding-json-baseline", jsonHandler(node, testKey)}} {
		b.Run(c.name, func(b *testing.B) {
			body := &rewindBody{}
			req, _ := http.NewRequest("POST", "http://x/api/publish", body)
			req.Header.Set("Authorization", "apikey "+testKey)
			req.ContentLength = int64(len(benchSmall))
			w := &nopWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				body.Reset(benchSmall)
				clear(w.h)
				w.status = 200
				c.h.ServeHTTP(w, req)
				if w.status != 200 {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}

// BenchmarkLoopback publishes over keep-alive connections on loopback
// against a real listener, with net/http's client and with a minimal
// HTTP/1.1 client (cheaper, so more of the CPU is the server's). The
// client runs in the same process on the same cores: the figures are the
// pair's, and the ratio to the bare net/http baseline is what to read.
func BenchmarkLoopback(b *testing.B) {
	node := &countNode{}
	l, err := Serve(node, Config{Key: testKey}, ListenConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Stop(context.Background())
	// The baseline has the API listener's timeouts (deadlines cost per
	// request too): the difference is the handler.
	bare := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, resultEmpty)
	}), ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout, WriteTimeout: DefaultTimeout + 10*time.Second, IdleTimeout: idleTimeout}
	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go bare.Serve(bln)
	defer bare.Close()

	for _, srv := range []struct{ name, addr string }{{"api", l.Addr().String()}, {"bare-net-http", bln.Addr().String()}} {
		for _, conns := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/net-http-client/conns=%d", srv.name, conns), func(b *testing.B) {
				tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
				defer tr.CloseIdleConnections()
				c := &http.Client{Transport: tr}
				url := "http://" + srv.addr + "/api/publish"
				run(b, conns, func() error {
					req, _ := http.NewRequest("POST", url, bytes.NewReader(benchSmall))
					req.Header.Set("Authorization", "apikey "+testKey)
					req.Header.Set("Content-Type", "application/json")
					res, err := c.Do(req)
					if err != nil {
						return err
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						return fmt.Errorf("status %d", res.StatusCode)
					}
					return nil
				})
			})
			b.Run(fmt.Sprintf("%s/raw-client/conns=%d", srv.name, conns), func(b *testing.B) {
				pool := make(chan *rawConn, conns)
				for range conns {
					rc, err := dialRaw(srv.addr)
					if err != nil {
						b.Fatal(err)
					}
					defer rc.c.Close()
					pool <- rc
				}
				run(b, conns, func() error {
					rc := <-pool
					defer func() { pool <- rc }()
					return rc.publish(benchSmall)
				})
			})
		}
	}
}

// run calls one b.N times from conns goroutines and reports publishes/s.
func run(b *testing.B, conns int, one func() error) {
	b.ReportAllocs()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	b.ResetTimer()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := one(); err != nil {
					failed.Store(&err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "publishes/s")
}

// rawConn is a minimal keep-alive HTTP/1.1 client: one request at a time,
// answers read by Content-Length (net/http answers small bodies with it).
type rawConn struct {
	c   net.Conn
	r   *bufio.Reader
	req []byte
}

func dialRaw(addr string) (*rawConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{c: c, r: bufio.NewReader(c)}, nil
}

func (rc *rawConn) publish(body []byte) error {
	rc.req = append(rc.req[:0], "POST /api/publish HTTP/1.1\r\nHost: bench\r\nAuthorization: apikey "+testKey+
		"\r\nContent-Type: application/json\r\nContent-Length: "...)
	rc.req = strconv.AppendInt(rc.req, int64(len(body)), 10)
	rc.req = append(rc.req, "\r\n\r\n"...)
	rc.req = append(rc.req, body...)
	if _, err := rc.c.Write(rc.req); err != nil {
		return err
	}
	status, length := 0, -1
	for {
		line, err := rc.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if status == 0 {
			if len(line) < 12 {
				return fmt.Errorf("bad status line %q", line)
			}
			status, _ = strconv.Atoi(string(line[9:12]))
			continue
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && strings.EqualFold(string(k), "content-length") {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if length < 0 {
		return fmt.Errorf("answer without Content-Length")
	}
	if _, err := rc.r.Discard(length); err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("status %d", status)
	}
	return nil
}
