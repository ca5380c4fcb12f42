package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsedge/wsedge/api"
)

// nopNode is an api.Node that does nothing: the same-run baseline of the listener and the
// handler alone.
type nopNode struct{}

func (nopNode) Publish(context.Context, string, json.RawMessage) error { return nil }
func (nopNode) Broadcast(_ context.Context, chs []string, _ json.RawMessage) (int, error) {
	return len(chs), nil
}
func (nopNode) Subscribe(context.Context, string, string) (api.Affected, error) {
	return api.Affected{}, nil
}
func (nopNode) Unsubscribe(context.Context, string, string) (api.Affected, error) {
	return api.Affected{}, nil
}
func (nopNode) Disconnect(context.Context, string, int, string) (api.Affected, error) {
	return api.Affected{}, nil
}
func (nopNode) Presence(context.Context, string) ([]api.Client, error) { return nil, nil }
func (nopNode) PresenceStats(context.Context, string) (api.PresenceStats, error) {
	return api.PresenceStats{}, nil
}
func (nopNode) Channels(context.Context, api.Pattern) (map[string]api.ChannelStats, error) {
	return nil, nil
}
func (nopNode) Info(context.Context) ([]api.NodeInfo, error) { return nil, nil }

// BenchmarkAPIPublish: publishes/s through the server API of a real node, over 1 and 16
// keep-alive connections (net/http's client, in this process), to a channel without
// subscribers and to one with 10 (real WebSocket clients in this process that read
// everything: their reading is part of the cost), next to the same listener with a node that
// does nothing (nop).
//
//	go test -run '^$' -bench APIPublish -benchtime 20000x ./server
func BenchmarkAPIPublish(b *testing.B) {
	o := testOptions()
	o.LogLevel = "error"
	s, err := New(o, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var got atomic.Int64
	for range 10 {
		c := dialGorilla(b, wsURL(s, "/ws"))
		c.send(b, `{"type":"subscribe","id":"s","channel":"bench"}`)
		c.recv(b)
		go func() {
			for {
				if _, _, err := c.c.ReadMessage(); err != nil {
					return
				}
				got.Add(1)
			}
		}()
	}
	nodeAPI, err := api.Serve(s.APINode(), api.Config{Key: testAPIKey}, api.ListenConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer nodeAPI.Stop(context.Background())
	for _, n := range []struct {
		name, channel string
		node          api.Node
	}{{"node/subs=0", "empty", nil}, {"node/subs=10", "bench", nil}, {"nop", "bench", nopNode{}}} {
		l := nodeAPI
		if n.node != nil {
			if l, err = api.Serve(n.node, api.Config{Key: testAPIKey}, api.ListenConfig{Addr: "127.0.0.1:0"}); err != nil {
				b.Fatal(err)
			}
			defer l.Stop(context.Background())
		}
		body := `{"channel":"` + n.channel + `","data":{"n":1}}`
		url := "http://" + l.Addr().String() + "/api/publish"
		for _, conns := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/conns=%d", n.name, conns), func(b *testing.B) {
				tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
				defer tr.CloseIdleConnections()
				c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
				var next atomic.Int64
				var wg sync.WaitGroup
				var failed atomic.Value
				b.ReportAllocs()
				b.ResetTimer()
				for range conns {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							req, _ := http.NewRequest("POST", url, strings.NewReader(body))
							req.Header.Set("Authorization", "apikey "+testAPIKey)
							res, err := c.Do(req)
							if err != nil {
								failed.Store(err)
								return
							}
							io.Copy(io.Discard, res.Body)
							res.Body.Close()
							if res.StatusCode != 200 {
								failed.Store(fmt.Errorf("status %d", res.StatusCode))
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				if err, _ := failed.Load().(error); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "publishes/s")
			})
		}
	}
	b.Logf("deliveries read by the subscribers: %d", got.Load())
}
