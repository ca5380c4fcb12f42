package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// APIConfig is the api scenario: Subs connections, spread round-robin over Targets (the
// nodes' /ws), subscribe to Channel; then each variant publishes at Rate per second for
// Duration: "api" through the server API at APIURL (POST /api/publish with APIKey), "client"
// through a WebSocket publish on the first node. Each variant gets fresh subscribers, so
// their latency histograms are separate; the deliveries' latency runs from the moment the
// publisher stamped the message (before the HTTP request, or before the frame is written) to
// its arrival.
type APIConfig struct {
	Common
	Targets    []Target // nodes; Common.Target is ignored when set
	APIURL     string   // http(s)://host:port of a node's server API
	APIKey     string
	APIConns   int // concurrent API requests (keep-alive connections), default 4
	Subs       int
	Rate       float64
	Duration   time.Duration
	Channel    string   // default "bench"
	ServerPIDs []int    // every node's process: server CPU per delivery is their sum
	Variants   []string // "api", "client"; default both, in that order
}

// APIResult is what the api scenario measured, one entry per variant.
type APIResult struct {
	Subs     int          `json:"subs"`
	Nodes    int          `json:"nodes"`
	Rate     float64      `json:"rate"`
	Variants []APIVariant `json:"variants"`
}

// APIVariant is one publishing variant's run.
type APIVariant struct {
	Name      string  `json:"name"` // api or client
	Ready     int64   `json:"ready"`
	Published int64   `json:"published"`
	Refused   int64   `json:"refused"` // API answers other than 200, or requests that failed
	Expected  int64   `json:"expected"`
	Delivered int64   `json:"delivered"`
	Seconds   float64 `json:"seconds"`
	// APILatency is the HTTP round trip of a publish (api only).
	APILatency *Latency `json:"api_latency,omitempty"`
	Latency    Latency  `json:"latency"` // end to end, publisher stamp to delivery
	ServerCPU  float64  `json:"cpu_us"`  // all nodes, µs per delivery
	ServerPct  float64  `json:"cpu_pct"` // all nodes, % of one core
	Causes     Causes   `json:"failures,omitempty"`
	Warnings   []string `json:"warnings,omitempty"`
}

// APIPublish runs the api scenario.
func APIPublish(ctx context.Context, cfg APIConfig) (APIResult, error) {
	if len(cfg.Targets) == 0 {
		cfg.Targets = []Target{cfg.Target}
	}
	if cfg.Channel == "" {
		cfg.Channel = "bench"
	}
	if cfg.APIConns <= 0 {
		cfg.APIConns = 4
	}
	if len(cfg.Variants) == 0 {
		cfg.Variants = []string{"api", "client"}
	}
	r := APIResult{Subs: cfg.Subs, Nodes: len(cfg.Targets), Rate: cfg.Rate}
	if cfg.Subs <= 0 || cfg.Rate <= 0 || cfg.Duration <= 0 {
		return r, fmt.Errorf("api: subs, rate and duration must be > 0")
	}
	for _, v := range cfg.Variants {
		if v != "api" && v != "client" {
			return r, fmt.Errorf("api: unknown variant %q (api, client)", v)
		}
		if v == "api" && cfg.APIURL == "" {
			return r, fmt.Errorf("api: the api variant needs the API URL")
		}
	}
	for _, v := range cfg.Variants {
		if ctx.Err() != nil {
			break
		}
		res, err := runAPIVariant(ctx, &cfg, v)
		if err != nil {
			return r, err
		}
		r.Variants = append(r.Variants, res)
	}
	return r, nil
}

// runAPIVariant subscribes fresh subscribers and publishes one variant's messages.
func runAPIVariant(ctx context.Context, cfg *APIConfig, variant string) (APIVariant, error) {
	v := APIVariant{Name: variant}
	sub := []byte(`{"type":"subscribe","id":"s","channel":"` + cfg.Channel + `"}`)
	var engines []*Engine
	defer func() {
		for _, e := range engines {
			if !e.closed {
				e.Close()
			}
		}
	}()
	for i, tg := range cfg.Targets {
		n := cfg.Subs / len(cfg.Targets)
		if i < cfg.Subs%len(cfg.Targets) {
			n++
		}
		c := cfg.Common
		c.Target = tg
		ec := c.engineConfig()
		ec.Open = func(int) [][]byte { return [][]byte{sub} }
		e, err := NewEngine(ec)
		if err != nil {
			return v, fmt.Errorf("api: %w", err)
		}
		engines = append(engines, e)
		c.Label = cfg.label(variant + " node " + strconv.Itoa(i+1))
		ramp(ctx, &c, e, n, 0, 2*time.Minute, nil)
	}
	total := func(f func(Counters) int64) (n int64) {
		for _, e := range engines {
			n += f(e.Counters())
		}
		return n
	}
	waitFor(ctx, 30*time.Second, 100*time.Millisecond, func() bool {
		return total(func(k Counters) int64 { return k.Acked + k.Refused }) >= total(Counters.Open)
	}, func() {})
	v.Ready = total(func(k Counters) int64 { return k.Acked })

	publish, apiLat, stop, err := cfg.publisher(ctx, variant)
	if err != nil {
		return v, err
	}
	d0 := total(func(k Counters) int64 { return k.Timed })
	p0 := cfg.sampleServers()
	for _, e := range engines {
		e.SetRecording(true)
	}
	p := progressOf(cfg.Progress)
	p.Start(cfg.label(variant+" publish"), int64(cfg.Duration/time.Millisecond))
	start := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.Rate))
