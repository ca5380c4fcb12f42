//go:build !linux

package poller

import (
	"errors"
	"net"
)

// backends: without epoll, the standard library's net.Conn.
var backends = []string{"std"}

func newEpoll(*Poller, net.Listener) (driver, error) {
	return nil, errors.New("poller: the epoll backend needs Linux; use -poller std")
}

// ring is the uring backend's io_uring, which needs Linux.
type ring struct{}

type sendState struct{}

func newUringDriver(*Poller, net.Listener) (driver, error) {
	return nil, errors.New("poller: the uring backend needs Linux; use -poller std")
}

// sendv is never called without epoll (no driver is direct).
func sendv(int, []byte, []byte) (int, error) { return 0, errors.New("poller: no direct writes here") }
