package server

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"testing"

	"github.com/wsedge/wsedge/poller"
)

// childEnv makes the test binary run a bare server instead of the tests, so
// many-connection tests keep the server's sockets in another process (each
// process may hold only 20,000 descriptors, and both ends count).
const (
	childEnv     = "WSEDGE_TEST_CHILD_SERVER"
	childOptsEnv = "WSEDGE_TEST_CHILD_OPTIONS"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild())
	}
	// make test runs the suite again on each other backend; one this kernel
	// does not offer (uring without io_uring) has nothing to run on.
	if b := os.Getenv("WSEDGE_TEST_POLLER"); b != "" && !slices.Contains(poller.Backends(), b) {
		fmt.Printf("WSEDGE_TEST_POLLER=%s: not offered here (backends: %v), no test run\n", b, poller.Backends())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChild() int {
	o := testOptions()
	o.Loops = 2
	// Tests pass option overrides as JSON (field names of Options).
	if j := os.Getenv(childOptsEnv); j != "" {
		if err := json.Unmarshal([]byte(j), &o); err != nil {
			fmt.Fprintln(os.Stderr, "child server options:", err)
			return 2
		}
	}
	s, err := New(o, nil, nil)
	if err == nil {
		err = s.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child server:", err)
		return 1
	}
	fmt.Printf("ADDR %s PID %d\n", s.Addr(), os.Getpid())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	s.Close()
	return 0
}
