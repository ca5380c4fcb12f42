package bench

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestHandshakeScenario(t *testing.T) {
	tg := startServer(t, "/echo", echoHandler)
	r, err := Handshake(t.Context(), HandshakeConfig{
		Common: Common{Target: tg, ServerPID: os.Getpid()},
		Cycles: 300, Concurrency: 20, Warmup: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Cycles != 300 || r.Failed != 0 || r.Handshake.Count != 300 || r.PerSec <= 0 {
		t.Fatalf("%+v", r)
	}
	if !near(r.PerSec, float64(r.Cycles)/r.Seconds) {
		t.Fatalf("rate %v != %d / %v", r.PerSec, r.Cycles, r.Seconds)
	}
	// The split adds up (both come from the same two /proc samples).
	if r.Server.User < 0 || r.Server.Sys < 0 || !near(r.Server.User+r.Server.Sys, r.Server.CPU) {
		t.Fatalf("cost %+v", r.Server)
	}
}

func TestParsePerfCount(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want int64
		bad  bool
	}{
		{name: "counted", in: "# started on Tue Dec  1\n\n289140,,raw_syscalls:sys_enter,422602816,100.00,684.189,K/sec\n", want: 289140},
		{name: "not counted", in: "<not counted>,,raw_syscalls:sys_enter,0,100.00,,\n", want: 0},
		{name: "other event only", in: "239,,context-switches,422602816,100.00,565.543,/sec\n", bad: true},
		{name: "garbage count", in: "12x,,raw_syscalls:sys_enter,1,100.00,,\n", bad: true},
		{name: "empty", in: "", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := parsePerfCount([]byte(tc.in), syscallEvent)
			if (err != nil) != tc.bad || n != tc.want {
				t.Fatalf("got %d %v", n, err)
			}
		})
	}
}

// TestMeterPerf attaches perf stat to this process while it makes system
// calls, the way -perf measures a server.
func TestMeterPerf(t *testing.T) {
	if _, err := exec.LookPath("perf"); err != nil {
		t.Skip("perf is not installed: -perf cannot work here")
	}
	c := Common{ServerPID: os.Getpid(), Perf: true}
	m := c.startMeter(t.Context())
	if m.err != nil {
		t.Skipf("perf cannot attach here: %v", m.err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
		for range 1000 {
			_, _ = f.Read(b[:])
		}
	}
	f.Close()
	cost, err := m.stop(1000)
	if err != nil {
		t.Fatal(err)
	}
	if cost.Syscalls < 1 { // at least a read per event
		t.Fatalf("syscalls per event %v", cost.Syscalls)
	}
}

func FuzzParsePerfCount(f *testing.F) {
	f.Add([]byte("289140,,raw_syscalls:sys_enter,422602816,100.00,684.189,K/sec\n"))
	f.Add([]byte("<not counted>,,raw_syscalls:sys_enter,0,100.00,,\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := parsePerfCount(b, syscallEvent); err == nil && n < 0 {
			t.Fatalf("negative count %d", n)
		}
	})
}
