// Package freeport finds a free loopback TCP port for a process that will be
// started later and bind it itself (tests and the benchmark harness).
//
// A port taken from a listener on :0 and closed comes from the kernel's
// ephemeral range, where every other listener on :0 and the local end of
// every outgoing connection get theirs too: on a busy machine one of them can
// take it before the process binds it (CI saw "bind: address already in
// use"), or, worse, a stranger's listener answers on it. Loopback picks below
// that range instead, and checks that the port is free.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// below is the first port the kernel hands out on its own.
func below() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768 // Linux's default
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// lowest is where Loopback starts looking: past the well-known and most
// registered service ports.
const lowest = 10000

// Loopback returns a port free on 127.0.0.1 when asked, below the kernel's
// ephemeral range when the range leaves room, else one the kernel picks.
func Loopback() (int, error) {
	if hi := below(); hi > lowest+1000 {
		for range 100 {
			port := lowest + rand.IntN(hi-lowest)
			if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
				ln.Close()
				return port, nil
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
