package server

import (
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// testOptions are the defaults with limits loose enough for tests, on a
// loopback port of the kernel's choosing.
func testOptions() Options {
	o := Defaults()
	o.Addr = "127.0.0.1:0"
	o.AdminAddr = ""
	o.Loops = 2
	o.MaxConnsPerIP = 0
	o.ConnRate = 0
	o.LimitLoopback = true // tests use loopback addresses as distinct clients
	// WSEDGE_TEST_POLLER runs the suite on another backend (make test runs
	// it again with std).
	o.Poller = os.Getenv("WSEDGE_TEST_POLLER")
	return o
}

// startServer runs a real server until the test ends.
func startServer(t testing.TB, o Options) *Server {
	t.Helper()
	return startWith(t, o, zaptest.NewLogger(t), nil)
}

// startWith starts a server logging to log, after setup (nil: none) has
// seen it, and closes it when the test ends.
func startWith(t testing.TB, o Options, log *zap.Logger, setup func(*Server)) *Server {
	t.Helper()
	s, err := New(o, log, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if setup != nil {
		setup(s)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func wsURL(s *Server, path string) string { return "ws://" + s.Addr().String() + path }

// rawDial opens a plain TCP connection to the server.
func rawDial(t testing.TB, s *Server) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}