loop:
	for time.Since(start) < cfg.Duration {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		publish()
		v.Published++
		p.Update(int64(time.Since(start)/time.Millisecond), cfg.label(variant+" publish"))
	}
	tick.Stop()
	refused := stop()
	p.Done()
	v.Published -= refused
	v.Refused = refused
	v.Expected = v.Published * v.Ready
	waitFor(ctx, 5*time.Second, 50*time.Millisecond, func() bool {
		return total(func(k Counters) int64 { return k.Timed })-d0 >= v.Expected
	}, func() {})
	d := time.Since(start)
	v.Seconds = d.Seconds()
	delivered := total(func(k Counters) int64 { return k.Timed }) - d0
	v.ServerCPU, v.ServerPct = cfg.serverCost(p0, delivered)
	if len(cfg.ServerPIDs) == 0 {
		v.Warnings = append(v.Warnings, "no server CPU figures: give the nodes' pids")
	}
	lat := NewHistogram()
	v.Causes = Causes{}
	for _, e := range engines {
		e.SetRecording(false)
		f := e.Close()
		lat.Merge(f.Latency)
		v.Causes.Add(f.Causes)
	}
	v.Delivered = delivered
	v.Latency = Summarize(lat)
	if apiLat != nil {
		s := Summarize(apiLat)
		v.APILatency = &s
	}
	return v, nil
}

// publisher returns the variant's publish function (one message, now), the API latency
// histogram (api only) and stop, which waits for what is in flight and returns how many
// publishes failed.
func (cfg *APIConfig) publisher(ctx context.Context, variant string) (publish func(), lat *hdrhistogram.Histogram, stop func() int64, err error) {
	if variant == "client" {
		pt, err := NewTextTemplate(`{"type":"publish","channel":"` + cfg.Channel + `","data":"@0000000000000000"}`)
		if err != nil {
			return nil, nil, nil, err
		}
		c := cfg.Common
		c.Target = cfg.Targets[0]
		pc := c.engineConfig()
		pc.Loops, pc.Message, pc.FirstID = 1, pt, cfg.Subs
		pub, err := NewEngine(pc)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("api: client publisher: %w", err)
		}
		pub.Dial(1)
		if !waitFor(ctx, 10*time.Second, 20*time.Millisecond, func() bool { return pub.Counters().Opened+pub.Counters().Failed >= 1 }, func() {}) ||
			pub.Counters().Opened == 0 {
			return nil, nil, nil, fmt.Errorf("api: the client publisher could not connect: %v", pub.Close().Causes)
		}
		return func() { pub.Publish(1) }, nil, func() int64 { pub.Close(); return 0 }, nil
	}
	tr := &http.Transport{MaxIdleConnsPerHost: cfg.APIConns, MaxConnsPerHost: cfg.APIConns, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := strings.TrimSuffix(cfg.APIURL, "/") + "/api/publish"
	jobs := make(chan int64, 1024)
	lat = NewHistogram()
	var mu sync.Mutex
	var failed int64
	var wg sync.WaitGroup
	for range cfg.APIConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := make([]byte, 0, 128)
			for stamp := range jobs {
				body = append(body[:0], `{"channel":"`...)
				body = append(body, cfg.Channel...)
				body = append(body, `","data":"@`...)
				body = appendHex16(body, stamp)
				body = append(body, `"}`...)
				t0 := time.Now()
				ok := postAPI(client, url, cfg.APIKey, body)
				el := time.Since(t0)
				mu.Lock()
				if ok {
					_ = lat.RecordValue(min(int64(el), histMax))
				} else {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	publish = func() {
		select {
		case jobs <- int64(time.Since(epoch)): // the engines' clock (Engine.now)
		default: // every request slot busy and the queue full: the API cannot keep the rate
			mu.Lock()
			failed++
			mu.Unlock()
		}
	}
	stop = func() int64 {
		close(jobs)
		wg.Wait()
		tr.CloseIdleConnections()
		return failed
	}
	return publish, lat, stop, nil
}

// postAPI sends one publish and reports whether it was answered 200.
func postAPI(c *http.Client, url, key string, body []byte) bool {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "apikey "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// appendHex16 appends v as 16 lower-case hex digits (the engines' timestamp format).
func appendHex16(dst []byte, v int64) []byte {
	const hex = "0123456789abcdef"
	for s := 60; s >= 0; s -= 4 {
		dst = append(dst, hex[uint64(v)>>uint(s)&0xf])
	}
	return dst
}

// sampleServers reads every node's CPU counters.
func (cfg *APIConfig) sampleServers() []ProcSample {
	out := make([]ProcSample, len(cfg.ServerPIDs))
	for i, pid := range cfg.ServerPIDs {
		out[i], _ = ReadProc(pid)
	}
	return out
}

// serverCost is the nodes' CPU since p0, summed, per delivery (µs) and in % of one core.
func (cfg *APIConfig) serverCost(p0 []ProcSample, deliveries int64) (perDelivery, pct float64) {
	p1 := cfg.sampleServers()
	var cpu time.Duration
	var window time.Duration
	for i := range p1 {
		if p1[i].CPUTicks < p0[i].CPUTicks {
			return 0, 0
		}
		cpu += p1[i].CPU() - p0[i].CPU()
		window = max(window, p1[i].At.Sub(p0[i].At))
	}
	if deliveries > 0 {
		perDelivery = float64(cpu) / 1e3 / float64(deliveries)
	}
	if window > 0 {
		pct = 100 * float64(cpu) / float64(window)
	}
	return perDelivery, pct
}
