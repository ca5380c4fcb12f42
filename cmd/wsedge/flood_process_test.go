package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// rss is the resident set size of process pid in bytes (VmRSS).
func rss(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS line")
}

// TestBinaryPublishFloodMemoryBounded: publishers flood a channel with tiny
// publishes while thousands of subscribers read as fast as they can. Every
// delivery adds bytes to a subscriber's bounded queue and at most one flush
// request per subscriber to its loop, so the node's memory levels off under
// a bound set by the flags: subscribers x -write-queue for the queues, plus
// the worker pool's -queue messages, plus the process's base.
func TestBinaryPublishFloodMemoryBounded(t *testing.T) {
	const (
		subs       = 3000
		writeQueue = 32 << 10
		publishers = 4
		dur        = 4 * time.Second
	)
	// One loop drains every subscriber's flushes while the workers fan
	// out: the balance that made loop task lists grow without bound.
	node := startNode(t, nil, "-addr", "127.0.0.1:0", "-admin-addr", "", "-loops", "1",
		"-write-queue", strconv.Itoa(writeQueue))
	listen, _ := node.log.wait(t, "wsedge started")["listen"].(string)
	pid := node.cmd.Process.Pid
	url := "ws://" + listen + "/ws"

	conns := make([]*websocket.Conn, subs)
	defer func() {
		node.cmd.Process.Kill() // first, so TIME_WAIT stays on the server's port
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for d := 0; d < 16; d++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := d; i < subs; i += 16 {
				c, err := subscribe(url, "flood")
				if err != nil {
					errs <- fmt.Errorf("subscriber %d: %w", i, err)
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var delivered atomic.Int64
	for _, c := range conns {
		nc := c.NetConn()
		go func() { // read and discard the raw frames, as fast as possible
			buf := make([]byte, 2048)
			for {
				n, err := nc.Read(buf)
				delivered.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
	}
	base, err := rss(pid)
	if err != nil {
		t.Fatal(err)
	}
	stopPub := make(chan struct{})
	var pubs sync.WaitGroup
	// Publishers write pre-encoded frames many at a time, so the test's
	// own CPU (under the race detector) does not limit the flood.
	burst := publishBurst(`{"type":"publish","channel":"flood","data":1}`, 1000)
	for range publishers {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		nc := c.NetConn()
		// A write still blocked at the end must not hang the test.
		nc.SetWriteDeadline(time.Now().Add(dur + 2*time.Second))
		go func() { // acks, or OVERLOADED once the worker queue is full
			buf := make([]byte, 32<<10)
			for {
				if _, err := nc.Read(buf); err != nil {
					return
				}
			}
		}()
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for {
				select {
				case <-stopPub:
					return
				default:
				}
				if _, err := nc.Write(burst); err != nil {
					return
				}
			}
		}()
	}
	peak := base
	for end := time.Now().Add(dur); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if r, err := rss(pid); err == nil && r > peak {
			peak = r
		}
	}
	close(stopPub)
	pubs.Wait()
	// Every subscriber's queue full (they are read, so they rarely are),
	// and 64 MiB for the worker queue (4,096 small messages), buffer pools
	// and the garbage collector's headroom.
	bound := base + int64(subs)*writeQueue + 64<<20
	t.Logf("RSS %d MiB before the flood, peak %d MiB (bound %d MiB); %d MiB delivered",
		base>>20, peak>>20, bound>>20, delivered.Load()>>20)
	if peak > bound {
		t.Fatalf("node RSS rose from %d MiB to %d MiB during the flood, over the bound of %d MiB", base>>20, peak>>20, bound>>20)
	}
}

// publishBurst is n copies of msg as masked client text frames.
func publishBurst(msg string, n int) []byte {
	var b []byte
	for range n {
		b = append(b, 0x81, 0x80|byte(len(msg)), 0, 0, 0, 0) // FIN text, masked with a zero key
		b = append(b, msg...)
	}
	return b
}

// subscribe opens a /ws connection subscribed to channel.
func subscribe(url, channel string) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 512, WriteBufferSize: 512}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"subscribe","id":"s","channel":"`+channel+`"}`)); err != nil {
		c.Close()
		return nil, err
	}
	if _, p, err := c.ReadMessage(); err != nil || string(p) != `{"type":"ack","id":"s"}` {
		c.Close()
		return nil, fmt.Errorf("subscribe: %q %v", p, err)
	}
	c.SetReadDeadline(time.Time{})
	return c, nil
}
