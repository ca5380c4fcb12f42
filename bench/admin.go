//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// AdminSample is what the server's admin listener tells about itself.
type AdminSample struct {
	Goroutines  int64 `json:"goroutines"`
	Connections int64 `json:"connections"`
	// Accepted is wsedge_connections_total, connections accepted since the
	// server started (-1 when the server does not export it).
	Accepted int64 `json:"accepted"`
}

// ReadAdmin fetches /metrics (go_goroutines, wsedge_connections_total) and
// /health (connections) from a wsedge admin listener at addr (host:port).
func ReadAdmin(ctx context.Context, addr string) (AdminSample, error) {
	var s AdminSample
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	metrics, err := get(ctx, "http://"+addr+"/metrics")
	if err != nil {
		return s, err
	}
	g, ok := promValue(metrics, "go_goroutines")
	if !ok {
		return s, fmt.Errorf("admin %s: no go_goroutines in /metrics", addr)
	}
	s.Goroutines, s.Accepted = int64(g), -1
	if n, ok := promValue(metrics, "wsedge_connections_total"); ok {
		s.Accepted = int64(n)
	}
	health, err := get(ctx, "http://"+addr+"/health")
	if err != nil {
		return s, err
	}
	var h struct {
		Connections int64 `json:"connections"`
	}
	if err := json.Unmarshal(health, &h); err != nil {
		return s, fmt.Errorf("admin %s /health: %w", addr, err)
	}
	s.Connections = h.Connections
	return s, nil
}

func get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("admin %s: %w", url, err)
	}
	return b, nil
}

// promValue finds an unlabelled sample "name value" in Prometheus text.
func promValue(text []byte, name string) (float64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		f := bytes.Fields(line)
		if len(f) >= 2 && string(f[0]) == name {
			v, err := strconv.ParseFloat(string(f[1]), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// HeapSample is the server's Go heap right after a garbage collection, from
// the MemStats that /debug/pprof/heap?gc=1&debug=1 prints (wsedge's admin
// listener serves it): what is live and the spans that hold it.
type HeapSample struct {
	Alloc, Inuse float64 // HeapAlloc, HeapInuse
}

// ReadHeap forces two GCs in the server at addr and reads its heap figures.
func ReadHeap(ctx context.Context, addr string) (HeapSample, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Two collections: sync.Pool keeps what it held through the first (its victim cache).
	if _, err := get(ctx, "http://"+addr+"/debug/pprof/heap?gc=1"); err != nil {
		return HeapSample{}, err
	}
	b, err := get(ctx, "http://"+addr+"/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return HeapSample{}, err
	}
	v := map[string]float64{}
	for _, k := range []string{"HeapAlloc", "HeapInuse"} {
		x, ok := memStat(b, k)
		if !ok {
			return HeapSample{}, fmt.Errorf("admin %s: no %s in the heap profile", addr, k)
		}
		v[k] = x
	}
	return HeapSample{Alloc: v["HeapAlloc"], Inuse: v["HeapInuse"]}, nil
}

// memStat finds "# name = value" in a debug=1 heap profile.
func memStat(text []byte, name string) (float64, bool) {
	prefix := []byte("# " + name + " = ")
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if line := sc.Bytes(); bytes.HasPrefix(line, prefix) {
			x, err := strconv.ParseFloat(string(bytes.TrimSpace(line[len(prefix):])), 64)
			return x, err == nil
		}
	}
	return 0, false
}
